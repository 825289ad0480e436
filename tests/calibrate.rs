//! `workbench calibrate` and `workbench run --calibration`: the simulated cost model measured
//! from this code, used in place of the scenario's, and written into the results so the run
//! can be repeated from its results directory.

use std::path::Path;

use lambda_workbench::calibrate::{Calibration, calibrate};
use lambda_workbench::run::{CALIBRATION_FILE, RunOptions, run_scenario_file_opts};

#[test]
fn calibration_measures_every_cost_and_writes_a_file_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let c = calibrate(&dir.path().join("work"), 4_000).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.measured.events, 4_000);
    assert_eq!(c.measured.scenario, "ysb");
    // Real work takes time: every per-event cost is positive, every cost finite.
    for (name, v) in [
        ("batch", c.batch.cost_us_per_event),
        ("speed", c.speed.cost_us_per_event),
        ("tier", c.lake.tier_cost_us_per_event),
        ("query", c.lake.query_cost_us_per_event),
    ] {
        assert!(v.is_finite() && v > 0.0, "{name} cost per event {v}");
    }
    for v in [
        c.batch.overhead_ms,
        c.speed.overhead_ms,
        c.lake.tier_overhead_ms,
        c.lake.query_overhead_ms,
    ] {
        assert!(v.is_finite() && v >= 0.0, "{v}");
    }
    assert!(!dir.path().join("work").exists(), "scratch logs removed");
    let file = dir.path().join("c.toml");
    std::fs::write(&file, c.to_toml()).unwrap();
    assert_eq!(Calibration::load(&file).unwrap(), c);
}

/// A calibration with a batch job ten times slower than quickstart's own model.
fn slow_batch_calibration(dir: &Path) -> std::path::PathBuf {
    let text = r#"
[measured]
host = "test"
at = "2026-11-26T00:00:00Z"
events = 1000
threads = 2
build = "release"
scenario = "ysb"
load_average = 0.1

[batch]
overhead_ms = 20000.0
cost_us_per_event = 200.0

[speed]
overhead_ms = 5.0
cost_us_per_event = 2.0

[lake]
tier_overhead_ms = 200.0
tier_cost_us_per_event = 5.0
query_overhead_ms = 50.0
query_cost_us_per_event = 0.5
"#;
    let path = dir.join("slow.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

/// A small scenario file with a batch lake (whose freshness is its batch job's duration).
fn scenario_file(dir: &Path) -> std::path::PathBuf {
    let text = r#"
name = "calibrated"
seed = 3
architectures = ["batch-lake", "kappa"]
duration_ms = 60_000

[workload]
rate_per_sec = 50
keys = 10
partitions = 2

[[queries]]
name = "key_window_count"
window_ms = 10_000

[batch]
interval_ms = 20_000
"#;
    let path = dir.join("calibrated.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_run_uses_the_calibration_and_can_be_repeated_from_its_results() {
    let dir = tempfile::tempdir().unwrap();
    let cal = slow_batch_calibration(dir.path());
    let scenario = scenario_file(dir.path());
    let plain = run_scenario_file_opts(&scenario, &dir.path().join("a"), &RunOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let s = summary(&plain.dir);
    assert_eq!(s["cost_model"]["source"], "scenario");
    assert!(!plain.dir.join(CALIBRATION_FILE).exists());

    let options = RunOptions { clock: None, calibration: Some(cal) };
    let calibrated = run_scenario_file_opts(&scenario, &dir.path().join("b"), &options)
        .unwrap_or_else(|e| panic!("{e}"));
    let c = summary(&calibrated.dir);
    assert_eq!(c["cost_model"]["source"], CALIBRATION_FILE);
    assert_eq!(c["cost_model"]["batch"]["overhead_ms"], 20000.0);
    // The slower batch jobs show: the batch lake's views arrive later.
    let busy = |s: &serde_json::Value| {
        s["architectures"]["batch-lake"]["freshness_ms"]["p50"].as_f64().unwrap()
    };
    assert!(busy(&c) > busy(&s), "batch-lake freshness p50 {} vs {}", busy(&c), busy(&s));

    // Repeated from the results directory alone: the same summary, byte for byte.
    let again =
        RunOptions { clock: None, calibration: Some(calibrated.dir.join(CALIBRATION_FILE)) };
    let rerun = run_scenario_file_opts(
        &calibrated.dir.join("scenario.toml"),
        &dir.path().join("c"),
        &again,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::fs::read(rerun.dir.join("summary.json")).unwrap(),
        std::fs::read(calibrated.dir.join("summary.json")).unwrap()
    );
}

#[test]
fn a_bad_calibration_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cal = slow_batch_calibration(dir.path());
    let text = std::fs::read_to_string(&cal)
        .unwrap()
        .replace("overhead_ms = 20000.0", "overhead_ms = \"slow\"");
    std::fs::write(&cal, text).unwrap();
    let options = RunOptions { clock: None, calibration: Some(cal) };
    let e = run_scenario_file_opts(Path::new("quickstart"), &dir.path().join("a"), &options)
        .unwrap_err()
        .to_string();
    assert!(e.contains("slow.toml") && e.contains("overhead_ms"), "{e}");
}
