#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (warnings are errors), runs the whole ctest suite
# and prints ctest's summary. Long checks (label "long", "bench") have commands of their own (docs/testing.md).
# Usage: scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# ccache keys on paths relative to the checkout, so a fresh clone reuses earlier builds of the same sources.
export CCACHE_BASEDIR="$(pwd)"
jobs=$(nproc)
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$jobs"
ctest --preset ci -j "$jobs" -LE 'long|bench' "$@"
