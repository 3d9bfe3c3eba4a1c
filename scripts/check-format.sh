#!/usr/bin/env bash
# Fails when a C++ file under our folders differs from .clang-format's layout.
# Fix with: scripts/check-format.sh --fix
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fix=false
[[ "${1:-}" == "--fix" ]] && fix=true
cd "$root"
mapfile -t files < <(git ls-files -co --exclude-standard -- \
  'domain/*.[hc]pp' 'storage/*.[hc]pp' 'fhir/*.[hc]pp' 'actors/*.[hc]pp' 'http/*.[hc]pp' \
  'app/*.[hc]pp' 'tests/*.[hc]pp' 'bench/*.[hc]pp' | sort -u)
[[ ${#files[@]} -eq 0 ]] && exit 0
if $fix; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run --Werror "${files[@]}"
  echo "format: ok (${#files[@]} files)"
fi
