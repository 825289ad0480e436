//! `lambda-unified`: each query written once as a monoid aggregation, run by a rayon batch
//! runner and a streaming runner. These tests check the runners against the exact oracle, on
//! any split of the log between batch and stream, the monoid laws the splits rely on, that the
//! stream contributions equal lambda's hand-written operators, the architecture end to end, and
//! that each query really is defined once.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use lambda_workbench::batch::BatchCompute;
use lambda_workbench::batch::columns::ColumnCache;
use lambda_workbench::batch::lambda_polars::PolarsBatch;
use lambda_workbench::driver;
use lambda_workbench::hll::Hll;
use lambda_workbench::log::{FsyncPolicy, Log, LogConfig, ManualClock, Producer, ProducerConfig};
use lambda_workbench::log::{Offset, Record};
use lambda_workbench::oracle::Oracle;
use lambda_workbench::query::unified::batch::{fold_events, sum_views};
use lambda_workbench::query::unified::{
    AggMonoid, DEFINITIONS, Definition, Item, Monoid, MonoidBatch, MonoidStream,
};
use lambda_workbench::query::{
    Agg, Cell, QueryKind, QuerySet, QuerySpec, Table, View, merge_into, present,
};
use lambda_workbench::scenario::{KeyDistribution, Scenario, Workload, WorkloadKind};
use lambda_workbench::speed::StreamCompute;
use lambda_workbench::speed::operators::HandWritten;
use lambda_workbench::workload::{self, AdType, Campaigns, Event, EventFields, decode};

const TOPIC: &str = "events";

/// A small workload: `kind`, a third of the events out of order by up to 4 s.
fn workload(kind: WorkloadKind, partitions: u32) -> Workload {
    Workload {
        kind,
        rate_per_sec: 400,
        keys: 20,
        key_distribution: KeyDistribution::Zipf,
        partitions,
        out_of_order_fraction: 0.3,
        max_delay_ms: 4_000,
        users: 300,
        campaigns: 8,
        ads_per_campaign: 5,
        ..Workload::default()
    }
}

/// All four queries over `window_ms` windows sliding by `slide_ms`; `distinct_users` twice
/// when `approximate` (exact, then HyperLogLog).
fn queries(w: &Workload, seed: u64, window_ms: i64, slide_ms: i64, approximate: bool) -> QuerySet {
    let mut kinds: Vec<(QueryKind, bool)> = QueryKind::ALL.iter().map(|k| (*k, false)).collect();
    if approximate {
        kinds.push((QueryKind::DistinctUsers, true));
    }
    let specs = kinds
        .into_iter()
        .enumerate()
        .map(|(id, (kind, approximate))| QuerySpec {
            id: id as u8,
            kind,
            window_ms,
            slide_ms,
            approximate,
            hll_precision: 8,
            exclude_bots: false,
        })
        .collect();
    QuerySet { specs, campaigns: Arc::new(Campaigns::new(w, seed)), ttl_ms: None }
}

/// The workload's events appended to a fresh log in `dir`, the way the driver appends them.
fn build_log(dir: &Path, w: &Workload, seed: u64, duration_ms: i64) -> (Log, Vec<Event>) {
    let config = LogConfig { fsync: FsyncPolicy::Never, ..LogConfig::default() };
    let mut log = Log::open(dir, config, Arc::new(ManualClock::new(0))).unwrap();
    log.create_topic(TOPIC, w.partitions).unwrap();
    let events = workload::generate(w, seed, duration_ms);
    let mut producer = Producer::new(ProducerConfig { linger_ms: 0, max_batch_bytes: 64 * 1024 });
    for e in &events {
        let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes());
        producer.send(&log, TOPIC, record).unwrap();
    }
    producer.flush(&log).unwrap();
    (log, events)
}

fn oracle_table(log: &Log, qs: &QuerySet) -> Table {
    let mut oracle = Oracle::new(log, TOPIC, qs).unwrap();
    oracle.catch_up(log).unwrap();
    oracle.table()
}

fn log_end(log: &Log) -> Vec<Offset> {
    let topic = log.topic(TOPIC).unwrap();
    (0..topic.partition_count()).map(|p| topic.partition(p).unwrap().log_end_offset()).collect()
}

/// The events of each partition from `from[p]` to its end, decoded.
fn read_from(log: &Log, from: &[Offset]) -> Vec<EventFields> {
    let topic = log.topic(TOPIC).unwrap();
    let mut out = Vec::new();
    for (p, &start) in from.iter().enumerate() {
        let partition = topic.partition(p as u32).unwrap();
        for r in partition.read(start, usize::MAX).unwrap() {
            let record = &r.record;
            out.push(decode(record.key.as_deref(), &record.value, record.timestamp_ms).unwrap());
        }
    }
    out
}

/// Folds the stream runner's contributions for `events` into `view`, one by one, as a stream
/// job merges them into its windows.
fn stream_into(view: &mut View, stream: &MonoidStream, events: &[EventFields]) {
    let mut out = Vec::new();
    for e in events {
        out.clear();
        stream.contributions(e, &mut out);
        for (cell, agg) in out.drain(..) {
            merge_into(view, &View::from([(cell, agg)]));
        }
    }
}

/// Exact queries only (the approximate one is not comparable with the oracle).
fn exact(table: &Table, qs: &QuerySet) -> Table {
    table
        .iter()
        .filter(|(c, _)| !qs.spec(c.query).unwrap().approximate)
        .map(|(c, n)| (c.clone(), *n))
        .collect()
}

/// Batch over `cutoff`, stream over the rest, against the oracle.
fn check_split(log: &Log, qs: &Arc<QuerySet>, cutoff: &[Offset]) -> Result<(), String> {
    let (mut view, read) = MonoidBatch::new().compute(log, TOPIC, cutoff, qs).unwrap();
    let expected_read: u64 = cutoff.iter().sum();
    if read != expected_read {
        return Err(format!("batch read {read} events, cut-off holds {expected_read}"));
    }
    stream_into(&mut view, &MonoidStream::new(qs.clone()), &read_from(log, cutoff));
    let (got, want) = (exact(&present(&view), qs), oracle_table(log, qs));
    if got != want {
        let diff: Vec<_> = want
            .iter()
            .filter(|(c, n)| got.get(*c) != Some(*n))
            .take(5)
            .map(|(c, n)| format!("{c:?}: want {n}, got {:?}", got.get(c)))
            .collect();
        return Err(format!("cut-off {cutoff:?}: {} cells differ, e.g. {diff:?}", want.len()));
    }
    Ok(())
}

#[test]
fn batch_over_the_whole_log_equals_the_oracle() {
    for (kind, window, slide) in [
        (WorkloadKind::Keyed, 10_000, 10_000),
        (WorkloadKind::Ads, 10_000, 10_000),
        (WorkloadKind::Keyed, 10_000, 2_500),
        (WorkloadKind::Ads, 6_000, 4_000),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(kind, 3);
        let (log, events) = build_log(dir.path(), &w, 7, 30_000);
        assert!(events.iter().filter(|e| e.event_time_ms < e.arrival_ms).count() > 1_000);
        let qs = queries(&w, 7, window, slide, false);
        let (view, read) = MonoidBatch::new().compute(&log, TOPIC, &log_end(&log), &qs).unwrap();
        assert_eq!(read, events.len() as u64);
        let oracle = oracle_table(&log, &qs);
        // Keyed events have no ads, so no campaign counts; every other query has answers.
        let answered = oracle.keys().map(|c| c.query).collect::<BTreeSet<_>>().len();
        assert_eq!(answered, if kind == WorkloadKind::Ads { 4 } else { 3 });
        assert_eq!(present(&view), oracle, "{kind:?} window {window} slide {slide}");
        // Rayon splits the work by thread count and stealing; the view must not notice.
        for threads in [1, 2, 5] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let (again, _) = pool
                .install(|| MonoidBatch::new().compute(&log, TOPIC, &log_end(&log), &qs))
                .unwrap();
            assert_eq!(again, view, "{threads} threads");
        }
    }
}

#[test]
fn batch_prefix_plus_stream_suffix_equals_the_oracle_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let w = workload(WorkloadKind::Ads, 4);
    let (log, _) = build_log(dir.path(), &w, 11, 20_000);
    let qs = Arc::new(queries(&w, 11, 10_000, 5_000, false));
    let end = log_end(&log);
    for fraction in [0.0, 0.2, 0.5, 0.97, 1.0] {
        let cutoff: Vec<Offset> = end.iter().map(|e| (*e as f64 * fraction) as Offset).collect();
        check_split(&log, &qs, &cutoff).unwrap();
    }
    // Uneven cuts: one partition all batch, another all stream.
    let cutoff: Vec<Offset> =
        end.iter().enumerate().map(|(p, e)| if p % 2 == 0 { *e } else { 0 }).collect();
    check_split(&log, &qs, &cutoff).unwrap();
}

#[test]
fn approximate_distinct_users_is_a_sketch_in_batch_too() {
    let dir = tempfile::tempdir().unwrap();
    let w = workload(WorkloadKind::Ads, 2);
    let (log, _) = build_log(dir.path(), &w, 5, 20_000);
    let qs = Arc::new(queries(&w, 5, 10_000, 10_000, true));
    let approx = qs.specs.iter().find(|s| s.approximate).unwrap().id;
    let end = log_end(&log);
    let (full, _) = MonoidBatch::new().compute(&log, TOPIC, &end, &qs).unwrap();
    let cells: Vec<_> = full.iter().filter(|(c, _)| c.query == approx).collect();
    assert!(!cells.is_empty());
    assert!(cells.iter().all(|(_, a)| matches!(a, Agg::Sketch(h) if h.precision() == 8)));
    // Batch + stream merge sketches register by register: the same sketch at every cut.
    let half: Vec<Offset> = end.iter().map(|e| e / 2).collect();
    let (mut split, _) = MonoidBatch::new().compute(&log, TOPIC, &half, &qs).unwrap();
    stream_into(&mut split, &MonoidStream::new(qs.clone()), &read_from(&log, &half));
    assert_eq!(split, full);
    // And the estimates stay within the sketch's error of the exact twin query.
    let exact_id = qs.specs.iter().find(|s| s.kind == QueryKind::DistinctUsers).unwrap().id;
    let bound = 4.0 * Hll::relative_error_bound(8);
    for (cell, agg) in cells {
        let twin = Cell { query: exact_id, ..cell.clone() };
        let truth = full[&twin].present() as f64;
        let err = (agg.present() as f64 - truth).abs() / truth;
        assert!(err <= bound, "{cell:?}: estimate {} vs {truth}", agg.present());
    }
}

fn split_randomly<T: Clone>(items: &[T], rng: &mut ChaCha8Rng) -> Vec<Vec<T>> {
    let mut chunks = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let n = rng.gen_range(0..=rest.len().min(200));
        let (head, tail) = rest.split_at(n);
        chunks.push(head.to_vec());
        rest = tail;
    }
    chunks
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random seeds, partition counts, windows and cut-offs: batch prefix + stream suffix is
    /// always the oracle.
    #[test]
    fn any_split_between_batch_and_stream_equals_the_oracle(
        seed in 0u64..1_000,
        ads in any::<bool>(),
        partitions in 1u32..5,
        window_ms in 1_000i64..15_000,
        slides in 1i64..4,
        cuts in proptest::collection::vec(0.0f64..=1.0, 4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(if ads { WorkloadKind::Ads } else { WorkloadKind::Keyed }, partitions);
        let (log, _) = build_log(dir.path(), &w, seed, 8_000);
        let slide_ms = (window_ms / slides).max(1);
        let qs = Arc::new(queries(&w, seed, window_ms, slide_ms, false));
        let cutoff: Vec<Offset> = log_end(&log)
            .iter()
            .zip(&cuts)
            .map(|(e, f)| (*e as f64 * f) as Offset)
            .collect();
        check_split(&log, &qs, &cutoff).map_err(TestCaseError::fail)?;
    }

    /// The batch fold of any chunking of the events, summed in any order, is the fold of all
    /// of them: what lets rayon split the work however it likes.
    #[test]
    fn batch_result_does_not_depend_on_how_the_work_is_split(
        seed in 0u64..1_000,
        ads in any::<bool>(),
        window_ms in 1_000i64..12_000,
        slides in 1i64..4,
        approximate in any::<bool>(),
    ) {
        let w = workload(if ads { WorkloadKind::Ads } else { WorkloadKind::Keyed }, 1);
        let events: Vec<EventFields> =
            workload::generate(&w, seed, 5_000).iter().map(Event::fields).collect();
        let qs = queries(&w, seed, window_ms, (window_ms / slides).max(1), approximate);
        let whole = fold_events(&events, &qs);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut partials: Vec<View> =
            split_randomly(&events, &mut rng).iter().map(|c| fold_events(c, &qs)).collect();
        partials.shuffle(&mut rng);
        // Reduce as a random tree, not left to right.
        while partials.len() > 1 {
            let i = rng.gen_range(0..partials.len() - 1);
            let b = partials.remove(i + 1);
            let a = partials.remove(i);
            partials.insert(i, sum_views(a, &b));
        }
        let summed = partials.pop().unwrap_or_default();
        prop_assert_eq!(summed, whole);
    }
}

// ---- the master dataset in columns ---------------------------------------------------------

/// The batch runner reads the column cache the run's other batch layers fill: each record is
/// decoded once, whoever reads it first, and every recompute (growing or shrinking cut-offs,
/// segments cached whole or extended) gives the view a cold read of the log gives.
#[test]
fn batch_reads_the_shared_column_cache_and_decodes_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = workload(WorkloadKind::Ads, 2);
    let config =
        LogConfig { fsync: FsyncPolicy::Never, segment_bytes: 16 * 1024, ..LogConfig::default() };
    let mut log = Log::open(dir.path(), config, Arc::new(ManualClock::new(0))).unwrap();
    log.create_topic(TOPIC, w.partitions).unwrap();
    let events = workload::generate(&w, 3, 20_000);
    let mut producer = Producer::new(ProducerConfig { linger_ms: 0, max_batch_bytes: 64 * 1024 });
    for e in &events {
        let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes());
        producer.send(&log, TOPIC, record).unwrap();
    }
    producer.flush(&log).unwrap();
    assert!(log.topic(TOPIC).unwrap().partition(0).unwrap().segments().len() > 3);
    let qs = queries(&w, 3, 10_000, 5_000, true);
    let end = log_end(&log);
    let cold = |cutoff: &[Offset]| {
        MonoidBatch::with_cache(Arc::new(ColumnCache::new(0)))
            .compute(&log, TOPIC, cutoff, &qs)
            .unwrap()
    };
    let shared = Arc::new(ColumnCache::default());
    let unified = MonoidBatch::with_cache(shared.clone());
    // Cut-offs inside segments, growing (the columns are extended), then shrinking.
    let cuts: Vec<Vec<Offset>> = [0.3, 0.6, 1.0, 0.45]
        .iter()
        .map(|f| end.iter().map(|e| (*e as f64 * f) as Offset).collect())
        .collect();
    for cutoff in &cuts {
        assert_eq!(unified.compute(&log, TOPIC, cutoff, &qs).unwrap(), cold(cutoff), "{cutoff:?}");
    }
    let decoded = shared.stats().records_decoded;
    assert_eq!(decoded, events.len() as u64, "each record decoded once");
    assert!(shared.stats().hits > 0);
    // lambda's batch layer then reads the same columns without decoding anything.
    PolarsBatch::with_cache(shared.clone()).compute(&log, TOPIC, &end, &qs).unwrap();
    assert_eq!(shared.stats().records_decoded, decoded);
    assert_eq!(unified.compute(&log, TOPIC, &end, &qs).unwrap(), cold(&end));
    assert_eq!(shared.stats().records_decoded, decoded);
}

/// The cache keeps only the query-input fields (an event read back from columns has no page or
/// ad type): the definitions must not read the others, or batch and stream would disagree.
#[test]
fn the_definitions_read_only_the_cached_fields() {
    let w = workload(WorkloadKind::Ads, 2);
    let events: Vec<EventFields> = workload::generate(&w, 9, 20_000)
        .iter()
        .map(|e| decode(Some(e.key.as_bytes()), &e.value(), e.event_time_ms).unwrap())
        .collect();
    assert!(events.iter().map(|e| (e.page_id, e.ad_type)).collect::<BTreeSet<_>>().len() > 10);
    let blanked: Vec<EventFields> = events
        .iter()
        .map(|e| EventFields { page_id: 0, ad_type: AdType::Banner, ..e.clone() })
        .collect();
    for (window, slide) in [(10_000, 10_000), (10_000, 2_500)] {
        let qs = queries(&w, 9, window, slide, true);
        assert_eq!(fold_events(&blanked, &qs), fold_events(&events, &qs));
    }
}

// ---- monoid laws -------------------------------------------------------------------------

fn any_monoid() -> impl Strategy<Value = AggMonoid> {
    prop_oneof![
        Just(AggMonoid::Sum),
        Just(AggMonoid::Users),
        (4u8..=8).prop_map(|precision| AggMonoid::Sketch { precision }),
    ]
}

/// Items that fit `monoid`.
fn items(monoid: AggMonoid) -> BoxedStrategy<Vec<Item>> {
    match monoid {
        AggMonoid::Sum => {
            proptest::collection::vec((-1_000i64..1_000).prop_map(Item::Amount), 0..20).boxed()
        }
        _ => proptest::collection::vec((0u64..500).prop_map(Item::Id), 0..40).boxed(),
    }
}

fn value(monoid: AggMonoid, items: &[Item]) -> Agg {
    let mut v = monoid.zero();
    items.iter().for_each(|i| monoid.absorb(&mut v, *i));
    v
}

fn plus(monoid: AggMonoid, a: &Agg, b: &Agg) -> Agg {
    let mut out = a.clone();
    monoid.plus(&mut out, b);
    out
}

fn monoid_and_three_values() -> impl Strategy<Value = (AggMonoid, Vec<Item>, Vec<Item>, Vec<Item>)>
{
    any_monoid().prop_flat_map(|m| (Just(m), items(m), items(m), items(m)))
}

proptest! {
    #[test]
    fn zero_is_the_identity((m, a, _, _) in monoid_and_three_values()) {
        let a = value(m, &a);
        prop_assert_eq!(plus(m, &m.zero(), &a), a.clone());
        prop_assert_eq!(plus(m, &a, &m.zero()), a);
    }

    #[test]
    fn plus_is_associative((m, a, b, c) in monoid_and_three_values()) {
        let (a, b, c) = (value(m, &a), value(m, &b), value(m, &c));
        prop_assert_eq!(plus(m, &plus(m, &a, &b), &c), plus(m, &a, &plus(m, &b, &c)));
    }

    #[test]
    fn plus_is_commutative((m, a, b, _) in monoid_and_three_values()) {
        let (a, b) = (value(m, &a), value(m, &b));
        prop_assert_eq!(plus(m, &a, &b), plus(m, &b, &a));
    }

    /// The batch fold absorbs items in place; the stream lifts them and merges: the same.
    #[test]
    fn absorbing_an_item_is_adding_its_lift((m, a, b, _) in monoid_and_three_values()) {
        let mut absorbed = value(m, &a);
        let mut added = absorbed.clone();
        for item in &b {
            m.absorb(&mut absorbed, *item);
            m.plus(&mut added, &m.lift(*item));
        }
        prop_assert_eq!(&absorbed, &added);
        prop_assert_eq!(absorbed, value(m, &[a, b].concat()));
    }
}

// ---- the stream runner and lambda's hand-written operators --------------------------------

fn sorted(mut contributions: Vec<(Cell, Agg)>) -> Vec<(Cell, Agg)> {
    contributions.sort_by(|a, b| a.0.cmp(&b.0));
    contributions
}

#[test]
fn stream_contributions_match_the_hand_written_operators() {
    for (kind, window, slide, approximate) in [
        (WorkloadKind::Keyed, 10_000, 10_000, false),
        (WorkloadKind::Ads, 10_000, 10_000, false),
        (WorkloadKind::Ads, 9_000, 2_000, true),
        (WorkloadKind::Keyed, 5_000, 1_000, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let w = workload(kind, 2);
        let (log, _) = build_log(dir.path(), &w, 3, 10_000);
        let qs = Arc::new(queries(&w, 3, window, slide, approximate));
        let (unified, hand) = (MonoidStream::new(qs.clone()), HandWritten::new(qs.clone()));
        let mut events = read_from(&log, &[0; 2]);
        // Events the generator never makes: an unknown ad, a click on one.
        let mut odd = events[0].clone();
        odd.key = "ad-999999".into();
        events.push(odd.clone());
        odd.key = "ad-000001".into();
        odd.event_type = lambda_workbench::workload::EventType::Click;
        events.push(odd);
        let mut emitted = 0;
        for e in &events {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            unified.contributions(e, &mut a);
            hand.contributions(e, &mut b);
            emitted += a.len();
            assert_eq!(sorted(a), sorted(b), "{kind:?} {e:?}");
        }
        assert!(emitted >= events.len() * (window / slide) as usize);
    }
}

// ---- end to end ---------------------------------------------------------------------------

const E2E_KEYED: &str = r#"
name = "unified-keyed"
description = "lambda-unified and kappa on keyed events"
seed = 17
architectures = ["lambda-unified", "kappa"]
duration_ms = 60_000
sample_every_ms = 1_000

[workload]
rate_per_sec = 200
keys = 30
key_distribution = "zipf"
partitions = 3
out_of_order_fraction = 0.2
max_delay_ms = 3_000
users = 500

[[queries]]
name = "key_window_count"
window_ms = 10_000

[[queries]]
name = "key_sum"
window_ms = 10_000
slide_ms = 5_000

[[queries]]
name = "distinct_users"
window_ms = 10_000

[speed]
poll_interval_ms = 500
overhead_ms = 5.0
cost_us_per_event = 2.0
watermark_delay_ms = 0
allowed_lateness_ms = 3_000

[batch]
interval_ms = 15_000
overhead_ms = 1_000.0
cost_us_per_event = 20.0
"#;

fn e2e_ads(approximate: bool) -> String {
    format!(
        r#"
name = "unified-ads"
description = "lambda-unified and kappa on YSB ad events"
seed = 23
architectures = ["lambda-unified", "kappa"]
duration_ms = 60_000
sample_every_ms = 1_000

[workload]
kind = "ads"
rate_per_sec = 200
partitions = 2
campaigns = 10
ads_per_campaign = 5
out_of_order_fraction = 0.3
max_delay_ms = 2_000
users = 2_000

[[queries]]
name = "campaign_window_count"
window_ms = 10_000

[[queries]]
name = "distinct_users"
window_ms = 10_000
slide_ms = 5_000
approximate = {approximate}
hll_precision = 10

[speed]
poll_interval_ms = 500
overhead_ms = 5.0
cost_us_per_event = 2.0
watermark_delay_ms = 500
allowed_lateness_ms = 2_000

[batch]
interval_ms = 20_000
overhead_ms = 1_000.0
cost_us_per_event = 20.0
"#
    )
}

fn simulate(text: &str) -> driver::RunResult {
    let scenario = Scenario::parse(text, Path::new("tests/unified.rs")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    driver::simulate(&scenario, dir.path()).unwrap()
}

#[test]
fn end_to_end_lambda_unified_and_kappa_end_exactly_at_the_oracle() {
    for text in [E2E_KEYED.to_owned(), e2e_ads(false)] {
        let run = simulate(&text);
        assert!(run.converged, "every architecture settles");
        assert!(run.out_of_order_events > 1_000);
        assert!(!run.oracle_final.is_empty());
        assert_eq!(run.architectures.len(), 2);
        for a in &run.architectures {
            assert_eq!(a.final_view, run.oracle_final, "{}: final answers", a.id);
            assert_eq!(a.final_error.mean_rel, 0.0);
            assert_eq!(a.stats.late_events, 0, "{}: lateness covers every delay", a.id);
            assert_eq!(a.stats.audit_max_double_counted, 0, "{}", a.id);
            assert_eq!(a.stats.audit_max_missing, 0, "{}", a.id);
        }
        let unified = run.architectures.iter().find(|a| a.id == "lambda-unified").unwrap();
        assert!(unified.stats.batch_jobs >= 3, "batch views took part in the answers");
        assert!(unified.stats.batch_events_read > 0);
        // Never more than the oracle at any sample: no double count at a batch handoff.
        assert!(unified.samples.iter().all(|(_, s)| s.excess == 0));
    }
}

#[test]
fn end_to_end_approximate_distinct_users_equals_kappa_sketch_for_sketch() {
    let run = simulate(&e2e_ads(true));
    assert!(run.converged);
    let view = |id: &str| &run.architectures.iter().find(|a| a.id == id).unwrap().final_view;
    // Batch sketches + speed sketches merge into exactly the sketch kappa builds event by
    // event, so the served estimates are equal; both are approximate, not the oracle.
    assert_eq!(view("lambda-unified"), view("kappa"));
    let bound = 4.0 * Hll::relative_error_bound(10);
    for (cell, truth) in &run.oracle_final {
        let got = view("lambda-unified")[cell];
        let err = (got - truth).abs() as f64 / *truth as f64;
        assert!(err <= bound, "{cell:?}: {got} vs {truth}");
    }
}

// ---- written once -------------------------------------------------------------------------

const DEFINITIONS_RS: &str = include_str!("../src/query/unified/definitions.rs");
const RUNNERS_RS: [(&str, &str); 3] = [
    ("mod.rs", include_str!("../src/query/unified/mod.rs")),
    ("batch.rs", include_str!("../src/query/unified/batch.rs")),
    ("stream.rs", include_str!("../src/query/unified/stream.rs")),
];

/// Source without comments (`//` to end of line), so prose does not count as code.
fn code(source: &str) -> String {
    source.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn variant(kind: QueryKind) -> String {
    format!("{kind:?}")
}

#[test]
fn each_query_is_defined_once_and_the_runners_know_no_query() {
    let definitions = code(DEFINITIONS_RS);
    // One `Definition { kind: QueryKind::X, ... }` per query in the source, and no other
    // mention of the query (no match arm special-casing it).
    assert_eq!(definitions.matches("Definition {").count(), QueryKind::ALL.len());
    for kind in QueryKind::ALL {
        let name = format!("QueryKind::{}", variant(kind));
        assert_eq!(definitions.matches(&format!("kind: {name},")).count(), 1, "{name}");
        assert_eq!(definitions.matches(&name).count(), 1, "{name} mentioned elsewhere");
    }
    // The query-specific logic appears there once each: the YSB filter and join, the value
    // summed, the user counted.
    for logic in ["EventType::View", "e.value", "e.user_id"] {
        assert_eq!(definitions.matches(logic).count(), 1, "{logic}");
    }
    // The runners execute definitions; they name no query and touch no event field or table.
    for (file, source) in RUNNERS_RS {
        let source = code(source);
        for variant in QueryKind::ALL.map(variant) {
            assert!(!source.contains(&variant), "{file} names the query {variant}");
        }
        for field in [
            "campaign_of",
            "EventType",
            ".user_id",
            ".event_type",
            "e.value",
            "e.key",
            "event.key",
            "event.value",
        ] {
            assert!(
                !source.contains(field),
                "{file} reads `{field}`: query logic outside definitions"
            );
        }
    }
    // And at run time: exactly one definition per query kind, found by both runners.
    for kind in QueryKind::ALL {
        assert_eq!(DEFINITIONS.iter().filter(|d| d.kind == kind).count(), 1, "{kind:?}");
        assert!(Definition::of(kind).is_some());
    }
}

#[test]
fn lambda_by_contrast_writes_each_query_again_in_its_speed_layer() {
    // The hand-written operators name every query: a second place to edit for a logic change,
    // on top of the batch layer's DataFrame code. lambda-unified's runners name none (above).
    let operators = code(include_str!("../src/speed/operators.rs"));
    for kind in QueryKind::ALL {
        assert!(operators.contains(&format!("QueryKind::{}", variant(kind))), "{kind:?}");
    }
}

// ---- throughput (informational) -----------------------------------------------------------

/// Prints events/s of both runners; `cargo test --release --test integration -- --ignored
/// --nocapture unified::throughput`. Shows the cost of lifting one user into a whole sketch per event on
/// the stream path, which the batch fold avoids by absorbing in place.
#[test]
#[ignore = "timing, run by hand in release"]
fn throughput_of_the_runners() {
    let dir = tempfile::tempdir().unwrap();
    let w = Workload { rate_per_sec: 20_000, ..workload(WorkloadKind::Ads, 4) };
    let (log, events) = build_log(dir.path(), &w, 1, 50_000);
    for approximate in [false, true] {
        let mut qs = queries(&w, 1, 10_000, 10_000, approximate);
        qs.specs.iter_mut().for_each(|s| s.hll_precision = 12);
        let qs = Arc::new(qs);
        let n = events.len() as f64;
        let started = std::time::Instant::now();
        let (view, _) = MonoidBatch::new().compute(&log, TOPIC, &log_end(&log), &qs).unwrap();
        let batch = started.elapsed().as_secs_f64();
        let decoded = read_from(&log, &[0; 4]);
        let stream = MonoidStream::new(qs.clone());
        let started = std::time::Instant::now();
        let mut streamed = View::new();
        let mut out = Vec::new();
        for e in &decoded {
            stream.contributions(e, &mut out);
            for (cell, agg) in out.drain(..) {
                match streamed.get_mut(&cell) {
                    Some(existing) => existing.merge(&agg),
                    None => {
                        streamed.insert(cell, agg);
                    }
                }
            }
        }
        let streaming = started.elapsed().as_secs_f64();
        assert_eq!(streamed, view);
        println!(
            "approximate={approximate}: {n} events; batch (read + fold) {:.0} ev/s, \
             stream (contributions + merge) {:.0} ev/s",
            n / batch,
            n / streaming
        );
    }
}
