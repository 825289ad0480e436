//! Criterion benchmarks of the log. One module per group under `groups/` (not top-level files in
//! `benches/`, which Cargo would auto-discover as separate bench targets).
//!
//! Run: `cargo bench --bench bench_main` (a few minutes). Data goes to Cargo's target tmpdir, on
//! the same file system as `target/`, so numbers compare with a `dd` run there.

mod groups;

criterion::criterion_main!(groups::log_append::benches, groups::log_read::benches);
