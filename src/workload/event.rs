//! The event every workload generates, and its record encoding.
//!
//! A record's key is the event's key (`ad-000042` or `key-0007`), its timestamp the event time,
//! and its value compact CSV text, readable by `workbench log consume`:
//!
//! ```text
//! seq,user_id,page_id,ad_type,event_type,value        e.g.  17,123,45,banner,view,1
//! ```
//!
//! [`decode`] reads a record back into [`EventFields`]: it is on the hot path of every layer and
//! of the oracle, so it splits bytes on `,` and allocates nothing but the key.

use std::fmt;
use std::io::Write as _;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What the user did with the ad (YSB's event types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The ad was shown.
    View,
    /// The ad was clicked.
    Click,
    /// The ad led to a purchase.
    Purchase,
}

impl EventType {
    /// Every event type, in declaration order.
    pub const ALL: [EventType; 3] = [EventType::View, EventType::Click, EventType::Purchase];

    /// The lowercase name used in records and files.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::View => "view",
            EventType::Click => "click",
            EventType::Purchase => "purchase",
        }
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(match b {
            b"view" => EventType::View,
            b"click" => EventType::Click,
            b"purchase" => EventType::Purchase,
            _ => return None,
        })
    }
}

/// The kind of ad (YSB's ad types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdType {
    /// A banner ad.
    Banner,
    /// A modal (pop-up) ad.
    Modal,
    /// A sponsored search result.
    Sponsored,
    /// An ad in a mail.
    Mail,
    /// An ad in a mobile app.
    Mobile,
}

impl AdType {
    /// Every ad type, in declaration order.
    pub const ALL: [AdType; 5] =
        [AdType::Banner, AdType::Modal, AdType::Sponsored, AdType::Mail, AdType::Mobile];

    /// The lowercase name used in records and files.
    pub fn as_str(self) -> &'static str {
        match self {
            AdType::Banner => "banner",
            AdType::Modal => "modal",
            AdType::Sponsored => "sponsored",
            AdType::Mail => "mail",
            AdType::Mobile => "mobile",
        }
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        Some(match b {
            b"banner" => AdType::Banner,
            b"modal" => AdType::Modal,
            b"sponsored" => AdType::Sponsored,
            b"mail" => AdType::Mail,
            b"mobile" => AdType::Mobile,
            _ => return None,
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown event or ad type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`")]
pub struct UnknownName {
    what: &'static str,
    name: String,
}

impl FromStr for EventType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::from_bytes(s.as_bytes())
            .ok_or_else(|| UnknownName { what: "event type", name: s.to_string() })
    }
}

impl FromStr for AdType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AdType::from_bytes(s.as_bytes())
            .ok_or_else(|| UnknownName { what: "ad type", name: s.to_string() })
    }
}

/// One generated event, before it is appended to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Sequence number in generation (= arrival) order.
    pub seq: u64,
    /// The record key: the ad id (`ad-000042`) for ad events, `key-0007` for keyed events.
    pub key: String,
    /// Who saw the ad, uniform over the workload's `users`.
    pub user_id: u64,
    /// Where the ad was shown, uniform over the workload's `pages`.
    pub page_id: u64,
    /// The kind of ad, uniform over the five [`AdType`]s.
    pub ad_type: AdType,
    /// What happened: uniform over the three for ad events; always `view` for keyed events.
    pub event_type: EventType,
    /// The amount `key_sum` adds up: 1..=100 for keyed events, 1 for ad events.
    pub value: i64,
    /// When the event happened (simulated ms). Earlier than `arrival_ms` for delayed events.
    pub event_time_ms: i64,
    /// When the event reaches the producer (simulated ms); events are produced in this order.
    pub arrival_ms: i64,
    /// How many identical events this record stands for (`workload.events_per_record`; 1
    /// unless the scenario says otherwise). Written as a seventh value field only when not 1.
    pub weight: u32,
}

/// Number of comma-separated fields in a record value, the optional `weight` included.
const FIELDS: usize = 7;

/// The field names of a record value, in order (also in [`DecodeError`] messages). The last,
/// `weight`, is optional: a value with six fields stands for one event, as every record did
/// before weights existed.
pub const VALUE_FIELDS: [&str; FIELDS] =
    ["seq", "user_id", "page_id", "ad_type", "event_type", "value", "weight"];

impl Event {
    /// The record value: `seq,user_id,page_id,ad_type,event_type,value` as ASCII text.
    pub fn value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.write_value(&mut out);
        out
    }

    /// Appends the record value to `out` (reuse one buffer to avoid an allocation per event).
    pub fn write_value(&self, out: &mut Vec<u8>) {
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            "{},{},{},{},{},{}",
            self.seq,
            self.user_id,
            self.page_id,
            self.ad_type.as_str(),
            self.event_type.as_str(),
            self.value
        );
        if self.weight != 1 {
            let _ = write!(out, ",{}", self.weight);
        }
    }

    /// The fields a reader gets back from this event's record.
    pub fn fields(&self) -> EventFields {
        EventFields {
            key: self.key.clone(),
            user_id: self.user_id,
            page_id: self.page_id,
            ad_type: self.ad_type,
            event_type: self.event_type,
            value: self.value,
            event_time_ms: self.event_time_ms,
            weight: self.weight,
        }
    }
}

/// The decoded payload of a record (what every layer and the oracle read back from the log).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventFields {
    /// The record key (ad id or `key-NNNN`).
    pub key: String,
    /// Who.
    pub user_id: u64,
    /// Where.
    pub page_id: u64,
    /// Which kind of ad.
    pub ad_type: AdType,
    /// What happened.
    pub event_type: EventType,
    /// The amount `key_sum` adds up.
    pub value: i64,
    /// The record timestamp: the event time.
    pub event_time_ms: i64,
    /// How many identical events the record stands for (1 when the record has no weight
    /// field). Counts and sums are weighted by it; distinct counts are not.
    pub weight: u32,
}

/// Why a record is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The record has no key.
    #[error("record has no key (events are keyed by ad id or key name)")]
    MissingKey,
    /// The key is not UTF-8 text.
    #[error("record key is not UTF-8 text")]
    KeyNotText,
    /// The value does not have exactly six comma-separated fields.
    #[error(
        "record value has {found} comma-separated field(s), expected 6 or 7: \
         seq,user_id,page_id,ad_type,event_type,value[,weight]"
    )]
    FieldCount {
        /// How many fields were found (counting stops at 8).
        found: usize,
    },
    /// One field does not parse.
    #[error(
        "record value field `{field}` (field {position} of 6, or 7 with a weight) is not {expected}"
    )]
    BadField {
        /// Field name, from [`VALUE_FIELDS`].
        field: &'static str,
        /// 1-based position of the field.
        position: usize,
        /// What it should be.
        expected: &'static str,
    },
}

fn bad(index: usize, expected: &'static str) -> DecodeError {
    DecodeError::BadField { field: VALUE_FIELDS[index], position: index + 1, expected }
}

/// Parses ASCII digits as a `u64`: what `str::parse` accepts for unsigned integers (an
/// optional `+`, then at least one digit), without its UTF-8 check. `None` on anything else or
/// on overflow.
#[inline]
fn parse_u64(b: &[u8]) -> Option<u64> {
    let digits = match b {
        [b'+', rest @ ..] => rest,
        _ => b,
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(n)
}

/// Parses an `i64` as `str::parse` does (optional sign, digits), without allocation.
#[inline]
fn parse_i64(b: &[u8]) -> Option<i64> {
    match b {
        [b'-', rest @ ..] => {
            if rest.first() == Some(&b'+') {
                return None;
            }
            let m = parse_u64(rest)?;
            // i64::MIN's magnitude is one more than i64::MAX.
            if m == 1 << 63 { Some(i64::MIN) } else { i64::try_from(m).ok().map(|v| -v) }
        }
        _ => i64::try_from(parse_u64(b)?).ok(),
    }
}

fn field_u64(b: &[u8], index: usize) -> Result<u64, DecodeError> {
    parse_u64(b).ok_or_else(|| bad(index, "an unsigned integer"))
}

/// A decoded record that borrows its key from the record: what [`decode`] returns without
/// allocating. The batch layer decodes straight into columns with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// The record key.
    pub key: &'a str,
    /// Who.
    pub user_id: u64,
    /// Where.
    pub page_id: u64,
    /// Which kind of ad.
    pub ad_type: AdType,
    /// What happened.
    pub event_type: EventType,
    /// The amount `key_sum` adds up.
    pub value: i64,
    /// The record timestamp: the event time.
    pub event_time_ms: i64,
    /// Events the record stands for (1 without a weight field).
    pub weight: u32,
}

impl Default for EventFields {
    /// An empty event (a decoding buffer to [`EventRef::fill`]).
    fn default() -> Self {
        EventFields {
            key: String::new(),
            user_id: 0,
            page_id: 0,
            ad_type: AdType::Banner,
            event_type: EventType::View,
            value: 0,
            event_time_ms: 0,
            weight: 1,
        }
    }
}

impl EventRef<'_> {
    /// Its value's fields (all but the key and the timestamp).
    pub fn value_fields(&self) -> ValueFields {
        ValueFields {
            user_id: self.user_id,
            page_id: self.page_id,
            ad_type: self.ad_type,
            event_type: self.event_type,
            value: self.value,
            weight: self.weight,
        }
    }
    /// Overwrites `into` with this event, reusing its key buffer: after the first few events a
    /// stream job decodes without allocating.
    #[inline]
    pub fn fill(&self, into: &mut EventFields) {
        into.key.clear();
        into.key.push_str(self.key);
        into.user_id = self.user_id;
        into.page_id = self.page_id;
        into.ad_type = self.ad_type;
        into.event_type = self.event_type;
        into.value = self.value;
        into.event_time_ms = self.event_time_ms;
        into.weight = self.weight;
    }

    /// The owned fields.
    pub fn to_fields(&self) -> EventFields {
        EventFields {
            key: self.key.to_owned(),
            user_id: self.user_id,
            page_id: self.page_id,
            ad_type: self.ad_type,
            event_type: self.event_type,
            value: self.value,
            event_time_ms: self.event_time_ms,
            weight: self.weight,
        }
    }
}

/// Digits up to the next `,` as a `u64`, and what follows the comma. `None` for anything
/// unusual (a sign, no digits, overflow, no comma): the careful path then says what is wrong.
#[inline]
fn take_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    // 19 digits never overflow a u64, so they need no checked arithmetic; a 20th digit is
    // added checked, and a 21st always overflows.
    let mut n: u64 = 0;
    let mut i = 0;
    let unchecked = b.len().min(19);
    while i < unchecked {
        let d = b[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        n = n * 10 + u64::from(d);
        i += 1;
    }
    if i == 19
        && let Some(d) = b.get(19).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9)
    {
        n = n.checked_mul(10)?.checked_add(u64::from(d))?;
        i = 20;
    }
    match b.get(i) {
        Some(b',') if i > 0 => Some((n, &b[i + 1..])),
        _ => None,
    }
}

/// Bytes up to the next `,`, and what follows the comma.
#[inline]
fn take_field(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&c| c == b',')?;
    Some((&b[..i], &b[i + 1..]))
}

/// One pass over a well-formed value: `(user_id, page_id, ad_type, event_type, value)`.
/// `None` whenever anything is off, so that errors always come from the careful path.
#[inline]
fn decode_fast(value: &[u8]) -> Option<(u64, u64, AdType, EventType, i64, u32)> {
    let (_seq, rest) = take_u64(value)?;
    let (user_id, rest) = take_u64(rest)?;
    let (page_id, rest) = take_u64(rest)?;
    let (ad, rest) = take_field(rest)?;
    let (event, rest) = take_field(rest)?;
    // The optional seventh field is the weight; an eighth would leave a comma in it, which
    // `parse_weight` rejects.
    let (v, weight) = match take_field(rest) {
        Some((v, w)) => (parse_i64(v)?, parse_weight(w)?),
        None => (parse_i64(rest)?, 1),
    };
    Some((user_id, page_id, AdType::from_bytes(ad)?, EventType::from_bytes(event)?, v, weight))
}

/// A weight: a positive integer that fits in `u32` (a record stands for at least one event).
#[inline]
fn parse_weight(b: &[u8]) -> Option<u32> {
    parse_u64(b).and_then(|w| u32::try_from(w).ok()).filter(|w| *w > 0)
}

/// The fields of a record value (everything [`decode_ref`] reads but the key and timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueFields {
    /// Who.
    pub user_id: u64,
    /// Where.
    pub page_id: u64,
    /// Which kind of ad.
    pub ad_type: AdType,
    /// What happened.
    pub event_type: EventType,
    /// The amount `key_sum` adds up.
    pub value: i64,
    /// Events the record stands for (1 without a weight field).
    pub weight: u32,
}

/// Reads a record value alone, for readers that handle the key themselves (the batch layer
/// interns key *bytes*, checking a key's UTF-8 once per distinct key instead of once per
/// record). The errors are [`decode_ref`]'s value errors; a caller then reports a missing key
/// as [`DecodeError::MissingKey`] and a non-UTF-8 one as [`DecodeError::KeyNotText`], in that
/// order, so both readers name the same first problem.
#[inline]
pub fn decode_value(value: &[u8]) -> Result<ValueFields, DecodeError> {
    if let Some((user_id, page_id, ad_type, event_type, value, weight)) = decode_fast(value) {
        return Ok(ValueFields { user_id, page_id, ad_type, event_type, value, weight });
    }
    // Any key that is valid text: the careful path then reports the value's own problem.
    decode_careful(Some(b""), value, 0).map(|e| e.value_fields())
}

/// Reads a record back into the event it carries, borrowing the key: no allocation, never a
/// panic, whatever the bytes. Same checks and errors as [`decode`].
#[inline]
pub fn decode_ref<'a>(
    key: Option<&'a [u8]>,
    value: &[u8],
    timestamp_ms: i64,
) -> Result<EventRef<'a>, DecodeError> {
    if let (Some((user_id, page_id, ad_type, event_type, value, weight)), Some(k)) =
        (decode_fast(value), key)
        && let Ok(key) = std::str::from_utf8(k)
    {
        return Ok(EventRef {
            key,
            user_id,
            page_id,
            ad_type,
            event_type,
            value,
            event_time_ms: timestamp_ms,
            weight,
        });
    }
    decode_careful(key, value, timestamp_ms)
}

/// The field-by-field decoder: slower, and the one that names what is wrong.
fn decode_careful<'a>(
    key: Option<&'a [u8]>,
    value: &[u8],
    timestamp_ms: i64,
) -> Result<EventRef<'a>, DecodeError> {
    let mut parts: [&[u8]; FIELDS] = [&[]; FIELDS];
    let mut found = 0;
    for part in value.split(|&b| b == b',') {
        if found == FIELDS {
            return Err(DecodeError::FieldCount { found: FIELDS + 1 });
        }
        parts[found] = part;
        found += 1;
    }
    if found != FIELDS && found != FIELDS - 1 {
        return Err(DecodeError::FieldCount { found });
    }
    let _seq = field_u64(parts[0], 0)?;
    let user_id = field_u64(parts[1], 1)?;
    let page_id = field_u64(parts[2], 2)?;
    let ad_type = AdType::from_bytes(parts[3])
        .ok_or_else(|| bad(3, "an ad type (banner, modal, sponsored, mail, mobile)"))?;
    let event_type = EventType::from_bytes(parts[4])
        .ok_or_else(|| bad(4, "an event type (view, click, purchase)"))?;
    let value = parse_i64(parts[5]).ok_or_else(|| bad(5, "an integer"))?;
    let weight = if found == FIELDS {
        parse_weight(parts[6]).ok_or_else(|| bad(6, "a positive integer below 2^32"))?
    } else {
        1
    };
    let key = key.ok_or(DecodeError::MissingKey)?;
    let key = std::str::from_utf8(key).map_err(|_| DecodeError::KeyNotText)?;
    Ok(EventRef {
        key,
        user_id,
        page_id,
        ad_type,
        event_type,
        value,
        event_time_ms: timestamp_ms,
        weight,
    })
}

/// Reads a record (key, value, timestamp) back into the event it carries.
///
/// Allocates only the key `String`; never panics, whatever the bytes.
pub fn decode(
    key: Option<&[u8]>,
    value: &[u8],
    timestamp_ms: i64,
) -> Result<EventFields, DecodeError> {
    decode_ref(key, value, timestamp_ms).map(|e| e.to_fields())
}

/// The sequence number written in a record value, if it has one (for tools and audits;
/// [`EventFields`] leaves it out).
pub fn decode_seq(value: &[u8]) -> Option<u64> {
    let first = value.split(|&b| b == b',').next()?;
    std::str::from_utf8(first).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Event {
        Event {
            seq: 17,
            key: "ad-000042".into(),
            user_id: 123,
            page_id: 45,
            ad_type: AdType::Banner,
            event_type: EventType::View,
            value: 1,
            event_time_ms: 9_000,
            arrival_ms: 9_500,
            weight: 1,
        }
    }

    #[test]
    fn value_is_compact_csv() {
        assert_eq!(sample().value(), b"17,123,45,banner,view,1");
        assert_eq!(decode_seq(&sample().value()), Some(17));
        // A weight is written only when it is not 1, so unweighted logs stay as they were.
        let heavy = Event { weight: 500, ..sample() };
        assert_eq!(heavy.value(), b"17,123,45,banner,view,1,500");
        let got = decode(Some(heavy.key.as_bytes()), &heavy.value(), 9_000).unwrap();
        assert_eq!(got, heavy.fields());
        assert_eq!(got.weight, 500);
    }

    #[test]
    fn roundtrip_of_a_sample() {
        let e = sample();
        let got = decode(Some(e.key.as_bytes()), &e.value(), e.event_time_ms).unwrap();
        assert_eq!(got, e.fields());
    }

    #[test]
    fn errors_name_the_bad_field() {
        let key = Some(&b"k"[..]);
        let err = decode(key, b"1,2,3,banner,view", 0).unwrap_err();
        assert_eq!(err, DecodeError::FieldCount { found: 5 });
        assert_eq!(
            decode(key, b"1,2,3,banner,view,1,9,9", 0),
            Err(DecodeError::FieldCount { found: 8 })
        );
        assert_eq!(decode(key, b"1,2,3,banner,view,1,9", 0).map(|e| e.weight), Ok(9));
        for weight in ["0", "-1", "x", "4294967296", ""] {
            let value = format!("1,2,3,banner,view,1,{weight}");
            let err = decode(key, value.as_bytes(), 0).unwrap_err();
            assert!(
                matches!(err, DecodeError::BadField { field: "weight", .. }),
                "{weight}: {err}"
            );
        }
        let err = decode(key, b"1,x,3,banner,view,1", 0).unwrap_err();
        assert!(matches!(err, DecodeError::BadField { field: "user_id", position: 2, .. }));
        assert!(err.to_string().contains("`user_id`"), "{err}");
        let err = decode(key, b"1,2,3,poster,view,1", 0).unwrap_err();
        assert!(matches!(err, DecodeError::BadField { field: "ad_type", .. }));
        let err = decode(key, b"1,2,3,mail,stare,1", 0).unwrap_err();
        assert!(matches!(err, DecodeError::BadField { field: "event_type", .. }));
        let err = decode(key, b"1,2,3,mail,click,1.5", 0).unwrap_err();
        assert!(matches!(err, DecodeError::BadField { field: "value", .. }));
        assert_eq!(decode(None, b"1,2,3,mail,click,1", 0), Err(DecodeError::MissingKey));
        assert_eq!(decode(Some(b"\xff"), b"1,2,3,mail,click,1", 0), Err(DecodeError::KeyNotText));
        assert_eq!(decode(key, b"", 0), Err(DecodeError::FieldCount { found: 1 }));
    }

    #[test]
    fn integer_edges_parse_like_std() {
        for text in [
            "0",
            "+7",
            "-0",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "",
            "+",
            "-",
            "-+1",
            "+-1",
            "1 ",
            "0x1",
        ] {
            assert_eq!(parse_u64(text.as_bytes()), text.parse::<u64>().ok(), "{text:?}");
            assert_eq!(parse_i64(text.as_bytes()), text.parse::<i64>().ok(), "{text:?}");
        }
    }

    #[test]
    fn names_parse_and_print() {
        for t in EventType::ALL {
            assert_eq!(t.to_string().parse::<EventType>(), Ok(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        for t in AdType::ALL {
            assert_eq!(t.to_string().parse::<AdType>(), Ok(t));
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert!("View".parse::<EventType>().is_err());
    }

    fn any_event() -> impl Strategy<Value = Event> {
        (
            any::<u64>(),
            "[a-z]{1,3}-[0-9]{1,8}|\\PC{0,12}",
            any::<u64>(),
            any::<u64>(),
            0..5usize,
            0..3usize,
            any::<i64>(),
            any::<i64>(),
        )
            .prop_map(|(seq, key, user_id, page_id, ad, ev, value, t)| Event {
                seq,
                key,
                user_id,
                page_id,
                ad_type: AdType::ALL[ad],
                event_type: EventType::ALL[ev],
                value,
                event_time_ms: t,
                arrival_ms: t,
                weight: 1,
            })
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(e in any_event()) {
            let got = decode(Some(e.key.as_bytes()), &e.value(), e.event_time_ms);
            prop_assert_eq!(got, Ok(e.fields()));
            prop_assert_eq!(decode_seq(&e.value()), Some(e.seq));
        }

        #[test]
        fn integer_parsers_agree_with_std(text in "[+-]{0,2}[0-9]{0,21}|[0-9a-z+ -]{0,8}") {
            let b = text.as_bytes();
            prop_assert_eq!(parse_u64(b), text.parse::<u64>().ok());
            prop_assert_eq!(parse_i64(b), text.parse::<i64>().ok());
        }

        #[test]
        fn fast_and_careful_decoders_agree(
            fields in proptest::collection::vec("[0-9+-]{0,4}|banner|view|click|mail|[a-z,]{0,3}", 0..8),
        ) {
            let value = fields.join(",");
            let v = value.as_bytes();
            prop_assert_eq!(decode_ref(Some(b"k"), v, 3), decode_careful(Some(b"k"), v, 3));
        }

        #[test]
        fn take_u64_parses_like_std_up_to_the_comma(text in "[0-9]{0,22}|1844674407370955161[0-9]|[0-9+ -]{0,4}", comma in any::<bool>()) {
            let field = if comma { format!("{text},rest") } else { text.clone() };
            let expected = if comma && !text.starts_with('+') {
                text.parse::<u64>().ok().map(|n| (n, &b"rest"[..]))
            } else {
                None
            };
            prop_assert_eq!(take_u64(field.as_bytes()), expected);
        }

        #[test]
        fn decode_value_agrees_with_decode_ref(
            fields in proptest::collection::vec("[0-9+-]{0,4}|banner|view|click|mail|[a-z,]{0,3}", 0..8),
            key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4)),
        ) {
            // decode_value + the key checks a column reader does, in decode_ref's order.
            let value = fields.join(",");
            let v = value.as_bytes();
            let split = decode_value(v).and_then(|f| {
                let k = key.as_deref().ok_or(DecodeError::MissingKey)?;
                let k = std::str::from_utf8(k).map_err(|_| DecodeError::KeyNotText)?;
                Ok((k, f))
            });
            let whole = decode_ref(key.as_deref(), v, 3).map(|e| {
                let f = e.value_fields();
                (e.key, f)
            });
            prop_assert_eq!(split, whole);
        }

        #[test]
        fn garbage_never_panics(
            key in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
            value in proptest::collection::vec(any::<u8>(), 0..64),
            t in any::<i64>(),
        ) {
            let _ = decode(key.as_deref(), &value, t);
            let _ = decode_seq(&value);
        }

        #[test]
        fn near_miss_values_never_panic(
            fields in proptest::collection::vec("[0-9a-z+-]{0,6}", 0..9),
        ) {
            let value = fields.join(",");
            if let Ok(f) = decode(Some(b"k"), value.as_bytes(), 1) {
                prop_assert_eq!(f.key, "k");
            }
        }
    }
}
