//! Inputs the fuzzers in `fuzz/` found, replayed through the same entry points
//! (`lambda_workbench::log::fuzzing`, `Scenario::parse`) so each fix stays fixed. One directory
//! per target under `tests/fuzz-regressions/`; a new crash goes there with a name saying what it
//! broke. `fuzz/README.md` tells how to run the fuzzers.

use std::path::{Path, PathBuf};

use lambda_workbench::log::fuzzing;
use lambda_workbench::scenario::Scenario;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut v: Vec<_> = entries
        .map(|e| e.expect("list regressions").path())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read regression input");
            (p, bytes)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn batch_decode_regressions() {
    let cases = inputs("batch_decode");
    assert!(!cases.is_empty(), "the OOM case found by fuzzing must stay here");
    for (path, bytes) in cases {
        eprintln!("{}", path.display());
        fuzzing::batch_decode(&bytes);
    }
}

#[test]
fn segment_recovery_regressions() {
    for (path, bytes) in inputs("segment_recovery") {
        eprintln!("{}", path.display());
        fuzzing::segment_recovery(&bytes);
    }
}

#[test]
fn index_lookup_regressions() {
    for (path, bytes) in inputs("index_lookup") {
        eprintln!("{}", path.display());
        fuzzing::index_lookup(&bytes);
    }
}

#[test]
fn scenario_parse_regressions() {
    for (path, bytes) in inputs("scenario_parse") {
        eprintln!("{}", path.display());
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = Scenario::parse(text, Path::new("fuzz.toml"));
        }
    }
}

/// The OOM input claims 2^32 - 1 records behind a valid CRC: the decoder must refuse it by
/// size before reserving anything.
#[test]
fn forged_record_count_is_refused_not_allocated() {
    let (_, bytes) = inputs("batch_decode")
        .into_iter()
        .find(|(p, _)| p.ends_with("oom-record-count"))
        .expect("oom-record-count regression");
    let count = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    assert!(count > 1 << 20, "the case is about a huge record count ({count})");
    fuzzing::batch_decode(&bytes);
}
