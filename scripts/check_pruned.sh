#!/usr/bin/env bash
# Prunes fixtures with each method, emits ONNX and the pruned IR, and checks ONNX Runtime's outputs against
# kiln's reference interpreter running the pruned IR on the fixture's inputs.
# Usage: scripts/check_pruned.sh KILN_BINARY PYTHON
set -euo pipefail
source "$(dirname "$0")/lib.sh"
check_setup "$@"
for fixture in mnist_mlp_keras3_h5 cnn_bn_keras3_keras two_in_two_out_keras2_h5; do
  dir="testdata/fixtures/$fixture"
  model="$(ls "$dir"/model.h5 "$dir"/model.keras 2>/dev/null | head -n 1 || true)"
  args=()
  for input in "$dir"/inputs/*.npy; do args+=(--input "$(basename "$input" .npy)=$input"); done
  for spec in magnitude:0.8 nm:2:4 channels:0.5; do
    name="$fixture-${spec//:/_}"
    out="$work/$name"
    if "$kiln" convert "$model" -o "$out" --emit onnx,kir --name model --prune "$spec" --prune-first-last >"$out.log" 2>&1 \
      && "$kiln" run "$out/model.kir" "${args[@]}" -o "$out/expected" >>"$out.log" 2>&1 \
      && "$python" scripts/check_onnx.py "$out/model.onnx" --inputs "$dir/inputs" --expected "$out/expected" >>"$out.log" 2>&1; then
      check_passed "$name"
    else
      check_failed "$name" "$out.log"
    fi
  done
done
check_summary pruned
