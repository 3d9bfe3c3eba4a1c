#!/usr/bin/env bash
# clang-tidy (.clang-tidy: bugprone-*, performance-*) over our sources, using the compile
# commands of a build tree (default build/release). http/server.cpp is left out: it is the one
# Beast translation unit and costs minutes to analyse; its code is covered by the integration
# and sanitizer runs. Fails on any warning.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
command -v clang-tidy >/dev/null || { echo "tidy: clang-tidy not installed, skipped"; exit 0; }
cd "$root"
mapfile -t files < <(ls domain/*.cpp storage/*.cpp fhir/*.cpp auth/*.cpp actors/*.cpp app/*.cpp http/*.cpp |
                     grep -v '^http/server.cpp$')
out=$(printf '%s\n' "${files[@]}" |
      xargs -P 2 -n 4 clang-tidy -p "$build" --quiet 2>/dev/null | grep -E "(warning|error):" || true)
if [[ -n "$out" ]]; then
  echo "$out"
  echo "tidy: $(echo "$out" | wc -l) finding(s)"
  exit 1
fi
echo "tidy: ok (${#files[@]} files)"
