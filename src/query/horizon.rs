//! When a window is closed for good: an event-time horizon learnt from the data.
//!
//! Exact distinct counts keep one entry per (user, window); over a long run those sets grow
//! with every event, while a window's answer stops changing once no more events can reach it.
//! A holder of exact sets (the oracle, the streaming lake's cold view) therefore *seals* a
//! window once it lies far enough behind the newest event time read — more than twice the
//! largest lateness seen in any partition, plus [`SEAL_SLACK_MS`] — replacing its set by its
//! count. The horizon is a guess, so every holder keeps its answers exact without it: an event
//! that still reaches a sealed window makes the holder rebuild that window from what it read,
//! and report the lateness it saw ([`Horizon::widen`]), which pushes the horizon back.

use std::collections::BTreeMap;

use super::Cell;

/// Added to twice the largest lateness seen to place the horizon: covers records re-sent
/// after a failed delivery and partitions read a little apart, so that a sealed window is
/// reopened only by a record genuinely later than any before it.
pub const SEAL_SLACK_MS: i64 = 30_000;

/// The event-time horizon of one reader of a partitioned topic, and the windows it holds open.
#[derive(Debug, Clone, Default)]
pub struct Horizon {
    /// Per partition, the latest event time read, in offset order (`None`: nothing read).
    latest: Vec<Option<i64>>,
    /// The largest lateness seen: how far a record's event time was behind the latest event
    /// time of its partition before it (or behind every partition's, see [`Horizon::widen`]).
    lateness_ms: i64,
    /// Open windows' cells by window end.
    open: BTreeMap<i64, Vec<Cell>>,
    /// Windows sealed so far, and sealed windows reopened.
    sealed: u64,
    reopened: u64,
}

impl Horizon {
    /// A horizon over `partitions` partitions that has read nothing.
    pub fn new(partitions: usize) -> Self {
        Horizon { latest: vec![None; partitions], ..Horizon::default() }
    }

    /// The same lateness learnt and counters, everything read forgotten (the reader starts
    /// over: a new version of the queries).
    pub fn restart(&self) -> Self {
        Horizon {
            lateness_ms: self.lateness_ms,
            sealed: self.sealed,
            reopened: self.reopened,
            ..Horizon::new(self.latest.len())
        }
    }

    /// Notes that partition `p` had a record of event time `t` (records of a partition in
    /// offset order).
    pub fn note(&mut self, p: usize, t: i64) {
        let Some(latest) = self.latest.get_mut(p) else { return };
        match *latest {
            Some(l) if t < l => self.lateness_ms = self.lateness_ms.max(l - t),
            _ => *latest = Some(t),
        }
    }

    /// An event of time `t` reached a sealed window: the horizon was too close.
    pub fn widen(&mut self, t: i64) {
        if let Some(newest) = self.latest.iter().flatten().max() {
            self.lateness_ms = self.lateness_ms.max(newest - t);
        }
    }

    /// Windows ending at or before this are sealed (`None`: nothing read yet).
    pub fn line(&self) -> Option<i64> {
        let newest = self.latest.iter().flatten().max()?;
        let behind = SEAL_SLACK_MS.saturating_add(self.lateness_ms.saturating_mul(2));
        Some(newest.saturating_sub(behind))
    }

    /// Holds `cell`, of a window ending at `end`, open until the line passes it.
    pub fn hold(&mut self, end: i64, cell: Cell) {
        self.open.entry(end).or_default().push(cell);
    }

    /// Like [`Horizon::hold`], for a sealed cell opened again.
    pub fn reopen(&mut self, end: i64, cell: Cell) {
        self.reopened += 1;
        self.hold(end, cell);
    }

    /// Takes every held cell whose window the line has passed, for the caller to seal.
    pub fn due(&mut self) -> Vec<Cell> {
        let Some(line) = self.line() else { return Vec::new() };
        let mut due = Vec::new();
        while let Some(entry) = self.open.first_entry() {
            if *entry.key() > line {
                break;
            }
            due.extend(entry.remove());
        }
        self.sealed += due.len() as u64;
        due
    }

    /// Cells held open now.
    pub fn open_cells(&self) -> usize {
        self.open.values().map(Vec::len).sum()
    }

    /// Windows sealed so far, and sealed windows opened again.
    pub fn counts(&self) -> (u64, u64) {
        (self.sealed, self.reopened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(w: i64) -> Cell {
        Cell { query: 0, key: "k".into(), window_start_ms: w }
    }

    #[test]
    fn the_line_trails_the_newest_event_by_twice_the_lateness_plus_the_slack() {
        let mut h = Horizon::new(2);
        assert_eq!(h.line(), None);
        h.note(0, 100_000);
        h.note(1, 50_000);
        assert_eq!(h.line(), Some(100_000 - SEAL_SLACK_MS));
        h.note(1, 40_000); // 10 s behind its partition: lateness 10 s.
        assert_eq!(h.line(), Some(100_000 - SEAL_SLACK_MS - 20_000));
        h.widen(0); // reached a sealed window from 100 s behind
        assert_eq!(h.line(), Some(100_000 - SEAL_SLACK_MS - 200_000));
        let restarted = h.restart();
        assert_eq!(restarted.line(), None);
        assert_eq!(restarted.lateness_ms, 100_000);
    }

    #[test]
    fn due_takes_the_windows_behind_the_line_once() {
        let mut h = Horizon::new(1);
        for w in [10_000, 20_000, 30_000, 90_000] {
            h.hold(w + 10_000, cell(w));
        }
        h.note(0, 80_000); // line at 50 s
        assert_eq!(h.due(), vec![cell(10_000), cell(20_000), cell(30_000)]);
        assert!(h.due().is_empty());
        assert_eq!(h.open_cells(), 1);
        h.reopen(20_000, cell(10_000));
        assert_eq!(h.due(), vec![cell(10_000)]);
        assert_eq!(h.counts(), (4, 1));
    }
}
