"""Times ONNX Runtime on one thread, as the baseline for Kiln's generated executor.

Usage: python scripts/bench_ort.py MODEL.onnx [--batch 1 --batch 32] [--runs 200]

One intra-op and one inter-op thread, sequential execution, all graph optimizations. Inputs are seeded
random values of each input's shape and type, with the symbolic batch dimension (the first) set to each
batch size. Prints one JSON line per batch size on stdout:
{"engine": "onnxruntime", "batch": B, "median_us": ..., "p10_us": ..., "p90_us": ..., "runs": N}
Exits 1 with a message on stderr when the model cannot be loaded or run.
"""

import argparse
import json
import sys
import time

import numpy as np
import onnxruntime as ort

NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


class BenchError(Exception):
    """A failure with a message for the user."""


def random_input(spec, batch, rng):
    shape = []
    for position, dim in enumerate(spec.shape):
        if isinstance(dim, int):
            shape.append(dim)
        elif position == 0:
            shape.append(batch)
        else:
            raise BenchError(
                f"input '{spec.name}' has the symbolic dimension {dim!r} at position {position}; "
                "only the batch dimension (the first) may be symbolic")
    dtype = NUMPY_TYPES.get(spec.type)
    if dtype is None:
        raise BenchError(f"input '{spec.name}' has the type {spec.type}, which this script cannot make up")
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 10, size=shape).astype(dtype)
    return rng.uniform(-1, 1, size=shape).astype(dtype)


def bench(args):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ORT raises its own exception types
        raise BenchError(f"ONNX Runtime cannot load {args.model}: {error}")
    rng = np.random.default_rng(0x5EED)
    for batch in args.batch or [1, 32]:
        feeds = {spec.name: random_input(spec, batch, rng) for spec in session.get_inputs()}
        try:
            for _ in range(max(3, args.runs // 10)):
                session.run(None, feeds)
            times = []
            for _ in range(args.runs):
                start = time.perf_counter_ns()
                session.run(None, feeds)
                times.append((time.perf_counter_ns() - start) / 1000)
        except Exception as error:  # ORT raises its own exception types
            raise BenchError(f"ONNX Runtime failed to run {args.model} at batch {batch}: {error}")
        times.sort()
        print(json.dumps({
            "engine": "onnxruntime", "batch": batch, "median_us": round(float(np.median(times)), 3),
            "p10_us": round(times[len(times) // 10], 3), "p90_us": round(times[len(times) * 9 // 10], 3),
            "runs": args.runs}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, action="append", help="a batch size; repeat for several (default 1 and 32)")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per batch size")
    args = parser.parse_args()
    if args.runs < 1 or any(batch < 1 for batch in args.batch or []):
        parser.error("--runs and --batch must be at least 1")
    try:
        bench(args)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
