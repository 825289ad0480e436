//! The speed layer's windowed count with watermarks vs the no-framework limit.
//!
//! Ours is the speed layer's per-event path exactly as [`crate::speed::StreamJob`] runs it after
//! decoding — the same function, [`apply_event`]: judge lateness against the watermark before
//! the event, observe the event in its partition's watermark, ask the hand-written operator
//! ([`HandWritten`]) for its contributions, drop those whose window has closed, intern the
//! group; then, per poll, merge the collected contributions into the live windows (a
//! pre-sized hash map of interned cells, [`LiveView`]). The
//! baseline is a pre-sized `HashMap<(key, window start), count>` over the same events in
//! memory. Both run on one thread, so the figure is events/s per core. Decoding is left out
//! of both (the replay and batch figures measure it).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::{BenchError, Figure, Goal, Sizes};
use crate::query::{Agg, CellId, Keys, LiveView, QuerySet};
use crate::scenario::Scenario;
use crate::speed::operators::HandWritten;
use crate::speed::{Applied, Watermark, apply_event};
use crate::workload::{self, EventFields};

/// Partitions the events are spread over (each has its own watermark).
const PARTITIONS: usize = 4;

/// The quickstart scenario (keyed events, 10 s tumbling counts, out-of-order events) with a
/// rate giving `events` events.
pub(crate) fn keyed_scenario(events: u64) -> Result<Scenario, BenchError> {
    let text = crate::scenario::bundled("quickstart")
        .ok_or_else(|| BenchError::Check("bundled scenario `quickstart` missing".into()))?;
    let mut s = Scenario::parse(text, Path::new("scenarios/quickstart.toml"))?;
    let secs = (s.duration_ms / 1000).max(1) as u64;
    s.workload.rate_per_sec = events.div_ceil(secs).clamp(1, u64::from(u32::MAX)) as u32;
    Ok(s)
}

/// The keyed events of the quickstart workload, in memory, with its queries and speed settings.
#[derive(Debug, Clone)]
pub struct SpeedInput {
    /// The events, in arrival order (partition `i % 4` for event `i`).
    pub events: Vec<EventFields>,
    /// The queries (one 10 s tumbling `key_window_count`).
    pub queries: Arc<QuerySet>,
    /// Allowed lateness, ms.
    pub lateness_ms: i64,
    /// Watermark delay, ms.
    pub delay_ms: i64,
}

impl SpeedInput {
    /// The first `n` events of the quickstart workload scaled to `n` events.
    pub fn new(n: u64) -> Result<Self, BenchError> {
        let scenario = keyed_scenario(n)?;
        let events = workload::events(&scenario.workload, scenario.seed, scenario.duration_ms)
            .take(n as usize)
            .map(|e| e.fields())
            .collect();
        Ok(SpeedInput {
            events,
            queries: Arc::new(QuerySet::from_scenario(&scenario)),
            lateness_ms: scenario.speed.allowed_lateness_ms,
            delay_ms: scenario.speed.watermark_delay_ms,
        })
    }

    /// Window length of the query.
    pub fn window_ms(&self) -> i64 {
        self.queries.specs.first().map_or(10_000, |s| s.window_ms)
    }
}

/// Runs of each side at least (alternating).
const SPEED_REPEATS: usize = 5;

/// Events per simulated poll: the job collects a poll's contributions, then merges them into
/// its windows when the poll's results become visible (as [`crate::speed::SpeedLayer`] does).
const POLL: usize = 8_192;

/// Our speed path over `input`; returns (sum of the counts, contributions dropped as late).
pub fn speed_path(input: &SpeedInput) -> (i64, u64) {
    let (events, queries) = (&input.events, &input.queries);
    let compute = HandWritten::new(queries.clone());
    let mut watermark = Watermark::new(PARTITIONS, input.delay_ms);
    let mut keys = Keys::new();
    let mut live = LiveView::with_capacity(4096);
    let mut counted: Vec<(u32, u64, CellId, Agg)> = Vec::with_capacity(POLL);
    let mut late = 0u64;
    for (poll, chunk) in events.chunks(POLL).enumerate() {
        for (j, e) in chunk.iter().enumerate() {
            let i = poll * POLL + j;
            let partition = (i % PARTITIONS) as u32;
            let offset = (i / PARTITIONS) as u64;
            let applied = apply_event(
                &compute,
                queries,
                input.lateness_ms,
                &mut watermark,
                &mut keys,
                partition,
                e,
                &mut |id, agg| counted.push((partition, offset, id, agg)),
            );
            // One query, one window per event: an event is late iff its contribution was.
            late += u64::from(applied == Applied::Dropped);
        }
        for (_, _, id, agg) in counted.drain(..) {
            live.merge(id, agg);
        }
    }
    (live.iter().map(|(_, a)| a.present()).sum(), late)
}

/// A plain `HashMap` aggregation: count per (key, tumbling window start).
pub fn hashmap_baseline(events: &[EventFields], window_ms: i64) -> i64 {
    let mut counts: HashMap<(&str, i64), i64> = HashMap::with_capacity(4096);
    for e in events {
        let start = e.event_time_ms - e.event_time_ms.rem_euclid(window_ms);
        *counts.entry((e.key.as_str(), start)).or_insert(0) += 1;
    }
    counts.values().sum()
}

/// Measures the speed layer against the `HashMap` baseline.
pub fn run(sizes: &Sizes, add: &mut dyn FnMut(Figure)) -> Result<(), BenchError> {
    let input = SpeedInput::new(sizes.speed_events)?;
    let n = input.events.len() as f64;
    let window_ms = input.window_ms();
    // Each run is a fraction of a second, so one scheduling hiccup on a shared machine moves
    // a best-of-2 a lot: the two sides take turns, best of at least five each. "Per core" is
    // events over the CPU time of the thread that processed them, when the platform tells:
    // time spent waiting for a core (other processes on the machine) is no one's throughput.
    let (mut base, mut ours) = (Best::default(), Best::default());
    let (mut base_total, mut total, mut late) = (0, 0, 0);
    for _ in 0..sizes.repeats.max(SPEED_REPEATS) {
        base_total = base.time(|| hashmap_baseline(&input.events, window_ms));
        (total, late) = ours.time(|| speed_path(&input));
    }
    if base_total != n as i64 || total + late as i64 != base_total {
        return Err(BenchError::Check(format!(
            "speed: counted {total} + {late} late, baseline {base_total}, events {n}"
        )));
    }
    let (ours_s, base_s, clock) = match (ours.cpu_s, base.cpu_s) {
        (Some(o), Some(b)) => (o, b, "thread CPU time"),
        _ => (ours.wall_s, base.wall_s, "wall time"),
    };
    add(Figure::new(
        "speed",
        "speed layer windowed count + watermarks",
        "Mev/s/core",
        n / ours_s / 1e6,
        Some((n / base_s / 1e6, "HashMap<(key, window), count>".into())),
        Some(Goal { ratio_at_least: Some(0.3), ours_at_least: Some(10.0), ..Goal::default() }),
        format!(
            "{n} keyed events in memory, {PARTITIONS} partition watermarks, 10 s tumbling \
             key_window_count (quickstart), one thread, best of {} alternating runs each, \
             events per second of {clock} (/proc/thread-self/schedstat); by wall time: ours \
             {:.2} Mev/s, baseline {:.2} Mev/s; {late} late contributions dropped",
            sizes.repeats.max(SPEED_REPEATS),
            n / ours.wall_s / 1e6,
            n / base.wall_s / 1e6,
        ),
    ));
    Ok(())
}

/// The best wall and CPU time of a measured side over several runs.
#[derive(Debug)]
struct Best {
    wall_s: f64,
    cpu_s: Option<f64>,
}

impl Default for Best {
    fn default() -> Self {
        Best { wall_s: f64::INFINITY, cpu_s: Some(f64::INFINITY) }
    }
}

impl Best {
    /// Runs `f` once on this thread, keeping the best times; returns its result.
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (cpu0, t) = (thread_cpu_ns(), Instant::now());
        let out = std::hint::black_box(f());
        let wall = t.elapsed().as_secs_f64();
        let cpu = thread_cpu_ns().zip(cpu0).map(|(b, a)| b.saturating_sub(a) as f64 / 1e9);
        self.wall_s = self.wall_s.min(wall);
        // A run without a CPU reading (or with a zero one) makes the CPU figure unusable.
        self.cpu_s = match (self.cpu_s, cpu) {
            (Some(best), Some(c)) if c > 0.0 => Some(best.min(c)),
            _ => None,
        };
        out
    }
}

/// Nanoseconds the calling thread has run on a CPU (the first field of
/// `/proc/thread-self/schedstat`: exact, unlike the 10 ms ticks of `/proc/self/stat`); `None`
/// where the file does not exist.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}
