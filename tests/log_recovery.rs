//! Crash recovery of the log: torn tails, flipped bytes, damaged indexes.
//!
//! Every test writes a partition with `FsyncPolicy::Always`, damages a copy of its files the way
//! a crash or a bad disk would, reopens it and checks that exactly the intact batches survive.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lambda_workbench::log::{
    Consumer, Header, Log, LogConfig, LogError, ManualClock, Partition, Producer, ProducerConfig,
    Record, RecoveryEvent, StartPosition,
};

fn config(segment_bytes: u64) -> LogConfig {
    LogConfig { segment_bytes, index_interval_bytes: 64, ..LogConfig::default() }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_000))
}

fn record(i: usize) -> Record {
    let mut r = Record::new(format!("value {i} {}", "x".repeat(i % 13)), (i as i64 * 7) % 50);
    if !i.is_multiple_of(3) {
        r = r.with_key(format!("key-{}", i % 5));
    }
    if i.is_multiple_of(4) {
        r.headers.push(Header { key: "h".into(), value: vec![i as u8] });
    }
    r
}

/// Writes `batches` batches (sizes 1..=3) and returns the records and, per batch, the byte
/// position its end has in the (single, active) segment and the record count so far.
fn write(dir: &Path, batches: usize) -> (Vec<Record>, Vec<(u64, usize)>) {
    let mut p = Partition::open(dir.to_path_buf(), config(1 << 20), clock()).unwrap();
    let mut all = Vec::new();
    let mut ends = Vec::new();
    for b in 0..batches {
        let batch: Vec<Record> = (0..b % 3 + 1).map(|i| record(all.len() + i)).collect();
        p.append(&batch).unwrap();
        all.extend(batch);
        ends.push((p.size_bytes(), all.len()));
    }
    assert_eq!(p.segments().len(), 1);
    (all, ends)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn read_all(p: &Partition) -> Vec<Record> {
    p.read(p.log_start_offset(), usize::MAX).unwrap().into_iter().map(|s| s.record).collect()
}

fn seg_path(dir: &Path, base: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// Records surviving a cut at byte `cut`: those of batches ending at or before it.
fn surviving(ends: &[(u64, usize)], cut: u64) -> usize {
    ends.iter().take_while(|(end, _)| *end <= cut).last().map_or(0, |&(_, n)| n)
}

#[test]
fn truncation_at_every_byte_keeps_exactly_the_whole_batches() {
    let src = tempfile::tempdir().unwrap();
    let (all, ends) = write(src.path(), 9);
    let size = ends.last().unwrap().0;
    for cut in 0..=size {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(src.path(), tmp.path());
        let f = std::fs::OpenOptions::new().write(true).open(seg_path(tmp.path(), 0, "log"));
        f.unwrap().set_len(cut).unwrap();
        let mut p = Partition::open(tmp.path().to_path_buf(), config(1 << 20), clock()).unwrap();
        let keep = surviving(&ends, cut);
        assert_eq!(read_all(&p), all[..keep], "cut at {cut}");
        assert_eq!(p.log_end_offset(), keep as u64);
        let boundary = cut == 0 || ends.iter().any(|&(e, _)| e == cut);
        let truncated =
            p.recovery_events().iter().any(|e| matches!(e, RecoveryEvent::Truncated { .. }));
        assert_eq!(truncated, !boundary, "cut at {cut}: {:?}", p.recovery_events());
        // The log goes on from the cut.
        let more: Vec<Record> = (100..103).map(record).collect();
        assert_eq!(p.append(&more).unwrap(), keep as u64);
        let mut want = all[..keep].to_vec();
        want.extend(more);
        assert_eq!(read_all(&p), want);
        drop(p);
        let p = Partition::open(tmp.path().to_path_buf(), config(1 << 20), clock()).unwrap();
        assert_eq!(read_all(&p), want, "after reopen, cut at {cut}");
        assert!(p.recovery_events().is_empty());
    }
}

/// A flipped byte in the *last* batch of the active segment looks like a torn write and is cut;
/// anywhere earlier, good batches follow it, so it is damage to acknowledged data: opening fails
/// with `Corrupt` at that batch instead of truncating everything after it.
#[test]
fn flipped_byte_in_active_segment_cuts_only_a_torn_tail() {
    let src = tempfile::tempdir().unwrap();
    let (all, ends) = write(src.path(), 9);
    let size = ends.last().unwrap().0;
    let last_start = ends[ends.len() - 2].0;
    for pos in 0..size {
        // Low and high bits alternate over positions, to keep the test quick.
        let mask = if pos % 2 == 0 { 0x01u8 } else { 0x80 };
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(src.path(), tmp.path());
        let path = seg_path(tmp.path(), 0, "log");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[pos as usize] ^= mask;
        std::fs::write(&path, bytes).unwrap();
        let opened = Partition::open(tmp.path().to_path_buf(), config(1 << 20), clock());
        // The flipped batch is the first one ending after `pos`.
        let keep = surviving(&ends, pos);
        let batch_start = ends.iter().map(|e| e.0).filter(|&e| e <= pos).max().unwrap_or(0);
        if pos >= last_start {
            assert_eq!(read_all(&opened.unwrap()), all[..keep], "flip at {pos}");
        } else {
            match opened {
                Err(LogError::Corrupt { position, reason, .. }) => {
                    assert_eq!(position, batch_start, "flip at {pos}");
                    assert!(reason.contains("not truncating"), "{reason}");
                }
                other => panic!("flip at {pos}: expected Corrupt, got {:?}", other.map(|_| ())),
            }
            // Nothing was cut: the file is as damaged as before, every byte still there.
            assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        }
    }
}

/// Writes a partition with several closed segments; returns records and segment bases.
fn write_segments(dir: &Path) -> (Vec<Record>, Vec<u64>) {
    let mut p = Partition::open(dir.to_path_buf(), config(400), clock()).unwrap();
    let mut all = Vec::new();
    for b in 0..30 {
        let batch: Vec<Record> = (0..b % 3 + 1).map(|i| record(all.len() + i)).collect();
        p.append(&batch).unwrap();
        all.extend(batch);
    }
    let bases: Vec<u64> = p.segments().iter().map(|s| s.base_offset).collect();
    assert!(bases.len() >= 4, "{bases:?}");
    (all, bases)
}

#[test]
fn flipped_byte_in_closed_segment_is_reported_not_truncated() {
    let src = tempfile::tempdir().unwrap();
    let (all, bases) = write_segments(src.path());
    let seg1 = seg_path(src.path(), bases[1], "log");
    let len = std::fs::metadata(&seg1).unwrap().len();
    for pos in (0..len).step_by(7) {
        let tmp = tempfile::tempdir().unwrap();
        copy_dir(src.path(), tmp.path());
        let path = seg_path(tmp.path(), bases[1], "log");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[pos as usize] ^= 0x10;
        std::fs::write(&path, &bytes).unwrap();
        let p = Partition::open(tmp.path().to_path_buf(), config(400), clock()).unwrap();
        assert!(
            !p.recovery_events().iter().any(|e| matches!(e, RecoveryEvent::Truncated { .. })),
            "a closed segment is never truncated"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
        assert_eq!(p.log_end_offset(), all.len() as u64);
        // Reading the damaged segment from its start fails, naming the file and a position.
        match p.read(bases[1], usize::MAX) {
            Err(LogError::Corrupt { file, position, .. }) => {
                assert_eq!(file, path);
                assert!(position <= pos, "bad batch at {position} must start at or before {pos}");
            }
            other => panic!("flip at {pos}: expected Corrupt, got {other:?}"),
        }
        // Other segments still read fine; no read ever returns a wrong record.
        let first = p.read(0, (bases[1]) as usize).unwrap();
        assert_eq!(
            first.into_iter().map(|s| s.record).collect::<Vec<_>>(),
            all[..bases[1] as usize]
        );
        let rest = p.read(bases[2], usize::MAX).unwrap();
        assert_eq!(
            rest.into_iter().map(|s| s.record).collect::<Vec<_>>(),
            all[bases[2] as usize..]
        );
        for from in bases[1]..bases[2] {
            if let Ok(got) = p.read(from, 1) {
                assert_eq!(got[0].record, all[from as usize], "flip at {pos}, read {from}");
            }
        }
    }
}

/// A way to damage an index file.
type Garble = Box<dyn Fn(&Path)>;

#[test]
fn missing_or_garbled_indexes_are_rebuilt() {
    let src = tempfile::tempdir().unwrap();
    let (all, bases) = write_segments(src.path());
    let check = |p: &Partition| {
        assert_eq!(read_all(p), all);
        for (from, r) in all.iter().enumerate() {
            assert_eq!(p.read(from as u64, 1).unwrap()[0].record, *r);
        }
        for t in -1..52 {
            let want = all.iter().position(|r| r.timestamp_ms >= t).map(|i| i as u64);
            assert_eq!(p.offset_for_time(t).unwrap(), want, "T={t}");
        }
    };
    let garbles: Vec<(&str, Garble)> = vec![
        ("delete", Box::new(|p: &Path| std::fs::remove_file(p).unwrap())),
        ("empty", Box::new(|p: &Path| std::fs::write(p, b"").unwrap())),
        ("odd size", Box::new(|p: &Path| std::fs::write(p, b"12345").unwrap())),
        (
            "garbage",
            Box::new(|p: &Path| {
                let n = std::fs::metadata(p).unwrap().len() as usize;
                std::fs::write(p, (0..n).map(|i| (i * 37 + 11) as u8).collect::<Vec<_>>()).unwrap()
            }),
        ),
        (
            "beyond end",
            Box::new(|p: &Path| {
                let mut b = std::fs::read(p).unwrap();
                if p.extension().is_some_and(|e| e == "index") {
                    b.extend_from_slice(&u32::MAX.to_le_bytes());
                    b.extend_from_slice(&u32::MAX.to_le_bytes());
                } else {
                    b.extend_from_slice(&[0xff; 12]);
                }
                std::fs::write(p, b).unwrap()
            }),
        ),
    ];
    for (what, garble) in &garbles {
        for ext in ["index", "timeindex"] {
            for &base in [bases[0], bases[2], *bases.last().unwrap()].iter() {
                let tmp = tempfile::tempdir().unwrap();
                copy_dir(src.path(), tmp.path());
                let file = seg_path(tmp.path(), base, ext);
                garble(&file);
                let p = Partition::open(tmp.path().to_path_buf(), config(400), clock()).unwrap();
                assert!(
                    p.recovery_events().iter().any(
                        |e| matches!(e, RecoveryEvent::IndexRebuilt { file: f } if *f == file)
                    ),
                    "{what} {ext} of {base}: {:?}",
                    p.recovery_events()
                );
                check(&p);
                drop(p);
                let p = Partition::open(tmp.path().to_path_buf(), config(400), clock()).unwrap();
                assert!(p.recovery_events().is_empty(), "{what}: {:?}", p.recovery_events());
                check(&p);
            }
        }
    }
}

#[test]
fn log_reopen_after_torn_write_keeps_acknowledged_records_and_group_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let mut log = Log::open(dir.path(), config(1 << 20), clock.clone()).unwrap();
    log.create_topic("events", 2).unwrap();
    let mut prod = Producer::new(ProducerConfig { linger_ms: 0, max_batch_bytes: 1 << 20 });
    let mut acked = [0u64; 2];
    for i in 0..20 {
        let (_, acks) = prod.send(&log, "events", record(i).with_key(format!("k{i}"))).unwrap();
        for a in acks {
            acked[a.partition as usize] = a.base_offset + u64::from(a.record_count);
        }
    }
    assert_eq!(prod.pending_records(), 0);
    let mut c = Consumer::new(&log, "events", Some("g"), StartPosition::Earliest).unwrap();
    let first = c.poll(&log, 5).unwrap();
    c.commit(&log).unwrap();
    let p1 = log.topic("events").unwrap().partition(1).unwrap().segments()[0].path.clone();
    drop(log);
    // A torn write: half a batch at the end of partition 1.
    let mut bytes = std::fs::read(&p1).unwrap();
    let half = bytes[..40].to_vec();
    bytes.extend_from_slice(&half);
    std::fs::write(&p1, &bytes).unwrap();
    let log = Log::open(dir.path(), config(1 << 20), clock).unwrap();
    assert_eq!(log.topic_names(), vec!["events".to_string()]);
    assert!(
        log.recovery_events()
            .iter()
            .any(|e| matches!(e, RecoveryEvent::Truncated { file, bytes: 40, .. } if *file == p1))
    );
    for (p, &end) in acked.iter().enumerate() {
        assert_eq!(log.topic("events").unwrap().partition(p as u32).unwrap().log_end_offset(), end);
    }
    let mut c = Consumer::new(&log, "events", Some("g"), StartPosition::Committed).unwrap();
    let mut rest = Vec::new();
    loop {
        let got = c.poll(&log, 7).unwrap();
        if got.is_empty() {
            break;
        }
        rest.extend(got);
    }
    assert_eq!(first.len() + rest.len(), 20);
}
