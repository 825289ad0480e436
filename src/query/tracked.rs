//! A served table that remembers which cells changed: what lets a run's samples cost what
//! changed rather than the whole table.
//!
//! A simulated run samples every architecture's answers many times, and windowed answers grow
//! with the run: comparing whole tables at every sample makes a run quadratic in its duration.
//! A [`TrackedTable`] is kept up to date by whoever produces the answers (the oracle, an
//! architecture) and notes, for every cell whose value changed since its changes were last
//! cleared, the value it had then. A consumer (`metrics::CorrectnessTracker`) updates running
//! figures from those cells alone.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::{Cell, Table};

/// A [`Table`] and the cells changed since [`TrackedTable::clear_changes`], each with the value
/// it had then (`None`: absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackedTable {
    table: Table,
    /// Cell → value before the first change since the last clear. A cell changed back to that
    /// value stays listed (harmless: consumers recompute from old and new values).
    changed: BTreeMap<Cell, Option<i64>>,
}

impl TrackedTable {
    /// An empty table with no changes.
    pub fn new() -> Self {
        TrackedTable::default()
    }

    /// The current answers.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The current value of `cell` (`None`: absent).
    pub fn get(&self, cell: &Cell) -> Option<i64> {
        self.table.get(cell).copied()
    }

    /// Notes that `cell` had `old` before this epoch's first change to it.
    fn note(changed: &mut BTreeMap<Cell, Option<i64>>, cell: &Cell, old: Option<i64>) {
        if !changed.contains_key(cell) {
            changed.insert(cell.clone(), old);
        }
    }

    /// Sets `cell` to `value` (`None` removes it), noting the change when there is one.
    pub fn set(&mut self, cell: &Cell, value: Option<i64>) {
        let old = self.table.get(cell).copied();
        if old == value {
            return;
        }
        Self::note(&mut self.changed, cell, old);
        match value {
            Some(v) => match self.table.get_mut(cell) {
                Some(slot) => *slot = v,
                None => {
                    self.table.insert(cell.clone(), v);
                }
            },
            None => {
                self.table.remove(cell);
            }
        }
    }

    /// Sets `cell` to `value`, taking the cell by value (no clone when it is new).
    pub fn set_owned(&mut self, cell: Cell, value: i64) {
        match self.table.entry(cell) {
            Entry::Occupied(mut e) => {
                let old = *e.get();
                if old != value {
                    Self::note(&mut self.changed, e.key(), Some(old));
                    e.insert(value);
                }
            }
            Entry::Vacant(e) => {
                Self::note(&mut self.changed, e.key(), None);
                e.insert(value);
            }
        }
    }

    /// Replaces the whole table with `new`, noting every cell that differs (one ordered walk of
    /// both: what an answer computed from scratch costs to track).
    pub fn replace(&mut self, new: Table) {
        let old = std::mem::replace(&mut self.table, new);
        let changed = &mut self.changed;
        crate::metrics::for_each_cell_opt(&old, &self.table, |cell, was, now| {
            if was != now {
                Self::note(changed, cell, was);
            }
        });
    }

    /// Every cell changed since the last clear, in cell order, with the value it had then.
    pub fn changes(&self) -> impl Iterator<Item = (&Cell, Option<i64>)> {
        self.changed.iter().map(|(c, v)| (c, *v))
    }

    /// The value `cell` had at the last clear.
    pub fn previous(&self, cell: &Cell) -> Option<i64> {
        match self.changed.get(cell) {
            Some(old) => *old,
            None => self.get(cell),
        }
    }

    /// Cells changed since the last clear.
    pub fn changed_len(&self) -> usize {
        self.changed.len()
    }

    /// Starts a new epoch: no cell counts as changed.
    pub fn clear_changes(&mut self) {
        self.changed.clear();
    }

    /// Removes every cell whose window ends at or before `through` under `queries` (answer
    /// retention), noting each as a change; returns how many.
    pub fn expire(&mut self, queries: &super::QuerySet, through: i64) -> usize {
        let gone: Vec<Cell> =
            self.table.keys().filter(|c| !queries.is_live(c, through)).cloned().collect();
        for cell in &gone {
            self.set(cell, None);
        }
        gone.len()
    }

    /// The table, giving up the tracking.
    pub fn into_table(self) -> Table {
        self.table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(k: &str, w: i64) -> Cell {
        Cell { query: 0, key: k.into(), window_start_ms: w }
    }

    #[test]
    fn changes_keep_the_value_before_the_first_change() {
        let mut t = TrackedTable::new();
        t.set(&cell("a", 0), Some(1));
        t.clear_changes();
        t.set(&cell("a", 0), Some(2));
        t.set(&cell("a", 0), Some(3));
        t.set_owned(cell("b", 0), 5);
        t.set(&cell("c", 0), None);
        let got: Vec<_> = t.changes().map(|(c, v)| (c.key.clone(), v)).collect();
        assert_eq!(got, vec![("a".into(), Some(1)), ("b".into(), None)]);
        assert_eq!(t.previous(&cell("a", 0)), Some(1));
        assert_eq!(t.get(&cell("a", 0)), Some(3));
        t.replace([(cell("b", 0), 5), (cell("d", 0), 0)].into_iter().collect());
        let got: Vec<_> = t.changes().map(|(c, v)| (c.key.clone(), v)).collect();
        // a: removed (was 1 at the clear); b: still listed; d: new, with value 0.
        assert_eq!(got, vec![("a".into(), Some(1)), ("b".into(), None), ("d".into(), None)]);
        assert_eq!(t.get(&cell("d", 0)), Some(0));
    }

    proptest::proptest! {
        /// Whatever the edits, the noted changes are exactly the cells whose value differs from
        /// the table at the last clear, with that table's values.
        #[test]
        fn changes_are_the_difference_from_the_last_clear(
            edits in proptest::collection::vec(
                (0u8..3, 0usize..6, proptest::option::of(-2i64..3)), 0..60),
        ) {
            let mut t = TrackedTable::new();
            let mut at_clear = Table::new();
            for (i, (op, k, v)) in edits.into_iter().enumerate() {
                let c = cell(&format!("k{k}"), 0);
                match op {
                    0 => t.set(&c, v),
                    1 => if let Some(v) = v { t.set_owned(c, v) },
                    _ => {
                        let mut next = t.table().clone();
                        match v {
                            Some(v) => { next.insert(c, v); }
                            None => { next.remove(&c); }
                        }
                        t.replace(next);
                    }
                }
                if i % 7 == 6 {
                    t.clear_changes();
                    at_clear = t.table().clone();
                }
                let mut expected = Vec::new();
                crate::metrics::for_each_cell_opt(&at_clear, t.table(), |c, was, now| {
                    if was != now { expected.push((c.clone(), was)); }
                });
                let noted: Vec<_> = t.changes()
                    .filter(|(c, was)| *was != t.get(c))
                    .map(|(c, v)| (c.clone(), v))
                    .collect();
                proptest::prop_assert_eq!(noted, expected);
                for (c, _) in t.changes() {
                    proptest::prop_assert_eq!(t.previous(c), at_clear.get(c).copied());
                }
            }
        }
    }
}
