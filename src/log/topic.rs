//! Topics and the log directory that holds them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::error::{LogError, Result};
use super::fsutil::{io_err, sync_dir, validate_name, write_atomic};
use super::group::{GroupStore, OFFSETS_DIR};
use super::shared::PartitionRef;
use super::{Clock, LogConfig, Offset, Partition};

/// Something recovery did on open, for `describe` and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecoveryEvent {
    /// A torn or corrupt tail of an active segment was cut at `position` (`bytes` removed).
    Truncated {
        /// The segment file.
        file: PathBuf,
        /// Byte position of the cut.
        position: u64,
        /// Bytes removed.
        bytes: u64,
    },
    /// A missing or inconsistent index was rebuilt from its segment.
    IndexRebuilt {
        /// The index file.
        file: PathBuf,
    },
}

/// What a retention pass deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segment files deleted.
    pub deleted_segments: Vec<PathBuf>,
    /// Bytes freed.
    pub deleted_bytes: u64,
    /// Segments uploaded to the remote tier.
    pub uploaded_segments: usize,
    /// Local copies of uploaded segments deleted by local retention (still readable, remote).
    pub offloaded_segments: Vec<PathBuf>,
    /// Remote segments deleted by total retention.
    pub remote_deleted_segments: usize,
    /// Bytes of the remote segments deleted.
    pub remote_deleted_bytes: u64,
    /// Records removed by compaction (`cleanup_policy = compact`).
    pub compacted_records: u64,
}

/// Kafka's murmur2 (as in `org.apache.kafka.common.utils.Utils.murmur2`), so keys land on the
/// same partitions as with Kafka's default partitioner, on every run and platform.
pub(crate) fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `key` among `n`: Kafka's `toPositive(murmur2(key)) % n`.
pub fn partition_for_key(key: &[u8], n: u32) -> u32 {
    ((murmur2(key) & 0x7fff_ffff) as u32) % n
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TopicMeta {
    partitions: u32,
}

/// A topic: a fixed number of partitions and a partitioner.
///
/// Each partition has its own lock (see [`PartitionRef`]): appends to one partition never
/// wait for another, and readers hold a partition only for one bounded read.
#[derive(Debug)]
pub struct Topic {
    name: String,
    partitions: Vec<RwLock<Partition>>,
    /// Next partition for a record without a key (atomic: producers share `&Topic`).
    round_robin: AtomicU32,
}

impl Topic {
    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of partitions.
    pub fn partition_count(&self) -> u32 {
        self.partitions.len() as u32
    }
    /// The partition for a record: a stable hash of the key modulo the partition count, or
    /// round-robin for records without a key.
    pub fn partition_for(&self, key: Option<&[u8]>) -> u32 {
        let n = self.partition_count();
        match key {
            Some(k) => partition_for_key(k, n),
            // One partition: no counter to move (it would stay 0), no atomic per record.
            None if n == 1 => 0,
            None => {
                // `fetch_update` keeps the counter in [0, n), so the sequence is 0, 1, .., n-1,
                // 0, .. exactly, as with the single-threaded counter it replaced.
                let prev = self
                    .round_robin
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |rr| Some((rr % n + 1) % n))
                    .unwrap_or_else(|rr| rr);
                prev % n
            }
        }
    }
    /// One partition: a handle whose every call locks the partition for that call only.
    pub fn partition(&self, partition: u32) -> Result<PartitionRef<'_>> {
        self.partitions
            .get(partition as usize)
            .map(PartitionRef::new)
            .ok_or_else(|| LogError::UnknownPartition { topic: self.name.clone(), partition })
    }
    /// One partition, exclusively (no lock needed: `&mut` proves nobody else holds the log).
    pub fn partition_mut(&mut self, partition: u32) -> Result<&mut Partition> {
        let name = &self.name;
        self.partitions
            .get_mut(partition as usize)
            .map(|p| p.get_mut().unwrap_or_else(|e| e.into_inner()))
            .ok_or_else(|| LogError::UnknownPartition { topic: name.clone(), partition })
    }
    /// All partitions, in partition order.
    pub fn partitions(&self) -> Vec<PartitionRef<'_>> {
        self.partitions.iter().map(PartitionRef::new).collect()
    }

    fn open(
        dir: &Path,
        name: &str,
        n: u32,
        config: &LogConfig,
        clock: &Arc<dyn Clock>,
    ) -> Result<Self> {
        let partitions = (0..n)
            .map(|p| {
                Partition::open(dir.join(p.to_string()), config.clone(), clock.clone())
                    .map(RwLock::new)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Topic { name: name.to_owned(), partitions, round_robin: AtomicU32::new(0) })
    }
}

fn read_meta(path: &Path) -> Result<Option<u32>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read", path)(e)),
    };
    let meta: TopicMeta = serde_json::from_slice(&bytes).map_err(|e| LogError::Corrupt {
        file: path.to_path_buf(),
        position: 0,
        reason: format!("bad topic.json: {e}"),
    })?;
    if meta.partitions == 0 {
        return Err(LogError::Corrupt {
            file: path.to_path_buf(),
            position: 0,
            reason: "topic with 0 partitions".into(),
        });
    }
    Ok(Some(meta.partitions))
}

/// Source of [`Log`] identities (see [`TopicId`]).
static NEXT_LOG_ID: AtomicU64 = AtomicU64::new(1);

/// A topic of one [`Log`], resolved once so that later calls find it by index instead of a
/// name lookup (the producer's per-send path: the map search was ~15% of a 100-byte send).
/// It names the log it came from, so it is never valid for another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TopicId {
    log: u64,
    index: usize,
}

/// A log directory: topics, their partitions, and consumer-group offsets.
///
/// `Send + Sync`: appends, reads, commits and retention all work through `&Log`, so one
/// `Arc<Log>` serves a producer and every reader at once (the realtime driver). Only creating a
/// topic needs `&mut Log`: topics are created before the log is shared.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    clock: Arc<dyn Clock>,
    /// Topic names, in name order (so listing and iteration are sorted), with each topic's
    /// index in `topic_list`.
    topics: BTreeMap<String, usize>,
    /// The topics, in the order they were opened or created. Topics are only ever added while
    /// a `Log` lives, so an index never changes nor names another topic: a [`TopicId`] a
    /// producer resolved once stays right. (Removing a topic would have to leave its slot
    /// empty, never shift the others.)
    topic_list: Vec<Topic>,
    /// This `Log` value's identity, unique in the process: a [`TopicId`] from another log
    /// (the same directory opened again, say, where a topic may have been recreated with
    /// other partitions) is never taken for one of this log's.
    id: u64,
    /// Behind a mutex so consumers holding `&Log` can commit (group offsets are the only
    /// state a reader writes).
    groups: std::sync::Mutex<GroupStore>,
    events: Vec<super::RecoveryEvent>,
}

impl Log {
    /// Opens the log in `dir` (creating it if needed), recovering every topic found there.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io_err("create dir", &dir))?;
        let mut topics = BTreeMap::new();
        let mut topic_list = Vec::new();
        let mut events = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let entry = entry.map_err(io_err("list", &dir))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            if name == OFFSETS_DIR || validate_name(&name).is_err() || !entry.path().is_dir() {
                continue;
            }
            // A directory without topic.json is a topic whose creation did not finish.
            let Some(n) = read_meta(&entry.path().join("topic.json"))? else { continue };
            let topic = Topic::open(&entry.path(), &name, n, &config, &clock)?;
            for p in topic.partitions() {
                events.extend(p.recovery_events());
            }
            topics.insert(name, topic_list.len());
            topic_list.push(topic);
        }
        let groups = GroupStore::open(&dir, config.fsync != super::FsyncPolicy::Never)?;
        Ok(Log {
            dir,
            config,
            clock,
            topics,
            topic_list,
            id: NEXT_LOG_ID.fetch_add(1, Ordering::Relaxed),
            groups: std::sync::Mutex::new(groups),
            events,
        })
    }
    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The clock the log stamps appends with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
    /// The configuration the log was opened with.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }
    /// Creates a topic; a no-op if it exists with the same partition count.
    pub fn create_topic(&mut self, name: &str, partitions: u32) -> Result<()> {
        validate_name(name)?;
        if let Some(&i) = self.topics.get(name) {
            let existing = self.topic_list[i].partition_count();
            return if existing == partitions {
                Ok(())
            } else {
                Err(LogError::PartitionCountMismatch {
                    topic: name.to_owned(),
                    existing,
                    requested: partitions,
                })
            };
        }
        if partitions == 0 {
            return Err(LogError::InvalidName(format!("{name} (0 partitions)")));
        }
        let tdir = self.dir.join(name);
        std::fs::create_dir_all(&tdir).map_err(io_err("create dir", &tdir))?;
        sync_dir(&self.dir)?;
        let topic = Topic::open(&tdir, name, partitions, &self.config, &self.clock)?;
        sync_dir(&tdir)?;
        // Written last: its presence is what makes the topic exist.
        let meta = serde_json::to_vec(&TopicMeta { partitions }).map_err(|e| LogError::Io {
            op: "serialize",
            path: tdir.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomic(&tdir.join("topic.json"), &meta)?;
        self.topics.insert(name.to_owned(), self.topic_list.len());
        self.topic_list.push(topic);
        Ok(())
    }
    /// A topic by name.
    pub fn topic(&self, name: &str) -> Result<&Topic> {
        Ok(self.resolve_topic(name)?.1)
    }
    /// A topic by name, to append to.
    pub fn topic_mut(&mut self, name: &str) -> Result<&mut Topic> {
        match self.topics.get(name) {
            Some(&i) => Ok(&mut self.topic_list[i]),
            None => Err(LogError::UnknownTopic(name.to_owned())),
        }
    }
    /// A topic by name, with the id that finds it again without the name
    /// ([`Log::topic_by_id`]).
    pub(crate) fn resolve_topic(&self, name: &str) -> Result<(TopicId, &Topic)> {
        match self.topics.get(name) {
            Some(&index) => Ok((TopicId { log: self.id, index }, &self.topic_list[index])),
            None => Err(LogError::UnknownTopic(name.to_owned())),
        }
    }
    /// The topic `id` names, if `id` was resolved by this log (`None` for another log's).
    #[inline]
    pub(crate) fn topic_by_id(&self, id: TopicId) -> Option<&Topic> {
        if id.log == self.id { self.topic_list.get(id.index) } else { None }
    }
    /// Topic names, sorted.
    pub fn topic_names(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }
    /// What recovery did when the log was opened.
    pub fn recovery_events(&self) -> &[RecoveryEvent] {
        &self.events
    }
    /// The remote tier, when the log has one.
    pub fn tier(&self) -> Option<&Arc<super::Tier>> {
        self.config.tier.as_ref()
    }
    /// The remote tier's counters (`None` without a tier).
    pub fn tier_stats(&self) -> Option<super::TierStats> {
        self.config.tier.as_ref().map(|t| t.stats())
    }
    /// Modelled ms of every cold fetch so far (0 without a tier): note it before and after a
    /// read to learn what the read cost in the simulated model.
    pub fn cold_fetch_model_ms(&self) -> f64 {
        self.config.tier.as_ref().map_or(0.0, |t| t.cold_fetch_model_ms())
    }
    /// Bytes of every partition's local (hot) and remote (cold) `.log` files: `(hot, cold)`.
    pub fn tier_bytes(&self) -> (u64, u64) {
        let mut hot_cold = (0, 0);
        for topic in self.topics.values().map(|&i| &self.topic_list[i]) {
            for p in topic.partitions() {
                hot_cold.0 += p.size_bytes();
                hot_cold.1 += p.remote_size_bytes();
            }
        }
        hot_cold
    }
    /// Deletes closed segments beyond the retention limits, in every partition.
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        for topic in self.topics.values().map(|&i| &self.topic_list[i]) {
            for p in topic.partitions() {
                let r = p.enforce_retention()?;
                report.deleted_segments.extend(r.deleted_segments);
                report.deleted_bytes += r.deleted_bytes;
                report.uploaded_segments += r.uploaded_segments;
                report.offloaded_segments.extend(r.offloaded_segments);
                report.remote_deleted_segments += r.remote_deleted_segments;
                report.remote_deleted_bytes += r.remote_deleted_bytes;
                report.compacted_records += r.compacted_records;
            }
        }
        Ok(report)
    }
    /// Persists a consumer group's committed offset for a partition (atomically, durably).
    pub fn commit_offset(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        offset: Offset,
    ) -> Result<()> {
        self.commit_offsets(group, topic, &[(partition, offset)])
    }
    /// Persists several partitions' committed offsets of one topic in one atomic write.
    pub fn commit_offsets(
        &self,
        group: &str,
        topic: &str,
        offsets: &[(u32, Offset)],
    ) -> Result<()> {
        let t = self.topic(topic)?;
        for &(p, _) in offsets {
            t.partition(p)?;
        }
        self.groups.lock().unwrap_or_else(|e| e.into_inner()).commit(group, topic, offsets)
    }
    /// A consumer group's committed offset for a partition, if any.
    pub fn committed_offset(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<Offset>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner()).get(group, topic, partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn partitioner_is_stable_and_in_range() {
        for n in 1..10 {
            for k in 0..100 {
                let key = format!("key-{k}");
                let p = partition_for_key(key.as_bytes(), n);
                assert!(p < n);
                assert_eq!(p, partition_for_key(key.as_bytes(), n));
            }
        }
    }
}

#[cfg(test)]
mod log_tests {
    use super::*;
    use crate::log::{Consumer, ManualClock, Record, StartPosition};

    fn open(dir: &Path) -> Log {
        Log::open(dir, LogConfig::default(), Arc::new(ManualClock::new(0))).unwrap()
    }

    #[test]
    fn topics_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        log.create_topic("events", 3).unwrap();
        log.create_topic("events", 3).unwrap();
        assert!(matches!(
            log.create_topic("events", 4),
            Err(LogError::PartitionCountMismatch { existing: 3, requested: 4, .. })
        ));
        for bad in ["", "a/b", "..", ".", "__consumer_offsets", "a\\b", "x y"] {
            assert!(matches!(log.create_topic(bad, 1), Err(LogError::InvalidName(_))), "{bad}");
        }
        assert!(matches!(log.topic("nope"), Err(LogError::UnknownTopic(_))));
        assert!(matches!(
            log.topic("events").unwrap().partition(3),
            Err(LogError::UnknownPartition { .. })
        ));
        log.commit_offset("g1", "events", 0, 5).unwrap();
        drop(log);
        let log = open(dir.path());
        assert_eq!(log.topic_names(), vec!["events".to_string()]);
        assert_eq!(log.topic("events").unwrap().partition_count(), 3);
    }

    #[test]
    fn round_robin_without_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        log.create_topic("t", 3).unwrap();
        let t = log.topic_mut("t").unwrap();
        let ps: Vec<u32> = (0..6).map(|_| t.partition_for(None)).collect();
        assert_eq!(ps, vec![0, 1, 2, 0, 1, 2]);
        let k = t.partition_for(Some(b"user-1"));
        assert_eq!(k, t.partition_for(Some(b"user-1")));
    }

    #[test]
    fn group_offsets_persist_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path());
        log.create_topic("t", 2).unwrap();
        for i in 0..10 {
            let p = (i % 2) as u32;
            log.topic_mut("t")
                .unwrap()
                .partition_mut(p)
                .unwrap()
                .append(&[Record::new("v", i)])
                .unwrap();
        }
        let mut c = Consumer::new(&log, "t", Some("g"), StartPosition::Committed).unwrap();
        let got = c.poll(&log, 3).unwrap();
        assert_eq!(got.len(), 3);
        c.commit(&log).unwrap();
        let (p0, p1) = (c.position(0), c.position(1));
        assert_eq!(p0 + p1, 3);
        assert!(matches!(log.committed_offset("a/b", "t", 0), Err(LogError::InvalidName(_))));
        drop(log);
        let log = open(dir.path());
        assert_eq!(log.topic_names(), vec!["t".to_string()]);
        assert_eq!(log.committed_offset("g", "t", 0).unwrap(), Some(p0));
        assert_eq!(log.committed_offset("g", "t", 1).unwrap(), Some(p1));
        assert_eq!(log.committed_offset("other", "t", 1).unwrap(), None);
        let mut c = Consumer::new(&log, "t", Some("g"), StartPosition::Committed).unwrap();
        let rest = c.poll(&log, 100).unwrap();
        assert_eq!(rest.len(), 7);
        let c = Consumer::new(&log, "t", None, StartPosition::Latest).unwrap();
        assert_eq!((c.position(0), c.position(1)), (5, 5));
        let c = Consumer::new(&log, "t", None, StartPosition::Timestamp(4)).unwrap();
        assert_eq!((c.position(0), c.position(1)), (2, 2));
        assert!(matches!(c.commit(&open_again(&log)), Err(LogError::NoGroup(_))));
    }

    fn open_again(log: &Log) -> Log {
        open(log.dir())
    }
}
