//! The streaming lake: Kappa without a serving layer. The log keeps the hot tail; closed
//! segments are tiered to cold Parquet files in an object store; queries are computed at query
//! time from cold + hot, with the same DataFrame code as Lambda's batch layer
//! ([`crate::batch::lambda_polars::run_queries`]), so there is one implementation of each query
//! and the answer is exact whenever it is asked.
//!
//! # Tiering on the simulated clock
//!
//! Each tick the [`Tierer`] looks for closed segments it has not scheduled yet (oldest first,
//! per partition) and queues them. One conversion runs at a time: it reads the segment's
//! records, writes `cold/<topic>/<partition>/<base_offset:020>.parquet`, and takes
//! `tier_overhead_ms + events × tier_cost_us_per_event` of simulated time. Only when that time
//! has passed does the file count as tiered: from then on queries read those offsets from the
//! file instead of the log. Per partition, cold covers offsets below the *tiered end*; the hot
//! tail is everything from there to the log end.
//!
//! # Query cost and the partial-aggregate cache
//!
//! Every architecture is queried at every sample, so a lake query must stay cheap in wall-clock
//! time even though, in the model, it scans everything. Cold files never change, so when a file
//! becomes tiered its partial aggregates (the mergeable [`View`] states of every query over that
//! file, computed by reading the file back) are merged once into a cached cold view. A query then
//! runs the DataFrame queries over the hot tail only and merges: exact, because view states are
//! commutative monoids. The *simulated* cost still charges a scan of cold + hot events
//! ([`Lake::query_cost_ms`]): the cache speeds up the simulator, it is not part of the modelled
//! architecture. [`Lake::query_full_scan`] is the uncached path (polars lazy scan of every file
//! plus the hot tail), kept to check that both give the same answer.
//!
//! The cached cold view's exact `distinct_users` sets hold one entry per (user, window) of
//! every cold file: the part of the cache that grew with every event. Once a window is behind
//! the event-time [`Horizon`] of the cold files, its set is replaced by its count (*sealed*).
//! A later file or hot tail that still reaches a sealed window (an event later than any
//! before it) gets that window rebuilt from every cold file first, so answers stay exact.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;

use crate::arch::{ArchError, Timing, log_end_offsets};
use crate::batch::lambda_polars::{self, columns, engine_error};
use crate::log::{Log, Offset, TimestampMs};
use crate::query::horizon::Horizon;
use crate::query::{Agg, Cell, QueryKind, QuerySet, Table, TrackedTable, View, present};
use crate::scenario::Lake as LakeConfig;

pub mod cold;

pub use cold::ColdStore;

/// The layer name in errors.
const LAYER: &str = "lake";

/// A Parquet file of the cold tier: the events of one closed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdFile {
    /// Partition of the segment.
    pub partition: u32,
    /// First offset in the file (the segment's base offset).
    pub base_offset: Offset,
    /// One past the last offset in the file.
    pub next_offset: Offset,
    /// Events in the file.
    pub events: u64,
    /// Object name in the store (`<topic>/<partition>/<base:020>.parquet`).
    pub object: String,
    /// The file on the local file system.
    pub path: PathBuf,
    /// Size of the file in bytes.
    pub bytes: u64,
}

/// A closed segment waiting for conversion, and when the tierer first saw it closed.
#[derive(Debug, Clone)]
struct Pending {
    partition: u32,
    base_offset: Offset,
    next_offset: Offset,
    seen_at: TimestampMs,
}

/// The conversion in flight: its file is written; it counts once `done_at` has passed.
#[derive(Debug)]
struct Running {
    file: ColdFile,
    done_at: TimestampMs,
}

/// Moves closed segments of one topic to the cold tier, one conversion at a time, on the
/// simulated clock.
#[derive(Debug)]
pub struct Tierer {
    topic: String,
    cfg: LakeConfig,
    store: ColdStore,
    /// Per partition, offsets below this are in tiered (visible) cold files.
    tiered_end: Vec<Offset>,
    /// Per partition, offsets below this are tiered, converting or queued.
    scheduled_end: Vec<Offset>,
    queue: VecDeque<Pending>,
    running: Option<Running>,
    /// When the last conversion finished (the next cannot start earlier).
    free_at: TimestampMs,
    files: Vec<ColdFile>,
    max_lag: u64,
    /// Simulated ms spent converting segments (measured ms with measured timing).
    busy_ms: i64,
    /// A conversion counts when it really finished (log clock), not after its modelled cost.
    measured: bool,
}

/// What the tierer finished in one tick.
#[derive(Debug, Default)]
pub struct TierTick {
    /// Files that became tiered, in order.
    pub tiered: Vec<ColdFile>,
}

impl Tierer {
    /// A tierer for `topic`, writing into `store`.
    pub fn new(
        log: &Log,
        topic: &str,
        cfg: &LakeConfig,
        store: ColdStore,
    ) -> Result<Self, ArchError> {
        let t = log.topic(topic)?;
        // Nothing is cold yet: cold starts where the log starts.
        let starts: Vec<Offset> = t.partitions().iter().map(|p| p.log_start_offset()).collect();
        Ok(Tierer {
            topic: topic.to_owned(),
            cfg: cfg.clone(),
            store,
            tiered_end: starts.clone(),
            scheduled_end: starts,
            queue: VecDeque::new(),
            running: None,
            free_at: TimestampMs::MIN,
            files: Vec::new(),
            max_lag: 0,
            busy_ms: 0,
            measured: false,
        })
    }

    /// Queues closed segments not seen before (partition order, then offset order).
    fn discover(&mut self, now: TimestampMs, log: &Log) -> Result<(), ArchError> {
        let t = log.topic(&self.topic)?;
        for (p, partition) in t.partitions().iter().enumerate() {
            for seg in partition.segments() {
                if seg.active || seg.next_offset <= self.scheduled_end[p] {
                    continue;
                }
                // A segment is tiered whole; retention may have removed part of the range
                // already, in which case only what is left can be converted.
                let base = seg.base_offset.max(self.scheduled_end[p]);
                self.queue.push_back(Pending {
                    partition: p as u32,
                    base_offset: base,
                    next_offset: seg.next_offset,
                    seen_at: now,
                });
                self.scheduled_end[p] = seg.next_offset;
            }
        }
        Ok(())
    }

    /// Converts one segment: reads its records and writes the Parquet file.
    fn convert(&self, log: &Log, job: &Pending) -> Result<ColdFile, ArchError> {
        let partitions = log.topic(&self.topic)?.partition_count() as usize;
        let mut ranges = vec![(0, 0); partitions];
        ranges[job.partition as usize] = (job.base_offset, job.next_offset);
        let mut df = lambda_polars::read_events(log, &self.topic, &ranges, LAYER)?;
        // Events, not records (the tiering cost is per event).
        let events = lambda_polars::weight_sum(&df);
        let bytes = cold::encode_parquet(&mut df).map_err(engine_error(LAYER))?;
        let object = ColdStore::object_name(&self.topic, job.partition, job.base_offset);
        let size = bytes.len() as u64;
        self.store.put(&object, bytes)?;
        Ok(ColdFile {
            partition: job.partition,
            base_offset: job.base_offset,
            next_offset: job.next_offset,
            events,
            path: self.store.local_path(&object),
            object,
            bytes: size,
        })
    }

    /// Advances to `now`: finishes due conversions (their files become tiered), starts the next
    /// ones, and records the lag.
    pub fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<TierTick, ArchError> {
        self.discover(now, log)?;
        let mut tick = TierTick::default();
        loop {
            if let Some(running) = &self.running {
                if running.done_at > now {
                    break;
                }
                if let Some(done) = self.running.take() {
                    self.free_at = done.done_at;
                    let p = done.file.partition as usize;
                    self.tiered_end[p] = self.tiered_end[p].max(done.file.next_offset);
                    self.files.push(done.file.clone());
                    tick.tiered.push(done.file);
                }
            }
            let Some(next) = self.queue.pop_front() else { break };
            // The job starts when the tierer is free and the segment was known to be closed.
            let start = self.free_at.max(next.seen_at);
            let file = self.convert(log, &next)?;
            let done_at = if self.measured {
                // Converted inline: it took from `now` until the clock's reading now.
                let finished = log.clock().now_ms().max(now);
                self.busy_ms += finished - now;
                finished
            } else {
                let cost_ms = self.cfg.tier_overhead_ms
                    + file.events as f64 * self.cfg.tier_cost_us_per_event / 1000.0;
                self.busy_ms += cost_ms.ceil() as i64;
                start + cost_ms.ceil() as i64
            };
            self.running = Some(Running { file, done_at });
        }
        self.max_lag = self.max_lag.max(self.lag(log)?);
        Ok(tick)
    }

    /// Events in the log not yet in a tiered file, summed over partitions.
    pub fn lag(&self, log: &Log) -> Result<u64, ArchError> {
        let ends = log_end_offsets(log, &self.topic)?;
        Ok(ends.iter().zip(&self.tiered_end).map(|(e, t)| e.saturating_sub(*t)).sum())
    }

    /// Simulated ms spent converting segments to Parquet.
    pub fn busy_ms(&self) -> i64 {
        self.busy_ms
    }

    /// The largest [`Tierer::lag`] seen at the end of a tick.
    pub fn max_lag(&self) -> u64 {
        self.max_lag
    }

    /// Per partition, the offset below which cold files hold the events.
    pub fn tiered_end(&self) -> &[Offset] {
        &self.tiered_end
    }

    /// Tiered files (visible to queries), in the order they became tiered.
    pub fn files(&self) -> &[ColdFile] {
        &self.files
    }

    /// Files written so far, including one still converting.
    pub fn files_written(&self) -> u64 {
        self.files.len() as u64 + u64::from(self.running.is_some())
    }

    /// Whether every closed segment is tiered and nothing is converting or queued.
    pub fn idle(&self, log: &Log) -> Result<bool, ArchError> {
        if self.running.is_some() || !self.queue.is_empty() {
            return Ok(false);
        }
        let t = log.topic(&self.topic)?;
        for (p, partition) in t.partitions().iter().enumerate() {
            // Only the active segment may remain: the last segment's base is where it starts.
            let active_base =
                partition.segments().last().map_or(partition.log_end_offset(), |s| s.base_offset);
            if self.tiered_end[p] < active_base {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The object store of the cold tier.
    pub fn store(&self) -> &ColdStore {
        &self.store
    }
}

/// The streaming lake: a tierer plus query-time computation over cold files and the hot tail.
#[derive(Debug)]
pub struct Lake {
    topic: String,
    queries: Arc<QuerySet>,
    cfg: LakeConfig,
    tierer: Tierer,
    /// Merged partial aggregates of every tiered file (files are immutable, so this only grows).
    cold_view: View,
    /// Events in tiered files.
    cold_events: u64,
    /// Events per record of the hot tail, for its query cost (the workload writes every record
    /// with this weight; reading the tail's weights at every tick to price a query would cost
    /// the simulator more than the query).
    events_per_record: u64,
    /// What [`Lake::update_served`] needs to update a served table from what changed: `None`
    /// until it is first called.
    served: Option<ServedChanges>,
    /// When the cold view's exact `distinct_users` windows are sealed (see the module
    /// documentation).
    horizon: Horizon,
    /// Answer retention: when the cold view drops its expired windows.
    pruning: crate::query::Pruning,
    /// The hot tail's partial aggregates, per segment (see [`HotPieces`]).
    hot_pieces: HotPieces,
}

/// The hot tail's partial aggregates, one entry per local segment it spans, so that a query
/// at every sample reads only what was appended since the previous one. Without it, each
/// sample read the whole hot tail into a DataFrame: when tiering falls behind (a conversion
/// slower than the segments arrive) the tail grows with the run, and a 100M-event run spent
/// most of its time, and GBs allocated and freed at every sample, re-reading it.
#[derive(Debug)]
struct HotPieces {
    /// Per (partition, segment uid): what is cached of that segment.
    pieces: std::collections::BTreeMap<(u32, u64), HotPiece>,
    /// A hot tail of fewer records is read whole (see [`Lake::set_hot_cache_min_records`]).
    min_records: u64,
}

impl Default for HotPieces {
    fn default() -> Self {
        HotPieces { pieces: Default::default(), min_records: HOT_CACHE_MIN_RECORDS }
    }
}

/// Below this many records the hot tail is read whole at each query: one DataFrame plan over
/// a short tail (the bundled scenarios' tails are a few thousand records) costs less than one
/// plan per segment piece. (Without this floor the lake test with sealed windows, a tail of
/// a few segments per partition, took 50 s instead of 27 s in a debug build; at 250,000 the
/// 1M-event scaling point read its ~100k-record tail whole at every sample and peaked at
/// 222 MiB instead of 170.)
const HOT_CACHE_MIN_RECORDS: u64 = 50_000;

/// Offsets `[from, to)` of one segment and their partial aggregates. Valid while the segment's
/// uid is listed: a uid's content below its end never changes (see
/// [`crate::log::SegmentUid`]).
#[derive(Debug)]
struct HotPiece {
    from: Offset,
    to: Offset,
    view: View,
}

/// The cells whose answer may have changed since the last [`Lake::update_served`].
#[derive(Debug, Default)]
struct ServedChanges {
    /// Cells of the files tiered since (their partial aggregates joined `cold_view`).
    cold: Vec<Cell>,
    /// The whole cold view was rebuilt (new queries).
    rebuilt: bool,
    /// The cells of the hot tail at the last update (the tail moves on: they change too).
    hot: Vec<Cell>,
}

impl Lake {
    /// A lake over `topic` with its cold tier in `cold_dir`.
    pub fn new(
        log: &Log,
        topic: &str,
        queries: Arc<QuerySet>,
        cfg: &LakeConfig,
        cold_dir: &Path,
    ) -> Result<Self, ArchError> {
        let store = ColdStore::open(cold_dir)?;
        Ok(Lake {
            topic: topic.to_owned(),
            queries,
            cfg: cfg.clone(),
            tierer: Tierer::new(log, topic, cfg, store)?,
            cold_view: View::new(),
            served: None,
            cold_events: 0,
            events_per_record: 1,
            horizon: Horizon::new(log.topic(topic)?.partition_count() as usize),
            pruning: crate::query::Pruning::default(),
            hot_pieces: HotPieces::default(),
        })
    }

    /// Times tiering by `timing`: the cost model (default) or the log's clock (a file counts
    /// once its conversion really finished).
    pub fn set_timing(&mut self, timing: &Timing) {
        self.tierer.measured = timing.is_measured();
    }

    /// Prices the hot tail's records at `n` events each (`workload.events_per_record`).
    pub fn set_events_per_record(&mut self, n: u32) {
        self.events_per_record = u64::from(n.max(1));
    }

    /// Advances the tierer to `now`; caches the partial aggregates of newly tiered files, read
    /// back from the object store (so what queries use is what the file holds).
    pub fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<TierTick, ArchError> {
        let tick = self.tierer.tick(now, log)?;
        let mut reopen = Vec::new();
        for file in &tick.tiered {
            let view = self.file_view(file)?;
            self.absorb_cold(view, &mut reopen);
            self.cold_events += file.events;
        }
        self.rebuild_sealed(reopen)?;
        self.seal();
        // Answer retention: expired windows leave the cold view (a file with a very late
        // event may bring one back, incomplete; it is never compared and leaves again).
        if let Some(through) = self.pruning.due(&self.queries, now) {
            self.queries.retain_live(&mut self.cold_view, through);
        }
        Ok(tick)
    }

    /// A tiered file's partial aggregates, read back from the object store (so what queries
    /// use is what the file holds); its event times advance the horizon.
    fn file_view(&mut self, file: &ColdFile) -> Result<View, ArchError> {
        let df = self.tierer.store().read_frame(&file.object)?;
        let times = df
            .column(columns::EVENT_TIME_MS)
            .and_then(|c| c.i64().cloned())
            .map_err(engine_error(LAYER))?;
        for t in times.into_no_null_iter() {
            self.horizon.note(file.partition as usize, t);
        }
        lambda_polars::run_queries(df.lazy(), &self.queries).map_err(engine_error(LAYER))
    }

    /// Merges one file's view into the cold view. A cell whose window is sealed is not merged
    /// but pushed to `reopen` (rebuilt from every file by [`Lake::rebuild_sealed`]); a new
    /// exact `distinct_users` cell is held open by the horizon.
    fn absorb_cold(&mut self, view: View, reopen: &mut Vec<Cell>) {
        for (cell, agg) in view {
            if let Some(served) = self.served.as_mut() {
                served.cold.push(cell.clone());
            }
            let sealed = self.cold_view.get(&cell).is_some_and(|s| self.is_sealed(&cell, s));
            if sealed {
                self.reached_sealed(&cell);
                reopen.push(cell);
                continue;
            }
            match self.cold_view.get_mut(&cell) {
                Some(existing) => existing.merge(&agg),
                None => {
                    if matches!(agg, Agg::Users(_))
                        && let Some(end) = self.window_end(&cell)
                    {
                        self.horizon.hold(end, cell.clone());
                    }
                    self.cold_view.insert(cell, agg);
                }
            }
        }
    }

    /// Newer data reached sealed `cell`: the horizon sealed it too early and widens (at once,
    /// so that windows sealed later in the same pass are judged by the wider horizon).
    fn reached_sealed(&mut self, cell: &Cell) {
        if let Some(end) = self.window_end(cell) {
            self.horizon.widen(end);
        }
    }

    /// The end of `cell`'s window (`None` for a query the lake does not know).
    fn window_end(&self, cell: &Cell) -> Option<TimestampMs> {
        self.queries.window_end_at(cell.query, cell.window_start_ms)
    }

    /// Whether `state` is a sealed `distinct_users` window: a count where a set belongs.
    fn is_sealed(&self, cell: &Cell, state: &Agg) -> bool {
        matches!(state, Agg::Sum(_))
            && self.queries.spec(cell.query).is_some_and(|s| s.kind == QueryKind::DistinctUsers)
    }

    /// Seals the held windows the horizon has passed: their sets become counts.
    fn seal(&mut self) {
        for cell in self.horizon.due() {
            if let Some(state @ Agg::Users(_)) = self.cold_view.get_mut(&cell) {
                *state = Agg::Sum(state.present());
            }
        }
    }

    /// Rebuilds the cold state of sealed cells that newer data reached, from every cold file,
    /// and holds them open again.
    fn rebuild_sealed(&mut self, mut cells: Vec<Cell>) -> Result<(), ArchError> {
        cells.sort_unstable();
        cells.dedup();
        if cells.is_empty() {
            return Ok(());
        }
        let mut rebuilt = View::new();
        for file in self.tierer.files() {
            let df = self.tierer.store().read_frame(&file.object)?;
            let view = lambda_polars::run_queries(df.lazy(), &self.queries)
                .map_err(engine_error(LAYER))?;
            for cell in &cells {
                if let Some(agg) = view.get(cell) {
                    crate::query::merge_cell(&mut rebuilt, cell.clone(), agg.clone());
                }
            }
        }
        for (cell, agg) in rebuilt {
            if let Some(end) = self.window_end(&cell) {
                self.horizon.reopen(end, cell.clone());
            }
            self.cold_view.insert(cell, agg);
        }
        Ok(())
    }

    /// Sealed cold windows that `hot` reaches (rebuilt before they are merged with it).
    fn sealed_in(&self, hot: &View) -> Vec<Cell> {
        hot.keys()
            .filter(|c| self.cold_view.get(*c).is_some_and(|s| self.is_sealed(c, s)))
            .cloned()
            .collect()
    }

    /// `distinct_users` windows of the cold view sealed so far, and sealed windows rebuilt
    /// because newer data reached them (see the module documentation).
    pub fn sealed_windows(&self) -> (u64, u64) {
        self.horizon.counts()
    }

    /// A new logic version: the lake has no views to rebuild, only its cache of per-file
    /// partial aggregates, which is recomputed from the cold files with the new queries. Every
    /// query from now on answers with the new logic — the lake's edge in a logic change.
    pub fn set_queries(&mut self, queries: Arc<QuerySet>) -> Result<(), ArchError> {
        self.queries = queries;
        self.cold_view = View::new();
        // The cached hot pieces were computed with the old logic.
        self.hot_pieces.pieces.clear();
        self.horizon = self.horizon.restart();
        // The served table is replaced whole after this: no cell changes to note.
        let served = self.served.take();
        let mut reopen = Vec::new();
        for file in self.tierer.files().to_vec() {
            let view = self.file_view(&file)?;
            self.absorb_cold(view, &mut reopen);
            // Sealed file by file, so only the open windows' sets are ever held at once.
            self.seal();
        }
        self.rebuild_sealed(reopen)?;
        self.served = served;
        if let Some(served) = self.served.as_mut() {
            served.rebuilt = true;
        }
        Ok(())
    }

    /// Per partition, the hot tail: from the tiered end to the log end.
    fn hot_ranges(&self, log: &Log) -> Result<Vec<(Offset, Offset)>, ArchError> {
        let ends = log_end_offsets(log, &self.topic)?;
        Ok(self.tierer.tiered_end().iter().zip(ends).map(|(&t, e)| (t, e.max(t))).collect())
    }

    /// The hot tail as a DataFrame.
    fn hot_frame(&self, log: &Log) -> Result<DataFrame, ArchError> {
        lambda_polars::read_events(log, &self.topic, &self.hot_ranges(log)?, LAYER)
    }

    /// Events a query reads in the model: every cold file and the hot tail.
    pub fn events_scanned(&self, log: &Log) -> Result<u64, ArchError> {
        let hot: u64 = self.hot_ranges(log)?.iter().map(|(f, e)| e - f).sum();
        Ok(self.cold_events + hot * self.events_per_record)
    }

    /// Simulated duration of a query now: overhead + events scanned × per-event cost.
    pub fn query_cost_ms(&self, log: &Log) -> Result<i64, ArchError> {
        let events = self.events_scanned(log)? as f64;
        Ok((self.cfg.query_overhead_ms + events * self.cfg.query_cost_us_per_event / 1000.0).ceil()
            as i64)
    }

    /// The answers now: cached cold partial aggregates merged with the DataFrame queries over
    /// the hot tail. Exact whenever asked.
    pub fn query(&self, log: &Log) -> Result<Table, ArchError> {
        let hot = self.hot_frame(log)?;
        if hot.height() == 0 {
            // Everything is cold: no plan to run (a polars plan has a fixed cost).
            return Ok(present(&self.cold_view));
        }
        let hot_view =
            lambda_polars::run_queries(hot.lazy(), &self.queries).map_err(engine_error(LAYER))?;
        if !self.sealed_in(&hot_view).is_empty() {
            // The hot tail reaches a sealed window (rare: see the module documentation): the
            // uncached path is exact without the cold sets.
            return self.query_full_scan(log);
        }
        let mut table = present(&self.cold_view);
        for (cell, agg) in hot_view {
            let merged = match self.cold_view.get(&cell) {
                Some(cold) => {
                    let mut state = cold.clone();
                    state.merge(&agg);
                    state
                }
                None => agg,
            };
            table.insert(cell, merged.present());
        }
        Ok(table)
    }

    /// Brings `served` — the table this method was given at every previous call — up to
    /// [`Lake::query`]: the query over the hot tail runs as there, but only the cells it or
    /// the files tiered since the previous call touch are merged and updated, not the whole
    /// cold view (the simulation's cost; the modelled cost of a query is unchanged).
    pub fn update_served(&mut self, log: &Log, served: &mut TrackedTable) -> Result<(), ArchError> {
        let Some(changes) = self.served.take().filter(|c| !c.rebuilt) else {
            served.replace(self.query(log)?);
            let hot = self.hot_view(log)?.into_keys().collect();
            self.served = Some(ServedChanges { hot, ..ServedChanges::default() });
            return Ok(());
        };
        let hot_view = self.hot_view(log)?;
        let sealed = self.sealed_in(&hot_view);
        sealed.iter().for_each(|cell| self.reached_sealed(cell));
        self.rebuild_sealed(sealed)?;
        let mut cells = changes.cold;
        cells.extend(changes.hot);
        cells.extend(hot_view.keys().cloned());
        cells.sort_unstable();
        cells.dedup();
        for cell in &cells {
            // The same merge as `query` and the serving layer's: the cold state, then the hot
            // one on a copy.
            let value = crate::serving::merge_cell(Some(&self.cold_view), cell, hot_view.get(cell));
            served.set(cell, value);
        }
        let hot = hot_view.into_keys().collect();
        self.served = Some(ServedChanges { hot, ..ServedChanges::default() });
        Ok(())
    }

    /// The partial aggregates of the hot tail (empty when everything is cold), from
    /// [`HotPieces`]: only the records appended since the previous call are read and run
    /// through the queries (a tail shorter than the cache's floor is read whole). The same
    /// view as the queries over the whole tail: view states are commutative monoids.
    fn hot_view(&mut self, log: &Log) -> Result<View, ArchError> {
        let ranges = self.hot_ranges(log)?;
        let records: u64 = ranges.iter().map(|(from, end)| end - from).sum();
        if records < self.hot_pieces.min_records {
            // A short tail costs less read whole, in one DataFrame plan, than in pieces (a
            // plan has a fixed cost); the cache starts over when the tail grows.
            self.hot_pieces.pieces.clear();
            return self.ranges_view(log, &ranges);
        }
        let topic = log.topic(&self.topic)?;
        let partitions = topic.partition_count() as usize;
        let pieces = crate::batch::segment_pieces(topic, &ranges)?;
        let mut cached = std::mem::take(&mut self.hot_pieces.pieces);
        let mut kept = std::collections::BTreeMap::new();
        let mut view = View::new();
        for piece in pieces {
            let Some(segment) = piece.segment else {
                // Not a local segment (a remote-only or compacted range): read every time.
                let part =
                    self.range_view(log, partitions, piece.partition, piece.from, piece.end)?;
                crate::query::merge_into(&mut view, &part);
                continue;
            };
            let key = (piece.partition, segment.uid);
            // A piece cached from the same start, not past the end now, is extended; any other
            // (the hot tail started elsewhere, the segment was cut) is read again whole.
            let mut hot = match cached.remove(&key) {
                Some(hot) if hot.from == piece.from && hot.to <= piece.end => hot,
                _ => HotPiece { from: piece.from, to: piece.from, view: View::new() },
            };
            if hot.to < piece.end {
                let new = self.range_view(log, partitions, piece.partition, hot.to, piece.end)?;
                crate::query::merge_into(&mut hot.view, &new);
                hot.to = piece.end;
            }
            crate::query::merge_into(&mut view, &hot.view);
            kept.insert(key, hot);
        }
        // Pieces not listed any more were tiered (or their segment deleted): forgotten.
        self.hot_pieces.pieces = kept;
        Ok(view)
    }

    /// The partial aggregates of offsets `[from, end)` of partition `p`.
    fn range_view(
        &self,
        log: &Log,
        partitions: usize,
        p: u32,
        from: Offset,
        end: Offset,
    ) -> Result<View, ArchError> {
        let mut ranges = vec![(0, 0); partitions];
        ranges[p as usize] = (from, end);
        self.ranges_view(log, &ranges)
    }

    /// The partial aggregates of the offsets `ranges[p]` of each partition `p` (no plan runs
    /// when they hold no record: a polars plan has a fixed cost).
    fn ranges_view(&self, log: &Log, ranges: &[(Offset, Offset)]) -> Result<View, ArchError> {
        let frame = lambda_polars::read_events(log, &self.topic, ranges, LAYER)?;
        if frame.height() == 0 {
            return Ok(View::new());
        }
        lambda_polars::run_queries(frame.lazy(), &self.queries).map_err(engine_error(LAYER))
    }

    /// The answers now without the cache: a polars lazy scan of every tiered file (only the
    /// columns the queries read) concatenated with the hot tail, then the DataFrame queries.
    pub fn query_full_scan(&self, log: &Log) -> Result<Table, ArchError> {
        let inputs: Vec<Expr> = columns::QUERY_INPUT.iter().map(|c| col(*c)).collect();
        let mut frames = vec![self.hot_frame(log)?.lazy().select(inputs.clone())];
        let paths = self
            .tierer
            .files()
            .iter()
            .map(|f| PlRefPath::try_from_path(&f.path))
            .collect::<PolarsResult<Vec<_>>>()
            .map_err(engine_error(LAYER))?;
        if !paths.is_empty() {
            let args = ScanArgsParquet { glob: false, ..ScanArgsParquet::default() };
            let cold = LazyFrame::scan_parquet_files(paths.into_iter().collect(), args)
                .map_err(engine_error(LAYER))?;
            frames.insert(0, cold.select(inputs));
        }
        let all = concat(frames, UnionArgs::default()).map_err(engine_error(LAYER))?;
        let view = lambda_polars::run_queries(all, &self.queries).map_err(engine_error(LAYER))?;
        Ok(present(&view))
    }

    /// Whether the tierer has nothing left to do but the active segments.
    pub fn idle(&self, log: &Log) -> Result<bool, ArchError> {
        self.tierer.idle(log)
    }

    /// The tierer (files, lag, tiered ends).
    pub fn tierer(&self) -> &Tierer {
        &self.tierer
    }

    /// Cells held in the cached cold view.
    pub fn cold_cells(&self) -> usize {
        self.cold_view.len()
    }

    /// Caches the hot tail's partial aggregates per segment only when it holds at least
    /// `records` records (default 50,000; a shorter tail is read whole at each query, which
    /// costs less). Either way the answers are the same; tests set 0 to exercise the cache.
    pub fn set_hot_cache_min_records(&mut self, records: u64) {
        self.hot_pieces.min_records = records;
    }

    /// Segments of the hot tail whose partial aggregates are cached (the private `HotPieces`): at
    /// most the segments not yet tiered, as the cache forgets a segment once it is cold.
    pub fn hot_pieces(&self) -> usize {
        self.hot_pieces.pieces.len()
    }
}
