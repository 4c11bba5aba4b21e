#!/usr/bin/env bash
# Builds the Debian package: build/package/mqtt-coap-gateway_<version>_<arch>.deb (docs/operations.md).
#   scripts/package.sh                 # Release build in build/package (binary only, no tests)
#   PKG_BUILD_DIR=build/x scripts/package.sh   # reuse another build dir (reconfigured with prefix /usr)
# Then: sudo apt-get install ./build/package/mqtt-coap-gateway_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${PKG_BUILD_DIR:-build/package}
jobs=${JOBS:-2}
args=(-DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON)
# Until the top-level CMakeLists.txt includes packaging/CPackConfig.cmake, inject it.
grep -q 'packaging/CPackConfig.cmake' CMakeLists.txt || args+=(-DCMAKE_PROJECT_INCLUDE="$root/packaging/CPackConfig.cmake")
if [ ! -f "$dir/CMakeCache.txt" ]; then
  args+=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DGW_BUILD_TESTS=OFF -DGW_BUILD_BENCH=OFF)
fi
cmake -S . -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" --target mqtt-coap-gateway -j "$jobs"
(cd "$dir" && cpack -G DEB -B "$root/$dir/pkg" >/dev/null)
deb=$(ls -t "$dir"/pkg/mqtt-coap-gateway_*.deb | head -1)
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb"
echo "package: $deb"
