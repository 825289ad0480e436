//! Lambda's batch layer as polars DataFrame code: over the whole log and over any prefix, its
//! views equal the oracle's exact answers, for every query, tumbling and sliding windows,
//! out-of-order events, and negative or zero timestamps.

use std::sync::Arc;

use lambda_workbench::batch::BatchCompute;
use lambda_workbench::batch::lambda_polars::{PolarsBatch, read_events};
use lambda_workbench::log::{
    FsyncPolicy, Log, LogConfig, ManualClock, Offset, Producer, ProducerConfig, Record,
};
use lambda_workbench::oracle::Oracle;
use lambda_workbench::query::{QueryKind, QuerySet, QuerySpec, Table, present};
use lambda_workbench::scenario::{Workload, WorkloadKind};
use lambda_workbench::workload::{AdType, Campaigns, Event, EventType, generate};
use proptest::prelude::*;

const TOPIC: &str = "events";

fn config() -> LogConfig {
    LogConfig { fsync: FsyncPolicy::Never, ..LogConfig::default() }
}

/// A log holding `events` appended in arrival order, as the driver appends them.
fn log_of(dir: &std::path::Path, partitions: u32, events: &[Event]) -> Log {
    let clock = Arc::new(ManualClock::new(0));
    let mut log = Log::open(dir, config(), clock.clone()).unwrap();
    log.create_topic(TOPIC, partitions).unwrap();
    let mut producer = Producer::new(ProducerConfig { linger_ms: 0, max_batch_bytes: 16 * 1024 });
    for e in events {
        clock.set(e.arrival_ms);
        let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes());
        producer.send(&log, TOPIC, record).unwrap();
    }
    producer.flush(&log).unwrap();
    log
}

fn workload(kind: WorkloadKind, partitions: u32) -> Workload {
    Workload {
        kind,
        rate_per_sec: 300,
        keys: 20,
        partitions,
        out_of_order_fraction: 0.2,
        max_delay_ms: 4_000,
        late_fraction: 0.02,
        late_delay_ms: 15_000,
        users: 500,
        campaigns: 10,
        ads_per_campaign: 5,
        ..Workload::default()
    }
}

fn queries(workload: &Workload, seed: u64, window_ms: i64, slide_ms: i64) -> QuerySet {
    let specs = QueryKind::ALL
        .iter()
        .enumerate()
        .map(|(id, &kind)| QuerySpec {
            id: id as u8,
            kind,
            window_ms,
            slide_ms,
            // The batch layer is exact even when the stream side may approximate.
            approximate: kind == QueryKind::DistinctUsers,
            hll_precision: 12,
            // Two queries on logic version 2 (bots excluded), so the version filter is checked
            // for a sum and for a set.
            exclude_bots: matches!(kind, QueryKind::KeySum | QueryKind::DistinctUsers),
        })
        .collect();
    QuerySet { specs, campaigns: Arc::new(Campaigns::new(workload, seed)), ttl_ms: None }
}

fn oracle_table(log: &Log, queries: &QuerySet) -> Table {
    let mut oracle = Oracle::new(log, TOPIC, queries).unwrap();
    oracle.catch_up(log).unwrap();
    oracle.table()
}

fn ends(log: &Log) -> Vec<Offset> {
    lambda_workbench::arch::log_end_offsets(log, TOPIC).unwrap()
}

/// The batch view over the whole log equals the oracle; returns the number of cells.
fn check_full(kind: WorkloadKind, partitions: u32, window_ms: i64, slide_ms: i64, seed: u64) {
    let w = workload(kind, partitions);
    let events = generate(&w, seed, 60_000);
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), partitions, &events);
    let q = queries(&w, seed, window_ms, slide_ms);
    let (view, read) = PolarsBatch::new().compute(&log, TOPIC, &ends(&log), &q).unwrap();
    assert_eq!(read, events.len() as u64);
    let expected = oracle_table(&log, &q);
    assert!(!expected.is_empty());
    assert_eq!(present(&view), expected);
}

/// The hash aggregation of sums, counts and user sets yields exactly the DataFrame plans' view
/// states (not only the same presented table): tumbling and sliding windows, keyed and ad
/// events, with the bot filter on `key_sum` and `distinct_users`, over a log of several
/// segments.
#[test]
fn hash_aggregation_equals_the_dataframe_plans() {
    for (kind, window, slide, seed) in [
        (WorkloadKind::Ads, 10_000, 10_000, 3),
        (WorkloadKind::Ads, 10_000, 2_500, 4),
        (WorkloadKind::Keyed, 7_000, 3_000, 5),
    ] {
        let w = workload(kind, 3);
        let events = generate(&w, seed, 40_000);
        let dir = tempfile::tempdir().unwrap();
        let log = log_of(dir.path(), 3, &events);
        // Roll a segment mid-way in every partition so pieces split at segment boundaries.
        for p in log.topic(TOPIC).unwrap().partitions() {
            p.roll().unwrap();
        }
        let mut producer = Producer::new(ProducerConfig::default());
        for e in &events[..500] {
            let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes());
            producer.send(&log, TOPIC, record).unwrap();
        }
        producer.flush(&log).unwrap();
        let q = queries(&w, seed, window, slide);
        let batch = PolarsBatch::new();
        let (hashed, n1) = batch.compute(&log, TOPIC, &ends(&log), &q).unwrap();
        let (planned, n2) =
            PolarsBatch::dataframe_only().compute(&log, TOPIC, &ends(&log), &q).unwrap();
        assert_eq!(n1, n2);
        assert_eq!(n1, events.len() as u64 + 500);
        assert!(hashed.len() > 100, "{} cells", hashed.len());
        assert_eq!(hashed, planned, "{kind:?} window {window} slide {slide}");
        // The second recompute reads the columns the first one kept: still the same states.
        let (again, n3) = batch.compute(&log, TOPIC, &ends(&log), &q).unwrap();
        assert!(batch.column_cache().stats().hits > 0);
        assert_eq!((again, n3), (planned, n2), "{kind:?} from cached columns");
    }
}

#[test]
fn keyed_tumbling_windows_equal_the_oracle() {
    check_full(WorkloadKind::Keyed, 3, 10_000, 10_000, 1);
}

#[test]
fn keyed_sliding_windows_equal_the_oracle() {
    check_full(WorkloadKind::Keyed, 2, 10_000, 5_000, 2);
    // A window that is not a multiple of the slide: some copies fall outside and are dropped.
    check_full(WorkloadKind::Keyed, 2, 10_000, 3_000, 3);
}

#[test]
fn ads_tumbling_windows_equal_the_oracle() {
    check_full(WorkloadKind::Ads, 3, 10_000, 10_000, 4);
}

#[test]
fn ads_sliding_windows_equal_the_oracle() {
    check_full(WorkloadKind::Ads, 4, 10_000, 2_500, 5);
}

#[test]
fn campaign_query_joins_ads_and_counts_views_only() {
    let w = workload(WorkloadKind::Ads, 2);
    let events = generate(&w, 9, 30_000);
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), 2, &events);
    let q = queries(&w, 9, 10_000, 10_000);
    let (view, _) = PolarsBatch::new().compute(&log, TOPIC, &ends(&log), &q).unwrap();
    let campaign_total: i64 =
        view.iter().filter(|(c, _)| c.query == 1).map(|(_, a)| a.present()).sum();
    let views = events.iter().filter(|e| e.event_type == EventType::View).count() as i64;
    assert_eq!(campaign_total, views, "every view is in exactly one tumbling window");
    assert!(view.keys().filter(|c| c.query == 1).all(|c| c.key.starts_with("campaign-")));
}

#[test]
fn a_prefix_equals_the_oracle_over_that_prefix() {
    let w = workload(WorkloadKind::Ads, 3);
    let events = generate(&w, 7, 60_000);
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), 3, &events);
    let q = queries(&w, 7, 10_000, 5_000);
    // Cut each partition at a different point.
    let cutoff: Vec<Offset> =
        ends(&log).iter().enumerate().map(|(p, e)| e * (p as u64 + 1) / 4).collect();
    let (view, read) = PolarsBatch::new().compute(&log, TOPIC, &cutoff, &q).unwrap();
    assert_eq!(read, cutoff.iter().sum::<u64>());

    // The expectation: the oracle over a second log holding exactly that prefix.
    let prefix_dir = tempfile::tempdir().unwrap();
    let mut prefix = Log::open(prefix_dir.path(), config(), Arc::new(ManualClock::new(0))).unwrap();
    prefix.create_topic(TOPIC, 3).unwrap();
    let topic = log.topic(TOPIC).unwrap();
    for (p, &end) in cutoff.iter().enumerate() {
        let records: Vec<Record> = topic
            .partition(p as u32)
            .unwrap()
            .read(0, end as usize)
            .unwrap()
            .into_iter()
            .map(|r| r.record)
            .collect();
        assert_eq!(records.len() as u64, end);
        prefix.topic_mut(TOPIC).unwrap().partition_mut(p as u32).unwrap().append(&records).unwrap();
    }
    assert_eq!(ends(&prefix), cutoff);
    assert_eq!(present(&view), oracle_table(&prefix, &q));
    // And a cut-off of zero reads nothing.
    let (empty, read) = PolarsBatch::new().compute(&log, TOPIC, &[0, 0, 0], &q).unwrap();
    assert!(empty.is_empty());
    assert_eq!(read, 0);
}

/// Appends `events` to partition `p` directly (one batch per 50 events).
fn append_to(log: &mut Log, p: u32, events: &[Event]) {
    let partition = log.topic_mut(TOPIC).unwrap().partition_mut(p).unwrap();
    for chunk in events.chunks(50) {
        let records: Vec<Record> = chunk
            .iter()
            .map(|e| Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes()))
            .collect();
        partition.append(&records).unwrap();
    }
}

/// The batch layer's column cache gives exactly what decoding the log gives, whatever happens
/// to the log between recomputes: appends to the active segment, a truncation followed by
/// *different* records at the same offsets (same segment names, same offsets, same sizes
/// roughly: only the segment's identity tells them apart), and retention deleting segments.
#[test]
fn the_column_cache_follows_appends_truncation_and_retention() {
    let w = workload(WorkloadKind::Ads, 2);
    let events = generate(&w, 11, 40_000);
    let other = generate(&w, 12, 40_000);
    let q = queries(&w, 11, 10_000, 5_000);
    let dir = tempfile::tempdir().unwrap();
    let small = LogConfig { segment_bytes: 16 * 1024, ..config() };
    let mut log = Log::open(dir.path(), small.clone(), Arc::new(ManualClock::new(0))).unwrap();
    log.create_topic(TOPIC, 2).unwrap();
    let half = events.len() / 2;
    append_to(&mut log, 0, &events[..half]);
    append_to(&mut log, 1, &events[half..]);
    assert!(log.topic(TOPIC).unwrap().partition(0).unwrap().segments().len() > 3);
    let cached = PolarsBatch::new();
    let check = |log: &Log, what: &str| {
        let (view, n) = cached.compute(log, TOPIC, &ends(log), &q).unwrap();
        let (cold, m) =
            PolarsBatch::without_column_cache().compute(log, TOPIC, &ends(log), &q).unwrap();
        assert_eq!(n, m, "{what}");
        assert_eq!(view, cold, "{what}");
        // (The oracle reads from offset 0: only while retention has deleted nothing.)
        if log.topic(TOPIC).unwrap().partitions().iter().all(|p| p.log_start_offset() == 0) {
            assert_eq!(present(&view), oracle_table(log, &q), "{what}");
        }
    };
    check(&log, "first recompute (builds the columns)");
    let decoded = cached.column_cache().stats().records_decoded;
    assert_eq!(decoded, events.len() as u64);
    check(&log, "second recompute");
    let stats = cached.column_cache().stats();
    assert_eq!(stats.records_decoded, decoded, "nothing decoded again");
    assert!(stats.hits > 3 && stats.bytes > 0, "{stats:?}");

    // Appends: only the new records are decoded.
    append_to(&mut log, 0, &other[..300]);
    check(&log, "after appends");
    assert_eq!(cached.column_cache().stats().records_decoded, decoded + 300);

    // Truncate into an early closed segment, then write other events at the same offsets.
    let p0 = log.topic(TOPIC).unwrap().partition(0).unwrap();
    let second = p0.segments()[1].clone();
    let cut = second.base_offset + (second.next_offset - second.base_offset) / 2;
    let end = p0.log_end_offset();
    log.topic_mut(TOPIC).unwrap().partition_mut(0).unwrap().truncate_to(cut).unwrap();
    let now = ends(&log)[0];
    append_to(&mut log, 0, &other[300..300 + (end - now) as usize]);
    assert_eq!(ends(&log)[0], end, "same offsets, other events");
    check(&log, "after truncation and different appends");
    assert!(cached.column_cache().stats().invalidated > 0);

    // Retention deletes the oldest segments of partition 1.
    drop(log);
    let retained = LogConfig { retention_bytes: Some(64 * 1024), ..small };
    let log = Log::open(dir.path(), retained, Arc::new(ManualClock::new(0))).unwrap();
    check(&log, "after reopening");
    let before = cached.column_cache().stats();
    log.topic(TOPIC).unwrap().partition(1).unwrap().enforce_retention().unwrap();
    assert!(log.topic(TOPIC).unwrap().partition(1).unwrap().log_start_offset() > 0);
    check(&log, "after retention");
    assert!(cached.column_cache().stats().invalidated > before.invalidated);
    assert!(cached.column_cache().stats().segments < before.segments);
}

/// Compaction leaves gaps in the offsets of the compacted range: its pieces are read from the
/// log each time (no identity to cache them by), and the readers stop at a piece's end
/// offset even when fewer records than offsets remain.
#[test]
fn compacted_logs_recompute_like_the_dataframe_plans() {
    use lambda_workbench::log::CleanupPolicy;
    let w = workload(WorkloadKind::Keyed, 1);
    let events = generate(&w, 13, 30_000);
    let q = queries(&w, 13, 10_000, 10_000);
    let dir = tempfile::tempdir().unwrap();
    let compact =
        LogConfig { segment_bytes: 8 * 1024, cleanup_policy: CleanupPolicy::Compact, ..config() };
    let mut log = Log::open(dir.path(), compact, Arc::new(ManualClock::new(0))).unwrap();
    log.create_topic(TOPIC, 1).unwrap();
    append_to(&mut log, 0, &events);
    log.topic(TOPIC).unwrap().partition(0).unwrap().enforce_retention().unwrap();
    let cached = PolarsBatch::new();
    for _ in 0..2 {
        let (view, n) = cached.compute(&log, TOPIC, &ends(&log), &q).unwrap();
        let (planned, m) =
            PolarsBatch::dataframe_only().compute(&log, TOPIC, &ends(&log), &q).unwrap();
        assert_eq!((view, n), (planned, m));
        assert!(n < events.len() as u64, "compaction removed records");
    }
}

fn event(seq: u64, key: &str, user_id: u64, event_type: EventType, t: i64) -> Event {
    Event {
        seq,
        key: key.into(),
        user_id,
        page_id: 1,
        ad_type: AdType::Banner,
        event_type,
        value: seq as i64 + 1,
        event_time_ms: t,
        arrival_ms: 0,
        weight: 1,
    }
}

#[test]
fn negative_and_zero_timestamps_use_floor_windows() {
    let w = workload(WorkloadKind::Ads, 1);
    let campaigns = Campaigns::new(&w, 3);
    let ad = campaigns.ad_ids()[0].clone();
    let times = [-20_001, -10_000, -9_999, -5_000, -1, 0, 1, 4_999, 5_000, 9_999, 10_000];
    let mut events: Vec<Event> = times
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            event(
                i as u64,
                if i % 2 == 0 { &ad } else { "key-0001" },
                i as u64 % 3,
                EventType::View,
                t,
            )
        })
        .collect();
    events.push(event(99, &ad, 7, EventType::Click, -1));
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), 1, &events);
    for (window, slide) in [(10_000, 10_000), (10_000, 5_000), (10_000, 3_000), (7, 7)] {
        let q = queries(&w, 3, window, slide);
        let (view, _) = PolarsBatch::new().compute(&log, TOPIC, &ends(&log), &q).unwrap();
        assert_eq!(present(&view), oracle_table(&log, &q), "window {window} slide {slide}");
    }
    // Spot check: -1 ms is in the tumbling window starting at -10 000, not at 0.
    let q = queries(&w, 3, 10_000, 10_000);
    let (view, _) = PolarsBatch::new().compute(&log, TOPIC, &ends(&log), &q).unwrap();
    assert!(
        view.keys().any(|c| c.query == 0 && c.key == "key-0001" && c.window_start_ms == -10_000)
    );
}

#[test]
fn the_events_frame_has_every_column_in_offset_order() {
    let w = workload(WorkloadKind::Keyed, 2);
    let events = generate(&w, 11, 5_000);
    let dir = tempfile::tempdir().unwrap();
    let log = log_of(dir.path(), 2, &events);
    let e = ends(&log);
    let df = read_events(&log, TOPIC, &[(0, e[0]), (1, e[1])], "batch").unwrap();
    let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "partition",
            "offset",
            "key",
            "user_id",
            "page_id",
            "ad_type",
            "event_type",
            "value",
            "event_time_ms",
            "append_time_ms",
            "weight"
        ]
    );
    assert_eq!(df.height() as u64, e[0] + e[1] - 1);
    let offsets: Vec<u64> = df.column("offset").unwrap().u64().unwrap().iter().flatten().collect();
    let expected: Vec<u64> = (0..e[0]).chain(1..e[1]).collect();
    assert_eq!(offsets, expected);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn batch_equals_oracle_for_random_runs(
        seed in 0u64..1_000,
        partitions in 1u32..4,
        ads in any::<bool>(),
        window_s in 1i64..8,
        slides in 1i64..4,
        cut in 0u64..=4,
    ) {
        let kind = if ads { WorkloadKind::Ads } else { WorkloadKind::Keyed };
        let w = Workload { rate_per_sec: 100, ..workload(kind, partitions) };
        let events = generate(&w, seed, 8_000);
        let dir = tempfile::tempdir().unwrap();
        let log = log_of(dir.path(), partitions, &events);
        let window_ms = window_s * 1_000;
        let q = queries(&w, seed, window_ms, (window_ms / slides).max(1));
        let (view, _) = PolarsBatch::new().compute(&log, TOPIC, &ends(&log), &q).unwrap();
        prop_assert_eq!(present(&view), oracle_table(&log, &q));
        // A prefix cut at the same fraction of every partition is a subset of the events:
        // its counts never exceed the full ones.
        let cutoff: Vec<Offset> = ends(&log).iter().map(|e| e * cut / 4).collect();
        let (part, read) = PolarsBatch::new().compute(&log, TOPIC, &cutoff, &q).unwrap();
        prop_assert_eq!(read, cutoff.iter().sum::<u64>());
        let full = present(&view);
        for (cell, n) in present(&part) {
            prop_assert!(full.get(&cell).is_some_and(|m| *m >= n));
        }
    }
}
