//! Aggregation states: commutative monoids, so partial results from any split of the log merge
//! into the same answer (what lets Lambda's serving layer add batch and speed views, and what
//! Summingbird builds on).

use std::collections::BTreeSet;

use crate::hll::Hll;

/// The state of one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agg {
    /// A count or a sum.
    Sum(i64),
    /// An exact set of user ids.
    Users(BTreeSet<u64>),
    /// A HyperLogLog sketch of user ids.
    Sketch(Hll),
}

impl Agg {
    /// Merges `other` into `self`. Sum + Sum adds; sets union; sketches merge; a set merged with a
    /// sketch becomes a sketch (the result is only as exact as its least exact part).
    pub fn merge(&mut self, other: &Agg) {
        match (&mut *self, other) {
            (Agg::Sum(a), Agg::Sum(b)) => *a += b,
            (Agg::Users(a), Agg::Users(b)) => a.extend(b.iter().copied()),
            (Agg::Sketch(a), Agg::Sketch(b)) => a.merge(b),
            (Agg::Sketch(a), Agg::Users(b)) => b.iter().for_each(|u| a.insert(*u)),
            (Agg::Users(a), Agg::Sketch(b)) => {
                let mut sketch = b.clone();
                a.iter().for_each(|u| sketch.insert(*u));
                *self = Agg::Sketch(sketch);
            }
            // Different kinds never share a cell (a cell belongs to one query); keep `self`.
            (Agg::Sum(_), _) | (_, Agg::Sum(_)) => {}
        }
    }

    /// The number a user sees.
    pub fn present(&self) -> i64 {
        match self {
            Agg::Sum(n) => *n,
            Agg::Users(set) => set.len() as i64,
            Agg::Sketch(hll) => hll.estimate() as i64,
        }
    }
}
