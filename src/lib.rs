//! # lambda-workbench
//!
//! Runs the data architectures of the streaming era — batch data lake, Lambda, Kappa and the
//! streaming data lake — side by side over one shared, Kafka-like log, and measures what
//! separates them: freshness, consistency against an exact oracle, cost, and duplicated logic.
//!
//! ## Layout (one module per concept; a student should guess the file from the idea)
//!
//! - [`log`] — the shared log: partitions, segments, indexes, CRC, fsync, recovery, consumer
//!   groups, retention. Everything else reads from it.
//! - [`scenario`] — scenario files (TOML): what to generate, what to run, how layers are set.
//! - [`workload`] — the seeded event generators (keyed and YSB ad events, rate ramps and
//!   bursts, out-of-order and late events) and the event record encoding.
//! - [`hll`] — HyperLogLog, the mergeable approximate distinct count (`distinct_users`).
//! - [`query`] — the questions the architectures answer, and the answer tables they serve.
//! - [`oracle`] — the ground truth: exact answers recomputed from the log as of any time.
//! - [`speed`] — incremental, windowed stream processing (lambda's speed layer, kappa's job).
//! - [`batch`] — lambda's batch layer: recomputes views from the whole log up to a cut-off.
//! - [`serving`] — merges a batch view with the speed views after its cut-off.
//! - [`kappa`] — kappa's live job, its table, and reprocessing into a new table.
//! - [`lake`] — the streaming lake: closed segments tiered to cold Parquet files (object
//!   store), queries computed at query time from cold files + the hot log tail.
//! - [`arch`] — the [`arch::Architecture`] trait, the registry, and one file per architecture
//!   composing the layers.
//! - [`driver`] — the simulated clock driver: decides *when* results become visible.
//! - [`metrics`] — freshness, consistency error, and their summaries.
//! - [`report`] — the results directory: `summary.json`, `timeseries.csv`, final views.
//! - [`plot`] — charts (PNG and SVG) drawn with plotters and an embedded font.
//! - [`results`] — reading a results directory back, forgivingly (older runs, missing layers).
//! - [`charts`] — which charts a run gets and what their captions say (`workbench plot`).
//! - [`html`] — the self-contained `report.html` (`workbench report`).
//! - [`compare`] — several runs on one chart and one table (`workbench compare`).
//! - [`run`] — `workbench run`: scenario file in, results directory out.
#![deny(missing_docs)]

pub mod arch;
pub mod batch;
pub mod charts;
pub mod compare;
pub mod driver;
pub mod hll;
pub mod html;
pub mod kappa;
pub mod lake;
pub mod log;
pub mod metrics;
pub mod oracle;
pub mod plot;
pub mod query;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod serving;
pub mod speed;
pub mod workload;
