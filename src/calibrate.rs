//! Calibrating the simulated driver's cost model from this code's measured speed
//! (`workbench calibrate`, `workbench run --calibration FILE`).
//!
//! The simulated driver does the real computation but decides *when* results become visible
//! with a cost model: `overhead_ms + events × cost_us_per_event` for a batch job, a stream
//! poll, the lake's conversion of one closed segment to Parquet, and a lake query. The bundled
//! scenarios set those numbers to model a production deployment (a batch job on a cluster has
//! seconds of start-up; the workbench's batch layer on one machine has milliseconds). This
//! module measures what *this* code costs on *this* machine instead: it runs each layer's own
//! code — the polars batch recompute, the stream job's polls, the lake's Parquet conversion and
//! its query — over generated logs of two sizes and fits `overhead + events × per-event` through
//! the wall times.
//!
//! The result is a small TOML file with the same `[batch]`, `[speed]` and `[lake]` keys a
//! scenario has, plus a `[measured]` table saying where and how. `workbench run --calibration
//! FILE` puts those numbers in place of the scenario's, copies the file into the results and
//! names it in `summary.json` → `cost_model`, so the run stays reproducible byte for byte from
//! its results directory (measurement happens once, in `calibrate`, never during a run).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::arch::ArchError;
use crate::batch::BatchCompute;
use crate::batch::lambda_polars::PolarsBatch;
use crate::lake::Lake;
use crate::log::{Clock, FsyncPolicy, Log, LogConfig, ManualClock, Offset, Record, StartPosition};
use crate::query::QuerySet;
use crate::scenario::Scenario;
use crate::speed::StreamJob;
use crate::speed::operators::HandWritten;

/// The topic the calibration logs are written to.
const TOPIC: &str = "events";

/// Why calibration failed, or a calibration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// A layer or the log under it failed while being measured.
    #[error("calibrate: {0}")]
    Arch(#[from] ArchError),
    /// The calibration file could not be read or written.
    #[error("calibration file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The calibration file is not valid.
    #[error("calibration file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        message: String,
    },
}

impl From<crate::log::LogError> for CalibrateError {
    fn from(e: crate::log::LogError) -> Self {
        CalibrateError::Arch(ArchError::from(e))
    }
}

/// A fixed cost and a cost per event, as the scenario's cost-model keys name them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCost {
    /// Fixed cost of one job (batch job, stream poll), ms.
    pub overhead_ms: f64,
    /// Cost per event, microseconds.
    pub cost_us_per_event: f64,
}

/// The lake's two costs: converting a closed segment, and a query.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeCost {
    /// Fixed cost of converting one closed segment to Parquet, ms.
    pub tier_overhead_ms: f64,
    /// Cost per event converted, microseconds.
    pub tier_cost_us_per_event: f64,
    /// Fixed cost of one query (cold partial aggregates + hot tail), ms.
    pub query_overhead_ms: f64,
    /// Cost per event a query reads, microseconds.
    pub query_cost_us_per_event: f64,
}

/// Where and how a calibration was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    /// Host name of the machine (from `/etc/hostname`, or `unknown`).
    pub host: String,
    /// When, UTC, RFC 3339.
    pub at: String,
    /// Events in the larger of the two generated logs.
    pub events: u64,
    /// Threads of the rayon pool the batch layer ran on.
    pub threads: usize,
    /// `release` or `debug`: a debug build's costs are many times a release build's.
    pub build: String,
    /// The bundled scenario whose workload and queries were measured.
    pub scenario: String,
    /// The 1-minute load average when the measurement ended (`/proc/loadavg`; -1 where
    /// unknown): timings are wall-clock, so a busy machine inflates them — calibrate on an
    /// idle one.
    pub load_average: f64,
}

/// A measured cost model: the scenario keys it replaces, and where it was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Where and how.
    pub measured: Measured,
    /// `[batch]` overhead and per-event cost.
    pub batch: JobCost,
    /// `[speed]` overhead and per-event cost (one poll).
    pub speed: JobCost,
    /// `[lake]` conversion and query costs.
    pub lake: LakeCost,
}

impl Calibration {
    /// Reads a calibration file written by [`Calibration::to_toml`].
    pub fn load(path: &Path) -> Result<Calibration, CalibrateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| CalibrateError::Io { path: path.to_owned(), source })?;
        let c: Calibration = toml::from_str(&text).map_err(|e| CalibrateError::Invalid {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        c.check().map_err(|message| CalibrateError::Invalid { path: path.to_owned(), message })?;
        Ok(c)
    }

    /// Every cost is a finite, non-negative number of sensible size.
    fn check(&self) -> Result<(), String> {
        let fields = [
            ("batch.overhead_ms", self.batch.overhead_ms),
            ("batch.cost_us_per_event", self.batch.cost_us_per_event),
            ("speed.overhead_ms", self.speed.overhead_ms),
            ("speed.cost_us_per_event", self.speed.cost_us_per_event),
            ("lake.tier_overhead_ms", self.lake.tier_overhead_ms),
            ("lake.tier_cost_us_per_event", self.lake.tier_cost_us_per_event),
            ("lake.query_overhead_ms", self.lake.query_overhead_ms),
            ("lake.query_cost_us_per_event", self.lake.query_cost_us_per_event),
        ];
        for (name, v) in fields {
            // An hour per job or a second per event is no machine's measurement.
            let limit = if name.ends_with("_ms") { 3_600_000.0 } else { 1_000_000.0 };
            if !v.is_finite() || v < 0.0 || v > limit {
                return Err(format!("{name} = {v}: expected a number between 0 and {limit}"));
            }
        }
        Ok(())
    }

    /// The file `workbench calibrate` writes: a comment saying what it is, then TOML.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# Cost model measured by `workbench calibrate` ({} build, {} on {}, load {}).\n\
             # `workbench run SCENARIO --calibration THIS_FILE` uses these numbers in place of\n\
             # the scenario's [batch], [speed] and [lake] costs.\n{body}",
            self.measured.build, self.measured.at, self.measured.host, self.measured.load_average
        )
    }

    /// Puts the measured costs in place of the scenario's.
    pub fn apply(&self, scenario: &mut Scenario) {
        scenario.batch.overhead_ms = self.batch.overhead_ms;
        scenario.batch.cost_us_per_event = self.batch.cost_us_per_event;
        scenario.speed.overhead_ms = self.speed.overhead_ms;
        scenario.speed.cost_us_per_event = self.speed.cost_us_per_event;
        scenario.lake.tier_overhead_ms = self.lake.tier_overhead_ms;
        scenario.lake.tier_cost_us_per_event = self.lake.tier_cost_us_per_event;
        scenario.lake.query_overhead_ms = self.lake.query_overhead_ms;
        scenario.lake.query_cost_us_per_event = self.lake.query_cost_us_per_event;
    }
}

/// A line `y = a + b·x` through `(x, y)` points by least squares. When noise hides the fixed
/// cost (a negative intercept) or the growth (a slope that is not positive), the whole time is
/// put on the events instead: a line through the origin, so a measured duration is never
/// modelled as free.
pub fn fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    if points.is_empty() {
        return (0.0, 0.0);
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let intercept = my - slope * mx;
    if intercept >= 0.0 && slope > 0.0 {
        return (intercept, slope);
    }
    let sx2: f64 = points.iter().map(|p| p.0 * p.0).sum();
    let through_origin = points.iter().map(|p| p.0 * p.1).sum::<f64>() / sx2.max(f64::MIN_POSITIVE);
    (0.0, through_origin.max(0.0))
}

/// Writes the scenario's first `events` events into a fresh log in `dir`, the clock set to each
/// event's arrival so segments roll by time as in a run.
fn write_log(
    dir: &Path,
    scenario: &Scenario,
    events: u64,
    segment_ms: i64,
) -> Result<Log, CalibrateError> {
    let _ = std::fs::remove_dir_all(dir);
    let clock = Arc::new(ManualClock::new(0));
    let config = LogConfig {
        fsync: FsyncPolicy::Never,
        segment_ms: Some(segment_ms),
        ..LogConfig::default()
    };
    let mut log = Log::open(dir, config, clock.clone())?;
    log.create_topic(TOPIC, scenario.workload.partitions)?;
    let topic = log.topic(TOPIC)?;
    let partitions = topic.partition_count() as usize;
    let mut pending: Vec<Vec<Record>> = vec![Vec::new(); partitions];
    // Append what arrived within each 100 ms together: batches like a producer's, and a roll
    // lands within 100 ms of where a run's would.
    let mut batch_until = i64::MIN;
    let generated =
        crate::workload::events(&scenario.workload, scenario.seed, scenario.duration_ms);
    for e in generated.take(events as usize) {
        if e.arrival_ms >= batch_until {
            for (p, batch) in pending.iter_mut().enumerate() {
                if !batch.is_empty() {
                    topic.partition(p as u32)?.append(batch)?;
                    batch.clear();
                }
            }
            clock.set(e.arrival_ms);
            batch_until = e.arrival_ms + 100;
        }
        let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.into_bytes());
        let p = topic.partition_for(record.key.as_deref());
        pending[p as usize].push(record);
    }
    for (p, batch) in pending.iter().enumerate() {
        topic.partition(p as u32)?.append(batch)?;
    }
    // Past the last event: every segment but the active one is closed and can be tiered.
    clock.set(clock.now_ms() + segment_ms);
    Ok(log)
}

/// Every partition's end offset.
fn ends(log: &Log) -> Result<Vec<Offset>, CalibrateError> {
    Ok(log.topic(TOPIC)?.partitions().iter().map(|p| p.log_end_offset()).collect())
}

/// Milliseconds of wall time `f` took, and its result.
fn timed<T>(f: impl FnOnce() -> Result<T, CalibrateError>) -> Result<(f64, T), CalibrateError> {
    let t = Instant::now();
    let out = f()?;
    Ok((t.elapsed().as_secs_f64() * 1000.0, out))
}

/// The best (smallest) of `repeats` timings: the run least disturbed by the machine.
fn best_ms<T>(
    repeats: usize,
    mut f: impl FnMut() -> Result<T, CalibrateError>,
) -> Result<(f64, T), CalibrateError> {
    let mut best = timed(&mut f)?;
    for _ in 1..repeats {
        let t = timed(&mut f)?;
        if t.0 < best.0 {
            best = t;
        }
    }
    Ok(best)
}

/// What one log measured.
struct Sample {
    events: f64,
    batch_ms: f64,
    /// (polls that read events, total ms of those polls).
    speed: (f64, f64),
    /// Speed: ms of one poll that found nothing.
    empty_poll_ms: f64,
    /// (segments converted, ms).
    tier: (f64, f64),
    query_ms: f64,
}

/// Measures every layer over `log`.
fn measure(
    log: &Log,
    scenario: &Scenario,
    work: &Path,
    repeats: usize,
) -> Result<Sample, CalibrateError> {
    let queries = Arc::new(QuerySet::from_scenario(scenario));
    let cutoff = ends(log)?;
    let events: u64 = cutoff.iter().sum();

    let batch = PolarsBatch::new();
    let (batch_ms, _) = best_ms(repeats, || Ok(batch.compute(log, TOPIC, &cutoff, &queries)?))?;

    // The stream job from offset 0, one poll per tick until it has read everything: the same
    // code as lambda's speed layer and kappa's job, timed per poll.
    let mut speed = (0.0, f64::INFINITY);
    let mut empty_poll_ms = f64::INFINITY;
    for round in 0..repeats {
        let compute = Arc::new(HandWritten::new(queries.clone()));
        let group = format!("calibrate-{round}");
        let mut job = StreamJob::new(
            log,
            TOPIC,
            &group,
            StartPosition::Earliest,
            compute,
            queries.clone(),
            &scenario.speed,
            0,
        )?;
        let (mut polls, mut ms, mut now) = (0.0, 0.0, 0);
        let mut read_before = job.events_read();
        loop {
            let (t, _) = timed(|| Ok(job.tick(now, log)?))?;
            now += scenario.speed.poll_interval_ms.max(1);
            let read = job.events_read();
            if read == read_before {
                empty_poll_ms = empty_poll_ms.min(t);
                if read >= events {
                    break;
                }
            } else {
                polls += 1.0;
                ms += t;
            }
            read_before = read;
        }
        if ms < speed.1 {
            speed = (polls, ms);
        }
    }

    // The lake: a query over the whole log while it is all hot (no segment tiered yet), then
    // the conversion of every closed segment to Parquet (each written to the object store and
    // read back, as in a run).
    let lake_cfg = scenario.lake.clone();
    let (query_ms, _) = best_ms(repeats, || {
        let lake = Lake::new(log, TOPIC, queries.clone(), &lake_cfg, &work.join("cold-q"))?;
        Ok(lake.query(log)?)
    })?;
    let (tier_ms, files) = best_ms(repeats, || {
        let dir = work.join("cold");
        let _ = std::fs::remove_dir_all(&dir);
        let mut lake = Lake::new(log, TOPIC, queries.clone(), &lake_cfg, &dir)?;
        let mut files = 0usize;
        // Each tick finishes the conversion the previous one started (modelled cost) and starts
        // the next: tick far enough apart that every one is done.
        let mut now = 0;
        loop {
            let tick = lake.tick(now, log)?;
            files += tick.tiered.len();
            if lake.tierer().idle(log)? {
                break;
            }
            now += 3_600_000;
        }
        Ok(files)
    })?;
    Ok(Sample {
        events: events as f64,
        batch_ms,
        speed,
        empty_poll_ms,
        tier: (files as f64, tier_ms),
        query_ms,
    })
}

/// Measures the cost model on `events` events of the bundled `ysb` scenario (its workload and
/// queries) in `work` (scratch, removed after): logs of `events / 4` and `events` events, the
/// smaller with segments a quarter as long, so the fixed and per-event costs of each layer
/// separate.
pub fn calibrate(work: &Path, events: u64) -> Result<Calibration, CalibrateError> {
    let name = "ysb";
    let text = crate::scenario::bundled(name).ok_or_else(|| CalibrateError::Invalid {
        path: PathBuf::from("scenarios/ysb.toml"),
        message: "bundled scenario missing".into(),
    })?;
    let mut scenario = Scenario::parse(text, Path::new("scenarios/ysb.toml")).map_err(|e| {
        CalibrateError::Invalid { path: "scenarios/ysb.toml".into(), message: e.to_string() }
    })?;
    let events = events.max(1_000);
    // A duration long enough for `events` at the scenario's rate.
    let rate = u64::from(scenario.workload.rate_per_sec.max(1));
    scenario.duration_ms = scenario.duration_ms.max((events.div_ceil(rate) * 1000 + 1000) as i64);
    std::fs::create_dir_all(work)
        .map_err(|source| CalibrateError::Io { path: work.to_owned(), source })?;
    let segment_ms = scenario.lake.segment_ms.max(4);
    let repeats = 3;
    let small_log = write_log(&work.join("small"), &scenario, events / 4, segment_ms / 4)?;
    let small = measure(&small_log, &scenario, &work.join("small-work"), repeats)?;
    drop(small_log);
    let large_log = write_log(&work.join("large"), &scenario, events, segment_ms)?;
    let large = measure(&large_log, &scenario, &work.join("large-work"), repeats)?;
    drop(large_log);
    let _ = std::fs::remove_dir_all(work);

    let (b0, b1) = fit(&[(small.events, small.batch_ms), (large.events, large.batch_ms)]);
    let (q0, q1) = fit(&[(small.events, small.query_ms), (large.events, large.query_ms)]);
    // Speed: a poll's fixed cost is what an empty poll costs; the rest is per event.
    let poll_overhead = small.empty_poll_ms.min(large.empty_poll_ms);
    let per_event = |s: &Sample| (s.speed.1 - s.speed.0 * poll_overhead).max(0.0) / s.events;
    let speed_us = (per_event(&small) + per_event(&large)) / 2.0 * 1000.0;
    // Tiering: ms = files × overhead + events × per-event, two logs with different segment
    // lengths give two equations.
    let (tier_overhead, tier_us) = solve_tier(&small, &large);
    let round = |v: f64| (v * 1e4).round() / 1e4;
    Ok(Calibration {
        measured: Measured {
            host: std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unknown".into()),
            at: now_rfc3339(),
            events,
            threads: rayon::current_num_threads(),
            build: if cfg!(debug_assertions) { "debug" } else { "release" }.into(),
            scenario: name.into(),
            load_average: std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|l| l.split_whitespace().next()?.parse().ok())
                .unwrap_or(-1.0),
        },
        batch: JobCost { overhead_ms: round(b0), cost_us_per_event: round(b1 * 1000.0) },
        speed: JobCost { overhead_ms: round(poll_overhead), cost_us_per_event: round(speed_us) },
        lake: LakeCost {
            tier_overhead_ms: round(tier_overhead),
            tier_cost_us_per_event: round(tier_us),
            query_overhead_ms: round(q0),
            query_cost_us_per_event: round(q1 * 1000.0),
        },
    })
}

/// Solves `ms = files × overhead + events × per_event` for the two samples; falls back to all
/// per-event (no overhead) when the two equations are degenerate or give a negative cost.
fn solve_tier(a: &Sample, b: &Sample) -> (f64, f64) {
    let (f1, e1, t1) = (a.tier.0, a.events, a.tier.1);
    let (f2, e2, t2) = (b.tier.0, b.events, b.tier.1);
    let det = f1 * e2 - f2 * e1;
    if det.abs() > f64::EPSILON {
        let overhead = (t1 * e2 - t2 * e1) / det;
        let per_event_ms = (f1 * t2 - f2 * t1) / det;
        if overhead >= 0.0 && per_event_ms >= 0.0 {
            return (overhead, per_event_ms * 1000.0);
        }
    }
    let per_event_us = (t1 + t2) / (e1 + e2).max(1.0) * 1000.0;
    (0.0, per_event_us)
}

/// Now, UTC, as RFC 3339 (seconds).
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_line_and_clamps_negative_intercepts() {
        let (a, b) = fit(&[(1_000.0, 12.0), (4_000.0, 42.0)]);
        assert!((a - 2.0).abs() < 1e-9 && (b - 0.01).abs() < 1e-12, "{a} {b}");
        // Noise making the fixed cost negative: no negative costs, the slope through zero.
        let (a, b) = fit(&[(1_000.0, 9.0), (4_000.0, 42.0)]);
        assert_eq!(a, 0.0);
        assert!(b > 0.0);
        // Noise making the larger input faster: still a positive cost per event.
        let (a, b) = fit(&[(1_000.0, 10.0), (4_000.0, 9.0)]);
        assert_eq!(a, 0.0);
        assert!((b - 46.0 / 17e3).abs() < 1e-12, "{b}");
    }

    #[test]
    fn tier_costs_separate_fixed_and_per_event() {
        // 10 files of 1000 events and 2 files of 4000: 5 ms a file, 3 µs an event.
        let s = |files: f64, events: f64| Sample {
            events,
            batch_ms: 0.0,
            speed: (0.0, 0.0),
            empty_poll_ms: 0.0,
            tier: (files, files * 5.0 + events * 0.003),
            query_ms: 0.0,
        };
        let (o, us) = solve_tier(&s(10.0, 10_000.0), &s(2.0, 8_000.0));
        assert!((o - 5.0).abs() < 1e-9 && (us - 3.0).abs() < 1e-9, "{o} {us}");
    }

    #[test]
    fn a_calibration_round_trips_and_bad_values_name_their_field() {
        let c = Calibration {
            measured: Measured {
                host: "h".into(),
                at: "2026-11-26T00:00:00Z".into(),
                events: 1000,
                threads: 2,
                build: "release".into(),
                scenario: "ysb".into(),
                load_average: 0.5,
            },
            batch: JobCost { overhead_ms: 3.5, cost_us_per_event: 0.2 },
            speed: JobCost { overhead_ms: 0.01, cost_us_per_event: 0.3 },
            lake: LakeCost {
                tier_overhead_ms: 4.0,
                tier_cost_us_per_event: 1.0,
                query_overhead_ms: 2.0,
                query_cost_us_per_event: 0.1,
            },
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, c.to_toml()).unwrap();
        assert_eq!(Calibration::load(&path).unwrap(), c);
        let mut s =
            Scenario::parse(crate::scenario::bundled("quickstart").unwrap(), Path::new("q"))
                .unwrap();
        c.apply(&mut s);
        assert_eq!(s.batch.overhead_ms, 3.5);
        assert_eq!(s.lake.query_cost_us_per_event, 0.1);

        std::fs::write(
            &path,
            c.to_toml().replace("cost_us_per_event = 0.3", "cost_us_per_event = -1.0"),
        )
        .unwrap();
        let e = Calibration::load(&path).unwrap_err().to_string();
        assert!(e.contains("speed.cost_us_per_event = -1"), "{e}");
        std::fs::write(&path, c.to_toml().replace("[speed]", "[sped]")).unwrap();
        let e = Calibration::load(&path).unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("sped"), "{e}");
    }
}
