//! The ground truth: exact answers recomputed from the log, as of any moment of a run.
//!
//! The oracle reads the records back from the log (not from the generator), so architectures
//! are checked against what was really stored. It is deliberately the plainest computation
//! there is — every record, every query, every window it falls in, exact sets for distinct
//! counts — and shares no code with the layers beyond the query definitions' window rule.

use std::collections::BTreeSet;

use crate::arch::ArchError;
use crate::log::{Log, Offset, TimestampMs};
use crate::query::{Agg, Cell, QueryKind, QuerySet, Table, TrackedTable};
use crate::workload::{EventFields, EventType, decode};

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
        if let Some(history) = self.history.take() {
            for e in history.iter().flatten() {
                self.apply(e);
            }
            self.history = Some(history);
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
            loop {
                let records = partition.read(self.positions[p], 50_000)?;
                let Some(last) = records.last() else { break };
                self.positions[p] = last.offset + 1;
                for r in &records {
                    let e = decode(r.record.key.as_deref(), &r.record.value, r.record.timestamp_ms)
                        .map_err(|source| ArchError::Decode {
                            partition: p as u32,
                            offset: r.offset,
                            source,
                        })?;
                    self.events += u64::from(e.weight);
                    if r.offset >= self.timed[p] {
                        self.timed[p] = r.offset + 1;
                        self.records += 1;
                        self.new_records[p].push((r.offset, e.event_time_ms, r.append_time_ms));
                    }
                    self.apply(&e);
                    if let Some(history) = self.history.as_mut() {
                        history[p].push(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Counts one event into every query's windows.
    fn apply(&mut self, e: &EventFields) {
        for spec in &self.queries.specs {
            if spec.exclude_bots && crate::query::is_bot(e.user_id) {
                continue;
            }
            let group = match spec.kind {
                QueryKind::KeyWindowCount | QueryKind::KeySum => e.key.as_str(),
                QueryKind::CampaignWindowCount => {
                    if e.event_type != EventType::View {
                        continue;
                    }
                    match self.queries.campaigns.campaign_of(&e.key) {
                        Some(c) => c,
                        None => continue,
                    }
                }
                QueryKind::DistinctUsers => {
                    self.queries.campaigns.campaign_of(&e.key).unwrap_or(&e.key)
                }
            };
            for start in spec.window_starts(e.event_time_ms) {
                let cell = Cell { query: spec.id, key: group.to_owned(), window_start_ms: start };
                // One search for a known cell; the key built for it is kept as its change
                // mark (no allocation beyond today's), or dropped when already marked.
                let (state, marked) = match self.view.get_mut(&cell) {
                    Some((state, marked)) => (state, marked),
                    None => {
                        let fresh = match spec.kind {
                            QueryKind::DistinctUsers => Agg::Users(BTreeSet::new()),
                            _ => Agg::Sum(0),
                        };
                        let (state, marked) =
                            self.view.entry(cell.clone()).or_insert((fresh, false));
                        (state, marked)
                    }
                };
                match state {
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
                    self.dirty.push(cell);
                }
            }
        }
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
