//! # lambda-workbench
//!
//! Runs the data architectures of the streaming era — batch data lake, Lambda, Kappa and the
//! streaming data lake — side by side over one shared, Kafka-like log, and measures what
//! separates them: freshness, consistency against an exact oracle, cost, and duplicated logic.
//!
//! ## The story this code tells
//!
//! Everything starts with a **log** ([`log`]): an append-only, partitioned sequence of records,
//! durable on disk, that every architecture reads. What differs is what they build on it.
//!
//! The **batch data lake** (`batch-lake`) recomputes its tables from the whole log on a
//! schedule ([`batch`]). Its answers are exact as of the last job and stale by the interval plus
//! the job's duration. **Lambda** (Marz, 2011) keeps that batch layer for correctness and adds a
//! **speed layer** ([`speed`]) that counts events as they arrive; a **serving layer**
//! ([`serving`]) adds the speed results for everything after the batch view's cut-off. Answers
//! are fresh, and whatever the speed layer gets wrong — late events, approximations, a crash —
//! the next batch job corrects. The price: every query is written twice, in two paradigms
//! (`batch/lambda_polars.rs` and `speed/operators.rs`), and the two must agree forever. The
//! workbench measures that price from its own source ([`metrics::duplication`]).
//! **lambda-unified** is Summingbird's (2014) reply: write each query once as a monoid
//! aggregation ([`query::unified`]) and run that one definition in batch and in stream.
//! **Kappa** (Kreps, 2014) drops the batch layer: one stream job, and when the logic changes,
//! a second job replays the retained log into a new table ([`kappa`]). The **streaming data
//! lake** drops the serving layer too: closed log segments become Parquet files, and a query
//! reads cold files plus the hot log tail when it is asked ([`lake`]).
//!
//! To compare them honestly they run on the same events, through the same log, against the
//! same **oracle** ([`oracle`]): the exact answer recomputed from the log. A **simulated
//! driver** ([`driver`]) runs them all on one virtual clock — the computation is real, only the
//! moment results become visible is set by a cost model — so a day of batch cycles takes
//! seconds and every run is reproducible byte for byte. Scenarios ([`scenario`]) inject late
//! data, crashes, failed jobs and logic changes, and the report shows what each architecture
//! made of them.
//!
//! ## Layout (one module per concept; a student should guess the file from the idea)
//!
//! - [`log`] — the shared log: partitions, segments, indexes, CRC, fsync, recovery, consumer
//!   groups (offsets; membership and rebalancing in `log/coordinator.rs`), retention, a remote
//!   tier for closed segments (`log::tier`), compaction.
//!   Everything else reads from it.
//! - [`cluster`] — the log replicated over in-process brokers: leader and followers, ISR, high
//!   watermark, `acks`, leader epochs, elections and truncation, on a simulated network with
//!   bandwidth; brokers added and decommissioned, partitions reassigned (`cluster/reassign.rs`).
//! - [`kafka`] — a real Kafka cluster under the architectures (rskafka client): events go to
//!   the brokers and come back, at the brokers' offsets, into a local replica.
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
//! - [`realtime`] — the realtime driver: the same architectures on threads and wall-clock
//!   time (tokio for pacing, signals and sampling; rayon for batch jobs).
//! - [`metrics`] — freshness, consistency error, and their summaries.
//! - [`report`] — the results directory: `summary.json`, `timeseries.csv`, final views.
//! - [`plot`] — charts (PNG and SVG) drawn with plotters and an embedded font.
//! - [`results`] — reading a results directory back, forgivingly (older runs, missing layers).
//! - [`charts`] — which charts a run gets and what their captions say (`workbench plot`).
//! - [`html`] — the self-contained `report.html` (`workbench report`).
//! - [`compare`] — several runs on one chart and one table (`workbench compare`).
//! - [`run`] — `workbench run`: scenario file in, results directory out.
//! - [`mod@bench`] — `workbench bench`: every layer's speed against a baseline in the same run.
//! - [`calibrate`] — `workbench calibrate`: the simulated cost model measured from this code on
//!   this machine, for `workbench run --calibration`.
#![deny(missing_docs)]

pub mod arch;
pub mod batch;
pub mod bench;
pub mod calibrate;
pub mod charts;
pub mod cluster;
pub mod compare;
pub mod driver;
pub mod hll;
pub mod html;
pub mod kafka;
pub mod kappa;
pub mod lake;
pub mod log;
pub mod metrics;
pub mod oracle;
pub mod plot;
pub mod query;
pub mod realtime;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod serving;
pub mod speed;
pub mod workload;
