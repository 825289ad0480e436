//! `batch-lake`: the early data lake. Scheduled batch jobs recompute every table from the whole
//! log; users get the last published table, stale by the interval plus the job's duration.

use std::sync::Arc;

use super::{ArchContext, ArchError, ArchStats, Architecture, Visibility};
use crate::batch::BatchLayer;
use crate::batch::lambda_polars::PolarsBatch;
use crate::log::{Log, TimestampMs};
use crate::query::{QuerySet, Table, TrackedTable, present};
use crate::scenario::Fault;

/// Builds `batch-lake`.
pub fn build(ctx: &ArchContext<'_>, _log: &Log) -> Result<Box<dyn Architecture>, ArchError> {
    let compute = Arc::new(PolarsBatch::with_cache(ctx.column_cache.clone()).publishing_counts());
    Ok(Box::new(BatchLake {
        column_cache: ctx.column_cache.clone(),
        batch: BatchLayer::new(ctx.topic, compute, ctx.queries.clone(), &ctx.scenario.batch, 0)
            .with_timing(ctx.timing.clone()),
        timeline: Vec::new(),
        served_batch: None,
    }))
}

/// Batch jobs and the last published table.
#[derive(Debug)]
pub struct BatchLake {
    batch: BatchLayer,
    timeline: Vec<(TimestampMs, &'static str)>,
    /// The batch view (its generation) in the served table `query_into` last updated; `None`
    /// before the first update.
    served_batch: Option<Option<u64>>,
    /// The run's shared column cache, for the batch code of a logic change.
    column_cache: Arc<crate::batch::columns::ColumnCache>,
}

impl Architecture for BatchLake {
    fn id(&self) -> &'static str {
        "batch-lake"
    }

    fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<Visibility, ArchError> {
        let mut visibility = Visibility::default();
        let tick = self.batch.tick(now, log)?;
        tick.events(now, &mut self.timeline);
        if let (Some(at), Some(view)) = (tick.published_at, self.batch.published()) {
            visibility.prefixes.push((at, view.cutoff.clone()));
        }
        Ok(visibility)
    }

    fn query(&mut self, _now: TimestampMs, _log: &Log) -> Result<Table, ArchError> {
        Ok(self.batch.published().map(|v| present(&v.view)).unwrap_or_default())
    }

    fn query_into(
        &mut self,
        _now: TimestampMs,
        _log: &Log,
        served: &mut TrackedTable,
    ) -> Result<(), ArchError> {
        // The answers change only when a batch job publishes: nothing to do in between.
        let published = self.batch.published().map(|v| v.generation);
        if self.served_batch != Some(published) {
            self.served_batch = Some(published);
            let view = self.batch.published().map(|v| &v.view);
            let cells = view.into_iter().flatten().map(|(cell, agg)| (cell, agg.present()));
            crate::serving::update_served(served, cells);
        }
        Ok(())
    }

    fn quiescent(&self, log: &Log) -> Result<bool, ArchError> {
        self.batch.caught_up(log)
    }

    fn fault(&mut self, fault: &Fault, _now: TimestampMs, _log: &Log) -> Result<(), ArchError> {
        if let Fault::BatchFailure { retry_ms, .. } = fault {
            self.batch.fail_next(*retry_ms);
        }
        Ok(())
    }

    fn timeline(&self) -> Vec<(TimestampMs, &'static str)> {
        self.timeline.clone()
    }

    fn logic_change(
        &mut self,
        queries: Arc<QuerySet>,
        now: TimestampMs,
        _log: &Log,
    ) -> Result<(), ArchError> {
        self.timeline.push((now, "batch code redeployed"));
        // The next batch job recomputes everything with the new logic.
        self.batch.set_compute(
            Arc::new(PolarsBatch::with_cache(self.column_cache.clone()).publishing_counts()),
            queries,
        );
        Ok(())
    }

    fn stats(&self) -> ArchStats {
        ArchStats {
            batch_jobs: self.batch.jobs_run(),
            batch_events_read: self.batch.events_read(),
            batch_busy_ms: self.batch.busy_ms(),
            batch_failures: self.batch.failures(),
            peak_table_cells: self.batch.published().map_or(0, |v| v.view.len() as u64),
            ..ArchStats::default()
        }
    }
}
