//! `workbench log produce|consume|describe`: the log on its own, like Kafka's console tools.
//!
//! These are thin loops over the public log API; they exist so a person (or a test) can poke the
//! log from a shell: pipe lines in, `kill -9` the producer, read back what survived.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{LogError, Result};
use super::{
    Ack, FsyncPolicy, Log, LogConfig, Offset, Producer, ProducerConfig, Record, SystemClock,
};

/// Options of `workbench log produce`.
#[derive(Debug, Clone)]
pub struct ProduceOptions {
    /// Log directory.
    pub dir: PathBuf,
    /// Topic (created if missing).
    pub topic: String,
    /// Partitions for a new topic.
    pub partitions: u32,
    /// Durability policy.
    pub fsync: FsyncPolicy,
    /// Splits a key off the front of each line at the first occurrence of this character.
    pub key_sep: Option<char>,
    /// Segment size override (bytes); `None` keeps the [`LogConfig`] default. Tests use a small
    /// value to get several segments out of a few lines.
    pub segment_bytes: Option<u64>,
    /// Write `ack <partition> <first offset> <last offset>` to the ack output (and flush it) as
    /// each batch is acknowledged, i.e. once it is as durable as `fsync` promises. A crash test
    /// can then check that every printed ack survives a `kill -9` (see `scripts/crash-campaign`).
    pub print_acks: bool,
}

/// Options of `workbench log consume`.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// Log directory.
    pub dir: PathBuf,
    /// Topic.
    pub topic: String,
    /// Only this partition.
    pub partition: Option<u32>,
    /// Start at the first record with timestamp ≥ this, instead of the beginning.
    pub from_time: Option<i64>,
}

/// Batch size of `produce`. Larger than Kafka's 16 KiB default: under `--fsync always` every batch
/// costs an fsync (milliseconds), and `produce` already sends whatever it has read as soon as its
/// input runs dry, so a big batch adds no latency for slow writers; it only cuts fsyncs for fast
/// ones (1M short lines: ~1900 fsyncs at 16 KiB, ~120 at 256 KiB).
const PRODUCE_BATCH_BYTES: usize = 256 * 1024;

/// Records read per `Partition::read` call while consuming: large enough to amortise the call,
/// small enough that a huge partition does not sit in memory at once.
const READ_CHUNK: usize = 4096;

/// Reads lines from `input` and appends them; returns the number of records made durable.
///
/// Lines are raw bytes (no UTF-8 requirement); `\n` and `\r\n` are stripped, and a last line
/// without a newline still counts. Records go through the batching [`Producer`], but a batch is
/// also sent whenever everything read so far has been handed to the producer: a slow writer on
/// the other end of a pipe must not leave its lines waiting in a buffer for the next line.
///
/// With [`ProduceOptions::print_acks`], each acknowledgement is written to `acks_out` and flushed
/// before anything else is read, so a printed ack is a promise the log must keep.
pub fn produce(
    opts: &ProduceOptions,
    mut input: impl BufRead,
    mut acks_out: impl Write,
) -> Result<u64> {
    let mut config = LogConfig { fsync: opts.fsync, ..LogConfig::default() };
    if let Some(bytes) = opts.segment_bytes {
        config.segment_bytes = bytes;
    }
    let mut log = Log::open(&opts.dir, config, Arc::new(SystemClock))?;
    log.create_topic(&opts.topic, opts.partitions)?;

    let mut producer =
        Producer::new(ProducerConfig { linger_ms: 5, max_batch_bytes: PRODUCE_BATCH_BYTES });
    let mut sep_buf = [0u8; 4];
    let sep: Option<&[u8]> = opts.key_sep.map(|c| c.encode_utf8(&mut sep_buf).as_bytes());
    let mut durable: u64 = 0;
    let mut sent: u64 = 0;
    // Bytes of a line whose newline has not been read yet (it straddles two reads).
    let mut partial: Vec<u8> = Vec::new();

    loop {
        // `fill_buf` only blocks when its buffer is empty, and it is empty here: everything read
        // before was consumed below and the producer flushed, so no line waits on a blocked read.
        let chunk = input.fill_buf().map_err(|source| stdin_err("read", source))?;
        if chunk.is_empty() {
            break;
        }
        let len = chunk.len();
        let mut rest = chunk;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let line: &[u8] = if partial.is_empty() {
                &rest[..nl]
            } else {
                partial.extend_from_slice(&rest[..nl]);
                &partial
            };
            let record = to_record(line, sep, log.clock().now_ms());
            let (_, acks) = producer.send(&log, &opts.topic, record)?;
            durable += report(opts, &acks, &mut acks_out)?;
            sent += 1;
            partial.clear();
            rest = &rest[nl + 1..];
        }
        partial.extend_from_slice(rest);
        input.consume(len);
        durable += report(opts, &producer.flush(&log)?, &mut acks_out)?;
    }
    if !partial.is_empty() {
        let record = to_record(&partial, sep, log.clock().now_ms());
        let (_, acks) = producer.send(&log, &opts.topic, record)?;
        durable += report(opts, &acks, &mut acks_out)?;
        sent += 1;
    }
    durable += report(opts, &producer.flush(&log)?, &mut acks_out)?;
    debug_assert_eq!(durable, sent, "every line sent must have been acknowledged");
    Ok(durable)
}

/// One input line (without its `\n`) as a record: `\r` stripped, key split off at `sep`.
fn to_record(line: &[u8], sep: Option<&[u8]>, now_ms: i64) -> Record {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(sep) = sep
        && let Some(at) = line.windows(sep.len()).position(|w| w == sep)
    {
        return Record::new(&line[at + sep.len()..], now_ms).with_key(&line[..at]);
    }
    Record::new(line, now_ms)
}

/// Prints `acks` if asked to (flushed, so the line is out before the next append starts);
/// returns the number of records they acknowledge.
fn report(opts: &ProduceOptions, acks: &[Ack], out: &mut impl Write) -> Result<u64> {
    if opts.print_acks && !acks.is_empty() {
        for a in acks {
            let last = a.base_offset + u64::from(a.record_count) - 1;
            writeln!(out, "ack {} {} {last}", a.partition, a.base_offset).map_err(stdout_err)?;
        }
        out.flush().map_err(stdout_err)?;
    }
    Ok(acks.iter().map(|a| u64::from(a.record_count)).sum())
}

fn stdin_err(op: &'static str, source: std::io::Error) -> LogError {
    LogError::Io { op, path: PathBuf::from("<stdin>"), source }
}

fn stdout_err(source: std::io::Error) -> LogError {
    LogError::Io { op: "write", path: PathBuf::from("<stdout>"), source }
}

/// Opens an existing log for reading. `Log::open` creates missing directories, which is right
/// for a producer but would turn a typo in `--dir` into an empty log; readers refuse instead.
fn open_existing(dir: &Path) -> Result<Log> {
    if !dir.is_dir() {
        return Err(LogError::Io {
            op: "open log directory",
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such directory (consume and describe never create one)",
            ),
        });
    }
    Log::open(dir, LogConfig::default(), Arc::new(SystemClock))
}

/// Writes the values of `opts.topic` to `out`, one per line; returns the number written.
///
/// Partitions are read in turn, each in offset order. A read that hits corrupt data stops with
/// [`LogError::Corrupt`] after the good records before it were written; bad bytes are never
/// printed.
pub fn consume(opts: &ConsumeOptions, mut out: impl Write) -> Result<u64> {
    let log = open_existing(&opts.dir)?;
    let topic = log.topic(&opts.topic)?;
    let partitions: Vec<u32> = match opts.partition {
        Some(p) => {
            // Validate before printing anything, so an unknown partition is just an error.
            topic.partition(p)?;
            vec![p]
        }
        None => (0..topic.partition_count()).collect(),
    };
    let mut written = 0u64;
    for p in partitions {
        let partition = topic.partition(p)?;
        let start: Offset = match opts.from_time {
            Some(t) => match partition.offset_for_time(t)? {
                Some(offset) => offset,
                None => continue,
            },
            None => partition.log_start_offset(),
        };
        let end = partition.log_end_offset();
        let mut next = start;
        // A chunk read fails as a whole when any batch in it is bad. From then on read record by
        // record, so the good records before the bad batch are still printed; the bad batch
        // itself then fails again and that error is returned.
        let mut chunk = READ_CHUNK;
        while next < end {
            let records = match partition.read(next, chunk) {
                Ok(records) => records,
                Err(LogError::Corrupt { .. }) if chunk > 1 => {
                    chunk = 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            for stored in &records {
                out.write_all(&stored.record.value).map_err(stdout_err)?;
                out.write_all(b"\n").map_err(stdout_err)?;
            }
            written += records.len() as u64;
        }
    }
    out.flush().map_err(stdout_err)?;
    Ok(written)
}

/// Writes a description of every topic, partition and segment in `dir` to `out`.
///
/// Opening the log runs recovery, so what recovery did on this open is listed at the end.
pub fn describe(dir: &Path, mut out: impl Write) -> Result<()> {
    let log = open_existing(dir)?;
    let names = log.topic_names();
    let mut text = String::new();
    if names.is_empty() {
        text.push_str(&format!("{}: no topics\n", dir.display()));
    }
    for name in &names {
        let topic = log.topic(name)?;
        text.push_str(&format!("topic {name}  partitions={}\n", topic.partition_count()));
        for p in 0..topic.partition_count() {
            let partition = topic.partition(p)?;
            text.push_str(&format!(
                "  partition {p}  start={}  end={}  size={}B  segments={}\n",
                partition.log_start_offset(),
                partition.log_end_offset(),
                partition.size_bytes(),
                partition.segments().len(),
            ));
            let mut rows = vec![[
                "file".to_string(),
                "offsets".to_string(),
                "bytes".to_string(),
                "time range (ms)".to_string(),
                "".to_string(),
            ]];
            for seg in partition.segments() {
                let file = seg
                    .path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_else(|| seg.path.display().to_string());
                let time = match seg.time_range {
                    Some((lo, hi)) => format!("{lo}..{hi}"),
                    None => "-".to_string(),
                };
                rows.push([
                    file,
                    format!("{}..{}", seg.base_offset, seg.next_offset),
                    seg.size_bytes.to_string(),
                    time,
                    if seg.active { "active".to_string() } else { String::new() },
                ]);
            }
            push_table(&mut text, "    ", &rows);
        }
    }
    let events = log.recovery_events();
    if !events.is_empty() {
        text.push_str("recovery on open:\n");
        for event in events {
            match event {
                super::RecoveryEvent::Truncated { file, position, bytes } => {
                    text.push_str(&format!(
                        "  truncated {} at byte {position} ({bytes} bytes removed)\n",
                        file.display()
                    ));
                }
                super::RecoveryEvent::IndexRebuilt { file } => {
                    text.push_str(&format!("  rebuilt index {}\n", file.display()));
                }
            }
        }
    }
    out.write_all(text.as_bytes()).map_err(stdout_err)?;
    out.flush().map_err(stdout_err)
}

/// Appends `rows` as left-aligned columns (the size column right-aligned, numbers read better).
fn push_table<const N: usize>(text: &mut String, indent: &str, rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::from(indent);
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i == 2 {
                line.push_str(&format!("{cell:>w$}  "));
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
}
