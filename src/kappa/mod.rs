//! Kappa: stream processing only. One job reads the log and maintains the served table.
//!
//! **Reprocessing** is Kappa's answer to "the logic changed" or "the results are wrong": start a
//! second job from the beginning of the retained log (or from a timestamp, through the time
//! index) into a *new* table, keep serving the old table until the new job has caught up with
//! the head of the log, then switch atomically and drop the old table. The cost is reading the
//! log again and holding two tables for a while; both are measured.

use std::sync::Arc;

use crate::arch::{ArchError, Timing};
use crate::log::{Log, Offset, StartPosition, TimestampMs};
use crate::query::{LiveChanges, LiveView, Pruning, QuerySet, Table, TrackedTable, View};
use crate::scenario::Speed;
use crate::speed::{StreamCompute, StreamJob};

/// A stream job and the table it maintains.
#[derive(Debug)]
struct Version {
    job: StreamJob,
    view: LiveView,
    started_at: TimestampMs,
    /// Events counted but not yet served (only for a reprocessing job, until its switch).
    unserved: Vec<(u32, Offset)>,
    /// Events dropped as late but not yet reported (only for a reprocessing job: its drops
    /// concern the served answers from its switch on).
    unserved_dropped: Vec<(u32, Offset)>,
}

/// What one version's tick made visible and dropped: (at, partition, offset) each.
type Shown = (Vec<(TimestampMs, u32, Offset)>, Vec<(TimestampMs, u32, Offset)>);

impl Version {
    fn tick(&mut self, now: TimestampMs, log: &Log, serving: bool) -> Result<Shown, ArchError> {
        let (mut shown, mut dropped) = (Vec::new(), Vec::new());
        for processed in self.job.tick(now, log)? {
            for (_, _, cell, agg) in processed.counted {
                self.view.merge(cell, agg);
            }
            for (p, offsets) in processed.counted_events.iter().enumerate() {
                for &offset in offsets {
                    if serving {
                        shown.push((processed.visible_at, p as u32, offset));
                    } else {
                        self.unserved.push((p as u32, offset));
                    }
                }
            }
            // Kappa has no later layer: a late event is out of this table for good.
            for late in &processed.late {
                if serving {
                    dropped.push((processed.visible_at, late.partition, late.offset));
                } else {
                    self.unserved_dropped.push((late.partition, late.offset));
                }
            }
        }
        Ok((shown, dropped))
    }
}

/// What happened in one tick.
#[derive(Debug, Default)]
pub struct KappaTick {
    /// Events that became visible: (visible at, partition, offset).
    pub shown: Vec<(TimestampMs, u32, Offset)>,
    /// Events the served table will never count (dropped as late): (at, partition, offset).
    pub dropped: Vec<(TimestampMs, u32, Offset)>,
    /// A reprocessing job switched in after this many ms.
    pub switched_after_ms: Option<i64>,
}

/// The live job, and the reprocessing job while there is one.
#[derive(Debug)]
pub struct Kappa {
    topic: String,
    queries: Arc<QuerySet>,
    cfg: Speed,
    live: Version,
    next: Option<Version>,
    /// Events read by jobs that were switched out (their counters would be lost otherwise).
    retired_events_read: u64,
    retired_busy_ms: i64,
    retired_crashes: u64,
    retired_reprocessed: u64,
    retired_skipped: u64,
    /// Job versions started so far (names their consumer groups).
    versions: u64,
    /// How jobs time their results; with measured time the reprocessing job runs alongside the
    /// live one on the rayon pool.
    timing: Timing,
    /// A new table was switched in since the served table was last updated
    /// ([`Kappa::update_served`]).
    switched: bool,
    /// Answer retention: when the tables drop their expired windows.
    pruning: Pruning,
}

impl Kappa {
    /// A live job reading `topic` from the beginning with `compute`.
    pub fn new(
        log: &Log,
        topic: &str,
        compute: Arc<dyn StreamCompute>,
        queries: Arc<QuerySet>,
        cfg: &Speed,
        now: TimestampMs,
    ) -> Result<Self, ArchError> {
        let job = StreamJob::new(
            log,
            topic,
            "kappa.v1",
            StartPosition::Earliest,
            compute,
            queries.clone(),
            cfg,
            now,
        )?;
        Ok(Kappa {
            topic: topic.to_owned(),
            queries,
            cfg: cfg.clone(),
            live: Version {
                job,
                view: LiveView::new(),
                started_at: now,
                unserved: Vec::new(),
                unserved_dropped: Vec::new(),
            },
            next: None,
            retired_events_read: 0,
            retired_busy_ms: 0,
            retired_crashes: 0,
            retired_reprocessed: 0,
            retired_skipped: 0,
            versions: 1,
            timing: Timing::CostModel,
            switched: true,
            pruning: Pruning::default(),
        })
    }

    /// Times every job, this one and later versions, by `timing` (the cost model by default).
    pub fn set_timing(&mut self, timing: Timing) {
        self.live.job.set_timing(&timing);
        if let Some(next) = &mut self.next {
            next.job.set_timing(&timing);
        }
        self.timing = timing;
    }

    /// Starts a reprocessing job with `compute` (a new logic version, or the same one) from
    /// `start`. A reprocessing already running is abandoned: the newest request wins.
    pub fn start_reprocessing(
        &mut self,
        log: &Log,
        compute: Arc<dyn StreamCompute>,
        start: StartPosition,
        now: TimestampMs,
    ) -> Result<(), ArchError> {
        // Each job version has its own consumer group, as a redeployed Kafka Streams app
        // would have a new application id.
        self.versions += 1;
        let group = format!("kappa.v{}", self.versions);
        if let Some(old) = self.next.take() {
            self.retired_events_read += old.job.events_read();
            self.retired_busy_ms += old.job.busy_ms();
            self.retired_skipped += old.job.records_skipped();
        }
        let mut job = StreamJob::new(
            log,
            &self.topic,
            &group,
            start,
            compute,
            self.queries.clone(),
            &self.cfg,
            now,
        )?;
        job.set_timing(&self.timing);
        self.next = Some(Version {
            job,
            view: LiveView::new(),
            started_at: now,
            unserved: Vec::new(),
            unserved_dropped: Vec::new(),
        });
        Ok(())
    }

    /// The queries new job versions run (a logic change sets them before reprocessing).
    pub fn set_queries(&mut self, queries: Arc<QuerySet>) {
        self.queries = queries;
    }

    /// Advances both jobs; switches to the reprocessing job once it has caught up.
    pub fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<KappaTick, ArchError> {
        let ((shown, dropped), next_ticked) = match &mut self.next {
            // Measured time: the replay runs on the rayon pool alongside the live job, so a
            // long catch-up poll does not hold up the live job's poll of the tail.
            Some(next) if self.timing.is_measured() => {
                let (live, next) =
                    rayon::join(|| self.live.tick(now, log, true), || next.tick(now, log, false));
                (live?, Some(next?))
            }
            _ => (self.live.tick(now, log, true)?, None),
        };
        let mut tick = KappaTick { shown, dropped, switched_after_ms: None };
        if let Some(next) = &mut self.next {
            if next_ticked.is_none() {
                next.tick(now, log, false)?;
            }
            // Caught up = its visible results cover at least what the live table covers, in
            // every partition. (Waiting for the log's head would never end while producers
            // append: both jobs always trail it by up to a poll.)
            let covered =
                next.job.committed().iter().zip(self.live.job.committed()).all(|(n, l)| n >= l);
            if covered || next.job.caught_up(log)? {
                let Some(mut next) = self.next.take() else { return Ok(tick) };
                // The switch is atomic: from now on the new table is served, the old dropped.
                tick.shown.extend(next.unserved.drain(..).map(|(p, o)| (now, p, o)));
                tick.dropped.extend(next.unserved_dropped.drain(..).map(|(p, o)| (now, p, o)));
                tick.switched_after_ms = Some(now - next.started_at);
                let old = std::mem::replace(&mut self.live, next);
                self.switched = true;
                self.retired_events_read += old.job.events_read();
                self.retired_busy_ms += old.job.busy_ms();
                self.retired_crashes += old.job.crashes();
                self.retired_reprocessed += old.job.events_reprocessed();
                self.retired_skipped += old.job.records_skipped();
            }
        }
        // Answer retention: both tables forget expired windows (a replay re-creates old
        // windows as it goes; they leave again at the next pass).
        if let Some(through) = self.pruning.due(&self.queries, now) {
            self.live.view.expire(&self.queries, through);
            if let Some(next) = &mut self.next {
                next.view.expire(&self.queries, through);
            }
        }
        Ok(tick)
    }

    /// The served table's states, ordered (built from the live job's hash-map state).
    pub fn view(&self) -> View {
        self.live.view.to_view(self.live.job.keys())
    }

    /// The served table: the live view's numbers (what a user sees).
    pub fn table(&self) -> Table {
        self.live.view.present(self.live.job.keys())
    }

    /// Brings `served` — the table this method was given at every previous call — up to
    /// [`Kappa::table`], from the cells the live job changed since the previous call (the
    /// whole table after a switch or a crash that lost the state).
    pub fn update_served(&mut self, served: &mut TrackedTable) {
        let changes = if std::mem::take(&mut self.switched) {
            self.live.view.track_changes();
            self.live.view.take_changes();
            LiveChanges::All
        } else {
            self.live.view.take_changes()
        };
        match changes {
            LiveChanges::All => served.replace(self.table()),
            LiveChanges::Cells(ids) => {
                let keys = self.live.job.keys();
                for id in ids {
                    let cell = id.cell(keys);
                    match self.live.view.get(&id) {
                        Some(agg) => served.set_owned(cell, agg.present()),
                        None => served.set(&cell, None),
                    }
                }
            }
        }
    }

    /// Cells held now (both tables during reprocessing).
    pub fn cells(&self) -> usize {
        self.live.view.len() + self.next.as_ref().map_or(0, |n| n.view.len())
    }

    /// Whether a reprocessing job is running.
    pub fn reprocessing(&self) -> bool {
        self.next.is_some()
    }

    /// Whether the live job has read and shown everything and no reprocessing is pending.
    pub fn caught_up(&self, log: &Log) -> Result<bool, ArchError> {
        Ok(self.next.is_none() && self.live.job.caught_up(log)?)
    }

    /// Events read by every job so far.
    pub fn events_read(&self) -> u64 {
        self.retired_events_read
            + self.live.job.events_read()
            + self.next.as_ref().map_or(0, |n| n.job.events_read())
    }

    /// Every job crashes at `now` and restarts `down_ms` later from its committed offsets; with
    /// `restore_state` false its table restarts empty (no state store to restore from).
    pub fn crash(&mut self, now: TimestampMs, down_ms: i64, restore_state: bool) {
        for version in std::iter::once(&mut self.live).chain(self.next.as_mut()) {
            version.job.crash(now, down_ms);
            if !restore_state {
                version.view.clear();
            }
        }
    }

    /// Crashes of every job so far.
    pub fn crashes(&self) -> u64 {
        self.retired_crashes
            + self.live.job.crashes()
            + self.next.as_ref().map_or(0, |n| n.job.crashes())
    }

    /// Events read again after crashes.
    pub fn events_reprocessed(&self) -> u64 {
        self.retired_reprocessed
            + self.live.job.events_reprocessed()
            + self.next.as_ref().map_or(0, |n| n.job.events_reprocessed())
    }

    /// Records retention deleted before a job read them, every job so far.
    pub fn records_skipped(&self) -> u64 {
        self.retired_skipped
            + self.live.job.records_skipped()
            + self.next.as_ref().map_or(0, |n| n.job.records_skipped())
    }

    /// Simulated ms every job spent processing so far.
    pub fn busy_ms(&self) -> i64 {
        self.retired_busy_ms
            + self.live.job.busy_ms()
            + self.next.as_ref().map_or(0, |n| n.job.busy_ms())
    }

    /// Late events found by the live job (the served table's).
    pub fn late_events(&self) -> u64 {
        self.live.job.late_events()
    }

    /// Side-output events of the live job.
    pub fn side_output_events(&self) -> u64 {
        self.live.job.side_output().len() as u64
    }
}
