#!/usr/bin/env bash
# For every hand-written graph in testdata/ops: emit ONNX with kiln, run it in ONNX Runtime on random
# inputs, and compare with kiln's reference interpreter on the same inputs.
# Usage: scripts/check_ops.sh KILN_BINARY PYTHON
set -euo pipefail
source "$(dirname "$0")/lib.sh"
check_setup "$@"
for graph in testdata/ops/*.kir; do
  name="$(basename "$graph" .kir)"
  mkdir -p "$work/$name/inputs"
  "$kiln" convert "$graph" -o "$work/$name" --emit onnx --name model >/dev/null 2>&1
  "$python" - "$work/$name/model.onnx" "$work/$name/inputs" <<'PY'
import sys, numpy as np, onnx
model = onnx.load(sys.argv[1])
rng = np.random.default_rng(3)
for value in model.graph.input:
    shape = [d.dim_value if d.HasField("dim_value") else 3 for d in value.type.tensor_type.shape.dim]
    np.save(f"{sys.argv[2]}/{value.name}.npy", rng.uniform(-3, 3, size=shape).astype(np.float32))
PY
  args=()
  for input in "$work/$name/inputs"/*.npy; do args+=(--input "$(basename "$input" .npy)=$input"); done
  if "$kiln" run "$graph" "${args[@]}" -o "$work/$name/expected" >/dev/null \
    && "$python" scripts/check_onnx.py "$work/$name/model.onnx" --inputs "$work/$name/inputs" --expected "$work/$name/expected" \
      >"$work/$name.log" 2>&1; then
    check_passed "$name"
  else
    check_failed "$name" "$work/$name.log"
  fi
done
check_summary ops
