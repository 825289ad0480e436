//! Lambda's speed-layer operators, hand-written, one per query — the way a Storm bolt or a
//! Flink `ProcessFunction` would be coded: look at one event, decide which windows it updates,
//! and emit the increments.
//!
//! The batch layer computes the same answers from DataFrames (`batch/lambda_polars.rs`). Two
//! code bases for one set of questions is what Lambda costs; keeping them apart (and, in the
//! `logic-drift` scenario, letting them disagree) is what this workbench measures.

use std::sync::Arc;

use super::{Contribution, StreamCompute};
use crate::query::{Agg, QueryKind, QuerySet, QuerySpec};
use crate::scenario::Drift;
use crate::workload::{EventFields, EventType};

/// Every query of a run as a hand-written incremental operator.
#[derive(Debug, Clone)]
pub struct HandWritten {
    queries: Arc<QuerySet>,
    drift: Drift,
}

impl HandWritten {
    /// Operators for `queries`.
    pub fn new(queries: Arc<QuerySet>) -> Self {
        HandWritten { queries, drift: Drift::None }
    }

    /// Operators that deviate from the batch code as `drift` says (the `logic-drift` lesson).
    pub fn with_drift(queries: Arc<QuerySet>, drift: Drift) -> Self {
        HandWritten { queries, drift }
    }
}

/// Window starts containing `t`, written out for the speed path: the newest window starts at
/// the last slide boundary at or before `t`; step back one slide while the window still covers
/// `t`.
fn windows(spec: &QuerySpec, t: i64, drift: Drift, mut emit: impl FnMut(i64)) {
    // The drifted version treats a boundary as the end of the earlier window.
    let t = if drift == Drift::Boundary && t.rem_euclid(spec.slide_ms) == 0 { t - 1 } else { t };
    let mut start = t - t.rem_euclid(spec.slide_ms);
    while start > t - spec.window_ms {
        emit(start);
        start -= spec.slide_ms;
    }
}

impl StreamCompute for HandWritten {
    fn for_each_contribution(&self, e: &EventFields, out: &mut dyn FnMut(Contribution<'_>)) {
        for spec in &self.queries.specs {
            if !spec.keeps(e.user_id) {
                continue;
            }
            let mut emit = |key: &str, agg: Agg| {
                windows(spec, e.event_time_ms, self.drift, |start| {
                    out(Contribution {
                        query: spec.id,
                        key,
                        window_start_ms: start,
                        agg: agg.clone(),
                    })
                })
            };
            match spec.kind {
                // A record stands for `weight` identical events: counts add the weight,
                // sums the value times the weight (wrapping, as polars does).
                QueryKind::KeyWindowCount => emit(&e.key, Agg::Sum(i64::from(e.weight))),
                QueryKind::KeySum => {
                    emit(&e.key, Agg::Sum(e.value.wrapping_mul(i64::from(e.weight))))
                }
                QueryKind::CampaignWindowCount => {
                    // YSB: filter views, join ad → campaign, count.
                    if e.event_type != EventType::View && self.drift != Drift::NoViewFilter {
                        continue;
                    }
                    if let Some(campaign) = self.queries.campaigns.campaign_of(&e.key) {
                        emit(campaign, Agg::Sum(i64::from(e.weight)));
                    }
                }
                // Identical events share their user: a weight changes no distinct count.
                QueryKind::DistinctUsers => {
                    let group = self.queries.campaigns.campaign_of(&e.key).unwrap_or(&e.key);
                    let precision = spec.approximate.then_some(spec.hll_precision);
                    emit(group, Agg::User { id: e.user_id, precision });
                }
            }
        }
    }
}
