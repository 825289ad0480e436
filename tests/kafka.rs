//! `[log] backend = "kafka"`: every architecture runs on events that went through a real
//! Kafka-compatible broker (tansu, started here on a free port) and came back at the broker's
//! offsets. Skipped, saying so, when tansu is not installed (`scripts/kafka-broker install`;
//! `scripts/test` installs it).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use lambda_workbench::scenario::{RunClock, Scenario};
use lambda_workbench::{arch, driver, realtime};

fn scenario(bootstrap: &str, timeout_ms: u64) -> String {
    format!(
        r#"name = "kafka-test"
seed = 5
architectures = ["lambda", "kappa", "streaming-lake"]
duration_ms = 20_000

[workload]
rate_per_sec = 200
keys = 20
partitions = 3
out_of_order_fraction = 0.1
max_delay_ms = 500

[[queries]]
name = "key_window_count"
window_ms = 5_000

[speed]
allowed_lateness_ms = 500

[batch]
interval_ms = 10_000

[lake]
segment_ms = 5_000

[log]
backend = "kafka"
bootstrap_servers = ["{bootstrap}"]
kafka_timeout_ms = {timeout_ms}
"#
    )
}

#[test]
fn an_unreachable_broker_is_a_clear_error_not_a_hang() {
    // Port 1 on loopback: nothing listens, connections are refused at once.
    let text = scenario("127.0.0.1:1", 300);
    let s = Scenario::parse(&text, Path::new("k.toml")).expect("parses");
    let dir = tempfile::tempdir().unwrap();
    let err = driver::simulate(&s, dir.path()).expect_err("no broker");
    let msg = err.to_string();
    assert!(msg.contains("kafka at 127.0.0.1:1"), "{msg}");
}

#[test]
fn kafka_needs_servers_and_excludes_a_simulated_cluster() {
    let bad =
        scenario("127.0.0.1:9092", 1000).replace("bootstrap_servers = [\"127.0.0.1:9092\"]", "");
    let err = Scenario::parse(&bad, Path::new("k.toml")).expect_err("no servers");
    assert_eq!(err.field(), Some("log.bootstrap_servers"), "{err}");
    let both = format!("{}\n[cluster]\nbrokers = 3\n", scenario("127.0.0.1:9092", 1000));
    let err = Scenario::parse(&both, Path::new("k.toml")).expect_err("both");
    assert_eq!(err.field(), Some("log.backend"), "{err}");
    let wrong =
        scenario("127.0.0.1:9092", 1000).replace("backend = \"kafka\"", "backend = \"pulsar\"");
    let err = Scenario::parse(&wrong, Path::new("k.toml")).expect_err("unknown backend");
    assert_eq!(err.field(), Some("log.backend"), "{err}");
}

/// The tansu binary, if installed.
fn tansu() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WORKBENCH_TANSU") {
        return Some(PathBuf::from(p));
    }
    let tools = std::env::var_os("WORKBENCH_TOOLS").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/lambda-workbench"))
    })?;
    let bin = tools.join("tansu/bin/tansu");
    bin.is_file().then_some(bin)
}

/// A broker process, killed on drop.
struct Broker {
    child: Child,
    port: u16,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts tansu on a free port and waits — by reading its log, not by sleeping — until it
/// listens.
fn start_broker(bin: &Path) -> Broker {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("tcp://127.0.0.1:{port}");
    let mut child = Command::new(bin)
        .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
        .args(["--storage-engine", "memory://tansu/"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tansu");
    // tansu logs through tracing to stdout; the line naming the listener comes once it binds.
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                let ready = line.contains(&port.to_string()) || line.contains("listening");
                seen.push(line);
                if ready {
                    break;
                }
            }
            _ => panic!("tansu exited before listening: {seen:?}"),
        }
    }
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Broker { child, port }
}

#[test]
fn every_architecture_runs_on_a_real_broker_at_its_offsets() {
    let Some(bin) = tansu() else {
        eprintln!(
            "SKIPPED: tansu (a Kafka-compatible broker) is not installed; run \
             `scripts/kafka-broker install` (scripts/test does)"
        );
        return;
    };
    let broker = start_broker(&bin);
    let text = scenario(&format!("127.0.0.1:{}", broker.port), 10_000);
    let s = Scenario::parse(&text, Path::new("k.toml")).expect("parses");
    let dir = tempfile::tempdir().unwrap();
    let run = driver::simulate(&s, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(run.converged);
    let kafka = run.kafka.expect("kafka stats");
    assert_eq!(run.events, 4_000, "every event went through the broker");
    assert_eq!(kafka.produced, run.events);
    assert_eq!(kafka.fetched, run.events, "and came back, offset for offset");
    for a in &run.architectures {
        assert!(a.final_view == run.oracle_final, "{} ends exactly right", a.id);
    }
    // A second run recreates the topic: offsets start at 0 again and the answers are the same.
    let dir2 = tempfile::tempdir().unwrap();
    let again = driver::simulate(&s, dir2.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.oracle_final, run.oracle_final);
}

#[test]
fn a_realtime_run_goes_through_a_real_broker_as_events_are_due() {
    let Some(bin) = tansu() else {
        eprintln!(
            "SKIPPED: tansu (a Kafka-compatible broker) is not installed; run \
             `scripts/kafka-broker install` (scripts/test does)"
        );
        return;
    };
    let broker = start_broker(&bin);
    // Two seconds of wall-clock time, the same queries and backend as the simulated test.
    let text = scenario(&format!("127.0.0.1:{}", broker.port), 10_000)
        .replace(
            "duration_ms = 20_000",
            "duration_ms = 2_000\nclock = \"realtime\"\nsample_every_ms = 200",
        )
        .replace("interval_ms = 10_000", "interval_ms = 1_000")
        .replace("segment_ms = 5_000", "segment_ms = 1_000")
        .replace("window_ms = 5_000", "window_ms = 500")
        .replace("[speed]", "[speed]\npoll_interval_ms = 100");
    let s = Scenario::parse(&text, Path::new("k.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.clock, RunClock::Realtime);
    let dir = tempfile::tempdir().unwrap();
    let run = realtime::run_realtime(&s, dir.path(), &arch::build, &mut || {}, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(run.converged, "every architecture settled");
    assert!(!run.partial);
    let kafka = run.kafka.expect("kafka stats");
    assert_eq!(run.events, 400, "every event went through the broker");
    assert_eq!(kafka.produced, run.events);
    assert_eq!(kafka.fetched, run.events, "and came back, offset for offset");
    for a in &run.architectures {
        assert!(a.final_view == run.oracle_final, "{} ends exactly right", a.id);
    }
}
