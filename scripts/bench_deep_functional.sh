#!/usr/bin/env bash
# Reading time of a 20,000-layer Functional model (a Dense(4) and three Activation layers, repeated), its
# layers listed in call order and last-first: `kiln inspect` (read, lower, verify) and `kiln convert --emit
# onnx` (also the optimization passes and the ONNX emitter) of its architecture JSON with a Keras 2 weights
# file. Issue 21, item 7: reading is linear in the number of layers, in any order. Prints the median of
# --runs runs of each, in seconds, all measured in this one run.
# Usage: scripts/bench_deep_functional.sh [--runs N] [--layers N]
#   KILN=path times that binary instead of building and timing .build/release/kiln;
#   H5PY_PYTHON is a Python with h5py and numpy (default python3), for scripts/make_deep_functional.py.
set -euo pipefail
runs=5
layers=20000
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --layers) layers="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
if [ -z "${KILN:-}" ]; then
  swift build -c release --product kiln >&2
  KILN=.build/release/kiln
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"${H5PY_PYTHON:-python3}" scripts/make_deep_functional.py --layers "$layers" --out "$work/model" >&2
echo "kiln: $KILN   layers: $layers   runs: $runs"
printf "%-10s %-8s %10s\n" order command "median s"
for order in in_order reversed; do
  for command in inspect convert; do
    times=()
    for _ in $(seq "$runs"); do
      rm -rf "$work/out"
      start=$EPOCHREALTIME
      if [ "$command" = inspect ]; then
        "$KILN" inspect "$work/model/$order.json" --weights "$work/model/weights.h5" >/dev/null
      else
        "$KILN" convert "$work/model/$order.json" --weights "$work/model/weights.h5" -o "$work/out" --emit onnx >/dev/null 2>&1
      fi
      end=$EPOCHREALTIME
      times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')")
    done
    median=$(printf "%s\n" "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }')
    printf "%-10s %-8s %10s\n" "$order" "$command" "$median"
  done
done
