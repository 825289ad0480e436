//! The serving layer: what a Lambda user queries. It merges the last published batch view with
//! the speed layer's results for everything after the batch view's cut-off, and keeps the
//! merge-boundary audit: events counted by both sides, or by neither.

use std::cmp::Ordering;

use crate::query::{Agg, Cell, Table, TrackedTable, View, present};
use crate::speed::Audit;

/// The served answers: the batch view merged with the live speed views. States merge as
/// monoids (sums add, user sets union, sketches merge), then become numbers.
pub fn merge(batch: Option<&View>, speed: &View) -> Table {
    let Some(batch) = batch else { return present(speed) };
    // Present each side's cells directly and merge states only where both have the cell: a
    // query is asked at every sample, and cloning every state of the batch view (whole user
    // sets for distinct counts) to merge a few speed cells into it was most of its cost.
    let mut table = Table::new();
    for (cell, agg) in batch {
        let n = match speed.get(cell) {
            Some(s) => {
                let mut merged = agg.clone();
                merged.merge(s);
                merged.present()
            }
            None => agg.present(),
        };
        table.insert(cell.clone(), n);
    }
    for (cell, agg) in speed {
        if !batch.contains_key(cell) {
            table.insert(cell.clone(), agg.present());
        }
    }
    table
}

/// One cell of [`merge`]: the batch state merged with the speed state, the same operations
/// in the same order, so the same number. `None` when neither side has the cell.
pub fn merge_cell(batch: Option<&View>, cell: &Cell, speed: Option<&Agg>) -> Option<i64> {
    match (batch.and_then(|b| b.get(cell)), speed) {
        (Some(agg), Some(s)) => {
            let mut merged = agg.clone();
            merged.merge(s);
            Some(merged.present())
        }
        (Some(agg), None) => Some(agg.present()),
        (None, Some(s)) => Some(s.present()),
        (None, None) => None,
    }
}

/// The cells of [`merge`] in cell order, with their numbers, without building the table: the
/// same operations in the same order per cell (see [`merge_cell`]).
pub fn merged_cells<'a>(
    batch: Option<&'a View>,
    speed: &'a View,
) -> impl Iterator<Item = (&'a Cell, i64)> + 'a {
    let mut b = batch.into_iter().flatten().peekable();
    let mut s = speed.iter().peekable();
    std::iter::from_fn(move || {
        let order = match (b.peek(), s.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((cb, _)), Some((cs, _))) => cb.cmp(cs),
        };
        Some(match order {
            Ordering::Less => b.next().map(|(c, agg)| (c, agg.present()))?,
            Ordering::Greater => s.next().map(|(c, agg)| (c, agg.present()))?,
            Ordering::Equal => {
                let (cell, agg) = b.next()?;
                let (_, speed) = s.next()?;
                let mut merged = agg.clone();
                merged.merge(speed);
                (cell, merged.present())
            }
        })
    })
}

/// Makes `served` hold exactly `cells` (in cell order), touching only the cells whose number
/// differs: the same table and the same noted changes as `served.replace(cells.collect())`,
/// without building a second table (a `String` key per cell) to compare with. A publish
/// replaces a whole answer this way; between publishes only a few cells differ.
pub fn update_served<'a>(served: &mut TrackedTable, cells: impl Iterator<Item = (&'a Cell, i64)>) {
    let mut changes: Vec<(Cell, Option<i64>)> = Vec::new();
    let mut old = served.table().iter().peekable();
    for (cell, value) in cells {
        while let Some((gone, _)) = old.next_if(|(c, _)| *c < cell) {
            changes.push((gone.clone(), None));
        }
        match old.next_if(|(c, _)| *c == cell) {
            Some((_, &was)) if was == value => {}
            _ => changes.push((cell.clone(), Some(value))),
        }
    }
    changes.extend(old.map(|(gone, _)| (gone.clone(), None)));
    for (cell, value) in changes {
        match value {
            Some(v) => served.set_owned(cell, v),
            None => served.set(&cell, None),
        }
    }
}

/// The merge-boundary audit over a run: the worst moment seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditLog {
    /// Largest number of events counted twice at any check.
    pub max_double_counted: u64,
    /// Largest number of events counted by neither side at any check.
    pub max_missing: u64,
    /// Checks made.
    pub checks: u64,
}

impl AuditLog {
    /// Records one check.
    pub fn record(&mut self, audit: Audit) {
        self.max_double_counted = self.max_double_counted.max(audit.double_counted);
        self.max_missing = self.max_missing.max(audit.missing);
        self.checks += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn cell(k: u8, w: i64) -> Cell {
        Cell { query: k % 2, key: format!("k{k}"), window_start_ms: w }
    }

    fn view(cells: &[(u8, i64, Option<u64>, i64)]) -> View {
        cells
            .iter()
            .map(|&(k, w, user, n)| {
                let agg = match user {
                    // Distinct counts: a set of users.
                    Some(u) => Agg::Users(BTreeSet::from([u, u + n.unsigned_abs()])),
                    None => Agg::Sum(n),
                };
                (cell(k, w), agg)
            })
            .collect()
    }

    proptest::proptest! {
        /// A publish by cell updates gives the table and the noted changes of a whole replace.
        #[test]
        fn updating_the_served_cells_equals_replacing_the_table(
            before in proptest::collection::vec((0u8..6, 0i64..3, -2i64..3), 0..12),
            batch in proptest::collection::vec(
                (0u8..6, 0i64..3, proptest::option::of(0u64..4), 0i64..3), 0..12),
            speed in proptest::collection::vec(
                (0u8..6, 0i64..3, proptest::option::of(0u64..4), 0i64..3), 0..12),
            published in proptest::bool::ANY,
            edits in proptest::collection::vec((0u8..6, 0i64..3, 0i64..3), 0..4),
        ) {
            let (batch, speed) = (view(&batch), view(&speed));
            // Cells of one query agree on the kind of state (as in every real view).
            let speed: View = speed
                .into_iter()
                .filter(|(c, a)| batch.get(c).is_none_or(|b| std::mem::discriminant(b) == std::mem::discriminant(a)))
                .collect();
            let batch = published.then_some(&batch);
            let mut start = TrackedTable::new();
            start.replace(before.iter().map(|&(k, w, n)| (cell(k, w), n)).collect());
            start.clear_changes();
            // Changes noted before the publish (kept, with their first old value).
            for &(k, w, n) in &edits {
                start.set(&cell(k, w), Some(n));
            }
            let mut whole = start.clone();
            whole.replace(merge(batch, &speed));
            let mut by_cell = start;
            update_served(&mut by_cell, merged_cells(batch, &speed));
            proptest::prop_assert_eq!(by_cell.table(), whole.table());
            let changes = |t: &TrackedTable| t.changes().map(|(c, v)| (c.clone(), v)).collect::<Vec<_>>();
            proptest::prop_assert_eq!(changes(&by_cell), changes(&whole));
        }
    }
}
