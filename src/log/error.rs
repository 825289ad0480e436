//! Errors of the log, with what a user needs to act on them.

use std::path::PathBuf;

use super::Offset;

/// Everything that can go wrong in the log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An I/O call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Stored bytes failed a check; they are never served as data.
    #[error("corrupt log data in {} at byte {position}: {reason}", file.display())]
    Corrupt {
        /// The segment or index file.
        file: PathBuf,
        /// Byte position of the bad batch in the file.
        position: u64,
        /// What check failed.
        reason: String,
    },
    /// The segment refuses writes until the log is reopened: an earlier `fsync` failed (the
    /// data may not be on disk, and a retried fsync could falsely succeed) or a failed write
    /// could not be rolled back.
    #[error("{}: refusing writes until the log is reopened: {reason}", file.display())]
    Poisoned {
        /// The segment file.
        file: PathBuf,
        /// What failed first.
        reason: String,
    },
    /// No topic of that name.
    #[error("unknown topic `{0}`")]
    UnknownTopic(String),
    /// The topic exists with a different partition count.
    #[error("topic `{topic}` exists with {existing} partitions, not {requested}")]
    PartitionCountMismatch {
        /// Topic name.
        topic: String,
        /// Partitions on disk.
        existing: u32,
        /// Partitions asked for.
        requested: u32,
    },
    /// Partition number out of range.
    #[error("topic `{topic}` has no partition {partition}")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// The partition asked for.
        partition: u32,
    },
    /// The offset is below the log start (deleted by retention) or beyond the log end.
    #[error("offset {requested} is out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// Offset asked for.
        requested: Offset,
        /// Log start offset.
        start: Offset,
        /// Log end offset (the next offset to be written).
        end: Offset,
    },
    /// A name that cannot be a topic or group (empty, path separators, ...).
    #[error("invalid name `{0}`: use letters, digits, '.', '_' and '-'")]
    InvalidName(String),
    /// A consumer without a group was asked to commit.
    #[error("consumer of `{0}` has no group to commit to")]
    NoGroup(String),
    /// The remote (cold) tier failed, lacks an object its manifest lists, or returned bytes that
    /// fail their check; never served as data.
    #[error("remote tier object {object}: {reason}")]
    Remote {
        /// The object (`<store>/<topic>/<partition>/<base>.log`, or the store itself).
        object: String,
        /// What went wrong.
        reason: String,
    },
    /// A batch too large for the on-disk format.
    #[error("batch of {0} bytes is too large")]
    BatchTooLarge(usize),
}

/// Shorthand used throughout the log.
pub type Result<T> = std::result::Result<T, LogError>;
