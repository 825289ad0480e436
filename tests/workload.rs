//! The workload generators from the outside: reproducibility, exact rates, skew, lateness, the
//! YSB campaign table and the record encoding.

use std::collections::{BTreeMap, HashMap, HashSet};

use lambda_workbench::scenario::{Burst, KeyDistribution, Workload, WorkloadKind};
use lambda_workbench::workload::{
    self, AdType, Campaigns, Event, EventType, ad_name, decode, events, generate, key_name,
};

fn keyed() -> Workload {
    Workload {
        rate_per_sec: 200,
        keys: 20,
        out_of_order_fraction: 0.1,
        max_delay_ms: 3000,
        ..Workload::default()
    }
}

fn ads() -> Workload {
    Workload {
        kind: WorkloadKind::Ads,
        rate_per_sec: 500,
        campaigns: 10,
        ads_per_campaign: 10,
        ..Workload::default()
    }
}

/// Events per whole second of arrival time.
fn per_second(events: &[Event], duration_ms: i64) -> Vec<u64> {
    let mut out = vec![0; (duration_ms as usize).div_ceil(1000)];
    for e in events {
        out[e.arrival_ms as usize / 1000] += 1;
    }
    out
}

#[test]
fn same_seed_gives_identical_events() {
    for cfg in [keyed(), ads()] {
        let a = generate(&cfg, 42, 20_000);
        let b = generate(&cfg, 42, 20_000);
        assert_eq!(a, b);
        let bytes = |es: &[Event]| es.iter().flat_map(|e| e.value()).collect::<Vec<u8>>();
        assert_eq!(bytes(&a), bytes(&b));
    }
}

#[test]
fn different_seed_gives_different_events() {
    for cfg in [keyed(), ads()] {
        let a = generate(&cfg, 1, 10_000);
        let b = generate(&cfg, 2, 10_000);
        assert_eq!(a.len(), b.len(), "arrivals do not depend on the seed");
        assert_ne!(a, b);
        let same_keys = a.iter().zip(&b).filter(|(x, y)| x.key == y.key).count();
        assert!(same_keys < a.len() / 2, "{same_keys} of {} keys equal", a.len());
    }
}

#[test]
fn iterator_and_generate_agree_and_arrive_in_order() {
    let cfg = Workload { late_fraction: 0.05, late_delay_ms: 60_000, ..keyed() };
    let all = generate(&cfg, 9, 30_000);
    let streamed: Vec<Event> = events(&cfg, 9, 30_000).collect();
    assert_eq!(all, streamed);
    assert!(all.windows(2).all(|w| w[0].arrival_ms <= w[1].arrival_ms));
    assert!(all.iter().enumerate().all(|(i, e)| e.seq == i as u64));
    assert!(all.iter().all(|e| (0..30_000).contains(&e.arrival_ms)));
}

#[test]
fn constant_rate_gives_exact_counts_per_second() {
    for rate in [1u32, 3, 200, 999, 1000, 4321] {
        let cfg = Workload { rate_per_sec: rate, ..keyed() };
        let counts = per_second(&generate(&cfg, 1, 10_000), 10_000);
        assert_eq!(counts, vec![u64::from(rate); 10], "rate {rate}");
    }
    // A partial last second gets ceil(rate × ms / 1000) events.
    let cfg = Workload { rate_per_sec: 3, ..keyed() };
    assert_eq!(generate(&cfg, 1, 1500).len(), 5);
    assert!(generate(&cfg, 1, 0).is_empty());
}

#[test]
fn bursts_multiply_the_rate_exactly_inside() {
    let cfg = Workload {
        rate_per_sec: 100,
        bursts: vec![
            Burst { start_ms: 10_000, duration_ms: 5_000, multiplier: 3.0 },
            Burst { start_ms: 20_000, duration_ms: 2_000, multiplier: 2.5 },
            Burst { start_ms: 25_000, duration_ms: 1_000, multiplier: 0.0 },
        ],
        ..keyed()
    };
    let counts = per_second(&generate(&cfg, 5, 30_000), 30_000);
    let expected: Vec<u64> = (0..30)
        .map(|s| match s {
            10..15 => 300,
            20..22 => 250,
            25 => 0,
            _ => 100,
        })
        .collect();
    assert_eq!(counts, expected);
}

#[test]
fn ramp_gives_the_computed_counts_per_second() {
    // Rate r(u) = r0 + (r1 - r0)·u/D per second at ms u; ceil(Σ_{u<t} r(u)/1000) events
    // arrive before t. Closed form of the sum: (r0·D·t + (r1 - r0)·t(t-1)/2) / (1000·D).
    for (r0, r1) in [(100i128, 1000i128), (1000, 100), (7, 13), (50, 0)] {
        let d: i128 = 60_000;
        let cfg =
            Workload { rate_per_sec: r0 as u32, ramp_to_rate_per_sec: Some(r1 as u32), ..keyed() };
        let counts = per_second(&generate(&cfg, 3, d as i64), d as i64);
        let before = |t: i128| {
            let num = r0 * d * t + (r1 - r0) * t * (t - 1) / 2;
            let den = 1000 * d;
            (num + den - 1).div_euclid(den)
        };
        let expected: Vec<u64> =
            (0..60).map(|s| (before(1000 * (s + 1)) - before(1000 * s)) as u64).collect();
        assert_eq!(counts, expected, "ramp {r0} -> {r1}");
        assert!(counts[0] < counts[59] || r1 <= r0);
    }
}

#[test]
fn zipf_skews_keys_and_ads() {
    let cfg = Workload { key_distribution: KeyDistribution::Zipf, zipf_exponent: 1.2, ..keyed() };
    let evs = generate(&cfg, 3, 60_000);
    let count = |k: &str| evs.iter().filter(|e| e.key == k).count();
    let (hot, cold) = (count(&key_name(0)), count(&key_name(19)));
    // Zipf(1.2): rank 1 is 20^1.2 ≈ 36× rank 20.
    assert!(hot > 20 * cold.max(1), "hot {hot} cold {cold}");

    let cfg = Workload { key_distribution: KeyDistribution::Zipf, ..ads() };
    let evs = generate(&cfg, 3, 20_000);
    let hot = evs.iter().filter(|e| e.key == ad_name(0)).count();
    let cold = evs.iter().filter(|e| e.key == ad_name(99)).count();
    assert!(hot > 30 * cold.max(1), "hot {hot} cold {cold}");

    let uniform = generate(&keyed(), 3, 60_000);
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    uniform.iter().for_each(|e| *by_key.entry(&e.key).or_default() += 1);
    assert_eq!(by_key.len(), 20);
    assert!(by_key.values().all(|&n| (480..720).contains(&n)), "{by_key:?}");
}

#[test]
fn late_population_delays_within_bounds() {
    let cfg = Workload {
        out_of_order_fraction: 0.2,
        max_delay_ms: 2_000,
        late_fraction: 0.05,
        late_delay_ms: 30_000,
        ..keyed()
    };
    let evs = generate(&cfg, 11, 300_000);
    let delays: Vec<i64> = evs
        .iter()
        .filter(|e| e.arrival_ms >= 40_000) // no clamping at time 0
        .map(|e| e.arrival_ms - e.event_time_ms)
        .collect();
    let n = delays.len() as f64;
    let late: Vec<i64> = delays.iter().copied().filter(|&d| d > 2_000).collect();
    let ooo = delays.iter().filter(|&&d| (1..=2_000).contains(&d)).count() as f64;
    assert!(late.iter().all(|d| (27_000..=33_000).contains(d)), "late delay out of ±10%");
    assert!((late.len() as f64 / n - 0.05).abs() < 0.01, "late share {}", late.len() as f64 / n);
    assert!((ooo / n - 0.2).abs() < 0.02, "out-of-order share {}", ooo / n);
    // The spread covers the band, not just its middle.
    assert!(late.iter().any(|&d| d < 28_000) && late.iter().any(|&d| d > 32_000));
    // Near time 0 the delay is clamped: event time never goes negative.
    assert!(evs.iter().all(|e| e.event_time_ms >= 0 && e.event_time_ms <= e.arrival_ms));
}

#[test]
fn campaign_table_is_deterministic_and_covers_every_ad_once() {
    let cfg = Workload { campaigns: 25, ads_per_campaign: 8, ..ads() };
    let a = Campaigns::new(&cfg, 77);
    assert_eq!(a, Campaigns::new(&cfg, 77));
    assert_ne!(a, Campaigns::new(&cfg, 78));
    assert_eq!(a.len(), 200);
    let pairs: Vec<(&str, &str)> = a.iter().collect();
    let ads: HashSet<&str> = pairs.iter().map(|p| p.0).collect();
    assert_eq!(ads.len(), 200, "every ad exactly once");
    assert!((0..200).all(|n| ads.contains(ad_name(n).as_str())));
    let mut per_campaign: BTreeMap<&str, usize> = BTreeMap::new();
    for (ad, campaign) in &pairs {
        assert_eq!(a.campaign_of(ad), Some(*campaign));
        *per_campaign.entry(campaign).or_default() += 1;
    }
    assert_eq!(per_campaign.len(), 25);
    assert!(per_campaign.values().all(|&n| n == 8), "{per_campaign:?}");
    // A shuffle, not `ad / ads_per_campaign`.
    let trivial = pairs
        .iter()
        .enumerate()
        .filter(|(i, (_, c))| *c == workload::campaign_name(*i as u32 / 8))
        .count();
    assert!(trivial < 50, "{trivial} of 200 ads sit in their index's campaign");
    // Every generated ad event's key is in the table.
    let evs = generate(&cfg, 77, 5_000);
    assert!(evs.iter().all(|e| a.campaign_of(&e.key).is_some()));
}

#[test]
fn ad_events_draw_types_users_and_pages_uniformly() {
    let cfg = Workload { users: 50, pages: 7, ..ads() };
    let evs = generate(&cfg, 4, 60_000);
    let n = evs.len() as f64;
    for t in EventType::ALL {
        let share = evs.iter().filter(|e| e.event_type == t).count() as f64 / n;
        assert!((share - 1.0 / 3.0).abs() < 0.01, "{t}: {share}");
    }
    for t in AdType::ALL {
        let share = evs.iter().filter(|e| e.ad_type == t).count() as f64 / n;
        assert!((share - 0.2).abs() < 0.01, "{t}: {share}");
    }
    assert_eq!(evs.iter().map(|e| e.user_id).collect::<HashSet<_>>().len(), 50);
    assert_eq!(evs.iter().map(|e| e.page_id).collect::<HashSet<_>>().len(), 7);
    assert!(evs.iter().all(|e| e.value == 1));
}

#[test]
fn records_roundtrip_for_both_kinds() {
    for cfg in [keyed(), ads()] {
        for e in generate(&cfg, 8, 5_000) {
            let fields = decode(Some(e.key.as_bytes()), &e.value(), e.event_time_ms)
                .expect("generated events decode");
            assert_eq!(fields, e.fields());
            assert_eq!(workload::decode_seq(&e.value()), Some(e.seq));
        }
    }
    let e = &generate(&ads(), 8, 1_000)[17];
    let text = String::from_utf8(e.value()).unwrap();
    assert_eq!(text, format!("17,{},{},{},{},1", e.user_id, e.page_id, e.ad_type, e.event_type));
}

/// `cargo test --release --test integration workload:: -- --ignored --nocapture`: generation speed.
#[test]
#[ignore = "timing; run in release"]
fn ten_million_events_in_a_few_seconds() {
    let cfg = Workload { rate_per_sec: 100_000, keys: 10_000, ..keyed() };
    let start = std::time::Instant::now();
    let mut n = 0u64;
    let mut bytes = 0usize;
    for e in events(&cfg, 1, 100_000) {
        n += 1;
        bytes += e.key.len();
    }
    let took = start.elapsed();
    eprintln!("{n} keyed events in {took:?} ({bytes} key bytes)");
    assert_eq!(n, 10_000_000);
    let cfg = Workload { rate_per_sec: 100_000, key_distribution: KeyDistribution::Zipf, ..ads() };
    let start = std::time::Instant::now();
    let mut buf = Vec::new();
    for e in events(&cfg, 1, 100_000) {
        buf.clear();
        e.write_value(&mut buf);
        let _ = decode(Some(e.key.as_bytes()), &buf, e.event_time_ms).unwrap();
    }
    eprintln!("10M ad events generated, encoded, decoded in {:?}", start.elapsed());
    assert!(took.as_secs() < 10);
}
