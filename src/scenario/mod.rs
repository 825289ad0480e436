//! Scenario files: TOML that says what workload to generate, which architectures to run, and
//! how each layer is configured. Read strictly (`deny_unknown_fields`); errors name the file,
//! the line and the field.

use std::path::Path;

use serde::{Deserialize, Serialize};

mod error;
pub use error::ScenarioError;

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name; also the results subdirectory (`results/<name>/`).
    pub name: String,
    /// What the scenario teaches, in plain words.
    #[serde(default)]
    pub description: String,
    /// Seed of every random choice in the run.
    pub seed: u64,
    /// Architecture ids to run, e.g. `["lambda", "kappa"]`.
    pub architectures: Vec<String>,
    /// How long the workload produces events, in simulated ms.
    pub duration_ms: i64,
    /// How often the error against the oracle is sampled, in simulated ms (default 1000).
    #[serde(default = "default_sample_every_ms")]
    pub sample_every_ms: i64,
    /// The generated events.
    pub workload: Workload,
    /// The question every architecture answers.
    pub query: Query,
    /// Streaming settings (lambda's speed layer and kappa's job).
    #[serde(default)]
    pub speed: Speed,
    /// Batch settings (lambda's batch layer).
    #[serde(default)]
    pub batch: Batch,
}

fn default_sample_every_ms() -> i64 {
    1000
}

/// The seeded event generator's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Events per second of simulated time.
    pub rate_per_sec: u32,
    /// Number of distinct keys.
    pub keys: u32,
    /// Key popularity: `uniform` or `zipf`.
    #[serde(default)]
    pub key_distribution: KeyDistribution,
    /// Zipf exponent when `key_distribution = "zipf"` (default 1.0).
    #[serde(default = "default_zipf")]
    pub zipf_exponent: f64,
    /// Partitions of the events topic.
    pub partitions: u32,
    /// Fraction of events that arrive late (their event time lags their arrival).
    #[serde(default)]
    pub out_of_order_fraction: f64,
    /// Largest lag of a late event, in ms.
    #[serde(default)]
    pub max_delay_ms: i64,
}

fn default_zipf() -> f64 {
    1.0
}

/// How keys are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyDistribution {
    /// Every key equally likely.
    #[default]
    Uniform,
    /// A few hot keys (Zipf's law).
    Zipf,
}

/// The query every architecture answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Query name: `key_window_count` (count per key per tumbling window).
    pub name: String,
    /// Tumbling window length in ms.
    pub window_ms: i64,
}

/// Streaming-layer settings, shared by lambda's speed layer and kappa's job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Speed {
    /// How often the stream job polls the log, in ms.
    pub poll_interval_ms: i64,
    /// Fixed cost of processing one poll, in ms (simulated).
    pub overhead_ms: f64,
    /// Cost per event, in microseconds (simulated).
    pub cost_us_per_event: f64,
    /// The watermark trails the largest event time seen by this much, in ms.
    pub watermark_delay_ms: i64,
    /// Events later than the watermark by more than this are dropped (and counted as late).
    pub allowed_lateness_ms: i64,
}

impl Default for Speed {
    fn default() -> Self {
        Speed {
            poll_interval_ms: 500,
            overhead_ms: 5.0,
            cost_us_per_event: 2.0,
            watermark_delay_ms: 0,
            allowed_lateness_ms: 0,
        }
    }
}

/// Batch-layer settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Batch {
    /// A batch job starts every this many ms (if the previous one finished).
    pub interval_ms: i64,
    /// Fixed cost of one job, in ms (simulated).
    pub overhead_ms: f64,
    /// Cost per event, in microseconds (simulated).
    pub cost_us_per_event: f64,
}

impl Default for Batch {
    fn default() -> Self {
        Batch { interval_ms: 60_000, overhead_ms: 2_000.0, cost_us_per_event: 20.0 }
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let _ = path;
        todo!("scenario")
    }

    /// Parses scenario text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Scenario, ScenarioError> {
        let _ = (text, origin);
        todo!("scenario")
    }
}
