//! Checks that go beyond TOML types: ranges, allowed names, duplicates.
//!
//! Serde knows a field is a `u32`; only these rules know that zero partitions makes no
//! sense. Each failure points at the line where the key is written, found in the text.

use std::path::Path;

use super::locate::{find_key, find_quoted, key_defs, line_col};
use super::{Scenario, ScenarioError, Workload, WorkloadKind};

/// The architecture ids a scenario may list in `architectures`.
pub const ARCHITECTURES: &[&str] =
    &["batch-lake", "lambda", "lambda-unified", "kappa", "streaming-lake"];

/// The query names a scenario may use in `query.name`.
pub const QUERY_NAMES: &[&str] =
    &["key_window_count", "campaign_window_count", "key_sum", "distinct_users"];

/// The largest number of partitions a workload topic may have; more only costs memory and
/// file handles without teaching anything new.
pub const MAX_PARTITIONS: u32 = 1024;

/// The largest number of ads (`campaigns × ads_per_campaign`) of an `ads` workload; the
/// campaign table is held in memory.
pub const MAX_ADS: u64 = 10_000_000;

/// The largest rate multiplier of a burst.
pub const MAX_BURST_MULTIPLIER: f64 = 1000.0;

/// The longest run, and the longest of any other time setting (7 days, ms). Far beyond any
/// lesson, and small enough that sums of times never overflow.
pub const MAX_DURATION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Largest `workload.events_per_record`.
pub const MAX_EVENTS_PER_RECORD: u32 = 1_000_000;

/// The most records a run may write (rate × duration, bursts and ramp included, divided by
/// `events_per_record`): the simulated driver holds them in memory (about 100 bytes each).
pub const MAX_EVENTS: f64 = 100_000_000.0;

/// The largest simulated cost per event, µs (1000 s): beyond it simulated times overflow.
pub const MAX_COST_US_PER_EVENT: f64 = 1e9;

/// Builds located errors for one scenario text.
struct Checker<'a> {
    text: &'a str,
    origin: &'a Path,
}

impl Checker<'_> {
    /// An error about `field` (dotted), located where the key is written.
    fn at_key(&self, field: &str, message: String) -> ScenarioError {
        let parts: Vec<&str> = field.split('.').collect();
        self.at_offset(find_key(self.text, &parts), field, message)
    }

    fn at_offset(&self, offset: Option<usize>, field: &str, message: String) -> ScenarioError {
        let (line, column) = match offset {
            Some(offset) => {
                let (line, column) = line_col(self.text, offset);
                (line, Some(column))
            }
            None => (1, None),
        };
        ScenarioError::Invalid {
            path: self.origin.to_path_buf(),
            line,
            column,
            field: Some(field.to_string()),
            message,
        }
    }

    /// Fails unless `ok`, with "must be {what}, got {value}".
    fn require(
        &self,
        ok: bool,
        field: &str,
        what: &str,
        value: impl std::fmt::Display,
    ) -> Result<(), ScenarioError> {
        if ok { Ok(()) } else { Err(self.at_key(field, format!("must be {what}, got {value}"))) }
    }

    /// An error about `field` (dotted, e.g. `workload.bursts.multiplier`) of the `nth`
    /// (0-based) element of an array of tables, named `name` in the message (such as
    /// `workload.bursts[1].multiplier`); located at the `nth` place the key is written, which
    /// is that element's when every element writes it (required fields).
    fn at_nth_key(&self, field: &str, nth: usize, name: &str, message: String) -> ScenarioError {
        let parts: Vec<&str> = field.split('.').collect();
        let offset = key_defs(self.text)
            .into_iter()
            .filter(|d| d.path.iter().map(String::as_str).eq(parts.iter().copied()))
            .nth(nth)
            .map(|d| d.offset)
            .or_else(|| find_key(self.text, &parts));
        self.at_offset(offset, name, message)
    }

    /// Whether the key `field` (dotted) is written out in the text (not left to its default).
    fn written(&self, field: &str) -> bool {
        let parts: Vec<&str> = field.split('.').collect();
        key_defs(self.text)
            .iter()
            .any(|d| d.path.iter().map(String::as_str).eq(parts.iter().copied()))
    }

    /// `value >= 0` and finite (TOML allows `inf` and `nan`, which no cost can be), and not so
    /// large that simulated times overflow: at most `max`.
    fn non_negative(&self, field: &str, value: f64) -> Result<(), ScenarioError> {
        let max = if field.ends_with("_us_per_event") {
            MAX_COST_US_PER_EVENT
        } else {
            MAX_DURATION_MS as f64
        };
        self.require(
            value.is_finite() && (0.0..=max).contains(&value),
            field,
            &format!("a finite number between 0 and {max:e}"),
            format!("{value:?}"),
        )
    }

    /// A time setting of at most [`MAX_DURATION_MS`] (7 days).
    fn at_most_max_duration(&self, field: &str, value: i64) -> Result<(), ScenarioError> {
        self.require(
            value <= MAX_DURATION_MS,
            field,
            &format!("at most {MAX_DURATION_MS} (7 days)"),
            value,
        )
    }
}

/// Longest realtime run accepted, ms of wall-clock time.
pub const MAX_REALTIME_DURATION_MS: i64 = 3_600_000;

/// Runs every rule; returns the first failure, in file order of the fields.
pub(crate) fn check(s: &Scenario, text: &str, origin: &Path) -> Result<(), ScenarioError> {
    let c = Checker { text, origin };

    check_name(&c, &s.name)?;
    check_architectures(&c, &s.architectures)?;
    c.require(s.duration_ms > 0, "duration_ms", "> 0", s.duration_ms)?;
    c.at_most_max_duration("duration_ms", s.duration_ms)?;
    c.require(s.sample_every_ms > 0, "sample_every_ms", "> 0", s.sample_every_ms)?;
    if s.clock == super::RunClock::Realtime {
        // A realtime run lasts as long as it says, in wall-clock time: a simulated day would
        // take a day. Catch the likely mistake (a simulated scenario switched to realtime).
        c.require(
            s.duration_ms <= MAX_REALTIME_DURATION_MS,
            "duration_ms",
            &format!("<= {MAX_REALTIME_DURATION_MS} (one hour) with clock = \"realtime\""),
            s.duration_ms,
        )?;
        // Not yet: the realtime driver's paced producer appends to the local log directly.
        c.require(
            s.cluster.is_none(),
            "clock",
            "\"simulated\" with a [cluster] (the realtime driver does not run replicated brokers yet)",
            "\"realtime\"",
        )?;
        c.require(
            s.consumer_group.is_none(),
            "clock",
            "\"simulated\" with a [consumer_group] (the realtime driver does not run one yet)",
            "\"realtime\"",
        )?;
    }
    c.at_most_max_duration("sample_every_ms", s.sample_every_ms)?;
    if let Some(tick) = s.tick_ms {
        let divides = |interval: i64| tick > 0 && interval % tick == 0;
        c.require(
            divides(s.sample_every_ms)
                && divides(s.speed.poll_interval_ms)
                && divides(s.batch.interval_ms),
            "tick_ms",
            "> 0 and a divisor of sample_every_ms, speed.poll_interval_ms and batch.interval_ms",
            tick,
        )?;
    }

    let w = &s.workload;
    c.require(w.rate_per_sec > 0, "workload.rate_per_sec", "> 0", w.rate_per_sec)?;
    c.require(w.keys > 0, "workload.keys", "> 0", w.keys)?;
    c.require(
        (1..=MAX_EVENTS_PER_RECORD).contains(&w.events_per_record),
        "workload.events_per_record",
        &format!("between 1 and {MAX_EVENTS_PER_RECORD}"),
        w.events_per_record,
    )?;
    c.require(
        (1..=MAX_PARTITIONS).contains(&w.partitions),
        "workload.partitions",
        &format!("between 1 and {MAX_PARTITIONS}"),
        w.partitions,
    )?;
    c.require(
        (0.0..=1.0).contains(&w.out_of_order_fraction),
        "workload.out_of_order_fraction",
        "between 0 and 1",
        w.out_of_order_fraction,
    )?;
    c.require(w.max_delay_ms >= 0, "workload.max_delay_ms", ">= 0", w.max_delay_ms)?;
    c.require(
        w.max_delay_ms <= s.duration_ms,
        "workload.max_delay_ms",
        "at most duration_ms (an event cannot lag by more than the run)",
        w.max_delay_ms,
    )?;
    c.require(
        w.zipf_exponent.is_finite() && w.zipf_exponent > 0.0,
        "workload.zipf_exponent",
        "a finite number > 0",
        w.zipf_exponent,
    )?;
    check_workload(&c, w, s.duration_ms)?;

    if s.queries.is_empty() {
        return Err(c.at_key("queries", "at least one `[[queries]]` table is needed".into()));
    }
    for (i, q) in s.queries.iter().enumerate() {
        let err = |name: &str, message: String| {
            c.at_nth_key(&format!("queries.{name}"), i, &format!("queries[{i}].{name}"), message)
        };
        let require = |ok: bool, name: &str, what: &str, value: String| {
            if ok { Ok(()) } else { Err(err(name, format!("must be {what}, got {value}"))) }
        };
        if !QUERY_NAMES.contains(&q.name.as_str()) {
            let names = quoted_list(QUERY_NAMES);
            return Err(err(
                "name",
                format!("unknown query `{}`; expected one of {names}", q.name),
            ));
        }
        if s.queries[..i].iter().any(|other| other.name == q.name) {
            return Err(err("name", format!("query `{}` is listed twice", q.name)));
        }
        require(q.window_ms > 0, "window_ms", "> 0", q.window_ms.to_string())?;
        require(
            q.window_ms <= s.duration_ms,
            "window_ms",
            "at most duration_ms (a longer window never closes within the run)",
            q.window_ms.to_string(),
        )?;
        if let Some(slide) = q.slide_ms {
            require(
                slide > 0 && slide <= q.window_ms && q.window_ms % slide == 0,
                "slide_ms",
                "> 0, at most window_ms, and dividing window_ms",
                slide.to_string(),
            )?;
        }
        require(
            (crate::hll::MIN_PRECISION..=crate::hll::MAX_PRECISION).contains(&q.hll_precision),
            "hll_precision",
            "between 4 and 16",
            q.hll_precision.to_string(),
        )?;
        if q.approximate && q.name != "distinct_users" {
            return Err(err("approximate", "only `distinct_users` can be approximate".into()));
        }
        if q.name == "campaign_window_count" && s.workload.kind != super::WorkloadKind::Ads {
            let msg = "`campaign_window_count` needs ad events: set `workload.kind = \"ads\"`";
            return Err(err("name", msg.into()));
        }
    }
    for (list, name) in [(&s.expect.exact, "exact"), (&s.expect.inexact, "inexact")] {
        for (i, id) in list.iter().enumerate() {
            if !s.architectures.contains(id) {
                return Err(c.at_key(
                    &format!("expect.{name}"),
                    format!("expect.{name}[{i}] = `{id}` is not in `architectures`"),
                ));
            }
        }
    }
    let lg = &s.log;
    c.require(
        lg.backend == "local" || lg.backend == "kafka",
        "log.backend",
        "\"local\" or \"kafka\"",
        format!("\"{}\"", lg.backend),
    )?;
    if lg.backend == "kafka" {
        c.require(
            !lg.bootstrap_servers.is_empty()
                && lg.bootstrap_servers.iter().all(|s| {
                    s.rsplit_once(':')
                        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
                }),
            "log.bootstrap_servers",
            "one or more \"host:port\" with backend = \"kafka\"",
            format!("{:?}", lg.bootstrap_servers),
        )?;
        c.require(
            s.cluster.is_none(),
            "log.backend",
            "\"local\" with a [cluster] (it simulates brokers; \"kafka\" uses real ones: choose one)",
            "\"kafka\"",
        )?;
    }
    c.require(
        (100..=600_000).contains(&lg.kafka_timeout_ms),
        "log.kafka_timeout_ms",
        "in 100..=600000",
        lg.kafka_timeout_ms,
    )?;
    check_log_storage(&c, s)?;
    if let Some(cl) = &s.cluster {
        c.require((1..=64).contains(&cl.brokers), "cluster.brokers", "in 1..=64", cl.brokers)?;
        c.require(
            (1..=cl.brokers).contains(&cl.replication_factor),
            "cluster.replication_factor",
            &format!("in 1..=brokers ({})", cl.brokers),
            cl.replication_factor,
        )?;
        c.require(
            (1..=cl.replication_factor).contains(&cl.min_insync_replicas),
            "cluster.min_insync_replicas",
            &format!("in 1..=replication_factor ({})", cl.replication_factor),
            cl.min_insync_replicas,
        )?;
        c.require(
            cl.acks.parse::<super::Acks>().is_ok(),
            "cluster.acks",
            "\"0\", \"1\" or \"all\"",
            format!("\"{}\"", cl.acks),
        )?;
        c.require(
            cl.replica_lag_time_max_ms > 0,
            "cluster.replica_lag_time_max_ms",
            "> 0",
            cl.replica_lag_time_max_ms,
        )?;
        c.require(
            (0..=60_000).contains(&cl.network_latency_ms),
            "cluster.network_latency_ms",
            "in 0..=60000",
            cl.network_latency_ms,
        )?;
        c.require(
            (0.0..0.5).contains(&cl.network_loss),
            "cluster.network_loss",
            "in [0, 0.5)",
            cl.network_loss,
        )?;
        c.require(
            cl.bandwidth_bytes_per_ms <= 1 << 30,
            "cluster.bandwidth_bytes_per_ms",
            "in 0..=1073741824 (0: unlimited)",
            cl.bandwidth_bytes_per_ms,
        )?;
        c.require(
            cl.reassignment_throttle_bytes_per_ms <= 1 << 30,
            "cluster.reassignment_throttle_bytes_per_ms",
            "in 0..=1073741824 (0: unthrottled)",
            cl.reassignment_throttle_bytes_per_ms,
        )?;
        c.require(
            (1..=1 << 26).contains(&cl.replica_fetch_max_bytes),
            "cluster.replica_fetch_max_bytes",
            "in 1..=67108864",
            cl.replica_fetch_max_bytes,
        )?;
    }
    if let Some(g) = &s.consumer_group {
        c.require(
            (1..=256).contains(&g.members),
            "consumer_group.members",
            "in 1..=256",
            g.members,
        )?;
        c.require(
            g.commit_interval_ms > 0,
            "consumer_group.commit_interval_ms",
            "> 0",
            g.commit_interval_ms,
        )?;
        c.require(
            g.session_timeout_ms > 0,
            "consumer_group.session_timeout_ms",
            "> 0",
            g.session_timeout_ms,
        )?;
        c.require(g.rebalance_ms >= 0, "consumer_group.rebalance_ms", ">= 0", g.rebalance_ms)?;
        c.at_most_max_duration("consumer_group.commit_interval_ms", g.commit_interval_ms)?;
        c.at_most_max_duration("consumer_group.session_timeout_ms", g.session_timeout_ms)?;
        c.at_most_max_duration("consumer_group.rebalance_ms", g.rebalance_ms)?;
    }
    for (i, fault) in s.faults.iter().enumerate() {
        let err = |name: &str, message: String| {
            c.at_nth_key(&format!("faults.{name}"), i, &format!("faults[{i}].{name}"), message)
        };
        let at = fault.at_ms();
        if !(0..s.duration_ms).contains(&at) {
            return Err(err(
                "at_ms",
                format!("must be within the run (0 <= at_ms < duration_ms), got {at}"),
            ));
        }
        let (name, length) = match fault {
            super::Fault::LogicChange { query, .. } => {
                if !s.queries.iter().any(|q| &q.name == query) {
                    return Err(err(
                        "query",
                        format!("`{query}` is not one of the scenario's `[[queries]]`"),
                    ));
                }
                continue;
            }
            super::Fault::SpeedCrash { down_ms, .. } => ("down_ms", *down_ms),
            super::Fault::BatchFailure { retry_ms, .. } => ("retry_ms", *retry_ms),
            super::Fault::BrokerCrash { broker, down_ms, .. } => {
                let Some(cluster) = &s.cluster else {
                    return Err(err("kind", "`broker_crash` needs a `[cluster]` section".into()));
                };
                let added = s.faults.iter().filter(|f| matches!(f, super::Fault::BrokerAdd { .. }));
                if *broker >= cluster.brokers + added.count() as u32 {
                    return Err(err(
                        "broker",
                        format!(
                            "broker {broker} does not exist ([cluster] has {})",
                            cluster.brokers
                        ),
                    ));
                }
                ("down_ms", *down_ms)
            }
            super::Fault::ProducerStall { duration_ms, .. } => ("duration_ms", *duration_ms),
            super::Fault::BrokerAdd { .. } | super::Fault::BrokerRemove { .. } => {
                if s.cluster.is_none() {
                    let kind = fault.kind();
                    return Err(err("kind", format!("`{kind}` needs a `[cluster]` section")));
                }
                continue;
            }
            super::Fault::MemberJoin { .. } | super::Fault::MemberLeave { .. } => {
                if s.consumer_group.is_none() {
                    let kind = fault.kind();
                    return Err(err(
                        "kind",
                        format!("`{kind}` needs a `[consumer_group]` section"),
                    ));
                }
                continue;
            }
            super::Fault::DiskFull { duration_ms, .. } => {
                // The fault-injecting disk sits under the simulated driver's local log only.
                if s.cluster.is_some()
                    || s.log.backend != "local"
                    || s.clock != super::RunClock::Simulated
                {
                    return Err(err(
                        "kind",
                        "`disk_full` runs on the local log with the simulated clock only (not with \
                         [cluster], backend = \"kafka\" or clock = \"realtime\")"
                            .into(),
                    ));
                }
                ("duration_ms", *duration_ms)
            }
        };
        if length <= 0 {
            return Err(err(name, format!("must be > 0, got {length}")));
        }
        if length > s.duration_ms {
            return Err(err(
                name,
                format!("must be at most duration_ms ({}), got {length}", { s.duration_ms }),
            ));
        }
    }
    check_membership_timeline(&c, s)?;
    let k = &s.kappa;
    for (i, t) in k.reprocess_at_ms.iter().enumerate() {
        c.require(
            (0..s.duration_ms).contains(t),
            &format!("kappa.reprocess_at_ms[{i}]"),
            "within the run (0 <= t < duration_ms)",
            t,
        )?;
    }
    let l = &s.lake;
    c.require(l.segment_ms > 0, "lake.segment_ms", "> 0", l.segment_ms)?;
    c.at_most_max_duration("lake.segment_ms", l.segment_ms)?;
    c.non_negative("lake.tier_overhead_ms", l.tier_overhead_ms)?;
    c.non_negative("lake.tier_cost_us_per_event", l.tier_cost_us_per_event)?;
    c.non_negative("lake.query_overhead_ms", l.query_overhead_ms)?;
    c.non_negative("lake.query_cost_us_per_event", l.query_cost_us_per_event)?;

    let sp = &s.speed;
    c.require(sp.poll_interval_ms > 0, "speed.poll_interval_ms", "> 0", sp.poll_interval_ms)?;
    c.at_most_max_duration("speed.poll_interval_ms", sp.poll_interval_ms)?;
    c.at_most_max_duration("speed.watermark_delay_ms", sp.watermark_delay_ms)?;
    c.at_most_max_duration("speed.allowed_lateness_ms", sp.allowed_lateness_ms)?;
    c.non_negative("speed.overhead_ms", sp.overhead_ms)?;
    c.non_negative("speed.cost_us_per_event", sp.cost_us_per_event)?;
    c.require(
        sp.watermark_delay_ms >= 0,
        "speed.watermark_delay_ms",
        ">= 0",
        sp.watermark_delay_ms,
    )?;
    c.require(
        sp.allowed_lateness_ms >= 0,
        "speed.allowed_lateness_ms",
        ">= 0",
        sp.allowed_lateness_ms,
    )?;

    let b = &s.batch;
    c.require(b.interval_ms > 0, "batch.interval_ms", "> 0", b.interval_ms)?;
    if let Some(ttl) = s.serving.ttl_ms {
        // Shorter than a window, every window would expire before it closes.
        let widest = s.queries.iter().map(|q| q.window_ms).max().unwrap_or(0);
        c.require(
            ttl >= widest && ttl > 0,
            "serving.ttl_ms",
            &format!("> 0 and at least the widest query window ({widest} ms)"),
            ttl,
        )?;
        c.at_most_max_duration("serving.ttl_ms", ttl)?;
    }
    c.at_most_max_duration("batch.interval_ms", b.interval_ms)?;
    c.non_negative("batch.overhead_ms", b.overhead_ms)?;
    c.non_negative("batch.cost_us_per_event", b.cost_us_per_event)?;
    Ok(())
}

/// The rules of the workload fields added for ads, rate shapes and very late events.
fn check_workload(c: &Checker<'_>, w: &Workload, duration_ms: i64) -> Result<(), ScenarioError> {
    let (wrong_kind, fields): (&str, &[&str]) = match w.kind {
        WorkloadKind::Keyed => ("keyed", &["campaigns", "ads_per_campaign"]),
        WorkloadKind::Ads => ("ads", &["keys"]),
    };
    for name in fields {
        let field = format!("workload.{name}");
        if c.written(&field) {
            let hint = match w.kind {
                WorkloadKind::Keyed => "set `kind = \"ads\"` for ad events",
                WorkloadKind::Ads => "ad events are keyed by ad id: campaigns × ads_per_campaign",
            };
            return Err(c.at_key(
                &field,
                format!("does not apply to `kind = \"{wrong_kind}\"` workloads; {hint}"),
            ));
        }
    }
    c.require(
        (0.0..=1.0).contains(&w.late_fraction),
        "workload.late_fraction",
        "between 0 and 1",
        w.late_fraction,
    )?;
    let both = w.late_fraction + w.out_of_order_fraction;
    c.require(
        both <= 1.0,
        "workload.late_fraction",
        "at most 1 - out_of_order_fraction (every event is on time, out of order or late)",
        w.late_fraction,
    )?;
    c.require(w.late_delay_ms >= 0, "workload.late_delay_ms", ">= 0", w.late_delay_ms)?;
    c.require(
        w.late_delay_ms <= duration_ms,
        "workload.late_delay_ms",
        "at most duration_ms (an event cannot lag by more than the run)",
        w.late_delay_ms,
    )?;
    if w.late_fraction > 0.0 {
        c.require(
            w.late_delay_ms > 0,
            "workload.late_delay_ms",
            "> 0 when late_fraction > 0",
            w.late_delay_ms,
        )?;
    }
    c.require(w.users > 0, "workload.users", "> 0", w.users)?;
    c.require(w.pages > 0, "workload.pages", "> 0", w.pages)?;
    c.require(w.campaigns > 0, "workload.campaigns", "> 0", w.campaigns)?;
    c.require(w.ads_per_campaign > 0, "workload.ads_per_campaign", "> 0", w.ads_per_campaign)?;
    let ads = u64::from(w.campaigns) * u64::from(w.ads_per_campaign);
    c.require(
        ads <= MAX_ADS,
        "workload.ads_per_campaign",
        &format!("such that campaigns × ads_per_campaign <= {MAX_ADS}"),
        format!("{} × {} = {ads}", w.campaigns, w.ads_per_campaign),
    )?;
    for (i, b) in w.bursts.iter().enumerate() {
        let located = |name: &str, message: String| {
            c.at_nth_key(
                &format!("workload.bursts.{name}"),
                i,
                &format!("workload.bursts[{i}].{name}"),
                message,
            )
        };
        if b.start_ms < 0 || b.start_ms >= duration_ms {
            return Err(located(
                "start_ms",
                format!(
                    "must be between 0 and duration_ms - 1 ({}), got {}",
                    duration_ms - 1,
                    b.start_ms
                ),
            ));
        }
        if b.duration_ms <= 0 || b.duration_ms > duration_ms {
            return Err(located(
                "duration_ms",
                format!("must be > 0 and at most duration_ms ({duration_ms}), got {}", {
                    b.duration_ms
                }),
            ));
        }
        if !(b.multiplier.is_finite() && (0.0..=MAX_BURST_MULTIPLIER).contains(&b.multiplier)) {
            return Err(located(
                "multiplier",
                format!("must be between 0 and {MAX_BURST_MULTIPLIER}, got {:?}", b.multiplier),
            ));
        }
        if let Some(j) = w.bursts[..i].iter().position(|o| {
            b.start_ms < o.start_ms.saturating_add(o.duration_ms)
                && o.start_ms < b.start_ms.saturating_add(b.duration_ms)
        }) {
            return Err(located(
                "start_ms",
                format!("burst overlaps workload.bursts[{j}]; bursts must not overlap"),
            ));
        }
    }
    // An upper estimate of the events generated: the higher of the start and ramp rates over
    // the whole run, plus each burst's extra.
    let rate = f64::from(w.rate_per_sec.max(w.ramp_to_rate_per_sec.unwrap_or(0)));
    let seconds = duration_ms as f64 / 1000.0;
    let extra: f64 = w
        .bursts
        .iter()
        .map(|b| rate * (b.multiplier - 1.0).max(0.0) * b.duration_ms as f64 / 1000.0)
        .sum();
    let events = rate * seconds + extra;
    // Each record stands for `events_per_record` events: the limit is on records.
    let records = events / f64::from(w.events_per_record.max(1));
    c.require(
        records <= MAX_EVENTS,
        "workload.rate_per_sec",
        &format!(
            "such that the run writes at most {MAX_EVENTS:e} records (rate × duration, \
             bursts included, / events_per_record); lower it or duration_ms, or raise \
             events_per_record"
        ),
        format!("{} (~{events:.3e} events)", w.rate_per_sec),
    )?;
    Ok(())
}

/// The name becomes `results/<name>/`, so it must be one plain path component.
fn check_name(c: &Checker<'_>, name: &str) -> Result<(), ScenarioError> {
    if name.is_empty() {
        return Err(c.at_key("name", "must not be empty".to_string()));
    }
    let safe = name.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-'));
    if !safe || name == "." || name == ".." {
        return Err(c.at_key(
            "name",
            format!(
                "`{name}` is not a safe directory name; use only letters, digits, `_`, `.` \
                 and `-` (and not `.` or `..`)"
            ),
        ));
    }
    Ok(())
}

fn check_architectures(c: &Checker<'_>, archs: &[String]) -> Result<(), ScenarioError> {
    if archs.is_empty() {
        return Err(c.at_key(
            "architectures",
            format!("must list at least one of {}", quoted_list(ARCHITECTURES)),
        ));
    }
    let key_at = find_key(c.text, &["architectures"]).unwrap_or(0);
    for (i, arch) in archs.iter().enumerate() {
        let field = format!("architectures[{i}]");
        let earlier = archs[..i].iter().filter(|a| *a == arch).count();
        // Point at this very element: the (earlier+1)-th time its quoted text appears.
        let at = find_quoted(c.text, key_at, arch, earlier).or(Some(key_at));
        if !ARCHITECTURES.contains(&arch.as_str()) {
            return Err(c.at_offset(
                at,
                &field,
                format!(
                    "unknown architecture `{arch}`; expected one of {}",
                    quoted_list(ARCHITECTURES)
                ),
            ));
        }
        if earlier > 0 {
            return Err(c.at_offset(at, &field, format!("architecture `{arch}` is listed twice")));
        }
    }
    Ok(())
}

/// `a`, `b`, `c` for messages.
fn quoted_list(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

/// Walks the faults in time order (the order the driver applies them) and checks that every
/// broker a fault names exists then, that decommissioning leaves enough brokers for the
/// replication factor, and that every consumer-group member a fault names is in the group.
fn check_membership_timeline(c: &Checker<'_>, s: &Scenario) -> Result<(), ScenarioError> {
    let mut order: Vec<(usize, &super::Fault)> = s.faults.iter().enumerate().collect();
    order.sort_by_key(|(i, f)| (f.at_ms(), *i));
    let mut brokers: Vec<u32> =
        s.cluster.as_ref().map_or(Vec::new(), |cl| (0..cl.brokers).collect());
    let mut next_broker = brokers.len() as u32;
    let rf = s.cluster.as_ref().map_or(0, |cl| cl.replication_factor);
    let mut members: Vec<u32> =
        s.consumer_group.as_ref().map_or(Vec::new(), |g| (0..g.members).collect());
    let mut next_member = members.len() as u32;
    for (i, fault) in order {
        let err = |name: &str, message: String| {
            c.at_nth_key(&format!("faults.{name}"), i, &format!("faults[{i}].{name}"), message)
        };
        match fault {
            super::Fault::BrokerAdd { .. } => {
                brokers.push(next_broker);
                next_broker += 1;
            }
            super::Fault::BrokerRemove { broker, at_ms, .. } => {
                if !brokers.contains(broker) {
                    return Err(err(
                        "broker",
                        format!(
                            "broker {broker} is not in the cluster at {at_ms} ms (brokers then: {brokers:?})"
                        ),
                    ));
                }
                if brokers.len() as u32 <= rf {
                    return Err(err(
                        "broker",
                        format!(
                            "removing broker {broker} at {at_ms} ms would leave {} brokers, fewer \
                             than replication_factor = {rf}: add a broker first",
                            brokers.len() - 1
                        ),
                    ));
                }
                brokers.retain(|b| b != broker);
            }
            super::Fault::BrokerCrash { broker, at_ms, .. }
                if s.cluster.is_some() && !brokers.contains(broker) =>
            {
                return Err(err(
                    "broker",
                    format!(
                        "broker {broker} is not in the cluster at {at_ms} ms (brokers then: {brokers:?})"
                    ),
                ));
            }
            super::Fault::MemberJoin { .. } => {
                members.push(next_member);
                next_member += 1;
            }
            super::Fault::MemberLeave { member, at_ms, .. } => {
                if !members.contains(member) {
                    return Err(err(
                        "member",
                        format!(
                            "member {member} is not in the group at {at_ms} ms (members then: {members:?})"
                        ),
                    ));
                }
                members.retain(|m| m != member);
            }
            _ => {}
        }
    }
    Ok(())
}

/// `[log]` retention, cleanup policy and `[log.tier]`.
fn check_log_storage(c: &Checker<'_>, s: &Scenario) -> Result<(), ScenarioError> {
    let lg = &s.log;
    if let Some(ms) = lg.retention_ms {
        c.require(ms > 0, "log.retention_ms", "> 0", ms)?;
        c.at_most_max_duration("log.retention_ms", ms)?;
    }
    if let Some(b) = lg.retention_bytes {
        c.require(b > 0, "log.retention_bytes", "> 0", b)?;
    }
    c.require(
        lg.cleanup_policy == "delete" || lg.cleanup_policy == "compact",
        "log.cleanup_policy",
        "\"delete\" or \"compact\"",
        format!("\"{}\"", lg.cleanup_policy),
    )?;
    if lg.maintained() {
        // Retention, compaction and tiering act on the local log the simulated driver
        // appends to; replicas and real brokers keep their own.
        let (ok, field) = if lg.tier.is_some() {
            (s.cluster.is_none() && lg.backend == "local", "log.tier")
        } else if lg.cleanup_policy == "compact" {
            (s.cluster.is_none() && lg.backend == "local", "log.cleanup_policy")
        } else if lg.retention_ms.is_some() {
            (s.cluster.is_none() && lg.backend == "local", "log.retention_ms")
        } else {
            (s.cluster.is_none() && lg.backend == "local", "log.retention_bytes")
        };
        if !ok {
            return Err(c.at_key(
                field,
                "retention, compaction and [log.tier] apply to the local log only: not with a \
                 [cluster] or backend = \"kafka\""
                    .into(),
            ));
        }
    }
    if lg.cleanup_policy == "compact" && s.clock != super::RunClock::Simulated {
        return Err(c.at_key(
            "log.cleanup_policy",
            "\"compact\" runs with clock = \"simulated\" only (the oracle must read every record \
             before the cleaner runs, which a wall-clock producer cannot promise)"
                .into(),
        ));
    }
    let Some(t) = &lg.tier else { return Ok(()) };
    if lg.cleanup_policy == "compact" {
        return Err(c.at_key(
            "log.cleanup_policy",
            "must be \"delete\" with [log.tier]: tiered storage does not take compacted topics \
             (as in Kafka)"
                .into(),
        ));
    }
    c.require(
        t.store == "local" || t.store == "s3",
        "log.tier.store",
        "\"local\" or \"s3\"",
        format!("\"{}\"", t.store),
    )?;
    if t.store == "s3" {
        c.require(
            t.bucket.as_deref().is_some_and(|b| !b.is_empty()),
            "log.tier.store",
            "\"local\", or \"s3\" with a `bucket`",
            "\"s3\" without a bucket",
        )?;
    }
    if let Some(ms) = t.local_retention_ms {
        c.require(ms >= 0, "log.tier.local_retention_ms", ">= 0", ms)?;
        c.at_most_max_duration("log.tier.local_retention_ms", ms)?;
        if let Some(total) = lg.retention_ms {
            c.require(
                ms < total,
                "log.tier.local_retention_ms",
                &format!(
                    "shorter than log.retention_ms ({total}): local is the hot part of the total"
                ),
                ms,
            )?;
        }
    }
    if let (Some(local), Some(total)) = (t.local_retention_bytes, lg.retention_bytes) {
        c.require(
            local < total,
            "log.tier.local_retention_bytes",
            &format!("smaller than log.retention_bytes ({total})"),
            local,
        )?;
    }
    c.non_negative("log.tier.request_latency_ms", t.request_latency_ms)?;
    c.require(
        t.bandwidth_mib_per_s.is_finite() && t.bandwidth_mib_per_s > 0.0,
        "log.tier.bandwidth_mib_per_s",
        "a finite number > 0",
        format!("{:?}", t.bandwidth_mib_per_s),
    )?;
    Ok(())
}
