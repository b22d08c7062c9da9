#!/usr/bin/env bash
# Reading time of a 20,000-layer Functional model (a Dense(4) and three Activation layers, repeated), its
# layers listed in call order and last-first: `kiln inspect` (read, lower, verify) and `kiln convert --emit
# onnx` (also the optimization passes and the ONNX emitter) of its architecture JSON with a Keras 2 weights
# file. Issue 21, item 7: reading is linear in the number of layers, in any order. Prints the median of
# --runs runs of each, in seconds of wall-clock time and of CPU time (user + system, the HDF5 reader's child
# process included), all measured in this one run.
# Usage: scripts/bench_deep_functional.sh [--runs N] [--layers N]
#   KILN=path times that binary instead of building and timing .build/release/kiln;
#   KILN_BEFORE=path also times that binary (an earlier build), its runs alternating with KILN's so both
#   see the same load, in columns of their own;
#   H5PY_PYTHON is a Python with h5py and numpy (default python3), for scripts/make_deep_functional.py.
set -euo pipefail
runs=5
layers=20000
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --layers) layers="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
if [ -z "${KILN:-}" ]; then
  swift build -c release --product kiln >&2
  KILN=.build/release/kiln
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"${H5PY_PYTHON:-python3}" scripts/make_deep_functional.py --layers "$layers" --out "$work/model" >&2
echo "kiln: $KILN${KILN_BEFORE:+   before: $KILN_BEFORE}   layers: $layers   runs: $runs   load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
binaries=("$KILN")
[ -n "${KILN_BEFORE:-}" ] && binaries=("$KILN_BEFORE" "$KILN")
# One run of a binary: "wall cpu" in seconds (bash's `time` counts the child processes waited for).
measure() {
  local binary="$1" order="$2" command="$3" TIMEFORMAT='%R %U %S' line
  rm -rf "$work/out"
  if [ "$command" = inspect ]; then
    line=$({ time "$binary" inspect "$work/model/$order.json" --weights "$work/model/weights.h5" >/dev/null 2>&1; } 2>&1)
  else
    line=$({ time "$binary" convert "$work/model/$order.json" --weights "$work/model/weights.h5" -o "$work/out" --emit onnx \
      >/dev/null 2>&1; } 2>&1)
  fi
  awk '{ printf "%.3f %.3f", $1, $2 + $3 }' <<<"$line"
}
median() { sort -n | awk '{ t[NR] = $1 } END { printf "%.2f", t[int((NR + 1) / 2)] }'; }
header=$(printf "%-10s %-8s" order command)
[ ${#binaries[@]} = 2 ] && header+=$(printf " %12s %12s" "before wall" "before cpu")
header+=$(printf " %12s %12s" "wall s" "cpu s")
echo "$header"
for order in in_order reversed; do
  for command in inspect convert; do
    declare -A walls=() cpus=()
    for _ in $(seq "$runs"); do
      for index in "${!binaries[@]}"; do
        read -r wall cpu <<<"$(measure "${binaries[$index]}" "$order" "$command")"
        walls[$index]+="$wall "
        cpus[$index]+="$cpu "
      done
    done
    row=$(printf "%-10s %-8s" "$order" "$command")
    for index in "${!binaries[@]}"; do
      row+=$(printf " %12s %12s" "$(tr ' ' '\n' <<<"${walls[$index]}" | grep . | median)" \
        "$(tr ' ' '\n' <<<"${cpus[$index]}" | grep . | median)")
    done
    echo "$row"
    unset walls cpus
  done
done
