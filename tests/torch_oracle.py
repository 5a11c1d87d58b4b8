# tests/torch_oracle.py: PyTorch as the oracle for deepcnn's layers (tests/layers/test_torch_oracle.cpp).
# Usage: python3 torch_oracle.py DIR. Each subfolder of DIR is one case: case.txt (key=value lines: the layer and
# its settings), x.bin, dy.bin and, for Conv2D, weight.bin and bias.bin. The CrossEntropy case is the loss: x
# holds the logits (N, K, 1, 1), case.txt the labels, the class weights (empty: none) and the label smoothing; y
# is the loss. A .bin file is 4 little-endian int32 (the
# shape, N C H W) then float64 values. The script runs the layer in float64 with autograd on
# loss = sum(layer(x) * dy) and writes y.bin, dx.bin and, for Conv2D, dweight.bin and dbias.bin beside them.
import os
import struct
import sys

import torch
import torch.nn.functional as F


def read_tensor(path):
    with open(path, "rb") as f:
        data = f.read()
    shape = struct.unpack("<4i", data[:16])
    values = struct.unpack("<%dd" % (len(data[16:]) // 8), data[16:])
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def write_tensor(path, t):
    t = t.detach().to(torch.float64).contiguous()
    shape = list(t.shape) + [1] * (4 - t.dim())
    with open(path, "wb") as f:
        f.write(struct.pack("<4i", *shape))
        f.write(struct.pack("<%dd" % t.numel(), *t.flatten().tolist()))


def read_case(folder):
    spec = {}
    with open(os.path.join(folder, "case.txt")) as f:
        for line in f:
            key, value = line.strip().split("=", 1)
            spec[key] = value
    return spec


def padded(x, spec):
    # F.pad takes (left, right, top, bottom): TensorFlow's 'same' puts the odd row / column at the bottom / right.
    pads = [int(spec[k]) for k in ("pad_left", "pad_right", "pad_top", "pad_bottom")]
    return F.pad(x, pads) if any(pads) else x


def run_case(folder):
    spec = read_case(folder)
    x = read_tensor(os.path.join(folder, "x.bin")).requires_grad_(True)
    dy = read_tensor(os.path.join(folder, "dy.bin"))
    layer = spec["layer"]
    params = []
    if layer == "Conv2D":
        weight = read_tensor(os.path.join(folder, "weight.bin")).requires_grad_(True)
        params.append(("dweight", weight))
        bias = None
        if spec["bias"] == "1":
            bias = read_tensor(os.path.join(folder, "bias.bin")).flatten().requires_grad_(True)
            params.append(("dbias", bias))
        stride = (int(spec["stride_h"]), int(spec["stride_w"]))
        y = F.conv2d(padded(x, spec), weight, bias, stride=stride, groups=int(spec["groups"]))
    elif layer == "AvgPool2D":
        kernel = (int(spec["kernel_h"]), int(spec["kernel_w"]))
        stride = (int(spec["stride_h"]), int(spec["stride_w"]))
        include = spec["count_include_pad"] == "1"
        symmetric = spec["pad_top"] == spec["pad_bottom"] and spec["pad_left"] == spec["pad_right"]
        if symmetric:
            padding = (int(spec["pad_top"]), int(spec["pad_left"]))
            y = F.avg_pool2d(x, kernel, stride, padding, count_include_pad=include)
        elif include:
            y = F.avg_pool2d(padded(x, spec), kernel, stride)
        else:
            # The window sums over the number of input cells each window covers.
            ones = torch.ones_like(x)
            y = F.avg_pool2d(padded(x, spec), kernel, stride) / F.avg_pool2d(padded(ones, spec), kernel, stride)
    elif layer == "GlobalAvgPool2D":
        y = F.adaptive_avg_pool2d(x, 1)
    elif layer == "CrossEntropy":
        labels = torch.tensor([int(v) for v in spec["labels"].split(",")])
        weight = None
        if spec["weights"]:
            weight = torch.tensor([float(v) for v in spec["weights"].split(",")], dtype=torch.float64)
        logits = x.reshape(x.shape[0], x.shape[1])
        y = F.cross_entropy(logits, labels, weight=weight, label_smoothing=float(spec["label_smoothing"]))
    else:
        raise SystemExit("torch_oracle.py: unknown layer " + layer + " in " + folder)
    (y * dy).sum().backward()
    write_tensor(os.path.join(folder, "y.bin"), y)
    write_tensor(os.path.join(folder, "dx.bin"), x.grad)
    for name, p in params:
        write_tensor(os.path.join(folder, name + ".bin"), p.grad)


def main():
    root = sys.argv[1]
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if os.path.isdir(folder):
            run_case(folder)


if __name__ == "__main__":
    main()
