//! A partition shared between threads: one lock per partition, held for one call at a time.
//!
//! In a realtime run the producer appends while the architectures read on other threads: the
//! speed layer polls the tail every few milliseconds, a batch job reads a prefix of millions of
//! records. The partition therefore sits behind an [`RwLock`], and nobody outside this module
//! ever holds the guard: every method of [`PartitionRef`] takes the lock for its own duration
//! and releases it before returning. A long reader is a loop of bounded [`PartitionRef::read`]
//! calls (the callers read in chunks of at most 50 000 records), so an append waits for at most
//! one chunk, and a poll of the tail waits for at most one append — never for a whole job.
//!
//! Why a lock per partition rather than a copy-on-write snapshot: the partition's state is
//! mostly open file handles and in-memory segment statistics, and reads go to the files with
//! positioned reads (`read_at`) through `&self`, so many readers proceed in parallel under the
//! read lock. A snapshot would have to clone segment lists on every append for no gain, and
//! would keep the storage internals (`segment.rs`) out of the picture entirely — this wrapper
//! changes nothing inside [`Partition`].
//!
//! Poisoning: a panic while holding the lock cannot leave a half-written batch visible (a batch
//! is written with one `write_all` and only counted once it is in the file), so a poisoned
//! lock is taken over rather than turned into a second panic.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::error::Result;
use super::{
    Offset, Partition, Record, RecordRef, RecoveryEvent, RetentionReport, SegmentInfo,
    StoredRecord, TimestampMs,
};

/// A handle on one partition of a shared [`super::Log`]. Cheap to copy; every call locks the
/// partition only for itself (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct PartitionRef<'a> {
    lock: &'a RwLock<Partition>,
}

impl<'a> PartitionRef<'a> {
    pub(crate) fn new(lock: &'a RwLock<Partition>) -> Self {
        PartitionRef { lock }
    }

    fn read_guard(&self) -> RwLockReadGuard<'a, Partition> {
        self.lock.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_guard(&self) -> RwLockWriteGuard<'a, Partition> {
        self.lock.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `records` as one batch; see [`Partition::append`]. Holds the write lock for the
    /// append (and its fsync, under `FsyncPolicy::Always`).
    pub fn append(&self, records: &[Record]) -> Result<Offset> {
        self.write_guard().append(records)
    }

    /// Appends a batch encoded by the producer; see [`Partition::append`].
    pub(crate) fn append_encoded(&self, batch: &mut super::batch::EncodedBatch) -> Result<Offset> {
        self.write_guard().append_encoded(batch)
    }

    /// Appends a batch encoded by the producer with group commit; see
    /// [`Partition::append_encoded_behind`].
    pub(crate) fn append_encoded_behind(
        &self,
        batch: &mut super::batch::EncodedBatch,
    ) -> Result<(Offset, bool)> {
        self.write_guard().append_encoded_behind(batch)
    }

    /// Moves group commit along without waiting; the offset before which batches in flight
    /// are durable. See `Partition::progress_for_ack`.
    pub(crate) fn progress_for_ack(&self) -> Result<Offset> {
        self.write_guard().progress_for_ack()
    }

    /// Settles every batch in flight before acknowledging them; see
    /// `Partition::settle_for_ack`.
    pub(crate) fn settle(&self) -> Result<()> {
        self.write_guard().settle_for_ack()
    }

    /// `fsync`s the active segment; see [`Partition::flush`].
    pub fn flush(&self) -> Result<()> {
        self.write_guard().flush()
    }

    /// Closes the active segment; see [`Partition::roll`].
    pub fn roll(&self) -> Result<()> {
        self.write_guard().roll()
    }

    /// Deletes segments beyond retention; see [`Partition::enforce_retention`].
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        self.write_guard().enforce_retention()
    }

    /// Up to `max_records` records from `from`; see [`Partition::read`]. Holds the read lock
    /// for this one read: keep `max_records` bounded when reading a long range.
    pub fn read(&self, from: Offset, max_records: usize) -> Result<Vec<StoredRecord>> {
        self.read_guard().read(from, max_records)
    }

    /// Visits up to `max_records` records from `from` without copying them; see
    /// [`Partition::for_each_record`]. Holds the read lock for the whole visit: keep
    /// `max_records` bounded (e.g. 50 000) and loop, so appends wait for one chunk at most.
    pub fn for_each_record(
        &self,
        from: Offset,
        max_records: usize,
        visit: impl FnMut(RecordRef<'_>) -> std::ops::ControlFlow<()>,
    ) -> Result<Offset> {
        self.read_guard().for_each_record(from, max_records, visit)
    }

    /// Kafka's offsetsForTimes; see [`Partition::offset_for_time`].
    pub fn offset_for_time(&self, timestamp_ms: TimestampMs) -> Result<Option<Offset>> {
        self.read_guard().offset_for_time(timestamp_ms)
    }

    /// The first offset still stored.
    pub fn log_start_offset(&self) -> Offset {
        self.read_guard().log_start_offset()
    }

    /// The offset the next appended record will get.
    pub fn log_end_offset(&self) -> Offset {
        self.read_guard().log_end_offset()
    }

    /// `(log start, log end)` read under one lock, so the pair is consistent.
    pub fn offsets(&self) -> (Offset, Offset) {
        let p = self.read_guard();
        (p.log_start_offset(), p.log_end_offset())
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        self.read_guard().segments()
    }

    /// The local segments' content identities; see [`Partition::segment_uids`].
    pub fn segment_uids(&self) -> Vec<super::SegmentUid> {
        self.read_guard().segment_uids()
    }

    /// Total bytes of the partition's `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.read_guard().size_bytes()
    }

    /// Total bytes of the partition's remote `.log` objects (0 without a tier).
    pub fn remote_size_bytes(&self) -> u64 {
        self.read_guard().remote_size_bytes()
    }

    /// The remote segments as the manifest lists them (empty without a tier).
    pub fn remote_segments(&self) -> Vec<super::RemoteSegment> {
        self.read_guard().remote_segments()
    }

    /// The partition's directory.
    pub fn dir(&self) -> std::path::PathBuf {
        self.read_guard().dir().to_path_buf()
    }

    /// What recovery did when the partition was opened.
    pub fn recovery_events(&self) -> Vec<RecoveryEvent> {
        self.read_guard().recovery_events().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::log::{Log, LogConfig, ManualClock};

    const fn assert_send_sync<T: Send + Sync>() {}
    // The realtime driver shares one `Arc<Log>` between the producer and every architecture.
    const _: () = assert_send_sync::<Log>();
    const _: () = assert_send_sync::<PartitionRef<'static>>();

    fn rec(i: u64) -> Record {
        Record::new(i.to_le_bytes().to_vec(), i as i64)
    }

    /// One thread appends batches while others read the partition in small chunks from the
    /// start: every read must be an exact prefix-consistent run of what was appended (right
    /// offsets, right values, no gaps, no torn batch), whatever the interleaving.
    #[test]
    fn readers_see_exact_prefixes_while_a_writer_appends() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 4096,
            fsync: crate::log::FsyncPolicy::Never,
            ..LogConfig::default()
        };
        let mut log = Log::open(dir.path(), config, Arc::new(ManualClock::new(0))).unwrap();
        log.create_topic("t", 2).unwrap();
        let log = &log;
        const TOTAL: u64 = 3000;
        std::thread::scope(|s| {
            s.spawn(move || {
                let p = log.topic("t").unwrap().partition(0).unwrap();
                let mut next = 0u64;
                while next < TOTAL {
                    let n = (next % 7 + 1).min(TOTAL - next);
                    let batch: Vec<Record> = (next..next + n).map(rec).collect();
                    assert_eq!(p.append(&batch).unwrap(), next);
                    next += n;
                }
            });
            for reader in 0..2usize {
                s.spawn(move || {
                    let p = log.topic("t").unwrap().partition(0).unwrap();
                    let mut offset = 0u64;
                    let mut reads = 0u64;
                    while offset < TOTAL {
                        let end = p.log_end_offset();
                        let got = p.read(offset, 5 + reader * 11).unwrap();
                        reads += 1;
                        // A read never returns less than it could: records below the end seen
                        // before the read are all there.
                        if end > offset {
                            assert!(!got.is_empty(), "read at {offset} below end {end} was empty");
                        }
                        for (i, r) in got.iter().enumerate() {
                            let want = offset + i as u64;
                            assert_eq!(r.offset, want);
                            assert_eq!(r.record, rec(want));
                        }
                        offset += got.len() as u64;
                    }
                    assert!(reads > 0);
                    // Nothing went to the other partition.
                    assert_eq!(log.topic("t").unwrap().partition(1).unwrap().log_end_offset(), 0);
                });
            }
        });
        let p = log.topic("t").unwrap().partition(0).unwrap();
        assert!(p.segments().len() > 1, "the writer rolled segments under the readers");
        assert_eq!(p.read(0, usize::MAX).unwrap().len() as u64, TOTAL);
    }
}
