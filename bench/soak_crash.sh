#!/usr/bin/env bash
# The journal's kill -9 crash test for many rounds (CTest runs 20): each round a child appends
# through the journal from 8 producers, is SIGKILLed at a random moment, and every acknowledged
# group must be in the reopened store, whole and gapless.
#   bench/soak_crash.sh [ROUNDS]   (default 200)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" release >/dev/null
VISITD_CRASH_ROUNDS=${1:-200} "$root/build/release/tests/integration/test_integration_journal_crash"
