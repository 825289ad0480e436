//! The [`Architecture`] trait every variant implements, and the variants built from the layers.
//! Drivers see only this trait: they advance time, read the served answers, ask if it is done.

use crate::batch::BatchLayer;
use crate::kappa::KappaJob;
use crate::log::{Log, LogError, Offset, TimestampMs};
use crate::query::Table;
use crate::scenario::Scenario;
use crate::serving;
use crate::speed::SpeedLayer;

/// When events became visible in an architecture's served answers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Visibility {
    /// Individual events: (visible at, partition, offset).
    pub events: Vec<(TimestampMs, u32, Offset)>,
    /// Whole prefixes: (visible at, per-partition end offset) — every offset below became visible.
    pub prefixes: Vec<(TimestampMs, Vec<Offset>)>,
}

/// Counters an architecture reports at the end of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArchStats {
    /// Events the stream side dropped as too late for their window.
    pub late_dropped: u64,
    /// Batch jobs run.
    pub batch_jobs: u64,
}

/// A data architecture on the simulated clock.
pub trait Architecture {
    /// Its id (`lambda`, `kappa`, ...).
    fn id(&self) -> &'static str;
    /// Advances to `now`: polls, computes, publishes; reports what became visible.
    fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<Visibility, LogError>;
    /// The answers a user would get if they queried now.
    fn served(&self) -> Table;
    /// Whether everything in the log is reflected in the served answers and nothing is in flight.
    fn quiescent(&self, log: &Log) -> Result<bool, LogError>;
    /// End-of-run counters.
    fn stats(&self) -> ArchStats;
}

/// The ids the workbench knows, in the order reports list them.
pub const ARCHITECTURE_IDS: [&str; 5] =
    ["batch-lake", "lambda", "lambda-unified", "kappa", "streaming-lake"];

/// Builds the architecture `id` for `scenario`, reading `topic`.
///
/// Returns `Ok(None)` for an id that is known but not built yet.
pub fn build(
    id: &str,
    scenario: &Scenario,
    log: &Log,
    topic: &str,
) -> Result<Option<Box<dyn Architecture>>, LogError> {
    let window_ms = scenario.query.window_ms;
    Ok(match id {
        "lambda" => Some(Box::new(Lambda {
            batch: BatchLayer::new(topic, window_ms, &scenario.batch, 0),
            speed: SpeedLayer::new(log, topic, window_ms, &scenario.speed, 0)?,
        })),
        "kappa" => {
            Some(Box::new(Kappa { job: KappaJob::new(log, topic, window_ms, &scenario.speed, 0)? }))
        }
        _ => None,
    })
}

/// Lambda: a batch layer and a speed layer, merged by the serving layer.
#[derive(Debug)]
pub struct Lambda {
    batch: BatchLayer,
    speed: SpeedLayer,
}

impl Architecture for Lambda {
    fn id(&self) -> &'static str {
        "lambda"
    }

    fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<Visibility, LogError> {
        let mut visibility = Visibility::default();
        let batch = self.batch.tick(now, log)?;
        if let (Some(at), Some(view)) = (batch.published_at, self.batch.published()) {
            self.speed.expire_before(view.generation);
            visibility.prefixes.push((at, view.cutoff.clone()));
        }
        if let Some((generation, cutoff)) = batch.started {
            self.speed.start_generation(generation, cutoff);
        }
        visibility.events = self.speed.tick(now, log)?;
        Ok(visibility)
    }

    fn served(&self) -> Table {
        serving::merge(self.batch.published().map(|v| &v.table), self.speed.live_views())
    }

    fn quiescent(&self, log: &Log) -> Result<bool, LogError> {
        Ok(self.batch.caught_up(log)? && self.speed.caught_up(log)?)
    }

    fn stats(&self) -> ArchStats {
        ArchStats { late_dropped: self.speed.late_dropped(), batch_jobs: self.batch.jobs_run() }
    }
}

/// Kappa: one stream job; its table is the served answer.
#[derive(Debug)]
pub struct Kappa {
    job: KappaJob,
}

impl Architecture for Kappa {
    fn id(&self) -> &'static str {
        "kappa"
    }

    fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<Visibility, LogError> {
        Ok(Visibility { events: self.job.tick(now, log)?, prefixes: Vec::new() })
    }

    fn served(&self) -> Table {
        self.job.table().clone()
    }

    fn quiescent(&self, log: &Log) -> Result<bool, LogError> {
        self.job.caught_up(log)
    }

    fn stats(&self) -> ArchStats {
        ArchStats { late_dropped: self.job.late_dropped(), batch_jobs: 0 }
    }
}
