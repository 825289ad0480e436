//! Metrics every output uses: consistency error against the oracle, and freshness.
//!
//! - **consistency error** at time t: over every cell present in the served answers or in the
//!   oracle, the mean of `|served − exact| / exact` (a cell the oracle lacks counts as error 1
//!   per served unit), and the fraction of cells exactly right.
//! - **freshness** of an event: the first time it is reflected in the served answers minus its
//!   event time. Events never reflected (dropped as late) are counted separately.

use std::cmp::Ordering;

use serde::Serialize;

use crate::arch::Visibility;
use crate::log::{Offset, TimestampMs};
use crate::query::Table;

pub mod duplication;

/// How far served answers are from the exact ones at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErrorSample {
    /// Mean relative error over cells (0 = exact).
    pub mean_rel: f64,
    /// Fraction of cells exactly right (1 = exact).
    pub fraction_exact: f64,
    /// Cells compared.
    pub cells: usize,
    /// Events counted beyond the exact answer, summed over cells (double counts show here).
    pub excess: i64,
    /// Events missing from the served answer, summed over cells (not yet visible, or lost).
    pub missing: i64,
}

/// Compares served answers with the exact ones.
pub fn compare(served: &Table, exact: &Table) -> ErrorSample {
    let mut sum_rel = 0.0;
    let mut exact_cells = 0usize;
    let mut cells = 0usize;
    let (mut excess, mut missing) = (0i64, 0i64);
    let mut s = served.iter().peekable();
    let mut e = exact.iter().peekable();
    loop {
        // Walk both ordered tables at once: each cell is in one of them or both.
        let (got, want) = match (s.peek(), e.peek()) {
            (None, None) => break,
            (Some(_), None) => (s.next().map_or(0, |x| *x.1), 0),
            (None, Some(_)) => (0, e.next().map_or(0, |x| *x.1)),
            (Some(a), Some(b)) => match a.0.cmp(b.0) {
                Ordering::Less => (s.next().map_or(0, |x| *x.1), 0),
                Ordering::Greater => (0, e.next().map_or(0, |x| *x.1)),
                Ordering::Equal => (s.next().map_or(0, |x| *x.1), e.next().map_or(0, |x| *x.1)),
            },
        };
        cells += 1;
        excess += (got - want).max(0);
        missing += (want - got).max(0);
        if got == want {
            exact_cells += 1;
        } else {
            sum_rel += (got - want).abs() as f64 / want.max(1) as f64;
        }
    }
    if cells == 0 {
        return ErrorSample { mean_rel: 0.0, fraction_exact: 1.0, cells: 0, excess, missing };
    }
    ErrorSample {
        mean_rel: sum_rel / cells as f64,
        fraction_exact: exact_cells as f64 / cells as f64,
        cells,
        excess,
        missing,
    }
}

/// First-visible time of every event, per partition and offset.
#[derive(Debug, Default)]
pub struct FreshnessTracker {
    first_visible: Vec<Vec<TimestampMs>>,
    /// Per partition, every offset below this has been set by a prefix report.
    prefix_done: Vec<Offset>,
}

const NEVER: TimestampMs = TimestampMs::MAX;

impl FreshnessTracker {
    /// A tracker for `partitions` partitions.
    pub fn new(partitions: usize) -> Self {
        FreshnessTracker {
            first_visible: vec![Vec::new(); partitions],
            prefix_done: vec![0; partitions],
        }
    }

    fn slot(&mut self, partition: usize, offset: Offset) -> Option<&mut TimestampMs> {
        let v = self.first_visible.get_mut(partition)?;
        if v.len() <= offset as usize {
            v.resize(offset as usize + 1, NEVER);
        }
        v.get_mut(offset as usize)
    }

    /// Records what an architecture reported as visible.
    pub fn record(&mut self, visibility: &Visibility) {
        for &(at, p, offset) in &visibility.events {
            if let Some(slot) = self.slot(p as usize, offset) {
                *slot = (*slot).min(at);
            }
        }
        for (at, ends) in &visibility.prefixes {
            for (p, &end) in ends.iter().enumerate() {
                let from = self.prefix_done.get(p).copied().unwrap_or(0);
                for offset in from..end {
                    if let Some(slot) = self.slot(p, offset) {
                        *slot = (*slot).min(*at);
                    }
                }
                if let Some(done) = self.prefix_done.get_mut(p) {
                    *done = (*done).max(end);
                }
            }
        }
    }

    /// Freshness (visible − event time, ms) of every visible event, and how many never were.
    pub fn freshness(&self, event_times: &[Vec<TimestampMs>]) -> (Vec<i64>, u64) {
        let mut values = Vec::new();
        let mut never = 0;
        for (p, times) in event_times.iter().enumerate() {
            for (offset, ts) in times.iter().enumerate() {
                match self.first_visible.get(p).and_then(|v| v.get(offset)) {
                    Some(&at) if at != NEVER => values.push(at - ts),
                    _ => never += 1,
                }
            }
        }
        (values, never)
    }
}

/// p50, p99 and max of a distribution, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: i64,
    /// 99th percentile.
    pub p99: i64,
    /// Largest value.
    pub max: i64,
    /// Mean (rounded to 0.1 ms).
    pub mean: f64,
    /// Number of values.
    pub count: u64,
}

/// Nearest-rank percentiles of `values` (exact, not sketched: runs are small enough).
pub fn percentiles(mut values: Vec<i64>) -> Percentiles {
    if values.is_empty() {
        return Percentiles::default();
    }
    values.sort_unstable();
    let rank =
        |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
    Percentiles {
        p50: rank(0.50),
        p99: rank(0.99),
        max: values[values.len() - 1],
        mean: (mean * 10.0).round() / 10.0,
        count: values.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::Cell;

    fn cell(k: &str, w: i64) -> Cell {
        Cell { query: 0, key: k.into(), window_start_ms: w }
    }

    #[test]
    fn compare_counts_missing_extra_and_wrong_cells() {
        let exact: Table = [(cell("a", 0), 4), (cell("b", 0), 2)].into_iter().collect();
        let served: Table = [(cell("a", 0), 3), (cell("c", 0), 1)].into_iter().collect();
        let e = compare(&served, &exact);
        // a: 1/4, b: missing 2/2, c: extra 1/1 → (0.25 + 1 + 1) / 3.
        assert_eq!(e.cells, 3);
        assert!((e.mean_rel - 0.75).abs() < 1e-12);
        assert_eq!(e.fraction_exact, 0.0);
        assert_eq!((e.excess, e.missing), (1, 3));
        let same =
            ErrorSample { mean_rel: 0.0, fraction_exact: 1.0, cells: 2, excess: 0, missing: 0 };
        assert_eq!(compare(&exact, &exact), same);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = percentiles((1..=100).collect());
        assert_eq!((p.p50, p.p99, p.max, p.count), (50, 99, 100, 100));
        assert_eq!(percentiles(vec![]).count, 0);
    }

    #[test]
    fn freshness_takes_the_earliest_report() {
        let mut t = FreshnessTracker::new(1);
        t.record(&Visibility { events: vec![(500, 0, 1)], prefixes: vec![(900, vec![3])] });
        t.record(&Visibility { events: vec![(800, 0, 2)], prefixes: vec![] });
        let (values, never) = t.freshness(&[vec![100, 100, 100, 100]]);
        assert_eq!(values, vec![800, 400, 700]);
        assert_eq!(never, 1);
    }
}
