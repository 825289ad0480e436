//! The batch layer's hash aggregation: sums and counts per (group, window) computed from each
//! piece of the log (a segment of a partition) in parallel, then merged.
//!
//! This is the plan a query engine runs for `SELECT key, window, sum(value) ... GROUP BY`
//! (DuckDB's and polars' hash aggregate) over typed columns: each piece's events come as
//! [`SegmentColumns`] (decoded from the log once per segment and kept by the
//! [`ColumnCache`]; see `columns.rs`), with keys dictionary-encoded per segment, so grouping
//! is by small integer ids. A piece's table is a dense array indexed by (group, window) when
//! the segment's groups × windows are few enough (they nearly always are: a segment covers a
//! short stretch of event time), else a pre-sized Fx hash table. It serves
//! `key_window_count`, `key_sum` and `campaign_window_count`, the queries whose state is one
//! `i64` per cell, and `distinct_users`, whose state is the set of users per cell (collected
//! per piece, unioned at the merge). The results are the same cells as
//! [`super::lambda_polars::query_plan`]'s, which the tests check query by query, tumbling and
//! sliding, with and without the bot filter.
//!
//! `distinct_users` was a DataFrame plan over a frame of every event read from the log at
//! every recompute: the largest part of a batch layer's peak memory in a long run (about 70
//! MiB of a 181 MiB heap peak in the simulated soak), growing with the log. From the cached
//! columns it holds only the users per cell.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rayon::prelude::*;

use super::columns::{ColumnCache, SegmentColumns};
use crate::arch::ArchError;
use crate::log::{Offset, Topic};
use crate::query::{Agg, Cell, FxBuild, Keys, QueryKind, QuerySet, QuerySpec, View, is_bot};
use crate::workload::EventType;

/// Upper bound of a hash table's initial size (cells), so a huge piece does not reserve for
/// millions of cells that a few thousand keys never fill.
const MAX_PRESIZE: usize = 1 << 16;
/// Most cells of a dense table: beyond, or beyond a few per row, a hash table is used.
const MAX_DENSE: usize = 1 << 22;
/// A group id of the campaign query that drops the row (an ad outside the campaign table).
const SKIP: u32 = u32::MAX;

/// Whether [`aggregate`] computes `spec` (every query kind today; the DataFrame plans remain
/// the reference the tests compare with, and the path of `PolarsBatch::plans`).
pub fn supports(spec: &QuerySpec) -> bool {
    matches!(
        spec.kind,
        QueryKind::KeyWindowCount
            | QueryKind::KeySum
            | QueryKind::CampaignWindowCount
            | QueryKind::DistinctUsers
    )
}

/// Cells hashed with the stream layer's Fx hasher ([`FxBuild`]): the keys are small integers
/// from our own log, and SipHash's flooding resistance would cost more than the aggregation.
type FxMap<K, V> = HashMap<K, V, FxBuild>;

/// One piece's partial aggregates.
struct Partial {
    /// The piece's columns: their key names are the groups of the key queries.
    cols: Arc<SegmentColumns>,
    /// Campaign names (the groups of the campaign query).
    campaigns: Keys,
    /// Group names of `distinct_users`: the campaign of an ad in the table, else the key.
    user_groups: Keys,
    /// Per query: its cells.
    cells: Vec<PieceCells>,
    /// Events the piece's records stand for.
    events: u64,
}

/// One query's cells in one piece.
enum PieceCells {
    /// (group id, window index = window start / slide, sum).
    Sums(Vec<(u32, i64, i64)>),
    /// (group id in `user_groups`, window index, the users seen, each once).
    Users(Vec<(u32, i64, Vec<u64>)>),
}

/// Aggregates every query of `specs` (all [`supports`]ed) over `ranges[p]` of each partition
/// `p` of `topic`, pieces split at segment boundaries and run on the rayon pool, their columns
/// from `cache`. Returns the view and the events read.
pub fn aggregate(
    topic: &Topic,
    ranges: &[(Offset, Offset)],
    specs: &[&QuerySpec],
    queries: &QuerySet,
    cache: &ColumnCache,
) -> Result<(View, u64), ArchError> {
    let pieces = super::segment_pieces(topic, ranges)?;
    // Columns of segments no longer listed (deleted, cut, reopened) must never be read again.
    let live: Vec<u64> =
        topic.partitions().iter().flat_map(|p| p.segment_uids()).map(|s| s.uid).collect();
    cache.retain(&live);
    // Each piece's partial aggregates are merged into its rayon task's running total as soon
    // as they are made, and the totals are merged pairwise at the end: a recompute holds the
    // totals and the pieces in flight, not every piece's partials at once (which it did until
    // session 6: the largest transient of a batch layer in a long run).
    let merged = pieces
        .par_iter()
        .map(|piece| aggregate_piece(topic, piece, specs, queries, cache))
        .try_fold(Merged::default, |total, part| Ok::<_, ArchError>(total.absorb(part?, specs)))
        .try_reduce(Merged::default, |a, b| Ok(a.plus(b)))?;
    let Merged { names, sums, users, events } = merged;
    let cell = |q: usize, group: u32, k: i64| {
        let spec = specs[q];
        Cell {
            query: spec.id,
            key: names.name(group).to_owned(),
            window_start_ms: k * spec.slide_ms,
        }
    };
    let mut view: View =
        sums.into_iter().map(|((q, group, k), sum)| (cell(q, group, k), Agg::Sum(sum))).collect();
    view.extend(
        users.into_iter().map(|((q, group, k), users)| (cell(q, group, k), Agg::Users(users))),
    );
    Ok((view, events))
}

/// A running total of pieces' partial aggregates: cells per (query index, group, window
/// index), the groups interned in `names`.
#[derive(Default)]
struct Merged {
    names: Keys,
    sums: FxMap<(usize, u32, i64), i64>,
    users: FxMap<(usize, u32, i64), BTreeSet<u64>>,
    events: u64,
}

impl Merged {
    /// Adds one piece: its piece-local group ids mapped to this total's names.
    fn absorb(mut self, part: Partial, specs: &[&QuerySpec]) -> Self {
        self.events += part.events;
        let names = &mut self.names;
        let mut key_ids: Vec<u32> = Vec::new();
        let mut campaign_ids: Vec<u32> = Vec::new();
        let mut user_group_ids: Vec<u32> = Vec::new();
        for (q, (spec, cells)) in specs.iter().zip(part.cells).enumerate() {
            let cells = match cells {
                PieceCells::Sums(cells) => cells,
                PieceCells::Users(cells) => {
                    if user_group_ids.is_empty() {
                        user_group_ids = (0..part.user_groups.len() as u32)
                            .map(|g| names.id(part.user_groups.name(g)))
                            .collect();
                    }
                    for (group, k, users) in cells {
                        self.users
                            .entry((q, user_group_ids[group as usize], k))
                            .or_default()
                            .extend(users);
                    }
                    continue;
                }
            };
            let ids = if spec.kind == QueryKind::CampaignWindowCount {
                if campaign_ids.is_empty() {
                    campaign_ids = (0..part.campaigns.len() as u32)
                        .map(|c| names.id(part.campaigns.name(c)))
                        .collect();
                }
                &campaign_ids
            } else {
                if key_ids.is_empty() {
                    key_ids =
                        (0..part.cols.keys() as u32).map(|k| names.id(part.cols.name(k))).collect();
                }
                &key_ids
            };
            for (group, k, sum) in cells {
                let s = self.sums.entry((q, ids[group as usize], k)).or_insert(0);
                *s = s.wrapping_add(sum);
            }
        }
        self
    }

    /// The sum of two totals (sums add, user sets unite: the order does not matter), the
    /// smaller merged into the larger.
    fn plus(self, other: Merged) -> Merged {
        let size = |m: &Merged| m.sums.len() + m.users.len();
        let (mut big, small) =
            if size(&self) >= size(&other) { (self, other) } else { (other, self) };
        let ids: Vec<u32> =
            (0..small.names.len() as u32).map(|g| big.names.id(small.names.name(g))).collect();
        for ((q, g, k), sum) in small.sums {
            let s = big.sums.entry((q, ids[g as usize], k)).or_insert(0);
            *s = s.wrapping_add(sum);
        }
        for ((q, g, k), mut users) in small.users {
            let set = big.users.entry((q, ids[g as usize], k)).or_default();
            if set.len() < users.len() {
                std::mem::swap(set, &mut users);
            }
            set.extend(users);
        }
        big.events += small.events;
        big
    }
}

fn aggregate_piece(
    topic: &Topic,
    piece: &super::Piece,
    specs: &[&QuerySpec],
    queries: &QuerySet,
    cache: &ColumnCache,
) -> Result<Partial, ArchError> {
    let cols = cache.columns(topic.partition(piece.partition)?, piece)?;
    let rows = cols.rows_below(piece.end);
    let mut campaigns = Keys::new();
    // The campaign of each key of the segment, resolved once per key (not per row).
    let campaign_of_key: Vec<u32> = if specs
        .iter()
        .any(|s| s.kind == QueryKind::CampaignWindowCount)
    {
        (0..cols.keys() as u32)
            .map(|k| queries.campaigns.campaign_of(cols.name(k)).map_or(SKIP, |c| campaigns.id(c)))
            .collect()
    } else {
        Vec::new()
    };
    // The group of each key for `distinct_users`: its campaign, or the key itself.
    let mut user_groups = Keys::new();
    let user_group_of_key: Vec<u32> = if specs.iter().any(|s| s.kind == QueryKind::DistinctUsers) {
        (0..cols.keys() as u32)
            .map(|k| {
                let key = cols.name(k);
                user_groups.id(queries.campaigns.campaign_of(key).unwrap_or(key))
            })
            .collect()
    } else {
        Vec::new()
    };
    let cells = specs
        .iter()
        .map(|spec| match spec.kind {
            QueryKind::CampaignWindowCount => PieceCells::Sums(aggregate_query(
                &cols,
                rows,
                spec,
                Some(&campaign_of_key),
                campaigns.len(),
            )),
            QueryKind::DistinctUsers => {
                PieceCells::Users(users_per_cell(&cols, rows, spec, &user_group_of_key))
            }
            _ => PieceCells::Sums(aggregate_query(&cols, rows, spec, None, cols.keys())),
        })
        .collect();
    Ok(Partial { events: cols.events(rows), cols, campaigns, user_groups, cells })
}

/// `distinct_users` over the first `rows` rows: every (group, window index) with its users,
/// each once. A record stands for `weight` identical events, of one user: weights do not
/// matter here. The bot filter applies as in the other queries.
fn users_per_cell(
    cols: &SegmentColumns,
    rows: usize,
    spec: &QuerySpec,
    group_of_key: &[u32],
) -> Vec<(u32, i64, Vec<u64>)> {
    let (window, slide) = (spec.window_ms, spec.slide_ms);
    let copies = (window + slide - 1) / slide;
    let mut cells: FxMap<(u32, i64), Vec<u64>> = FxMap::default();
    for i in 0..rows {
        let user = cols.user_id[i];
        if spec.exclude_bots && is_bot(user) {
            continue;
        }
        let Some(&group) = group_of_key.get(cols.key[i] as usize) else { continue };
        let t = cols.event_time_ms[i];
        let last = t.div_euclid(slide);
        for back in (0..copies).rev() {
            let k = last - back;
            if k * slide > t - window {
                cells.entry((group, k)).or_default().push(user);
            }
        }
    }
    cells
        .into_iter()
        .map(|((group, k), mut users)| {
            users.sort_unstable();
            users.dedup();
            (group, k, users)
        })
        .collect()
}

/// Where a query's rows are added up.
trait Table {
    fn add(&mut self, group: u32, window: i64, amount: i64);
}

/// Groups × windows as one array: `sums[group * windows + (window - first)]`.
struct Dense {
    first: i64,
    windows: usize,
    sums: Vec<i64>,
    seen: Vec<bool>,
}

impl Table for Dense {
    #[inline(always)]
    fn add(&mut self, group: u32, window: i64, amount: i64) {
        let i = group as usize * self.windows + (window - self.first) as usize;
        self.sums[i] = self.sums[i].wrapping_add(amount);
        self.seen[i] = true;
    }
}

impl Table for FxMap<(u32, i64), i64> {
    #[inline(always)]
    fn add(&mut self, group: u32, window: i64, amount: i64) {
        let s = self.entry((group, window)).or_insert(0);
        *s = s.wrapping_add(amount);
    }
}

/// One query over the first `rows` rows: (group, window index, sum) of every cell with at
/// least one event. `groups[key]` maps a key id to the query's group (or [`SKIP`]); `None`
/// groups by key.
fn aggregate_query(
    cols: &SegmentColumns,
    rows: usize,
    spec: &QuerySpec,
    groups: Option<&[u32]>,
    group_count: usize,
) -> Vec<(u32, i64, i64)> {
    let times = &cols.event_time_ms[..rows];
    let (Some(&lo), Some(&hi)) = (times.iter().min(), times.iter().max()) else {
        return Vec::new();
    };
    let slide = spec.slide_ms;
    let copies = (spec.window_ms + slide - 1) / slide;
    let first = lo.div_euclid(slide) - (copies - 1);
    let windows = u64::try_from(hi.div_euclid(slide) - first + 1).unwrap_or(u64::MAX);
    let dense_cells = (group_count as u64).saturating_mul(windows);
    if dense_cells <= (4 * rows as u64 + 4096).min(MAX_DENSE as u64) {
        let windows = windows as usize;
        let n = dense_cells as usize;
        let mut t = Dense { first, windows, sums: vec![0; n], seen: vec![false; n] };
        scan(cols, rows, spec, groups, &mut t);
        let mut out = Vec::new();
        for (i, (&sum, &seen)) in t.sums.iter().zip(&t.seen).enumerate() {
            if seen {
                out.push(((i / windows) as u32, first + (i % windows) as i64, sum));
            }
        }
        out
    } else {
        let mut t: FxMap<(u32, i64), i64> =
            FxMap::with_capacity_and_hasher(rows.min(MAX_PRESIZE), FxBuild::default());
        scan(cols, rows, spec, groups, &mut t);
        t.into_iter().map(|((g, k), s)| (g, k, s)).collect()
    }
}

/// The row loop: filter (bot farm, views only), group, amount (a record stands for `weight`
/// identical events: counted and summed that often), and every window of the row's event time
/// (the windows of [`QuerySpec::window_starts`], as indexes: start = index × slide).
#[inline(always)]
fn scan<T: Table>(
    cols: &SegmentColumns,
    rows: usize,
    spec: &QuerySpec,
    groups: Option<&[u32]>,
    table: &mut T,
) {
    let (window, slide) = (spec.window_ms, spec.slide_ms);
    let copies = (window + slide - 1) / slide;
    let sum = spec.kind == QueryKind::KeySum;
    let views_only = spec.kind == QueryKind::CampaignWindowCount;
    let bots = spec.exclude_bots;
    let keys = &cols.key[..rows];
    let times = &cols.event_time_ms[..rows];
    let values = &cols.value[..rows];
    let weights = &cols.weight[..rows];
    let users = &cols.user_id[..rows];
    let types = &cols.event_type[..rows];
    for i in 0..rows {
        if bots && is_bot(users[i]) {
            continue;
        }
        if views_only && types[i] != EventType::View {
            continue;
        }
        let group = match groups {
            Some(map) => match map.get(keys[i] as usize) {
                Some(&g) if g != SKIP => g,
                _ => continue,
            },
            None => keys[i],
        };
        let weight = i64::from(weights[i]);
        let amount = if sum { values[i].wrapping_mul(weight) } else { weight };
        let t = times[i];
        let last = t.div_euclid(slide);
        if window == slide {
            table.add(group, last, amount);
        } else {
            for back in (0..copies).rev() {
                let k = last - back;
                if k * slide > t - window {
                    table.add(group, k, amount);
                }
            }
        }
    }
}
