//! Whole simulated runs: the YSB scenario through all five architectures and the oracle, on
//! the simulated clock ([`crate::driver::simulate`]); how their wall time and peak memory grow
//! with events; and whether a streaming architecture's memory stays flat as the run gets
//! longer at the same rate.
//!
//! There is no outside baseline for a whole run: the figures are events per wall second and
//! the growth ratios between sizes.

use std::path::Path;
use std::time::Instant;

use super::batch::scale_label;
use super::{BenchError, Figure, Sizes, peak_rss_mib, reset_peak_rss};
use crate::scenario::Scenario;

/// The bundled YSB scenario (all five architectures) with a rate giving `events` events over
/// `duration_ms`.
fn ysb(events: u64, duration_ms: i64) -> Result<Scenario, BenchError> {
    let text = crate::scenario::bundled("ysb")
        .ok_or_else(|| BenchError::Check("bundled scenario `ysb` missing".into()))?;
    let mut s = Scenario::parse(text, Path::new("scenarios/ysb.toml"))?;
    s.duration_ms = duration_ms.max(1000);
    let secs = (s.duration_ms / 1000).max(1) as u64;
    s.workload.rate_per_sec = events.div_ceil(secs).clamp(1, u64::from(u32::MAX)) as u32;
    Ok(s)
}

/// Simulates `scenario` in a fresh directory; returns (events, wall seconds, peak RSS MiB).
fn simulate(
    work: &Path,
    name: &str,
    scenario: &Scenario,
) -> Result<(u64, f64, Option<f64>), BenchError> {
    let dir = work.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    reset_peak_rss();
    let t = Instant::now();
    let result = crate::driver::simulate(scenario, &dir)?;
    let secs = t.elapsed().as_secs_f64();
    let peak = peak_rss_mib();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((result.events, secs, peak))
}

/// Runs the simulated-run figures.
pub fn run(work: &Path, sizes: &Sizes, add: &mut dyn FnMut(Figure)) -> Result<(), BenchError> {
    let scenario = ysb(sizes.sim_events, sizes.sim_duration_ms)?;
    let (events, secs, _) = simulate(work, "sim", &scenario)?;
    add(Figure::new(
        "sim",
        "simulated run, 5 architectures + oracle",
        "kev/s",
        events as f64 / secs / 1e3,
        None,
        None,
        format!(
            "ysb scenario, {events} events over {} s simulated, in {secs:.2} s wall \
             (all five architectures, oracle samples every {} ms)",
            scenario.duration_ms / 1000,
            scenario.sample_every_ms
        ),
    ));
    for &n in &sizes.sim_scaling {
        let scenario = ysb(n, sizes.sim_duration_ms)?;
        let (events, secs, peak) = simulate(work, &format!("sim-{n}"), &scenario)?;
        let label = scale_label(n);
        add(Figure::new(
            "scaling",
            format!("simulated run time, {label} events"),
            "s",
            secs,
            None,
            None,
            format!(
                "ysb, 5 architectures + oracle; {:.2} s per M events",
                secs / (events as f64 / 1e6)
            ),
        ));
        if let Some(peak) = peak {
            add(Figure::new(
                "scaling",
                format!("simulated run peak memory, {label} events"),
                "MiB",
                peak,
                None,
                None,
                "process peak RSS during the run (VmHWM after a reset)",
            ));
        }
    }
    // Memory against duration at a fixed rate, streaming architectures only: their state is
    // the open windows and the tables, so 4× the duration should not mean 4× the memory.
    let base = ysb(sizes.sim_events, sizes.sim_duration_ms)?;
    let rate = base.workload.rate_per_sec;
    let mut peaks = Vec::new();
    for factor in [1i64, 4] {
        let mut s = base.clone();
        s.duration_ms = base.duration_ms * factor;
        s.architectures = vec!["kappa".into(), "streaming-lake".into()];
        s.expect.exact.retain(|a| s.architectures.contains(a));
        s.expect.inexact.retain(|a| s.architectures.contains(a));
        let (events, secs, peak) = simulate(work, &format!("sim-duration-{factor}"), &s)?;
        peaks.push((factor, events, secs, peak));
    }
    if sizes.sim_day {
        day(work, add)?;
    }
    if let [(_, e1, s1, Some(m1)), (f4, e4, s4, Some(m4))] = peaks[..] {
        add(Figure::new(
            "scaling",
            format!("streaming peak memory, {f4}× duration at the same rate"),
            "× of 1×",
            m4 / m1,
            None,
            None,
            format!(
                "kappa + streaming-lake at {rate} ev/s: {e1} events in {s1:.1} s → {m1:.0} MiB; \
                 {e4} events in {s4:.1} s → {m4:.0} MiB (process peak RSS; includes the oracle)"
            ),
        ));
    }
    Ok(())
}

/// The bundled `day` scenario at half and at full length: a simulated day at 2,000 events/s
/// (172.8 M events written as 172,800 records of 1,000 events each) through all five
/// architectures. Memory at half vs full length shows what grows with the duration.
fn day(work: &Path, add: &mut dyn FnMut(Figure)) -> Result<(), BenchError> {
    let text = crate::scenario::bundled("day")
        .ok_or_else(|| BenchError::Check("bundled scenario `day` missing".into()))?;
    let full = Scenario::parse(text, Path::new("scenarios/day.toml"))?;
    let mut half = full.clone();
    half.duration_ms = full.duration_ms / 2;
    let mut runs = Vec::new();
    for (label, s) in [("half a day", &half), ("a day", &full)] {
        let (events, secs, peak) = simulate(work, &format!("day-{}", s.duration_ms), s)?;
        runs.push((label, events, secs, peak));
    }
    let per_record = full.workload.events_per_record;
    for &(label, events, secs, peak) in &runs {
        add(Figure::new(
            "day",
            format!("simulated run time, {label} at 2k events/s"),
            "s",
            secs,
            None,
            None,
            format!(
                "bundled `day` scenario, all five architectures + oracle: {events} events as \
                 {} records of {per_record} events; peak RSS {}",
                events / u64::from(per_record.max(1)),
                peak.map_or("n/a".into(), |m| format!("{m:.0} MiB"))
            ),
        ));
    }
    if let [(_, _, _, Some(m1)), (_, _, _, Some(m2))] = runs[..] {
        add(Figure::new(
            "day",
            "peak memory, a day vs half a day",
            "× of ½ day",
            m2 / m1,
            None,
            None,
            format!(
                "{m1:.0} MiB → {m2:.0} MiB (process peak RSS; what grows is one entry per \
                 record in the oracle and freshness trackers and one cell per closed window in \
                 every final table)"
            ),
        ));
    }
    Ok(())
}
