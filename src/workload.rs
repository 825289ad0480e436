//! The seeded event generator: keyed events at a steady rate, some of them out of order.
//!
//! Every random choice comes from a ChaCha8 generator seeded by the scenario seed, so the same
//! scenario always yields the same events, byte for byte, on every platform.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::{KeyDistribution, Workload};

/// One generated event, before it is appended to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Sequence number in generation order (also the record's value).
    pub seq: u64,
    /// The key, e.g. `key-0007`.
    pub key: String,
    /// When the event happened (simulated ms). Earlier than `arrival_ms` for late events.
    pub event_time_ms: i64,
    /// When the event reaches the producer (simulated ms); events are produced in this order.
    pub arrival_ms: i64,
}

impl Event {
    /// The record value: the sequence number as text, so `workbench log consume` shows it.
    pub fn value(&self) -> Vec<u8> {
        self.seq.to_string().into_bytes()
    }
}

/// Draws keys uniformly or by Zipf's law from a precomputed cumulative distribution.
#[derive(Debug, Clone)]
struct KeyPicker {
    /// Cumulative probabilities, last = 1.0; empty for uniform.
    cdf: Vec<f64>,
    keys: u32,
}

impl KeyPicker {
    fn new(cfg: &Workload) -> Self {
        let cdf = match cfg.key_distribution {
            KeyDistribution::Uniform => Vec::new(),
            KeyDistribution::Zipf => {
                let weights: Vec<f64> = (1..=cfg.keys)
                    .map(|rank| 1.0 / (rank as f64).powf(cfg.zipf_exponent))
                    .collect();
                let total: f64 = weights.iter().sum();
                let mut acc = 0.0;
                weights
                    .iter()
                    .map(|w| {
                        acc += w / total;
                        acc
                    })
                    .collect()
            }
        };
        KeyPicker { cdf, keys: cfg.keys }
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> u32 {
        if self.cdf.is_empty() {
            return rng.gen_range(0..self.keys);
        }
        let u: f64 = rng.r#gen();
        // First rank whose cumulative probability covers u; clamp guards float rounding at 1.0.
        (self.cdf.partition_point(|&c| c < u) as u32).min(self.keys - 1)
    }
}

/// The key name of key number `n`; zero-padded so sorted output reads naturally.
pub fn key_name(n: u32) -> String {
    format!("key-{n:04}")
}

/// Generates the events of a run of `duration_ms`, in arrival order.
///
/// Arrivals are evenly spaced at `rate_per_sec` (the generator models a steady source; bursts
/// come later with the workload issue). A fraction `out_of_order_fraction` of events carry an
/// event time up to `max_delay_ms` before their arrival.
pub fn generate(cfg: &Workload, seed: u64, duration_ms: i64) -> Vec<Event> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let picker = KeyPicker::new(cfg);
    let total = (duration_ms.max(0) as u128 * cfg.rate_per_sec as u128 / 1000) as u64;
    let mut events = Vec::with_capacity(total as usize);
    for seq in 0..total {
        // Integer arithmetic keeps arrivals exact and platform-independent.
        let arrival_ms = (seq as u128 * 1000 / cfg.rate_per_sec as u128) as i64;
        let key = key_name(picker.pick(&mut rng));
        let late = cfg.max_delay_ms > 0 && rng.gen_bool(cfg.out_of_order_fraction.clamp(0.0, 1.0));
        let delay = if late { rng.gen_range(1..=cfg.max_delay_ms) } else { 0 };
        events.push(Event { seq, key, event_time_ms: (arrival_ms - delay).max(0), arrival_ms });
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dist: KeyDistribution) -> Workload {
        Workload {
            rate_per_sec: 100,
            keys: 10,
            key_distribution: dist,
            zipf_exponent: 1.2,
            partitions: 2,
            out_of_order_fraction: 0.3,
            max_delay_ms: 2000,
        }
    }

    #[test]
    fn same_seed_same_events_other_seed_other_events() {
        let a = generate(&cfg(KeyDistribution::Zipf), 7, 10_000);
        let b = generate(&cfg(KeyDistribution::Zipf), 7, 10_000);
        let c = generate(&cfg(KeyDistribution::Zipf), 8, 10_000);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 1000);
    }

    #[test]
    fn out_of_order_events_lag_their_arrival_within_the_bound() {
        let events = generate(&cfg(KeyDistribution::Uniform), 1, 60_000);
        let late = events.iter().filter(|e| e.event_time_ms < e.arrival_ms).count();
        // 30% of 6000 events, with slack for the binomial spread and events near t = 0.
        assert!((1500..2100).contains(&late), "late = {late}");
        assert!(events.iter().all(|e| e.arrival_ms - e.event_time_ms <= 2000));
        assert!(events.windows(2).all(|w| w[0].arrival_ms <= w[1].arrival_ms));
    }

    #[test]
    fn zipf_makes_the_first_key_hottest() {
        let events = generate(&cfg(KeyDistribution::Zipf), 3, 100_000);
        let hot = events.iter().filter(|e| e.key == key_name(0)).count();
        let cold = events.iter().filter(|e| e.key == key_name(9)).count();
        assert!(hot > 5 * cold, "hot {hot} cold {cold}");
    }
}
