#!/usr/bin/env bash
# Seeds the fuzz corpora from real files: segments, batch bodies and indexes written by
# `workbench log produce`, and the bundled scenarios. Run from the repository root after
# `cargo build`; writes fuzz/corpus/<target>/seed-*.
set -euo pipefail
cd "$(dirname "$0")/.."
wb=target/debug/workbench
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in batch_decode segment_recovery index_lookup scenario_parse; do mkdir -p fuzz/corpus/$t; done

# A log with keyed and unkeyed lines, several small segments and sparse indexes.
seq 1 400 | sed 's/^\([0-9]*\)$/k\1:value number \1/' |
  "$wb" log produce --dir "$tmp/log" --topic t --key-sep : --segment-bytes 2048 >/dev/null 2>&1
seq 1 50 | "$wb" log produce --dir "$tmp/log" --topic u --segment-bytes 600 >/dev/null 2>&1
i=0
for seg in "$tmp"/log/*/0/*.log; do
  i=$((i + 1))
  # segment_recovery: mode byte 0 (one active segment) + the segment.
  { printf '\x00'; cat "$seg"; } >"fuzz/corpus/segment_recovery/seed-$i"
  # batch_decode: the body of the segment's first batch (skip len and crc).
  len=$(od -An -tu4 -N4 "$seg" | tr -d ' ')
  tail -c +9 "$seg" | head -c "$len" >"fuzz/corpus/batch_decode/seed-$i"
  idx="${seg%.log}.index"
  tidx="${seg%.log}.timeindex"
  # index_lookup: split byte (index length / 4) + index + timeindex.
  ilen=$(stat -c %s "$idx")
  { printf "\\x$(printf %02x $((ilen / 4 > 255 ? 255 : ilen / 4)))"; cat "$idx" "$tidx"; } \
    >"fuzz/corpus/index_lookup/seed-$i"
done
for s in scenarios/*.toml; do cp "$s" "fuzz/corpus/scenario_parse/seed-$(basename "$s" .toml)"; done
ls fuzz/corpus/* | head -0
echo "seeded: $(ls fuzz/corpus/*/ | grep -c seed-) files"
