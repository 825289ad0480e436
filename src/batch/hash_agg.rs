//! The batch layer's hash aggregation: sums and counts per (group, window) computed straight
//! from the log's borrowed records into pre-sized hash tables, one per piece of the log (a
//! segment of a partition), in parallel, then merged.
//!
//! This is the plan a query engine runs for `SELECT key, window, sum(value) ... GROUP BY`
//! (DuckDB's and polars' hash aggregate), without materialising the event columns first:
//! a record is decoded ([`decode_ref`], no allocation), its group looked up by its key bytes in
//! a small interning table, and its contribution added to the table of each query. It serves
//! `key_window_count`, `key_sum` and `campaign_window_count`, the queries whose state is one
//! `i64` per cell; `distinct_users` (a set per cell) stays a DataFrame plan. The results are
//! the same cells as [`super::lambda_polars::query_plan`]'s, which the tests check query by
//! query, tumbling and sliding, with and without the bot filter.

use std::collections::HashMap;
use std::ops::ControlFlow;

use rayon::prelude::*;

use crate::arch::ArchError;
use crate::log::{Offset, Topic};
use crate::query::{Agg, Cell, FxBuild, Keys, QueryKind, QuerySet, QuerySpec, View};
use crate::workload::{EventType, decode_ref};

/// Records per visit of the log: bounds how long one call holds a partition's read lock.
const VISIT_CHUNK: usize = 50_000;
/// Upper bound of a table's initial size (cells), so a huge piece does not reserve for
/// millions of cells that a few thousand keys never fill.
const MAX_PRESIZE: usize = 1 << 16;

/// Whether [`aggregate`] computes `spec` (a sum or count per cell).
pub fn supports(spec: &QuerySpec) -> bool {
    matches!(
        spec.kind,
        QueryKind::KeyWindowCount | QueryKind::KeySum | QueryKind::CampaignWindowCount
    )
}

/// Cells of one query in one piece: (group id, window start) → sum, hashed with the stream
/// layer's Fx hasher ([`FxBuild`]): the keys are short, trusted-size values from our own log,
/// and SipHash's flooding resistance would cost about as much as the rest of the per-event work.
type FxMap<K, V> = HashMap<K, V, FxBuild>;

/// One piece's partial aggregates.
struct Partial {
    /// Event keys (the groups of the key queries).
    keys: Keys,
    /// Campaign of each key id, resolved once per key: `Some(campaign id)`, `None` for an ad
    /// outside the table (dropped by the inner join), unresolved while absent.
    campaign_of_key: Vec<Option<Option<u32>>>,
    campaigns: Keys,
    /// Per supported query: (group id, window start) → sum.
    cells: Vec<FxMap<(u32, i64), i64>>,
}

/// Reads `ranges[p]` of each partition `p` of `topic` and aggregates every query of `specs`
/// (all [`supports`]ed), pieces split at segment boundaries and run on the rayon pool.
pub fn aggregate(
    topic: &Topic,
    ranges: &[(Offset, Offset)],
    specs: &[&QuerySpec],
    queries: &QuerySet,
) -> Result<(View, u64), ArchError> {
    let pieces = super::segment_pieces(topic, ranges)?;
    let partials = pieces
        .par_iter()
        .map(|&(p, from, end)| aggregate_piece(topic, p, from, end, specs, queries))
        .collect::<Result<Vec<_>, ArchError>>()?;
    let mut view = View::new();
    let mut events = 0;
    for (partial, n) in partials {
        events += n;
        for (spec, cells) in specs.iter().zip(partial.cells) {
            let names = match spec.kind {
                QueryKind::CampaignWindowCount => &partial.campaigns,
                _ => &partial.keys,
            };
            for ((group, start), sum) in cells {
                let cell = Cell {
                    query: spec.id,
                    key: names.name(group).to_string(),
                    window_start_ms: start,
                };
                match view.get_mut(&cell) {
                    Some(Agg::Sum(s)) => *s = s.wrapping_add(sum),
                    Some(other) => other.merge(&Agg::Sum(sum)),
                    None => {
                        view.insert(cell, Agg::Sum(sum));
                    }
                }
            }
        }
    }
    Ok((view, events))
}

fn aggregate_piece(
    topic: &Topic,
    p: u32,
    from: Offset,
    end: Offset,
    specs: &[&QuerySpec],
    queries: &QuerySet,
) -> Result<(Partial, u64), ArchError> {
    let partition = topic.partition(p)?;
    let events = usize::try_from(end - from).unwrap_or(usize::MAX);
    let mut part = Partial {
        keys: Keys::new(),
        campaign_of_key: Vec::new(),
        campaigns: Keys::new(),
        cells: specs
            .iter()
            .map(|_| FxMap::with_capacity_and_hasher(events.min(MAX_PRESIZE), Default::default()))
            .collect(),
    };
    let mut offset = from;
    let mut n = 0u64;
    let mut bad = None;
    while offset < end && bad.is_none() {
        let want = usize::try_from(end - offset).unwrap_or(usize::MAX).min(VISIT_CHUNK);
        let next = partition.for_each_record(offset, want, |r| {
            let e = match decode_ref(r.key, r.value, r.timestamp_ms) {
                Ok(e) => e,
                Err(source) => {
                    bad = Some(ArchError::Decode { partition: p, offset: r.offset, source });
                    return ControlFlow::Break(());
                }
            };
            // A record stands for `weight` identical events: counted and summed that often.
            let weight = i64::from(e.weight);
            n += u64::from(e.weight);
            let key = part.keys.id(e.key);
            for (spec, cells) in specs.iter().zip(part.cells.iter_mut()) {
                if !spec.keeps(e.user_id) {
                    continue;
                }
                let (group, amount) = match spec.kind {
                    QueryKind::KeySum => (key, e.value.wrapping_mul(weight)),
                    QueryKind::CampaignWindowCount => {
                        if e.event_type != EventType::View {
                            continue;
                        }
                        let k = key as usize;
                        if part.campaign_of_key.len() <= k {
                            part.campaign_of_key.resize(k + 1, None);
                        }
                        let resolved = *part.campaign_of_key[k].get_or_insert_with(|| {
                            queries.campaigns.campaign_of(e.key).map(|c| part.campaigns.id(c))
                        });
                        match resolved {
                            Some(c) => (c, weight),
                            None => continue,
                        }
                    }
                    _ => (key, weight),
                };
                for start in spec.window_starts(e.event_time_ms) {
                    let s = cells.entry((group, start)).or_insert(0);
                    *s = s.wrapping_add(amount);
                }
            }
            ControlFlow::Continue(())
        })?;
        if next == offset {
            break;
        }
        offset = next;
    }
    match bad {
        Some(e) => Err(e),
        None => Ok((part, n)),
    }
}
