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
    4 + r.key.as_ref().map_or(0, Vec::len)
        + 4
        + r.value.len()
        + 8
        + 4
        + r.headers.iter().map(|h| 8 + h.key.len() + h.value.len()).sum::<usize>()
}

/// Encoded size of a whole batch (frame included) holding `records`.
pub(crate) fn batch_encoded_len(records: &[Record]) -> usize {
    BATCH_OVERHEAD + records.iter().map(record_encoded_len).sum::<usize>()
}

fn len_u32(n: usize, total: usize) -> Result<u32, LogError> {
    u32::try_from(n).map_err(|_| LogError::BatchTooLarge(total))
}

/// Encodes `records` as one framed batch, in a single allocation, ready for one `write_all`.
/// `header.record_count` and `header.max_timestamp_ms` are taken from `records`.
pub(crate) fn encode_batch(header: &BatchHeader, records: &[Record]) -> Result<Vec<u8>, LogError> {
    let total = batch_encoded_len(records);
    // The body length must fit the u32 `len` field.
    let body_len = len_u32(total - FRAME_LEN, total)?;
    let count = len_u32(records.len(), total)?;
    let max_ts = records.iter().map(|r| r.timestamp_ms).max().unwrap_or(i64::MIN);
    let mut buf = Vec::with_capacity(total);
    buf.extend_from_slice(&body_len.to_le_bytes());
    buf.extend_from_slice(&[0; 4]); // crc, filled in below
    buf.extend_from_slice(&header.base_offset.to_le_bytes());
    buf.extend_from_slice(&count.to_le_bytes());
    buf.extend_from_slice(&header.append_time_ms.to_le_bytes());
    buf.extend_from_slice(&max_ts.to_le_bytes());
    buf.extend_from_slice(&header.segment_min_timestamp_ms.to_le_bytes());
    buf.extend_from_slice(&header.segment_max_timestamp_ms.to_le_bytes());
    buf.extend_from_slice(&header.segment_max_append_time_ms.to_le_bytes());
    for r in records {
        match &r.key {
            None => buf.extend_from_slice(&(-1i32).to_le_bytes()),
            Some(k) => {
                let n = i32::try_from(k.len()).map_err(|_| LogError::BatchTooLarge(total))?;
                buf.extend_from_slice(&n.to_le_bytes());
                buf.extend_from_slice(k);
            }
        }
        buf.extend_from_slice(&len_u32(r.value.len(), total)?.to_le_bytes());
        buf.extend_from_slice(&r.value);
        buf.extend_from_slice(&r.timestamp_ms.to_le_bytes());
        buf.extend_from_slice(&len_u32(r.headers.len(), total)?.to_le_bytes());
        for h in &r.headers {
            buf.extend_from_slice(&len_u32(h.key.len(), total)?.to_le_bytes());
            buf.extend_from_slice(h.key.as_bytes());
            buf.extend_from_slice(&len_u32(h.value.len(), total)?.to_le_bytes());
            buf.extend_from_slice(&h.value);
        }
    }
    debug_assert_eq!(buf.len(), total);
    let crc = crc32c::crc32c(&buf[FRAME_LEN..]);
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(buf)
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

/// Decodes the records of a checked body, appending those with offset ≥ `from` to `out` until it
/// holds `max` records. Structural problems (which a good CRC makes a bug or a deliberate forgery,
/// but are still never served) are errors.
pub(crate) fn decode_records(
    header: &BatchHeader,
    body: &[u8],
    from: Offset,
    max: usize,
    out: &mut Vec<StoredRecord>,
) -> Result<(), String> {
    let mut c = Cursor { bytes: body, pos: BODY_HEADER_LEN };
    let mut decoded = Vec::new();
    let mut seen_max = i64::MIN;
    for i in 0..header.record_count {
        let offset = header.base_offset + u64::from(i);
        let key_len = c.i32()?;
        let key = match key_len {
            -1 => None,
            n if n >= 0 => Some(c.take(n as usize)?),
            n => return Err(format!("negative key length {n}")),
        };
        let value = c.len_bytes()?;
        let timestamp_ms = c.i64()?;
        let header_count = c.u32()?;
        let wanted = offset >= from && out.len() + decoded.len() < max;
        let mut headers = Vec::new();
        for _ in 0..header_count {
            let k = c.len_bytes()?;
            let v = c.len_bytes()?;
            if wanted {
                let key = std::str::from_utf8(k).map_err(|e| format!("header key: {e}"))?;
                headers.push(Header { key: key.to_owned(), value: v.to_vec() });
            }
        }
        if timestamp_ms > header.max_timestamp_ms {
            return Err(format!("record timestamp {timestamp_ms} above the batch maximum"));
        }
        seen_max = seen_max.max(timestamp_ms);
        if wanted {
            decoded.push(StoredRecord {
                offset,
                append_time_ms: header.append_time_ms,
                record: Record {
                    key: key.map(<[u8]>::to_vec),
                    value: value.to_vec(),
                    timestamp_ms,
                    headers,
                },
            });
        }
    }
    if c.pos != body.len() {
        return Err(format!("{} trailing bytes after the last record", body.len() - c.pos));
    }
    check_batch_max(header, seen_max)?;
    // Only a wholly valid batch contributes records.
    out.append(&mut decoded);
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
