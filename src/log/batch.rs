//! The on-disk batch format: how records are framed, checksummed and decoded.
//!
//! All integers are little-endian. A batch is
//!
//! ```text
//! len   u32   length of the body in bytes (everything after the crc)
//! crc   u32   crc32c of the body
//! body:
//!   base_offset                 u64  offset of the first record
//!   record_count                u32  number of records (>= 1)
//!   append_time_ms              i64  the log's clock at append (LogAppendTime)
//!   max_timestamp_ms            i64  largest record timestamp in this batch
//!   segment_min_timestamp_ms    i64  smallest record timestamp in the segment up to and
//!                                    including this batch
//!   segment_max_timestamp_ms    i64  largest record timestamp in the segment so far
//!   segment_max_append_time_ms  i64  largest append time in the segment so far
//!   records, record_count times:
//!     key_len    i32   -1 for no key
//!     key        key_len bytes
//!     value_len  u32
//!     value      value_len bytes
//!     timestamp  i64   event time
//!     header_count u32
//!     headers, header_count times: key_len u32, key (UTF-8), value_len u32, value
//! ```
//!
//! The `segment_*` fields are running aggregates over the segment. They cost 24 bytes per batch
//! and buy a cheap open: the last batch of a closed segment alone gives the segment's time range
//! and newest append time (needed by `describe` and by time retention) without scanning it.

use super::error::LogError;
use super::{Header, Offset, Record, StoredRecord, TimestampMs};

/// Bytes of `len` and `crc` in front of every body.
pub(crate) const FRAME_LEN: usize = 8;
/// Bytes of the fixed part of the body.
pub(crate) const BODY_HEADER_LEN: usize = 8 + 4 + 8 * 5;
/// Bytes a batch costs beyond its records.
pub(crate) const BATCH_OVERHEAD: usize = FRAME_LEN + BODY_HEADER_LEN;
/// The smallest encoded record: key length, value length, timestamp, header count.
const MIN_RECORD_LEN: usize = 4 + 4 + 8 + 4;

/// The fixed part of a batch body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub base_offset: Offset,
    pub record_count: u32,
    pub append_time_ms: TimestampMs,
    pub max_timestamp_ms: TimestampMs,
    pub segment_min_timestamp_ms: TimestampMs,
    pub segment_max_timestamp_ms: TimestampMs,
    pub segment_max_append_time_ms: TimestampMs,
}

impl BatchHeader {
    /// One past the batch's last offset.
    pub fn next_offset(&self) -> Offset {
        self.base_offset + u64::from(self.record_count)
    }
}

/// Encoded size of one record inside a batch body.
pub(crate) fn record_encoded_len(r: &Record) -> usize {
    parts_encoded_len(r.key.as_deref(), &r.value, &r.headers)
}

/// Encoded size of a record given by its parts.
#[inline]
pub(crate) fn parts_encoded_len(key: Option<&[u8]>, value: &[u8], headers: &[Header]) -> usize {
    4 + key.map_or(0, <[u8]>::len)
        + 4
        + value.len()
        + 8
        + 4
        + headers.iter().map(|h| 8 + h.key.len() + h.value.len()).sum::<usize>()
}

/// Encoded size of a whole batch (frame included) holding `records`.
pub(crate) fn batch_encoded_len(records: &[Record]) -> usize {
    BATCH_OVERHEAD + records.iter().map(record_encoded_len).sum::<usize>()
}

fn len_u32(n: usize, total: usize) -> Result<u32, LogError> {
    u32::try_from(n).map_err(|_| LogError::BatchTooLarge(total))
}

/// A batch being built: records encoded into one buffer as they come (the producer encodes each
/// record when it is sent), the frame and fixed header left blank until [`EncodedBatch::seal`]
/// fills them at append time. So a batch is encoded once, in place, and written from the same
/// buffer: no `Vec<Record>` to walk again, no second copy.
#[derive(Debug, Clone)]
pub(crate) struct EncodedBatch {
    buf: Vec<u8>,
    count: u32,
    min_ts: TimestampMs,
    max_ts: TimestampMs,
}

impl EncodedBatch {
    /// An empty batch with room for `bytes` bytes (frame included).
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.max(BATCH_OVERHEAD));
        buf.resize(BATCH_OVERHEAD, 0);
        EncodedBatch { buf, count: 0, min_ts: i64::MAX, max_ts: i64::MIN }
    }

    /// Empties the batch, keeping its buffer.
    pub fn clear(&mut self) {
        self.buf.truncate(BATCH_OVERHEAD);
        self.count = 0;
        self.min_ts = i64::MAX;
        self.max_ts = i64::MIN;
    }

    /// Encoded size so far, frame included.
    pub fn len_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Records encoded.
    pub fn record_count(&self) -> u32 {
        self.count
    }

    /// Whether no record was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Smallest and largest record timestamp (meaningless when empty).
    pub fn time_range(&self) -> (TimestampMs, TimestampMs) {
        (self.min_ts, self.max_ts)
    }

    /// Encodes `r` at the end. A record whose fields do not fit the format's length fields, or
    /// one too many for the count, is refused whole (nothing is written).
    pub fn push(&mut self, r: &Record) -> Result<(), LogError> {
        self.push_parts(r.key.as_deref(), &r.value, r.timestamp_ms, &r.headers)
    }

    /// [`EncodedBatch::push`] of a record given by its parts (borrowed: nothing is allocated
    /// beyond the batch buffer's own growth).
    #[inline]
    pub fn push_parts(
        &mut self,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp_ms: TimestampMs,
        headers: &[Header],
    ) -> Result<(), LogError> {
        self.push_parts_sized(
            parts_encoded_len(key, value, headers),
            key,
            value,
            timestamp_ms,
            headers,
        )
    }

    /// [`EncodedBatch::push_parts`] given the record's [`parts_encoded_len`], which the
    /// producer has already computed to decide whether the record fits the batch.
    #[inline]
    pub fn push_parts_sized(
        &mut self,
        len: usize,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp_ms: TimestampMs,
        headers: &[Header],
    ) -> Result<(), LogError> {
        debug_assert_eq!(len, parts_encoded_len(key, value, headers));
        let total = self.buf.len() + len;
        let too_large = || LogError::BatchTooLarge(total);
        let count = self.count.checked_add(1).ok_or_else(too_large)?;
        // Each length field counts part of the record, so a record shorter than 2 GiB fits
        // every field (`key_len` is an i32, the others u32): one comparison per record, and
        // the field-by-field checks only for a huge one.
        if len > i32::MAX as usize {
            if let Some(k) = key {
                i32::try_from(k.len()).map_err(|_| too_large())?;
            }
            len_u32(value.len(), total)?;
            len_u32(headers.len(), total)?;
            for h in headers {
                len_u32(h.key.len(), total)?;
                len_u32(h.value.len(), total)?;
            }
        }
        let value_len = value.len() as u32;
        let header_count = headers.len() as u32;
        let buf = &mut self.buf;
        buf.reserve(len);
        match key {
            None => {
                // Key length -1 and the value length in one copy.
                let mut head = [0u8; 8];
                head[..4].copy_from_slice(&(-1i32).to_le_bytes());
                head[4..].copy_from_slice(&value_len.to_le_bytes());
                buf.extend_from_slice(&head);
            }
            Some(k) => {
                buf.extend_from_slice(&(k.len() as i32).to_le_bytes());
                buf.extend_from_slice(k);
                buf.extend_from_slice(&value_len.to_le_bytes());
            }
        }
        buf.extend_from_slice(value);
        // Timestamp and header count in one copy.
        let mut tail = [0u8; 12];
        tail[..8].copy_from_slice(&timestamp_ms.to_le_bytes());
        tail[8..].copy_from_slice(&header_count.to_le_bytes());
        buf.extend_from_slice(&tail);
        for h in headers {
            buf.extend_from_slice(&(h.key.len() as u32).to_le_bytes());
            buf.extend_from_slice(h.key.as_bytes());
            buf.extend_from_slice(&(h.value.len() as u32).to_le_bytes());
            buf.extend_from_slice(&h.value);
        }
        self.count = count;
        self.min_ts = self.min_ts.min(timestamp_ms);
        self.max_ts = self.max_ts.max(timestamp_ms);
        Ok(())
    }

    /// Puts the records of `earlier` in front of this batch's (a batch whose append failed
    /// goes back in front of the records buffered after it, so order is kept).
    pub fn prepend(&mut self, earlier: &EncodedBatch) {
        let mut buf = Vec::with_capacity(earlier.buf.len() + self.buf.len() - BATCH_OVERHEAD);
        buf.extend_from_slice(&earlier.buf);
        buf.extend_from_slice(&self.buf[BATCH_OVERHEAD..]);
        self.buf = buf;
        // Each count is at most its buffer's size / 20 bytes (the smallest record): the sum fits.
        self.count += earlier.count;
        self.min_ts = self.min_ts.min(earlier.min_ts);
        self.max_ts = self.max_ts.max(earlier.max_ts);
    }

    /// Writes the frame and the fixed header (`record_count` and `max_timestamp_ms` come from
    /// the records, the rest from `header`) and the CRC; returns the framed batch, ready for
    /// one `write_all`.
    pub fn seal(&mut self, header: &BatchHeader) -> Result<&[u8], LogError> {
        let total = self.buf.len();
        // The body length must fit the u32 `len` field.
        let body_len = len_u32(total - FRAME_LEN, total)?;
        let mut h = Vec::with_capacity(BATCH_OVERHEAD);
        h.extend_from_slice(&body_len.to_le_bytes());
        h.extend_from_slice(&[0; 4]); // crc, filled in below
        h.extend_from_slice(&header.base_offset.to_le_bytes());
        h.extend_from_slice(&self.count.to_le_bytes());
        h.extend_from_slice(&header.append_time_ms.to_le_bytes());
        h.extend_from_slice(&self.max_ts.to_le_bytes());
        h.extend_from_slice(&header.segment_min_timestamp_ms.to_le_bytes());
        h.extend_from_slice(&header.segment_max_timestamp_ms.to_le_bytes());
        h.extend_from_slice(&header.segment_max_append_time_ms.to_le_bytes());
        debug_assert_eq!(h.len(), BATCH_OVERHEAD);
        self.buf[..BATCH_OVERHEAD].copy_from_slice(&h);
        let crc = crc32c::crc32c(&self.buf[FRAME_LEN..]);
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        Ok(&self.buf)
    }
}

/// Encodes `records` as one framed batch, in a single allocation, ready for one `write_all`.
/// `header.record_count` and `header.max_timestamp_ms` are taken from `records`.
pub(crate) fn encode_batch(header: &BatchHeader, records: &[Record]) -> Result<Vec<u8>, LogError> {
    let mut b = EncodedBatch::with_capacity(batch_encoded_len(records));
    for r in records {
        b.push(r)?;
    }
    b.seal(header)?;
    Ok(b.buf)
}

/// Splits a frame into (body length, crc).
pub(crate) fn parse_frame(frame: &[u8]) -> (u32, u32) {
    let mut len = [0; 4];
    let mut crc = [0; 4];
    len.copy_from_slice(&frame[0..4]);
    crc.copy_from_slice(&frame[4..8]);
    (u32::from_le_bytes(len), u32::from_le_bytes(crc))
}

/// A bounds-checked little-endian reader over untrusted bytes: every short read is an error,
/// never a panic.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            format!("field of {n} bytes at body byte {} runs past the batch end", self.pos)
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.arr().map(u32::from_le_bytes)
    }
    fn i32(&mut self) -> Result<i32, String> {
        self.arr().map(i32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, String> {
        self.arr().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Result<i64, String> {
        self.arr().map(i64::from_le_bytes)
    }
    fn len_bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// Checks a body against its CRC and parses its fixed part. The error says what failed.
pub(crate) fn check_body(body: &[u8], crc: u32) -> Result<BatchHeader, String> {
    if body.len() < BODY_HEADER_LEN {
        return Err(format!("batch body of {} bytes is shorter than its header", body.len()));
    }
    let actual = crc32c::crc32c(body);
    if actual != crc {
        return Err(format!("crc32c mismatch: stored {crc:#010x}, computed {actual:#010x}"));
    }
    let mut c = Cursor { bytes: body, pos: 0 };
    let h = BatchHeader {
        base_offset: c.u64()?,
        record_count: c.u32()?,
        append_time_ms: c.i64()?,
        max_timestamp_ms: c.i64()?,
        segment_min_timestamp_ms: c.i64()?,
        segment_max_timestamp_ms: c.i64()?,
        segment_max_append_time_ms: c.i64()?,
    };
    if h.record_count == 0 {
        return Err("batch has no records".into());
    }
    // Bounds the work and memory a forged count can ask for (found by fuzzing: a count of
    // 2^32 - 1 behind a good CRC made `record_timestamps` reserve 32 GiB).
    let room = (body.len() - BODY_HEADER_LEN) / MIN_RECORD_LEN;
    if h.record_count as usize > room {
        return Err(format!(
            "batch claims {} records but its {} bytes hold at most {room}",
            h.record_count,
            body.len()
        ));
    }
    if h.base_offset.checked_add(u64::from(h.record_count)).is_none() {
        return Err("batch offsets overflow".into());
    }
    Ok(h)
}

/// A record borrowed from a checked batch in a read buffer: what [`super::Partition::for_each_record`]
/// hands its visitor. Nothing is copied or allocated to make one; [`RecordRef::to_stored`]
/// makes the owned [`StoredRecord`] that [`super::Partition::read`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Its offset in its partition.
    pub offset: Offset,
    /// The log's clock when its batch was appended (Kafka's LogAppendTime).
    pub append_time_ms: TimestampMs,
    /// Partitioning key, if any.
    pub key: Option<&'a [u8]>,
    /// Payload.
    pub value: &'a [u8],
    /// Event time in ms.
    pub timestamp_ms: TimestampMs,
    /// The encoded headers (`header_count` times key length, key, value length, value),
    /// already checked.
    headers: &'a [u8],
    header_count: u32,
}

impl<'a> RecordRef<'a> {
    /// Number of headers.
    pub fn header_count(&self) -> usize {
        self.header_count as usize
    }

    /// The headers, in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let mut c = Cursor { bytes: self.headers, pos: 0 };
        // The batch was checked before this record was handed out (every header key is UTF-8
        // and every length in bounds), so the fallbacks below never fire.
        (0..self.header_count).map_while(move |_| {
            let k = c.len_bytes().ok()?;
            let v = c.len_bytes().ok()?;
            Some((std::str::from_utf8(k).ok()?, v))
        })
    }

    /// An owned copy.
    pub fn to_stored(&self) -> StoredRecord {
        StoredRecord {
            offset: self.offset,
            append_time_ms: self.append_time_ms,
            record: Record {
                key: self.key.map(<[u8]>::to_vec),
                value: self.value.to_vec(),
                timestamp_ms: self.timestamp_ms,
                headers: self
                    .headers()
                    .map(|(k, v)| Header { key: k.to_owned(), value: v.to_vec() })
                    .collect(),
            },
        }
    }
}

/// Marks "no key" in [`RecordSpan::key_len`].
const NO_KEY: u32 = u32::MAX;

/// Where one record of a checked batch lies in its body: what the single checking walk
/// ([`index_records`]) remembers so the records can be handed out without parsing them again.
/// Positions are body-relative `u32`s (a body's length is a `u32`), so a span is 40 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RecordSpan {
    key_at: u32,
    /// [`NO_KEY`] for a record without a key.
    key_len: u32,
    value_at: u32,
    value_len: u32,
    timestamp_ms: i64,
    headers_at: u32,
    headers_end: u32,
    header_count: u32,
}

impl RecordSpan {
    /// The record this span describes in `body` (the body [`index_records`] walked), at
    /// `offset`, appended at `append_time_ms`.
    #[inline]
    pub fn record<'a>(
        &self,
        body: &'a [u8],
        offset: Offset,
        append_time_ms: TimestampMs,
    ) -> RecordRef<'a> {
        let at = |start: u32, len: u32| &body[start as usize..start as usize + len as usize];
        RecordRef {
            offset,
            append_time_ms,
            key: (self.key_len != NO_KEY).then(|| at(self.key_at, self.key_len)),
            value: at(self.value_at, self.value_len),
            timestamp_ms: self.timestamp_ms,
            headers: &body[self.headers_at as usize..self.headers_end as usize],
            header_count: self.header_count,
        }
    }
}

/// Reads one record at the cursor, checking every length and that header keys are UTF-8, and
/// returns where its parts lie.
#[inline]
fn next_span(c: &mut Cursor<'_>) -> Result<RecordSpan, String> {
    // Every position below is inside the body, whose length fits a u32 (the frame's `len`).
    let pos = |c: &Cursor<'_>| c.pos as u32;
    let (key_at, key_len) = match c.i32()? {
        -1 => (pos(c), NO_KEY),
        n if n >= 0 => {
            let at = pos(c);
            c.take(n as usize)?;
            (at, n as u32)
        }
        n => return Err(format!("negative key length {n}")),
    };
    let value_len = c.u32()?;
    let value_at = pos(c);
    c.take(value_len as usize)?;
    let timestamp_ms = c.i64()?;
    let header_count = c.u32()?;
    let headers_at = pos(c);
    for _ in 0..header_count {
        let k = c.len_bytes()?;
        std::str::from_utf8(k).map_err(|e| format!("header key: {e}"))?;
        c.len_bytes()?;
    }
    Ok(RecordSpan {
        key_at,
        key_len,
        value_at,
        value_len,
        timestamp_ms,
        headers_at,
        headers_end: pos(c),
        header_count,
    })
}

/// The one walk over a CRC-checked body: checks the structure of every record (lengths in
/// bounds, header keys UTF-8, no record above the batch maximum, the maximum reached, no
/// trailing bytes) and leaves in `spans` (cleared first, reused across batches) where each
/// record lies, so they can be handed out without a second parse. Only a body that passes is
/// ever handed out (a good CRC makes a failure a bug or a forgery, and either way nothing of
/// the batch is served); on an error `spans` holds nothing to serve.
pub(crate) fn index_records(
    header: &BatchHeader,
    body: &[u8],
    spans: &mut Vec<RecordSpan>,
) -> Result<(), String> {
    spans.clear();
    // `check_body` bounded the count by the body's size, so this reservation is too.
    spans.reserve(header.record_count as usize);
    let mut c = Cursor { bytes: body, pos: BODY_HEADER_LEN };
    let mut seen_max = i64::MIN;
    for _ in 0..header.record_count {
        let span = match next_span(&mut c) {
            Ok(s) => s,
            Err(e) => {
                spans.clear();
                return Err(e);
            }
        };
        if span.timestamp_ms > header.max_timestamp_ms {
            spans.clear();
            return Err(format!("record timestamp {} above the batch maximum", span.timestamp_ms));
        }
        seen_max = seen_max.max(span.timestamp_ms);
        spans.push(span);
    }
    let checked = if c.pos != body.len() {
        Err(format!("{} trailing bytes after the last record", body.len() - c.pos))
    } else {
        check_batch_max(header, seen_max)
    };
    if checked.is_err() {
        spans.clear();
    }
    checked
}

/// The records of a body that passed [`check_body`], borrowed: the whole batch is checked
/// first ([`index_records`], one walk), so the iterator yields every record or the error comes
/// before any of them. Allocates the spans; hot paths keep a [`RecordSpan`] vector of their own
/// and call [`index_records`].
pub(crate) fn records<'a>(
    header: &BatchHeader,
    body: &'a [u8],
) -> Result<impl Iterator<Item = RecordRef<'a>> + 'a, String> {
    let mut spans = Vec::new();
    index_records(header, body, &mut spans)?;
    let (base, append_time_ms) = (header.base_offset, header.append_time_ms);
    Ok(spans.into_iter().zip(base..).map(move |(s, offset)| s.record(body, offset, append_time_ms)))
}

/// Decodes the records of a checked body, appending those with offset ≥ `from` to `out` until it
/// holds `max` records. Structural problems (which a good CRC makes a bug or a deliberate forgery,
/// but are still never served) are errors, and then nothing of the batch is appended.
pub(crate) fn decode_records(
    header: &BatchHeader,
    body: &[u8],
    from: Offset,
    max: usize,
    out: &mut Vec<StoredRecord>,
) -> Result<(), String> {
    let room = max.saturating_sub(out.len());
    out.extend(
        records(header, body)?.filter(|r| r.offset >= from).take(room).map(|r| r.to_stored()),
    );
    Ok(())
}

/// Timestamps of the records of a checked body, in offset order (for `offset_for_time`).
pub(crate) fn record_timestamps(header: &BatchHeader, body: &[u8]) -> Result<Vec<i64>, String> {
    let mut c = Cursor { bytes: body, pos: BODY_HEADER_LEN };
    let mut ts = Vec::with_capacity(header.record_count as usize);
    for _ in 0..header.record_count {
        let key_len = c.i32()?;
        if key_len >= 0 {
            c.take(key_len as usize)?;
        } else if key_len != -1 {
            return Err(format!("negative key length {key_len}"));
        }
        c.len_bytes()?;
        let t = c.i64()?;
        // The same checks as `decode_records` (found by fuzzing: a record above the batch
        // maximum failed a read but still answered `offset_for_time`).
        if t > header.max_timestamp_ms {
            return Err(format!("record timestamp {t} above the batch maximum"));
        }
        ts.push(t);
        for _ in 0..c.u32()? {
            std::str::from_utf8(c.len_bytes()?).map_err(|e| format!("header key: {e}"))?;
            c.len_bytes()?;
        }
    }
    if c.pos != body.len() {
        return Err(format!("{} trailing bytes after the last record", body.len() - c.pos));
    }
    check_batch_max(header, ts.iter().copied().max().unwrap_or(i64::MIN))?;
    Ok(ts)
}

/// The header's batch maximum must be its records' maximum, as `encode_batch` writes it (found
/// by fuzzing: a larger claim decoded fine but could not be re-encoded to the same bytes).
fn check_batch_max(header: &BatchHeader, records_max: i64) -> Result<(), String> {
    if records_max == header.max_timestamp_ms {
        Ok(())
    } else {
        Err(format!(
            "batch maximum timestamp {} but its records' maximum is {records_max}",
            header.max_timestamp_ms
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(base: u64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            record_count: 0,
            append_time_ms: 77,
            max_timestamp_ms: 0,
            segment_min_timestamp_ms: -5,
            segment_max_timestamp_ms: 900,
            segment_max_append_time_ms: 77,
        }
    }

    fn records() -> Vec<Record> {
        vec![
            Record::new("v1", 10).with_key("k"),
            Record::new(Vec::new(), -3),
            Record {
                key: Some(Vec::new()),
                value: vec![0, 255, 7],
                timestamp_ms: 900,
                headers: vec![
                    Header { key: "h".into(), value: b"x".to_vec() },
                    Header { key: String::new(), value: Vec::new() },
                ],
            },
        ]
    }

    #[test]
    fn roundtrip() {
        let recs = records();
        let buf = encode_batch(&header(42), &recs).unwrap();
        assert_eq!(buf.len(), batch_encoded_len(&recs));
        let (len, crc) = parse_frame(&buf);
        assert_eq!(len as usize, buf.len() - FRAME_LEN);
        let h = check_body(&buf[FRAME_LEN..], crc).unwrap();
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.record_count, 3);
        assert_eq!(h.max_timestamp_ms, 900);
        assert_eq!(h.segment_min_timestamp_ms, -5);
        let mut out = Vec::new();
        decode_records(&h, &buf[FRAME_LEN..], 0, usize::MAX, &mut out).unwrap();
        let got: Vec<_> = out.iter().map(|s| s.record.clone()).collect();
        assert_eq!(got, recs);
        assert_eq!(out.iter().map(|s| s.offset).collect::<Vec<_>>(), vec![42, 43, 44]);
        assert!(out.iter().all(|s| s.append_time_ms == 77));
        let mut out = Vec::new();
        decode_records(&h, &buf[FRAME_LEN..], 43, 1, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].offset, 43);
        assert_eq!(record_timestamps(&h, &buf[FRAME_LEN..]).unwrap(), vec![10, -3, 900]);
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let buf = encode_batch(&header(0), &records()).unwrap();
        for i in FRAME_LEN..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                let (_, crc) = parse_frame(&bad);
                assert!(check_body(&bad[FRAME_LEN..], crc).is_err(), "byte {i} bit {bit}");
            }
        }
        // A flipped CRC is rejected too.
        let mut bad = buf.clone();
        bad[5] ^= 1;
        let (_, crc) = parse_frame(&bad);
        assert!(check_body(&bad[FRAME_LEN..], crc).is_err());
    }

    #[test]
    fn short_body_is_rejected_without_panic() {
        let buf = encode_batch(&header(0), &records()).unwrap();
        let (_, crc) = parse_frame(&buf);
        for cut in FRAME_LEN..buf.len() {
            assert!(check_body(&buf[FRAME_LEN..cut], crc).is_err());
        }
    }

    #[test]
    fn malformed_body_with_valid_crc_is_an_error_not_a_panic() {
        let buf = encode_batch(&header(0), &records()).unwrap();
        let mut body = buf[FRAME_LEN..].to_vec();
        // Claim a huge value length in the first record.
        let at = BODY_HEADER_LEN + 4 + 1;
        body[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let crc = crc32c::crc32c(&body);
        let h = check_body(&body, crc).unwrap();
        assert!(decode_records(&h, &body, 0, usize::MAX, &mut Vec::new()).is_err());
        assert!(record_timestamps(&h, &body).is_err());
    }

    #[test]
    fn a_forged_record_count_is_refused_before_decoding() {
        // Found by fuzzing (tests/fuzz-regressions/batch_decode/oom-record-count): a good CRC
        // over a body claiming 2^32 - 1 records made `record_timestamps` reserve 32 GiB.
        let h = BatchHeader { record_count: 1, ..header(0) };
        let mut body = encode_batch(&h, &[Record::new("v", 0)]).unwrap()[FRAME_LEN..].to_vec();
        body[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = check_body(&body, crc32c::crc32c(&body)).unwrap_err();
        assert!(err.contains("claims 4294967295 records"), "{err}");
    }

    #[test]
    fn both_decoders_refuse_a_record_above_the_batch_maximum() {
        // Found by fuzzing (tests/fuzz-regressions/batch_decode/timestamp-above-max).
        let records = [Record::new("a", 5), Record::new("b", 9)];
        let h = BatchHeader { record_count: 2, ..header(0) };
        let mut body = encode_batch(&h, &records).unwrap()[FRAME_LEN..].to_vec();
        // The batch maximum (after base offset, count, append time) says 8; a record has 9.
        body[20..28].copy_from_slice(&8i64.to_le_bytes());
        let h = check_body(&body, crc32c::crc32c(&body)).unwrap();
        assert!(decode_records(&h, &body, 0, 10, &mut Vec::new()).is_err());
        assert!(record_timestamps(&h, &body).unwrap_err().contains("above the batch maximum"));
    }
}
