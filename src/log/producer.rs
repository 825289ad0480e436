//! A batching producer: records wait up to `linger_ms` or until `max_batch_bytes`, then go to
//! the log as one batch per partition.

use super::error::Result;
use super::{Log, Offset, Record};

/// Producer settings (Kafka's `linger.ms` and `batch.size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerConfig {
    /// How long a record may wait for its batch to fill (default 5 ms).
    pub linger_ms: i64,
    /// A batch is sent when it reaches this many bytes (default 16 KiB).
    pub max_batch_bytes: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig { linger_ms: 5, max_batch_bytes: 16 * 1024 }
    }
}

/// A batch acknowledged by the log: durable as the log's fsync policy promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset of the batch's first record.
    pub base_offset: Offset,
    /// Records in the batch.
    pub record_count: u32,
}

/// Buffers records per partition and appends them in batches.
#[derive(Debug)]
pub struct Producer {
    _config: ProducerConfig,
}

impl Producer {
    /// A producer with `config`.
    pub fn new(config: ProducerConfig) -> Self {
        let _ = config;
        todo!("log core")
    }
    /// Buffers `record` for `topic` (partition chosen by the topic's partitioner); sends any batch
    /// that is full or has lingered long enough. Returns the acks of batches sent by this call
    /// and the partition the record went to.
    pub fn send(&mut self, log: &mut Log, topic: &str, record: Record) -> Result<(u32, Vec<Ack>)> {
        let _ = (log, topic, record);
        todo!("log core")
    }
    /// Sends batches that have lingered `linger_ms` by the log's clock.
    pub fn poll(&mut self, log: &mut Log) -> Result<Vec<Ack>> {
        let _ = log;
        todo!("log core")
    }
    /// Sends every buffered record now.
    pub fn flush(&mut self, log: &mut Log) -> Result<Vec<Ack>> {
        let _ = log;
        todo!("log core")
    }
    /// Records buffered and not yet acknowledged.
    pub fn pending_records(&self) -> usize {
        todo!("log core")
    }
}
