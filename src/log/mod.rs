//! The shared log: a single-node, Kafka-like, partitioned, append-only log on the file system.
//!
//! Every architecture in the workbench reads the same log, so its guarantees are the ground
//! everything else stands on. They are written down here, next to the code that keeps them.
//!
//! # Layout on disk
//!
//! ```text
//! DIR/
//!   <topic>/
//!     topic.json                      {"partitions": n}, written last and atomically: a topic
//!                                     directory without it is an unfinished creation, ignored
//!     <partition>/                    "0", "1", ...
//!       00000000000000000000.log      record batches, the segment's base offset in the name
//!       00000000000000000000.index    sparse offset index: (relative offset u32, file position u32)
//!       00000000000000000000.timeindex  sparse time index: (max timestamp so far i64, relative offset u32)
//!       <base>-<end>.cleaned         with cleanup_policy = compact: the cleaned range
//!                                     [base, end), newest record per key (`compaction.rs`)
//!   __consumer_offsets/<group>.offsets  committed offsets of a consumer group (append-only):
//!                                     {"<topic>": {"<partition>": next offset}}
//!
//! TIER/ (LogConfig::tier, an object store; see `tier.rs`)
//!   <topic>/<partition>/<base>.log, .index, .timeindex    uploaded closed segments, as is
//!   <topic>/<partition>/manifest-<generation>.json        which of them are registered
//! ```
//!
//! Topic and group names are 1–249 characters of ASCII letters, digits, `.`, `_` and `-`, not
//! `.`/`..`, and not starting with `__` (reserved, so `__consumer_offsets` is never a topic).
//! Keys are partitioned with Kafka's murmur2 (`toPositive(murmur2(key)) % n`), so the mapping is
//! stable across runs and platforms and matches Kafka's default partitioner; records without a
//! key go round-robin.
//!
//! The batch format (all little-endian) is documented byte by byte in `batch.rs`; the index
//! formats in `segment.rs`. In short: a batch body holds its base offset, record count, append
//! time, its largest record timestamp, running aggregates of the segment (min/max record
//! timestamp, max append time — so the last batch of a closed segment summarises it), then the
//! records (key presence and bytes, value, timestamp, headers). Both indexes get an entry for the
//! first batch of a segment and then for the first batch after each `index_interval_bytes` of
//! batches; a time-index entry `(m, r)` means "every record before relative offset `r` has a
//! timestamp ≤ `m`".
//!
//! # Invariants
//!
//! - **Offsets.** An offset is the position of a record in its partition: `u64`, dense, starting
//!   at 0, assigned by the log at append time, never reused. Retention may raise the log start
//!   offset (whole segments are deleted, oldest first, never the active one) but never renumbers
//!   a record. A closed segment ends exactly where the next one begins.
//! - **Segments.** A segment rolls when the next batch would make it exceed `segment_bytes` (a
//!   larger batch gets a fresh segment of its own), when `segment_ms` has passed since its first
//!   append (by the log's [`Clock`]), or on [`Partition::roll`] (a no-op on an empty segment).
//! - **Batches.** Records are written in batches. A batch on disk is
//!   `len (u32) | crc32c (u32) | body`, the CRC covering the whole body, written with one
//!   `write_all`. A batch is either wholly in the log or not at all: readers only see batches
//!   whose CRC checks.
//! - **Durability.** `Partition::append` returns once the batch is as durable as the
//!   [`FsyncPolicy`] promises: `Always` after `fsync` of the segment (a [`Producer`] with group
//!   commit acknowledges a batch later, once an `fsync` that started after it was written has
//!   succeeded, and readers do not see it before); `Interval` once written to the OS, with an
//!   `fsync` started on the partition's sync thread when the last one is older than the
//!   interval (at most an interval's worth of acknowledged writes, plus those of one running
//!   `fsync`, can be lost on power failure); `Never` once written to the OS. A process crash
//!   (`kill -9`) loses nothing the OS has accepted under any policy.
//!   Rolling syncs the closed segment and its indexes; creating or deleting files syncs the
//!   directory; `topic.json` is replaced atomically (tmp, fsync, rename, fsync dir); a group
//!   commit appends one checksummed entry to the group's file and fsyncs it (a torn last entry
//!   is dropped on open: the previous commit stands; see `group.rs`).
//! - **Recovery.** On open, the active (last) segment of each partition is scanned: the first
//!   batch that is torn (short), fails its CRC, or does not continue the offsets, and everything
//!   after it, is truncated; that can only remove data that was never acknowledged under
//!   `Always`. The scan is repeated before cutting (a bit flipped in transit reads back
//!   differently), and a bad batch followed by good batches is damage, not a torn end: it is
//!   reported as [`LogError::Corrupt`] and nothing is cut. The active segment's indexes are always rebuilt from that scan (rewritten only if
//!   they differ). A closed segment's indexes are checked (entry sizes, monotonic, first entry at
//!   0, within the file, the two files agree) and its batches from the last index entry to the
//!   end are read back; if anything fails the indexes are rebuilt by a full scan. A bad batch
//!   inside a *closed* segment is never truncated silently (it was acknowledged once): it is
//!   reported as [`LogError::Corrupt`] with the file and byte position when read, and never
//!   served as data. Each such action is a [`RecoveryEvent`].
//! - **Concurrency.** A [`Log`] is `Send + Sync`; everything but creating a topic works
//!   through `&Log`, so one `Arc<Log>` serves a producer and readers on other threads. Each
//!   partition has its own lock, taken by one [`PartitionRef`] call at a time and never held
//!   between calls: a long reader (a batch job) reads in bounded chunks, so appends and tail
//!   polls wait for at most one chunk (see `shared.rs`).
//! - **Faults.** Segment I/O goes through [`Storage`]; what the log promises when a write,
//!   fsync or read fails (rollback of failed writes, poisoning after a failed fsync) is stated
//!   in [`storage`] and tested under a seeded [`FaultyStorage`].
//! - **Tiers.** With a [`Tier`], closed segments are uploaded to a remote store and their
//!   local copies deleted by a shorter *local* retention; the log start is still governed by
//!   the total retention. Every offset in `[log start, log end)` reads the same record whether
//!   its segment is local or remote (fetched into a bounded cache and read by the same segment
//!   code, CRC and all); a missing or corrupt remote object is [`LogError::Remote`], naming it.
//! - **Compaction.** With [`CleanupPolicy::Compact`], closed segments keep only the newest
//!   record per key at its original offset: offsets stay stable and never reused, but reads
//!   of the cleaned range skip the removed ones (gaps).
//! - **Time.** Each record carries its event timestamp (ms). The time index stores the running
//!   maximum, so [`Partition::offset_for_time`] answers Kafka's `offsetsForTimes`: the first
//!   offset whose timestamp is ≥ T.

mod batch;
mod clock;
mod compaction;
pub mod console;
mod consumer;
pub mod coordinator;
mod error;
mod fsutil;
#[doc(hidden)]
pub mod fuzzing;
mod group;
mod partition;
mod producer;
mod record;
mod segment;
mod shared;
pub mod storage;
pub mod tier;
mod topic;

pub use batch::RecordRef;
pub use clock::{Clock, ElapsedClock, ManualClock, SystemClock};
pub use consumer::{Consumer, StartPosition};
pub use error::LogError;
pub use partition::{Partition, SegmentInfo, SegmentUid};
pub use producer::{Ack, Producer, ProducerConfig};
pub use record::{Header, Record, StoredRecord};
pub use shared::PartitionRef;
pub use storage::{
    FaultConfig, FaultCounts, FaultyStorage, FileCache, FileStorage, Storage, StorageFile,
};
pub use tier::{ColdReadCost, Manifest, RemoteSegment, RemoteStore, Tier, TierConfig, TierStats};
pub use topic::{Log, RecoveryEvent, RetentionReport, Topic, partition_for_key};

/// A record's position in its partition: dense, from 0, never reused.
pub type Offset = u64;

/// Milliseconds since the Unix epoch (or since the start of a simulated run).
pub type TimestampMs = i64;

/// When an append is acknowledged, relative to `fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "policy")]
pub enum FsyncPolicy {
    /// `fsync` the segment before every append returns: nothing acknowledged is ever lost.
    Always,
    /// `fsync` when the last sync is older than `ms`, on the partition's sync thread (appends
    /// do not wait for it): bounded loss on power failure.
    Interval {
        /// Maximum age of unsynced, acknowledged data, in milliseconds (plus the duration of
        /// one `fsync`, which runs while appends go on).
        ms: u64,
    },
    /// Leave syncing to the OS: survives a process crash, not a power failure.
    Never,
}

/// Settings of a [`Log`]; the defaults are Kafka's, scaled for a workbench.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Roll to a new segment when the active one would exceed this many bytes (default 64 MiB).
    pub segment_bytes: u64,
    /// Roll when the active segment's first append is older than this (default: never).
    pub segment_ms: Option<i64>,
    /// Add an offset-index and time-index entry every this many bytes of batches (default 4096).
    pub index_interval_bytes: u32,
    /// When appends are acknowledged (default `Always`).
    pub fsync: FsyncPolicy,
    /// Delete closed segments whose newest append is older than this (default: keep forever).
    pub retention_ms: Option<i64>,
    /// Delete the oldest closed segments while a partition is larger than this (default: no limit).
    pub retention_bytes: Option<u64>,
    /// Where segment files are read and written (default: the real file system, [`FileStorage`];
    /// tests put a [`FaultyStorage`] here).
    pub storage: std::sync::Arc<dyn Storage>,
    /// Read handles on closed segments, shared by the log's partitions: at most
    /// [`storage::DEFAULT_OPEN_SEGMENT_FILES`] descriptors by default, however many segments
    /// (the active segment of each partition keeps its own).
    pub open_files: std::sync::Arc<FileCache>,
    /// The remote (cold) tier closed segments are uploaded to (default: none, everything stays
    /// local). With a tier, `retention_ms`/`retention_bytes` are the *total* retention across
    /// both tiers and [`TierConfig`]'s local retention decides when local copies go; see
    /// [`tier`].
    pub tier: Option<std::sync::Arc<Tier>>,
    /// What happens to old records (default `Delete`: whole segments go by retention;
    /// `Compact`: closed segments keep only the last record per key, see `compaction.rs`).
    pub cleanup_policy: CleanupPolicy,
}

/// Kafka's `cleanup.policy`: what retention does with closed segments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CleanupPolicy {
    /// Whole segments are deleted once beyond retention.
    #[default]
    Delete,
    /// Closed segments keep only the newest record of each key (offsets preserved, gaps where
    /// records were removed); retention by time and bytes does not delete.
    Compact,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 64 * 1024 * 1024,
            segment_ms: None,
            index_interval_bytes: 4096,
            fsync: FsyncPolicy::Always,
            retention_ms: None,
            retention_bytes: None,
            storage: FileStorage::shared(),
            open_files: FileCache::new(storage::DEFAULT_OPEN_SEGMENT_FILES),
            tier: None,
            cleanup_policy: CleanupPolicy::Delete,
        }
    }
}
