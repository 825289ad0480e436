//! Time for the log, injected so the simulated driver and tests control it.

use std::sync::atomic::{AtomicI64, Ordering};

use super::TimestampMs;

/// A source of "now" in milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in milliseconds.
    fn now_ms(&self) -> TimestampMs;

    /// A cheaper reading for checks that only ask whether a deadline has passed and may learn
    /// it a little late (the producer's linger, read at every send): never ahead of
    /// [`Clock::now_ms`], behind it by at most the system's timer tick (1–10 ms). The default
    /// is [`Clock::now_ms`] itself, so manual and simulated clocks stay exact.
    fn coarse_now_ms(&self) -> TimestampMs {
        self.now_ms()
    }
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

    /// `CLOCK_REALTIME_COARSE`: the wall clock as of the kernel's last timer tick, read from
    /// the vDSO without touching the time-stamp counter — a few ns, where a precise reading
    /// (`clock_gettime` + conversion) cost ~20% of a 100-byte send. Same epoch and timeline
    /// as [`SystemClock::now_ms`], at most one tick behind it.
    #[cfg(target_os = "linux")]
    #[inline]
    fn coarse_now_ms(&self) -> TimestampMs {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable `timespec`, the only memory the call writes.
        if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } != 0 {
            return self.now_ms();
        }
        (ts.tv_sec as TimestampMs)
            .wrapping_mul(1000)
            .wrapping_add(ts.tv_nsec as TimestampMs / 1_000_000)
    }
}

/// Wall-clock milliseconds since the clock was created, from a monotonic source: the realtime
/// driver's clock, so event times, append times and a scenario's `at_ms` share one origin (the
/// start of the run), as on the simulated clock.
#[derive(Debug, Clone, Copy)]
pub struct ElapsedClock {
    start: std::time::Instant,
    /// `CLOCK_MONOTONIC` in ns, read just after `start` (the clock `Instant` reads on Linux):
    /// the origin of the coarse reading. Being a little later than `start`, it can only make
    /// the coarse reading smaller, never ahead of [`ElapsedClock::now_ms`].
    #[cfg(target_os = "linux")]
    start_ns: i64,
}

/// `clock_gettime(id)` in ns, `None` if the call fails.
#[cfg(target_os = "linux")]
#[inline]
fn clock_ns(id: libc::clockid_t) -> Option<i64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable `timespec`, the only memory the call writes.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return None;
    }
    // i64 ns: centuries of uptime, and a division by a constant (an i128 one is a call).
    Some(
        (ts.tv_sec as TimestampMs)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec as TimestampMs),
    )
}

impl ElapsedClock {
    /// A clock reading 0 now.
    pub fn start() -> Self {
        let start = std::time::Instant::now();
        ElapsedClock {
            start,
            // Were the call to fail (it does not, on Linux), a far-future origin keeps the
            // coarse reading at 0, behind the precise one, and the producer's periodic precise
            // reading still finds its deadlines.
            #[cfg(target_os = "linux")]
            start_ns: clock_ns(libc::CLOCK_MONOTONIC).unwrap_or(i64::MAX),
        }
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

    /// `CLOCK_MONOTONIC_COARSE` since the start: the monotonic clock as of the kernel's last
    /// timer tick, read from the vDSO without the time-stamp counter. It lags
    /// `CLOCK_MONOTONIC` (what [`ElapsedClock::now_ms`] reads through `Instant`) by at most a
    /// tick and is never ahead of it, so it answers the producer's "has the linger passed?"
    /// at most a tick late, never early. Only that check reads it: event times, append times
    /// and every latency the realtime driver measures still come from
    /// [`ElapsedClock::now_ms`].
    #[cfg(target_os = "linux")]
    #[inline]
    fn coarse_now_ms(&self) -> TimestampMs {
        match clock_ns(libc::CLOCK_MONOTONIC_COARSE) {
            Some(ns) => ns.saturating_sub(self.start_ns).max(0) / 1_000_000,
            None => self.now_ms(),
        }
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

    #[test]
    fn system_clock_coarse_reading_is_never_ahead_of_the_precise_one() {
        let before = SystemClock.now_ms();
        let coarse = SystemClock.coarse_now_ms();
        let after = SystemClock.now_ms();
        // Never ahead: the producer acts on a coarse "due" without a second look. The lower
        // bound only checks the epoch (a tick is milliseconds, not a second).
        assert!(coarse <= after, "coarse {coarse} ahead of {after}");
        assert!(coarse > before - 1000, "coarse {coarse} is not the wall clock ({before})");
    }

    #[test]
    fn elapsed_clock_coarse_reading_is_never_ahead_of_the_precise_one() {
        let clock = ElapsedClock::start();
        let mut last = 0;
        for _ in 0..1000 {
            let before = clock.now_ms();
            let coarse = clock.coarse_now_ms();
            let after = clock.now_ms();
            assert!(coarse <= after, "coarse {coarse} ahead of {after}");
            // Same origin and timeline: behind by a tick (milliseconds), not by seconds.
            assert!(coarse > before - 1000, "coarse {coarse} is not elapsed time ({before})");
            assert!(coarse >= last, "coarse went back from {last} to {coarse}");
            last = coarse;
        }
    }

    #[test]
    fn manual_clock_coarse_reading_is_exact() {
        let clock = ManualClock::new(7);
        clock.advance(3);
        assert_eq!(clock.coarse_now_ms(), 10);
    }
}
