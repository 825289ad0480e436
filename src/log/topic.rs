//! Topics and the log directory that holds them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::Result;
use super::{Clock, LogConfig, Offset, Partition};

/// Something recovery did on open, for `describe` and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryEvent {
    /// A torn or corrupt tail of an active segment was cut at `position` (`bytes` removed).
    Truncated {
        /// The segment file.
        file: PathBuf,
        /// Byte position of the cut.
        position: u64,
        /// Bytes removed.
        bytes: u64,
    },
    /// A missing or inconsistent index was rebuilt from its segment.
    IndexRebuilt {
        /// The index file.
        file: PathBuf,
    },
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segment files deleted.
    pub deleted_segments: Vec<PathBuf>,
    /// Bytes freed.
    pub deleted_bytes: u64,
}

/// A topic: a fixed number of partitions and a partitioner.
#[derive(Debug)]
pub struct Topic {
    _name: String,
}

impl Topic {
    /// The topic's name.
    pub fn name(&self) -> &str {
        todo!("log core")
    }
    /// Number of partitions.
    pub fn partition_count(&self) -> u32 {
        todo!("log core")
    }
    /// The partition for a record: a stable hash of the key modulo the partition count, or
    /// round-robin for records without a key.
    pub fn partition_for(&mut self, key: Option<&[u8]>) -> u32 {
        let _ = key;
        todo!("log core")
    }
    /// One partition.
    pub fn partition(&self, partition: u32) -> Result<&Partition> {
        let _ = partition;
        todo!("log core")
    }
    /// One partition, to append to.
    pub fn partition_mut(&mut self, partition: u32) -> Result<&mut Partition> {
        let _ = partition;
        todo!("log core")
    }
}

/// A log directory: topics, their partitions, and consumer-group offsets.
#[derive(Debug)]
pub struct Log {
    _dir: PathBuf,
    _config: LogConfig,
    _clock: Arc<dyn Clock>,
}

impl Log {
    /// Opens the log in `dir` (creating it if needed), recovering every topic found there.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let _ = (dir.as_ref(), config, clock);
        todo!("log core")
    }
    /// The directory.
    pub fn dir(&self) -> &Path {
        todo!("log core")
    }
    /// The clock the log stamps appends with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        todo!("log core")
    }
    /// Creates a topic; a no-op if it exists with the same partition count.
    pub fn create_topic(&mut self, name: &str, partitions: u32) -> Result<()> {
        let _ = (name, partitions);
        todo!("log core")
    }
    /// A topic by name.
    pub fn topic(&self, name: &str) -> Result<&Topic> {
        let _ = name;
        todo!("log core")
    }
    /// A topic by name, to append to.
    pub fn topic_mut(&mut self, name: &str) -> Result<&mut Topic> {
        let _ = name;
        todo!("log core")
    }
    /// Topic names, sorted.
    pub fn topic_names(&self) -> Vec<String> {
        todo!("log core")
    }
    /// What recovery did when the log was opened.
    pub fn recovery_events(&self) -> &[RecoveryEvent] {
        todo!("log core")
    }
    /// Deletes closed segments beyond the retention limits, in every partition.
    pub fn enforce_retention(&mut self) -> Result<RetentionReport> {
        todo!("log core")
    }
    /// Persists a consumer group's committed offset for a partition (atomically, durably).
    pub fn commit_offset(
        &mut self,
        group: &str,
        topic: &str,
        partition: u32,
        offset: Offset,
    ) -> Result<()> {
        let _ = (group, topic, partition, offset);
        todo!("log core")
    }
    /// A consumer group's committed offset for a partition, if any.
    pub fn committed_offset(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<Offset>> {
        let _ = (group, topic, partition);
        todo!("log core")
    }
}
