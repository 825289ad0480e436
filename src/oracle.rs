//! The ground truth: exact answers recomputed from the log, as of any moment of a run.
//!
//! The oracle reads the records back from the log (not from the generator), so architectures
//! are checked against what was really stored. It is deliberately the simplest computation
//! there is: read every record, count it in its window, never drop anything, never guess.

use crate::log::{Log, LogError, Offset, TimestampMs};
use crate::query::{Cell, Table};

/// Exact answers of `key_window_count` over a topic, caught up with the log on demand.
#[derive(Debug)]
pub struct Oracle {
    topic: String,
    window_ms: i64,
    /// Next offset to read, per partition.
    positions: Vec<Offset>,
    /// Event time of every record read, per partition, indexed by offset.
    event_times: Vec<Vec<TimestampMs>>,
    table: Table,
}

impl Oracle {
    /// An oracle over `topic` that has read nothing yet.
    pub fn new(log: &Log, topic: &str, window_ms: i64) -> Result<Self, LogError> {
        let partitions = log.topic(topic)?.partition_count() as usize;
        Ok(Oracle {
            topic: topic.to_owned(),
            window_ms,
            positions: vec![0; partitions],
            event_times: vec![Vec::new(); partitions],
            table: Table::new(),
        })
    }

    /// Reads every record appended since the last call; returns the exact answers over the
    /// whole log as it is now.
    pub fn catch_up(&mut self, log: &Log) -> Result<&Table, LogError> {
        let topic = log.topic(&self.topic)?;
        for (p, position) in self.positions.iter_mut().enumerate() {
            let partition = topic.partition(p as u32)?;
            loop {
                let records = partition.read(*position, 50_000)?;
                let Some(last) = records.last() else { break };
                *position = last.offset + 1;
                for r in &records {
                    let key = String::from_utf8_lossy(r.record.key.as_deref().unwrap_or_default())
                        .into_owned();
                    let ts = r.record.timestamp_ms;
                    let cell = Cell {
                        key,
                        window_start_ms: ts.div_euclid(self.window_ms) * self.window_ms,
                    };
                    *self.table.entry(cell).or_insert(0) += 1;
                    self.event_times[p].push(ts);
                }
            }
        }
        Ok(&self.table)
    }

    /// The exact answers as of the last [`Oracle::catch_up`].
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Event times per partition, indexed by offset (for freshness).
    pub fn event_times(&self) -> &[Vec<TimestampMs>] {
        &self.event_times
    }

    /// Records read so far.
    pub fn len(&self) -> u64 {
        self.event_times.iter().map(|v| v.len() as u64).sum()
    }

    /// Whether nothing has been read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
