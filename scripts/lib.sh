# Shared setup of the scripts in this folder; sourced (`source "$(dirname "$0")/lib.sh"`), not run.

# The ONNX Runtime cross-checks, run as `script KILN_BINARY PYTHON`: `check_setup "$@"` moves to the
# repository root and sets kiln, python, a work directory removed on exit, and the counters
# `check_passed`, `check_failed` and `check_summary` keep.
check_setup() {
  if [ $# -ne 2 ]; then
    echo "usage: $0 KILN_BINARY PYTHON" >&2
    exit 2
  fi
  cd "$(dirname "$0")/.."
  kiln="$1"
  python="$2"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  passed=0
  failed=0
}

# check_passed NAME
check_passed() {
  echo "ok    $1"
  passed=$((passed + 1))
}

# check_failed NAME [LOG...]: the logs follow, indented.
check_failed() {
  local name="$1"
  shift
  echo "FAIL  $name"
  [ $# -eq 0 ] || { cat "$@" 2>/dev/null || true; } | sed "s/^/      /"
  failed=$((failed + 1))
}

# check_summary [LABEL]: the line CI adds up ("onnxruntime LABEL: N passed, M failed"); false when a check
# failed or none ran.
check_summary() {
  echo "onnxruntime${1:+ $1}: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

# The benchmarks: `bench_setup "$@"` takes --runs N and --swiftc-flags "FLAGS" (defaults: $runs and $flags
# as set before the call), moves to the repository root, builds kiln in release mode and sets kiln, venv
# (KILN_VENV, or ~/.cache/kiln-venv) and a work directory removed on exit.
bench_setup() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --runs) runs="$2"; shift 2 ;;
      --swiftc-flags) flags="$2"; shift 2 ;;
      *) echo "unknown option $1" >&2; exit 2 ;;
    esac
  done
  cd "$(dirname "$0")/.."
  venv="${KILN_VENV:-$HOME/.cache/kiln-venv}"
  swift build -c release --product kiln >&2
  kiln=.build/release/kiln
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
}
