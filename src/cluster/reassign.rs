//! Scale-out and scale-in: adding brokers, decommissioning them, and moving partitions the way
//! Kafka's `kafka-reassign-partitions` does.
//!
//! A reassignment of a partition from replicas `R` to target `T` runs in four steps, each on
//! the simulated clock:
//!
//! 1. **Extend**: the replica set becomes `R ∪ T`. The new replicas (`T \ R`) start empty and
//!    fetch from the leader like any follower. Their data crosses the simulated network, so it
//!    takes `bytes / bandwidth` ms per link and delays the ordinary replication sharing the
//!    leader's outgoing link — unless the reassignment throttle (Kafka's
//!    `leader.replication.throttled.rate`) holds the copy to a lower rate, as operators do.
//! 2. **Catch up**: a new replica joins the ISR by Kafka's ordinary rule (caught up to the high
//!    watermark within the leader's epoch).
//! 3. **Move leadership** when the leader is not `T`'s first (preferred) replica: the old
//!    leader stops taking writes (the producer retries, counted as refused writes), and once
//!    the preferred replica holds everything the old leader has (high watermark = log end),
//!    it leads in a new epoch. Nothing acknowledged can be lost and no pending `acks = all`
//!    write is failed, so the producer duplicates nothing. (Kafka moves leadership only when
//!    the leader leaves the set, and leaves the preferred-leader election to
//!    `auto.leader.rebalance.enable`; doing it here at once makes the step visible.)
//! 4. **Drop** the replicas not in `T`: they leave the replica set and the ISR, and their
//!    directories are deleted.
//!
//! [`Cluster::add_broker`] adds an empty broker; [`Cluster::rebalance`] plans and starts the
//! moves that even out replicas (and preferred leaders) over the brokers — Kafka does not move
//! anything to a new broker by itself, an operator runs the tool. [`Cluster::decommission`]
//! moves every replica off a broker and shuts it down once the last one is gone; it refuses
//! (an error, before anything moves) when too few brokers would remain to keep every
//! partition's replication factor.

use std::collections::BTreeMap;

use super::{BrokerId, Cluster, ClusterError, Replica, Result, log_err, replica_dir};
use crate::log::{Offset, TimestampMs};

/// A reassignment in progress (one partition).
#[derive(Debug, Clone)]
pub(crate) struct Reassignment {
    /// The replica set it ends with; the first is the preferred leader.
    pub target: Vec<BrokerId>,
    /// The replicas when it started.
    pub from: Vec<BrokerId>,
    /// Replicas it added (they start empty and are throttled while out of sync).
    pub adding: Vec<BrokerId>,
    /// When it started.
    pub started_ms: TimestampMs,
    /// Record bytes copied to the added replicas so far.
    pub bytes: u64,
    /// Leadership being handed to this replica: the leader refuses writes meanwhile.
    pub moving_leader: Option<BrokerId>,
}

/// One finished partition reassignment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReassignmentRecord {
    /// The partition.
    pub partition: u32,
    /// Replicas before (first: preferred leader).
    pub from: Vec<BrokerId>,
    /// Replicas after (first: preferred leader).
    pub to: Vec<BrokerId>,
    /// When the reassignment started, simulated ms.
    pub started_ms: TimestampMs,
    /// When the old replicas were dropped, simulated ms.
    pub finished_ms: TimestampMs,
    /// `finished_ms - started_ms`.
    pub ms: i64,
    /// Record bytes (key + value) copied to the new replicas.
    pub bytes: u64,
}

/// What scale-out and scale-in did in a run.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReassignmentStats {
    /// Brokers added during the run.
    pub brokers_added: u32,
    /// Brokers decommissioned (every replica moved away, then shut down).
    pub brokers_removed: u32,
    /// Partition reassignments finished.
    pub partitions_moved: u64,
    /// Record bytes copied to replicas that reassignments added.
    pub bytes_moved: u64,
    /// Record bytes deleted with the replicas reassignments dropped.
    pub bytes_deleted: u64,
    /// Replicas dropped (their directories deleted).
    pub replicas_deleted: u64,
    /// Leadership handed to a reassignment's preferred replica.
    pub leader_moves: u64,
    /// Simulated ms during which at least one partition was being reassigned.
    pub busy_ms: i64,
    /// The longest single partition reassignment, ms.
    pub max_partition_ms: i64,
    /// The most partitions whose ISR was smaller than their replication factor at once.
    pub max_under_replicated: u32,
    /// Each finished reassignment, in the order they finished.
    pub partitions: Vec<ReassignmentRecord>,
    /// Since when a reassignment has been running (for `busy_ms`).
    #[serde(skip)]
    busy_since: Option<TimestampMs>,
}

impl Cluster {
    /// Adds an empty broker (the next id) and returns its id. Nothing moves to it until a
    /// reassignment says so ([`Cluster::rebalance`]).
    pub fn add_broker(&mut self) -> BrokerId {
        let id = self.brokers.len() as BrokerId;
        self.brokers.push(Some(BTreeMap::new()));
        self.egress_free.push(0);
        self.ingress_free.push(0);
        self.throttle_tokens.push((0.0, 0));
        self.removed.push(false);
        self.config.brokers += 1;
        self.reassign.brokers_added += 1;
        id
    }

    /// Sets the reassignment throttle, bytes per ms (0: none), as `kafka-reassign-partitions
    /// --throttle` does for the moves it starts.
    pub fn set_reassignment_throttle(&mut self, bytes_per_ms: u64) {
        self.config.reassignment_throttle_bytes_per_ms = bytes_per_ms;
    }

    /// Brokers that are part of the cluster (up or down, not decommissioned).
    pub fn broker_ids(&self) -> Vec<BrokerId> {
        (0..self.brokers.len() as BrokerId).filter(|&b| !self.removed[b as usize]).collect()
    }

    /// Whether `broker` was decommissioned.
    pub fn is_removed(&self, broker: BrokerId) -> bool {
        self.removed.get(broker as usize).copied().unwrap_or(false)
    }

    /// The replica set of `partition` (during a reassignment, old and new replicas).
    pub fn replicas(&self, partition: u32) -> Vec<BrokerId> {
        self.partitions.get(partition as usize).map(|s| s.replicas.clone()).unwrap_or_default()
    }

    /// Where `broker` keeps (or kept) its replica of `partition`.
    pub fn replica_path(&self, broker: BrokerId, partition: u32) -> std::path::PathBuf {
        replica_dir(&self.dir, broker, partition)
    }

    /// Partitions with a reassignment under way.
    pub fn reassigning(&self) -> usize {
        self.partitions.iter().filter(|s| s.reassignment.is_some()).count()
    }

    /// Partitions whose ISR is smaller than their replication factor (during a reassignment,
    /// the target's size: Kafka's KIP-352 definition, so added replicas still copying do not
    /// count against it).
    pub fn under_replicated(&self) -> usize {
        self.partitions
            .iter()
            .filter(|s| {
                let rf = s.reassignment.as_ref().map_or(s.replicas.len(), |r| r.target.len());
                let alive_isr = s.isr.iter().filter(|&&b| self.is_alive(b)).count();
                alive_isr < rf
            })
            .count()
    }

    /// What scale-out and scale-in did so far.
    pub fn reassignment_stats(&self) -> &ReassignmentStats {
        &self.reassign
    }

    /// Starts moving `partition` to the replica set `target` (first: preferred leader) at
    /// `now`. A partition already being moved gets the new target (its start time is kept).
    pub fn reassign(
        &mut self,
        partition: u32,
        target: Vec<BrokerId>,
        now: TimestampMs,
    ) -> Result<()> {
        let Some(state) = self.partitions.get(partition as usize) else {
            return Err(ClusterError::Reassignment(format!("no partition {partition}")));
        };
        let mut seen = target.clone();
        seen.sort_unstable();
        seen.dedup();
        if target.is_empty() || seen.len() != target.len() {
            return Err(ClusterError::Reassignment(format!(
                "partition {partition}: target {target:?} must name distinct brokers"
            )));
        }
        if let Some(&b) =
            target.iter().find(|&&b| b as usize >= self.brokers.len() || self.removed[b as usize])
        {
            return Err(ClusterError::UnknownBroker(b));
        }
        if state.reassignment.is_none() && state.replicas == target {
            return Ok(());
        }
        let new: Vec<BrokerId> =
            target.iter().copied().filter(|b| !state.replicas.contains(b)).collect();
        for &b in &new {
            if self.is_alive(b) {
                let r = Replica::open(
                    replica_dir(&self.dir, b, partition),
                    &self.config.log,
                    &self.clock,
                )
                .map_err(log_err(b))?;
                if let Some(m) = self.brokers[b as usize].as_mut() {
                    m.insert(partition, r);
                }
            }
        }
        if self.reassign.busy_since.is_none() {
            self.reassign.busy_since = Some(now);
        }
        let s = &mut self.partitions[partition as usize];
        for &b in &new {
            s.replicas.push(b);
            s.caught_up_at.insert(b, now);
        }
        match s.reassignment.as_mut() {
            Some(r) => {
                r.adding.extend(new);
                r.target = target;
                r.moving_leader = None;
            }
            None => {
                s.reassignment = Some(Reassignment {
                    from: s.replicas.iter().copied().filter(|b| !new.contains(b)).collect(),
                    target,
                    adding: new,
                    started_ms: now,
                    bytes: 0,
                    moving_leader: None,
                });
            }
        }
        Ok(())
    }

    /// The replica set each partition has now, or is being moved to.
    fn assignment(&self) -> Vec<Vec<BrokerId>> {
        self.partitions
            .iter()
            .map(|s| {
                s.reassignment.as_ref().map_or_else(|| s.replicas.clone(), |r| r.target.clone())
            })
            .collect()
    }

    /// A plan: new replica sets that move every replica off `leaving` brokers and, with
    /// `balance`, even out replicas per broker (within one) and then preferred leaders, moving
    /// as few replicas as it can. Deterministic: ties go to the lowest broker id.
    pub fn plan(&self, leaving: &[BrokerId], balance: bool) -> Result<Vec<(u32, Vec<BrokerId>)>> {
        let eligible: Vec<BrokerId> = self
            .broker_ids()
            .into_iter()
            // A broker that is down still counts: its new replicas wait for it, as Kafka's do.
            .filter(|b| !leaving.contains(b) && !self.decommissioning.contains(b))
            .collect();
        let current = self.assignment();
        let mut plan = current.clone();
        let mut load: BTreeMap<BrokerId, usize> = eligible.iter().map(|&b| (b, 0)).collect();
        for replicas in &plan {
            for b in replicas {
                if let Some(n) = load.get_mut(b) {
                    *n += 1;
                }
            }
        }
        let least_loaded = |load: &BTreeMap<BrokerId, usize>, exclude: &[BrokerId]| {
            load.iter()
                .filter(|(b, _)| !exclude.contains(b))
                .min_by_key(|&(&b, &n)| (n, b))
                .map(|(&b, _)| b)
        };
        for (p, replicas) in plan.iter_mut().enumerate() {
            for i in 0..replicas.len() {
                let b = replicas[i];
                if load.contains_key(&b) {
                    continue;
                }
                let Some(to) = least_loaded(&load, replicas) else {
                    return Err(ClusterError::Reassignment(format!(
                        "moving partition {p} off broker {b} needs a broker without a \
                         replica of it; only {} brokers would remain for replication factor {}",
                        eligible.len(),
                        replicas.len()
                    )));
                };
                replicas[i] = to;
                *load.entry(to).or_default() += 1;
            }
        }
        if balance {
            while let Some((&hi, &hi_n)) =
                load.iter().max_by_key(|&(&b, &n)| (n, std::cmp::Reverse(b)))
            {
                let Some((&lo, &lo_n)) = load.iter().min_by_key(|&(&b, &n)| (n, b)) else { break };
                if hi_n <= lo_n + 1 {
                    break;
                }
                // Prefer moving a partition `hi` leads: leadership spreads with the data.
                let candidates =
                    || plan.iter().enumerate().filter(|(_, r)| r.contains(&hi) && !r.contains(&lo));
                let pick = candidates()
                    .find(|(_, r)| r[0] == hi)
                    .or_else(|| candidates().next())
                    .map(|(p, _)| p);
                let Some(p) = pick else { break };
                for b in plan[p].iter_mut().filter(|b| **b == hi) {
                    *b = lo;
                }
                *load.entry(hi).or_default() -= 1;
                *load.entry(lo).or_default() += 1;
            }
            // Then preferred leaders: reorder a replica set (no data moves) so that no broker
            // is the preferred leader of two more partitions than another.
            for _ in 0..plan.len() * plan.len() {
                let mut leads: BTreeMap<BrokerId, usize> =
                    eligible.iter().map(|&b| (b, 0)).collect();
                for r in &plan {
                    *leads.entry(r[0]).or_default() += 1;
                }
                let Some((&hi, &hi_n)) =
                    leads.iter().max_by_key(|&(&b, &n)| (n, std::cmp::Reverse(b)))
                else {
                    break;
                };
                let found = plan.iter().position(|r| r[0] == hi).and_then(|p| {
                    let to =
                        plan[p].iter().position(|b| leads.get(b).is_some_and(|&n| n + 1 < hi_n))?;
                    Some((p, to))
                });
                let Some((p, i)) = found else { break };
                plan[p].swap(0, i);
            }
        }
        Ok(plan
            .into_iter()
            .enumerate()
            .filter(|(p, r)| *r != current[*p])
            .map(|(p, r)| (p as u32, r))
            .collect())
    }

    /// Plans ([`Cluster::plan`]) and starts the moves that balance the cluster, e.g. after
    /// [`Cluster::add_broker`]; returns how many partitions move.
    pub fn rebalance(&mut self, now: TimestampMs) -> Result<usize> {
        let plan = self.plan(&[], true)?;
        for (p, target) in &plan {
            self.reassign(*p, target.clone(), now)?;
        }
        Ok(plan.len())
    }

    /// Starts decommissioning `broker`: each of its replicas moves to the least-loaded live
    /// broker without one, and the broker shuts down (its directory deleted) once none is left.
    /// Refused, before anything moves, when some partition could not keep its replication
    /// factor.
    pub fn decommission(&mut self, broker: BrokerId, now: TimestampMs) -> Result<()> {
        if broker as usize >= self.brokers.len() || self.removed[broker as usize] {
            return Err(ClusterError::UnknownBroker(broker));
        }
        let plan = self.plan(&[broker], false)?;
        self.decommissioning.push(broker);
        for (p, target) in plan {
            self.reassign(p, target, now)?;
        }
        // A broker without replicas goes at once.
        self.finish_decommissions()
    }

    /// Bytes a leader may send to throttled replicas now (refilled at the throttle rate, at
    /// most one second's worth), and whether the bucket is full.
    pub(super) fn throttle_budget(&mut self, leader: BrokerId, now: TimestampMs) -> (u64, bool) {
        let rate = self.config.reassignment_throttle_bytes_per_ms as f64;
        let cap = rate * 1000.0;
        let (tokens, at) = &mut self.throttle_tokens[leader as usize];
        *tokens = (*tokens + rate * (now - *at).max(0) as f64).min(cap);
        *at = now;
        (tokens.max(0.0) as u64, *tokens >= cap)
    }

    /// Counts `bytes` copied to `to`'s replica of `partition` if a reassignment added it.
    pub(super) fn count_moved(&mut self, partition: u32, to: BrokerId, bytes: u64) {
        let s = &mut self.partitions[partition as usize];
        if let Some(r) = s.reassignment.as_mut().filter(|r| r.adding.contains(&to)) {
            r.bytes += bytes;
            self.reassign.bytes_moved += bytes;
        }
    }

    /// Takes every reassignment as far as it can go at `now` (steps 2–4 of the module docs).
    pub(super) fn progress_reassignments(&mut self, now: TimestampMs) -> Result<()> {
        let under = self.under_replicated() as u32;
        self.reassign.max_under_replicated = self.reassign.max_under_replicated.max(under);
        for p in 0..self.partitions.len() as u32 {
            let s = &self.partitions[p as usize];
            let Some(r) = &s.reassignment else { continue };
            let Some(leader) = s.leader else { continue };
            let ready = r.target.iter().all(|b| s.isr.contains(b) && self.is_alive(*b));
            if !ready {
                // A target replica died or fell behind: give writes back to the leader.
                if let Some(r) = self.partitions[p as usize].reassignment.as_mut() {
                    r.moving_leader = None;
                }
                continue;
            }
            let preferred = r.target[0];
            if leader != preferred {
                let leader_end = self.log_end_offset(leader, p).unwrap_or(0);
                let s = &mut self.partitions[p as usize];
                if s.hw < leader_end {
                    // Stop new writes and let the preferred replica catch up.
                    if let Some(r) = s.reassignment.as_mut() {
                        r.moving_leader = Some(preferred);
                    }
                    continue;
                }
                self.move_leader(p, preferred, now)?;
            }
            self.drop_old_replicas(p, now)?;
        }
        self.finish_decommissions()?;
        if self.reassigning() == 0
            && let Some(since) = self.reassign.busy_since.take()
        {
            self.reassign.busy_ms += now - since;
        }
        Ok(())
    }

    /// Hands leadership of `partition` to `to` (in the ISR, holding the whole log) in a new
    /// epoch.
    fn move_leader(&mut self, partition: u32, to: BrokerId, now: TimestampMs) -> Result<()> {
        let s = &mut self.partitions[partition as usize];
        s.epoch += 1;
        s.leader = Some(to);
        let epoch = s.epoch;
        s.follower_end.clear();
        s.last_fetch.clear();
        s.in_flight.clear();
        for &b in &s.replicas {
            s.caught_up_at.insert(b, now);
        }
        if let Some(r) = s.reassignment.as_mut() {
            r.moving_leader = None;
        }
        let r = self.replica_mut(to, partition).ok_or(ClusterError::NoLeader(partition))?;
        let end = r.log.log_end_offset();
        r.epochs.push((epoch, end));
        r.checkpoint().map_err(log_err(to))?;
        self.reassign.leader_moves += 1;
        Ok(())
    }

    /// Step 4: the replicas outside the target leave and their data is deleted.
    fn drop_old_replicas(&mut self, partition: u32, now: TimestampMs) -> Result<()> {
        let s = &mut self.partitions[partition as usize];
        let Some(r) = s.reassignment.take() else { return Ok(()) };
        let old: Vec<BrokerId> =
            s.replicas.iter().copied().filter(|b| !r.target.contains(b)).collect();
        s.replicas = r.target.clone();
        s.isr.retain(|b| r.target.contains(b));
        for b in &old {
            s.follower_end.remove(b);
            s.caught_up_at.remove(b);
            s.last_fetch.remove(b);
            s.in_flight.remove(b);
        }
        for &b in &old {
            let replica = self.brokers[b as usize].as_mut().and_then(|m| m.remove(&partition));
            if let Some(replica) = replica {
                self.reassign.bytes_deleted += replica_bytes(&replica);
            }
            let dir = replica_dir(&self.dir, b, partition);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ClusterError::Log {
                        broker: b,
                        source: crate::log::LogError::Io {
                            op: "delete replica",
                            path: dir,
                            source,
                        },
                    });
                }
            }
            self.reassign.replicas_deleted += 1;
        }
        let ms = now - r.started_ms;
        self.reassign.partitions_moved += 1;
        self.reassign.max_partition_ms = self.reassign.max_partition_ms.max(ms);
        self.reassign.partitions.push(ReassignmentRecord {
            partition,
            from: r.from,
            to: r.target,
            started_ms: r.started_ms,
            finished_ms: now,
            ms,
            bytes: r.bytes,
        });
        self.advance_hw(partition);
        Ok(())
    }

    /// Shuts down decommissioning brokers that hold no replica any more.
    fn finish_decommissions(&mut self) -> Result<()> {
        let done: Vec<BrokerId> = self
            .decommissioning
            .iter()
            .copied()
            .filter(|&b| self.partitions.iter().all(|s| !s.replicas.contains(&b)))
            .collect();
        for b in done {
            self.decommissioning.retain(|&d| d != b);
            self.brokers[b as usize] = None;
            self.removed[b as usize] = true;
            self.reassign.brokers_removed += 1;
            let dir = self.dir.join(format!("broker-{b}"));
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ClusterError::Log {
                        broker: b,
                        source: crate::log::LogError::Io { op: "delete broker", path: dir, source },
                    });
                }
            }
        }
        Ok(())
    }
}

/// Record bytes (key + value) a replica holds.
fn replica_bytes(r: &Replica) -> u64 {
    let start: Offset = r.log.log_start_offset();
    r.log
        .read(start, usize::MAX)
        .map_or(0, |records| records.iter().map(|s| super::record_bytes(&s.record)).sum())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cluster::{Acks, ClusterConfig};
    use crate::log::{FsyncPolicy, LogConfig, ManualClock, Record};

    fn cluster(dir: &std::path::Path, partitions: u32, brokers: u32, bw: u64) -> Cluster {
        let config = ClusterConfig {
            brokers,
            replication_factor: brokers.min(3),
            min_insync_replicas: 1,
            bandwidth_bytes_per_ms: bw,
            log: LogConfig { fsync: FsyncPolicy::Never, ..LogConfig::default() },
            ..ClusterConfig::default()
        };
        Cluster::open(dir, partitions, config, Arc::new(ManualClock::new(0))).unwrap()
    }

    #[test]
    fn a_new_broker_gets_an_even_share_of_replicas_and_leaders() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cluster(dir.path(), 6, 3, 0);
        c.add_broker();
        let plan = c.plan(&[], true).unwrap();
        let mut after = c.assignment();
        for (p, target) in &plan {
            after[*p as usize] = target.clone();
        }
        let mut replicas = BTreeMap::new();
        let mut leaders = BTreeMap::new();
        for r in &after {
            assert_eq!(r.len(), 3);
            for &b in r {
                *replicas.entry(b).or_insert(0) += 1;
            }
            *leaders.entry(r[0]).or_insert(0) += 1;
        }
        // 18 replicas over 4 brokers: 4 or 5 each; 6 leaders: 1 or 2 each.
        assert!(replicas.values().all(|&n| n == 4 || n == 5), "{replicas:?}");
        assert!(leaders.values().all(|&n| n == 1 || n == 2), "{leaders:?}");
        assert_eq!(replicas.len(), 4);
        // Minimal data movement: only the 4 or 5 replicas the new broker takes move.
        let moved: usize = plan
            .iter()
            .map(|(p, t)| t.iter().filter(|b| !c.replicas(*p).contains(b)).count())
            .sum();
        assert_eq!(moved, replicas[&3]);
    }

    #[test]
    fn decommissioning_below_the_replication_factor_is_refused_before_anything_moves() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cluster(dir.path(), 2, 3, 0);
        let err = c.decommission(0, 0).unwrap_err();
        assert!(err.to_string().contains("replication factor 3"), "{err}");
        assert_eq!(c.reassigning(), 0);
        assert!(!c.is_removed(0));
        assert!(matches!(c.decommission(9, 0), Err(ClusterError::UnknownBroker(9))));
    }

    #[test]
    fn records_take_bytes_over_bandwidth_to_reach_a_follower() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cluster(dir.path(), 1, 2, 10);
        // 20 records of 50 value bytes: 1000 bytes at 10 bytes/ms is 100 ms on the link.
        let batch: Vec<Record> = (0..20).map(|i| Record::new(vec![b'x'; 50], i)).collect();
        c.produce(0, &batch, Acks::One).unwrap();
        let mut arrived = None;
        for now in 1..500 {
            c.tick(now).unwrap();
            if arrived.is_none() && c.log_end_offset(1, 0) == Some(20) {
                arrived = Some(now);
            }
        }
        let at = arrived.expect("replicated");
        // Fetch request (latency 1), then 100 ms of transmission and 1 ms of latency.
        assert!((100..=110).contains(&at), "arrived at {at} ms");
        assert_eq!(c.stats().bytes_replicated, 1000);
    }
}
