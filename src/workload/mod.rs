//! The seeded event generators: keyed events and Yahoo Streaming Benchmark ad events, at a
//! constant, ramping or bursting rate, some of them out of order and some very late.
//!
//! Every random choice comes from one `ChaCha8Rng::seed_from_u64(seed)`, drawn in a fixed order
//! per event, so the same scenario always yields the same events, byte for byte. Arrival times
//! use integer arithmetic only ([`rate`]); key popularity (Zipf) and the lateness draws use
//! `f64`, which Rust computes the same way on every IEEE-754 platform for these operations
//! (`powf` in the Zipf table is the one libm call; the table is built once per run).
//!
//! Per event, in this order: the key (or ad), `user_id`, `page_id`, `ad_type`, then for ad
//! events the `event_type` and for keyed events the `value`, then one number deciding whether
//! the event is on time, out of order or very late, and, if delayed, its delay.
//!
//! - [`event`] — the [`Event`] model and its record encoding ([`decode`]).
//! - [`keyed`] — key names and uniform/Zipf key choice.
//! - [`ysb`] — ads and campaigns: the static [`Campaigns`] table.
//! - [`rate`] — arrival times from the rate, its ramp and its bursts.

pub mod event;
pub mod keyed;
pub mod rate;
pub mod ysb;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use event::{
    AdType, DecodeError, Event, EventFields, EventRef, EventType, VALUE_FIELDS, ValueFields,
    decode, decode_ref, decode_seq, decode_value,
};
pub use keyed::key_name;
pub use rate::RateSchedule;
pub use ysb::{Campaigns, ad_name, campaign_name};

use crate::scenario::{Workload, WorkloadKind};
use keyed::{KeyPicker, Names};

/// The events of a run of `duration_ms`, in arrival order (all of them in memory; prefer
/// [`events`] for long runs).
pub fn generate(cfg: &Workload, seed: u64, duration_ms: i64) -> Vec<Event> {
    events(cfg, seed, duration_ms).collect()
}

/// How many events (records) a run's workload generates, and how many events arrive out of
/// order (weighted: a record counts for the events it stands for). Both drivers count this
/// once up front, then generate the events again as they arrive, so a long run never holds its
/// whole workload in memory.
pub fn tally(cfg: &Workload, seed: u64, duration_ms: i64) -> (u64, u64) {
    events(cfg, seed, duration_ms).fold((0, 0), |(n, ooo), e| {
        (n + 1, ooo + if e.event_time_ms < e.arrival_ms { u64::from(e.weight) } else { 0 })
    })
}

/// The events of a run of `duration_ms`, in arrival order, generated as they are read.
///
/// Arrival times come from the rate shape (see [`rate`]): every event arrives in
/// `0..duration_ms`. Its event time is its arrival time, or earlier by a delay:
/// with probability `late_fraction` by `late_delay_ms` ± 10% (uniform), else with probability
/// `out_of_order_fraction` by 1..=`max_delay_ms` (uniform); never before 0.
pub fn events(cfg: &Workload, seed: u64, duration_ms: i64) -> Events {
    let (n, format): (u32, fn(u32) -> String) = match cfg.kind {
        WorkloadKind::Keyed => (cfg.keys.max(1), key_name),
        WorkloadKind::Ads => {
            let ads = u64::from(cfg.campaigns) * u64::from(cfg.ads_per_campaign);
            (ads.clamp(1, u64::from(u32::MAX)) as u32, ad_name)
        }
    };
    let late_spread = cfg.late_delay_ms.max(0) / 10;
    Events {
        rng: ChaCha8Rng::seed_from_u64(seed),
        // One record per `events_per_record` events: records arrive at rate / events_per_record.
        schedule: RateSchedule::new(cfg, duration_ms).per_record(cfg.events_per_record),
        picker: KeyPicker::new(n, cfg.key_distribution, cfg.zipf_exponent),
        names: Names::new(n, format),
        kind: cfg.kind,
        users: cfg.users.max(1),
        pages: cfg.pages.max(1),
        late_fraction: cfg.late_fraction.clamp(0.0, 1.0),
        out_of_order_fraction: cfg.out_of_order_fraction.clamp(0.0, 1.0),
        max_delay_ms: cfg.max_delay_ms.max(0),
        late_delays: (cfg.late_delay_ms - late_spread).max(1)
            ..=(cfg.late_delay_ms + late_spread).max(1),
        now: 0,
        pending: 0,
        seq: 0,
        weight: cfg.events_per_record.max(1),
    }
}

/// The event generator: an iterator over a run's events in arrival order.
#[derive(Debug, Clone)]
pub struct Events {
    rng: ChaCha8Rng,
    schedule: RateSchedule,
    picker: KeyPicker,
    names: Names,
    kind: WorkloadKind,
    users: u64,
    pages: u64,
    late_fraction: f64,
    out_of_order_fraction: f64,
    max_delay_ms: i64,
    late_delays: std::ops::RangeInclusive<i64>,
    /// Arrival time of the pending events.
    now: i64,
    /// Events still to generate at `now`.
    pending: u64,
    seq: u64,
    /// Events per record (`events_per_record`): the weight of every record generated.
    weight: u32,
}

impl Events {
    fn make(&mut self, arrival_ms: i64) -> Event {
        let rng = &mut self.rng;
        let key = self.names.get(self.picker.pick(rng));
        let user_id = rng.gen_range(0..self.users);
        let page_id = rng.gen_range(0..self.pages);
        let ad_type = AdType::ALL[rng.gen_range(0..AdType::ALL.len())];
        let (event_type, value) = match self.kind {
            WorkloadKind::Ads => (EventType::ALL[rng.gen_range(0..EventType::ALL.len())], 1),
            WorkloadKind::Keyed => (EventType::View, rng.gen_range(1..=100)),
        };
        let u: f64 = rng.r#gen();
        let delay = if u < self.late_fraction {
            rng.gen_range(self.late_delays.clone())
        } else if u < self.late_fraction + self.out_of_order_fraction && self.max_delay_ms > 0 {
            rng.gen_range(1..=self.max_delay_ms)
        } else {
            0
        };
        let seq = self.seq;
        self.seq += 1;
        Event {
            seq,
            key,
            user_id,
            page_id,
            ad_type,
            event_type,
            value,
            event_time_ms: (arrival_ms - delay).max(0),
            arrival_ms,
            weight: self.weight,
        }
    }
}

impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.pending == 0 {
            let (t, n) = self.schedule.next_arrivals()?;
            self.now = t;
            self.pending = n;
        }
        self.pending -= 1;
        Some(self.make(self.now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::KeyDistribution;

    fn cfg(dist: KeyDistribution) -> Workload {
        Workload {
            rate_per_sec: 100,
            keys: 10,
            key_distribution: dist,
            zipf_exponent: 1.2,
            partitions: 2,
            out_of_order_fraction: 0.3,
            max_delay_ms: 2000,
            ..Workload::default()
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
        assert!(a.iter().enumerate().all(|(i, e)| e.seq == i as u64));
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
    fn weighted_records_stand_for_the_same_number_of_events() {
        let plain = generate(&cfg(KeyDistribution::Uniform), 4, 20_000);
        let heavy = Workload { events_per_record: 50, ..cfg(KeyDistribution::Uniform) };
        let heavy = generate(&heavy, 4, 20_000);
        assert_eq!(plain.len(), 2000);
        assert_eq!(heavy.len(), 40);
        assert!(heavy.iter().all(|e| e.weight == 50) && plain.iter().all(|e| e.weight == 1));
        // Records arrive evenly at a fiftieth of the rate.
        assert!(heavy.windows(2).all(|w| w[1].arrival_ms - w[0].arrival_ms == 500));
    }

    #[test]
    fn zipf_makes_the_first_key_hottest() {
        let events = generate(&cfg(KeyDistribution::Zipf), 3, 100_000);
        let hot = events.iter().filter(|e| e.key == key_name(0)).count();
        let cold = events.iter().filter(|e| e.key == key_name(9)).count();
        assert!(hot > 5 * cold, "hot {hot} cold {cold}");
    }

    #[test]
    fn keyed_and_ad_events_fill_their_fields() {
        let keyed = generate(&cfg(KeyDistribution::Uniform), 5, 5_000);
        assert!(keyed.iter().all(|e| e.event_type == EventType::View));
        assert!(keyed.iter().all(|e| (1..=100).contains(&e.value) && e.key.starts_with("key-")));
        let ads = Workload { kind: WorkloadKind::Ads, ..cfg(KeyDistribution::Uniform) };
        let ads = generate(&ads, 5, 5_000);
        assert!(ads.iter().all(|e| e.value == 1 && e.key.starts_with("ad-")));
        for t in EventType::ALL {
            assert!(ads.iter().any(|e| e.event_type == t), "no {t}");
        }
        assert!(ads.iter().all(|e| e.user_id < 10_000 && e.page_id < 1000));
    }
}
