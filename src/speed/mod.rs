//! Stream processing: incremental, windowed, event-time jobs over the log tail.
//!
//! This is lambda's **speed layer** and the engine of kappa's jobs. A [`StreamJob`] reads the
//! log on a poll interval, keeps a watermark (per partition, the largest event time seen minus a
//! delay; the job's watermark is the minimum over partitions), and turns each event into
//! contributions to cells via a [`StreamCompute`] — lambda's hand-written operators
//! ([`operators`]) or lambda-unified's monoids. A contribution to a window that has already
//! closed (its end plus the allowed lateness is at or behind the watermark) is not applied: the
//! event is *late*, and it is counted (and, with `late_policy = "side_output"`, kept) — never
//! silently lost.
//!
//! The batch layer answers the same queries with different code on purpose: in `lambda` that
//! duplication is the architecture's price, and the workbench measures it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::arch::{ArchError, Timing};
use crate::log::{Consumer, Log, Offset, StartPosition, TimestampMs};
use crate::query::{Agg, Cell, CellId, Keys, LiveChanges, LiveView, QuerySet, View};
use crate::scenario::{LatePolicy, Speed};
use crate::workload::{EventFields, decode_ref};

pub mod operators;

/// One event's contribution to one cell. The group name is borrowed (from the event or from the
/// static tables a query joins), so emitting a contribution allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution<'k> {
    /// The query's id.
    pub query: u8,
    /// The group.
    pub key: &'k str,
    /// Start of the window, ms.
    pub window_start_ms: i64,
    /// The state the event adds to the cell.
    pub agg: Agg,
}

/// How a stream job turns one event into contributions to cells. Implementations must be pure:
/// the same event always gives the same contributions.
pub trait StreamCompute: std::fmt::Debug + Send + Sync {
    /// Calls `emit` once per cell the event touches (one per query and window), in a fixed
    /// order. The hot path: no allocation per event.
    fn for_each_contribution(&self, event: &EventFields, emit: &mut dyn FnMut(Contribution<'_>));

    /// Appends the event's contributions as owned cells (for tests and tools; stream jobs use
    /// [`StreamCompute::for_each_contribution`]).
    fn contributions(&self, event: &EventFields, out: &mut Vec<(Cell, Agg)>) {
        self.for_each_contribution(event, &mut |c| {
            let cell =
                Cell { query: c.query, key: c.key.to_owned(), window_start_ms: c.window_start_ms };
            out.push((cell, c.agg));
        });
    }
}

/// The per-event step of a stream job, shared by [`StreamJob`] and the speed benchmark so the
/// benchmark measures exactly this code: judge lateness against the watermark *before* the
/// event (an event cannot make itself late), observe the event in its partition's watermark,
/// and hand every contribution whose window is still open (its end plus `allowed_lateness_ms`
/// is after the watermark) to `sink`, with its group interned in `keys`.
///
/// Returns what became of the event's contributions ([`Applied`]). An event no query keeps is
/// [`Applied::Whole`]: it is reflected as soon as it is processed (its absence from the answers
/// is the right answer).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn apply_event(
    compute: &dyn StreamCompute,
    queries: &QuerySet,
    allowed_lateness_ms: i64,
    watermark: &mut Watermark,
    keys: &mut Keys,
    partition: u32,
    event: &EventFields,
    sink: &mut impl FnMut(CellId, Agg),
) -> Applied {
    let wm = watermark.current();
    watermark.observe(partition, event.event_time_ms);
    let (mut applied, mut dropped) = (false, false);
    compute.for_each_contribution(event, &mut |c| {
        let window_ms = queries.spec(c.query).map_or(0, |s| s.window_ms);
        let closes = c.window_start_ms + window_ms + allowed_lateness_ms;
        if wm.is_some_and(|wm| closes <= wm) {
            dropped = true;
            return;
        }
        applied = true;
        let id = CellId { query: c.query, key: keys.id(c.key), window_start_ms: c.window_start_ms };
        sink(id, c.agg);
    });
    match (applied, dropped) {
        (_, false) => Applied::Whole,
        (true, true) => Applied::Partly,
        (false, true) => Applied::Dropped,
    }
}

/// What a stream job did with one event ([`apply_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Every contribution was applied (or the event has none).
    Whole,
    /// Late for some windows only: those contributions were dropped, the rest applied. With
    /// queries of different windows this is common — an event two seconds late misses its
    /// closed 10-second window but is on time for the open hour — and it is *late*: an answer
    /// lacks it.
    Partly,
    /// Late for every window it belongs to: nothing applied.
    Dropped,
}

/// Event-time progress. Each partition's watermark trails the largest event time seen in it by
/// a fixed delay; the job's watermark is the minimum over partitions (as in Flink and Kafka
/// Streams), because a poll reads partitions one after another and one partition racing ahead
/// must not close windows that another partition is still filling.
#[derive(Debug, Clone)]
pub struct Watermark {
    max_event_time: Vec<Option<TimestampMs>>,
    delay_ms: i64,
    /// The minimum over partitions of `max_event_time` (`None` while a partition has shown
    /// nothing), kept up to date by [`Watermark::observe`] so that reading the watermark, once
    /// per event, is not a pass over the partitions.
    min: Option<TimestampMs>,
}

impl Watermark {
    /// A watermark over `partitions` partitions trailing the largest event times by `delay_ms`.
    pub fn new(partitions: usize, delay_ms: i64) -> Self {
        Watermark { max_event_time: vec![None; partitions.max(1)], delay_ms, min: None }
    }
    /// Notes an event time seen in `partition`.
    #[inline]
    pub fn observe(&mut self, partition: u32, event_time_ms: TimestampMs) {
        let Some(m) = self.max_event_time.get_mut(partition as usize) else { return };
        let old = *m;
        if old.is_some_and(|old| old >= event_time_ms) {
            return;
        }
        *m = Some(event_time_ms);
        // The minimum can only rise, and only if this partition held it (or had shown
        // nothing): then it is recomputed; otherwise it stands.
        if self.min.is_none() || old == self.min {
            self.min = self.max_event_time.iter().copied().min().flatten();
        }
    }
    /// The current watermark; `None` until every partition has shown an event.
    #[inline]
    pub fn current(&self) -> Option<TimestampMs> {
        self.min.map(|m| m - self.delay_ms)
    }
}

/// An event that arrived after every window it belongs to had closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LateEvent {
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: Offset,
    /// Its event time.
    pub event_time_ms: TimestampMs,
}

/// The result of one poll, computed at poll time but visible only when the simulated job
/// finishes processing it.
#[derive(Debug, Clone, Default)]
pub struct Processed {
    /// When the results become visible (poll time + simulated processing time).
    pub visible_at: TimestampMs,
    /// Contributions applied: partition, offset, cell (group interned in the job's
    /// [`StreamJob::keys`]), state.
    pub counted: Vec<(u32, Offset, CellId, Agg)>,
    /// Events processed and not late (at least one contribution applied, or none to make),
    /// per partition, in offset order.
    pub counted_events: Vec<Vec<Offset>>,
    /// Events none of whose windows were open.
    pub late: Vec<LateEvent>,
    /// Per partition, the consumer position after this poll (everything below was processed).
    pub read_end: Vec<Offset>,
    /// The watermark after this poll: checkpointed with the offsets when the results commit.
    pub watermark_after: Option<Watermark>,
}

/// Simulated ms between writes of a job's checkpointed offsets to its consumer group (Kafka's
/// `auto.commit.interval.ms` default).
pub const GROUP_WRITE_INTERVAL_MS: i64 = 5_000;

/// Records read per poll at most; bounds memory when a job starts far behind (reprocessing).
/// A full poll is followed by the next as soon as it is processed.
const MAX_RECORDS_PER_POLL: usize = 200_000;

/// The same bound with measured timing, where a full poll is followed by the next at once (no
/// modelled poll interval to respect): a replay's poll and its contributions held 55 MB of a
/// realtime soak's 129 MB peak heap at 200k records; at 25k the per-poll costs (a clock read,
/// a commit) are still a sliver of the work.
const MEASURED_MAX_RECORDS_PER_POLL: usize = 25_000;

/// A streaming job over one topic on the simulated clock: polls every `poll_interval_ms` when
/// idle, runs its computation on everything new, and is busy for the modelled processing time.
#[derive(Debug)]
pub struct StreamJob {
    topic: String,
    group: String,
    consumer: Consumer,
    compute: Arc<dyn StreamCompute>,
    queries: Arc<QuerySet>,
    watermark: Watermark,
    cfg: Speed,
    next_poll: TimestampMs,
    busy_until: TimestampMs,
    pending: VecDeque<Processed>,
    events_read: u64,
    busy_ms: i64,
    late_events: u64,
    side_output: Vec<LateEvent>,
    /// The group names of every cell this job has emitted.
    keys: Keys,
    /// The decoded event, reused so decoding allocates no key per event.
    scratch: EventFields,
    /// Offsets whose results are visible, committed to the consumer group.
    committed: Vec<Offset>,
    /// The watermark as of `committed` (the checkpoint a restart resumes from).
    committed_watermark: Watermark,
    /// The checkpoint has offsets not yet written to the consumer group.
    group_dirty: bool,
    /// When the consumer group was last written.
    group_written_at: Option<TimestampMs>,
    crashes: u64,
    events_reprocessed: u64,
    /// Records deleted by the log's retention before this job read them (see
    /// [`StreamJob::skip_deleted`]).
    records_skipped: u64,
    /// Results timed by the log's clock (visible when processing really ended) instead of the
    /// cost model.
    measured: bool,
    /// Records one poll reads at most: [`MAX_RECORDS_PER_POLL`], or
    /// [`MEASURED_MAX_RECORDS_PER_POLL`] with measured timing (unit tests set a few).
    poll_records: usize,
}

impl StreamJob {
    /// A job in consumer group `group` reading `topic` from `start`. The job commits its
    /// offsets to the group whenever results become visible (at-least-once: a crash loses at
    /// most the results in flight, which are read again).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        log: &Log,
        topic: &str,
        group: &str,
        start: StartPosition,
        compute: Arc<dyn StreamCompute>,
        queries: Arc<QuerySet>,
        cfg: &Speed,
        now: TimestampMs,
    ) -> Result<Self, ArchError> {
        let partitions = log.topic(topic)?.partition_count() as usize;
        let consumer = Consumer::new(log, topic, Some(group), start)?;
        let committed = (0..partitions as u32).map(|p| consumer.position(p)).collect();
        Ok(StreamJob {
            topic: topic.to_owned(),
            group: group.to_owned(),
            consumer,
            compute,
            queries,
            watermark: Watermark::new(partitions, cfg.watermark_delay_ms),
            cfg: cfg.clone(),
            next_poll: now,
            busy_until: now,
            pending: VecDeque::new(),
            events_read: 0,
            busy_ms: 0,
            late_events: 0,
            side_output: Vec::new(),
            keys: Keys::new(),
            scratch: EventFields::default(),
            committed,
            committed_watermark: Watermark::new(partitions, cfg.watermark_delay_ms),
            group_dirty: false,
            group_written_at: None,
            crashes: 0,
            events_reprocessed: 0,
            records_skipped: 0,
            measured: false,
            poll_records: MAX_RECORDS_PER_POLL,
        })
    }

    /// Times results by `timing`: the cost model (default) or the log's clock, where a poll's
    /// results are visible as soon as it has been processed, and a job that is behind (its poll
    /// came back full) polls again at once instead of waiting for its interval.
    pub fn set_timing(&mut self, timing: &Timing) {
        self.measured = timing.is_measured();
        self.poll_records =
            if self.measured { MEASURED_MAX_RECORDS_PER_POLL } else { MAX_RECORDS_PER_POLL };
    }

    /// Results became visible: commit their offsets and checkpoint the watermark with them.
    ///
    /// The checkpoint (what a restart resumes from) is taken with every visible result; it is
    /// written to the consumer group at most every [`GROUP_WRITE_INTERVAL_MS`], and once more
    /// when the job finds nothing new to read, so the group's offsets on disk trail the
    /// checkpoint by at most that interval and match it whenever the job has caught up.
    /// (Writing the group file at every poll was a third of a long simulated run's time.)
    fn commit(
        &mut self,
        log: &Log,
        processed: &Processed,
        now: TimestampMs,
    ) -> Result<(), ArchError> {
        self.committed.clone_from(&processed.read_end);
        if let Some(wm) = &processed.watermark_after {
            self.committed_watermark = wm.clone();
        }
        self.group_dirty = true;
        if self.group_written_at.is_none_or(|at| now - at >= GROUP_WRITE_INTERVAL_MS) {
            self.write_group(log, now)?;
        }
        Ok(())
    }

    /// Writes the checkpointed offsets to the consumer group.
    fn write_group(&mut self, log: &Log, now: TimestampMs) -> Result<(), ArchError> {
        let offsets: Vec<(u32, Offset)> =
            self.committed.iter().enumerate().map(|(p, o)| (p as u32, *o)).collect();
        log.commit_offsets(&self.group, &self.topic, &offsets)?;
        self.group_dirty = false;
        self.group_written_at = Some(now);
        Ok(())
    }

    /// The job crashes at `now` and restarts `down_ms` later from its committed offsets and
    /// checkpointed watermark. Results in flight are lost; their events will be read again.
    /// (Whether the *state* survives is the owner's business: it holds the state.)
    pub fn crash(&mut self, now: TimestampMs, down_ms: i64) {
        self.pending.clear();
        for (p, &committed) in self.committed.iter().enumerate() {
            let position = self.consumer.position(p as u32);
            self.events_reprocessed += position.saturating_sub(committed);
            self.consumer.seek(p as u32, committed);
        }
        self.watermark = self.committed_watermark.clone();
        self.next_poll = now + down_ms;
        self.busy_until = now + down_ms;
        self.crashes += 1;
    }

    /// Deploys a new version of the stream code: events processed from now on use it; the
    /// state built by the old version stays as it is.
    pub fn set_compute(&mut self, compute: Arc<dyn StreamCompute>, queries: Arc<QuerySet>) {
        self.compute = compute;
        self.queries = queries;
    }

    /// Per partition, the offsets whose results are visible (and committed).
    pub fn committed(&self) -> &[Offset] {
        &self.committed
    }

    /// The group names of the cells in this job's results ([`Processed::counted`]).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Crashes so far.
    pub fn crashes(&self) -> u64 {
        self.crashes
    }

    /// Events read again after crashes (their results were in flight).
    pub fn events_reprocessed(&self) -> u64 {
        self.events_reprocessed
    }

    /// Advances the job to `now`: returns the results that became visible by `now` (oldest
    /// first), then polls the log if the job is idle and its poll is due.
    pub fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<Vec<Processed>, ArchError> {
        let mut visible = Vec::new();
        while self.pending.front().is_some_and(|p| p.visible_at <= now) {
            visible.extend(self.pending.pop_front());
        }
        for processed in &visible {
            self.commit(log, processed, now)?;
        }
        if now >= self.next_poll && now >= self.busy_until {
            self.next_poll = now + self.cfg.poll_interval_ms;
            // A poll below the log's local start fetches cold segments from the remote tier;
            // the cost model charges their modelled fetch time to this job (a measured run's
            // clock already includes it).
            self.skip_deleted(log)?;
            let cold_before = log.cold_fetch_model_ms();
            let records = self.poll(log)?;
            let cold_ms = log.cold_fetch_model_ms() - cold_before;
            // A full poll left records behind: the next one is due as soon as this one is
            // processed, as a consumer loop polls again at once (on the cost model too: a job
            // whose input outpaces `MAX_RECORDS_PER_POLL` per interval would otherwise fall
            // further behind at every poll however cheap its processing).
            if records.len() == self.max_records_per_poll() {
                self.next_poll = now;
            }
            if records.is_empty() && self.group_dirty {
                // Caught up: the group gets the whole checkpoint.
                self.write_group(log, now)?;
            }
            if !records.is_empty() {
                let mut processed = self.process(now, &records, cold_ms)?;
                if self.measured {
                    // Measured: the results are visible the moment processing ended.
                    let finished = log.clock().now_ms().max(now);
                    self.busy_ms += (finished - now) - (processed.visible_at - now);
                    processed.visible_at = finished;
                    self.busy_until = finished;
                }
                // A zero-cost job's results are visible in the same tick.
                if processed.visible_at <= now || self.measured {
                    self.commit(log, &processed, now)?;
                    visible.push(processed);
                } else {
                    self.pending.push_back(processed);
                }
            }
        }
        Ok(visible)
    }

    /// Retention may delete records this job has not read yet: a replay slower than the
    /// retention, a job down for longer. The job goes on from the log start, as a Kafka
    /// Streams application with `auto.offset.reset = earliest` does, and counts the records it
    /// never saw (their events are missing from its answers: what the comparison then shows).
    fn skip_deleted(&mut self, log: &Log) -> Result<(), ArchError> {
        let topic = log.topic(&self.topic)?;
        for p in 0..topic.partition_count() {
            let start = topic.partition(p)?.log_start_offset();
            let position = self.consumer.position(p);
            if position < start {
                self.consumer.seek(p, start);
                self.records_skipped += start - position;
            }
        }
        Ok(())
    }

    /// One poll. Retention runs on another thread in a realtime run and may delete the next
    /// record between [`StreamJob::skip_deleted`] and the read: then the poll is taken again
    /// from the positions it started at (a partial poll's records are not dropped).
    fn poll(&mut self, log: &Log) -> Result<Vec<(u32, crate::log::StoredRecord)>, ArchError> {
        let before = self.consumer.positions().to_vec();
        let max = self.max_records_per_poll();
        match self.consumer.poll(log, max) {
            Err(crate::log::LogError::OffsetOutOfRange { .. }) => {
                for (p, &offset) in before.iter().enumerate() {
                    self.consumer.seek(p as u32, offset);
                }
                self.skip_deleted(log)?;
                Ok(self.consumer.poll(log, max)?)
            }
            polled => Ok(polled?),
        }
    }

    /// Records one poll reads at most (smaller with measured timing; see
    /// [`MEASURED_MAX_RECORDS_PER_POLL`]).
    fn max_records_per_poll(&self) -> usize {
        self.poll_records
    }

    /// Records deleted by retention before this job read them.
    pub fn records_skipped(&self) -> u64 {
        self.records_skipped
    }

    fn process(
        &mut self,
        now: TimestampMs,
        records: &[(u32, crate::log::StoredRecord)],
        cold_ms: f64,
    ) -> Result<Processed, ArchError> {
        let partitions = self.watermark.max_event_time.len();
        // Sized for one contribution per event per window it falls in (the most there can
        // be): a poll of a job far behind (kappa replaying the log) has 200k records, and
        // growing the vector by doubling held up to three times that at the last step.
        let per_event: usize = self
            .queries
            .specs
            .iter()
            .map(|s| {
                usize::try_from((s.window_ms + s.slide_ms - 1) / s.slide_ms.max(1)).unwrap_or(1)
            })
            .sum();
        let mut out = Processed {
            counted: Vec::with_capacity(records.len().saturating_mul(per_event.max(1))),
            counted_events: vec![Vec::new(); partitions],
            ..Processed::default()
        };
        // Events, not records: a record stands for `weight` identical events, and the cost
        // model charges per event.
        let mut events = 0u64;
        for (partition, r) in records {
            let event = &mut self.scratch;
            decode_ref(r.record.key.as_deref(), &r.record.value, r.record.timestamp_ms)
                .map_err(|source| ArchError::Decode {
                    partition: *partition,
                    offset: r.offset,
                    source,
                })?
                .fill(event);
            events += u64::from(event.weight);
            let counted = &mut out.counted;
            let applied = apply_event(
                self.compute.as_ref(),
                &self.queries,
                self.cfg.allowed_lateness_ms,
                &mut self.watermark,
                &mut self.keys,
                *partition,
                event,
                &mut |id, agg| counted.push((*partition, r.offset, id, agg)),
            );
            if applied != Applied::Dropped
                && let Some(list) = out.counted_events.get_mut(*partition as usize)
            {
                list.push(r.offset);
            }
            if applied != Applied::Whole {
                // Late for at least one window: counted (in events), and kept with
                // `side_output`. Only a wholly dropped event is missing from the merge audit's
                // counts; a partly late one was counted above.
                let late = LateEvent {
                    partition: *partition,
                    offset: r.offset,
                    event_time_ms: event.event_time_ms,
                };
                self.late_events += u64::from(event.weight);
                if self.cfg.late_policy == LatePolicy::SideOutput {
                    self.side_output.push(late);
                }
                if applied == Applied::Dropped {
                    out.late.push(late);
                }
            }
        }
        self.events_read += events;
        out.read_end = (0..partitions as u32).map(|p| self.consumer.position(p)).collect();
        out.watermark_after = Some(self.watermark.clone());
        let cost_ms =
            self.cfg.overhead_ms + events as f64 * self.cfg.cost_us_per_event / 1000.0 + cold_ms;
        out.visible_at = now + cost_ms.ceil() as i64;
        self.busy_until = out.visible_at;
        self.busy_ms += out.visible_at - now;
        Ok(out)
    }

    /// Whether the job has read everything in the log and has no results in flight.
    pub fn caught_up(&self, log: &Log) -> Result<bool, ArchError> {
        let topic = log.topic(&self.topic)?;
        for p in 0..topic.partition_count() {
            if self.consumer.position(p) < topic.partition(p)?.log_end_offset() {
                return Ok(false);
            }
        }
        Ok(self.pending.is_empty())
    }

    /// Events found too late for at least one window they belong to ([`Applied::Partly`] and
    /// [`Applied::Dropped`]), in events.
    pub fn late_events(&self) -> u64 {
        self.late_events
    }

    /// The late events kept by `late_policy = "side_output"`.
    pub fn side_output(&self) -> &[LateEvent] {
        &self.side_output
    }

    /// Events read from the log so far.
    pub fn events_read(&self) -> u64 {
        self.events_read
    }

    /// Simulated ms spent processing so far (the cost model's CPU time).
    pub fn busy_ms(&self) -> i64 {
        self.busy_ms
    }
}

/// A generation of the speed layer: the events from one batch cut-off to the next.
#[derive(Debug, Default)]
struct Generation {
    /// First offset of the generation, per partition.
    start: Vec<Offset>,
    view: LiveView,
    /// Events counted into `view`, per partition.
    counted: Vec<OffsetRuns>,
}

/// Offsets added in ascending order, kept as runs of consecutive offsets. A generation counts
/// nearly every offset of its range (a late event breaks a run), so this holds a few entries
/// where a list held 8 B per event — 185 MB of a 10M-event run's peak.
#[derive(Debug, Default, Clone)]
struct OffsetRuns {
    /// `(first, end exclusive, offsets in the runs before)`, ascending.
    runs: Vec<(Offset, Offset, u64)>,
    len: u64,
}

impl OffsetRuns {
    /// Adds `offset`, above every offset added so far.
    fn push(&mut self, offset: Offset) {
        match self.runs.last_mut() {
            Some((_, end, _)) if *end == offset => *end += 1,
            _ => self.runs.push((offset, offset + 1, self.len)),
        }
        self.len += 1;
    }

    /// Offsets held.
    fn len(&self) -> u64 {
        self.len
    }

    /// Offsets held below `cut`.
    fn below(&self, cut: Offset) -> u64 {
        let i = self.runs.partition_point(|(first, _, _)| *first < cut);
        match i.checked_sub(1).and_then(|i| self.runs.get(i)) {
            Some(&(first, end, before)) => before + end.min(cut) - first,
            None => 0,
        }
    }

    fn clear(&mut self) {
        self.runs.clear();
        self.len = 0;
    }
}

/// Lambda's speed layer: a stream job whose results are kept per *generation*, one per batch
/// run, so that when a batch view covering offsets below a cut-off is published, the speed
/// results for those offsets can be dropped exactly — no double count, no hole. It also keeps
/// what the merge-boundary audit needs: which offsets each generation counted, and which
/// events were late.
#[derive(Debug)]
pub struct SpeedLayer {
    job: StreamJob,
    generations: BTreeMap<u64, Generation>,
    /// Generations below this were superseded by a published batch view.
    oldest_live: u64,
    /// Per partition, everything below was processed and its results are visible.
    applied_end: Vec<Offset>,
    /// Late events per partition, ascending offsets.
    late: Vec<Vec<Offset>>,
    /// Whether the generations note their changed cells ([`SpeedLayer::track_changes`]).
    tracking: bool,
    /// A generation was dropped since the last [`SpeedLayer::take_changes`].
    dropped: bool,
}

/// What the merge-boundary audit found at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Audit {
    /// Events counted by both the batch view and a live speed generation.
    pub double_counted: u64,
    /// Events the speed layer has processed, above the batch cut-off, counted by neither side
    /// and not late.
    pub missing: u64,
}

impl SpeedLayer {
    /// A speed layer in consumer group `group` reading `topic` from the beginning.
    pub fn new(
        log: &Log,
        topic: &str,
        group: &str,
        compute: Arc<dyn StreamCompute>,
        queries: Arc<QuerySet>,
        cfg: &Speed,
        now: TimestampMs,
    ) -> Result<Self, ArchError> {
        let partitions = log.topic(topic)?.partition_count() as usize;
        let job =
            StreamJob::new(log, topic, group, StartPosition::Earliest, compute, queries, cfg, now)?;
        let first = Generation {
            start: vec![0; partitions],
            view: LiveView::new(),
            counted: vec![OffsetRuns::default(); partitions],
        };
        Ok(SpeedLayer {
            job,
            generations: BTreeMap::from([(0, first)]),
            oldest_live: 0,
            applied_end: vec![0; partitions],
            late: vec![Vec::new(); partitions],
            tracking: false,
            dropped: false,
        })
    }

    /// From now on, notes which cells of the merged speed view change (see
    /// [`SpeedLayer::take_changes`]).
    pub fn track_changes(&mut self) {
        if !self.tracking {
            self.tracking = true;
            self.generations.values_mut().for_each(|g| g.view.track_changes());
        }
    }

    /// The cells of [`SpeedLayer::view`] that changed since the previous take (`All` after a
    /// generation was dropped or cleared, or when tracking has just begun).
    pub fn take_changes(&mut self) -> LiveChanges {
        let mut all = std::mem::take(&mut self.dropped) || !self.tracking;
        let mut cells = Vec::new();
        for g in self.generations.values_mut() {
            match g.view.take_changes() {
                LiveChanges::All => all = true,
                LiveChanges::Cells(c) => cells.extend(c),
            }
        }
        if all {
            return LiveChanges::All;
        }
        cells.sort_unstable();
        cells.dedup();
        LiveChanges::Cells(cells)
    }

    /// One cell of [`SpeedLayer::view`]: the live generations' states merged in the same
    /// order, so it is the same state.
    pub fn cell(&self, id: &CellId) -> Option<Agg> {
        let mut merged: Option<Agg> = None;
        for g in self.generations.values() {
            if let Some(agg) = g.view.get(id) {
                match merged.as_mut() {
                    Some(m) => m.merge(agg),
                    None => merged = Some(agg.clone()),
                }
            }
        }
        merged
    }

    /// The group names of the speed job's cells.
    pub fn keys(&self) -> &crate::query::Keys {
        self.job.keys()
    }

    /// A batch run `generation` started with `cutoff`: offsets at or above it belong to the new
    /// generation (they are not in that batch view).
    pub fn start_generation(&mut self, generation: u64, cutoff: Vec<Offset>) {
        let partitions = cutoff.len();
        self.generations.insert(
            generation,
            Generation {
                start: cutoff,
                view: {
                    let mut view = LiveView::new();
                    if self.tracking {
                        view.track_changes();
                    }
                    view
                },
                counted: vec![OffsetRuns::default(); partitions],
            },
        );
    }

    /// The batch view of `generation`, covering offsets below `cutoff`, was published: drop
    /// every older generation.
    pub fn expire_before(&mut self, generation: u64, cutoff: &[Offset]) {
        self.oldest_live = self.oldest_live.max(generation);
        let before = self.generations.len();
        self.generations.retain(|g, _| *g >= generation);
        self.dropped |= self.generations.len() != before;
        // The audit counts late events from the published view's cut-off up, and published
        // cut-offs only rise (each job reads up to the log end at its start): the late events
        // below it will not be counted again.
        for (late, &cut) in self.late.iter_mut().zip(cutoff) {
            late.drain(..late.partition_point(|o| *o < cut));
        }
    }

    /// The live generation an offset belongs to; `None` when it is below every live
    /// generation's start (a published batch view covers it).
    fn generation_of(&self, partition: u32, offset: Offset) -> Option<u64> {
        self.generations
            .iter()
            .rev()
            .find(|(_, g)| g.start.get(partition as usize).is_some_and(|s| *s <= offset))
            .map(|(id, _)| *id)
    }

    /// Advances to `now`; returns (visible at, partition, offset) of every event that became
    /// visible.
    pub fn tick(
        &mut self,
        now: TimestampMs,
        log: &Log,
    ) -> Result<Vec<(TimestampMs, u32, Offset)>, ArchError> {
        let mut shown = Vec::new();
        for processed in self.job.tick(now, log)? {
            for (partition, offset, cell, agg) in processed.counted {
                let Some(id) = self.generation_of(partition, offset) else { continue };
                if let Some(g) = self.generations.get_mut(&id) {
                    g.view.merge(cell, agg);
                }
            }
            for (p, offsets) in processed.counted_events.iter().enumerate() {
                for &offset in offsets {
                    let Some(id) = self.generation_of(p as u32, offset) else { continue };
                    if let Some(list) =
                        self.generations.get_mut(&id).and_then(|g| g.counted.get_mut(p))
                    {
                        list.push(offset);
                    }
                    shown.push((processed.visible_at, p as u32, offset));
                }
            }
            for late in &processed.late {
                if let Some(list) = self.late.get_mut(late.partition as usize) {
                    list.push(late.offset);
                }
            }
            for (end, read) in self.applied_end.iter_mut().zip(&processed.read_end) {
                *end = (*end).max(*read);
            }
        }
        Ok(shown)
    }

    /// The live generations' views, merged.
    pub fn view(&self) -> View {
        let mut merged = View::new();
        for g in self.generations.values() {
            g.view.merge_into_view(self.job.keys(), &mut merged);
        }
        merged
    }

    /// Cells held in live generations.
    pub fn cells(&self) -> usize {
        self.generations.values().map(|g| g.view.len()).sum()
    }

    /// The merge-boundary audit against a batch view covering offsets below `batch_cutoff`
    /// (all zeros when no batch view is published).
    pub fn audit(&self, batch_cutoff: &[Offset]) -> Audit {
        let mut audit = Audit::default();
        for (p, &cut) in batch_cutoff.iter().enumerate() {
            let end = self.applied_end.get(p).copied().unwrap_or(0);
            let mut counted_above = 0u64;
            for g in self.generations.values() {
                let Some(runs) = g.counted.get(p) else { continue };
                let below = runs.below(cut);
                audit.double_counted += below;
                counted_above += runs.len() - below;
            }
            let late = self.late.get(p).map_or(0, |l| {
                (l.partition_point(|o| *o < end) - l.partition_point(|o| *o < cut)) as u64
            });
            let expected = end.saturating_sub(cut);
            audit.missing += expected.saturating_sub(counted_above + late);
        }
        audit
    }

    /// Whether the job has read and shown everything in the log.
    pub fn caught_up(&self, log: &Log) -> Result<bool, ArchError> {
        self.job.caught_up(log)
    }

    /// The speed job crashes at `now` and restarts `down_ms` later from its committed offsets.
    /// With `restore_state` its generations come back from the checkpoint (they hold exactly
    /// the results of the committed offsets); without, it restarts empty — everything it had
    /// counted is gone until a batch view covers it again.
    pub fn crash(&mut self, now: TimestampMs, down_ms: i64, restore_state: bool) {
        self.job.crash(now, down_ms);
        if !restore_state {
            for g in self.generations.values_mut() {
                g.view.clear();
                g.counted.iter_mut().for_each(OffsetRuns::clear);
            }
        }
    }

    /// Times results by `timing` (see [`StreamJob::set_timing`]).
    pub fn set_timing(&mut self, timing: &Timing) {
        self.job.set_timing(timing);
    }

    /// Deploys a new version of the speed code (see [`StreamJob::set_compute`]).
    pub fn set_compute(&mut self, compute: Arc<dyn StreamCompute>, queries: Arc<QuerySet>) {
        self.job.set_compute(compute, queries);
    }

    /// The stream job (for its counters).
    pub fn job(&self) -> &StreamJob {
        &self.job
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_partition_holds_the_watermark_back() {
        let mut wm = Watermark::new(2, 0);
        wm.observe(0, 50_000);
        assert_eq!(wm.current(), None, "partition 1 has shown nothing yet");
        wm.observe(1, 1_000);
        assert_eq!(wm.current(), Some(1_000));
        wm.observe(1, 30_000);
        assert_eq!(wm.current(), Some(30_000));
    }

    proptest::proptest! {
        /// Runs answer what the plain ascending list of the same offsets answers.
        #[test]
        fn offset_runs_count_like_the_list_they_replace(
            steps in proptest::collection::vec((1u64..4, proptest::bool::ANY), 0..80),
            cuts in proptest::collection::vec(0u64..300, 1..10),
        ) {
            let (mut runs, mut list, mut offset) = (OffsetRuns::default(), Vec::new(), 0);
            for (gap, keep) in steps {
                offset += gap;
                if keep {
                    runs.push(offset);
                    list.push(offset);
                }
            }
            proptest::prop_assert_eq!(runs.len(), list.len() as u64);
            for cut in cuts {
                let want = list.partition_point(|o| *o < cut) as u64;
                proptest::prop_assert_eq!(runs.below(cut), want);
            }
            runs.clear();
            proptest::prop_assert_eq!((runs.len(), runs.below(1_000)), (0, 0));
        }

        /// The kept minimum equals the minimum over partitions recomputed from scratch, after
        /// every observation (in or out of order, ties, unknown partitions).
        #[test]
        fn the_kept_minimum_is_the_minimum_over_partitions(
            partitions in 1usize..5,
            seen in proptest::collection::vec((0u32..6, -50i64..50), 0..60),
        ) {
            let mut wm = Watermark::new(partitions, 3);
            let mut max: Vec<Option<i64>> = vec![None; partitions];
            for (p, t) in seen {
                wm.observe(p, t);
                if let Some(m) = max.get_mut(p as usize) {
                    *m = Some(m.map_or(t, |m| m.max(t)));
                }
                let expected = max.iter().copied().collect::<Option<Vec<i64>>>()
                    .and_then(|v| v.into_iter().min())
                    .map(|m| m - 3);
                proptest::prop_assert_eq!(wm.current(), expected);
            }
        }
    }

    /// A job whose input outpaces a full poll per interval keeps up: a poll that comes back
    /// full is followed by the next as soon as its results are visible, not an interval later.
    #[test]
    fn a_full_poll_is_followed_by_the_next_at_once() {
        use crate::log::{FsyncPolicy, LogConfig, ManualClock, Producer, ProducerConfig, Record};
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let config = LogConfig { fsync: FsyncPolicy::Never, ..LogConfig::default() };
        let mut log = Log::open(dir.path(), config, clock).unwrap();
        log.create_topic("t", 1).unwrap();
        let mut producer = Producer::new(ProducerConfig::default());
        let events = crate::workload::generate(
            &crate::scenario::Workload { rate_per_sec: 1_000, partitions: 1, ..Default::default() },
            1,
            5_000,
        );
        for e in &events {
            let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes());
            producer.send(&log, "t", record).unwrap();
        }
        producer.flush(&log).unwrap();
        let n = events.len();
        assert!(n > 2_000, "{n} events");
        let scenario = crate::scenario::Scenario::parse(
            "name = \"x\"\nseed = 1\narchitectures = [\"kappa\"]\nduration_ms = 5000\n[workload]\nrate_per_sec = 1000\npartitions = 1\n[[queries]]\nname = \"key_window_count\"\nwindow_ms = 1000\n",
            std::path::Path::new("x.toml"),
        )
        .unwrap();
        let queries = Arc::new(QuerySet::from_scenario(&scenario));
        let compute = Arc::new(operators::HandWritten::new(queries.clone()));
        let cfg = Speed { poll_interval_ms: 500, ..Speed::default() };
        let mut job =
            StreamJob::new(&log, "t", "g", StartPosition::Earliest, compute, queries, &cfg, 0)
                .unwrap();
        job.poll_records = n / 4 + 1;
        // Four full polls, one per 100 ms tick once the previous one is visible: all read in
        // well under the 2 s that one poll per interval would take.
        for t in (0..=500).step_by(100) {
            job.tick(t, &log).unwrap();
        }
        assert_eq!(job.events_read(), n as u64);
        assert!(job.caught_up(&log).unwrap());
    }

    #[test]
    fn the_delay_holds_the_watermark_back() {
        let mut wm = Watermark::new(1, 2_000);
        wm.observe(0, 10_000);
        wm.observe(0, 9_000);
        assert_eq!(wm.current(), Some(8_000));
    }
}
