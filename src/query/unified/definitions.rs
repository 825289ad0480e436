//! The four queries, each written once. Both runners of `lambda-unified` execute exactly these
//! definitions; nothing else in the architecture knows what a query computes. (A test counts
//! the definitions in this file and checks the runners name no query.)
//!
//! Every definition is windowed the same way, by its [`QuerySpec`](crate::query::QuerySpec)'s
//! tumbling or sliding windows; what differs is the group and the value.

use super::{Aggregate, Definition};
use crate::query::QueryKind;
use crate::workload::EventType;

/// Every query, once.
pub const DEFINITIONS: [Definition; 4] = [
    // Events per key per window (a record stands for `weight` events).
    Definition {
        kind: QueryKind::KeyWindowCount,
        group: |e, _| Some(&e.key),
        aggregate: Aggregate::Sum(|e| i64::from(e.weight)),
    },
    // YSB: keep `view` events, join ad → campaign (events of unknown ads drop out), count.
    Definition {
        kind: QueryKind::CampaignWindowCount,
        group: |e, campaigns| {
            if e.event_type == EventType::View { campaigns.campaign_of(&e.key) } else { None }
        },
        aggregate: Aggregate::Sum(|e| i64::from(e.weight)),
    },
    // Sum of `value` per key per window, each record's value `weight` times.
    Definition {
        kind: QueryKind::KeySum,
        group: |e, _| Some(&e.key),
        aggregate: Aggregate::Sum(|e| e.value.wrapping_mul(i64::from(e.weight))),
    },
    // Distinct users per campaign (ads in the table) or else per key, per window.
    Definition {
        kind: QueryKind::DistinctUsers,
        group: |e, campaigns| Some(campaigns.campaign_of(&e.key).unwrap_or(&e.key)),
        aggregate: Aggregate::Distinct(|e| e.user_id),
    },
];
