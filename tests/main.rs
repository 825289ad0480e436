//! The integration tests, one binary. Each module is one theme (`tests/<theme>.rs`), run as a
//! user would: through the library's public API or the `workbench` binary.
//!
//! Why one binary: every test binary links the whole library with polars (about 0.3–0.6 GB
//! each in debug), so thirty of them filled a CI machine's disk before the suite ran; one
//! binary also links once instead of thirty times. cargo-nextest still runs every test in a
//! process of its own, so tests do not share state. Run one theme with
//! `cargo nextest run --test integration <theme>::` (or `cargo test --test integration <theme>::`).
//!
//! `autotests = false` in `Cargo.toml` means a new `tests/<theme>.rs` is built only once it is
//! declared below; `every_theme_is_declared` fails until it is.

mod architectures;
mod bench;
mod calibrate;
mod kafka;
mod lake;
mod log_cli;
mod log_disk_full;
mod log_faults;
mod log_fds;
mod log_fuzz_regressions;
mod log_model;
mod log_perf;
mod log_recovery;
mod log_tiering;
mod plot;
mod polars_batch;
mod quickstart;
mod realtime;
mod replication;
mod report_browser;
mod report_common;
mod report_compare;
mod report_exports;
mod report_html;
mod retention;
mod scale_out;
mod scenario_errors;
mod scenario_malformed_corpus;
mod scenarios;
mod unified;
mod weighted_records;
mod workload;

/// A `tests/<theme>.rs` that is not declared here would silently never run
/// (`autotests = false`).
#[test]
fn every_theme_is_declared() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let root = std::fs::read_to_string(dir.join("main.rs")).expect("tests/main.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/") {
        let path = entry.expect("a tests/ entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        let is_theme = path.extension().is_some_and(|e| e == "rs") && stem != "main";
        if is_theme && !root.lines().any(|l| l.trim() == format!("mod {stem};")) {
            missing.push(stem.to_owned());
        }
    }
    assert!(missing.is_empty(), "tests/main.rs does not declare: {missing:?}");
}
