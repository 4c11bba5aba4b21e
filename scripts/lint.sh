#!/usr/bin/env bash
# clang-format (check only) and clang-tidy over the product code (gateway/) and the test support code, using
# the compile database of a configured build (default build/ci: run scripts/test.sh or `cmake --preset ci` first).
# Usage: scripts/lint.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/ci}
[ -f "$build/compile_commands.json" ] || { echo "lint: no $build/compile_commands.json (configure first)"; exit 2; }
mapfile -t files < <(git ls-files 'gateway/*.cpp' 'gateway/*.hpp' 'tests/support/*.cpp' 'tests/support/*.hpp')
status=0
echo "lint: clang-format on ${#files[@]} files"
clang-format --dry-run -Werror "${files[@]}" || status=1
# The Dockerfiles (issue #8 item 4): dockerfilelint from npm, when installed (npm install -g dockerfilelint@1.8.0).
if command -v dockerfilelint >/dev/null; then
  echo "lint: dockerfilelint on docker/Dockerfile docker/Dockerfile.mosquitto"
  dockerfilelint docker/Dockerfile docker/Dockerfile.mosquitto || status=1
else
  echo "lint: dockerfilelint not installed (npm install -g dockerfilelint@1.8.0): Dockerfiles not linted"
fi
mapfile -t sources < <(printf '%s\n' "${files[@]}" | grep '\.cpp$')
echo "lint: clang-tidy on ${#sources[@]} translation units"
printf '%s\n' "${sources[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet 2>/dev/null \
  | tee "$build/clang-tidy.log" | grep -E '(warning|error):' && status=1
exit $status
