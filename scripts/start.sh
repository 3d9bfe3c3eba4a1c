#!/usr/bin/env bash
# Installs what is missing, builds Release and starts visitd on https://127.0.0.1:8443 with its
# data under ./data (a self-signed certificate is made there on first start). Extra arguments
# go to `visitd serve`, e.g. scripts/start.sh --port 9443.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" release
exec "$root/build/release/bin/visitd" serve "$@"
