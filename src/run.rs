//! `workbench run`: scenario file in, results directory out.

use std::path::{Path, PathBuf};

/// Runs the scenario at `path`, writes `out/<name>/`, returns that directory.
pub fn run_scenario_file(path: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let _ = (path, out);
    todo!("run")
}
