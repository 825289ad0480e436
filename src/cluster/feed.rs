//! How a scenario with a `[cluster]` puts the cluster between the producer and the
//! architectures.
//!
//! The producer writes to the replicated cluster with the scenario's `acks`, retrying what the
//! cluster refuses (no leader, too few in-sync replicas, a leader change before replication).
//! The architectures, the oracle and every metric read the *consumer view*: the records below
//! each partition's high watermark, copied in order into the run's ordinary log — which is what
//! a Kafka consumer can ever see. So the architectures' answers are judged against what was
//! committed, and the cluster's own figures say what that cost: writes refused or retried
//! (availability, freshness) and acknowledged writes lost (durability).
//!
//! Offsets in the consumer view equal the cluster's while elections are clean (records below
//! the high watermark are never truncated). An unclean election can lower the high watermark
//! below what consumers already saw; the view keeps what it copied and continues from the new
//! leader's high watermark, so its offsets drift from the cluster's from then on — as a
//! consumer's view of an unclean failover does.

use std::collections::{BTreeMap, VecDeque};

use super::{Acks, Cluster, ClusterError, Produced, ReassignmentStats};
use crate::log::{Log, LogError, Offset, Record, TimestampMs, partition_for_key};

/// What the producer and the consumer view saw of the cluster.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FeedStats {
    /// Events the producer was told were written.
    pub acked_events: u64,
    /// Of those, events the cluster no longer holds at the end of the run (lost by a leader
    /// that died before its followers copied them, or by an unclean election).
    pub lost_acked_events: u64,
    /// Produce requests the cluster refused (no leader, too few in-sync replicas, or
    /// leadership moving in a reassignment) and the producer kept to retry.
    pub refused_writes: u64,
    /// `acks = all` writes whose leader changed before they were replicated, sent again (a
    /// retry can duplicate the write if the first attempt survived).
    pub retried_writes: u64,
    /// Simulated ms during which at least one partition had events waiting that the cluster
    /// would not take.
    pub blocked_ms: i64,
    /// Events copied to the consumer view (committed and read).
    pub committed_events: u64,
}

/// The cluster at one sample time (`timeseries.csv`, metric per field).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterSample {
    /// Sample time, simulated ms.
    pub t_ms: TimestampMs,
    /// Partitions whose live ISR is smaller than their replication factor.
    pub under_replicated: u32,
    /// Partitions being reassigned.
    pub reassigning: u32,
    /// Events acknowledged to the producer so far.
    pub acked_events: u64,
    /// Bytes reassignments copied so far.
    pub bytes_moved: u64,
}

/// What scale-out and scale-in cost, in `summary.json` → `cluster.scale_out` (present when a
/// broker was added or removed).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScaleOut {
    /// Brokers added and removed, partitions moved, bytes, times (see [`ReassignmentStats`]).
    #[serde(flatten)]
    pub reassignment: ReassignmentStats,
    /// Producer throughput (events acknowledged per second) over the samples taken while a
    /// reassignment ran.
    pub acked_events_per_sec_during: Option<f64>,
    /// The same over the other samples while the workload ran.
    pub acked_events_per_sec_outside: Option<f64>,
    /// Per architecture: the worst staleness (sample time minus newest event time fully
    /// reflected) at samples while a reassignment ran, and at the other samples while the
    /// workload ran, ms.
    pub staleness_ms: BTreeMap<String, StalenessDuring>,
}

/// Worst staleness during and outside reassignments.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StalenessDuring {
    /// Worst at samples while a reassignment ran, ms.
    pub max_during: Option<i64>,
    /// Worst at the other samples while the workload ran, ms.
    pub max_outside: Option<i64>,
}

/// An architecture's id and its staleness samples (`(time, staleness ms)`).
pub type ArchStaleness = (String, Vec<(TimestampMs, Option<i64>)>);

/// The producer side (acks, retries) and consumer side (high-watermark copy) of a cluster.
#[derive(Debug)]
pub struct ClusterFeed {
    cluster: Cluster,
    acks: Acks,
    topic: String,
    /// Per partition, records waiting to be sent (or re-sent) with their arrival times, oldest
    /// first.
    waiting: Vec<VecDeque<(TimestampMs, Record)>>,
    /// `acks = all` writes not yet acknowledged: ticket → (partition, base, records).
    pending: BTreeMap<u64, (u32, Offset, Vec<Record>)>,
    /// (partition, offset, hash of the record) of every acknowledged write.
    acked: Vec<(u32, Offset, u64)>,
    /// Per partition, the cluster offset the consumer view has copied up to.
    copied: Vec<Offset>,
    last_tick: TimestampMs,
    stats: FeedStats,
    samples: Vec<ClusterSample>,
}

fn hash(r: &Record) -> u64 {
    use std::hash::{Hash, Hasher};
    // Deterministic across runs and platforms for the same bytes (SipHash with fixed keys).
    let mut h = std::hash::DefaultHasher::new();
    (&r.key, &r.value, r.timestamp_ms).hash(&mut h);
    h.finish()
}

impl ClusterFeed {
    /// Puts `cluster` in front of `topic` in the consumer-view log.
    pub fn new(cluster: Cluster, acks: Acks, topic: &str) -> Self {
        let n = cluster.partition_count() as usize;
        ClusterFeed {
            cluster,
            acks,
            topic: topic.to_owned(),
            waiting: vec![VecDeque::new(); n],
            pending: BTreeMap::new(),
            acked: Vec::new(),
            copied: vec![0; n],
            last_tick: 0,
            stats: FeedStats::default(),
            samples: Vec::new(),
        }
    }

    /// The cluster (to crash and restart brokers).
    pub fn cluster_mut(&mut self) -> &mut Cluster {
        &mut self.cluster
    }

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Queues a record that arrives at `arrival_ms` for its key's partition (Kafka's murmur2
    /// partitioner, as the log's). It is sent at the first step of [`ClusterFeed::tick`] at or
    /// after its arrival.
    pub fn send(&mut self, record: Record, arrival_ms: TimestampMs) {
        let n = self.waiting.len() as u32;
        let p = record.key.as_deref().map_or(0, |k| partition_for_key(k, n));
        self.waiting[p as usize].push_back((arrival_ms, record));
    }

    /// Advances to `now` in steps of about the network latency since the last call: at each
    /// step, sends what has arrived, lets the cluster replicate, collects acknowledgements.
    /// Then copies newly committed records into `log` (the consumer view). Stepping matters:
    /// records sent in the last steps are not replicated yet when the next call begins, so a
    /// leader crash between calls takes them with it, as it would in the real world.
    pub fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<(), ClusterError> {
        let step = self.cluster.config.network_latency_ms.max(1);
        let elapsed = (now - self.last_tick).max(0);
        // Bounded so that a long tick on a fast network stays cheap.
        let steps = ((elapsed + step - 1) / step).clamp(1, 200);
        for i in 1..=steps {
            let t = self.last_tick + elapsed * i / steps;
            self.send_waiting(t)?;
            self.cluster.tick(t)?;
            self.collect();
        }
        if self.waiting.iter().any(|w| !w.is_empty()) {
            self.stats.blocked_ms += elapsed.max(0);
        }
        self.last_tick = now;
        self.copy_committed(log)
    }

    fn send_waiting(&mut self, now: TimestampMs) -> Result<(), ClusterError> {
        for p in 0..self.waiting.len() {
            let due = self.waiting[p].iter().take_while(|(at, _)| *at <= now).count();
            if due == 0 {
                continue;
            }
            let batch: Vec<Record> =
                self.waiting[p].iter().take(due).map(|(_, r)| r.clone()).collect();
            match self.cluster.produce(p as u32, &batch, self.acks) {
                Ok(Produced::Acked { base }) => {
                    self.waiting[p].drain(..due);
                    self.stats.acked_events += batch.len() as u64;
                    // acks = 0 with no leader: "acknowledged" and gone; u64::MAX never matches.
                    let base = base.unwrap_or(u64::MAX / 2);
                    self.acked.extend(
                        batch.iter().enumerate().map(|(i, r)| (p as u32, base + i as u64, hash(r))),
                    );
                }
                Ok(Produced::Pending { ticket, base }) => {
                    self.waiting[p].drain(..due);
                    self.pending.insert(ticket, (p as u32, base, batch));
                }
                Err(
                    ClusterError::NoLeader(_)
                    | ClusterError::NotEnoughReplicas { .. }
                    | ClusterError::LeaderMoving(_),
                ) => {
                    self.stats.refused_writes += 1;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn collect(&mut self) {
        for (ticket, outcome) in self.cluster.take_completed() {
            let Some((p, base, batch)) = self.pending.remove(&ticket) else { continue };
            match outcome {
                Ok(()) => {
                    self.stats.acked_events += batch.len() as u64;
                    self.acked.extend(
                        batch.iter().enumerate().map(|(i, r)| (p, base + i as u64, hash(r))),
                    );
                }
                Err(_) => {
                    // Sent again ahead of newer records, keeping the partition's order.
                    self.stats.retried_writes += 1;
                    for r in batch.into_iter().rev() {
                        self.waiting[p as usize].push_front((TimestampMs::MIN, r));
                    }
                }
            }
        }
    }

    fn copy_committed(&mut self, log: &Log) -> Result<(), ClusterError> {
        let log_err = |source: LogError| ClusterError::Log { broker: u32::MAX, source };
        for p in 0..self.copied.len() as u32 {
            let hw = self.cluster.high_watermark(p);
            if hw < self.copied[p as usize] {
                // Unclean election: continue from the new leader's committed log.
                self.copied[p as usize] = hw;
            }
            while self.copied[p as usize] < hw {
                let records = match self.cluster.read(p, self.copied[p as usize], 10_000) {
                    Ok(r) => r,
                    Err(ClusterError::NoLeader(_)) => break,
                    Err(e) => return Err(e),
                };
                let Some(last) = records.last().map(|s| s.offset) else { break };
                let batch: Vec<Record> = records.into_iter().map(|s| s.record).collect();
                let topic = log.topic(&self.topic).map_err(log_err)?;
                topic.partition(p).map_err(log_err)?.append(&batch).map_err(log_err)?;
                self.stats.committed_events += batch.len() as u64;
                self.copied[p as usize] = last + 1;
            }
        }
        Ok(())
    }

    /// Whether nothing waits to be sent or acknowledged and the consumer view holds everything
    /// committed.
    pub fn drained(&self) -> bool {
        self.waiting.iter().all(VecDeque::is_empty)
            && self.pending.is_empty()
            && self.cluster.reassigning() == 0
            && (0..self.copied.len() as u32).all(|p| {
                let leader_end =
                    self.cluster.leader(p).and_then(|l| self.cluster.log_end_offset(l, p));
                self.copied[p as usize] >= self.cluster.high_watermark(p)
                    && leader_end.is_some_and(|e| e == self.cluster.high_watermark(p))
            })
    }

    /// Records the cluster's state at sample time `t`.
    pub fn sample(&mut self, t: TimestampMs) {
        let c = &self.cluster;
        self.samples.push(ClusterSample {
            t_ms: t,
            under_replicated: c.under_replicated() as u32,
            reassigning: c.reassigning() as u32,
            acked_events: self.stats.acked_events,
            bytes_moved: c.reassignment_stats().bytes_moved,
        });
    }

    /// The samples so far.
    pub fn samples(&self) -> &[ClusterSample] {
        &self.samples
    }

    /// What scale-out and scale-in cost, when a broker was added or removed: the reassignment
    /// figures, producer throughput and each architecture's staleness (`(id, samples)`) during
    /// reassignments against the rest of the workload (up to `workload_end`).
    pub fn scale_out(
        &self,
        workload_end: TimestampMs,
        staleness: &[ArchStaleness],
    ) -> Option<ScaleOut> {
        let r = self.cluster.reassignment_stats();
        if r.brokers_added == 0 && r.brokers_removed == 0 && r.partitions_moved == 0 {
            return None;
        }
        let windows: Vec<(TimestampMs, TimestampMs)> =
            r.partitions.iter().map(|p| (p.started_ms, p.finished_ms)).collect();
        let during = |t: TimestampMs| windows.iter().any(|&(a, b)| a < t && t <= b);
        // Throughput per sample interval, attributed to the interval's end.
        let (mut d, mut o) = ((0u64, 0i64), (0u64, 0i64));
        for w in self.samples.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if b.t_ms > workload_end {
                break;
            }
            let acc = if during(b.t_ms) { &mut d } else { &mut o };
            acc.0 += b.acked_events - a.acked_events;
            acc.1 += b.t_ms - a.t_ms;
        }
        let rate = |(n, ms): (u64, i64)| (ms > 0).then(|| n as f64 * 1000.0 / ms as f64);
        let staleness_ms = staleness
            .iter()
            .map(|(id, samples)| {
                let worst = |inside: bool| {
                    samples
                        .iter()
                        .filter(|(t, _)| *t <= workload_end && during(*t) == inside)
                        .filter_map(|(_, s)| *s)
                        .max()
                };
                (id.clone(), StalenessDuring { max_during: worst(true), max_outside: worst(false) })
            })
            .collect();
        Some(ScaleOut {
            reassignment: r.clone(),
            acked_events_per_sec_during: rate(d),
            acked_events_per_sec_outside: rate(o),
            staleness_ms,
        })
    }

    /// The figures at the end of the run, with acknowledged writes checked against what the
    /// partitions' leaders hold now.
    pub fn finish(&mut self) -> Result<FeedStats, ClusterError> {
        let mut held: BTreeMap<(u32, Offset), u64> = BTreeMap::new();
        for p in 0..self.cluster.partition_count() {
            let Some(leader) = self.cluster.leader(p) else { continue };
            for s in self.cluster.replica_records(leader, p)? {
                held.insert((p, s.offset), hash(&s.record));
            }
        }
        self.stats.lost_acked_events =
            self.acked.iter().filter(|(p, o, h)| held.get(&(*p, *o)) != Some(h)).count() as u64;
        Ok(self.stats.clone())
    }
}
