//! One partition: an ordered list of segments, the last one active.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use super::batch::{self, BatchHeader, EncodedBatch, RecordRef};
use super::compaction::{self, Cleaned};
use super::error::{LogError, Result};
use super::fsutil::{SyncWorker, io_err, sync_dir};
use super::segment::Segment;
use super::tier::{RemoteLog, RemoteSegment, partition_key};
use super::{
    CleanupPolicy, Clock, FsyncPolicy, LogConfig, Offset, Record, RecoveryEvent, RetentionReport,
    StoredRecord, TimestampMs,
};

/// What `describe` shows of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The `.log` file.
    pub path: PathBuf,
    /// First offset in the segment (also its file name).
    pub base_offset: Offset,
    /// One past the last offset in the segment.
    pub next_offset: Offset,
    /// Size of the `.log` file in bytes.
    pub size_bytes: u64,
    /// Smallest and largest record timestamp, if the segment holds records.
    pub time_range: Option<(TimestampMs, TimestampMs)>,
    /// Whether this is the active segment (the one appended to).
    pub active: bool,
    /// Whether the segment is only in the remote tier (its local copy was deleted by local
    /// retention; `path` is then the remote object's name).
    pub remote_only: bool,
}

/// The identity of a local segment's contents, for readers that keep something derived from
/// a segment (the batch layer's decoded columns) and must know when it no longer holds.
///
/// `uid` is unique in the process and never reused. Under one uid a segment's records are only
/// ever appended (the active segment) or fixed (a closed one): a segment that is created,
/// reopened (recovery), cut (`truncate_to`) or rolled back after a failed fsync gets a new uid,
/// and a deleted segment (retention, compaction, truncation) is no longer listed. So whatever
/// was derived from offsets `[base_offset, x)` under a uid stays valid for `x ≤ next_offset`
/// as long as the uid is listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentUid {
    /// First offset in the segment.
    pub base_offset: Offset,
    /// One past the last offset in the segment now.
    pub next_offset: Offset,
    /// The content identity.
    pub uid: u64,
    /// Whether this is the active segment (still appended to).
    pub active: bool,
}

/// A partition of a topic: segments on disk, appended to at the end.
#[derive(Debug)]
pub struct Partition {
    dir: PathBuf,
    config: LogConfig,
    clock: Arc<dyn Clock>,
    /// Oldest first; never empty; the last one is active.
    segments: Vec<Segment>,
    /// Clock reading of the last `fsync` of the active segment (for `FsyncPolicy::Interval`).
    last_sync_ms: TimestampMs,
    events: Vec<RecoveryEvent>,
    /// The partition's remote segments, when the log has a tier (see `tier.rs`).
    remote: Option<RemoteLog>,
    /// The cleaned prefix `[log start, first segment's base)` of a compacted partition (see
    /// `compaction.rs`).
    cleaned: Option<Cleaned>,
    /// The thread that runs fsyncs behind the producer (group commit), started on the first.
    syncer: Option<SyncWorker>,
}

/// Base offsets of the segments in `dir`, sorted; stray index files without a `.log` (left by a
/// crash during retention) are removed.
fn list_segments(dir: &std::path::Path) -> Result<Vec<Offset>> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((stem, ext)) = name.split_once('.') else { continue };
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(base) = stem.parse::<Offset>() else { continue };
        match ext {
            "log" => logs.push(base),
            "index" | "timeindex" => indexes.push((base, entry.path())),
            _ => {}
        }
    }
    logs.sort_unstable();
    let mut removed = false;
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            std::fs::remove_file(&path).map_err(io_err("delete", &path))?;
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(logs)
}

/// Under `FsyncPolicy::Interval`, unsynced bytes that start a background fsync before the
/// interval is due, when none is running (see `Partition::append_encoded_with`).
const INTERVAL_EAGER_SYNC_BYTES: u64 = 1 << 20;

impl Partition {
    /// Opens (recovering) or creates the partition stored in `dir`.
    pub fn open(dir: PathBuf, config: LogConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        std::fs::create_dir_all(&dir).map_err(io_err("create dir", &dir))?;
        let mut bases = list_segments(&dir)?;
        // A compacted partition's cleaned prefix; segments it covers are leftovers of a pass
        // whose clean-up a crash interrupted (see `compaction.rs`).
        let cleaned = Cleaned::recover(&config.storage, &dir)?;
        if let Some(c) = &cleaned {
            let covered =
                (0..bases.len().saturating_sub(1)).take_while(|&i| bases[i + 1] <= c.end).count();
            for &base in &bases[..covered] {
                for ext in ["log", "index", "timeindex"] {
                    let path = dir.join(format!("{}.{ext}", super::segment::file_stem(base)));
                    match config.storage.remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(io_err("delete", &path)(e)),
                    }
                }
            }
            bases.drain(..covered);
            if covered > 0 {
                sync_dir(&dir)?;
            }
            if bases.first() != Some(&c.end) {
                return Err(LogError::Corrupt {
                    file: c.path.clone(),
                    position: 0,
                    reason: format!(
                        "the cleaned range ends at offset {} but the first segment starts at {:?}",
                        c.end,
                        bases.first()
                    ),
                });
            }
        }
        let interval = config.index_interval_bytes;
        let mut events = Vec::new();
        let mut segments = Vec::with_capacity(bases.len().max(1));
        match bases.split_last() {
            None => {
                segments.push(Segment::create(&config.storage, &config.open_files, &dir, 0)?);
                sync_dir(&dir)?;
            }
            Some((&last, closed)) => {
                for (i, &base) in closed.iter().enumerate() {
                    let next = bases[i + 1];
                    segments.push(Segment::open_closed(
                        &config.storage,
                        &config.open_files,
                        &dir,
                        base,
                        next,
                        interval,
                        &mut events,
                    )?);
                }
                segments.push(Segment::open_active(
                    &config.storage,
                    &config.open_files,
                    &dir,
                    last,
                    interval,
                    &mut events,
                )?);
            }
        }
        let last_sync_ms = clock.now_ms();
        let remote = match &config.tier {
            None => None,
            Some(_) if config.cleanup_policy == CleanupPolicy::Compact => {
                return Err(LogError::Remote {
                    object: partition_key(&dir),
                    reason: "tiered storage does not take compacted topics (as in Kafka): use \
                             cleanup_policy = delete with a tier"
                        .into(),
                });
            }
            Some(tier) => Some(RemoteLog::open(tier.clone(), partition_key(&dir))?),
        };
        let mut p = Partition {
            dir,
            config,
            clock,
            segments,
            last_sync_ms,
            events,
            remote,
            cleaned,
            syncer: None,
        };
        p.check_tiers()?;
        Ok(p)
    }

    /// The remote segments must reach the local ones: a gap would be records nobody has.
    fn check_tiers(&mut self) -> Result<()> {
        let Some(remote) = &self.remote else { return Ok(()) };
        let local_start = self.segments[0].base;
        match remote.end() {
            Some(end) if end < local_start => Err(LogError::Remote {
                object: remote.object_name(remote.segments().last().map_or(0, |s| s.base_offset)),
                reason: format!(
                    "the remote tier ends at offset {end} but the local log starts at \
                     {local_start}: offsets {end}..{local_start} are in neither tier"
                ),
            }),
            Some(end) if end > self.log_end_offset() => Err(LogError::Remote {
                object: remote.object_name(remote.segments().last().map_or(0, |s| s.base_offset)),
                reason: format!(
                    "the remote tier reaches offset {end}, beyond the local log's end {}: the \
                     local log is not the one this tier was written from",
                    self.log_end_offset()
                ),
            }),
            _ => Ok(()),
        }
    }

    fn active(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    /// Appends `records` as one batch; returns the offset of the first. Returns once the batch is
    /// as durable as the fsync policy promises. An empty slice appends nothing.
    pub fn append(&mut self, records: &[Record]) -> Result<Offset> {
        if records.is_empty() {
            self.settle()?;
            return Ok(self.log_end_offset());
        }
        let mut b = EncodedBatch::with_capacity(batch::batch_encoded_len(records));
        for r in records {
            b.push(r)?;
        }
        self.append_encoded(&mut b)
    }

    /// [`Partition::append`] of records already encoded (by the producer, as they were sent).
    /// The batch keeps its records whatever happens, so a failed append can be retried.
    pub(crate) fn append_encoded(&mut self, b: &mut EncodedBatch) -> Result<Offset> {
        self.append_encoded_with(b, false).map(|(base, _)| base)
    }

    /// [`Partition::append_encoded`] with group commit under `FsyncPolicy::Always`: the batch
    /// is written and the call returns without waiting for an fsync (`true`: the batch is in
    /// flight). An fsync runs on the partition's sync thread: if none is running, one starts
    /// now; otherwise the batch waits for the next, which starts as soon as the running one is
    /// settled — so one fsync covers every batch written while the previous one ran, and the
    /// producer keeps encoding and writing meanwhile. A batch in flight is **not yet
    /// acknowledged** and readers do not see it ([`Partition::log_end_offset`] stops at the
    /// last synced offset) until an fsync covering it is seen to succeed
    /// ([`Partition::progress_for_ack`], or any append, flush, roll, truncation or retention
    /// pass, which all settle first). If an fsync fails, every batch after the last successful
    /// one is cut away and the segment poisoned exactly as for a synchronous fsync, and the
    /// call that finds it returns the error. Under the other policies this is
    /// [`Partition::append_encoded`] (`false`).
    pub(crate) fn append_encoded_behind(&mut self, b: &mut EncodedBatch) -> Result<(Offset, bool)> {
        self.append_encoded_with(b, true)
    }

    /// Makes every batch in flight durable, waiting as needed (see
    /// [`Partition::append_encoded_behind`]): on success they become visible; a failed fsync
    /// is returned.
    pub(crate) fn settle(&mut self) -> Result<()> {
        self.active_mut().settle_sync()
    }

    /// For a producer with batches in flight: moves group commit along without waiting (a
    /// finished fsync is settled, the next one started) and returns the offset before which
    /// every batch in flight is durable — `Offset::MAX` when none is waiting for an fsync.
    /// An error when an fsync failed, also when another appending call found it first (the
    /// segment is then poisoned): batches in flight were cut away then, and must not be
    /// acknowledged. (The check is conservative: a segment poisoned by a write whose undo
    /// failed refuses acks for batches an earlier fsync may have covered — they are sent
    /// again, never lost.)
    pub(crate) fn progress_for_ack(&mut self) -> Result<Offset> {
        let last = self.segments.len() - 1;
        if let Some(worker) = &self.syncer {
            self.segments[last].progress_sync(worker)?;
        }
        self.active().check_poisoned()?;
        Ok(self.active().lagging_from().unwrap_or(Offset::MAX))
    }

    /// [`Partition::settle`] for a producer about to acknowledge all its batches in flight:
    /// also an error when the segment is poisoned (see [`Partition::progress_for_ack`]).
    pub(crate) fn settle_for_ack(&mut self) -> Result<()> {
        self.settle()?;
        self.active().check_poisoned()
    }

    fn append_encoded_with(
        &mut self,
        b: &mut EncodedBatch,
        behind: bool,
    ) -> Result<(Offset, bool)> {
        let group = behind && self.config.fsync == FsyncPolicy::Always;
        if group && self.syncer.is_none() {
            // Started before anything is written: a failure to start leaves nothing behind.
            let worker = SyncWorker::start("log-fsync")
                .map_err(io_err("start the fsync thread for", &self.dir))?;
            self.syncer = Some(worker);
        }
        if group || matches!(self.config.fsync, FsyncPolicy::Interval { .. }) {
            // No waiting for an fsync running behind (group commit, or an interval's fsync):
            // this batch is written while it runs; a finished one is settled.
            let last = self.segments.len() - 1;
            if let Some(worker) = &self.syncer {
                self.segments[last].progress_sync(worker)?;
            }
        } else {
            self.settle()?;
        }
        // The end of what is written (batches in flight included): the visible end when
        // nothing is in flight.
        let base = self.active().next_offset;
        if b.is_empty() {
            return Ok((self.log_end_offset(), false));
        }
        let now = self.clock.now_ms();
        let len = b.len_bytes();
        let count = u64::from(b.record_count());
        let active = self.active();
        if !active.is_empty() {
            let too_big = active.size.saturating_add(len as u64) > self.config.segment_bytes;
            let too_old = match (self.config.segment_ms, active.stats.first_append_time) {
                (Some(ms), Some(first)) => now.saturating_sub(first) >= ms,
                _ => false,
            };
            // Index entries hold u32 positions and relative offsets.
            let index_overflow = active.size + len as u64 > u64::from(u32::MAX)
                || base + count - active.base > u64::from(u32::MAX);
            if too_big || too_old || index_overflow {
                self.roll()?;
            }
        }
        let active = self.active();
        let (batch_min, batch_max) = b.time_range();
        let (seg_min, seg_max) = active
            .stats
            .time_range
            .map_or((batch_min, batch_max), |(lo, hi)| (lo.min(batch_min), hi.max(batch_max)));
        let header = BatchHeader {
            base_offset: base,
            record_count: b.record_count(),
            append_time_ms: now,
            max_timestamp_ms: batch_max,
            segment_min_timestamp_ms: seg_min,
            segment_max_timestamp_ms: seg_max,
            segment_max_append_time_ms: active.stats.max_append_time.map_or(now, |t| t.max(now)),
        };
        let buf = b.seal(&header)?;
        let interval = self.config.index_interval_bytes;
        self.active_mut().append(buf, &header, interval)?;
        match self.config.fsync {
            FsyncPolicy::Always if behind => {
                let last = self.segments.len() - 1;
                match &self.syncer {
                    Some(worker) => self.segments[last].sync_behind(worker)?,
                    None => self.flush()?,
                }
                return Ok((base, true));
            }
            FsyncPolicy::Always => self.flush()?,
            FsyncPolicy::Interval { ms } => {
                let ms = i64::try_from(ms).unwrap_or(i64::MAX);
                let active = self.active();
                // Also sync early, when the sync thread is idle and a MiB is waiting (as
                // RocksDB's `bytes_per_sync`): the writeback is spread over the run instead of
                // piling up for the next due fsync (a flush at the end of 32 MiB appended in
                // under an interval was one fsync of all 32 MiB). Never later than the interval.
                let eager =
                    !active.sync_running() && active.unsynced_bytes() >= INTERVAL_EAGER_SYNC_BYTES;
                if eager || now.saturating_sub(self.last_sync_ms) >= ms {
                    self.sync_in_background(now)?;
                }
            }
            FsyncPolicy::Never => {}
        }
        Ok((base, false))
    }

    /// The fsync of `FsyncPolicy::Interval`, on the partition's sync thread, as Kafka's log
    /// flusher runs apart from the appends: the batches written under this policy are
    /// acknowledged (and visible) before any fsync anyway, so the appender need not wait for
    /// it — a synchronous fsync of 100 ms of appends stalled the producer for tens of
    /// milliseconds. One runs at a time: one still running when the next is due is waited
    /// for, so unsynced data is never older than the interval plus one fsync. A failure is
    /// found by the next append or flush and handled as a synchronous one (cut back to the last
    /// synced size, segment poisoned). Falls back to a synchronous fsync if the sync thread
    /// cannot be started.
    fn sync_in_background(&mut self, now: TimestampMs) -> Result<()> {
        if self.syncer.is_none() {
            match SyncWorker::start("log-fsync") {
                Ok(worker) => self.syncer = Some(worker),
                Err(_) => return self.flush(),
            }
        }
        let last = self.segments.len() - 1;
        if let Some(worker) = &self.syncer {
            self.segments[last].sync_in_background(worker)?;
        }
        self.last_sync_ms = now;
        Ok(())
    }

    /// `fsync`s the active segment now, whatever the policy.
    pub fn flush(&mut self) -> Result<()> {
        self.settle()?;
        self.active_mut().sync()?;
        self.last_sync_ms = self.clock.now_ms();
        Ok(())
    }

    /// Closes the active segment and starts a new one at the log end offset. A no-op when the
    /// active segment is empty (the new one would have the same name).
    pub fn roll(&mut self) -> Result<()> {
        self.settle()?;
        if self.active().is_empty() {
            return Ok(());
        }
        let next = self.log_end_offset();
        self.active_mut().close()?;
        self.last_sync_ms = self.clock.now_ms();
        let seg = Segment::create(&self.config.storage, &self.config.open_files, &self.dir, next)?;
        self.segments.push(seg);
        sync_dir(&self.dir)
    }

    /// Reads up to `max_records` records from offset `from` in offset order. `from` equal to the
    /// log end gives an empty vector; outside `[log_start, log_end]` is `OffsetOutOfRange`; a batch
    /// that fails its CRC is `Corrupt` (never returned as data). An owning copy of what
    /// [`Partition::for_each_record`] visits; long readers should visit instead.
    pub fn read(&self, from: Offset, max_records: usize) -> Result<Vec<StoredRecord>> {
        let end = self.log_end_offset();
        // Sized for what can come back, within reason (`max_records` may be `usize::MAX`).
        let room = usize::try_from(end.saturating_sub(from)).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(room.min(max_records).min(1 << 16));
        self.for_each_record(from, max_records, |r| {
            out.push(r.to_stored());
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// Calls `visit` with up to `max_records` records from offset `from` in offset order,
    /// borrowed from a reused read buffer: no allocation or copy per record. Each batch is
    /// CRC- and structure-checked once, before any of its records is visited, so only checked
    /// data is ever seen; errors are those of [`Partition::read`] (a `Corrupt` batch may come
    /// after records of earlier batches were visited). `visit` returning
    /// [`ControlFlow::Break`] stops after that record. Returns the offset after the last record
    /// visited (`from` if none): where the next call continues.
    pub fn for_each_record(
        &self,
        from: Offset,
        max_records: usize,
        mut visit: impl FnMut(RecordRef<'_>) -> ControlFlow<()>,
    ) -> Result<Offset> {
        let (start, end) = (self.log_start_offset(), self.log_end_offset());
        if from < start || from > end {
            return Err(LogError::OffsetOutOfRange { requested: from, start, end });
        }
        let mut next = from;
        let mut visit = |r: RecordRef<'_>| {
            // A batch whose fsync is still running behind is in the file but not visible.
            if r.offset >= end {
                return ControlFlow::Break(());
            }
            next = r.offset + 1;
            visit(r)
        };
        self.visit_tiers(from, max_records, end, &mut visit)?;
        Ok(next)
    }

    /// [`Partition::for_each_record`]'s walk: the compacted prefix (if any), then segments only
    /// in the remote tier (fetched through the cold cache and read by the same segment code,
    /// so the same CRC checks as a hot segment), then the local segments.
    fn visit_tiers(
        &self,
        from: Offset,
        max_records: usize,
        end: Offset,
        visit: &mut dyn FnMut(RecordRef<'_>) -> ControlFlow<()>,
    ) -> Result<()> {
        let mut budget = max_records;
        let mut at = from;
        if let Some(c) = &self.cleaned {
            if c.visit_records(at, &mut budget, visit)?.is_break() {
                return Ok(());
            }
            at = at.max(c.end);
        }
        if let Some(remote) = &self.remote
            && at < self.segments[0].base
        {
            let local_start = self.segments[0].base;
            let segs = remote.segments();
            let first = segs.partition_point(|s| s.next_offset() <= at);
            let before = budget;
            let mut flow = ControlFlow::Continue(());
            for (i, entry) in segs.iter().enumerate().skip(first) {
                if budget == 0 || at >= local_start {
                    break;
                }
                let seg = remote.segment_for(
                    i,
                    &self.config.storage,
                    self.config.index_interval_bytes,
                )?;
                flow = seg.visit_records(at, &mut budget, visit)?;
                at = at.max(entry.next_offset());
                if flow.is_break() {
                    break;
                }
            }
            remote.count_read(before - budget);
            if flow.is_break() {
                return Ok(());
            }
        }
        let first = self.segments.partition_point(|s| s.base <= at).saturating_sub(1);
        for seg in &self.segments[first..] {
            if budget == 0 || at >= end {
                break;
            }
            if seg.visit_records(at, &mut budget, visit)?.is_break() {
                break;
            }
            at = at.max(seg.next_offset);
        }
        Ok(())
    }

    /// Kafka's offsetsForTimes: the first offset whose timestamp is ≥ `timestamp_ms`, or `None`
    /// when no record is that late. Works across tiers: remote segments are skipped by the
    /// manifest's time range and fetched only when they may hold the answer.
    pub fn offset_for_time(&self, timestamp_ms: TimestampMs) -> Result<Option<Offset>> {
        if let Some(c) = &self.cleaned
            && let Some(o) = c.offset_for_time(timestamp_ms)?
        {
            return Ok(Some(o));
        }
        if let Some(remote) = &self.remote {
            let local_start = self.segments[0].base;
            for (i, s) in remote.segments().iter().enumerate() {
                if s.base_offset >= local_start {
                    break;
                }
                if s.max_timestamp_ms.is_some_and(|max| max >= timestamp_ms) {
                    let seg = remote.segment_for(
                        i,
                        &self.config.storage,
                        self.config.index_interval_bytes,
                    )?;
                    if let Some(o) = seg.offset_for_time(timestamp_ms)? {
                        return Ok(Some(o));
                    }
                }
            }
        }
        // The first segment holding a timestamp ≥ T holds the answer; the in-memory time
        // ranges skip the others without I/O.
        for seg in &self.segments {
            if seg.stats.time_range.is_some_and(|(_, max)| max >= timestamp_ms)
                && let Some(o) = seg.offset_for_time(timestamp_ms)?
            {
                // Only in a batch still in flight (not visible): no visible record is that late.
                return Ok((o < self.log_end_offset()).then_some(o));
            }
        }
        Ok(None)
    }

    /// The first offset still stored (raised by retention).
    pub fn log_start_offset(&self) -> Offset {
        let local = self.cleaned.as_ref().map_or(self.segments[0].base, |c| c.base);
        self.remote.as_ref().and_then(RemoteLog::start).map_or(local, |r| r.min(local))
    }

    /// The offset the next appended record will get: one past the last record readers see.
    /// (A batch whose fsync is still in flight, see [`super::Producer::in_flight`], is not
    /// counted until it is settled; every appending call settles first, so appends continue
    /// from here.)
    pub fn log_end_offset(&self) -> Offset {
        self.active().visible_end()
    }

    /// The segments, oldest first.
    ///
    /// With a tier, segments whose local copy is gone come first, marked `remote_only`.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let n = self.segments.len();
        let local_start = self.segments[0].base;
        let mut out: Vec<SegmentInfo> = match &self.remote {
            None => Vec::new(),
            Some(remote) => remote
                .segments()
                .iter()
                .take_while(|s| s.base_offset < local_start)
                .map(|s| SegmentInfo {
                    path: PathBuf::from(remote.object_name(s.base_offset)),
                    base_offset: s.base_offset,
                    next_offset: s.next_offset(),
                    size_bytes: s.size_bytes,
                    time_range: s.min_timestamp_ms.zip(s.max_timestamp_ms),
                    active: false,
                    remote_only: true,
                })
                .collect(),
        };
        if let Some(c) = &self.cleaned {
            out.push(SegmentInfo {
                path: c.path.clone(),
                base_offset: c.base,
                next_offset: c.end,
                size_bytes: c.size,
                time_range: c.time_range,
                active: false,
                remote_only: false,
            });
        }
        out.extend(self.segments.iter().enumerate().map(|(i, s)| s.info(i + 1 == n)));
        out
    }

    /// The local segments' content identities, oldest first (see [`SegmentUid`]). Segments
    /// only in the remote tier and the compacted prefix are not listed: they have none.
    pub fn segment_uids(&self) -> Vec<SegmentUid> {
        let n = self.segments.len();
        self.segments
            .iter()
            .enumerate()
            .map(|(i, s)| SegmentUid {
                base_offset: s.base,
                // Batches waiting for their group commit's fsync are not there yet for readers.
                next_offset: s.visible_end(),
                uid: s.uid,
                active: i + 1 == n,
            })
            .collect()
    }

    /// Total bytes of the partition's local (hot) `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum::<u64>()
            + self.cleaned.as_ref().map_or(0, |c| c.size)
    }

    /// Total bytes of the partition's remote (cold) `.log` objects (0 without a tier). A
    /// segment that is uploaded and still local counts in both.
    pub fn remote_size_bytes(&self) -> u64 {
        self.remote.as_ref().map_or(0, RemoteLog::size_bytes)
    }

    /// The remote segments as the manifest lists them (empty without a tier).
    pub fn remote_segments(&self) -> Vec<RemoteSegment> {
        self.remote.as_ref().map_or_else(Vec::new, |r| r.segments().to_vec())
    }

    /// The partition's directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// What recovery did when the partition was opened.
    pub fn recovery_events(&self) -> &[RecoveryEvent] {
        &self.events
    }

    /// Removes every record at or after `offset` (a replica whose log diverged from its new
    /// leader's, as Kafka's follower truncation does). Cuts at a batch boundary: when `offset`
    /// falls inside a batch, that whole batch goes too, so the new log end offset (returned) can
    /// be below `offset`; the caller fetches the rest again. Segments wholly above are deleted;
    /// the one cut becomes the active segment, reopened (rescanned, indexes rebuilt) so that its
    /// in-memory state is exactly what recovery would find. Durable before it returns.
    pub fn truncate_to(&mut self, offset: Offset) -> Result<Offset> {
        self.settle()?;
        if offset >= self.log_end_offset() {
            return Ok(self.log_end_offset());
        }
        let offset = offset.max(self.log_start_offset());
        if let Some(c) = &self.cleaned
            && offset < c.end
        {
            return Err(LogError::Corrupt {
                file: c.path.clone(),
                position: 0,
                reason: format!(
                    "cannot truncate to offset {offset}: it is inside the compacted range"
                ),
            });
        }
        if let Some(remote) = &mut self.remote {
            if offset < self.segments[0].base {
                return Err(LogError::Remote {
                    object: remote.object_name(offset),
                    reason: format!(
                        "cannot truncate to offset {offset}: it is below the local log start {} \
                         (in the remote tier only)",
                        self.segments[0].base
                    ),
                });
            }
            // Remote copies of what is cut are deregistered first.
            remote.truncate_from(offset)?;
        }
        while self.segments.len() > 1 && self.segments[self.segments.len() - 1].base >= offset {
            if let Some(seg) = self.segments.pop() {
                seg.delete()?;
            }
        }
        let Some(seg) = self.segments.pop() else { unreachable!("a partition has a segment") };
        let (base, path) = (seg.base, seg.log_path.clone());
        let cut = seg.cut_position(offset)?;
        drop(seg);
        // Through the log's storage, so injected faults reach truncation too.
        let file = self.config.storage.open_append(&path, false).map_err(io_err("open", &path))?;
        file.set_len(cut).map_err(io_err("truncate", &path))?;
        file.sync_all().map_err(io_err("fsync", &path))?;
        drop(file);
        sync_dir(&self.dir)?;
        let interval = self.config.index_interval_bytes;
        // Rebuilding the cut segment's indexes is expected here, not a recovery event.
        let storage = self.config.storage.clone();
        let seg = Segment::open_active(
            &storage,
            &self.config.open_files,
            &self.dir,
            base,
            interval,
            &mut Vec::new(),
        )?;
        self.segments.push(seg);
        Ok(self.log_end_offset())
    }

    /// One retention pass: with a tier, uploads closed segments not yet remote; then deletes
    /// the oldest segments (remote or local, never the active one) that are beyond the total
    /// retention — `retention_ms` by newest append time, or while the log (both tiers, each
    /// offset counted once) is larger than `retention_bytes` — so the log start simply rises;
    /// then deletes local copies of uploaded segments beyond the local retention. With
    /// `cleanup_policy = compact` it compacts closed segments instead (see `compaction.rs`).
    pub fn enforce_retention(&mut self) -> Result<RetentionReport> {
        self.settle()?;
        if self.config.cleanup_policy == CleanupPolicy::Compact {
            return self.compact();
        }
        let now = self.clock.now_ms();
        let mut report = RetentionReport::default();
        if let Some(remote) = &mut self.remote {
            let remote_end = remote.end();
            let n = self.segments.len();
            let closed: Vec<&Segment> = self.segments[..n - 1]
                .iter()
                .filter(|s| remote_end.is_none_or(|e| s.base >= e) && !s.is_empty())
                .collect();
            report.uploaded_segments = remote.upload(&self.config.storage, &closed)?;
        }
        // Total retention over one list: remote segments, then local ones not uploaded.
        let remote_end = self.remote.as_ref().and_then(RemoteLog::end);
        let mut logical: Vec<(Offset, u64, Option<TimestampMs>)> = self
            .remote
            .as_ref()
            .map(|r| {
                r.segments()
                    .iter()
                    .map(|s| (s.next_offset(), s.size_bytes, s.max_append_time_ms))
                    .collect()
            })
            .unwrap_or_default();
        logical.extend(
            self.segments
                .iter()
                .filter(|s| remote_end.is_none_or(|e| s.base >= e))
                .map(|s| (s.next_offset, s.size, s.stats.max_append_time)),
        );
        let mut size: u64 = logical.iter().map(|l| l.1).sum();
        let mut new_start = None;
        // The last entry is the active segment: never deleted.
        for &(next, bytes, max_append) in &logical[..logical.len().saturating_sub(1)] {
            let expired = match (self.config.retention_ms, max_append) {
                (Some(ms), Some(t)) => now.saturating_sub(t) > ms,
                _ => false,
            };
            let oversized = self.config.retention_bytes.is_some_and(|limit| size > limit);
            if !(expired || oversized) {
                break;
            }
            size -= bytes;
            new_start = Some(next);
        }
        if let Some(start) = new_start {
            if let Some(remote) = &mut self.remote {
                let gone =
                    remote.segments().iter().take_while(|s| s.next_offset() <= start).count();
                let pass = remote.delete_oldest(gone)?;
                report.remote_deleted_segments = pass.remote_deleted;
                report.remote_deleted_bytes = pass.remote_deleted_bytes;
            }
            while self.segments.len() > 1 && self.segments[0].next_offset <= start {
                let seg = self.segments.remove(0);
                report.deleted_bytes += seg.size;
                report.deleted_segments.push(seg.log_path.clone());
                seg.delete()?;
            }
        }
        // Local retention: only copies that are safely remote.
        if let Some(remote) = &self.remote {
            let tier = remote.tier().config();
            let remote_end = remote.end().unwrap_or(0);
            let mut local = self.size_bytes();
            while self.segments.len() > 1 && self.segments[0].next_offset <= remote_end {
                let oldest = &self.segments[0];
                let expired = match (tier.local_retention_ms, oldest.stats.max_append_time) {
                    (Some(ms), Some(t)) => now.saturating_sub(t) > ms,
                    _ => false,
                };
                let oversized = tier.local_retention_bytes.is_some_and(|limit| local > limit);
                if !(expired || oversized) {
                    break;
                }
                let seg = self.segments.remove(0);
                local -= seg.size;
                report.offloaded_segments.push(seg.log_path.clone());
                seg.delete()?;
            }
            remote.count_offloaded(report.offloaded_segments.len());
        }
        if !report.deleted_segments.is_empty() || !report.offloaded_segments.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(report)
    }

    /// One compaction pass over every closed segment and the previous cleaned range (see
    /// `compaction.rs`): a no-op until a segment has closed since the last pass.
    fn compact(&mut self) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        let n = self.segments.len();
        if n < 2 {
            return Ok(report);
        }
        let base = self.log_start_offset();
        let end = self.segments[n - 1].base;
        let mut all = Vec::new();
        let mut at = base;
        while at < end {
            let chunk = self.read(at, 50_000)?;
            let Some(last) = chunk.last() else { break };
            at = last.offset + 1;
            all.extend(chunk.into_iter().filter(|r| r.offset < end));
        }
        let before = all.len();
        let kept = compaction::keep_latest(all);
        report.compacted_records = (before - kept.len()) as u64;
        let cleaned = Cleaned::write(&self.config.storage, &self.dir, base, end, &kept)?;
        // Swapped in: only now do the old cleaned file and the covered segments go.
        if let Some(old) = self.cleaned.replace(cleaned) {
            old.delete()?;
        }
        for seg in self.segments.drain(..n - 1) {
            seg.delete()?;
        }
        sync_dir(&self.dir)?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::ManualClock;

    fn config(segment_bytes: u64) -> LogConfig {
        LogConfig { segment_bytes, index_interval_bytes: 100, ..LogConfig::default() }
    }

    fn open(dir: &std::path::Path, cfg: LogConfig, clock: &Arc<ManualClock>) -> Partition {
        Partition::open(dir.to_path_buf(), cfg, clock.clone()).unwrap()
    }

    fn rec(i: i64) -> Record {
        Record::new(format!("value-{i}"), i).with_key(format!("k{}", i % 7))
    }

    /// A partition under `Interval` (an interval that never passes here) on a faulty storage.
    fn interval_partition(
        dir: &std::path::Path,
        storage: &crate::log::FaultyStorage,
        clock: &Arc<ManualClock>,
    ) -> Partition {
        let cfg = LogConfig {
            fsync: FsyncPolicy::Interval { ms: 1_000_000 },
            storage: Arc::new(storage.clone()),
            ..LogConfig::default()
        };
        open(dir, cfg, clock)
    }

    #[test]
    fn interval_syncs_early_in_the_background_once_a_mib_is_waiting() {
        use crate::log::{FaultConfig, FaultyStorage};
        let dir = tempfile::tempdir().unwrap();
        let storage = FaultyStorage::new(FaultConfig { real_sync: false, ..FaultConfig::none(1) });
        let clock = Arc::new(ManualClock::new(0));
        let mut p = interval_partition(dir.path(), &storage, &clock);
        let before = storage.successful_syncs();
        storage.hold_syncs(true);
        // Under a MiB: no fsync is started (the interval is far away).
        let big = |i| Record::new(vec![1u8; 300 << 10], i);
        p.append(&[big(0), big(1)]).unwrap();
        assert!(!p.active().sync_running());
        // Past a MiB: one is handed to the sync thread, and the append does not wait for it
        // (the disk is held) — the batch is acknowledged and visible at once, as `Interval`
        // promises.
        p.append(&[big(2), big(3)]).unwrap();
        assert!(p.active().sync_running());
        assert_eq!(p.log_end_offset(), 4);
        // Another MiB while it runs: no second one (one at a time).
        p.append(&[big(4), big(5), big(6), big(7)]).unwrap();
        storage.hold_syncs(false);
        p.flush().unwrap();
        // The early fsync, then the flush's own.
        assert_eq!(storage.successful_syncs() - before, 2);
    }

    #[test]
    fn a_failed_background_interval_fsync_is_reported_and_cuts_back() {
        use crate::log::{FaultConfig, FaultyStorage};
        let dir = tempfile::tempdir().unwrap();
        let storage = FaultyStorage::new(FaultConfig { real_sync: false, ..FaultConfig::none(2) });
        let clock = Arc::new(ManualClock::new(0));
        let mut p = interval_partition(dir.path(), &storage, &clock);
        p.append(&[rec(0)]).unwrap();
        p.flush().unwrap();
        storage.hold_syncs(true);
        p.append(&[Record::new(vec![1u8; 600 << 10], 1), Record::new(vec![2u8; 600 << 10], 2)])
            .unwrap();
        assert!(p.active().sync_running());
        storage.set_config(FaultConfig {
            fsync_eio: 1.0,
            real_sync: false,
            ..FaultConfig::none(2)
        });
        storage.hold_syncs(false);
        // The next call that settles it sees the failure: cut back to the last good fsync
        // (the records after it were acknowledged under `Interval`, never promised durable),
        // and the segment refuses appends until reopened.
        let err = p.flush().unwrap_err();
        assert!(err.to_string().contains("fsync"), "{err}");
        assert_eq!(p.log_end_offset(), 1);
        assert!(p.append(&[rec(3)]).is_err());
    }

    #[test]
    fn append_read_roll_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1000));
        let mut p = open(dir.path(), config(600), &clock);
        let mut all = Vec::new();
        for b in 0..40 {
            let batch: Vec<Record> = (0..(b % 4 + 1)).map(|i| rec(b * 10 + i)).collect();
            let base = p.append(&batch).unwrap();
            assert_eq!(base, all.len() as u64);
            all.extend(batch);
            clock.advance(1);
        }
        assert!(p.segments().len() > 3, "segments roll at segment_bytes");
        assert!(p.segments().iter().all(|s| s.size_bytes <= 600));
        let check = |p: &Partition| {
            for from in 0..=all.len() {
                let got = p.read(from as u64, usize::MAX).unwrap();
                let want: Vec<_> = all[from..].to_vec();
                assert_eq!(got.iter().map(|s| s.record.clone()).collect::<Vec<_>>(), want);
                assert!(got.iter().zip(from as u64..).all(|(s, o)| s.offset == o));
                let two = p.read(from as u64, 2).unwrap();
                assert_eq!(two.len(), want.len().min(2));
            }
            let end = all.len() as u64;
            assert!(matches!(p.read(end + 1, 1), Err(LogError::OffsetOutOfRange { .. })));
        };
        check(&p);
        drop(p);
        let p = open(dir.path(), config(600), &clock);
        assert!(p.recovery_events().is_empty(), "{:?}", p.recovery_events());
        assert_eq!(p.log_end_offset(), all.len() as u64);
        check(&p);
    }

    #[test]
    fn truncate_to_cuts_at_batch_boundaries_and_appends_continue() {
        let clock = Arc::new(ManualClock::new(0));
        // Batches of 3 records over several segments; cut at every offset.
        let batches: Vec<Vec<Record>> =
            (0..12).map(|b| (0..3).map(|i| rec(b * 3 + i)).collect()).collect();
        let all: Vec<Record> = batches.concat();
        for cut in 0..=all.len() as u64 + 1 {
            let dir = tempfile::tempdir().unwrap();
            let mut p = open(dir.path(), config(300), &clock);
            for b in &batches {
                p.append(b).unwrap();
            }
            assert!(p.segments().len() > 2);
            let end = p.truncate_to(cut).unwrap();
            // Whole batches only: the cut rounds down to the batch holding `cut`.
            let want_end = (cut.min(all.len() as u64) / 3) * 3;
            assert_eq!(end, want_end, "cut at {cut}");
            let kept: Vec<Record> =
                p.read(0, usize::MAX).unwrap().into_iter().map(|s| s.record).collect();
            assert_eq!(kept, all[..end as usize].to_vec());
            // Appends continue at the new end, and a reopen finds exactly this log.
            assert_eq!(p.append(&[rec(100)]).unwrap(), end);
            drop(p);
            let p = open(dir.path(), config(300), &clock);
            assert!(p.recovery_events().is_empty(), "{:?}", p.recovery_events());
            assert_eq!(p.log_end_offset(), end + 1);
            let last = p.read(end, 1).unwrap();
            assert_eq!(last[0].record, rec(100));
        }
    }

    #[test]
    fn oversized_batch_gets_its_own_segment() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let mut p = open(dir.path(), config(200), &clock);
        p.append(&[rec(1)]).unwrap();
        p.append(&[Record::new(vec![7; 1000], 5)]).unwrap();
        p.append(&[rec(2)]).unwrap();
        let segs = p.segments();
        assert_eq!(segs.len(), 3);
        assert_eq!((segs[1].base_offset, segs[1].next_offset), (1, 2));
        assert!(segs[1].size_bytes > 1000);
        assert_eq!(p.read(1, 1).unwrap()[0].record.value, vec![7; 1000]);
    }

    #[test]
    fn segment_ms_rolls_by_clock_and_roll_on_empty_is_noop() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let cfg = LogConfig { segment_ms: Some(100), ..config(1 << 20) };
        let mut p = open(dir.path(), cfg.clone(), &clock);
        p.roll().unwrap();
        assert_eq!(p.segments().len(), 1);
        p.append(&[rec(1)]).unwrap();
        clock.advance(99);
        p.append(&[rec(2)]).unwrap();
        assert_eq!(p.segments().len(), 1);
        clock.advance(1);
        p.append(&[rec(3)]).unwrap();
        assert_eq!(p.segments().len(), 2);
        drop(p);
        // The first append time of the active segment survives a reopen.
        let mut p = open(dir.path(), cfg, &clock);
        clock.advance(100);
        p.append(&[rec(4)]).unwrap();
        assert_eq!(p.segments().len(), 3);
    }

    #[test]
    fn offset_for_time_with_out_of_order_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let mut p = open(dir.path(), config(400), &clock);
        let ts: Vec<i64> = vec![5, 3, 9, 1, 12, 7, 7, 20, 2, 15, 30, 11, 25, 4, 40, 39];
        for chunk in ts.chunks(3) {
            let batch: Vec<_> = chunk.iter().map(|&t| Record::new(vec![1; 30], t)).collect();
            p.append(&batch).unwrap();
        }
        assert!(p.segments().len() > 1);
        let check = |p: &Partition| {
            for t in -1..=42 {
                let want = ts.iter().position(|&x| x >= t).map(|i| i as u64);
                assert_eq!(p.offset_for_time(t).unwrap(), want, "T={t}");
            }
        };
        check(&p);
        drop(p);
        let p = open(dir.path(), config(400), &clock);
        check(&p);
        let segs = p.segments();
        assert_eq!(segs[0].time_range, Some((3, 9)));
    }

    #[test]
    fn index_lookup_uses_sparse_entries() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let mut p = open(dir.path(), config(1 << 20), &clock);
        for i in 0..200 {
            p.append(&[rec(i)]).unwrap();
        }
        let idx = std::fs::read(dir.path().join("00000000000000000000.index")).unwrap();
        let n = idx.len() / 8;
        assert!(n > 10 && n < 200, "sparse index has {n} entries");
        let tidx = std::fs::read(dir.path().join("00000000000000000000.timeindex")).unwrap();
        assert_eq!(tidx.len() / 12, n);
        for from in [0u64, 1, 57, 99, 150, 199] {
            assert_eq!(p.read(from, 1).unwrap()[0].record, rec(from as i64));
        }
    }

    #[test]
    fn retention_by_time_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let cfg = LogConfig { retention_ms: Some(1000), ..config(300) };
        let mut p = open(dir.path(), cfg, &clock);
        for i in 0..30 {
            p.append(&[rec(i), rec(i)]).unwrap();
            clock.advance(100);
        }
        let segs = p.segments();
        assert!(segs.len() > 4);
        // now = 3000: segments whose newest append is before 2000 go.
        let r = p.enforce_retention().unwrap();
        assert!(!r.deleted_segments.is_empty());
        assert!(r.deleted_segments.iter().all(|f| !f.exists()));
        let start = p.log_start_offset();
        assert!(start > 0);
        assert!(p.segments()[0].base_offset == start);
        assert!(matches!(p.read(start - 1, 1), Err(LogError::OffsetOutOfRange { .. })));
        assert_eq!(p.read(start, 1).unwrap()[0].offset, start);
        // Far in the future everything closed expires, the active segment stays.
        clock.advance(1_000_000);
        p.enforce_retention().unwrap();
        assert_eq!(p.segments().len(), 1);
        assert_eq!(p.log_start_offset(), p.segments()[0].base_offset);

        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig { retention_bytes: Some(700), ..config(300) };
        let mut p = open(dir.path(), cfg.clone(), &clock);
        for i in 0..30 {
            p.append(&[rec(i)]).unwrap();
        }
        let before = p.size_bytes();
        let r = p.enforce_retention().unwrap();
        assert_eq!(before - r.deleted_bytes, p.size_bytes());
        assert!(p.size_bytes() <= 700 || p.segments().len() == 1);
        let start = p.log_start_offset();
        drop(p);
        let p = open(dir.path(), cfg, &clock);
        assert_eq!(p.log_start_offset(), start);
        assert_eq!(p.read(start, usize::MAX).unwrap().len() as u64, 30 - start);
    }
}
