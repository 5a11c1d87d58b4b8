#!/usr/bin/python3
"""tools/peers/torch_bench.py: PyTorch's side of tools/compare-peers, run with Debian's python3-torch.

  torch_bench.py conv THREADS BATCH NAME:C:H:W:K:KS ...   per-layer convolution: forward, backward-data,
                                                          backward-weights (+ bias), median ms and GFLOP/s
  torch_bench.py net THREADS NET                          the seed, fer or resnet net: training step (Adam) images/s at
                                                          batch 64 and 32, inference images/s at batch 64,
                                                          batch-1 latency ms, peak RSS MB
Prints CSV rows on stdout, each with a wall-time figure and a process-CPU-time one (the fair single-thread figure
on a shared machine, where wall time includes time spent descheduled).
"""
import resource
import sys
import time

import torch
import torch.nn as nn


def median_ms(run, min_runs=5, min_seconds=0.5):
    """Median (wall, CPU) milliseconds of run() after 2 warm-up runs."""
    run()
    run()
    wall, cpu = [], []
    total = 0.0
    while len(wall) < min_runs or total < min_seconds:
        c0 = time.process_time()
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        cpu.append((time.process_time() - c0) * 1e3)
        wall.append(elapsed * 1e3)
        total += elapsed
    wall.sort()
    cpu.sort()
    return wall[len(wall) // 2], cpu[len(cpu) // 2]


def conv(batch, specs):
    """Each spec NAME:C:H:W:K:KS[:STRIDE[:GROUPS]]; padding KS // 2 on both sides (the same output size and work as
    'same'; at stride 2 on even sizes TensorFlow's 'same' puts its one padding row at the end instead)."""
    print("layer,direction,batch,ms,gflops,cpu_ms,cpu_gflops")
    g = torch.Generator().manual_seed(1)
    for spec in specs:
        fields = spec.split(":")
        name = fields[0]
        C, H, W, K, KS = (int(v) for v in fields[1:6])
        S = int(fields[6]) if len(fields) > 6 else 1
        G = int(fields[7]) if len(fields) > 7 else 1
        OH, OW = (H + S - 1) // S, (W + S - 1) // S
        x = torch.rand(batch, C, H, W, generator=g) * 2 - 1
        w = torch.rand(K, C // G, KS, KS, generator=g) * 2 - 1
        b = torch.rand(K, generator=g) * 2 - 1
        dy = torch.rand(batch, K, OH, OW, generator=g) * 2 - 1
        pad = [KS // 2, KS // 2]
        flops = 2.0 * batch * K * OH * OW * (C // G) * KS * KS

        def forward():
            return torch.nn.functional.conv2d(x, w, b, stride=S, padding=KS // 2, groups=G)

        def backward(mask, bias_sizes):
            # What autograd calls for Conv2d's backward: aten::convolution_backward with an output mask.
            return lambda: torch.ops.aten.convolution_backward(dy, x, w, bias_sizes, [S, S], pad, [1, 1], False,
                                                               [0, 0], G, mask)

        with torch.no_grad():
            runs = {
                "forward": forward,
                "backward_data": backward([True, False, False], None),
                "backward_weights": backward([False, True, True], [K]),
            }
            for direction, run in runs.items():
                ms, cpu = median_ms(run)
                print(f"{name},{direction},{batch},{ms:.4f},{flops / (ms * 1e-3) / 1e9:.2f},{cpu:.4f},"
                      f"{flops / (cpu * 1e-3) / 1e9:.2f}", flush=True)


def seed_net(classes=3):
    layers = []
    c = 1
    for width, ks in ((64, 5), (128, 3), (256, 3)):
        for _ in range(2):
            layers += [nn.Conv2d(c, width, ks, padding="same"), nn.ReLU(), nn.BatchNorm2d(width)]
            c = width
        layers += [nn.MaxPool2d(2), nn.Dropout(0.4)]
    layers += [nn.Flatten(), nn.Linear(256 * 6 * 6, 128), nn.ReLU(), nn.BatchNorm1d(128), nn.Dropout(0.6),
               nn.Linear(128, classes)]
    return nn.Sequential(*layers)


def fer_net(classes=3):
    layers = []
    c = 1
    for stage, width in enumerate((32, 64, 128)):
        for _ in range(2):
            layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            c = width
        layers += [nn.MaxPool2d(2)]
        if stage > 0:
            layers += [nn.Dropout(0.1 * stage)]
    layers += [nn.Flatten(), nn.Linear(128 * 6 * 6, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(256, classes)]
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """examples/fer_nets.hpp's block: conv 3x3, BatchNorm, ReLU, conv 3x3, BatchNorm, added to the input (through a
    1x1 convolution + BatchNorm where the width changes), ReLU."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                                  nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Identity() if c_in == c_out else nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False),
                                                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        return torch.relu(self.shortcut(x) + self.body(x))


def resnet_net(classes=3):
    """fer::make_resnet: a 32-filter stem, then stages of 64, 128 and 256 filters (1, 2 and 1 blocks), each opened by
    a 2x2 max-pool; global average pooling, dropout 0.3, Linear to the classes."""
    layers = [nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU()]
    width = 32
    for filters, blocks in ((64, 1), (128, 2), (256, 1)):
        layers.append(nn.MaxPool2d(2))
        for _ in range(blocks):
            layers.append(ResidualBlock(width, filters))
            width = filters
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(width, classes)]
    return nn.Sequential(*layers)


NETS = {"seed": seed_net, "fer": fer_net, "resnet": resnet_net}


def net(name):
    torch.manual_seed(1)
    model = NETS[name]()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    print("net,measure,batch,value,unit,cpu_value")
    for batch in (64, 32):
        x = torch.rand(batch, 1, 48, 48)
        y = torch.randint(0, 3, (batch,))
        model.train()

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()

        ms, cpu = median_ms(step, min_runs=5, min_seconds=2.0)
        print(f"{name},train,{batch},{batch / (ms * 1e-3):.2f},images/s,{batch / (cpu * 1e-3):.2f}", flush=True)
    model.eval()
    with torch.no_grad():
        x = torch.rand(64, 1, 48, 48)
        ms, cpu = median_ms(lambda: model(x), min_seconds=1.0)
        print(f"{name},infer,64,{64 / (ms * 1e-3):.2f},images/s,{64 / (cpu * 1e-3):.2f}", flush=True)
        x1 = torch.rand(1, 1, 48, 48)
        ms, cpu = median_ms(lambda: model(x1), min_runs=20, min_seconds=1.0)
        print(f"{name},latency,1,{ms:.3f},ms,{cpu:.3f}", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{name},peak_rss,64,{rss:.1f},MB,{rss:.1f}", flush=True)


def main():
    mode, threads = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(threads)
    if mode == "conv":
        conv(int(sys.argv[3]), sys.argv[4:])
    else:
        net(sys.argv[3])


if __name__ == "__main__":
    main()
