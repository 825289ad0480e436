//! The questions the architectures answer, and the tables of answers they serve.
//!
//! So far one query: `key_window_count`, the number of events per key per tumbling window of
//! event time. Answers are kept in ordered maps so every output is deterministic.

use std::collections::BTreeMap;

/// The name of the count-per-key-per-window query in scenario files and outputs.
pub const KEY_WINDOW_COUNT: &str = "key_window_count";

/// One answer's address: a key and the start of its tumbling window.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    /// The event key.
    pub key: String,
    /// Start of the window in ms (inclusive); the end is `start + window_ms` (exclusive).
    pub window_start_ms: i64,
}

/// A table of served answers: one count per cell. Cells with no events are absent.
pub type Table = BTreeMap<Cell, i64>;

/// Adds every count of `other` into `into` (how serving merges views).
pub fn add_into(into: &mut Table, other: &Table) {
    for (cell, n) in other {
        *into.entry(cell.clone()).or_insert(0) += n;
    }
}
