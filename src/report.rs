//! The results directory: every output path is built here, in one place.
//!
//! ```text
//! <out>/<scenario>/
//!   scenario.toml            copy of what ran
//!   summary.json             per architecture: freshness, error, counters
//!   timeseries.csv           t_ms,architecture,metric,value (long format)
//!   timing.json              wall-clock measurements (not reproducible; kept apart)
//!   timeline.csv             t_ms,architecture,event: batch jobs, crashes, reprocessing
//!   final_views/<arch>.csv   served answers at the end (and oracle.csv, the exact ones)
//!   plots/error_over_time.png, .svg
//!   work/log/                the run's log; inspect with `workbench log describe --dir`
//!   work/                    files the architectures kept (the lake's cold tier)
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::arch::ArchStats;
use crate::driver::RunResult;
use crate::metrics::Percentiles;
use crate::metrics::duplication::{self, Duplication};
use crate::query::{QuerySet, Table};
use crate::scenario::{Fault, Scenario};

/// Paths of a results directory.
#[derive(Debug, Clone)]
pub struct ResultsLayout {
    /// `<out>/<scenario>/`.
    pub root: PathBuf,
}

impl ResultsLayout {
    /// The layout for `scenario` under `out`.
    pub fn new(out: &Path, scenario: &str) -> Self {
        ResultsLayout { root: out.join(scenario) }
    }
    /// Copy of the scenario file.
    pub fn scenario(&self) -> PathBuf {
        self.root.join("scenario.toml")
    }
    /// The summary.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.json")
    }
    /// What happened when.
    pub fn timeline(&self) -> PathBuf {
        self.root.join("timeline.csv")
    }
    /// Wall-clock measurements.
    pub fn timing(&self) -> PathBuf {
        self.root.join("timing.json")
    }
    /// The long-format time series.
    pub fn timeseries(&self) -> PathBuf {
        self.root.join("timeseries.csv")
    }
    /// Final served answers of one architecture (or `oracle`).
    pub fn final_view(&self, id: &str) -> PathBuf {
        self.root.join("final_views").join(format!("{id}.csv"))
    }
    /// A plot, without extension (PNG and SVG are written beside each other).
    pub fn plot_stem(&self, name: &str) -> PathBuf {
        self.root.join("plots").join(name)
    }
    /// Where the run keeps its log (`work/log`) and the architectures' own files.
    pub fn work_dir(&self) -> PathBuf {
        self.root.join("work")
    }
}

/// `summary.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Scenario seed.
    pub seed: u64,
    /// The clock that drove the run: `simulated` or `realtime`.
    pub driver: &'static str,
    /// Whether the run was interrupted (Ctrl-C) and the figures cover only what happened until
    /// then.
    pub partial: bool,
    /// How long the workload produced, ms.
    pub duration_ms: i64,
    /// Simulated time the run ended (after the layers settled), ms.
    pub end_ms: i64,
    /// Whether every architecture reflected the whole log before the drain limit.
    pub converged: bool,
    /// Events appended to the log (each record counts for the events it stands for).
    pub events: u64,
    /// Events each log record stands for (`workload.events_per_record`); only written when
    /// not 1, with `records`, so that every figure counted in records can be scaled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_per_record: Option<u32>,
    /// Log records written (`events / events_per_record`), when `events_per_record` is not 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// Events generated out of order.
    pub out_of_order_events: u64,
    /// Cells (key × window) in the exact answer.
    pub oracle_cells: usize,
    /// The faults injected, in time order (the markers on the charts).
    pub faults: Vec<Fault>,
    /// Per architecture id.
    pub architectures: BTreeMap<String, ArchSummary>,
    /// The replicated cluster's figures, for a scenario with a `[cluster]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::driver::ClusterRun>,
    /// Records through the real Kafka brokers, with `[log] backend = "kafka"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka: Option<crate::kafka::KafkaStats>,
    /// Failed appends and producer blocking caused by `disk_full` faults (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_full: Option<crate::driver::DiskFullReport>,
    /// The `[consumer_group]`'s membership, rebalances and reprocessing (absent without one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_group: Option<crate::log::coordinator::GroupStats>,
    /// The cost model that decided when results became visible, and where its numbers came
    /// from. Absent for realtime runs: there every duration is measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_model: Option<CostModel>,
    /// The log's tiers, retention and compaction, when `[log]` sets any (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_storage: Option<crate::driver::LogStorageRun>,
}

/// The simulated driver's cost model as a run used it (`summary.json` → `cost_model`).
#[derive(Debug, Clone, Serialize)]
pub struct CostModel {
    /// `"scenario"` (the scenario file's numbers, or the documented defaults) or
    /// `"calibration.toml"` (measured by `workbench calibrate`, copied into the results).
    pub source: String,
    /// Batch job: fixed ms + µs per event.
    pub batch: crate::calibrate::JobCost,
    /// Stream poll (lambda's speed layer, kappa's job): fixed ms + µs per event.
    pub speed: crate::calibrate::JobCost,
    /// Lake: conversion of a segment and query, fixed ms + µs per event each.
    pub lake: crate::calibrate::LakeCost,
}

impl CostModel {
    /// The cost model of `scenario`, said to come from `source`.
    pub fn of(scenario: &Scenario, source: &str) -> CostModel {
        use crate::calibrate::{JobCost, LakeCost};
        CostModel {
            source: source.to_owned(),
            batch: JobCost {
                overhead_ms: scenario.batch.overhead_ms,
                cost_us_per_event: scenario.batch.cost_us_per_event,
            },
            speed: JobCost {
                overhead_ms: scenario.speed.overhead_ms,
                cost_us_per_event: scenario.speed.cost_us_per_event,
            },
            lake: LakeCost {
                tier_overhead_ms: scenario.lake.tier_overhead_ms,
                tier_cost_us_per_event: scenario.lake.tier_cost_us_per_event,
                query_overhead_ms: scenario.lake.query_overhead_ms,
                query_cost_us_per_event: scenario.lake.query_cost_us_per_event,
            },
        }
    }
}

/// One architecture in `summary.json`.
#[derive(Debug, Serialize)]
pub struct ArchSummary {
    /// Event time → first visible in served answers, ms.
    pub freshness_ms: Percentiles,
    /// Events never reflected in the served answers.
    pub never_visible_events: u64,
    /// Sample time minus the newest event time fully reflected, over samples while the
    /// workload runs, ms.
    pub staleness_ms: Percentiles,
    /// Per window, from its end until its served answer is right for good, ms.
    pub time_to_correct_ms: Percentiles,
    /// Windows whose served answer was still wrong at the end.
    pub windows_never_correct: u64,
    /// Consistency against the oracle.
    pub error: ErrorSummary,
    /// When it first reflected the whole log after the workload stopped, ms.
    pub quiescent_at_ms: Option<i64>,
    /// Counters: late events, batch jobs, events read, audit, reprocessing, lake.
    pub counters: ArchStats,
    /// Query logic written per architecture, measured from this project's source.
    pub duplication: Duplication,
}

/// Error statistics of one architecture.
#[derive(Debug, Serialize)]
pub struct ErrorSummary {
    /// Mean over samples of the mean relative error.
    pub mean_rel: f64,
    /// Largest sampled mean relative error.
    pub max_rel: f64,
    /// Mean relative error at the end.
    pub final_rel: f64,
    /// Fraction of cells exactly right at the end.
    pub final_fraction_exact: f64,
    /// Whether the final answers equal the oracle's exactly.
    pub final_equals_oracle: bool,
    /// Largest number of events counted twice at any sample (merge-boundary double counts).
    pub max_excess_events: i64,
}

/// Builds the summary of a run.
pub fn summary(scenario: &Scenario, run: &RunResult) -> Summary {
    let architectures = run
        .architectures
        .iter()
        .map(|a| {
            let n = a.samples.len().max(1) as f64;
            let error = ErrorSummary {
                mean_rel: a.samples.iter().map(|(_, s)| s.mean_rel).sum::<f64>() / n,
                max_rel: a.samples.iter().map(|(_, s)| s.mean_rel).fold(0.0, f64::max),
                final_rel: a.final_error.mean_rel,
                final_fraction_exact: a.final_error.fraction_exact,
                final_equals_oracle: a.final_view == run.oracle_final,
                max_excess_events: a.samples.iter().map(|(_, s)| s.excess).max().unwrap_or(0),
            };
            let s = ArchSummary {
                freshness_ms: a.freshness,
                never_visible_events: a.never_visible,
                // While the workload runs: afterwards no newer event exists, and staleness
                // would only count the time since the last one (timeseries.csv keeps it all).
                staleness_ms: crate::metrics::percentiles(
                    a.staleness
                        .iter()
                        .filter(|(t, _)| *t <= scenario.duration_ms)
                        .filter_map(|(_, s)| *s)
                        .collect(),
                ),
                time_to_correct_ms: a.time_to_correct,
                windows_never_correct: a.windows_never_correct,
                error,
                quiescent_at_ms: a.quiescent_at_ms,
                counters: a.stats.clone(),
                duplication: duplication::measure(&a.id),
            };
            (a.id.clone(), s)
        })
        .collect();
    Summary {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        driver: run.clock.name(),
        partial: run.partial,
        duration_ms: scenario.duration_ms,
        end_ms: run.end_ms,
        converged: run.converged,
        events: run.events,
        events_per_record: (scenario.workload.events_per_record != 1)
            .then_some(scenario.workload.events_per_record),
        records: (scenario.workload.events_per_record != 1).then_some(run.records),
        out_of_order_events: run.out_of_order_events,
        oracle_cells: run.oracle_final.len(),
        faults: {
            let mut f = scenario.faults.clone();
            f.sort_by_key(|f| f.at_ms());
            f
        },
        architectures,
        cluster: run.cluster.clone(),
        kafka: run.kafka.clone(),
        disk_full: run.disk_full.clone(),
        consumer_group: run.consumer_group.clone(),
        cost_model: (run.clock == crate::scenario::RunClock::Simulated)
            .then(|| CostModel::of(scenario, "scenario")),
        log_storage: run.log_storage.clone(),
    }
}

/// A ratio as CSV text that always has a decimal point (`1.0`, not `1`), so a reader that
/// infers column types from the first rows (polars, pandas) types `value` as a float.
struct Ratio(f64);

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_finite() && self.0.fract() == 0.0 {
            write!(f, "{:.1}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// `timeseries.csv` text: `t_ms,architecture,metric,value`.
pub fn timeseries_csv(run: &RunResult) -> String {
    let mut out = String::from("t_ms,architecture,metric,value\n");
    for a in &run.architectures {
        for (t, s) in &a.samples {
            let _ = writeln!(out, "{t},{},error_mean_rel,{}", a.id, Ratio(s.mean_rel));
            let _ = writeln!(out, "{t},{},fraction_exact,{}", a.id, Ratio(s.fraction_exact));
            let _ = writeln!(out, "{t},{},events_excess,{}", a.id, s.excess);
            let _ = writeln!(out, "{t},{},events_missing,{}", a.id, s.missing);
        }
        if a.cold_bytes.iter().any(|(_, b)| *b > 0) {
            for (t, bytes) in &a.cold_bytes {
                let _ = writeln!(out, "{t},{},cold_bytes,{bytes}", a.id);
            }
        }
        for (t, staleness) in &a.staleness {
            if let Some(ms) = staleness {
                let _ = writeln!(out, "{t},{},staleness_ms,{ms}", a.id);
            }
        }
    }
    for (t, bytes) in &run.log_bytes {
        let _ = writeln!(out, "{t},log,log_bytes,{bytes}");
    }
    // Only runs whose cluster changed get these rows (older runs' files stay as they were).
    if let Some(c) = run.cluster.as_ref().filter(|c| c.scale_out.is_some()) {
        for s in &c.samples {
            let t = s.t_ms;
            let _ = writeln!(out, "{t},cluster,under_replicated_partitions,{}", s.under_replicated);
            let _ = writeln!(out, "{t},cluster,reassigning_partitions,{}", s.reassigning);
            let _ = writeln!(out, "{t},cluster,acked_events,{}", s.acked_events);
            let _ = writeln!(out, "{t},cluster,bytes_moved,{}", s.bytes_moved);
        }
    }
    if let Some(g) = &run.consumer_group {
        for (t, lag) in &g.lag {
            let _ = writeln!(out, "{t},consumer_group,lag_records,{lag}");
        }
    }
    if let Some(storage) = &run.log_storage {
        for (t, hot, cold) in &storage.bytes {
            let _ = writeln!(out, "{t},log,log_hot_bytes,{hot}");
            let _ = writeln!(out, "{t},log,log_cold_bytes,{cold}");
        }
    }
    out
}

/// `timeline.csv` text: `t_ms,architecture,event`, in time order.
pub fn timeline_csv(run: &RunResult) -> String {
    let mut rows: Vec<(i64, &str, &str)> = run
        .architectures
        .iter()
        .flat_map(|a| a.timeline.iter().map(move |(t, e)| (*t, a.id.as_str(), *e)))
        .collect();
    rows.sort();
    let mut out = String::from("t_ms,architecture,event\n");
    for (t, arch, event) in rows {
        let _ = writeln!(out, "{t},{arch},{event}");
    }
    out
}

/// `timing.json`: wall-clock measurements of this run. They differ between runs and machines,
/// which is why they are kept out of `summary.json` (which is byte-for-byte reproducible).
pub fn timing_json(run: &RunResult) -> serde_json::Value {
    let per_arch: BTreeMap<&str, f64> = run
        .architectures
        .iter()
        .map(|a| (a.id.as_str(), (a.wall_ms * 10.0).round() / 10.0))
        .collect();
    let secs = run.wall_ms / 1000.0;
    serde_json::json!({
        "note": "wall-clock, measured on this machine; not reproducible byte for byte",
        "simulation_wall_ms": (run.wall_ms * 10.0).round() / 10.0,
        "simulated_ms": run.end_ms,
        "speedup_vs_realtime": if secs > 0.0 { (run.end_ms as f64 / 1000.0 / secs * 10.0).round() / 10.0 } else { 0.0 },
        "events_per_wall_second": if secs > 0.0 { (run.events as f64 / secs).round() } else { 0.0 },
        "architecture_wall_ms": per_arch,
    })
}

/// A final view as CSV: `query,key,window_start_ms,window_end_ms,value`.
pub fn view_csv(table: &Table, queries: &QuerySet) -> String {
    let mut out = String::from("query,key,window_start_ms,window_end_ms,value\n");
    for (cell, n) in table {
        let name = queries.spec(cell.query).map_or("?", |s| s.kind.name());
        let _ = writeln!(
            out,
            "{name},{},{},{},{n}",
            cell.key,
            cell.window_start_ms,
            queries.window_end(cell)
        );
    }
    out
}
