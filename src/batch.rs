//! Lambda's batch layer: recompute the whole view from the log, from offset 0 up to a cut-off.
//!
//! Written as a batch program, not as an incremental one: read everything, map each record to
//! its group, sort, and count runs — the shape of a `GROUP BY` in a DataFrame or SQL engine.
//! It answers the same question as the speed layer (`speed.rs`) with separate code, on purpose:
//! that duplication is Lambda's price, and the workbench measures it.

use crate::log::{Log, LogError, Offset, TimestampMs};
use crate::query::{Cell, Table};
use crate::scenario::Batch;

/// A finished batch computation: the view and what it covered.
#[derive(Debug, Clone)]
pub struct BatchView {
    /// Which batch run produced it (1, 2, ...).
    pub generation: u64,
    /// Per partition, the view covers offsets `[0, cutoff)`.
    pub cutoff: Vec<Offset>,
    /// The answers.
    pub table: Table,
    /// Records read to compute it.
    pub events: u64,
}

/// Computes `key_window_count` over `topic` for offsets below `cutoff`, batch style.
pub fn compute_view(
    log: &Log,
    topic: &str,
    cutoff: &[Offset],
    window_ms: i64,
) -> Result<(Table, u64), LogError> {
    let topic = log.topic(topic)?;
    // Map: every record to its (key, window) group.
    let mut groups: Vec<(String, i64)> = Vec::new();
    for (p, &end) in cutoff.iter().enumerate() {
        let partition = topic.partition(p as u32)?;
        let mut offset = partition.log_start_offset();
        while offset < end {
            let records = partition.read(offset, ((end - offset) as usize).min(50_000))?;
            let Some(last) = records.last() else { break };
            offset = last.offset + 1;
            for r in records.iter().filter(|r| r.offset < end) {
                let key = String::from_utf8_lossy(r.record.key.as_deref().unwrap_or_default())
                    .into_owned();
                let window = r.record.timestamp_ms.div_euclid(window_ms) * window_ms;
                groups.push((key, window));
            }
        }
    }
    let events = groups.len() as u64;
    // Reduce: sort, then count equal runs.
    groups.sort_unstable();
    let mut table = Table::new();
    let mut run_start = 0;
    for i in 1..=groups.len() {
        if i == groups.len() || groups[i] != groups[run_start] {
            let (key, window_start_ms) = groups[run_start].clone();
            table.insert(Cell { key, window_start_ms }, (i - run_start) as i64);
            run_start = i;
        }
    }
    Ok((table, events))
}

/// A running batch job: computed already, visible when its simulated duration has passed.
#[derive(Debug)]
struct Running {
    view: BatchView,
    visible_at: TimestampMs,
}

/// The batch layer on the simulated clock: starts a job every `interval_ms` (or when the previous
/// one finishes, if it overran), each a full recomputation up to the log end at its start.
#[derive(Debug)]
pub struct BatchLayer {
    topic: String,
    window_ms: i64,
    cfg: Batch,
    next_start: TimestampMs,
    running: Option<Running>,
    published: Option<BatchView>,
    jobs_run: u64,
}

/// What the batch layer did in one tick.
#[derive(Debug, Default)]
pub struct BatchTick {
    /// A job started with this generation and cut-off.
    pub started: Option<(u64, Vec<Offset>)>,
    /// A view was published at this time (the view itself is in [`BatchLayer::published`]).
    pub published_at: Option<TimestampMs>,
}

impl BatchLayer {
    /// A batch layer over `topic`; its first job starts one interval after `now`.
    pub fn new(topic: &str, window_ms: i64, cfg: &Batch, now: TimestampMs) -> Self {
        BatchLayer {
            topic: topic.to_owned(),
            window_ms,
            cfg: cfg.clone(),
            next_start: now + cfg.interval_ms,
            running: None,
            published: None,
            jobs_run: 0,
        }
    }

    /// Advances to `now`: publishes a finished job, starts a due one.
    pub fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<BatchTick, LogError> {
        let mut tick = BatchTick::default();
        if self.running.as_ref().is_some_and(|r| r.visible_at <= now)
            && let Some(done) = self.running.take()
        {
            tick.published_at = Some(done.visible_at);
            self.published = Some(done.view);
        }
        if self.running.is_none() && now >= self.next_start {
            let topic = log.topic(&self.topic)?;
            let cutoff = (0..topic.partition_count())
                .map(|p| topic.partition(p).map(|p| p.log_end_offset()))
                .collect::<Result<Vec<_>, _>>()?;
            let (table, events) = compute_view(log, &self.topic, &cutoff, self.window_ms)?;
            self.jobs_run += 1;
            let generation = self.jobs_run;
            let cost_ms =
                self.cfg.overhead_ms + events as f64 * self.cfg.cost_us_per_event / 1000.0;
            let visible_at = now + cost_ms.ceil() as i64;
            tick.started = Some((generation, cutoff.clone()));
            self.running =
                Some(Running { view: BatchView { generation, cutoff, table, events }, visible_at });
            self.next_start = (now + self.cfg.interval_ms).max(visible_at);
        }
        Ok(tick)
    }

    /// The last published view.
    pub fn published(&self) -> Option<&BatchView> {
        self.published.as_ref()
    }

    /// Whether the published view covers the whole log and no job is running.
    pub fn caught_up(&self, log: &Log) -> Result<bool, LogError> {
        let Some(view) = &self.published else { return Ok(false) };
        let topic = log.topic(&self.topic)?;
        for p in 0..topic.partition_count() {
            if view.cutoff.get(p as usize).copied() != Some(topic.partition(p)?.log_end_offset()) {
                return Ok(false);
            }
        }
        Ok(self.running.is_none())
    }

    /// Batch jobs started so far.
    pub fn jobs_run(&self) -> u64 {
        self.jobs_run
    }
}
