#!/usr/bin/env bash
# Time from exec of `visitd serve` to the first 200 from /readyz, 5 runs each with a fresh data
# dir (store created, TLS certificate generated) and with the data dir of the previous run
# (store opened and recovered, certificate reused). Prints medians as the last lines:
#   cold_start_fresh_ms=<median>  cold_start_existing_ms=<median>
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh" --dev
"$root/scripts/build.sh" release >/dev/null
bin="$root/build/release/bin/visitd"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))

now_ms() { date +%s%3N; }

one_run() {  # $1 = data dir; prints ms to ready
  local data=$1 start pid ms=""
  start=$(now_ms)
  "$bin" serve --port "$port" --data-dir "$data" --log-level warn >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 2000); do
    if [ -f "$data/tls/cert.pem" ] &&
       curl -fsS --max-time 1 --cacert "$data/tls/cert.pem" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      ms=$(( $(now_ms) - start ))
      break
    fi
    sleep 0.005
  done
  kill -TERM "$pid"; wait "$pid" || true
  [ -n "$ms" ] || { echo "visitd never became ready" >&2; exit 1; }
  echo "$ms"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

fresh=(); existing=()
for i in 1 2 3 4 5; do
  fresh+=("$(one_run "$work/fresh-$i")")
  existing+=("$(one_run "$work/fresh-$i")")
done
echo "fresh data dir (ms):    ${fresh[*]}"
echo "existing data dir (ms): ${existing[*]}"
echo "cold_start_fresh_ms=$(printf '%s\n' "${fresh[@]}" | median)"
echo "cold_start_existing_ms=$(printf '%s\n' "${existing[@]}" | median)"
