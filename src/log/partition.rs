//! One partition: an ordered list of segments, the last one active.

use std::path::PathBuf;
use std::sync::Arc;

use super::error::Result;
use super::{Clock, LogConfig, Offset, Record, StoredRecord, TimestampMs};

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
}

/// A partition of a topic: segments on disk, appended to at the end.
#[derive(Debug)]
pub struct Partition {
    _dir: PathBuf,
    _config: LogConfig,
    _clock: Arc<dyn Clock>,
}

impl Partition {
    /// Opens (recovering) or creates the partition stored in `dir`.
    pub fn open(dir: PathBuf, config: LogConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let _ = (dir, config, clock);
        todo!("log core")
    }

    /// Appends `records` as one batch; returns the offset of the first. Returns once the batch is
    /// as durable as the fsync policy promises. An empty slice appends nothing.
    pub fn append(&mut self, records: &[Record]) -> Result<Offset> {
        let _ = records;
        todo!("log core")
    }

    /// `fsync`s the active segment now, whatever the policy.
    pub fn flush(&mut self) -> Result<()> {
        todo!("log core")
    }

    /// Closes the active segment and starts a new one at the log end offset.
    pub fn roll(&mut self) -> Result<()> {
        todo!("log core")
    }

    /// Reads up to `max_records` records from offset `from` in offset order. `from` equal to the
    /// log end gives an empty vector; outside `[log_start, log_end]` is `OffsetOutOfRange`; a batch
    /// that fails its CRC is `Corrupt` (never returned as data).
    pub fn read(&self, from: Offset, max_records: usize) -> Result<Vec<StoredRecord>> {
        let _ = (from, max_records);
        todo!("log core")
    }

    /// Kafka's offsetsForTimes: the first offset whose timestamp is ≥ `timestamp_ms`, or `None`
    /// when no record is that late.
    pub fn offset_for_time(&self, timestamp_ms: TimestampMs) -> Result<Option<Offset>> {
        let _ = timestamp_ms;
        todo!("log core")
    }

    /// The first offset still stored (raised by retention).
    pub fn log_start_offset(&self) -> Offset {
        todo!("log core")
    }

    /// The offset the next appended record will get.
    pub fn log_end_offset(&self) -> Offset {
        todo!("log core")
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        todo!("log core")
    }

    /// Total bytes of the partition's `.log` files.
    pub fn size_bytes(&self) -> u64 {
        todo!("log core")
    }
}
