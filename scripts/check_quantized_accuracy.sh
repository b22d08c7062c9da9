#!/usr/bin/env bash
# Static int8 top-1 on the held-out digits in ONNX Runtime, for the two digits classifiers (the MLP and the
# CNN), as QuantizationDriverTests checks it in the interpreter: calibrated on the first 100 held-out digits,
# evaluated on the other 197, within half a point of the float model's top-1 in ONNX Runtime (1 thread).
# Each model is quantized with full-range and with 7-bit (--reduce-range) weights and run with graph
# optimizations off (the QDQ arithmetic as written) and on (ONNX Runtime fuses the pairs into integer kernels).
# On x86 CPUs without VNNI those kernels saturate 16-bit sums of u8 x s8 products with full-range weights
# (scripts/check_quantized.sh), so that one combination is printed, not checked.
# Usage: scripts/check_quantized_accuracy.sh KILN_BINARY PYTHON
set -euo pipefail
source "$(dirname "$0")/lib.sh"
check_setup "$@"

# The held-out digits as each model reads them: 8x8x1 for the CNN, 3x3-repeated and padded to 28x28 for the
# MLP (as the generator and the tests build them), split into the 100 calibration and 197 evaluation examples.
"$python" - "$work" <<'PY'
import sys
import numpy as np
work = sys.argv[1]
small = np.load("testdata/digits/heldout_images_x16.npy").astype(np.float32) / 16
large = np.pad(np.kron(small, np.ones((1, 3, 3), dtype=np.float32)), ((0, 0), (2, 2), (2, 2)))
for name, images in (("small", small[..., None]), ("large", large)):
    np.save(f"{work}/{name}_calibration.npy", np.ascontiguousarray(images[:100], dtype=np.float32))
    np.save(f"{work}/{name}_evaluation.npy", np.ascontiguousarray(images[100:], dtype=np.float32))
np.save(f"{work}/labels.npy", np.load("testdata/digits/heldout_labels.npy")[100:])
PY

printf '%-26s %-8s %9s %14s %12s\n' "model" "weights" "float" "int8 unfused" "int8 fused"
for pair in mnist_mlp_keras3_h5:large digits_cnn_keras3_keras:small; do
  fixture="${pair%%:*}"
  images="${pair##*:}"
  dir="testdata/fixtures/$fixture"
  model="$(ls "$dir"/model.h5 "$dir"/model.keras 2>/dev/null | head -n 1 || true)"
  out="$work/$fixture"
  if ! "$kiln" convert "$model" -o "$out/float" --emit onnx --name model >"$out.log" 2>&1; then
    check_failed "$fixture (float conversion)" "$out.log"
    failed=$((failed + 1)) # its second weight range is not checked either
    continue
  fi
  for range in full reduced; do
    flags=()
    [ "$range" = reduced ] && flags=(--reduce-range)
    log="$out-$range.log"
    if "$kiln" convert "$model" -o "$out/$range" --emit onnx --name model --quantize static \
        --calibration "$work/${images}_calibration.npy" "${flags[@]}" >"$log" 2>&1 \
      && "$python" - "$out/float/model.onnx" "$out/$range/model.onnx" "$work/${images}_evaluation.npy" "$work/labels.npy" \
        "$fixture" "$range" >>"$log" 2>&1 <<'PY'
import sys
import numpy as np
import onnxruntime as ort
float_path, int8_path, images, labels, fixture, weight_range = sys.argv[1:7]
x, truth = np.load(images), np.load(labels)
def top1(path, level):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = level
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    scores = session.run(None, {session.get_inputs()[0].name: x})[0]
    return float((scores.argmax(1) == truth).mean())
reference = top1(float_path, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
unfused = top1(int8_path, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
fused = top1(int8_path, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
# Full-range weights in the fused kernels saturate without VNNI: printed, not checked.
checked = [unfused, fused] if weight_range == "reduced" else [unfused]
ok = all(value >= reference - 0.005 for value in checked)
note = "" if weight_range == "reduced" else "  (not checked)"
print(f"table {fixture:<26} {weight_range:<8} {reference:9.2%} {unfused:14.2%} {fused:12.2%}{note}")
sys.exit(0 if ok else 1)
PY
    then
      grep '^table ' "$log" | sed 's/^table //'
      passed=$((passed + 1))
    else
      grep '^table ' "$log" | sed 's/^table //' || true
      echo "FAIL  $fixture ($range-range weights): int8 top-1 more than 0.5 points below float"
      grep -v '^table ' "$log" | sed 's/^/      /'
      failed=$((failed + 1))
    fi
  done
done
check_summary "quantized accuracy"
