//! The batch runner: the definitions over a prefix of the log, in parallel with rayon.
//!
//! The prefix is split into pieces at segment boundaries (as the DataFrame runner's hash
//! aggregation does). Each rayon task takes one piece's events from the run's column cache
//! ([`ColumnCache`], the master dataset decoded once per segment, shared with `lambda` and
//! `batch-lake`), folds them row by row into a partial result with the definitions' map step
//! and the monoid's in-place `absorb`, and partial results are reduced with the monoid's
//! `plus` as tasks finish. So the query still runs as its one definition, in batch as in
//! stream; what a recompute no longer does is parse every record of the log again (which it
//! did until session 7: the largest part of `lambda-unified`'s batch time, growing with the
//! log at every job). A recompute holds the pieces in flight and the partial results, never
//! the whole prefix as events.
//!
//! Rayon decides the split and the reduction order (they depend on the thread count and on
//! work stealing); the answer does not, because the monoids are associative and commutative
//! (tests check it on arbitrary splits: [`fold_events`] on any chunks, then [`sum_views`] in
//! any order).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use rayon::prelude::*;

use super::{Monoid, Plan};
use crate::arch::ArchError;
use crate::batch::columns::ColumnCache;
use crate::batch::{BatchCompute, segment_pieces};
use crate::log::{Log, Offset};
use crate::query::{Agg, Cell, FxBuild, Keys, QuerySet, View};
use crate::workload::{Campaigns, EventFields};

/// A partial result: states per (query id, group id, window start), the groups interned in
/// `groups` so folding allocates no key per event (the event a group is borrowed from lives
/// only for its row).
#[derive(Default)]
struct Partial {
    groups: Keys,
    cells: HashMap<(u8, u32, i64), Agg, FxBuild>,
}

impl Partial {
    /// The cells with their groups' names.
    fn owned(self) -> impl Iterator<Item = ((u8, String, i64), Agg)> {
        let Partial { groups, cells } = self;
        cells.into_iter().map(move |((q, g, start), s)| ((q, groups.name(g).to_owned(), start), s))
    }
}

/// A piece's partial result once its events are folded: the groups owned (one per cell, not
/// per event).
type OwnedPartial = HashMap<(u8, String, i64), Agg>;

/// The batch runner over the monoid definitions.
#[derive(Debug, Default)]
pub struct MonoidBatch {
    /// The log's segments decoded into columns, kept across recomputes (the run's shared
    /// master dataset, see [`MonoidBatch::with_cache`]).
    cache: Arc<ColumnCache>,
}

impl MonoidBatch {
    /// The runner, with a column cache of its own (the default budget).
    pub fn new() -> Self {
        MonoidBatch::default()
    }

    /// The runner reading its events through `cache`, which the run's other batch layers may
    /// share (`lambda-unified` gets [`crate::arch::ArchContext::column_cache`]).
    pub fn with_cache(cache: Arc<ColumnCache>) -> Self {
        MonoidBatch { cache }
    }

    /// The column cache (what it holds and did).
    pub fn column_cache(&self) -> &ColumnCache {
        &self.cache
    }
}

impl BatchCompute for MonoidBatch {
    fn compute(
        &self,
        log: &Log,
        topic: &str,
        cutoff: &[Offset],
        queries: &QuerySet,
    ) -> Result<(View, u64), ArchError> {
        let topic = log.topic(topic)?;
        let ranges = cutoff
            .iter()
            .enumerate()
            .map(|(p, &end)| Ok((topic.partition(p as u32)?.log_start_offset(), end)))
            .collect::<Result<Vec<_>, ArchError>>()?;
        let pieces = segment_pieces(topic, &ranges)?;
        // Columns of segments no longer listed (deleted, cut, reopened) must never be read.
        let live: Vec<u64> =
            topic.partitions().iter().flat_map(|p| p.segment_uids()).map(|s| s.uid).collect();
        self.cache.retain(&live);
        let plans = Plan::all(queries);
        let campaigns: &Campaigns = &queries.campaigns;
        let (partial, events) = pieces
            .par_iter()
            .map(|piece| -> Result<(OwnedPartial, u64), ArchError> {
                let cols = self.cache.columns(topic.partition(piece.partition)?, piece)?;
                let rows = cols.rows_below(piece.end);
                let mut acc = Partial::default();
                cols.for_each_event(rows, |_, e| absorb_event(&plans, campaigns, &mut acc, e));
                // Events, not records: the cost model charges per event.
                Ok((acc.owned().collect(), cols.events(rows)))
            })
            .try_reduce(
                || (OwnedPartial::new(), 0),
                |(a, n), (b, m)| Ok((plus_partials(&plans, a, b), n + m)),
            )?;
        Ok((
            partial
                .into_iter()
                .map(|((query, key, window_start_ms), state)| {
                    (Cell { query, key, window_start_ms }, state)
                })
                .collect(),
            events,
        ))
    }
}

/// Folds one event into a partial result: every plan's map step, each item absorbed by the
/// plan's monoid (a new cell starts at the monoid's zero).
fn absorb_event(plans: &[Plan], campaigns: &Campaigns, acc: &mut Partial, event: &EventFields) {
    for plan in plans {
        plan.map(campaigns, event, |group, start, item| {
            let group = acc.groups.id(group);
            let state =
                acc.cells.entry((plan.spec.id, group, start)).or_insert_with(|| plan.monoid.zero());
            plan.monoid.absorb(state, item);
        });
    }
}

/// `a + b`, cell by cell, merging the smaller map into the larger (commutativity makes the
/// order irrelevant).
fn plus_partials<K: Hash + Eq>(
    plans: &[Plan],
    a: HashMap<(u8, K, i64), Agg>,
    b: HashMap<(u8, K, i64), Agg>,
) -> HashMap<(u8, K, i64), Agg> {
    let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (cell, state) in small {
        match big.get_mut(&cell) {
            Some(existing) => match plans.iter().find(|p| p.spec.id == cell.0) {
                Some(plan) => plan.monoid.plus(existing, &state),
                None => existing.merge(&state),
            },
            None => {
                big.insert(cell, state);
            }
        }
    }
    big
}

fn into_view(partial: Partial) -> View {
    partial
        .owned()
        .map(|((query, key, window_start_ms), state)| (Cell { query, key, window_start_ms }, state))
        .collect()
}

/// The view of one run of events, folded sequentially (what each rayon task does). Exposed so
/// tests can fold arbitrary chunks and check that [`sum_views`] of them does not depend on the
/// split.
pub fn fold_events(events: &[EventFields], queries: &QuerySet) -> View {
    let plans = Plan::all(queries);
    let mut acc = Partial::default();
    for e in events {
        absorb_event(&plans, &queries.campaigns, &mut acc, e);
    }
    into_view(acc)
}

/// `a + b` for views: the monoid's `plus` per cell (what the rayon reduce does, and what the
/// serving layer does with `merge_into`).
pub fn sum_views(mut a: View, b: &View) -> View {
    crate::query::merge_into(&mut a, b);
    a
}
