//! One segment: a `.log` file of batches and its two sparse indexes.
//!
//! # Indexes
//!
//! Both indexes get an entry for the same batches: the first batch of the segment, and then the
//! first batch starting once at least `index_interval_bytes` of batches were written since the
//! previous entry. So the two files always have the same number of entries, pairwise for the
//! same relative offsets, which is what the consistency check on open relies on.
//!
//! - `.index`: `relative offset u32 | file position u32` (8 bytes, little-endian): the batch
//!   starting at that relative offset starts at that byte.
//! - `.timeindex`: `max timestamp i64 | relative offset u32` (12 bytes): the largest record
//!   timestamp of all records of the segment *before* that relative offset (`i64::MIN` for the
//!   first entry). So if it is below T, no record before that offset has a timestamp ≥ T, and
//!   `offset_for_time(T)` may start scanning there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::ops::ControlFlow;

use super::batch::{self, BatchHeader, FRAME_LEN, RecordRef};
use super::error::{LogError, Result};
use super::fsutil::{SyncTicket, SyncWorker, io_err};
use super::storage::{FileCache, Storage, StorageFile};
use super::{Offset, RecoveryEvent, SegmentInfo, TimestampMs};

const INDEX_ENTRY: usize = 8;
const TIME_ENTRY: usize = 12;
/// Read-ahead for sequential scans (recovery, index rebuild).
const SCAN_CHUNK: usize = 1 << 20;
/// Read-ahead for consumer reads: a few batches per syscall without over-reading.
const READ_CHUNK: usize = 64 << 10;
/// Read-ahead for long reads (replay, batch jobs): 1 MiB per `pread`, like the raw-read
/// baseline, into a buffer reused across calls.
const LARGE_READ_CHUNK: usize = 1 << 20;
/// A read asking for at least this many records is a long read.
const LARGE_READ_RECORDS: usize = 4096;

/// What a read reuses across calls: the read buffer and the record spans of the batch being
/// handed out.
#[derive(Default)]
pub(crate) struct ReadScratch {
    /// File bytes.
    pub buf: Vec<u8>,
    /// Where each record of the current batch lies (see [`batch::index_records`]).
    pub spans: Vec<batch::RecordSpan>,
}

thread_local! {
    /// Each thread's read scratch, reused across reads: a fresh 1 MiB buffer per read call is
    /// page faults and zeroing (`clear_page_erms` was ~15% of a batch recompute).
    static READ_SCRATCH: std::cell::Cell<ReadScratch> = const {
        std::cell::Cell::new(ReadScratch { buf: Vec::new(), spans: Vec::new() })
    };
}

/// Runs `f` with this thread's read scratch. A nested read (a visitor that reads again) gets
/// an empty scratch of its own rather than a conflict; a buffer grown by one huge batch is
/// dropped rather than kept.
fn with_read_buf<R>(f: impl FnOnce(&mut ReadScratch) -> R) -> R {
    let mut scratch = READ_SCRATCH.take();
    let r = f(&mut scratch);
    if scratch.buf.capacity() <= 4 * LARGE_READ_CHUNK && scratch.spans.capacity() <= 1 << 16 {
        READ_SCRATCH.set(scratch);
    }
    r
}

/// File name stem of the segment starting at `base`: 20 digits, so names sort like offsets.
pub(crate) fn file_stem(base: Offset) -> String {
    format!("{base:020}")
}

/// Running facts about a segment's contents, kept in memory and in every batch header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Smallest and largest record timestamp.
    pub time_range: Option<(TimestampMs, TimestampMs)>,
    /// Newest append time (for time retention).
    pub max_append_time: Option<TimestampMs>,
    /// Append time of the first batch (for `segment_ms`).
    pub first_append_time: Option<TimestampMs>,
}

impl Stats {
    fn absorb(&mut self, h: &BatchHeader) {
        self.time_range = Some((h.segment_min_timestamp_ms, h.segment_max_timestamp_ms));
        self.max_append_time = Some(h.segment_max_append_time_ms);
        self.first_append_time.get_or_insert(h.append_time_ms);
    }
}

/// Sequential or positional batch reads over a segment file with a read-ahead buffer, so a scan
/// costs one syscall per chunk rather than two per batch.
pub(crate) struct BatchReader<'a> {
    file: &'a dyn StorageFile,
    path: &'a Path,
    /// Bytes of the segment that are valid to read (the in-memory size for the active segment).
    end: u64,
    chunk: usize,
    /// Only `buf[..filled]` holds file bytes; the rest is room kept from earlier reads (so a
    /// reused buffer is not zeroed again).
    buf: Vec<u8>,
    filled: usize,
    buf_start: u64,
}

/// Why a batch could not be read.
pub(crate) enum BadBatch {
    /// The OS failed; not the data's fault.
    Io(LogError),
    /// The bytes are torn, short or fail a check.
    Bad(String),
}

impl<'a> BatchReader<'a> {
    pub(crate) fn new(file: &'a dyn StorageFile, path: &'a Path, end: u64, chunk: usize) -> Self {
        Self::with_buffer(file, path, end, chunk, Vec::new())
    }

    /// A reader filling `buf` (taken back with [`BatchReader::into_buffer`]).
    pub(crate) fn with_buffer(
        file: &'a dyn StorageFile,
        path: &'a Path,
        end: u64,
        chunk: usize,
        buf: Vec<u8>,
    ) -> Self {
        BatchReader { file, path, end, chunk, buf, filled: 0, buf_start: 0 }
    }

    /// The buffer, for the next reader.
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// Makes bytes `[pos, pos + len)` available in the buffer, returning their start in it.
    fn fill(&mut self, pos: u64, len: usize) -> std::result::Result<usize, BadBatch> {
        let have_end = self.buf_start + self.filled as u64;
        if pos >= self.buf_start && pos + len as u64 <= have_end {
            return Ok((pos - self.buf_start) as usize);
        }
        let avail = self.end.saturating_sub(pos);
        if (len as u64) > avail {
            return Err(BadBatch::Bad(format!(
                "batch needs {len} bytes but only {avail} remain in the segment (torn write)"
            )));
        }
        let want = (len.max(self.chunk) as u64).min(avail) as usize;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        self.buf_start = pos;
        self.filled = 0;
        if let Err(e) = self.file.read_exact_at(&mut self.buf[..want], pos) {
            return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                BadBatch::Bad("segment file is shorter than expected".into())
            } else {
                BadBatch::Io(io_err("read", self.path)(e))
            });
        }
        self.filled = want;
        Ok(0)
    }

    /// Reads and checks the batch at `pos`: returns its header, body and end position.
    pub(crate) fn batch_at(
        &mut self,
        pos: u64,
    ) -> std::result::Result<(BatchHeader, &[u8], u64), BadBatch> {
        let at = self.fill(pos, FRAME_LEN)?;
        let (len, crc) = batch::parse_frame(&self.buf[at..at + FRAME_LEN]);
        let total = FRAME_LEN + len as usize;
        let at = self.fill(pos, total)?;
        let body = &self.buf[at + FRAME_LEN..at + total];
        let header = batch::check_body(body, crc).map_err(BadBatch::Bad)?;
        Ok((header, body, pos + total as u64))
    }
}

/// What a full scan of a segment found.
struct Scan {
    index: Vec<(u32, u32)>,
    time_index: Vec<(i64, u32)>,
    /// End of the last good batch.
    valid_end: u64,
    next_offset: Offset,
    stats: Stats,
    /// The first bad batch: position and reason.
    bad: Option<(u64, String)>,
}

/// Index bookkeeping shared by appends and scans, so both produce identical indexes.
#[derive(Debug, Default, Clone)]
struct IndexBuilder {
    bytes_since_entry: u64,
    max_ts: Option<i64>,
}

impl IndexBuilder {
    /// Returns the entries to add for a batch starting at `pos`, then accounts for it.
    fn on_batch(
        &mut self,
        interval: u32,
        have_entries: bool,
        rel: u32,
        pos: u32,
        len: u64,
        batch_max_ts: i64,
    ) -> Option<((u32, u32), (i64, u32))> {
        let entry = if !have_entries || self.bytes_since_entry >= u64::from(interval) {
            self.bytes_since_entry = 0;
            Some(((rel, pos), (self.max_ts.unwrap_or(i64::MIN), rel)))
        } else {
            None
        };
        self.bytes_since_entry += len;
        self.max_ts = Some(self.max_ts.map_or(batch_max_ts, |m| m.max(batch_max_ts)));
        entry
    }
}

fn scan(
    file: &dyn StorageFile,
    path: &Path,
    size: u64,
    base: Offset,
    interval: u32,
) -> Result<Scan> {
    let mut r = BatchReader::new(file, path, size, SCAN_CHUNK);
    let mut s = Scan {
        index: Vec::new(),
        time_index: Vec::new(),
        valid_end: 0,
        next_offset: base,
        stats: Stats::default(),
        bad: None,
    };
    let mut ib = IndexBuilder::default();
    while s.valid_end < size {
        let pos = s.valid_end;
        let (h, end) = match r.batch_at(pos) {
            Ok((h, _, end)) => (h, end),
            Err(BadBatch::Io(e)) => return Err(e),
            Err(BadBatch::Bad(reason)) => {
                s.bad = Some((pos, reason));
                break;
            }
        };
        if h.base_offset != s.next_offset {
            s.bad = Some((
                pos,
                format!("batch starts at offset {}, expected {}", h.base_offset, s.next_offset),
            ));
            break;
        }
        let (Ok(rel), Ok(pos32), Ok(_)) = (
            u32::try_from(h.base_offset - base),
            u32::try_from(pos),
            u32::try_from(h.next_offset() - base),
        ) else {
            s.bad = Some((pos, "batch beyond the range of a segment's index".into()));
            break;
        };
        if let Some((ie, te)) =
            ib.on_batch(interval, !s.index.is_empty(), rel, pos32, end - pos, h.max_timestamp_ms)
        {
            s.index.push(ie);
            s.time_index.push(te);
        }
        s.stats.absorb(&h);
        s.next_offset = h.next_offset();
        s.valid_end = end;
    }
    Ok(s)
}

/// How far past a bad batch recovery looks for good batches (bytes).
const DAMAGE_SEARCH_WINDOW: u64 = 8 << 20;

/// Looks for evidence that the bad batch at `bad` is damage in the middle of the file rather
/// than a torn end: a checked batch further on that continues the offsets (`base_offset >
/// expected`) and from which checked, contiguous batches run exactly to the end of the file.
/// The candidate is searched byte by byte (a flipped length field hides where the next batch
/// starts); requiring a clean chain to the end keeps bytes that merely look like a batch inside
/// a torn record value from counting. Returns the position of that batch.
fn good_batch_after(
    file: &dyn StorageFile,
    path: &Path,
    size: u64,
    bad: u64,
    expected: Offset,
) -> Option<u64> {
    let mut r = BatchReader::new(file, path, size, READ_CHUNK);
    let last = size.min(bad.saturating_add(DAMAGE_SEARCH_WINDOW));
    'candidates: for cand in bad + 1..last {
        // Cheap checks first, so random bytes cost a few comparisons per position rather than
        // a CRC over whatever length they happen to spell.
        let Ok(at) = r.fill(cand, FRAME_LEN + 12) else { break };
        let head = &r.buf[at..at + FRAME_LEN + 12];
        let (len, _) = batch::parse_frame(&head[..FRAME_LEN]);
        let mut base = [0; 8];
        base.copy_from_slice(&head[FRAME_LEN..FRAME_LEN + 8]);
        let base = u64::from_le_bytes(base);
        let plausible = (len as usize) >= batch::BODY_HEADER_LEN
            && cand + (FRAME_LEN as u64) + u64::from(len) <= size
            && base > expected
            && base - expected <= u64::from(u32::MAX);
        if !plausible {
            continue;
        }
        let Ok((h, _, end)) = r.batch_at(cand) else { continue };
        if h.base_offset <= expected {
            continue;
        }
        let (mut pos, mut next) = (end, h.next_offset());
        while pos < size {
            match r.batch_at(pos) {
                Ok((h, _, end)) if h.base_offset == next => (pos, next) = (end, h.next_offset()),
                _ => continue 'candidates,
            }
        }
        return Some(cand);
    }
    None
}

fn encode_index(index: &[(u32, u32)]) -> Vec<u8> {
    index.iter().flat_map(|(r, p)| r.to_le_bytes().into_iter().chain(p.to_le_bytes())).collect()
}

fn encode_time_index(index: &[(i64, u32)]) -> Vec<u8> {
    index.iter().flat_map(|(t, r)| t.to_le_bytes().into_iter().chain(r.to_le_bytes())).collect()
}

/// Parses and checks an offset index against a segment of `size` bytes.
fn parse_index(bytes: &[u8], size: u64) -> Option<Vec<(u32, u32)>> {
    if !bytes.len().is_multiple_of(INDEX_ENTRY) {
        return None;
    }
    let v: Vec<(u32, u32)> = bytes
        .chunks_exact(INDEX_ENTRY)
        .map(|c| {
            let (r, p) = batch::parse_frame(c);
            (r, p)
        })
        .collect();
    let first_ok = v.first().is_none_or(|&e| e == (0, 0));
    let monotonic = v.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
    let in_file = v.last().is_none_or(|&(_, p)| u64::from(p) < size);
    (first_ok && monotonic && in_file && (v.is_empty() == (size == 0))).then_some(v)
}

/// Parses and checks a time index against its offset index.
fn parse_time_index(bytes: &[u8], index: &[(u32, u32)]) -> Option<Vec<(i64, u32)>> {
    if !bytes.len().is_multiple_of(TIME_ENTRY) || bytes.len() / TIME_ENTRY != index.len() {
        return None;
    }
    let v: Vec<(i64, u32)> = bytes
        .chunks_exact(TIME_ENTRY)
        .map(|c| {
            let mut t = [0; 8];
            t.copy_from_slice(&c[..8]);
            let mut r = [0; 4];
            r.copy_from_slice(&c[8..]);
            (i64::from_le_bytes(t), u32::from_le_bytes(r))
        })
        .collect();
    let same_offsets = v.iter().zip(index).all(|(t, i)| t.1 == i.0);
    let first_ok = v.first().is_none_or(|e| e.0 == i64::MIN);
    let monotonic = v.windows(2).all(|w| w[0].0 <= w[1].0);
    (same_offsets && first_ok && monotonic).then_some(v)
}

fn read_optional(storage: &dyn Storage, path: &Path) -> Result<Option<Vec<u8>>> {
    match storage.read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

/// The index files of the active segment, appended to as batches are.
#[derive(Debug)]
struct IndexWriters {
    index: Box<dyn StorageFile>,
    time_index: Box<dyn StorageFile>,
}

/// A segment: its `.log` file, in-memory copies of its indexes, and running stats.
#[derive(Debug)]
pub(crate) struct Segment {
    pub base: Offset,
    /// This segment's content identity (see [`super::SegmentUid`]): fresh whenever the segment
    /// is created, opened or rolled back, so under one uid records are only ever appended.
    pub uid: u64,
    pub log_path: PathBuf,
    pub index_path: PathBuf,
    pub time_index_path: PathBuf,
    storage: Arc<dyn Storage>,
    /// The log's cache of read handles on closed segments (issue #9).
    cache: Arc<FileCache>,
    /// The active segment's own handle (appends, syncs, reads). `None` once closed: reads then
    /// borrow a handle from `cache`, so closed segments hold no descriptor of their own.
    file: Option<Arc<dyn StorageFile>>,
    pub size: u64,
    pub next_offset: Offset,
    index: Vec<(u32, u32)>,
    time_index: Vec<(i64, u32)>,
    writers: Option<IndexWriters>,
    /// Index entries already in the index files; fewer than `index.len()` after a failed index
    /// write, and then `close` rewrites the files in full.
    index_persisted: usize,
    builder: IndexBuilder,
    pub stats: Stats,
    /// Why this segment refuses appends and syncs until the log is reopened: an `fsync` failed
    /// (its data may be gone from the page cache, so a later "successful" fsync would lie), or a
    /// failed write could not be rolled back.
    poisoned: Option<String>,
    /// The segment as of its last successful fsync (or when opened): what a failed fsync cuts
    /// it back to.
    synced: Synced,
    /// An fsync running on the partition's sync thread (see [`Segment::sync_behind`]).
    behind: Option<SyncBehind>,
    /// Whether batches appended under group commit may not be durable yet: readers then stop
    /// at the last synced offset (see [`Segment::visible_end`]).
    lagging: bool,
}

/// An fsync running behind the producer: the group commit of `Partition::append_encoded_behind`.
#[derive(Debug)]
struct SyncBehind {
    /// The `fdatasync`, on the partition's sync thread.
    ticket: Arc<SyncTicket>,
    /// What becomes the synced state when it succeeds (taken when it started).
    snapshot: Synced,
}

/// What a segment looked like at a point it can be rolled back to.
#[derive(Debug, Clone)]
struct Synced {
    size: u64,
    next_offset: Offset,
    index_len: usize,
    builder: IndexBuilder,
    stats: Stats,
}

impl Synced {
    /// Nothing synced yet: an empty segment starting at `base`.
    fn empty(base: Offset) -> Self {
        Synced {
            size: 0,
            next_offset: base,
            index_len: 0,
            builder: IndexBuilder::default(),
            stats: Stats::default(),
        }
    }
}

fn paths(dir: &Path, base: Offset) -> (PathBuf, PathBuf, PathBuf) {
    let stem = file_stem(base);
    (
        dir.join(format!("{stem}.log")),
        dir.join(format!("{stem}.index")),
        dir.join(format!("{stem}.timeindex")),
    )
}

fn open_append(storage: &dyn Storage, path: &Path, truncate: bool) -> Result<Box<dyn StorageFile>> {
    storage.open_append(path, truncate).map_err(io_err("open", path))
}

/// Replaces an index file with `bytes` and syncs it.
fn rewrite(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> Result<Box<dyn StorageFile>> {
    let f = open_append(storage, path, true)?;
    f.append_all(bytes).map_err(io_err("write", path))?;
    f.sync_all().map_err(io_err("fsync", path))?;
    Ok(f)
}

/// The next segment uid: unique in the process (across logs), never reused.
static NEXT_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_uid() -> u64 {
    NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// How many times recovery reads a bad active-segment tail before cutting it: a bit flipped in
/// transit (bus, controller) reads back differently, a torn write reads back the same.
const RECOVERY_READS: usize = 3;

impl Segment {
    /// Creates an empty active segment starting at `base` (the caller fsyncs the directory).
    pub fn create(
        storage: &Arc<dyn Storage>,
        cache: &Arc<FileCache>,
        dir: &Path,
        base: Offset,
    ) -> Result<Self> {
        let (log_path, index_path, time_index_path) = paths(dir, base);
        // A file of that name read before (a segment truncated away, now recreated) must not
        // be served from a stale handle.
        cache.evict(&log_path);
        let file: Arc<dyn StorageFile> = Arc::from(open_append(&**storage, &log_path, true)?);
        let writers = IndexWriters {
            index: open_append(&**storage, &index_path, true)?,
            time_index: open_append(&**storage, &time_index_path, true)?,
        };
        Ok(Segment {
            base,
            uid: next_uid(),
            log_path,
            index_path,
            time_index_path,
            storage: storage.clone(),
            cache: cache.clone(),
            file: Some(file),
            size: 0,
            next_offset: base,
            index: Vec::new(),
            time_index: Vec::new(),
            writers: Some(writers),
            index_persisted: 0,
            builder: IndexBuilder::default(),
            stats: Stats::default(),
            poisoned: None,
            synced: Synced::empty(base),
            behind: None,
            lagging: false,
        })
    }

    /// Opens the active segment: scans every batch, truncates a torn or corrupt tail, rebuilds
    /// both indexes from the scan (rewriting the files if they differ).
    ///
    /// A bad batch is read again (up to [`RECOVERY_READS`] scans) before anything is cut, and a
    /// bad batch that is followed by a good one is reported as [`LogError::Corrupt`] instead of
    /// truncated: a crash tears only the end of the file, so that is damage to data that may
    /// have been acknowledged, and cutting it would silently lose everything after it.
    pub fn open_active(
        storage: &Arc<dyn Storage>,
        cache: &Arc<FileCache>,
        dir: &Path,
        base: Offset,
        interval: u32,
        events: &mut Vec<RecoveryEvent>,
    ) -> Result<Self> {
        let (log_path, index_path, time_index_path) = paths(dir, base);
        // The file may be cut below: drop any read handle cached while it was closed.
        cache.evict(&log_path);
        let file: Arc<dyn StorageFile> = Arc::from(open_append(&**storage, &log_path, false)?);
        let size = file.size().map_err(io_err("stat", &log_path))?;
        let mut s = scan(&*file, &log_path, size, base, interval)?;
        for _ in 1..RECOVERY_READS {
            if s.bad.is_none() {
                break;
            }
            let again = scan(&*file, &log_path, size, base, interval)?;
            let stable = again.valid_end == s.valid_end;
            s = again;
            if stable {
                break;
            }
        }
        if let Some((pos, reason)) = &s.bad
            && let Some(next) = good_batch_after(&*file, &log_path, size, *pos, s.next_offset)
        {
            return Err(LogError::Corrupt {
                file: log_path.clone(),
                position: *pos,
                reason: format!(
                    "{reason}; a valid batch follows at byte {next}, so this is damage inside \
                     the active segment, not a torn write at its end: not truncating \
                     (acknowledged records would be lost); copy the segment aside to inspect it"
                ),
            });
        }
        if s.valid_end < size {
            // Only the unacknowledged tail of the active segment can be torn (see mod docs).
            file.set_len(s.valid_end).map_err(io_err("truncate", &log_path))?;
            file.sync_all().map_err(io_err("fsync", &log_path))?;
            events.push(RecoveryEvent::Truncated {
                file: log_path.clone(),
                position: s.valid_end,
                bytes: size - s.valid_end,
            });
        }
        let mut writers = Vec::new();
        for (path, want) in [
            (&index_path, encode_index(&s.index)),
            (&time_index_path, encode_time_index(&s.time_index)),
        ] {
            let same = read_optional(&**storage, path)?.is_some_and(|b| b == want);
            let f = if same {
                open_append(&**storage, path, false)?
            } else {
                events.push(RecoveryEvent::IndexRebuilt { file: path.clone() });
                rewrite(&**storage, path, &want)?
            };
            writers.push(f);
        }
        let time_index_w = writers.pop();
        let index_w = writers.pop();
        let (Some(index), Some(time_index)) = (index_w, time_index_w) else {
            unreachable!("two writers were pushed")
        };
        let builder = IndexBuilder {
            bytes_since_entry: s.index.last().map_or(0, |&(_, p)| s.valid_end - u64::from(p)),
            max_ts: s.stats.time_range.map(|(_, max)| max),
        };
        let mut seg = Segment {
            base,
            uid: next_uid(),
            log_path,
            index_path,
            time_index_path,
            storage: storage.clone(),
            cache: cache.clone(),
            file: Some(file),
            size: s.valid_end,
            next_offset: s.next_offset,
            index_persisted: s.index.len(),
            index: s.index,
            time_index: s.time_index,
            writers: Some(IndexWriters { index, time_index }),
            builder,
            stats: s.stats,
            poisoned: None,
            synced: Synced::empty(base),
            behind: None,
            lagging: false,
        };
        seg.synced = seg.snapshot();
        Ok(seg)
    }

    /// Opens a closed segment, which ends where the next one begins (`next_base`). Its indexes are
    /// loaded and checked; its last batches are read from the last index entry to learn its time
    /// range. Missing or inconsistent indexes are rebuilt. Corrupt data is left in place and
    /// reported when read.
    pub fn open_closed(
        storage: &Arc<dyn Storage>,
        cache: &Arc<FileCache>,
        dir: &Path,
        base: Offset,
        next_base: Offset,
        interval: u32,
        events: &mut Vec<RecoveryEvent>,
    ) -> Result<Self> {
        let (log_path, index_path, time_index_path) = paths(dir, base);
        // Through the cache: opening a log of thousands of segments keeps a bounded number of
        // descriptors, and the last ones opened are likely the next ones read.
        let file = cache.open_read(storage, &log_path).map_err(io_err("open", &log_path))?;
        let size = file.size().map_err(io_err("stat", &log_path))?;
        let index = read_optional(&**storage, &index_path)?.and_then(|b| parse_index(&b, size));
        let time_index = match &index {
            Some(ix) => {
                read_optional(&**storage, &time_index_path)?.and_then(|b| parse_time_index(&b, ix))
            }
            None => None,
        };
        let mut seg = Segment {
            base,
            uid: next_uid(),
            log_path,
            index_path,
            time_index_path,
            storage: storage.clone(),
            cache: cache.clone(),
            file: None,
            size,
            next_offset: next_base,
            index_persisted: index.as_ref().map_or(0, Vec::len),
            index: index.clone().unwrap_or_default(),
            time_index: time_index.clone().unwrap_or_default(),
            writers: None,
            builder: IndexBuilder::default(),
            stats: Stats::default(),
            poisoned: None,
            synced: Synced {
                size,
                next_offset: next_base,
                index_len: 0,
                builder: IndexBuilder::default(),
                stats: Stats::default(),
            },
            behind: None,
            lagging: false,
        };
        if index.is_some()
            && time_index.is_some()
            && let Some(stats) = seg.tail_stats()?
        {
            seg.stats = stats;
            return Ok(seg);
        }
        // The indexes are missing, inconsistent, or the tail did not read back as expected.
        let s = scan(&*file, &seg.log_path, size, base, interval)?;
        seg.stats = s.stats;
        let indexes_valid = index.is_some() && time_index.is_some();
        if s.bad.is_some() && indexes_valid {
            // The data is bad, not the index: keep the index (it may reach batches beyond the
            // damage) and let reads report the corruption.
            return Ok(seg);
        }
        for (path, want, have) in [
            (&seg.index_path, encode_index(&s.index), index.as_deref().map(encode_index)),
            (
                &seg.time_index_path,
                encode_time_index(&s.time_index),
                time_index.as_deref().map(encode_time_index),
            ),
        ] {
            if have.as_ref() != Some(&want) {
                rewrite(&**storage, path, &want)?;
                events.push(RecoveryEvent::IndexRebuilt { file: path.clone() });
            }
        }
        seg.index_persisted = s.index.len();
        seg.index = s.index;
        seg.time_index = s.time_index;
        Ok(seg)
    }

    /// Reads from the last index entry to the end of the file; returns the stats of the last
    /// batch if everything there checks and ends exactly at the next segment's base.
    fn tail_stats(&self) -> Result<Option<Stats>> {
        let Some(&(rel, pos)) = self.index.last() else { return Ok(None) };
        let file = self.reader()?;
        let mut r = BatchReader::new(&*file, &self.log_path, self.size, SCAN_CHUNK);
        let mut pos = u64::from(pos);
        let mut expected = self.base + u64::from(rel);
        let mut stats = Stats::default();
        while pos < self.size {
            match r.batch_at(pos) {
                Ok((h, _, end)) if h.base_offset == expected => {
                    stats.absorb(&h);
                    expected = h.next_offset();
                    pos = end;
                }
                Ok(_) | Err(BadBatch::Bad(_)) => return Ok(None),
                Err(BadBatch::Io(e)) => return Err(e),
            }
        }
        Ok((expected == self.next_offset).then_some(stats))
    }

    /// A handle to read the `.log` file: the active segment's own, or a cached one.
    pub(crate) fn reader(&self) -> Result<Arc<dyn StorageFile>> {
        match &self.file {
            Some(f) => Ok(f.clone()),
            None => self
                .cache
                .open_read(&self.storage, &self.log_path)
                .map_err(io_err("open", &self.log_path)),
        }
    }

    /// The active segment's handle; a closed segment refuses writes.
    fn writer(&self) -> Result<Arc<dyn StorageFile>> {
        self.file.clone().ok_or_else(|| LogError::Poisoned {
            file: self.log_path.clone(),
            reason: "the segment is closed".into(),
        })
    }

    /// Whether the segment holds no batch.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    pub(crate) fn check_poisoned(&self) -> Result<()> {
        match &self.poisoned {
            None => Ok(()),
            Some(why) => {
                Err(LogError::Poisoned { file: self.log_path.clone(), reason: why.clone() })
            }
        }
    }

    /// Appends an encoded batch (one `write_all`), then updates the indexes.
    ///
    /// If the write fails part-way, the file is truncated back to where the batch began, so
    /// the segment stays a clean sequence of batches and the caller may retry; if that fails
    /// too, the segment is poisoned. A failed index write does not fail the append (see
    /// `storage.rs`).
    pub fn append(&mut self, buf: &[u8], h: &BatchHeader, interval: u32) -> Result<()> {
        self.check_poisoned()?;
        let file = self.writer()?;
        let pos = self.size;
        if let Err(e) = file.append_all(buf) {
            if let Err(undo) = file.set_len(pos) {
                self.poisoned = Some(format!(
                    "a failed write ({e}) left a partial batch at byte {pos} that could not be \
                     removed ({undo})"
                ));
            }
            return Err(io_err("write", &self.log_path)(e));
        }
        self.size += buf.len() as u64;
        // The partition rolls before a segment outgrows u32 positions or relative offsets.
        let rel = (h.base_offset - self.base) as u32;
        if let Some((ie, te)) = self.builder.on_batch(
            interval,
            !self.index.is_empty(),
            rel,
            pos as u32,
            buf.len() as u64,
            h.max_timestamp_ms,
        ) {
            self.index.push(ie);
            self.time_index.push(te);
            self.persist_index_entry();
        }
        self.stats.absorb(h);
        self.next_offset = h.next_offset();
        Ok(())
    }

    /// Appends the newest index entry to the index files if they are up to date; after a failed
    /// write they are left alone until `close` rewrites them (a partial entry would shift every
    /// later one).
    fn persist_index_entry(&mut self) {
        let n = self.index.len();
        let Some(w) = &self.writers else { return };
        if self.index_persisted + 1 != n {
            return;
        }
        let ok = w.index.append_all(&encode_index(&self.index[n - 1..])).is_ok()
            && w.time_index.append_all(&encode_time_index(&self.time_index[n - 1..])).is_ok();
        if ok {
            self.index_persisted = n;
        }
    }

    /// `fsync`s the log file's data (after settling an fsync running behind). A failure
    /// poisons the segment: the kernel may have dropped the unwritten pages and marked them
    /// clean, so a retried fsync could report success for data that never reaches the disk. The
    /// file is also cut back to its last synced size (best effort): those pages would otherwise
    /// stay readable now and turn into a hole after the next power failure, with acknowledged
    /// batches after it.
    pub fn sync(&mut self) -> Result<()> {
        self.settle_sync()?;
        self.check_poisoned()?;
        let file = self.writer()?;
        if let Err(e) = file.sync_data() {
            return Err(self.failed_sync(&*file, e));
        }
        self.synced = self.snapshot();
        Ok(())
    }

    /// Group commit (see `Partition::append_encoded_behind`): called after a batch was
    /// appended under `FsyncPolicy::Always` without waiting for its fsync. From now until an
    /// fsync covering it succeeds, the batch is *lagging*: readers stop at the last synced
    /// offset ([`Segment::visible_end`]), so no one reads a record whose fsync may still fail
    /// (a failure cuts it away and its offsets would be reused). If no fsync is running, one
    /// is handed to `worker` now, covering everything written; if one is running, the batch
    /// waits for the next, which [`Segment::progress_sync`] starts when that one is done — so
    /// one fsync covers every batch written while the previous one ran.
    pub fn sync_behind(&mut self, worker: &SyncWorker) -> Result<()> {
        self.lagging = true;
        self.progress_sync(worker)
    }

    /// Moves group commit along without waiting: settles a finished fsync (a failure cuts the
    /// segment back and poisons it, as for [`Segment::sync`]) and hands the next one to
    /// `worker` if batches were written since it started.
    pub fn progress_sync(&mut self, worker: &SyncWorker) -> Result<()> {
        if self.behind.as_ref().is_some_and(|b| b.ticket.is_done()) {
            self.finish_behind()?;
        }
        if self.lagging && self.behind.is_none() {
            if self.size == self.synced.size {
                self.lagging = false;
            } else {
                self.check_poisoned()?;
                if self.submit_sync(worker)? {
                    self.lagging = false;
                }
            }
        }
        Ok(())
    }

    /// Hands an fsync of everything written so far to `worker` without waiting for it (the
    /// fsync of `FsyncPolicy::Interval`, whose batches are acknowledged and visible before any
    /// fsync). One still running is waited for first, so there is one at a time. Settled by
    /// [`Segment::progress_sync`] or [`Segment::settle_sync`] like a group commit's.
    pub fn sync_in_background(&mut self, worker: &SyncWorker) -> Result<()> {
        self.finish_behind()?;
        self.check_poisoned()?;
        self.submit_sync(worker)?;
        Ok(())
    }

    /// Hands an fsync of everything written so far to `worker`, or, if the sync thread is gone
    /// (it can only have panicked), syncs here instead; returns whether it synced here.
    fn submit_sync(&mut self, worker: &SyncWorker) -> Result<bool> {
        let file = self.writer()?;
        let snapshot = self.snapshot();
        match worker.submit(file.clone()) {
            Ok(ticket) => {
                self.behind = Some(SyncBehind { ticket, snapshot });
                Ok(false)
            }
            Err(_) => {
                if let Err(e) = file.sync_data() {
                    return Err(self.failed_sync(&*file, e));
                }
                self.synced = snapshot;
                Ok(true)
            }
        }
    }

    /// Whether an fsync handed to the sync thread has not finished yet.
    pub fn sync_running(&self) -> bool {
        self.behind.as_ref().is_some_and(|b| !b.ticket.is_done())
    }

    /// Bytes written since the last fsync that succeeded or is running.
    pub fn unsynced_bytes(&self) -> u64 {
        let covered = self.behind.as_ref().map_or(self.synced.size, |b| b.snapshot.size);
        self.size.saturating_sub(covered)
    }

    /// Waits for the fsync running behind, if any, and on success takes what it covered as
    /// synced; on failure cuts the segment back and poisons it.
    fn finish_behind(&mut self) -> Result<()> {
        let Some(b) = self.behind.take() else { return Ok(()) };
        match (b.ticket.wait(), self.file.clone()) {
            (Ok(()), _) => {
                self.synced = b.snapshot;
                Ok(())
            }
            (Err(e), Some(file)) => Err(self.failed_sync(&*file, e)),
            // Only the active segment syncs behind, and it settles before it is closed.
            (Err(e), None) => Err(io_err("fsync", &self.log_path)(e)),
        }
    }

    /// Makes every lagging batch durable (see [`Segment::sync_behind`]), waiting as needed:
    /// the fsync running behind, then one more here for what was written after it started.
    /// On success everything written is synced and visible; a failure is handled exactly as
    /// a failed [`Segment::sync`].
    pub fn settle_sync(&mut self) -> Result<()> {
        self.finish_behind()?;
        if self.lagging {
            if self.size != self.synced.size {
                self.check_poisoned()?;
                let file = self.writer()?;
                if let Err(e) = file.sync_data() {
                    return Err(self.failed_sync(&*file, e));
                }
                self.synced = self.snapshot();
            }
            self.lagging = false;
        }
        Ok(())
    }

    /// The first offset not yet known durable under group commit: everything before it was
    /// covered by a successful fsync (or was appended without group commit). `None` when no
    /// batch is lagging.
    pub fn lagging_from(&self) -> Option<Offset> {
        self.lagging.then_some(self.synced.next_offset.min(self.next_offset))
    }

    /// One past the last offset readers may see: the end, or the last synced offset while
    /// batches are lagging behind their group commit.
    pub fn visible_end(&self) -> Offset {
        self.lagging_from().unwrap_or(self.next_offset)
    }

    /// A failed fsync: cut back to the last synced size, forget what was after it, poison.
    fn failed_sync(&mut self, file: &dyn StorageFile, e: std::io::Error) -> LogError {
        let at = self.synced.size;
        let cut = match file.set_len(at) {
            Ok(()) => {
                self.rollback();
                format!("the file was cut back to its last synced size, byte {at}")
            }
            Err(cut) => format!(
                "cutting it back to byte {at} failed too ({cut}): the storage is failing; \
                 records after that byte may vanish even after a reopen"
            ),
        };
        self.poisoned = Some(format!(
            "fsync failed ({e}); data written since the last successful fsync may not be on \
             disk, so nothing more is acknowledged on this segment ({cut})"
        ));
        io_err("fsync", &self.log_path)(e)
    }

    fn snapshot(&self) -> Synced {
        Synced {
            size: self.size,
            next_offset: self.next_offset,
            index_len: self.index.len(),
            builder: self.builder.clone(),
            stats: self.stats,
        }
    }

    /// Forgets everything appended since the last successful fsync (the file was cut there).
    /// The index files may hold entries beyond the cut: they are no longer written (the segment
    /// is poisoned) and recovery rebuilds them.
    fn rollback(&mut self) {
        let s = self.synced.clone();
        // Records below the old end are gone: readers that cached them by uid must not match.
        self.uid = next_uid();
        self.size = s.size;
        self.next_offset = s.next_offset;
        self.index.truncate(s.index_len);
        self.time_index.truncate(s.index_len);
        self.builder = s.builder;
        self.stats = s.stats;
        self.writers = None;
        self.lagging = false;
    }

    /// Makes the segment closed: everything synced, index files complete, index writers dropped.
    pub fn close(&mut self) -> Result<()> {
        self.sync()?;
        if self.index_persisted != self.index.len() {
            rewrite(&*self.storage, &self.index_path, &encode_index(&self.index))?;
            rewrite(&*self.storage, &self.time_index_path, &encode_time_index(&self.time_index))?;
            self.index_persisted = self.index.len();
            self.writers = None;
        }
        if let Some(w) = self.writers.take() {
            w.index.sync_all().map_err(io_err("fsync", &self.index_path))?;
            w.time_index.sync_all().map_err(io_err("fsync", &self.time_index_path))?;
        }
        // From now on reads go through the cache; its newest entry is this handle, so the
        // consumers at the tail do not reopen the file they were just reading.
        if let Some(f) = self.file.take() {
            self.cache.insert(&self.storage, &self.log_path, f);
        }
        Ok(())
    }
    fn corrupt(&self, position: u64, reason: String) -> LogError {
        LogError::Corrupt { file: self.log_path.clone(), position, reason }
    }

    /// Calls `f` with each checked batch from index entry `entry` on, until `f` says stop or the
    /// segment ends, reading `chunk` bytes at a time into `buf`. If the very first batch fails
    /// and it was found through the index, the index may be the liar: the scan is retried from
    /// the start of the segment.
    fn for_each_batch(
        &self,
        entry: usize,
        chunk: usize,
        buf: &mut Vec<u8>,
        f: &mut dyn FnMut(&BatchHeader, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let (rel, pos) = self.index.get(entry).copied().unwrap_or((0, 0));
        match self.for_each_batch_from(u64::from(pos), self.base + u64::from(rel), chunk, buf, f) {
            Err(LogError::Corrupt { position, .. }) if position == u64::from(pos) && pos != 0 => {
                self.for_each_batch_from(0, self.base, chunk, buf, f)
            }
            other => other,
        }
    }

    fn for_each_batch_from(
        &self,
        pos: u64,
        expected: Offset,
        chunk: usize,
        buf: &mut Vec<u8>,
        f: &mut dyn FnMut(&BatchHeader, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let file = self.reader()?;
        let mut r =
            BatchReader::with_buffer(&*file, &self.log_path, self.size, chunk, std::mem::take(buf));
        let result = self.visit_batches(&mut r, pos, expected, f);
        *buf = r.into_buffer();
        result
    }

    fn visit_batches(
        &self,
        r: &mut BatchReader<'_>,
        mut pos: u64,
        mut expected: Offset,
        f: &mut dyn FnMut(&BatchHeader, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        while pos < self.size {
            let (h, body, end) = match r.batch_at(pos) {
                Ok(b) => b,
                Err(BadBatch::Io(e)) => return Err(e),
                Err(BadBatch::Bad(reason)) => return Err(self.corrupt(pos, reason)),
            };
            if h.base_offset != expected {
                let reason =
                    format!("batch starts at offset {}, expected {expected}", h.base_offset);
                return Err(self.corrupt(pos, reason));
            }
            if !f(&h, body).map_err(|e| match e {
                LogError::Corrupt { reason, .. } => self.corrupt(pos, reason),
                e => e,
            })? {
                return Ok(());
            }
            expected = h.next_offset();
            pos = end;
        }
        if expected != self.next_offset {
            return Err(self.corrupt(
                pos,
                format!("segment ends at offset {expected}, the next segment starts at {}", {
                    self.next_offset
                }),
            ));
        }
        Ok(())
    }

    /// Calls `f` with each record from offset `from` (inside this segment) on, borrowed from
    /// the read buffer of `scratch`, until `budget` records were visited (it is decremented),
    /// `f` breaks, or the segment ends. Every batch is CRC- and structure-checked before any of
    /// its records is handed out, in one walk that remembers where each record lies (so a
    /// record is parsed once); nothing is allocated per record.
    pub fn for_each_record(
        &self,
        from: Offset,
        budget: &mut usize,
        scratch: &mut ReadScratch,
        f: &mut dyn FnMut(RecordRef<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        if from >= self.next_offset || *budget == 0 {
            return Ok(ControlFlow::Continue(()));
        }
        let rel = u32::try_from(from - self.base).unwrap_or(u32::MAX);
        let entry = self.index.partition_point(|&(r, _)| r <= rel).saturating_sub(1);
        let chunk = if *budget >= LARGE_READ_RECORDS { LARGE_READ_CHUNK } else { READ_CHUNK };
        let mut flow = ControlFlow::Continue(());
        let spans = &mut scratch.spans;
        self.for_each_batch(entry, chunk, &mut scratch.buf, &mut |h, body| {
            if h.next_offset() <= from {
                return Ok(true);
            }
            batch::index_records(h, body, spans).map_err(|reason| LogError::Corrupt {
                file: PathBuf::new(),
                position: 0,
                reason,
            })?;
            // Records below `from` in the first batch are skipped without being looked at.
            let skip = from.saturating_sub(h.base_offset) as usize;
            for (span, offset) in spans.iter().skip(skip).zip(h.base_offset + skip as u64..) {
                *budget -= 1;
                if f(span.record(body, offset, h.append_time_ms)).is_break() {
                    flow = ControlFlow::Break(());
                    return Ok(false);
                }
                if *budget == 0 {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        Ok(flow)
    }

    /// [`Segment::for_each_record`] with this thread's reusable read scratch.
    pub fn visit_records(
        &self,
        from: Offset,
        budget: &mut usize,
        f: &mut dyn FnMut(RecordRef<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        with_read_buf(|scratch| self.for_each_record(from, budget, scratch, f))
    }

    /// The first offset in this segment whose timestamp is ≥ `t`, if any.
    pub fn offset_for_time(&self, t: TimestampMs) -> Result<Option<Offset>> {
        if self.stats.time_range.is_none_or(|(_, max)| max < t) {
            return Ok(None);
        }
        // Last entry whose "max before" is below t: nothing before it can qualify.
        let entry = self.time_index.partition_point(|&(m, _)| m < t).saturating_sub(1);
        let mut found = None;
        // The answer is usually in the first batch or two after the index entry: read ahead
        // like a consumer, not like a full scan (a 1 MiB read per lookup cost ~0.4 ms).
        with_read_buf(|scratch| {
            self.for_each_batch(entry, READ_CHUNK, &mut scratch.buf, &mut |h, body| {
                if h.max_timestamp_ms < t {
                    return Ok(true);
                }
                let ts = batch::record_timestamps(h, body).map_err(|reason| LogError::Corrupt {
                    file: PathBuf::new(),
                    position: 0,
                    reason,
                })?;
                found = ts.iter().position(|&x| x >= t).map(|i| h.base_offset + i as u64);
                Ok(found.is_none())
            })
        })?;
        Ok(found)
    }

    /// The file position of the batch holding `offset` (the segment's size when no batch
    /// reaches it): where a truncation to `offset` cuts, dropping that batch whole. A scan from the start, checked
    /// batch by batch; truncation is rare (a replica diverging from a new leader).
    pub fn cut_position(&self, offset: Offset) -> Result<u64> {
        let file = self.reader()?;
        let mut r = BatchReader::new(&*file, &self.log_path, self.size, READ_CHUNK);
        let mut pos = 0;
        while pos < self.size {
            let (h, _, end) = match r.batch_at(pos) {
                Ok(b) => b,
                Err(BadBatch::Io(e)) => return Err(e),
                Err(BadBatch::Bad(reason)) => return Err(self.corrupt(pos, reason)),
            };
            if h.next_offset() > offset {
                return Ok(pos);
            }
            pos = end;
        }
        Ok(self.size)
    }

    /// What `describe` shows.
    pub fn info(&self, active: bool) -> SegmentInfo {
        SegmentInfo {
            path: self.log_path.clone(),
            base_offset: self.base,
            next_offset: self.next_offset,
            size_bytes: self.size,
            time_range: self.stats.time_range,
            active,
            remote_only: false,
        }
    }

    /// Deletes the segment's files (the caller fsyncs the directory).
    pub fn delete(self) -> Result<()> {
        let Segment {
            file, writers, storage, cache, log_path, index_path, time_index_path, ..
        } = self;
        drop((file, writers));
        cache.evict(&log_path);
        storage.remove_file(&log_path).map_err(io_err("delete", &log_path))?;
        for p in [&index_path, &time_index_path] {
            match storage.remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("delete", p)(e)),
            }
        }
        Ok(())
    }
}
