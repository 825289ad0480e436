//! Scale-out and scale-in: partition reassignment across added and removed brokers, and
//! consumer groups rebalancing as members come and go.
//!
//! - A reassignment moves every record: the new replicas hold the leader's log record for
//!   record, offset for offset, and the old replicas are gone from disk.
//! - Under `acks = all`, nothing acknowledged is lost while partitions move, even with brokers
//!   crashing in the middle and a lossy, bandwidth-limited network (property test over seeds).
//! - A consumer group under random joins, graceful leaves, deaths and commits delivers every
//!   record at least once, and the only duplicates are the records dead members had processed
//!   but not committed (property test).
//! - Scenario mistakes (removing too many brokers, naming a broker or member that is not
//!   there, membership faults without their section) are errors naming file, line and field.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lambda_workbench::cluster::{Acks, Cluster, ClusterConfig, ClusterError, Produced};
use lambda_workbench::log::coordinator::{Assignor, GroupConfig, GroupRun};
use lambda_workbench::log::{FsyncPolicy, Log, LogConfig, ManualClock, Offset, Record};
use lambda_workbench::scenario::Scenario;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn log_config() -> LogConfig {
    LogConfig {
        fsync: FsyncPolicy::Never,
        segment_bytes: 2_000,
        index_interval_bytes: 200,
        ..LogConfig::default()
    }
}

fn config(brokers: u32, loss: f64, bandwidth: u64, throttle: u64, seed: u64) -> ClusterConfig {
    ClusterConfig {
        brokers,
        replication_factor: 3,
        min_insync_replicas: 2,
        replica_lag_time_max_ms: 200,
        network_latency_ms: 2,
        network_loss: loss,
        fetch_max_records: 50,
        fetch_max_bytes: 600,
        bandwidth_bytes_per_ms: bandwidth,
        reassignment_throttle_bytes_per_ms: throttle,
        seed,
        log: log_config(),
        ..ClusterConfig::default()
    }
}

fn record(id: u64) -> Record {
    Record::new(format!("write-{id:06}"), id as i64).with_key(format!("k{}", id % 7))
}

/// A replica's records with their offsets (the append time is each replica's own clock).
fn records(cluster: &Cluster, broker: u32, partition: u32) -> Vec<(Offset, Record)> {
    let stored = cluster.replica_records(broker, partition).unwrap();
    stored.into_iter().map(|s| (s.offset, s.record)).collect()
}

/// Every replica of every partition holds its leader's records, offset for offset.
fn assert_replicas_match_leader(cluster: &Cluster) {
    for p in 0..cluster.partition_count() {
        let leader = cluster.leader(p).expect("a leader");
        let want = records(cluster, leader, p);
        for b in cluster.replicas(p) {
            let got = records(cluster, b, p);
            let first = want.iter().zip(&got).position(|(x, y)| x != y);
            assert!(
                first.is_none() && want.len() == got.len(),
                "partition {p}: broker {b} differs from leader {leader} at index {first:?} \
                 (lengths {} and {})",
                got.len(),
                want.len()
            );
        }
    }
}

/// Ticks one ms at a time until no partition is being reassigned, every replica is in sync
/// and the high watermark is the log end (or `limit` ms pass).
fn settle(cluster: &mut Cluster, clock: &ManualClock, now: &mut i64, limit: i64) -> bool {
    let until = *now + limit;
    while *now < until {
        *now += 1;
        clock.set(*now);
        cluster.tick(*now).unwrap();
        let settled =
            cluster.reassigning() == 0
                && (0..cluster.partition_count()).all(|p| {
                    let Some(l) = cluster.leader(p) else { return false };
                    let end = cluster.log_end_offset(l, p);
                    cluster.replicas(p).iter().all(|&b| {
                        cluster.log_end_offset(b, p) == end && cluster.isr(p).contains(&b)
                    }) && cluster.high_watermark(p) == end.unwrap_or(0)
                });
        if settled {
            return true;
        }
    }
    false
}

#[test]
fn adding_a_broker_moves_every_record_and_deletes_the_old_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut cluster =
        Cluster::open(dir.path(), 4, config(3, 0.0, 200, 0, 1), clock.clone()).unwrap();
    let mut now = 0;
    let mut id = 0;
    let mut produce = |cluster: &mut Cluster, n: u64| {
        for _ in 0..n {
            id += 1;
            let p = (id % 4) as u32;
            match cluster.produce(p, &[record(id)], Acks::One) {
                Ok(_) | Err(ClusterError::LeaderMoving(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    };
    for _ in 0..50 {
        produce(&mut cluster, 20);
        now += 5;
        clock.set(now);
        cluster.tick(now).unwrap();
    }
    assert!(settle(&mut cluster, &clock, &mut now, 5_000));
    let before: BTreeMap<u32, Vec<u32>> = (0..4).map(|p| (p, cluster.replicas(p))).collect();
    let new = cluster.add_broker();
    assert_eq!(new, 3);
    let moving = cluster.rebalance(now).unwrap();
    assert!(moving >= 3, "12 replicas on 4 brokers: 3 move to the new one ({moving})");
    // Writes go on while the data moves.
    for _ in 0..40 {
        produce(&mut cluster, 5);
        now += 5;
        clock.set(now);
        cluster.tick(now).unwrap();
    }
    assert!(settle(&mut cluster, &clock, &mut now, 60_000), "reassignment finishes");
    let stats = cluster.reassignment_stats().clone();
    assert_eq!(stats.partitions_moved, moving as u64);
    assert!(stats.bytes_moved > 0);
    assert_replicas_match_leader(&cluster);
    let mut per_broker = BTreeMap::new();
    for p in 0..4 {
        let after = cluster.replicas(p);
        assert_eq!(after.len(), 3, "replication factor kept");
        for &b in &after {
            *per_broker.entry(b).or_insert(0) += 1;
        }
        for b in before[&p].iter().filter(|b| !after.contains(b)) {
            assert!(!cluster.replica_path(*b, p).exists(), "old replica {b}/p{p} deleted");
            assert!(cluster.replica_records(*b, p).is_err());
        }
    }
    assert_eq!(per_broker.values().copied().collect::<Vec<_>>(), vec![3, 3, 3, 3]);
    // A leader moved to the new broker when it became the preferred replica.
    assert!((0..4).any(|p| cluster.leader(p) == Some(3)));
    assert_eq!(stats.bytes_moved, stats.partitions.iter().map(|r| r.bytes).sum::<u64>());
}

#[test]
fn decommissioning_moves_replicas_away_and_refuses_to_go_below_the_replication_factor() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut cluster = Cluster::open(dir.path(), 3, config(3, 0.0, 0, 0, 2), clock.clone()).unwrap();
    let err = cluster.decommission(1, 0).unwrap_err();
    assert!(matches!(err, ClusterError::Reassignment(_)), "{err}");
    assert_eq!(cluster.reassigning(), 0, "nothing moved after the refusal");
    let mut now = 0;
    for i in 0..60 {
        cluster.produce(i % 3, &[record(u64::from(i))], Acks::One).unwrap();
    }
    cluster.add_broker();
    cluster.decommission(1, now).unwrap();
    assert!(settle(&mut cluster, &clock, &mut now, 10_000));
    assert!(cluster.is_removed(1));
    assert!(!dir.path().join("broker-1").exists(), "its directory is gone");
    for p in 0..3 {
        assert!(!cluster.replicas(p).contains(&1));
        assert_eq!(cluster.high_watermark(p), 20);
    }
    assert_replicas_match_leader(&cluster);
    assert!(cluster.restart(1, now).is_err(), "a decommissioned broker does not come back");
}

#[test]
fn a_throttled_reassignment_copies_no_faster_than_the_throttle() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut cluster = Cluster::open(dir.path(), 1, config(3, 0.0, 0, 2, 3), clock.clone()).unwrap();
    let batch: Vec<Record> = (0..400).map(record).collect();
    cluster.produce(0, &batch, Acks::One).unwrap();
    let mut now = 0;
    assert!(settle(&mut cluster, &clock, &mut now, 5_000));
    cluster.add_broker();
    let start = now;
    cluster.reassign(0, vec![3, 1, 2], now).unwrap();
    assert!(settle(&mut cluster, &clock, &mut now, 100_000));
    let r = &cluster.reassignment_stats().partitions[0];
    // 2 bytes/ms, after a first bucket of 2 000 bytes.
    let bytes = r.bytes as i64;
    assert!(bytes > 2_000);
    assert!(now - start >= (bytes - 2_000) / 2, "{bytes} bytes in {} ms", now - start);
    assert_eq!(cluster.leader(0), Some(3), "the preferred replica leads");
    assert!(!cluster.replica_path(0, 0).exists());
}

/// A seeded schedule of `acks = all` writes, a scale-out and a scale-in, and random crashes
/// and restarts, on a lossy network with limited bandwidth and a random throttle. Returns the
/// number of acknowledged writes and how many of them the cluster lost.
fn chaos(seed: u64) -> (usize, u64) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let throttle = [0, 5, 50][rng.gen_range(0..3)];
    let mut cluster =
        Cluster::open(dir.path(), 3, config(3, 0.03, 100, throttle, seed), clock.clone()).unwrap();
    let mut acked: Vec<(u32, Offset, Record)> = Vec::new();
    let mut pending = BTreeMap::new();
    let mut next_id = 0u64;
    let mut now = 0;
    let add_at = rng.gen_range(20..80);
    let remove_at = rng.gen_range(100..200);
    let mut removed = None;
    for step in 0..300 {
        if step == add_at {
            cluster.add_broker();
            cluster.rebalance(now).unwrap();
        }
        if step == remove_at {
            let b = rng.gen_range(0..3);
            cluster.decommission(b, now).unwrap();
            removed = Some(b);
        }
        match rng.gen_range(0..100) {
            0..=69 => {
                let p = rng.gen_range(0..3);
                let batch: Vec<Record> = (0..rng.gen_range(1..4))
                    .map(|_| {
                        next_id += 1;
                        record(next_id)
                    })
                    .collect();
                match cluster.produce(p, &batch, Acks::All) {
                    Ok(Produced::Pending { ticket, base }) => {
                        pending.insert(ticket, (p, base, batch));
                    }
                    Ok(other) => panic!("acks = all answered {other:?}"),
                    Err(
                        ClusterError::NoLeader(_)
                        | ClusterError::NotEnoughReplicas { .. }
                        | ClusterError::LeaderMoving(_),
                    ) => {}
                    Err(e) => panic!("unexpected: {e}"),
                }
            }
            70..=73 => {
                let brokers = cluster.broker_ids();
                let b = brokers[rng.gen_range(0..brokers.len())];
                cluster.crash(b, now).unwrap();
            }
            74..=85 => {
                for b in cluster.broker_ids() {
                    if !cluster.is_alive(b) && rng.gen_bool(0.5) {
                        cluster.restart(b, now).unwrap();
                    }
                }
            }
            _ => {}
        }
        now += rng.gen_range(0..5);
        clock.set(now);
        cluster.tick(now).unwrap();
        for (ticket, outcome) in cluster.take_completed() {
            let (p, base, batch) = pending.remove(&ticket).unwrap();
            if outcome.is_ok() {
                acked.extend(batch.into_iter().enumerate().map(|(i, r)| (p, base + i as u64, r)));
            }
        }
    }
    for b in cluster.broker_ids() {
        if !cluster.is_alive(b) {
            cluster.restart(b, now).unwrap();
        }
    }
    assert!(settle(&mut cluster, &clock, &mut now, 200_000), "seed {seed}: settles");
    for (ticket, outcome) in cluster.take_completed() {
        let (p, base, batch) = pending.remove(&ticket).unwrap();
        if outcome.is_ok() {
            acked.extend(batch.into_iter().enumerate().map(|(i, r)| (p, base + i as u64, r)));
        }
    }
    assert_replicas_match_leader(&cluster);
    if let Some(b) = removed {
        assert!(cluster.is_removed(b), "seed {seed}: broker {b} decommissioned");
        assert!((0..3).all(|p| !cluster.replicas(p).contains(&b)));
    }
    assert!((0..3).all(|p| cluster.replicas(p).len() == 3));
    let lost = cluster.lost(&acked).unwrap();
    (acked.len(), lost)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn acks_all_loses_nothing_while_partitions_move(seed in any::<u64>()) {
        let (acked, lost) = chaos(seed);
        prop_assert!(acked > 0, "seed {}: some writes were acknowledged", seed);
        prop_assert_eq!(lost, 0, "seed {}: {} of {} acknowledged writes lost", seed, lost, acked);
    }
}

/// What a consumer-group schedule step does.
#[derive(Debug, Clone)]
enum Step {
    Append(u32),
    Join,
    Leave { member: usize, graceful: bool },
    Tick(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u32..30).prop_map(Step::Append),
        1 => Just(Step::Join),
        1 => (0usize..8, any::<bool>()).prop_map(|(member, graceful)| Step::Leave { member, graceful }),
        4 => (1i64..3_000).prop_map(Step::Tick),
    ]
}

fn assignor() -> impl Strategy<Value = Assignor> {
    prop_oneof![
        Just(Assignor::Range),
        Just(Assignor::RoundRobin),
        Just(Assignor::CooperativeSticky)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_group_delivers_everything_and_repeats_only_the_uncommitted(
        steps in prop::collection::vec(step(), 1..60),
        assignor in assignor(),
        members in 1u32..4,
        rate in prop_oneof![Just(0u64), 50u64..2_000],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let mut log = Log::open(dir.path(), log_config(), clock.clone()).unwrap();
        log.create_topic("t", 4).unwrap();
        let config = GroupConfig {
            group: "g".into(),
            topic: "t".into(),
            assignor,
            commit_interval_ms: 700,
            session_timeout_ms: 2_000,
            rebalance_ms: 300,
            member_events_per_sec: rate,
        };
        let mut group = GroupRun::new(&log, config, members, 0).unwrap();
        group.record_deliveries();
        let mut now = 0;
        let mut id = 0u64;
        let mut any_death = false;
        for s in steps {
            match s {
                Step::Append(n) => {
                    let topic = log.topic("t").unwrap();
                    for _ in 0..n {
                        id += 1;
                        topic.partition((id % 4) as u32).unwrap().append(&[record(id)]).unwrap();
                    }
                }
                Step::Join => {
                    group.join(&log, now).unwrap();
                }
                Step::Leave { member, graceful } => {
                    let ms = group.coordinator().members().to_vec();
                    if let Some(&m) = ms.get(member % ms.len().max(1)) {
                        any_death |= !graceful;
                        group.leave(&log, m, graceful, now).unwrap();
                    }
                }
                Step::Tick(ms) => {
                    now += ms;
                    clock.set(now);
                    group.tick(&log, now).unwrap();
                }
            }
        }
        // Someone must be left to read the end.
        group.join(&log, now).unwrap();
        let mut guard = 0;
        while !group.caught_up(&log).unwrap() {
            now += 100;
            clock.set(now);
            group.tick(&log, now).unwrap();
            guard += 1;
            prop_assert!(guard < 10_000, "the group never caught up");
        }
        let stats = group.stats();
        let mut seen: BTreeMap<(u32, Offset), u32> = BTreeMap::new();
        for &(p, o, _) in group.deliveries() {
            *seen.entry((p, o)).or_default() += 1;
        }
        let topic = log.topic("t").unwrap();
        for p in 0..4 {
            let end = topic.partition(p).unwrap().log_end_offset();
            for o in 0..end {
                prop_assert!(seen.contains_key(&(p, o)), "partition {} offset {} never delivered", p, o);
            }
        }
        let duplicates: u64 = seen.values().map(|&n| u64::from(n - 1)).sum();
        prop_assert_eq!(duplicates, stats.records_reprocessed);
        prop_assert_eq!(duplicates, stats.uncommitted_at_handover, "duplicates = uncommitted windows");
        if !any_death {
            prop_assert_eq!(duplicates, 0, "graceful leaves commit first: nothing repeats");
        }
        prop_assert_eq!(stats.records_processed, group.deliveries().len() as u64);
        // No gaps at any moment: a partition's next delivery is at most one past the furthest
        // delivered so far (a new owner may go back to the committed offset, never skip).
        let mut furthest: BTreeMap<u32, Offset> = BTreeMap::new();
        for &(p, o, m) in group.deliveries() {
            let next = furthest.get(&p).map_or(0, |&f| f + 1);
            prop_assert!(o <= next, "member {} read {} on {} before {}", m, o, p, next);
            furthest.insert(p, o.max(next.saturating_sub(1)));
        }
    }
}

/// A valid scenario with a cluster and a consumer group; the faults are appended.
const BASE: &str = r#"name = "scale"
seed = 1
architectures = ["kappa"]
duration_ms = 60000

[workload]
rate_per_sec = 100
partitions = 3

[[queries]]
name = "key_window_count"
window_ms = 10000

[cluster]
brokers = 3
replication_factor = 3

[consumer_group]
members = 2
"#;

fn load_err(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let err = Scenario::load(&path).expect_err("must be refused").to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(!err.contains('\n'), "{err}");
    err
}

fn line_of(text: &str, needle: &str, nth: usize) -> usize {
    text.lines().enumerate().filter(|(_, l)| l.contains(needle)).nth(nth).unwrap().0 + 1
}

#[test]
fn removing_a_broker_below_the_replication_factor_is_refused_at_the_field() {
    let text = format!("{BASE}\n[[faults]]\nkind = \"broker_remove\"\nat_ms = 1000\nbroker = 2\n");
    let err = load_err(&text);
    let line = line_of(&text, "broker = 2", 0);
    assert!(err.contains(&format!("bad.toml:{line}:")), "{err}");
    assert!(err.contains("faults[0].broker"), "{err}");
    assert!(err.contains("replication_factor"), "{err}");
    // With a broker added first, the same removal is fine.
    let ok = format!(
        "{BASE}\n[[faults]]\nkind = \"broker_remove\"\nat_ms = 1000\nbroker = 2\n\n\
         [[faults]]\nkind = \"broker_add\"\nat_ms = 500\n"
    );
    Scenario::parse(&ok, Path::new("ok.toml")).unwrap();
}

#[test]
fn membership_faults_name_what_is_missing() {
    let text = format!("{BASE}\n[[faults]]\nkind = \"broker_remove\"\nat_ms = 1000\nbroker = 7\n");
    let err = load_err(&text);
    assert!(err.contains("faults[0].broker") && err.contains("broker 7"), "{err}");
    let text = format!(
        "{BASE}\n[[faults]]\nkind = \"member_join\"\nat_ms = 100\n\n\
         [[faults]]\nkind = \"member_leave\"\nat_ms = 1000\nmember = 3\n"
    );
    let err = load_err(&text);
    let line = line_of(&text, "member = 3", 0);
    assert!(err.contains(&format!("bad.toml:{line}:")), "{err}");
    assert!(err.contains("faults[1].member") && err.contains("member 3"), "{err}");
    let no_cluster = BASE.replace("[cluster]\nbrokers = 3\nreplication_factor = 3\n", "");
    let text = format!("{no_cluster}\n[[faults]]\nkind = \"broker_add\"\nat_ms = 1000\n");
    let err = load_err(&text);
    assert!(err.contains("faults[0].kind") && err.contains("[cluster]"), "{err}");
    let no_group = BASE.replace("[consumer_group]\nmembers = 2\n", "");
    let text = format!("{no_group}\n[[faults]]\nkind = \"member_join\"\nat_ms = 1000\n");
    let err = load_err(&text);
    assert!(err.contains("faults[0].kind") && err.contains("[consumer_group]"), "{err}");
    let text = BASE.replace("members = 2", "members = 0");
    let err = load_err(&text);
    let line = line_of(&text, "members = 0", 0);
    assert!(err.contains(&format!("bad.toml:{line}:")), "{err}");
    assert!(err.contains("consumer_group.members"), "{err}");
    let text = BASE.replace("[consumer_group]", "[consumer_group]\nassignor = \"sticky\"");
    let err = load_err(&text);
    assert!(err.contains("consumer_group.assignor"), "{err}");
}

#[test]
fn a_run_with_every_membership_fault_ends_exact_and_accounts_for_everything() {
    // Broker 0 crashes and is decommissioned while down (it must not come back), a broker
    // joins, a consumer member joins and another dies.
    let text = r#"name = "membership"
seed = 5
architectures = ["kappa"]
duration_ms = 20000

[workload]
rate_per_sec = 200
partitions = 3

[[queries]]
name = "key_window_count"
window_ms = 5000

[batch]
interval_ms = 10000

[cluster]
brokers = 3
replication_factor = 2
min_insync_replicas = 1
acks = "all"
bandwidth_bytes_per_ms = 20

[consumer_group]
members = 2
assignor = "cooperative_sticky"
commit_interval_ms = 2000
session_timeout_ms = 3000
rebalance_ms = 500

[[faults]]
kind = "broker_crash"
at_ms = 2000
broker = 0
down_ms = 8000

[[faults]]
kind = "broker_remove"
at_ms = 4000
broker = 0

[[faults]]
kind = "broker_add"
at_ms = 6000
throttle_bytes_per_ms = 5

[[faults]]
kind = "member_join"
at_ms = 3000

[[faults]]
kind = "member_leave"
at_ms = 9000
member = 0
graceful = false
"#;
    let scenario = Scenario::parse(text, Path::new("membership.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = lambda_workbench::driver::simulate(&scenario, dir.path()).unwrap();
    assert!(run.converged);
    assert_eq!(run.architectures[0].final_view, run.oracle_final);
    let cluster = run.cluster.as_ref().unwrap();
    assert_eq!(cluster.feed.lost_acked_events, 0);
    assert_eq!(cluster.feed.acked_events, cluster.events_generated);
    let so = cluster.scale_out.as_ref().unwrap();
    assert_eq!((so.reassignment.brokers_added, so.reassignment.brokers_removed), (1, 1));
    assert!(so.reassignment.partitions.iter().all(|p| p.to.len() == 2 && !p.to.contains(&0)));
    let g = run.consumer_group.as_ref().unwrap();
    assert_eq!(g.rebalances, 2);
    assert_eq!(g.records_reprocessed, g.uncommitted_at_handover);
    assert_eq!(
        g.records_processed - g.records_reprocessed,
        run.events,
        "each event once, plus repeats"
    );
    let timeseries = lambda_workbench::report::timeseries_csv(&run);
    assert!(timeseries.contains(",cluster,under_replicated_partitions,"));
    assert!(timeseries.contains(",consumer_group,lag_records,"));
}
