#!/usr/bin/env python3
"""tests/onnx/torch_net.py OUT_DIR: a small CNN built and trained briefly in PyTorch, exported with torch.onnx.export
(opset 13) for tests/io/test_onnx_torch.cpp to import. Writes OUT_DIR/torch_net.onnx, OUT_DIR/input.bin (float32
(8, 1, 12, 12)), OUT_DIR/probabilities.bin (float32 (8, 3): softmax of the net's logits in eval mode),
OUT_DIR/train_x.bin (float32 (32, 1, 12, 12)) and OUT_DIR/train_y.bin (int32 labels), a task to fine-tune on."""
import os
import sys

import torch
from torch import nn


def main():
    out = sys.argv[1]
    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), nn.ReLU(), nn.AvgPool2d(3, stride=1, padding=1),
        nn.Flatten(), nn.Linear(6 * 3 * 3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    x = torch.randn(32, 1, 12, 12)
    y = (x[:, 0, :6, :].mean(dim=(1, 2)) > 0).long() + (x[:, 0, 6:, :].mean(dim=(1, 2)) > 0).long()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    for _ in range(20):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
    net.eval()
    probe = torch.randn(8, 1, 12, 12)
    with torch.no_grad():
        probabilities = torch.softmax(net(probe), dim=1)
    # TrainingMode.PRESERVE on a net in eval mode keeps BatchNormalization nodes (EVAL folds them into the Conv).
    torch.onnx.export(net, probe, os.path.join(out, "torch_net.onnx"), opset_version=13,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE)
    probe.numpy().astype("float32").tofile(os.path.join(out, "input.bin"))
    probabilities.numpy().astype("float32").tofile(os.path.join(out, "probabilities.bin"))
    x.numpy().astype("float32").tofile(os.path.join(out, "train_x.bin"))
    y.numpy().astype("int32").tofile(os.path.join(out, "train_y.bin"))


if __name__ == "__main__":
    main()
