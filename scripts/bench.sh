#!/usr/bin/env bash
# One table: the generated Swift executor, the reference interpreter and ONNX Runtime (one thread) on the
# same model and batch sizes, with ratios against the Swift executor.
# Usage: scripts/bench.sh MODEL [--runs N] [--swiftc-flags "-O"]   (batch sizes 1 and 32)
set -euo pipefail
cd "$(dirname "$0")/.."
model="$1"
shift
runs=200
flags="-O"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --swiftc-flags) flags="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
venv="${KILN_VENV:-$HOME/.cache/kiln-venv}"
swift build -c release --product kiln >&2
kiln=.build/release/kiln
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
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
