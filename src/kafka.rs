//! A real Kafka cluster under the architectures (`[log] backend = "kafka"`).
//!
//! The producer writes every event to a topic on the brokers named in the scenario (created
//! fresh with the scenario's partitions; an old topic of that name is deleted first, so offsets
//! start at 0). A fetcher reads the topic back and appends each record into the run's local log
//! *at the offset the broker gave it* — checked, record by record — so the local log is an exact
//! follower replica of the broker's partitions, and every architecture, the oracle and every
//! metric read broker-assigned offsets and the timestamps the broker stored. The architectures
//! keep reading the local replica because three of them need what only a log on disk has: the
//! batch layer and the streaming lake read closed segment files directly, as Spark and a lake
//! tierer read a Kafka topic's tiered segments.
//!
//! The client is [rskafka](https://crates.io/crates/rskafka) (InfluxData; pure Rust, tokio,
//! maintained): chosen over `kafka` (kafka-rust: synchronous, unmaintained since 2023) and
//! `rdkafka` (bindings to librdkafka, a C library to build). rskafka writes with `acks = all`.
//!
//! Tested against [tansu](https://crates.io/crates/tansu), a Kafka-compatible broker written in
//! Rust, started by `scripts/kafka-broker` (`tests/kafka.rs`).

use std::collections::VecDeque;
use std::time::Duration;

use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};

use crate::log::{Log, LogError, Offset, Record, TimestampMs, partition_for_key};

/// What went wrong talking to the brokers.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The client failed (connection refused, timeout, a broker error).
    #[error("kafka at {bootstrap}: {op}: {message}")]
    Client {
        /// The bootstrap servers.
        bootstrap: String,
        /// What was being done.
        op: &'static str,
        /// The client's error.
        message: String,
    },
    /// The broker's offsets do not continue the local replica's (someone else writes to the
    /// topic, or the broker lost records).
    #[error(
        "kafka topic `{topic}` partition {partition}: the broker returned offset {got}, the local replica expected {expected}"
    )]
    OffsetMismatch {
        /// Topic.
        topic: String,
        /// Partition.
        partition: u32,
        /// Offset the broker returned.
        got: i64,
        /// Offset the replica's next record gets.
        expected: Offset,
    },
    /// The local replica failed.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Where the brokers are and what to call the topic.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port` of one or more brokers.
    pub bootstrap_servers: Vec<String>,
    /// The topic to (re)create.
    pub topic: String,
    /// Partitions of the topic.
    pub partitions: u32,
    /// Give up on a request after this long.
    pub timeout: Duration,
}

/// What the producer and the fetcher did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KafkaStats {
    /// Records acknowledged by the brokers.
    pub produced: u64,
    /// Produce requests sent.
    pub produce_requests: u64,
    /// Records fetched back into the local replica.
    pub fetched: u64,
    /// Fetch requests sent.
    pub fetch_requests: u64,
}

/// The producer and the fetcher of one run. Owns a single-threaded tokio runtime and blocks on
/// it: the simulated driver is synchronous, and a broker round trip per tick is what it costs.
pub struct KafkaFeed {
    config: KafkaConfig,
    runtime: tokio::runtime::Runtime,
    partitions: Vec<PartitionClient>,
    waiting: Vec<VecDeque<Record>>,
    stats: KafkaStats,
}

impl std::fmt::Debug for KafkaFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaFeed")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish()
    }
}

impl KafkaFeed {
    /// Connects, deletes any old topic of that name, creates it with `config.partitions`.
    pub fn connect(config: KafkaConfig) -> Result<Self, KafkaError> {
        let bootstrap = config.bootstrap_servers.join(",");
        let err = |op: &'static str| {
            let bootstrap = bootstrap.clone();
            move |e: rskafka::client::error::Error| KafkaError::Client {
                bootstrap,
                op,
                message: e.to_string(),
            }
        };
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
                KafkaError::Client {
                    bootstrap: bootstrap.clone(),
                    op: "start runtime",
                    message: e.to_string(),
                }
            })?;
        let timeout = config.timeout;
        let setup = async {
            let backoff = rskafka::BackoffConfig {
                deadline: Some(timeout),
                ..rskafka::BackoffConfig::default()
            };
            let client: Client = ClientBuilder::new(config.bootstrap_servers.clone())
                .client_id("lambda-workbench")
                .backoff_config(backoff)
                .build()
                .await
                .map_err(err("connect"))?;
            let controller = client.controller_client().map_err(err("controller"))?;
            let topics = client.list_topics().await.map_err(err("list topics"))?;
            let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
            if topics.iter().any(|t| t.name == config.topic) {
                controller
                    .delete_topic(config.topic.clone(), ms)
                    .await
                    .map_err(err("delete topic"))?;
            }
            let n = i32::try_from(config.partitions).unwrap_or(i32::MAX);
            controller
                .create_topic(config.topic.clone(), n, 1, ms)
                .await
                .map_err(err("create topic"))?;
            let mut clients = Vec::new();
            for p in 0..n {
                clients.push(
                    client
                        .partition_client(config.topic.clone(), p, UnknownTopicHandling::Retry)
                        .await
                        .map_err(err("partition client"))?,
                );
            }
            Ok::<_, KafkaError>(clients)
        };
        // Bounded: an address that never answers must not hang the run.
        let partitions = runtime
            .block_on(async { tokio::time::timeout(timeout * 4, setup).await })
            .map_err(|_| KafkaError::Client {
                bootstrap: bootstrap.clone(),
                op: "connect",
                message: format!("no answer within {} ms", (timeout * 4).as_millis()),
            })??;
        let n = partitions.len();
        Ok(KafkaFeed {
            config,
            runtime,
            partitions,
            waiting: vec![VecDeque::new(); n],
            stats: KafkaStats::default(),
        })
    }

    fn client_err(&self, op: &'static str) -> impl Fn(rskafka::client::error::Error) -> KafkaError {
        let bootstrap = self.config.bootstrap_servers.join(",");
        move |e| KafkaError::Client { bootstrap: bootstrap.clone(), op, message: e.to_string() }
    }

    fn timed_out(&self, op: &'static str) -> KafkaError {
        KafkaError::Client {
            bootstrap: self.config.bootstrap_servers.join(","),
            op,
            message: format!("no answer within {} ms", self.config.timeout.as_millis()),
        }
    }

    /// Queues a record for its key's partition (Kafka's murmur2 partitioner, as the Java
    /// client's default and the local log's).
    pub fn send(&mut self, record: Record) {
        let n = self.waiting.len() as u32;
        let p = record.key.as_deref().map_or(0, |k| partition_for_key(k, n));
        self.waiting[p as usize].push_back(record);
    }

    /// Produces what waits (one request per partition, acknowledged by the brokers), then
    /// fetches every partition from the local replica's end up to the broker's high watermark
    /// and appends it to `log`'s `topic` at the broker's offsets.
    pub fn tick(&mut self, _now: TimestampMs, log: &Log, topic: &str) -> Result<(), KafkaError> {
        for p in 0..self.partitions.len() {
            if self.waiting[p].is_empty() {
                continue;
            }
            let batch: Vec<rskafka::record::Record> = self.waiting[p]
                .drain(..)
                .map(|r| rskafka::record::Record {
                    key: r.key,
                    value: Some(r.value),
                    headers: r.headers.into_iter().map(|h| (h.key, h.value)).collect(),
                    timestamp: chrono::DateTime::from_timestamp_millis(r.timestamp_ms)
                        .unwrap_or_default(),
                })
                .collect();
            let n = batch.len() as u64;
            let client = &self.partitions[p];
            let timeout = self.config.timeout;
            let result = self.runtime.block_on(async {
                tokio::time::timeout(timeout, client.produce(batch, Compression::NoCompression))
                    .await
            });
            result.map_err(|_| self.timed_out("produce"))?.map_err(self.client_err("produce"))?;
            self.stats.produced += n;
            self.stats.produce_requests += 1;
        }
        let t = log.topic(topic)?;
        for (p, client) in self.partitions.iter().enumerate() {
            let local = t.partition(p as u32)?;
            loop {
                let from = local.log_end_offset();
                let from_i64 = i64::try_from(from).unwrap_or(i64::MAX);
                let fetch = client.fetch_records(from_i64, 1..4 * 1024 * 1024, 0);
                let timeout = self.config.timeout;
                let (records, high_watermark) = self
                    .runtime
                    .block_on(async { tokio::time::timeout(timeout, fetch).await })
                    .map_err(|_| self.timed_out("fetch"))?
                    .map_err(self.client_err("fetch"))?;
                self.stats.fetch_requests += 1;
                let mut batch = Vec::with_capacity(records.len());
                for (i, r) in records.into_iter().enumerate() {
                    let expected = from + i as u64;
                    if r.offset != i64::try_from(expected).unwrap_or(i64::MAX) {
                        return Err(KafkaError::OffsetMismatch {
                            topic: self.config.topic.clone(),
                            partition: p as u32,
                            got: r.offset,
                            expected,
                        });
                    }
                    let rec = r.record;
                    let mut record = Record::new(
                        rec.value.unwrap_or_default(),
                        rec.timestamp.timestamp_millis(),
                    );
                    record.key = rec.key;
                    record.headers = rec
                        .headers
                        .into_iter()
                        .map(|(key, value)| crate::log::Header { key, value })
                        .collect();
                    batch.push(record);
                }
                if batch.is_empty() {
                    break;
                }
                self.stats.fetched += batch.len() as u64;
                local.append(&batch)?;
                if local.log_end_offset() >= u64::try_from(high_watermark).unwrap_or(0) {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Whether nothing waits to be produced.
    pub fn drained(&self) -> bool {
        self.waiting.iter().all(VecDeque::is_empty)
    }

    /// What was produced and fetched.
    pub fn stats(&self) -> &KafkaStats {
        &self.stats
    }
}
