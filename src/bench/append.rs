//! Log append vs the disk: records through [`Producer`] into a [`Log`] on the wall clock, vs
//! the same number of payload bytes written sequentially to a file in the same directory with
//! one `fdatasync` per MiB (what `dd oflag=... bs=64K` plus periodic syncs would do).
//!
//! Both sides end durable: the log's last batch is `fsync`ed whatever the policy, the baseline
//! syncs its tail. Throughput counts payload bytes (record values) on both sides, so the log's
//! framing, keys and indexes are part of its cost, as they are for its users.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use std::sync::atomic::{AtomicU64, Ordering};

use super::{BenchError, Figure, Goal, Sizes, io_err};
use crate::log::{
    FileStorage, FsyncPolicy, Log, LogConfig, Producer, ProducerConfig, Storage, StorageFile,
    SystemClock,
};

/// The real file system, counting the log's fsyncs: what `always` and group commit mean is
/// shown by how many fsyncs ours made next to the baseline's one per MiB.
#[derive(Debug, Default)]
struct CountingStorage {
    syncs: Arc<AtomicU64>,
}

/// A [`FileStorage`] file whose fsyncs are counted.
#[derive(Debug)]
struct CountingFile {
    file: Box<dyn StorageFile>,
    syncs: Arc<AtomicU64>,
}

impl Storage for CountingStorage {
    fn open_append(&self, path: &Path, truncate: bool) -> std::io::Result<Box<dyn StorageFile>> {
        let file = FileStorage.open_append(path, truncate)?;
        Ok(Box::new(CountingFile { file, syncs: self.syncs.clone() }))
    }
    fn open_read(&self, path: &Path) -> std::io::Result<Box<dyn StorageFile>> {
        FileStorage.open_read(path)
    }
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        FileStorage.read(path)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        FileStorage.remove_file(path)
    }
}

impl StorageFile for CountingFile {
    fn append(&self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.append(buf)
    }
    fn read_at(&self, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
        self.file.read_at(buf, pos)
    }
    fn sync_data(&self) -> std::io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.file.sync_data()
    }
    fn sync_all(&self) -> std::io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        self.file.sync_all()
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)
    }
    fn size(&self) -> std::io::Result<u64> {
        self.file.size()
    }
}

/// The baseline's write size and sync interval.
const BASELINE_WRITE: usize = 64 << 10;
const BASELINE_SYNC_EVERY: u64 = 1 << 20;
/// Producer batches: one `fsync` per batch under `always`, like the baseline's per-MiB sync.
const PRODUCER_BATCH: usize = 1 << 20;
/// The `interval` policy's interval.
const INTERVAL_MS: u64 = 100;
const TOPIC: &str = "bench";

/// One run of ours: seconds taken and the batches acknowledged (each one `write`; under
/// `always`, each one `fdatasync` before its ack).
#[derive(Debug, Clone, Copy)]
struct Run {
    secs: f64,
    batches: u64,
    /// `fsync`s of the log's files while timed.
    syncs: u64,
}

/// Appends `bytes` of payload in `record_bytes` records. With `in_flight`, the producer's
/// group commit (one batch's fsync running while the next is encoded, see
/// [`Producer::in_flight`]).
fn ours(
    dir: &Path,
    record_bytes: usize,
    bytes: u64,
    fsync: FsyncPolicy,
    in_flight: bool,
) -> Result<Run, BenchError> {
    let storage = CountingStorage::default();
    let syncs = storage.syncs.clone();
    let config = LogConfig { fsync, storage: Arc::new(storage), ..LogConfig::default() };
    let mut log = Log::open(dir, config, Arc::new(SystemClock))?;
    log.create_topic(TOPIC, 1)?;
    let mut producer =
        Producer::new(ProducerConfig { linger_ms: 5, max_batch_bytes: PRODUCER_BATCH });
    if in_flight {
        producer = producer.in_flight();
    }
    let n = bytes / record_bytes as u64;
    // The client's serialized record, sent borrowed (`send_bytes`: copied once, into the
    // batch), as the baseline writes from one buffer.
    let value = vec![b'x'; record_bytes];
    let syncs_before = syncs.load(Ordering::Relaxed);
    let t = Instant::now();
    let mut batches = 0u64;
    for i in 0..n {
        // Acks are counted, not kept: a Vec of them per send would be the bench's cost.
        batches += producer.send_bytes(&log, TOPIC, None, &value, i as i64)?.1.len() as u64;
    }
    batches += producer.flush(&log)?.len() as u64;
    log.topic_mut(TOPIC)?.partition_mut(0)?.flush()?;
    let secs = t.elapsed().as_secs_f64();
    let stored = log.topic(TOPIC)?.partition(0)?.log_end_offset();
    if stored != n {
        return Err(BenchError::Check(format!("append: {stored} records stored, {n} sent")));
    }
    let syncs = syncs.load(Ordering::Relaxed) - syncs_before;
    Ok(Run { secs, batches, syncs })
}

/// Writes `bytes` sequentially in 64 KiB writes with `fdatasync` every MiB; returns seconds.
fn baseline(dir: &Path, bytes: u64) -> Result<f64, BenchError> {
    std::fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
    let path = dir.join("baseline.bin");
    let mut file = std::fs::File::create(&path).map_err(io_err("create", &path))?;
    let buf = vec![b'x'; BASELINE_WRITE];
    let t = Instant::now();
    let (mut written, mut since_sync) = (0u64, 0u64);
    while written < bytes {
        let n = (bytes - written).min(BASELINE_WRITE as u64) as usize;
        file.write_all(&buf[..n]).map_err(io_err("write", &path))?;
        written += n as u64;
        since_sync += n as u64;
        if since_sync >= BASELINE_SYNC_EVERY {
            file.sync_data().map_err(io_err("fdatasync", &path))?;
            since_sync = 0;
        }
    }
    file.sync_data().map_err(io_err("fdatasync", &path))?;
    Ok(t.elapsed().as_secs_f64())
}

/// Runs the four append cases (100 B and 1 KiB records × `interval` and `always`).
pub fn run(work: &Path, sizes: &Sizes, add: &mut dyn FnMut(Figure)) -> Result<(), BenchError> {
    let bytes = sizes.append_bytes;
    let mb = bytes as f64 / 1e6;
    let policies =
        [("interval", FsyncPolicy::Interval { ms: INTERVAL_MS }), ("always", FsyncPolicy::Always)];
    for record_bytes in [100usize, 1024] {
        for (name, policy) in policies {
            let case = format!("append-{record_bytes}-{name}");
            // Baseline and ours alternate in the same directory so both see the same disk state;
            // each side's scratch files are removed before the other runs.
            // Pairs are repeated and the best of each side counts: disk latency on a shared
            // machine jumps between runs, and one slow fsync should not decide a ratio.
            // Under `always`, ours is also measured without group commit (one batch at a time,
            // CPU and disk in turn), for the notes.
            let always = policy == FsyncPolicy::Always;
            let (mut b, mut o, mut o1) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
            let (mut batches, mut syncs) = (0, 0);
            for _ in 0..sizes.repeats.max(1) {
                let base_dir = work.join(format!("{case}-baseline"));
                b = b.min(baseline(&base_dir, bytes)?);
                let _ = std::fs::remove_dir_all(&base_dir);
                let log_dir = work.join(&case);
                let run = ours(&log_dir, record_bytes, bytes, policy, true)?;
                if run.secs < o {
                    (o, batches, syncs) = (run.secs, run.batches, run.syncs);
                }
                let _ = std::fs::remove_dir_all(&log_dir);
                if always {
                    o1 = o1.min(ours(&log_dir, record_bytes, bytes, policy, false)?.secs);
                    let _ = std::fs::remove_dir_all(&log_dir);
                }
            }
            let records = bytes / record_bytes as u64;
            // What one fsync covers: under `always` with group commit ours syncs every batch
            // written before the fsync started (one or more), the baseline once per MiB; under
            // `interval` ours syncs about once per interval, the baseline still once per MiB.
            // Both count their final sync.
            let baseline_syncs = bytes.div_ceil(BASELINE_SYNC_EVERY) + 1;
            let batch_note = format!(
                "ours: {batches} batches (writes) of {:.0} records ({:.0} KiB of payload) each, \
                 {syncs} fsyncs; baseline: {baseline_syncs} fdatasyncs",
                records as f64 / batches.max(1) as f64,
                bytes as f64 / batches.max(1) as f64 / 1024.0
            );
            let label = if record_bytes == 1024 {
                "1 KiB".to_string()
            } else {
                format!("{record_bytes} B")
            };
            let policy_note = match policy {
                FsyncPolicy::Interval { ms } => {
                    format!("fsync every {ms} ms on the log's sync thread, acks at write")
                }
                _ => format!(
                    "every batch fsynced before its ack, group commit (batches are written \
                     while an fsync runs, the next fsync covers all of them; one batch at a \
                     time, write then fsync: {:.0} MB/s, {o1:.3} s)",
                    mb / o1
                ),
            };
            add(Figure::new(
                "append",
                format!("log append {label}, fsync {name}"),
                "MB/s",
                mb / o,
                Some((mb / b, "64 KiB writes + fdatasync/MiB".into())),
                Some(Goal { ratio_at_least: Some(0.8), ..Goal::default() }),
                format!(
                    "{mb:.0} MB of payload via Producer::send_bytes (1 MiB batches), {policy_note}; \
                     {batch_note}; best of {} pairs: ours {o:.3} s, baseline {b:.3} s",
                    sizes.repeats.max(1)
                ),
            ));
        }
    }
    Ok(())
}
