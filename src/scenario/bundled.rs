//! The scenarios shipped with the workbench, embedded at build time so `workbench list`,
//! `workbench explain NAME` and `workbench run NAME` work from any directory.

/// (name, file text) of every bundled scenario, in the order `workbench list` shows them.
pub const BUNDLED: &[(&str, &str)] = &[
    ("quickstart", include_str!("../../scenarios/quickstart.toml")),
    ("ysb", include_str!("../../scenarios/ysb.toml")),
    ("late-data", include_str!("../../scenarios/late-data.toml")),
    ("approximate-distinct", include_str!("../../scenarios/approximate-distinct.toml")),
    ("reprocess-cost", include_str!("../../scenarios/reprocess-cost.toml")),
    ("speed-crash", include_str!("../../scenarios/speed-crash.toml")),
    ("batch-failure", include_str!("../../scenarios/batch-failure.toml")),
    ("logic-drift", include_str!("../../scenarios/logic-drift.toml")),
    ("logic-change", include_str!("../../scenarios/logic-change.toml")),
    ("burst", include_str!("../../scenarios/burst.toml")),
    ("skew", include_str!("../../scenarios/skew.toml")),
    ("day", include_str!("../../scenarios/day.toml")),
    ("broker-failover", include_str!("../../scenarios/broker-failover.toml")),
    ("broker-failover-acks-all", include_str!("../../scenarios/broker-failover-acks-all.toml")),
    ("scale-out", include_str!("../../scenarios/scale-out.toml")),
    ("realtime-quickstart", include_str!("../../scenarios/realtime-quickstart.toml")),
    ("tiered-lake", include_str!("../../scenarios/tiered-lake.toml")),
];

/// The text of the bundled scenario `name`.
pub fn bundled(name: &str) -> Option<&'static str> {
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}
