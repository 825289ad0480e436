//! HyperLogLog: an approximate distinct count in `2^p` bytes, mergeable across partitions,
//! windows and layers.
//!
//! This is the classic reason Lambda kept a batch layer: the speed layer answers "how many
//! distinct users?" approximately and cheaply, the batch layer exactly, later. An [`Hll`] is a
//! monoid: [`Hll::merge`] is associative and commutative and [`Hll::new`] is its identity, so
//! partial sketches can be combined in any grouping (that is what makes it usable by the
//! unified, Summingbird-style architecture).
//!
//! Algorithm (Flajolet, Fusy, Gandouet, Meunier 2007; 64-bit hash as in Heule, Nunkesser, Hall
//! 2013): the top `p` bits of a 64-bit hash choose one of `m = 2^p` registers, which keeps the
//! largest position of the first 1-bit in the remaining bits. The estimate is
//! `α_m · m² / Σ 2^-M[j]`, replaced by linear counting `m · ln(m / V)` while it is below
//! `2.5 m` and some register `V` is still zero. With a 64-bit hash no large-range correction
//! is needed. The standard error is about `1.04 / √m`.
//!
//! The hash is SplitMix64's finalizer over the value xor a fixed seed: deterministic across
//! runs and platforms, so sketches built anywhere can be merged and compared byte for byte.

use serde::{Deserialize, Serialize};

/// Smallest supported precision (16 registers).
pub const MIN_PRECISION: u8 = 4;
/// Largest supported precision (65 536 registers).
pub const MAX_PRECISION: u8 = 16;

/// Fixed seed of the hash (every sketch must use the same one to be mergeable).
const HASH_SEED: u64 = 0x5eed_1a3b_da00_0001;

/// The 64-bit hash of a value: SplitMix64 of `value ^ HASH_SEED`.
pub fn hash64(value: u64) -> u64 {
    let mut z = (value ^ HASH_SEED).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A HyperLogLog sketch of precision `p`: `2^p` one-byte registers, kept *sparse* (only the
/// non-zero registers) while few are set.
///
/// Why sparse: a windowed distinct count keeps one sketch per key per window, and most hold
/// a few dozen users — a dense sketch of precision 12 is 4 KiB whatever it holds. In the
/// realtime soak (200 keys, 1-minute windows, three batch layers and two speed layers each
/// holding their windows' sketches) dense sketches were the largest thing on the heap and
/// grew with every window. The sparse form stores each set register as one `u32`, sorted by
/// index, and turns dense once that would stop saving memory (HyperLogLog++'s sparse
/// representation, at the sketch's own precision so nothing about the estimate changes).
/// Equality, hashing, serialization and every estimate are those of the registers, whichever
/// form holds them.
#[derive(Debug, Clone)]
pub struct Hll {
    precision: u8,
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Set registers as `index << 8 | value`, sorted (by index), values non-zero.
    Sparse(Vec<u32>),
    /// Every register.
    Dense(Vec<u8>),
}

/// `index << 8 | value` of a sparse entry.
fn entry(index: usize, value: u8) -> u32 {
    ((index as u32) << 8) | u32::from(value)
}

impl Hll {
    /// An empty sketch (the identity of [`Hll::merge`]).
    ///
    /// # Panics
    /// If `precision` is outside `MIN_PRECISION..=MAX_PRECISION` (4..=16); a scenario's
    /// precision is validated before it gets here.
    pub fn new(precision: u8) -> Self {
        assert!(
            (MIN_PRECISION..=MAX_PRECISION).contains(&precision),
            "HyperLogLog precision must be between {MIN_PRECISION} and {MAX_PRECISION}, got {precision}"
        );
        Hll { precision, repr: Repr::Sparse(Vec::new()) }
    }

    /// The precision `p`.
    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// Registers `2^p`.
    fn m(&self) -> usize {
        1 << self.precision
    }

    /// Most sparse entries before the sketch turns dense: there, the entries take half the
    /// dense sketch's bytes.
    fn sparse_limit(&self) -> usize {
        self.m() / 8
    }

    /// Adds a value (e.g. a user id).
    pub fn insert(&mut self, value: u64) {
        self.insert_hash(hash64(value));
    }

    /// Adds an already-hashed value (any well-mixed 64-bit hash).
    pub fn insert_hash(&mut self, hash: u64) {
        let p = u32::from(self.precision);
        let index = (hash >> (64 - p)) as usize;
        // The remaining 64 - p bits, with a sentinel 1 so the rank is at most 64 - p + 1.
        let rest = (hash << p) | (1 << (p - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        self.raise(index, rank);
    }

    /// Register `index` becomes at least `value`.
    fn raise(&mut self, index: usize, value: u8) {
        let limit = self.sparse_limit();
        match &mut self.repr {
            Repr::Dense(registers) => {
                let r = &mut registers[index];
                if value > *r {
                    *r = value;
                }
            }
            Repr::Sparse(entries) => {
                match entries.binary_search_by_key(&index, |e| (e >> 8) as usize) {
                    Ok(i) => {
                        if u32::from(value) > entries[i] & 0xff {
                            entries[i] = entry(index, value);
                        }
                    }
                    Err(i) => {
                        entries.insert(i, entry(index, value));
                        if entries.len() > limit {
                            self.densify();
                        }
                    }
                }
            }
        }
    }

    /// Turns the sketch dense.
    fn densify(&mut self) {
        if let Repr::Sparse(entries) = &self.repr {
            let mut registers = vec![0u8; self.m()];
            for &e in entries {
                registers[(e >> 8) as usize] = (e & 0xff) as u8;
            }
            self.repr = Repr::Dense(registers);
        }
    }

    /// Merges `other` into `self`: afterwards `self` sketches the union of both multisets.
    ///
    /// # Panics
    /// If the precisions differ (sketches of different sizes do not merge).
    pub fn merge(&mut self, other: &Hll) {
        assert_eq!(
            self.precision, other.precision,
            "cannot merge HyperLogLog sketches of different precisions"
        );
        match (&mut self.repr, &other.repr) {
            (Repr::Dense(a), Repr::Dense(b)) => {
                for (a, &b) in a.iter_mut().zip(b) {
                    *a = (*a).max(b);
                }
            }
            (Repr::Dense(a), Repr::Sparse(b)) => {
                for &e in b {
                    let r = &mut a[(e >> 8) as usize];
                    *r = (*r).max((e & 0xff) as u8);
                }
            }
            (Repr::Sparse(_), Repr::Dense(_)) => {
                self.densify();
                self.merge(other);
            }
            (Repr::Sparse(a), Repr::Sparse(b)) => {
                if b.is_empty() {
                    return;
                }
                // Both sorted by index: one merge pass; equal indices keep the larger value.
                let mut merged = Vec::with_capacity(a.len() + b.len());
                let (mut i, mut j) = (0, 0);
                while i < a.len() && j < b.len() {
                    let (x, y) = (a[i], b[j]);
                    match (x >> 8).cmp(&(y >> 8)) {
                        std::cmp::Ordering::Less => {
                            merged.push(x);
                            i += 1;
                        }
                        std::cmp::Ordering::Greater => {
                            merged.push(y);
                            j += 1;
                        }
                        std::cmp::Ordering::Equal => {
                            merged.push(x.max(y));
                            i += 1;
                            j += 1;
                        }
                    }
                }
                merged.extend_from_slice(&a[i..]);
                merged.extend_from_slice(&b[j..]);
                *a = merged;
                if a.len() > self.sparse_limit() {
                    self.densify();
                }
            }
        }
    }

    /// Whether nothing has been inserted.
    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Sparse(entries) => entries.is_empty(),
            Repr::Dense(registers) => registers.iter().all(|&r| r == 0),
        }
    }

    /// Every register in index order (zeros included).
    fn each_register(&self) -> impl Iterator<Item = u8> + '_ {
        let (dense, sparse) = match &self.repr {
            Repr::Dense(registers) => (Some(registers.iter().copied()), None),
            Repr::Sparse(entries) => {
                let mut entries = entries.iter().peekable();
                let sparse = (0..self.m()).map(move |index| {
                    match entries.next_if(|&&e| (e >> 8) as usize == index) {
                        Some(&e) => (e & 0xff) as u8,
                        None => 0,
                    }
                });
                (None, Some(sparse))
            }
        };
        dense.into_iter().flatten().chain(sparse.into_iter().flatten())
    }

    /// The estimated number of distinct values inserted.
    pub fn estimate(&self) -> u64 {
        let m = self.m() as f64;
        let alpha = match self.m() {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m),
        };
        // Summed over every register in index order whatever the form, so a sparse sketch's
        // estimate is bit-for-bit the dense one's (floating-point sums depend on order).
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for r in self.each_register() {
            // 2^-r built from its bits (exact, like `exp2` of an integer, and ~50× cheaper:
            // `exp2` here was 70% of a run that samples sketches every few seconds).
            sum += f64::from_bits((1023 - u64::from(r)) << 52);
            zeros += usize::from(r == 0);
        }
        let raw = alpha * m * m / sum;
        let estimate = if raw <= 2.5 * m && zeros > 0 { m * (m / zeros as f64).ln() } else { raw };
        estimate.round() as u64
    }

    /// The standard relative error of a sketch of `precision`: `1.04 / √(2^p)`.
    pub fn relative_error_bound(precision: u8) -> f64 {
        1.04 / f64::from(1u32 << precision.min(31)).sqrt()
    }

    /// The registers, dense (for storage and tests).
    pub fn registers(&self) -> Vec<u8> {
        self.each_register().collect()
    }

    /// Bytes the sketch holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Sparse(entries) => entries.capacity() * 4,
            Repr::Dense(registers) => registers.capacity(),
        }
    }

    /// Whether the sketch is held sparse.
    pub fn is_sparse(&self) -> bool {
        matches!(self.repr, Repr::Sparse(_))
    }
}

impl PartialEq for Hll {
    fn eq(&self, other: &Hll) -> bool {
        self.precision == other.precision
            && match (&self.repr, &other.repr) {
                (Repr::Sparse(a), Repr::Sparse(b)) => a == b,
                (Repr::Dense(a), Repr::Dense(b)) => a == b,
                _ => self.each_register().eq(other.each_register()),
            }
    }
}

impl Eq for Hll {}

impl std::hash::Hash for Hll {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The registers, as the derived hash of `{ precision, registers: Vec<u8> }` did.
        self.precision.hash(state);
        self.registers().hash(state);
    }
}

/// The serialized form: every register, as before sketches could be sparse.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Hll")]
struct DenseForm {
    precision: u8,
    registers: Vec<u8>,
}

impl Serialize for Hll {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        DenseForm { precision: self.precision, registers: self.registers() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Hll {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Hll, D::Error> {
        let d = DenseForm::deserialize(deserializer)?;
        if !(MIN_PRECISION..=MAX_PRECISION).contains(&d.precision)
            || d.registers.len() != 1 << d.precision
        {
            return Err(serde::de::Error::custom(format!(
                "a HyperLogLog sketch of precision {} has {} registers, not {}",
                d.precision,
                1usize << d.precision.min(MAX_PRECISION),
                d.registers.len()
            )));
        }
        let mut h = Hll::new(d.precision);
        for (index, &value) in d.registers.iter().enumerate() {
            if value != 0 {
                h.raise(index, value);
            }
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn sketch(p: u8, values: impl IntoIterator<Item = u64>) -> Hll {
        let mut h = Hll::new(p);
        values.into_iter().for_each(|v| h.insert(v));
        h
    }

    #[test]
    fn empty_estimates_zero_and_duplicates_do_not_count() {
        assert_eq!(Hll::new(12).estimate(), 0);
        assert!(Hll::new(12).is_empty());
        let h = sketch(12, (0..1000).flat_map(|v| [v, v, v]));
        let e = h.estimate() as f64;
        assert!((e - 1000.0).abs() / 1000.0 < 3.0 * Hll::relative_error_bound(12), "{e}");
    }

    #[test]
    fn register_weights_are_exact_powers_of_two() {
        for r in 0u8..=64 {
            assert_eq!(
                f64::from_bits((1023 - u64::from(r)) << 52),
                f64::from(-i32::from(r)).exp2()
            );
        }
    }

    #[test]
    fn estimates_within_three_standard_errors() {
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        for p in [4u8, 8, 10, 12, 14, 16] {
            let bound = 3.0 * Hll::relative_error_bound(p);
            for n in [10u64, 100, 1_000, 10_000, 100_000, 1_000_000] {
                let start: u64 = rng.r#gen();
                let h = sketch(p, (0..n).map(|i| start.wrapping_add(i)));
                let e = h.estimate() as f64;
                let err = (e - n as f64).abs() / n as f64;
                assert!(
                    err <= bound.max(1.5 / n as f64),
                    "p={p} n={n} estimate={e} err={err:.4} bound={bound:.4}"
                );
            }
        }
    }

    #[test]
    fn random_ids_are_estimated_as_well_as_sequential_ones() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let values: Vec<u64> = (0..200_000).map(|_| rng.r#gen()).collect();
        let e = sketch(14, values.iter().copied()).estimate() as f64;
        assert!((e - 200_000.0).abs() / 200_000.0 < 3.0 * Hll::relative_error_bound(14), "{e}");
    }

    #[test]
    fn merge_equals_inserting_the_union() {
        let a = sketch(12, 0..50_000);
        let b = sketch(12, 25_000..90_000);
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(merged, sketch(12, 0..90_000));
    }

    #[test]
    #[should_panic(expected = "different precisions")]
    fn merging_different_precisions_panics() {
        Hll::new(10).merge(&Hll::new(11));
    }

    #[test]
    #[should_panic(expected = "between 4 and 16")]
    fn precision_out_of_range_panics() {
        let _ = Hll::new(3);
    }

    #[test]
    fn a_sketch_of_few_values_stays_small_and_a_wrong_size_does_not_load() {
        let h = sketch(12, 0..100);
        assert!(h.is_sparse() && h.heap_bytes() < 1024, "{} bytes", h.heap_bytes());
        let big = sketch(12, 0..10_000);
        assert!(!big.is_sparse() && big.heap_bytes() == 4096);
        let err = serde_json::from_str::<Hll>(r#"{"precision":12,"registers":[0,1]}"#).unwrap_err();
        assert!(err.to_string().contains("precision 12 has 4096 registers, not 2"), "{err}");
    }

    #[test]
    fn bound_and_serde() {
        assert!((Hll::relative_error_bound(14) - 1.04 / 128.0).abs() < 1e-12);
        let h = sketch(6, 0..100);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Hll>(&json).unwrap(), h);
    }

    fn any_sketch() -> impl Strategy<Value = Hll> {
        proptest::collection::vec(any::<u64>(), 0..200).prop_map(|v| sketch(8, v))
    }

    proptest! {
        #[test]
        fn new_is_the_identity(a in any_sketch()) {
            let mut left = Hll::new(8);
            left.merge(&a);
            let mut right = a.clone();
            right.merge(&Hll::new(8));
            prop_assert_eq!(&left, &a);
            prop_assert_eq!(&right, &a);
        }

        #[test]
        fn merge_is_commutative_and_associative(a in any_sketch(), b in any_sketch(), c in any_sketch()) {
            let mut ab = a.clone();
            ab.merge(&b);
            let mut ba = b.clone();
            ba.merge(&a);
            prop_assert_eq!(&ab, &ba);
            let mut ab_c = ab.clone();
            ab_c.merge(&c);
            let mut bc = b.clone();
            bc.merge(&c);
            let mut a_bc = a.clone();
            a_bc.merge(&bc);
            prop_assert_eq!(ab_c, a_bc);
        }

        /// Sparse and dense forms of the same registers are the same sketch: equal, hashed
        /// alike, serialized alike, estimated bit for bit alike, and merged alike in any mix.
        #[test]
        fn sparse_and_dense_forms_agree(
            p in 4u8..=12,
            xs in proptest::collection::vec(any::<u64>(), 0..700),
            ys in proptest::collection::vec(any::<u64>(), 0..700),
        ) {
            use std::hash::{BuildHasher, BuildHasherDefault};
            let hash = |h: &Hll| BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(h);
            let sparse = sketch(p, xs.iter().copied());
            let mut dense = sparse.clone();
            dense.densify();
            prop_assert!(!dense.is_sparse());
            // Sparse while it pays: at most m/8 entries.
            prop_assert!(!sparse.is_sparse() || sparse.registers().iter().filter(|&&r| r > 0).count() <= (1usize << p) / 8);
            prop_assert_eq!(&sparse, &dense);
            prop_assert_eq!(hash(&sparse), hash(&dense));
            prop_assert_eq!(sparse.estimate(), dense.estimate());
            prop_assert_eq!(sparse.is_empty(), dense.is_empty());
            prop_assert_eq!(serde_json::to_string(&sparse).unwrap(), serde_json::to_string(&dense).unwrap());
            let other = sketch(p, ys.iter().copied());
            let mut other_dense = other.clone();
            other_dense.densify();
            let mut results = Vec::new();
            for (a, b) in [(&sparse, &other), (&sparse, &other_dense), (&dense, &other), (&dense, &other_dense)] {
                let mut m = a.clone();
                m.merge(b);
                results.push(m);
            }
            let want = sketch(p, xs.iter().chain(&ys).copied());
            for m in &results {
                prop_assert_eq!(m, &want);
                prop_assert_eq!(m.estimate(), want.estimate());
                prop_assert_eq!(m.registers(), want.registers());
            }
        }

        #[test]
        fn merge_of_sketches_is_the_sketch_of_the_concatenation(
            xs in proptest::collection::vec(any::<u64>(), 0..300),
            ys in proptest::collection::vec(any::<u64>(), 0..300),
        ) {
            let mut merged = sketch(10, xs.iter().copied());
            merged.merge(&sketch(10, ys.iter().copied()));
            prop_assert_eq!(merged, sketch(10, xs.into_iter().chain(ys)));
        }
    }
}
