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
}

/// Number of comma-separated fields in a record value.
const FIELDS: usize = 6;

/// The field names of a record value, in order (also in [`DecodeError`] messages).
pub const VALUE_FIELDS: [&str; FIELDS] =
    ["seq", "user_id", "page_id", "ad_type", "event_type", "value"];

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
        "record value has {found} comma-separated field(s), expected 6: \
         seq,user_id,page_id,ad_type,event_type,value"
    )]
    FieldCount {
        /// How many fields were found (counting stops at 7).
        found: usize,
    },
    /// One field does not parse.
    #[error("record value field `{field}` (field {position} of 6) is not {expected}")]
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

fn parse_num<T: FromStr>(b: &[u8], index: usize, expected: &'static str) -> Result<T, DecodeError> {
    std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).ok_or_else(|| bad(index, expected))
}

/// Reads a record (key, value, timestamp) back into the event it carries.
///
/// Allocates only the key `String`; never panics, whatever the bytes.
pub fn decode(
    key: Option<&[u8]>,
    value: &[u8],
    timestamp_ms: i64,
) -> Result<EventFields, DecodeError> {
    let mut parts: [&[u8]; FIELDS] = [&[]; FIELDS];
    let mut found = 0;
    for part in value.split(|&b| b == b',') {
        if found == FIELDS {
            return Err(DecodeError::FieldCount { found: FIELDS + 1 });
        }
        parts[found] = part;
        found += 1;
    }
    if found != FIELDS {
        return Err(DecodeError::FieldCount { found });
    }
    let _seq: u64 = parse_num(parts[0], 0, "an unsigned integer")?;
    let user_id = parse_num(parts[1], 1, "an unsigned integer")?;
    let page_id = parse_num(parts[2], 2, "an unsigned integer")?;
    let ad_type = AdType::from_bytes(parts[3])
        .ok_or_else(|| bad(3, "an ad type (banner, modal, sponsored, mail, mobile)"))?;
    let event_type = EventType::from_bytes(parts[4])
        .ok_or_else(|| bad(4, "an event type (view, click, purchase)"))?;
    let value = parse_num(parts[5], 5, "an integer")?;
    let key = key.ok_or(DecodeError::MissingKey)?;
    let key = std::str::from_utf8(key).map_err(|_| DecodeError::KeyNotText)?.to_string();
    Ok(EventFields {
        key,
        user_id,
        page_id,
        ad_type,
        event_type,
        value,
        event_time_ms: timestamp_ms,
    })
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
        }
    }

    #[test]
    fn value_is_compact_csv() {
        assert_eq!(sample().value(), b"17,123,45,banner,view,1");
        assert_eq!(decode_seq(&sample().value()), Some(17));
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
            decode(key, b"1,2,3,banner,view,1,9", 0),
            Err(DecodeError::FieldCount { found: 7 })
        );
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
