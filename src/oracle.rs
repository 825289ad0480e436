//! The ground truth: exact answers recomputed from the log, as of any moment of a run.
//!
//! The oracle reads the records back from the log (not from the generator), so architectures
//! are checked against what was really stored. It is deliberately the plainest computation
//! there is — every record, every query, every window it falls in, exact sets for distinct
//! counts — and shares no code with the layers beyond the query definitions' window rule and
//! the [`Horizon`] that decides when a window's set may become its count (which changes no
//! answer: see below).
//!
//! **Closed windows.** An exact distinct count keeps one entry per (user, window): over a long
//! run the oracle's sets were the part of its memory that grew with every event. So once a
//! `distinct_users` window lies behind the event-time [`Horizon`] its set is replaced by its
//! count (*sealed*). Exactness does not rest on that guess: an event that still reaches a
//! sealed window (a record later than anything seen before) makes the oracle rebuild that
//! window's set from every event read, at the end of the catch-up, and widen its horizon. The
//! answers are the same either way; only memory and time differ.

use std::collections::{BTreeMap, BTreeSet};

use crate::arch::ArchError;
use crate::log::{Log, Offset, TimestampMs};
use crate::query::horizon::Horizon;
use crate::query::{Agg, Cell, QueryKind, QuerySet, Table, TrackedTable};
use crate::workload::{EventFields, EventType, decode};

/// Every cell event `e` counts into under `queries`: `f(spec, group, window start)`. The
/// single statement of which events count where, for [`Oracle::apply`] and for rebuilding
/// sealed windows.
fn cells_of<'a>(
    queries: &'a QuerySet,
    e: &'a EventFields,
    mut f: impl FnMut(&'a crate::query::QuerySpec, &'a str, TimestampMs),
) {
    for spec in &queries.specs {
        if spec.exclude_bots && crate::query::is_bot(e.user_id) {
            continue;
        }
        let group = match spec.kind {
            QueryKind::KeyWindowCount | QueryKind::KeySum => e.key.as_str(),
            QueryKind::CampaignWindowCount => {
                if e.event_type != EventType::View {
                    continue;
                }
                match queries.campaigns.campaign_of(&e.key) {
                    Some(c) => c,
                    None => continue,
                }
            }
            QueryKind::DistinctUsers => queries.campaigns.campaign_of(&e.key).unwrap_or(&e.key),
        };
        for start in spec.window_starts(e.event_time_ms) {
            f(spec, group, start);
        }
    }
}

/// Decodes the events of partition `p` from offset `from` (to `end`, or to the log end), in
/// offset order: `f(offset, append time, event)`. Returns the offset after the last record
/// read. The one read loop of the oracle: catching up, and rebuilding a sealed window.
fn read_events(
    partition: crate::log::PartitionRef<'_>,
    p: usize,
    mut from: Offset,
    end: Option<Offset>,
    mut f: impl FnMut(Offset, TimestampMs, EventFields),
) -> Result<Offset, ArchError> {
    while end.is_none_or(|end| from < end) {
        let records = partition.read(from, 50_000)?;
        let Some(last) = records.last() else { break };
        from = last.offset + 1;
        for r in records.iter().filter(|r| end.is_none_or(|end| r.offset < end)) {
            let e =
                decode(r.record.key.as_deref(), &r.record.value, r.record.timestamp_ms).map_err(
                    |source| ArchError::Decode { partition: p as u32, offset: r.offset, source },
                )?;
            f(r.offset, r.append_time_ms, e);
        }
    }
    Ok(from)
}

/// Exact answers of every query over a topic, caught up with the log on demand.
#[derive(Debug)]
pub struct Oracle {
    topic: String,
    queries: QuerySet,
    /// Next offset to read, per partition.
    positions: Vec<Offset>,
    /// Per partition, the offset after the last record whose times were noted (not reset by
    /// a logic change, which reads the log again).
    timed: Vec<Offset>,
    /// Records read since [`Oracle::take_new_records`] last took them, per partition:
    /// `(offset, event time, append time)`, for the freshness trackers. Only what is new is
    /// kept: a run of any length holds no per-record list here.
    new_records: Vec<Vec<(Offset, TimestampMs, TimestampMs)>>,
    /// Records read (each once, however often a logic change reads the log again).
    records: u64,
    /// Every event read, per partition, in offset order, when kept (see
    /// [`Oracle::keep_history`]).
    history: Option<Vec<Vec<EventFields>>>,
    /// The exact state of every cell, and whether it changed since [`Oracle::answers`].
    view: std::collections::BTreeMap<Cell, (Agg, bool)>,
    /// The cells marked changed in `view`, each once.
    dirty: Vec<Cell>,
    /// The answers as of the last [`Oracle::answers`], with what that call changed.
    answers: TrackedTable,
    /// The view was rebuilt from scratch (a logic change): `answers` is replaced whole.
    rebuilt: bool,
    /// Events read: records weighted by the events each stands for.
    events: u64,
    /// When `distinct_users` windows are sealed.
    horizon: Horizon,
    /// Sealed cells that an event reached after all: rebuilt at the end of the catch-up.
    reopen: BTreeSet<Cell>,
    /// Answer retention: windows ending at or before this are dropped (see
    /// [`Oracle::expire`]).
    expired_through: Option<i64>,
    /// The cut-off the kept history was last pruned at.
    history_pruned_through: i64,
}

impl Oracle {
    /// An oracle over `topic` that has read nothing yet.
    pub fn new(log: &Log, topic: &str, queries: &QuerySet) -> Result<Self, ArchError> {
        let partitions = log.topic(topic)?.partition_count() as usize;
        Ok(Oracle {
            topic: topic.to_owned(),
            queries: queries.clone(),
            positions: vec![0; partitions],
            timed: vec![0; partitions],
            new_records: vec![Vec::new(); partitions],
            records: 0,
            history: None,
            view: Default::default(),
            dirty: Vec::new(),
            answers: TrackedTable::new(),
            rebuilt: false,
            events: 0,
            horizon: Horizon::new(partitions),
            reopen: BTreeSet::new(),
            expired_through: None,
            history_pruned_through: i64::MIN,
        })
    }

    /// Keeps a copy of every event read, so a logic change recomputes from it instead of
    /// reading the log again. Needed when the log may no longer hold the full history by
    /// then — compaction removes superseded records, retention deletes old segments, and a
    /// remote tier would serve old offsets through fetches the architectures are charged for —
    /// while the truth is the full event history. Costs about 100 bytes per event.
    pub fn keep_history(&mut self) {
        self.history.get_or_insert_with(|| vec![Vec::new(); self.positions.len()]);
    }

    /// Switches to a new version of the queries: the answers are recomputed with it from the
    /// whole history — at once from the kept copy (see [`Oracle::keep_history`]), else from
    /// the log at the next [`Oracle::catch_up`].
    pub fn set_queries(&mut self, queries: &QuerySet) {
        self.queries = queries.clone();
        self.view.clear();
        self.dirty.clear();
        self.rebuilt = true;
        // What was learnt about lateness stays; what was read is read again.
        self.horizon = self.horizon.restart();
        self.reopen.clear();
        if let Some(history) = self.history.take() {
            for (p, events) in history.iter().enumerate() {
                for e in events {
                    self.horizon.note(p, e.event_time_ms);
                    self.apply(e);
                }
            }
            self.history = Some(history);
            self.seal();
            return;
        }
        self.positions.iter_mut().for_each(|p| *p = 0);
        self.events = 0;
    }

    /// Reads every record appended since the last call.
    pub fn catch_up(&mut self, log: &Log) -> Result<(), ArchError> {
        let topic = log.topic(&self.topic)?;
        for p in 0..self.positions.len() {
            let partition = topic.partition(p as u32)?;
            self.positions[p] =
                read_events(partition, p, self.positions[p], None, |offset, append_time, e| {
                    self.events += u64::from(e.weight);
                    if offset >= self.timed[p] {
                        self.timed[p] = offset + 1;
                        self.records += 1;
                        self.new_records[p].push((offset, e.event_time_ms, append_time));
                    }
                    self.horizon.note(p, e.event_time_ms);
                    self.apply(&e);
                    if let Some(history) = self.history.as_mut() {
                        history[p].push(e);
                    }
                })?;
        }
        self.rebuild_reopened(log)?;
        self.seal();
        Ok(())
    }

    /// Counts one event into every query's windows.
    fn apply(&mut self, e: &EventFields) {
        let (view, dirty) = (&mut self.view, &mut self.dirty);
        let (horizon, reopen) = (&mut self.horizon, &mut self.reopen);
        cells_of(&self.queries, e, |spec, group, start| {
            let cell = Cell { query: spec.id, key: group.to_owned(), window_start_ms: start };
            // One search for a known cell; the key built for it is kept as its change mark
            // (no allocation beyond today's), or dropped when already marked.
            let (state, marked) = match view.get_mut(&cell) {
                Some((state, marked)) => (state, marked),
                None => {
                    let fresh = match spec.kind {
                        QueryKind::DistinctUsers => {
                            horizon.hold(start + spec.window_ms, cell.clone());
                            Agg::Users(BTreeSet::new())
                        }
                        _ => Agg::Sum(0),
                    };
                    let (state, marked) = view.entry(cell.clone()).or_insert((fresh, false));
                    (state, marked)
                }
            };
            match state {
                // A sealed window reached after all: rebuilt at the end of the catch-up.
                Agg::Sum(_) if spec.kind == QueryKind::DistinctUsers => {
                    horizon.widen(e.event_time_ms);
                    reopen.insert(cell);
                    return;
                }
                // A record stands for `weight` identical events.
                Agg::Sum(n) if spec.kind == QueryKind::KeySum => {
                    *n += e.value.wrapping_mul(i64::from(e.weight))
                }
                Agg::Sum(n) => *n += i64::from(e.weight),
                Agg::Users(users) => {
                    users.insert(e.user_id);
                }
                Agg::Sketch(_) | Agg::User { .. } => {}
            }
            if !*marked {
                *marked = true;
                dirty.push(cell);
            }
        });
    }

    /// Seals every open `distinct_users` window behind the line: its set becomes its count.
    fn seal(&mut self) {
        for cell in self.horizon.due() {
            if let Some((state @ Agg::Users(_), _)) = self.view.get_mut(&cell) {
                *state = Agg::Sum(state.present());
            }
        }
    }

    /// Rebuilds the sets of the sealed windows that events reached after all, from every
    /// event read so far (the kept history, else the log), and opens them again.
    fn rebuild_reopened(&mut self, log: &Log) -> Result<(), ArchError> {
        if self.reopen.is_empty() {
            return Ok(());
        }
        let reopen = std::mem::take(&mut self.reopen);
        let mut sets: BTreeMap<Cell, BTreeSet<u64>> =
            reopen.iter().map(|c| (c.clone(), BTreeSet::new())).collect();
        let mut add = |e: &EventFields| {
            cells_of(&self.queries, e, |spec, group, start| {
                if spec.kind != QueryKind::DistinctUsers {
                    return;
                }
                let cell = Cell { query: spec.id, key: group.to_owned(), window_start_ms: start };
                if let Some(set) = sets.get_mut(&cell) {
                    set.insert(e.user_id);
                }
            })
        };
        if let Some(history) = &self.history {
            history.iter().flatten().for_each(&mut add);
        } else {
            let topic = log.topic(&self.topic)?;
            for (p, &end) in self.positions.iter().enumerate() {
                let partition = topic.partition(p as u32)?;
                let from = partition.log_start_offset();
                read_events(partition, p, from, Some(end), |_, _, e| add(&e))?;
            }
        }
        for (cell, users) in sets {
            let spec = &self.queries.specs[usize::from(cell.query)];
            let end = cell.window_start_ms + spec.window_ms;
            if let Some((state, marked)) = self.view.get_mut(&cell) {
                *state = Agg::Users(users);
                if !*marked {
                    *marked = true;
                    self.dirty.push(cell.clone());
                }
                self.horizon.reopen(end, cell);
            }
        }
        Ok(())
    }

    /// Answer retention (`[serving] ttl_ms`): forgets every window expired at `now`, as every
    /// served table does, so that what is compared is the same set of windows and a long run
    /// holds only the live ones. Call after [`Oracle::catch_up`] (a late event may have
    /// brought an expired window back) and before [`Oracle::answers`]. A no-op without
    /// retention.
    pub fn expire(&mut self, now: TimestampMs) {
        let Some(through) = self.queries.expired_through(now) else { return };
        self.expired_through = Some(through);
        self.queries.retain_live(&mut self.view, through);
        // An event counts only into windows ending within the widest window after it: once
        // those expired it can no longer change an answer, so a kept copy may go. A pass per
        // minute of the run keeps the cost of the walk small.
        let widest = self.queries.specs.iter().map(|s| s.window_ms).max().unwrap_or(0);
        if let Some(history) = self.history.as_mut()
            && through >= self.history_pruned_through.saturating_add(60_000)
        {
            self.history_pruned_through = through;
            for events in history.iter_mut() {
                events.retain(|e| e.event_time_ms.saturating_add(widest) > through);
            }
        }
    }

    /// `distinct_users` windows sealed so far (their sets replaced by counts), and sealed
    /// windows rebuilt because an event reached them after all (see the module documentation).
    pub fn sealed_windows(&self) -> (u64, u64) {
        self.horizon.counts()
    }

    /// `distinct_users` windows whose exact sets are held now.
    pub fn open_windows(&self) -> usize {
        self.horizon.open_cells()
    }

    /// The exact answers as of the last [`Oracle::catch_up`].
    pub fn table(&self) -> Table {
        self.view.iter().map(|(cell, (state, _))| (cell.clone(), state.present())).collect()
    }

    /// The exact answers as of the last [`Oracle::catch_up`], tracked: its changes are the
    /// cells that changed since the previous call (what a sample compares), found from the
    /// cells the events since then touched — not from the whole table.
    pub fn answers(&mut self) -> &TrackedTable {
        self.answers.clear_changes();
        if let Some(through) = self.expired_through {
            self.answers.expire(&self.queries, through);
        }
        if std::mem::take(&mut self.rebuilt) {
            for cell in self.dirty.drain(..) {
                if let Some((_, marked)) = self.view.get_mut(&cell) {
                    *marked = false;
                }
            }
            let table = self.table();
            self.answers.replace(table);
            return &self.answers;
        }
        for cell in self.dirty.drain(..) {
            if let Some((state, marked)) = self.view.get_mut(&cell) {
                *marked = false;
                self.answers.set_owned(cell, state.present());
            }
        }
        &self.answers
    }

    /// The records read for the first time since the last call, per partition in offset
    /// order: `(offset, event time, append time)` (what freshness and staleness need).
    pub fn take_new_records(&mut self) -> Vec<Vec<(Offset, TimestampMs, TimestampMs)>> {
        let partitions = self.new_records.len();
        std::mem::replace(&mut self.new_records, vec![Vec::new(); partitions])
    }

    /// Events read so far: each record counts for the events it stands for (its weight).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Records read so far.
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Whether nothing has been read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::log::{FsyncPolicy, LogConfig, ManualClock, Record};
    use crate::query::QuerySpec;
    use crate::workload::{AdType, Campaigns, Event};

    const TOPIC: &str = "events";

    fn queries(exclude_bots: bool) -> QuerySet {
        let spec = |id: u8, kind, window_ms, slide_ms| QuerySpec {
            id,
            kind,
            window_ms,
            slide_ms,
            approximate: false,
            hll_precision: 8,
            exclude_bots,
        };
        QuerySet {
            specs: vec![
                spec(0, QueryKind::DistinctUsers, 10_000, 10_000),
                spec(1, QueryKind::DistinctUsers, 20_000, 5_000),
                spec(2, QueryKind::KeyWindowCount, 10_000, 10_000),
            ],
            campaigns: Arc::new(Campaigns::new(&crate::scenario::Workload::default(), 1)),
            ttl_ms: None,
        }
    }

    /// `(partition, key index, user, event time)`.
    type Ev = (u32, u8, u64, i64);

    fn event(&(_, key, user, t): &Ev) -> Event {
        Event {
            seq: 0,
            key: format!("k{key}"),
            user_id: user,
            page_id: 0,
            ad_type: AdType::ALL[0],
            event_type: EventType::View,
            value: 1,
            event_time_ms: t,
            arrival_ms: t,
            weight: 1,
        }
    }

    /// The exact answers of `queries` over `events`, the plainest way: every event, every
    /// window it falls in, a set per distinct-users cell.
    fn reference(queries: &QuerySet, events: &[Ev]) -> Table {
        let mut sets: BTreeMap<Cell, BTreeSet<u64>> = BTreeMap::new();
        let mut sums: BTreeMap<Cell, i64> = BTreeMap::new();
        for &(_, key, user, t) in events {
            for spec in &queries.specs {
                if spec.exclude_bots && crate::query::is_bot(user) {
                    continue;
                }
                for start in spec.window_starts(t) {
                    let cell =
                        Cell { query: spec.id, key: format!("k{key}"), window_start_ms: start };
                    match spec.kind {
                        QueryKind::DistinctUsers => {
                            sets.entry(cell).or_default().insert(user);
                        }
                        _ => *sums.entry(cell).or_default() += 1,
                    }
                }
            }
        }
        let mut table: Table = sums.into_iter().collect();
        table.extend(sets.into_iter().map(|(c, s)| (c, s.len() as i64)));
        table
    }

    fn log(dir: &std::path::Path, partitions: u32) -> Log {
        let config = LogConfig { fsync: FsyncPolicy::Never, ..LogConfig::default() };
        let mut log = Log::open(dir, config, Arc::new(ManualClock::new(0))).unwrap();
        log.create_topic(TOPIC, partitions).unwrap();
        log
    }

    fn append(log: &Log, events: &[Ev]) {
        let topic = log.topic(TOPIC).unwrap();
        for ev in events {
            let e = event(ev);
            let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes());
            topic.partition(ev.0).unwrap().append(&[record]).unwrap();
        }
    }

    /// Events mostly in order over `span_ms` of event time, some late by up to `late_ms`.
    fn events(span_ms: i64, late_ms: i64) -> impl Strategy<Value = Vec<Ev>> {
        prop::collection::vec((0..3u32, 0..4u8, 0..40u64, 0..1_000i64, 0..10u8), 1..400).prop_map(
            move |raw| {
                let n = raw.len() as i64;
                raw.into_iter()
                    .enumerate()
                    .map(|(i, (p, key, user, jitter, late))| {
                        let arrival = i as i64 * span_ms / n;
                        let delay =
                            if late == 0 { late_ms / 2 + jitter * late_ms / 2_000 } else { jitter };
                        (p, key, user, (arrival - delay).max(0))
                    })
                    .collect()
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Whatever the lateness, sealing changes no answer: after every catch-up (in chunks
        /// of any size), with or without a kept history, across a logic change.
        #[test]
        fn sealed_answers_equal_the_plain_recomputation(
            evs in events(600_000, 200_000),
            chunks in prop::collection::vec(1..80usize, 1..20),
            history in any::<bool>(),
            change_at in 0..20usize,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let log = log(dir.path(), 3);
            let mut qs = queries(false);
            let mut oracle = Oracle::new(&log, TOPIC, &qs).unwrap();
            if history {
                oracle.keep_history();
            }
            let mut done = 0;
            for (i, &size) in chunks.iter().cycle().take(60).enumerate() {
                if done == evs.len() {
                    break;
                }
                let end = (done + size).min(evs.len());
                append(&log, &evs[done..end]);
                done = end;
                if i == change_at {
                    qs = queries(true);
                    oracle.set_queries(&qs);
                }
                oracle.catch_up(&log).unwrap();
                prop_assert_eq!(oracle.table(), reference(&qs, &evs[..done]));
            }
        }
    }

    /// A long run in order holds the sets of the last few windows only; a record later than
    /// anything before reopens its window, which comes back exact.
    #[test]
    fn closed_windows_keep_counts_and_a_very_late_event_reopens_its_window() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), 2);
        let qs = queries(false);
        let mut oracle = Oracle::new(&log, TOPIC, &qs).unwrap();
        let mut all = Vec::new();
        for second in 0..3_600i64 {
            let evs: Vec<Ev> = (0..4u64)
                .map(|i| {
                    (
                        (i % 2) as u32,
                        (i % 3) as u8,
                        (second * 7 + i as i64) as u64 % 500,
                        second * 1_000,
                    )
                })
                .collect();
            append(&log, &evs);
            all.extend(evs);
            if second % 10 == 0 {
                oracle.catch_up(&log).unwrap();
            }
        }
        oracle.catch_up(&log).unwrap();
        let (sealed, reopened) = oracle.sealed_windows();
        assert!(sealed > 1_000, "{sealed} windows sealed");
        assert_eq!(reopened, 0);
        // Two queries, three keys, a few windows each behind the 30 s horizon.
        assert!(oracle.open_windows() < 60, "{} windows open", oracle.open_windows());
        assert_eq!(oracle.table(), reference(&qs, &all));

        // An hour late, a new user in a long-sealed window of key k0.
        let late = (0, 0, 10_000, 60_000);
        append(&log, &[late]);
        all.push(late);
        oracle.catch_up(&log).unwrap();
        // One tumbling window and the four sliding ones that hold t = 60 s, rebuilt.
        assert_eq!(oracle.sealed_windows().1, 5);
        assert_eq!(oracle.table(), reference(&qs, &all));
        let answers = oracle.answers();
        let changed: Vec<_> = answers.changes().collect();
        assert!(!changed.is_empty());
    }
}
