//! Freshness and staleness: when each event first became visible in an architecture's served
//! answers, and what that means for the whole view at each sample.
//!
//! - **freshness** of an event: first visible − event time. Summarised as exact nearest-rank
//!   percentiles of every visible event ([`Histogram`]); events never visible are counted.
//! - **staleness** at a sample time t: t minus the newest event time the view reflects
//!   *completely* (every event appended by t with an event time at or before it is visible).
//!
//! **Memory.** A run produces millions of events; the tracker must not hold one entry per
//! event per architecture. An architecture shows events in bulk — a poll shows the offsets it
//! read, a batch job a whole prefix — so first-visible times are kept as *runs* of consecutive
//! offsets shown at the same moment ([`VisibleRuns`]): a 1M-event YSB run holds a few hundred
//! to a few thousand runs per partition instead of a million times. The summaries are built
//! without a per-event list either: freshness as a histogram of exact values (few distinct
//! values: visibility comes in ticks), staleness by a sweep over the runs sorted by time that
//! holds only the events not yet visible. The one per-event input is the oracle's event and
//! append times, read from the log once and shared by every architecture.

use std::collections::BTreeMap;

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

    /// The runs clipped to offsets `0..n`, as `(from, to, time)` in offset order, with the
    /// offsets from `len` to `n` as one never-shown run.
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

/// First-visible time of every event of one architecture, per partition and offset, as runs.
#[derive(Debug, Default)]
pub struct FreshnessTracker {
    first_visible: Vec<VisibleRuns>,
    /// Per partition, every offset below this has been set by a prefix report.
    prefix_done: Vec<Offset>,
}

impl FreshnessTracker {
    /// A tracker for `partitions` partitions.
    pub fn new(partitions: usize) -> Self {
        FreshnessTracker {
            first_visible: vec![VisibleRuns::default(); partitions],
            prefix_done: vec![0; partitions],
        }
    }

    /// Records what an architecture reported as visible.
    pub fn record(&mut self, visibility: &Visibility) {
        for &(at, p, offset) in &visibility.events {
            if let Some(runs) = self.first_visible.get_mut(p as usize) {
                runs.min_assign(offset, offset + 1, at);
            }
        }
        for (at, ends) in &visibility.prefixes {
            for (p, &end) in ends.iter().enumerate() {
                let from = self.prefix_done.get(p).copied().unwrap_or(0);
                if let Some(runs) = self.first_visible.get_mut(p) {
                    runs.min_assign(from, end, *at);
                }
                if let Some(done) = self.prefix_done.get_mut(p) {
                    *done = (*done).max(end);
                }
            }
        }
    }

    /// Runs held, summed over partitions (what the tracker's memory grows with).
    pub fn runs(&self) -> usize {
        self.first_visible.iter().map(|r| r.runs.len()).sum()
    }

    /// Freshness (visible − event time, ms) of every visible event, and how many never were.
    pub fn freshness(&self, event_times: &[Vec<TimestampMs>]) -> (Histogram, u64) {
        let mut values = Histogram::default();
        let mut never = 0;
        let none = VisibleRuns::default();
        for (p, times) in event_times.iter().enumerate() {
            let runs = self.first_visible.get(p).unwrap_or(&none);
            for (from, to, at) in runs.spans(times.len() as Offset) {
                let span = &times[from as usize..to as usize];
                if at == NEVER {
                    never += span.len() as u64;
                } else {
                    // Event times within a span repeat (a tick's events), so count runs of
                    // equal values before touching the map.
                    let mut i = 0;
                    while let Some(&ts) = span.get(i) {
                        let n = span[i..].iter().take_while(|&&t| t == ts).count();
                        values.add(at - ts, n as u64);
                        i += n;
                    }
                }
            }
        }
        (values, never)
    }

    /// Staleness at each sample time: `t` minus the newest event time *fully* reflected at `t`
    /// (every event appended by `t` with an event time at or before it is visible). `None`
    /// before the first event. An event never shown (dropped as late) holds staleness back for
    /// good: the view never reflects that moment completely, and the metric says so.
    ///
    /// An event is unreflected from its append time until it becomes visible; one shown in the
    /// very millisecond it was appended (or before: wall clocks of two threads) never is. The
    /// sweep visits the samples in order and holds only the unreflected events' times.
    pub fn staleness(
        &self,
        samples: &[TimestampMs],
        event_times: &[Vec<TimestampMs>],
        append_times: &[Vec<TimestampMs>],
    ) -> Vec<Option<i64>> {
        let none = VisibleRuns::default();
        let no_times: Vec<TimestampMs> = Vec::new();
        let partitions = event_times.len();
        // Per partition: its spans, the offsets in append order, and a cursor over both.
        struct Cursor<'a> {
            spans: Vec<(Offset, Offset, TimestampMs)>,
            order: Option<Vec<u32>>,
            event: &'a [TimestampMs],
            append: &'a [TimestampMs],
            next: usize,
        }
        impl Cursor<'_> {
            fn offset(&self, i: usize) -> usize {
                self.order.as_ref().map_or(i, |o| o[i] as usize)
            }
            fn append_at(&self, offset: usize) -> TimestampMs {
                self.append.get(offset).copied().unwrap_or(0)
            }
            fn visible_at(&self, offset: usize) -> TimestampMs {
                let o = offset as Offset;
                let i = self.spans.partition_point(|s| s.1 <= o);
                self.spans.get(i).map_or(NEVER, |s| s.2)
            }
        }
        let mut cursors: Vec<Cursor<'_>> = (0..partitions)
            .map(|p| {
                let event = &event_times[p][..];
                let append = append_times.get(p).unwrap_or(&no_times);
                let n = event.len();
                let appended = |o: usize| append.get(o).copied().unwrap_or(0);
                // Append times only rise within a partition on any one clock; if they do not
                // (a clock stepped back), visit the offsets in append order.
                let monotone = (1..n).all(|o| appended(o - 1) <= appended(o));
                let order = (!monotone).then(|| {
                    let mut order: Vec<u32> = (0..n as u32).collect();
                    order.sort_by_key(|&o| appended(o as usize));
                    order
                });
                let spans = self.first_visible.get(p).unwrap_or(&none).spans(n as Offset).collect();
                Cursor { spans, order, event, append, next: 0 }
            })
            .collect();
        // Shown spans by time: removing their events from the unreflected set.
        let mut shown: Vec<(TimestampMs, usize, Offset, Offset)> = cursors
            .iter()
            .enumerate()
            .flat_map(|(p, c)| {
                c.spans.iter().filter(|s| s.2 != NEVER).map(move |&(f, t, at)| (at, p, f, t))
            })
            .collect();
        shown.sort_unstable();
        let mut next_shown = 0;
        let mut unreflected: BTreeMap<TimestampMs, u64> = BTreeMap::new();
        let mut newest_appended: Option<TimestampMs> = None;
        let mut out = Vec::with_capacity(samples.len());
        for &t in samples {
            // Appends up to t: an event visible no later than its append time is never
            // unreflected, so it only moves the newest appended time.
            for c in &mut cursors {
                while c.next < c.event.len() {
                    let o = c.offset(c.next);
                    let appended = c.append_at(o);
                    if appended > t {
                        break;
                    }
                    let ts = c.event[o];
                    newest_appended = Some(newest_appended.map_or(ts, |n| n.max(ts)));
                    if c.visible_at(o) > appended {
                        *unreflected.entry(ts).or_insert(0) += 1;
                    }
                    c.next += 1;
                }
            }
            // Spans shown up to t: their events added above (appended before they were shown)
            // are reflected now.
            while let Some(&(at, p, from, to)) = shown.get(next_shown).filter(|s| s.0 <= t) {
                let c = &cursors[p];
                for o in from as usize..to as usize {
                    if c.append_at(o) < at
                        && let Some(n) = unreflected.get_mut(&c.event[o])
                    {
                        *n -= 1;
                        if *n == 0 {
                            unreflected.remove(&c.event[o]);
                        }
                    }
                }
                next_shown += 1;
            }
            let reflected = match unreflected.keys().next() {
                Some(&oldest_missing) => Some(oldest_missing - 1),
                None => newest_appended,
            };
            out.push(reflected.map(|r| t - r));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_is_held_back_by_the_oldest_unreflected_event() {
        let mut t = FreshnessTracker::new(1);
        // Three events (event times 100, 200, 300) appended at 1000, visible at 1500, 3000, 1500.
        t.record(&Visibility {
            events: vec![(1500, 0, 0), (3000, 0, 1), (1500, 0, 2)],
            prefixes: vec![],
        });
        let s = t.staleness(
            &[500, 1000, 2000, 4000],
            &[vec![100, 200, 300]],
            &[vec![1000, 1000, 1000]],
        );
        // 500: nothing appended. 1000: nothing visible, oldest missing 100 → reflected 99.
        // 2000: 200 still missing → reflected 199. 4000: all visible → reflected 300.
        assert_eq!(s, vec![None, Some(901), Some(1801), Some(3700)]);
    }

    #[test]
    fn an_event_visible_the_millisecond_it_is_appended_is_reflected() {
        let mut t = FreshnessTracker::new(1);
        // Event time 100, appended at 1000 and visible at 1000 (a realtime poll that ran in
        // the same millisecond); a second one visible a little later.
        t.record(&Visibility { events: vec![(1000, 0, 0), (1200, 0, 1)], prefixes: vec![] });
        let s = t.staleness(&[1000, 1500], &[vec![100, 150]], &[vec![1000, 1100]]);
        // At 1500 both are reflected: newest event time 150. (Before the fix the first stayed
        // "unreflected" for ever and held staleness at 1500 - 99.)
        assert_eq!(s, vec![Some(900), Some(1350)]);
    }

    #[test]
    fn freshness_takes_the_earliest_report() {
        let mut t = FreshnessTracker::new(1);
        t.record(&Visibility { events: vec![(500, 0, 1)], prefixes: vec![(900, vec![3])] });
        t.record(&Visibility { events: vec![(800, 0, 2)], prefixes: vec![] });
        let (values, never) = t.freshness(&[vec![100, 100, 100, 100]]);
        let mut want = Histogram::default();
        for v in [800, 400, 700] {
            want.add(v, 1);
        }
        assert_eq!(values, want);
        assert_eq!(never, 1);
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

        pub fn staleness(
            visible: &[Vec<TimestampMs>],
            samples: &[TimestampMs],
            event_times: &[Vec<TimestampMs>],
            append_times: &[Vec<TimestampMs>],
        ) -> Vec<Option<i64>> {
            let mut changes: Vec<(TimestampMs, bool, TimestampMs)> = Vec::new();
            for (p, times) in event_times.iter().enumerate() {
                for (o, &ts) in times.iter().enumerate() {
                    let appended = append_times[p][o];
                    let shown = visible[p].get(o).copied().unwrap_or(NEVER);
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

        /// Freshness and staleness from the runs equal the one-time-per-event definitions, for
        /// any mix of single events and prefixes, reports out of time order, events visible
        /// before they were appended, and append times that step back.
        #[test]
        fn summaries_equal_the_per_event_definitions(
            reports in proptest::collection::vec(
                (0i64..60, proptest::collection::vec((0u32..2, 0u64..30), 0..6),
                 proptest::option::of((0u64..30, 0u64..30))),
                0..12),
            events in proptest::collection::vec(
                proptest::collection::vec((0i64..40, 0i64..4, proptest::bool::weighted(0.05)), 0..30),
                2..=2),
            samples in proptest::collection::vec(0i64..140, 0..12),
        ) {
            let reports: Vec<Visibility> = reports
                .into_iter()
                .map(|(at, evs, prefix)| Visibility {
                    events: evs.into_iter().map(|(p, o)| (at, p, o)).collect(),
                    prefixes: prefix.map(|(a, b)| (at, vec![a, b])).into_iter().collect(),
                })
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
            let mut tracker = FreshnessTracker::new(2);
            for r in &reports {
                tracker.record(r);
            }
            let visible = reference::first_visible(&reports, 2);
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
            let (got, never) = tracker.freshness(&event_times);
            proptest::prop_assert_eq!(never, want_never);
            proptest::prop_assert_eq!(got.percentiles(), super::super::percentiles(want_values));
            proptest::prop_assert_eq!(
                tracker.staleness(&samples, &event_times, &append_times),
                reference::staleness(&visible, &samples, &event_times, &append_times)
            );
        }
    }
}
