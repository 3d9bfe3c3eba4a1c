#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test with CTest; exits non-zero on any
# failure. Usage: scripts/test.sh [release|asan]  (default: release)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
"$root/scripts/install-deps.sh" --dev
"$root/scripts/check-layering.sh" "$root"
"$root/scripts/check-format.sh" "$root"
"$root/scripts/build.sh" "$flavour"
# Static analysis once, on the release build's compile commands (the asan run skips it).
if [[ "$flavour" == release ]]; then "$root/scripts/check-tidy.sh" "$root/build/release"; fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$root/build/$flavour" -j2 --output-on-failure --timeout 300
