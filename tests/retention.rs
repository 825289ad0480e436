//! Answer retention (`[serving] ttl_ms`): every architecture and the oracle forget windows
//! that ended more than the retention ago, so a long run holds only the live windows — and
//! the live answers are exactly what they are without retention.

use std::path::Path;

use lambda_workbench::driver::{self, RunResult};
use lambda_workbench::query::{QuerySet, Table};
use lambda_workbench::scenario::Scenario;

const ALL: &str = r#"["batch-lake", "lambda", "lambda-unified", "kappa", "streaming-lake"]"#;

fn text(serving: &str) -> String {
    format!(
        r#"
name = "t"
seed = 5
architectures = {ALL}
duration_ms = 600000
sample_every_ms = 5000

[workload]
rate_per_sec = 30
keys = 12
partitions = 2
out_of_order_fraction = 0.1
max_delay_ms = 2000

[[queries]]
name = "key_window_count"
window_ms = 10000

[[queries]]
name = "distinct_users"
window_ms = 20000
slide_ms = 10000

[batch]
interval_ms = 30000

[lake]
segment_ms = 20000

[[faults]]
kind = "speed_crash"
at_ms = 100000
down_ms = 10000

[[faults]]
kind = "logic_change"
at_ms = 200000
query = "key_window_count"
exclude_bots = true
{serving}
"#
    )
}

fn scenario(serving: &str) -> Scenario {
    Scenario::parse(&text(serving), Path::new("retention.toml")).expect("test scenario parses")
}

fn run(s: &Scenario) -> RunResult {
    let dir = tempfile::tempdir().unwrap();
    driver::simulate(s, dir.path()).unwrap()
}

/// `table` restricted to the windows ending after `through`.
fn live(table: &Table, queries: &QuerySet, through: i64) -> Table {
    table
        .iter()
        .filter(|(c, _)| queries.is_live(c, through))
        .map(|(c, n)| (c.clone(), *n))
        .collect()
}

#[test]
fn retention_keeps_the_live_answers_exact_and_the_tables_small() {
    let ttl = 60_000;
    let kept = run(&scenario(""));
    let expiring = run(&scenario(&format!("[serving]\nttl_ms = {ttl}")));
    assert!(kept.converged && expiring.converged);
    let end = expiring.end_ms;
    assert_eq!(kept.end_ms, end, "retention changes nothing about when the run settles");
    let through = end - ttl;
    let queries = &expiring.queries;

    // The truth with retention is the truth without it, on the windows still live.
    assert!(!expiring.oracle_final.is_empty());
    assert!(expiring.oracle_final.keys().all(|c| queries.is_live(c, through)));
    assert_eq!(expiring.oracle_final, live(&kept.oracle_final, queries, through));
    assert!(expiring.oracle_final.len() * 3 < kept.oracle_final.len(), "old windows went");

    for (with, without) in expiring.architectures.iter().zip(&kept.architectures) {
        assert_eq!(with.id, without.id);
        // Every architecture serves the live windows, each as it does without retention
        // (kappa drops late events here either way); the others exactly right.
        let same = with.final_view == live(&without.final_view, queries, through);
        assert!(same, "{}: final answers differ from the live part of the run without", with.id);
        if with.id != "kappa" {
            assert!(with.final_view == expiring.oracle_final, "{}: not exact", with.id);
        }
        assert_eq!(with.final_error.cells, expiring.oracle_final.len(), "{}", with.id);
        // What it holds is bounded by the live windows (plus a minute of slack), not by
        // the run: here well under half of what it held keeping everything.
        assert!(
            with.stats.peak_table_cells * 2 < without.stats.peak_table_cells,
            "{}: {} cells held with retention, {} without",
            with.id,
            with.stats.peak_table_cells,
            without.stats.peak_table_cells
        );
        // Expiry is applied to both sides of every comparison at once: it never shows as an
        // error. A sample compares a subset of the cells it compares without retention, each
        // the same way, so it can only find less excess and less missing.
        assert_eq!(with.samples.len(), without.samples.len());
        for ((t, a), (u, b)) in with.samples.iter().zip(&without.samples) {
            assert_eq!(t, u);
            assert!(a.excess <= b.excess && a.missing <= b.missing, "{} at {t}", with.id);
            assert!(a.cells <= b.cells, "{} at {t}", with.id);
        }
    }
}

#[test]
fn a_retention_shorter_than_a_window_is_refused_by_name() {
    let err = Scenario::parse(&text("[serving]\nttl_ms = 15000"), Path::new("short.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("serving.ttl_ms") && err.contains("20000"), "{err}");
}

/// A kappa replay slower than the log's retention: the segments it has not reached yet are
/// deleted under it. It goes on from the log start (Kafka Streams' `auto.offset.reset =
/// earliest`) and counts what it lost; with answers kept for less than the log, what it lost
/// belongs to expired windows only, so the answers it switches to are still exact.
#[test]
fn a_replay_overtaken_by_retention_goes_on_from_the_log_start_and_counts_the_loss() {
    let text = r#"
name = "t"
seed = 3
architectures = ["kappa"]
duration_ms = 400000

[workload]
rate_per_sec = 100
keys = 8
partitions = 2
out_of_order_fraction = 0.0

[[queries]]
name = "key_window_count"
window_ms = 10000

[speed]
cost_us_per_event = 2000.0

[lake]
segment_ms = 5000

[log]
retention_ms = 120000

[serving]
ttl_ms = 30000

[[faults]]
kind = "logic_change"
at_ms = 300000
query = "key_window_count"
exclude_bots = true
"#;
    let s = Scenario::parse(text, Path::new("replay.toml")).unwrap();
    let r = run(&s);
    assert!(r.converged);
    let kappa = &r.architectures[0];
    assert_eq!(kappa.stats.reprocessings, 1);
    assert!(kappa.stats.records_lost_to_retention > 0, "the replay was never overtaken");
    assert!(kappa.final_view == r.oracle_final, "lost records reached a live window");
    assert!(!r.oracle_final.is_empty());
}

/// The soak scenarios stay loadable, and the realtime one keeps its log for at least its
/// answers' retention, the widest window and the layers' minute of slack (what
/// `scenarios/README.md` asks of a long run), so no layer keeps a window the log cannot hold.
#[test]
fn the_soak_scenarios_load_and_keep_the_log_longer_than_the_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    Scenario::load(&root.join("soak-simulated.toml")).unwrap();
    let s = Scenario::load(&root.join("soak-realtime.toml")).unwrap();
    let ttl = s.serving.ttl_ms.expect("the realtime soak keeps answers for a while");
    let widest = s.queries.iter().map(|q| q.window_ms).max().unwrap();
    let retention = s.log.retention_ms.expect("and its log for a while longer");
    assert!(retention >= ttl + widest + lambda_workbench::query::EXPIRY_SLACK_MS);
}
