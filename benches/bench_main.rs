//! Criterion benchmarks of every hot path: log append and replay, the batch layer's decode and
//! recompute, the speed layer's per-event path, and view merges. One module per group under
//! `groups/` (not top-level files in `benches/`, which Cargo would auto-discover as separate
//! bench targets).
//!
//! Run: `cargo bench --bench bench_main` (several minutes), or one group:
//! `cargo bench --bench bench_main -- batch`. Data goes to Cargo's target tmpdir, on the same
//! file system as `target/`, so numbers compare with a `dd` run there. For figures against
//! baselines measured in the same run, use `workbench bench`.

mod groups;

criterion::criterion_main!(
    groups::log_append::benches,
    groups::log_read::benches,
    groups::batch::benches,
    groups::speed::benches,
    groups::merge::benches,
);
