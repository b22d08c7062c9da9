#!/usr/bin/env bash
# Pruning's payoff on the 784-512-512-256-10 MLP: the generated Swift executor dense, at 90% unstructured
# sparsity (sparse kernels) and with half the channels removed, at batch 1 and 32, plus weights file sizes.
# Usage: scripts/bench_pruning.sh [--runs N] [--swiftc-flags "-O"]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=300
flags="-O"
bench_setup "$@"
"$venv/bin/python" scripts/make_bench_mlp.py "$work/mlp.keras"
echo "model: 784-512-512-256-10 MLP (Keras 3, digits)   swiftc flags: $flags   runs: $runs   first/last layers pruned too"
printf "%-16s %-10s %12s %12s %14s\n" variant batch "median µs" "vs dense" "weights bytes"
declare -A dense
for variant in dense magnitude:0.9 channels:0.5; do
  prune=()
  [ "$variant" = dense ] || prune=(--prune "$variant" --prune-first-last)
  "$kiln" convert "$work/mlp.keras" -o "$work/$variant" --emit swift "${prune[@]}" >/dev/null 2>&1
  size=$(stat -c %s "$work/$variant"/*.weights)
  while read -r batch median; do
    [ "$variant" = dense ] && dense[$batch]=$median
    ratio=$(awk -v d="${dense[$batch]}" -v m="$median" 'BEGIN { printf "%.2fx", d / m }')
    printf "%-16s %-10s %12.1f %12s %14s\n" "$variant" "$batch" "$median" "$ratio" "$size"
  done < <("$kiln" bench "$work/mlp.keras" "${prune[@]}" --batch 1 --batch 32 --runs "$runs" --swiftc-flags="$flags" --no-interpreter --json 2>/dev/null \
    | "$venv/bin/python" -c 'import json, sys; [print(r["batch"], r["median_us"]) for r in map(json.loads, sys.stdin)]')
done
