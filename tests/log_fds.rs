//! Issue #9: closed segments do not hold file descriptors. A log with hundreds of segments,
//! written, reopened and read end to end, keeps the process's open-file count within the
//! cache's capacity (plus the active segments' own files).
//!
//! The count is per process, so nothing else may run beside it: cargo-nextest gives each test
//! a process, but `cargo test` runs the whole integration binary's tests as threads of one, so
//! the test runs itself again alone in a child process ([`alone`]).

use std::process::Command;
use std::sync::Arc;

use lambda_workbench::log::{FileCache, FsyncPolicy, Log, LogConfig, ManualClock, Record};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Set in the child process that runs a test alone.
const ALONE: &str = "WORKBENCH_TEST_ALONE";

/// Whether to run test `name` here: in the child, yes; otherwise runs it in a child process
/// of this test binary with nothing beside it, checks that it passed, and says no.
fn alone(name: &str) -> bool {
    if std::env::var_os(ALONE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, "1")
        .output()
        .expect("run the test alone");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name}, run alone, failed:\n{text}");
    assert!(text.contains("1 passed"), "{name} did not run alone:\n{text}");
    false
}

#[test]
fn many_segments_keep_the_open_file_count_bounded() {
    if !alone("log_fds::many_segments_keep_the_open_file_count_bounded") {
        return;
    }
    if !std::path::Path::new("/proc/self/fd").exists() {
        eprintln!("no /proc/self/fd here: skipping");
        return;
    }
    const CAPACITY: usize = 8;
    const PARTITIONS: u32 = 2;
    const RECORDS: u64 = 4_000;
    let dir = tempfile::tempdir().unwrap();
    let cache = FileCache::new(CAPACITY);
    let config = LogConfig {
        // one record per batch, ~40 per segment: ~50 segments per partition.
        segment_bytes: 4096,
        fsync: FsyncPolicy::Never,
        open_files: cache.clone(),
        ..LogConfig::default()
    };
    let before = open_fds();
    // Each partition's active segment holds three files (log + two index writers).
    let bound = before + CAPACITY + 3 * PARTITIONS as usize + 4;
    let mut peak = 0;
    {
        let mut log = Log::open(dir.path(), config.clone(), Arc::new(ManualClock::new(0))).unwrap();
        log.create_topic("t", PARTITIONS).unwrap();
        for i in 0..RECORDS {
            let r = Record::new(format!("value-{i:08}"), i as i64).with_key(format!("k{i}"));
            let p = log.topic("t").unwrap().partition((i % 2) as u32).unwrap();
            p.append(&[r]).unwrap();
            if i % 500 == 0 {
                peak = peak.max(open_fds());
            }
        }
        let segments = log.topic("t").unwrap().partition(0).unwrap().segments().len();
        assert!(segments > 4 * CAPACITY, "only {segments} segments: the test proves nothing");
    }
    assert!(peak <= bound, "{peak} files open while writing (bound {bound})");
    // Reopen: every closed segment is opened and checked once, then read end to end twice.
    let log = Log::open(dir.path(), config, Arc::new(ManualClock::new(0))).unwrap();
    peak = peak.max(open_fds());
    for _ in 0..2 {
        for p in log.topic("t").unwrap().partitions() {
            let mut next = p.log_start_offset();
            let mut read = 0;
            while next < p.log_end_offset() {
                let got = p.read(next, 37).unwrap();
                peak = peak.max(open_fds());
                next = got.last().unwrap().offset + 1;
                read += got.len() as u64;
            }
            assert_eq!(read, RECORDS / u64::from(PARTITIONS));
        }
    }
    assert!(peak <= bound, "{peak} files open while reading (bound {bound}, before {before})");
    assert!(cache.len() <= CAPACITY);
    assert!(cache.opens() > CAPACITY as u64, "the cache reopened evicted segments");
    drop(log);
    assert!(open_fds() <= before + CAPACITY, "files left open after the log was dropped");
}
