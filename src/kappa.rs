//! Kappa: stream processing only. One job reads the log and maintains the served table; the
//! answer is whatever the live job has counted. (Reprocessing — replaying the log into a new
//! table and switching — arrives with the architectures issue.)

use crate::log::{Log, LogError, Offset, StartPosition, TimestampMs};
use crate::query::Table;
use crate::scenario::Speed;
use crate::speed::StreamJob;

/// The live kappa job and its table.
#[derive(Debug)]
pub struct KappaJob {
    job: StreamJob,
    table: Table,
}

impl KappaJob {
    /// A job reading `topic` from the beginning.
    pub fn new(
        log: &Log,
        topic: &str,
        window_ms: i64,
        cfg: &Speed,
        now: TimestampMs,
    ) -> Result<Self, LogError> {
        Ok(KappaJob {
            job: StreamJob::new(log, topic, StartPosition::Earliest, window_ms, cfg, now)?,
            table: Table::new(),
        })
    }

    /// Advances to `now`; returns (visible at, partition, offset) of events that became visible.
    pub fn tick(
        &mut self,
        now: TimestampMs,
        log: &Log,
    ) -> Result<Vec<(TimestampMs, u32, Offset)>, LogError> {
        let mut shown = Vec::new();
        for processed in self.job.tick(now, log)? {
            for (partition, offset, cell) in processed.counted {
                *self.table.entry(cell).or_insert(0) += 1;
                shown.push((processed.visible_at, partition, offset));
            }
        }
        Ok(shown)
    }

    /// The served table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Whether the job has read and shown everything.
    pub fn caught_up(&self, log: &Log) -> Result<bool, LogError> {
        self.job.caught_up(log)
    }

    /// Events dropped as too late.
    pub fn late_dropped(&self) -> u64 {
        self.job.late_dropped()
    }
}
