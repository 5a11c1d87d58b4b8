#!/usr/bin/env python3
"""tests/onnx/check_consumers.py TOOL WORK_DIR [NODE_MODULES]

Checks an exported model with a real ONNX consumer. TOOL is one of
  checker      onnx.checker.check_model(full_check=True) accepts the file, opset 13, input `image` and output
               `probabilities` where the model is a FER model (metadata "classes")
  onnxruntime  ONNX Runtime (npm onnxruntime-node, run by run_onnxruntime.js under node) gives the reference
               probabilities within 1e-5
  opencv       OpenCV's dnn module (python3-opencv) gives the reference probabilities within 1e-5
Every NAME.onnx in WORK_DIR (written by make_models.sh) is checked against NAME.json, deepcnn's probabilities in
fer_predict --json's form, on WORK_DIR/faces.bin, the same images as float32 (N, 1, 48, 48) pixel values 0..255. Exits 77 (a skip for ctest), saying so, when the tool is not installed.
"""
import json
import os
import subprocess
import sys

SKIP = 77
TOLERANCE = 1e-5


def skip(why):
    print("SKIPPED: " + why)
    sys.exit(SKIP)


def reference(path):
    with open(path) as f:
        rows = json.load(f)
    classes = list(rows[0]["probabilities"].keys())
    return classes, [[row["probabilities"][c] for c in classes] for row in rows]


def pixels(path, n):
    import array
    values = array.array("f")
    with open(path, "rb") as f:
        values.frombytes(f.read())
    assert len(values) == n * 48 * 48, "%s holds %d values, expected %d" % (path, len(values), n * 48 * 48)
    return values


def compare(tool, got, expected):
    worst = 0.0
    for i, (g, e) in enumerate(zip(got, expected)):
        if len(g) != len(e):
            sys.exit("%s: image %d: %d outputs, expected %d" % (tool, i, len(g), len(e)))
        worst = max([worst] + [abs(a - b) for a, b in zip(g, e)])
    if len(got) != len(expected):
        sys.exit("%s: %d rows, expected %d" % (tool, len(got), len(expected)))
    print("%s: %d images, largest difference from deepcnn %.3g" % (tool, len(got), worst))
    if worst > TOLERANCE:
        sys.exit("%s: differs from deepcnn by %.3g > %g" % (tool, worst, TOLERANCE))


def main():
    tool, work = sys.argv[1:3]
    models = sorted(f[:-5] for f in os.listdir(work) if f.endswith(".onnx"))
    if not models:
        sys.exit("no .onnx files in " + work)
    for name in models:
        check(tool, os.path.join(work, name + ".onnx"), os.path.join(work, name + ".json"),
              os.path.join(work, "faces.bin"))


def check(tool, model, ref, pix):
    classes, expected = reference(ref)
    n = len(expected)
    if tool == "checker":
        try:
            import onnx
        except ImportError:
            skip("python3 cannot import onnx (install python3-onnx: bash tools/install-deps.sh)")
        m = onnx.load(model)
        onnx.checker.check_model(m, full_check=True)
        opsets = {o.domain: o.version for o in m.opset_import}
        assert opsets.get("", None) == 13, "opset %s" % opsets
        meta = {p.key: p.value for p in m.metadata_props}
        if "classes" in meta:
            assert [i.name for i in m.graph.input] == ["image"], m.graph.input
            assert [o.name for o in m.graph.output] == ["probabilities"], m.graph.output
            assert meta["classes"].split("\n") == classes, (meta["classes"], classes)
        print("checker: %s passes onnx.checker.check_model(full_check=True) (onnx %s)" % (model, onnx.__version__))
    elif tool == "onnxruntime":
        node_modules = sys.argv[3] if len(sys.argv) > 3 else ""
        env = dict(os.environ, NODE_PATH=node_modules)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run_onnxruntime.js")
        try:
            run = subprocess.run(["node", script, model, pix, str(n)], env=env, capture_output=True, text=True)
        except FileNotFoundError:
            skip("node is not installed (install nodejs: bash tools/install-deps.sh)")
        if run.returncode == SKIP:
            skip(run.stdout.strip().replace("SKIPPED: ", ""))
        if run.returncode != 0:
            sys.exit("onnxruntime failed: " + run.stderr + run.stdout)
        compare("onnxruntime: " + model, json.loads(run.stdout)["rows"], expected)
    elif tool == "opencv":
        try:
            import cv2
            import numpy
        except ImportError:
            skip("python3 cannot import cv2 (install python3-opencv: bash tools/install-deps.sh)")
        net = cv2.dnn.readNetFromONNX(model)
        blob = numpy.array(pixels(pix, n), dtype=numpy.float32).reshape(n, 1, 48, 48)
        net.setInput(blob)
        out = net.forward()
        compare("opencv " + cv2.__version__ + ": " + model, out.reshape(n, -1).tolist(), expected)
    else:
        sys.exit("unknown tool " + tool)


if __name__ == "__main__":
    main()
