#!/usr/bin/env bash
# Merges the models of every case under testdata/merge with `kiln merge` (as meta.json's "merge" says), checks
# the merged ONNX with the ONNX checker and runs it in ONNX Runtime against each model's Keras outputs.
# Usage: scripts/check_merge.sh KILN_BINARY PYTHON
set -euo pipefail
source "$(dirname "$0")/lib.sh"
check_setup "$@"
for dir in testdata/merge/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/meta.json" ] || continue
  # One argument per line: the model files as NAME=FILE, then the merge options of meta.json.
  mapfile -t args < <("$python" - "$dir" <<'PY'
import json, os, sys
case = sys.argv[1]
meta = json.load(open(os.path.join(case, "meta.json")))
for model, entry in sorted(meta["models"].items()):
    print(f"{model}={os.path.join(case, entry['file'])}")
merge = meta.get("merge", {})
print(f"--share-inputs={merge.get('share_inputs', 'none')}")
for pipe in merge.get("pipes", []):
    print(f"--pipe={pipe}")
for kind in merge.get("ensembles", []):
    print(f"--ensemble={kind}")
PY
  )
  if "$kiln" merge "${args[@]}" -o "$work/$name" --emit onnx --name merged >"$work/$name.log" 2>&1 \
    && "$python" scripts/check_merge.py "$work/$name/merged.onnx" "$dir" >"$work/$name.check" 2>&1; then
    check_passed "merge $name"
  else
    check_failed "merge $name" "$work/$name.log" "$work/$name.check"
  fi
done
check_summary merge
