//! How time and peak memory grow: the batch recompute (a first one, which decodes every record
//! from the log and fills the batch layer's column cache) and a whole simulated run at growing
//! event counts (should be linear in events), and the streaming architectures at a growing
//! duration at one rate (memory should stay flat).
//!
//! # The simulated run's schedule
//!
//! A simulated point is the bundled `ysb` scenario with its rate raised to give the point's
//! events over the same 120 s, **on the bundled scenario's simulated schedule**: every
//! per-event simulated cost (batch jobs, speed polls, the lake's tiering and queries) is
//! scaled by the bundled rate over the point's (`bench::sim::ysb`), so each batch job,
//! poll, conversion and query takes the simulated time it takes in `scenarios/ysb.toml` — as
//! a data engineer sizes the clusters to the load. What varies is only the events, which is
//! what the series isolates. Until session 8 the costs stayed the bundled ones: at 100M events
//! the first batch job took 253 simulated seconds (longer than the run), tiering fell behind,
//! the runs never settled, and the series measured a different schedule at each size, not
//! more events (a 100M point ran 29 minutes and swung between 5.6 and 15.5 GiB before it was
//! stopped). The library now copes with such a scenario too (see `docs/performance.md`,
//! "Session 8 (scale)"), but it is not what a scaling series should compare.
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
//! small machine). A point that would not fit is skipped too, with a note saying what was
//! predicted from what: its peak memory against 80% of the machine's available memory, and the
//! bytes it writes (the log, and a simulated run's Parquet files) against half the free space
//! of the work directory's disk (a 100M-event log is about 6 GB). Both are extrapolated from the
//! sizes already measured in the series: from the growth between the last two (what a million
//! more events add; a fixed base does not grow), or in proportion from the only one. A
//! prediction can be wrong (a run can grow faster than its smaller points did), so a child
//! whose resident set passes 85% of the memory available when it started (or
//! `WORKBENCH_BENCH_SCALING_MEMORY_MIB`) is stopped, the point noted as not measured, and the
//! series' larger points are not tried.

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
/// Stop a point's child process past this resident size, MiB (default: 85% of the memory
/// available when it starts).
const MEMORY_LIMIT_ENV: &str = "WORKBENCH_BENCH_SCALING_MEMORY_MIB";

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
    /// Bytes the point wrote to disk (its log; a simulated run's lake files too), when known.
    #[serde(default)]
    disk_bytes: Option<u64>,
}

/// Runs `p` here, in this process.
fn run_here(work: &Path, p: &Point, fresh_process: bool) -> Result<Measured, BenchError> {
    match *p {
        Point::Batch { events } => {
            let dir = work.join(format!("batch-scaling-{events}"));
            let (log, campaigns) = super::batch::ads_log(&dir, events)?;
            let disk_bytes = Some(dir_bytes(&dir));
            let cutoff: Vec<u64> = super::batch::log_ends(&log)?.iter().map(|r| r.1).collect();
            let queries = QuerySet {
                specs: [QueryKind::KeySum, QueryKind::CampaignWindowCount]
                    .into_iter()
                    .enumerate()
                    .map(|(i, k)| QuerySpec { id: i as u8, ..super::batch::spec(k) })
                    .collect(),
                campaigns,
                ttl_ms: None,
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
            Ok(Measured { events, secs, peak_rss_mib: peak, how: how.into(), disk_bytes })
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
            let run =
                super::sim::simulate(work, &format!("sim-scaling-{events}-{duration_ms}"), &s)?;
            let how = if fresh_process {
                "peak RSS of a fresh process running only this simulation (VmHWM)"
            } else {
                "peak RSS of this process during the run (VmHWM after a reset)"
            };
            Ok(Measured {
                events: run.events,
                secs: run.secs,
                peak_rss_mib: run.peak_rss_mib,
                how: how.into(),
                disk_bytes: Some(run.disk_bytes),
            })
        }
    }
}

/// Bytes of the files under `dir` (0 for what cannot be read).
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// The executable to run points in, when they should run in child processes.
fn child_exe() -> Option<PathBuf> {
    if std::env::var_os(IN_PROCESS_ENV).is_some() {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    (exe.file_stem()? == "workbench").then_some(exe)
}

/// Measures `p`: in a child process when possible (see the module documentation). The inner
/// `Err` is why a child was stopped before it finished (it outgrew the machine's memory).
fn measure(work: &Path, p: &Point) -> Result<Result<Measured, String>, BenchError> {
    let Some(exe) = child_exe() else { return run_here(work, p, false).map(Ok) };
    let spec = serde_json::to_string(p).map_err(|e| BenchError::Check(e.to_string()))?;
    let out = work.join("point.json");
    let _ = std::fs::remove_file(&out);
    let mut child = Command::new(&exe)
        .args(["bench", "--quick", "--no-duckdb", "--out"])
        .arg(work.join("point"))
        .env(POINT_ENV, &spec)
        .env(POINT_OUT_ENV, &out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(io_err("run", &exe))?;
    // The guard in `wont_fit` extrapolates from smaller points, and a run can grow faster
    // than they predict (a simulated 100M-event run was predicted at 10.6 GiB and passed 15.8
    // GiB): the child is stopped before it takes the machine's memory.
    let limit_mib = std::env::var(MEMORY_LIMIT_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .or_else(|| available_mib().map(|a| 0.85 * a));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io_err("wait for", &exe))? {
            break status;
        }
        if let (Some(limit), Some(rss)) = (limit_mib, rss_mib(child.id()))
            && rss > limit
        {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(work.join("point"));
            return Ok(Err(format!(
                "stopped at {rss:.0} MiB after {:.0} s, past its limit of {limit:.0} MiB (85% of \
                 the memory available, or {MEMORY_LIMIT_ENV})",
                started.elapsed().as_secs_f64(),
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = std::fs::remove_dir_all(work.join("point"));
    if !status.success() {
        return Err(BenchError::Check(format!("scaling point {spec}: child process {status}")));
    }
    let text = std::fs::read_to_string(&out).map_err(io_err("read", &out))?;
    serde_json::from_str(&text)
        .map(Ok)
        .map_err(|e| BenchError::Check(format!("{}: {e}", out.display())))
}

/// The resident set of process `pid` (`VmRSS`), MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
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

/// Free space for an unprivileged user on the disk holding `dir`, MiB (`df -Pk`: std has no
/// `statvfs`, and the crate has no libc binding of its own); `None` when `df` cannot say.
fn free_disk_mib(dir: &Path) -> Option<f64> {
    let out = Command::new("df").arg("-Pk").arg(dir).stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let kib: f64 = text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// What a size of `n` events is expected to need of a quantity measured at the sizes done so
/// far (`(events, amount)`, growing): the last amount plus the growth per event between the
/// last two sizes (a fixed base does not grow with events), or in proportion to the only one.
/// Returns (expected, per M events it is extrapolated with).
fn extrapolate(done: &[(u64, f64)], n: u64) -> Option<(f64, f64)> {
    match done {
        [] => None,
        [.., (e0, a0), (e1, a1)] if e1 > e0 => {
            let per_mev = ((a1 - a0) / (e1 - e0) as f64 * 1e6).max(0.0);
            Some((a1 + per_mev * (n.saturating_sub(*e1)) as f64 / 1e6, per_mev))
        }
        [.., (e, a)] => {
            let per_mev = a / (*e).max(1) as f64 * 1e6;
            Some((per_mev * n as f64 / 1e6, per_mev))
        }
    }
}

/// Why a point of `n` events should not run (the note), from what the points `done` measured:
/// its peak memory would exceed 80% of the available memory, or its files half of the free
/// disk space under `work`.
fn wont_fit(work: &Path, done: &[(u64, Measured)], n: u64) -> Option<String> {
    // Labels name the sizes asked for (a simulated run's count is a few events off).
    let from = |what: &str, per_mev: f64, unit: &str| match done {
        [.., (a, ma), (b, mb)] if mb.events > ma.events => format!(
            "{per_mev:.0} {unit} per M events from {} to {} events",
            scale_label(*a),
            scale_label(*b)
        ),
        _ => format!("{what} in proportion to {} events", done.last().map_or(0, |d| d.0)),
    };
    let done: Vec<&Measured> = done.iter().map(|(_, m)| m).collect();
    let peaks: Vec<(u64, f64)> =
        done.iter().filter_map(|m| Some((m.events, m.peak_rss_mib?))).collect();
    if let (Some((expected, per_mev)), Some(avail)) = (extrapolate(&peaks, n), available_mib())
        && expected > 0.8 * avail
    {
        return Some(format!(
            "~{expected:.0} MiB peak expected ({}), {avail:.0} MiB available",
            from("memory", per_mev, "MiB")
        ));
    }
    let written: Vec<(u64, f64)> = done
        .iter()
        .filter_map(|m| Some((m.events, m.disk_bytes? as f64 / (1 << 20) as f64)))
        .collect();
    // The disk is shared with whatever else runs on the machine (builds, other runs): a point
    // may take at most half of its free space.
    if let (Some((expected, per_mev)), Some(free)) = (extrapolate(&written, n), free_disk_mib(work))
        && expected > 0.5 * free
    {
        return Some(format!(
            "~{:.1} GiB written to disk expected ({}), {:.1} GiB free under {}",
            expected / 1024.0,
            from("log size", per_mev, "MiB"),
            free / 1024.0,
            work.display()
        ));
    }
    None
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
    about: &str,
    sizes: &[u64],
    point: impl Fn(u64) -> Point,
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
        if let Some(why) = wont_fit(work, &done, n) {
            note(&format!("{what}: {n} events skipped: {why}"));
            continue;
        }
        let m = match measure(work, &point(n))? {
            Ok(m) => m,
            Err(why) => {
                note(&format!("{what}: {n} events not measured: {why}"));
                // Larger points would outgrow it sooner.
                break;
            }
        };
        let label = scale_label(n);
        add(Figure::new(
            "scaling",
            format!("{what} time, {label} events"),
            "s",
            m.secs,
            None,
            None,
            format!("{:.3} s per M events{about}", m.secs / (m.events.max(1) as f64 / 1e6)),
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
                    "time ratio {:.2} for {}× the events (1.0 = linear, below = \
                     fixed costs amortized)",
                    m.secs / prev.secs,
                    // 30M → 100M is 3.3×, not 3×.
                    format!("{grow:.1}").trim_end_matches(".0"),
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
        "",
        &sizes.batch_scaling,
        |events| Point::Batch { events },
        add,
    )?;
    let duration_ms = sizes.sim_duration_ms;
    series(
        &dir,
        "simulated run",
        &format!(" (ysb scenario, {})", super::sim::SCHEDULE_NOTE),
        &sizes.sim_scaling,
        |events| Point::Sim { events, duration_ms, streaming_only: false },
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
        match measure(&dir, &p)? {
            Ok(m) => runs.push(m),
            Err(why) => {
                note(&format!("streaming memory at {factor}× the duration not measured: {why}"));
                return Ok(());
            }
        }
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
        // Results written by an older binary (no `disk_bytes`) still read.
        let old = r#"{"events":1,"secs":0.5,"peak_rss_mib":2.0,"how":"x"}"#;
        assert_eq!(serde_json::from_str::<Measured>(old).unwrap().disk_bytes, None);
    }

    #[test]
    fn a_size_is_extrapolated_from_the_growth_between_the_last_two() {
        assert_eq!(extrapolate(&[], 10), None);
        // One size: in proportion.
        assert_eq!(extrapolate(&[(1_000_000, 300.0)], 10_000_000), Some((3000.0, 300.0)));
        // Two: a fixed base of 100 and 200 per M events (a simulated YSB run measured 322 MiB
        // at 1M and 2,221 MiB at 10M: 211 MiB per M events, so 100M ≈ 2,221 + 211 × 90 MiB).
        let (e, per) =
            extrapolate(&[(1, 0.0), (1_000_000, 300.0), (2_000_000, 500.0)], 4_000_000).unwrap();
        assert_eq!((e, per), (900.0, 200.0));
        // Shrinking memory never predicts less than what was measured.
        assert_eq!(
            extrapolate(&[(1_000_000, 300.0), (2_000_000, 250.0)], 4_000_000),
            Some((250.0, 0.0))
        );
    }

    #[test]
    fn a_point_that_cannot_fit_is_skipped_with_what_predicted_it() {
        let m = |events: u64, peak: f64, disk: u64| Measured {
            events,
            secs: 1.0,
            peak_rss_mib: Some(peak),
            how: String::new(),
            disk_bytes: Some(disk),
        };
        let work = std::env::temp_dir();
        let done =
            [(1_000_000, m(1_000_000, 100.0, 1 << 20)), (2_000_000, m(2_000_080, 200.0, 2 << 20))];
        assert_eq!(wont_fit(&work, &done, 3_000_000), None);
        if let Some(avail) = available_mib() {
            let n = (avail * 1e6 / 100.0) as u64 * 2;
            let why = wont_fit(&work, &done, n).unwrap();
            assert!(why.contains("MiB peak expected (100 MiB per M events from 1M to 2M"), "{why}");
        }
        if let Some(free) = free_disk_mib(&work) {
            // Little memory, 1 GiB of disk per M events.
            let done =
                [(1_000_000, m(1_000_000, 1.0, 1 << 30)), (2_000_000, m(2_000_000, 1.0, 2 << 30))];
            let n = (free / 1024.0 * 1e6) as u64 * 2;
            let why = wont_fit(&work, &done, n).unwrap();
            assert!(why.contains("written to disk expected (1024 MiB per M events"), "{why}");
        }
    }
}
