#!/usr/bin/env bash
# Whole-server figure: requests/s of visitd answering `GET /api/v1/tenants/{t}/visits/{id}`
# (session cookie checked by the accounts actor, tenant membership by the tenant actor, the
# visit's state from its visit actor) with keep-alive over TLS, next to nginx (Debian's
# nginx-light) answering a fixed body of the same size (`return 200 '…'`, access log off,
# keepalive_requests raised) over TLS with the same certificate, on the same machine, with the
# same wrk command. Runs them alternately ROUNDS times (default 3), stops nginx by its pid, and
# prints the medians, then as its last line: api_vs_nginx_https=<median of per-round ratios>.
#   bench/compare_nginx.sh [ROUNDS] [SECONDS]
# visitd runs with its request-rate limit raised (one client address makes every request) and
# its default threads (2 io, 2 actor); nginx with 2 workers. wrk: 2 threads, 32 connections.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
seconds=${2:-10}
"$root/scripts/install-deps.sh" --dev
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
"$root/scripts/build.sh" release >/dev/null
bin="$root/build/release/bin/visitd"
work=$(mktemp -d)
visitd_pid=""; nginx_pid=""
cleanup() {
  [ -n "$visitd_pid" ] && kill -TERM "$visitd_pid" 2>/dev/null && wait "$visitd_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill -TERM "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
visitd_port=$((20000 + RANDOM % 10000))
nginx_port=$((30000 + RANDOM % 10000))
data="$work/data"
password="bench operator secret"

printf '%s\n' "$password" | "$bin" admin create-operator ops --data-dir "$data" >/dev/null
"$bin" serve --port "$visitd_port" --data-dir "$data" --log-level warn --access-log false \
  --request-rate 100000000 --request-burst 100000000 >"$work/visitd.log" 2>&1 &
visitd_pid=$!
cacert="$data/tls/cert.pem"
url="https://127.0.0.1:$visitd_port"
for _ in $(seq 1 500); do
  curl -fsS --cacert "$cacert" "$url/readyz" >/dev/null 2>&1 && break
  sleep 0.02
done

# The set-up through the API: a tenant whose admin approves alone, an approved endpoint, a visit.
api() {  # method path [body] [jar]; prints the body
  local jar=${4:-$work/op.jar}
  local csrf
  csrf=$(awk '$6 == "__Host-csrf" {print $7}' "$jar" 2>/dev/null || true)
  curl -fsS --cacert "$cacert" -b "$jar" -c "$jar" -X "$1" -H 'Content-Type: application/json' \
    -H "X-CSRF-Token: $csrf" ${3:+-d "$3"} "$url$2"
}
field() { sed -E "s/.*\"$1\":\"([^\"]*)\".*/\1/"; }
api POST /api/v1/session "{\"login\":\"ops\",\"password\":\"$password\"}" >/dev/null
admin=$(api POST /api/v1/accounts "{\"login\":\"admin1\",\"password\":\"$password\"}" | field id)
api POST /api/v1/tenants "{\"id\":\"acme\",\"display_name\":\"Acme\",\"region\":\"local\",\"admins\":[\"$admin\"],\"approver\":\"$admin\",\"ehr\":\"oracle_health\"}" >/dev/null
adm="$work/admin.jar"
api POST /api/v1/session "{\"login\":\"admin1\",\"password\":\"$password\"}" "$adm" >/dev/null
base=/api/v1/tenants/acme
api POST $base/endpoints '{"id":"ep-1","base_url":"https://ehr.example.org/fhir","environment":"test","client_id":"v","client_type":"public"}' "$adm" >/dev/null
api POST $base/endpoints/ep-1/revisions/1/submit '{}' "$adm" >/dev/null
api POST $base/endpoints/ep-1/revisions/1/approve '{}' "$adm" >/dev/null
visit=$(api POST $base/visits '{"endpoint":"ep-1","appointment":"Appointment/1","scheduled_start":"2099-01-01T10:00:00Z"}' "$adm" | field id)
path="$base/visits/$visit"
session=$(awk '$6 == "__Host-session" {print $7}' "$adm")
body=$(curl -fsS --cacert "$cacert" -H "Cookie: __Host-session=$session" "$url$path")
echo "visitd answers ${#body} bytes: $body" | cut -c1-160

# nginx: the same body, the same certificate, TLS, keep-alive.
mkdir -p "$work/nginx"
escaped=$(printf '%s' "$body" | sed "s/'/\\\\'/g")
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $data/tls/cert.pem;
    ssl_certificate_key $data/tls/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { default_type application/json; return 200 '$escaped'; }
  }
}
EOF
"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 1 200); do
  curl -fsS --cacert "$cacert" "https://127.0.0.1:$nginx_port$path" >/dev/null 2>&1 && break
  sleep 0.02
done
nginx_len=$(curl -fsS --cacert "$cacert" "https://127.0.0.1:$nginx_port$path" | wc -c)
echo "nginx answers $nginx_len bytes"

rate() {  # url [cookie]; prints requests/s
  wrk -t2 -c32 -d"${seconds}s" ${2:+-H "Cookie: $2"} "$1" | awk '/Requests\/sec/ {print $2}'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
api_rates=(); nginx_rates=(); ratios=()
for i in $(seq 1 "$rounds"); do
  a=$(rate "$url$path" "__Host-session=$session")
  n=$(rate "https://127.0.0.1:$nginx_port$path")
  api_rates+=("$a"); nginx_rates+=("$n")
  ratios+=("$(awk -v a="$a" -v n="$n" 'BEGIN {printf "%.3f", a / n}')")
  echo "round $i: visitd=$a req/s nginx=$n req/s ratio=${ratios[-1]}"
done
grep -q "status=" "$work/visitd.log" && echo "(visitd logged requests)" || true
echo "visitd_median_rps=$(printf '%s\n' "${api_rates[@]}" | median) nginx_median_rps=$(printf '%s\n' "${nginx_rates[@]}" | median)"
echo "api_vs_nginx_https=$(printf '%s\n' "${ratios[@]}" | median)"
