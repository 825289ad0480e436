//! Records that stand for N events (`workload.events_per_record`): every query implementation
//! counts and sums by weight, distinct counts ignore it, the cost model charges per event, and
//! the summary says how many events each record stands for.

use std::path::Path;

use lambda_workbench::driver;
use lambda_workbench::query::QueryKind;
use lambda_workbench::scenario::Scenario;
use lambda_workbench::workload;

const WEIGHT: u32 = 25;

fn scenario(events_per_record: u32) -> Scenario {
    let text = format!(
        r#"
name = "weighted"
seed = 5
architectures = ["batch-lake", "lambda", "lambda-unified", "kappa", "streaming-lake"]
duration_ms = 40000

[workload]
rate_per_sec = 1000
keys = 12
partitions = 2
out_of_order_fraction = 0.2
max_delay_ms = 1500
users = 50
events_per_record = {events_per_record}

[[queries]]
name = "key_window_count"
window_ms = 10000

[[queries]]
name = "key_sum"
window_ms = 10000
slide_ms = 5000

[[queries]]
name = "distinct_users"
window_ms = 10000

[speed]
allowed_lateness_ms = 1500

[batch]
interval_ms = 10000
overhead_ms = 500.0

[lake]
segment_ms = 10000
"#
    );
    Scenario::parse(&text, Path::new("weighted.toml")).expect("test scenario parses")
}

#[test]
fn every_architecture_counts_and_sums_by_weight_and_ends_at_the_oracle() {
    let s = scenario(WEIGHT);
    let generated = workload::generate(&s.workload, s.seed, s.duration_ms);
    assert!(generated.iter().all(|e| e.weight == WEIGHT));
    let dir = tempfile::tempdir().unwrap();
    let run = driver::simulate(&s, dir.path()).unwrap();
    assert_eq!(run.records, generated.len() as u64);
    assert_eq!(run.events, run.records * u64::from(WEIGHT));
    // 1000 events/s for 40 s, written as 40 records/s.
    assert_eq!(run.events, 40_000);

    // The oracle counts N per record and sums value × N; distinct users are not weighted.
    let total = |kind: QueryKind| -> i64 {
        let id = run.queries.specs.iter().find(|q| q.kind == kind).unwrap().id;
        run.oracle_final.iter().filter(|(c, _)| c.query == id).map(|(_, n)| n).sum()
    };
    assert_eq!(total(QueryKind::KeyWindowCount), run.events as i64);
    // Sliding windows of twice the slide: every event lands in two windows.
    let value_sum: i64 = generated.iter().map(|e| e.value * i64::from(e.weight)).sum();
    assert_eq!(total(QueryKind::KeySum), 2 * value_sum);
    let distinct = run.queries.specs.iter().find(|q| q.kind == QueryKind::DistinctUsers).unwrap();
    assert!(
        run.oracle_final.iter().filter(|(c, _)| c.query == distinct.id).all(|(_, n)| *n <= 50),
        "a distinct count above the 50 users means it was weighted"
    );

    for a in &run.architectures {
        assert_eq!(a.final_view, run.oracle_final, "{} differs from the oracle", a.id);
    }
    // The stream jobs read (and are charged for) events, not records.
    let kappa = run.architectures.iter().find(|a| a.id == "kappa").unwrap();
    assert_eq!(kappa.stats.stream_events_read, run.events);
    let batch = run.architectures.iter().find(|a| a.id == "batch-lake").unwrap();
    assert!(batch.stats.batch_events_read >= run.events, "the last job reads every event");
    // The summary says what a record stands for.
    let summary = serde_json::to_value(lambda_workbench::report::summary(&s, &run)).unwrap();
    assert_eq!(summary["events_per_record"], WEIGHT);
    assert_eq!(summary["records"], run.records);
    assert_eq!(summary["events"], run.events);
}

#[test]
fn the_cost_model_charges_per_event_not_per_record() {
    let busy = |n: u32| {
        let mut s = scenario(n);
        s.architectures = vec!["kappa".into()];
        let dir = tempfile::tempdir().unwrap();
        let run = driver::simulate(&s, dir.path()).unwrap();
        (run.records, run.architectures[0].stats.stream_busy_ms)
    };
    let (records_1, busy_1) = busy(1);
    let (records_n, busy_n) = busy(WEIGHT);
    assert_eq!(records_1, records_n * u64::from(WEIGHT));
    // Same events, same per-event cost: the busy time differs only by the per-poll overheads
    // and rounding, not by a factor of N.
    assert!(
        (busy_n as f64) > 0.5 * busy_1 as f64,
        "busy {busy_n} ms with {WEIGHT} events per record vs {busy_1} ms with 1"
    );
}

#[test]
fn events_per_record_is_validated() {
    let text = std::fs::read_to_string("scenarios/quickstart.toml").unwrap();
    for bad in ["0", "1000001"] {
        let text =
            text.replace("partitions = 3", &format!("partitions = 3\nevents_per_record = {bad}"));
        let err = Scenario::parse(&text, Path::new("q.toml")).unwrap_err().to_string();
        assert!(err.contains("events_per_record"), "{err}");
    }
}
