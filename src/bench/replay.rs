//! Log replay vs raw reads: every partition read back from its first offset through
//! [`crate::log::Partition::for_each_record`] (CRC check and decode of every record, borrowed
//! from a reused read buffer, one thread per
//! partition, as one consumer per partition would), vs reading the same segment files with
//! plain 1 MiB `read`s, one thread per partition, from the page cache.
//!
//! The files are read once before timing, so both sides read from memory: the figure is the
//! log's CPU cost per byte, not the disk's speed.

use std::io::Read as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{BenchError, Figure, Goal, Sizes, best_of, io_err};
use crate::log::{FsyncPolicy, Log, LogConfig, ManualClock, Record};

const TOPIC: &str = "replay";
/// Record value size: the small-record case of the append measurement.
const VALUE_BYTES: usize = 100;
/// Records per appended batch (~13 KiB, like the producer's 16 KiB batches).
const BATCH: usize = 100;
/// Records per `for_each_record` call (one read-lock hold), as a consumer's poll.
const READ_CHUNK: usize = 10_000;

/// Writes `records` records spread over `partitions` partitions.
fn write_log(dir: &Path, records: u64, partitions: u32) -> Result<Log, BenchError> {
    let config = LogConfig { fsync: FsyncPolicy::Never, ..LogConfig::default() };
    let mut log = Log::open(dir, config, Arc::new(ManualClock::new(1_700_000_000_000)))?;
    log.create_topic(TOPIC, partitions)?;
    let per = records / u64::from(partitions);
    for p in 0..partitions {
        let partition = log.topic_mut(TOPIC)?.partition_mut(p)?;
        let mut i = 0u64;
        while i < per {
            let n = (per - i).min(BATCH as u64);
            let batch: Vec<Record> = (i..i + n)
                .map(|j| {
                    Record::new(vec![b'v'; VALUE_BYTES], j as i64)
                        .with_key(format!("k{:07}", j % 10_000))
                })
                .collect();
            partition.append(&batch)?;
            i += n;
        }
        partition.flush()?;
    }
    Ok(log)
}

/// Reads every record of every partition, one thread each; returns the records read.
fn ours(log: &Log) -> Result<u64, BenchError> {
    let topic = log.topic(TOPIC)?;
    let partitions = topic.partitions();
    std::thread::scope(|s| {
        let handles: Vec<_> = partitions
            .iter()
            .map(|partition| {
                s.spawn(move || -> Result<(u64, u64), BenchError> {
                    let (mut next, end) =
                        (partition.log_start_offset(), partition.log_end_offset());
                    let (mut n, mut value_bytes) = (0u64, 0u64);
                    while next < end {
                        // Borrowed records from a reused buffer: what a consumer that
                        // processes records in place (the batch layer, the speed layer) pays.
                        next = partition.for_each_record(next, READ_CHUNK, |r| {
                            n += 1;
                            value_bytes += r.value.len() as u64;
                            ControlFlow::Continue(())
                        })?;
                    }
                    Ok((n, value_bytes))
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            let (n, bytes) =
                h.join().map_err(|_| BenchError::Check("replay thread panicked".into()))??;
            if bytes != n * VALUE_BYTES as u64 {
                return Err(BenchError::Check(format!("replay read {bytes} value bytes")));
            }
            total += n;
        }
        Ok(total)
    })
}

/// Reads `files` (one list per partition) raw, one thread per partition; returns bytes read.
fn raw(files: &[Vec<PathBuf>]) -> Result<u64, BenchError> {
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .map(|list| {
                s.spawn(move || -> Result<u64, BenchError> {
                    let mut buf = vec![0u8; 1 << 20];
                    let mut total = 0u64;
                    for path in list {
                        let mut f = std::fs::File::open(path).map_err(io_err("open", path))?;
                        loop {
                            let n = f.read(&mut buf).map_err(io_err("read", path))?;
                            if n == 0 {
                                break;
                            }
                            total += n as u64;
                        }
                    }
                    Ok(total)
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total +=
                h.join().map_err(|_| BenchError::Check("raw read thread panicked".into()))??;
        }
        Ok(total)
    })
}

/// Measures replay against raw reads.
pub fn run(work: &Path, sizes: &Sizes, add: &mut dyn FnMut(Figure)) -> Result<(), BenchError> {
    let partitions = rayon::current_num_threads().clamp(1, 8) as u32;
    let dir = work.join("replay");
    let log = write_log(&dir, sizes.replay_records, partitions)?;
    let topic = log.topic(TOPIC)?;
    let files: Vec<Vec<PathBuf>> = topic
        .partitions()
        .iter()
        .map(|p| p.segments().into_iter().map(|s| s.path).collect())
        .collect();
    let bytes: u64 = topic.partitions().iter().map(|p| p.size_bytes()).sum();
    let records: u64 = topic.partitions().iter().map(|p| p.log_end_offset()).sum();
    // Warm the page cache: both sides then read from memory.
    raw(&files)?;
    let (raw_s, raw_bytes) = best_of(sizes.repeats, || raw(&files))?;
    let (ours_s, read) = best_of(sizes.repeats, || ours(&log))?;
    if read != records || raw_bytes != bytes {
        return Err(BenchError::Check(format!(
            "replay read {read} of {records} records, raw {raw_bytes} of {bytes} bytes"
        )));
    }
    let gb = bytes as f64 / 1e9;
    add(Figure::new(
        "replay",
        format!("log replay, {partitions} partitions"),
        "GB/s",
        gb / ours_s,
        Some((gb / raw_s, "raw 1 MiB reads, page cache".into())),
        Some(Goal { ratio_at_least: Some(0.3), ours_at_least: Some(1.0), ..Goal::default() }),
        format!(
            "{records} records of {VALUE_BYTES} B + 8 B key, {:.0} MB of segments; \
             {:.1} M records/s; for_each_record in chunks of {READ_CHUNK}",
            bytes as f64 / 1e6,
            records as f64 / ours_s / 1e6
        ),
    ));
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
