//! The batch layer's master dataset in columns: each log segment's events decoded once, by
//! this code, from the log, into typed columns kept in memory beside the segment, so a
//! recompute aggregates columns instead of parsing every record's text again.
//!
//! A Lambda master dataset is immutable and, in practice, stored columnar (Parquet on HDFS or
//! S3): the batch layer recomputes its views from *all* of it at every run, but it does not
//! re-parse raw text each time. The log is our master dataset, and its closed segments are
//! immutable; so the first recompute that reads a segment keeps its decoded columns
//! ([`SegmentColumns`]), and later ones read them. Every recompute still aggregates every
//! event below its cut-off: what is cached is the *decoding*, never an aggregate, so a new
//! query version (logic change) recomputes from the same columns with its new logic.
//!
//! **Validity.** Entries are keyed by the segment's content identity
//! ([`crate::log::SegmentUid`]): the log gives a segment a new uid whenever its records could
//! change (created, reopened by recovery, cut by truncation, rolled back after a failed
//! fsync), and under one uid records are only ever appended. So columns for offsets
//! `[base, x)` under a listed uid are exactly what decoding the log would give for any
//! `end ≤ x`; the active segment's columns are extended with the records appended since. At
//! every recompute, entries whose uid is no longer listed (a segment deleted by retention,
//! compaction or truncation) are dropped. Ranges without a uid (remote-only segments, the
//! compacted prefix) and segments whose offsets are not contiguous are decoded every time.
//!
//! **Memory.** About 33 bytes per event (key id, event time, value, weight, user id, event
//! type), bounded by the cache's budget ([`DEFAULT_BUDGET_BYTES`]): a segment that does not
//! fit is decoded at every recompute, as without a cache.
//!
//! **One cache per run.** `lambda`, `batch-lake` and `lambda-unified` read the same master
//! dataset, so a run gives them one cache ([`crate::arch::ArchContext::column_cache`]; the
//! unified runner folds its rows through its definitions, [`SegmentColumns::for_each_event`],
//! since session 7, when it stopped decoding the whole log at every job): the dataset is held
//! once, as a lake holds its columnar files once for every job that reads them. Until session
//! 6 each layer kept its own, and a long realtime run held the whole log in columns twice.
//! Which layer decodes a new segment first is whichever recomputes first; the others read
//! the columns. Only the newest segments are ever decoded after the first recompute (older
//! ones are immutable), so this moves little measured time between layers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::arch::ArchError;
use crate::log::{Offset, PartitionRef};
use crate::query::{FxBuild, Keys};
use crate::workload::{DecodeError, EventFields, EventType, decode_value};

/// Default memory budget of a [`ColumnCache`]: 512 MiB, about 16 M events.
pub const DEFAULT_BUDGET_BYTES: usize = 512 << 20;

/// The query-input fields of consecutive records of one segment, as typed columns. Row `i` is
/// the record at offset `base + i` (the builder checks the offsets are contiguous). Keys are
/// dictionary-encoded per segment: `key[i]` indexes [`SegmentColumns::name`].
#[derive(Debug, Clone)]
pub struct SegmentColumns {
    base: Offset,
    /// Whether every record visited had offset `base + row`, so rows map to offsets.
    contiguous: bool,
    /// Key → id; each distinct key's UTF-8 is checked once, when first seen.
    keys: Keys,
    pub(crate) key: Vec<u32>,
    pub(crate) event_time_ms: Vec<i64>,
    pub(crate) value: Vec<i64>,
    pub(crate) weight: Vec<u32>,
    pub(crate) user_id: Vec<u64>,
    pub(crate) event_type: Vec<EventType>,
    /// Rows whose weight is not 1 (0: counts are row counts).
    weighted_rows: usize,
}

impl SegmentColumns {
    /// Empty columns starting at offset `base`, with room for `rows` rows.
    fn new(base: Offset, rows: usize) -> Self {
        SegmentColumns {
            base,
            contiguous: true,
            keys: Keys::new(),
            key: Vec::with_capacity(rows),
            event_time_ms: Vec::with_capacity(rows),
            value: Vec::with_capacity(rows),
            weight: Vec::with_capacity(rows),
            user_id: Vec::with_capacity(rows),
            event_type: Vec::with_capacity(rows),
            weighted_rows: 0,
        }
    }

    /// Decodes the records of `partition` (number `p`) from offset `from` to `end` into new
    /// columns. Errors are the batch readers' ([`ArchError::Decode`] for the first record that
    /// is not an event).
    pub fn read(
        partition: PartitionRef<'_>,
        p: u32,
        from: Offset,
        end: Offset,
    ) -> Result<Self, ArchError> {
        let rows = usize::try_from(end.saturating_sub(from)).unwrap_or(0);
        let mut cols = SegmentColumns::new(from, rows);
        cols.extend(partition, p, end)?;
        Ok(cols)
    }

    /// Appends the records from [`SegmentColumns::next_offset`] up to `end`.
    fn extend(
        &mut self,
        partition: PartitionRef<'_>,
        p: u32,
        end: Offset,
    ) -> Result<(), ArchError> {
        let from = self.next_offset();
        // Room for exactly the records to come (offsets are contiguous in a segment, but for
        // a compacted one): kept columns live as long as their segment, and growing by
        // doubling left up to half of every column unused (57 B per event held instead of 33
        // in a long realtime run).
        let rows = usize::try_from(end.saturating_sub(from)).unwrap_or(0).min(1 << 24);
        self.key.reserve_exact(rows);
        self.event_time_ms.reserve_exact(rows);
        self.value.reserve_exact(rows);
        self.weight.reserve_exact(rows);
        self.user_id.reserve_exact(rows);
        self.event_type.reserve_exact(rows);
        super::visit_records(partition, p, from, end, |r| {
            let v = decode_value(r.value)?;
            let key = r.key.ok_or(DecodeError::MissingKey)?;
            let id = self.keys.id_bytes(key).map_err(|_| DecodeError::KeyNotText)?;
            self.contiguous &= r.offset == self.base + self.key.len() as u64;
            self.key.push(id);
            self.event_time_ms.push(r.timestamp_ms);
            self.value.push(v.value);
            self.weight.push(v.weight);
            self.weighted_rows += usize::from(v.weight != 1);
            self.user_id.push(v.user_id);
            self.event_type.push(v.event_type);
            Ok(())
        })?;
        Ok(())
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.key.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.key.is_empty()
    }

    /// Rows holding the records below offset `end` (all of them when rows do not map to
    /// offsets: such columns are only ever read for exactly one piece).
    pub fn rows_below(&self, end: Offset) -> usize {
        if self.contiguous {
            usize::try_from(end.saturating_sub(self.base)).unwrap_or(usize::MAX).min(self.len())
        } else {
            self.len()
        }
    }

    /// The offset after the last row (rows are contiguous offsets from the base).
    fn next_offset(&self) -> Offset {
        self.base + self.key.len() as u64
    }

    /// Distinct keys of the segment; ids are `0..keys()`.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// The key of id `id`.
    pub fn name(&self, id: u32) -> &str {
        self.keys.name(id)
    }

    /// Events the first `rows` rows stand for (the sum of their weights).
    pub fn events(&self, rows: usize) -> u64 {
        if self.weighted_rows == 0 {
            rows as u64
        } else {
            self.weight[..rows].iter().map(|&w| u64::from(w)).sum()
        }
    }

    /// The first `rows` rows read back as events, in row order: `visit(key id, event)`, for a
    /// runner that folds rows through code written per event (`lambda-unified`'s definitions)
    /// rather than over whole columns.
    ///
    /// Only the query-input fields are kept (those of
    /// [`crate::batch::lambda_polars::columns::QUERY_INPUT`], what every query reads, in both
    /// batch layers): an event read back has `page_id` 0 and `ad_type` banner, whatever the
    /// record held. Nothing is allocated per row: each distinct key's text is built once per
    /// call, and the event lent to `visit` is reused for the next row.
    pub fn for_each_event(&self, rows: usize, mut visit: impl FnMut(u32, &EventFields)) {
        let mut names: Vec<String> =
            (0..self.keys() as u32).map(|k| self.name(k).to_owned()).collect();
        // Fields the columns do not hold keep their defaults (page 0, banner).
        let mut event = EventFields::default();
        for i in 0..rows.min(self.len()) {
            let k = self.key[i];
            // The key's text moves into the event and back: no copy per row.
            event.key = std::mem::take(&mut names[k as usize]);
            event.user_id = self.user_id[i];
            event.event_type = self.event_type[i];
            event.value = self.value[i];
            event.event_time_ms = self.event_time_ms[i];
            event.weight = self.weight[i];
            visit(k, &event);
            names[k as usize] = std::mem::take(&mut event.key);
        }
    }

    /// Memory held, bytes (capacities, and the key dictionary roughly).
    pub fn bytes(&self) -> usize {
        use std::mem::size_of;
        self.key.capacity() * size_of::<u32>()
            + self.event_time_ms.capacity() * size_of::<i64>()
            + self.value.capacity() * size_of::<i64>()
            + self.weight.capacity() * size_of::<u32>()
            + self.user_id.capacity() * size_of::<u64>()
            + self.event_type.capacity() * size_of::<EventType>()
            + self.keys.bytes()
    }
}

/// What a [`ColumnCache`] did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Segments held now.
    pub segments: usize,
    /// Bytes held now.
    pub bytes: usize,
    /// Pieces served from cached columns without reading the log.
    pub hits: u64,
    /// Records decoded from the log (building, extending, or pieces that are not cached).
    pub records_decoded: u64,
    /// Entries dropped because their segment is gone or changed.
    pub invalidated: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<u64, Arc<SegmentColumns>, FxBuild>,
    stats: CacheStats,
}

/// Decoded columns of a log's segments, by segment uid, within a memory budget (see the module
/// documentation). Shared by the recomputes of a run's batch layers (segment uids are unique
/// in the process, so layers reading one topic find each other's columns); safe to use from
/// rayon tasks and from the realtime driver's threads.
#[derive(Debug)]
pub struct ColumnCache {
    budget_bytes: usize,
    inner: Mutex<Inner>,
}

impl Default for ColumnCache {
    fn default() -> Self {
        ColumnCache::new(DEFAULT_BUDGET_BYTES)
    }
}

impl ColumnCache {
    /// An empty cache holding at most about `budget_bytes`.
    pub fn new(budget_bytes: usize) -> Self {
        ColumnCache { budget_bytes, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the cache holds and did.
    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats { segments: inner.entries.len(), ..inner.stats }
    }

    /// Drops every entry whose uid is not in `live` (the segments listed now).
    pub(crate) fn retain(&self, live: &[u64]) {
        let mut inner = self.lock();
        let before = inner.entries.len();
        inner.entries.retain(|uid, _| live.contains(uid));
        let dropped = before - inner.entries.len();
        inner.stats.invalidated += dropped as u64;
        inner.stats.bytes = inner.entries.values().map(|c| c.bytes()).sum();
    }

    /// The columns of offsets `[piece.from, piece.end)` of `partition`: from the cache when a
    /// listed segment's columns cover them, else decoded from the log (and kept, within the
    /// budget, when the piece starts at its segment's base).
    pub(crate) fn columns(
        &self,
        partition: PartitionRef<'_>,
        piece: &super::Piece,
    ) -> Result<Arc<SegmentColumns>, ArchError> {
        let p = piece.partition;
        let Some(seg) = piece.segment.filter(|s| s.base_offset == piece.from) else {
            let cols = SegmentColumns::read(partition, p, piece.from, piece.end)?;
            self.lock().stats.records_decoded += cols.len() as u64;
            return Ok(Arc::new(cols));
        };
        let cached = {
            let mut inner = self.lock();
            match inner.entries.get(&seg.uid) {
                Some(c) if c.next_offset() >= piece.end => {
                    let c = c.clone();
                    inner.stats.hits += 1;
                    return Ok(c);
                }
                // Too short: taken out, so that extending it below copies nothing (unless a
                // concurrent recompute still reads it).
                Some(_) => {
                    let c = inner.entries.remove(&seg.uid);
                    let freed = c.as_ref().map_or(0, |c| c.bytes());
                    inner.stats.bytes = inner.stats.bytes.saturating_sub(freed);
                    c
                }
                None => None,
            }
        };
        // Build, or extend what the segment had when last read (the active segment grows).
        let mut cols = match cached {
            Some(c) => Arc::unwrap_or_clone(c),
            None => SegmentColumns::new(
                seg.base_offset,
                usize::try_from(seg.next_offset - seg.base_offset).unwrap_or(0),
            ),
        };
        let before = cols.len();
        cols.extend(partition, p, piece.end)?;
        // Kept columns are read, not extended, until the active segment grows again.
        cols.keys.release_cache();
        let cols = Arc::new(cols);
        let mut inner = self.lock();
        inner.stats.records_decoded += (cols.len() - before) as u64;
        let old = inner.entries.remove(&seg.uid).map_or(0, |c| c.bytes());
        let held = inner.stats.bytes - old.min(inner.stats.bytes);
        if cols.contiguous && held + cols.bytes() <= self.budget_bytes {
            inner.entries.insert(seg.uid, cols.clone());
            inner.stats.bytes = held + cols.bytes();
        } else {
            inner.stats.bytes = held;
        }
        Ok(cols)
    }
}
