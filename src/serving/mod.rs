//! The serving layer: what a Lambda user queries. It merges the last published batch view with
//! the speed layer's results for everything after the batch view's cut-off, and keeps the
//! merge-boundary audit: events counted by both sides, or by neither.

use crate::query::{Agg, Cell, Table, View, present};
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
