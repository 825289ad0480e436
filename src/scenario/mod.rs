//! Scenario files: TOML that says what workload to generate, which architectures to run, and
//! how each layer is configured. Read strictly (`deny_unknown_fields`); errors name the file,
//! the line and the field.

use std::path::Path;

use serde::{Deserialize, Serialize};

mod bundled;
mod error;
mod locate;
mod validate;
pub use bundled::{BUNDLED, bundled};
pub use error::ScenarioError;
pub use validate::{
    ARCHITECTURES, MAX_ADS, MAX_BURST_MULTIPLIER, MAX_PARTITIONS, MAX_REALTIME_DURATION_MS,
    QUERY_NAMES,
};

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name; also the results subdirectory (`results/<name>/`).
    pub name: String,
    /// One line: what the scenario runs.
    #[serde(default)]
    pub description: String,
    /// What the scenario teaches, in plain words (`workbench explain` prints it).
    #[serde(default)]
    pub lesson: String,
    /// Seed of every random choice in the run.
    pub seed: u64,
    /// Architecture ids to run, e.g. `["lambda", "kappa"]`.
    pub architectures: Vec<String>,
    /// How long the workload produces events, in simulated ms.
    pub duration_ms: i64,
    /// How often the error against the oracle is sampled, in simulated ms (default 1000).
    #[serde(default = "default_sample_every_ms")]
    pub sample_every_ms: i64,
    /// The simulated driver's tick, ms: events are appended and every layer advances once per
    /// tick. Default: the largest divisor of 100 ms, the poll, sample and batch intervals. A
    /// long run may set a coarser one (it must divide those intervals); events then reach the
    /// log up to a tick after they arrive.
    #[serde(default)]
    pub tick_ms: Option<i64>,
    /// Which clock drives the run: `simulated` (default; the cost model decides when results
    /// become visible, reproducible byte for byte) or `realtime` (wall-clock time, the
    /// computation's real duration decides; see `src/realtime.rs`).
    #[serde(default)]
    pub clock: RunClock,
    /// The generated events.
    pub workload: Workload,
    /// The questions every architecture answers (`[[queries]]`, at least one).
    pub queries: Vec<Query>,
    /// Streaming settings (lambda's speed layer and kappa's job).
    #[serde(default)]
    pub speed: Speed,
    /// Batch settings (lambda's batch layer).
    #[serde(default)]
    pub batch: Batch,
    /// Kappa settings (reprocessing).
    #[serde(default)]
    pub kappa: Kappa,
    /// Streaming-lake settings (tiering to Parquet, query-time cost).
    #[serde(default)]
    pub lake: Lake,
    /// Serving settings every architecture shares (`[serving]`): how long answers are kept.
    #[serde(default)]
    pub serving: Serving,
    /// What the run must show; checked by the test that runs every bundled scenario.
    #[serde(default)]
    pub expect: Expect,
    /// Faults injected during the run (`[[faults]]`, each with a `kind`).
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Replicated brokers between the producer and the architectures (`[cluster]`); absent,
    /// the producer appends straight to one local log.
    #[serde(default)]
    pub cluster: Option<ClusterSpec>,
    /// A consumer group of several members reading the events topic (`[consumer_group]`),
    /// rebalanced when members join or leave (`member_join` / `member_leave` faults).
    #[serde(default)]
    pub consumer_group: Option<ConsumerGroupSpec>,
    /// Which log the events go through (`[log]`): the workbench's own (default) or a real
    /// Kafka cluster.
    #[serde(default)]
    pub log: LogSpec,
}

/// `[log]`: where the events go before the architectures read them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSpec {
    /// `"local"` (the workbench's log in the results directory) or `"kafka"` (real brokers at
    /// `bootstrap_servers`; the architectures read a local replica at the brokers' offsets).
    pub backend: String,
    /// `host:port` of the Kafka brokers (`backend = "kafka"`).
    pub bootstrap_servers: Vec<String>,
    /// Topic to create on the brokers (deleted first if it exists); default
    /// `workbench-<scenario name>`.
    pub topic: Option<String>,
    /// Give up on a broker request after this long, ms.
    pub kafka_timeout_ms: u64,
    /// Total retention by age, ms: segments (in either tier) whose newest append is older go,
    /// and the log start rises (default: keep forever).
    pub retention_ms: Option<i64>,
    /// Total retention by size, bytes: the oldest segments go while the log is larger
    /// (default: no limit).
    pub retention_bytes: Option<u64>,
    /// `"delete"` (default: retention deletes whole segments) or `"compact"` (closed segments
    /// keep only the newest record per key; see `src/log/compaction.rs`).
    pub cleanup_policy: String,
    /// `[log.tier]`: upload closed segments to a remote tier (absent: everything stays local).
    pub tier: Option<TierSpec>,
}

/// `[log.tier]`: the log's remote tier (Kafka's tiered storage; see `src/log/tier.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TierSpec {
    /// `"local"` (a directory; default) or `"s3"` (an S3-compatible bucket; needs a build with
    /// `--features s3`).
    pub store: String,
    /// Directory of a `"local"` store (default: `tier/` in the run's work directory).
    pub dir: Option<String>,
    /// Bucket of an `"s3"` store.
    pub bucket: Option<String>,
    /// Key prefix inside the bucket.
    pub prefix: String,
    /// Region of the bucket (default: `AWS_REGION`).
    pub region: Option<String>,
    /// Endpoint of a non-AWS S3 store (MinIO, ...).
    pub endpoint: Option<String>,
    /// Allow an `http://` endpoint.
    pub allow_http: bool,
    /// Local copies of uploaded segments are deleted once their newest append is older than
    /// this, ms (default: by size only, or never).
    pub local_retention_ms: Option<i64>,
    /// Local copies of uploaded segments are deleted, oldest first, while a partition's local
    /// segments exceed this many bytes (default: no limit).
    pub local_retention_bytes: Option<u64>,
    /// Size of the local cache of fetched cold segments, bytes.
    pub cache_bytes: u64,
    /// Modelled latency of one GET from the tier, ms (three per segment fetched).
    pub request_latency_ms: f64,
    /// Modelled transfer rate from the tier, MiB/s.
    pub bandwidth_mib_per_s: f64,
}

impl Default for TierSpec {
    fn default() -> Self {
        TierSpec {
            store: "local".into(),
            dir: None,
            bucket: None,
            prefix: String::new(),
            region: None,
            endpoint: None,
            allow_http: false,
            local_retention_ms: None,
            local_retention_bytes: None,
            cache_bytes: 64 << 20,
            request_latency_ms: 20.0,
            bandwidth_mib_per_s: 100.0,
        }
    }
}

impl LogSpec {
    /// Whether the log needs retention passes during a run (a tier, a retention limit, or
    /// compaction).
    pub fn maintained(&self) -> bool {
        self.tier.is_some()
            || self.retention_ms.is_some()
            || self.retention_bytes.is_some()
            || self.cleanup_policy == "compact"
    }
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec {
            backend: "local".into(),
            bootstrap_servers: Vec::new(),
            topic: None,
            kafka_timeout_ms: 10_000,
            retention_ms: None,
            retention_bytes: None,
            cleanup_policy: "delete".into(),
            tier: None,
        }
    }
}

/// `[cluster]`: the log replicated over in-process brokers (see `src/cluster/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSpec {
    /// Brokers.
    pub brokers: u32,
    /// Replicas per partition.
    pub replication_factor: u32,
    /// `acks = "all"` writes are refused while fewer replicas are in sync.
    pub min_insync_replicas: u32,
    /// `"0"`, `"1"` or `"all"`: when the producer counts a write as done.
    pub acks: String,
    /// Let an out-of-sync replica lead when no in-sync one is alive.
    pub unclean_leader_election: bool,
    /// A follower this far behind (ms) leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// One-way latency between brokers, ms.
    pub network_latency_ms: i64,
    /// Probability that a message between brokers is lost.
    pub network_loss: f64,
    /// Bytes per ms each broker's network link carries, each way; 0 (default) is unlimited.
    /// Replication and reassignment traffic share it, so copying a partition to a new broker
    /// takes time and delays ordinary replication.
    pub bandwidth_bytes_per_ms: u64,
    /// Bytes per ms a leader sends to replicas being added by a reassignment while they are
    /// out of sync (Kafka's `leader.replication.throttled.rate`); 0 (default) is unthrottled.
    pub reassignment_throttle_bytes_per_ms: u64,
    /// Record bytes per replica fetch response at most (Kafka's `replica.fetch.max.bytes`,
    /// default 1048576).
    pub replica_fetch_max_bytes: u64,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            brokers: 3,
            replication_factor: 3,
            min_insync_replicas: 2,
            acks: "all".into(),
            unclean_leader_election: false,
            replica_lag_time_max_ms: 10_000,
            network_latency_ms: 5,
            network_loss: 0.0,
            bandwidth_bytes_per_ms: 0,
            reassignment_throttle_bytes_per_ms: 0,
            replica_fetch_max_bytes: 1 << 20,
        }
    }
}

fn yes() -> bool {
    true
}

/// `[consumer_group]`: a downstream application reading the events topic as a Kafka consumer
/// group (see `src/log/coordinator.rs`). Its members share the partitions, commit their
/// offsets every `commit_interval_ms`, and rebalance when one joins or leaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerGroupSpec {
    /// Members at the start.
    pub members: u32,
    /// How partitions are shared: `range`, `round_robin` or `cooperative_sticky`.
    pub assignor: crate::log::coordinator::Assignor,
    /// Each member commits the offsets it has processed this often, ms.
    pub commit_interval_ms: i64,
    /// A member that dies (`member_leave` with `graceful = false`) is noticed this long after,
    /// ms; until then its partitions are not read.
    pub session_timeout_ms: i64,
    /// How long a rebalance keeps revoked partitions unread (join and sync round trips), ms.
    pub rebalance_ms: i64,
    /// Events a member processes per second at most (0: as many as arrive).
    pub member_events_per_sec: u64,
}

impl Default for ConsumerGroupSpec {
    fn default() -> Self {
        ConsumerGroupSpec {
            members: 3,
            assignor: crate::log::coordinator::Assignor::Range,
            commit_interval_ms: 5_000,
            session_timeout_ms: 10_000,
            rebalance_ms: 1_000,
            member_events_per_sec: 0,
        }
    }
}

/// The clock a run is driven by (`clock = "..."` at the scenario root).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunClock {
    /// One virtual clock; the cost model decides when results become visible; reproducible.
    #[default]
    Simulated,
    /// Wall-clock time: the producer is paced at the scenario's rate, layers run on threads,
    /// and a result is visible when its computation really finished.
    Realtime,
}

impl RunClock {
    /// Its name, as written in scenario files and `summary.json`.
    pub fn name(self) -> &'static str {
        match self {
            RunClock::Simulated => "simulated",
            RunClock::Realtime => "realtime",
        }
    }
}

/// A fault on the run's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Every stream job (lambda's speed layers, kappa's jobs) crashes at `at_ms` and restarts
    /// `down_ms` later from its consumer group's committed offsets. Results in flight are lost
    /// and their events read again. With `restore_state = true` (default) the job's state is
    /// restored from the checkpoint taken with each commit; with `false` it restarts empty, as
    /// a job without a state store would.
    SpeedCrash {
        /// When, ms.
        at_ms: i64,
        /// How long the jobs stay down, ms.
        down_ms: i64,
        /// Restore the windows' state from the last checkpoint.
        #[serde(default = "yes")]
        restore_state: bool,
    },
    /// The batch job running at `at_ms` (or the next one to start) fails instead of publishing;
    /// it is retried `retry_ms` after it failed.
    BatchFailure {
        /// When, ms.
        at_ms: i64,
        /// Delay before the retry, ms.
        retry_ms: i64,
    },
    /// The logic of `query` changes at `at_ms` (a new version is deployed): from then on the
    /// right answer — for every window, old ones included — is the new logic's. Each
    /// architecture reacts as it would in production: lambda redeploys both code paths (the
    /// next batch recomputes history; the speed layer applies it to new events), kappa
    /// reprocesses the log with the new version into a new table, the batch lake's next job
    /// uses it, the streaming lake computes with it from the next query on.
    LogicChange {
        /// When, ms.
        at_ms: i64,
        /// Which query (its name in `[[queries]]`).
        query: String,
        /// The new version excludes bot traffic (or, `false`, counts it again).
        exclude_bots: bool,
    },
    /// Nothing reaches the log during `[at_ms, at_ms + duration_ms)`; the held events are
    /// appended in a burst when the stall ends.
    ProducerStall {
        /// When, ms.
        at_ms: i64,
        /// How long, ms.
        duration_ms: i64,
    },
    /// Broker `broker` of the `[cluster]` dies at `at_ms` (its replicas close unflushed, as a
    /// killed process's) and restarts `down_ms` later, recovering its logs from disk. Partitions
    /// it led elect a new leader; what `acks` lets a dying leader take with it is measured.
    BrokerCrash {
        /// When, ms.
        at_ms: i64,
        /// Which broker (0-based; broker `p % brokers` first leads partition `p`).
        broker: u32,
        /// How long it stays down, ms.
        down_ms: i64,
    },
    /// The log directory's disk is full during `[at_ms, at_ms + duration_ms)`: every append
    /// fails with `ENOSPC` (injected under the real log by a fault-injecting storage, so the
    /// log's own rollback runs). The producer keeps what it could not append and retries every
    /// tick; nothing is dropped, so the architectures see a gap in arrivals and then a burst.
    /// The run reports the failed appends and how long the producer was blocked.
    DiskFull {
        /// When, ms.
        at_ms: i64,
        /// How long the disk stays full, ms.
        duration_ms: i64,
    },
    /// A new, empty broker joins the `[cluster]` at `at_ms` (id: the next one, so the first
    /// added to a 3-broker cluster is broker 3). With `rebalance = true` (default) partitions
    /// are reassigned at once to spread replicas and leaders evenly: the new replicas copy
    /// their data over the network (bandwidth and throttle permitting), join the ISR, take
    /// leadership where preferred, and the old replicas are deleted.
    BrokerAdd {
        /// When, ms.
        at_ms: i64,
        /// Reassign partitions to balance the cluster (else the broker stays empty).
        #[serde(default = "yes")]
        rebalance: bool,
        /// Reassignment throttle from now on, bytes per ms (as `kafka-reassign-partitions
        /// --throttle` sets it; 0 removes it); absent, `[cluster]`'s stays.
        #[serde(default)]
        throttle_bytes_per_ms: Option<u64>,
    },
    /// Broker `broker` is decommissioned at `at_ms`: each of its replicas moves to the
    /// least-loaded other broker, and it shuts down (its data deleted) once the last one has
    /// moved. A scenario that would leave fewer brokers than `replication_factor` is refused.
    BrokerRemove {
        /// When, ms.
        at_ms: i64,
        /// Which broker (ids of added brokers continue after the initial ones).
        broker: u32,
        /// Reassignment throttle from now on, bytes per ms (0 removes it); absent,
        /// `[cluster]`'s stays.
        #[serde(default)]
        throttle_bytes_per_ms: Option<u64>,
    },
    /// A new member joins the `[consumer_group]` at `at_ms` (a rebalance follows).
    MemberJoin {
        /// When, ms.
        at_ms: i64,
    },
    /// Member `member` of the `[consumer_group]` leaves at `at_ms`. Gracefully (default) it
    /// commits what it processed and leaves at once; otherwise it dies, its uncommitted work is
    /// lost, and the group notices after `session_timeout_ms`.
    MemberLeave {
        /// When, ms.
        at_ms: i64,
        /// Which member (0-based in joining order; joined members continue the numbering).
        member: u32,
        /// Commit and leave (`true`) or die (`false`).
        #[serde(default = "yes")]
        graceful: bool,
    },
}

impl Fault {
    /// When the fault happens, ms.
    pub fn at_ms(&self) -> i64 {
        match self {
            Fault::SpeedCrash { at_ms, .. }
            | Fault::BatchFailure { at_ms, .. }
            | Fault::LogicChange { at_ms, .. }
            | Fault::ProducerStall { at_ms, .. }
            | Fault::BrokerCrash { at_ms, .. } => *at_ms,
            Fault::DiskFull { at_ms, .. }
            | Fault::BrokerAdd { at_ms, .. }
            | Fault::BrokerRemove { at_ms, .. }
            | Fault::MemberJoin { at_ms }
            | Fault::MemberLeave { at_ms, .. } => *at_ms,
        }
    }

    /// Its kind, as written in scenario files.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::SpeedCrash { .. } => "speed_crash",
            Fault::BatchFailure { .. } => "batch_failure",
            Fault::LogicChange { .. } => "logic_change",
            Fault::ProducerStall { .. } => "producer_stall",
            Fault::BrokerCrash { .. } => "broker_crash",
            Fault::DiskFull { .. } => "disk_full",
            Fault::BrokerAdd { .. } => "broker_add",
            Fault::BrokerRemove { .. } => "broker_remove",
            Fault::MemberJoin { .. } => "member_join",
            Fault::MemberLeave { .. } => "member_leave",
        }
    }
}

/// Expected outcomes of a scenario, stated in the file so the lesson is checked, not hoped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    /// Architectures whose final answers must equal the oracle exactly.
    pub exact: Vec<String>,
    /// Architectures whose final answers must differ from the oracle (the scenario's point).
    pub inexact: Vec<String>,
    /// With a `[cluster]`: whether the run must lose acknowledged events (`true`) or must not
    /// (`false`).
    pub lost_acked_events: Option<bool>,
}

fn default_sample_every_ms() -> i64 {
    1000
}

/// The seeded event generator's settings.
///
/// Two kinds of events share one shape (see `workload::Event`): `keyed` events (a key drawn
/// uniform or Zipf over `keys`, a value to sum) and `ads` events, the Yahoo Streaming
/// Benchmark's ad views, clicks and purchases keyed by ad id, `campaigns × ads_per_campaign`
/// ads in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// What events look like: `keyed` (default) or `ads` (Yahoo Streaming Benchmark).
    #[serde(default)]
    pub kind: WorkloadKind,
    /// Events per second of simulated time (at time 0 when the rate ramps).
    pub rate_per_sec: u32,
    /// Number of distinct keys of `keyed` events (default 100).
    #[serde(default = "default_keys")]
    pub keys: u32,
    /// Key popularity (keys, or ads for `ads`): `uniform` or `zipf`.
    #[serde(default)]
    pub key_distribution: KeyDistribution,
    /// Zipf exponent when `key_distribution = "zipf"` (default 1.0).
    #[serde(default = "default_zipf")]
    pub zipf_exponent: f64,
    /// Partitions of the events topic.
    pub partitions: u32,
    /// Fraction of events that arrive out of order (their event time lags their arrival by
    /// 1..=`max_delay_ms`).
    #[serde(default)]
    pub out_of_order_fraction: f64,
    /// Largest lag of an out-of-order event, in ms.
    #[serde(default)]
    pub max_delay_ms: i64,
    /// Fraction of events that arrive very late: their event time lags their arrival by
    /// `late_delay_ms` ± 10%, meant to exceed the stream side's allowed lateness (default 0).
    #[serde(default)]
    pub late_fraction: f64,
    /// Typical lag of a very late event, in ms (default 0).
    #[serde(default)]
    pub late_delay_ms: i64,
    /// Distinct users; every event's `user_id` is uniform over them (default 10 000).
    #[serde(default = "default_users")]
    pub users: u64,
    /// Distinct pages; every event's `page_id` is uniform over them (default 1000).
    #[serde(default = "default_pages")]
    pub pages: u64,
    /// Campaigns of an `ads` workload (default 100).
    #[serde(default = "default_campaigns")]
    pub campaigns: u32,
    /// Ads per campaign of an `ads` workload (default 10).
    #[serde(default = "default_ads_per_campaign")]
    pub ads_per_campaign: u32,
    /// When set, the rate ramps linearly from `rate_per_sec` at time 0 to this at the end of
    /// the run.
    #[serde(default)]
    pub ramp_to_rate_per_sec: Option<u32>,
    /// Bursts: inside each, the rate is multiplied (`[[workload.bursts]]`; none by default).
    #[serde(default)]
    pub bursts: Vec<Burst>,
    /// Events each log record stands for (default 1): the generator writes one record per this
    /// many identical events (same key, event time and fields), carrying the number as its
    /// weight; every query counts and sums by weight and the cost model charges per event. How
    /// a simulated day at thousands of events/s fits in seconds.
    #[serde(default = "default_events_per_record")]
    pub events_per_record: u32,
}

fn default_events_per_record() -> u32 {
    1
}

impl Default for Workload {
    /// A small keyed workload: 100 events/s over 100 keys, one partition, all on time.
    fn default() -> Self {
        Workload {
            kind: WorkloadKind::default(),
            rate_per_sec: 100,
            keys: default_keys(),
            key_distribution: KeyDistribution::default(),
            zipf_exponent: default_zipf(),
            partitions: 1,
            out_of_order_fraction: 0.0,
            max_delay_ms: 0,
            late_fraction: 0.0,
            late_delay_ms: 0,
            users: default_users(),
            pages: default_pages(),
            campaigns: default_campaigns(),
            ads_per_campaign: default_ads_per_campaign(),
            ramp_to_rate_per_sec: None,
            bursts: Vec::new(),
            events_per_record: 1,
        }
    }
}

fn default_zipf() -> f64 {
    1.0
}

fn default_keys() -> u32 {
    100
}

fn default_users() -> u64 {
    10_000
}

fn default_pages() -> u64 {
    1000
}

fn default_campaigns() -> u32 {
    100
}

fn default_ads_per_campaign() -> u32 {
    10
}

/// What the generated events look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// Keyed events: `key-0007`, a value 1..=100 to sum.
    #[default]
    Keyed,
    /// Yahoo Streaming Benchmark ad events: keyed by ad id, value 1, view/click/purchase.
    Ads,
}

/// A stretch of time in which the rate is multiplied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    /// Start, in ms from the beginning of the run.
    pub start_ms: i64,
    /// Length, in ms.
    pub duration_ms: i64,
    /// The rate inside the burst is the rate outside times this (0 makes an outage).
    pub multiplier: f64,
}

impl Burst {
    /// Whether time `t_ms` falls inside the burst.
    pub fn contains(&self, t_ms: i64) -> bool {
        t_ms >= self.start_ms && t_ms - self.start_ms < self.duration_ms
    }
}

/// How keys are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyDistribution {
    /// Every key equally likely.
    #[default]
    Uniform,
    /// A few hot keys (Zipf's law).
    Zipf,
}

/// A query every architecture answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Query name: `key_window_count`, `campaign_window_count`, `key_sum` or `distinct_users`.
    pub name: String,
    /// Window length in ms.
    pub window_ms: i64,
    /// Distance between window starts in ms; absent means tumbling (`slide_ms = window_ms`).
    #[serde(default)]
    pub slide_ms: Option<i64>,
    /// Let the stream side approximate (`distinct_users` only: HyperLogLog). Default false.
    #[serde(default)]
    pub approximate: bool,
    /// HyperLogLog precision, 4..=16 (default 12: 4096 registers, about 1.6% error).
    #[serde(default = "default_hll_precision")]
    pub hll_precision: u8,
    /// Logic version 2 from the start: leave out bot traffic (user ids that are multiples of 10).
    #[serde(default)]
    pub exclude_bots: bool,
}

fn default_hll_precision() -> u8 {
    12
}

/// What a stream job does with an event whose window already closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatePolicy {
    /// Leave it out of the answers; count it in the metrics.
    #[default]
    Drop,
    /// Leave it out of the answers; keep it in a side output (counted, and listed in results).
    SideOutput,
}

/// Kappa settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kappa {
    /// Start a reprocessing job (a new table from the retained log) at each of these times, ms.
    pub reprocess_at_ms: Vec<i64>,
    /// Reprocess from the first offset at or after this event time (time index), not offset 0.
    pub reprocess_from_time_ms: Option<i64>,
}

/// `[serving]`: what every architecture's serving side keeps, and the oracle with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Serving {
    /// Answer retention, ms (a serving store's time-to-live): a window whose end is this far
    /// behind the run's clock is dropped from every served answer and from the exact answers
    /// it is compared with. Absent: answers are kept for the whole run. What a long-running
    /// deployment sets so that its state stays flat (see `scripts/soak-realtime.toml`).
    pub ttl_ms: Option<i64>,
}

/// Streaming-lake settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lake {
    /// The log rolls its active segment this often (ms), so closed segments can be tiered.
    pub segment_ms: i64,
    /// Fixed cost of converting one closed segment to Parquet, ms (simulated).
    pub tier_overhead_ms: f64,
    /// Cost per event of converting, microseconds (simulated).
    pub tier_cost_us_per_event: f64,
    /// Fixed cost of one query (cold scan + hot tail), ms (simulated).
    pub query_overhead_ms: f64,
    /// Cost per event read by a query, microseconds (simulated).
    pub query_cost_us_per_event: f64,
}

impl Default for Lake {
    fn default() -> Self {
        Lake {
            segment_ms: 10_000,
            tier_overhead_ms: 200.0,
            tier_cost_us_per_event: 5.0,
            query_overhead_ms: 50.0,
            query_cost_us_per_event: 0.5,
        }
    }
}

/// Streaming-layer settings, shared by lambda's speed layer and kappa's job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Speed {
    /// How often the stream job polls the log, in ms.
    pub poll_interval_ms: i64,
    /// Fixed cost of processing one poll, in ms (simulated).
    pub overhead_ms: f64,
    /// Cost per event, in microseconds (simulated).
    pub cost_us_per_event: f64,
    /// The watermark trails the largest event time seen by this much, in ms.
    pub watermark_delay_ms: i64,
    /// Events later than the watermark by more than this are dropped (and counted as late).
    pub allowed_lateness_ms: i64,
    /// What happens to such late events (`drop` or `side_output`); either way they are counted.
    pub late_policy: LatePolicy,
    /// A deliberate difference between lambda's hand-written speed code and its batch code
    /// (`logic-drift` scenario): `none` (default), `boundary` (events exactly on a window
    /// boundary go to the earlier window: a `<` written as `<=`), or `no_view_filter` (the
    /// speed path of `campaign_window_count` forgot to keep only `view` events).
    pub drift: Drift,
}

/// How lambda's speed code deviates from its batch code (only lambda has two code paths).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    /// The two paths agree.
    #[default]
    None,
    /// Events exactly on a window boundary are put in the earlier window.
    Boundary,
    /// `campaign_window_count` counts every event type, not only views.
    NoViewFilter,
}

impl Default for Speed {
    fn default() -> Self {
        Speed {
            poll_interval_ms: 500,
            overhead_ms: 5.0,
            cost_us_per_event: 2.0,
            watermark_delay_ms: 0,
            allowed_lateness_ms: 0,
            late_policy: LatePolicy::Drop,
            drift: Drift::None,
        }
    }
}

/// Batch-layer settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Batch {
    /// A batch job starts every this many ms (if the previous one finished).
    pub interval_ms: i64,
    /// Fixed cost of one job, in ms (simulated).
    pub overhead_ms: f64,
    /// Cost per event, in microseconds (simulated).
    pub cost_us_per_event: f64,
}

impl Default for Batch {
    fn default() -> Self {
        Batch { interval_ms: 60_000, overhead_ms: 2_000.0, cost_us_per_event: 20.0 }
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    ///
    /// Binary or non-UTF-8 files are refused before TOML sees them, so the message says "not
    /// a text TOML file" (with the line and byte) instead of a puzzling syntax error.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let bytes = std::fs::read(path)
            .map_err(|source| ScenarioError::Read { path: path.to_path_buf(), source })?;
        let text = check_text(&bytes, path)?;
        Scenario::parse(text, path)
    }

    /// Parses scenario text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Scenario, ScenarioError> {
        // Editors on some systems write a byte-order mark; it is not content.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if is_blank(text) {
            return Err(ScenarioError::Empty { path: origin.to_path_buf(), line: 1 });
        }
        let scenario: Scenario = toml::from_str(text).map_err(|e| toml_error(text, origin, &e))?;
        validate::check(&scenario, text, origin)?;
        Ok(scenario)
    }
}

/// True when the text has nothing but whitespace and comments.
fn is_blank(text: &str) -> bool {
    text.lines().map(str::trim).all(|line| line.is_empty() || line.starts_with('#'))
}

/// The bytes as text, or an error pointing at the first byte a TOML file cannot contain:
/// invalid UTF-8, NUL, or an ASCII control byte other than tab, newline and carriage return.
fn check_text<'a>(bytes: &'a [u8], path: &Path) -> Result<&'a str, ScenarioError> {
    let utf8 = std::str::from_utf8(bytes);
    let valid_up_to = match &utf8 {
        Ok(_) => bytes.len(),
        Err(e) => e.valid_up_to(),
    };
    let control = bytes[..valid_up_to]
        .iter()
        .position(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f);
    let (offset, message) = match (control, utf8) {
        (Some(offset), _) => {
            let what = if bytes[offset] == 0 { "NUL byte" } else { "control character" };
            (offset, what.to_string())
        }
        (None, Err(_)) => (valid_up_to, "invalid UTF-8".to_string()),
        (None, Ok(text)) => return Ok(text),
    };
    let (line, column) = locate::line_col_bytes(bytes, offset);
    Err(ScenarioError::NotText {
        path: path.to_path_buf(),
        line,
        column,
        offset,
        byte: bytes[offset],
        message,
    })
}

/// Turns toml's error (a byte span and a message) into one naming line, column and field.
fn toml_error(text: &str, origin: &Path, error: &toml::de::Error) -> ScenarioError {
    // One line per error: toml's messages are short, but make sure.
    let message = error.message().trim().replace('\n', " ");
    let named = named_key(&message);
    let (line, column, mut path, on_header) = match error.span() {
        Some(span) => {
            let (line, column) = locate::line_col(text, span.start);
            // A missing field in the root table comes with an empty span at offset 0, which
            // may also be where the first `[table]` header starts: that is not its table.
            let (path, on_header) = if span.is_empty() && message.starts_with("missing field") {
                (Vec::new(), false)
            } else {
                locate::context_at(text, span.start)
            };
            (line, Some(column), path, on_header)
        }
        None => (1, None, Vec::new(), false),
    };
    if let Some(name) = named {
        // On a header such as `[workload.extra]` the span points at `extra` itself, which
        // the context already ends with; elsewhere it points at a key inside the context.
        let already = on_header
            && !message.starts_with("missing field")
            && path.last().map(String::as_str) == Some(name);
        if !already {
            path.push(name.to_string());
        }
    }
    ScenarioError::Toml {
        path: origin.to_path_buf(),
        line,
        column,
        field: (!path.is_empty()).then(|| path.join(".")),
        message,
    }
}

/// The key named by messages like "unknown field `x`, …", "missing field `x`" and
/// "duplicate key `x` …".
fn named_key(message: &str) -> Option<&str> {
    ["unknown field `", "missing field `", "duplicate key `"].iter().find_map(|prefix| {
        let rest = message.strip_prefix(prefix)?;
        rest.split('`').next()
    })
}

/// How long a producer waits before a write counts as acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// Fire and forget: acknowledged when sent, even if no leader stores it.
    Zero,
    /// Acknowledged once the leader has appended it.
    One,
    /// Acknowledged once every in-sync replica has it (the high watermark passed it).
    All,
}

impl std::str::FromStr for Acks {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "0" => Ok(Acks::Zero),
            "1" => Ok(Acks::One),
            "all" | "-1" => Ok(Acks::All),
            other => Err(format!("acks must be 0, 1 or all, not `{other}`")),
        }
    }
}
