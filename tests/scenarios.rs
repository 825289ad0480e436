//! Every bundled scenario, run in simulated mode: it loads, converges, and shows what its
//! `[expect]` table says it teaches (these files are test inputs as much as examples).

use std::path::{Path, PathBuf};

use lambda_workbench::driver;
use lambda_workbench::scenario::Scenario;

fn bundled() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("scenarios")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

fn check(path: &Path) -> driver::RunResult {
    let scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    check_scenario(path, &scenario)
}

fn check_scenario(path: &Path, scenario: &Scenario) -> driver::RunResult {
    assert!(
        !scenario.lesson.trim().is_empty(),
        "{}: every bundled scenario teaches",
        path.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let run = driver::simulate(scenario, dir.path())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(run.converged, "{}: every architecture settles", path.display());
    if let Some(lose) = scenario.expect.lost_acked_events {
        let cluster = run.cluster.as_ref().expect("expect.lost_acked_events needs a [cluster]");
        let lost = cluster.feed.lost_acked_events;
        assert_eq!(lost > 0, lose, "{}: {lost} acknowledged events lost", path.display());
        // The producer retries what the cluster refuses: every event is acknowledged once.
        assert_eq!(cluster.feed.acked_events, cluster.events_generated, "{}", path.display());
        // Without retried writes (which may duplicate), the committed log the architectures
        // read holds exactly what was acknowledged and not lost.
        if cluster.feed.retried_writes == 0 {
            assert_eq!(run.records + lost, cluster.feed.acked_events, "{}", path.display());
        }
    }
    for a in &run.architectures {
        let exact = a.final_view == run.oracle_final;
        if scenario.expect.exact.contains(&a.id) {
            assert!(
                exact,
                "{}: {} must end exactly right (final error {:?})",
                path.display(),
                a.id,
                a.final_error
            );
        }
        if scenario.expect.inexact.contains(&a.id) {
            assert!(!exact, "{}: {} must end wrong here", path.display(), a.id);
        }
        assert_eq!(a.stats.audit_max_double_counted, 0, "{}: {}", path.display(), a.id);
        // With no late population and lateness covering the out-of-order delay, nothing is
        // late — events a query filters out (clicks, for a count of views) are not late either.
        let w = &scenario.workload;
        if w.late_fraction == 0.0 && scenario.speed.allowed_lateness_ms >= w.max_delay_ms {
            assert_eq!(a.stats.late_events, 0, "{}: {}", path.display(), a.id);
        }
    }
    run
}

#[test]
fn there_are_bundled_scenarios() {
    let names: Vec<String> = bundled()
        .iter()
        .filter_map(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    for expected in [
        "broker-failover",
        "broker-failover-acks-all",
        "scale-out",
        "quickstart",
        "ysb",
        "late-data",
        "approximate-distinct",
        "reprocess-cost",
        "speed-crash",
        "batch-failure",
        "logic-drift",
        "logic-change",
        "burst",
        "skew",
        "tiered-lake",
    ] {
        assert!(names.iter().any(|n| n == expected), "scenarios/{expected}.toml is missing");
    }
}

#[test]
fn every_file_is_bundled_and_every_bundled_file_parses() {
    let embedded: Vec<&str> = lambda_workbench::scenario::BUNDLED.iter().map(|(n, _)| *n).collect();
    for path in bundled() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(embedded.contains(&name.as_str()), "{name} is not in scenario::BUNDLED");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(lambda_workbench::scenario::bundled(&name), Some(text.as_str()));
    }
}

#[test]
fn tiered_lake() {
    check(Path::new("scenarios/tiered-lake.toml"));
}

#[test]
fn quickstart() {
    check(Path::new("scenarios/quickstart.toml"));
}

#[test]
fn ysb() {
    check(Path::new("scenarios/ysb.toml"));
}

#[test]
fn late_data() {
    let path = Path::new("scenarios/late-data.toml");
    let run = check(path);
    let duration_ms = Scenario::load(path).unwrap().duration_ms;
    // Kappa drops the 40 s-late events for good: its answers are wrong (never-visible events),
    // not behind. Its staleness follows the late population's age (40 s) plus the allowed
    // lateness (5 s) and polls, as the lake's does, instead of sticking at the first dropped
    // event's time for the rest of the run (150 s by the end, before drops were reported).
    let worst = |id: &str| {
        let a = run.architectures.iter().find(|a| a.id == id).unwrap();
        let during = a.staleness.iter().filter(|(t, _)| *t <= duration_ms);
        (a, during.filter_map(|(_, s)| *s).max().unwrap())
    };
    let (kappa, kappa_worst) = worst("kappa");
    let (_, lake_worst) = worst("streaming-lake");
    assert!(kappa.never_visible > 0, "kappa drops the late events");
    assert!(kappa_worst <= lake_worst + 10_000, "kappa {kappa_worst} ms, lake {lake_worst} ms");
}

#[test]
fn approximate_distinct() {
    check(Path::new("scenarios/approximate-distinct.toml"));
}

#[test]
fn reprocess_cost() {
    check(Path::new("scenarios/reprocess-cost.toml"));
}

#[test]
fn speed_crash() {
    check(Path::new("scenarios/speed-crash.toml"));
}

#[test]
fn batch_failure() {
    check(Path::new("scenarios/batch-failure.toml"));
}

#[test]
fn logic_drift() {
    check(Path::new("scenarios/logic-drift.toml"));
}

#[test]
fn burst() {
    check(Path::new("scenarios/burst.toml"));
}

#[test]
fn broker_failover() {
    check(Path::new("scenarios/broker-failover.toml"));
}

#[test]
fn broker_failover_acks_all() {
    check(Path::new("scenarios/broker-failover-acks-all.toml"));
}

#[test]
fn scale_out() {
    let path = Path::new("scenarios/scale-out.toml");
    let run = check(path);
    // What the lesson says, checked: the unthrottled move hurts freshness and throughput, the
    // throttled one moves the same kind of data more slowly, and the dead member's
    // uncommitted window is processed again, exactly.
    let cluster = run.cluster.as_ref().unwrap();
    let so = cluster.scale_out.as_ref().expect("brokers changed: scale_out figures");
    let r = &so.reassignment;
    assert_eq!((r.brokers_added, r.brokers_removed), (1, 1));
    assert!(r.partitions_moved >= 6, "{r:?}");
    assert_eq!(r.replicas_deleted, r.partitions_moved, "one replica replaced per move");
    assert!(r.bytes_moved > 0 && r.busy_ms > 0);
    let added: Vec<_> = r.partitions.iter().filter(|p| p.started_ms == 30_000).collect();
    let removed: Vec<_> = r.partitions.iter().filter(|p| p.started_ms == 75_000).collect();
    assert!(!added.is_empty() && !removed.is_empty());
    assert!(removed.iter().all(|p| !p.to.contains(&0)), "broker 0 keeps nothing");
    // Throttled moves copy at most 10 bytes/ms per leader (plus one bucket of 10 KB).
    for p in &removed {
        assert!(p.bytes <= 10 * p.ms as u64 + 10_000, "{p:?}");
    }
    assert_eq!(cluster.feed.lost_acked_events, 0);
    for (id, s) in &so.staleness_ms {
        assert!(s.max_during > s.max_outside, "{id}: {s:?}");
    }
    let (during, outside) = (so.acked_events_per_sec_during, so.acked_events_per_sec_outside);
    assert!(during.unwrap() < outside.unwrap(), "{during:?} {outside:?}");
    let g = run.consumer_group.as_ref().unwrap();
    assert_eq!(g.rebalances, 2);
    assert!(g.records_reprocessed > 0);
    assert_eq!(g.records_reprocessed, g.uncommitted_at_handover);
    assert_eq!(g.rebalance_log[0].uncommitted_records, 0, "a join reprocesses nothing");
}

#[test]
fn skew() {
    check(Path::new("scenarios/skew.toml"));
}

#[test]
fn logic_change() {
    check(Path::new("scenarios/logic-change.toml"));
}

/// The first two hours of the simulated day (the whole day is `day_in_full`, in release).
#[test]
fn day() {
    let path = Path::new("scenarios/day.toml");
    let mut scenario = Scenario::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(scenario.workload.events_per_record > 1, "a day needs records of many events");
    scenario.duration_ms = 2 * 3_600_000;
    check_scenario(path, &scenario);
}

/// The whole simulated day: 172.8 million events as 172,800 records. Slow in a debug build;
/// run with `cargo nextest run --release --run-ignored only day_in_full`.
#[test]
#[ignore = "a simulated day: run in release"]
fn day_in_full() {
    check(Path::new("scenarios/day.toml"));
}

#[test]
fn list_and_explain_teach_from_the_command_line() {
    let bin = env!("CARGO_BIN_EXE_workbench");
    let list = std::process::Command::new(bin).arg("list").output().unwrap();
    assert!(list.status.success());
    let list = String::from_utf8(list.stdout).unwrap();
    for (name, _) in lambda_workbench::scenario::BUNDLED {
        assert!(list.lines().any(|l| l.starts_with(name)), "`list` shows {name}");
    }
    let explain = std::process::Command::new(bin).args(["explain", "late-data"]).output().unwrap();
    assert!(explain.status.success());
    let text = String::from_utf8(explain.stdout).unwrap();
    assert!(text.contains("allowed lateness"), "the lesson is printed");
    assert!(text.contains("ends WRONG"), "what to expect per architecture");
    assert!(text.contains("src/kappa/mod.rs"), "which files to read");
    let missing = std::process::Command::new(bin).args(["explain", "no-such"]).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such"));
}

#[test]
fn after_a_logic_change_lambda_and_lambda_unified_serve_the_same_answers() {
    // Same architecture, different code: with no drift, both redeploy the new logic the same
    // way, so their error is identical at every sample (a runner left on the old version
    // would show here long before the final answers do).
    let mut scenario = Scenario::load(Path::new("scenarios/logic-change.toml")).unwrap();
    scenario.architectures = vec!["lambda".into(), "lambda-unified".into()];
    let dir = tempfile::tempdir().unwrap();
    let run = driver::simulate(&scenario, dir.path()).unwrap();
    let (a, b) = (&run.architectures[0], &run.architectures[1]);
    assert_eq!(a.samples, b.samples);
    assert!(
        a.samples.iter().any(|(t, s)| *t > 60_000 && s.excess > 0),
        "the old logic shows for a while"
    );
}
