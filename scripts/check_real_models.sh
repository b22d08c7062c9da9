#!/usr/bin/env bash
# Converts every Keras file of ../shared/real-models (the repository's parent directory's shared/real-models)
# that testdata/real-models.txt expects to pass to ONNX with kiln, and runs it in ONNX Runtime against Keras's
# own outputs; a file expected to fail must fail with the message listed there. Skipped when the folder is
# absent.
# Usage: scripts/check_real_models.sh KILN_BINARY PYTHON
set -euo pipefail
source "$(dirname "$0")/lib.sh"
check_setup "$@"
root="../shared/real-models"
if [ ! -d "$root" ]; then
  echo "no real models at $(cd .. && pwd)/shared/real-models; skipped"
  exit 0
fi
for dir in "$root"/*/; do
  name="$(basename "$dir")"
  expectation="$(awk -v name="$name" '$1 == name { sub(/^[^ ]+ +/, ""); print; exit }' testdata/real-models.txt)"
  if [ -z "$expectation" ]; then
    check_failed "$name (not listed in testdata/real-models.txt)"
    continue
  fi
  # The model: an architecture JSON with the .h5 beside it as its weights, or the .h5 or .keras file.
  json="$(ls "$dir"*.json 2>/dev/null | head -n 1 || true)"
  if [ -n "$json" ]; then
    model=("$json" --weights "$(ls "$dir"*.h5 2>/dev/null | head -n 1 || true)")
  else
    model=("$(ls "$dir"*.h5 "$dir"*.keras 2>/dev/null | head -n 1 || true)")
  fi
  if [ "$expectation" != "pass" ]; then
    message="${expectation#error: }"
    if ! "$kiln" convert "${model[@]}" -o "$work/$name" --emit onnx >/dev/null 2>"$work/$name.log" \
      && grep -qF -- "$message" "$work/$name.log"; then
      check_passed "$name (fails as expected)"
    else
      echo "expected the error: $message" >>"$work/$name.log"
      check_failed "$name" "$work/$name.log"
    fi
    continue
  fi
  # check_onnx.py reads <input name>.npy; the folders hold input_<input name>.npy.
  mkdir -p "$work/$name.inputs"
  for input in "$dir"input_*.npy; do
    ln -s "$(cd "$(dirname "$input")" && pwd)/$(basename "$input")" "$work/$name.inputs/$(basename "$input" | sed 's/^input_//')"
  done
  if "$kiln" convert "${model[@]}" -o "$work/$name" --emit onnx --name model >/dev/null 2>"$work/$name.log" \
    && "$python" scripts/check_onnx.py "$work/$name/model.onnx" --inputs "$work/$name.inputs" --expected "$dir/expected" \
      >"$work/$name.check" 2>&1; then
    check_passed "$name"
  else
    check_failed "$name" "$work/$name.log" "$work/$name.check"
  fi
done
check_summary "real models"
