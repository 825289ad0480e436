//! `lambda`: a batch layer and a speed layer, each query written twice — DataFrame code for
//! the batch layer (`batch/lambda_polars.rs`), hand-written incremental operators for the speed
//! layer (`speed/operators.rs`) — merged by the serving layer.

use std::sync::Arc;

use super::{ArchContext, ArchError, ArchStats, Architecture, Visibility};
use crate::batch::lambda_polars::PolarsBatch;
use crate::batch::{BatchCompute, BatchLayer};
use crate::log::{Log, Offset, TimestampMs};
use crate::query::Table;
use crate::scenario::Fault;
use crate::serving::{self, AuditLog};
use crate::speed::operators::HandWritten;
use crate::speed::{SpeedLayer, StreamCompute};

/// Builds `lambda`.
pub fn build(ctx: &ArchContext<'_>, log: &Log) -> Result<Box<dyn Architecture>, ArchError> {
    let batch = Arc::new(PolarsBatch::new());
    // Only lambda has two code paths, so only lambda's speed path can drift from its batch path.
    let speed = Arc::new(HandWritten::with_drift(ctx.queries.clone(), ctx.scenario.speed.drift));
    Ok(Box::new(LambdaArch::new("lambda", ctx, log, batch, speed, 0)?))
}

/// A Lambda architecture from any batch and stream computation. `lambda` and `lambda-unified`
/// differ only in what they plug in here.
#[derive(Debug)]
pub struct LambdaArch {
    id: &'static str,
    topic: String,
    batch: BatchLayer,
    speed: SpeedLayer,
    audit: AuditLog,
    /// Subtracted from each batch cut-off handed to the speed layer: 0 in every real variant.
    /// Tests set 1 to build the classic off-by-one handoff bug and check the audit sees it.
    cutoff_skew: Offset,
    peak_cells: u64,
}

impl LambdaArch {
    /// A Lambda architecture computing batch views with `batch` and speed views with `speed`.
    pub fn new(
        id: &'static str,
        ctx: &ArchContext<'_>,
        log: &Log,
        batch: Arc<dyn BatchCompute>,
        speed: Arc<dyn StreamCompute>,
        cutoff_skew: Offset,
    ) -> Result<Self, ArchError> {
        Ok(LambdaArch {
            id,
            topic: ctx.topic.to_owned(),
            batch: BatchLayer::new(ctx.topic, batch, ctx.queries.clone(), &ctx.scenario.batch, 0),
            speed: SpeedLayer::new(
                log,
                ctx.topic,
                &format!("{id}.speed"),
                speed,
                ctx.queries.clone(),
                &ctx.scenario.speed,
                0,
            )?,
            audit: AuditLog::default(),
            cutoff_skew,
            peak_cells: 0,
        })
    }
}

impl Architecture for LambdaArch {
    fn id(&self) -> &'static str {
        self.id
    }

    fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<Visibility, ArchError> {
        let mut visibility = Visibility::default();
        let batch = self.batch.tick(now, log)?;
        if let (Some(at), Some(view)) = (batch.published_at, self.batch.published()) {
            self.speed.expire_before(view.generation);
            visibility.prefixes.push((at, view.cutoff.clone()));
        }
        if let Some((generation, cutoff)) = batch.started {
            let skewed = cutoff.iter().map(|c| c.saturating_sub(self.cutoff_skew)).collect();
            self.speed.start_generation(generation, skewed);
        }
        visibility.events = self.speed.tick(now, log)?;
        let partitions = log.topic(&self.topic)?.partition_count() as usize;
        let cutoff =
            self.batch.published().map_or_else(|| vec![0; partitions], |v| v.cutoff.clone());
        self.audit.record(self.speed.audit(&cutoff));
        let cells = self.speed.cells() + self.batch.published().map_or(0, |v| v.view.len());
        self.peak_cells = self.peak_cells.max(cells as u64);
        Ok(visibility)
    }

    fn query(&mut self, _now: TimestampMs, _log: &Log) -> Result<Table, ArchError> {
        Ok(serving::merge(self.batch.published().map(|v| &v.view), &self.speed.view()))
    }

    fn quiescent(&self, log: &Log) -> Result<bool, ArchError> {
        Ok(self.batch.caught_up(log)? && self.speed.caught_up(log)?)
    }

    fn fault(&mut self, fault: &Fault, now: TimestampMs, _log: &Log) -> Result<(), ArchError> {
        match fault {
            Fault::SpeedCrash { down_ms, restore_state, .. } => {
                self.speed.crash(now, *down_ms, *restore_state)
            }
            Fault::BatchFailure { retry_ms, .. } => self.batch.fail_next(*retry_ms),
            Fault::ProducerStall { .. } => {}
        }
        Ok(())
    }

    fn stats(&self) -> ArchStats {
        let job = self.speed.job();
        ArchStats {
            late_events: job.late_events(),
            side_output_events: job.side_output().len() as u64,
            batch_jobs: self.batch.jobs_run(),
            batch_events_read: self.batch.events_read(),
            stream_events_read: job.events_read(),
            stream_crashes: job.crashes(),
            events_reprocessed_after_crash: job.events_reprocessed(),
            batch_failures: self.batch.failures(),
            batch_busy_ms: self.batch.busy_ms(),
            stream_busy_ms: job.busy_ms(),
            audit_max_double_counted: self.audit.max_double_counted,
            audit_max_missing: self.audit.max_missing,
            peak_table_cells: self.peak_cells,
            ..ArchStats::default()
        }
    }
}
