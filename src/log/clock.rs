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
    #[inline]
    fn now_ms(&self) -> TimestampMs {
        // Read once per producer send: whole seconds × 1000 + the millisecond part is the same
        // value as `as_millis()` without its u128 arithmetic (before 2^63 ms, i.e. forever).
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as TimestampMs)
                .wrapping_mul(1000)
                .wrapping_add(TimestampMs::from(d.subsec_millis())),
            Err(_) => 0,
        }
    }
}

/// Wall-clock milliseconds since the clock was created, from a monotonic source: the realtime
/// driver's clock, so event times, append times and a scenario's `at_ms` share one origin (the
/// start of the run), as on the simulated clock.
#[derive(Debug, Clone, Copy)]
pub struct ElapsedClock {
    start: std::time::Instant,
}

impl ElapsedClock {
    /// A clock reading 0 now.
    pub fn start() -> Self {
        ElapsedClock { start: std::time::Instant::now() }
    }
    /// The instant the clock reads `ms` (negative readings are clamped to the start).
    pub fn instant_at(&self, ms: TimestampMs) -> std::time::Instant {
        self.start + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }
}

impl Clock for ElapsedClock {
    fn now_ms(&self) -> TimestampMs {
        TimestampMs::try_from(self.start.elapsed().as_millis()).unwrap_or(TimestampMs::MAX)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_reads_epoch_milliseconds() {
        let reference = || {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
                as TimestampMs
        };
        let before = reference();
        let now = SystemClock.now_ms();
        let after = reference();
        assert!(before <= now && now <= after, "{before} <= {now} <= {after}");
    }
}
