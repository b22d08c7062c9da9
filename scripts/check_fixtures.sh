#!/usr/bin/env bash
# Converts every fixture under testdata/fixtures (a model.h5 or model.keras, or a model.json with its weights)
# and every SavedModel under testdata/savedmodel (read from its TF Serving base path) to ONNX with kiln, checks
# each model with the ONNX checker and runs it in ONNX Runtime against Keras's own outputs.
# Usage: scripts/check_fixtures.sh KILN_BINARY PYTHON
set -euo pipefail
source "$(dirname "$0")/lib.sh"
check_setup "$@"
for dir in testdata/fixtures/*/; do
  name="$(basename "$dir")"
  model="$(ls "$dir"model.h5 "$dir"model.keras 2>/dev/null | head -n 1 || true)"
  weights=()
  if [ -z "$model" ] && [ -f "$dir/model.json" ]; then
    # An architecture JSON with the weights model.save_weights() wrote.
    model="$dir/model.json"
    weights=(--weights "$(ls "$dir"model_weights.h5 "$dir"model.weights.h5 2>/dev/null | head -n 1 || true)")
  fi
  [ -n "$model" ] || continue
  # Classifier fixtures (meta.json "top1": true) also compare each engine's top-1 with Keras's.
  top1=()
  if grep -q '"top1": true' "$dir/meta.json" 2>/dev/null; then top1=(--top1); fi
  if "$kiln" convert "$model" "${weights[@]}" -o "$work/$name" --emit onnx --name model >/dev/null 2>"$work/$name.log" \
    && "$python" scripts/check_onnx.py "$work/$name/model.onnx" --inputs "$dir/inputs" --expected "$dir/expected" \
      "${top1[@]}" >"$work/$name.check" 2>&1; then
    check_passed "$name"
  else
    check_failed "$name" "$work/$name.log" "$work/$name.check"
  fi
done
for dir in testdata/savedmodel/*/; do
  name="savedmodel_$(basename "$dir")"
  if "$kiln" convert "$dir" -o "$work/$name" --emit onnx --name model >/dev/null 2>"$work/$name.log" \
    && "$python" scripts/check_onnx.py "$work/$name/model.onnx" --inputs "$dir/inputs" --expected "$dir/expected" \
      >"$work/$name.check" 2>&1; then
    check_passed "$name"
  else
    check_failed "$name" "$work/$name.log" "$work/$name.check"
  fi
done
check_summary
