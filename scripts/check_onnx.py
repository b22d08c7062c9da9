"""Checks an ONNX model the way its users will run it.

Usage: python scripts/check_onnx.py MODEL.onnx --inputs DIR --expected DIR [--atol 1e-5] [--rtol 1e-4] [--top1]

Runs onnx.checker.check_model(full_check=True), then ONNX Runtime (CPU, one thread) on every
<input name>.npy in --inputs, and compares each output with <output name>.npy in --expected:
every element must satisfy |actual - expected| <= atol + rtol * |expected| (NumPy's allclose rule).
Prints the largest absolute and relative error of each output. With --top1, each row's largest element (the
class a classifier picks) must also be at the expected output's. Exits 1 on any failure.
"""

import argparse
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

# ONNX Runtime's type strings for the element types Kiln emits.
NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


class CheckError(Exception):
    """A failure with a message for the user."""


def npy_path(directory, name):
    # Value names may hold '/', which cannot be in a file name.
    return os.path.join(directory, name.replace("/", "_") + ".npy")


def load_model(path):
    try:
        model = onnx.load(path)
    except Exception as error:  # protobuf and file errors have several types
        raise CheckError(f"cannot read {path} as an ONNX model: {error}")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as error:  # checker and shape-inference errors have several types
        raise CheckError(f"the ONNX checker rejects {path}: {error}")
    return model


def make_session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ORT raises its own exception types
        raise CheckError(f"ONNX Runtime cannot load {path}: {error}")


def load_inputs(session, directory):
    feeds = {}
    for spec in session.get_inputs():
        path = npy_path(directory, spec.name)
        if not os.path.exists(path):
            raise CheckError(f"no input file {path} for the model input '{spec.name}'")
        value = np.load(path)
        wanted = NUMPY_TYPES.get(spec.type)
        if wanted is not None and value.dtype != wanted:
            raise CheckError(f"{path} holds {value.dtype}, but the input '{spec.name}' is {spec.type}")
        feeds[spec.name] = value
    return feeds


def compare(name, actual, expected, atol, rtol):
    """Prints the errors of one output and returns whether it is within tolerance."""
    if actual.shape != expected.shape:
        print(f"{name}: shape {actual.shape}, expected {expected.shape}: MISMATCH")
        return False
    actual = actual.astype(np.float64)
    expected = expected.astype(np.float64)
    difference = np.abs(actual - expected)
    within = difference <= atol + rtol * np.abs(expected)
    # NaN matches NaN, as in the expected outputs of Keras.
    within |= np.isnan(actual) & np.isnan(expected)
    finite = np.isfinite(difference)
    max_abs = float(difference[finite].max()) if finite.any() else 0.0
    nonzero = finite & (expected != 0)
    max_rel = float((difference[nonzero] / np.abs(expected[nonzero])).max()) if nonzero.any() else 0.0
    bad = int(within.size - np.count_nonzero(within))
    status = "ok" if bad == 0 else f"MISMATCH ({bad} of {within.size} elements)"
    print(f"{name}: max abs err {max_abs:.3g}, max rel err {max_rel:.3g}: {status}")
    return bad == 0


def check(args):
    load_model(args.model)
    session = make_session(args.model)
    feeds = load_inputs(session, args.inputs)
    names = [spec.name for spec in session.get_outputs()]
    try:
        results = session.run(names, feeds)
    except Exception as error:  # ORT raises its own exception types
        raise CheckError(f"ONNX Runtime failed to run {args.model}: {error}")
    ok = True
    for name, actual in zip(names, results):
        path = npy_path(args.expected, name)
        if not os.path.exists(path):
            print(f"{name}: no expected file {path}: MISMATCH")
            ok = False
            continue
        expected = np.load(path)
        ok = compare(name, actual, expected, args.atol, args.rtol) and ok
        if args.top1:
            picked, wanted = actual.argmax(axis=-1), expected.argmax(axis=-1)
            differ = int(np.count_nonzero(picked != wanted))
            print(f"{name}: top-1 of {wanted.size} rows: {'same as expected' if differ == 0 else f'{differ} differ: MISMATCH'}")
            ok = differ == 0 and ok
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--inputs", required=True, help="directory of <input name>.npy files")
    parser.add_argument("--expected", required=True, help="directory of <output name>.npy files")
    parser.add_argument("--atol", type=float, default=1e-5)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--top1", action="store_true", help="also compare each row's top-1 (argmax of the last axis)")
    args = parser.parse_args()
    if args.atol < 0 or args.rtol < 0:
        parser.error("tolerances must not be negative")
    try:
        ok = check(args)
    except CheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not ok:
        print(f"{args.model}: outputs differ from {args.expected}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
