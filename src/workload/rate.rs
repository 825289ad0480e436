//! When events arrive: a rate that may ramp linearly and burst, turned into arrival times with
//! integer arithmetic only.
//!
//! The rate at millisecond `u` of a run of `D` ms is
//! `r(u) = (r0 + (r1 - r0) · u / D) · m(u)` events per second, where `r0 = rate_per_sec`,
//! `r1 = ramp_to_rate_per_sec` (or `r0`) and `m(u)` the multiplier of the burst covering `u`
//! (1 outside bursts). The expected number of events before `t` is `Λ(t) = Σ_{u<t} r(u) / 1000`,
//! and exactly `ceil(Λ(t))` events arrive before `t`: so `⌈Λ(t+1)⌉ − ⌈Λ(t)⌉` arrive at `t`.
//!
//! Everything is kept as an exact integer: `Σ (r0·D + (r1−r0)·u) · m_milli(u)` over
//! `1000 · D · 1000` (multipliers are rounded once to thousandths), so arrival times are the
//! same on every platform and never drift, however long the run. (For a constant rate this
//! puts event `k` at `⌊1000·k / rate⌋`, as the first generator did.)

use crate::scenario::Workload;

/// Multipliers in thousandths.
const MILLI: u128 = 1000;

/// Turns the workload's rate shape into how many events arrive at each millisecond.
#[derive(Debug, Clone)]
pub struct RateSchedule {
    duration_ms: i64,
    /// `r0 · D`, in events/s × ms.
    base: i128,
    /// `r1 − r0`, in events/s.
    slope: i128,
    /// Bursts as `(start, end, multiplier in thousandths)`, sorted by start.
    bursts: Vec<(i64, i64, u128)>,
    /// Index of the first burst that has not ended before `now`.
    next_burst: usize,
    /// The millisecond `arrivals_at` returns next.
    now: i64,
    /// `Σ_{u<now}` of the scaled rate.
    acc: u128,
    /// Events that arrived before `now`: `ceil(acc / denom)`.
    before: u128,
    /// `1000 ms/s · D · 1000` (milli-multiplier).
    denom: u128,
}

impl RateSchedule {
    /// The schedule of `workload` over a run of `duration_ms`.
    pub fn new(workload: &Workload, duration_ms: i64) -> Self {
        let d = duration_ms.max(1);
        let r0 = i128::from(workload.rate_per_sec);
        let r1 = workload.ramp_to_rate_per_sec.map_or(r0, i128::from);
        let mut bursts: Vec<(i64, i64, u128)> = workload
            .bursts
            .iter()
            .map(|b| {
                let milli = (b.multiplier.max(0.0) * MILLI as f64).round() as u128;
                (b.start_ms, b.start_ms.saturating_add(b.duration_ms), milli)
            })
            .collect();
        bursts.sort_by_key(|&(start, _, _)| start);
        RateSchedule {
            duration_ms: duration_ms.max(0),
            base: r0 * i128::from(d),
            slope: r1 - r0,
            bursts,
            next_burst: 0,
            now: 0,
            acc: 0,
            before: 0,
            denom: 1000 * d as u128 * MILLI,
        }
    }

    /// The multiplier (in thousandths) at ms `t`; `t` never decreases between calls.
    fn multiplier(&mut self, t: i64) -> u128 {
        while self.bursts.get(self.next_burst).is_some_and(|&(_, end, _)| end <= t) {
            self.next_burst += 1;
        }
        // Validated bursts do not overlap; if they did, the earliest-starting one wins.
        match self.bursts[self.next_burst..].iter().find(|&&(start, end, _)| start <= t && t < end)
        {
            Some(&(_, _, m)) => m,
            None => MILLI,
        }
    }

    /// The same schedule counted in records of `events_per_record` events each: record `k`
    /// arrives when the `k·n`-th event would have.
    pub fn per_record(mut self, events_per_record: u32) -> Self {
        // Λ(t) / n records before t: the same exact integer schedule with n times the
        // denominator, so records keep the rate's shape (ramps, bursts) at 1/n of its height.
        self.denom *= u128::from(events_per_record.max(1));
        self
    }

    /// The multiplier at ms `t` and the first ms after `t` at which it may change (a burst
    /// starts or ends); `t` never decreases between calls.
    fn stretch(&mut self, t: i64) -> (u128, i64) {
        let m = self.multiplier(t);
        let rest = &self.bursts[self.next_burst..];
        let until = match rest.iter().find(|&&(start, end, _)| start <= t && t < end) {
            // The covering burst wins until its end: an earlier-sorted burst that does not
            // cover `t` has ended, and later-sorted ones lose to it (see `multiplier`).
            Some(&(_, end, _)) => end,
            None => {
                rest.iter().map(|&(start, _, _)| start).filter(|&s| s > t).min().unwrap_or(i64::MAX)
            }
        };
        (m, until)
    }

    /// The next millisecond with arrivals and how many arrive then, or `None` when the run is
    /// over. Milliseconds are returned in increasing order.
    pub fn next_arrivals(&mut self) -> Option<(i64, u64)> {
        while self.now < self.duration_ms {
            let t = self.now;
            if self.slope == 0 {
                // A constant rate until the next burst boundary: jump straight to the first
                // millisecond whose arrivals push `ceil(acc / denom)` past `before`, instead of
                // stepping through every millisecond (a simulated day is 86.4 million of them).
                let (m, until) = self.stretch(t);
                let span = (until.min(self.duration_ms) - t) as u128;
                let r = self.base.max(0) as u128 * m;
                // Smallest k ≥ 1 with acc + k·r > before·denom (then ceil(.../denom) > before).
                let room = self.before * self.denom - self.acc;
                let k = room.checked_div(r).map_or(u128::MAX, |k| k + 1);
                if k > span {
                    self.acc += r * span;
                    self.now += span as i64;
                    continue;
                }
                self.acc += r * k;
                self.now += k as i64;
                let before = self.acc.div_ceil(self.denom);
                let n = before - self.before;
                self.before = before;
                return Some((self.now - 1, n as u64));
            }
            let rate = (self.base + self.slope * i128::from(t)).max(0) as u128;
            self.acc += rate * self.multiplier(t);
            self.now += 1;
            let before = self.acc.div_ceil(self.denom);
            let n = before - self.before;
            self.before = before;
            if n > 0 {
                return Some((t, n as u64));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_per_second(w: &Workload, duration_ms: i64) -> Vec<u64> {
        let mut s = RateSchedule::new(w, duration_ms);
        let mut out = vec![0; (duration_ms as usize).div_ceil(1000)];
        while let Some((t, n)) = s.next_arrivals() {
            out[t as usize / 1000] += n;
        }
        out
    }

    /// The definition, one millisecond at a time (what `next_arrivals` computed before it
    /// learned to jump over constant stretches).
    fn per_ms(s: &mut RateSchedule) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        while s.now < s.duration_ms {
            let t = s.now;
            let rate = (s.base + s.slope * i128::from(t)).max(0) as u128;
            s.acc += rate * s.multiplier(t);
            s.now += 1;
            let before = s.acc.div_ceil(s.denom);
            if before > s.before {
                out.push((t, (before - s.before) as u64));
            }
            s.before = before;
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn jumping_over_constant_stretches_is_the_per_ms_definition(
            rate in 0u32..5_000,
            ramp in proptest::option::weighted(0.2, 0u32..5_000),
            duration in 1i64..20_000,
            per_record in 1u32..2_000,
            bursts in proptest::collection::vec((0i64..20_000, 1i64..5_000, 0.0f64..8.0), 0..4),
        ) {
            let w = Workload {
                rate_per_sec: rate,
                ramp_to_rate_per_sec: ramp,
                bursts: bursts
                    .iter()
                    .map(|&(start_ms, duration_ms, multiplier)| crate::scenario::Burst {
                        start_ms,
                        duration_ms,
                        multiplier,
                    })
                    .collect(),
                ..Workload::default()
            };
            let fast = {
                let mut s = RateSchedule::new(&w, duration).per_record(per_record);
                std::iter::from_fn(|| s.next_arrivals()).collect::<Vec<_>>()
            };
            let slow = per_ms(&mut RateSchedule::new(&w, duration).per_record(per_record));
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn constant_rate_matches_the_first_generator() {
        let w = Workload { rate_per_sec: 7, ..Workload::default() };
        let mut s = RateSchedule::new(&w, 3000);
        let mut times = Vec::new();
        while let Some((t, n)) = s.next_arrivals() {
            times.extend(std::iter::repeat_n(t, n as usize));
        }
        let old: Vec<i64> = (0..21).map(|k| k * 1000 / 7).collect();
        assert_eq!(times, old);
    }

    #[test]
    fn more_than_one_event_per_ms() {
        let w = Workload { rate_per_sec: 2500, ..Workload::default() };
        assert_eq!(count_per_second(&w, 2000), [2500, 2500]);
    }

    #[test]
    fn zero_multiplier_is_an_outage() {
        let mut w = Workload { rate_per_sec: 10, ..Workload::default() };
        w.bursts.push(crate::scenario::Burst {
            start_ms: 1000,
            duration_ms: 1000,
            multiplier: 0.0,
        });
        assert_eq!(count_per_second(&w, 3000), [10, 0, 10]);
    }
}
