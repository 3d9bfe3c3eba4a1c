#!/usr/bin/env bash
# Configures and builds visitd. Usage: scripts/build.sh [release|asan]  (default: release)
# Build trees: build/release, build/asan. Uses ninja and ccache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
case "$flavour" in
  release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
  # -O1 -g1: line-level sanitizer stack traces at a fraction of -O2 -g's compile time.
  asan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
              -DVISITD_SANITIZE=ON -DVISITD_BUILD_BENCH=OFF) ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
dir="$root/build/$flavour"
cmake -S "$root" -B "$dir" -G Ninja "${flags[@]}" >/dev/null
# Two jobs: one Beast translation unit needs ~2 GB, and CI has 2 cores.
cmake --build "$dir" -j "${VISITD_JOBS:-2}"
