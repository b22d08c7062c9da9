#!/usr/bin/env bash
# Lints every Swift file of ours with the toolchain's swift-format (`swift format`) and the repository's
# .swift-format, strictly: any finding fails. `scripts/lint.sh --fix` formats the files in place first.
# Generated files (the ONNX and TensorFlow protobuf code, the embedded runtime) are skipped; after --fix, run
# scripts/embed-runtime.sh so the embedded runtime follows Sources/KilnRuntime.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.swift' | grep -v -e '^Sources/ONNXProto/' -e '^Sources/TFProto/' -e '^Sources/Backends/Swift/EmbeddedRuntime.swift$')
if [ "${1:-}" = "--fix" ]; then
  swift format format --in-place --parallel "${files[@]}"
fi
swift format lint --strict --parallel "${files[@]}"
echo "lint: ${#files[@]} files clean"
