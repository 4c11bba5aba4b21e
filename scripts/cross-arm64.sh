#!/usr/bin/env bash
# arm64 (issue #8 item 5): cross-builds the gateway and its unit tests with Debian's crossbuild-essential-arm64
# inside the debootstrap bookworm image (not on the host: docs/operations.md "arm64 cross build" says why),
# runs the unit tests under qemu-user-static, and packs the arm64 .deb. The peers the tests start (mosquitto,
# mosquitto_pub, openssl, coap-server-openssl) are the image's amd64 packages and run natively; only the code under
# test runs under qemu.
#   scripts/cross-arm64.sh          # -> build/arm64/pkg/mqtt-coap-gateway_<version>_arm64.deb, ctest summary
# The build directory (build/arm64/build) is kept, so a second run is incremental (about 4 min). JOBS=1 keeps it
# to one core: the first run then takes about 15 min (package downloads, cold cross build, ~2 min of tests).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${ARM64_OUT:-$PWD/build/arm64}
jobs=${JOBS:-2}
mkdir -p "$out"
bash scripts/container.sh base
podman --runtime "${PODMAN_RUNTIME:-runc}" run --rm --network=host --ulimit nofile=16384:16384 \
  --ulimit nproc=4096:4096 -e JOBS="$jobs" -v "$PWD":/src:ro -v "$out":/out localhost/debian:bookworm \
  bash -euo pipefail -c '
export DEBIAN_FRONTEND=noninteractive
dpkg --add-architecture arm64
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends crossbuild-essential-arm64 qemu-user-static cmake ninja-build \
  pkg-config nlohmann-json3-dev python3 dpkg-dev file libboost1.81-dev:arm64 libpaho-mqttpp-dev:arm64 \
  libpaho-mqtt-dev:arm64 libspdlog-dev:arm64 libfmt-dev:arm64 libyaml-cpp-dev:arm64 libsqlite3-dev:arm64 \
  libsystemd-dev:arm64 libssl-dev:arm64 libgtest-dev:arm64 libgmock-dev:arm64 libcli11-dev:arm64 \
  libcoap3-dev:arm64 mosquitto mosquitto-clients openssl libcoap3-bin >/out/apt.log
units="support;unit/coap;unit/crypto;unit/dtls;unit/net;unit/session;unit/mqtt;unit/bridge;unit/app"
cmake -S /src -B /out/build -G Ninja -DCMAKE_TOOLCHAIN_FILE=/src/packaging/toolchain-aarch64.cmake \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DGW_BUILD_BENCH=OFF -DGW_TEST_DIRS="$units" >/dev/null
cmake --build /out/build -j "$JOBS"
file /out/build/gateway/app/mqtt-coap-gateway
qemu-aarch64-static /out/build/gateway/app/mqtt-coap-gateway --version
(cd /out/build && DEB_HOST_ARCH=arm64 DEB_HOST_GNU_TYPE=aarch64-linux-gnu cpack -G DEB -B /out/pkg >/dev/null)
dpkg-deb --field /out/pkg/mqtt-coap-gateway_*_arm64.deb Package Version Architecture Depends
start=$(date +%s)
ctest --test-dir /out/build -LE "long|bench" -j "$JOBS" --timeout 600 >/out/ctest.log 2>&1 || status=$?
tail -25 /out/ctest.log
echo "ctest: $(($(date +%s) - start)) s wall; full log build/arm64/ctest.log"
exit "${status:-0}"
'
