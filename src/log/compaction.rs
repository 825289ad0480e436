//! Log compaction (`cleanup_policy = "compact"`): Kafka's cleaner semantics on closed segments.
//!
//! # What a pass does
//!
//! Every closed segment, and the result of the previous pass, is *cleanable*; the active
//! segment never is. A pass reads the cleanable range `[log start, active base)`, finds the
//! newest offset of every key, and writes one **cleaned file** holding, in offset order, only
//! the newest record of each key (records without a key are kept: a key is what compaction
//! works by). Offsets are preserved — a record keeps the offset it was appended at — so the
//! cleaned range has gaps where superseded records were; readers see those gaps, and nothing
//! else. A tombstone (a keyed record with an empty value) is kept like any newest record, so a
//! reader replaying the changelog learns of the delete (Kafka drops tombstones after
//! `delete.retention.ms`; not modelled). The log start offset never moves: the cleaned range
//! still starts where the log did.
//!
//! Where Kafka rewrites segment by segment, a pass here writes one cleaned file for the whole
//! cleanable range: a changelog compacts to about one record per key, which is small.
//!
//! # The cleaned file
//!
//! `<base:020>-<end:020>.cleaned` in the partition directory, where `end` is one past the last
//! cleaned offset (the next segment's base): the end is in the name because the newest
//! records of the range may have been removed, so the data alone cannot tell. The content is
//! ordinary batches (the format of `batch.rs`, CRC per batch); each batch is a run of
//! consecutive surviving offsets that were appended in one batch (same append time), so the
//! per-record offsets and append times are exactly the original ones.
//!
//! # Crash safety: write aside, swap atomically
//!
//! A pass writes `<name>.cleaned.tmp`, fsyncs it, renames it to its final name, fsyncs the
//! directory, and only then deletes the previous cleaned file and the segments it now covers.
//! On open: `.tmp` files are deleted (the pass never happened); of several cleaned files the
//! one reaching furthest wins and the others go; closed segments the winner covers are deleted
//! (the pass finished but its clean-up did not). Every crash point thus leaves either the old
//! state or the new one, with the same records visible.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::{self, BatchHeader, RecordRef};
use super::error::{LogError, Result};
use super::fsutil::{io_err, sync_dir};
use super::segment::{BadBatch, BatchReader, file_stem};
use super::storage::{Storage, StorageFile};
use super::{Offset, Record, StoredRecord, TimestampMs};

/// Read-ahead for reads of the cleaned file.
const READ_CHUNK: usize = 64 << 10;

/// One batch of the cleaned file, in memory (the file is small: about one record per key).
#[derive(Debug, Clone, Copy)]
struct BatchEntry {
    base: Offset,
    next: Offset,
    pos: u64,
    /// Largest record timestamp of this batch.
    max_ts: TimestampMs,
}

/// The cleaned prefix of a compacted partition: `[base, end)`, with gaps.
#[derive(Debug)]
pub(crate) struct Cleaned {
    pub base: Offset,
    pub end: Offset,
    pub path: PathBuf,
    file: Box<dyn StorageFile>,
    pub size: u64,
    batches: Vec<BatchEntry>,
    pub time_range: Option<(TimestampMs, TimestampMs)>,
}

/// `(base, end)` of a cleaned file's name.
fn parse_name(name: &str) -> Option<(Offset, Offset)> {
    let stem = name.strip_suffix(".cleaned")?;
    let (b, e) = stem.split_once('-')?;
    if b.len() != 20 || e.len() != 20 {
        return None;
    }
    Some((b.parse().ok()?, e.parse().ok()?))
}

fn file_name(base: Offset, end: Offset) -> String {
    format!("{}-{}.cleaned", file_stem(base), file_stem(end))
}

impl Cleaned {
    /// Recovers the cleaned file of `dir`, if any (see the module documentation).
    pub fn recover(storage: &Arc<dyn Storage>, dir: &Path) -> Result<Option<Cleaned>> {
        let mut found = Vec::new();
        let mut removed = false;
        for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
            let entry = entry.map_err(io_err("list", dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".cleaned.tmp") {
                // A pass that crashed before its swap: it never happened.
                std::fs::remove_file(entry.path()).map_err(io_err("delete", &entry.path()))?;
                removed = true;
            } else if let Some((b, e)) = parse_name(&name) {
                found.push((e, b, entry.path()));
            }
        }
        found.sort();
        let winner = found.pop();
        for (_, _, path) in found {
            std::fs::remove_file(&path).map_err(io_err("delete", &path))?;
            removed = true;
        }
        if removed {
            sync_dir(dir)?;
        }
        match winner {
            None => Ok(None),
            Some((end, base, path)) => Cleaned::open(storage, path, base, end).map(Some),
        }
    }

    /// Opens and checks a cleaned file: every batch's CRC, offsets increasing within
    /// `[base, end)`.
    fn open(storage: &Arc<dyn Storage>, path: PathBuf, base: Offset, end: Offset) -> Result<Self> {
        let file = storage.open_read(&path).map_err(io_err("open", &path))?;
        let size = file.size().map_err(io_err("stat", &path))?;
        let mut batches = Vec::new();
        let mut time_range: Option<(TimestampMs, TimestampMs)> = None;
        {
            let mut r = BatchReader::new(&*file, &path, size, 1 << 20);
            let (mut pos, mut expected) = (0u64, base);
            while pos < size {
                let (h, body, next_pos) = match r.batch_at(pos) {
                    Ok(b) => b,
                    Err(BadBatch::Io(e)) => return Err(e),
                    Err(BadBatch::Bad(reason)) => {
                        return Err(LogError::Corrupt {
                            file: path.clone(),
                            position: pos,
                            reason,
                        });
                    }
                };
                if h.base_offset < expected || h.next_offset() > end {
                    return Err(LogError::Corrupt {
                        file: path.clone(),
                        position: pos,
                        reason: format!(
                            "batch {}..{} is outside the cleaned range {expected}..{end}",
                            h.base_offset,
                            h.next_offset()
                        ),
                    });
                }
                let ts = batch::record_timestamps(&h, body).map_err(|reason| {
                    LogError::Corrupt { file: path.clone(), position: pos, reason }
                })?;
                for t in ts {
                    time_range = Some(time_range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
                }
                batches.push(BatchEntry {
                    base: h.base_offset,
                    next: h.next_offset(),
                    pos,
                    max_ts: h.max_timestamp_ms,
                });
                expected = h.next_offset();
                pos = next_pos;
            }
        }
        Ok(Cleaned { base, end, path, file, size, batches, time_range })
    }

    /// Writes the cleaned file for `[base, end)` holding `records` (offset order, with gaps),
    /// crash-safely: aside, fsync, rename, fsync the directory. Returns it opened.
    pub fn write(
        storage: &Arc<dyn Storage>,
        dir: &Path,
        base: Offset,
        end: Offset,
        records: &[StoredRecord],
    ) -> Result<Self> {
        let path = dir.join(file_name(base, end));
        let tmp = dir.join(format!("{}.tmp", file_name(base, end)));
        let f = storage.open_append(&tmp, true).map_err(io_err("create", &tmp))?;
        let (mut seg_min, mut seg_max, mut seg_append) = (i64::MAX, i64::MIN, i64::MIN);
        let mut i = 0;
        while i < records.len() {
            // A run: consecutive offsets, one append time (one original batch, or part of it).
            let mut j = i + 1;
            while j < records.len()
                && records[j].offset == records[j - 1].offset + 1
                && records[j].append_time_ms == records[i].append_time_ms
            {
                j += 1;
            }
            let run: Vec<Record> = records[i..j].iter().map(|r| r.record.clone()).collect();
            for r in &run {
                seg_min = seg_min.min(r.timestamp_ms);
                seg_max = seg_max.max(r.timestamp_ms);
            }
            seg_append = seg_append.max(records[i].append_time_ms);
            let header = BatchHeader {
                base_offset: records[i].offset,
                record_count: u32::try_from(run.len()).map_err(|_| LogError::BatchTooLarge(0))?,
                append_time_ms: records[i].append_time_ms,
                max_timestamp_ms: run.iter().map(|r| r.timestamp_ms).max().unwrap_or(i64::MIN),
                segment_min_timestamp_ms: seg_min,
                segment_max_timestamp_ms: seg_max,
                segment_max_append_time_ms: seg_append,
            };
            let buf = batch::encode_batch(&header, &run)?;
            f.append_all(&buf).map_err(io_err("write", &tmp))?;
            i = j;
        }
        f.sync_all().map_err(io_err("fsync", &tmp))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io_err("rename", &path))?;
        sync_dir(dir)?;
        Cleaned::open(storage, path, base, end)
    }

    /// Appends records from `from` to `out` until it holds `max` (gaps skipped, CRC checked).
    pub fn read_into(&self, from: Offset, max: usize, out: &mut Vec<StoredRecord>) -> Result<()> {
        let mut budget = max.saturating_sub(out.len());
        // The closure never breaks: the flow is always `Continue`.
        let _ = self.visit_records(from, &mut budget, &mut |r| {
            out.push(r.to_stored());
            ControlFlow::Continue(())
        })?;
        Ok(())
    }

    /// Calls `f` with each record from `from` on (gaps skipped), borrowed, until `budget`
    /// records were visited (it is decremented) or `f` breaks. Each batch is CRC- and
    /// structure-checked before any of its records is handed out, as a segment's are.
    pub fn visit_records(
        &self,
        from: Offset,
        budget: &mut usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        if from >= self.end || *budget == 0 {
            return Ok(ControlFlow::Continue(()));
        }
        let first = self.batches.partition_point(|b| b.next <= from);
        let mut r = BatchReader::new(&*self.file, &self.path, self.size, READ_CHUNK);
        for b in &self.batches[first..] {
            let (h, body, _) = match r.batch_at(b.pos) {
                Ok(x) => x,
                Err(BadBatch::Io(e)) => return Err(e),
                Err(BadBatch::Bad(reason)) => {
                    return Err(LogError::Corrupt {
                        file: self.path.clone(),
                        position: b.pos,
                        reason,
                    });
                }
            };
            if h.base_offset != b.base {
                return Err(LogError::Corrupt {
                    file: self.path.clone(),
                    position: b.pos,
                    reason: format!(
                        "batch starts at offset {}, expected {}",
                        h.base_offset, b.base
                    ),
                });
            }
            let records = batch::records(&h, body).map_err(|reason| LogError::Corrupt {
                file: self.path.clone(),
                position: b.pos,
                reason,
            })?;
            for rec in records.filter(|rec| rec.offset >= from) {
                *budget -= 1;
                if f(rec).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                if *budget == 0 {
                    return Ok(ControlFlow::Continue(()));
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The first offset in the cleaned range whose timestamp is ≥ `t`.
    pub fn offset_for_time(&self, t: TimestampMs) -> Result<Option<Offset>> {
        for b in self.batches.iter().filter(|b| b.max_ts >= t) {
            let mut out = Vec::new();
            self.read_into(b.base, (b.next - b.base) as usize, &mut out)?;
            if let Some(r) = out.iter().find(|r| r.record.timestamp_ms >= t) {
                return Ok(Some(r.offset));
            }
        }
        Ok(None)
    }

    /// Deletes the file (the caller fsyncs the directory).
    pub fn delete(self) -> Result<()> {
        let Cleaned { file, path, .. } = self;
        drop(file);
        std::fs::remove_file(&path).map_err(io_err("delete", &path))
    }
}

/// The records a compaction of `records` keeps: the newest of each key, and every record
/// without a key, in offset order.
pub(crate) fn keep_latest(records: Vec<StoredRecord>) -> Vec<StoredRecord> {
    let mut newest: std::collections::HashMap<&[u8], Offset> = std::collections::HashMap::new();
    for r in &records {
        if let Some(k) = &r.record.key {
            newest.insert(k.as_slice(), r.offset);
        }
    }
    let keep: Vec<bool> = records
        .iter()
        .map(|r| r.record.key.as_deref().is_none_or(|k| newest.get(k) == Some(&r.offset)))
        .collect();
    records.into_iter().zip(keep).filter_map(|(r, k)| k.then_some(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(offset: Offset, key: Option<&str>, value: &str) -> StoredRecord {
        let mut record = Record::new(value, offset as i64);
        if let Some(k) = key {
            record = record.with_key(k);
        }
        StoredRecord { offset, append_time_ms: 0, record }
    }

    #[test]
    fn keeps_newest_per_key_and_unkeyed_records() {
        let input = vec![
            stored(0, Some("a"), "1"),
            stored(1, Some("b"), "1"),
            stored(2, None, "x"),
            stored(3, Some("a"), "2"),
            stored(4, Some("b"), ""),
        ];
        let kept: Vec<Offset> = keep_latest(input).iter().map(|r| r.offset).collect();
        assert_eq!(kept, vec![2, 3, 4]);
    }

    #[test]
    fn cleaned_file_names() {
        assert_eq!(parse_name(&file_name(5, 77)), Some((5, 77)));
        assert_eq!(parse_name("00000000000000000005.cleaned"), None);
        assert_eq!(parse_name("x-y.cleaned"), None);
    }
}
