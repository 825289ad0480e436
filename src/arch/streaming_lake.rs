//! `streaming-lake`: Kappa without a serving layer. The log holds the hot tail, closed segments
//! are tiered to cold Parquet files, and every query is computed when it is asked, from cold +
//! hot, with the one DataFrame implementation of each query (see [`crate::lake`]).
//!
//! Freshness: whatever is in the log when a query runs is in its answer, so an event appended
//! at `t` is visible at `t` + the query's duration. There is no job to wait for and no view to
//! publish; the only background work is tiering, which changes where a query reads an event,
//! never whether it counts it.

use super::{ArchContext, ArchError, ArchStats, Architecture, Visibility, log_end_offsets};
use crate::lake::Lake;
use crate::log::{Log, TimestampMs};
use std::sync::Arc;

use crate::query::{QuerySet, Table, TrackedTable};

/// Builds `streaming-lake`, its cold tier under `work_dir/cold`.
pub fn build(ctx: &ArchContext<'_>, log: &Log) -> Result<Box<dyn Architecture>, ArchError> {
    let mut lake = Lake::new(
        log,
        ctx.topic,
        ctx.queries.clone(),
        &ctx.scenario.lake,
        &ctx.work_dir.join("cold"),
    )?;
    lake.set_timing(&ctx.timing);
    lake.set_events_per_record(ctx.scenario.workload.events_per_record);
    Ok(Box::new(StreamingLake {
        topic: ctx.topic.to_owned(),
        lake,
        peak_cells: 0,
        query_busy_ms: 0,
        measured: ctx.timing.is_measured(),
        last_query_ms: 0,
    }))
}

/// The streaming lake as an [`Architecture`].
#[derive(Debug)]
pub struct StreamingLake {
    topic: String,
    lake: Lake,
    peak_cells: u64,
    /// Simulated ms spent answering queries (each one scans cold + hot); measured ms with
    /// measured timing.
    query_busy_ms: i64,
    /// Query durations are measured on the log's clock instead of the cost model.
    measured: bool,
    /// Measured duration of the last query, ms: how long a query started now would take.
    last_query_ms: i64,
}

impl StreamingLake {
    /// The lake inside (tierer, cold files, uncached query path).
    pub fn lake(&self) -> &Lake {
        &self.lake
    }
}

impl Architecture for StreamingLake {
    fn id(&self) -> &'static str {
        "streaming-lake"
    }

    fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<Visibility, ArchError> {
        self.lake.tick(now, log)?;
        self.peak_cells = self.peak_cells.max(self.lake.cold_cells() as u64);
        if self.measured {
            // A query started after reading the log end sees at least that prefix and answers
            // as long after as the last real query took. The clock is read after the offsets
            // (tiering above takes time), so every event counted was appended before it.
            let ends = log_end_offsets(log, &self.topic)?;
            let visible_at = log.clock().now_ms().max(now) + self.last_query_ms;
            return Ok(Visibility {
                events: Vec::new(),
                prefixes: vec![(visible_at, ends)],
                dropped: Vec::new(),
            });
        }
        // A query started now sees the whole log and answers after its cost.
        let visible_at = now + self.lake.query_cost_ms(log)?;
        Ok(Visibility {
            events: Vec::new(),
            prefixes: vec![(visible_at, log_end_offsets(log, &self.topic)?)],
            dropped: Vec::new(),
        })
    }

    fn query(&mut self, _now: TimestampMs, log: &Log) -> Result<Table, ArchError> {
        if !self.measured {
            self.query_busy_ms += self.lake.query_cost_ms(log)?;
            return self.lake.query(log);
        }
        let started = log.clock().now_ms();
        let table = self.lake.query(log)?;
        self.last_query_ms = log.clock().now_ms().saturating_sub(started);
        self.query_busy_ms += self.last_query_ms;
        Ok(table)
    }

    fn query_into(
        &mut self,
        now: TimestampMs,
        log: &Log,
        served: &mut TrackedTable,
    ) -> Result<(), ArchError> {
        if self.measured {
            let table = self.query(now, log)?;
            served.replace(table);
            return Ok(());
        }
        self.query_busy_ms += self.lake.query_cost_ms(log)?;
        self.lake.update_served(log, served)
    }

    fn logic_change(
        &mut self,
        queries: Arc<QuerySet>,
        _now: TimestampMs,
        _log: &Log,
    ) -> Result<(), ArchError> {
        self.lake.set_queries(queries)
    }

    fn cold_bytes(&self) -> u64 {
        self.lake.tierer().files().iter().map(|f| f.bytes).sum()
    }

    fn quiescent(&self, log: &Log) -> Result<bool, ArchError> {
        self.lake.idle(log)
    }

    fn stats(&self) -> ArchStats {
        let tierer = self.lake.tierer();
        ArchStats {
            cold_files: tierer.files_written(),
            max_lake_lag_events: tierer.max_lag(),
            lake_busy_ms: tierer.busy_ms() + self.query_busy_ms,
            peak_table_cells: self.peak_cells,
            ..ArchStats::default()
        }
    }
}
