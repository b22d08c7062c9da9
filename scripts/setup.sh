#!/usr/bin/env bash
# Installs what Kiln needs on Debian/Ubuntu: libhdf5 and OpenBLAS (with pkg-config), and a Python venv with
# onnx and onnxruntime for the ONNX cross-checks (KILN_VENV, default ~/.cache/kiln-venv).
# Safe to run again: it skips what is already there.
set -euo pipefail

need_apt=()
pkg-config --exists hdf5 2>/dev/null || need_apt+=(libhdf5-dev)
pkg-config --exists openblas 2>/dev/null || need_apt+=(libopenblas-dev)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" pkg-config >/dev/null
fi

if [ "${KILN_SKIP_PYTHON:-0}" != 1 ]; then
  venv="${KILN_VENV:-$HOME/.cache/kiln-venv}"
  if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating Python venv at $venv" >&2
    python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c "import onnx, onnxruntime, numpy" 2>/dev/null; then
    echo "setup: installing onnx, onnxruntime and numpy into $venv" >&2
    "$venv/bin/pip" install -q -r "$(dirname "$0")/requirements-check.txt"
  fi
fi
