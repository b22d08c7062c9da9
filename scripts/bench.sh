#!/usr/bin/env bash
# One table: the generated Swift executor, the reference interpreter and ONNX Runtime (one thread) on the
# same model and batch sizes, with ratios against the Swift executor.
# Usage: scripts/bench.sh MODEL [--runs N] [--swiftc-flags "-O"]   (batch sizes 1 and 32)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
model="$(realpath "$1")"
shift
runs=200
flags="-O"
bench_setup "$@"
"$kiln" convert "$model" -o "$work" --emit onnx --name model >/dev/null
{
  "$kiln" bench "$model" --batch 1 --batch 32 --runs "$runs" --swiftc-flags="$flags" --json
  "$venv/bin/python" scripts/bench_ort.py "$work/model.onnx" --batch 1 --batch 32 --runs "$runs"
} > "$work/results.jsonl"
"$venv/bin/python" - "$work/results.jsonl" "$model" "$flags" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print(f"model: {sys.argv[2]}   swiftc flags: {sys.argv[3]}   kiln: release build   onnxruntime: 1 thread")
print(f"{'engine':<12} {'batch':>5} {'median µs':>11} {'µs/example':>11} {'vs swift':>9}")
for batch in sorted({r['batch'] for r in rows}):
    swift = next(r['median_us'] for r in rows if r['engine'] == 'swift' and r['batch'] == batch)
    for r in (r for r in rows if r['batch'] == batch):
        print(f"{r['engine']:<12} {batch:>5} {r['median_us']:>11.1f} {r['median_us'] / batch:>11.2f} {r['median_us'] / swift:>8.2f}x")
PY
