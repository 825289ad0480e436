//! Key names and how keys (or ads) are drawn: uniformly or by Zipf's law.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::scenario::KeyDistribution;

/// The key name of key number `n` (`key-0007`); zero-padded so sorted output reads naturally.
pub fn key_name(n: u32) -> String {
    format!("key-{n:04}")
}

/// Draws an index in `0..n` uniformly or by Zipf's law (index 0 hottest).
#[derive(Debug, Clone)]
pub(crate) struct KeyPicker {
    /// Cumulative probabilities, last = 1.0; empty for uniform.
    cdf: Vec<f64>,
    n: u32,
}

impl KeyPicker {
    /// A picker over `0..n` (`n > 0`); `exponent` is used for Zipf only.
    pub(crate) fn new(n: u32, distribution: KeyDistribution, exponent: f64) -> Self {
        let cdf = match distribution {
            KeyDistribution::Uniform => Vec::new(),
            KeyDistribution::Zipf => {
                let weights: Vec<f64> =
                    (1..=n).map(|rank| 1.0 / f64::from(rank).powf(exponent)).collect();
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
        KeyPicker { cdf, n: n.max(1) }
    }

    /// One draw (one random number from `rng`).
    pub(crate) fn pick(&self, rng: &mut ChaCha8Rng) -> u32 {
        if self.cdf.is_empty() {
            return rng.gen_range(0..self.n);
        }
        let u: f64 = rng.r#gen();
        // First rank whose cumulative probability covers u; clamp guards float rounding at 1.0.
        (self.cdf.partition_point(|&c| c < u) as u32).min(self.n - 1)
    }
}

/// The names of `n` keys, precomputed so generating an event clones instead of formatting;
/// past a million names they are formatted on demand.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    names: Vec<String>,
    n: u32,
    format: fn(u32) -> String,
}

impl Names {
    const PRECOMPUTE_UP_TO: u32 = 1 << 20;

    pub(crate) fn new(n: u32, format: fn(u32) -> String) -> Self {
        let names =
            if n <= Self::PRECOMPUTE_UP_TO { (0..n).map(format).collect() } else { Vec::new() };
        Names { names, n, format }
    }

    pub(crate) fn get(&self, i: u32) -> String {
        debug_assert!(i < self.n);
        match self.names.get(i as usize) {
            Some(name) => name.clone(),
            None => (self.format)(i),
        }
    }
}
