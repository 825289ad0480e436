//! Replicated brokers in one process: Kafka's replication protocol on the simulated clock.
//!
//! A topic's partitions each have `replication_factor` replicas on different brokers, every
//! replica a real [`Partition`] in its broker's directory. One replica leads: producers append
//! to it. The others *follow*: they send fetch requests over a simulated network (latency, and
//! loss chosen by the seeded generator), append what comes back, and so report to the leader how
//! far they have copied. From those reports the leader keeps
//!
//! - the **ISR** (in-sync replicas): followers that caught up with its log end within
//!   `replica_lag_time_max_ms`; a follower that falls behind is dropped, one that catches up
//!   to the high watermark rejoins;
//! - the **high watermark** (HW): the smallest log end offset in the ISR. Records below it are
//!   on every in-sync replica, so they survive the loss of any but one of them. Consumers read
//!   only below it ([`Cluster::read`]).
//!
//! A producer chooses how long to wait ([`Acks`]): `0` not at all, `1` until the leader has the
//! records, `all` until the HW passes them (and only while the ISR holds at least
//! `min_insync_replicas`, else the write is refused). The difference shows when a leader dies:
//! the controller elects a new leader from the ISR (or, with `unclean_leader_election`, from any
//! live replica), bumps the partition's *leader epoch*, and every other replica truncates what
//! the new leader does not have — Kafka's KIP-101/279 epoch check: a follower asks the leader
//! where its last epoch ended and cuts its log there. Records acknowledged with `acks = 1` that
//! no follower had copied are gone then, and [`Cluster::lost`] counts them exactly; with
//! `acks = all` and an ISR of two or more, nothing acknowledged is lost (`tests/replication.rs`
//! checks both under seeded random crashes).
//!
//! A crashed broker's replicas are closed without flushing, like a killed process (the page
//! cache keeps what was written); a restart reopens them with the log's own crash recovery.
//! Each replica's epoch history is checkpointed next to its segments
//! (`leader-epoch-checkpoint`), as Kafka does, since truncation depends on it after a restart.
//!
//! Messages carrying records take time on the wire when the network has a bandwidth
//! ([`ClusterConfig::bandwidth_bytes_per_ms`]): each broker's outgoing and incoming link carry
//! one message at a time. Brokers can be added and decommissioned, and partitions moved between
//! them, as [`reassign`] describes.

pub mod feed;
pub mod reassign;

pub use feed::{ArchStaleness, ClusterFeed, ClusterSample, FeedStats, ScaleOut, StalenessDuring};
pub use reassign::{ReassignmentRecord, ReassignmentStats};

use std::collections::{BTreeMap, BinaryHeap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::log::{
    Clock, LogConfig, LogError, Offset, Partition, Record, StoredRecord, TimestampMs,
};

/// A broker's id (0-based).
pub type BrokerId = u32;

/// How long a producer waits before a write counts as acknowledged (a scenario setting,
/// defined beside the scenario so the scenario parser builds without the cluster).
pub use crate::scenario::Acks;

/// How the cluster is set up.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Brokers, ids `0..brokers`.
    pub brokers: u32,
    /// Replicas per partition (≤ brokers).
    pub replication_factor: u32,
    /// With `acks = all`, writes are refused while the ISR is smaller than this.
    pub min_insync_replicas: u32,
    /// A follower not caught up with the leader's log end for this long leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// Whether a replica outside the ISR may become leader when no ISR member is alive
    /// (availability over durability: acknowledged records can be lost).
    pub unclean_leader_election: bool,
    /// One-way network latency between brokers, ms.
    pub network_latency_ms: i64,
    /// Probability that a message between brokers is lost (the sender retries after a timeout).
    pub network_loss: f64,
    /// Records per fetch response at most.
    pub fetch_max_records: usize,
    /// Record bytes per fetch response at most (Kafka's `replica.fetch.max.bytes`); the first
    /// record is always sent, so a larger one still moves.
    pub fetch_max_bytes: usize,
    /// Bytes per ms each broker's network link carries, each way (0: unlimited). A message
    /// from broker A to broker B waits until A's outgoing and B's incoming link are free, then
    /// occupies both for `bytes / bandwidth` ms, so copying a partition to a new broker takes
    /// simulated time and delays the ordinary replication that shares those links.
    pub bandwidth_bytes_per_ms: u64,
    /// Bytes per ms a leader sends to replicas that are being added by a reassignment and are
    /// not in sync yet (Kafka's `leader.replication.throttled.rate`; 0: unthrottled).
    pub reassignment_throttle_bytes_per_ms: u64,
    /// Seed for the network's losses.
    pub seed: u64,
    /// Segment, index and fsync settings of every replica.
    pub log: LogConfig,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            brokers: 3,
            replication_factor: 3,
            min_insync_replicas: 2,
            replica_lag_time_max_ms: 10_000,
            unclean_leader_election: false,
            network_latency_ms: 1,
            network_loss: 0.0,
            fetch_max_records: 10_000,
            fetch_max_bytes: 1 << 20,
            bandwidth_bytes_per_ms: 0,
            reassignment_throttle_bytes_per_ms: 0,
            seed: 0,
            log: LogConfig::default(),
        }
    }
}

/// What the cluster refused or failed at.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A replica's log failed.
    #[error("broker {broker}: {source}")]
    Log {
        /// The broker.
        broker: BrokerId,
        /// The log's error.
        source: LogError,
    },
    /// The partition has no live leader (every eligible replica is down).
    #[error("partition {0} has no leader")]
    NoLeader(u32),
    /// `acks = all` with too few in-sync replicas: refused before appending.
    #[error(
        "partition {partition}: {isr} in-sync replicas, fewer than min_insync_replicas = {min}"
    )]
    NotEnoughReplicas {
        /// The partition.
        partition: u32,
        /// ISR size.
        isr: usize,
        /// The minimum.
        min: u32,
    },
    /// The leader changed before an `acks = all` write was replicated: not acknowledged (it
    /// may or may not survive; a producer retries it).
    #[error("partition {0}: leader changed before the write was replicated")]
    LeaderChanged(u32),
    /// A setting is out of range.
    #[error("invalid cluster config: {0}")]
    Config(String),
    /// No such broker or partition.
    #[error("no broker {0}")]
    UnknownBroker(BrokerId),
    /// A reassignment is handing leadership to another replica: the old leader refuses new
    /// writes until the new one has everything (the producer retries, as after Kafka's
    /// `NOT_LEADER_OR_FOLLOWER`).
    #[error("partition {0}: leadership is moving to another broker")]
    LeaderMoving(u32),
    /// A reassignment or decommission that cannot be carried out (named in the message).
    #[error("reassignment refused: {0}")]
    Reassignment(String),
}

type Result<T> = std::result::Result<T, ClusterError>;

/// The outcome of a produce call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Produced {
    /// Acknowledged now; `base` is the first record's offset (`None` for `acks = 0` when no
    /// leader took it: the producer never learns).
    Acked {
        /// Offset of the first record, if it was stored.
        base: Option<Offset>,
    },
    /// `acks = all`: appended at `base` by the leader; acknowledged (or failed) later, reported
    /// by [`Cluster::take_completed`] with this ticket.
    Pending {
        /// Identifies the write.
        ticket: u64,
        /// Offset of the first record on the leader.
        base: Offset,
    },
}

/// Counters of what the replication protocol did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterStats {
    /// Leader elections (each bumps a partition's epoch).
    pub elections: u64,
    /// Of those, from outside the ISR.
    pub unclean_elections: u64,
    /// Followers dropped from an ISR for lagging or dying.
    pub isr_shrinks: u64,
    /// Followers that rejoined an ISR.
    pub isr_expands: u64,
    /// Records copied leader → follower.
    pub records_replicated: u64,
    /// Record bytes (key + value) copied leader → follower.
    pub bytes_replicated: u64,
    /// Records cut from replicas whose log diverged from a new leader's.
    pub records_truncated: u64,
    /// Messages the network dropped.
    pub messages_lost: u64,
    /// `acks = all` writes refused for a small ISR.
    pub writes_refused: u64,
}

/// Bytes moved by one kind of replication traffic, for [`Cluster::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Traffic {
    /// Requests and empty responses: latency only.
    Control,
    /// Records to an in-sync (or ordinary) follower: `bytes` over the links.
    Replication(u64),
    /// Records to a replica a reassignment is adding: over the links and the throttle.
    Reassignment(u64),
}

/// One replica: a partition on a broker, and its leader-epoch history.
#[derive(Debug)]
struct Replica {
    log: Partition,
    /// (epoch, first offset written in it), ascending.
    epochs: Vec<(u32, Offset)>,
    dir: PathBuf,
}

const EPOCH_FILE: &str = "leader-epoch-checkpoint";

impl Replica {
    fn open(
        dir: PathBuf,
        config: &LogConfig,
        clock: &Arc<dyn Clock>,
    ) -> std::result::Result<Self, LogError> {
        let log = Partition::open(dir.clone(), config.clone(), clock.clone())?;
        let path = dir.join(EPOCH_FILE);
        let epochs = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .filter_map(|l| {
                    let (e, o) = l.split_once(' ')?;
                    Some((e.parse().ok()?, o.parse().ok()?))
                })
                .filter(|&(_, o)| o < log.log_end_offset())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(LogError::Io { op: "read", path, source }),
        };
        Ok(Replica { log, epochs, dir })
    }

    fn last_epoch(&self) -> Option<u32> {
        self.epochs.last().map(|&(e, _)| e)
    }

    /// Where a follower's log (`epochs`, ending at `end`) stops agreeing with this (leader's)
    /// log: the first offset whose leader epoch differs, or this log's end if the follower's
    /// goes further. `None` when the follower's log is a prefix of this one.
    ///
    /// One leader writes each epoch and followers copy exact prefixes, so two replicas with
    /// the same epoch at an offset hold the same record there. Comparing the epoch histories at
    /// every point where either changes finds the first difference — Kafka's KIP-101 check with
    /// KIP-279's fix (a follower whose last epoch the leader knows can still diverge earlier,
    /// after several elections in a row).
    fn divergence(&self, epochs: &[(u32, Offset)], end: Offset) -> Option<Offset> {
        let epoch_at = |history: &[(u32, Offset)], o: Offset| {
            history.iter().rev().find(|&&(_, start)| start <= o).map(|&(e, _)| e)
        };
        let own_end = self.log.log_end_offset();
        let mut points: Vec<Offset> =
            self.epochs.iter().chain(epochs).map(|&(_, start)| start).collect();
        points.push(0);
        points.sort_unstable();
        points.dedup();
        for o in points.into_iter().filter(|&o| o < end) {
            if o >= own_end {
                return Some(own_end);
            }
            if epoch_at(&self.epochs, o) != epoch_at(epochs, o) {
                return Some(o);
            }
        }
        (end > own_end).then_some(own_end)
    }

    /// Writes the epoch history atomically (tmp file, fsync, rename).
    fn checkpoint(&self) -> std::result::Result<(), LogError> {
        let text: String = self.epochs.iter().map(|(e, o)| format!("{e} {o}\n")).collect();
        let path = self.dir.join(EPOCH_FILE);
        let tmp = self.dir.join(format!("{EPOCH_FILE}.tmp"));
        let io = |op, p: &Path| {
            let p = p.to_path_buf();
            move |source| LogError::Io { op, path: p, source }
        };
        std::fs::write(&tmp, text).map_err(io("write", &tmp))?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io("fsync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))
    }

    /// Cuts the log to end exactly at `offset` (everything below it stays); returns how many
    /// records went.
    ///
    /// The log truncates whole batches: a batch that straddles `offset` goes entirely. Kafka
    /// gets away with that because a follower appends the leader's batches unchanged
    /// (`appendAsFollower`), so every replica has the same batch boundaries and the offsets it
    /// truncates to (an epoch's end, a leader's log end) are boundaries on all of them. Here a
    /// follower appends each fetch response as one batch of its own, so a replica's batches
    /// need not line up with the leader's: truncating at the leader's log end could cut records
    /// *below* it, records an in-sync replica is counted on to hold up to the high watermark —
    /// and when that replica was then elected, acknowledged `acks = all` writes were gone. So
    /// the records between the straddling batch's start and `offset` are read first and
    /// appended again after the cut (as a new batch: their LogAppendTime becomes now).
    fn truncate_to(&mut self, offset: Offset) -> std::result::Result<u64, LogError> {
        let before = self.log.log_end_offset();
        if offset >= before {
            return Ok(0);
        }
        let keep = self.straddling_prefix(offset)?;
        let mut end = self.log.truncate_to(offset)?;
        if end < offset {
            let again: Vec<Record> =
                keep.into_iter().filter(|s| s.offset >= end).map(|s| s.record).collect();
            if !again.is_empty() {
                self.log.append(&again)?;
            }
            end = self.log.log_end_offset();
        }
        self.epochs.retain(|&(_, o)| o < end);
        self.checkpoint()?;
        Ok(before - end)
    }

    /// The records from the start of the batch holding `offset` up to (not including)
    /// `offset`, or a superset reaching further back: what a batch-granular truncation at
    /// `offset` would cut below it.
    ///
    /// Records of one batch share their append time, so the batch starts no earlier than the
    /// run of records with `offset`'s append time that ends there; a segment's first offset is
    /// always a batch start. The window grows until it holds that run's start.
    fn straddling_prefix(
        &self,
        offset: Offset,
    ) -> std::result::Result<Vec<StoredRecord>, LogError> {
        let floor = self
            .log
            .segments()
            .iter()
            .rev()
            .find(|s| s.base_offset <= offset)
            .map_or(0, |s| s.base_offset)
            .max(self.log.log_start_offset());
        let mut window: Offset = 64;
        loop {
            let from = offset.saturating_sub(window).max(floor);
            let mut records = self.log.read(from, (offset - from + 1) as usize)?;
            let Some(at) = records.iter().position(|s| s.offset == offset) else {
                // The log does not hold `offset` (below its start): nothing straddles it.
                return Ok(Vec::new());
            };
            let time = records[at].append_time_ms;
            let run = records[..at].iter().rposition(|s| s.append_time_ms != time);
            if run.is_some() || from == floor {
                let start = run.map_or(0, |i| i + 1);
                records.truncate(at);
                records.drain(..start);
                return Ok(records);
            }
            window *= 4;
        }
    }
}

/// The controller's view of one partition.
#[derive(Debug, Clone)]
struct PartitionState {
    replicas: Vec<BrokerId>,
    leader: Option<BrokerId>,
    epoch: u32,
    isr: Vec<BrokerId>,
    hw: Offset,
    /// Leader's knowledge of each follower's log end (from its last fetch).
    follower_end: BTreeMap<BrokerId, Offset>,
    /// When each follower was last caught up: Kafka's rule, a fetch from at or past where the
    /// leader's log ended at that follower's previous fetch.
    caught_up_at: BTreeMap<BrokerId, TimestampMs>,
    /// Each follower's previous fetch: when, and the leader's log end then.
    last_fetch: BTreeMap<BrokerId, (TimestampMs, Offset)>,
    /// Followers with a fetch in flight, and when they may give up on it.
    in_flight: BTreeMap<BrokerId, TimestampMs>,
    /// The reassignment under way, if any (see [`reassign`]).
    reassignment: Option<reassign::Reassignment>,
}

#[derive(Debug)]
enum Message {
    /// A follower asks for records from `offset` (its log end), sending its epoch history so
    /// the leader can find where their logs diverge.
    Fetch {
        from: BrokerId,
        partition: u32,
        epoch: u32,
        offset: Offset,
        epochs: Vec<(u32, Offset)>,
    },
    Response {
        to: BrokerId,
        partition: u32,
        epoch: u32,
        offset: Offset,
        reply: Reply,
    },
}

#[derive(Debug)]
enum Reply {
    /// The follower's log diverges from the leader's at this offset: truncate there.
    Diverged(Offset),
    /// Records from the fetch offset, the leader's epoch history and its high watermark.
    Records { records: Vec<Record>, epochs: Vec<(u32, Offset)> },
}

/// A message on the wire, ordered by delivery time then send order (deterministic).
#[derive(Debug)]
struct InFlight {
    at: TimestampMs,
    seq: u64,
    msg: Message,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // BinaryHeap is a max-heap: reverse for earliest first.
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug)]
struct PendingWrite {
    ticket: u64,
    partition: u32,
    epoch: u32,
    end: Offset,
}

/// In-process brokers replicating one topic. See the module docs.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    config: ClusterConfig,
    clock: Arc<dyn Clock>,
    /// Per broker: `None` while it is down; else its replicas by partition.
    brokers: Vec<Option<BTreeMap<u32, Replica>>>,
    partitions: Vec<PartitionState>,
    wire: BinaryHeap<InFlight>,
    seq: u64,
    rng: ChaCha8Rng,
    pending: Vec<PendingWrite>,
    completed: Vec<(u64, Result<()>)>,
    next_ticket: u64,
    stats: ClusterStats,
    /// Per broker: when its outgoing and its incoming link are free again (bandwidth model).
    egress_free: Vec<TimestampMs>,
    ingress_free: Vec<TimestampMs>,
    /// Per broker (as leader): the reassignment throttle's token bucket, bytes, and when it
    /// was last refilled.
    throttle_tokens: Vec<(f64, TimestampMs)>,
    /// Brokers decommissioned and gone for good.
    removed: Vec<bool>,
    /// Brokers being decommissioned: they shut down once their last replica moved away.
    decommissioning: Vec<BrokerId>,
    /// Reassignments: what moved, when, and how many bytes.
    reassign: reassign::ReassignmentStats,
}

fn log_err(broker: BrokerId) -> impl Fn(LogError) -> ClusterError {
    move |source| ClusterError::Log { broker, source }
}

impl Cluster {
    /// Creates (or reopens) `partitions` partitions replicated over `config.brokers` brokers in
    /// `dir/broker-N/pP`. Replicas of partition `p` sit on brokers `p, p+1, ...` (mod brokers);
    /// the first leads.
    pub fn open(
        dir: &Path,
        partitions: u32,
        config: ClusterConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        if config.brokers == 0
            || config.replication_factor == 0
            || config.replication_factor > config.brokers
        {
            return Err(ClusterError::Config(format!(
                "replication_factor = {} needs 1..={} brokers",
                config.replication_factor, config.brokers
            )));
        }
        if config.min_insync_replicas == 0 || config.min_insync_replicas > config.replication_factor
        {
            return Err(ClusterError::Config(format!(
                "min_insync_replicas = {} must be in 1..=replication_factor ({})",
                config.min_insync_replicas, config.replication_factor
            )));
        }
        if !(0.0..1.0).contains(&config.network_loss) || config.network_latency_ms < 0 {
            return Err(ClusterError::Config(
                "network_loss must be in [0, 1) and network_latency_ms ≥ 0".into(),
            ));
        }
        let mut states = Vec::new();
        let mut brokers: Vec<Option<BTreeMap<u32, Replica>>> =
            (0..config.brokers).map(|_| Some(BTreeMap::new())).collect();
        for p in 0..partitions {
            let replicas: Vec<BrokerId> =
                (0..config.replication_factor).map(|i| (p + i) % config.brokers).collect();
            for &b in &replicas {
                let r = Replica::open(replica_dir(dir, b, p), &config.log, &clock)
                    .map_err(log_err(b))?;
                brokers[b as usize].as_mut().map(|m| m.insert(p, r));
            }
            let now = clock.now_ms();
            let mut state = PartitionState {
                leader: Some(replicas[0]),
                epoch: 0,
                isr: replicas.clone(),
                hw: 0,
                follower_end: BTreeMap::new(),
                caught_up_at: replicas.iter().map(|&b| (b, now)).collect(),
                last_fetch: BTreeMap::new(),
                in_flight: BTreeMap::new(),
                reassignment: None,
                replicas,
            };
            // The first leader starts epoch 0 where its log ends.
            let leader = state.replicas[0];
            if let Some(r) = brokers[leader as usize].as_mut().and_then(|m| m.get_mut(&p)) {
                state.epoch = r.last_epoch().map_or(0, |e| e + 1);
                r.epochs.push((state.epoch, r.log.log_end_offset()));
                r.checkpoint().map_err(log_err(leader))?;
            }
            states.push(state);
        }
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        let n = config.brokers as usize;
        Ok(Cluster {
            egress_free: vec![0; n],
            ingress_free: vec![0; n],
            throttle_tokens: vec![(0.0, 0); n],
            removed: vec![false; n],
            decommissioning: Vec::new(),
            reassign: reassign::ReassignmentStats::default(),
            dir: dir.to_path_buf(),
            config,
            clock,
            brokers,
            partitions: states,
            wire: BinaryHeap::new(),
            seq: 0,
            rng,
            pending: Vec::new(),
            completed: Vec::new(),
            next_ticket: 0,
            stats: ClusterStats::default(),
        })
    }

    /// Partitions of the topic.
    pub fn partition_count(&self) -> u32 {
        self.partitions.len() as u32
    }

    /// The current leader of `partition`, if any.
    pub fn leader(&self, partition: u32) -> Option<BrokerId> {
        self.partitions.get(partition as usize).and_then(|s| s.leader)
    }

    /// The partition's leader epoch.
    pub fn epoch(&self, partition: u32) -> u32 {
        self.partitions.get(partition as usize).map_or(0, |s| s.epoch)
    }

    /// The in-sync replicas of `partition`.
    pub fn isr(&self, partition: u32) -> Vec<BrokerId> {
        self.partitions.get(partition as usize).map(|s| s.isr.clone()).unwrap_or_default()
    }

    /// The high watermark of `partition`: consumers see offsets below it.
    pub fn high_watermark(&self, partition: u32) -> Offset {
        self.partitions.get(partition as usize).map_or(0, |s| s.hw)
    }

    /// Whether `broker` is up.
    pub fn is_alive(&self, broker: BrokerId) -> bool {
        self.brokers.get(broker as usize).is_some_and(Option::is_some)
    }

    /// What the protocol did so far.
    pub fn stats(&self) -> &ClusterStats {
        &self.stats
    }

    fn replica(&self, broker: BrokerId, partition: u32) -> Option<&Replica> {
        self.brokers.get(broker as usize)?.as_ref()?.get(&partition)
    }

    fn replica_mut(&mut self, broker: BrokerId, partition: u32) -> Option<&mut Replica> {
        self.brokers.get_mut(broker as usize)?.as_mut()?.get_mut(&partition)
    }

    /// The log end offset of `broker`'s replica of `partition` (`None` when down or absent).
    pub fn log_end_offset(&self, broker: BrokerId, partition: u32) -> Option<Offset> {
        self.replica(broker, partition).map(|r| r.log.log_end_offset())
    }

    /// Every record of `broker`'s replica of `partition` (for checks and tests).
    pub fn replica_records(&self, broker: BrokerId, partition: u32) -> Result<Vec<StoredRecord>> {
        let r = self.replica(broker, partition).ok_or(ClusterError::UnknownBroker(broker))?;
        r.log.read(r.log.log_start_offset(), usize::MAX).map_err(log_err(broker))
    }

    /// Appends `records` to `partition`'s leader and acknowledges as `acks` says.
    pub fn produce(&mut self, partition: u32, records: &[Record], acks: Acks) -> Result<Produced> {
        let state =
            self.partitions.get(partition as usize).ok_or(ClusterError::NoLeader(partition))?;
        let Some(leader) = state.leader.filter(|&b| self.is_alive(b)) else {
            return match acks {
                Acks::Zero => Ok(Produced::Acked { base: None }),
                _ => Err(ClusterError::NoLeader(partition)),
            };
        };
        if state.reassignment.as_ref().is_some_and(|r| r.moving_leader.is_some()) {
            return Err(ClusterError::LeaderMoving(partition));
        }
        if acks == Acks::All && state.isr.len() < self.config.min_insync_replicas as usize {
            self.stats.writes_refused += 1;
            return Err(ClusterError::NotEnoughReplicas {
                partition,
                isr: state.isr.len(),
                min: self.config.min_insync_replicas,
            });
        }
        let epoch = state.epoch;
        let r = self.replica_mut(leader, partition).ok_or(ClusterError::NoLeader(partition))?;
        let base = r.log.append(records).map_err(log_err(leader))?;
        let end = r.log.log_end_offset();
        // A single-replica ISR moves the high watermark with the leader's own log end.
        self.advance_hw(partition);
        match acks {
            Acks::Zero | Acks::One => Ok(Produced::Acked { base: Some(base) }),
            Acks::All => {
                let ticket = self.next_ticket;
                self.next_ticket += 1;
                self.pending.push(PendingWrite { ticket, partition, epoch, end });
                self.complete_pending();
                Ok(Produced::Pending { ticket, base })
            }
        }
    }

    /// `acks = all` writes completed since the last call: `Ok` acknowledged, `Err` failed.
    pub fn take_completed(&mut self) -> Vec<(u64, Result<()>)> {
        std::mem::take(&mut self.completed)
    }

    /// Records of `partition` from `from` below the high watermark, read from the leader.
    pub fn read(&self, partition: u32, from: Offset, max: usize) -> Result<Vec<StoredRecord>> {
        let state = &self.partitions[partition as usize];
        let leader = state.leader.ok_or(ClusterError::NoLeader(partition))?;
        let r = self.replica(leader, partition).ok_or(ClusterError::NoLeader(partition))?;
        if from >= state.hw {
            return Ok(Vec::new());
        }
        let mut out = r.log.read(from, max).map_err(log_err(leader))?;
        out.retain(|s| s.offset < state.hw);
        Ok(out)
    }

    /// Kills `broker` at `now`: its replicas close unflushed, messages to it vanish, it leaves
    /// every ISR, and partitions it led elect a new leader.
    pub fn crash(&mut self, broker: BrokerId, now: TimestampMs) -> Result<()> {
        let slot =
            self.brokers.get_mut(broker as usize).ok_or(ClusterError::UnknownBroker(broker))?;
        if slot.take().is_none() {
            return Ok(());
        }
        for p in 0..self.partitions.len() as u32 {
            let s = &mut self.partitions[p as usize];
            s.in_flight.remove(&broker);
            if !s.replicas.contains(&broker) {
                continue;
            }
            // The last ISR member stays listed while down, so that it (not a stale replica)
            // leads again when it returns — unless unclean election picks another now.
            if s.isr.len() > 1 && s.isr.contains(&broker) {
                s.isr.retain(|&b| b != broker);
                self.stats.isr_shrinks += 1;
            }
            if s.leader == Some(broker) {
                self.elect(p, now)?;
            } else {
                self.advance_hw(p);
            }
        }
        Ok(())
    }

    /// Restarts `broker`: its replicas reopen with crash recovery and rejoin as followers (or as
    /// leader of a partition that had none and may take it).
    pub fn restart(&mut self, broker: BrokerId, now: TimestampMs) -> Result<()> {
        if broker >= self.config.brokers || self.removed[broker as usize] {
            return Err(ClusterError::UnknownBroker(broker));
        }
        if self.is_alive(broker) {
            return Ok(());
        }
        let mut replicas = BTreeMap::new();
        for (p, s) in self.partitions.iter().enumerate() {
            if s.replicas.contains(&broker) {
                let r = Replica::open(
                    replica_dir(&self.dir, broker, p as u32),
                    &self.config.log,
                    &self.clock,
                )
                .map_err(log_err(broker))?;
                replicas.insert(p as u32, r);
            }
        }
        self.brokers[broker as usize] = Some(replicas);
        for p in 0..self.partitions.len() as u32 {
            let s = &mut self.partitions[p as usize];
            if s.replicas.contains(&broker) {
                s.caught_up_at.insert(broker, now);
                if s.leader.is_none() {
                    self.elect(p, now)?;
                }
            }
        }
        Ok(())
    }

    /// Chooses a new leader for `partition` after its leader died.
    fn elect(&mut self, partition: u32, now: TimestampMs) -> Result<()> {
        let alive: Vec<bool> = (0..self.config.brokers).map(|b| self.is_alive(b)).collect();
        let s = &mut self.partitions[partition as usize];
        let clean = s.isr.iter().copied().find(|&b| alive[b as usize]);
        let unclean = || s.replicas.iter().copied().find(|&b| alive[b as usize]);
        let (leader, was_clean) = match clean {
            Some(b) => (Some(b), true),
            None if self.config.unclean_leader_election => (unclean(), false),
            None => (None, true),
        };
        // Writes waiting on the old leader's epoch can no longer be acknowledged.
        let epoch = s.epoch;
        let failed: Vec<u64> = self
            .pending
            .iter()
            .filter(|w| w.partition == partition && w.epoch == epoch)
            .map(|w| w.ticket)
            .collect();
        self.pending.retain(|w| !(w.partition == partition && w.epoch == epoch));
        self.completed
            .extend(failed.into_iter().map(|t| (t, Err(ClusterError::LeaderChanged(partition)))));
        let s = &mut self.partitions[partition as usize];
        s.leader = leader;
        let Some(leader) = leader else { return Ok(()) };
        s.epoch += 1;
        let epoch = s.epoch;
        self.stats.elections += 1;
        if !was_clean {
            self.stats.unclean_elections += 1;
        }
        let r = self.replica_mut(leader, partition).ok_or(ClusterError::NoLeader(partition))?;
        let end = r.log.log_end_offset();
        r.epochs.push((epoch, end));
        r.checkpoint().map_err(log_err(leader))?;
        let s = &mut self.partitions[partition as usize];
        if !was_clean {
            s.isr = vec![leader];
        }
        // A clean leader holds everything below the HW; an unclean one may not.
        s.hw = s.hw.min(end);
        s.follower_end.clear();
        s.last_fetch.clear();
        s.in_flight.clear();
        if let Some(r) = s.reassignment.as_mut() {
            r.moving_leader = None;
        }
        for &b in &s.replicas {
            s.caught_up_at.insert(b, now);
        }
        Ok(())
    }

    /// Advances time to `now`: delivers due messages, followers send fetches, leaders shrink
    /// lagging followers out of their ISR.
    pub fn tick(&mut self, now: TimestampMs) -> Result<()> {
        while self.wire.peek().is_some_and(|m| m.at <= now) {
            let Some(m) = self.wire.pop() else { break };
            self.deliver(m.msg, m.at)?;
        }
        self.progress_reassignments(now)?;
        for p in 0..self.partitions.len() as u32 {
            self.shrink_isr(p, now);
            let s = &self.partitions[p as usize];
            let Some(leader) = s.leader else { continue };
            let epoch = s.epoch;
            let followers: Vec<BrokerId> = s
                .replicas
                .iter()
                .copied()
                .filter(|&b| b != leader && s.in_flight.get(&b).is_none_or(|&t| t <= now))
                .collect();
            for f in followers {
                let Some(r) = self.replica(f, p) else { continue };
                let msg = Message::Fetch {
                    from: f,
                    partition: p,
                    epoch,
                    offset: r.log.log_end_offset(),
                    epochs: r.epochs.clone(),
                };
                // Retry a lost fetch after a generous round trip.
                let timeout = now + 4 * self.config.network_latency_ms.max(1) + 1;
                self.partitions[p as usize].in_flight.insert(f, timeout);
                self.send(msg, now, f, leader, Traffic::Control);
            }
        }
        Ok(())
    }

    /// Puts `msg` from broker `from` to broker `to` on the wire; returns when it arrives
    /// (`None` if the network lost it). Records occupy both brokers' links for their
    /// transmission time (with a bandwidth), and records to a reassignment's new replica wait
    /// for the throttle's tokens first; then the message travels for the latency.
    fn send(
        &mut self,
        msg: Message,
        now: TimestampMs,
        from: BrokerId,
        to: BrokerId,
        traffic: Traffic,
    ) -> Option<TimestampMs> {
        let lost =
            self.config.network_loss > 0.0 && self.rng.r#gen::<f64>() < self.config.network_loss;
        let bytes = match traffic {
            Traffic::Control => 0,
            Traffic::Replication(b) | Traffic::Reassignment(b) => b,
        };
        let bw = self.config.bandwidth_bytes_per_ms;
        let mut leaves = now;
        if bw > 0 && bytes > 0 {
            let (f, t) = (from as usize, to as usize);
            // A lost message used the links too: it was sent, it just never arrived.
            let start = now.max(self.egress_free[f]).max(self.ingress_free[t]);
            leaves = start + bytes.div_ceil(bw) as TimestampMs;
            self.egress_free[f] = leaves;
            self.ingress_free[t] = leaves;
        }
        if lost {
            self.stats.messages_lost += 1;
            return None;
        }
        self.seq += 1;
        let at = leaves + self.config.network_latency_ms;
        self.wire.push(InFlight { at, seq: self.seq, msg });
        Some(at)
    }

    fn deliver(&mut self, msg: Message, now: TimestampMs) -> Result<()> {
        match msg {
            Message::Fetch { from, partition, epoch, offset, epochs } => {
                let s = &self.partitions[partition as usize];
                let Some(leader) = s.leader.filter(|_| s.epoch == epoch) else { return Ok(()) };
                if !self.is_alive(from) {
                    return Ok(());
                }
                let max = self.config.fetch_max_records;
                // Kafka throttles replicas a reassignment adds only while they are out of sync.
                let throttled = self.config.reassignment_throttle_bytes_per_ms > 0
                    && !s.isr.contains(&from)
                    && s.reassignment.as_ref().is_some_and(|r| r.adding.contains(&from));
                let mut budget = self.config.fetch_max_bytes as u64;
                // A full bucket always lets one record through, however large.
                let mut bucket_full = !throttled;
                if throttled {
                    let (tokens, full) = self.throttle_budget(leader, now);
                    budget = budget.min(tokens);
                    bucket_full = full;
                }
                let Some(r) = self.replica(leader, partition) else { return Ok(()) };
                let leader_end = r.log.log_end_offset();
                let reply = match r.divergence(&epochs, offset) {
                    Some(end) => Reply::Diverged(end),
                    None => {
                        let mut records = Vec::new();
                        let mut bytes = 0;
                        let mut next = offset;
                        // Read in chunks, so that a small byte budget (a throttled replica)
                        // does not read thousands of records to send a few.
                        let chunk =
                            if budget >= self.config.fetch_max_bytes as u64 { max } else { 64 };
                        'read: while records.len() < max && (budget > 0 || bucket_full) {
                            let want = chunk.min(max - records.len());
                            let got = r.log.read(next, want).map_err(log_err(leader))?;
                            let short = got.len() < want;
                            let Some(last) = got.last().map(|s| s.offset) else { break };
                            for s in got {
                                let b = record_bytes(&s.record);
                                if bytes + b > budget && !(records.is_empty() && bucket_full) {
                                    break 'read;
                                }
                                bytes += b;
                                records.push(s.record);
                            }
                            next = last + 1;
                            if short {
                                break;
                            }
                        }
                        Reply::Records { records, epochs: r.epochs.clone() }
                    }
                };
                let bytes = match &reply {
                    Reply::Records { records, .. } => records.iter().map(record_bytes).sum(),
                    Reply::Diverged(_) => 0,
                };
                let traffic = match bytes {
                    0 => Traffic::Control,
                    b if throttled => Traffic::Reassignment(b),
                    b => Traffic::Replication(b),
                };
                let epoch_start = r.epochs.last().map_or(0, |&(_, o)| o);
                if throttled {
                    self.throttle_tokens[leader as usize].0 -= bytes as f64;
                }
                if !matches!(reply, Reply::Diverged(_)) {
                    let s = &mut self.partitions[partition as usize];
                    s.follower_end.insert(from, offset);
                    if offset >= leader_end {
                        s.caught_up_at.insert(from, now);
                    } else if let Some(&(t, end)) = s.last_fetch.get(&from)
                        && offset >= end
                    {
                        s.caught_up_at.insert(from, t);
                    }
                    s.last_fetch.insert(from, (now, leader_end));
                    // Kafka's rule for rejoining: caught up to the HW, within this epoch.
                    if !s.isr.contains(&from) && offset >= s.hw && offset >= epoch_start {
                        s.isr.push(from);
                        s.isr.sort_unstable();
                        self.stats.isr_expands += 1;
                    }
                    self.advance_hw(partition);
                }
                let msg = Message::Response { to: from, partition, epoch, offset, reply };
                if let Some(at) = self.send(msg, now, leader, from, traffic) {
                    // The follower waits for a response it knows is coming, however slow the
                    // links make it, instead of fetching again.
                    let s = &mut self.partitions[partition as usize];
                    if let Some(t) = s.in_flight.get_mut(&from) {
                        *t = (*t).max(at + 1);
                    }
                }
            }
            Message::Response { to, partition, epoch, offset, reply } => {
                if self.partitions[partition as usize].epoch != epoch {
                    return Ok(());
                }
                self.partitions[partition as usize].in_flight.remove(&to);
                let Some(r) = self.replica_mut(to, partition) else { return Ok(()) };
                match reply {
                    Reply::Diverged(end) => {
                        let cut = r.truncate_to(end).map_err(log_err(to))?;
                        self.stats.records_truncated += cut;
                    }
                    Reply::Records { records, epochs } => {
                        if r.log.log_end_offset() != offset || records.is_empty() {
                            return Ok(());
                        }
                        r.log.append(&records).map_err(log_err(to))?;
                        let end = r.log.log_end_offset();
                        let new_epochs: Vec<(u32, Offset)> =
                            epochs.into_iter().filter(|&(_, o)| o < end).collect();
                        if new_epochs != r.epochs {
                            r.epochs = new_epochs;
                            r.checkpoint().map_err(log_err(to))?;
                        }
                        let bytes: u64 = records.iter().map(record_bytes).sum();
                        self.stats.records_replicated += records.len() as u64;
                        self.stats.bytes_replicated += bytes;
                        self.count_moved(partition, to, bytes);
                    }
                }
            }
        }
        Ok(())
    }

    fn shrink_isr(&mut self, partition: u32, now: TimestampMs) {
        let lag = self.config.replica_lag_time_max_ms;
        let s = &mut self.partitions[partition as usize];
        let Some(leader) = s.leader else { return };
        let before = s.isr.len();
        let caught_up_at = &s.caught_up_at;
        s.isr.retain(|&b| b == leader || caught_up_at.get(&b).is_some_and(|&t| now - t <= lag));
        let dropped = before - s.isr.len();
        if dropped > 0 {
            self.stats.isr_shrinks += dropped as u64;
            self.advance_hw(partition);
        }
    }

    /// Raises the high watermark to the smallest log end in the ISR, and completes the
    /// `acks = all` writes it now covers.
    fn advance_hw(&mut self, partition: u32) {
        let s = &self.partitions[partition as usize];
        let Some(leader) = s.leader else { return };
        let Some(leader_end) = self.log_end_offset(leader, partition) else { return };
        let min = s
            .isr
            .iter()
            .map(|&b| if b == leader { leader_end } else { *s.follower_end.get(&b).unwrap_or(&0) })
            .min()
            .unwrap_or(leader_end);
        let s = &mut self.partitions[partition as usize];
        if min > s.hw {
            s.hw = min;
        }
        self.complete_pending();
    }

    fn complete_pending(&mut self) {
        let (done, waiting): (Vec<PendingWrite>, Vec<PendingWrite>) =
            std::mem::take(&mut self.pending).into_iter().partition(|w| {
                let s = &self.partitions[w.partition as usize];
                s.epoch == w.epoch && s.hw >= w.end
            });
        self.pending = waiting;
        self.completed.extend(done.into_iter().map(|w| (w.ticket, Ok(()))));
    }

    /// Of `acked` (partition, offset, record) writes the producer was told succeeded, how many
    /// the cluster no longer holds: absent from the partition's leader at that offset, or
    /// replaced there by another record. A partition without a live leader cannot serve its
    /// records, so they count as lost until it has one again.
    pub fn lost(&self, acked: &[(u32, Offset, Record)]) -> Result<u64> {
        let mut lost = 0;
        let mut by_partition: BTreeMap<u32, BTreeMap<Offset, Record>> = BTreeMap::new();
        for p in 0..self.partition_count() {
            let Some(leader) = self.leader(p) else { continue };
            let records = self.replica_records(leader, p)?;
            by_partition.insert(p, records.into_iter().map(|s| (s.offset, s.record)).collect());
        }
        for (p, o, r) in acked {
            if by_partition.get(p).and_then(|m| m.get(o)) != Some(r) {
                lost += 1;
            }
        }
        Ok(lost)
    }
}

/// A record's bytes as the network and the statistics count them: key and value.
fn record_bytes(r: &Record) -> u64 {
    (r.value.len() + r.key.as_ref().map_or(0, Vec::len)) as u64
}

/// Where `broker` keeps its replica of `partition`.
fn replica_dir(dir: &Path, broker: BrokerId, partition: u32) -> PathBuf {
    dir.join(format!("broker-{broker}")).join(format!("p{partition}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::ManualClock;

    fn records(from: u64, n: u64) -> Vec<Record> {
        (from..from + n).map(|i| Record::new(format!("r{i}"), i as i64)).collect()
    }

    fn values(r: &Replica) -> Vec<Vec<u8>> {
        let all = r.log.read(r.log.log_start_offset(), usize::MAX).unwrap();
        all.into_iter().map(|s| s.record.value).collect()
    }

    #[test]
    fn truncation_inside_a_batch_keeps_the_records_below_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(10));
        let clock_dyn: Arc<dyn Clock> = clock.clone();
        let config = LogConfig { segment_bytes: 4_000, ..LogConfig::default() };
        let mut r = Replica::open(dir.path().join("p0"), &config, &clock_dyn).unwrap();
        // Two batches at the same append time, then one later: 0..3, 3..10, 10..12.
        r.log.append(&records(0, 3)).unwrap();
        r.log.append(&records(3, 7)).unwrap();
        clock.set(20);
        r.log.append(&records(10, 2)).unwrap();
        r.epochs = vec![(0, 0), (1, 3), (2, 6), (3, 10)];
        // 5 is inside the batch 3..10: the log alone would cut back to 3.
        assert_eq!(r.truncate_to(11).unwrap(), 1);
        assert_eq!(r.truncate_to(5).unwrap(), 6);
        assert_eq!(r.log.log_end_offset(), 5);
        let want: Vec<Vec<u8>> = records(0, 5).into_iter().map(|x| x.value).collect();
        assert_eq!(values(&r), want);
        assert_eq!(r.epochs, vec![(0, 0), (1, 3)]);
        // The kept records are a batch of their own now; cutting inside it works too, and
        // a truncation at or past the end is a no-op.
        assert_eq!(r.truncate_to(4).unwrap(), 1);
        assert_eq!(r.truncate_to(9).unwrap(), 0);
        assert_eq!(r.log.log_end_offset(), 4);
        // The checkpoint agrees after a reopen.
        drop(r);
        let r = Replica::open(dir.path().join("p0"), &config, &clock_dyn).unwrap();
        assert_eq!(r.epochs, vec![(0, 0), (1, 3)]);
        assert_eq!(values(&r).len(), 4);
    }
}
