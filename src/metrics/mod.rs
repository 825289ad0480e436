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
    /// Per cell that is right now but was wrong at some sample, the last such sample.
    last_wrong: std::collections::HashMap<crate::query::Cell, TimestampMs>,
    /// The cells wrong at the last sample, in cell order, with their relative errors.
    wrong: std::collections::BTreeMap<crate::query::Cell, f64>,
    /// Sum of `wrong`'s errors in cell order, while `wrong` is unchanged.
    wrong_sum: Option<f64>,
    /// Cells present in the served answers or the oracle's.
    cells: usize,
    /// Of those, cells exactly right.
    exact_cells: usize,
    excess: i64,
    missing: i64,
    samples: Vec<TimestampMs>,
}

/// What one cell adds to the figures: present, right, excess, missing, relative error.
struct Contribution {
    present: bool,
    right: bool,
    excess: i64,
    missing: i64,
    rel: f64,
}

impl Contribution {
    fn of(served: Option<i64>, exact: Option<i64>) -> Contribution {
        let (got, want) = (served.unwrap_or(0), exact.unwrap_or(0));
        Contribution {
            present: served.is_some() || exact.is_some(),
            right: got == want,
            excess: (got - want).max(0),
            missing: (want - got).max(0),
            rel: (got - want).abs() as f64 / want.max(1) as f64,
        }
    }
}

impl CorrectnessTracker {
    /// The sample at `t`: takes in every cell changed since the previous sample in `served`
    /// and `exact` (both trackers must have had their changes cleared right after the previous
    /// sample, and only then) and returns the error now — what [`compare`] returns for the two
    /// whole tables.
    pub fn sample(
        &mut self,
        t: TimestampMs,
        served: &crate::query::TrackedTable,
        exact: &crate::query::TrackedTable,
    ) -> ErrorSample {
        let previous_sample = self.samples.last().copied();
        self.samples.push(t);
        let mut s = served.changes().map(|(c, _)| c).peekable();
        let mut e = exact.changes().map(|(c, _)| c).peekable();
        loop {
            let cell = match (s.peek(), e.peek()) {
                (None, None) => break,
                (Some(a), Some(b)) => match a.cmp(b) {
                    Ordering::Less => s.next(),
                    Ordering::Greater => e.next(),
                    Ordering::Equal => {
                        e.next();
                        s.next()
                    }
                },
                (Some(_), None) => s.next(),
                (None, Some(_)) => e.next(),
            };
            let Some(cell) = cell else { break };
            let was = Contribution::of(served.previous(cell), exact.previous(cell));
            let now = Contribution::of(served.get(cell), exact.get(cell));
            self.account(&was, -1);
            self.account(&now, 1);
            if now.present && !now.right {
                match self.wrong.get_mut(cell) {
                    Some(rel) if *rel == now.rel => {}
                    Some(rel) => {
                        *rel = now.rel;
                        self.wrong_sum = None;
                    }
                    None => {
                        self.wrong.insert(cell.clone(), now.rel);
                        self.wrong_sum = None;
                    }
                }
            } else if self.wrong.remove(cell).is_some() {
                self.wrong_sum = None;
                if let Some(p) = previous_sample {
                    self.last_wrong.insert(cell.clone(), p);
                }
            }
        }
        if self.cells == 0 {
            let (excess, missing) = (self.excess, self.missing);
            return ErrorSample { mean_rel: 0.0, fraction_exact: 1.0, cells: 0, excess, missing };
        }
        let sum_rel = *self.wrong_sum.get_or_insert_with(|| {
            let mut sum = 0.0;
            for rel in self.wrong.values() {
                sum += rel;
            }
            sum
        });
        ErrorSample {
            mean_rel: sum_rel / self.cells as f64,
            fraction_exact: self.exact_cells as f64 / self.cells as f64,
            cells: self.cells,
            excess: self.excess,
            missing: self.missing,
        }
    }

    /// Adds (`sign` 1) or takes away (`sign` -1) one cell's contribution to the counts.
    fn account(&mut self, c: &Contribution, sign: i64) {
        if !c.present {
            return;
        }
        let step = |n: &mut usize| {
            *n = if sign > 0 { *n + 1 } else { n.saturating_sub(1) };
        };
        step(&mut self.cells);
        if c.right {
            step(&mut self.exact_cells);
        }
        self.excess += sign * c.excess;
        self.missing += sign * c.missing;
    }

    /// Forgets what it remembers of cells whose window ends at or before `through` (answer
    /// retention): they left both tables and will not be judged again.
    pub fn forget(&mut self, queries: &crate::query::QuerySet, through: i64) {
        self.last_wrong.retain(|cell, _| queries.is_live(cell, through));
        let before = self.wrong.len();
        self.wrong.retain(|cell, _| queries.is_live(cell, through));
        if self.wrong.len() != before {
            self.wrong_sum = None;
        }
    }

    /// The last sample at which `cell` was wrong.
    fn last_wrong(&self, cell: &crate::query::Cell) -> Option<TimestampMs> {
        if self.wrong.contains_key(cell) {
            return self.samples.last().copied();
        }
        self.last_wrong.get(cell).copied()
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
            let from = self.last_wrong(cell).map_or(end, |w| end.max(w + 1));
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

/// Calls `f(cell, served, exact)` for every cell in either table, `None` where absent.
pub fn for_each_cell_opt(
    served: &Table,
    exact: &Table,
    mut f: impl FnMut(&crate::query::Cell, Option<i64>, Option<i64>),
) {
    let mut s = served.iter().peekable();
    let mut e = exact.iter().peekable();
    loop {
        let order = match (s.peek(), e.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(a), Some(b)) => a.0.cmp(b.0),
        };
        match order {
            Ordering::Less => {
                if let Some((c, n)) = s.next() {
                    f(c, Some(*n), None)
                }
            }
            Ordering::Greater => {
                if let Some((c, n)) = e.next() {
                    f(c, None, Some(*n))
                }
            }
            Ordering::Equal => {
                if let (Some((c, got)), Some((_, want))) = (s.next(), e.next()) {
                    f(c, Some(*got), Some(*want))
                }
            }
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
    use crate::query::{Cell, TrackedTable};

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
            ttl_ms: None,
        };
        let exact: Table = [(cell("a", 0), 5)].into_iter().collect();
        let wrong: Table = [(cell("a", 0), 4)].into_iter().collect();
        let mut c = CorrectnessTracker::default();
        let (mut s, mut e) = (TrackedTable::new(), TrackedTable::new());
        for (t, served) in
            [(1000, &wrong), (2000, &exact), (3000, &wrong), (4000, &exact), (5000, &exact)]
        {
            s.replace(served.clone());
            e.replace(exact.clone());
            c.sample(t, &s, &e);
            s.clear_changes();
            e.clear_changes();
        }
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

    /// The time-to-correct input as the full recomputation had it: per cell, the last sample
    /// at which it was wrong.
    fn last_wrong_by_walking(
        samples: &[(TimestampMs, Table, Table)],
    ) -> std::collections::HashMap<Cell, TimestampMs> {
        let mut last = std::collections::HashMap::new();
        for (t, served, exact) in samples {
            for_each_cell(served, exact, |cell, got, want| {
                if got != want {
                    last.insert(cell.clone(), *t);
                }
            });
        }
        last
    }

    fn table_strategy() -> impl proptest::strategy::Strategy<Value = Table> {
        proptest::collection::btree_map(
            (0u8..2, "[abc]", 0i64..4).prop_map(|(q, k, w)| Cell {
                query: q,
                key: k,
                window_start_ms: w * 1000,
            }),
            0i64..5,
            0..12,
        )
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        /// Sample by sample, the incremental tracker gives exactly (bit for bit) what comparing
        /// the whole tables gives, and the same time-to-correct at the end; served answers and
        /// exact ones change by whole replacements or by single cells, as producers do.
        #[test]
        fn incremental_samples_equal_the_full_comparison(
            steps in proptest::collection::vec((table_strategy(), table_strategy(), 0u8..4), 1..25),
        ) {
            let queries = crate::query::QuerySet {
                specs: (0..2).map(|id| crate::query::QuerySpec {
                    id,
                    kind: crate::query::QueryKind::KeyWindowCount,
                    window_ms: 1000,
                    slide_ms: 1000,
                    approximate: false,
                    hll_precision: 12,
                    exclude_bots: false,
                }).collect(),
                campaigns: std::sync::Arc::new(
                    crate::workload::Campaigns::new(&Default::default(), 0)),
                ttl_ms: None,
            };
            let mut tracker = CorrectnessTracker::default();
            let (mut s, mut e) = (TrackedTable::new(), TrackedTable::new());
            let mut history = Vec::new();
            for (i, (served, exact, how)) in steps.into_iter().enumerate() {
                let t = (i as i64 + 1) * 1000;
                // Sometimes a whole new table, sometimes only some cells set or removed.
                match how {
                    0 => { s.replace(served); e.replace(exact); }
                    1 => for (c, v) in &served { s.set(c, Some(*v)) },
                    2 => {
                        for (c, v) in &exact { e.set_owned(c.clone(), *v) }
                        let gone: Vec<Cell> = s.table().keys()
                            .filter(|c| !served.contains_key(c)).cloned().collect();
                        for c in gone { s.set(&c, None) }
                    }
                    _ => {}
                }
                let got = tracker.sample(t, &s, &e);
                let want = compare(s.table(), e.table());
                proptest::prop_assert_eq!(got.cells, want.cells);
                proptest::prop_assert_eq!((got.excess, got.missing), (want.excess, want.missing));
                proptest::prop_assert_eq!(got.mean_rel.to_bits(), want.mean_rel.to_bits());
                proptest::prop_assert_eq!(got.fraction_exact.to_bits(), want.fraction_exact.to_bits());
                history.push((t, s.table().clone(), e.table().clone()));
                s.clear_changes();
                e.clear_changes();
            }
            let walked = last_wrong_by_walking(&history);
            let cells: std::collections::BTreeSet<&Cell> =
                history.iter().flat_map(|(_, a, b)| a.keys().chain(b.keys())).collect();
            for cell in cells {
                proptest::prop_assert_eq!(tracker.last_wrong(cell), walked.get(cell).copied());
            }
            let (final_served, final_exact) = (s.table(), e.table());
            let ttc = tracker.time_to_correct(final_served, final_exact, &queries);
            // The same figure from the walked history.
            let mut values = Vec::new();
            let mut never = 0;
            let samples: Vec<TimestampMs> = history.iter().map(|(t, _, _)| *t).collect();
            for (cell, want) in final_exact {
                if final_served.get(cell) != Some(want) { never += 1; continue; }
                let end = queries.window_end(cell);
                let from = walked.get(cell).map_or(end, |w| end.max(w + 1));
                let i = samples.partition_point(|x| *x < from);
                if let Some(at) = samples.get(i) { values.push(at - end); }
            }
            proptest::prop_assert_eq!(ttc, (values, never));
        }
    }
}
