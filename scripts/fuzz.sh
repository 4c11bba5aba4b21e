#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (preset "fuzz") and runs each for SECONDS (default 60) on a copy of
# its seed corpus; fails on any crash, leak or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
bash scripts/setup.sh
# ccache keys on paths relative to the checkout, so a fresh clone reuses earlier builds of the same sources.
export CCACHE_BASEDIR="$(pwd)"
cmake --preset fuzz >/dev/null
# Only the fuzz targets (one per seed corpus folder): the rest of the tree is built and tested by the other presets.
targets=()
for corpus in tests/fuzz/corpus/*/; do targets+=("$(basename "$corpus")_fuzz"); done
cmake --build --preset fuzz -j "$(nproc)" --target "${targets[@]}"
status=0
for corpus in tests/fuzz/corpus/*/; do
  name=$(basename "$corpus")
  bin=build/fuzz/tests/fuzz/${name}_fuzz
  [ -x "$bin" ] || { echo "fuzz: no binary for corpus $name"; status=1; continue; }
  work=$(mktemp -d)
  cp -r "$corpus". "$work"/
  echo "fuzz: $name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -print_final_stats=1 "$work" 2>"build/fuzz/$name.log"; then
    tail -40 "build/fuzz/$name.log"; status=1
  else
    grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "build/fuzz/$name.log" || true
  fi
  rm -rf "$work"
done
exit $status
