//! Lambda's batch layer written as DataFrame code (polars), the way a Spark or Hive job would
//! compute the views: load the events of a log prefix into one DataFrame, then express each
//! query as filters, joins and group-bys.
//!
//! This is deliberately a second implementation of every query, separate from the hand-written
//! speed operators (`speed/operators.rs`): that duplication is what Lambda costs, and the
//! workbench measures it. The streaming lake reuses [`run_queries`] unchanged over cold Parquet
//! plus the hot log tail, so the lake has one implementation of each query, not a third.
//!
//! Windows follow [`crate::query::QuerySpec::window_starts`]: the newest window of an event
//! starts at the last slide boundary at or before its event time (floor division, so negative
//! and zero timestamps land in the right window), and sliding windows step back one slide at a
//! time while the window still covers the event.

use std::collections::BTreeSet;

use polars::prelude::*;
use rayon::prelude::*;

use crate::arch::ArchError;
use crate::log::{Log, Offset, TimestampMs};
use crate::query::{Agg, Cell, QueryKind, QuerySet, QuerySpec, View};
use crate::workload::{AdType, EventFields, EventRef, EventType};

use super::BatchCompute;
use super::columns::ColumnCache;

/// Column names of the events DataFrame (and of the lake's Parquet files), in file order.
pub mod columns {
    /// Partition of the record (`u32`).
    pub const PARTITION: &str = "partition";
    /// Offset of the record in its partition (`u64`).
    pub const OFFSET: &str = "offset";
    /// Event key: ad id or `key-NNNN` (string).
    pub const KEY: &str = "key";
    /// Who (`u64`).
    pub const USER_ID: &str = "user_id";
    /// Where (`u64`).
    pub const PAGE_ID: &str = "page_id";
    /// Kind of ad (string: `banner`, ...).
    pub const AD_TYPE: &str = "ad_type";
    /// What happened (string: `view`, `click`, `purchase`).
    pub const EVENT_TYPE: &str = "event_type";
    /// Amount `key_sum` adds up (`i64`).
    pub const VALUE: &str = "value";
    /// Event time, ms (`i64`).
    pub const EVENT_TIME_MS: &str = "event_time_ms";
    /// When the log appended the record, ms (`i64`).
    pub const APPEND_TIME_MS: &str = "append_time_ms";
    /// Events the record stands for (`workload.events_per_record`; 1 for unweighted records).
    pub const WEIGHT: &str = "weight";
    /// The columns the queries read; scans project to these.
    pub const QUERY_INPUT: [&str; 6] = [KEY, USER_ID, EVENT_TYPE, VALUE, EVENT_TIME_MS, WEIGHT];
}

use columns as c;

/// Intermediate column names used by the query plans.
const GROUP: &str = "group";
const WINDOW_START: &str = "window_start";
const SLIDE_BASE: &str = "slide_base";
const AGG: &str = "agg";
const AD: &str = "ad";
const CAMPAIGN: &str = "campaign";

/// Which columns [`EventColumns`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Projection {
    /// Every column of [`columns`] (exports, the lake's Parquet files).
    #[default]
    All,
    /// Only [`columns::QUERY_INPUT`]: what the query plans read. Half the columns, so about
    /// half the memory and the column-building time of a batch recompute.
    QueryInput,
}

/// Events of the log as column buffers, filled record by record and turned into a DataFrame
/// once. Nothing is allocated per event: keys go into one byte buffer with offsets, the two
/// enum columns are one byte each, numbers are plain vectors; the polars string columns are
/// built in one pass at the end.
#[derive(Debug, Default, Clone)]
pub struct EventColumns {
    projection: Projection,
    len: usize,
    partition: Vec<u32>,
    offset: Vec<u64>,
    /// Every key's bytes, back to back; key `i` is `key_bytes[key_ends[i-1]..key_ends[i]]`.
    key_bytes: Vec<u8>,
    key_ends: Vec<usize>,
    user_id: Vec<u64>,
    page_id: Vec<u64>,
    ad_type: Vec<AdType>,
    event_type: Vec<EventType>,
    value: Vec<i64>,
    event_time_ms: Vec<i64>,
    append_time_ms: Vec<i64>,
    weight: Vec<i64>,
}

impl EventColumns {
    /// Empty columns keeping `projection`.
    pub fn new(projection: Projection) -> Self {
        EventColumns { projection, ..EventColumns::default() }
    }

    /// Reserves room for `n` more events (avoids regrowing every vector while reading).
    pub fn reserve(&mut self, n: usize) {
        let all = self.projection == Projection::All;
        if all {
            self.partition.reserve(n);
            self.offset.reserve(n);
            self.page_id.reserve(n);
            self.ad_type.reserve(n);
            self.append_time_ms.reserve(n);
        }
        // Keys are ~9 bytes (`ad-000042`, `key-0007`).
        self.key_bytes.reserve(n * 10);
        self.key_ends.reserve(n);
        self.user_id.reserve(n);
        self.event_type.reserve(n);
        self.value.reserve(n);
        self.event_time_ms.reserve(n);
        self.weight.reserve(n);
    }

    /// Appends one decoded event.
    pub fn push(
        &mut self,
        partition: u32,
        offset: Offset,
        append_time_ms: TimestampMs,
        e: EventFields,
    ) {
        let e = EventRef {
            key: &e.key,
            user_id: e.user_id,
            page_id: e.page_id,
            ad_type: e.ad_type,
            event_type: e.event_type,
            value: e.value,
            event_time_ms: e.event_time_ms,
            weight: e.weight,
        };
        self.push_ref(partition, offset, append_time_ms, &e);
    }

    /// Appends one event decoded without allocation ([`crate::workload::decode_ref`]).
    #[inline]
    pub fn push_ref(
        &mut self,
        partition: u32,
        offset: Offset,
        append_time_ms: TimestampMs,
        e: &EventRef<'_>,
    ) {
        if self.projection == Projection::All {
            self.partition.push(partition);
            self.offset.push(offset);
            self.page_id.push(e.page_id);
            self.ad_type.push(e.ad_type);
            self.append_time_ms.push(append_time_ms);
        }
        self.key_bytes.extend_from_slice(e.key.as_bytes());
        self.key_ends.push(self.key_bytes.len());
        self.user_id.push(e.user_id);
        self.event_type.push(e.event_type);
        self.value.push(e.value);
        self.event_time_ms.push(e.event_time_ms);
        self.weight.push(i64::from(e.weight));
        self.len += 1;
    }

    /// Number of events held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no event is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves every event of `other` (same projection) after this one's.
    pub fn append(&mut self, other: EventColumns) {
        debug_assert_eq!(self.projection, other.projection);
        let base = self.key_bytes.len();
        self.key_bytes.extend_from_slice(&other.key_bytes);
        self.key_ends.extend(other.key_ends.iter().map(|e| e + base));
        self.partition.extend(other.partition);
        self.offset.extend(other.offset);
        self.user_id.extend(other.user_id);
        self.page_id.extend(other.page_id);
        self.ad_type.extend(other.ad_type);
        self.event_type.extend(other.event_type);
        self.value.extend(other.value);
        self.event_time_ms.extend(other.event_time_ms);
        self.append_time_ms.extend(other.append_time_ms);
        self.weight.extend(other.weight);
        self.len += other.len;
    }

    /// Key `i` (the buffer only ever holds whole UTF-8 keys, checked when decoded).
    fn key(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.key_ends[i - 1] };
        std::str::from_utf8(&self.key_bytes[start..self.key_ends[i]]).unwrap_or_default()
    }

    /// The DataFrame with the projection's columns, in [`columns`] order.
    pub fn into_frame(self) -> PolarsResult<DataFrame> {
        let key =
            StringChunked::from_iter_values(c::KEY.into(), (0..self.len).map(|i| self.key(i)))
                .into_column();
        let event_type = StringChunked::from_iter_values(
            c::EVENT_TYPE.into(),
            self.event_type.iter().map(|t| t.as_str()),
        )
        .into_column();
        let user_id = Column::new(c::USER_ID.into(), self.user_id);
        let value = Column::new(c::VALUE.into(), self.value);
        let event_time = Column::new(c::EVENT_TIME_MS.into(), self.event_time_ms);
        let weight = Column::new(c::WEIGHT.into(), self.weight);
        let columns = match self.projection {
            Projection::QueryInput => vec![key, user_id, event_type, value, event_time, weight],
            Projection::All => {
                let ad_type = StringChunked::from_iter_values(
                    c::AD_TYPE.into(),
                    self.ad_type.iter().map(|t| t.as_str()),
                )
                .into_column();
                vec![
                    Column::new(c::PARTITION.into(), self.partition),
                    Column::new(c::OFFSET.into(), self.offset),
                    key,
                    user_id,
                    Column::new(c::PAGE_ID.into(), self.page_id),
                    ad_type,
                    event_type,
                    value,
                    event_time,
                    Column::new(c::APPEND_TIME_MS.into(), self.append_time_ms),
                    weight,
                ]
            }
        };
        DataFrame::new_infer_height(columns)
    }
}

/// Maps a polars error to the architecture error of `layer` (`batch` or `lake`).
pub fn engine_error(layer: &'static str) -> impl Fn(PolarsError) -> ArchError {
    move |e| ArchError::Engine { layer, message: e.to_string() }
}

/// Reads and decodes offsets `ranges[p].0 .. ranges[p].1` of each partition `p` of `topic`
/// into columns ordered by partition, then offset. The work is split at partition *and*
/// segment boundaries and run in parallel (a range of a log below its end is immutable, and
/// segments are separate files), so one hot partition does not leave the other cores idle.
pub fn read_columns(
    log: &Log,
    topic: &str,
    ranges: &[(Offset, Offset)],
) -> Result<EventColumns, ArchError> {
    read_columns_projected(log, topic, ranges, Projection::All)
}

/// [`read_columns`] keeping only the columns of `projection`.
pub fn read_columns_projected(
    log: &Log,
    topic: &str,
    ranges: &[(Offset, Offset)],
    projection: Projection,
) -> Result<EventColumns, ArchError> {
    let topic = log.topic(topic)?;
    let parts = read_pieces(topic, ranges, projection)?;
    let mut all = EventColumns::new(projection);
    all.reserve(parts.iter().map(EventColumns::len).sum());
    for part in parts {
        all.append(part);
    }
    Ok(all)
}

/// The events of `ranges` with the columns of `projection`, as one DataFrame whose columns
/// are made of one chunk per piece of [`read_columns`]: the pieces become polars arrays in
/// parallel and are never copied into one buffer.
pub fn read_frame(
    log: &Log,
    topic: &str,
    ranges: &[(Offset, Offset)],
    projection: Projection,
    layer: &'static str,
) -> Result<DataFrame, ArchError> {
    let parts = read_pieces(log.topic(topic)?, ranges, projection)?;
    let frames = parts
        .into_par_iter()
        .map(EventColumns::into_frame)
        .collect::<PolarsResult<Vec<DataFrame>>>()
        .map_err(engine_error(layer))?;
    let mut frames = frames.into_iter();
    let Some(mut all) = frames.next() else {
        return EventColumns::new(projection).into_frame().map_err(engine_error(layer));
    };
    for f in frames {
        all.vstack_mut_owned(f).map_err(engine_error(layer))?;
    }
    Ok(all)
}

/// Reads `ranges` of `topic` in pieces split at partition and segment boundaries, in parallel;
/// the pieces come back in partition, then offset order.
fn read_pieces(
    topic: &crate::log::Topic,
    ranges: &[(Offset, Offset)],
    projection: Projection,
) -> Result<Vec<EventColumns>, ArchError> {
    let pieces = super::segment_pieces(topic, ranges)?;
    pieces
        .par_iter()
        .map(|piece| {
            let partition = topic.partition(piece.partition)?;
            let mut cols = EventColumns::new(projection);
            cols.reserve((piece.end - piece.from) as usize);
            // Records borrowed from the log's read buffer, decoded straight into the column
            // buffers: no copy or allocation per record.
            super::visit_decoded(partition, piece.partition, piece.from, piece.end, |r, e| {
                cols.push_ref(piece.partition, r.offset, r.append_time_ms, &e)
            })?;
            Ok(cols)
        })
        .collect()
}

/// The events of `ranges` (see [`read_columns`]) as one DataFrame with the [`columns`].
pub fn read_events(
    log: &Log,
    topic: &str,
    ranges: &[(Offset, Offset)],
    layer: &'static str,
) -> Result<DataFrame, ArchError> {
    read_columns(log, topic, ranges)?.into_frame().map_err(engine_error(layer))
}

/// The ad → campaign join table as a DataFrame (`ad`, `campaign`).
fn campaign_frame(queries: &QuerySet) -> PolarsResult<LazyFrame> {
    let (ads, campaigns): (Vec<&str>, Vec<&str>) = queries.campaigns.iter().unzip();
    let df = DataFrame::new_infer_height(vec![
        Column::new(AD.into(), ads),
        Column::new(CAMPAIGN.into(), campaigns),
    ])?;
    Ok(df.lazy())
}

/// Assigns every row to each window containing its event time: one copy of the frame per
/// window an event can fall in (`ceil(window / slide)`; one when tumbling), each with its
/// window start, keeping the copies whose window covers the event, concatenated.
fn windowed(events: LazyFrame, spec: &QuerySpec) -> PolarsResult<LazyFrame> {
    let (window, slide) = (spec.window_ms, spec.slide_ms);
    // polars' integer `%` is the floored modulo (Python's, = `rem_euclid` for a positive
    // slide), so -1 ms lands in the window starting at -slide, not at 0. (`floor_div` would
    // say the same but needs polars' `round_series` feature.)
    let based = events.with_column(
        (col(c::EVENT_TIME_MS) - col(c::EVENT_TIME_MS) % lit(slide)).alias(SLIDE_BASE),
    );
    let copies = (window + slide - 1) / slide;
    if window == slide {
        // Tumbling: the window starting at the slide base always covers the event.
        return Ok(based.with_column(col(SLIDE_BASE).alias(WINDOW_START)));
    }
    let frames: Vec<LazyFrame> = (0..copies)
        .map(|k| {
            based
                .clone()
                .with_column((col(SLIDE_BASE) - lit(k * slide)).alias(WINDOW_START))
                .filter(col(WINDOW_START).gt(col(c::EVENT_TIME_MS) - lit(window)))
        })
        .collect();
    concat(frames, UnionArgs::default())
}

/// Group by (group, window start) and count rows, as `i64`.
fn count_per_window(grouped: LazyFrame, spec: &QuerySpec) -> PolarsResult<LazyFrame> {
    Ok(windowed(grouped, spec)?
        .group_by([col(GROUP), col(WINDOW_START)])
        .agg([col(c::WEIGHT).sum().cast(DataType::Int64).alias(AGG)]))
}

/// The DataFrame plan of one query: columns `group`, `window_start`, `agg` (a count or sum as
/// `i64`, or the list of distinct user ids).
pub fn query_plan(
    events: LazyFrame,
    spec: &QuerySpec,
    queries: &QuerySet,
) -> PolarsResult<LazyFrame> {
    // Logic version 2 leaves out the bot farm, in every query alike.
    let events = if spec.exclude_bots {
        events.filter((col(c::USER_ID) % lit(crate::query::BOT_MODULUS)).neq(lit(0u64)))
    } else {
        events
    };
    match spec.kind {
        QueryKind::KeyWindowCount => {
            let keyed =
                events.select([col(c::KEY).alias(GROUP), col(c::EVENT_TIME_MS), col(c::WEIGHT)]);
            count_per_window(keyed, spec)
        }
        QueryKind::KeySum => {
            // Each record's value counts `weight` times.
            let keyed = events.select([
                col(c::KEY).alias(GROUP),
                col(c::EVENT_TIME_MS),
                (col(c::VALUE) * col(c::WEIGHT)).alias(c::VALUE),
            ]);
            Ok(windowed(keyed, spec)?.group_by([col(GROUP), col(WINDOW_START)]).agg([col(
                c::VALUE,
            )
            .sum()
            .alias(AGG)]))
        }
        QueryKind::CampaignWindowCount => {
            // YSB: keep views, join each ad to its campaign (ads outside the table drop out).
            let views = events
                .filter(col(c::EVENT_TYPE).eq(lit("view")))
                .select([col(c::KEY), col(c::EVENT_TIME_MS), col(c::WEIGHT)])
                .join(
                    campaign_frame(queries)?,
                    [col(c::KEY)],
                    [col(AD)],
                    JoinArgs::new(JoinType::Inner),
                )
                .select([col(CAMPAIGN).alias(GROUP), col(c::EVENT_TIME_MS), col(c::WEIGHT)]);
            count_per_window(views, spec)
        }
        QueryKind::DistinctUsers => {
            // Campaign for ads in the table, the event key for anything else.
            let grouped = events
                .select([col(c::KEY), col(c::USER_ID), col(c::EVENT_TIME_MS)])
                .join(
                    campaign_frame(queries)?,
                    [col(c::KEY)],
                    [col(AD)],
                    JoinArgs::new(JoinType::Left),
                )
                .select([
                    col(CAMPAIGN).fill_null(col(c::KEY)).alias(GROUP),
                    col(c::USER_ID),
                    col(c::EVENT_TIME_MS),
                ]);
            // The batch layer is always exact: a set of users, never a sketch.
            Ok(windowed(grouped, spec)?.group_by([col(GROUP), col(WINDOW_START)]).agg([col(
                c::USER_ID,
            )
            .unique()
            .alias(AGG)]))
        }
    }
}

/// Every query of `queries` over `events` (a frame with at least the
/// [`columns::QUERY_INPUT`] columns), as mergeable view states.
///
/// The queries are independent plans over the same input, so they run in parallel (rayon);
/// a plan has a fixed cost (optimisation, scheduling) that dominates on a small hot tail.
/// Each query's cells carry its id, so the partial views never overlap and simply union.
pub fn run_queries(events: LazyFrame, queries: &QuerySet) -> PolarsResult<View> {
    let views = queries
        .specs
        .par_iter()
        .map(|spec| run_query(events.clone(), spec, queries))
        .collect::<PolarsResult<Vec<View>>>()?;
    let mut all = View::new();
    for view in views {
        all.extend(view);
    }
    Ok(all)
}

/// One query's plan, collected and turned into view states.
fn run_query(events: LazyFrame, spec: &QuerySpec, queries: &QuerySet) -> PolarsResult<View> {
    let mut view = View::new();
    {
        let result = query_plan(events, spec, queries)?.collect()?;
        let groups = result.column(GROUP)?.str()?;
        let starts = result.column(WINDOW_START)?.i64()?;
        let aggs = result.column(AGG)?;
        let cell = |group: &str, start: i64| Cell {
            query: spec.id,
            key: group.to_owned(),
            window_start_ms: start,
        };
        match spec.kind {
            QueryKind::DistinctUsers => {
                let lists = aggs.list()?;
                for (i, (group, start)) in groups.iter().zip(starts.iter()).enumerate() {
                    let (Some(group), Some(start), Some(users)) =
                        (group, start, lists.get_as_series(i))
                    else {
                        continue;
                    };
                    let users: BTreeSet<u64> = users.u64()?.iter().flatten().collect();
                    view.insert(cell(group, start), Agg::Users(users));
                }
            }
            _ => {
                let sums = aggs.i64()?;
                for ((group, start), n) in groups.iter().zip(starts.iter()).zip(sums.iter()) {
                    let (Some(group), Some(start), Some(n)) = (group, start, n) else { continue };
                    view.insert(cell(group, start), Agg::Sum(n));
                }
            }
        }
    }
    Ok(view)
}

/// Events a frame of records stands for: the sum of its `weight` column (its height when
/// it has none).
pub fn weight_sum(frame: &DataFrame) -> u64 {
    frame
        .column(c::WEIGHT)
        .ok()
        .and_then(|w| w.i64().ok().map(|w| w.sum().unwrap_or(0)))
        .map_or(frame.height() as u64, |s| s.max(0) as u64)
}

/// Every query over the events of a log prefix: sums and counts as a hash aggregation over the
/// log's events in columns ([`super::hash_agg`], columns decoded once per segment and kept by
/// a [`ColumnCache`]), the rest (`distinct_users`) as polars DataFrame code.
#[derive(Debug)]
pub struct PolarsBatch {
    /// Whether sums and counts take the hash-aggregation path (default) or the DataFrame plans.
    hash_aggregate: bool,
    /// Decoded columns of the log's segments, kept across recomputes (and shared with the
    /// run's other batch layers, see [`PolarsBatch::with_cache`]).
    cache: Arc<ColumnCache>,
    /// Whether exact distinct-user sets are published as their counts (see
    /// [`PolarsBatch::publishing_counts`]).
    counts_only: bool,
}

impl Default for PolarsBatch {
    fn default() -> Self {
        PolarsBatch { hash_aggregate: true, cache: Default::default(), counts_only: false }
    }
}

impl PolarsBatch {
    /// The batch computation.
    pub fn new() -> Self {
        PolarsBatch::default()
    }

    /// Every query as a DataFrame plan, none hash-aggregated (to compare the two paths).
    pub fn dataframe_only() -> Self {
        PolarsBatch {
            hash_aggregate: false,
            cache: Arc::new(ColumnCache::new(0)),
            counts_only: false,
        }
    }

    /// Hash aggregation that keeps no columns: every recompute decodes every record from the
    /// log (to compare with the cached path, and to measure a cold recompute).
    pub fn without_column_cache() -> Self {
        PolarsBatch {
            hash_aggregate: true,
            cache: Arc::new(ColumnCache::new(0)),
            counts_only: false,
        }
    }

    /// Hash aggregation keeping at most about `budget_bytes` of decoded columns.
    pub fn with_column_budget(budget_bytes: usize) -> Self {
        PolarsBatch {
            hash_aggregate: true,
            cache: Arc::new(ColumnCache::new(budget_bytes)),
            counts_only: false,
        }
    }

    /// Hash aggregation reading its columns through `cache`, which other batch computations
    /// may share: a run's batch layers read one master dataset, decoded once.
    pub fn with_cache(cache: Arc<ColumnCache>) -> Self {
        PolarsBatch { hash_aggregate: true, cache, counts_only: false }
    }

    /// Publishes each exact `distinct_users` cell as its count, not its set of users: for a
    /// batch layer whose views are only ever read as answers (`batch-lake`), never merged with
    /// anything. A Lambda batch view must keep the sets, because the serving layer unites
    /// them with the speed layer's; the count is all a table in a lake holds. Over a long run
    /// the sets were one entry per (user, window) of the whole log, held until the next view.
    pub fn publishing_counts(mut self) -> Self {
        self.counts_only = true;
        self
    }

    /// The column cache (what it holds and did).
    pub fn column_cache(&self) -> &ColumnCache {
        &self.cache
    }
}

impl BatchCompute for PolarsBatch {
    fn compute(
        &self,
        log: &Log,
        topic: &str,
        cutoff: &[Offset],
        queries: &QuerySet,
    ) -> Result<(View, u64), ArchError> {
        let t = log.topic(topic)?;
        let ranges = cutoff
            .iter()
            .enumerate()
            .map(|(p, &end)| Ok((t.partition(p as u32)?.log_start_offset(), end)))
            .collect::<Result<Vec<_>, ArchError>>()?;
        let (hashed, planned): (Vec<&QuerySpec>, Vec<&QuerySpec>) =
            queries.specs.iter().partition(|s| self.hash_aggregate && super::hash_agg::supports(s));
        let mut view = View::new();
        let mut read = None;
        if !hashed.is_empty() {
            let (v, n) = super::hash_agg::aggregate(t, &ranges, &hashed, queries, &self.cache)?;
            view = v;
            read = Some(n);
        }
        if !planned.is_empty() || read.is_none() {
            // The plans read only the query-input columns: build only those.
            let events = read_frame(log, topic, &ranges, Projection::QueryInput, "batch")?;
            // The cost model charges per event: a record stands for `weight` of them.
            read = Some(weight_sum(&events));
            let rest = QuerySet {
                specs: planned.into_iter().cloned().collect(),
                campaigns: queries.campaigns.clone(),
                ttl_ms: queries.ttl_ms,
            };
            view.extend(run_queries(events.lazy(), &rest).map_err(engine_error("batch"))?);
        }
        if self.counts_only {
            for state in view.values_mut() {
                if let Agg::Users(users) = state {
                    *state = Agg::Sum(users.len() as i64);
                }
            }
        }
        Ok((view, read.unwrap_or(0)))
    }
}
