//! `lambda`: a batch layer and a speed layer, each query written twice — DataFrame code for
//! the batch layer (`batch/lambda_polars.rs`), hand-written incremental operators for the speed
//! layer (`speed/operators.rs`) — merged by the serving layer.

use std::sync::Arc;

use super::{ArchContext, ArchError, ArchStats, Architecture, Visibility};
use crate::batch::lambda_polars::PolarsBatch;
use crate::batch::{BatchCompute, BatchLayer};
use crate::log::{Log, Offset, TimestampMs};
use crate::query::{LiveChanges, QuerySet, Table, TrackedTable};
use crate::scenario::Fault;
use crate::serving::{self, AuditLog};
use crate::speed::operators::HandWritten;
use crate::speed::{SpeedLayer, StreamCompute};

/// Builds `lambda`.
pub fn build(ctx: &ArchContext<'_>, log: &Log) -> Result<Box<dyn Architecture>, ArchError> {
    let drift = ctx.scenario.speed.drift;
    let cache = ctx.column_cache.clone();
    let arch = LambdaArch::with_factories(
        "lambda",
        ctx,
        log,
        Arc::new(move |_| {
            Arc::new(PolarsBatch::with_cache(cache.clone())) as Arc<dyn BatchCompute>
        }),
        // Only lambda has two code paths, so only its speed path can drift from its batch path.
        Arc::new(move |q| Arc::new(HandWritten::with_drift(q, drift)) as Arc<dyn StreamCompute>),
    )?;
    Ok(Box::new(arch))
}

/// Builds the batch computation for a version of the queries.
pub type BatchFactory = Arc<dyn Fn(Arc<QuerySet>) -> Arc<dyn BatchCompute> + Send + Sync>;
/// Builds the stream computation for a version of the queries.
pub type StreamFactory = Arc<dyn Fn(Arc<QuerySet>) -> Arc<dyn StreamCompute> + Send + Sync>;

/// A Lambda architecture from any batch and stream computation. `lambda` and `lambda-unified`
/// differ only in what they plug in here.
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
    /// The batch view (its generation) in the served table [`Architecture::query_into`] last
    /// updated; `None` before the first update.
    served_batch: Option<Option<u64>>,
    batch_factory: BatchFactory,
    speed_factory: StreamFactory,
    timeline: Vec<(TimestampMs, &'static str)>,
}

impl std::fmt::Debug for LambdaArch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaArch")
            .field("id", &self.id)
            .field("batch", &self.batch)
            .field("speed", &self.speed)
            .finish_non_exhaustive()
    }
}

impl LambdaArch {
    /// A Lambda architecture whose code is built by factories, one call per logic version
    /// (the initial one, then one per [`crate::scenario::Fault::LogicChange`]).
    pub fn with_factories(
        id: &'static str,
        ctx: &ArchContext<'_>,
        log: &Log,
        batch_factory: BatchFactory,
        speed_factory: StreamFactory,
    ) -> Result<Self, ArchError> {
        let batch = batch_factory(ctx.queries.clone());
        let speed = speed_factory(ctx.queries.clone());
        let mut arch = LambdaArch::new(id, ctx, log, batch, speed, 0)?;
        arch.batch_factory = batch_factory;
        arch.speed_factory = speed_factory;
        Ok(arch)
    }

    /// A Lambda architecture computing batch views with `batch` and speed views with `speed`.
    pub fn new(
        id: &'static str,
        ctx: &ArchContext<'_>,
        log: &Log,
        batch: Arc<dyn BatchCompute>,
        speed: Arc<dyn StreamCompute>,
        cutoff_skew: Offset,
    ) -> Result<Self, ArchError> {
        let (batch_keep, speed_keep) = (batch.clone(), speed.clone());
        let mut speed_layer = SpeedLayer::new(
            log,
            ctx.topic,
            &format!("{id}.speed"),
            speed,
            ctx.queries.clone(),
            &ctx.scenario.speed,
            0,
        )?;
        speed_layer.set_timing(&ctx.timing);
        Ok(LambdaArch {
            id,
            topic: ctx.topic.to_owned(),
            batch: BatchLayer::new(ctx.topic, batch, ctx.queries.clone(), &ctx.scenario.batch, 0)
                .with_timing(ctx.timing.clone()),
            speed: speed_layer,
            audit: AuditLog::default(),
            cutoff_skew,
            peak_cells: 0,
            served_batch: None,
            // Without factories a logic change keeps the given code (tests' fixed variants).
            batch_factory: Arc::new(move |_| batch_keep.clone()),
            speed_factory: Arc::new(move |_| speed_keep.clone()),
            timeline: Vec::new(),
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
        batch.events(now, &mut self.timeline);
        if let (Some(at), Some(view)) = (batch.published_at, self.batch.published()) {
            self.speed.expire_before(view.generation, &view.cutoff);
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

    fn query_into(
        &mut self,
        _now: TimestampMs,
        _log: &Log,
        served: &mut TrackedTable,
    ) -> Result<(), ArchError> {
        // A new batch view changes any cell (and drops speed generations): the whole answer,
        // once per batch job. Between publishes only the cells the speed layer touched change.
        let published = self.batch.published().map(|v| v.generation);
        self.speed.track_changes();
        let changes = self.speed.take_changes();
        let same_batch = self.served_batch == Some(published);
        self.served_batch = Some(published);
        match changes {
            LiveChanges::Cells(ids) if same_batch => {
                let batch = self.batch.published().map(|v| &v.view);
                for id in ids {
                    let cell = id.cell(self.speed.keys());
                    let value = serving::merge_cell(batch, &cell, self.speed.cell(&id).as_ref());
                    served.set(&cell, value);
                }
            }
            // The same answer as `query`, compared cell by cell with what is served.
            _ => serving::update_served(
                served,
                serving::merged_cells(self.batch.published().map(|v| &v.view), &self.speed.view()),
            ),
        }
        Ok(())
    }

    fn quiescent(&self, log: &Log) -> Result<bool, ArchError> {
        Ok(self.batch.caught_up(log)? && self.speed.caught_up(log)?)
    }

    fn fault(&mut self, fault: &Fault, now: TimestampMs, _log: &Log) -> Result<(), ArchError> {
        match fault {
            Fault::SpeedCrash { down_ms, restore_state, .. } => {
                self.timeline.push((now, "speed layer crashes"));
                self.speed.crash(now, *down_ms, *restore_state)
            }
            Fault::BatchFailure { retry_ms, .. } => self.batch.fail_next(*retry_ms),
            Fault::ProducerStall { .. }
            | Fault::LogicChange { .. }
            | Fault::BrokerCrash { .. }
            | Fault::DiskFull { .. }
            | Fault::BrokerAdd { .. }
            | Fault::BrokerRemove { .. }
            | Fault::MemberJoin { .. }
            | Fault::MemberLeave { .. } => {}
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
        self.timeline.push((now, "both code paths redeployed"));
        // Redeploy both code paths: the batch layer recomputes history with the new logic at
        // its next job; the speed layer applies it to new events. Until a batch job that
        // started after the change publishes, old windows still hold the old logic's answers.
        self.batch.set_compute((self.batch_factory)(queries.clone()), queries.clone());
        self.speed.set_compute((self.speed_factory)(queries.clone()), queries);
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
            records_lost_to_retention: job.records_skipped(),
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
