"""Times ONNX Runtime on one thread, as a baseline for Kiln's generated executor.

Usage: python scripts/bench_ort.py MODEL.onnx [--batch 1 --batch 32] [--runs 200]

Inputs are seeded random floats with the symbolic batch dimension set to each batch size. Prints one JSON
line per batch size: {"engine": "onnxruntime", "batch": B, "median_us": ..., "p10_us": ..., "p90_us": ...}.
"""

import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0x5EED)
    for batch in args.batch or [1, 32]:
        feeds = {}
        for spec in session.get_inputs():
            shape = [batch if not isinstance(d, int) else d for d in spec.shape]
            feeds[spec.name] = rng.uniform(-1, 1, size=shape).astype(np.float32)
        for _ in range(max(3, args.runs // 10)):
            session.run(None, feeds)
        times = []
        for _ in range(args.runs):
            start = time.perf_counter_ns()
            session.run(None, feeds)
            times.append((time.perf_counter_ns() - start) / 1000)
        times.sort()
        print(json.dumps({"engine": "onnxruntime", "batch": batch, "median_us": times[len(times) // 2],
                          "p10_us": times[len(times) // 10], "p90_us": times[len(times) * 9 // 10]}))


if __name__ == "__main__":
    main()
