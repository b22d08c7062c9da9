#!/usr/bin/env bash
# Int8's payoff on the 784-512-512-256-10 MLP: `kiln bench --quantize` times the int8 Swift executor against
# the float one (in one run, alternating nothing else) at batch 1 and 32 and sizes both weights files, for
# weight-only (dynamic) and static quantization (calibrated on the first 100 held-out digits), with the
# default -O and with the AVX2/FMA flags. Also prints top-1 on the other held-out digits, float vs int8.
# Usage: scripts/bench_quantization.sh [--runs N]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=300
flags="(both)"
bench_setup "$@"
"$venv/bin/python" scripts/make_bench_mlp.py "$work/mlp.keras"
"$venv/bin/python" - "$work" <<'PY'
import sys, numpy as np
work = sys.argv[1]
x, y = np.load(f"{work}/mlp_heldout.npy"), np.load(f"{work}/mlp_labels.npy")
np.save(f"{work}/calibration.npy", x[:100]); np.save(f"{work}/eval.npy", x[100:]); np.save(f"{work}/labels.npy", y[100:])
PY
echo "model: 784-512-512-256-10 MLP (Keras 3, digits)   runs: $runs   medians in µs; f32/int8 > 1 means int8 is faster"
printf "%-8s %-46s %-6s %10s %10s %9s %14s %14s\n" mode "swiftc flags" batch "int8 µs" "f32 µs" "f32/int8" "int8 bytes" "f32 bytes"
for mode in dynamic static; do
  quantize=(--quantize "$mode")
  [ "$mode" = static ] && quantize+=(--calibration "$work/calibration.npy")
  for flags in "-O" "-Ounchecked -target-cpu haswell -D KILN_FMA"; do
    "$kiln" bench "$work/mlp.keras" "${quantize[@]}" --batch 1 --batch 32 --runs "$runs" --swiftc-flags="$flags" --no-interpreter --json 2>/dev/null \
      | "$venv/bin/python" -c '
import json, sys
mode, flags = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in sys.stdin]
get = lambda engine, batch: next(r for r in rows if r["engine"] == engine and r["batch"] == batch)
for batch in sorted({r["batch"] for r in rows}):
    q, f = get("swift", batch), get("swift f32", batch)
    qt, ft, qb, fb = q["median_us"], f["median_us"], q["weights_bytes"], f["weights_bytes"]
    print(f"{mode:8} {flags:46} {batch:<6} {qt:10.1f} {ft:10.1f} {ft / qt:8.2f}x {qb:14,} {fb:14,}")
' "$mode" "$flags"
  done
done
echo "accuracy on the other 197 held-out digits (static int8, interpreter):"
"$kiln" convert "$work/mlp.keras" -o "$work/out" --emit kir --quantize static --calibration "$work/calibration.npy" \
  --eval-input "$work/eval.npy" --labels "$work/labels.npy" 2>&1 >/dev/null | grep "top-1" || true
