//! The simulated driver: one virtual clock for the producer, every architecture and the oracle.
//!
//! Components do the real computation on the real records read from the log; *when* their
//! results become visible is decided by the cost model in the scenario (overhead + events ×
//! per-event cost). Time advances in fixed ticks. Nothing here reads the wall clock, and every
//! random choice was made by the seeded generator, so a run is reproducible byte for byte.

use std::path::Path;
use std::sync::Arc;

use crate::arch::{self, ArchContext, ArchError, ArchStats, Architecture};
use crate::cluster::{
    Acks, Cluster, ClusterConfig, ClusterError, ClusterFeed, ClusterSample, ClusterStats,
    FeedStats, ScaleOut,
};
use crate::kafka::{KafkaConfig, KafkaFeed, KafkaStats};
use crate::log::coordinator::{GroupConfig, GroupRun, GroupStats};
use crate::log::{
    FaultConfig, FaultyStorage, FsyncPolicy, Log, LogConfig, LogError, ManualClock, Producer,
    ProducerConfig, Record, TimestampMs,
};
use crate::metrics::{self, CorrectnessTracker, ErrorSample, FreshnessTracker, Percentiles};
use crate::oracle::Oracle;
use crate::query::{QuerySet, Table, TrackedTable};
use crate::scenario::{ClusterSpec, Fault, LogSpec, RunClock, Scenario};
use crate::workload;

/// The topic every architecture reads.
pub const EVENTS_TOPIC: &str = "events";

/// What one architecture did in a run.
#[derive(Debug, Clone)]
pub struct ArchRun {
    /// Architecture id.
    pub id: String,
    /// Consistency error against the oracle at each sample time.
    pub samples: Vec<(TimestampMs, ErrorSample)>,
    /// Freshness of visible events.
    pub freshness: Percentiles,
    /// Events never reflected in the served answers.
    pub never_visible: u64,
    /// Error once the run ended (every layer quiescent, unless `converged` is false).
    pub final_error: ErrorSample,
    /// When the architecture first reflected the whole log after the workload stopped.
    pub quiescent_at_ms: Option<TimestampMs>,
    /// End-of-run counters.
    pub stats: ArchStats,
    /// The served answers at the end.
    pub final_view: Table,
    /// Per window: from its end until the served answer is right and stays right, ms.
    pub time_to_correct: Percentiles,
    /// Windows still wrong at the end.
    pub windows_never_correct: u64,
    /// Staleness at each sample time (`None` before the first event).
    pub staleness: Vec<(TimestampMs, Option<i64>)>,
    /// What happened when (batch jobs, crashes, reprocessing, redeploys).
    pub timeline: Vec<(TimestampMs, &'static str)>,
    /// Bytes in cold storage at each sample time (the streaming lake's Parquet files).
    pub cold_bytes: Vec<(TimestampMs, u64)>,
    /// Wall-clock ms spent in this architecture's code (measured, not simulated: differs
    /// between runs, so it goes to `timing.json`, never to `summary.json`).
    pub wall_ms: f64,
}

/// Everything a run produced (simulated or realtime).
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Events generated and appended (each record counts for the events it stands for).
    pub events: u64,
    /// Log records those events were written as (`events / events_per_record`).
    pub records: u64,
    /// Events generated out of order (event time before arrival).
    pub out_of_order_events: u64,
    /// Simulated time the run ended.
    pub end_ms: TimestampMs,
    /// Simulated tick length.
    pub tick_ms: i64,
    /// Whether every architecture became quiescent before the drain limit.
    pub converged: bool,
    /// The exact answers at the end.
    pub oracle_final: Table,
    /// The queries that ran.
    pub queries: Arc<QuerySet>,
    /// Bytes of the log (hot storage) at each sample time.
    pub log_bytes: Vec<(TimestampMs, u64)>,
    /// Wall-clock ms of the whole simulation (measured).
    pub wall_ms: f64,
    /// Per architecture, in scenario order.
    pub architectures: Vec<ArchRun>,
    /// What the replicated cluster did, when the scenario has a `[cluster]`.
    pub cluster: Option<ClusterRun>,
    /// What went through the real Kafka brokers, with `[log] backend = "kafka"`.
    pub kafka: Option<KafkaStats>,
    /// The clock that drove the run.
    pub clock: RunClock,
    /// The run was interrupted (Ctrl-C in a realtime run): the results cover what happened
    /// until then.
    pub partial: bool,
    /// What `disk_full` faults did to the producer (`None` when the scenario has none).
    pub disk_full: Option<DiskFullReport>,
    /// What the `[consumer_group]` did (membership, rebalances, reprocessing), if any.
    pub consumer_group: Option<GroupStats>,
    /// The log's tiers, retention and compaction, when `[log]` sets any of them.
    pub log_storage: Option<LogStorageRun>,
}

/// What the log's remote tier, retention and compaction did in a run (`[log]` retention,
/// `cleanup_policy`, `[log.tier]`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LogStorageRun {
    /// Bytes of local (hot) and remote (cold) `.log` files at each sample: `(t, hot, cold)`.
    /// A segment uploaded and still local counts in both. In `timeseries.csv`, not here.
    #[serde(skip)]
    pub bytes: Vec<(TimestampMs, u64, u64)>,
    /// Largest hot bytes at a sample.
    pub hot_bytes_max: u64,
    /// Largest cold bytes at a sample.
    pub cold_bytes_max: u64,
    /// Hot bytes at the end.
    pub hot_bytes_end: u64,
    /// Cold bytes at the end.
    pub cold_bytes_end: u64,
    /// Local segments deleted by total retention.
    pub segments_deleted: u64,
    /// Records removed by compaction.
    pub compacted_records: u64,
    /// The remote tier's figures (`None` without `[log.tier]`).
    pub tier: Option<TierRun>,
}

/// The remote tier's figures in a run (see `src/log/tier.rs` and `results/README.md`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TierRun {
    /// `"local"` or `"s3"`.
    pub store: String,
    /// The tier's counters (uploads, offloads, fetches, cache hits...), as the log keeps them.
    #[serde(flatten)]
    pub counters: crate::log::TierStats,
    /// Total time of the cold fetches, ms: the cost model's in a simulated run, measured in a
    /// realtime one (see `cold_fetch_timing`).
    pub cold_fetch_ms: f64,
    /// `cold_fetch_ms` per fetch.
    pub cold_fetch_ms_mean: f64,
    /// `"model"` (simulated) or `"measured"` (realtime).
    pub cold_fetch_timing: &'static str,
}

impl LogStorageRun {
    /// Notes the hot and cold bytes of `log` at `t`.
    pub fn sample(&mut self, t: TimestampMs, log: &Log) {
        let (hot, cold) = log.tier_bytes();
        self.bytes.push((t, hot, cold));
        self.hot_bytes_max = self.hot_bytes_max.max(hot);
        self.cold_bytes_max = self.cold_bytes_max.max(cold);
        (self.hot_bytes_end, self.cold_bytes_end) = (hot, cold);
    }

    /// Adds what a retention pass did.
    pub fn absorb(&mut self, r: &crate::log::RetentionReport) {
        self.segments_deleted += r.deleted_segments.len() as u64;
        self.compacted_records += r.compacted_records;
    }

    /// Takes the tier's counters at the end of a run; `measured` picks wall-clock fetch times
    /// over the model's.
    pub fn finish(&mut self, spec: &LogSpec, log: &Log, measured: bool) {
        let (Some(t), Some(stats)) = (&spec.tier, log.tier_stats()) else { return };
        let ms = if measured { stats.cold_fetch_measured_ms } else { stats.cold_fetch_model_ms };
        self.tier = Some(TierRun {
            store: t.store.clone(),
            counters: stats.clone(),
            cold_fetch_ms: (ms * 1000.0).round() / 1000.0,
            cold_fetch_ms_mean: if stats.cold_fetches > 0 {
                (ms / stats.cold_fetches as f64 * 1000.0).round() / 1000.0
            } else {
                0.0
            },
            cold_fetch_timing: if measured { "measured" } else { "model" },
        });
    }
}

/// Sets `config`'s retention, cleanup policy and remote tier from the scenario's `[log]`: the
/// tier of a `"local"` store lives in `work_dir/tier` unless `dir` says otherwise, its cache in
/// `work_dir/tier-cache`.
pub fn apply_log_spec(
    config: &mut LogConfig,
    spec: &LogSpec,
    work_dir: &Path,
) -> Result<(), ArchError> {
    use crate::log::{CleanupPolicy, ColdReadCost, RemoteStore, Tier, TierConfig};
    config.retention_ms = spec.retention_ms;
    config.retention_bytes = spec.retention_bytes;
    config.cleanup_policy = if spec.cleanup_policy == "compact" {
        CleanupPolicy::Compact
    } else {
        CleanupPolicy::Delete
    };
    let Some(t) = &spec.tier else { return Ok(()) };
    let remote = match t.store.as_str() {
        "s3" => RemoteStore::S3 {
            bucket: t.bucket.clone().unwrap_or_default(),
            prefix: t.prefix.clone(),
            region: t.region.clone(),
            endpoint: t.endpoint.clone(),
            allow_http: t.allow_http,
        },
        _ => RemoteStore::Local {
            root: t.dir.as_ref().map_or_else(|| work_dir.join("tier"), std::path::PathBuf::from),
        },
    };
    let tier = Tier::open(TierConfig {
        remote,
        cache_dir: work_dir.join("tier-cache"),
        cache_bytes: t.cache_bytes,
        local_retention_ms: t.local_retention_ms,
        local_retention_bytes: t.local_retention_bytes,
        cost: ColdReadCost {
            request_latency_ms: t.request_latency_ms,
            bandwidth_mib_per_s: t.bandwidth_mib_per_s,
        },
    })?;
    config.tier = Some(tier);
    Ok(())
}

/// What `disk_full` faults did: appends that failed with `ENOSPC` and how long the producer was
/// held up. Nothing is dropped: the producer keeps the records it could not append.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DiskFullReport {
    /// Append attempts that failed with `ENOSPC` (the first try and one retry per tick).
    pub failed_appends: u64,
    /// Simulated ms from each first failed append until the held records were appended, summed.
    pub blocked_ms: i64,
    /// The most records waiting at once for space: held by the producer after a failed append,
    /// or arrived and queued behind them.
    pub max_waiting_records: u64,
    /// The log's error for the first failed append, as a user would see it.
    pub first_error: Option<String>,
}

/// Whether `e` is the log refusing an append because the disk is full.
fn is_disk_full(e: &LogError) -> bool {
    matches!(e, LogError::Io { source, .. } if source.raw_os_error() == Some(28))
}

/// What a `[cluster]` between the producer and the architectures did in a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusterRun {
    /// Events the workload generated (the log holds only what was committed).
    pub events_generated: u64,
    /// The producer's and the consumer view's figures (acked, lost, refused, retried).
    #[serde(flatten)]
    pub feed: FeedStats,
    /// The replication protocol's counters (elections, ISR changes, bytes replicated).
    pub replication: ClusterStats,
    /// Brokers added or removed: what moved, how long it took, and what it cost the producer
    /// and the architectures' freshness (absent when the cluster did not change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale_out: Option<ScaleOut>,
    /// The cluster at each sample time (for `timeseries.csv`).
    #[serde(skip)]
    pub samples: Vec<ClusterSample>,
}

/// Where a scenario's `[log] backend = "kafka"` brokers are and what the topic is called.
pub(crate) fn kafka_config(scenario: &Scenario) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: scenario.log.bootstrap_servers.clone(),
        topic: scenario.log.topic.clone().unwrap_or_else(|| format!("workbench-{}", scenario.name)),
        partitions: scenario.workload.partitions,
        timeout: std::time::Duration::from_millis(scenario.log.kafka_timeout_ms),
    }
}

/// A Kafka failure as the architectures' error (a local replica's log error stays one).
pub(crate) fn kafka_err(e: crate::kafka::KafkaError) -> ArchError {
    match e {
        crate::kafka::KafkaError::Log(source) => ArchError::Log(source),
        e => ArchError::Engine { layer: "kafka", message: e.to_string() },
    }
}

fn cluster_err(e: ClusterError) -> ArchError {
    match e {
        ClusterError::Log { source, .. } => ArchError::Log(source),
        e => ArchError::Engine { layer: "cluster", message: e.to_string() },
    }
}

/// The replicated cluster of `spec` in front of the events topic, in `work_dir/cluster`.
fn open_cluster(
    spec: &ClusterSpec,
    scenario: &Scenario,
    work_dir: &Path,
    log: &LogConfig,
    clock: Arc<ManualClock>,
) -> Result<ClusterFeed, ArchError> {
    let config = ClusterConfig {
        brokers: spec.brokers,
        replication_factor: spec.replication_factor,
        min_insync_replicas: spec.min_insync_replicas,
        replica_lag_time_max_ms: spec.replica_lag_time_max_ms,
        unclean_leader_election: spec.unclean_leader_election,
        network_latency_ms: spec.network_latency_ms,
        network_loss: spec.network_loss,
        fetch_max_records: 10_000,
        fetch_max_bytes: spec.replica_fetch_max_bytes as usize,
        bandwidth_bytes_per_ms: spec.bandwidth_bytes_per_ms,
        reassignment_throttle_bytes_per_ms: spec.reassignment_throttle_bytes_per_ms,
        seed: scenario.seed,
        log: log.clone(),
    };
    let acks: Acks =
        spec.acks.parse().map_err(|message| ArchError::Engine { layer: "cluster", message })?;
    let cluster =
        Cluster::open(&work_dir.join("cluster"), scenario.workload.partitions, config, clock)
            .map_err(cluster_err)?;
    Ok(ClusterFeed::new(cluster, acks, EVENTS_TOPIC))
}

/// Greatest common divisor (the tick that divides every interval).
pub(crate) fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Runs `scenario` on the simulated clock, with its log in `work_dir/log` and any files an
/// architecture keeps (the lake's cold tier) under `work_dir` (which should be empty or absent).
pub fn simulate(scenario: &Scenario, work_dir: &Path) -> Result<RunResult, ArchError> {
    simulate_with(scenario, work_dir, &arch::build, &mut |_, _| {})
}

/// How [`simulate_with`] builds an architecture from its id (`None`: unknown id, skipped).
pub type BuildFn<'f> =
    dyn Fn(&str, &ArchContext<'_>, &Log) -> Option<Result<Box<dyn Architecture>, ArchError>> + 'f;

/// [`simulate`] with architectures built by `build` instead of the registry: how tests run
/// deliberately faulty variants through the same driver.
/// `progress(t, horizon)` is called as simulated time advances (for a progress bar).
pub fn simulate_with(
    scenario: &Scenario,
    work_dir: &Path,
    build: &BuildFn<'_>,
    progress: &mut dyn FnMut(TimestampMs, TimestampMs),
) -> Result<RunResult, ArchError> {
    let clock = Arc::new(ManualClock::new(0));
    // Durability costs nothing on a simulated clock; skip fsync so runs are fast. Segments roll
    // by time so the streaming lake has closed segments to tier.
    let mut config = LogConfig {
        fsync: FsyncPolicy::Never,
        segment_bytes: 64 * 1024 * 1024,
        segment_ms: Some(scenario.lake.segment_ms),
        ..LogConfig::default()
    };
    apply_log_spec(&mut config, &scenario.log, work_dir)?;
    let mut log_storage = scenario.log.maintained().then(LogStorageRun::default);
    // A `disk_full` fault needs a disk that can be made full: the fault-injecting storage
    // (seeded, so the run stays reproducible). Other runs use the real file system untouched.
    let full_windows: Vec<(i64, i64)> = scenario
        .faults
        .iter()
        .filter_map(|f| match f {
            Fault::DiskFull { at_ms, duration_ms } => Some((*at_ms, at_ms + duration_ms)),
            _ => None,
        })
        .collect();
    let disk =
        (!full_windows.is_empty()).then(|| FaultyStorage::new(FaultConfig::none(scenario.seed)));
    if let Some(disk) = &disk {
        config.storage = Arc::new(disk.clone());
    }
    let mut disk_full = disk.as_ref().map(|_| DiskFullReport::default());
    // Since when the producer holds records it could not append (disk full).
    let mut blocked_since: Option<TimestampMs> = None;
    let mut feed = match &scenario.cluster {
        Some(spec) => Some(open_cluster(spec, scenario, work_dir, &config, clock.clone())?),
        None => None,
    };
    let mut restarts: Vec<(TimestampMs, u32)> = Vec::new();
    let mut kafka = match scenario.log.backend.as_str() {
        "kafka" => Some(KafkaFeed::connect(kafka_config(scenario)).map_err(kafka_err)?),
        _ => None,
    };
    let mut log = Log::open(work_dir.join("log"), config, clock.clone())?;
    log.create_topic(EVENTS_TOPIC, scenario.workload.partitions)?;
    let partitions = scenario.workload.partitions as usize;
    let mut group = match &scenario.consumer_group {
        Some(g) => Some(GroupRun::new(&log, group_config(g), g.members, 0)?),
        None => None,
    };

    // Counted here, then generated again as they arrive (`workload::tally`).
    let (event_count, out_of_order_events) =
        workload::tally(&scenario.workload, scenario.seed, scenario.duration_ms);
    let mut events =
        Arrivals::new(workload::events(&scenario.workload, scenario.seed, scenario.duration_ms));

    let mut queries = Arc::new(QuerySet::from_scenario(scenario));
    let ctx = ArchContext {
        scenario,
        queries: queries.clone(),
        topic: EVENTS_TOPIC,
        work_dir,
        timing: arch::Timing::CostModel,
        column_cache: Default::default(),
    };
    let mut archs: Vec<Box<dyn Architecture>> = Vec::new();
    for id in &scenario.architectures {
        // Ids were checked when the scenario was loaded; an unknown one here is skipped.
        if let Some(a) = build(id, &ctx, &log) {
            archs.push(a?);
        }
    }
    let mut records: Vec<ArchRecord> = archs.iter().map(|_| ArchRecord::new(partitions)).collect();
    let mut log_bytes = Vec::new();
    let started = std::time::Instant::now();
    let mut oracle = Oracle::new(&log, EVENTS_TOPIC, &queries)?;
    if scenario.log.maintained() {
        // Retention, compaction or a remote tier: the log may not hold (or cheaply serve) the
        // whole history when a logic change needs it again.
        oracle.keep_history();
    }
    // One batch per partition per tick (or per 64 KiB): the driver flushes at the end of every
    // tick, so linger never holds a record past its tick. (With linger 0 every record was its
    // own batch: one write, one CRC and one frame per record, 12% of a long run.)
    let mut producer =
        Producer::new(ProducerConfig { linger_ms: i64::MAX, max_batch_bytes: 64 * 1024 });

    let tick_ms = scenario.tick_ms.unwrap_or_else(|| {
        [scenario.speed.poll_interval_ms, scenario.sample_every_ms, scenario.batch.interval_ms]
            .into_iter()
            .fold(100, gcd)
            .max(1)
    });
    // After the workload stops, allow ten batch cycles for every layer to settle, and the
    // modelled time to work through the whole log again.
    let horizon = scenario.duration_ms
        + 10 * (scenario.batch.interval_ms + scenario.speed.poll_interval_ms)
        + drain_allowance_ms(scenario, event_count);
    let mut t: TimestampMs = 0;
    let mut faults: Vec<&Fault> = scenario.faults.iter().collect();
    faults.sort_by_key(|f| f.at_ms());
    let mut next_fault = 0;
    let converged = loop {
        clock.set(t);
        while let Some(fault) = faults.get(next_fault).filter(|f| f.at_ms() <= t) {
            if let Fault::LogicChange { query, exclude_bots, .. } = fault {
                let mut next = (*queries).clone();
                for (spec, q) in next.specs.iter_mut().zip(&scenario.queries) {
                    if &q.name == query {
                        spec.exclude_bots = *exclude_bots;
                    }
                }
                queries = Arc::new(next);
                // The truth changes with the logic: every window, old ones too, is now judged
                // by the new version.
                oracle.set_queries(&queries);
                for a in archs.iter_mut() {
                    a.logic_change(queries.clone(), t, &log)?;
                }
            }
            if let (Fault::BrokerCrash { broker, down_ms, .. }, Some(feed)) = (fault, &mut feed) {
                feed.cluster_mut().crash(*broker, t).map_err(cluster_err)?;
                restarts.push((t + down_ms, *broker));
            }
            apply_membership(fault, t, feed.as_mut(), group.as_mut(), &log)?;
            for a in archs.iter_mut() {
                a.fault(fault, t, &log)?;
            }
            next_fault += 1;
        }
        if let Some(feed) = &mut feed {
            for &(_, broker) in restarts.iter().filter(|(at, _)| *at <= t) {
                // A broker decommissioned while it was down stays gone.
                if !feed.cluster().is_removed(broker) {
                    feed.cluster_mut().restart(broker, t).map_err(cluster_err)?;
                }
            }
            restarts.retain(|(at, _)| *at > t);
        }
        // A producer stall holds every event until it ends; they then arrive in a burst.
        let stalled = scenario.faults.iter().any(|f| {
            matches!(f, Fault::ProducerStall { at_ms, duration_ms } if (*at_ms..at_ms + duration_ms).contains(&t))
        });
        if let Some(disk) = &disk {
            disk.set_disk_full(full_windows.iter().any(|&(from, to)| (from..to).contains(&t)));
        }
        // Records held since a failed append go first (retried once per tick); new events wait
        // behind them, so order is kept.
        let mut failed: Option<LogError> = None;
        if blocked_since.is_some() {
            match producer.flush(&log) {
                Ok(_) => {
                    if let (Some(since), Some(r)) = (blocked_since.take(), disk_full.as_mut()) {
                        r.blocked_ms += t - since;
                    }
                }
                Err(e) if disk.is_some() && is_disk_full(&e) => failed = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        while let Some(e) =
            events.next_due(t).filter(|_| !stalled && blocked_since.is_none() && failed.is_none())
        {
            let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes());
            match (&mut feed, &mut kafka) {
                (Some(feed), _) => {
                    feed.send(record, e.arrival_ms);
                    events.take();
                }
                (None, Some(kafka)) => {
                    kafka.send(record);
                    events.take();
                }
                (None, None) => {
                    let held = producer.pending_records();
                    match producer.send(&log, EVENTS_TOPIC, record) {
                        Ok(_) => events.take(),
                        Err(err) if disk.is_some() && is_disk_full(&err) => {
                            // A failed send keeps every record it holds. If this record was
                            // added before the write failed, it is among them: kept, not lost,
                            // and not to be sent again.
                            if producer.pending_records() > held {
                                events.take();
                            }
                            failed = Some(err);
                        }
                        Err(err) => return Err(err.into()),
                    }
                }
            }
        }
        match (&mut feed, &mut kafka) {
            // Replication, acknowledgements, and the committed records into the consumer view.
            (Some(feed), _) => feed.tick(t, &log).map_err(cluster_err)?,
            // To the brokers and back into the local replica, at the brokers' offsets.
            (None, Some(kafka)) => kafka.tick(t, &log, EVENTS_TOPIC).map_err(kafka_err)?,
            (None, None) if failed.is_none() && blocked_since.is_none() => {
                match producer.flush(&log) {
                    Ok(_) => {}
                    Err(e) if disk.is_some() && is_disk_full(&e) => failed = Some(e),
                    Err(e) => return Err(e.into()),
                }
            }
            (None, None) => {}
        }
        if let Some(storage) = log_storage.as_mut() {
            // Compaction rewrites closed segments: the oracle reads them first, so the truth
            // stays the full event history (it keeps its own copy for logic changes).
            if scenario.log.cleanup_policy == "compact" {
                oracle.catch_up(&log)?;
            }
            storage.absorb(&log.enforce_retention()?);
        }
        if let (Some(e), Some(r)) = (failed, disk_full.as_mut()) {
            r.failed_appends += 1;
            // Relative to the run directory, so reruns elsewhere report the same text.
            let prefix = format!("{}/", work_dir.display());
            r.first_error.get_or_insert_with(|| e.to_string().replace(&prefix, ""));
            blocked_since.get_or_insert(t);
        }
        if let Some(r) = disk_full.as_mut() {
            let queued = events.arrived_by(t);
            let waiting = (producer.pending_records() + queued) as u64;
            r.max_waiting_records = r.max_waiting_records.max(waiting);
        }
        if let Some(g) = &mut group {
            g.tick(&log, t)?;
        }
        for (a, record) in archs.iter_mut().zip(&mut records) {
            let clock = std::time::Instant::now();
            record.tracker.record(&a.tick(t, &log)?);
            record.wall += clock.elapsed();
        }
        let produced_all = events.is_done()
            && t >= scenario.duration_ms
            && blocked_since.is_none()
            && restarts.is_empty()
            && feed.as_ref().is_none_or(ClusterFeed::drained)
            && kafka.as_ref().is_none_or(KafkaFeed::drained)
            && match &group {
                Some(g) => g.caught_up(&log)?,
                None => true,
            };
        let mut all_quiet = produced_all;
        if produced_all {
            for (a, record) in archs.iter().zip(&mut records) {
                if a.quiescent(&log)? {
                    record.quiescent_at.get_or_insert(t);
                } else {
                    all_quiet = false;
                }
            }
        }
        let stop = all_quiet || t >= horizon;
        if t % scenario.sample_every_ms == 0 || stop {
            oracle.catch_up(&log)?;
            feed_trackers(&mut oracle, &mut records);
            oracle.expire(t);
            let exact = oracle.answers();
            for (a, record) in archs.iter_mut().zip(&mut records) {
                let clock = std::time::Instant::now();
                a.query_into(t, &log, &mut record.served)?;
                record.wall += clock.elapsed();
                record.sample(t, exact, a.cold_bytes(), &queries);
                // Every layer has ticked at `t`; a later tick reports later times (a result
                // due by a tick is reported at that tick).
                record.tracker.advance(t);
            }
            let topic = log.topic(EVENTS_TOPIC)?;
            log_bytes.push((t, topic.partitions().iter().map(|p| p.size_bytes()).sum()));
            if let Some(feed) = &mut feed {
                feed.sample(t);
            }
            if let Some(g) = &mut group {
                g.sample(&log, t)?;
            }
            if let Some(storage) = log_storage.as_mut() {
                storage.sample(t, &log);
            }
        }
        if stop {
            break all_quiet;
        }
        if t % 1000 == 0 {
            progress(t, horizon);
        }
        t += tick_ms;
    };

    oracle.catch_up(&log)?;
    feed_trackers(&mut oracle, &mut records);
    oracle.expire(t);
    let exact = oracle.table();
    let mut architectures = Vec::new();
    for (a, record) in archs.iter_mut().zip(records) {
        let final_view = live_answers(a.query(t, &log)?, &queries, t);
        architectures.push(record.finish(a.as_ref(), final_view, &exact, &queries));
    }
    let cluster = match &mut feed {
        Some(feed) => {
            let staleness: Vec<crate::cluster::ArchStaleness> =
                architectures.iter().map(|a| (a.id.clone(), a.staleness.clone())).collect();
            Some(ClusterRun {
                events_generated: event_count,
                feed: feed.finish().map_err(cluster_err)?,
                replication: feed.cluster().stats().clone(),
                scale_out: feed.scale_out(scenario.duration_ms, &staleness),
                samples: feed.samples().to_vec(),
            })
        }
        None => None,
    };
    if let Some(storage) = log_storage.as_mut() {
        storage.finish(&scenario.log, &log, false);
    }
    Ok(RunResult {
        log_storage,
        cluster,
        kafka: kafka.map(|k| k.stats().clone()),
        events: oracle.events(),
        records: oracle.len(),
        out_of_order_events,
        end_ms: t,
        tick_ms,
        converged,
        oracle_final: exact,
        queries,
        log_bytes,
        wall_ms: started.elapsed().as_secs_f64() * 1000.0,
        architectures,
        clock: RunClock::Simulated,
        partial: false,
        disk_full,
        consumer_group: group.map(|g| g.stats()),
    })
}

/// Simulated time a run may take after its workload, beyond ten batch cycles, for its layers to
/// work through `records` records: two batch jobs over every event (the one running when the
/// workload stops, then the one covering the end), the speed layer's processing and the lake's
/// conversion of every event. A scenario whose batch job is longer than its run (a batch
/// cluster too small for the load) then still ends with a view of the whole log instead of
/// being cut off first; a run that settles stops sooner either way, so the allowance changes
/// no settled run.
fn drain_allowance_ms(scenario: &Scenario, records: u64) -> i64 {
    let events = records as f64 * f64::from(scenario.workload.events_per_record.max(1));
    let per_event_us = 2.0 * scenario.batch.cost_us_per_event
        + scenario.speed.cost_us_per_event
        + scenario.lake.tier_cost_us_per_event;
    let segments = f64::from(scenario.workload.partitions)
        * (scenario.duration_ms as f64 / scenario.lake.segment_ms.max(1) as f64 + 1.0);
    let ms = 2.0 * scenario.batch.overhead_ms
        + events * per_event_us / 1000.0
        + segments * scenario.lake.tier_overhead_ms;
    // Bounded: a cost model that asks for more than a simulated year is cut off there.
    ms.clamp(0.0, 365.0 * 86_400_000.0).ceil() as i64
}

/// The workload as the producer meets it: events generated as they arrive, with the ones that
/// arrived but could not be sent yet (a stall, a full disk) held in arrival order.
struct Arrivals {
    rest: std::iter::Peekable<workload::Events>,
    /// Arrived, not yet sent, oldest first (filled only when someone asks how many wait).
    held: std::collections::VecDeque<workload::Event>,
}

impl Arrivals {
    fn new(events: workload::Events) -> Self {
        Arrivals { rest: events.peekable(), held: Default::default() }
    }
    /// The oldest unsent event, if it has arrived by `t`.
    fn next_due(&mut self, t: TimestampMs) -> Option<&workload::Event> {
        match self.held.front() {
            Some(e) => Some(e),
            None => self.rest.peek().filter(|e| e.arrival_ms <= t),
        }
    }
    /// Marks the event [`Arrivals::next_due`] returned as sent.
    fn take(&mut self) {
        if self.held.pop_front().is_none() {
            self.rest.next();
        }
    }
    /// Events arrived by `t` and not sent yet.
    fn arrived_by(&mut self, t: TimestampMs) -> usize {
        while let Some(e) = self.rest.next_if(|e| e.arrival_ms <= t) {
            self.held.push_back(e);
        }
        self.held.len()
    }
    /// Whether every event of the workload was sent.
    fn is_done(&mut self) -> bool {
        self.held.is_empty() && self.rest.peek().is_none()
    }
}

/// The consumer group's settings from the scenario's `[consumer_group]`.
fn group_config(g: &crate::scenario::ConsumerGroupSpec) -> GroupConfig {
    GroupConfig {
        group: "downstream".into(),
        topic: EVENTS_TOPIC.into(),
        assignor: g.assignor,
        commit_interval_ms: g.commit_interval_ms,
        session_timeout_ms: g.session_timeout_ms,
        rebalance_ms: g.rebalance_ms,
        member_events_per_sec: g.member_events_per_sec,
    }
}

/// Applies a membership change on the timeline: brokers added or decommissioned in the
/// cluster (with their partition reassignments), consumer-group members joining or leaving.
fn apply_membership(
    fault: &Fault,
    t: TimestampMs,
    feed: Option<&mut ClusterFeed>,
    group: Option<&mut GroupRun>,
    log: &Log,
) -> Result<(), ArchError> {
    match (fault, feed, group) {
        (Fault::BrokerAdd { rebalance, throttle_bytes_per_ms, .. }, Some(feed), _) => {
            let cluster = feed.cluster_mut();
            if let Some(rate) = throttle_bytes_per_ms {
                cluster.set_reassignment_throttle(*rate);
            }
            cluster.add_broker();
            if *rebalance {
                cluster.rebalance(t).map_err(cluster_err)?;
            }
        }
        (Fault::BrokerRemove { broker, throttle_bytes_per_ms, .. }, Some(feed), _) => {
            if let Some(rate) = throttle_bytes_per_ms {
                feed.cluster_mut().set_reassignment_throttle(*rate);
            }
            feed.cluster_mut().decommission(*broker, t).map_err(cluster_err)?;
        }
        (Fault::MemberJoin { .. }, _, Some(group)) => {
            group.join(log, t)?;
        }
        (Fault::MemberLeave { member, graceful, .. }, _, Some(group)) => {
            group.leave(log, *member, *graceful, t)?;
        }
        _ => {}
    }
    Ok(())
}

/// Hands the records the oracle read for the first time to every architecture's freshness
/// tracker (both drivers, right after the oracle catches up).
pub(crate) fn feed_trackers(oracle: &mut Oracle, records: &mut [ArchRecord]) {
    for (p, new) in oracle.take_new_records().iter().enumerate() {
        for &(offset, event_time, append_time) in new {
            for r in records.iter_mut() {
                r.tracker.appended(p, offset, event_time, append_time);
            }
        }
    }
}

/// `table` without the windows expired at `t` (answer retention; see
/// [`QuerySet::expired_through`]): an architecture's final answers as they are compared.
pub(crate) fn live_answers(mut table: Table, queries: &QuerySet, t: TimestampMs) -> Table {
    if let Some(through) = queries.expired_through(t) {
        queries.retain_live(&mut table, through);
    }
    table
}

/// What a driver records about one architecture while a run goes on; both drivers keep one per
/// architecture and turn it into an [`ArchRun`] the same way.
#[derive(Debug)]
pub(crate) struct ArchRecord {
    /// When each event became visible.
    pub tracker: FreshnessTracker,
    /// Consistency error at each sample.
    pub samples: Vec<(TimestampMs, ErrorSample)>,
    /// Per window, when its answer was right; and the consistency error, incrementally.
    pub correctness: CorrectnessTracker,
    /// The served answers as of the last sample, with the cells that changed since the one
    /// before (written by the architecture's `query_into`, cleared by `sample`).
    pub served: TrackedTable,
    /// When it first reflected the whole log after the workload.
    pub quiescent_at: Option<TimestampMs>,
    /// Wall-clock time spent in its code.
    pub wall: std::time::Duration,
    /// Cold-storage bytes at each sample.
    pub cold_bytes: Vec<(TimestampMs, u64)>,
}

impl ArchRecord {
    /// An empty record for a topic of `partitions` partitions.
    pub fn new(partitions: usize) -> Self {
        ArchRecord {
            tracker: FreshnessTracker::new(partitions),
            samples: Vec::new(),
            correctness: CorrectnessTracker::default(),
            served: TrackedTable::new(),
            quiescent_at: None,
            wall: std::time::Duration::ZERO,
            cold_bytes: Vec::new(),
        }
    }

    /// One sample at `t`: the served answers (`self.served`, just updated) against the exact
    /// ones, from the cells either changed since the previous sample. (Its staleness is
    /// computed once the tracker's horizon passes `t`.)
    ///
    /// With answer retention, the windows expired at `t` leave the served table first (the
    /// oracle's `exact` dropped them with the same cut-off), so both sides compare the same
    /// windows.
    pub fn sample(
        &mut self,
        t: TimestampMs,
        exact: &TrackedTable,
        cold_bytes: u64,
        queries: &QuerySet,
    ) {
        let expired = queries.expired_through(t);
        if let Some(through) = expired {
            self.served.expire(queries, through);
        }
        self.tracker.sample(t);
        self.samples.push((t, self.correctness.sample(t, &self.served, exact)));
        self.served.clear_changes();
        if let Some(through) = expired {
            self.correctness.forget(queries, through);
        }
        self.cold_bytes.push((t, cold_bytes));
    }

    /// The architecture's run, from this record, its final answers and the oracle at the end.
    pub fn finish(
        self,
        arch: &dyn Architecture,
        final_view: Table,
        exact: &Table,
        queries: &QuerySet,
    ) -> ArchRun {
        let fresh = self.tracker.finish();
        let (ttc, windows_never_correct) =
            self.correctness.time_to_correct(&final_view, exact, queries);
        ArchRun {
            id: arch.id().to_owned(),
            samples: self.samples,
            freshness: fresh.freshness.percentiles(),
            never_visible: fresh.never_visible,
            final_error: metrics::compare(&final_view, exact),
            quiescent_at_ms: self.quiescent_at,
            stats: arch.stats(),
            final_view,
            time_to_correct: metrics::percentiles(ttc),
            windows_never_correct,
            staleness: fresh.staleness,
            wall_ms: self.wall.as_secs_f64() * 1000.0,
            cold_bytes: self.cold_bytes,
            timeline: arch.timeline(),
        }
    }
}
