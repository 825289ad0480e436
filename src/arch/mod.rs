//! The [`Architecture`] trait every variant implements, and the registry of variants.
//!
//! Drivers see only this trait: they advance time, ask for the served answers, ask whether the
//! architecture has settled. Each variant is a thin composition of the layers (`batch`,
//! `speed`, `serving`, `kappa`, `lake`) in its own file; adding a sixth architecture means one
//! new module here and one line in [`REGISTRY`].

use std::sync::Arc;

use crate::log::{Log, LogError, Offset, TimestampMs};
use crate::query::{QuerySet, Table, TrackedTable};
use crate::scenario::{Fault, Scenario};
use crate::workload::DecodeError;

pub mod batch_lake;
pub mod kappa;
pub mod lambda;
pub mod lambda_unified;
pub mod streaming_lake;

/// What can stop an architecture.
#[derive(Debug, thiserror::Error)]
pub enum ArchError {
    /// The log failed (I/O, corruption).
    #[error(transparent)]
    Log(#[from] LogError),
    /// A record in the log is not an event of the workload.
    #[error("record at partition {partition} offset {offset} is not an event: {source}")]
    Decode {
        /// Partition of the record.
        partition: u32,
        /// Offset of the record.
        offset: Offset,
        /// Why it does not decode.
        source: DecodeError,
    },
    /// A batch or lake computation failed (DataFrame engine, Parquet, object store).
    #[error("{layer}: {message}")]
    Engine {
        /// Which layer (`batch`, `lake`).
        layer: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// When events became visible in an architecture's served answers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Visibility {
    /// Individual events: (visible at, partition, offset).
    pub events: Vec<(TimestampMs, u32, Offset)>,
    /// Whole prefixes: (visible at, per-partition end offset) — every offset below became visible.
    pub prefixes: Vec<(TimestampMs, Vec<Offset>)>,
    /// Events the architecture decided, at the given time, never to show: (at, partition,
    /// offset). Kappa's job drops an event that comes after its window closed; no later layer
    /// will count it (in Lambda the next batch view does, so Lambda reports none). Staleness
    /// treats such an event as settled: the answers are then wrong, which the correctness
    /// figures measure, not behind. Without this one dropped event held staleness back for
    /// the rest of the run.
    pub dropped: Vec<(TimestampMs, u32, Offset)>,
}

impl Visibility {
    /// Adds another report to this one.
    pub fn extend(&mut self, other: Visibility) {
        self.events.extend(other.events);
        self.prefixes.extend(other.prefixes);
        self.dropped.extend(other.dropped);
    }
}

/// Counters an architecture reports at the end of a run (zero where a layer does not exist).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct ArchStats {
    /// Events the stream side found too late for a window (dropped or side-output).
    pub late_events: u64,
    /// Of those, events kept in a side output.
    pub side_output_events: u64,
    /// Batch jobs run.
    pub batch_jobs: u64,
    /// Events read by batch jobs, summed over jobs (the recompute cost).
    pub batch_events_read: u64,
    /// Events read by stream jobs, summed over jobs (reprocessing reads the log again).
    pub stream_events_read: u64,
    /// Stream-job crashes (faults).
    pub stream_crashes: u64,
    /// Events read again because their results were in flight at a crash.
    pub events_reprocessed_after_crash: u64,
    /// Records the log's retention deleted before a stream job read them (a replay slower
    /// than the retention, a job down for longer): the job went on from the log start without
    /// them. Left out of the results when zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub records_lost_to_retention: u64,
    /// Batch jobs that failed (faults) and were retried.
    pub batch_failures: u64,
    /// Simulated CPU time of batch jobs, ms (the cost model; deterministic).
    pub batch_busy_ms: i64,
    /// Simulated CPU time of stream jobs, ms.
    pub stream_busy_ms: i64,
    /// Simulated CPU time of tiering and query-time scans (streaming lake), ms.
    pub lake_busy_ms: i64,
    /// Merge-boundary audit: the largest number of events counted twice (batch and speed) at
    /// any tick.
    pub audit_max_double_counted: u64,
    /// Merge-boundary audit: the largest number of events counted by neither side (not late,
    /// already read by the speed layer) at any tick.
    pub audit_max_missing: u64,
    /// Kappa reprocessing runs completed (switched to the new table).
    pub reprocessings: u64,
    /// Kappa: simulated ms from the start of each reprocessing to its switch.
    pub reprocess_catch_up_ms: Vec<i64>,
    /// Largest number of cells held in served tables at once (two during reprocessing).
    pub peak_table_cells: u64,
    /// Streaming lake: Parquet files written to the cold tier.
    pub cold_files: u64,
    /// Streaming lake: largest head offset minus tiered offset, summed over partitions.
    pub max_lake_lag_events: u64,
}

/// Serde: leaves a counter out when it is zero.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How a layer decides when its results become visible.
///
/// The layers' logic is the same under both: they poll, compute, publish, fail and recover the
/// same way. Only the moment a result counts as visible differs.
#[derive(Debug, Clone, Default)]
pub enum Timing {
    /// The scenario's cost model (overhead + events × per-event cost) on the simulated clock:
    /// deterministic, reproducible byte for byte.
    #[default]
    CostModel,
    /// Measured on the log's (wall) clock: a result is visible when its computation really
    /// finished. Batch jobs run in the background on the rayon pool, reading this shared log,
    /// so they never hold up the thread that polls the stream (the realtime driver).
    Measured(Arc<Log>),
}

impl Timing {
    /// Whether results are timed by the clock rather than the cost model.
    pub fn is_measured(&self) -> bool {
        matches!(self, Timing::Measured(_))
    }
}

/// What every architecture is built from.
#[derive(Debug, Clone)]
pub struct ArchContext<'a> {
    /// The scenario (layer settings).
    pub scenario: &'a Scenario,
    /// The queries and their static tables.
    pub queries: Arc<QuerySet>,
    /// The events topic.
    pub topic: &'a str,
    /// Where an architecture may keep files of its own (the lake's cold tier).
    pub work_dir: &'a std::path::Path,
    /// Cost model (simulated driver) or measured time (realtime driver).
    pub timing: Timing,
    /// The log's segments decoded into columns, shared by every batch layer of the run that
    /// reads columns (`lambda`, `batch-lake`): the master dataset is stored once, as a lake
    /// stores it once in columnar files that every job reads (see `batch/columns.rs`).
    pub column_cache: Arc<crate::batch::columns::ColumnCache>,
}

/// A data architecture, driven by the simulated or the realtime driver. `Send`: the realtime
/// driver runs each architecture on a thread of its own.
pub trait Architecture: Send {
    /// Its id (`lambda`, `kappa`, ...).
    fn id(&self) -> &'static str;
    /// Advances to `now`: polls, computes, publishes; reports what became visible.
    fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<Visibility, ArchError>;
    /// The answers a user would get querying at `now` (the lake computes them here).
    fn query(&mut self, now: TimestampMs, log: &Log) -> Result<Table, ArchError>;
    /// The answers at `now` — the same as [`Architecture::query`] — kept in `served`, with the
    /// cells that changed noted there. The simulated driver samples through this so that a
    /// sample costs what changed, not the whole answer. `served` is the table this architecture
    /// was given at every previous call (the driver keeps one per architecture) and nothing
    /// else writes its cells, so an architecture that knows which of its cells changed since
    /// the previous call may update just those. The default computes the whole answer and
    /// diffs it.
    fn query_into(
        &mut self,
        now: TimestampMs,
        log: &Log,
        served: &mut TrackedTable,
    ) -> Result<(), ArchError> {
        let table = self.query(now, log)?;
        served.replace(table);
        Ok(())
    }
    /// Whether everything in the log is reflected in the answers and nothing is in flight.
    fn quiescent(&self, log: &Log) -> Result<bool, ArchError>;
    /// A fault happens at `now`; each architecture applies what concerns its layers (a batch
    /// failure means nothing to kappa). The default ignores every fault.
    fn fault(&mut self, fault: &Fault, now: TimestampMs, log: &Log) -> Result<(), ArchError> {
        let _ = (fault, now, log);
        Ok(())
    }
    /// The queries' logic changed at `now` (a [`Fault::LogicChange`]): `queries` is the new
    /// version. Each architecture redeploys the way it would in production.
    fn logic_change(
        &mut self,
        queries: Arc<QuerySet>,
        now: TimestampMs,
        log: &Log,
    ) -> Result<(), ArchError>;
    /// What happened when, for the run's timeline (`timeline.csv` and its chart): batch jobs
    /// starting, publishing or failing, crashes, reprocessing, logic changes. Default: none.
    fn timeline(&self) -> Vec<(TimestampMs, &'static str)> {
        Vec::new()
    }
    /// Bytes this architecture keeps in cold storage now (the lake's Parquet files); the log
    /// itself is measured once for all. Default: none.
    fn cold_bytes(&self) -> u64 {
        0
    }
    /// End-of-run counters.
    fn stats(&self) -> ArchStats;
}

/// Builds one architecture.
pub type Builder = fn(&ArchContext<'_>, &Log) -> Result<Box<dyn Architecture>, ArchError>;

/// Every architecture the workbench knows, in the order reports list them.
pub const REGISTRY: &[(&str, Builder)] = &[
    ("batch-lake", batch_lake::build),
    ("lambda", lambda::build),
    ("lambda-unified", lambda_unified::build),
    ("kappa", kappa::build),
    ("streaming-lake", streaming_lake::build),
];

/// Builds the architecture `id`; `None` for an unknown id.
pub fn build(
    id: &str,
    ctx: &ArchContext<'_>,
    log: &Log,
) -> Option<Result<Box<dyn Architecture>, ArchError>> {
    REGISTRY.iter().find(|(name, _)| *name == id).map(|(_, builder)| builder(ctx, log))
}

/// Per partition, the log end offsets of `topic` now.
pub fn log_end_offsets(log: &Log, topic: &str) -> Result<Vec<Offset>, LogError> {
    let topic = log.topic(topic)?;
    (0..topic.partition_count()).map(|p| topic.partition(p).map(|p| p.log_end_offset())).collect()
}
