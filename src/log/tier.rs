//! Tiered storage in the log itself (Kafka's KIP-405): closed segments are copied to a remote
//! object store, the local copies are deleted once they are older than the *local* retention,
//! and reads below the local start fetch the remote segment into a bounded local cache and read
//! it with the ordinary segment code.
//!
//! # What is uploaded, and why raw segments
//!
//! A remote segment is the closed segment's three files, byte for byte: `<base:020>.log`,
//! `.index` and `.timeindex`, under `<topic>/<partition>/` in the store. Keeping the log's own
//! format (rather than converting to Parquet, as the streaming lake does for its *tables* in
//! `src/lake/cold.rs`) means a cold read is the same read as a hot one: the same batches, the
//! same CRC per batch, the same offsets and timestamps, the same sparse indexes for
//! `offset_for_time` — "cold reads equal hot reads" holds by construction, not by a conversion
//! that could drift. Parquet is the lake's table format; this is the log's storage tier.
//!
//! # The manifest: what is remote, written so a crash registers nothing half-way
//!
//! Each partition keeps its remote metadata (per segment: base and last offset, time range,
//! newest append time, size and CRC-32C of every object) in a manifest object,
//! `<topic>/<partition>/manifest-<generation:020>.json`, holding its own CRC. A manifest is
//! never rewritten: each change writes the next generation, and only after that put succeeded
//! are the older generations deleted. On open the newest generation that parses and passes its
//! CRC wins; a torn newer one (a crash mid-write, on a store without atomic puts) is deleted. So
//! the order of an upload — segment objects first, manifest last, local files deleted only after
//! that — means a crash at any point leaves either the old manifest (the segment is still local
//! and is simply uploaded again, overwriting the orphaned objects) or the new one. Objects that
//! no manifest names (orphans of a crash) are deleted on open.
//!
//! # Two retentions
//!
//! - **Total retention** (`LogConfig::retention_ms` / `retention_bytes`) governs the log start
//!   offset: the oldest segments, remote or local, go once the whole log is beyond it — from
//!   the store (manifest first, then objects) and from the disk.
//! - **Local retention** (`TierConfig::local_retention_ms` / `local_retention_bytes`, shorter)
//!   governs only the local copies: a segment that is uploaded and older than it loses its
//!   local files; its records stay readable from the tier. A segment not yet uploaded is never
//!   deleted locally for local retention.
//!
//! # The cold cache and the cost model
//!
//! A cold read fetches the segment's three objects, checks their sizes and CRCs against the
//! manifest (a missing or corrupt object is a [`LogError::Remote`] naming it), writes them into
//! the cache directory and opens them with `Segment::open_closed` (crate-private: the same code
//! as a local closed segment). The cache keeps whole
//! segments, least recently used evicted first, up to `cache_bytes` (the segment being read is
//! always kept). Each fetch is charged `requests × request_latency_ms + bytes / bandwidth`
//! (three requests per segment) by [`ColdReadCost`]: the simulated driver charges that time to
//! the stream job whose poll caused the fetch; wall-clock runs measure it.
//!
//! object_store is async; the log is synchronous, so the tier keeps a small current-thread
//! tokio runtime and blocks on each call (from a helper thread when the caller is itself inside
//! a tokio runtime, where blocking in place would panic).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::error::{LogError, Result};
use super::segment::{Segment, file_stem};
use super::storage::Storage;
use super::{Offset, RecoveryEvent, TimestampMs};

/// Where remote segments are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteStore {
    /// A directory on the local file system (the default: no cloud account needed).
    Local {
        /// The directory (created if absent).
        root: PathBuf,
    },
    /// An S3-compatible bucket (needs the `s3` cargo feature). Credentials come from the usual
    /// `AWS_*` environment variables.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket (may be empty).
        prefix: String,
        /// Region (default: `AWS_REGION`, else `us-east-1`).
        region: Option<String>,
        /// Endpoint of a non-AWS store (MinIO, Ceph, ...), e.g. `http://localhost:9000`.
        endpoint: Option<String>,
        /// Allow plain `http://` endpoints.
        allow_http: bool,
    },
}

/// What a cold fetch costs in the simulated model: a latency per request plus the transfer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColdReadCost {
    /// Time to first byte of one GET, ms (S3 in-region is typically 10–50 ms).
    pub request_latency_ms: f64,
    /// Transfer rate, MiB/s.
    pub bandwidth_mib_per_s: f64,
}

impl Default for ColdReadCost {
    fn default() -> Self {
        ColdReadCost { request_latency_ms: 20.0, bandwidth_mib_per_s: 100.0 }
    }
}

impl ColdReadCost {
    /// Modelled ms of `requests` GETs moving `bytes` in all.
    pub fn fetch_ms(&self, requests: u32, bytes: u64) -> f64 {
        let transfer = if self.bandwidth_mib_per_s > 0.0 {
            bytes as f64 / (self.bandwidth_mib_per_s * 1024.0 * 1024.0) * 1000.0
        } else {
            0.0
        };
        f64::from(requests) * self.request_latency_ms + transfer
    }
}

/// Settings of the remote tier (`LogConfig::tier`).
#[derive(Debug, Clone, PartialEq)]
pub struct TierConfig {
    /// Where remote segments go.
    pub remote: RemoteStore,
    /// Local directory of the cold-read cache (emptied when the tier opens: it is not
    /// authoritative).
    pub cache_dir: PathBuf,
    /// Largest total size of cached cold segments, bytes (the segment being read is always
    /// kept, so a segment larger than this still reads).
    pub cache_bytes: u64,
    /// Delete the local copy of an uploaded segment once its newest append is older than this
    /// (ms; `None`: not by age).
    pub local_retention_ms: Option<i64>,
    /// Delete local copies of uploaded segments, oldest first, while the partition's local
    /// segments exceed this many bytes (`None`: no limit).
    pub local_retention_bytes: Option<u64>,
    /// The cost model of a cold fetch (simulated runs).
    pub cost: ColdReadCost,
}

impl TierConfig {
    /// A tier in the local directory `root`, caching in `cache_dir`: 64 MiB of cache, no
    /// local retention (set one, or nothing is ever deleted locally), the default cost model.
    pub fn local(root: impl Into<PathBuf>, cache_dir: impl Into<PathBuf>) -> Self {
        TierConfig {
            remote: RemoteStore::Local { root: root.into() },
            cache_dir: cache_dir.into(),
            cache_bytes: 64 << 20,
            local_retention_ms: None,
            local_retention_bytes: None,
            cost: ColdReadCost::default(),
        }
    }
}

/// The tier's counters since it opened (all partitions of the log together).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TierStats {
    /// Segments uploaded (a segment uploaded again after a crash counts again).
    pub uploads: u64,
    /// Bytes uploaded (segment and index objects).
    pub uploaded_bytes: u64,
    /// Local segment copies deleted by local retention (their records are remote only now).
    pub local_segments_offloaded: u64,
    /// Remote segments deleted by total retention.
    pub remote_segments_deleted: u64,
    /// Segments fetched from the store into the cache (cache misses).
    pub cold_fetches: u64,
    /// Bytes fetched from the store.
    pub cold_fetched_bytes: u64,
    /// Reads served (wholly or partly) from a cold segment.
    pub cold_reads: u64,
    /// Records returned from cold segments.
    pub cold_records_read: u64,
    /// Cold reads that found their segment in the cache.
    pub cache_hits: u64,
    /// Segments evicted from the cache to stay within `cache_bytes`.
    pub cache_evictions: u64,
    /// Modelled time of every fetch, ms (request latency + transfer; what simulated runs
    /// charge to readers). Not serialized: a run reports the one its clock used.
    #[serde(skip)]
    pub cold_fetch_model_ms: f64,
    /// Measured wall-clock time of every fetch, ms (not reproducible, so never serialized).
    #[serde(skip)]
    pub cold_fetch_measured_ms: f64,
}

/// Lock-free counters behind [`TierStats`] (readers share `&Log`).
#[derive(Debug, Default)]
struct Counters {
    uploads: AtomicU64,
    uploaded_bytes: AtomicU64,
    local_segments_offloaded: AtomicU64,
    remote_segments_deleted: AtomicU64,
    cold_fetches: AtomicU64,
    cold_fetched_bytes: AtomicU64,
    cold_reads: AtomicU64,
    cold_records_read: AtomicU64,
    cache_hits: AtomicU64,
    cache_evictions: AtomicU64,
    /// Microseconds, so the sum is exact and order-independent.
    fetch_model_us: AtomicU64,
    fetch_measured_us: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// One segment in the remote tier, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSegment {
    /// First offset (also the object names' stem).
    pub base_offset: Offset,
    /// Last offset in the segment.
    pub last_offset: Offset,
    /// Smallest record timestamp.
    pub min_timestamp_ms: Option<TimestampMs>,
    /// Largest record timestamp (skips the segment in `offset_for_time`).
    pub max_timestamp_ms: Option<TimestampMs>,
    /// Newest append time (total retention by time).
    pub max_append_time_ms: Option<TimestampMs>,
    /// Size of the `.log` object, bytes.
    pub size_bytes: u64,
    /// CRC-32C of the `.log` object.
    pub crc32c: u32,
    /// Size and CRC-32C of the `.index` object.
    pub index_bytes: u64,
    /// CRC-32C of the `.index` object.
    pub index_crc32c: u32,
    /// Size of the `.timeindex` object.
    pub time_index_bytes: u64,
    /// CRC-32C of the `.timeindex` object.
    pub time_index_crc32c: u32,
}

impl RemoteSegment {
    /// One past the last offset.
    pub fn next_offset(&self) -> Offset {
        self.last_offset + 1
    }
    /// Bytes of all three objects.
    pub fn total_bytes(&self) -> u64 {
        self.size_bytes + self.index_bytes + self.time_index_bytes
    }
}

/// A partition's remote segments, oldest first, contiguous.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Increases with every write; the newest valid one is authoritative.
    pub generation: u64,
    /// The segments.
    pub segments: Vec<RemoteSegment>,
}

/// The manifest object: the manifest and the CRC-32C of its JSON.
#[derive(Serialize, Deserialize)]
struct ManifestObject {
    crc32c: u32,
    manifest: Manifest,
}

fn manifest_crc(m: &Manifest) -> u32 {
    crc32c::crc32c(&serde_json::to_vec(m).unwrap_or_default())
}

/// The manifest in `bytes`, if it parses and its CRC checks.
fn parse_manifest(bytes: &[u8]) -> Option<Manifest> {
    let obj: ManifestObject = serde_json::from_slice(bytes).ok()?;
    (manifest_crc(&obj.manifest) == obj.crc32c).then_some(obj.manifest)
}

/// The generation in a manifest object's name.
fn manifest_generation(name: &str) -> Option<u64> {
    let stem = name.strip_prefix("manifest-")?.strip_suffix(".json")?;
    (stem.len() == 20).then(|| stem.parse().ok()).flatten()
}

/// A segment cached locally, opened with the ordinary segment code.
#[derive(Debug)]
struct Cached {
    segment: Arc<Segment>,
    bytes: u64,
    last_used: u64,
    files: [PathBuf; 3],
}

#[derive(Debug, Default)]
struct Cache {
    entries: HashMap<(String, Offset), Cached>,
    used: u64,
    uses: u64,
}

/// The remote tier of one log: the object store, the cold cache and the counters. Shared by
/// every partition (`LogConfig::tier`).
pub struct Tier {
    config: TierConfig,
    store: Arc<dyn ObjectStore>,
    /// Key prefix inside the store (S3 `prefix`, with a trailing `/`; empty for a directory).
    prefix: String,
    /// Where the store lives, for messages (`/dir/` or `s3://bucket/prefix/`).
    location: String,
    runtime: tokio::runtime::Runtime,
    cache: Mutex<Cache>,
    counters: Counters,
}

impl std::fmt::Debug for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tier").field("location", &self.location).finish_non_exhaustive()
    }
}

fn remote_err(object: impl Into<String>, reason: impl std::fmt::Display) -> LogError {
    LogError::Remote { object: object.into(), reason: reason.to_string() }
}

impl Tier {
    /// Opens the store of `config` and empties the cache directory.
    pub fn open(config: TierConfig) -> Result<Arc<Tier>> {
        let (store, prefix, location): (Arc<dyn ObjectStore>, String, String) = match &config.remote
        {
            RemoteStore::Local { root } => {
                std::fs::create_dir_all(root).map_err(super::fsutil::io_err("create dir", root))?;
                let root =
                    std::path::absolute(root).map_err(super::fsutil::io_err("resolve", root))?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&root)
                    .map_err(|e| remote_err(root.display().to_string(), e))?;
                (Arc::new(store), String::new(), format!("{}/", root.display()))
            }
            RemoteStore::S3 { bucket, prefix, .. } => {
                let prefix = match prefix.trim_matches('/') {
                    "" => String::new(),
                    p => format!("{p}/"),
                };
                let location = format!("s3://{bucket}/{prefix}");
                (s3_store(&config.remote, &location)?, prefix, location)
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| remote_err(location.clone(), format!("start its runtime: {e}")))?;
        // The cache is derived data: whatever a previous process left is not trusted.
        match std::fs::remove_dir_all(&config.cache_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(super::fsutil::io_err("empty", &config.cache_dir)(e)),
        }
        std::fs::create_dir_all(&config.cache_dir)
            .map_err(super::fsutil::io_err("create dir", &config.cache_dir))?;
        Ok(Arc::new(Tier {
            config,
            store,
            prefix,
            location,
            runtime,
            cache: Mutex::new(Cache::default()),
            counters: Counters::default(),
        }))
    }

    /// The settings it was opened with.
    pub fn config(&self) -> &TierConfig {
        &self.config
    }

    /// Where the store is, for messages (`/dir/` or `s3://bucket/prefix/`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The counters so far.
    pub fn stats(&self) -> TierStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TierStats {
            uploads: get(&c.uploads),
            uploaded_bytes: get(&c.uploaded_bytes),
            local_segments_offloaded: get(&c.local_segments_offloaded),
            remote_segments_deleted: get(&c.remote_segments_deleted),
            cold_fetches: get(&c.cold_fetches),
            cold_fetched_bytes: get(&c.cold_fetched_bytes),
            cold_reads: get(&c.cold_reads),
            cold_records_read: get(&c.cold_records_read),
            cache_hits: get(&c.cache_hits),
            cache_evictions: get(&c.cache_evictions),
            cold_fetch_model_ms: get(&c.fetch_model_us) as f64 / 1000.0,
            cold_fetch_measured_ms: get(&c.fetch_measured_us) as f64 / 1000.0,
        }
    }

    /// Modelled ms of every cold fetch so far: a reader that notes it before and after a read
    /// learns what its read cost (the simulated driver charges stream jobs this way).
    pub fn cold_fetch_model_ms(&self) -> f64 {
        self.counters.fetch_model_us.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// Runs `f` on the tier's runtime, from a helper thread if this thread is already inside a
    /// tokio runtime (blocking in place there would panic).
    fn run<T: Send>(&self, f: impl FnOnce(&tokio::runtime::Runtime) -> T + Send) -> T {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| match s.spawn(|| f(&self.runtime)).join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            f(&self.runtime)
        }
    }

    fn path(&self, name: &str) -> Result<ObjectPath> {
        ObjectPath::parse(format!("{}{name}", self.prefix))
            .map_err(|e| remote_err(self.display(name), e))
    }

    /// An object's full name, for messages.
    pub fn display(&self, name: &str) -> String {
        format!("{}{name}", self.location)
    }

    fn put(&self, name: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(name)?;
        let store = &self.store;
        self.run(|rt| rt.block_on(store.put(&path, PutPayload::from(bytes))))
            .map(|_| ())
            .map_err(|e| remote_err(self.display(name), format!("upload failed: {e}")))
    }

    fn get(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.path(name)?;
        let store = &self.store;
        let got = self.run(|rt| rt.block_on(async { store.get(&path).await?.bytes().await }));
        match got {
            Ok(b) => Ok(b.to_vec()),
            Err(object_store::Error::NotFound { .. }) => Err(remote_err(
                self.display(name),
                "missing from the remote tier, though the manifest lists it",
            )),
            Err(e) => Err(remote_err(self.display(name), format!("fetch failed: {e}"))),
        }
    }

    fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name)?;
        let store = &self.store;
        match self.run(|rt| rt.block_on(store.delete(&path))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(remote_err(self.display(name), format!("delete failed: {e}"))),
        }
    }

    /// Object names (relative to `dir/`) directly under `dir`.
    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let path = self.path(dir)?;
        let store = &self.store;
        let listed = self
            .run(|rt| rt.block_on(store.list_with_delimiter(Some(&path))))
            .map_err(|e| remote_err(self.display(dir), format!("list failed: {e}")))?;
        Ok(listed.objects.iter().filter_map(|o| o.location.filename().map(str::to_owned)).collect())
    }

    /// The cold segment of `entry` under `dir`, from the cache or fetched into it.
    fn cold_segment(
        &self,
        dir: &str,
        entry: &RemoteSegment,
        storage: &Arc<dyn Storage>,
        interval: u32,
    ) -> Result<Arc<Segment>> {
        let key = (dir.to_owned(), entry.base_offset);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.uses += 1;
        let uses = cache.uses;
        if let Some(c) = cache.entries.get_mut(&key) {
            c.last_used = uses;
            add(&self.counters.cache_hits, 1);
            return Ok(c.segment.clone());
        }
        let started = std::time::Instant::now();
        let stem = file_stem(entry.base_offset);
        let local_dir = self.config.cache_dir.join(dir);
        std::fs::create_dir_all(&local_dir)
            .map_err(super::fsutil::io_err("create dir", &local_dir))?;
        let mut files: Vec<PathBuf> = Vec::new();
        for (ext, size, crc) in [
            ("log", entry.size_bytes, entry.crc32c),
            ("index", entry.index_bytes, entry.index_crc32c),
            ("timeindex", entry.time_index_bytes, entry.time_index_crc32c),
        ] {
            let name = format!("{dir}/{stem}.{ext}");
            let bytes = self.get(&name)?;
            if bytes.len() as u64 != size {
                return Err(remote_err(
                    self.display(&name),
                    format!(
                        "is {} bytes, the manifest says {size}: refusing to read it",
                        bytes.len()
                    ),
                ));
            }
            let got = crc32c::crc32c(&bytes);
            if got != crc {
                return Err(remote_err(
                    self.display(&name),
                    format!(
                        "CRC-32C {got:#010x} does not match the manifest's {crc:#010x}: the \
                         object is corrupt, refusing to read it"
                    ),
                ));
            }
            let path = local_dir.join(format!("{stem}.{ext}"));
            std::fs::write(&path, &bytes).map_err(super::fsutil::io_err("write", &path))?;
            files.push(path);
        }
        let model = self.config.cost.fetch_ms(3, entry.total_bytes());
        add(&self.counters.cold_fetches, 1);
        add(&self.counters.cold_fetched_bytes, entry.total_bytes());
        add(&self.counters.fetch_model_us, (model * 1000.0).round() as u64);
        // The cached copy is read like any closed segment: indexes checked, CRC per batch.
        let mut events: Vec<RecoveryEvent> = Vec::new();
        // A handle cache of its own, not the log's: the file is deleted when the cold cache
        // evicts the segment and may be fetched again under the same name, so its handle must
        // live and die with this `Segment` (one descriptor per cached cold segment).
        let handles = super::storage::FileCache::new(1);
        let segment = Arc::new(Segment::open_closed(
            storage,
            &handles,
            &local_dir,
            entry.base_offset,
            entry.next_offset(),
            interval,
            &mut events,
        )?);
        add(&self.counters.fetch_measured_us, started.elapsed().as_micros() as u64);
        let [log, index, time_index]: [PathBuf; 3] = match files.try_into() {
            Ok(f) => f,
            Err(_) => unreachable!("three objects were fetched"),
        };
        cache.used += entry.total_bytes();
        cache.entries.insert(
            key.clone(),
            Cached {
                segment: segment.clone(),
                bytes: entry.total_bytes(),
                last_used: uses,
                files: [log, index, time_index],
            },
        );
        // Least recently used first; the segment just fetched stays whatever its size.
        while cache.used > self.config.cache_bytes {
            let Some(victim) = cache
                .entries
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, c)| c.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(c) = cache.entries.remove(&victim) {
                cache.used -= c.bytes;
                add(&self.counters.cache_evictions, 1);
                remove_files(&c.files);
            }
        }
        Ok(segment)
    }

    /// Drops a segment from the cache (it was deleted from the tier).
    fn forget(&self, dir: &str, base: Offset) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.entries.remove(&(dir.to_owned(), base)) {
            cache.used -= c.bytes;
            remove_files(&c.files);
        }
    }

    /// Bytes in the cold cache now.
    pub fn cache_used_bytes(&self) -> u64 {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).used
    }
}

/// Removes cache files; an open reader keeps its handle (Unix semantics), so this is safe while
/// another thread still reads the segment.
fn remove_files(files: &[PathBuf]) {
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}

#[cfg(feature = "s3")]
fn s3_store(remote: &RemoteStore, location: &str) -> Result<Arc<dyn ObjectStore>> {
    let RemoteStore::S3 { bucket, region, endpoint, allow_http, .. } = remote else {
        unreachable!("called for S3 only")
    };
    let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    if let Some(r) = region {
        b = b.with_region(r);
    }
    if let Some(e) = endpoint {
        b = b.with_endpoint(e);
    }
    b = b.with_allow_http(*allow_http);
    Ok(Arc::new(b.build().map_err(|e| remote_err(location, e))?))
}

#[cfg(not(feature = "s3"))]
fn s3_store(_: &RemoteStore, location: &str) -> Result<Arc<dyn ObjectStore>> {
    Err(remote_err(
        location,
        "this build has no S3 support: rebuild with `cargo build --features s3`",
    ))
}

/// One partition's view of the tier: its manifest and where its objects live.
#[derive(Debug)]
pub(crate) struct RemoteLog {
    tier: Arc<Tier>,
    /// `<topic>/<partition>`.
    dir: String,
    manifest: Manifest,
}

/// What a tiering pass did in one partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TierPass {
    pub uploaded: usize,
    pub remote_deleted: usize,
    pub remote_deleted_bytes: u64,
}

impl RemoteLog {
    /// Loads the newest valid manifest of `dir`; deletes torn newer manifests, older
    /// generations and orphaned segment objects.
    pub fn open(tier: Arc<Tier>, dir: String) -> Result<Self> {
        let names = tier.list(&dir)?;
        let mut generations: Vec<u64> =
            names.iter().filter_map(|n| manifest_generation(n)).collect();
        generations.sort_unstable_by(|a, b| b.cmp(a));
        let mut manifest = None;
        let mut stale = Vec::new();
        for g in generations {
            let name = format!("{dir}/manifest-{g:020}.json");
            if manifest.is_some() {
                stale.push(name);
                continue;
            }
            match parse_manifest(&tier.get(&name)?) {
                Some(m) if m.generation == g => manifest = Some(m),
                // Torn by a crash mid-write (or damaged): the previous generation stands.
                _ => stale.push(name),
            }
        }
        let manifest = manifest.unwrap_or_default();
        for name in stale {
            tier.delete(&name)?;
        }
        let registered: std::collections::HashSet<String> =
            manifest.segments.iter().map(|s| file_stem(s.base_offset)).collect();
        for name in &names {
            let Some((stem, ext)) = name.split_once('.') else { continue };
            let is_segment = stem.len() == 20 && matches!(ext, "log" | "index" | "timeindex");
            if is_segment && !registered.contains(stem) {
                tier.delete(&format!("{dir}/{name}"))?;
            }
        }
        Ok(RemoteLog { tier, dir, manifest })
    }

    /// The remote segments, oldest first.
    pub fn segments(&self) -> &[RemoteSegment] {
        &self.manifest.segments
    }

    /// First remote offset, if anything is remote.
    pub fn start(&self) -> Option<Offset> {
        self.manifest.segments.first().map(|s| s.base_offset)
    }

    /// One past the last remote offset, if anything is remote.
    pub fn end(&self) -> Option<Offset> {
        self.manifest.segments.last().map(RemoteSegment::next_offset)
    }

    /// Bytes of the remote `.log` objects.
    pub fn size_bytes(&self) -> u64 {
        self.manifest.segments.iter().map(|s| s.size_bytes).sum()
    }

    /// The tier.
    pub fn tier(&self) -> &Arc<Tier> {
        &self.tier
    }

    fn write_manifest(&mut self, next: Manifest) -> Result<()> {
        let mut next = next;
        next.generation = self.manifest.generation + 1;
        let obj = ManifestObject { crc32c: manifest_crc(&next), manifest: next };
        let bytes = serde_json::to_vec_pretty(&obj)
            .map_err(|e| remote_err(self.tier.display(&self.dir), e))?;
        let name = format!("{}/manifest-{:020}.json", self.dir, obj.manifest.generation);
        self.tier.put(&name, bytes)?;
        let old = self.manifest.generation;
        self.manifest = obj.manifest;
        if old > 0 {
            // Only once the new generation is in place; a crash before this leaves two valid
            // manifests and the newer wins.
            self.tier.delete(&format!("{}/manifest-{old:020}.json", self.dir))?;
        }
        Ok(())
    }

    /// Uploads closed segments (oldest first, contiguous with what is remote), then registers
    /// them all in one manifest write.
    pub fn upload(&mut self, storage: &Arc<dyn Storage>, segments: &[&Segment]) -> Result<usize> {
        if segments.is_empty() {
            return Ok(0);
        }
        let mut next = self.manifest.clone();
        for seg in segments {
            if seg.is_empty() {
                continue;
            }
            let stem = file_stem(seg.base);
            let mut objects = Vec::with_capacity(3);
            for (path, ext) in [
                (&seg.log_path, "log"),
                (&seg.index_path, "index"),
                (&seg.time_index_path, "timeindex"),
            ] {
                let bytes = storage.read(path).map_err(super::fsutil::io_err("read", path))?;
                let (len, crc) = (bytes.len() as u64, crc32c::crc32c(&bytes));
                self.tier.put(&format!("{}/{stem}.{ext}", self.dir), bytes)?;
                objects.push((len, crc));
            }
            let uploaded: u64 = objects.iter().map(|o| o.0).sum();
            add(&self.tier.counters.uploads, 1);
            add(&self.tier.counters.uploaded_bytes, uploaded);
            next.segments.push(RemoteSegment {
                base_offset: seg.base,
                last_offset: seg.next_offset - 1,
                min_timestamp_ms: seg.stats.time_range.map(|r| r.0),
                max_timestamp_ms: seg.stats.time_range.map(|r| r.1),
                max_append_time_ms: seg.stats.max_append_time,
                size_bytes: objects[0].0,
                crc32c: objects[0].1,
                index_bytes: objects[1].0,
                index_crc32c: objects[1].1,
                time_index_bytes: objects[2].0,
                time_index_crc32c: objects[2].1,
            });
        }
        let n = next.segments.len() - self.manifest.segments.len();
        if n > 0 {
            self.write_manifest(next)?;
        }
        Ok(n)
    }

    /// Deletes the oldest `n` remote segments: the manifest without them first, then their
    /// objects (a crash in between leaves orphans, which the next open deletes).
    pub fn delete_oldest(&mut self, n: usize) -> Result<TierPass> {
        let mut pass = TierPass::default();
        if n == 0 {
            return Ok(pass);
        }
        let mut next = self.manifest.clone();
        let gone: Vec<RemoteSegment> = next.segments.drain(..n.min(next.segments.len())).collect();
        self.write_manifest(next)?;
        for seg in gone {
            let stem = file_stem(seg.base_offset);
            for ext in ["log", "index", "timeindex"] {
                self.tier.delete(&format!("{}/{stem}.{ext}", self.dir))?;
            }
            self.tier.forget(&self.dir, seg.base_offset);
            pass.remote_deleted += 1;
            pass.remote_deleted_bytes += seg.size_bytes;
            add(&self.tier.counters.remote_segments_deleted, 1);
        }
        Ok(pass)
    }

    /// Deregisters every remote segment holding offsets at or above `offset` (a truncation).
    pub fn truncate_from(&mut self, offset: Offset) -> Result<()> {
        let keep = self.manifest.segments.partition_point(|s| s.next_offset() <= offset);
        if keep == self.manifest.segments.len() {
            return Ok(());
        }
        let mut next = self.manifest.clone();
        let gone: Vec<RemoteSegment> = next.segments.drain(keep..).collect();
        self.write_manifest(next)?;
        for seg in gone {
            let stem = file_stem(seg.base_offset);
            for ext in ["log", "index", "timeindex"] {
                self.tier.delete(&format!("{}/{stem}.{ext}", self.dir))?;
            }
            self.tier.forget(&self.dir, seg.base_offset);
        }
        Ok(())
    }

    /// The remote segment holding `offset`, opened from the cache (fetched if needed).
    pub fn segment_for(
        &self,
        index: usize,
        storage: &Arc<dyn Storage>,
        interval: u32,
    ) -> Result<Arc<Segment>> {
        self.tier.cold_segment(&self.dir, &self.manifest.segments[index], storage, interval)
    }

    /// Counts one read served from cold segments.
    pub fn count_read(&self, records: usize) {
        add(&self.tier.counters.cold_reads, 1);
        add(&self.tier.counters.cold_records_read, records as u64);
    }

    /// Counts local copies deleted by local retention.
    pub fn count_offloaded(&self, n: usize) {
        add(&self.tier.counters.local_segments_offloaded, n as u64);
    }

    /// The object name of a remote segment's `.log`, for messages.
    pub fn object_name(&self, base: Offset) -> String {
        self.tier.display(&format!("{}/{}.log", self.dir, file_stem(base)))
    }
}

/// `<topic>/<partition>` of a partition directory `.../<topic>/<partition>`.
pub(crate) fn partition_key(dir: &Path) -> String {
    let name = |p: Option<&Path>| {
        p.and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    };
    format!("{}/{}", name(dir.parent()), name(Some(dir)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_model_is_latency_per_request_plus_transfer() {
        let c = ColdReadCost { request_latency_ms: 10.0, bandwidth_mib_per_s: 1.0 };
        assert_eq!(c.fetch_ms(3, 0), 30.0);
        assert_eq!(c.fetch_ms(1, 1024 * 1024), 1010.0);
        let free = ColdReadCost { request_latency_ms: 0.0, bandwidth_mib_per_s: 0.0 };
        assert_eq!(free.fetch_ms(3, 1 << 30), 0.0);
    }

    #[test]
    fn manifest_round_trips_and_torn_ones_are_refused() {
        let m = Manifest {
            generation: 3,
            segments: vec![RemoteSegment {
                base_offset: 0,
                last_offset: 9,
                min_timestamp_ms: Some(1),
                max_timestamp_ms: Some(9),
                max_append_time_ms: Some(100),
                size_bytes: 500,
                crc32c: 7,
                index_bytes: 8,
                index_crc32c: 1,
                time_index_bytes: 12,
                time_index_crc32c: 2,
            }],
        };
        let bytes =
            serde_json::to_vec(&ManifestObject { crc32c: manifest_crc(&m), manifest: m.clone() })
                .unwrap();
        assert_eq!(parse_manifest(&bytes), Some(m.clone()));
        for cut in [1, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(parse_manifest(&bytes[..cut]), None, "cut at {cut}");
        }
        // A flipped digit still parses as JSON but fails the CRC.
        let text =
            String::from_utf8(bytes).unwrap().replace("\"size_bytes\":500", "\"size_bytes\":501");
        assert_eq!(parse_manifest(text.as_bytes()), None);
        assert_eq!(manifest_generation("manifest-00000000000000000012.json"), Some(12));
        assert_eq!(manifest_generation("manifest-12.json"), None);
        assert_eq!(manifest_generation("00000000000000000012.log"), None);
    }

    #[test]
    fn partition_key_is_topic_and_partition() {
        assert_eq!(partition_key(Path::new("/x/log/events/3")), "events/3");
    }
}
