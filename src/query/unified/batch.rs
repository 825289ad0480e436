//! The batch runner: the definitions over a prefix of the log, in parallel with rayon.
//!
//! The prefix is split into pieces at segment boundaries (as the DataFrame runner's hash
//! aggregation does). Each rayon task reads one piece's events, folds them into a partial
//! result with the definitions' map step and the monoid's in-place `absorb`, and drops them;
//! partial results are reduced with the monoid's `plus` as tasks finish. So a recompute holds
//! the events of the pieces in flight and the partial results, never the whole prefix decoded
//! (which it did until session 6: about 100 bytes per event of the log, at every recompute,
//! the largest transient of a long realtime run). Rayon decides the split and the reduction
//! order (they depend on the thread count and on work stealing); the answer does not, because
//! the monoids are associative and commutative (tests check it on arbitrary splits:
//! [`fold_events`] on any chunks, then [`sum_views`] in any order).

use std::collections::HashMap;
use std::hash::Hash;

use rayon::prelude::*;

use super::{Monoid, Plan};
use crate::arch::ArchError;
use crate::batch::{BatchCompute, segment_pieces, visit_decoded};
use crate::log::{Log, Offset};
use crate::query::{Agg, Cell, QuerySet, View};
use crate::workload::{Campaigns, EventFields};

/// A partial result: states per (query id, group, window start), the group borrowed from the
/// events or the campaign table so folding allocates no key per event.
type Partial<'e> = HashMap<(u8, &'e str, i64), Agg>;

/// A piece's partial result once its events are dropped: the groups owned (one per cell, not
/// per event).
type OwnedPartial = HashMap<(u8, String, i64), Agg>;

/// The batch runner over the monoid definitions.
#[derive(Debug, Default)]
pub struct MonoidBatch;

impl MonoidBatch {
    /// The runner.
    pub fn new() -> Self {
        MonoidBatch
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
        let plans = Plan::all(queries);
        let campaigns: &Campaigns = &queries.campaigns;
        let (partial, events) = pieces
            .par_iter()
            .map(|piece| -> Result<(OwnedPartial, u64), ArchError> {
                let mut batch = Vec::with_capacity(piece.end.saturating_sub(piece.from) as usize);
                visit_decoded(
                    topic.partition(piece.partition)?,
                    piece.partition,
                    piece.from,
                    piece.end,
                    |_, e| batch.push(e.to_fields()),
                )?;
                // Events, not records: the cost model charges per event.
                let events = batch.iter().map(|e| u64::from(e.weight)).sum();
                let mut acc = Partial::new();
                for e in &batch {
                    absorb_event(&plans, campaigns, &mut acc, e);
                }
                let owned =
                    acc.into_iter().map(|((q, key, start), s)| ((q, key.to_owned(), start), s));
                Ok((owned.collect(), events))
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
fn absorb_event<'e>(
    plans: &[Plan],
    campaigns: &'e Campaigns,
    acc: &mut Partial<'e>,
    event: &'e EventFields,
) {
    for plan in plans {
        plan.map(campaigns, event, |group, start, item| {
            let state =
                acc.entry((plan.spec.id, group, start)).or_insert_with(|| plan.monoid.zero());
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

fn into_view(partial: Partial<'_>) -> View {
    partial
        .into_iter()
        .map(|((query, key, window_start_ms), state)| {
            (Cell { query, key: key.to_owned(), window_start_ms }, state)
        })
        .collect()
}

/// The view of one run of events, folded sequentially (what each rayon task does). Exposed so
/// tests can fold arbitrary chunks and check that [`sum_views`] of them does not depend on the
/// split.
pub fn fold_events(events: &[EventFields], queries: &QuerySet) -> View {
    let plans = Plan::all(queries);
    let mut acc = Partial::new();
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
