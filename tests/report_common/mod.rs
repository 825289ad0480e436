//! Shared by the `report_*` tests: a small run written to a temporary results directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lambda_workbench::scenario::Scenario;

/// The lesson of [`SCENARIO`], checked in the report.
pub const LESSON: &str =
    "Kappa and unified Lambda agree <exactly> & reprocessing shows as a marker.";

/// 30 s of keyed events through kappa and lambda-unified, kappa reprocessing at 15 s.
pub fn scenario(seed: u64) -> String {
    format!(
        r#"
name = "report-test"
description = "A small run for the report tests."
lesson = "{LESSON}"
seed = {seed}
architectures = ["kappa", "lambda-unified"]
duration_ms = 30_000
sample_every_ms = 1_000

[workload]
rate_per_sec = 100
keys = 20
partitions = 2
out_of_order_fraction = 0.1
max_delay_ms = 1_000

[[queries]]
name = "key_window_count"
window_ms = 5_000

[speed]
allowed_lateness_ms = 1_000

[batch]
interval_ms = 10_000
overhead_ms = 500.0

[kappa]
reprocess_at_ms = [15_000]
"#
    )
}

/// Runs [`scenario`] with `seed` under `out`; returns the results directory.
pub fn run(out: &Path, seed: u64) -> PathBuf {
    let text = scenario(seed);
    let s = Scenario::parse(&text, Path::new("report-test.toml")).expect("scenario parses");
    lambda_workbench::run::run_scenario(&s, text.as_bytes(), out).expect("run")
}

/// The chart stems every run of [`scenario`] must have.
pub const CHARTS: &[&str] = &[
    "error_over_time",
    "fraction_exact_over_time",
    "staleness_over_time",
    "freshness_percentiles",
    "time_to_correct",
    "cost_busy_time",
    "cost_events_read",
    "log_bytes_over_time",
    "timeline",
    "peak_table_cells",
    "duplication",
];
