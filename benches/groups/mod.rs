//! Benchmark groups, one file each.

pub mod batch;
pub mod log_append;
pub mod log_read;
pub mod merge;
pub mod speed;

use std::sync::Arc;

use lambda_workbench::log::{Clock, ManualClock};

/// A scratch directory next to `target/`: a tmpfs `/tmp` would flatter fsync-bound numbers.
pub fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("log-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("create a scratch directory in the target tmpdir")
}

/// A fixed clock: benchmarks must not depend on wall time (segment_ms, retention are off anyway).
pub fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(1_700_000_000_000))
}
