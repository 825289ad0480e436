//! The streaming lake: closed segments tiered to Parquet on a simulated clock, queries over cold
//! files + the hot tail equal to the oracle at every moment, files that round-trip, and a whole
//! scenario run that ends exactly right.

use std::path::Path;
use std::sync::Arc;

use lambda_workbench::driver;
use lambda_workbench::lake::{ColdStore, Lake};
use lambda_workbench::log::{
    FsyncPolicy, Log, LogConfig, ManualClock, Producer, ProducerConfig, Record,
};
use lambda_workbench::oracle::Oracle;
use lambda_workbench::query::{QueryKind, QuerySet, QuerySpec, TrackedTable};
use lambda_workbench::scenario::{Lake as LakeConfig, Scenario, Workload, WorkloadKind};
use lambda_workbench::workload::{Campaigns, Event, generate};
use polars::prelude::*;

const TOPIC: &str = "events";

fn workload() -> Workload {
    Workload {
        kind: WorkloadKind::Ads,
        rate_per_sec: 400,
        partitions: 3,
        out_of_order_fraction: 0.2,
        max_delay_ms: 3_000,
        users: 300,
        campaigns: 8,
        ads_per_campaign: 4,
        ..Workload::default()
    }
}

fn queries(w: &Workload, seed: u64) -> Arc<QuerySet> {
    let windows = [(10_000, 10_000), (10_000, 10_000), (6_000, 2_000), (10_000, 5_000)];
    let specs = QueryKind::ALL
        .iter()
        .zip(windows)
        .enumerate()
        .map(|(id, (&kind, (window_ms, slide_ms)))| QuerySpec {
            id: id as u8,
            kind,
            window_ms,
            slide_ms,
            approximate: false,
            hll_precision: 12,
            exclude_bots: kind == QueryKind::CampaignWindowCount,
        })
        .collect();
    Arc::new(QuerySet { specs, campaigns: Arc::new(Campaigns::new(w, seed)), ttl_ms: None })
}

/// A log that rolls segments every `segment_ms` of its manual clock, and the workload's events.
struct Run {
    clock: Arc<ManualClock>,
    log: Log,
    producer: Producer,
    events: Vec<Event>,
    next: usize,
}

impl Run {
    fn new(dir: &Path, segment_ms: i64, duration_ms: i64, seed: u64) -> Run {
        Run::with_workload(dir, segment_ms, duration_ms, seed, &workload())
    }

    fn with_workload(
        dir: &Path,
        segment_ms: i64,
        duration_ms: i64,
        seed: u64,
        w: &Workload,
    ) -> Run {
        let clock = Arc::new(ManualClock::new(0));
        let config = LogConfig {
            fsync: FsyncPolicy::Never,
            segment_ms: Some(segment_ms),
            ..LogConfig::default()
        };
        let mut log = Log::open(dir, config, clock.clone()).unwrap();
        log.create_topic(TOPIC, w.partitions).unwrap();
        let producer = Producer::new(ProducerConfig { linger_ms: 0, max_batch_bytes: 16 * 1024 });
        Run { clock, log, producer, events: generate(w, seed, duration_ms), next: 0 }
    }

    /// Sets the clock to `t` and appends every event that arrived by then.
    fn advance(&mut self, t: i64) {
        self.clock.set(t);
        while let Some(e) = self.events.get(self.next).filter(|e| e.arrival_ms <= t) {
            let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes());
            self.producer.send(&self.log, TOPIC, record).unwrap();
            self.next += 1;
        }
        self.producer.flush(&self.log).unwrap();
    }
}

fn lake_config() -> LakeConfig {
    LakeConfig {
        segment_ms: 2_000,
        tier_overhead_ms: 300.0,
        tier_cost_us_per_event: 100.0,
        ..LakeConfig::default()
    }
}

#[test]
fn answers_equal_the_oracle_at_every_step_while_segments_tier() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::new(&dir.path().join("log"), 2_000, 20_000, 1);
    let q = queries(&workload(), 1);
    let mut lake =
        Lake::new(&run.log, TOPIC, q.clone(), &lake_config(), &dir.path().join("cold")).unwrap();
    let mut oracle = Oracle::new(&run.log, TOPIC, &q).unwrap();
    let mut lags = Vec::new();
    for (step, t) in (0..=26_000).step_by(250).enumerate() {
        run.advance(t);
        lake.tick(t, &run.log).unwrap();
        oracle.catch_up(&run.log).unwrap();
        let exact = oracle.table();
        assert_eq!(lake.query(&run.log).unwrap(), exact, "cached path at {t} ms");
        if step % 10 == 0 {
            assert_eq!(lake.query_full_scan(&run.log).unwrap(), exact, "full scan at {t} ms");
        }
        lags.push(lake.tierer().lag(&run.log).unwrap());
    }
    assert!(!oracle.table().is_empty());
    let files = lake.tierer().files();
    assert!(files.len() >= 15, "about one segment per partition per 2 s: {}", files.len());
    // Lag rises while events arrive between tierings and falls when a file becomes tiered.
    assert!(lags.windows(2).any(|w| w[1] > w[0]), "lag goes up");
    assert!(lags.windows(2).any(|w| w[1] < w[0]), "lag goes down");
    assert_eq!(lake.tierer().max_lag(), *lags.iter().max().unwrap());
    // After the workload stops only the active segments stay hot.
    assert!(lake.idle(&run.log).unwrap());
    for (p, partition) in run.log.topic(TOPIC).unwrap().partitions().iter().enumerate() {
        let active = partition.segments().last().unwrap().base_offset;
        assert_eq!(lake.tierer().tiered_end()[p], active);
    }
}

/// Tiering slower than segments arrive: the hot tail grows over several segments, and the
/// served table — updated from the hot tail's partial aggregates cached per segment, each
/// extended by what was appended since — equals the oracle at every step; a segment's cached
/// aggregates go once it is tiered.
#[test]
fn served_answers_stay_exact_while_tiering_falls_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::new(&dir.path().join("log"), 1_000, 8_000, 3);
    let q = queries(&workload(), 3);
    // ~130 events per partition per 1 s segment at 3 ms each: 0.7 s of conversion per second
    // of each of 3 partitions' segments, so the tierer falls ~1 s further behind every second.
    let cfg = LakeConfig { segment_ms: 1_000, tier_cost_us_per_event: 3_000.0, ..lake_config() };
    let mut lake = Lake::new(&run.log, TOPIC, q.clone(), &cfg, &dir.path().join("cold")).unwrap();
    // The tail here is a few thousand records: cached whatever its length.
    lake.set_hot_cache_min_records(0);
    let mut oracle = Oracle::new(&run.log, TOPIC, &q).unwrap();
    let mut served = TrackedTable::new();
    let (mut most_pieces, mut most_segments_behind) = (0, 0);
    for t in (0..=20_000).step_by(500) {
        run.advance(t);
        lake.tick(t, &run.log).unwrap();
        lake.update_served(&run.log, &mut served).unwrap();
        oracle.catch_up(&run.log).unwrap();
        assert_eq!(served.table(), &oracle.table(), "served at {t} ms");
        let topic = run.log.topic(TOPIC).unwrap();
        let hot_segments: usize = topic
            .partitions()
            .iter()
            .zip(lake.tierer().tiered_end())
            .map(|(p, &tiered)| p.segments().iter().filter(|s| s.next_offset > tiered).count())
            .sum();
        assert!(lake.hot_pieces() <= hot_segments, "{} pieces at {t} ms", lake.hot_pieces());
        most_pieces = most_pieces.max(lake.hot_pieces());
        most_segments_behind = most_segments_behind.max(hot_segments);
    }
    assert!(most_segments_behind >= 8, "tiering fell behind: {most_segments_behind} segments");
    assert!(most_pieces >= 8, "{most_pieces}");
    // Caught up in the end: only the active segments stay hot.
    assert!(lake.idle(&run.log).unwrap());
    assert!(lake.hot_pieces() <= 3, "{}", lake.hot_pieces());
    assert_eq!(lake.query(&run.log).unwrap(), oracle.table());
}

/// Exact distinct-user windows far behind the newest cold data are sealed (their sets become
/// counts), and events later than anything before reopen them, from a new file or from the
/// hot tail: the served table and the query stay equal to the oracle throughout.
#[test]
fn sealed_distinct_user_windows_reopen_for_very_late_events_and_stay_exact() {
    let w = Workload { late_fraction: 0.01, late_delay_ms: 40_000, ..workload() };
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::with_workload(&dir.path().join("log"), 2_000, 150_000, 3, &w);
    let q = queries(&w, 3);
    let mut lake =
        Lake::new(&run.log, TOPIC, q.clone(), &lake_config(), &dir.path().join("cold")).unwrap();
    let mut oracle = Oracle::new(&run.log, TOPIC, &q).unwrap();
    let mut served = TrackedTable::new();
    for (step, t) in (0..=160_000).step_by(1_000).enumerate() {
        run.advance(t);
        lake.tick(t, &run.log).unwrap();
        oracle.catch_up(&run.log).unwrap();
        let exact = oracle.table();
        lake.update_served(&run.log, &mut served).unwrap();
        assert_eq!(served.table(), &exact, "served table at {t} ms");
        if step % 10 == 0 {
            assert_eq!(lake.query(&run.log).unwrap(), exact, "query at {t} ms");
        }
    }
    let (sealed, reopened) = lake.sealed_windows();
    assert!(sealed > 20, "{sealed} windows sealed ({reopened} reopened)");
    // A record 155 s late, of a user never seen: its windows were sealed long ago. It reaches
    // them first from the hot tail, then from the file its segment becomes.
    let late = Event {
        event_time_ms: 5_000,
        user_id: 1_000_000,
        arrival_ms: 161_000,
        ..run.events[0].clone()
    };
    run.events.push(late);
    for t in (161_000..=170_000).step_by(500) {
        run.advance(t);
        lake.tick(t, &run.log).unwrap();
        oracle.catch_up(&run.log).unwrap();
        let exact = oracle.table();
        lake.update_served(&run.log, &mut served).unwrap();
        assert_eq!(served.table(), &exact, "served table at {t} ms");
        assert_eq!(lake.query(&run.log).unwrap(), exact, "query at {t} ms");
    }
    assert!(lake.sealed_windows().1 > reopened, "no sealed window was reopened");
    assert!(lake.idle(&run.log).unwrap(), "the late record's segment is cold");
}

#[test]
fn parquet_files_exist_and_round_trip_their_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::new(&dir.path().join("log"), 2_000, 10_000, 2);
    let q = queries(&workload(), 2);
    let cold = dir.path().join("cold");
    let mut lake = Lake::new(&run.log, TOPIC, q, &lake_config(), &cold).unwrap();
    for t in (0..=14_000).step_by(500) {
        run.advance(t);
        lake.tick(t, &run.log).unwrap();
    }
    let topic = run.log.topic(TOPIC).unwrap();
    assert!(!lake.tierer().files().is_empty());
    for f in lake.tierer().files() {
        let expected_path = cold
            .join(TOPIC)
            .join(f.partition.to_string())
            .join(format!("{:020}.parquet", f.base_offset));
        assert_eq!(
            std::fs::canonicalize(&f.path).unwrap(),
            std::fs::canonicalize(&expected_path).unwrap()
        );
        assert_eq!(std::fs::metadata(&expected_path).unwrap().len(), f.bytes);
        // The file covers exactly one closed segment.
        let partition = topic.partition(f.partition).unwrap();
        let segment =
            partition.segments().into_iter().find(|s| s.base_offset == f.base_offset).unwrap();
        assert!(!segment.active);
        assert_eq!(segment.next_offset, f.next_offset);
        // Read it back with polars, independently of the lake.
        let df = ParquetReader::new(std::fs::File::open(&expected_path).unwrap()).finish().unwrap();
        assert_eq!(df.height() as u64, f.next_offset - f.base_offset);
        assert_eq!(df.height() as u64, f.events);
        let offsets: Vec<u64> =
            df.column("offset").unwrap().u64().unwrap().iter().flatten().collect();
        assert_eq!(offsets, (f.base_offset..f.next_offset).collect::<Vec<_>>());
        let partitions = df.column("partition").unwrap().u32().unwrap();
        assert!(partitions.iter().all(|p| p == Some(f.partition)));
        // Timestamps and append times are the log's.
        let records = partition.read(f.base_offset, df.height()).unwrap();
        let times: Vec<i64> =
            df.column("event_time_ms").unwrap().i64().unwrap().iter().flatten().collect();
        let appended: Vec<i64> =
            df.column("append_time_ms").unwrap().i64().unwrap().iter().flatten().collect();
        assert_eq!(times, records.iter().map(|r| r.record.timestamp_ms).collect::<Vec<_>>());
        assert_eq!(appended, records.iter().map(|r| r.append_time_ms).collect::<Vec<_>>());
    }
}

#[test]
fn parquet_bytes_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::new(&dir.path().join("log"), 2_000, 8_000, 3);
    let q = queries(&workload(), 3);
    let mut a =
        Lake::new(&run.log, TOPIC, q.clone(), &lake_config(), &dir.path().join("a")).unwrap();
    let mut b = Lake::new(&run.log, TOPIC, q, &lake_config(), &dir.path().join("b")).unwrap();
    for t in (0..=12_000).step_by(500) {
        run.advance(t);
        a.tick(t, &run.log).unwrap();
        b.tick(t, &run.log).unwrap();
    }
    assert!(!a.tierer().files().is_empty());
    assert_eq!(a.tierer().files().len(), b.tierer().files().len());
    for (fa, fb) in a.tierer().files().iter().zip(b.tierer().files()) {
        assert_eq!(fa.object, fb.object);
        assert_eq!(std::fs::read(&fa.path).unwrap(), std::fs::read(&fb.path).unwrap());
    }
}

#[test]
fn a_file_counts_only_after_its_simulated_conversion_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = Run::new(&dir.path().join("log"), 2_000, 3_000, 4);
    let q = queries(&workload(), 4);
    let cfg =
        LakeConfig { tier_overhead_ms: 1_000.0, tier_cost_us_per_event: 1_000.0, ..lake_config() };
    let mut lake = Lake::new(&run.log, TOPIC, q, &cfg, &dir.path().join("cold")).unwrap();
    // Segments close at the first append after 2 s.
    let mut t = 0;
    while lake.tierer().files_written() == 0 {
        t += 100;
        run.advance(t);
        lake.tick(t, &run.log).unwrap();
    }
    let started = t;
    assert!(lake.tierer().files().is_empty(), "written but not yet tiered");
    assert_eq!(lake.tierer().tiered_end(), &[0, 0, 0]);
    let lag_before = lake.tierer().lag(&run.log).unwrap();
    // The first job: 1 s + 1 ms per event of the first closed segment.
    // The first job converts the first closed segment of the lowest partition that has one.
    let first_events = run
        .log
        .topic(TOPIC)
        .unwrap()
        .partitions()
        .iter()
        .find(|p| p.segments().len() > 1)
        .map(|p| p.segments()[0].next_offset)
        .unwrap();
    let done = started + 1_000 + first_events as i64;
    lake.tick(done - 1, &run.log).unwrap();
    assert!(lake.tierer().files().is_empty(), "not yet at {}", done - 1);
    lake.tick(done, &run.log).unwrap();
    assert_eq!(lake.tierer().files().len(), 1);
    assert_eq!(lake.tierer().files()[0].events, first_events);
    assert_eq!(lake.tierer().lag(&run.log).unwrap(), lag_before - first_events);
    // The object store layout is the segment's.
    assert!(
        ColdStore::object_name(TOPIC, 2, 42).ends_with("events/2/00000000000000000042.parquet")
    );
}

fn scenario(architectures: &str) -> Scenario {
    let text = format!(
        r#"
name = "lake-test"
seed = 5
architectures = [{architectures}]
duration_ms = 40_000
sample_every_ms = 1_000

[workload]
kind = "ads"
rate_per_sec = 300
partitions = 3
out_of_order_fraction = 0.2
max_delay_ms = 3_000
users = 500
campaigns = 10
ads_per_campaign = 5

[[queries]]
name = "campaign_window_count"
window_ms = 10_000

[[queries]]
name = "key_sum"
window_ms = 10_000
slide_ms = 5_000

[[queries]]
name = "distinct_users"
window_ms = 10_000

[batch]
interval_ms = 10_000
overhead_ms = 500.0
cost_us_per_event = 10.0

[lake]
segment_ms = 5_000
tier_overhead_ms = 200.0
tier_cost_us_per_event = 50.0
query_overhead_ms = 50.0
query_cost_us_per_event = 0.5
"#
    );
    Scenario::parse(&text, Path::new("lake-test.toml")).unwrap()
}

#[test]
fn a_simulated_run_of_the_streaming_lake_ends_equal_to_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let run = driver::simulate(&scenario(r#""streaming-lake""#), dir.path()).unwrap();
    assert!(run.converged);
    let lake = &run.architectures[0];
    assert_eq!(lake.id, "streaming-lake");
    assert_eq!(lake.final_view, run.oracle_final);
    // No serving layer, no job to wait for: exact at every sample.
    assert!(lake.samples.iter().all(|(_, s)| s.mean_rel == 0.0));
    assert_eq!(lake.never_visible, 0);
    // Visible one query after the append: at least the query overhead.
    assert!(lake.freshness.p50 >= 50, "{:?}", lake.freshness);
    assert!(lake.stats.cold_files >= 20, "{:?}", lake.stats);
    assert!(lake.stats.max_lake_lag_events > 0);
    let files =
        std::fs::read_dir(dir.path().join("cold").join("events").join("0")).unwrap().count();
    assert!(files > 0);
}

#[test]
fn batch_lake_and_lambda_with_polars_batches_end_equal_to_the_oracle() {
    let dir = tempfile::tempdir().unwrap();
    let run = driver::simulate(&scenario(r#""batch-lake", "lambda""#), dir.path()).unwrap();
    assert!(run.converged);
    for a in &run.architectures {
        assert_eq!(a.final_view, run.oracle_final, "{}", a.id);
        assert!(a.stats.batch_jobs >= 3, "{}: {:?}", a.id, a.stats);
    }
}

/// Wall-clock timing of the lake's query paths and the polars batch over ~100k events
/// (`cargo test --test integration lake::query_timing -- --ignored --nocapture`).
#[test]
#[ignore = "timing report, not a check"]
fn query_timing() {
    use lambda_workbench::batch::BatchCompute;
    use lambda_workbench::batch::lambda_polars::PolarsBatch;
    use std::time::Instant;

    let dir = tempfile::tempdir().unwrap();
    // 400 events/s for 250 s: 100k events.
    let mut run = Run::new(&dir.path().join("log"), 10_000, 250_000, 6);
    let q = queries(&workload(), 6);
    let cfg = LakeConfig { segment_ms: 10_000, ..LakeConfig::default() };
    let mut lake = Lake::new(&run.log, TOPIC, q.clone(), &cfg, &dir.path().join("cold")).unwrap();
    let start = Instant::now();
    let mut ticks = 0;
    for t in (0..=252_000).step_by(1_000) {
        run.advance(t);
        lake.tick(t, &run.log).unwrap();
        ticks += 1;
    }
    let tiering = start.elapsed();
    let events = lake.events_scanned(&run.log).unwrap();
    let start = Instant::now();
    let cached = lake.query(&run.log).unwrap();
    let cached_t = start.elapsed();
    let start = Instant::now();
    let full = lake.query_full_scan(&run.log).unwrap();
    let full_t = start.elapsed();
    assert_eq!(cached, full);
    let ends = lambda_workbench::arch::log_end_offsets(&run.log, TOPIC).unwrap();
    let hot: Vec<(u64, u64)> =
        lake.tierer().tiered_end().iter().zip(&ends).map(|(&t, &e)| (t, e)).collect();
    let start = Instant::now();
    let df =
        lambda_workbench::batch::lambda_polars::read_events(&run.log, TOPIC, &hot, "lake").unwrap();
    let read_t = start.elapsed();
    let start = Instant::now();
    for spec in &q.specs {
        let s = Instant::now();
        let plan = lambda_workbench::batch::lambda_polars::query_plan(df.clone().lazy(), spec, &q)
            .unwrap();
        let out = plan.collect().unwrap();
        println!("  {:?}: {:?} ({} rows)", spec.kind, s.elapsed(), out.height());
    }
    println!("hot {} events: read {read_t:?}, queries {:?}", df.height(), start.elapsed());
    let start = Instant::now();
    let (_, read) = PolarsBatch::new().compute(&run.log, TOPIC, &ends, &q).unwrap();
    let batch_t = start.elapsed();
    println!(
        "events {events} (batch read {read}), files {}, cells {}: {ticks} ticks with tiering {:?}; \
         lake query cached {cached_t:?}, full scan {full_t:?}; polars batch {batch_t:?}",
        lake.tierer().files().len(),
        cached.len(),
        tiering
    );
}
