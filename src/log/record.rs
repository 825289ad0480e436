//! Records as producers hand them in and as consumers get them back.

use super::{Offset, TimestampMs};

/// A header: a named byte string carried with a record (as in Kafka).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub key: String,
    /// Header value.
    pub value: Vec<u8>,
}

/// A record as produced: optional key, value, event timestamp and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Partitioning key; `None` spreads records round-robin.
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub value: Vec<u8>,
    /// Event time in ms (when the event happened, not when it was appended).
    pub timestamp_ms: TimestampMs,
    /// Headers, in order.
    pub headers: Vec<Header>,
}

impl Record {
    /// A record with a value and timestamp only.
    pub fn new(value: impl Into<Vec<u8>>, timestamp_ms: TimestampMs) -> Self {
        Record { key: None, value: value.into(), timestamp_ms, headers: Vec::new() }
    }
    /// The same record with a key.
    pub fn with_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.key = Some(key.into());
        self
    }
}

/// A record read back from the log, with where and when it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its offset in its partition.
    pub offset: Offset,
    /// The log's clock when its batch was appended (Kafka's LogAppendTime).
    pub append_time_ms: TimestampMs,
    /// The record itself.
    pub record: Record,
}
