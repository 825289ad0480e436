//! The storage under segments: a small file-system trait, the real implementation, and a
//! fault-injecting one for tests.
//!
//! Segments (`.log`, `.index`, `.timeindex`) do all their I/O through [`Storage`] and
//! [`StorageFile`], so a test can put [`FaultyStorage`] under a real log and check what the log
//! promises when the disk misbehaves. The production path is [`FileStorage`]: one virtual call in
//! front of each syscall, nothing else (measured: no change in append or replay throughput).
//! Metadata (`topic.json`, replaced atomically; group offsets, appended) and directory syncs still
//! go straight to the file system.
//!
//! # The log's contract under faults
//!
//! These are the promises the fault tests (`tests/log_faults.rs`) check, for every seed:
//!
//! - **Every failure surfaces** as a [`LogError`](super::LogError) naming the operation and the
//!   file; no fault is swallowed or turned into a panic.
//! - **A failed write is rolled back.** If writing a batch fails part-way (`ENOSPC`, `EIO`, a short
//!   write followed by an error), the segment file is truncated back to where the batch began, so
//!   the next append starts on a clean boundary and the failed batch is not acknowledged. The
//!   producer keeps the records and may retry. If even the truncation fails, the segment is
//!   *poisoned*: every later append fails until the log is reopened (recovery then finds the
//!   torn tail and removes it).
//! - **A failed `fsync` is never retried into a false success** (PostgreSQL's "fsyncgate": after
//!   a failed `fsync` Linux may drop the dirty pages and report the next `fsync` as successful).
//!   The append whose `fsync` failed is not acknowledged, and the segment is poisoned: no later
//!   append or flush on it succeeds until the log is reopened and recovery has re-read what is
//!   really on disk.
//! - **Index files are derived data.** A failed index write does not fail the append (the batch
//!   is already in the log): the in-memory index stays right, the files are rewritten in full
//!   when the segment closes, and recovery rebuilds them if they are stale.
//! - **Recovery yields an exact prefix of what was acknowledged, plus possibly unacknowledged
//!   batches, never corrupt data.** A read fault during recovery is an error, never a reason to
//!   truncate; a bad batch in the active segment is re-read before the tail is cut, so a
//!   transient bit flip in transit does not destroy acknowledged data; a bad batch *followed by
//!   good ones* is damage, not a torn tail, and is reported rather than truncated.
//! - **Bit flips on read are never served**: every batch is CRC-checked when read.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Where a log's segment files live.
pub trait Storage: fmt::Debug + Send + Sync {
    /// Opens `path` for reading and appending, creating it if missing and emptying it if
    /// `truncate`.
    fn open_append(&self, path: &Path, truncate: bool) -> io::Result<Box<dyn StorageFile>>;
    /// Opens an existing `path` read-only.
    fn open_read(&self, path: &Path) -> io::Result<Box<dyn StorageFile>>;
    /// Reads a whole (small) file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Deletes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
}

/// An open segment or index file. Writes always append.
pub trait StorageFile: fmt::Debug + Send + Sync {
    /// One `write(2)` at the end of the file: may write fewer bytes than given.
    fn append(&self, buf: &[u8]) -> io::Result<usize>;
    /// One `pread(2)`: may read fewer bytes than asked (0 at end of file).
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
    /// `fdatasync(2)`.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync(2)`.
    fn sync_all(&self) -> io::Result<()>;
    /// Truncates (or extends) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Current size in bytes.
    fn size(&self) -> io::Result<u64>;

    /// Appends all of `buf`, looping over short writes.
    fn append_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.append(buf) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0")),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Fills `buf` from `pos`, looping over short reads; `UnexpectedEof` if the file ends first.
    fn read_exact_at(&self, mut buf: &mut [u8], mut pos: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, pos) {
                Ok(0) => {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file ends early"));
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    pos += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileStorage;

impl FileStorage {
    /// The shared handle a [`LogConfig`](super::LogConfig) holds by default.
    pub fn shared() -> Arc<dyn Storage> {
        Arc::new(FileStorage)
    }
}

/// A real file.
#[derive(Debug)]
struct RealFile(File);

impl Storage for FileStorage {
    fn open_append(&self, path: &Path, truncate: bool) -> io::Result<Box<dyn StorageFile>> {
        let f = OpenOptions::new().create(true).append(true).read(true).open(path)?;
        if truncate {
            f.set_len(0)?;
        }
        Ok(Box::new(RealFile(f)))
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        Ok(Box::new(RealFile(File::open(path)?)))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
}

impl StorageFile for RealFile {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        (&self.0).write(buf)
    }
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.0.read_at(buf, pos)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

/// A small LRU of read-only handles on closed segment files, shared by every partition of a
/// log (issue #9: one open descriptor per closed segment reached 488 fds in a 36-minute soak).
///
/// Closed segments are immutable, so a handle can be dropped and reopened at any time; the
/// active segment keeps its own handle and never goes through here. A handle handed out stays
/// valid while the caller holds it, even if the cache evicts it meanwhile, so the open-file
/// count is bounded by the capacity plus the reads in flight. Entries remember the storage
/// they were opened through: two logs (or a log reopened over a fresh [`FaultyStorage`]) never
/// share a handle.
#[derive(Debug)]
pub struct FileCache {
    capacity: usize,
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Bumped on every use; the entry with the smallest `used` goes first.
    tick: u64,
    /// At most `capacity` entries: a linear scan over a few dozen beats a map plus a list.
    entries: Vec<CacheEntry>,
    opens: u64,
}

#[derive(Debug)]
struct CacheEntry {
    storage: Arc<dyn Storage>,
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    used: u64,
}

/// Open handles a [`FileCache`] keeps by default.
pub const DEFAULT_OPEN_SEGMENT_FILES: usize = 32;

impl FileCache {
    /// A cache keeping at most `capacity` handles open (at least one).
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(FileCache { capacity: capacity.max(1), state: Mutex::new(CacheState::default()) })
    }

    fn lock(&self) -> MutexGuard<'_, CacheState> {
        // The state is a list of handles; a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A read handle on `path` through `storage`: the cached one, or a newly opened one that
    /// replaces the least recently used entry when the cache is full.
    pub fn open_read(
        &self,
        storage: &Arc<dyn Storage>,
        path: &Path,
    ) -> io::Result<Arc<dyn StorageFile>> {
        let mut s = self.lock();
        s.tick += 1;
        let tick = s.tick;
        if let Some(e) =
            s.entries.iter_mut().find(|e| e.path == path && Arc::ptr_eq(&e.storage, storage))
        {
            e.used = tick;
            return Ok(e.file.clone());
        }
        // Opened under the lock: opens are rare (a cold segment), and two readers of the same
        // segment then share one handle instead of racing to open two.
        let file: Arc<dyn StorageFile> = Arc::from(storage.open_read(path)?);
        s.opens += 1;
        self.insert_locked(&mut s, storage, path, file.clone());
        Ok(file)
    }

    /// Adopts `file` (e.g. the handle of a segment that just closed) as the cached handle of
    /// `path`, so the next read does not reopen it.
    pub fn insert(&self, storage: &Arc<dyn Storage>, path: &Path, file: Arc<dyn StorageFile>) {
        let mut s = self.lock();
        s.tick += 1;
        self.insert_locked(&mut s, storage, path, file);
    }

    fn insert_locked(
        &self,
        s: &mut CacheState,
        storage: &Arc<dyn Storage>,
        path: &Path,
        file: Arc<dyn StorageFile>,
    ) {
        let used = s.tick;
        s.entries.retain(|e| !(e.path == path && Arc::ptr_eq(&e.storage, storage)));
        if s.entries.len() >= self.capacity
            && let Some(oldest) =
                s.entries.iter().enumerate().min_by_key(|(_, e)| e.used).map(|(i, _)| i)
        {
            s.entries.swap_remove(oldest);
        }
        s.entries.push(CacheEntry {
            storage: storage.clone(),
            path: path.to_path_buf(),
            file,
            used,
        });
    }

    /// Drops the handle of `path` (any storage): the file is being deleted or replaced.
    pub fn evict(&self, path: &Path) {
        self.lock().entries.retain(|e| e.path != path);
    }

    /// Handles currently cached (open).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no handle is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Files opened by the cache so far (misses).
    pub fn opens(&self) -> u64 {
        self.lock().opens
    }

    /// The most handles kept open.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Default for FileCache {
    fn default() -> Self {
        FileCache { capacity: DEFAULT_OPEN_SEGMENT_FILES, state: Mutex::new(CacheState::default()) }
    }
}

/// How often each fault fires, as a probability per call (0.0 = never). All choices come from
/// the seed, so a failing case replays exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// A write writes only a random prefix and reports that (the caller must loop).
    pub short_write: f64,
    /// A write fails with `ENOSPC`, after writing a random prefix (possibly empty).
    pub write_enospc: f64,
    /// A write fails with `EIO`, after writing a random prefix (possibly empty).
    pub write_eio: f64,
    /// An `fsync`/`fdatasync` fails with `EIO`.
    pub fsync_eio: f64,
    /// A read fails with `EIO`.
    pub read_eio: f64,
    /// A read returns the right bytes with one bit flipped (the file itself is intact).
    pub read_bit_flip: f64,
    /// Truncation (`set_len`) fails with `EIO`.
    pub truncate_eio: f64,
    /// Whether a successful `fsync` also syncs the real file (default true). What a simulated
    /// [`FaultyStorage::crash`] keeps depends only on the bookkeeping here, so tests that crash
    /// the storage can skip the real, slow fsyncs.
    pub real_sync: bool,
}

impl FaultConfig {
    /// No faults: behaves like [`FileStorage`] (until [`FaultyStorage::set_disk_full`] or
    /// [`FaultyStorage::crash`]).
    pub fn none(seed: u64) -> Self {
        FaultConfig {
            seed,
            short_write: 0.0,
            write_enospc: 0.0,
            write_eio: 0.0,
            fsync_eio: 0.0,
            read_eio: 0.0,
            read_bit_flip: 0.0,
            truncate_eio: 0.0,
            real_sync: true,
        }
    }
}

/// How many faults of each kind were injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Short writes.
    pub short_writes: u64,
    /// Writes failed with `ENOSPC` (random or disk full).
    pub enospc: u64,
    /// Writes failed with `EIO`.
    pub write_eio: u64,
    /// `fsync` calls failed.
    pub fsync_eio: u64,
    /// Reads failed.
    pub read_eio: u64,
    /// Reads with a flipped bit.
    pub bit_flips: u64,
    /// Truncations failed.
    pub truncate_eio: u64,
}

#[derive(Debug)]
struct FaultState {
    config: FaultConfig,
    rng: ChaCha8Rng,
    disk_full: bool,
    crashed: bool,
    /// Files opened through this storage.
    files: Vec<Tracked>,
    counts: FaultCounts,
    /// Successful `fsync`s.
    syncs: u64,
}

impl FaultState {
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.gen_bool(p.min(1.0))
    }

    fn tracked(&mut self, path: &Path) -> &mut Tracked {
        let i = match self.files.iter().position(|t| t.path == path) {
            Some(i) => i,
            None => {
                self.files.push(Tracked { path: path.to_path_buf(), synced: 0, dropped: None });
                self.files.len() - 1
            }
        };
        &mut self.files[i]
    }
}

/// What the simulated disk holds of one file.
#[derive(Debug)]
struct Tracked {
    path: PathBuf,
    /// Bytes that survive a power failure: the size at the last successful fsync (or when the
    /// file was first opened).
    synced: u64,
    /// Bytes whose writeback failed (an fsync reported `EIO`). Like Linux after a writeback
    /// error, the pages stay readable and are marked clean, so a later fsync "succeeds" without
    /// writing them: after a power failure this range reads as zeros unless the file was cut
    /// below it.
    dropped: Option<(u64, u64)>,
}

impl Tracked {
    fn truncated(&mut self, len: u64) {
        self.synced = self.synced.min(len);
        self.dropped = match self.dropped {
            Some((start, end)) if start < len => Some((start, end.min(len))),
            _ => None,
        };
    }
}

/// A [`Storage`] over the real file system that injects faults chosen by a seed, can be made
/// "full" on demand, and can simulate a power failure at a crash point.
#[derive(Debug, Clone)]
pub struct FaultyStorage {
    state: Arc<Mutex<FaultState>>,
    /// While `true`, every `fsync` waits (see [`FaultyStorage::hold_syncs`]).
    gate: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

fn enospc() -> io::Error {
    io::Error::from_raw_os_error(28)
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(5)
}

fn crashed_err() -> io::Error {
    io::Error::other("storage crashed (simulated power failure); reopen the log")
}

impl FaultyStorage {
    /// A faulty storage with `config`.
    pub fn new(config: FaultConfig) -> Self {
        FaultyStorage {
            state: Arc::new(Mutex::new(FaultState {
                config,
                rng: ChaCha8Rng::seed_from_u64(config.seed),
                disk_full: false,
                crashed: false,
                files: Vec::new(),
                counts: FaultCounts::default(),
                syncs: 0,
            })),
            gate: Arc::default(),
        }
    }

    /// While `hold` is true, every `fsync`/`fdatasync` waits before doing anything (writes and
    /// reads go on): a slow disk made deterministic, so tests can see what happens while an
    /// fsync is running (group commit). Releasing lets the waiting ones proceed.
    pub fn hold_syncs(&self, hold: bool) {
        let (held, cv) = &*self.gate;
        *held.lock().unwrap_or_else(|e| e.into_inner()) = hold;
        cv.notify_all();
    }

    /// `fsync`/`fdatasync` calls that succeeded so far.
    pub fn successful_syncs(&self) -> u64 {
        self.lock().syncs
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // A panic while holding the lock is a test failure already; keep going with the state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// While `full`, every write fails with `ENOSPC` (after possibly writing a prefix), like a
    /// file system with no free blocks. Reads, syncs and truncation still work.
    pub fn set_disk_full(&self, full: bool) {
        self.lock().disk_full = full;
    }

    /// Whether the disk is currently "full".
    pub fn is_disk_full(&self) -> bool {
        self.lock().disk_full
    }

    /// Changes the fault probabilities (the random sequence continues).
    pub fn set_config(&self, config: FaultConfig) {
        self.lock().config = config;
    }

    /// Faults injected so far.
    pub fn counts(&self) -> FaultCounts {
        self.lock().counts
    }

    /// Simulates a power failure now: every file written through this storage loses a random
    /// part of what was written since its last successful `fsync` (it is cut at a random byte
    /// between the durable size and the current size: a torn write), and every later call fails.
    /// Open the directory again with another storage to recover.
    pub fn crash(&self) -> io::Result<()> {
        let mut s = self.lock();
        s.crashed = true;
        let files = std::mem::take(&mut s.files);
        for t in &files {
            let len = match std::fs::metadata(&t.path) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let f = OpenOptions::new().write(true).open(&t.path)?;
            let mut keep = len;
            if len > t.synced {
                keep = s.rng.gen_range(t.synced..=len);
                f.set_len(keep)?;
            }
            if let Some((start, end)) = t.dropped
                && start < keep
            {
                let zeros = vec![0u8; (end.min(keep) - start) as usize];
                f.write_all_at(&zeros, start)?;
            }
        }
        Ok(())
    }

    fn wrap(&self, path: &Path, file: File) -> io::Result<Box<dyn StorageFile>> {
        let len = file.metadata()?.len();
        // A file seen before keeps its durable size: reopening does not make unsynced bytes
        // durable. A new one counts as durable as found (it was written before this storage).
        let mut s = self.lock();
        match s.files.iter_mut().find(|t| t.path == path) {
            Some(t) => t.truncated(len),
            None => s.files.push(Tracked { path: path.to_path_buf(), synced: len, dropped: None }),
        }
        drop(s);
        Ok(Box::new(FaultyFile { file, path: path.to_path_buf(), storage: self.clone() }))
    }
}

impl Storage for FaultyStorage {
    fn open_append(&self, path: &Path, truncate: bool) -> io::Result<Box<dyn StorageFile>> {
        if self.lock().crashed {
            return Err(crashed_err());
        }
        let f = OpenOptions::new().create(true).append(true).read(true).open(path)?;
        if truncate {
            f.set_len(0)?;
        }
        self.wrap(path, f)
    }

    fn open_read(&self, path: &Path) -> io::Result<Box<dyn StorageFile>> {
        if self.lock().crashed {
            return Err(crashed_err());
        }
        let f = File::open(path)?;
        self.wrap(path, f)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let f = self.open_read(path)?;
        let len = usize::try_from(f.size()?).map_err(|_| io::Error::other("file too large"))?;
        let mut buf = vec![0; len];
        f.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        if s.crashed {
            return Err(crashed_err());
        }
        s.files.retain(|t| t.path != path);
        std::fs::remove_file(path)
    }
}

/// A file of a [`FaultyStorage`].
#[derive(Debug)]
struct FaultyFile {
    file: File,
    path: PathBuf,
    storage: FaultyStorage,
}

impl StorageFile for FaultyFile {
    fn append(&self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.storage.lock();
        if s.crashed {
            return Err(crashed_err());
        }
        let c = s.config;
        let fail = if s.disk_full || s.chance(c.write_enospc) {
            s.counts.enospc += 1;
            Some(enospc())
        } else if s.chance(c.write_eio) {
            s.counts.write_eio += 1;
            Some(eio())
        } else {
            None
        };
        // A failing or short write may still have put a prefix of `buf` into the file.
        let short = fail.is_some() || (buf.len() > 1 && s.chance(c.short_write));
        let n = if short { s.rng.gen_range(0..buf.len().max(1)) } else { buf.len() };
        drop(s);
        let written = if n > 0 { (&self.file).write(&buf[..n])? } else { 0 };
        match fail {
            Some(e) => Err(e),
            None if written < buf.len() => {
                self.storage.lock().counts.short_writes += 1;
                Ok(written)
            }
            None => Ok(written),
        }
    }

    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let mut s = self.storage.lock();
        if s.crashed {
            return Err(crashed_err());
        }
        let c = s.config;
        if s.chance(c.read_eio) {
            s.counts.read_eio += 1;
            return Err(eio());
        }
        let n = self.file.read_at(buf, pos)?;
        if n > 0 && s.chance(c.read_bit_flip) {
            let byte = s.rng.gen_range(0..n);
            let bit = s.rng.gen_range(0..8);
            buf[byte] ^= 1 << bit;
            s.counts.bit_flips += 1;
        }
        Ok(n)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync_all()
    }

    fn sync_all(&self) -> io::Result<()> {
        {
            let (held, cv) = &*self.storage.gate;
            let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
            while *held {
                held = cv.wait(held).unwrap_or_else(|e| e.into_inner());
            }
        }
        let mut s = self.storage.lock();
        if s.crashed {
            return Err(crashed_err());
        }
        let c = s.config;
        if s.chance(c.fsync_eio) {
            // Like Linux after a writeback error: the data may or may not reach the disk, and
            // nothing here marks it durable.
            s.counts.fsync_eio += 1;
            let len = self.file.metadata()?.len();
            let t = s.tracked(&self.path);
            if len > t.synced {
                let (start, end) =
                    t.dropped.map_or((t.synced, len), |(a, b)| (a.min(t.synced), b.max(len)));
                t.dropped = Some((start, end));
            }
            return Err(eio());
        }
        if c.real_sync {
            self.file.sync_all()?;
        }
        let len = self.file.metadata()?.len();
        s.tracked(&self.path).synced = len;
        s.syncs += 1;
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.storage.lock();
        if s.crashed {
            return Err(crashed_err());
        }
        let c = s.config;
        if s.chance(c.truncate_eio) {
            s.counts.truncate_eio += 1;
            return Err(eio());
        }
        self.file.set_len(len)?;
        s.tracked(&self.path).truncated(len);
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        if self.storage.lock().crashed {
            return Err(crashed_err());
        }
        Ok(self.file.metadata()?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_cache_keeps_the_recently_used_and_separates_storages() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..4).map(|i| dir.path().join(format!("f{i}"))).collect();
        for p in &paths {
            std::fs::write(p, b"x").unwrap();
        }
        let real: Arc<dyn Storage> = FileStorage::shared();
        let cache = FileCache::new(2);
        cache.open_read(&real, &paths[0]).unwrap();
        cache.open_read(&real, &paths[1]).unwrap();
        cache.open_read(&real, &paths[0]).unwrap(); // hit: f1 is now the oldest
        assert_eq!(cache.opens(), 2);
        cache.open_read(&real, &paths[2]).unwrap(); // evicts f1
        assert_eq!(cache.len(), 2);
        cache.open_read(&real, &paths[0]).unwrap();
        assert_eq!(cache.opens(), 3, "f0 stayed cached");
        cache.open_read(&real, &paths[1]).unwrap();
        assert_eq!(cache.opens(), 4, "f1 was evicted");
        // Another storage never gets this one's handle.
        let other: Arc<dyn Storage> = Arc::new(FaultyStorage::new(FaultConfig::none(1)));
        cache.open_read(&other, &paths[1]).unwrap();
        assert_eq!(cache.opens(), 5);
        cache.evict(&paths[1]);
        assert!(cache.len() <= 1);
        let mut b = [0u8; 1];
        cache.open_read(&real, &paths[3]).unwrap().read_exact_at(&mut b, 0).unwrap();
        assert_eq!(&b, b"x");
    }

    #[test]
    fn append_all_loops_over_short_writes() {
        let dir = tempfile::tempdir().unwrap();
        let s = FaultyStorage::new(FaultConfig { short_write: 0.9, ..FaultConfig::none(7) });
        let f = s.open_append(&dir.path().join("f"), true).unwrap();
        let data: Vec<u8> = (0..=255).cycle().take(5000).collect();
        f.append_all(&data).unwrap();
        assert!(s.counts().short_writes > 0);
        assert_eq!(s.read(&dir.path().join("f")).unwrap(), data);
    }

    #[test]
    fn disk_full_fails_writes_until_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let s = FaultyStorage::new(FaultConfig::none(1));
        let f = s.open_append(&dir.path().join("f"), true).unwrap();
        s.set_disk_full(true);
        let e = f.append_all(b"hello").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28));
        s.set_disk_full(false);
        f.append_all(b"hello").unwrap();
    }

    #[test]
    fn crash_keeps_synced_bytes_and_fails_later_calls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        for seed in 0..20 {
            let s = FaultyStorage::new(FaultConfig::none(seed));
            let f = s.open_append(&path, true).unwrap();
            f.append_all(&[1; 100]).unwrap();
            f.sync_data().unwrap();
            f.append_all(&[2; 100]).unwrap();
            s.crash().unwrap();
            let len = std::fs::metadata(&path).unwrap().len();
            assert!((100..=200).contains(&len), "{len}");
            assert!(f.append_all(b"x").is_err());
            assert!(s.open_read(&path).is_err());
        }
    }

    #[test]
    fn bit_flips_change_what_is_read_not_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let s = FaultyStorage::new(FaultConfig { read_bit_flip: 1.0, ..FaultConfig::none(3) });
        let f = s.open_append(&path, true).unwrap();
        f.append_all(&[0; 64]).unwrap();
        let mut buf = [0; 64];
        f.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(buf.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
        assert_eq!(std::fs::read(&path).unwrap(), vec![0; 64]);
    }
}
