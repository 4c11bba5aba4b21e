#!/usr/bin/env bash
# Installs every Debian 12 package the project needs to build, test and run its demo.
# Idempotent and non-interactive; safe to run on every invocation of the README commands.
set -euo pipefail

packages=(
  build-essential g++ cmake ninja-build pkg-config git ca-certificates ccache
  libboost1.81-dev libpaho-mqttpp-dev libpaho-mqtt-dev libssl-dev openssl
  libspdlog-dev libfmt-dev libyaml-cpp-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev sqlite3 libsystemd-dev libcli11-dev
  libcoap3-dev libcoap3-bin mosquitto mosquitto-clients
  clang llvm libclang-rt-14-dev clang-tidy clang-format
  python3 python3-cryptography gnuplot-nox
  chromium chromium-driver
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian starts a system mosquitto on :1883 after install; the demo and tests run their own on free ports.
echo "setup: all packages present"
