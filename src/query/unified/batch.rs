//! The batch runner: the definitions over a prefix of the log, in parallel with rayon.
//!
//! Each rayon task folds a run of events into a partial result with the definitions' map step
//! and the monoid's in-place `absorb`; partial results are reduced with the monoid's `plus`.
//! Rayon decides the split (it depends on the thread count and on work stealing); the answer
//! does not, because the monoids are associative and commutative (tests check it on arbitrary
//! splits: [`fold_events`] on any chunks, then [`sum_views`] in any order).

use std::collections::HashMap;

use rayon::prelude::*;

use super::{Monoid, Plan};
use crate::arch::ArchError;
use crate::batch::{BatchCompute, read_prefix};
use crate::log::{Log, Offset};
use crate::query::{Agg, Cell, QuerySet, View};
use crate::workload::{Campaigns, EventFields};

/// A partial result: states per (query id, group, window start), the group borrowed from the
/// events or the campaign table so folding allocates no key per event.
type Partial<'e> = HashMap<(u8, &'e str, i64), Agg>;

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
        let partitions = read_prefix(log, topic, cutoff)?;
        // Events, not records: the cost model charges per event.
        let events = partitions.iter().flatten().map(|e| u64::from(e.weight)).sum();
        let plans = Plan::all(queries);
        let campaigns: &Campaigns = &queries.campaigns;
        let partial = partitions
            .par_iter()
            .flat_map(|p| p.par_iter())
            .fold(Partial::new, |mut acc, e| {
                absorb_event(&plans, campaigns, &mut acc, e);
                acc
            })
            .reduce(Partial::new, |a, b| plus_partials(&plans, a, b));
        Ok((into_view(partial), events))
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
fn plus_partials<'e>(plans: &[Plan], a: Partial<'e>, b: Partial<'e>) -> Partial<'e> {
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
