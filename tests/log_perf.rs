//! A throughput smoke test (ignored by default): `cargo test --release --test integration log_perf:: -- --ignored`.

use std::sync::Arc;
use std::time::Instant;

use lambda_workbench::log::{
    Consumer, FsyncPolicy, Log, LogConfig, ManualClock, Producer, ProducerConfig, Record,
    StartPosition,
};

#[test]
#[ignore]
fn one_million_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let cfg = LogConfig {
        segment_bytes: 8 << 20,
        fsync: FsyncPolicy::Interval { ms: 1000 },
        ..LogConfig::default()
    };
    let mut log = Log::open(dir.path(), cfg.clone(), clock.clone()).unwrap();
    log.create_topic("t", 4).unwrap();
    let mut prod = Producer::new(ProducerConfig::default());
    let n = 1_000_000;
    let t0 = Instant::now();
    for i in 0..n {
        let r = Record::new(format!("value-{i:08}-{}", "x".repeat(40)), i)
            .with_key(format!("k{}", i % 1000));
        prod.send(&log, "t", r).unwrap();
        if i % 1000 == 0 {
            clock.advance(1);
        }
    }
    prod.flush(&log).unwrap();
    let write = t0.elapsed();
    drop(log);
    let t1 = Instant::now();
    let log = Log::open(dir.path(), cfg, clock).unwrap();
    let open = t1.elapsed();
    let t2 = Instant::now();
    let mut c = Consumer::new(&log, "t", None, StartPosition::Earliest).unwrap();
    let mut got = 0;
    loop {
        let batch = c.poll(&log, 10_000).unwrap();
        if batch.is_empty() {
            break;
        }
        got += batch.len();
    }
    let read = t2.elapsed();
    assert_eq!(got, n as usize);
    let t3 = Instant::now();
    let p = log.topic("t").unwrap().partition(0).unwrap();
    for t in (0..n).step_by(n as usize / 100) {
        p.offset_for_time(t).unwrap();
    }
    eprintln!(
        "write {write:?}, reopen {open:?}, read {read:?}, 100 offset_for_time {:?}",
        t3.elapsed()
    );
}
