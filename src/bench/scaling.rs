//! How time and peak memory grow: the batch recompute (a first one, which decodes every record
//! from the log and fills the batch layer's column cache) and a whole simulated run at growing
//! event counts (should be linear in events), and the streaming architectures at a growing
//! duration at one rate (memory should stay flat).
//!
//! # How peak memory is measured
//!
//! Each size runs alone in a **fresh child process** (`workbench bench` re-executed with the
//! point in an environment variable), which reports its own peak resident set size (`VmHWM`
//! from `/proc/self/status`) when the point is done. So a figure is the peak of that work
//! alone, not inflated by what earlier measurements left in the allocator's free lists. For the
//! batch recompute the child resets `VmHWM` (`/proc/self/clear_refs`) after writing the log, so
//! the peak is the recompute's (the reset keeps what is resident at that moment: the process,
//! the log's in-memory indexes, allocator pages kept from writing). A simulated run's peak is
//! the whole child's: the run is all it does.
//!
//! When the running executable is not `workbench` (the library's tests), or
//! `WORKBENCH_BENCH_IN_PROCESS` is set, points run in this process after a `VmHWM` reset, and
//! the figures' notes say so.
//!
//! `WORKBENCH_BENCH_SCALING_MAX=N` skips points above `N` events (a partial full run on a
//! small machine). A simulated point whose memory, extrapolated linearly from the previous
//! size, would not fit in the machine's available memory is skipped too, with a note: a
//! simulated run keeps per-record state (the oracle's and the freshness trackers' entries).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::batch::scale_label;
use super::{BenchError, Figure, Sizes, io_err, note, peak_rss_mib, reset_peak_rss};
use crate::batch::BatchCompute;
use crate::batch::lambda_polars::PolarsBatch;
use crate::query::{QueryKind, QuerySet, QuerySpec};

/// The point a child process runs (JSON), set by the parent.
const POINT_ENV: &str = "WORKBENCH_BENCH_POINT";
/// Where the child writes its [`Measured`] (JSON).
const POINT_OUT_ENV: &str = "WORKBENCH_BENCH_POINT_OUT";
/// Set: run the points in this process.
const IN_PROCESS_ENV: &str = "WORKBENCH_BENCH_IN_PROCESS";
/// Skip points above this many events.
const MAX_EVENTS_ENV: &str = "WORKBENCH_BENCH_SCALING_MAX";

/// One size of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Point {
    /// `key_sum` + `campaign_window_count` recomputed over a fresh log of `events` YSB events.
    Batch { events: u64 },
    /// The YSB scenario with `events` events over `duration_ms`, simulated through all five
    /// architectures and the oracle, or only `kappa` and `streaming-lake`.
    Sim { events: u64, duration_ms: i64, streaming_only: bool },
}

/// What one point measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Measured {
    events: u64,
    secs: f64,
    peak_rss_mib: Option<f64>,
    /// How the peak was measured.
    how: String,
}

/// Runs `p` here, in this process.
fn run_here(work: &Path, p: &Point, fresh_process: bool) -> Result<Measured, BenchError> {
    match *p {
        Point::Batch { events } => {
            let dir = work.join(format!("batch-scaling-{events}"));
            let (log, campaigns) = super::batch::ads_log(&dir, events)?;
            let cutoff: Vec<u64> = super::batch::log_ends(&log)?.iter().map(|r| r.1).collect();
            let queries = QuerySet {
                specs: [QueryKind::KeySum, QueryKind::CampaignWindowCount]
                    .into_iter()
                    .enumerate()
                    .map(|(i, k)| QuerySpec { id: i as u8, ..super::batch::spec(k) })
                    .collect(),
                campaigns,
            };
            reset_peak_rss();
            let t = Instant::now();
            let (_, read) =
                PolarsBatch::new().compute(&log, super::batch::ADS_TOPIC, &cutoff, &queries)?;
            let secs = t.elapsed().as_secs_f64();
            let peak = peak_rss_mib();
            drop(log);
            let _ = std::fs::remove_dir_all(&dir);
            if read != events {
                return Err(BenchError::Check(format!("batch scaling: read {read} of {events}")));
            }
            let how = if fresh_process {
                "peak RSS of a fresh process running only this point, VmHWM reset after the log \
                 was written"
            } else {
                "peak RSS of this process during the recompute (VmHWM after a reset)"
            };
            Ok(Measured { events, secs, peak_rss_mib: peak, how: how.into() })
        }
        Point::Sim { events, duration_ms, streaming_only } => {
            let mut s = super::sim::ysb(events, duration_ms)?;
            if streaming_only {
                s.architectures = vec!["kappa".into(), "streaming-lake".into()];
                s.expect.exact.retain(|a| s.architectures.contains(a));
                s.expect.inexact.retain(|a| s.architectures.contains(a));
            }
            if !fresh_process {
                reset_peak_rss();
            }
            let (events, secs, peak) =
                super::sim::simulate(work, &format!("sim-scaling-{events}-{duration_ms}"), &s)?;
            let how = if fresh_process {
                "peak RSS of a fresh process running only this simulation (VmHWM)"
            } else {
                "peak RSS of this process during the run (VmHWM after a reset)"
            };
            Ok(Measured { events, secs, peak_rss_mib: peak, how: how.into() })
        }
    }
}

/// The executable to run points in, when they should run in child processes.
fn child_exe() -> Option<PathBuf> {
    if std::env::var_os(IN_PROCESS_ENV).is_some() {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    (exe.file_stem()? == "workbench").then_some(exe)
}

/// Measures `p`: in a child process when possible (see the module documentation).
fn measure(work: &Path, p: &Point) -> Result<Measured, BenchError> {
    let Some(exe) = child_exe() else { return run_here(work, p, false) };
    let spec = serde_json::to_string(p).map_err(|e| BenchError::Check(e.to_string()))?;
    let out = work.join("point.json");
    let _ = std::fs::remove_file(&out);
    let status = Command::new(&exe)
        .args(["bench", "--quick", "--no-duckdb", "--out"])
        .arg(work.join("point"))
        .env(POINT_ENV, &spec)
        .env(POINT_OUT_ENV, &out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(io_err("run", &exe))?;
    let _ = std::fs::remove_dir_all(work.join("point"));
    if !status.success() {
        return Err(BenchError::Check(format!("scaling point {spec}: child process {status}")));
    }
    let text = std::fs::read_to_string(&out).map_err(io_err("read", &out))?;
    serde_json::from_str(&text).map_err(|e| BenchError::Check(format!("{}: {e}", out.display())))
}

/// In a child started by [`measure`]: runs its point, writes the result, and returns `true`
/// (the caller then stops). `false` in any other process.
pub(crate) fn run_child_point(work: &Path) -> Result<bool, BenchError> {
    let Some(spec) = std::env::var_os(POINT_ENV) else { return Ok(false) };
    let spec = spec.to_string_lossy();
    let p: Point = serde_json::from_str(&spec)
        .map_err(|e| BenchError::Check(format!("{POINT_ENV}={spec}: {e}")))?;
    let out = std::env::var_os(POINT_OUT_ENV)
        .map(PathBuf::from)
        .ok_or_else(|| BenchError::Check(format!("{POINT_OUT_ENV} is not set")))?;
    let m = run_here(work, &p, true)?;
    let text = serde_json::to_string(&m).map_err(|e| BenchError::Check(e.to_string()))?;
    std::fs::write(&out, text).map_err(io_err("write", &out))?;
    Ok(true)
}

/// The machine's available memory (`MemAvailable`), MiB.
fn available_mib() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// The largest point to run, from `WORKBENCH_BENCH_SCALING_MAX`.
fn max_events() -> u64 {
    std::env::var(MAX_EVENTS_ENV).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(u64::MAX)
}

/// One series: each size measured, two figures per size (time, peak memory), and between
/// consecutive sizes how far from linear the growth is.
fn series(
    work: &Path,
    what: &str,
    sizes: &[u64],
    point: impl Fn(u64) -> Point,
    guard_memory: bool,
    add: &mut dyn FnMut(Figure),
) -> Result<(), BenchError> {
    // (size asked for, what it measured): labels use the size asked for (a simulated run's
    // event count is the rate × duration, a few events off).
    let mut done: Vec<(u64, Measured)> = Vec::new();
    for &n in sizes {
        if n > max_events() {
            note(&format!("{what}: {n} events skipped ({MAX_EVENTS_ENV})"));
            continue;
        }
        if guard_memory
            && let (Some((_, prev)), Some(avail)) = (done.last(), available_mib())
            && let Some(peak) = prev.peak_rss_mib
        {
            let expected = peak * n as f64 / prev.events.max(1) as f64;
            if expected > 0.8 * avail {
                note(&format!(
                    "{what}: {n} events skipped: ~{expected:.0} MiB expected (linear from {} \
                     events), {avail:.0} MiB available",
                    prev.events
                ));
                continue;
            }
        }
        let m = measure(work, &point(n))?;
        let label = scale_label(n);
        add(Figure::new(
            "scaling",
            format!("{what} time, {label} events"),
            "s",
            m.secs,
            None,
            None,
            format!("{:.3} s per M events", m.secs / (m.events.max(1) as f64 / 1e6)),
        ));
        if let Some(peak) = m.peak_rss_mib {
            add(Figure::new(
                "scaling",
                format!("{what} peak memory, {label} events"),
                "MiB",
                peak,
                None,
                None,
                m.how.clone(),
            ));
        }
        if let Some((prev_n, prev)) = done.last() {
            let grow = m.events as f64 / prev.events.max(1) as f64;
            let (a, b) = (scale_label(*prev_n), label.clone());
            add(Figure::new(
                "scaling",
                format!("{what} time growth, {a} → {b} events"),
                "× of linear",
                m.secs / prev.secs / grow,
                None,
                None,
                format!(
                    "time ratio {:.2} for {grow:.0}× the events (1.0 = linear, below = \
                     fixed costs amortized)",
                    m.secs / prev.secs
                ),
            ));
            if let (Some(p0), Some(p1)) = (prev.peak_rss_mib, m.peak_rss_mib) {
                add(Figure::new(
                    "scaling",
                    format!("{what} memory per extra M events, {a} → {b}"),
                    "MiB/Mev",
                    ((p1 - p0) / ((m.events - prev.events).max(1) as f64 / 1e6)).max(1e-3),
                    None,
                    None,
                    format!(
                        "{p0:.0} MiB → {p1:.0} MiB: the part of the peak that grows with events \
                         (a fixed base does not)"
                    ),
                ));
            }
        }
        done.push((n, m));
    }
    Ok(())
}

/// Runs the scaling figures.
pub fn run(work: &Path, sizes: &Sizes, add: &mut dyn FnMut(Figure)) -> Result<(), BenchError> {
    let dir = work.join("scaling");
    std::fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
    series(
        &dir,
        "batch recompute",
        &sizes.batch_scaling,
        |events| Point::Batch { events },
        false,
        add,
    )?;
    let duration_ms = sizes.sim_duration_ms;
    series(
        &dir,
        "simulated run",
        &sizes.sim_scaling,
        |events| Point::Sim { events, duration_ms, streaming_only: false },
        true,
        add,
    )?;
    // Memory against duration at a fixed rate, streaming architectures only: their state is
    // the open windows and the tables, so 4× the duration should not mean 4× the memory.
    let mut runs = Vec::new();
    for factor in [1i64, 4] {
        let p = Point::Sim {
            events: sizes.sim_events * factor as u64,
            duration_ms: duration_ms * factor,
            streaming_only: true,
        };
        runs.push(measure(&dir, &p)?);
    }
    if let [a, b] = &runs[..]
        && let (Some(m1), Some(m4)) = (a.peak_rss_mib, b.peak_rss_mib)
    {
        add(Figure::new(
            "scaling",
            "streaming peak memory, 4× duration at the same rate",
            "× of 1×",
            m4 / m1,
            None,
            None,
            format!(
                "kappa + streaming-lake: {} events in {:.1} s → {m1:.0} MiB; {} events in \
                 {:.1} s → {m4:.0} MiB ({}; includes the oracle)",
                a.events, a.secs, b.events, b.secs, b.how
            ),
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_round_trip_through_their_environment_text() {
        for p in [
            Point::Batch { events: 1_000_000 },
            Point::Sim { events: 10, duration_ms: 5_000, streaming_only: true },
        ] {
            let text = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Point>(&text).unwrap(), p);
        }
        // A test binary is not `workbench`: points run in-process there.
        assert!(child_exe().is_none());
    }
}
