//! Live window state for stream jobs: cells addressed by interned keys in a hash map.
//!
//! A [`View`] (`BTreeMap<Cell, Agg>`) is the right shape for *presenting* answers — ordered,
//! owned, comparable — and the wrong one for a stream job's hot path: every event would build a
//! `String` key, and every lookup would compare strings O(log n) times. A stream job instead
//! interns each group name once ([`Keys`]: name ↔ `u32`), addresses cells by a small `Copy`
//! [`CellId`], and keeps its windows in a [`LiveView`] hashed with [`FxHasher`] (the rustc
//! hasher: a multiply and a rotate per word; no per-process random seed, so even iteration order
//! is the same in every run). Nothing observable depends on that order anyway: a live view is
//! turned into an ordered [`View`] ([`LiveView::to_view`]) whenever it is presented, and merging
//! [`Agg`] states is commutative.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::{Agg, Cell, View};

/// The Fx hash (Firefox's, as used by rustc): fast, not DoS-resistant, which is fine for keys
/// the workbench generates itself.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_i64(&mut self, i: i64) {
        self.add(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// Builds [`FxHasher`]s (for `HashMap::with_hasher`).
pub type FxBuild = BuildHasherDefault<FxHasher>;

/// Group names interned as dense `u32` ids. Ids are handed out in first-seen order and never
/// change or get reused, so an id stays valid for the life of the interner.
///
/// Names of up to 16 bytes (every generated key and campaign: `ad-000042`, `key-0007`,
/// `campaign-0003`) are looked up as two integers and a length (`ShortName`): hashing three
/// words and comparing integers instead of hashing bytes and calling `memcmp`, once per event
/// on the stream layer's hot path. Longer names take an ordinary string map.
#[derive(Debug, Default, Clone)]
pub struct Keys {
    /// A direct-mapped cache of recent short names in front of `short` (allocated on first
    /// use): one multiply, one load and three compares when it hits, which it nearly always
    /// does for the few hundred hot keys of a stream.
    recent: Vec<(ShortName, u32)>,
    short: HashMap<ShortName, u32, FxBuild>,
    long: HashMap<Box<str>, u32, FxBuild>,
    names: Vec<Box<str>>,
}

/// A name of at most 16 bytes as `(first 8 bytes, last 8 bytes, length)`, little-endian and
/// zero-padded below 8 bytes. The two words overlap for lengths 9 to 15; with the length they
/// still determine the bytes, so equal `ShortName`s are equal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ShortName(u64, u64, u8);

/// Slots of [`Keys::recent`] (a power of two).
const RECENT_SLOTS: usize = 1024;
/// No name: an empty slot of [`Keys::recent`] (real names are at most 16 bytes long).
const NO_NAME: ShortName = ShortName(0, 0, u8::MAX);

impl ShortName {
    /// The name's slot in [`Keys::recent`].
    #[inline]
    fn slot(self) -> usize {
        let mixed = (self.0 ^ self.1.rotate_left(31) ^ u64::from(self.2)).wrapping_mul(FX_SEED);
        (mixed >> (64 - RECENT_SLOTS.trailing_zeros())) as usize
    }

    #[inline]
    fn of(name: &[u8]) -> Option<ShortName> {
        let n = name.len();
        if n > 16 {
            return None;
        }
        let word = |b: &[u8]| {
            let mut w = [0u8; 8];
            w[..b.len()].copy_from_slice(b);
            u64::from_le_bytes(w)
        };
        Some(if n >= 8 {
            ShortName(word(&name[..8]), word(&name[n - 8..]), n as u8)
        } else {
            ShortName(word(name), 0, n as u8)
        })
    }
}

impl Keys {
    /// An empty interner.
    pub fn new() -> Self {
        Keys::default()
    }

    /// The id of `name`, interning it the first time (the only allocation, once per name).
    #[inline]
    pub fn id(&mut self, name: &str) -> u32 {
        let next = self.names.len() as u32;
        let id = match ShortName::of(name.as_bytes()) {
            Some(short) => {
                if self.recent.is_empty() {
                    self.recent = vec![(NO_NAME, 0); RECENT_SLOTS];
                }
                let slot = short.slot();
                if let Some(&(seen, id)) = self.recent.get(slot)
                    && seen == short
                {
                    return id;
                }
                let id = *self.short.entry(short).or_insert(next);
                if let Some(entry) = self.recent.get_mut(slot) {
                    *entry = (short, id);
                }
                id
            }
            None => match self.long.get(name) {
                Some(&id) => id,
                None => {
                    self.long.insert(name.into(), next);
                    next
                }
            },
        };
        if id == next {
            self.names.push(name.into());
        }
        id
    }

    /// The id of the name whose UTF-8 bytes are `name`, interning it the first time; an error
    /// when the bytes are not UTF-8. The text is checked only when a name is first seen, so
    /// readers of raw bytes (the batch layer's column builder) pay for it once per name.
    #[inline]
    pub fn id_bytes(&mut self, name: &[u8]) -> Result<u32, std::str::Utf8Error> {
        if let Some(short) = ShortName::of(name) {
            let slot = short.slot();
            if let Some(&(seen, id)) = self.recent.get(slot)
                && seen == short
            {
                return Ok(id);
            }
            // Equal bytes were valid text when first interned: no check for a known name.
            if let Some(&id) = self.short.get(&short) {
                if let Some(entry) = self.recent.get_mut(slot) {
                    *entry = (short, id);
                }
                return Ok(id);
            }
        }
        Ok(self.id(std::str::from_utf8(name)?))
    }

    /// The name of `id` (empty for an id this interner never gave out).
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", |n| n)
    }

    /// Names interned so far.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether nothing was interned yet.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Frees the recent-names cache (32 KiB), which only speeds up interning; the next
    /// [`Keys::id`] allocates it again. For interners that are done growing: the batch layer
    /// keeps one per cached segment, and a day of 10-minute segments in 4 partitions held
    /// 18 MiB of these caches for segments that would never intern another name.
    pub fn release_cache(&mut self) {
        self.recent = Vec::new();
    }

    /// Memory held, bytes (the names, the maps and the cache; map overhead estimated).
    pub fn bytes(&self) -> usize {
        use std::mem::size_of;
        let names: usize = self.names.iter().map(|n| n.len() + size_of::<Box<str>>()).sum();
        let long: usize = self.long.keys().map(|n| n.len()).sum();
        names
            + long
            + self.recent.capacity() * size_of::<(ShortName, u32)>()
            // hashbrown: one control byte per bucket, buckets about 8/7 of the entries.
            + self.short.capacity() * (size_of::<(ShortName, u32)>() + 1) * 8 / 7
            + self.long.capacity() * (size_of::<(Box<str>, u32)>() + 1) * 8 / 7
    }
}

/// A [`Cell`] whose group is an interned id: 16 bytes, `Copy`, hashed in two words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CellId {
    /// The query's id.
    pub query: u8,
    /// The group's id in the job's [`Keys`].
    pub key: u32,
    /// Start of the window in ms.
    pub window_start_ms: i64,
}

impl std::hash::Hash for CellId {
    /// Query and group in one word, the window in the other (one multiply fewer per lookup
    /// than a field-by-field hash; equal cells still hash equally).
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.query) << 32 | u64::from(self.key));
        state.write_i64(self.window_start_ms);
    }
}

impl CellId {
    /// The cell it stands for, with the name looked up in `keys`.
    pub fn cell(&self, keys: &Keys) -> Cell {
        Cell {
            query: self.query,
            key: keys.name(self.key).to_owned(),
            window_start_ms: self.window_start_ms,
        }
    }
}

/// The live windows of a stream job: state per interned cell.
#[derive(Debug, Default, Clone)]
pub struct LiveView {
    cells: HashMap<CellId, Agg, FxBuild>,
    /// When tracking ([`LiveView::track_changes`]): the cells merged since the last
    /// [`LiveView::take_changes`].
    changed: Option<std::collections::HashSet<CellId, FxBuild>>,
    /// Cleared (or tracking started) since the last take: every cell may have changed.
    reset: bool,
}

/// What changed in a [`LiveView`] since its changes were last taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveChanges {
    /// These cells (in no particular order); no cell was removed.
    Cells(Vec<CellId>),
    /// Anything: the view was cleared, or tracking has just begun.
    All,
}

impl LiveView {
    /// An empty view.
    pub fn new() -> Self {
        LiveView::default()
    }

    /// An empty view with room for `cells` cells before it rehashes.
    pub fn with_capacity(cells: usize) -> Self {
        LiveView {
            cells: HashMap::with_capacity_and_hasher(cells, FxBuild::default()),
            ..LiveView::default()
        }
    }

    /// From now on, notes which cells change, for [`LiveView::take_changes`] (what lets a
    /// served table be updated from the cells that changed rather than rebuilt).
    pub fn track_changes(&mut self) {
        if self.changed.is_none() {
            self.changed = Some(Default::default());
            // An empty view has nothing that could have changed unseen.
            self.reset = !self.cells.is_empty();
        }
    }

    /// The cells that changed since the previous take (or since tracking began: then
    /// [`LiveChanges::All`]); [`LiveChanges::All`] also when not tracking.
    pub fn take_changes(&mut self) -> LiveChanges {
        let Some(changed) = self.changed.as_mut() else { return LiveChanges::All };
        let cells: Vec<CellId> = changed.drain().collect();
        if std::mem::take(&mut self.reset) { LiveChanges::All } else { LiveChanges::Cells(cells) }
    }

    /// Merges one contribution (how stream jobs apply their results).
    #[inline]
    pub fn merge(&mut self, cell: CellId, agg: Agg) {
        if let Some(changed) = self.changed.as_mut() {
            changed.insert(cell);
        }
        match self.cells.entry(cell) {
            std::collections::hash_map::Entry::Occupied(mut existing) => {
                match (existing.get_mut(), &agg) {
                    // Counts and sums, nearly every contribution: added here, inline.
                    (Agg::Sum(a), Agg::Sum(b)) => *a += b,
                    (existing, _) => existing.merge(&agg),
                }
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(agg);
            }
        }
    }

    /// Merges every state of this view into an ordered `into` (names from `keys`).
    pub fn merge_into_view(&self, keys: &Keys, into: &mut View) {
        for (id, agg) in &self.cells {
            match into.get_mut(&id.cell(keys)) {
                Some(existing) => existing.merge(agg),
                None => {
                    into.insert(id.cell(keys), agg.clone());
                }
            }
        }
    }

    /// The ordered view (names from `keys`): what presenting, serving and comparing use.
    pub fn to_view(&self, keys: &Keys) -> View {
        self.cells.iter().map(|(id, agg)| (id.cell(keys), agg.clone())).collect()
    }

    /// The numbers a user sees (names from `keys`), without cloning any state.
    pub fn present(&self, keys: &Keys) -> super::Table {
        self.cells.iter().map(|(id, agg)| (id.cell(keys), agg.present())).collect()
    }

    /// The state of a cell.
    pub fn get(&self, cell: &CellId) -> Option<&Agg> {
        self.cells.get(cell)
    }

    /// Cells held.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether no cell is held.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Drops every cell.
    pub fn clear(&mut self) {
        self.cells.clear();
        if let Some(changed) = self.changed.as_mut() {
            changed.clear();
            self.reset = true;
        }
    }

    /// Drops every cell whose window ends at or before `through` under `queries` (answer
    /// retention); returns how many. Like [`LiveView::clear`], a removal makes the next
    /// [`LiveView::take_changes`] say [`LiveChanges::All`].
    pub fn expire(&mut self, queries: &super::QuerySet, through: i64) -> usize {
        let before = self.cells.len();
        self.cells.retain(|id, _| {
            queries.window_end_at(id.query, id.window_start_ms).unwrap_or(id.window_start_ms)
                > through
        });
        let gone = before - self.cells.len();
        if gone > 0
            && let Some(changed) = self.changed.as_mut()
        {
            changed.clear();
            self.reset = true;
        }
        gone
    }

    /// Every (cell, state), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&CellId, &Agg)> {
        self.cells.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interned_ids_are_dense_and_stable() {
        let mut keys = Keys::new();
        assert_eq!(keys.id("b"), 0);
        assert_eq!(keys.id("a"), 1);
        assert_eq!(keys.id("b"), 0);
        assert_eq!((keys.name(1), keys.len()), ("a", 2));
        assert_eq!(keys.name(7), "");
    }

    proptest::proptest! {
        /// Short and long names, near misses (same length, shared prefix or suffix, trailing
        /// zero bytes): one id per distinct name, and the name comes back.
        #[test]
        fn interning_is_a_bijection(names in proptest::collection::vec(
            "[ab\\x00]{0,20}|ad-0000[0-9]{2}|campaign-000[0-9]", 1..40,
        )) {
            let mut keys = Keys::new();
            let ids: Vec<u32> = names.iter().map(|n| keys.id(n)).collect();
            for (n, &id) in names.iter().zip(&ids) {
                proptest::prop_assert_eq!(keys.name(id), n.as_str());
                proptest::prop_assert_eq!(keys.id(n), id);
                proptest::prop_assert_eq!(keys.id_bytes(n.as_bytes()), Ok(id));
            }
            proptest::prop_assert!(keys.id_bytes(b"ad-\xff").is_err());
            let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
            proptest::prop_assert_eq!(keys.len(), distinct.len());
        }
    }

    #[test]
    fn a_live_view_presents_as_the_ordered_view_of_the_same_contributions() {
        let mut keys = Keys::new();
        let mut live = LiveView::with_capacity(4);
        let mut view = View::new();
        for (k, w, n) in [("z", 10, 1), ("a", 0, 2), ("z", 10, 3), ("a", 10, 4)] {
            let id = CellId { query: 0, key: keys.id(k), window_start_ms: w };
            live.merge(id, Agg::Sum(n));
            crate::query::merge_cell(&mut view, id.cell(&keys), Agg::Sum(n));
        }
        assert_eq!(live.to_view(&keys), view);
        let mut merged = View::new();
        live.merge_into_view(&keys, &mut merged);
        live.merge_into_view(&keys, &mut merged);
        assert_eq!(
            merged.values().map(Agg::present).collect::<Vec<_>>(),
            vec![2 * 2, 4 * 2, 4 * 2]
        );
    }

    proptest::proptest! {
        /// Taking changes after every few merges and applying them to a table kept from the
        /// previous takes always gives the table presented from scratch; a clear is `All`.
        #[test]
        fn tracked_changes_rebuild_the_presented_table(
            ops in proptest::collection::vec((0u8..3, 0u32..4, 0i64..3, 1i64..4), 1..50),
        ) {
            let mut keys = Keys::new();
            for k in 0..4 { keys.id(&format!("k{k}")); }
            let mut live = LiveView::new();
            live.track_changes();
            let mut table = crate::query::Table::new();
            for (op, key, w, n) in ops {
                match op {
                    0 => live.merge(CellId { query: 0, key, window_start_ms: w }, Agg::Sum(n)),
                    1 if n == 3 => live.clear(),
                    _ => match live.take_changes() {
                        LiveChanges::All => table = live.present(&keys),
                        LiveChanges::Cells(ids) => for id in ids {
                            let v = live.get(&id).map(Agg::present);
                            match v {
                                Some(v) => { table.insert(id.cell(&keys), v); }
                                None => { table.remove(&id.cell(&keys)); }
                            }
                        },
                    },
                }
            }
            if let LiveChanges::Cells(ids) = live.take_changes() {
                for id in ids {
                    table.insert(id.cell(&keys), live.get(&id).map_or(0, Agg::present));
                }
                proptest::prop_assert_eq!(table, live.present(&keys));
            }
        }
    }
}
