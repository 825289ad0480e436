//! `workbench bench`: how fast each layer is, measured against a baseline in the same run.
//!
//! Absolute times on a shared machine are noise; a ratio to a baseline measured seconds apart
//! in the same process, on the same files, is not. Every figure is therefore a pair: ours and
//! the no-framework (or other-engine) way of doing the same work, one file per measurement:
//!
//! - [`append`] — producing records through the log (fsync `interval` and `always`) vs writing
//!   the same bytes sequentially with one `fdatasync` per MiB, in the same directory.
//! - [`replay`] — reading partitions back (CRC check and decode of every record, one thread
//!   per partition) vs reading the same segment files raw from the page cache.
//! - [`batch`] — the batch layer's recompute (polars) from the log vs DuckDB on the same rows
//!   from Parquet, both on the same thread count; and its scaling with events.
//! - [`speed`] — the speed layer's windowed count with watermarks vs a plain `HashMap`
//!   aggregation of the same events in memory.
//! - [`sim`] — whole simulated runs through all five architectures and the oracle.
//! - [`scaling`] — the batch recompute and whole simulated runs at growing event counts (time
//!   and peak memory, each size in a fresh child process), and streaming memory against
//!   duration.
//!
//! Results go to `DIR/bench.json` (format in `results/README.md`), `DIR/bench.md` (the table)
//! and `DIR/bench.png` / `.svg` (ratios against their goals).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub mod append;
pub mod batch;
pub mod replay;
pub mod scaling;
pub mod sim;
pub mod speed;

/// Why a bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A file or directory operation failed.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The log refused an operation.
    #[error("log: {0}")]
    Log(#[from] crate::log::LogError),
    /// An architecture or layer failed.
    #[error(transparent)]
    Arch(#[from] crate::arch::ArchError),
    /// The bundled scenario a measurement is built on did not load.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    /// polars failed (writing the Parquet copy of the events).
    #[error("polars: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
    /// The chart could not be drawn.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    /// A measurement produced a wrong result (a bench must never time wrong work).
    #[error("{0}")]
    Check(String),
}

/// Maps an I/O error to [`BenchError::Io`] for `path`.
pub(crate) fn io_err(what: &'static str, path: &Path) -> impl Fn(std::io::Error) -> BenchError {
    let path = path.to_path_buf();
    move |source| BenchError::Io { what, path: path.clone(), source }
}

/// How large each measurement is. [`Sizes::quick`] finishes in about a minute on 2 cores,
/// [`Sizes::full`] takes several minutes, [`Sizes::tiny`] is for tests (no meaningful times).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    /// Payload bytes appended per append case (record size × fsync policy).
    pub append_bytes: u64,
    /// Records written, then replayed, in the replay measurement.
    pub replay_records: u64,
    /// Events in the batch-vs-DuckDB comparison.
    pub batch_events: u64,
    /// Events through the speed layer operator.
    pub speed_events: u64,
    /// Events of the whole simulated run.
    pub sim_events: u64,
    /// Event counts of the batch recompute scaling series.
    pub batch_scaling: Vec<u64>,
    /// Event counts of the simulated-run scaling series.
    pub sim_scaling: Vec<u64>,
    /// Simulated duration of the simulated runs, ms (the YSB scenario's own is 120 s; the
    /// duration series runs 1× and 4× this).
    pub sim_duration_ms: i64,
    /// Repetitions of in-memory measurements (the best one counts, on both sides).
    pub repeats: usize,
    /// Also run the bundled `day` scenario (a simulated day at 2,000 events/s, 1,000 events
    /// per record) at half and full length: wall time and peak memory (full run only).
    #[serde(default)]
    pub sim_day: bool,
}

impl Sizes {
    /// `workbench bench --quick`: CI smoke sizes.
    pub fn quick() -> Self {
        Sizes {
            append_bytes: 32 << 20,
            replay_records: 2_000_000,
            batch_events: 2_000_000,
            speed_events: 2_000_000,
            sim_events: 100_000,
            batch_scaling: vec![500_000, 1_000_000],
            sim_scaling: vec![100_000],
            sim_duration_ms: 120_000,
            repeats: 2,
            sim_day: false,
        }
    }

    /// `workbench bench`: the full run.
    pub fn full() -> Self {
        Sizes {
            append_bytes: 256 << 20,
            replay_records: 10_000_000,
            batch_events: 10_000_000,
            speed_events: 10_000_000,
            sim_events: 1_000_000,
            batch_scaling: vec![1_000_000, 10_000_000, 100_000_000],
            // 100M is skipped when it would not fit in memory (see `scaling.rs`); 30M shows a
            // departure from linear before the largest point is tried.
            sim_scaling: vec![1_000_000, 10_000_000, 30_000_000, 100_000_000],
            sim_duration_ms: 120_000,
            repeats: 3,
            sim_day: true,
        }
    }

    /// Sizes for tests: every code path, in well under a second of work each.
    pub fn tiny() -> Self {
        Sizes {
            append_bytes: 256 << 10,
            replay_records: 5_000,
            batch_events: 5_000,
            speed_events: 5_000,
            sim_events: 1_000,
            batch_scaling: vec![2_000, 4_000],
            sim_scaling: vec![1_000],
            sim_duration_ms: 5_000,
            repeats: 1,
            sim_day: false,
        }
    }
}

/// What `workbench bench` runs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Where `bench.json`, `bench.md` and the chart go (scratch data goes to `OUT/work`, removed
    /// at the end).
    pub out: PathBuf,
    /// Quick (CI) or full run; recorded in `bench.json`.
    pub quick: bool,
    /// How large each measurement is.
    pub sizes: Sizes,
    /// The Python interpreter that runs the DuckDB baseline; `None` skips it.
    pub python: Option<PathBuf>,
    /// Whether to `pip install duckdb` when the module is missing.
    pub install_duckdb: bool,
    /// Run only these measurements (`append`, `replay`, `speed`, `batch`, `sim`, `scaling`);
    /// all when empty.
    pub only: Vec<String>,
}

/// The measurement names [`BenchConfig::only`] accepts.
pub const MEASUREMENTS: [&str; 6] = ["append", "replay", "speed", "batch", "sim", "scaling"];

/// A goal a figure is held to. Every bound that is set must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    /// `ratio` must be at least this.
    pub ratio_at_least: Option<f64>,
    /// `ratio` must be at most this (ratios of times: lower is better).
    pub ratio_at_most: Option<f64>,
    /// `ours` must be at least this (in the figure's unit).
    pub ours_at_least: Option<f64>,
}

impl Goal {
    fn met(&self, ours: f64, ratio: Option<f64>) -> Option<bool> {
        let mut met = true;
        if let Some(min) = self.ours_at_least {
            met &= ours >= min;
        }
        if self.ratio_at_least.is_some() || self.ratio_at_most.is_some() {
            // No baseline: the goal cannot be judged.
            let r = ratio?;
            met &= self.ratio_at_least.is_none_or(|min| r >= min);
            met &= self.ratio_at_most.is_none_or(|max| r <= max);
        }
        Some(met)
    }

    fn text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = self.ours_at_least {
            parts.push(format!("ours ≥ {}", fmt_num(v)));
        }
        if let Some(v) = self.ratio_at_least {
            parts.push(format!("ratio ≥ {v}"));
        }
        if let Some(v) = self.ratio_at_most {
            parts.push(format!("ratio ≤ {v}"));
        }
        parts.join(", ")
    }
}

/// One measured figure: ours, the baseline measured in the same run, and their ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Which measurement it belongs to: `append`, `replay`, `batch`, `speed`, `sim`, `scaling`.
    pub group: String,
    /// What was measured, e.g. `log append 100 B, fsync always`.
    pub figure: String,
    /// Unit of `ours` and `baseline` (`MB/s`, `GB/s`, `s`, `Mev/s`, `MiB`, ...).
    pub unit: String,
    /// Our value.
    pub ours: f64,
    /// The baseline's value in the same unit; `None` when there is none or it was skipped.
    pub baseline: Option<f64>,
    /// What the baseline is (`dd-like write + fdatasync/MiB`, `duckdb 1.1`, ...).
    pub baseline_name: Option<String>,
    /// `ours / baseline` (for throughputs higher is better, for times lower is better).
    pub ratio: Option<f64>,
    /// The goal, if the figure has one.
    pub goal: Option<Goal>,
    /// Whether the goal is met; `None` when there is no goal or its baseline was skipped.
    pub met: Option<bool>,
    /// How it was measured, where the time went, why a baseline was skipped.
    pub notes: String,
}

impl Figure {
    /// A figure; the ratio and `met` are computed from the values.
    pub fn new(
        group: &str,
        figure: impl Into<String>,
        unit: &str,
        ours: f64,
        baseline: Option<(f64, String)>,
        goal: Option<Goal>,
        notes: impl Into<String>,
    ) -> Self {
        let (baseline, baseline_name) = match baseline {
            Some((v, name)) => (Some(v), Some(name)),
            None => (None, None),
        };
        let ratio = baseline.filter(|b| *b > 0.0 && b.is_finite()).map(|b| ours / b);
        let ratio = ratio.filter(|r| r.is_finite());
        let met = goal.as_ref().and_then(|g| g.met(ours, ratio));
        Figure {
            group: group.to_owned(),
            figure: figure.into(),
            unit: unit.to_owned(),
            ours,
            baseline,
            baseline_name,
            ratio,
            goal,
            met,
            notes: notes.into(),
        }
    }
}

/// Everything one `workbench bench` run measured (`bench.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// `quick` or `full`.
    pub mode: String,
    /// Logical CPUs of the machine.
    pub cpus: usize,
    /// Threads of the rayon pool (the batch reader) and of polars' pool.
    pub threads: usize,
    /// The sizes used.
    pub sizes: Sizes,
    /// The figures, in the order they were measured.
    pub figures: Vec<Figure>,
}

/// Resets the process's peak resident set size (Linux: `5` to `/proc/self/clear_refs`), so
/// [`peak_rss_mib`] reports the peak of what follows. A no-op elsewhere.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size since the last [`reset_peak_rss`], MiB (`VmHWM`); `None` when the
/// platform does not say.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU seconds (user + system, all threads) this process has used so far; `None` where
/// `/proc/self/stat` does not exist. Resolution: one clock tick (10 ms).
pub fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Seconds `f` takes, best of `repeats` runs (at least one), and its last result.
pub(crate) fn best_of<T>(
    repeats: usize,
    mut f: impl FnMut() -> Result<T, BenchError>,
) -> Result<(f64, T), BenchError> {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let out = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    let last = last.ok_or_else(|| BenchError::Check("no run".into()))?;
    Ok((best, last))
}

/// Like [`best_of`], also returning the mean CPU seconds (all threads) per run, when the
/// platform tells: on a shared machine CPU time moves much less with the load than wall time.
pub(crate) fn best_of_cpu<T>(
    repeats: usize,
    f: impl FnMut() -> Result<T, BenchError>,
) -> Result<(f64, Option<f64>, T), BenchError> {
    let before = process_cpu_secs();
    let (wall, out) = best_of(repeats, f)?;
    let cpu = process_cpu_secs().zip(before).map(|(a, b)| (a - b) / repeats.max(1) as f64);
    Ok((wall, cpu, out))
}

/// A number for humans: 3 significant digits.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The figures as a Markdown table: figure, ours, baseline, ratio, goal, met.
pub fn table(figures: &[Figure]) -> String {
    let mut out = String::from(
        "| figure | unit | ours | baseline | ratio | goal | met |\n|---|---|---:|---:|---:|---|---|\n",
    );
    for f in figures {
        let baseline = match (&f.baseline, &f.baseline_name) {
            (Some(v), Some(name)) => format!("{} ({name})", fmt_num(*v)),
            _ => "-".into(),
        };
        let ratio = f.ratio.map_or("-".into(), |r| format!("{r:.2}"));
        let goal = f.goal.as_ref().map_or(String::new(), Goal::text);
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {baseline} | {ratio} | {goal} | {met} |\n",
            f.figure,
            f.unit,
            fmt_num(f.ours)
        ));
    }
    out
}

/// Prints one line per finished figure as the run goes (stderr: stdout gets the table).
fn progress(f: &Figure) {
    let ratio = f.ratio.map_or(String::new(), |r| format!("  ratio {r:.2}"));
    let _ =
        writeln!(std::io::stderr(), "  {:<52} {:>10} {}{ratio}", f.figure, fmt_num(f.ours), f.unit);
}

/// Runs every measurement of `cfg`, writes `bench.json`, `bench.md` and the chart to
/// `cfg.out`, and returns the report.
pub fn run(cfg: &BenchConfig) -> Result<BenchReport, BenchError> {
    std::fs::create_dir_all(&cfg.out).map_err(io_err("create directory", &cfg.out))?;
    let work = cfg.out.join("work");
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(io_err("clear scratch directory", &work))?;
    }
    std::fs::create_dir_all(&work).map_err(io_err("create scratch directory", &work))?;
    let sizes_report = |figures| BenchReport {
        mode: if cfg.quick { "quick" } else { "full" }.into(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        threads: rayon::current_num_threads(),
        sizes: cfg.sizes.clone(),
        figures,
    };
    // A child process measuring one scaling point (see `scaling.rs`): that point only.
    if scaling::run_child_point(&work)? {
        let _ = std::fs::remove_dir_all(&work);
        return Ok(sizes_report(Vec::new()));
    }
    let mut figures = Vec::new();
    let mut add = |f: Figure| {
        progress(&f);
        figures.push(f);
    };
    if let Some(bad) = cfg.only.iter().find(|m| !MEASUREMENTS.contains(&m.as_str())) {
        return Err(BenchError::Check(format!(
            "unknown measurement `{bad}` (known: {})",
            MEASUREMENTS.join(", ")
        )));
    }
    let wanted = |m: &str| cfg.only.is_empty() || cfg.only.iter().any(|o| o == m);
    let s = &cfg.sizes;
    if wanted("append") {
        eprintln!("log append ({} MiB per case)", s.append_bytes >> 20);
        append::run(&work, s, &mut add)?;
    }
    if wanted("replay") {
        eprintln!("log replay ({} records)", s.replay_records);
        replay::run(&work, s, &mut add)?;
    }
    if wanted("speed") {
        eprintln!("speed layer ({} events)", s.speed_events);
        speed::run(s, &mut add)?;
    }
    if wanted("batch") {
        eprintln!("batch layer vs DuckDB ({} events)", s.batch_events);
        batch::run(&work, cfg, &mut add)?;
    }
    if wanted("sim") {
        eprintln!("simulated runs ({} events)", s.sim_events);
        sim::run(&work, s, &mut add)?;
    }
    if wanted("scaling") {
        eprintln!(
            "scaling (batch {:?}, simulated {:?} events; each in a child process)",
            s.batch_scaling, s.sim_scaling
        );
        scaling::run(&work, s, &mut add)?;
    }
    let report = sizes_report(figures);
    write_outputs(&cfg.out, &report)?;
    // Scratch data can be gigabytes; a failure to remove it is not a failed bench.
    let _ = std::fs::remove_dir_all(&work);
    Ok(report)
}

/// Writes `bench.json`, `bench.md` and `bench.png` / `bench.svg` into `out`.
pub fn write_outputs(out: &Path, report: &BenchReport) -> Result<(), BenchError> {
    let json = out.join("bench.json");
    let text = serde_json::to_string_pretty(report)
        .map_err(|e| BenchError::Check(format!("bench.json: {e}")))?;
    std::fs::write(&json, text + "\n").map_err(io_err("write", &json))?;
    let md = out.join("bench.md");
    let title = format!(
        "# workbench bench ({}, {} threads on {} CPUs)\n\n",
        report.mode, report.threads, report.cpus
    );
    std::fs::write(&md, title + &table(&report.figures)).map_err(io_err("write", &md))?;
    crate::plot::draw_chart(&chart(report), &out.join("bench"))?;
    Ok(())
}

/// Ratios of the figures that have a goal on one bar chart, next to the goal ratio.
fn chart(report: &BenchReport) -> crate::plot::BarChart {
    use crate::plot::{BarChart, BarSeries};
    let judged: Vec<&Figure> = report
        .figures
        .iter()
        .filter(|f| f.goal.as_ref().is_some_and(|g| g.ratio_at_least.or(g.ratio_at_most).is_some()))
        .collect();
    let groups = judged.iter().map(|f| short_label(&f.figure)).collect();
    let ratio = BarSeries {
        label: "ours / baseline".into(),
        values: judged.iter().map(|f| f.ratio).collect(),
    };
    let goal = BarSeries {
        label: "goal".into(),
        values: judged
            .iter()
            .map(|f| f.goal.as_ref().and_then(|g| g.ratio_at_least.or(g.ratio_at_most)))
            .collect(),
    };
    BarChart {
        title: format!("workbench bench ({}): ours vs baseline, same run", report.mode),
        x_label: "figure (append, replay, speed: higher is better; batch times: lower)".into(),
        y_label: "ratio ours / baseline".into(),
        groups,
        series: vec![ratio, goal],
    }
}

/// A figure name short enough for an axis label (eight labels share 1024 pixels).
fn short_label(figure: &str) -> String {
    figure
        .replace("log append ", "")
        .replace(", fsync interval", " intv")
        .replace(", fsync always", " always")
        .replace("log replay, ", "replay ")
        .replace(" partitions", "p")
        .replace("speed layer windowed count + watermarks", "speed")
        .replace("batch recompute ", "")
        .replace("campaign_window_count", "campaign_wc")
}

/// Writes a small progress note; used by measurements that take long.
pub(crate) fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "    {text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_and_goals() {
        let goal = Goal { ratio_at_least: Some(0.8), ..Goal::default() };
        let f = Figure::new("g", "f", "MB/s", 80.0, Some((100.0, "b".into())), Some(goal), "");
        assert_eq!(f.ratio, Some(0.8));
        assert_eq!(f.met, Some(true));
        let goal = Goal { ratio_at_most: Some(1.0), ..Goal::default() };
        let f = Figure::new("g", "f", "s", 2.0, Some((1.0, "b".into())), Some(goal.clone()), "");
        assert_eq!(f.met, Some(false));
        // A skipped baseline leaves the ratio and the verdict open, never a fake number.
        let f = Figure::new("g", "f", "s", 2.0, None, Some(goal), "skipped");
        assert_eq!((f.ratio, f.met), (None, None));
        let goal = Goal { ours_at_least: Some(1.0), ratio_at_least: Some(0.3), ..Goal::default() };
        let f = Figure::new("g", "f", "GB/s", 0.9, Some((2.0, "b".into())), Some(goal), "");
        assert_eq!(f.met, Some(false));
        let f = Figure::new("g", "f", "s", 1.0, Some((0.0, "b".into())), None, "");
        assert_eq!(f.ratio, None, "a zero baseline gives no ratio, not infinity");
    }

    #[test]
    fn table_has_a_row_per_figure() {
        let f = Figure::new("g", "fig", "s", 1.5, Some((3.0, "duck".into())), None, "");
        let t = table(&[f.clone(), f]);
        assert_eq!(t.lines().count(), 4);
        assert!(t.contains("| fig | s | 1.50 | 3.00 (duck) | 0.50 |"), "{t}");
    }
}
