//! `workbench run`: scenario file in, results directory out.

use std::path::{Path, PathBuf};

use crate::arch::ArchError;
use crate::driver;
use crate::plot::PlotError;
use crate::report::{self, ResultsLayout};
use crate::scenario::{RunClock, Scenario, ScenarioError};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario file is unusable.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The `--calibration` file could not be read or is not valid.
    #[error(transparent)]
    Calibration(#[from] crate::calibrate::CalibrateError),
    /// An architecture (or the log under it) failed.
    #[error(transparent)]
    Arch(#[from] ArchError),
    /// A result could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The charts or the HTML report could not be made from the results.
    #[error(transparent)]
    Report(#[from] crate::results::ResultsError),
    /// The realtime driver could not run.
    #[error(transparent)]
    Realtime(#[from] crate::realtime::RealtimeError),
}

fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), RunError> {
    let io = |source| RunError::Write { path: path.to_owned(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, contents).map_err(io)
}

/// The copy of `--calibration FILE` in a results directory.
pub const CALIBRATION_FILE: &str = "calibration.toml";

/// Runs the scenario at `path` — or, when no such file exists and `path` is a bare name, the
/// bundled scenario of that name — writes `out/<name>/`, returns that directory.
pub fn run_scenario_file(path: &Path, out: &Path) -> Result<PathBuf, RunError> {
    Ok(run_scenario_file_with(path, out, None)?.dir)
}

/// Where a run's results went, and whether the run was interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The results directory, `out/<name>/`.
    pub dir: PathBuf,
    /// The run was interrupted (Ctrl-C): the results cover only what happened until then.
    pub partial: bool,
}

/// [`run_scenario_file`] with the scenario's `clock` replaced by `clock` when given
/// (`workbench run --realtime`).
pub fn run_scenario_file_with(
    path: &Path,
    out: &Path,
    clock: Option<RunClock>,
) -> Result<Written, RunError> {
    run_scenario_file_opts(path, out, &RunOptions { clock, calibration: None })
}

/// What `workbench run`'s flags change about a scenario file's run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run on this clock whatever the scenario says (`--realtime`).
    pub clock: Option<RunClock>,
    /// Use the cost model measured by `workbench calibrate` and written to this file
    /// (`--calibration FILE`) instead of the scenario's.
    pub calibration: Option<PathBuf>,
}

/// [`run_scenario_file`] with `options`.
pub fn run_scenario_file_opts(
    path: &Path,
    out: &Path,
    options: &RunOptions,
) -> Result<Written, RunError> {
    let calibration = match &options.calibration {
        Some(file) => Some(crate::calibrate::Calibration::load(file)?),
        None => None,
    };
    let clock = options.clock;
    let (mut scenario, text) = load_scenario(path)?;
    if let Some(c) = &calibration {
        c.apply(&mut scenario);
    }
    if let Some(clock) = clock {
        scenario.clock = clock;
        // The same limits as a file saying so (a realtime run takes its duration in real time).
        let origin = PathBuf::from(format!("{} (with --{})", path.display(), clock.name()));
        crate::scenario::Scenario::parse(&with_clock(&text, clock), &origin)?;
    }
    run_and_write(&scenario, text.as_bytes(), out, calibration.as_ref())
}

/// The scenario text with its root `clock` set, for validating a command-line override.
fn with_clock(text: &str, clock: RunClock) -> String {
    // Root keys come before the first table header; a `clock = ...` line there is replaced.
    let mut out = String::new();
    let mut at_root = true;
    let mut written = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if at_root && trimmed.starts_with('[') {
            if !written {
                out.push_str(&format!("clock = \"{}\"\n", clock.name()));
                written = true;
            }
            at_root = false;
        }
        if at_root && trimmed.starts_with("clock") && trimmed[5..].trim_start().starts_with('=') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !written {
        out.push_str(&format!("clock = \"{}\"\n", clock.name()));
    }
    out
}

/// Writes `events.parquet` in a results directory: every event of the run's log, with columns
/// `partition, offset, key, event_time_ms, append_time_ms`, then the workload's own fields
/// (`user_id, page_id, ad_type, event_type, value`), and `weight`: the events each record
/// stands for (`workload.events_per_record`). Returns its path.
pub fn export_events(results: &Path) -> Result<PathBuf, RunError> {
    use crate::batch::lambda_polars::{columns as c, read_events};
    use polars::prelude::{IntoLazy, col};
    let layout = ResultsLayout { root: results.to_owned() };
    let clock = std::sync::Arc::new(crate::log::ManualClock::new(0));
    let config =
        crate::log::LogConfig { fsync: crate::log::FsyncPolicy::Never, ..Default::default() };
    let log = crate::log::Log::open(layout.work_dir().join("log"), config, clock)
        .map_err(ArchError::from)?;
    let topic = log.topic(driver::EVENTS_TOPIC).map_err(ArchError::from)?;
    let ranges: Vec<_> =
        topic.partitions().iter().map(|p| (p.log_start_offset(), p.log_end_offset())).collect();
    let order = [
        c::PARTITION,
        c::OFFSET,
        c::KEY,
        c::EVENT_TIME_MS,
        c::APPEND_TIME_MS,
        c::USER_ID,
        c::PAGE_ID,
        c::AD_TYPE,
        c::EVENT_TYPE,
        c::VALUE,
        c::WEIGHT,
    ];
    let engine = |e: polars::prelude::PolarsError| {
        RunError::Arch(ArchError::Engine { layer: "export", message: e.to_string() })
    };
    let mut df = read_events(&log, driver::EVENTS_TOPIC, &ranges, "export")?
        .lazy()
        .select(order.map(col))
        .collect()
        .map_err(engine)?;
    let bytes = crate::lake::cold::encode_parquet(&mut df).map_err(engine)?;
    let path = results.join("events.parquet");
    write(&path, bytes)?;
    Ok(path)
}

/// Reads a scenario file, or a bundled scenario by name; returns it with its text.
pub fn load_scenario(path: &Path) -> Result<(Scenario, String), ScenarioError> {
    let name = path.to_str().filter(|n| !n.contains(['/', '.']));
    if let Some(name) = name.filter(|_| !path.exists())
        && let Some(text) = crate::scenario::bundled(name)
    {
        let origin = PathBuf::from(format!("scenarios/{name}.toml"));
        return Ok((Scenario::parse(text, &origin)?, text.to_owned()));
    }
    let scenario = Scenario::load(path)?;
    // `load` succeeded, so the file is readable UTF-8 text.
    let text = std::fs::read_to_string(path).unwrap_or_default();
    Ok((scenario, text))
}

/// Runs `f` with a progress bar on stderr when it is a terminal (quiet otherwise, so logs and
/// CI output stay clean).
fn with_progress<T>(name: &str, f: impl FnOnce(&mut dyn FnMut(i64, i64)) -> T) -> T {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return f(&mut |_, _| {});
    }
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} s")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(name.to_owned());
    let result = f(&mut |t, horizon| {
        bar.set_length((horizon / 1000).max(1) as u64);
        bar.set_position((t / 1000).max(0) as u64);
    });
    bar.finish_and_clear();
    result
}

/// Runs a parsed scenario (`text` is its file, copied into the results) and writes the results.
pub fn run_scenario(scenario: &Scenario, text: &[u8], out: &Path) -> Result<PathBuf, RunError> {
    Ok(run_scenario_written(scenario, text, out)?.dir)
}

/// [`run_scenario`], saying also whether the run was interrupted.
pub fn run_scenario_written(
    scenario: &Scenario,
    text: &[u8],
    out: &Path,
) -> Result<Written, RunError> {
    run_and_write(scenario, text, out, None)
}

/// Runs and writes the results; with a calibration (already applied to `scenario`), copies it
/// into the results as `calibration.toml` and names it as the cost model's source.
fn run_and_write(
    scenario: &Scenario,
    text: &[u8],
    out: &Path,
    calibration: Option<&crate::calibrate::Calibration>,
) -> Result<Written, RunError> {
    let layout = ResultsLayout::new(out, &scenario.name);
    // A rerun replaces the previous results entirely, so nothing stale is mixed in.
    if layout.root.exists() {
        std::fs::remove_dir_all(&layout.root)
            .map_err(|source| RunError::Write { path: layout.root.clone(), source })?;
    }
    let label = format!("{} ({})", scenario.name, scenario.clock.name());
    let run = match scenario.clock {
        RunClock::Simulated => with_progress(&label, |progress| {
            driver::simulate_with(scenario, &layout.work_dir(), &crate::arch::build, progress)
        })?,
        RunClock::Realtime => with_progress(&label, |progress| {
            let mut started = || {
                // Said on stderr once Ctrl-C is handled: from here an interrupt keeps results.
                eprintln!(
                    "realtime run of {} started: {} s of wall-clock time (Ctrl-C stops it and \
                     keeps partial results)",
                    scenario.name,
                    scenario.duration_ms as f64 / 1000.0
                );
            };
            crate::realtime::run_realtime(
                scenario,
                &layout.work_dir(),
                &crate::arch::build,
                &mut started,
                progress,
            )
        })?,
    };
    if run.partial {
        eprintln!("interrupted at {:.1} s: writing partial results", run.end_ms as f64 / 1000.0);
    }

    write(&layout.scenario(), text)?;
    let mut summary = report::summary(scenario, &run);
    if let Some(c) = calibration {
        // Rerun from the results directory: `workbench run scenario.toml --calibration
        // calibration.toml` gives the same results byte for byte.
        write(&layout.root.join(CALIBRATION_FILE), c.to_toml())?;
        if let Some(model) = &mut summary.cost_model {
            model.source = CALIBRATION_FILE.into();
        }
    }
    let json = serde_json::to_string_pretty(&summary).map_err(|e| RunError::Write {
        path: layout.summary(),
        source: std::io::Error::other(e),
    })?;
    write(&layout.summary(), json + "\n")?;
    write(&layout.timeseries(), report::timeseries_csv(&run))?;
    write(&layout.timeline(), report::timeline_csv(&run))?;
    let timing = serde_json::to_string_pretty(&report::timing_json(&run)).unwrap_or_default();
    write(&layout.timing(), timing + "\n")?;
    write(&layout.final_view("oracle"), report::view_csv(&run.oracle_final, &run.queries))?;
    for a in &run.architectures {
        write(&layout.final_view(&a.id), report::view_csv(&a.final_view, &run.queries))?;
    }
    crate::html::plot_and_report(&layout.root)?;
    Ok(Written { dir: layout.root, partial: run.partial })
}
