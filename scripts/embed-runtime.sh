#!/usr/bin/env bash
# Regenerates Sources/Backends/Swift/EmbeddedRuntime.swift, the source of the runtime kernels
# (Sources/KilnRuntime, one section a file) that the Swift backend copies into every generated executor,
# with their top-level declarations made fileprivate (scripts/embed_runtime.py; python3, no packages).
#
#   scripts/embed-runtime.sh           rewrite the generated file
#   scripts/embed-runtime.sh --check   exit 1 if the committed file is not what Sources/KilnRuntime generates
set -euo pipefail
cd "$(dirname "$0")/.."

target=Sources/Backends/Swift/EmbeddedRuntime.swift

mode=write
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 scripts/embed_runtime.py Sources/KilnRuntime >"$work/generated.swift"

if [ "$mode" = check ]; then
  if ! diff -u "$target" "$work/generated.swift" >"$work/diff"; then
    head -n 40 "$work/diff" >&2
    echo "$target is out of date: run scripts/embed-runtime.sh and commit the result" >&2
    exit 1
  fi
  echo "$target is up to date"
else
  cp "$work/generated.swift" "$target"
  echo "wrote $target"
fi
