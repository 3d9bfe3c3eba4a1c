#!/usr/bin/env bash
# Fails when an #include breaks the layering of ../shared/README.md §2:
#   - domain/ includes CAF, Asio, Beast or RocksDB (pure libraries such as Boost.URL are fine);
#   - anything outside storage/ includes RocksDB;
#   - anything outside http/ and fhir/ includes Beast;
#   - a lower layer includes a header of a higher one
#     (domain < storage < fhir < auth < actors < http < app).
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
status=0
report() { echo "layering: $1"; status=1; }

sources() { find "$@" -type f \( -name '*.hpp' -o -name '*.cpp' \) 2>/dev/null; }

while IFS= read -r hit; do report "domain must stay pure: $hit"; done < <(
  sources domain | xargs -r grep -nE '#include *[<"](caf/|boost/asio|boost/beast|rocksdb/)' || true)

while IFS= read -r hit; do report "only storage/ may include RocksDB: $hit"; done < <(
  sources domain fhir auth actors http app | xargs -r grep -nE '#include *[<"]rocksdb/' || true)

while IFS= read -r hit; do report "only http/ and fhir/ may include Beast: $hit"; done < <(
  sources domain storage auth actors app | xargs -r grep -nE '#include *[<"]boost/beast' || true)

layers=(domain storage fhir auth actors http app)
for i in "${!layers[@]}"; do
  lower=${layers[$i]}
  for higher in "${layers[@]:$((i + 1))}"; do
    while IFS= read -r hit; do report "$lower/ must not include $higher/: $hit"; done < <(
      sources "$lower" | xargs -r grep -nE "#include *\"$higher/" || true)
  done
done

[ "$status" -eq 0 ] && echo "layering: ok"
exit "$status"
