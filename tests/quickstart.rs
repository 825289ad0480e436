//! The quickstart end to end: scenario file → log → lambda and kappa → oracle → results.

use std::path::Path;

use lambda_workbench::driver;
use lambda_workbench::run::run_scenario_file;
use lambda_workbench::scenario::Scenario;

fn quickstart() -> Scenario {
    Scenario::load(Path::new("scenarios/quickstart.toml")).expect("bundled quickstart parses")
}

#[test]
fn both_architectures_converge_to_the_oracle() {
    let scenario = quickstart();
    let dir = tempfile::tempdir().unwrap();
    let run = driver::simulate(&scenario, dir.path()).unwrap();
    assert!(run.converged, "every architecture settles before the drain limit");
    assert_eq!(run.events, 24_000);
    assert!(run.out_of_order_events > 1_000, "the workload has out-of-order events");
    assert_eq!(run.architectures.len(), 2);
    for a in &run.architectures {
        assert_eq!(a.final_view, run.oracle_final, "{} final answers equal the oracle", a.id);
        assert_eq!(a.final_error.mean_rel, 0.0);
        assert_eq!(a.never_visible, 0, "{}: every event becomes visible", a.id);
        assert_eq!(a.freshness.count, 24_000);
    }
    // While events are in flight the answers are behind the oracle at some sample.
    assert!(run.architectures.iter().all(|a| a.samples.iter().any(|(_, s)| s.mean_rel > 0.0)));
}

#[test]
fn lambda_serves_batch_plus_speed_without_double_counting_or_holes() {
    let scenario = quickstart();
    let dir = tempfile::tempdir().unwrap();
    let run = driver::simulate(&scenario, dir.path()).unwrap();
    let lambda = run.architectures.iter().find(|a| a.id == "lambda").unwrap();
    assert!(lambda.stats.batch_jobs >= 4, "a batch job every 30 s over 2 minutes");
    // At no sample does the served answer count an event twice, across every batch handoff.
    assert!(lambda.samples.iter().all(|(_, s)| s.excess == 0));
    // Speed results land within a poll of the append (500 ms poll + 5 ms overhead), so lambda
    // lags the oracle by at most one poll's worth of events (200/s): no hole at the boundary.
    let worst = lambda.samples.iter().map(|(_, s)| s.missing).max().unwrap();
    assert!(worst <= 200, "missing at worst {worst}");
}

#[test]
fn run_writes_summary_timeseries_views_and_plots() {
    let out = tempfile::tempdir().unwrap();
    let root = run_scenario_file(Path::new("scenarios/quickstart.toml"), out.path()).unwrap();
    assert_eq!(root, out.path().join("quickstart"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("summary.json")).unwrap()).unwrap();
    for id in ["lambda", "kappa"] {
        let a = &summary["architectures"][id];
        for q in ["p50", "p99", "max"] {
            assert!(a["freshness_ms"][q].as_i64().unwrap() > 0, "{id} freshness {q}");
        }
        assert!(a["error"]["mean_rel"].as_f64().unwrap() > 0.0);
        assert_eq!(a["error"]["final_rel"].as_f64(), Some(0.0));
        assert_eq!(a["error"]["final_equals_oracle"].as_bool(), Some(true));
    }
    let csv = std::fs::read_to_string(root.join("timeseries.csv")).unwrap();
    assert!(csv.starts_with("t_ms,architecture,metric,value\n"));
    assert!(csv.lines().any(|l| l.contains(",lambda,error_mean_rel,")));
    assert!(csv.lines().any(|l| l.contains(",kappa,error_mean_rel,")));
    // Ratios always carry a decimal point (a type-inferring reader must see floats).
    for line in
        csv.lines().filter(|l| l.contains(",fraction_exact,") || l.contains(",error_mean_rel,"))
    {
        let value = line.rsplit(',').next().unwrap();
        assert!(value.contains('.') || value.contains('e'), "{line}");
    }
    for ext in ["png", "svg"] {
        let plot = root.join("plots").join(format!("error_over_time.{ext}"));
        assert!(std::fs::metadata(&plot).unwrap().len() > 1000, "{}", plot.display());
    }
    assert_eq!(
        std::fs::read(root.join("final_views/lambda.csv")).unwrap(),
        std::fs::read(root.join("final_views/oracle.csv")).unwrap()
    );
}

#[test]
fn reruns_are_byte_identical() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ra = run_scenario_file(Path::new("scenarios/quickstart.toml"), a.path()).unwrap();
    let rb = run_scenario_file(Path::new("scenarios/quickstart.toml"), b.path()).unwrap();
    for f in
        ["summary.json", "timeseries.csv", "final_views/kappa.csv", "plots/error_over_time.svg"]
    {
        assert_eq!(std::fs::read(ra.join(f)).unwrap(), std::fs::read(rb.join(f)).unwrap(), "{f}");
    }
}

#[test]
fn exported_events_recompute_the_final_views() {
    use polars::prelude::*;
    let out = tempfile::tempdir().unwrap();
    let root = run_scenario_file(Path::new("scenarios/quickstart.toml"), out.path()).unwrap();
    let path = lambda_workbench::run::export_events(&root).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let df = ParquetReader::new(std::io::Cursor::new(bytes)).finish().unwrap();
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(
        names,
        [
            "partition",
            "offset",
            "key",
            "event_time_ms",
            "append_time_ms",
            "user_id",
            "page_id",
            "ad_type",
            "event_type",
            "value",
            "weight"
        ]
    );
    assert_eq!(df.height(), 24_000);
    // Recount per key and window from the exported events alone: the total equals the sum of
    // the oracle's final view.
    let view = std::fs::read_to_string(root.join("final_views/oracle.csv")).unwrap();
    let total: i64 =
        view.lines().skip(1).filter_map(|l| l.rsplit(',').next()?.parse::<i64>().ok()).sum();
    assert_eq!(total, df.height() as i64);
}

#[test]
fn results_load_in_polars_without_cleaning() {
    use polars::prelude::*;
    let out = tempfile::tempdir().unwrap();
    let root = run_scenario_file(Path::new("scenarios/quickstart.toml"), out.path()).unwrap();
    let read = |file: &str| {
        CsvReadOptions::default()
            .with_has_header(true)
            .try_into_reader_with_file_path(Some(root.join(file)))
            .unwrap()
            .finish()
            .unwrap()
    };
    let ts = read("timeseries.csv");
    assert_eq!(ts.get_column_names().len(), 4);
    assert_eq!(ts.column("t_ms").unwrap().dtype(), &DataType::Int64);
    assert_eq!(ts.column("value").unwrap().dtype(), &DataType::Float64);
    assert!(ts.height() > 500);
    let view = read("final_views/lambda.csv");
    assert_eq!(view.column("window_start_ms").unwrap().dtype(), &DataType::Int64);
    assert_eq!(view.column("value").unwrap().dtype(), &DataType::Int64);
    assert_eq!(view.height(), read("final_views/oracle.csv").height());
}
