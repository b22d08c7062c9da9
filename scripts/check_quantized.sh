#!/usr/bin/env bash
# Quantizes fixtures (static int8, calibrated on their inputs), emits ONNX and the quantized IR, and runs the
# ONNX model in ONNX Runtime. With graph optimizations off it must equal kiln's interpreter on the quantized
# IR (the QDQ arithmetic is exact). With them on, ONNX Runtime fuses the pairs into integer kernels, whose
# u8 x s8 products saturate 16-bit pair sums on x86 CPUs without VNNI: with --reduce-range (7-bit weights)
# they must equal the interpreter too; with full-range weights the difference is printed.
# Usage: scripts/check_quantized.sh KILN_BINARY PYTHON
set -euo pipefail
cd "$(dirname "$0")/.."
kiln="$1"
python="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
for fixture in mnist_mlp_keras3_h5 cnn_bn_keras3_keras two_in_two_out_keras2_h5; do
for range in full reduced; do
  dir="testdata/fixtures/$fixture"
  model="$(ls "$dir"/model.h5 "$dir"/model.keras 2>/dev/null | head -n 1 || true)"
  args=()
  for input in "$dir"/inputs/*.npy; do args+=(--input "$(basename "$input" .npy)=$input"); done
  out="$work/$fixture-$range"
  flags=()
  [ "$range" = reduced ] && flags=(--reduce-range)
  if "$kiln" convert "$model" -o "$out" --emit onnx,kir --name model --quantize static --calibration "$dir/inputs" "${flags[@]}" >"$out.log" 2>&1 \
    && "$kiln" run "$out/model.kir" "${args[@]}" -o "$out/expected" >>"$out.log" 2>&1 \
    && "$python" - "$out/model.onnx" "$dir/inputs" "$out/expected" "$range" >>"$out.log" 2>&1 <<'PY'
import os, sys
import numpy as np
import onnxruntime as ort
path, inputs, expected, weight_range = sys.argv[1:5]
feeds = {f[:-4]: np.load(os.path.join(inputs, f)) for f in os.listdir(inputs)}
def run(level):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = level
    session = ort.InferenceSession(path, options)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})))
plain, fused = run(ort.GraphOptimizationLevel.ORT_DISABLE_ALL), run(ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
ok = True
for name, value in plain.items():
    want = np.load(os.path.join(expected, name.replace("/", "_") + ".npy"))
    error = float(np.abs(value - want).max())
    tolerance = 1e-5 + 1e-4 * np.abs(want)
    exact = bool((np.abs(value - want) <= tolerance).all())
    if weight_range == "reduced":
        exact = exact and bool((np.abs(fused[name] - want) <= tolerance).all())
    agree = float((fused[name].reshape(len(want), -1).argmax(1) == want.reshape(len(want), -1).argmax(1)).mean())
    print(f"{name}: unfused max abs err {error:.3g} ({'ok' if exact else 'MISMATCH'}); "
          f"integer kernels max abs err {float(np.abs(fused[name] - want).max()):.3g}, same argmax {agree:.0%}")
    ok = ok and exact
sys.exit(0 if ok else 1)
PY
  then
    echo "ok    $fixture ($range-range weights)"
    sed 's/^/      /' "$out.log" | grep -E "unfused" || true
    passed=$((passed + 1))
  else
    echo "FAIL  $fixture ($range-range weights)"
    sed 's/^/      /' "$out.log"
    failed=$((failed + 1))
  fi
done
done
echo "onnxruntime quantized: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
