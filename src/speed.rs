//! Stream processing: incremental, windowed, event-time operators, hand-written.
//!
//! This is lambda's **speed layer** and the engine of kappa's jobs. It reads the log tail on a
//! poll interval, keeps a watermark (the largest event time seen, minus a delay), and counts
//! each event into its tumbling window unless the window has already closed (its end plus the
//! allowed lateness is at or behind the watermark): such events are dropped and counted as late,
//! exactly what Flink or Kafka Streams do with a grace period.
//!
//! The batch layer (`batch.rs`) answers the same query with different code on purpose: that is
//! Lambda's duplicated logic, which the workbench measures.

use std::collections::{BTreeMap, VecDeque};

use crate::log::{Consumer, Log, LogError, Offset, StartPosition, TimestampMs};
use crate::query::{Cell, Table};
use crate::scenario::Speed;

/// Event-time progress. Each partition's watermark trails the largest event time seen in it by
/// a fixed delay; the operator's watermark is the minimum over partitions (as in Flink and Kafka
/// Streams), because a poll reads partitions one after another and one partition racing ahead
/// must not close windows that another partition is still filling.
#[derive(Debug, Clone)]
pub struct Watermark {
    max_event_time: Vec<Option<TimestampMs>>,
    delay_ms: i64,
}

impl Watermark {
    /// A watermark over `partitions` partitions trailing the largest event times by `delay_ms`.
    pub fn new(partitions: usize, delay_ms: i64) -> Self {
        Watermark { max_event_time: vec![None; partitions.max(1)], delay_ms }
    }
    /// Notes an event time seen in `partition`.
    pub fn observe(&mut self, partition: u32, event_time_ms: TimestampMs) {
        if let Some(m) = self.max_event_time.get_mut(partition as usize) {
            *m = Some(m.map_or(event_time_ms, |m| m.max(event_time_ms)));
        }
    }
    /// The current watermark; `None` until every partition has shown an event.
    pub fn current(&self) -> Option<TimestampMs> {
        let mut min: Option<TimestampMs> = None;
        for m in &self.max_event_time {
            let m = (*m)?;
            min = Some(min.map_or(m, |x| x.min(m)));
        }
        min.map(|m| m - self.delay_ms)
    }
}

/// The windowed count operator: decides, event by event, which window an event counts in, or
/// that it is too late to count at all.
#[derive(Debug, Clone)]
pub struct WindowedCount {
    window_ms: i64,
    allowed_lateness_ms: i64,
    watermark: Watermark,
    late_dropped: u64,
}

impl WindowedCount {
    /// An operator over tumbling windows of `window_ms`.
    pub fn new(window_ms: i64, partitions: usize, cfg: &Speed) -> Self {
        WindowedCount {
            window_ms,
            allowed_lateness_ms: cfg.allowed_lateness_ms,
            watermark: Watermark::new(partitions, cfg.watermark_delay_ms),
            late_dropped: 0,
        }
    }

    /// The cell this event counts in, or `None` if its window closed before it arrived.
    pub fn on_event(
        &mut self,
        partition: u32,
        key: &str,
        event_time_ms: TimestampMs,
    ) -> Option<Cell> {
        let start = event_time_ms - event_time_ms.rem_euclid(self.window_ms);
        let end = start + self.window_ms;
        // The check uses the watermark *before* this event: an event cannot make itself late.
        let closed =
            self.watermark.current().is_some_and(|wm| end + self.allowed_lateness_ms <= wm);
        self.watermark.observe(partition, event_time_ms);
        if closed {
            self.late_dropped += 1;
            return None;
        }
        Some(Cell { key: key.to_owned(), window_start_ms: start })
    }

    /// Events dropped because their window had closed.
    pub fn late_dropped(&self) -> u64 {
        self.late_dropped
    }
}

/// The result of one poll, computed now but visible only when the simulated job finishes.
#[derive(Debug, Clone)]
pub struct Processed {
    /// When the results become visible (poll time + simulated processing time).
    pub visible_at: TimestampMs,
    /// Events counted: partition, offset, cell.
    pub counted: Vec<(u32, Offset, Cell)>,
}

/// A streaming job over one topic on the simulated clock: polls every `poll_interval_ms` when
/// idle, runs the operator on everything new, and is busy for the modelled processing time.
#[derive(Debug)]
pub struct StreamJob {
    topic: String,
    consumer: Consumer,
    operator: WindowedCount,
    cfg: Speed,
    next_poll: TimestampMs,
    busy_until: TimestampMs,
    pending: VecDeque<Processed>,
    events_processed: u64,
}

/// Records read per poll at most; bounds memory when a job starts far behind (reprocessing).
const MAX_RECORDS_PER_POLL: usize = 200_000;

impl StreamJob {
    /// A job reading `topic` from `start`, counting into windows of `window_ms`.
    pub fn new(
        log: &Log,
        topic: &str,
        start: StartPosition,
        window_ms: i64,
        cfg: &Speed,
        now: TimestampMs,
    ) -> Result<Self, LogError> {
        Ok(StreamJob {
            topic: topic.to_owned(),
            consumer: Consumer::new(log, topic, None, start)?,
            operator: WindowedCount::new(
                window_ms,
                log.topic(topic)?.partition_count() as usize,
                cfg,
            ),
            cfg: cfg.clone(),
            next_poll: now,
            busy_until: now,
            pending: VecDeque::new(),
            events_processed: 0,
        })
    }

    /// Advances the job to `now`: returns the results that became visible by `now` (oldest
    /// first), then polls the log if the job is idle and its poll is due.
    pub fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<Vec<Processed>, LogError> {
        let mut visible = Vec::new();
        while self.pending.front().is_some_and(|p| p.visible_at <= now) {
            visible.extend(self.pending.pop_front());
        }
        if now >= self.next_poll && now >= self.busy_until {
            let records = self.consumer.poll(log, MAX_RECORDS_PER_POLL)?;
            self.next_poll = now + self.cfg.poll_interval_ms;
            if !records.is_empty() {
                let mut counted = Vec::with_capacity(records.len());
                for (partition, r) in &records {
                    let key = String::from_utf8_lossy(r.record.key.as_deref().unwrap_or_default());
                    if let Some(cell) =
                        self.operator.on_event(*partition, &key, r.record.timestamp_ms)
                    {
                        counted.push((*partition, r.offset, cell));
                    }
                }
                self.events_processed += records.len() as u64;
                let cost_ms = self.cfg.overhead_ms
                    + records.len() as f64 * self.cfg.cost_us_per_event / 1000.0;
                let visible_at = now + cost_ms.ceil() as i64;
                self.busy_until = visible_at;
                let processed = Processed { visible_at, counted };
                // A zero-cost job's results are visible in the same tick.
                if visible_at <= now {
                    visible.push(processed);
                } else {
                    self.pending.push_back(processed);
                }
            }
        }
        Ok(visible)
    }

    /// Whether the job has read everything in the log and has no results in flight.
    pub fn caught_up(&self, log: &Log) -> Result<bool, LogError> {
        let topic = log.topic(&self.topic)?;
        for p in 0..topic.partition_count() {
            if self.consumer.position(p) < topic.partition(p)?.log_end_offset() {
                return Ok(false);
            }
        }
        Ok(self.pending.is_empty())
    }

    /// Events dropped as too late.
    pub fn late_dropped(&self) -> u64 {
        self.operator.late_dropped()
    }

    /// Events read from the log so far.
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }
}

/// Lambda's speed layer: a stream job whose counts are kept per *generation*, one generation per
/// batch run, so that when a batch view covering offsets below a cut-off is published the speed
/// counts for those offsets can be dropped exactly — no double count, no hole.
#[derive(Debug)]
pub struct SpeedLayer {
    job: StreamJob,
    /// (generation, first offset of the generation per partition), ascending.
    cutoffs: Vec<(u64, Vec<Offset>)>,
    /// Visible counts per generation.
    views: BTreeMap<u64, Table>,
    /// Generations below this were superseded by a published batch view.
    oldest_live: u64,
}

impl SpeedLayer {
    /// A speed layer reading `topic` from the beginning.
    pub fn new(
        log: &Log,
        topic: &str,
        window_ms: i64,
        cfg: &Speed,
        now: TimestampMs,
    ) -> Result<Self, LogError> {
        let partitions = log.topic(topic)?.partition_count() as usize;
        Ok(SpeedLayer {
            job: StreamJob::new(log, topic, StartPosition::Earliest, window_ms, cfg, now)?,
            cutoffs: vec![(0, vec![0; partitions])],
            views: BTreeMap::new(),
            oldest_live: 0,
        })
    }

    /// A batch run `generation` started with `cutoff`: later offsets belong to the new generation.
    pub fn start_generation(&mut self, generation: u64, cutoff: Vec<Offset>) {
        self.cutoffs.push((generation, cutoff));
    }

    /// The batch view of `generation` was published: drop every older generation.
    pub fn expire_before(&mut self, generation: u64) {
        self.oldest_live = generation;
        self.views.retain(|g, _| *g >= generation);
        self.cutoffs.retain(|(g, _)| *g >= generation);
    }

    /// The generation an offset belongs to; an offset below every live cut-off maps to 0, which
    /// is below `oldest_live` once any batch view is published (the batch view covers it).
    fn generation_of(&self, partition: u32, offset: Offset) -> u64 {
        self.cutoffs
            .iter()
            .rev()
            .find(|(_, cut)| cut.get(partition as usize).is_some_and(|c| *c <= offset))
            .map_or(0, |(g, _)| *g)
    }

    /// Advances to `now`; returns the (partition, offset) of every event that became visible,
    /// with when.
    pub fn tick(
        &mut self,
        now: TimestampMs,
        log: &Log,
    ) -> Result<Vec<(TimestampMs, u32, Offset)>, LogError> {
        let mut shown = Vec::new();
        for processed in self.job.tick(now, log)? {
            for (partition, offset, cell) in processed.counted {
                let generation = self.generation_of(partition, offset);
                if generation < self.oldest_live {
                    // Already covered by a published batch view; counting it would double it.
                    continue;
                }
                *self.views.entry(generation).or_default().entry(cell).or_insert(0) += 1;
                shown.push((processed.visible_at, partition, offset));
            }
        }
        Ok(shown)
    }

    /// The visible speed views that the serving layer adds to the batch view.
    pub fn live_views(&self) -> impl Iterator<Item = &Table> {
        self.views.values()
    }

    /// Whether the job has read and shown everything in the log.
    pub fn caught_up(&self, log: &Log) -> Result<bool, LogError> {
        self.job.caught_up(log)
    }

    /// Events dropped as too late.
    pub fn late_dropped(&self) -> u64 {
        self.job.late_dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speed(lateness: i64) -> Speed {
        Speed { allowed_lateness_ms: lateness, ..Speed::default() }
    }

    #[test]
    fn windows_are_tumbling_and_aligned() {
        let mut op = WindowedCount::new(10_000, 1, &speed(0));
        assert_eq!(op.on_event(0, "a", 9_999).map(|c| c.window_start_ms), Some(0));
        assert_eq!(op.on_event(0, "a", 10_000).map(|c| c.window_start_ms), Some(10_000));
    }

    #[test]
    fn events_behind_a_closed_window_are_dropped_and_counted() {
        let mut op = WindowedCount::new(10_000, 1, &speed(2_000));
        op.on_event(0, "a", 25_000);
        // Window [10s, 20s) closes at 20s + 2s lateness; the watermark is 25s: too late.
        assert_eq!(op.on_event(0, "a", 15_000), None);
        // Window [20s, 30s) is still open.
        assert!(op.on_event(0, "a", 21_000).is_some());
        assert_eq!(op.late_dropped(), 1);
    }

    #[test]
    fn the_slowest_partition_holds_the_watermark_back() {
        let mut op = WindowedCount::new(10_000, 2, &speed(0));
        op.on_event(0, "a", 50_000);
        // Partition 1 has shown nothing: no window may close yet.
        assert!(op.on_event(1, "a", 1_000).is_some());
        // Now the watermark is min(50s, 1s) = 1s: window [0, 10s) is still open.
        assert!(op.on_event(0, "a", 2_000).is_some());
        op.on_event(1, "a", 30_000);
        // min(50s, 30s) = 30s closes [0, 10s) and [10s, 20s).
        assert_eq!(op.on_event(1, "a", 15_000), None);
    }

    #[test]
    fn lateness_bound_is_exclusive_at_the_edge() {
        let mut op = WindowedCount::new(10_000, 1, &speed(1_000));
        op.on_event(0, "a", 20_999);
        // Window [0, 10s) + 1s = 11s ≤ 20.999s: closed. Window [10s,20s) + 1s = 21s > 20.999s: open.
        assert_eq!(op.on_event(0, "a", 5_000), None);
        assert!(op.on_event(0, "a", 15_000).is_some());
    }
}
