//! `workbench log produce|consume|describe`: the log on its own, like Kafka's console tools.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use super::FsyncPolicy;
use super::error::Result;

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

/// Reads lines from `input` and appends them; returns the number of records made durable.
pub fn produce(opts: &ProduceOptions, input: impl BufRead) -> Result<u64> {
    let _ = (opts, input);
    todo!("console")
}

/// Writes the values of `opts.topic` to `out`, one per line; returns the number written.
pub fn consume(opts: &ConsumeOptions, out: impl Write) -> Result<u64> {
    let _ = (opts, out);
    todo!("console")
}

/// Writes a description of every topic, partition and segment in `dir` to `out`.
pub fn describe(dir: &std::path::Path, out: impl Write) -> Result<()> {
    let _ = (dir, out);
    todo!("console")
}
