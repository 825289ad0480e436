//! Whole simulated runs: the YSB scenario through all five architectures and the oracle, on
//! the simulated clock ([`crate::driver::simulate`]), and (full run) the bundled `day`
//! scenario. How they grow with events and duration is [`super::scaling`].
//!
//! There is no outside baseline for a whole run: the figures are events per wall second.

use std::path::Path;
use std::time::Instant;

use super::{BenchError, Figure, Sizes, peak_rss_mib, reset_peak_rss};
use crate::scenario::Scenario;

/// The bundled YSB scenario (all five architectures) with a rate giving `events` events over
/// `duration_ms`, on the bundled scenario's simulated schedule.
///
/// Every per-event simulated cost (the batch job's, the speed layer's, the lake's tiering and
/// queries) is scaled by the bundled rate over the new one ([`SCHEDULE_NOTE`]), so a batch
/// job, a poll, a segment's conversion and a lake query take as much simulated time as in
/// `scenarios/ysb.toml`: as a data engineer sizes the clusters to the load. Only the events
/// vary, which is what a scaling series should isolate. (With the bundled costs a 100M-event
/// run's first batch job took 253 simulated seconds, longer than the run: its layers never
/// caught up, and the run measured a different schedule, not more events.)
pub(crate) fn ysb(events: u64, duration_ms: i64) -> Result<Scenario, BenchError> {
    let text = crate::scenario::bundled("ysb")
        .ok_or_else(|| BenchError::Check("bundled scenario `ysb` missing".into()))?;
    let mut s = Scenario::parse(text, Path::new("scenarios/ysb.toml"))?;
    s.duration_ms = duration_ms.max(1000);
    let secs = (s.duration_ms / 1000).max(1) as u64;
    let bundled_rate = f64::from(s.workload.rate_per_sec);
    s.workload.rate_per_sec = events.div_ceil(secs).clamp(1, u64::from(u32::MAX)) as u32;
    let scale = bundled_rate / f64::from(s.workload.rate_per_sec);
    s.batch.cost_us_per_event *= scale;
    s.speed.cost_us_per_event *= scale;
    s.lake.tier_cost_us_per_event *= scale;
    s.lake.query_cost_us_per_event *= scale;
    Ok(s)
}

/// How [`ysb`] keeps the schedule, for the figures' notes.
pub(crate) const SCHEDULE_NOTE: &str = "per-event simulated costs scaled by the bundled rate \
     over this one, so batch jobs, polls and lake queries take the bundled scenario's \
     simulated time";

/// What one simulated run measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SimRun {
    /// Events generated.
    pub events: u64,
    /// Wall seconds of the run.
    pub secs: f64,
    /// Peak RSS since the run started, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Bytes the run left on disk at its end (the log, the lake's Parquet files).
    pub disk_bytes: u64,
}

/// Simulates `scenario` in a fresh directory (removed afterwards).
pub(crate) fn simulate(work: &Path, name: &str, scenario: &Scenario) -> Result<SimRun, BenchError> {
    let dir = work.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    reset_peak_rss();
    let t = Instant::now();
    let result = crate::driver::simulate(scenario, &dir)?;
    let secs = t.elapsed().as_secs_f64();
    let peak_rss_mib = peak_rss_mib();
    let disk_bytes = super::scaling::dir_bytes(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(SimRun { events: result.events, secs, peak_rss_mib, disk_bytes })
}

/// Runs the simulated-run figures.
pub fn run(work: &Path, sizes: &Sizes, add: &mut dyn FnMut(Figure)) -> Result<(), BenchError> {
    let scenario = ysb(sizes.sim_events, sizes.sim_duration_ms)?;
    let SimRun { events, secs, .. } = simulate(work, "sim", &scenario)?;
    add(Figure::new(
        "sim",
        "simulated run, 5 architectures + oracle",
        "kev/s",
        events as f64 / secs / 1e3,
        None,
        None,
        format!(
            "ysb scenario, {events} events over {} s simulated, in {secs:.2} s wall \
             (all five architectures, oracle samples every {} ms; {SCHEDULE_NOTE})",
            scenario.duration_ms / 1000,
            scenario.sample_every_ms
        ),
    ));
    if sizes.sim_day {
        day(work, add)?;
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
        let r = simulate(work, &format!("day-{}", s.duration_ms), s)?;
        runs.push((label, r.events, r.secs, r.peak_rss_mib));
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
