//! The questions the architectures answer, and the tables they serve.
//!
//! Every query groups events by a key (the event key, or the campaign an ad belongs to) and by
//! event-time window, and aggregates one number per group. What is aggregated, and how partial
//! results merge, is an [`Agg`]: a commutative monoid (sum, exact set of users, HyperLogLog).
//! Views store `Agg` states so the serving layer can merge a batch view with speed views
//! (distinct counts do not add up; their sets and sketches do); tables store the numbers a user
//! sees.
//!
//! | query | groups by | value |
//! |---|---|---|
//! | `key_window_count` | event key | number of events |
//! | `campaign_window_count` | campaign of the ad (static join table), `view` events only | number of events (the Yahoo Streaming Benchmark query) |
//! | `key_sum` | event key | sum of `value` |
//! | `distinct_users` | campaign for ad events, else event key | distinct `user_id`s (exact, or HyperLogLog when `approximate`) |

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;
use crate::workload::Campaigns;

mod agg;
pub mod horizon;
mod live;
mod tracked;
pub mod unified;
pub use agg::Agg;
pub use live::{CellId, FxBuild, FxHasher, Keys, LiveChanges, LiveView};
pub use tracked::TrackedTable;

/// The kinds of query, as named in scenario files and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    /// Events per key per window.
    KeyWindowCount,
    /// YSB: `view` events per campaign per window, ads joined to campaigns.
    CampaignWindowCount,
    /// Sum of `value` per key per window.
    KeySum,
    /// Distinct users per campaign (ad events) or key per window.
    DistinctUsers,
}

impl QueryKind {
    /// Every kind, in the order outputs list them.
    pub const ALL: [QueryKind; 4] = [
        QueryKind::KeyWindowCount,
        QueryKind::CampaignWindowCount,
        QueryKind::KeySum,
        QueryKind::DistinctUsers,
    ];

    /// The kind named `name` in a scenario file.
    pub fn from_name(name: &str) -> Option<QueryKind> {
        QueryKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The name used in scenario files and outputs.
    pub fn name(self) -> &'static str {
        match self {
            QueryKind::KeyWindowCount => "key_window_count",
            QueryKind::CampaignWindowCount => "campaign_window_count",
            QueryKind::KeySum => "key_sum",
            QueryKind::DistinctUsers => "distinct_users",
        }
    }
}

/// One query as a run executes it: its kind, its windows, and its index in the scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    /// Position in the scenario's `[[queries]]`; stored in every [`Cell`].
    pub id: u8,
    /// What it computes.
    pub kind: QueryKind,
    /// Window length in ms.
    pub window_ms: i64,
    /// Distance between window starts in ms; equal to `window_ms` for tumbling windows.
    pub slide_ms: i64,
    /// Whether the *stream* side may approximate (HyperLogLog for `distinct_users`).
    pub approximate: bool,
    /// HyperLogLog precision (registers = 2^p) when approximating.
    pub hll_precision: u8,
    /// Logic version 2: leave out bot traffic (see [`is_bot`]). A logic change switches it on.
    pub exclude_bots: bool,
}

/// The "bot farm" of logic version 2: users whose id is a multiple of this.
pub const BOT_MODULUS: u64 = 10;

/// Whether `user_id` belongs to the bot farm that logic version 2 excludes.
pub fn is_bot(user_id: u64) -> bool {
    user_id.is_multiple_of(BOT_MODULUS)
}

impl QuerySpec {
    /// Whether this version of the query counts `event` at all (the version filter belongs to
    /// the spec, like the windows: runners apply it without knowing what it tests).
    pub fn keeps_event(&self, event: &crate::workload::EventFields) -> bool {
        self.keeps(event.user_id)
    }

    /// Whether this version of the query counts an event of `user_id` at all.
    pub fn keeps(&self, user_id: u64) -> bool {
        !(self.exclude_bots && is_bot(user_id))
    }

    /// The starts of every window containing `event_time_ms`, oldest first. One window when
    /// tumbling; `window_ms / slide_ms` of them when sliding.
    pub fn window_starts(&self, event_time_ms: i64) -> impl Iterator<Item = i64> + use<> {
        let last = event_time_ms.div_euclid(self.slide_ms) * self.slide_ms;
        let (window, slide) = (self.window_ms, self.slide_ms);
        // Window [s, s + window) contains t iff t - window < s <= t.
        let count = (window + slide - 1) / slide;
        (0..count).rev().map(move |i| last - i * slide).filter(move |s| *s > event_time_ms - window)
    }
}

/// The queries of a run and the static tables they join with: what every layer is given.
#[derive(Debug, Clone)]
pub struct QuerySet {
    /// The queries, `specs[i].id == i`.
    pub specs: Vec<QuerySpec>,
    /// The ad → campaign table (YSB's join), built from the workload and seed.
    pub campaigns: Arc<Campaigns>,
    /// Answer retention (`[serving] ttl_ms`): windows ending this far behind the run's clock
    /// are dropped from answers; `None` keeps every window. Part of the queries because it is
    /// part of what an answer is: every holder of answers, and the oracle, applies the same
    /// rule (see [`QuerySet::expired_through`]).
    pub ttl_ms: Option<i64>,
}

/// When a layer holding windows in memory prunes the expired ones: at most once per
/// [`Pruning::STEP_MS`] of the run's clock (each pass walks every cell it holds), with
/// [`QuerySet::prune_through`]'s cut-off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pruning {
    /// The cut-off of the last pass (`None`: none yet).
    last: Option<i64>,
}

impl Pruning {
    /// Run-clock ms between two passes.
    pub const STEP_MS: i64 = 10_000;

    /// The cut-off to prune with at `now`, when a pass is due (`None`: no retention, or not
    /// yet).
    pub fn due(&mut self, queries: &QuerySet, now: i64) -> Option<i64> {
        let through = queries.prune_through(now)?;
        if self.last.is_some_and(|last| through < last.saturating_add(Self::STEP_MS)) {
            return None;
        }
        self.last = Some(through);
        Some(through)
    }
}

/// How much longer than the retention the layers keep a window before dropping it. The
/// drivers drop expired cells from the served answers and from the oracle's at each sample,
/// with one cut-off for both; a layer pruning its own state on its own clock (a realtime
/// thread may run a little ahead of the sample) must never drop a cell the sample still
/// compares, so it keeps a minute more.
pub const EXPIRY_SLACK_MS: i64 = 60_000;

impl QuerySet {
    /// The queries a scenario asks for (names were checked when the scenario was loaded;
    /// an unknown one is skipped here rather than panicking).
    pub fn from_scenario(scenario: &Scenario) -> QuerySet {
        let specs = scenario
            .queries
            .iter()
            .filter_map(|q| QueryKind::from_name(&q.name).map(|kind| (q, kind)))
            .enumerate()
            .map(|(id, (q, kind))| QuerySpec {
                id: id as u8,
                kind,
                window_ms: q.window_ms,
                slide_ms: q.slide_ms.unwrap_or(q.window_ms),
                approximate: q.approximate,
                hll_precision: q.hll_precision,
                exclude_bots: q.exclude_bots,
            })
            .collect();
        QuerySet {
            specs,
            campaigns: Arc::new(Campaigns::new(&scenario.workload, scenario.seed)),
            ttl_ms: scenario.serving.ttl_ms,
        }
    }

    /// With answer retention: at `now`, every window ending at or before the returned time is
    /// expired (`None`: nothing expires). The drivers compare answers with this cut-off.
    pub fn expired_through(&self, now: i64) -> Option<i64> {
        self.ttl_ms.map(|ttl| now.saturating_sub(ttl))
    }

    /// The cut-off a layer prunes its own state with at `now`: [`QuerySet::expired_through`]
    /// less [`EXPIRY_SLACK_MS`].
    pub fn prune_through(&self, now: i64) -> Option<i64> {
        self.expired_through(now.saturating_sub(EXPIRY_SLACK_MS))
    }

    /// Whether `cell`'s window ends after `through` (is kept under that cut-off).
    pub fn is_live(&self, cell: &Cell, through: i64) -> bool {
        self.window_end(cell) > through
    }

    /// Drops from `map` every cell whose window ends at or before `through`; returns how many.
    pub fn retain_live<V>(&self, map: &mut BTreeMap<Cell, V>, through: i64) -> usize {
        let before = map.len();
        map.retain(|cell, _| self.is_live(cell, through));
        before - map.len()
    }

    /// The spec of a cell's query. Ids are positions when the set comes from a scenario; a
    /// set built by hand with other ids is searched.
    pub fn spec(&self, id: u8) -> Option<&QuerySpec> {
        match self.specs.get(id as usize) {
            Some(spec) if spec.id == id => Some(spec),
            _ => self.specs.iter().find(|s| s.id == id),
        }
    }

    /// The end (exclusive) of query `query`'s window that starts at `start` (`None`: no such
    /// query). The one place the rule is written: retention, the lake's horizon and the views'
    /// expiry all use it.
    pub fn window_end_at(&self, query: u8, start: i64) -> Option<i64> {
        self.spec(query).map(|s| start + s.window_ms)
    }

    /// The end (exclusive) of a cell's window (its start for an unknown query).
    pub fn window_end(&self, cell: &Cell) -> i64 {
        self.window_end_at(cell.query, cell.window_start_ms).unwrap_or(cell.window_start_ms)
    }
}

/// One answer's address: the query, the group, the window.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    /// The query's id ([`QuerySpec::id`]).
    pub query: u8,
    /// The group: an event key, or a campaign id.
    pub key: String,
    /// Start of the window in ms (inclusive); the end is `start + window_ms` (exclusive).
    pub window_start_ms: i64,
}

/// Mergeable partial results per cell: what layers compute and serving merges.
pub type View = BTreeMap<Cell, Agg>;

/// Served answers: one number per cell. Cells with no events are absent.
pub type Table = BTreeMap<Cell, i64>;

/// Merges every state of `other` into `into` (how serving combines views).
pub fn merge_into(into: &mut View, other: &View) {
    for (cell, agg) in other {
        match into.get_mut(cell) {
            Some(existing) => existing.merge(agg),
            None => {
                into.insert(cell.clone(), agg.clone());
            }
        }
    }
}

/// Merges one contribution into a view (how stream jobs apply their results).
pub fn merge_cell(into: &mut View, cell: Cell, agg: Agg) {
    match into.get_mut(&cell) {
        Some(existing) => existing.merge(&agg),
        None => {
            into.insert(cell, agg);
        }
    }
}

/// The numbers a user sees for a view.
pub fn present(view: &View) -> Table {
    view.iter().map(|(cell, agg)| (cell.clone(), agg.present())).collect()
}

/// Adds every count of `other` into `into`.
pub fn add_into(into: &mut Table, other: &Table) {
    for (cell, n) in other {
        *into.entry(cell.clone()).or_insert(0) += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(window_ms: i64, slide_ms: i64) -> QuerySpec {
        QuerySpec {
            id: 0,
            kind: QueryKind::KeySum,
            window_ms,
            slide_ms,
            approximate: false,
            hll_precision: 12,
            exclude_bots: false,
        }
    }

    #[test]
    fn retention_expires_windows_by_their_end_and_layers_prune_a_minute_later_in_steps() {
        let mut queries = QuerySet {
            specs: vec![spec(10_000, 10_000)],
            campaigns: Arc::new(Campaigns::new(&crate::scenario::Workload::default(), 1)),
            ttl_ms: None,
        };
        assert_eq!(queries.expired_through(1_000_000), None);
        assert_eq!(Pruning::default().due(&queries, 1_000_000), None);
        queries.ttl_ms = Some(60_000);
        let cell = |start| Cell { query: 0, key: "k".into(), window_start_ms: start };
        // At 100 s, windows ending at or before 40 s are expired: [30 s, 40 s) is, [31 s,
        // 41 s) is not.
        let through = queries.expired_through(100_000).unwrap();
        assert!(!queries.is_live(&cell(30_000), through));
        assert!(queries.is_live(&cell(31_000), through));
        let mut table: Table = [(cell(0), 1), (cell(30_000), 2), (cell(40_000), 3)].into();
        assert_eq!(queries.retain_live(&mut table, through), 2);
        assert_eq!(table.len(), 1);
        // Layers keep a minute more, and walk their state at most every 10 s of the clock.
        let mut pruning = Pruning::default();
        assert_eq!(pruning.due(&queries, 200_000), Some(200_000 - 60_000 - EXPIRY_SLACK_MS));
        assert_eq!(pruning.due(&queries, 209_999), None);
        assert_eq!(pruning.due(&queries, 210_000), Some(210_000 - 60_000 - EXPIRY_SLACK_MS));
    }

    #[test]
    fn tumbling_windows_hold_each_event_once() {
        let s = spec(10_000, 10_000);
        assert_eq!(s.window_starts(9_999).collect::<Vec<_>>(), vec![0]);
        assert_eq!(s.window_starts(10_000).collect::<Vec<_>>(), vec![10_000]);
        assert_eq!(s.window_starts(-1).collect::<Vec<_>>(), vec![-10_000]);
    }

    #[test]
    fn sliding_windows_hold_each_event_window_over_slide_times() {
        let s = spec(10_000, 5_000);
        assert_eq!(s.window_starts(12_000).collect::<Vec<_>>(), vec![5_000, 10_000]);
        assert_eq!(s.window_starts(10_000).collect::<Vec<_>>(), vec![5_000, 10_000]);
        let s = spec(10_000, 3_000);
        // Starts s with 12000 - 10000 < s <= 12000: 3000, 6000, 9000 and 12000.
        assert_eq!(s.window_starts(12_000).collect::<Vec<_>>(), vec![3_000, 6_000, 9_000, 12_000]);
    }
}
