#!/usr/bin/env bash
# Runs every fuzz target in turn for SECONDS each (default 600), at low priority, on stable
# Rust (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags). Crashes land in
# fuzz/artifacts/<target>/; logs in fuzz/logs/<target>.log. Run from the repository root.
#
#   fuzz/run-all.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/.."
secs="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(batch_decode segment_recovery index_lookup scenario_parse)
mkdir -p fuzz/logs
# Segment targets write scratch files: keep them in memory when /dev/shm exists.
[ -d /dev/shm ] && export TMPDIR=/dev/shm
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s"
  RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz run --fuzz-dir fuzz "$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"fuzz/logs/$t.log" 2>&1
  echo "   exit $? — $(grep -E '^(stat::number_of_executed_units|Done)' "fuzz/logs/$t.log" | tr '\n' ' ')"
  grep -E 'SUMMARY|panicked|artifact_prefix|Test unit written' "fuzz/logs/$t.log" | head -5
done
