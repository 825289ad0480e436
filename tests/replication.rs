//! Replication across in-process brokers: what `acks` promises under broker crashes.
//!
//! - `acks = all` with `min_insync_replicas = 2`: under seeded random crashes and restarts no
//!   acknowledged record is lost, and once every broker is back the replicas hold the same
//!   records, offset for offset (property test).
//! - `acks = 1`: a leader that dies before its followers copied a write loses it, and
//!   [`Cluster::lost`] counts exactly those writes.

use std::sync::Arc;

use lambda_workbench::cluster::{Acks, Cluster, ClusterConfig, ClusterError, Produced};
use lambda_workbench::log::{FsyncPolicy, LogConfig, ManualClock, Offset, Record};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn config(latency_ms: i64, loss: f64, seed: u64) -> ClusterConfig {
    ClusterConfig {
        brokers: 3,
        replication_factor: 3,
        min_insync_replicas: 2,
        replica_lag_time_max_ms: 50,
        network_latency_ms: latency_ms,
        network_loss: loss,
        fetch_max_records: 7,
        seed,
        log: LogConfig {
            fsync: FsyncPolicy::Never,
            segment_bytes: 2_000,
            index_interval_bytes: 200,
            ..LogConfig::default()
        },
        ..ClusterConfig::default()
    }
}

fn record(id: u64) -> Record {
    Record::new(format!("write-{id}"), id as i64).with_key(format!("k{}", id % 5))
}

/// Ticks until every live replica holds its leader's whole log and is in the ISR, and the
/// high watermark is the log end (or `limit` ms pass).
fn settle(cluster: &mut Cluster, clock: &ManualClock, now: &mut i64, limit: i64) {
    let until = *now + limit;
    while *now < until {
        *now += 1;
        clock.set(*now);
        cluster.tick(*now).unwrap();
        let settled = (0..cluster.partition_count()).all(|p| {
            let Some(l) = cluster.leader(p) else { return false };
            let end = cluster.log_end_offset(l, p);
            (0..3).all(|b| {
                !cluster.is_alive(b)
                    || (cluster.log_end_offset(b, p) == end && cluster.isr(p).contains(&b))
            }) && cluster.high_watermark(p) == end.unwrap_or(0)
        });
        if settled {
            return;
        }
    }
}

/// Every replica of every partition holds the same records at the same offsets.
fn replicas_agree(cluster: &Cluster) {
    for p in 0..cluster.partition_count() {
        let logs: Vec<Vec<(Offset, Record)>> = (0..3)
            .map(|b| {
                cluster
                    .replica_records(b, p)
                    .unwrap()
                    .into_iter()
                    .map(|s| (s.offset, s.record))
                    .collect()
            })
            .collect();
        for b in 1..3 {
            // Report the first difference, not two whole logs.
            let first = logs[0].iter().zip(&logs[b]).position(|(x, y)| x != y);
            assert!(
                first.is_none() && logs[0].len() == logs[b].len(),
                "partition {p}: brokers 0 and {b} differ at index {first:?} (lengths {} and {})",
                logs[0].len(),
                logs[b].len()
            );
        }
    }
}

/// Runs a seeded schedule of writes, crashes, restarts and network losses; returns the acked
/// writes and the cluster after every broker is back and replication settled.
/// (The temporary directory comes back too: the cluster's files live as long as it does.)
type Chaos = (tempfile::TempDir, Cluster, Vec<(u32, Offset, Record)>, u64);

fn chaos(seed: u64, acks: Acks, steps: usize) -> Chaos {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut cluster = Cluster::open(dir.path(), 2, config(2, 0.05, seed), clock.clone()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut acked = Vec::new();
    let mut pending = std::collections::BTreeMap::new();
    let mut next_id = 0u64;
    let mut now = 0;
    for _ in 0..steps {
        match rng.gen_range(0..100) {
            0..=59 => {
                let p = rng.gen_range(0..2);
                let batch: Vec<Record> = (0..rng.gen_range(1..4))
                    .map(|_| {
                        next_id += 1;
                        record(next_id)
                    })
                    .collect();
                match cluster.produce(p, &batch, acks) {
                    Ok(Produced::Acked { base: Some(base) }) => acked.extend(
                        batch.into_iter().enumerate().map(|(i, r)| (p, base + i as u64, r)),
                    ),
                    Ok(Produced::Acked { base: None }) => {}
                    Ok(Produced::Pending { ticket, base }) => {
                        pending.insert(ticket, (p, base, batch));
                    }
                    Err(ClusterError::NoLeader(_) | ClusterError::NotEnoughReplicas { .. }) => {}
                    Err(e) => panic!("unexpected: {e}"),
                }
            }
            60..=66 => {
                let b = rng.gen_range(0..3);
                cluster.crash(b, now).unwrap();
            }
            67..=76 => {
                let b = rng.gen_range(0..3);
                cluster.restart(b, now).unwrap();
            }
            _ => {}
        }
        now += rng.gen_range(0..4);
        clock.set(now);
        cluster.tick(now).unwrap();
        for (ticket, outcome) in cluster.take_completed() {
            let (p, base, batch) = pending.remove(&ticket).unwrap();
            if outcome.is_ok() {
                acked.extend(batch.into_iter().enumerate().map(|(i, r)| (p, base + i as u64, r)));
            }
        }
    }
    for b in 0..3 {
        cluster.restart(b, now).unwrap();
    }
    settle(&mut cluster, &clock, &mut now, 20_000);
    for (ticket, outcome) in cluster.take_completed() {
        let (p, base, batch) = pending.remove(&ticket).unwrap();
        if outcome.is_ok() {
            acked.extend(batch.into_iter().enumerate().map(|(i, r)| (p, base + i as u64, r)));
        }
    }
    let lost = cluster.lost(&acked).unwrap();
    (dir, cluster, acked, lost)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn acks_all_loses_nothing_and_replicas_agree(seed in any::<u64>()) {
        let (_dir, cluster, acked, lost) = chaos(seed, Acks::All, 400);
        prop_assert_eq!(lost, 0, "{} acknowledged writes lost of {}", lost, acked.len());
        replicas_agree(&cluster);
    }
}

#[test]
fn acks_all_loses_nothing_on_the_seeds_that_caught_batch_granular_truncation() {
    // Every seed in 0..400 that lost acknowledged writes before the fix, and the one the
    // property test found (5 of 160 lost). They share one cause: a follower truncating to a
    // new leader's log end cut the whole fetched batch straddling it, records below the high
    // watermark included, and was then elected (see `Replica::truncate_to`). Run directly, so
    // CI does not depend on the proptest regressions file.
    for seed in [81, 181, 313, 375, 16401128345349318482] {
        let (_dir, cluster, acked, lost) = chaos(seed, Acks::All, 400);
        assert_eq!(lost, 0, "seed {seed}: {lost} acknowledged writes lost of {}", acked.len());
        replicas_agree(&cluster);
    }
}

#[test]
fn acks_all_under_chaos_acknowledges_something_and_elects_leaders() {
    // Guards the property test against passing vacuously: the schedules do write and fail over.
    let (mut elections, mut acked_total) = (0, 0);
    for seed in 0..8 {
        let (_dir, cluster, acked, _) = chaos(seed, Acks::All, 400);
        elections += cluster.stats().elections;
        acked_total += acked.len();
    }
    assert!(elections > 0 && acked_total > 100, "{elections} elections, {acked_total} acked");
}

#[test]
fn acks_one_under_chaos_can_lose_and_counts_it_exactly() {
    // Replicas still converge (truncation works), and the loss count is exact: recount by hand
    // from broker 0's log after convergence.
    let mut some_loss = false;
    for seed in 0..12 {
        let (_dir, cluster, acked, lost) = chaos(seed, Acks::One, 400);
        replicas_agree(&cluster);
        let mut recount = 0;
        for (p, o, r) in &acked {
            let log = cluster.replica_records(0, *p).unwrap();
            if !log.iter().any(|s| s.offset == *o && &s.record == r) {
                recount += 1;
            }
        }
        assert_eq!(lost, recount, "seed {seed}");
        some_loss |= lost > 0;
    }
    assert!(some_loss, "no schedule lost an acks=1 write: the test would not notice a bug");
}

#[test]
fn acks_one_write_dies_with_its_leader_and_the_old_leader_truncates() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut cluster = Cluster::open(dir.path(), 1, config(10, 0.0, 1), clock.clone()).unwrap();
    // Five writes replicate; three more are acked by the leader only.
    let mut acked = Vec::new();
    for id in 0..5 {
        let Produced::Acked { base: Some(o) } =
            cluster.produce(0, &[record(id)], Acks::One).unwrap()
        else {
            panic!("acks=1 acknowledges at once")
        };
        acked.push((0, o, record(id)));
    }
    let mut now = 0;
    settle(&mut cluster, &clock, &mut now, 1_000);
    assert_eq!(cluster.high_watermark(0), 5);
    for id in 5..8 {
        let Produced::Acked { base: Some(o) } =
            cluster.produce(0, &[record(id)], Acks::One).unwrap()
        else {
            panic!()
        };
        acked.push((0, o, record(id)));
    }
    assert_eq!(cluster.leader(0), Some(0));
    cluster.crash(0, now).unwrap();
    let new_leader = cluster.leader(0).expect("an ISR member takes over");
    assert_ne!(new_leader, 0);
    assert_eq!(cluster.epoch(0), 1);
    assert_eq!(cluster.lost(&acked).unwrap(), 3, "exactly the unreplicated writes");
    // New writes go to the new leader at the offsets the lost ones had.
    let Produced::Acked { base: Some(o) } = cluster.produce(0, &[record(100)], Acks::One).unwrap()
    else {
        panic!()
    };
    assert_eq!(o, 5);
    cluster.restart(0, now).unwrap();
    settle(&mut cluster, &clock, &mut now, 1_000);
    assert_eq!(cluster.stats().records_truncated, 3, "the old leader cut its divergent tail");
    replicas_agree(&cluster);
    assert_eq!(cluster.lost(&acked).unwrap(), 3);
}

#[test]
fn acks_all_waits_for_the_isr_and_is_refused_below_min_insync() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut cluster = Cluster::open(dir.path(), 1, config(5, 0.0, 2), clock.clone()).unwrap();
    let Produced::Pending { ticket, base } = cluster.produce(0, &[record(1)], Acks::All).unwrap()
    else {
        panic!("acks=all waits for the followers")
    };
    assert_eq!(base, 0);
    assert!(cluster.take_completed().is_empty(), "not acknowledged before replication");
    let mut now = 0;
    settle(&mut cluster, &clock, &mut now, 1_000);
    let done = cluster.take_completed();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, ticket);
    assert!(done[0].1.is_ok());
    // Two followers down: the ISR shrinks to the leader and acks=all is refused up front.
    cluster.crash(1, now).unwrap();
    cluster.crash(2, now).unwrap();
    assert_eq!(cluster.isr(0), vec![0]);
    let refused = cluster.produce(0, &[record(2)], Acks::All);
    assert!(matches!(refused, Err(ClusterError::NotEnoughReplicas { isr: 1, min: 2, .. })));
    assert_eq!(cluster.stats().writes_refused, 1);
    // acks=1 still goes through: availability over durability.
    assert!(cluster.produce(0, &[record(3)], Acks::One).is_ok());
}

#[test]
fn a_lagging_follower_leaves_the_isr_and_rejoins_when_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut cfg = config(1, 0.0, 3);
    cfg.replica_lag_time_max_ms = 20;
    let mut cluster = Cluster::open(dir.path(), 1, cfg, clock.clone()).unwrap();
    let mut now = 0;
    cluster.crash(2, now).unwrap();
    assert_eq!(cluster.isr(0), vec![0, 1], "a dead follower leaves the ISR at once");
    for id in 0..50 {
        cluster.produce(0, &[record(id)], Acks::One).unwrap();
    }
    settle(&mut cluster, &clock, &mut now, 1_000);
    cluster.restart(2, now).unwrap();
    settle(&mut cluster, &clock, &mut now, 1_000);
    assert_eq!(cluster.isr(0), vec![0, 1, 2], "caught up again, back in the ISR");
    assert!(cluster.stats().isr_expands >= 1);
    replicas_agree(&cluster);
}

#[test]
fn unclean_election_trades_acknowledged_writes_for_availability() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut cfg = config(1, 0.0, 4);
    cfg.unclean_leader_election = true;
    cfg.replica_lag_time_max_ms = 5;
    let mut cluster = Cluster::open(dir.path(), 1, cfg, clock.clone()).unwrap();
    let mut now = 0;
    // Broker 2 falls out of the ISR while down; the others take writes.
    cluster.crash(2, now).unwrap();
    let mut acked = Vec::new();
    for id in 0..10 {
        if let Produced::Acked { base: Some(o) } =
            cluster.produce(0, &[record(id)], Acks::One).unwrap()
        {
            acked.push((0, o, record(id)));
        }
    }
    settle(&mut cluster, &clock, &mut now, 1_000);
    // Both ISR members die; the stale replica comes back and may lead (unclean).
    cluster.crash(1, now).unwrap();
    cluster.crash(0, now).unwrap();
    assert_eq!(cluster.leader(0), None, "no live replica: offline");
    cluster.restart(2, now).unwrap();
    assert_eq!(cluster.leader(0), Some(2));
    assert_eq!(cluster.stats().unclean_elections, 1);
    assert_eq!(cluster.lost(&acked).unwrap(), 10, "everything it never copied is gone");
}

#[test]
fn bad_configs_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<ManualClock> = Arc::new(ManualClock::new(0));
    for (rf, min) in [(4, 2), (0, 1), (3, 0), (2, 3)] {
        let cfg =
            ClusterConfig { replication_factor: rf, min_insync_replicas: min, ..config(1, 0.0, 0) };
        let err = Cluster::open(dir.path(), 1, cfg, clock.clone()).unwrap_err();
        assert!(matches!(err, ClusterError::Config(_)), "{err}");
    }
    assert_eq!("all".parse::<Acks>(), Ok(Acks::All));
    assert!("2".parse::<Acks>().is_err());
}

/// A scenario with a `[cluster]`; the error tests below edit it.
const SCENARIO: &str = r#"name = "c"
seed = 1
architectures = ["kappa"]
duration_ms = 10000

[workload]
rate_per_sec = 100
partitions = 2

[[queries]]
name = "key_window_count"
window_ms = 1000

[cluster]
brokers = 3
acks = "1"

[[faults]]
kind = "broker_crash"
at_ms = 5000
broker = 2
down_ms = 1000
"#;

fn scenario_error(from: &str, to: &str) -> lambda_workbench::scenario::ScenarioError {
    assert!(SCENARIO.contains(from), "test bug: {from:?}");
    let text = SCENARIO.replacen(from, to, 1);
    lambda_workbench::scenario::Scenario::parse(&text, std::path::Path::new("c.toml"))
        .expect_err("must be rejected")
}

#[test]
fn cluster_settings_and_broker_crashes_are_validated_by_field() {
    let ok = lambda_workbench::scenario::Scenario::parse(SCENARIO, std::path::Path::new("c.toml"))
        .expect("valid");
    assert_eq!(ok.cluster.as_ref().map(|c| c.acks.as_str()), Some("1"));
    for (from, to, field, line) in [
        ("acks = \"1\"", "acks = \"2\"", "cluster.acks", 16),
        ("brokers = 3", "brokers = 0", "cluster.brokers", 15),
        ("brokers = 3", "brokers = 3\nreplication_factor = 4", "cluster.replication_factor", 16),
        ("brokers = 3", "brokers = 3\nmin_insync_replicas = 4", "cluster.min_insync_replicas", 16),
        ("brokers = 3", "brokers = 3\nnetwork_loss = 0.9", "cluster.network_loss", 16),
        ("broker = 2", "broker = 3", "faults[0].broker", 21),
        ("down_ms = 1000", "down_ms = 0", "faults[0].down_ms", 22),
    ] {
        let err = scenario_error(from, to);
        let msg = err.to_string();
        assert_eq!(err.field(), Some(field), "{msg}");
        assert_eq!(err.line(), Some(line), "{msg}");
    }
    // A broker crash needs brokers.
    let text = SCENARIO.replace("[cluster]\nbrokers = 3\nacks = \"1\"\n", "");
    let err = lambda_workbench::scenario::Scenario::parse(&text, std::path::Path::new("c.toml"))
        .expect_err("no cluster");
    assert!(err.to_string().contains("needs a `[cluster]`"), "{err}");
}

#[test]
fn broker_failover_runs_are_reproducible_and_the_loss_is_what_the_cluster_says() {
    // The bundled acks=1 scenario, shortened: same seed, same result; the architectures' log
    // is the committed one, so events + lost = acked.
    let text = lambda_workbench::scenario::bundled("broker-failover").expect("bundled");
    let mut s = lambda_workbench::scenario::Scenario::parse(text, std::path::Path::new("bf.toml"))
        .expect("parses");
    // One architecture is enough here (tests/scenarios.rs runs them all).
    s.architectures = vec!["kappa".into()];
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            lambda_workbench::driver::simulate(&s, dir.path()).expect("runs")
        })
        .collect();
    let (a, b) = (runs[0].cluster.as_ref().unwrap(), runs[1].cluster.as_ref().unwrap());
    assert_eq!(a, b, "byte-for-byte the same figures");
    assert!(a.feed.lost_acked_events > 0);
    assert_eq!(runs[0].events + a.feed.lost_acked_events, a.feed.acked_events);
    assert_eq!(a.replication.records_truncated, a.feed.lost_acked_events);
}
