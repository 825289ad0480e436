//! Time for the log, injected so the simulated driver and tests control it.

use std::sync::atomic::{AtomicI64, Ordering};

use super::TimestampMs;

/// A source of "now" in milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in milliseconds.
    fn now_ms(&self) -> TimestampMs;
}

/// Wall-clock time (milliseconds since the Unix epoch).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> TimestampMs {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as TimestampMs)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to: the simulated driver's and the tests' clock.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: TimestampMs) -> Self {
        ManualClock(AtomicI64::new(start_ms))
    }
    /// Sets the time (it may go backwards; the log does not rely on monotonic clocks).
    pub fn set(&self, now_ms: TimestampMs) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> TimestampMs {
        self.0.load(Ordering::SeqCst)
    }
}
