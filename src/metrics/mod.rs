//! Metrics every output uses: consistency error against the oracle, and freshness.
//!
//! - **consistency error** at time t: over every cell present in the served answers or in the
//!   oracle, the mean of `|served − exact| / exact` (a cell the oracle lacks counts as error 1
//!   per served unit), and the fraction of cells exactly right.
//! - **freshness** of an event: the first time it is reflected in the served answers minus its
//!   event time. Events never reflected (dropped as late) are counted separately. Freshness
//!   and staleness live in [`freshness`].

use std::cmp::Ordering;

use serde::Serialize;

use crate::log::TimestampMs;
use crate::query::Table;

pub mod duplication;
pub mod freshness;

pub use freshness::{FreshnessTracker, Histogram};

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
    let (mut cells, mut exact_cells) = (0usize, 0usize);
    let (mut excess, mut missing) = (0i64, 0i64);
    for_each_cell(served, exact, |_, got, want| {
        cells += 1;
        excess += (got - want).max(0);
        missing += (want - got).max(0);
        if got == want {
            exact_cells += 1;
        } else {
            sum_rel += (got - want).abs() as f64 / want.max(1) as f64;
        }
    });
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

/// Time-to-correct: per window, from its end until the served answer is right and stays right.
#[derive(Debug, Default)]
pub struct CorrectnessTracker {
    /// The last sample time at which each cell was wrong.
    last_wrong: std::collections::HashMap<crate::query::Cell, TimestampMs>,
    samples: Vec<TimestampMs>,
}

impl CorrectnessTracker {
    /// Notes which cells are wrong at sample time `t`.
    pub fn record(&mut self, t: TimestampMs, served: &Table, exact: &Table) {
        self.samples.push(t);
        for_each_cell(served, exact, |cell, got, want| {
            if got != want {
                self.last_wrong.insert(cell.clone(), t);
            }
        });
    }

    /// Time-to-correct of every window of the final exact answer (ms), and how many windows
    /// were still wrong at the end.
    pub fn time_to_correct(
        &self,
        final_served: &Table,
        exact: &Table,
        queries: &crate::query::QuerySet,
    ) -> (Vec<i64>, u64) {
        let mut values = Vec::new();
        let mut never = 0;
        for (cell, want) in exact {
            if final_served.get(cell) != Some(want) {
                never += 1;
                continue;
            }
            let end = queries.window_end(cell);
            let from = self.last_wrong.get(cell).map_or(end, |w| end.max(w + 1));
            let i = self.samples.partition_point(|s| *s < from);
            if let Some(at) = self.samples.get(i) {
                values.push(at - end);
            }
        }
        (values, never)
    }
}

/// Calls `f(cell, served, exact)` for every cell in either table (0 where absent).
pub fn for_each_cell(
    served: &Table,
    exact: &Table,
    mut f: impl FnMut(&crate::query::Cell, i64, i64),
) {
    let mut s = served.iter().peekable();
    let mut e = exact.iter().peekable();
    loop {
        match (s.peek(), e.peek()) {
            (None, None) => break,
            (Some(_), None) => {
                if let Some((c, n)) = s.next() {
                    f(c, *n, 0)
                }
            }
            (None, Some(_)) => {
                if let Some((c, n)) = e.next() {
                    f(c, 0, *n)
                }
            }
            (Some(a), Some(b)) => match a.0.cmp(b.0) {
                Ordering::Less => {
                    if let Some((c, n)) = s.next() {
                        f(c, *n, 0)
                    }
                }
                Ordering::Greater => {
                    if let Some((c, n)) = e.next() {
                        f(c, 0, *n)
                    }
                }
                Ordering::Equal => {
                    if let (Some((c, got)), Some((_, want))) = (s.next(), e.next()) {
                        f(c, *got, *want)
                    }
                }
            },
        }
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
    fn time_to_correct_counts_from_window_end_to_right_and_staying_right() {
        use crate::query::{QueryKind, QuerySet, QuerySpec};
        let queries = QuerySet {
            specs: vec![QuerySpec {
                id: 0,
                kind: QueryKind::KeyWindowCount,
                window_ms: 1000,
                slide_ms: 1000,
                approximate: false,
                hll_precision: 12,
                exclude_bots: false,
            }],
            campaigns: std::sync::Arc::new(crate::workload::Campaigns::new(&Default::default(), 0)),
        };
        let exact: Table = [(cell("a", 0), 5)].into_iter().collect();
        let wrong: Table = [(cell("a", 0), 4)].into_iter().collect();
        let mut c = CorrectnessTracker::default();
        c.record(1000, &wrong, &exact);
        c.record(2000, &exact, &exact);
        c.record(3000, &wrong, &exact);
        c.record(4000, &exact, &exact);
        c.record(5000, &exact, &exact);
        // Window [0, 1000) ends at 1000; right for good from 4000.
        assert_eq!(c.time_to_correct(&exact, &exact, &queries), (vec![3000], 0));
        assert_eq!(c.time_to_correct(&wrong, &exact, &queries), (vec![], 1));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = percentiles((1..=100).collect());
        assert_eq!((p.p50, p.p99, p.max, p.count), (50, 99, 100, 100));
        assert_eq!(percentiles(vec![]).count, 0);
    }
}
