"""Checks a merged ONNX model of a testdata/merge case in ONNX Runtime against each model's Keras outputs.

Usage: python scripts/check_merge.py MERGED.onnx CASE_DIR [--atol 1e-5] [--rtol 1e-4]

The merged model's inputs are found in CASE_DIR/inputs: `<model>_<input>` is <model>/<input>.npy, and a
shared input keeps its name, <any model>/<input>.npy (all of which must hold the same values). Each output
`<model>_<output>` is compared with CASE_DIR/expected/<model>/<output>.npy, the ensembles listed in
meta.json ("ensembles", as NAME=KIND) with the same combination of Keras's outputs: `mean` their mean, `vote` the
majority of their argmax (ties to the lowest class) and the votes per class.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_onnx import CheckError, compare, load_model, make_session  # noqa: E402


def feeds_for(session, case):
    root = os.path.join(case, "inputs")
    models = sorted(os.listdir(root))
    feeds = {}
    for spec in session.get_inputs():
        for model in models:
            if spec.name.startswith(model + "_"):
                path = os.path.join(root, model, spec.name[len(model) + 1:] + ".npy")
                if os.path.exists(path):
                    feeds[spec.name] = np.load(path)
                    break
        else:
            shared = [np.load(os.path.join(root, m, spec.name + ".npy")) for m in models
                      if os.path.exists(os.path.join(root, m, spec.name + ".npy"))]
            if not shared:
                raise CheckError(f"no input file for the merged input '{spec.name}' in {root}")
            if any(not np.array_equal(shared[0], other) for other in shared[1:]):
                raise CheckError(f"the models sharing '{spec.name}' have different input files")
            feeds[spec.name] = shared[0]
    return feeds


def first_argmax_one_hot(x):
    return np.eye(x.shape[-1], dtype=np.float32)[np.argmax(x, axis=-1)]


def expected_outputs(case, meta):
    root = os.path.join(case, "expected")
    expected = {}
    members = []
    for model in sorted(os.listdir(root)):
        for file in sorted(os.listdir(os.path.join(root, model))):
            value = np.load(os.path.join(root, model, file))
            expected[f"{model}_{file[:-4]}"] = value
            members.append(value)
    for spec in meta.get("merge", {}).get("ensembles", []):
        name, kind = spec.split("=")
        if kind == "mean":
            expected[name] = np.mean(np.stack(members).astype(np.float64), axis=0).astype(np.float32)
        elif kind == "max":
            expected[name] = np.max(np.stack(members), axis=0)
        elif kind == "vote":
            votes = sum(first_argmax_one_hot(m) for m in members)
            expected[name + "_votes"] = votes
            expected[name] = np.argmax(votes, axis=-1).astype(np.float32)
    return expected


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("case")
    parser.add_argument("--atol", type=float, default=1e-5)
    parser.add_argument("--rtol", type=float, default=1e-4)
    args = parser.parse_args()
    if args.atol < 0 or args.rtol < 0:
        parser.error("tolerances must not be negative")
    with open(os.path.join(args.case, "meta.json")) as f:
        meta = json.load(f)
    try:
        load_model(args.model)
        session = make_session(args.model)
        feeds = feeds_for(session, args.case)
        names = [spec.name for spec in session.get_outputs()]
        results = session.run(names, feeds)
    except CheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # ORT raises its own exception types
        print(f"error: ONNX Runtime failed to run {args.model}: {error}", file=sys.stderr)
        return 1
    expected = expected_outputs(args.case, meta)
    ok = True
    for name, actual in zip(names, results):
        if name not in expected:
            print(f"{name}: nothing to compare with: MISMATCH")
            ok = False
            continue
        ok = compare(name, actual, expected[name], args.atol, args.rtol) and ok
    missing = sorted(set(expected) - set(names))
    if missing:
        print(f"the merged model lacks the outputs {missing}: MISMATCH")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
