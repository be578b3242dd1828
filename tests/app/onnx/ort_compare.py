"""Checks ONNX models with ONNX's checker and runs them in ONNX Runtime (CPU provider).

Usage: ort_compare.py MANIFEST.json RESULTS.json

MANIFEST holds {"cases": [{"name", "onnx", "input", "shape", "logits"}]}: raw little-endian
float32 files of the input batch and of the logits shears computed for it. RESULTS receives, per
case, the checker's verdict ("ok" or its message), the shape ONNX Runtime returned and the
largest absolute difference from shears' logits, plus the versions used. The comparison itself
is the caller's (the C++ test asserts the bound).
"""
import json
import sys

import numpy as np
import onnx
import onnx.checker
import onnxruntime as ort


def main():
    manifest = json.load(open(sys.argv[1]))
    results = {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "cases": {}}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    for case in manifest["cases"]:
        out = {}
        try:
            onnx.checker.check_model(onnx.load(case["onnx"]), full_check=True)
            out["checker"] = "ok"
        except Exception as e:  # the verdict is reported, not raised
            out["checker"] = str(e)
        x = np.fromfile(case["input"], dtype="<f4").reshape(case["shape"])
        expected = np.fromfile(case["logits"], dtype="<f4")
        try:
            session = ort.InferenceSession(case["onnx"], options, providers=["CPUExecutionProvider"])
            got = session.run(["logits"], {"input": x})[0]
            out["shape"] = list(got.shape)
            out["max_abs_diff"] = float(np.max(np.abs(got.reshape(-1) - expected)))
            out["max_abs_logit"] = float(np.max(np.abs(expected)))
        except Exception as e:
            out["error"] = str(e)
        results["cases"][case["name"]] = out
    json.dump(results, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
