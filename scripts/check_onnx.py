"""Checks an ONNX model the way its users will run it.

Usage: python scripts/check_onnx.py MODEL.onnx --inputs DIR --expected DIR [--atol 1e-5] [--rtol 1e-4]

Runs onnx.checker.check_model(full_check=True), then ONNX Runtime (CPU, one thread) on every
<input name>.npy in --inputs, and compares each output with <output name>.npy in --expected:
every element must satisfy |actual - expected| <= atol + rtol * |expected|. Exits 1 on any failure.
"""

import argparse
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--expected", required=True)
    parser.add_argument("--atol", type=float, default=1e-5)
    parser.add_argument("--rtol", type=float, default=1e-4)
    args = parser.parse_args()

    try:
        model = onnx.load(args.model)
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # the checker raises several exception types
        print(f"{args.model}: the ONNX checker rejects the model: {error}", file=sys.stderr)
        return 1

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    feeds = {}
    for spec in session.get_inputs():
        path = os.path.join(args.inputs, spec.name.replace("/", "_") + ".npy")
        if not os.path.exists(path):
            print(f"{args.model}: no input file {path} for input '{spec.name}'", file=sys.stderr)
            return 1
        feeds[spec.name] = np.load(path)
    names = [spec.name for spec in session.get_outputs()]
    results = session.run(names, feeds)

    ok = True
    for name, actual in zip(names, results):
        path = os.path.join(args.expected, name.replace("/", "_") + ".npy")
        if not os.path.exists(path):
            print(f"{args.model}: no expected file {path} for output '{name}'", file=sys.stderr)
            ok = False
            continue
        expected = np.load(path)
        if actual.shape != expected.shape:
            print(f"{name}: shape {actual.shape}, expected {expected.shape}")
            ok = False
            continue
        difference = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
        within = difference <= args.atol + args.rtol * np.abs(expected)
        nonzero = expected != 0
        max_rel = float(np.max(difference[nonzero] / np.abs(expected[nonzero]))) if nonzero.any() else 0.0
        print(f"{name}: max abs err {difference.max():.3g}, max rel err {max_rel:.3g}, "
              f"{'ok' if within.all() else 'MISMATCH'}")
        ok = ok and bool(within.all())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
