#!/usr/bin/python3
"""tools/peers/onnx_bench.py THREADS NET NODE_MODULES: ONNX Runtime's and OpenCV dnn's side of tools/compare-peers.

Exports tools/peers/torch_bench.py's PyTorch equivalent of the seed, fer or resnet net with torch.onnx.export (opset 13, eval
mode), then measures inference images/s at batch 64 and batch-1 latency ms on THREADS threads with ONNX Runtime (npm
onnxruntime-node under node, tools/peers/onnxruntime_bench.js: CPU execution provider, all graph optimisations) and
with OpenCV's dnn module (python3-opencv, cv2.setNumThreads). Prints CSV rows
"runtime,net,measure,batch,value,cpu_value"; a runtime that is not installed is left out with a note on stderr.
"""
import csv
import io
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_bench  # noqa: E402  (the nets and the timing loop)


def export(name, path):
    torch.manual_seed(1)
    model = torch_bench.NETS[name]()
    model.eval()
    for m in model.modules():  # PyTorch 1.13 cannot export padding='same': the same pads, written out (odd kernels)
        if isinstance(m, torch.nn.Conv2d) and m.padding == "same":
            m.padding = (m.kernel_size[0] // 2, m.kernel_size[1] // 2)
    torch.onnx.export(model, torch.rand(1, 1, 48, 48), path, opset_version=13, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    # PyTorch 1.13 writes an Identity of an initializer here and there, which OpenCV 4.6 cannot read: such an
    # Identity becomes a copy of the initializer under its output's name.
    import onnx
    m = onnx.load(path)
    initializers = {t.name: t for t in m.graph.initializer}
    for node in list(m.graph.node):
        if node.op_type == "Identity" and node.input[0] in initializers:
            copy = onnx.TensorProto()
            copy.CopyFrom(initializers[node.input[0]])
            copy.name = node.output[0]
            m.graph.initializer.append(copy)
            m.graph.node.remove(node)
    onnx.save(m, path)


def main():
    threads, name, node_modules = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    torch.set_num_threads(threads)
    print("runtime,net,measure,batch,value,cpu_value")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name + ".onnx")
        export(name, path)
        run = subprocess.run(["node", os.path.join(HERE, "onnxruntime_bench.js"), path, str(threads)],
                             env=dict(os.environ, NODE_PATH=node_modules), capture_output=True, text=True)
        if run.returncode == 0:
            for r in csv.DictReader(io.StringIO(run.stdout)):
                print(f"onnxruntime,{name},{r['measure']},{r['batch']},{r['value']},{r['cpu_value']}", flush=True)
        else:
            print("onnx_bench: ONNX Runtime did not run: " + run.stderr.strip(), file=sys.stderr)
        try:
            import cv2
            import numpy
        except ImportError:
            print("onnx_bench: python3-opencv is not installed", file=sys.stderr)
            return
        cv2.setNumThreads(threads)
        net = cv2.dnn.readNetFromONNX(path)
        for batch in (64, 1):
            x = numpy.random.rand(batch, 1, 48, 48).astype(numpy.float32)

            def infer():
                net.setInput(x)
                net.forward()

            ms, cpu = torch_bench.median_ms(infer, min_runs=20 if batch == 1 else 5, min_seconds=1.0)
            if batch == 64:
                print(f"opencv,{name},infer,64,{64 / (ms * 1e-3):.2f},{64 / (cpu * 1e-3):.2f}", flush=True)
            else:
                print(f"opencv,{name},latency,1,{ms:.3f},{cpu:.3f}", flush=True)


if __name__ == "__main__":
    main()
