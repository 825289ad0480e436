//! Scenario files that are wrong in every way we could think of: each error must name the
//! file, the line and the field, on one line, without panicking.

use std::path::{Path, PathBuf};

use lambda_workbench::scenario::{
    Batch, Burst, KeyDistribution, Query, Scenario, ScenarioError, Speed, Workload, WorkloadKind,
};
use proptest::prelude::*;

/// A valid scenario; line numbers in the tests below refer to this layout.
const VALID: &str = r#"# Quick start: two architectures, small and fast.
name = "quickstart"
seed = 42
architectures = ["lambda", "kappa"]
duration_ms = 120000

[workload]
rate_per_sec = 200
keys = 20
partitions = 3
out_of_order_fraction = 0.1
max_delay_ms = 3000

[[queries]]
name = "key_window_count"
window_ms = 10000
"#;

/// Writes `bytes` as `<tempdir>/<name>` and loads it; returns the error's one-line message.
fn load_err(name: &str, bytes: &[u8]) -> (String, ScenarioError) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write scenario");
    let err = Scenario::load(&path).expect_err("scenario should be rejected");
    let text = err.to_string();
    assert!(!text.contains('\n'), "error must be one line: {text:?}");
    assert!(text.contains(&path.display().to_string()), "no file path in: {text}");
    (text, err)
}

/// Loads `VALID` with `from` replaced by `to` and checks that the error names the file,
/// `line` and `field`.
fn assert_edit_fails(from: &str, to: &str, line: usize, field: &str) -> String {
    assert!(VALID.contains(from), "test bug: {from:?} not in VALID");
    let text = VALID.replacen(from, to, 1);
    assert_text_fails(&text, line, field)
}

/// Loads `text` as `bad.toml` and checks that the error names the file, `line` and `field`.
fn assert_text_fails(text: &str, line: usize, field: &str) -> String {
    let (msg, err) = load_err("bad.toml", text.as_bytes());
    assert!(msg.contains(&format!("bad.toml:{line}:")), "want line {line} in: {msg}");
    assert!(msg.contains(&format!("field `{field}`")), "want field `{field}` in: {msg}");
    assert_eq!(err.line(), Some(line), "{msg}");
    assert_eq!(err.field(), Some(field), "{msg}");
    msg
}

#[test]
fn valid_file_parses_into_expected_struct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("quickstart.toml");
    std::fs::write(&path, VALID).expect("write");
    let scenario = Scenario::load(&path).expect("valid scenario");
    let expected = Scenario {
        name: "quickstart".into(),
        description: String::new(),
        lesson: String::new(),
        seed: 42,
        architectures: vec!["lambda".into(), "kappa".into()],
        duration_ms: 120_000,
        sample_every_ms: 1000,
        tick_ms: None,
        clock: Default::default(),
        workload: Workload {
            rate_per_sec: 200,
            keys: 20,
            key_distribution: KeyDistribution::Uniform,
            zipf_exponent: 1.0,
            partitions: 3,
            out_of_order_fraction: 0.1,
            max_delay_ms: 3000,
            ..Workload::default()
        },
        queries: vec![Query {
            name: "key_window_count".into(),
            window_ms: 10_000,
            slide_ms: None,
            approximate: false,
            hll_precision: 12,
            exclude_bots: false,
        }],
        speed: Speed::default(),
        batch: Batch::default(),
        kappa: Default::default(),
        expect: Default::default(),
        faults: Vec::new(),
        cluster: None,
        consumer_group: None,
        log: Default::default(),
        lake: Default::default(),
        serving: Default::default(),
    };
    assert_eq!(scenario, expected);
}

#[test]
fn valid_file_with_every_section_and_bom_parses() {
    let text = format!(
        "\u{feff}{VALID}\n[speed]\npoll_interval_ms = 100\noverhead_ms = 0.0\n\n[batch]\n\
         interval_ms = 5000\ncost_us_per_event = 1.5\n"
    );
    let scenario = Scenario::parse(&text, Path::new("x.toml")).expect("valid");
    assert_eq!(scenario.speed.poll_interval_ms, 100);
    assert_eq!(scenario.batch.interval_ms, 5000);
    assert_eq!(scenario.batch.overhead_ms, Batch::default().overhead_ms);
}

// ---- TOML-level errors -------------------------------------------------------------------

#[test]
fn syntax_error_names_line_and_key() {
    let msg = assert_edit_fails("seed = 42", "seed = 42 43", 3, "seed");
    assert!(msg.contains("bad.toml:3:"), "{msg}");
}

#[test]
fn unterminated_string_names_line() {
    let (msg, err) =
        load_err("bad.toml", VALID.replacen("\"quickstart\"", "\"quickstart", 1).as_bytes());
    assert!(msg.contains("bad.toml:2:"), "{msg}");
    assert_eq!(err.field(), Some("name"), "{msg}");
}

#[test]
fn wrong_type_names_dotted_field() {
    let msg = assert_edit_fails(
        "rate_per_sec = 200",
        "rate_per_sec = \"fast\"",
        8,
        "workload.rate_per_sec",
    );
    assert!(msg.contains("bad.toml:8:16: field `workload.rate_per_sec`: invalid type: string \"fast\", expected u32"), "{msg}");
}

#[test]
fn wrong_type_at_root() {
    assert_edit_fails("duration_ms = 120000", "duration_ms = \"long\"", 5, "duration_ms");
}

#[test]
fn wrong_type_inside_array() {
    let msg = assert_edit_fails("[\"lambda\", \"kappa\"]", "[\"lambda\", 3]", 4, "architectures");
    assert!(msg.contains("expected a string"), "{msg}");
}

#[test]
fn negative_seed_is_a_type_error() {
    assert_edit_fails("seed = 42", "seed = -1", 3, "seed");
}

#[test]
fn wrong_enum_variant() {
    let msg = assert_edit_fails(
        "keys = 20",
        "keys = 20\nkey_distribution = \"pareto\"",
        10,
        "workload.key_distribution",
    );
    assert!(msg.contains("pareto"), "{msg}");
}

#[test]
fn unknown_field_at_root() {
    let msg = assert_edit_fails("seed = 42", "seed = 42\nsed = 1", 4, "sed");
    assert!(msg.contains("unknown field `sed`"), "{msg}");
}

#[test]
fn unknown_field_in_table() {
    let msg = assert_edit_fails("keys = 20", "keys = 20\nrate = 5", 10, "workload.rate");
    assert!(msg.contains("unknown field `rate`"), "{msg}");
}

#[test]
fn unknown_field_in_optional_table() {
    let text = format!("{VALID}\n[speed]\npoll_ms = 3\n");
    assert_text_fails(&text, 19, "speed.poll_ms");
}

#[test]
fn unknown_table() {
    let text = format!("{VALID}\n[sped]\npoll_interval_ms = 3\n");
    assert_text_fails(&text, 18, "sped");
}

#[test]
fn unknown_subtable_header() {
    let text = format!("{VALID}\n[workload.extra]\n");
    assert_text_fails(&text, 18, "workload.extra");
}

#[test]
fn unknown_field_in_inline_table() {
    let text = VALID.replacen(
        "[workload]\nrate_per_sec = 200\nkeys = 20\npartitions = 3\n",
        "workload = { rate_per_sec = 200, keys = 20, partitions = 3, bogus = 1 }\n[workload_]\n",
        1,
    );
    let text = text.replacen("[workload_]\n", "", 1);
    assert_text_fails(&text, 7, "workload.bogus");
}

#[test]
fn dotted_key_at_root() {
    let msg = assert_edit_fails("seed = 42", "seed = 42\nspeed.poll_ms = 1", 4, "speed.poll_ms");
    assert!(msg.contains("bad.toml:4:7:"), "{msg}");
}

#[test]
fn missing_field_at_root() {
    let msg = assert_edit_fails("seed = 42\n", "", 1, "seed");
    assert!(msg.contains("missing field `seed`"), "{msg}");
}

#[test]
fn missing_field_at_root_when_file_starts_with_a_table() {
    let text = "[workload]\nrate_per_sec = 1\nkeys = 1\npartitions = 1\n";
    let msg = assert_text_fails(text, 1, "name");
    assert!(msg.contains("missing field `name`"), "{msg}");
}

#[test]
fn missing_field_in_table() {
    let msg = assert_edit_fails("partitions = 3\n", "", 7, "workload.partitions");
    assert!(msg.contains("missing field `partitions`"), "{msg}");
}

#[test]
fn missing_table() {
    let text =
        VALID.replacen("[[queries]]\nname = \"key_window_count\"\nwindow_ms = 10000\n", "", 1);
    let msg = assert_text_fails(&text, 1, "queries");
    assert!(msg.contains("missing field `queries`"), "{msg}");
}

#[test]
fn duplicate_key() {
    let msg = assert_edit_fails("keys = 20", "keys = 20\nkeys = 21", 10, "workload.keys");
    assert!(msg.contains("duplicate key"), "{msg}");
}

// ---- Not a scenario at all ---------------------------------------------------------------

#[test]
fn empty_file() {
    let (msg, err) = load_err("empty.toml", b"");
    assert!(msg.contains("empty.toml:1: the scenario file is empty"), "{msg}");
    assert!(msg.contains("`name`") && msg.contains("`seed`"), "{msg}");
    assert!(matches!(err, ScenarioError::Empty { line: 1, .. }));
}

#[test]
fn whitespace_and_comment_only_file() {
    let (msg, _) = load_err("blank.toml", b"  \n\t\n# only a comment\n   # another\n\r\n");
    assert!(msg.contains("blank.toml:1: the scenario file is empty"), "{msg}");
}

#[test]
fn binary_garbage_bytes() {
    let (msg, err) = load_err("image.png", b"name = 1\nseed\x00\x01\x02 = 3\n");
    assert!(msg.contains("image.png:2:5:"), "{msg}");
    assert!(msg.contains("byte 0x00 at offset 13"), "{msg}");
    assert!(msg.contains("not a text TOML file"), "{msg}");
    assert!(matches!(err, ScenarioError::NotText { line: 2, column: 5, offset: 13, byte: 0, .. }));
}

#[test]
fn control_character() {
    let (msg, _) = load_err("ctl.toml", b"a = 1\nb = 2\n\x1b[31m\n");
    assert!(msg.contains("ctl.toml:3:1: byte 0x1b"), "{msg}");
    assert!(msg.contains("not a text TOML file"), "{msg}");
}

#[test]
fn invalid_utf8() {
    let (msg, err) = load_err("latin1.toml", b"name = \"caf\xe9\"\n");
    assert!(msg.contains("latin1.toml:1:12: byte 0xe9 at offset 11: invalid UTF-8"), "{msg}");
    assert!(matches!(err, ScenarioError::NotText { offset: 11, .. }));
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nope.toml");
    let err = Scenario::load(&path).expect_err("missing file");
    assert!(matches!(err, ScenarioError::Read { .. }));
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()) && msg.contains("cannot read"), "{msg}");
}

#[test]
fn directory_instead_of_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Scenario::load(dir.path()).expect_err("a directory");
    assert!(matches!(err, ScenarioError::Read { .. }), "{err}");
}

// ---- Semantic rules ----------------------------------------------------------------------

#[test]
fn empty_name() {
    assert_edit_fails("\"quickstart\"", "\"\"", 2, "name");
}

#[test]
fn unsafe_name() {
    let msg = assert_edit_fails("\"quickstart\"", "\"../etc\"", 2, "name");
    assert!(msg.contains("not a safe directory name"), "{msg}");
    assert_edit_fails("\"quickstart\"", "\"a b\"", 2, "name");
    assert_edit_fails("\"quickstart\"", "\"..\"", 2, "name");
}

#[test]
fn no_architectures() {
    assert_edit_fails("[\"lambda\", \"kappa\"]", "[]", 4, "architectures");
}

#[test]
fn unknown_architecture() {
    let msg = assert_edit_fails("\"kappa\"]", "\"kapa\"]", 4, "architectures[1]");
    assert!(msg.contains("bad.toml:4:28:"), "{msg}");
    assert!(
        msg.contains("unknown architecture `kapa`") && msg.contains("`streaming-lake`"),
        "{msg}"
    );
}

#[test]
fn duplicate_architecture_points_at_second_one() {
    let text = VALID.replacen(
        "[\"lambda\", \"kappa\"]",
        "[\n  \"lambda\",\n  \"kappa\",\n  \"lambda\",\n]",
        1,
    );
    let msg = assert_text_fails(&text, 7, "architectures[2]");
    assert!(msg.contains("listed twice"), "{msg}");
}

#[test]
fn duration_must_be_positive() {
    assert_edit_fails("duration_ms = 120000", "duration_ms = 0", 5, "duration_ms");
    assert_edit_fails("duration_ms = 120000", "duration_ms = -5", 5, "duration_ms");
}

#[test]
fn sample_every_must_be_positive() {
    assert_edit_fails(
        "duration_ms = 120000",
        "duration_ms = 1\nsample_every_ms = 0",
        6,
        "sample_every_ms",
    );
}

#[test]
fn rate_must_be_positive() {
    let msg =
        assert_edit_fails("rate_per_sec = 200", "rate_per_sec = 0", 8, "workload.rate_per_sec");
    assert!(
        msg.contains("bad.toml:8:1: field `workload.rate_per_sec`: must be > 0, got 0"),
        "{msg}"
    );
}

#[test]
fn keys_must_be_positive() {
    assert_edit_fails("keys = 20", "keys = 0", 9, "workload.keys");
}

#[test]
fn partitions_in_range() {
    assert_edit_fails("partitions = 3", "partitions = 0", 10, "workload.partitions");
    let msg = assert_edit_fails("partitions = 3", "partitions = 1025", 10, "workload.partitions");
    assert!(msg.contains("between 1 and 1024"), "{msg}");
    assert!(
        Scenario::parse(&VALID.replacen("partitions = 3", "partitions = 1024", 1), Path::new("x"))
            .is_ok()
    );
}

#[test]
fn out_of_order_fraction_in_unit_range() {
    let f = "workload.out_of_order_fraction";
    assert_edit_fails("out_of_order_fraction = 0.1", "out_of_order_fraction = 1.5", 11, f);
    assert_edit_fails("out_of_order_fraction = 0.1", "out_of_order_fraction = -0.1", 11, f);
    assert_edit_fails("out_of_order_fraction = 0.1", "out_of_order_fraction = nan", 11, f);
}

#[test]
fn max_delay_not_negative() {
    assert_edit_fails("max_delay_ms = 3000", "max_delay_ms = -1", 12, "workload.max_delay_ms");
}

#[test]
fn zipf_exponent_positive() {
    let f = "workload.zipf_exponent";
    assert_edit_fails("keys = 20", "keys = 20\nzipf_exponent = 0.0", 10, f);
    assert_edit_fails("keys = 20", "keys = 20\nzipf_exponent = inf", 10, f);
}

#[test]
fn unknown_query() {
    let msg = assert_edit_fails("\"key_window_count\"", "\"top_k\"", 15, "queries[0].name");
    assert!(msg.contains("unknown query `top_k`; expected one of `key_window_count`"), "{msg}");
}

#[test]
fn window_must_be_positive() {
    assert_edit_fails("window_ms = 10000", "window_ms = 0", 16, "queries[0].window_ms");
}

#[test]
fn speed_rules() {
    let with = |body: &str| format!("{VALID}\n[speed]\n{body}\n");
    assert_text_fails(&with("poll_interval_ms = 0"), 19, "speed.poll_interval_ms");
    assert_text_fails(&with("overhead_ms = -1.0"), 19, "speed.overhead_ms");
    assert_text_fails(&with("\ncost_us_per_event = -0.5"), 20, "speed.cost_us_per_event");
    assert_text_fails(&with("watermark_delay_ms = -1"), 19, "speed.watermark_delay_ms");
    assert_text_fails(&with("allowed_lateness_ms = -1"), 19, "speed.allowed_lateness_ms");
}

#[test]
fn batch_rules() {
    let with = |body: &str| format!("{VALID}\n[batch]\n{body}\n");
    assert_text_fails(&with("interval_ms = 0"), 19, "batch.interval_ms");
    assert_text_fails(&with("overhead_ms = -1.0"), 19, "batch.overhead_ms");
    assert_text_fails(&with("cost_us_per_event = inf"), 19, "batch.cost_us_per_event");
}

// ---- Workload shapes: ads, lateness, ramps and bursts ---------------------------------------

/// `VALID` with `lines` added at the end of the `[workload]` table (from line 13 on).
fn with_workload(lines: &str) -> String {
    VALID.replacen("max_delay_ms = 3000\n", &format!("max_delay_ms = 3000\n{lines}\n"), 1)
}

/// `VALID` with its workload turned into an ads workload (`kind` on line 9, in place of `keys`).
fn ads_with(lines: &str) -> String {
    VALID.replacen("keys = 20\n", &format!("kind = \"ads\"\n{lines}"), 1)
}

#[test]
fn valid_file_with_every_workload_field_parses() {
    let text = ads_with(
        "campaigns = 7\nads_per_campaign = 3\nusers = 500\npages = 20\nlate_fraction = 0.05\n\
         late_delay_ms = 60000\nramp_to_rate_per_sec = 800\n\
         bursts = [{ start_ms = 0, duration_ms = 1000, multiplier = 0.0 }]\n",
    );
    let text = format!(
        "{text}\n[[workload.bursts]]\nstart_ms = 5000\nduration_ms = 100\nmultiplier = 4.5\n"
    );
    // The inline `bursts` and the `[[workload.bursts]]` table define the key twice: TOML says no.
    assert!(Scenario::parse(&text, Path::new("x.toml")).is_err());
    let text =
        text.replacen("bursts = [{ start_ms = 0, duration_ms = 1000, multiplier = 0.0 }]\n", "", 1);
    let s = Scenario::parse(&text, Path::new("x.toml")).expect("valid");
    let w = &s.workload;
    assert_eq!(w.kind, WorkloadKind::Ads);
    assert_eq!((w.campaigns, w.ads_per_campaign, w.users, w.pages), (7, 3, 500, 20));
    assert_eq!((w.late_fraction, w.late_delay_ms), (0.05, 60_000));
    assert_eq!(w.ramp_to_rate_per_sec, Some(800));
    assert_eq!(w.bursts, [Burst { start_ms: 5000, duration_ms: 100, multiplier: 4.5 }]);
}

#[test]
fn new_workload_fields_default() {
    let w = Scenario::parse(VALID, Path::new("x.toml")).expect("valid").workload;
    assert_eq!(w.kind, WorkloadKind::Keyed);
    assert_eq!((w.users, w.pages, w.campaigns, w.ads_per_campaign), (10_000, 1000, 100, 10));
    assert_eq!((w.late_fraction, w.late_delay_ms), (0.0, 0));
    assert_eq!((w.ramp_to_rate_per_sec, w.bursts.len()), (None, 0));
}

#[test]
fn wrong_workload_kind() {
    let msg = assert_edit_fails("keys = 20", "kind = \"ysb\"", 9, "workload.kind");
    assert!(msg.contains("ysb"), "{msg}");
}

#[test]
fn ads_fields_do_not_apply_to_keyed_workloads() {
    let msg = assert_text_fails(&with_workload("campaigns = 5"), 13, "workload.campaigns");
    assert!(msg.contains("does not apply to `kind = \"keyed\"`"), "{msg}");
    assert_text_fails(&with_workload("ads_per_campaign = 5"), 13, "workload.ads_per_campaign");
}

#[test]
fn keys_do_not_apply_to_ads_workloads() {
    let text = VALID.replacen("[workload]\n", "[workload]\nkind = \"ads\"\n", 1);
    let msg = assert_text_fails(&text, 10, "workload.keys");
    assert!(msg.contains("does not apply to `kind = \"ads\"`"), "{msg}");
}

#[test]
fn ads_counts_positive_and_bounded() {
    assert_text_fails(&ads_with("campaigns = 0\n"), 10, "workload.campaigns");
    assert_text_fails(&ads_with("ads_per_campaign = 0\n"), 10, "workload.ads_per_campaign");
    let msg = assert_text_fails(
        &ads_with("campaigns = 100000\nads_per_campaign = 1000\n"),
        11,
        "workload.ads_per_campaign",
    );
    assert!(msg.contains("campaigns × ads_per_campaign <= 10000000"), "{msg}");
}

#[test]
fn users_and_pages_positive() {
    assert_text_fails(&with_workload("users = 0"), 13, "workload.users");
    assert_text_fails(&with_workload("pages = 0"), 13, "workload.pages");
}

#[test]
fn late_fraction_rules() {
    let f = "workload.late_fraction";
    assert_text_fails(&with_workload("late_fraction = 1.5\nlate_delay_ms = 9"), 13, f);
    assert_text_fails(&with_workload("late_fraction = nan\nlate_delay_ms = 9"), 13, f);
    // 0.1 of the events are already out of order.
    let msg = assert_text_fails(&with_workload("late_fraction = 0.95\nlate_delay_ms = 9"), 13, f);
    assert!(msg.contains("at most 1 - out_of_order_fraction"), "{msg}");
    assert!(
        Scenario::parse(&with_workload("late_fraction = 0.9\nlate_delay_ms = 9"), &origin())
            .is_ok()
    );
}

#[test]
fn late_delay_rules() {
    let f = "workload.late_delay_ms";
    assert_text_fails(&with_workload("late_delay_ms = -1"), 13, f);
    // Late events need a delay; the key is not written, so the error points at the table.
    let msg = assert_text_fails(&with_workload("late_fraction = 0.1"), 7, f);
    assert!(msg.contains("> 0 when late_fraction > 0"), "{msg}");
}

#[test]
fn ramp_must_be_a_rate() {
    let msg = assert_text_fails(
        &with_workload("ramp_to_rate_per_sec = -5"),
        13,
        "workload.ramp_to_rate_per_sec",
    );
    assert!(msg.contains("u32"), "{msg}");
}

/// `VALID` with `[[workload.bursts]]` tables appended (the first header on line 18).
fn with_bursts(bursts: &[(&str, &str, &str)]) -> String {
    let mut text = VALID.to_string();
    for (start, duration, multiplier) in bursts {
        text.push_str(&format!(
            "\n[[workload.bursts]]\nstart_ms = {start}\nduration_ms = {duration}\nmultiplier = {multiplier}\n"
        ));
    }
    text
}

#[test]
fn burst_rules_name_the_burst() {
    let ok = ("1000", "500", "2.0");
    assert!(Scenario::parse(&with_bursts(&[ok]), &origin()).is_ok());
    // Second burst's keys: header on line 23, start_ms 24, duration_ms 25, multiplier 26.
    let f = |name: &str| format!("workload.bursts[1].{name}");
    let msg = assert_text_fails(&with_bursts(&[ok, ("2000", "10", "-1.0")]), 26, &f("multiplier"));
    assert!(msg.contains("between 0 and 1000"), "{msg}");
    assert_text_fails(&with_bursts(&[ok, ("2000", "10", "inf")]), 26, &f("multiplier"));
    assert_text_fails(&with_bursts(&[ok, ("2000", "10", "1000.5")]), 26, &f("multiplier"));
    assert_text_fails(&with_bursts(&[ok, ("2000", "0", "2.0")]), 25, &f("duration_ms"));
    assert_text_fails(&with_bursts(&[ok, ("-1", "10", "2.0")]), 24, &f("start_ms"));
    let msg = assert_text_fails(&with_bursts(&[ok, ("120000", "10", "2.0")]), 24, &f("start_ms"));
    assert!(msg.contains("duration_ms - 1 (119999)"), "{msg}");
    let msg = assert_text_fails(&with_bursts(&[ok, ("1499", "10", "2.0")]), 24, &f("start_ms"));
    assert!(msg.contains("overlaps workload.bursts[0]"), "{msg}");
    // Touching is not overlapping.
    assert!(Scenario::parse(&with_bursts(&[ok, ("1500", "10", "2.0")]), &origin()).is_ok());
    assert_text_fails(&with_bursts(&[("0", "0", "2.0"), ok]), 20, "workload.bursts[0].duration_ms");
}

#[test]
fn burst_rules_in_an_inline_array_point_at_the_element() {
    let text = with_workload(
        "bursts = [{ start_ms = 0, duration_ms = 10, multiplier = 2.0 }, \
         { start_ms = 5, duration_ms = 10, multiplier = 2.0 }]",
    );
    let msg = assert_text_fails(&text, 13, "workload.bursts[1].start_ms");
    assert!(msg.contains("bad.toml:13:67:"), "{msg}");
}

#[test]
fn burst_missing_or_unknown_field() {
    let text = format!("{VALID}\n[[workload.bursts]]\nstart_ms = 0\nduration_ms = 10\n");
    let msg = assert_text_fails(&text, 18, "workload.bursts.multiplier");
    assert!(msg.contains("missing field `multiplier`"), "{msg}");
    let text = format!("{}times = 3\n", with_bursts(&[("0", "10", "2.0")]));
    let msg = assert_text_fails(&text, 22, "workload.bursts.times");
    assert!(msg.contains("unknown field `times`"), "{msg}");
}

#[test]
fn semantic_error_in_inline_table_points_at_key() {
    let text = format!("speed = {{ poll_interval_ms = 10, overhead_ms = -2.0 }}\n{VALID}");
    let msg = assert_text_fails(&text, 1, "speed.overhead_ms");
    assert!(msg.contains("bad.toml:1:34:"), "{msg}");
}

// ---- Never panic -------------------------------------------------------------------------

fn origin() -> PathBuf {
    PathBuf::from("fuzz.toml")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC*") {
        if let Err(e) = Scenario::parse(&text, &origin()) {
            prop_assert!(e.to_string().starts_with("fuzz.toml:"));
        }
    }

    #[test]
    fn toml_like_strings_never_panic(
        text in "([a-z_.\\[\\]{}\"'=, \n#0-9-]|name|seed|workload|query|architectures){0,80}"
    ) {
        if let Err(e) = Scenario::parse(&text, &origin()) {
            prop_assert!(e.to_string().starts_with("fuzz.toml:"));
        }
    }

    #[test]
    fn edits_of_a_valid_file_never_panic(at in 0usize..400, insert in "\\PC{0,8}") {
        let mut text = VALID.to_string();
        let mut at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, &insert);
        let _ = Scenario::parse(&text, &origin());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fuzz.toml");
        std::fs::write(&path, &bytes).expect("write");
        match Scenario::load(&path) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.to_string().contains("fuzz.toml")),
        }
    }
}

#[test]
fn clock_must_be_simulated_or_realtime() {
    let msg = assert_edit_fails(
        "duration_ms = 120000",
        "duration_ms = 120000\nclock = \"wall\"",
        6,
        "clock",
    );
    assert!(msg.contains("realtime") && msg.contains("simulated"), "{msg}");
    let ok =
        VALID.replacen("duration_ms = 120000", "duration_ms = 120000\nclock = \"realtime\"", 1);
    let s = Scenario::parse(&ok, Path::new("ok.toml")).expect("realtime scenario");
    assert_eq!(s.clock, lambda_workbench::scenario::RunClock::Realtime);
}

#[test]
fn realtime_run_longer_than_an_hour_is_refused() {
    let msg = assert_edit_fails(
        "duration_ms = 120000",
        "duration_ms = 7200000\nclock = \"realtime\"",
        5,
        "duration_ms",
    );
    assert!(msg.contains("realtime"), "{msg}");
}

#[test]
fn log_storage_rules() {
    let with = |extra: &str| format!("{VALID}{extra}");
    assert_text_fails(&with("[log]\ncleanup_policy = \"shred\"\n"), 18, "log.cleanup_policy");
    assert_text_fails(&with("[log]\nretention_ms = 0\n"), 18, "log.retention_ms");
    assert_text_fails(&with("[log]\nretention_bytes = 0\n"), 18, "log.retention_bytes");
    let msg = assert_text_fails(
        &with("[log]\nretention_ms = 1000\n\n[log.tier]\nlocal_retention_ms = 5000\n"),
        21,
        "log.tier.local_retention_ms",
    );
    assert!(msg.contains("shorter than log.retention_ms"), "{msg}");
    assert_text_fails(
        &with("[log]\nretention_bytes = 1000\n\n[log.tier]\nlocal_retention_bytes = 1000\n"),
        21,
        "log.tier.local_retention_bytes",
    );
    assert_text_fails(&with("[log.tier]\nstore = \"ftp\"\n"), 18, "log.tier.store");
    let msg = assert_text_fails(&with("[log.tier]\nstore = \"s3\"\n"), 18, "log.tier.store");
    assert!(msg.contains("bucket"), "{msg}");
    assert_text_fails(
        &with("[log.tier]\nbandwidth_mib_per_s = 0.0\n"),
        18,
        "log.tier.bandwidth_mib_per_s",
    );
    assert_text_fails(
        &with("[log.tier]\nrequest_latency_ms = -1.0\n"),
        18,
        "log.tier.request_latency_ms",
    );
    assert_text_fails(&with("[log.tier]\nlocal_retention = 5\n"), 18, "log.tier.local_retention");
    let msg = assert_text_fails(
        &with("[log]\ncleanup_policy = \"compact\"\n\n[log.tier]\n"),
        18,
        "log.cleanup_policy",
    );
    assert!(msg.contains("compacted topics"), "{msg}");
    let msg = assert_text_fails(
        &with("[cluster]\n\n[log]\nretention_ms = 5000\n"),
        20,
        "log.retention_ms",
    );
    assert!(msg.contains("local log only"), "{msg}");
    let msg = assert_text_fails(
        &with("[log]\ncleanup_policy = \"compact\"\n")
            .replace("seed = 42", "seed = 42\nclock = \"realtime\""),
        19,
        "log.cleanup_policy",
    );
    assert!(msg.contains("simulated"), "{msg}");
    // And a valid one parses, defaults filled in.
    let s = Scenario::parse(
        &with("[log]\nretention_ms = 60000\n\n[log.tier]\nlocal_retention_ms = 5000\n"),
        Path::new("ok.toml"),
    )
    .unwrap();
    let t = s.log.tier.unwrap();
    assert_eq!(
        (t.store.as_str(), t.cache_bytes, t.local_retention_ms),
        ("local", 64 << 20, Some(5000))
    );
}
