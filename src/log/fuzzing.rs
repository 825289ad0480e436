//! Entry points of the fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer), kept here so they can
//! reach the log's internals and so the regression tests in `tests/log_fuzz_regressions.rs` run
//! the very same code on the inputs the fuzzers found.
//!
//! Each function takes arbitrary bytes and panics only when the log breaks a promise: a decoder
//! that panics, allocates without bound, or accepts a batch it cannot re-encode identically;
//! recovery that leaves a log it cannot read back or that recovers differently the second time;
//! an index lookup that returns a wrong record. Errors on bad input are the expected outcome.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::batch::{self, FRAME_LEN};
use super::{LogConfig, LogError, ManualClock, Partition, Record, RecoveryEvent, StoredRecord};

/// The batch decoder on an arbitrary body: the CRC is computed over the input so the fuzzer
/// reaches the parser behind it. A body that parses must decode to records whose re-encoding
/// is byte for byte the input (the format has one encoding per batch).
pub fn batch_decode(body: &[u8]) {
    let crc = crc32c::crc32c(body);
    let Ok(header) = batch::check_body(body, crc) else { return };
    let mut out = Vec::new();
    let decoded = batch::decode_records(&header, body, 0, usize::MAX, &mut out);
    let timestamps = batch::record_timestamps(&header, body);
    assert_eq!(decoded.is_ok(), timestamps.is_ok(), "decoders disagree on {body:?}");
    if decoded.is_err() {
        assert!(out.is_empty(), "a bad batch contributed records");
        return;
    }
    assert_eq!(out.len(), header.record_count as usize);
    let ts: Vec<i64> = out.iter().map(|r| r.record.timestamp_ms).collect();
    assert_eq!(Ok(ts), timestamps);
    let records: Vec<Record> = out.into_iter().map(|s: StoredRecord| s.record).collect();
    let encoded = batch::encode_batch(&header, &records).expect("a decoded batch re-encodes");
    assert_eq!(&encoded[FRAME_LEN..], body, "re-encoding differs");
    // Partial reads see a suffix of the same records.
    let mut part = Vec::new();
    let from = header.base_offset + u64::from(header.record_count / 2);
    batch::decode_records(&header, body, from, 3, &mut part).expect("decoded once, decodes again");
    assert!(part.iter().zip(from..).all(|(r, o)| r.offset == o) && part.len() <= 3);
}

/// A scratch directory per process and call, removed again by [`Scratch::drop`].
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("lw-fuzz-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// No fsync per append: what is checked here does not depend on it, and it makes each run of a
/// target ~10x faster.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1 << 20,
        index_interval_bytes: 64,
        fsync: super::FsyncPolicy::Never,
        ..LogConfig::default()
    }
}

fn open(dir: &Path) -> Result<Partition, LogError> {
    Partition::open(dir.to_path_buf(), config(), Arc::new(ManualClock::new(0)))
}

fn read_all(p: &Partition) -> Result<Vec<StoredRecord>, LogError> {
    p.read(p.log_start_offset(), usize::MAX)
}

/// Segment recovery on arbitrary segment files. The first byte picks the layout: one active
/// segment holding the rest, or (odd) a closed segment and an active one split at a position
/// and base offset taken from the next bytes. Whatever the bytes, opening either fails with an
/// error or yields a log that reads back with dense offsets, whose active segment reads back
/// entirely, and that a second open finds exactly as the first left it.
pub fn segment_recovery(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let scratch = Scratch::new();
    let dir = &scratch.0;
    let name = |base: u64| dir.join(format!("{base:020}.log"));
    if mode % 2 == 1 && rest.len() >= 3 {
        let split = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 3);
        let base = u64::from(rest[2]) + 1;
        let body = &rest[3..];
        std::fs::write(name(0), &body[..split]).expect("write segment");
        std::fs::write(name(base), &body[split..]).expect("write segment");
    } else {
        std::fs::write(name(0), rest).expect("write segment");
    }
    let Ok(p) = open(dir) else { return };
    let (start, end) = (p.log_start_offset(), p.log_end_offset());
    match read_all(&p) {
        Ok(records) => {
            assert_eq!(records.len() as u64, end - start, "read back a different count");
            assert!(records.iter().zip(start..).all(|(r, o)| r.offset == o), "offsets not dense");
        }
        // Damage in a closed segment is reported when read, never served.
        Err(LogError::Corrupt { .. }) => assert!(p.segments().len() > 1, "active segment corrupt"),
        Err(e) => panic!("read after recovery: {e}"),
    }
    let active = p.segments().last().expect("a partition has a segment").base_offset;
    p.read(active, usize::MAX).expect("the recovered active segment reads back");
    for t in [i64::MIN, -1, 0, 1, 1000, i64::MAX] {
        match p.offset_for_time(t) {
            Ok(Some(o)) => assert!((start..end).contains(&o)),
            Ok(None) | Err(LogError::Corrupt { .. }) => {}
            Err(e) => panic!("offset_for_time: {e}"),
        }
    }
    drop(p);
    let again = open(dir).expect("a recovered log reopens");
    assert_eq!((again.log_start_offset(), again.log_end_offset()), (start, end));
    assert!(
        !again.recovery_events().iter().any(|e| matches!(e, RecoveryEvent::Truncated { .. })),
        "second recovery truncated again: {:?}",
        again.recovery_events()
    );
}

/// Index lookups through damaged index files. A fixed log of two segments is written, then the
/// closed segment's `.index` and `.timeindex` are replaced by the input (split at a position
/// from its first byte). The data is intact, so every read must return exactly the right
/// records, and every `offset_for_time` answer must be a record at or after the time (an index
/// that lies can make a lookup start late, never return a wrong record).
pub fn index_lookup(data: &[u8]) {
    let Some((&split, rest)) = data.split_first() else { return };
    let scratch = Scratch::new();
    let dir = &scratch.0;
    let records: Vec<Record> = (0..60i64)
        .map(|i| Record::new(format!("value-{i}"), (i * 37) % 101).with_key(format!("k{}", i % 3)))
        .collect();
    {
        let cfg = LogConfig { segment_bytes: 900, ..config() };
        let mut p = Partition::open(dir.to_path_buf(), cfg, Arc::new(ManualClock::new(0)))
            .expect("open scratch");
        for chunk in records.chunks(2) {
            p.append(chunk).expect("append");
        }
        assert!(p.segments().len() >= 2);
    }
    let split = (usize::from(split) * 4).min(rest.len());
    std::fs::write(dir.join(format!("{:020}.index", 0)), &rest[..split]).expect("write index");
    std::fs::write(dir.join(format!("{:020}.timeindex", 0)), &rest[split..]).expect("write");
    let p = open(dir).expect("damaged indexes are rebuilt or checked, never fatal");
    for from in 0..records.len() as u64 {
        let got = p.read(from, 2).expect("intact data reads back");
        let want = &records[from as usize..(from as usize + 2).min(records.len())];
        assert_eq!(
            got.iter().map(|s| &s.record).collect::<Vec<_>>(),
            want.iter().collect::<Vec<_>>()
        );
    }
    for t in -1..103 {
        if let Some(o) = p.offset_for_time(t).expect("lookup") {
            assert!(records[o as usize].timestamp_ms >= t, "offset_for_time({t}) = {o}");
        }
    }
}
