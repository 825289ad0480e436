//! The realtime driver end to end: wall-clock time, threads, measured timings. No assertion
//! here depends on how fast the machine is: the runs are short, and what is checked is what
//! must hold however the threads interleave (answers equal the oracle, every event visible,
//! faults applied, Ctrl-C keeps partial results).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use lambda_workbench::arch;
use lambda_workbench::realtime::run_realtime;
use lambda_workbench::scenario::{RunClock, Scenario};

/// Two seconds of 150 events/s, with a speed crash and a failed batch job. Batch jobs every
/// 500 ms so several run (and one is retried) within the run.
const SMALL: &str = r#"
name = "realtime-small"
seed = 11
clock = "realtime"
architectures = ["lambda", "kappa", "streaming-lake"]
duration_ms = 2_000
sample_every_ms = 250

[workload]
rate_per_sec = 150
keys = 10
partitions = 2
out_of_order_fraction = 0.1
max_delay_ms = 100

[[queries]]
name = "key_window_count"
window_ms = 500

[speed]
poll_interval_ms = 50
# Covers the largest out-of-order delay: no event is late, so the answers must be exact.
allowed_lateness_ms = 300

[batch]
interval_ms = 500

[lake]
segment_ms = 500

[[faults]]
kind = "speed_crash"
at_ms = 700
down_ms = 200

[[faults]]
kind = "batch_failure"
at_ms = 900
retry_ms = 100
"#;

#[test]
fn a_realtime_run_converges_to_the_oracle_with_real_freshness() {
    let scenario = Scenario::parse(SMALL, Path::new("realtime-small.toml")).unwrap();
    assert_eq!(scenario.clock, RunClock::Realtime);
    let dir = tempfile::tempdir().unwrap();
    let mut started = 0;
    let mut last_progress = 0;
    let run =
        run_realtime(&scenario, dir.path(), &arch::build, &mut || started += 1, &mut |t, _| {
            last_progress = t
        })
        .unwrap();
    assert_eq!(started, 1);
    assert!(last_progress >= scenario.duration_ms, "progress reached the end of the workload");
    assert_eq!(run.clock, RunClock::Realtime);
    assert!(!run.partial);
    let settled: Vec<_> = run.architectures.iter().map(|a| (&a.id, a.quiescent_at_ms)).collect();
    assert!(run.converged, "not settled by {} ms: {settled:?}", run.end_ms);
    assert_eq!(run.events, 300, "every generated event was produced");
    assert!(run.end_ms >= scenario.duration_ms);
    assert_eq!(run.architectures.len(), 3);
    for a in &run.architectures {
        assert_eq!(a.final_view, run.oracle_final, "{}: final answers equal the oracle", a.id);
        assert_eq!(a.never_visible, 0, "{}: every event became visible", a.id);
        assert_eq!(a.freshness.count, 300, "{}", a.id);
        let f = a.freshness;
        assert!(f.p50 > 0 && f.p99 >= f.p50 && f.max >= f.p99, "{}: {f:?}", a.id);
        assert!(f.mean.is_finite() && f.mean > 0.0, "{}: {f:?}", a.id);
        assert!(!a.samples.is_empty() && a.quiescent_at_ms.is_some(), "{}", a.id);
    }
    let find = |id: &str| run.architectures.iter().find(|a| a.id == id).unwrap();
    let lambda = find("lambda");
    assert_eq!(lambda.stats.stream_crashes, 1);
    assert_eq!(lambda.stats.batch_failures, 1, "the batch failure fault hit one job");
    assert!(lambda.stats.batch_jobs >= 3, "jobs every 500 ms plus the retry");
    // The serving layer never counts an event twice, whatever the timing of the handoff.
    assert!(lambda.samples.iter().all(|(_, s)| s.excess == 0), "{:?}", lambda.samples);
    assert!(lambda.timeline.iter().any(|(_, e)| *e == "batch job fails"));
    assert_eq!(find("kappa").stats.stream_crashes, 1);
}

/// A scenario the Ctrl-C test interrupts long before it ends.
const LONG: &str = r#"
name = "realtime-interrupted"
seed = 3
clock = "realtime"
architectures = ["kappa"]
duration_ms = 600_000
sample_every_ms = 100

[workload]
rate_per_sec = 100
keys = 5
partitions = 1

[[queries]]
name = "key_window_count"
window_ms = 1_000

[speed]
poll_interval_ms = 50
"#;

#[test]
fn ctrl_c_stops_a_realtime_run_and_keeps_partial_results() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.toml");
    std::fs::write(&file, LONG).unwrap();
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Event-driven: the binary says on stderr when the run is under way and Ctrl-C is handled.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "workbench ended before saying the run started");
        if line.contains("realtime run of realtime-interrupted started") {
            break;
        }
    }
    let status = Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "stderr: {rest}");
    assert!(rest.contains("partial results"), "{rest}");

    let root = out.join("realtime-interrupted");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["partial"], true);
    assert_eq!(summary["driver"], "realtime");
    assert_eq!(summary["converged"], false);
    assert!(summary["end_ms"].as_i64().unwrap() < 600_000);
    assert!(summary["architectures"]["kappa"].is_object());
    for f in [
        "scenario.toml",
        "timeseries.csv",
        "timeline.csv",
        "timing.json",
        "final_views/oracle.csv",
        "final_views/kappa.csv",
        "report.html",
    ] {
        assert!(root.join(f).is_file(), "{f} written");
    }
}
