//! A consumer of one topic: a position per partition, optionally in a consumer group.

use super::error::Result;
use super::{Log, Offset, StoredRecord, TimestampMs};

/// Where a consumer starts in each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    /// The log start offset.
    Earliest,
    /// The log end offset (only new records).
    Latest,
    /// The group's committed offset, or the log start if none was committed.
    Committed,
    /// The first offset whose timestamp is ≥ this (the log end if none).
    Timestamp(TimestampMs),
}

/// Reads a topic partition by partition, remembering its position.
#[derive(Debug)]
pub struct Consumer {
    _topic: String,
}

impl Consumer {
    /// A consumer of `topic`, in `group` if given (needed for `Committed` and `commit`).
    pub fn new(log: &Log, topic: &str, group: Option<&str>, start: StartPosition) -> Result<Self> {
        let _ = (log, topic, group, start);
        todo!("log core")
    }
    /// Up to `max_records` records from `partition` at the consumer's position, which advances.
    pub fn poll_partition(
        &mut self,
        log: &Log,
        partition: u32,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>> {
        let _ = (log, partition, max_records);
        todo!("log core")
    }
    /// Up to `max_records` records in total, taken from the partitions in turn, with their
    /// partition numbers.
    pub fn poll(&mut self, log: &Log, max_records: usize) -> Result<Vec<(u32, StoredRecord)>> {
        let _ = (log, max_records);
        todo!("log core")
    }
    /// The next offset this consumer will read from `partition`.
    pub fn position(&self, partition: u32) -> Offset {
        let _ = partition;
        todo!("log core")
    }
    /// Moves the position in `partition`.
    pub fn seek(&mut self, partition: u32, offset: Offset) {
        let _ = (partition, offset);
        todo!("log core")
    }
    /// Commits every position to the consumer's group.
    pub fn commit(&self, log: &mut Log) -> Result<()> {
        let _ = log;
        todo!("log core")
    }
}
