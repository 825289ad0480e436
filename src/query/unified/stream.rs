//! The streaming runner: the definitions' map step on one event, each item lifted into a
//! monoid state. The stream job merges these contributions into its windows with the same
//! monoid's `plus` (`Agg::merge`), so a stream view is the batch fold of the same events.

use std::sync::Arc;

use super::Plan;
use crate::query::QuerySet;
use crate::speed::{Contribution, StreamCompute};
use crate::workload::EventFields;

/// The streaming runner over the monoid definitions.
#[derive(Debug)]
pub struct MonoidStream {
    queries: Arc<QuerySet>,
    plans: Vec<Plan>,
}

impl MonoidStream {
    /// The runner for `queries`.
    pub fn new(queries: Arc<QuerySet>) -> Self {
        let plans = Plan::all(&queries);
        MonoidStream { queries, plans }
    }
}

impl StreamCompute for MonoidStream {
    /// One `(cell, lift(item))` per query and window the event contributes to.
    ///
    /// A user id is lifted into `Agg::User`, a singleton that becomes a set or sketch when it
    /// meets the window's state — no 2^p-byte sketch per event.
    fn for_each_contribution(&self, event: &EventFields, out: &mut dyn FnMut(Contribution<'_>)) {
        for plan in &self.plans {
            plan.map(&self.queries.campaigns, event, |group, start, item| {
                out(Contribution {
                    query: plan.spec.id,
                    key: group,
                    window_start_ms: start,
                    agg: plan.monoid.lift_one(item),
                });
            });
        }
    }
}
