#!/usr/bin/env bash
# Sets up what Kiln needs and runs the whole test suite (swift test), in two test processes at once.
#
#   scripts/test.sh                  # every test
#   scripts/test.sh --filter Fixture # arguments go to one `swift test` run, as given
#
# Why two processes: the suite's largest tests (FixtureTests' generated-Swift check, RealModelTests and
# SwiftBackendTests' every-op check) spend most of their time in swiftc, and the rest of the suite runs on one
# core. The split is chosen so the two runs take about as long (in CI: 163 s and 237 s before
# SwiftInt8WeightsTests and KerasSavedModelTests moved to the rest). Run side by side, they
# keep both cores of a small machine busy. The output is the two runs' logs, one after the other, and a
# last line that sums them in XCTest's words ("Executed N tests, with K tests skipped and M failures").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The IR and the interpreter (the oracle every engine is checked against) compiled with -O: the tests
# spend most of their CPU running them (Package.swift, KILN_OPTIMIZE_ORACLE).
export KILN_OPTIMIZE_ORACLE=1
swift build --build-tests

if [ $# -gt 0 ]; then
  exec swift test --skip-build --disable-swift-testing "$@"
fi

# SwiftPM lets one `swift test` at a time use .build, so the heavy tests run from the test bundle itself
# (XCTest takes a comma-separated list of Module.Class).
heavy_classes='DriverTests.FixtureTests,DriverTests.RealModelTests,BackendTests.SwiftBackendTests'
heavy='^(DriverTests\.(FixtureTests|RealModelTests)|BackendTests\.SwiftBackendTests)/'
bundle="$(swift build --show-bin-path)/KilnPackageTests.xctest"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
"$bundle" "$heavy_classes" >"$logs/heavy.log" 2>&1 &
heavy_pid=$!
status=0
swift test --skip-build --disable-swift-testing --skip "$heavy" >"$logs/rest.log" 2>&1 || status=$?
heavy_status=0
wait "$heavy_pid" || heavy_status=$?
cat "$logs/rest.log" "$logs/heavy.log"

# Each run's overall summary is the last "Executed ..." line of its log.
summary() { grep -E "^\s*Executed [0-9]+ tests?, with " "$1" | tail -n 1; }
total=0 skipped=0 failures=0
for log in "$logs/rest.log" "$logs/heavy.log"; do
  line="$(summary "$log")"
  if [ -z "$line" ]; then
    echo "test.sh: $(basename "$log" .log) run ended without XCTest's summary (it crashed?)" >&2
    failures=$((failures + 1))
    continue
  fi
  total=$((total + $(echo "$line" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')))
  if [[ "$line" =~ ([0-9]+)\ tests?\ skipped ]]; then skipped=$((skipped + BASH_REMATCH[1])); fi
  failures=$((failures + $(echo "$line" | sed -E 's/.* ([0-9]+) failures?.*/\1/')))
done
echo "Executed $total tests, with $skipped tests skipped and $failures failures (both test runs)"
[ "$status" -eq 0 ] && [ "$heavy_status" -eq 0 ] && [ "$failures" -eq 0 ]
