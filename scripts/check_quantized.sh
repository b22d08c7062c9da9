#!/usr/bin/env bash
# Quantizes fixtures (static int8, calibrated on their inputs), emits ONNX and the quantized IR, and runs the
# ONNX model in ONNX Runtime against kiln's interpreter on the quantized IR, in both ONNX forms.
#
# QDQ (--onnx-quantization qdq): with graph optimizations off it must equal the interpreter (the QDQ
# arithmetic is exact). With them on, ONNX Runtime fuses the pairs into integer kernels, whose u8 x s8
# products saturate 16-bit pair sums on x86 CPUs without VNNI: with --reduce-range (7-bit weights) they must
# equal the interpreter too; with full-range weights the difference is printed.
#
# QOperator (--onnx-quantization qoperator): MatMulInteger and ConvInteger run at every optimization level.
# ConvInteger is u8 x u8 and MatMulInteger with int8 activations i8 x i8, which do not saturate; MatMulInteger
# with uint8 activations is u8 x s8, which does. So it must equal the interpreter with --reduce-range and with
# --activations int8, at both levels; with uint8 activations and full-range weights the difference is printed.
#
# "Equal" is within 1e-5 + 1e-4 * |expected| per element: the outputs are floats after a rescale, the integer
# sums are exact, and the rescale (int32 sum * (x_scale * w_scale)) rounds differently from the interpreter's
# float product of dequantized values only in the last bits. A rounding that moved an intermediate
# QuantizeLinear by one step would show up as a failure here.
# Usage: scripts/check_quantized.sh KILN_BINARY PYTHON
set -euo pipefail
source "$(dirname "$0")/lib.sh"
check_setup "$@"
for fixture in mnist_mlp_keras3_h5 cnn_bn_keras3_keras two_in_two_out_keras2_h5 mobile_block_keras3_keras channels_first_keras3_keras digits_cnn_keras3_keras; do
for config in qdq:full qdq:reduced qoperator:full qoperator:reduced qoperator:int8; do
  form="${config%%:*}"
  weights="${config#*:}"
  dir="testdata/fixtures/$fixture"
  model="$(ls "$dir"/model.h5 "$dir"/model.keras 2>/dev/null | head -n 1 || true)"
  args=()
  for input in "$dir"/inputs/*.npy; do args+=(--input "$(basename "$input" .npy)=$input"); done
  out="$work/$fixture-$form-$weights"
  flags=(--onnx-quantization "$form")
  case "$weights" in
    reduced) flags+=(--reduce-range); label="$form, reduced-range weights" ;;
    int8) flags+=(--activations int8); label="$form, full-range weights, int8 activations" ;;
    *) label="$form, full-range weights" ;;
  esac
  if "$kiln" convert "$model" -o "$out" --emit onnx,kir --name model --quantize static --calibration "$dir/inputs" "${flags[@]}" >"$out.log" 2>&1 \
    && "$kiln" run "$out/model.kir" "${args[@]}" -o "$out/expected" >>"$out.log" 2>&1 \
    && "$python" - "$out/model.onnx" "$dir/inputs" "$out/expected" "$form" "$weights" >>"$out.log" 2>&1 <<'PY'
import os, sys
import numpy as np
import onnx
import onnxruntime as ort
path, inputs, expected, form, weights = sys.argv[1:6]
onnx.checker.check_model(onnx.load(path), full_check=True)
ops = {node.op_type for node in onnx.load(path).graph.node}
if form == "qoperator" and not ops & {"MatMulInteger", "ConvInteger"}:
    sys.exit(f"no integer operator in the qoperator model: {sorted(ops)}")
feeds = {f[:-4]: np.load(os.path.join(inputs, f)) for f in os.listdir(inputs)}
def run(level):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = level
    session = ort.InferenceSession(path, options)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})))
plain, fused = run(ort.GraphOptimizationLevel.ORT_DISABLE_ALL), run(ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
# Which runs must equal the interpreter (see the header): QDQ unoptimized always; the integer kernels when they
# cannot saturate.
exact_kernels = weights in ("reduced", "int8")
must_plain = form == "qdq" or exact_kernels
must_fused = exact_kernels
ok = True
for name, value in plain.items():
    want = np.load(os.path.join(expected, name.replace("/", "_") + ".npy"))
    tolerance = 1e-5 + 1e-4 * np.abs(want)
    plain_exact = bool((np.abs(value - want) <= tolerance).all())
    fused_exact = bool((np.abs(fused[name] - want) <= tolerance).all())
    exact = (plain_exact or not must_plain) and (fused_exact or not must_fused)
    agree = float((fused[name].reshape(len(want), -1).argmax(1) == want.reshape(len(want), -1).argmax(1)).mean())
    print(f"{name}: unoptimized max abs err {float(np.abs(value - want).max()):.3g}, "
          f"optimized max abs err {float(np.abs(fused[name] - want).max()):.3g}, same argmax {agree:.0%} "
          f"({'ok' if exact else 'MISMATCH'}{'' if must_plain or must_fused else ', not required: saturating u8 x s8 kernels'})")
    ok = ok and exact
sys.exit(0 if ok else 1)
PY
  then
    check_passed "$fixture ($label)"
    sed 's/^/      /' "$out.log" | grep -E "unoptimized max abs err" || true
  else
    check_failed "$fixture ($label)" "$out.log"
  fi
done
done
check_summary quantized
