//! A consumer of one topic: a position per partition, optionally in a consumer group.

use super::error::{LogError, Result};
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
    topic: String,
    group: Option<String>,
    /// Next offset to read, per partition.
    positions: Vec<Offset>,
    /// Partition `poll` starts with next, so partitions take turns.
    next_partition: usize,
}

impl Consumer {
    /// A consumer of `topic`, in `group` if given (needed for `Committed` and `commit`).
    pub fn new(log: &Log, topic: &str, group: Option<&str>, start: StartPosition) -> Result<Self> {
        let t = log.topic(topic)?;
        let mut positions = Vec::with_capacity(t.partition_count() as usize);
        for (i, p) in t.partitions().iter().enumerate() {
            let pos = match &start {
                StartPosition::Earliest => p.log_start_offset(),
                StartPosition::Latest => p.log_end_offset(),
                StartPosition::Committed => {
                    let committed = match group {
                        Some(g) => log.committed_offset(g, topic, i as u32)?,
                        None => None,
                    };
                    committed.unwrap_or(p.log_start_offset())
                }
                StartPosition::Timestamp(t) => {
                    p.offset_for_time(*t)?.unwrap_or_else(|| p.log_end_offset())
                }
            };
            positions.push(pos);
        }
        Ok(Consumer {
            topic: topic.to_owned(),
            group: group.map(str::to_owned),
            positions,
            next_partition: 0,
        })
    }
    /// Up to `max_records` records from `partition` at the consumer's position, which advances.
    /// A position below the log start (deleted by retention) is `OffsetOutOfRange`; `seek` to
    /// recover, as Kafka's `auto.offset.reset=none` would have you do.
    pub fn poll_partition(
        &mut self,
        log: &Log,
        partition: u32,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>> {
        let p = log.topic(&self.topic)?.partition(partition)?;
        let Some(pos) = self.positions.get_mut(partition as usize) else {
            return Err(LogError::UnknownPartition { topic: self.topic.clone(), partition });
        };
        let records = p.read(*pos, max_records)?;
        if let Some(last) = records.last() {
            *pos = last.offset + 1;
        }
        Ok(records)
    }
    /// Up to `max_records` records in total, taken from the partitions in turn, with their
    /// partition numbers.
    pub fn poll(&mut self, log: &Log, max_records: usize) -> Result<Vec<(u32, StoredRecord)>> {
        let n = self.positions.len();
        let mut out = Vec::new();
        let first = self.next_partition;
        self.next_partition = (first + 1) % n.max(1);
        for i in 0..n {
            if out.len() >= max_records {
                break;
            }
            let p = ((first + i) % n) as u32;
            let got = self.poll_partition(log, p, max_records - out.len())?;
            out.extend(got.into_iter().map(|r| (p, r)));
        }
        Ok(out)
    }
    /// The next offset this consumer will read from `partition`.
    pub fn position(&self, partition: u32) -> Offset {
        self.positions.get(partition as usize).copied().unwrap_or(0)
    }
    /// The next offset to read, per partition (partition `i` at index `i`).
    pub fn positions(&self) -> &[Offset] {
        &self.positions
    }
    /// Moves the position in `partition`.
    pub fn seek(&mut self, partition: u32, offset: Offset) {
        if let Some(p) = self.positions.get_mut(partition as usize) {
            *p = offset;
        }
    }
    /// Commits every position to the consumer's group (one atomic write).
    pub fn commit(&self, log: &Log) -> Result<()> {
        let Some(group) = &self.group else {
            return Err(LogError::NoGroup(self.topic.clone()));
        };
        let offsets: Vec<(u32, Offset)> =
            self.positions.iter().enumerate().map(|(i, &o)| (i as u32, o)).collect();
        log.commit_offsets(group, &self.topic, &offsets)
    }
}
