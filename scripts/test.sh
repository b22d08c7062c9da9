#!/usr/bin/env bash
# Sets up what Kiln needs and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
swift test --skip-build --disable-swift-testing "$@"
