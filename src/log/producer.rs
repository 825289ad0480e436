//! A batching producer: records wait up to `linger_ms` or until `max_batch_bytes`, then go to
//! the log as one batch per partition.

use std::collections::BTreeMap;

use super::batch;
use super::error::Result;
use super::{Log, Offset, Record, TimestampMs};

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

/// Records waiting for one partition.
#[derive(Debug)]
struct Pending {
    records: Vec<Record>,
    /// Encoded size of the batch they would make.
    bytes: usize,
    /// Clock reading when the oldest record was buffered.
    since_ms: TimestampMs,
}

/// Buffers records per partition and appends them in batches.
#[derive(Debug)]
pub struct Producer {
    config: ProducerConfig,
    /// Keyed by (topic, partition); ordered so batches go out in a deterministic order.
    pending: BTreeMap<(String, u32), Pending>,
}

impl Producer {
    /// A producer with `config`.
    pub fn new(config: ProducerConfig) -> Self {
        Producer { config, pending: BTreeMap::new() }
    }
    /// Buffers `record` for `topic` (partition chosen by the topic's partitioner); sends any batch
    /// that is full or has lingered long enough. Returns the acks of batches sent by this call
    /// and the partition the record went to.
    pub fn send(&mut self, log: &Log, topic: &str, record: Record) -> Result<(u32, Vec<Ack>)> {
        let partition = log.topic(topic)?.partition_for(record.key.as_deref());
        let now = log.clock().now_ms();
        let size = batch::record_encoded_len(&record);
        let key = (topic.to_owned(), partition);
        let mut acks = Vec::new();
        // Send what is buffered first if this record would overflow the batch.
        if self.pending.get(&key).is_some_and(|p| p.bytes + size > self.config.max_batch_bytes) {
            acks.extend(self.send_one(log, &key)?);
        }
        let p = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            records: Vec::new(),
            bytes: batch::BATCH_OVERHEAD,
            since_ms: now,
        });
        p.records.push(record);
        p.bytes += size;
        if p.bytes >= self.config.max_batch_bytes {
            acks.extend(self.send_one(log, &key)?);
        }
        acks.extend(self.poll(log)?);
        Ok((partition, acks))
    }
    /// Sends batches that have lingered `linger_ms` by the log's clock.
    pub fn poll(&mut self, log: &Log) -> Result<Vec<Ack>> {
        let now = log.clock().now_ms();
        let due: Vec<_> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_sub(p.since_ms) >= self.config.linger_ms)
            .map(|(k, _)| k.clone())
            .collect();
        self.send_keys(log, due)
    }
    /// Sends every buffered record now.
    pub fn flush(&mut self, log: &Log) -> Result<Vec<Ack>> {
        let all: Vec<_> = self.pending.keys().cloned().collect();
        self.send_keys(log, all)
    }
    /// Records buffered and not yet acknowledged.
    pub fn pending_records(&self) -> usize {
        self.pending.values().map(|p| p.records.len()).sum()
    }

    fn send_keys(&mut self, log: &Log, keys: Vec<(String, u32)>) -> Result<Vec<Ack>> {
        let mut acks = Vec::new();
        for k in keys {
            acks.extend(self.send_one(log, &k)?);
        }
        Ok(acks)
    }

    /// Appends one partition's buffered records as a batch. On failure the records stay
    /// buffered, so nothing unacknowledged is silently dropped.
    fn send_one(&mut self, log: &Log, key: &(String, u32)) -> Result<Option<Ack>> {
        let Some(p) = self.pending.remove(key) else { return Ok(None) };
        let result = log
            .topic(&key.0)
            .and_then(|t| t.partition(key.1))
            .and_then(|part| part.append(&p.records));
        match result {
            Ok(base_offset) => Ok(Some(Ack {
                topic: key.0.clone(),
                partition: key.1,
                base_offset,
                record_count: p.records.len() as u32,
            })),
            Err(e) => {
                self.pending.insert(key.clone(), p);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::log::{LogConfig, ManualClock};

    #[test]
    fn linger_and_max_bytes_with_manual_clock() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let mut log = Log::open(dir.path(), LogConfig::default(), clock.clone()).unwrap();
        log.create_topic("t", 1).unwrap();
        let mut prod = Producer::new(ProducerConfig { linger_ms: 10, max_batch_bytes: 300 });
        let (p, acks) = prod.send(&log, "t", Record::new(vec![0; 50], 1)).unwrap();
        assert_eq!(p, 0);
        assert!(acks.is_empty());
        clock.advance(9);
        assert!(prod.poll(&log).unwrap().is_empty());
        assert_eq!(prod.pending_records(), 1);
        clock.advance(1);
        let acks = prod.poll(&log).unwrap();
        assert_eq!(acks.len(), 1);
        assert_eq!((acks[0].base_offset, acks[0].record_count), (0, 1));
        assert_eq!(prod.pending_records(), 0);

        // ~70 bytes per record: the fourth would overflow 300 bytes and sends the first three.
        let mut acks = Vec::new();
        for i in 0..4 {
            acks.extend(prod.send(&log, "t", Record::new(vec![0; 50], i)).unwrap().1);
        }
        assert_eq!(acks.len(), 1);
        assert_eq!((acks[0].base_offset, acks[0].record_count), (1, 3));
        assert_eq!(prod.pending_records(), 1);
        let acks = prod.flush(&log).unwrap();
        assert_eq!((acks[0].base_offset, acks[0].record_count), (4, 1));
        let p = log.topic("t").unwrap().partition(0).unwrap();
        assert_eq!(p.log_end_offset(), 5);
        assert!(matches!(
            prod.send(&log, "nope", Record::new("x", 0)),
            Err(crate::log::LogError::UnknownTopic(_))
        ));
    }
}
