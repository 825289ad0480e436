//! The batch layer: recompute every view from scratch over an immutable prefix of the log (a
//! cut-off offset per partition), on a schedule, taking the time the cost model says.
//!
//! What a batch job computes is a [`BatchCompute`]: lambda's DataFrame code
//! ([`lambda_polars`]) or lambda-unified's monoid runner. Jobs read the partitions in parallel
//! (rayon), since a prefix of a log is immutable and each partition can be read on its own.

use std::ops::ControlFlow;
use std::sync::Arc;

use rayon::prelude::*;

use crate::arch::{ArchError, Timing, log_end_offsets};
use crate::log::{Log, Offset, TimestampMs};
use crate::query::{QuerySet, View};
use crate::scenario::Batch;
use crate::workload::EventFields;

pub mod columns;
pub mod hash_agg;
pub mod lambda_polars;

/// A full recomputation of every query's view from a prefix of the log.
pub trait BatchCompute: std::fmt::Debug + Send + Sync {
    /// The views over offsets `[log start, cutoff[p])` of each partition `p`, and how many
    /// events were read.
    fn compute(
        &self,
        log: &Log,
        topic: &str,
        cutoff: &[Offset],
        queries: &QuerySet,
    ) -> Result<(View, u64), ArchError>;
}

/// One unit of a batch read: offsets `[from, end)` of partition `partition`, within one
/// segment. `segment` is that segment's content identity when it is a local segment (the
/// column cache keys on it); `None` for the remote-only and compacted ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub partition: u32,
    pub from: Offset,
    pub end: Offset,
    pub segment: Option<crate::log::SegmentUid>,
}

/// `ranges[p]` of each partition `p` of `topic` split at segment boundaries: pieces in
/// partition then offset order, the units the batch readers run on rayon.
pub(crate) fn segment_pieces(
    topic: &crate::log::Topic,
    ranges: &[(Offset, Offset)],
) -> Result<Vec<Piece>, ArchError> {
    let mut pieces = Vec::new();
    for (p, &(from, end)) in ranges.iter().enumerate() {
        let partition = topic.partition(p as u32)?;
        let uids = partition.segment_uids();
        let mut start = from;
        for segment in partition.segments() {
            let stop = segment.next_offset.min(end);
            if stop > start && segment.base_offset < end {
                let uid = (!segment.remote_only)
                    .then(|| uids.iter().find(|u| u.base_offset == segment.base_offset))
                    .flatten()
                    .copied();
                pieces.push(Piece { partition: p as u32, from: start, end: stop, segment: uid });
                start = stop;
            }
        }
        if start < end {
            pieces.push(Piece { partition: p as u32, from: start, end, segment: None });
        }
    }
    Ok(pieces)
}

/// Records per visit of the log: bounds how long one call holds a partition's read lock
/// (appends wait at most that long); the records are borrowed, so it bounds no memory.
const VISIT_CHUNK: usize = 50_000;

/// Visits every record of `partition` (number `p`) in offsets `[from, end)`, in offset order,
/// borrowed from the log's read buffer, in chunks of [`VISIT_CHUNK`] records. `visit`
/// rejecting a record stops the walk: its error comes back with the record's partition and
/// offset. Returns the offset after the last record visited.
pub(crate) fn visit_records(
    partition: crate::log::PartitionRef<'_>,
    p: u32,
    from: Offset,
    end: Offset,
    mut visit: impl FnMut(&crate::log::RecordRef<'_>) -> Result<(), crate::workload::DecodeError>,
) -> Result<Offset, ArchError> {
    let mut offset = from;
    let mut bad = None;
    while offset < end {
        let want = usize::try_from(end - offset).unwrap_or(usize::MAX).min(VISIT_CHUNK);
        let mut last = offset;
        let walked = partition.for_each_record(offset, want, |r| {
            // Offsets may have gaps (a compacted prefix): `want` records can reach past `end`.
            if r.offset >= end {
                last = end;
                return ControlFlow::Break(());
            }
            last = r.offset + 1;
            match visit(&r) {
                Ok(()) => ControlFlow::Continue(()),
                Err(source) => {
                    bad = Some(ArchError::Decode { partition: p, offset: r.offset, source });
                    ControlFlow::Break(())
                }
            }
        });
        match walked {
            // Retention deleted the records ahead while the walk went on (a realtime run's
            // recompute runs beside the retention pass): the walk reads what the log still
            // holds, as a job started a moment later would. (A reader below the log start from
            // the outset never gets here: pieces start at the log start.)
            Err(crate::log::LogError::OffsetOutOfRange { start, .. }) if start > offset => {
                offset = start;
                continue;
            }
            walked => walked?,
        };
        if let Some(e) = bad {
            return Err(e);
        }
        if last == offset {
            break;
        }
        offset = last;
    }
    Ok(offset)
}

/// [`visit_records`] with every record decoded as an event ([`crate::workload::decode_ref`],
/// no allocation): `visit` gets the record and its event; the first record that is not an
/// event stops the walk with [`ArchError::Decode`].
pub(crate) fn visit_decoded(
    partition: crate::log::PartitionRef<'_>,
    p: u32,
    from: Offset,
    end: Offset,
    mut visit: impl FnMut(&crate::log::RecordRef<'_>, crate::workload::EventRef<'_>),
) -> Result<Offset, ArchError> {
    visit_records(partition, p, from, end, |r| {
        visit(r, crate::workload::decode_ref(r.key, r.value, r.timestamp_ms)?);
        Ok(())
    })
}

/// Reads and decodes every event of each partition below its cut-off, partitions in parallel.
/// Returns one vector per partition, in offset order.
pub fn read_prefix(
    log: &Log,
    topic: &str,
    cutoff: &[Offset],
) -> Result<Vec<Vec<EventFields>>, ArchError> {
    let topic = log.topic(topic)?;
    cutoff
        .par_iter()
        .enumerate()
        .map(|(p, &end)| {
            let partition = topic.partition(p as u32)?;
            let from = partition.log_start_offset();
            let mut events = Vec::with_capacity(end.saturating_sub(from) as usize);
            visit_decoded(partition, p as u32, from, end, |_, e| events.push(e.to_fields()))?;
            Ok(events)
        })
        .collect()
}

/// A finished batch computation: the view and what it covered.
#[derive(Debug, Clone)]
pub struct BatchView {
    /// Which batch run produced it (1, 2, ...).
    pub generation: u64,
    /// Per partition, the view covers offsets `[0, cutoff)`.
    pub cutoff: Vec<Offset>,
    /// The views.
    pub view: View,
    /// Events read to compute it.
    pub events: u64,
}

/// A running batch job: computed already, visible when its simulated duration has passed.
#[derive(Debug)]
struct Running {
    view: BatchView,
    visible_at: TimestampMs,
}

/// What a background job sends back: the view and events read, and the clock reading when it
/// finished.
type JobOutcome = Result<(View, u64, TimestampMs), ArchError>;

/// A job running in the background on the rayon pool (measured timing): it publishes when the
/// computation really finishes.
#[derive(Debug)]
struct Background {
    generation: u64,
    cutoff: Vec<Offset>,
    started_at: TimestampMs,
    done: std::sync::mpsc::Receiver<JobOutcome>,
}

/// What the batch layer did in one tick.
#[derive(Debug, Default)]
pub struct BatchTick {
    /// A job started with this generation and cut-off.
    pub started: Option<(u64, Vec<Offset>)>,
    /// A view was published at this time (the view itself is in [`BatchLayer::published`]).
    pub published_at: Option<TimestampMs>,
    /// A job failed at this time (a fault) instead of publishing.
    pub failed_at: Option<TimestampMs>,
}

impl BatchTick {
    /// This tick's events for a timeline.
    pub fn events(&self, now: TimestampMs, out: &mut Vec<(TimestampMs, &'static str)>) {
        if self.started.is_some() {
            out.push((now, "batch job starts"));
        }
        if let Some(at) = self.failed_at {
            out.push((at, "batch job fails"));
        }
        if let Some(at) = self.published_at {
            out.push((at, "batch view published"));
        }
    }
}

/// The batch layer: starts a job every `interval_ms` (or when the previous one finishes, if it
/// overran), each a full recomputation up to the log end at its start.
///
/// With [`Timing::CostModel`] a job computes at once and publishes when its simulated duration
/// has passed. With [`Timing::Measured`] it runs in the background on the rayon pool and
/// publishes at the first tick after it really finished; the layer's owner keeps ticking (the
/// speed layer keeps polling) meanwhile.
#[derive(Debug)]
pub struct BatchLayer {
    topic: String,
    compute: Arc<dyn BatchCompute>,
    queries: Arc<QuerySet>,
    cfg: Batch,
    next_start: TimestampMs,
    running: Option<Running>,
    background: Option<Background>,
    timing: Timing,
    /// New code was deployed since the last job started (measured timing reruns even an
    /// unchanged log then).
    redeployed: bool,
    published: Option<BatchView>,
    jobs_run: u64,
    events_read: u64,
    busy_ms: i64,
    /// A fault: the running (or next) job fails, retried after this many ms.
    fail_next: Option<i64>,
    failures: u64,
}

impl BatchLayer {
    /// A batch layer over `topic`; its first job starts one interval after `now`.
    pub fn new(
        topic: &str,
        compute: Arc<dyn BatchCompute>,
        queries: Arc<QuerySet>,
        cfg: &Batch,
        now: TimestampMs,
    ) -> Self {
        BatchLayer {
            topic: topic.to_owned(),
            compute,
            queries,
            cfg: cfg.clone(),
            next_start: now + cfg.interval_ms,
            running: None,
            background: None,
            timing: Timing::CostModel,
            redeployed: false,
            published: None,
            jobs_run: 0,
            events_read: 0,
            busy_ms: 0,
            fail_next: None,
            failures: 0,
        }
    }

    /// The same layer timed by `timing` (the cost model by default).
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Advances to `now`: publishes a finished job, starts a due one.
    pub fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<BatchTick, ArchError> {
        let tick = match &self.timing {
            Timing::Measured(shared) => {
                let shared = shared.clone();
                self.tick_measured(now, log, shared)?
            }
            Timing::CostModel => self.tick_modelled(now, log)?,
        };
        // Answer retention: a recompute covers the whole log, expired windows too; they leave
        // the view as it is published.
        if tick.published_at.is_some()
            && let (Some(through), Some(v)) =
                (self.queries.prune_through(now), self.published.as_mut())
        {
            self.queries.retain_live(&mut v.view, through);
        }
        Ok(tick)
    }

    /// [`BatchLayer::tick`] on the cost model: a job computes at once and publishes when its
    /// simulated duration has passed.
    fn tick_modelled(&mut self, now: TimestampMs, log: &Log) -> Result<BatchTick, ArchError> {
        let mut tick = BatchTick::default();
        if self.running.as_ref().is_some_and(|r| r.visible_at <= now)
            && let Some(done) = self.running.take()
        {
            if let Some(retry_ms) = self.fail_next.take() {
                // The job failed at its end: nothing is published; retry after the delay.
                self.failures += 1;
                self.next_start = done.visible_at + retry_ms;
                tick.failed_at = Some(done.visible_at);
            } else {
                tick.published_at = Some(done.visible_at);
                self.published = Some(done.view);
            }
        }
        if self.running.is_none() && now >= self.next_start {
            let cutoff = log_end_offsets(log, &self.topic)?;
            // Nothing new to compute (as with measured timing): a job longer than the interval
            // would otherwise start again the moment the last one published, over the same
            // log, and the layer would never settle once the producers stop.
            if self.nothing_new(&cutoff) {
                self.next_start = now + self.cfg.interval_ms;
                return Ok(tick);
            }
            self.redeployed = false;
            let (view, events) = self.compute.compute(log, &self.topic, &cutoff, &self.queries)?;
            self.jobs_run += 1;
            self.events_read += events;
            let generation = self.jobs_run;
            let cost_ms =
                self.cfg.overhead_ms + events as f64 * self.cfg.cost_us_per_event / 1000.0;
            let visible_at = now + cost_ms.ceil() as i64;
            self.busy_ms += visible_at - now;
            tick.started = Some((generation, cutoff.clone()));
            self.running =
                Some(Running { view: BatchView { generation, cutoff, view, events }, visible_at });
            self.next_start = (now + self.cfg.interval_ms).max(visible_at);
        }
        Ok(tick)
    }

    /// [`BatchLayer::tick`] with measured timing: collects a finished background job, starts
    /// a due one on the rayon pool. `log` and `shared` are the same log; the job needs an owned
    /// handle because it outlives this call.
    fn tick_measured(
        &mut self,
        now: TimestampMs,
        log: &Log,
        shared: Arc<Log>,
    ) -> Result<BatchTick, ArchError> {
        use std::sync::mpsc::TryRecvError;
        let mut tick = BatchTick::default();
        let outcome = self.background.as_ref().and_then(|job| match job.done.try_recv() {
            Ok(outcome) => Some(outcome),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(ArchError::Engine {
                layer: "batch",
                message: format!("batch job {} stopped without a result", job.generation),
            })),
        });
        if let Some(outcome) = outcome
            && let Some(job) = self.background.take()
        {
            let (view, events, finished) = outcome?;
            self.events_read += events;
            self.busy_ms += finished.saturating_sub(job.started_at);
            // The serving side swaps views at this tick: that is when it becomes visible.
            let at = now.max(finished);
            if let Some(retry_ms) = self.fail_next.take() {
                self.failures += 1;
                self.next_start = finished + retry_ms;
                tick.failed_at = Some(at);
            } else {
                self.next_start = self.next_start.max(finished);
                tick.published_at = Some(at);
                self.published = Some(BatchView {
                    generation: job.generation,
                    cutoff: job.cutoff,
                    view,
                    events,
                });
            }
        }
        if self.background.is_none() && now >= self.next_start {
            let cutoff = log_end_offsets(log, &self.topic)?;
            // Nothing new to compute: the published view already covers the log with this
            // code, and no failure is waiting for a job to hit. Skipping the run (as an
            // incremental scheduler would) is what lets the layer settle once the producers
            // stop, even when a job takes longer than the interval.
            if self.nothing_new(&cutoff) {
                self.next_start = now + self.cfg.interval_ms;
                return Ok(tick);
            }
            self.redeployed = false;
            self.jobs_run += 1;
            let generation = self.jobs_run;
            let (tx, rx) = std::sync::mpsc::channel();
            let (compute, queries, topic) =
                (self.compute.clone(), self.queries.clone(), self.topic.clone());
            let job_cutoff = cutoff.clone();
            rayon::spawn(move || {
                let result = compute.compute(&shared, &topic, &job_cutoff, &queries);
                let finished = shared.clock().now_ms();
                // The layer may be gone (the run ended): then nobody needs the view.
                let _ = tx.send(result.map(|(view, events)| (view, events, finished)));
            });
            tick.started = Some((generation, cutoff.clone()));
            self.background = Some(Background { generation, cutoff, started_at: now, done: rx });
            self.next_start = now + self.cfg.interval_ms;
        }
        Ok(tick)
    }

    /// Whether a job up to `cutoff` would compute nothing new: the published view already
    /// covers it with this code, and no failure is waiting for a job to hit.
    fn nothing_new(&self, cutoff: &[Offset]) -> bool {
        self.published.as_ref().is_some_and(|v| v.cutoff == cutoff)
            && !self.redeployed
            && self.fail_next.is_none()
    }

    /// The last published view.
    pub fn published(&self) -> Option<&BatchView> {
        self.published.as_ref()
    }

    /// Whether the published view covers the whole log and no job is running.
    pub fn caught_up(&self, log: &Log) -> Result<bool, ArchError> {
        let Some(view) = &self.published else { return Ok(false) };
        Ok(self.running.is_none()
            && self.background.is_none()
            && self.fail_next.is_none()
            && view.cutoff == log_end_offsets(log, &self.topic)?)
    }

    /// Batch jobs started so far.
    pub fn jobs_run(&self) -> u64 {
        self.jobs_run
    }

    /// Deploys a new version of the batch code: jobs started from now on use it (a job already
    /// running finishes with the old one, as a running Spark job would).
    pub fn set_compute(&mut self, compute: Arc<dyn BatchCompute>, queries: Arc<QuerySet>) {
        self.compute = compute;
        self.queries = queries;
        self.redeployed = true;
    }

    /// The job running now, or the next to start, will fail; it is retried `retry_ms` later.
    pub fn fail_next(&mut self, retry_ms: i64) {
        self.fail_next = Some(retry_ms);
    }

    /// Batch jobs that failed.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Simulated ms spent in batch jobs so far.
    pub fn busy_ms(&self) -> i64 {
        self.busy_ms
    }

    /// Events read by all jobs so far.
    pub fn events_read(&self) -> u64 {
        self.events_read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{FsyncPolicy, LogConfig, ManualClock, Record};

    /// A walk that starts below the log start — retention deleted those records while a
    /// recompute was on its way to them — reads on from the start instead of failing, and
    /// visits every record the log still holds, once.
    #[test]
    fn a_walk_overtaken_by_retention_reads_on_from_the_log_start() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let config = LogConfig {
            fsync: FsyncPolicy::Never,
            segment_bytes: 400,
            retention_ms: Some(1_000),
            ..LogConfig::default()
        };
        let mut log = Log::open(dir.path(), config, clock.clone()).unwrap();
        log.create_topic("t", 1).unwrap();
        let partition = log.topic("t").unwrap().partition(0).unwrap();
        for i in 0..60 {
            partition.append(&[Record::new(vec![i as u8; 20], i)]).unwrap();
            clock.advance(100);
        }
        log.enforce_retention().unwrap();
        let partition = log.topic("t").unwrap().partition(0).unwrap();
        let start = partition.log_start_offset();
        assert!(start > 0, "retention deleted nothing");
        let mut seen = Vec::new();
        let end = visit_records(partition, 0, 0, 60, |r| {
            seen.push(r.offset);
            Ok(())
        })
        .unwrap();
        assert_eq!(end, 60);
        assert_eq!(seen, (start..60).collect::<Vec<_>>());
    }
}
