#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ and runs them one at a time (docs/fuzzing.md).
#
#   scripts/fuzz.sh [--runs N | --seconds S] [--seed N] [--keep-going] [--tolerate-libhdf5] [--build-only]
#                   [--skip-unsupported] [--release] [--hdf5-in-process] [--jobs N] [--timeout S] [TARGET...]
#
# TARGET is a directory name of Fuzz/ (default: all of them). Each target runs N executions (default
# 1000000) or S seconds, from its seed corpus (made here from testdata/) and its growing corpus in
# .build/fuzz/corpus/TARGET. A crash leaves its input in .build/fuzz/crashes/ and fails the script;
# with --keep-going the target runs in libFuzzer's fork mode, which saves every crash and goes on.
# --seed N makes a run repeatable: libFuzzer's random seed is N and the corpus starts from the seeds alone
# (a fresh directory), so the same code runs mostly the same inputs (CI uses it).
# --tolerate-libhdf5 reports a crash or hang inside libhdf5 itself without failing: damaged HDF5 files
# crash Debian's libhdf5 within seconds of fuzzing, which Kiln contains elsewhere (issue 21, item 5).
# --skip-unsupported exits 0 with a message when this toolchain cannot build libFuzzer targets (CI).
# --release builds the targets optimized (-c release, with -enable-testing for their @testable imports; still
# instrumented and with AddressSanitizer), in .build/fuzz/release: several times the executions per second of
# the debug build (the default, which builds faster: CI), for long runs.
# --hdf5-in-process makes HDF5Fuzzer walk each image in its own process (KILN_FUZZ_HDF5_IN_PROCESS=1) instead
# of a forked child as Kiln does: no fork per input, and the walk's coverage guides the fuzzer. A crash inside
# libhdf5 then ends the process; with --keep-going, every crash input is run again afterwards and sorted into
# "inside libhdf5" (tolerated with --tolerate-libhdf5) and "in Kiln's code" (a failure).
# --jobs N (with --keep-going) runs N fuzzing processes at once (libFuzzer's -fork=N; default 1).
# --timeout S: an input that runs S seconds is a hang (default 10; libhdf5's endless loops make 2 worth it for
# an in-process HDF5 run).
#
# The targets are executables of Package.swift that exist only with KILN_FUZZ=1; they are built with
# `--sanitize=fuzzer --sanitize=address` (SwiftPM links libFuzzer's main and AddressSanitizer) and
# `-Xswiftc -sanitize=fuzzer` (SwiftPM gives the fuzzer flag to the link only; this instruments every
# module for coverage), in their own scratch directory so the normal build is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=1000000
seconds=""
seed=""
build_only=0
keep_going=0
tolerate_libhdf5=0
skip_unsupported=0
configuration=debug
in_process=0
jobs=1
timeout=10
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    --keep-going) keep_going=1; shift ;;
    --tolerate-libhdf5) tolerate_libhdf5=1; shift ;;
    --skip-unsupported) skip_unsupported=1; shift ;;
    --release) configuration=release; shift ;;
    --hdf5-in-process) in_process=1; shift ;;
    --jobs) jobs="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls Fuzz)
fi
for target in "${targets[@]}"; do
  [ -d "Fuzz/$target" ] || { echo "fuzz.sh: no target Fuzz/$target; targets: $(ls Fuzz | tr '\n' ' ')" >&2; exit 2; }
done

scratch=.build/fuzz
mkdir -p "$scratch"

# Can this toolchain build a libFuzzer target at all? (Apple's Xcode toolchain cannot.)
probe="$scratch/probe"
mkdir -p "$probe"
cat >"$probe/probe.swift" <<'EOF'
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt { 0 }
EOF
if ! swiftc -parse-as-library -sanitize=fuzzer,address "$probe/probe.swift" -o "$probe/probe" >"$probe/log" 2>&1; then
  echo "fuzz: this toolchain cannot build libFuzzer targets (swiftc -sanitize=fuzzer failed):"
  grep -v "Cannot export local symbol" "$probe/log" | head -5
  if [ "$skip_unsupported" = 1 ]; then
    echo "fuzz: skipped"
    exit 0
  fi
  exit 1
fi

build_flags=()
[ "$configuration" = release ] && build_flags=(-c release -Xswiftc -enable-testing)
for target in "${targets[@]}"; do
  echo "== fuzz: building $target ($configuration)"
  KILN_FUZZ=1 swift build --scratch-path "$scratch" "${build_flags[@]}" --sanitize=fuzzer --sanitize=address \
    -Xswiftc -sanitize=fuzzer --product "$target" 2>&1 | grep -v -e "Cannot export local symbol" -e "^\[" || true
  [ -x "$scratch/$configuration/$target" ] || { echo "fuzz: $target did not build" >&2; exit 1; }
done
[ "$build_only" = 1 ] && exit 0

# Seed corpora from testdata/, remade on every run (small files; nothing committed).
rm -rf "$scratch/seeds"
python3 - "$scratch/seeds" <<'EOF'
"""Seeds per target from testdata/: configurations, HDF5 files, .keras archives, .npy and .kir files."""
import glob, hashlib, json, os, sys, zipfile

out = sys.argv[1]

def seed(target, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(out, target, hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)

def small(pattern, limit):
    """Files up to `limit` bytes, except those that hang or crash libhdf5 (docs/fuzzing.md): testdata/fuzz/ and
    testdata/errors/corrupt_byte_*.h5, which would end an in-process HDF5 run (--hdf5-in-process) at once."""
    return sorted(
        p for p in glob.glob(pattern, recursive=True)
        if os.path.getsize(p) <= limit and not p.startswith("testdata/fuzz/") and not p.startswith("testdata/errors/corrupt_byte_"))

def configs_in_hdf5(data):
    """The JSON objects starting with {"class_name" in an HDF5 file's bytes (model_config is stored whole)."""
    start = data.find(b'{"class_name"')
    while start >= 0:
        depth, index, in_string = 0, start, False
        while index < len(data):
            byte = data[index]
            if in_string:
                if byte == 0x5C:
                    index += 1
                elif byte == 0x22:
                    in_string = False
            elif byte == 0x22:
                in_string = True
            elif byte == 0x7B:
                depth += 1
            elif byte == 0x7D:
                depth -= 1
                if depth == 0:
                    break
            index += 1
        try:
            yield json.loads(data[start:index + 1])
        except ValueError:
            pass
        start = data.find(b'{"class_name"', index)

for path in small("testdata/**/*.h5", 1 << 20):
    data = open(path, "rb").read()
    for config in configs_in_hdf5(data):
        if "keras2" in path:
            config["keras_version"] = "2.15.0"
        seed("KerasConfigFuzzer", json.dumps(config))
    if len(data) <= 48 << 10:
        seed("HDF5Fuzzer", data)
for path in small("testdata/**/*.keras", 1 << 20):
    try:
        with zipfile.ZipFile(path) as archive:
            seed("KerasConfigFuzzer", archive.read("config.json"))
            weights = archive.read("model.weights.h5")
            if len(weights) <= 48 << 10:
                seed("HDF5Fuzzer", weights)
    except (zipfile.BadZipFile, KeyError, ValueError, NotImplementedError, OSError):
        pass  # the hostile archives of testdata/errors
    if os.path.getsize(path) <= 64 << 10:
        seed("KerasArchiveFuzzer", open(path, "rb").read())
for path in small("testdata/**/*.npy", 4 << 10):
    seed("NPYFuzzer", open(path, "rb").read())
for path in small("testdata/**/*.kir", 1 << 20):
    for case in open(path, encoding="utf-8").read().split("// -----"):
        if "graph" in case:
            seed("KIRFuzzer", case)
for target in sorted(os.listdir(out)):
    print(f"fuzz: {len(os.listdir(os.path.join(out, target)))} seeds for {target}")
EOF

# Whether the crash or hang in a log happened inside libhdf5: the innermost stack frame that is not the
# sanitizer's, libFuzzer's, libc's or the Swift runtime's is in libhdf5.
inside_libhdf5() {
  local frames
  frames=$(grep -E "^ +#[0-9]+ " "$1" \
    | grep -v -E "sanitizer|asan|fuzzer::|Fuzzer[A-Za-z]*\.cpp|libc\.so|in __(mem|str)[a-z0-9_]+ |interceptor|libswiftCore|compiler-rt" || true)
  [[ "${frames%%$'\n'*}" == *libhdf5* ]]
}

# Sorts the crash inputs a --keep-going run of TARGET saved (the files named after it, newer than MARKER):
# each is run again alone and its report read. Prints a summary line; fails if any crashed in Kiln's code.
classify() {
  local target="$1" marker="$2" libhdf5=0 kiln=0 gone=0 artifact report
  mkdir -p "$scratch/reports"
  while IFS= read -r artifact; do
    report="$scratch/reports/$(basename "$artifact").log"
    if SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 KILN_FUZZ_HDF5_IN_PROCESS="$in_process" \
      "$scratch/$configuration/$target" -timeout="$timeout" -rss_limit_mb=2048 "$artifact" >"$report" 2>&1; then
      gone=$((gone + 1))
    elif inside_libhdf5 "$report"; then
      libhdf5=$((libhdf5 + 1))
    else
      kiln=$((kiln + 1))
      echo "fuzz: $target: a crash in Kiln's code: $artifact (report: $report)"
      grep -E -A12 "Fatal error|ERROR: (AddressSanitizer|libFuzzer)" "$report" | head -20
    fi
  done < <(find "$crashes" -name "$target-*" -newer "$marker" -type f | sort)
  echo "fuzz: $target: crash inputs run again: $libhdf5 inside libhdf5, $kiln in Kiln's code, $gone no longer crash"
  [ "$kiln" = 0 ] && { [ "$libhdf5" = 0 ] || [ "$tolerate_libhdf5" = 1 ]; }
}

failed=0
for target in "${targets[@]}"; do
  corpus="$scratch/corpus/$target"
  [ -n "$seed" ] && corpus="$scratch/corpus-seed-$seed/$target" && rm -rf "$corpus"
  crashes="$scratch/crashes"
  mkdir -p "$corpus" "$crashes" "$scratch/seeds/$target"
  limit=(-runs="$runs")
  [ -n "$seconds" ] && limit=(-max_total_time="$seconds")
  mode=()
  [ "$keep_going" = 1 ] && mode=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  [ -n "$seed" ] && mode+=(-seed="$seed")
  log="$scratch/$target.log"
  before=$(ls "$crashes" | grep -c "^$target-" || true)
  marker="$scratch/$target.started"
  touch "$marker"
  echo "== fuzz: $target (${seconds:+$seconds s}${seconds:+ }${seconds:+of fuzzing}${seconds:-$runs runs})"
  # No Swift backtracer (it fights AddressSanitizer over the crash); leaks are not failures (libhdf5 keeps
  # caches); 10 s for one input is a hang.
  status=0
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 KILN_FUZZ_HDF5_IN_PROCESS="$in_process" \
    "$scratch/$configuration/$target" "${limit[@]}" "${mode[@]}" -timeout="$timeout" \
    -rss_limit_mb=2048 -artifact_prefix="$crashes/$target-" -print_final_stats=1 \
    "$corpus" "$scratch/seeds/$target" >"$log" 2>&1 || status=$?
  # The executions: the final statistics, or in fork mode the last progress line (#N: ...).
  executed=$(grep -E "^stat::number_of_executed_units:" "$log" | awk '{ s += $2 } END { if (NR) print s }' || true)
  if [ -z "$executed" ]; then
    executed=$(grep -E "^#[0-9]+:" "$log" | tail -n 1 | sed -E 's/^#([0-9]+):.*/\1/' || true)
  fi
  found=$(($(ls "$crashes" | grep -c "^$target-" || true) - before))
  echo "fuzz: $target ($configuration build$([ "$in_process" = 1 ] && [ "$target" = HDF5Fuzzer ] && echo ", walk in process")): $(grep -E "^#[0-9]+" "$log" | tail -n 1)"
  if [ "$keep_going" = 1 ] && [ "$found" != 0 ]; then
    echo "fuzz: $target: ${executed:-?} executions in fork mode, $found crash input(s) saved"
    classify "$target" "$marker" || failed=1
  elif [ "$status" = 0 ] && [ "$found" = 0 ]; then
    echo "fuzz: $target: ${executed:-?} executions, no crash (corpus: $(ls "$corpus" | wc -l) inputs)"
  elif [ "$status" = 0 ] && [ "$keep_going" = 0 ]; then
    # The fuzzer itself did not crash: these artifacts were written by the HDF5 reader's child processes
    # (HDF5Snapshot forks; AddressSanitizer's report in the child still runs libFuzzer's death callback),
    # whose crash Kiln turned into an error, as it should.
    echo "fuzz: $target: ${executed:-?} executions, no crash; $found input(s) crashed libhdf5 in the reader's child process and were reported as errors (artifacts in $crashes)"
  elif [ "$tolerate_libhdf5" = 1 ] && [ "$keep_going" = 0 ] && inside_libhdf5 "$log"; then
    echo "fuzz: $target: ${executed:-?} executions, then a crash or hang inside libhdf5 itself (not Kiln's code; issue 21, item 5): $(ls -t "$crashes" | head -n 1)"
  else
    failed=1
    echo "fuzz: $target: ${executed:-?} executions, FAILED with $found new crash input(s) in $crashes; the log is $log:"
    grep -E -B2 -A12 "Fatal error|ERROR: (AddressSanitizer|libFuzzer)" "$log" | head -60
  fi
done
exit "$failed"
