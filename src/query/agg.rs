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
    /// One user id: what a single event contributes to a distinct count. It becomes a set
    /// (`precision: None`) or a sketch of that precision as soon as it meets another state, so
    /// a stream job does not build a 2^p-byte sketch for every event.
    User {
        /// The user id.
        id: u64,
        /// `Some(p)`: the cell is approximate, a sketch of precision `p`.
        precision: Option<u8>,
    },
}

impl Agg {
    /// Merges `other` into `self`. Sum + Sum adds; sets union; sketches merge; a set merged with a
    /// sketch becomes a sketch (the result is only as exact as its least exact part).
    pub fn merge(&mut self, other: &Agg) {
        if let Agg::User { id, precision } = *self {
            *self = Agg::lifted(id, precision);
        }
        match (&mut *self, other) {
            (Agg::Users(a), Agg::User { id, precision: None }) => {
                a.insert(*id);
            }
            (Agg::Users(a), Agg::User { id, precision: Some(p) }) => {
                let mut sketch = Hll::new(*p);
                a.iter().for_each(|u| sketch.insert(*u));
                sketch.insert(*id);
                *self = Agg::Sketch(sketch);
            }
            (Agg::Sketch(a), Agg::User { id, .. }) => a.insert(*id),
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
            // (`self` is never `User` here: it was lifted above.)
            (Agg::Sum(_), _) | (_, Agg::Sum(_)) | (Agg::User { .. }, _) => {}
        }
    }

    /// A single user as a set, or as a sketch of `precision`.
    fn lifted(id: u64, precision: Option<u8>) -> Agg {
        match precision {
            None => Agg::Users(BTreeSet::from([id])),
            Some(p) => {
                let mut sketch = Hll::new(p);
                sketch.insert(id);
                Agg::Sketch(sketch)
            }
        }
    }

    /// The number a user sees.
    pub fn present(&self) -> i64 {
        match self {
            Agg::User { .. } => 1,
            Agg::Sum(n) => *n,
            Agg::Users(set) => set.len() as i64,
            Agg::Sketch(hll) => hll.estimate() as i64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_users_merge_into_sets_and_sketches() {
        let mut a = Agg::User { id: 1, precision: None };
        a.merge(&Agg::User { id: 2, precision: None });
        a.merge(&Agg::User { id: 1, precision: None });
        assert_eq!(a, Agg::Users(BTreeSet::from([1, 2])));
        let mut s = Agg::User { id: 1, precision: Some(8) };
        s.merge(&Agg::User { id: 2, precision: Some(8) });
        assert!(matches!(s, Agg::Sketch(_)));
        assert_eq!(s.present(), 2);
        // An exact set meeting an approximate user becomes a sketch.
        let mut e = Agg::Users(BTreeSet::from([5, 6]));
        e.merge(&Agg::User { id: 7, precision: Some(8) });
        assert_eq!(e.present(), 3);
        assert!(matches!(e, Agg::Sketch(_)));
    }
}
