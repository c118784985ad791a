#!/usr/bin/env bash
# Installs what Segflow needs to build and test on Debian 12, if anything is missing.
set -euo pipefail
PKGS=(g++ cmake ninja-build pkg-config capnproto libcapnp-dev librocksdb-dev libyaml-cpp-dev
      libboost-program-options-dev libasio-dev libsimdjson-dev libgtest-dev libgmock-dev
      libbenchmark-dev libssl-dev openssl time bc iproute2 clang libclang-rt-14-dev libpq-dev
      postgresql librdkafka-dev kcat libcpp-httplib-dev nlohmann-json3-dev curl prometheus chromium hey)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
