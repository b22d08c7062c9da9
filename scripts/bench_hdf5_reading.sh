#!/usr/bin/env bash
# What reading HDF5 in a child process costs (issue 21, item 5): the median time of `kiln convert --emit
# onnx` on the largest HDF5 fixture and on the largest real model with an .h5 file, in seconds.
# Usage: scripts/bench_hdf5_reading.sh [--runs N] [MODEL...]
#   KILN=path times that binary instead of building and timing .build/release/kiln (run it once with the
#   binary of the commit before, once with this one, in one session, to compare).
set -euo pipefail
runs=7
models=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
cd "$(dirname "$0")/.."
if [ ${#models[@]} -eq 0 ]; then
  models=(testdata/fixtures/mnist_mlp_keras3_h5/model.h5)
  [ -f /work/shared/real-models/tm_water/keras_model.h5 ] && models+=(/work/shared/real-models/tm_water/keras_model.h5)
fi
if [ -z "${KILN:-}" ]; then
  swift build -c release --product kiln >&2
  KILN=.build/release/kiln
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "kiln: $KILN   runs: $runs"
for model in "${models[@]}"; do
  times=()
  for _ in $(seq "$runs"); do
    rm -rf "$work/out"
    start=$EPOCHREALTIME
    "$KILN" convert "$model" -o "$work/out" --emit onnx >/dev/null 2>&1
    end=$EPOCHREALTIME
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')")
  done
  median=$(printf "%s\n" "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { print t[int((NR + 1) / 2)] }')
  printf "%-70s %8s s   (%s bytes)\n" "$model" "$median" "$(stat -c %s "$model")"
done
