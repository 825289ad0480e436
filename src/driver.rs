//! The simulated driver: one virtual clock for the producer, every architecture and the oracle.
//!
//! Components do the real computation on the real records read from the log; *when* their
//! results become visible is decided by the cost model in the scenario (overhead + events ×
//! per-event cost). Time advances in fixed ticks. Nothing here reads the wall clock, and every
//! random choice was made by the seeded generator, so a run is reproducible byte for byte.

use std::path::Path;
use std::sync::Arc;

use crate::arch::{self, ArchContext, ArchError, ArchStats, Architecture};
use crate::log::{
    FaultConfig, FaultyStorage, FsyncPolicy, Log, LogConfig, LogError, ManualClock, Producer,
    ProducerConfig, Record, TimestampMs,
};
use crate::metrics::{self, CorrectnessTracker, ErrorSample, FreshnessTracker, Percentiles};
use crate::oracle::Oracle;
use crate::query::{QuerySet, Table};
use crate::scenario::{Fault, Scenario};
use crate::workload;

/// The topic every architecture reads.
pub const EVENTS_TOPIC: &str = "events";

/// What one architecture did in a run.
#[derive(Debug, Clone)]
pub struct ArchRun {
    /// Architecture id.
    pub id: String,
    /// Consistency error against the oracle at each sample time.
    pub samples: Vec<(TimestampMs, ErrorSample)>,
    /// Freshness of visible events.
    pub freshness: Percentiles,
    /// Events never reflected in the served answers.
    pub never_visible: u64,
    /// Error once the run ended (every layer quiescent, unless `converged` is false).
    pub final_error: ErrorSample,
    /// When the architecture first reflected the whole log after the workload stopped.
    pub quiescent_at_ms: Option<TimestampMs>,
    /// End-of-run counters.
    pub stats: ArchStats,
    /// The served answers at the end.
    pub final_view: Table,
    /// Per window: from its end until the served answer is right and stays right, ms.
    pub time_to_correct: Percentiles,
    /// Windows still wrong at the end.
    pub windows_never_correct: u64,
    /// Staleness at each sample time (`None` before the first event).
    pub staleness: Vec<(TimestampMs, Option<i64>)>,
    /// What happened when (batch jobs, crashes, reprocessing, redeploys).
    pub timeline: Vec<(TimestampMs, &'static str)>,
    /// Bytes in cold storage at each sample time (the streaming lake's Parquet files).
    pub cold_bytes: Vec<(TimestampMs, u64)>,
    /// Wall-clock ms spent in this architecture's code (measured, not simulated: differs
    /// between runs, so it goes to `timing.json`, never to `summary.json`).
    pub wall_ms: f64,
}

/// Everything a simulated run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Events generated and appended.
    pub events: u64,
    /// Events generated out of order (event time before arrival).
    pub out_of_order_events: u64,
    /// Simulated time the run ended.
    pub end_ms: TimestampMs,
    /// Simulated tick length.
    pub tick_ms: i64,
    /// Whether every architecture became quiescent before the drain limit.
    pub converged: bool,
    /// The exact answers at the end.
    pub oracle_final: Table,
    /// The queries that ran.
    pub queries: Arc<QuerySet>,
    /// Bytes of the log (hot storage) at each sample time.
    pub log_bytes: Vec<(TimestampMs, u64)>,
    /// Wall-clock ms of the whole simulation (measured).
    pub wall_ms: f64,
    /// Per architecture, in scenario order.
    pub architectures: Vec<ArchRun>,
    /// What `disk_full` faults did to the producer (`None` when the scenario has none).
    pub disk_full: Option<DiskFullReport>,
}

/// What `disk_full` faults did: appends that failed with `ENOSPC` and how long the producer was
/// held up. Nothing is dropped: the producer keeps the records it could not append.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiskFullReport {
    /// Append attempts that failed with `ENOSPC` (the first try and one retry per tick).
    pub failed_appends: u64,
    /// Simulated ms from each first failed append until the held records were appended, summed.
    pub blocked_ms: i64,
    /// The most records waiting at once for space: held by the producer after a failed append,
    /// or arrived and queued behind them.
    pub max_waiting_records: u64,
    /// The log's error for the first failed append, as a user would see it.
    pub first_error: Option<String>,
}

/// Whether `e` is the log refusing an append because the disk is full.
fn is_disk_full(e: &LogError) -> bool {
    matches!(e, LogError::Io { source, .. } if source.raw_os_error() == Some(28))
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Runs `scenario` on the simulated clock, with its log in `work_dir/log` and any files an
/// architecture keeps (the lake's cold tier) under `work_dir` (which should be empty or absent).
pub fn simulate(scenario: &Scenario, work_dir: &Path) -> Result<RunResult, ArchError> {
    simulate_with(scenario, work_dir, &arch::build, &mut |_, _| {})
}

/// How [`simulate_with`] builds an architecture from its id (`None`: unknown id, skipped).
pub type BuildFn<'f> =
    dyn Fn(&str, &ArchContext<'_>, &Log) -> Option<Result<Box<dyn Architecture>, ArchError>> + 'f;

/// [`simulate`] with architectures built by `build` instead of the registry: how tests run
/// deliberately faulty variants through the same driver.
/// `progress(t, horizon)` is called as simulated time advances (for a progress bar).
pub fn simulate_with(
    scenario: &Scenario,
    work_dir: &Path,
    build: &BuildFn<'_>,
    progress: &mut dyn FnMut(TimestampMs, TimestampMs),
) -> Result<RunResult, ArchError> {
    let clock = Arc::new(ManualClock::new(0));
    // Durability costs nothing on a simulated clock; skip fsync so runs are fast. Segments roll
    // by time so the streaming lake has closed segments to tier.
    let mut config = LogConfig {
        fsync: FsyncPolicy::Never,
        segment_bytes: 64 * 1024 * 1024,
        segment_ms: Some(scenario.lake.segment_ms),
        ..LogConfig::default()
    };
    // A `disk_full` fault needs a disk that can be made full: the fault-injecting storage
    // (seeded, so the run stays reproducible). Other runs use the real file system untouched.
    let full_windows: Vec<(i64, i64)> = scenario
        .faults
        .iter()
        .filter_map(|f| match f {
            Fault::DiskFull { at_ms, duration_ms } => Some((*at_ms, at_ms + duration_ms)),
            _ => None,
        })
        .collect();
    let disk =
        (!full_windows.is_empty()).then(|| FaultyStorage::new(FaultConfig::none(scenario.seed)));
    if let Some(disk) = &disk {
        config.storage = Arc::new(disk.clone());
    }
    let mut disk_full = disk.as_ref().map(|_| DiskFullReport::default());
    // Since when the producer holds records it could not append (disk full).
    let mut blocked_since: Option<TimestampMs> = None;
    let mut log = Log::open(work_dir.join("log"), config, clock.clone())?;
    log.create_topic(EVENTS_TOPIC, scenario.workload.partitions)?;
    let partitions = scenario.workload.partitions as usize;

    let events = workload::generate(&scenario.workload, scenario.seed, scenario.duration_ms);
    let out_of_order_events =
        events.iter().filter(|e| e.event_time_ms < e.arrival_ms).count() as u64;

    let mut queries = Arc::new(QuerySet::from_scenario(scenario));
    let ctx = ArchContext { scenario, queries: queries.clone(), topic: EVENTS_TOPIC, work_dir };
    let mut archs: Vec<Box<dyn Architecture>> = Vec::new();
    for id in &scenario.architectures {
        // Ids were checked when the scenario was loaded; an unknown one here is skipped.
        if let Some(a) = build(id, &ctx, &log) {
            archs.push(a?);
        }
    }
    let mut trackers: Vec<FreshnessTracker> =
        archs.iter().map(|_| FreshnessTracker::new(partitions)).collect();
    let mut samples: Vec<Vec<(TimestampMs, ErrorSample)>> = vec![Vec::new(); archs.len()];
    let mut quiescent_at: Vec<Option<TimestampMs>> = vec![None; archs.len()];
    let mut correctness: Vec<CorrectnessTracker> =
        archs.iter().map(|_| CorrectnessTracker::default()).collect();
    let mut wall: Vec<std::time::Duration> = vec![std::time::Duration::ZERO; archs.len()];
    let mut log_bytes = Vec::new();
    let mut cold_bytes: Vec<Vec<(TimestampMs, u64)>> = vec![Vec::new(); archs.len()];
    let started = std::time::Instant::now();
    let mut oracle = Oracle::new(&log, EVENTS_TOPIC, &queries)?;
    // The producer flushes every tick, so linger never holds a record past its tick.
    let mut producer = Producer::new(ProducerConfig { linger_ms: 0, max_batch_bytes: 64 * 1024 });

    let tick_ms =
        [scenario.speed.poll_interval_ms, scenario.sample_every_ms, scenario.batch.interval_ms]
            .into_iter()
            .fold(100, gcd)
            .max(1);
    // After the workload stops, allow ten batch cycles for every layer to settle.
    let horizon =
        scenario.duration_ms + 10 * (scenario.batch.interval_ms + scenario.speed.poll_interval_ms);
    let mut next_event = 0;
    let mut t: TimestampMs = 0;
    let mut faults: Vec<&Fault> = scenario.faults.iter().collect();
    faults.sort_by_key(|f| f.at_ms());
    let mut next_fault = 0;
    let converged = loop {
        clock.set(t);
        while let Some(fault) = faults.get(next_fault).filter(|f| f.at_ms() <= t) {
            if let Fault::LogicChange { query, exclude_bots, .. } = fault {
                let mut next = (*queries).clone();
                for (spec, q) in next.specs.iter_mut().zip(&scenario.queries) {
                    if &q.name == query {
                        spec.exclude_bots = *exclude_bots;
                    }
                }
                queries = Arc::new(next);
                // The truth changes with the logic: every window, old ones too, is now judged
                // by the new version.
                oracle.set_queries(&queries);
                for a in archs.iter_mut() {
                    a.logic_change(queries.clone(), t, &log)?;
                }
            }
            for a in archs.iter_mut() {
                a.fault(fault, t, &log)?;
            }
            next_fault += 1;
        }
        // A producer stall holds every event until it ends; they then arrive in a burst.
        let stalled = scenario.faults.iter().any(|f| {
            matches!(f, Fault::ProducerStall { at_ms, duration_ms } if (*at_ms..at_ms + duration_ms).contains(&t))
        });
        if let Some(disk) = &disk {
            disk.set_disk_full(full_windows.iter().any(|&(from, to)| (from..to).contains(&t)));
        }
        // Records held since a failed append go first (retried once per tick); new events wait
        // behind them, so order is kept.
        let mut failed: Option<LogError> = None;
        if blocked_since.is_some() {
            match producer.flush(&mut log) {
                Ok(_) => {
                    if let (Some(since), Some(r)) = (blocked_since.take(), disk_full.as_mut()) {
                        r.blocked_ms += t - since;
                    }
                }
                Err(e) if disk.is_some() && is_disk_full(&e) => failed = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        while let Some(e) = events.get(next_event).filter(|e| {
            e.arrival_ms <= t && !stalled && blocked_since.is_none() && failed.is_none()
        }) {
            let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes());
            match producer.send(&mut log, EVENTS_TOPIC, record) {
                Ok(_) => next_event += 1,
                Err(err) if disk.is_some() && is_disk_full(&err) => {
                    // Every earlier send left the producer empty (linger 0), so what it holds
                    // now includes this record: it is kept, not lost.
                    if producer.pending_records() > 0 {
                        next_event += 1;
                    }
                    failed = Some(err);
                }
                Err(err) => return Err(err.into()),
            }
        }
        if failed.is_none() && blocked_since.is_none() {
            match producer.flush(&mut log) {
                Ok(_) => {}
                Err(e) if disk.is_some() && is_disk_full(&e) => failed = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        if let (Some(e), Some(r)) = (failed, disk_full.as_mut()) {
            r.failed_appends += 1;
            // Relative to the run directory, so reruns elsewhere report the same text.
            let prefix = format!("{}/", work_dir.display());
            r.first_error.get_or_insert_with(|| e.to_string().replace(&prefix, ""));
            blocked_since.get_or_insert(t);
        }
        if let Some(r) = disk_full.as_mut() {
            let queued = events[next_event..].partition_point(|e| e.arrival_ms <= t);
            let waiting = (producer.pending_records() + queued) as u64;
            r.max_waiting_records = r.max_waiting_records.max(waiting);
        }
        for ((a, tracker), spent) in archs.iter_mut().zip(&mut trackers).zip(&mut wall) {
            let clock = std::time::Instant::now();
            tracker.record(&a.tick(t, &log)?);
            *spent += clock.elapsed();
        }
        let produced_all =
            next_event == events.len() && t >= scenario.duration_ms && blocked_since.is_none();
        let mut all_quiet = produced_all;
        if produced_all {
            for (a, q) in archs.iter().zip(&mut quiescent_at) {
                if a.quiescent(&log)? {
                    q.get_or_insert(t);
                } else {
                    all_quiet = false;
                }
            }
        }
        let stop = all_quiet || t >= horizon;
        if t % scenario.sample_every_ms == 0 || stop {
            oracle.catch_up(&log)?;
            let exact = oracle.table();
            for (i, a) in archs.iter_mut().enumerate() {
                let clock = std::time::Instant::now();
                let served = a.query(t, &log)?;
                wall[i] += clock.elapsed();
                samples[i].push((t, metrics::compare(&served, &exact)));
                correctness[i].record(t, &served, &exact);
                cold_bytes[i].push((t, a.cold_bytes()));
            }
            let topic = log.topic(EVENTS_TOPIC)?;
            log_bytes.push((t, topic.partitions().iter().map(|p| p.size_bytes()).sum()));
        }
        if stop {
            break all_quiet;
        }
        if t % 1000 == 0 {
            progress(t, horizon);
        }
        t += tick_ms;
    };

    oracle.catch_up(&log)?;
    let exact = oracle.table();
    let mut architectures = Vec::new();
    for (i, a) in archs.iter_mut().enumerate() {
        let (values, never_visible) = trackers[i].freshness(oracle.event_times());
        let final_view = a.query(t, &log)?;
        let (ttc, windows_never_correct) =
            correctness[i].time_to_correct(&final_view, &exact, &queries);
        let sample_times: Vec<TimestampMs> = samples[i].iter().map(|(t, _)| *t).collect();
        let staleness =
            trackers[i].staleness(&sample_times, oracle.event_times(), oracle.append_times());
        architectures.push(ArchRun {
            id: a.id().to_owned(),
            samples: std::mem::take(&mut samples[i]),
            freshness: metrics::percentiles(values),
            never_visible,
            final_error: metrics::compare(&final_view, &exact),
            quiescent_at_ms: quiescent_at[i],
            stats: a.stats(),
            final_view,
            time_to_correct: metrics::percentiles(ttc),
            windows_never_correct,
            staleness: sample_times.into_iter().zip(staleness).collect(),
            wall_ms: wall[i].as_secs_f64() * 1000.0,
            cold_bytes: std::mem::take(&mut cold_bytes[i]),
            timeline: a.timeline(),
        });
    }
    Ok(RunResult {
        events: oracle.len(),
        out_of_order_events,
        end_ms: t,
        tick_ms,
        converged,
        oracle_final: exact,
        queries,
        log_bytes,
        wall_ms: started.elapsed().as_secs_f64() * 1000.0,
        architectures,
        disk_full,
    })
}
