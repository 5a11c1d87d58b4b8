# tests/model/residual_block_oracle.py: the PyTorch oracle of tests/model/test_graph_torch.cpp. Reads a residual
# block's input, upstream gradient and parameters (text: one tensor per line, "name d0 d1 ... : v0 v1 ..."), runs
# conv-bn-relu-conv-bn + skip, add, relu in float64 with BatchNorm in training mode, back-propagates the upstream
# gradient and writes the output, the input's gradient, every parameter's gradient and the BatchNorm running
# statistics in the same format.
import sys

import torch


def read_tensors(path):
    tensors = {}
    with open(path) as f:
        for line in f:
            head, values = line.split(":")
            name, *dims = head.split()
            tensors[name] = torch.tensor([float(v) for v in values.split()], dtype=torch.float64).reshape(
                [int(d) for d in dims])
    return tensors


def write_tensors(path, tensors):
    with open(path, "w") as f:
        for name, t in tensors.items():
            dims = " ".join(str(d) for d in t.shape)
            values = " ".join(repr(float(v)) for v in t.detach().reshape(-1).tolist())
            f.write(f"{name} {dims} : {values}\n")


def main():
    t = read_tensors(sys.argv[1])
    eps = float(t["eps"].reshape(-1)[0])
    momentum = float(t["momentum"].reshape(-1)[0])
    channels = t["conv1.weight"].shape[0]
    convs, bns = {}, {}
    for name in ("conv1", "conv2"):
        conv = torch.nn.Conv2d(t[name + ".weight"].shape[1], channels, t[name + ".weight"].shape[2], padding="same")
        conv = conv.double()
        with torch.no_grad():
            conv.weight.copy_(t[name + ".weight"])
            conv.bias.copy_(t[name + ".bias"].reshape(-1))
        convs[name] = conv
    for name in ("bn1", "bn2"):
        # Keras' momentum m (running = m * running + (1 - m) * batch) is PyTorch's 1 - m
        bn = torch.nn.BatchNorm2d(channels, eps=eps, momentum=1.0 - momentum).double()
        with torch.no_grad():
            bn.weight.copy_(t[name + ".gamma"].reshape(-1))
            bn.bias.copy_(t[name + ".beta"].reshape(-1))
        bn.train()
        bns[name] = bn
    x = t["x"].clone().requires_grad_(True)
    h = torch.relu(bns["bn1"](convs["conv1"](x)))
    y = torch.relu(x + bns["bn2"](convs["conv2"](h)))
    y.backward(t["dy"])
    out = {"y": y, "dx": x.grad}
    for name, conv in convs.items():
        out[name + ".weight"] = conv.weight.grad
        out[name + ".bias"] = conv.bias.grad
    for name, bn in bns.items():
        out[name + ".gamma"] = bn.weight.grad
        out[name + ".beta"] = bn.bias.grad
        out[name + ".running_mean"] = bn.running_mean
        out[name + ".running_var"] = bn.running_var
    write_tensors(sys.argv[2], out)


if __name__ == "__main__":
    main()
