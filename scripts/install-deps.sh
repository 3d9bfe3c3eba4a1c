#!/usr/bin/env bash
# Installs (as root, with apt-get, quietly) whichever of visitd's build and test dependencies are
# missing on Debian 12. Safe to run again: present packages are skipped and apt is not touched.
#   scripts/install-deps.sh          build + run
#   scripts/install-deps.sh --dev    also the test tools (clang-format, clang-tidy, curl)
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config ccache
  libcaf-dev librocksdb-dev libssl-dev libsimdjson-dev libspdlog-dev libsodium-dev
  libjemalloc-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-program-options1.81-dev
  libgtest-dev libbenchmark-dev
)
if [[ "${1:-}" == "--dev" ]]; then
  packages+=(clang-format clang-tidy curl)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "installing: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
