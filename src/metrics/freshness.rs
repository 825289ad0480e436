//! Freshness and staleness: when each event first became visible in an architecture's served
//! answers, and what that means for the whole view at each sample.
//!
//! - **freshness** of an event: first visible − event time. Summarised as exact nearest-rank
//!   percentiles of every visible event ([`Histogram`]); events never visible are counted.
//! - **staleness** at a sample time t: t minus the newest event time the view reflects
//!   *completely* (every event appended by t with an event time at or before it is visible,
//!   or dropped for good by the architecture by t: [`Visibility::dropped`]). A dropped event
//!   makes the answers wrong, which the correctness figures measure; counting it as "not yet
//!   reflected" would instead hold staleness at that event's time for the rest of the run, and
//!   read as lag.
//!
//! **Memory.** A run produces millions of events; the tracker must not hold one entry per
//! event per architecture, nor the oracle one time per record. The tracker is told each
//! record's event and append time once, as the oracle reads it, and computes each sample's
//! staleness as soon as no later report can change it (see [`FreshnessTracker`]); every event
//! visible by then is folded into an exact histogram of freshness values ([`Histogram`]: few
//! distinct values, as visibility comes in ticks) and forgotten. What it holds is what is in
//! flight: first-visible times of offsets not yet appended by the last sample, kept as runs of
//! consecutive offsets shown at the same moment (an architecture shows events in bulk: a poll
//! the offsets it read, a batch job a whole prefix), and the events appended but not yet
//! visible (24 bytes each, in one buffer per partition) — a batch interval's for the batch
//! lake, a poll's for kappa, plus events never shown (dropped as late: held in case a
//! reprocessing job shows them after all, but no longer holding staleness back).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::arch::Visibility;
use crate::log::{Offset, TimestampMs};

use super::Percentiles;

/// First visible: never.
const NEVER: TimestampMs = TimestampMs::MAX;

/// The first-visible times of one partition's offsets `0..len`, as runs: the run starting at
/// `start` covers offsets up to the next run's start (or `len`). Offsets never shown hold
/// [`NEVER`]; adjacent runs always differ.
#[derive(Debug, Default, Clone, PartialEq)]
struct VisibleRuns {
    runs: BTreeMap<Offset, TimestampMs>,
    len: Offset,
}

impl VisibleRuns {
    /// The time at `offset` (`NEVER` beyond the end).
    fn at(&self, offset: Offset) -> TimestampMs {
        if offset >= self.len {
            return NEVER;
        }
        self.runs.range(..=offset).next_back().map_or(NEVER, |(_, &t)| t)
    }

    /// Starts a run at `offset` (inside `0..len`) holding the time that covers it now.
    fn split(&mut self, offset: Offset) {
        if offset < self.len && !self.runs.contains_key(&offset) {
            let t = self.at(offset);
            self.runs.insert(offset, t);
        }
    }

    /// Offsets `from..to` became visible at `at`: each keeps the earlier of its time and `at`.
    fn min_assign(&mut self, from: Offset, to: Offset, at: TimestampMs) {
        if from >= to {
            return;
        }
        let last = self.runs.last_key_value().map(|(_, &t)| t);
        if from == self.len {
            // The common case: the next offsets, in order (a poll, a batch job's prefix).
            if last != Some(at) {
                self.runs.insert(from, at);
            }
            self.len = to;
            return;
        }
        if to > self.len {
            // Offsets beyond the end start as never shown.
            if last != Some(NEVER) {
                self.runs.insert(self.len, NEVER);
            }
            self.len = to;
        }
        self.split(from);
        self.split(to);
        let starts: Vec<Offset> = self.runs.range(from..to).map(|(&s, _)| s).collect();
        for start in &starts {
            if let Some(t) = self.runs.get_mut(start) {
                *t = (*t).min(at);
            }
        }
        // Merge equal neighbours from the run before `from` to the run at `to`.
        let before = self.runs.range(..from).next_back().map(|(&s, _)| s);
        let keys: Vec<Offset> =
            before.into_iter().chain(starts).chain(self.runs.get(&to).map(|_| to)).collect();
        let mut kept: Option<Offset> = None;
        for key in keys {
            match kept {
                Some(k) if self.runs.get(&k) == self.runs.get(&key) => {
                    self.runs.remove(&key);
                }
                _ => kept = Some(key),
            }
        }
    }

    /// Forgets the times of offsets below `offset` (keeping the run that covers it).
    fn trim_below(&mut self, offset: Offset) {
        if offset >= self.len {
            self.runs.clear();
            self.len = offset;
            return;
        }
        self.split(offset);
        self.runs = self.runs.split_off(&offset);
    }

    /// The runs clipped to offsets `0..n`, as `(from, to, time)` in offset order, with the
    /// offsets from `len` to `n` as one never-shown run.
    #[cfg(test)]
    fn spans(&self, n: Offset) -> impl Iterator<Item = (Offset, Offset, TimestampMs)> + '_ {
        let mut starts = self.runs.iter().peekable();
        let end = self.len.min(n);
        let shown = std::iter::from_fn(move || {
            let (&from, &t) = starts.next()?;
            let to = starts.peek().map_or(end, |&(&next, _)| next.min(end));
            (from < end).then_some((from, to, t))
        });
        shown.chain((end < n).then_some((end, n, NEVER)))
    }
}

/// An exact distribution of integer values: each distinct value and how often it occurred.
/// Freshness values come in ticks and polls, so a run of millions of events has a few
/// thousand distinct values; percentiles from it equal those of the sorted list of values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: BTreeMap<i64, u64>,
    total: u64,
}

impl Histogram {
    /// Adds `n` occurrences of `value`.
    pub fn add(&mut self, value: i64, n: u64) {
        if n > 0 {
            *self.counts.entry(value).or_insert(0) += n;
            self.total += n;
        }
    }

    /// Values held (with repetitions).
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Nearest-rank percentiles, the same as [`super::percentiles`] of the list of values.
    pub fn percentiles(&self) -> Percentiles {
        let Some((&max, _)) = self.counts.last_key_value() else {
            return Percentiles::default();
        };
        let n = self.total;
        let rank = |q: f64| -> i64 {
            // The 1-based rank `ceil(q n)`, clamped to 1..=n, as in `percentiles`.
            let r = ((q * n as f64).ceil() as u64).clamp(1, n);
            let mut seen = 0;
            for (&v, &c) in &self.counts {
                seen += c;
                if seen >= r {
                    return v;
                }
            }
            max
        };
        // The exact sum: the same value `percentiles` gets by adding the values as f64 in
        // ascending order, whose partial sums are exact integers below 2^53.
        let sum: i128 = self.counts.iter().map(|(&v, &c)| i128::from(v) * i128::from(c)).sum();
        let mean = sum as f64 / n as f64;
        Percentiles {
            p50: rank(0.50),
            p99: rank(0.99),
            max,
            mean: (mean * 10.0).round() / 10.0,
            count: n,
        }
    }
}

/// An event the tracker still holds: appended by the last computed sample, not visible then.
#[derive(Debug, Clone, Copy)]
struct Held {
    offset: Offset,
    event_time: TimestampMs,
    /// First visible so far (`NEVER`: not yet).
    visible: TimestampMs,
}

/// One partition's held events in offset order, in fixed-size chunks: 24 bytes an event. A
/// batch layer's events wait here from their append to the next view it publishes, so a large
/// simulated run holds millions (in `batch-lake`, every event since the last job's cut-off);
/// until session 7 they were entries of two ordered maps, about 100 bytes an event, and the
/// largest term of a 10M-event run's peak memory that grew faster than the run. Chunks, not
/// one growing buffer, so that holding `n` events never reserves room for `2n` nor copies
/// them all to grow, and a chunk is freed as soon as its events are folded.
#[derive(Debug, Clone)]
struct HeldEvents {
    /// Each chunk ascending, every offset below the next chunk's; none empty.
    chunks: VecDeque<Vec<Held>>,
    /// No held event is visible before this (a lower bound): a sample before it folds none.
    earliest_visible: TimestampMs,
}

/// Events in a chunk of [`HeldEvents`] (24 KiB); 4 in unit tests, so that their few events
/// span many chunks.
const HELD_CHUNK: usize = if cfg!(test) { 4 } else { 1024 };

impl Default for HeldEvents {
    fn default() -> Self {
        HeldEvents { chunks: VecDeque::new(), earliest_visible: NEVER }
    }
}

impl HeldEvents {
    /// Events held.
    fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    /// Every event held, in offset order.
    fn iter(&self) -> impl Iterator<Item = &Held> {
        self.chunks.iter().flatten()
    }

    /// The first chunk whose last offset is at or above `offset` (`chunks.len()` if none).
    fn chunk_of(&self, offset: Offset) -> usize {
        self.chunks.partition_point(|c| c.last().is_some_and(|h| h.offset < offset))
    }

    /// The held event at `offset`, if held.
    fn get(&self, offset: Offset) -> Option<&Held> {
        let chunk = self.chunks.get(self.chunk_of(offset))?;
        let at = chunk.binary_search_by_key(&offset, |h| h.offset).ok()?;
        chunk.get(at)
    }

    /// Holds `held` (offsets come in order, but for records whose append times stepped back).
    fn insert(&mut self, held: Held) {
        self.earliest_visible = self.earliest_visible.min(held.visible);
        let c = self.chunk_of(held.offset);
        if let Some(chunk) = self.chunks.get_mut(c) {
            // Out of order: into the chunk holding the offsets around it (it may outgrow
            // its capacity; this is rare).
            let at = chunk.partition_point(|h| h.offset < held.offset);
            chunk.insert(at, held);
            return;
        }
        // Every chunk is allocated whole, at one size: chunks grown by doubling spread over
        // a dozen allocator size classes, and each class's pages stayed resident (+10 MiB
        // committed on the 60k-event `ysb` scenario).
        match self.chunks.back_mut() {
            Some(last) if last.len() < last.capacity() => last.push(held),
            _ => {
                let mut chunk = Vec::with_capacity(HELD_CHUNK);
                chunk.push(held);
                self.chunks.push_back(chunk);
            }
        }
    }

    /// Offsets `from..to` became visible at `at`: each held one keeps the earlier time.
    fn show(&mut self, from: Offset, to: Offset, at: TimestampMs) {
        let first = self.chunk_of(from);
        let mut touched = false;
        'chunks: for chunk in self.chunks.range_mut(first..) {
            let start = chunk.partition_point(|h| h.offset < from);
            for h in &mut chunk[start..] {
                if h.offset >= to {
                    break 'chunks;
                }
                h.visible = h.visible.min(at);
                touched = true;
            }
        }
        if touched {
            self.earliest_visible = self.earliest_visible.min(at);
        }
    }

    /// Lets go of every event visible by `t`, handing each to `fold`.
    fn release_visible(&mut self, t: TimestampMs, mut fold: impl FnMut(&Held)) {
        if self.earliest_visible > t {
            return;
        }
        let mut earliest = NEVER;
        for chunk in &mut self.chunks {
            chunk.retain(|h| {
                if h.visible <= t {
                    fold(h);
                    false
                } else {
                    earliest = earliest.min(h.visible);
                    true
                }
            });
            // A chunk left mostly empty (events never shown among shown ones) keeps only
            // what it holds; it then takes no new events.
            if chunk.len() < chunk.capacity() / 4 {
                chunk.shrink_to_fit();
            }
        }
        self.chunks.retain(|c| !c.is_empty());
        self.earliest_visible = earliest;
    }
}

/// Takes one event at `event_time` out of the count of unreflected event times.
fn forget_one(unreflected: &mut BTreeMap<TimestampMs, u64>, event_time: TimestampMs) {
    if let Some(n) = unreflected.get_mut(&event_time) {
        *n -= 1;
        if *n == 0 {
            unreflected.remove(&event_time);
        }
    }
}

/// Freshness and staleness of one architecture, computed as the run goes (see the module
/// documentation). The driver tells it four things:
///
/// - [`FreshnessTracker::record`]: what the architecture reported visible (any time);
/// - [`FreshnessTracker::appended`]: each record's event and append time, per partition in
///   offset order, once the oracle has read it — by each sample, every record appended by the
///   sample's time;
/// - [`FreshnessTracker::sample`]: a sample time (non-decreasing);
/// - [`FreshnessTracker::advance`]: every report with a time at or before `horizon` has been
///   recorded — later reports all say later times. The simulated driver's layers report at or
///   after the previous tick; the realtime driver's at or after the moment they are asked.
///
/// Samples up to the horizon are then final and computed; events visible by the last computed
/// sample are folded into the freshness histogram and forgotten. What stays is what is in
/// flight: events appended since the last sample, and events not yet visible (a batch view's
/// interval, or events dropped as late, which stay not visible for good).
#[derive(Debug, Default)]
pub struct FreshnessTracker {
    /// First-visible times of offsets not yet folded nor appended by the last sample, from
    /// `trimmed[p]` on (earlier offsets are in `held` or folded).
    runs: Vec<VisibleRuns>,
    trimmed: Vec<Offset>,
    /// Per partition, every offset below this has been set by a prefix report.
    prefix_done: Vec<Offset>,
    /// Per partition, records read but not yet appended by the last computed sample:
    /// `(offset, event time, append time)`.
    fresh: Vec<Vec<(Offset, TimestampMs, TimestampMs)>>,
    /// Per partition, the next offset [`FreshnessTracker::appended`] gives.
    fed: Vec<Offset>,
    /// Per partition, events appended by the last computed sample and not visible then.
    held: Vec<HeldEvents>,
    /// Event times of `held` but for the settled ones, counted: the oldest one holds
    /// staleness back.
    unreflected: BTreeMap<TimestampMs, u64>,
    /// Per partition, drop reports ([`Visibility::dropped`]) not yet applied: offset → the
    /// earliest time it was reported dropped. Applied at the first sample at or after that
    /// time once the record is appended by it.
    dropped: Vec<BTreeMap<Offset, TimestampMs>>,
    /// Per partition, held offsets that are settled (dropped and not visible): their event
    /// times are out of `unreflected`. Dropped events are few (later than a window's allowed
    /// lateness), so a set is small.
    settled: Vec<BTreeSet<Offset>>,
    /// The newest event time of any event appended by the last computed sample.
    newest_appended: Option<TimestampMs>,
    /// Sample times not yet computed.
    pending_samples: std::collections::VecDeque<TimestampMs>,
    /// Every report up to this time has been recorded.
    horizon: TimestampMs,
    /// The last computed sample (reports at or before it would rewrite history).
    computed_to: TimestampMs,
    /// Reports that came at or before `computed_to`, counted as visible just after it.
    late_reports: u64,
    staleness: Vec<(TimestampMs, Option<i64>)>,
    freshness: Histogram,
    never_visible: u64,
}

/// What a [`FreshnessTracker`] found over a run.
#[derive(Debug, Clone, PartialEq)]
pub struct FreshnessSummary {
    /// Freshness of every event that became visible (visible − event time, ms).
    pub freshness: Histogram,
    /// Events never visible.
    pub never_visible: u64,
    /// Staleness at each sample time (`None` before the first event).
    pub staleness: Vec<(TimestampMs, Option<i64>)>,
}

impl FreshnessTracker {
    /// A tracker for `partitions` partitions.
    pub fn new(partitions: usize) -> Self {
        FreshnessTracker {
            runs: vec![VisibleRuns::default(); partitions],
            trimmed: vec![0; partitions],
            prefix_done: vec![0; partitions],
            fresh: vec![Vec::new(); partitions],
            held: vec![HeldEvents::default(); partitions],
            dropped: vec![BTreeMap::new(); partitions],
            settled: vec![BTreeSet::new(); partitions],
            fed: vec![0; partitions],
            horizon: TimestampMs::MIN,
            computed_to: TimestampMs::MIN,
            ..FreshnessTracker::default()
        }
    }

    /// Records what an architecture reported as visible.
    pub fn record(&mut self, visibility: &Visibility) {
        for &(at, p, offset) in &visibility.events {
            let at = self.not_before_computed(at);
            self.show(p as usize, offset, offset + 1, at);
        }
        for &(at, p, offset) in &visibility.dropped {
            let at = self.not_before_computed(at);
            if let Some(dropped) = self.dropped.get_mut(p as usize) {
                let t = dropped.entry(offset).or_insert(at);
                *t = (*t).min(at);
            }
        }
        for (at, ends) in &visibility.prefixes {
            let at = self.not_before_computed(*at);
            for (p, &end) in ends.iter().enumerate() {
                let from = self.prefix_done.get(p).copied().unwrap_or(0);
                self.show(p, from, end, at);
                if let Some(done) = self.prefix_done.get_mut(p) {
                    *done = (*done).max(end);
                }
            }
        }
    }

    /// A report's time, moved after the last computed sample if it came too late to be
    /// counted where it says (never, by the drivers' contract; counted, and a test fails).
    fn not_before_computed(&mut self, at: TimestampMs) -> TimestampMs {
        if at <= self.computed_to {
            self.late_reports += 1;
            debug_assert!(false, "a report at {at} came after the sample at {}", self.computed_to);
            return self.computed_to + 1;
        }
        at
    }

    /// Offsets `from..to` of partition `p` became visible at `at`.
    fn show(&mut self, p: usize, from: Offset, to: Offset, at: TimestampMs) {
        let Some(trimmed) = self.trimmed.get(p).copied() else { return };
        if from >= to {
            return;
        }
        // Held events are below `trimmed`, or above it when append times stepped back.
        if let Some(held) = self.held.get_mut(p) {
            held.show(from, to, at);
        }
        if let Some(runs) = self.runs.get_mut(p) {
            runs.min_assign(from.max(trimmed), to, at);
        }
    }

    /// The record at `offset` of partition `p` (given in offset order): its event and append
    /// time.
    pub fn appended(
        &mut self,
        p: usize,
        offset: Offset,
        event_time: TimestampMs,
        append_time: TimestampMs,
    ) {
        if let (Some(fed), Some(fresh)) = (self.fed.get_mut(p), self.fresh.get_mut(p)) {
            fresh.push((offset, event_time, append_time));
            *fed = offset + 1;
        }
    }

    /// A sample at `t` (not before the previous one).
    pub fn sample(&mut self, t: TimestampMs) {
        self.pending_samples.push_back(t);
    }

    /// Every report at or before `horizon` has been recorded: computes the samples up to it.
    pub fn advance(&mut self, horizon: TimestampMs) {
        self.horizon = self.horizon.max(horizon);
        while let Some(&t) = self.pending_samples.front().filter(|&&t| t <= self.horizon) {
            self.pending_samples.pop_front();
            self.compute_sample(t);
        }
    }

    /// Staleness at `t`, with every report up to `t` recorded and every record appended by
    /// `t` given; then forgets what can no longer change a later figure.
    fn compute_sample(&mut self, t: TimestampMs) {
        for p in 0..self.fresh.len() {
            let fresh = std::mem::take(&mut self.fresh[p]);
            let mut kept = Vec::with_capacity(fresh.len());
            for (offset, event_time, appended) in fresh {
                if appended > t {
                    kept.push((offset, event_time, appended));
                    continue;
                }
                self.newest_appended =
                    Some(self.newest_appended.map_or(event_time, |n| n.max(event_time)));
                let visible = self.runs[p].at(offset);
                if visible <= t {
                    // Visible by now (final: later reports say later times): reflected at
                    // this sample and at every later one.
                    self.freshness.add(visible - event_time, 1);
                    continue;
                }
                self.held[p].insert(Held { offset, event_time, visible });
                if self.dropped[p].get(&offset).is_some_and(|&at| at <= t) {
                    self.dropped[p].remove(&offset);
                    self.settled[p].insert(offset);
                } else {
                    *self.unreflected.entry(event_time).or_insert(0) += 1;
                }
            }
            // Offsets below the first record not yet appended are held or folded: their runs
            // are no longer needed.
            let trim = kept.iter().map(|k| k.0).min().unwrap_or(self.fed[p]);
            self.fresh[p] = kept;
            if trim > self.trimmed[p] {
                self.runs[p].trim_below(trim);
                self.trimmed[p] = trim;
            }
            self.settle_dropped(p, t);
        }
        let (freshness, unreflected) = (&mut self.freshness, &mut self.unreflected);
        for (held, settled) in self.held.iter_mut().zip(&mut self.settled) {
            held.release_visible(t, |h| {
                freshness.add(h.visible - h.event_time, 1);
                // A settled event's time already left `unreflected` when it was dropped.
                if !settled.remove(&h.offset) {
                    forget_one(unreflected, h.event_time);
                }
            });
        }
        let reflected = match self.unreflected.keys().next() {
            Some(&oldest_missing) => Some(oldest_missing - 1),
            None => self.newest_appended,
        };
        self.staleness.push((t, reflected.map(|r| t - r)));
        self.computed_to = t;
    }

    /// Applies partition `p`'s drop reports up to `t` to the events it holds: a held event
    /// not yet visible no longer holds staleness back. Reports of records not appended by `t`
    /// wait; reports of events already visible (folded) are moot.
    fn settle_dropped(&mut self, p: usize, t: TimestampMs) {
        if self.dropped[p].is_empty() {
            return;
        }
        let pending = &self.fresh[p];
        let fed = self.fed[p];
        let (held, settled, unreflected) =
            (&mut self.held[p], &mut self.settled[p], &mut self.unreflected);
        self.dropped[p].retain(|&offset, &mut at| {
            if at > t || offset >= fed || pending.binary_search_by_key(&offset, |r| r.0).is_ok() {
                return true;
            }
            if let Some(h) = held.get(offset)
                && h.visible > t
                && settled.insert(offset)
            {
                forget_one(unreflected, h.event_time);
            }
            false
        });
    }

    /// Events held now (in flight or never visible); what the tracker's memory grows with.
    pub fn held(&self) -> usize {
        self.held.iter().map(HeldEvents::len).sum::<usize>()
            + self.fresh.iter().map(Vec::len).sum::<usize>()
            + self.runs.iter().map(|r| r.runs.len()).sum::<usize>()
    }

    /// Reports that came after a sample they should have counted in (0 unless a driver
    /// broke its contract).
    pub fn late_reports(&self) -> u64 {
        self.late_reports
    }

    /// The run is over: computes every remaining sample and takes every event's final time.
    pub fn finish(mut self) -> FreshnessSummary {
        self.advance(TimestampMs::MAX);
        for h in self.held.iter().flat_map(HeldEvents::iter) {
            if h.visible == NEVER {
                self.never_visible += 1;
            } else {
                self.freshness.add(h.visible - h.event_time, 1);
            }
        }
        for (p, fresh) in self.fresh.iter().enumerate() {
            for &(offset, event_time, _) in fresh {
                match self.runs[p].at(offset) {
                    NEVER => self.never_visible += 1,
                    visible => self.freshness.add(visible - event_time, 1),
                }
            }
        }
        FreshnessSummary {
            freshness: self.freshness,
            never_visible: self.never_visible,
            staleness: self.staleness,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tracker at the end of a run that recorded `reports`, then read every record, then
    /// sampled (the horizon contract holds trivially: nothing is computed before the end).
    fn at_end(
        reports: &[Visibility],
        event_times: &[Vec<TimestampMs>],
        append_times: &[Vec<TimestampMs>],
        samples: &[TimestampMs],
    ) -> FreshnessSummary {
        let mut t = FreshnessTracker::new(event_times.len());
        for r in reports {
            t.record(r);
        }
        for (p, (e, a)) in event_times.iter().zip(append_times).enumerate() {
            for (o, (&e, &a)) in e.iter().zip(a).enumerate() {
                t.appended(p, o as Offset, e, a);
            }
        }
        for &s in samples {
            t.sample(s);
        }
        t.finish()
    }

    fn staleness(s: &FreshnessSummary) -> Vec<Option<i64>> {
        s.staleness.iter().map(|x| x.1).collect()
    }

    #[test]
    fn staleness_is_held_back_by_the_oldest_unreflected_event() {
        // Three events (event times 100, 200, 300) appended at 1000, visible at 1500, 3000, 1500.
        let r = Visibility {
            events: vec![(1500, 0, 0), (3000, 0, 1), (1500, 0, 2)],
            prefixes: vec![],
            dropped: vec![],
        };
        let s = at_end(
            &[r],
            &[vec![100, 200, 300]],
            &[vec![1000, 1000, 1000]],
            &[500, 1000, 2000, 4000],
        );
        // 500: nothing appended. 1000: nothing visible, oldest missing 100 → reflected 99.
        // 2000: 200 still missing → reflected 199. 4000: all visible → reflected 300.
        assert_eq!(staleness(&s), vec![None, Some(901), Some(1801), Some(3700)]);
    }

    #[test]
    fn a_dropped_event_settles_staleness_but_is_never_visible() {
        // Event times 100, 200, 300 appended at 1000. Offset 1 is dropped at 1200 (a window
        // already closed), the others visible at 1500.
        let r = Visibility {
            events: vec![(1500, 0, 0), (1500, 0, 2)],
            prefixes: vec![],
            dropped: vec![(1200, 0, 1)],
        };
        let s =
            at_end(&[r], &[vec![100, 200, 300]], &[vec![1000, 1000, 1000]], &[1000, 1300, 2000]);
        // 1000: nothing visible → reflected 99. 1300: the drop settled offset 1, 100 still
        // missing → 99. 2000: all settled → 300 (without the drop report: 199 for ever).
        assert_eq!(staleness(&s), vec![Some(901), Some(1201), Some(1700)]);
        assert_eq!(s.never_visible, 1);
        assert_eq!(s.freshness.count(), 2);
    }

    #[test]
    fn a_drop_counts_from_its_time_even_for_an_event_held_since_earlier_samples() {
        // The tracker computes each sample as reports come (not all at the end): the event
        // is held unreflected at 1000 and 1500, dropped at 1800, then a newer one arrives.
        let mut t = FreshnessTracker::new(1);
        t.appended(0, 0, 100, 1000);
        for at in [1000, 1500] {
            t.sample(at);
            t.advance(at);
        }
        t.record(&Visibility { dropped: vec![(1800, 0, 0)], ..Visibility::default() });
        t.appended(0, 1, 1700, 1900);
        t.record(&Visibility { events: vec![(1950, 0, 1)], ..Visibility::default() });
        t.sample(2000);
        t.advance(2000);
        let s = t.finish();
        assert_eq!(staleness(&s), vec![Some(901), Some(1401), Some(300)]);
        assert_eq!((s.never_visible, s.freshness.count()), (1, 1));
    }

    #[test]
    fn an_event_dropped_then_shown_by_a_replay_is_visible_and_counted_once() {
        // Dropped at 1200 by the live table; a reprocessing job's switch shows it at 3000.
        let mut t = FreshnessTracker::new(1);
        t.appended(0, 0, 100, 1000);
        t.appended(0, 1, 150, 1000);
        t.record(&Visibility {
            events: vec![(1100, 0, 1)],
            dropped: vec![(1200, 0, 0)],
            ..Visibility::default()
        });
        t.sample(1000);
        t.sample(2000);
        t.advance(2000);
        t.record(&Visibility { events: vec![(3000, 0, 0)], ..Visibility::default() });
        t.sample(4000);
        let s = t.finish();
        // 1000: 100 missing → 99. 2000: settled → newest 150. 4000: still 150.
        assert_eq!(staleness(&s), vec![Some(901), Some(1850), Some(3850)]);
        assert_eq!(s.never_visible, 0);
        // Freshness of both: 1100 - 150 = 950 and 3000 - 100 = 2900.
        assert_eq!(s.freshness.percentiles().max, 2900);
        assert_eq!(s.freshness.count(), 2);
    }

    #[test]
    fn an_event_visible_the_millisecond_it_is_appended_is_reflected() {
        // Event time 100, appended at 1000 and visible at 1000 (a realtime poll that ran in
        // the same millisecond); a second one visible a little later.
        let r = Visibility {
            events: vec![(1000, 0, 0), (1200, 0, 1)],
            prefixes: vec![],
            dropped: vec![],
        };
        let s = at_end(&[r], &[vec![100, 150]], &[vec![1000, 1100]], &[1000, 1500]);
        // At 1500 both are reflected: newest event time 150. (Before the fix the first stayed
        // "unreflected" for ever and held staleness at 1500 - 99.)
        assert_eq!(staleness(&s), vec![Some(900), Some(1350)]);
    }

    #[test]
    fn freshness_takes_the_earliest_report() {
        let reports = [
            Visibility {
                events: vec![(500, 0, 1)],
                prefixes: vec![(900, vec![3])],
                dropped: vec![],
            },
            Visibility { events: vec![(800, 0, 2)], ..Visibility::default() },
        ];
        let s = at_end(&reports, &[vec![100; 4]], &[vec![50; 4]], &[]);
        let mut want = Histogram::default();
        for v in [800, 400, 700] {
            want.add(v, 1);
        }
        assert_eq!((s.freshness, s.never_visible), (want, 1));
    }

    #[test]
    fn a_long_run_holds_only_what_is_in_flight() {
        // 100 events a second for 1,000 s, each visible 2 s after its append, sampled every
        // second; one event in a thousand never shows.
        let mut t = FreshnessTracker::new(1);
        let mut most_held = 0;
        let mut offset = 0;
        for second in 1..=1_000i64 {
            let now = second * 1000;
            let shown: Vec<(TimestampMs, u32, Offset)> = (offset..offset + 100)
                .filter(|o| o % 1000 != 7)
                .map(|o| (now + 2000, 0, o))
                .collect();
            t.record(&Visibility { events: shown, ..Visibility::default() });
            for i in 0..100 {
                t.appended(0, offset + i, now - 10, now);
            }
            offset += 100;
            t.sample(now);
            t.advance(now);
            most_held = most_held.max(t.held());
        }
        // In flight: two seconds of events, plus the one-in-a-thousand never shown.
        assert!(most_held < 400, "held {most_held} events");
        let s = t.finish();
        assert_eq!(s.never_visible, 100);
        assert_eq!(s.freshness.count(), 99_900);
        assert_eq!(s.freshness.percentiles().max, 2010);
    }

    /// The definitions, one time per event, as the tracker computed them before it kept runs:
    /// first-visible times per offset, freshness values, and the sweep over every append and
    /// every visibility as a sorted list of changes.
    mod reference {
        use super::*;

        pub fn first_visible(reports: &[Visibility], partitions: usize) -> Vec<Vec<TimestampMs>> {
            let mut v: Vec<Vec<TimestampMs>> = vec![Vec::new(); partitions];
            let mut done = vec![0; partitions];
            let set = |v: &mut Vec<Vec<TimestampMs>>, p: usize, o: Offset, at| {
                if v[p].len() <= o as usize {
                    v[p].resize(o as usize + 1, NEVER);
                }
                v[p][o as usize] = v[p][o as usize].min(at);
            };
            for r in reports {
                for &(at, p, o) in &r.events {
                    set(&mut v, p as usize, o, at);
                }
                for (at, ends) in &r.prefixes {
                    for (p, &end) in ends.iter().enumerate() {
                        for o in done[p]..end {
                            set(&mut v, p, o, *at);
                        }
                        done[p] = done[p].max(end);
                    }
                }
            }
            v
        }

        /// Per event, the earliest time it was reported dropped (`NEVER`: not dropped).
        pub fn first_dropped(reports: &[Visibility], partitions: usize) -> Vec<Vec<TimestampMs>> {
            let mut v: Vec<Vec<TimestampMs>> = vec![Vec::new(); partitions];
            for r in reports {
                for &(at, p, o) in &r.dropped {
                    let v = &mut v[p as usize];
                    if v.len() <= o as usize {
                        v.resize(o as usize + 1, NEVER);
                    }
                    v[o as usize] = v[o as usize].min(at);
                }
            }
            v
        }

        /// Staleness: an event stops holding it back once visible or dropped.
        pub fn staleness(
            visible: &[Vec<TimestampMs>],
            dropped: &[Vec<TimestampMs>],
            samples: &[TimestampMs],
            event_times: &[Vec<TimestampMs>],
            append_times: &[Vec<TimestampMs>],
        ) -> Vec<Option<i64>> {
            let mut changes: Vec<(TimestampMs, bool, TimestampMs)> = Vec::new();
            for (p, times) in event_times.iter().enumerate() {
                for (o, &ts) in times.iter().enumerate() {
                    let appended = append_times[p][o];
                    let shown = visible[p].get(o).copied().unwrap_or(NEVER);
                    let shown = shown.min(dropped[p].get(o).copied().unwrap_or(NEVER));
                    changes.push((appended, false, ts));
                    if shown != NEVER {
                        changes.push((shown.max(appended), true, ts));
                    }
                }
            }
            changes.sort_unstable();
            let mut unreflected: BTreeMap<TimestampMs, u64> = BTreeMap::new();
            let mut newest: Option<TimestampMs> = None;
            let mut next = 0;
            let mut out = Vec::new();
            for &t in samples {
                while let Some(&(_, shown, ts)) = changes.get(next).filter(|c| c.0 <= t) {
                    if !shown {
                        *unreflected.entry(ts).or_insert(0) += 1;
                        newest = Some(newest.map_or(ts, |n| n.max(ts)));
                    } else if let Some(n) = unreflected.get_mut(&ts) {
                        *n -= 1;
                        if *n == 0 {
                            unreflected.remove(&ts);
                        }
                    }
                    next += 1;
                }
                let reflected = match unreflected.keys().next() {
                    Some(&m) => Some(m - 1),
                    None => newest,
                };
                out.push(reflected.map(|r| t - r));
            }
            out
        }
    }

    proptest::proptest! {
        /// The runs hold exactly what one time per offset would.
        #[test]
        fn visible_runs_equal_one_time_per_offset(
            ops in proptest::collection::vec((0u64..60, 1u64..20, 0i64..8), 0..60),
        ) {
            let mut runs = VisibleRuns::default();
            let mut plain: Vec<TimestampMs> = Vec::new();
            for (from, n, at) in ops {
                let to = from + n;
                runs.min_assign(from, to, at);
                if plain.len() < to as usize {
                    plain.resize(to as usize, NEVER);
                }
                for t in &mut plain[from as usize..to as usize] {
                    *t = (*t).min(at);
                }
                let n = plain.len() as Offset + 3;
                let got: Vec<TimestampMs> = runs
                    .spans(n)
                    .flat_map(|(f, t, at)| std::iter::repeat_n(at, (t - f) as usize))
                    .collect();
                let mut want = plain.clone();
                want.extend([NEVER; 3]);
                proptest::prop_assert_eq!(&got, &want);
                for (o, w) in want.iter().enumerate() {
                    proptest::prop_assert_eq!(runs.at(o as Offset), *w);
                }
                // Canonical: no two neighbouring runs hold the same time.
                let values: Vec<_> = runs.runs.values().collect();
                proptest::prop_assert!(values.windows(2).all(|w| w[0] != w[1]), "{:?}", runs);
            }
        }

        /// Computed as the run goes, under the drivers' contract (a report is recorded at or
        /// before its time, at most a few ms ahead; each sample has read every record appended
        /// by it, and maybe more), freshness and staleness equal the one-time-per-event
        /// definitions — for any mix of single events, prefixes and drops, reports out of time
        /// order, events visible (or dropped) before they were appended, events dropped and
        /// shown, and append times that step back.
        #[test]
        fn summaries_equal_the_per_event_definitions(
            reports in proptest::collection::vec(
                (0i64..60, 0i64..10, proptest::collection::vec((0u32..2, 0u64..30), 0..6),
                 proptest::option::of((0u64..30, 0u64..30)),
                 proptest::collection::vec((0u32..2, 0u64..30), 0..3)),
                0..12),
            events in proptest::collection::vec(
                proptest::collection::vec((0i64..40, 0i64..4, proptest::bool::weighted(0.05)), 0..30),
                2..=2),
            samples in proptest::collection::vec(0i64..140, 0..12),
            read_ahead in 0usize..4,
        ) {
            // Each report: its time, how long before it the driver recorded it, its contents.
            let timed: Vec<(TimestampMs, Visibility)> = reports
                .into_iter()
                .map(|(at, lead, evs, prefix, drops)| ((at - lead).max(0), Visibility {
                    events: evs.into_iter().map(|(p, o)| (at, p, o)).collect(),
                    prefixes: prefix.map(|(a, b)| (at, vec![a, b])).into_iter().collect(),
                    dropped: drops.into_iter().map(|(p, o)| (at, p, o)).collect(),
                }))
                .collect();
            // Append times rise by a random step (or, rarely, step back); event times lag.
            let mut event_times = Vec::new();
            let mut append_times = Vec::new();
            for p in &events {
                let mut at = 0;
                let (mut e, mut a) = (Vec::new(), Vec::new());
                for &(step, lag, back) in p {
                    at = if back { (at - step).max(0) } else { at + step / 10 };
                    a.push(at);
                    e.push(at - lag);
                }
                event_times.push(e);
                append_times.push(a);
            }
            let mut samples = samples;
            samples.sort_unstable();
            // In time order, as a driver would: record the reports due, then at a sample read
            // every record appended by then (and `read_ahead` more), sample, and advance.
            let mut order: Vec<usize> = (0..timed.len()).collect();
            order.sort_by_key(|&i| timed[i].0);
            let mut tracker = FreshnessTracker::new(2);
            let mut fed = [0usize; 2];
            let mut next_report = 0;
            let end = 200;
            for now in 0..=end {
                while let Some(&i) = order.get(next_report).filter(|&&i| timed[i].0 <= now) {
                    tracker.record(&timed[i].1);
                    next_report += 1;
                }
                for &s in samples.iter().filter(|&&s| s == now) {
                    for p in 0..2 {
                        let due = append_times[p].iter().rposition(|&a| a <= s).map_or(0, |i| i + 1);
                        let to = (due + read_ahead).min(append_times[p].len()).max(fed[p]);
                        for o in fed[p]..to {
                            tracker.appended(p, o as Offset, event_times[p][o], append_times[p][o]);
                        }
                        fed[p] = to;
                    }
                    tracker.sample(s);
                }
                tracker.advance(now);
            }
            for p in 0..2 {
                for o in fed[p]..append_times[p].len() {
                    tracker.appended(p, o as Offset, event_times[p][o], append_times[p][o]);
                }
            }
            proptest::prop_assert_eq!(tracker.late_reports(), 0);
            let got = tracker.finish();

            // In the order recorded: a prefix report covers only offsets past earlier ones.
            let all: Vec<Visibility> = order.iter().map(|&i| timed[i].1.clone()).collect();
            let visible = reference::first_visible(&all, 2);
            let mut want_values = Vec::new();
            let mut want_never = 0;
            for (p, times) in event_times.iter().enumerate() {
                for (o, ts) in times.iter().enumerate() {
                    match visible[p].get(o) {
                        Some(&at) if at != NEVER => want_values.push(at - ts),
                        _ => want_never += 1,
                    }
                }
            }
            proptest::prop_assert_eq!(got.never_visible, want_never);
            proptest::prop_assert_eq!(got.freshness.percentiles(), super::super::percentiles(want_values));
            proptest::prop_assert_eq!(
                staleness(&got),
                reference::staleness(
                    &visible,
                    &reference::first_dropped(&all, 2),
                    &samples,
                    &event_times,
                    &append_times
                )
            );
        }
    }
}
