//! `report.html`: one self-contained page per run — the scenario's lesson, a table of headline
//! figures per architecture, every chart inline (SVG) with a two-line caption, and where the
//! code of each layer lives. No scripts, no network: it opens from a USB stick.
//!
//! Every piece of text from a results directory goes through [`escape`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::charts::{DrawnChart, draw_all, format_duration};
use crate::plot::{arch_style, hex};
use crate::results::{ResultsError, RunResults, write_file};

/// Where the code of each architecture's layers lives (paths from the project root).
pub const LAYER_SOURCES: &[(&str, &[(&str, &str)])] = &[
    (
        "batch-lake",
        &[
            ("architecture", "src/arch/batch_lake.rs"),
            ("batch layer (polars)", "src/batch/lambda_polars.rs"),
        ],
    ),
    (
        "lambda",
        &[
            ("architecture", "src/arch/lambda.rs"),
            ("batch layer (polars DataFrame code)", "src/batch/lambda_polars.rs"),
            ("speed layer (incremental operators)", "src/speed/operators.rs"),
            ("serving layer (merge)", "src/serving/mod.rs"),
        ],
    ),
    (
        "lambda-unified",
        &[
            ("architecture", "src/arch/lambda_unified.rs"),
            ("queries, written once as monoids", "src/query/unified/definitions.rs"),
            ("batch runner (rayon)", "src/query/unified/batch.rs"),
            ("stream runner", "src/query/unified/stream.rs"),
            ("serving layer (merge)", "src/serving/mod.rs"),
        ],
    ),
    (
        "kappa",
        &[
            ("architecture", "src/arch/kappa.rs"),
            ("live job, reprocessing and switch", "src/kappa/mod.rs"),
            ("stream operators", "src/speed/operators.rs"),
        ],
    ),
    (
        "streaming-lake",
        &[("architecture", "src/arch/streaming_lake.rs"), ("hot tail: the log", "src/log/")],
    ),
];

/// Shared by every architecture.
const COMMON_SOURCES: &[(&str, &str)] = &[
    ("the shared log", "src/log/"),
    ("the oracle (exact answers)", "src/oracle.rs"),
    ("metrics", "src/metrics/mod.rs"),
    ("duplication measurement", "src/metrics/duplication.rs"),
    ("simulated clock driver", "src/driver.rs"),
    ("realtime driver", "src/realtime.rs"),
];

/// With a `[cluster]`: what the producer was told and what the replicated log kept — the
/// durability every architecture inherits.
fn cluster_table(h: &mut String, r: &RunResults) {
    let Some(c) = r.summary.get("cluster") else { return };
    let n = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_f64);
    // Scale-out figures, present only when brokers were added or removed.
    let so = |v: &serde_json::Value, k: &str| v.get("scale_out").and_then(|s| n(s, k));
    let rows = [
        ("events the producer was told were written", n(c, "acked_events")),
        ("of those, lost by the cluster", n(c, "lost_acked_events")),
        (
            "writes refused (no leader, ISR too small, leadership moving), retried",
            n(c, "refused_writes"),
        ),
        ("ms with events the cluster would not take", n(c, "blocked_ms")),
        ("leader elections", c.get("replication").and_then(|v| n(v, "elections"))),
        (
            "records cut from diverged replicas",
            c.get("replication").and_then(|v| n(v, "records_truncated")),
        ),
        ("partitions reassigned (brokers added or removed)", so(c, "partitions_moved")),
        ("bytes copied to new replicas", so(c, "bytes_moved")),
        ("ms with a reassignment running", so(c, "busy_ms")),
        ("most partitions under-replicated at once", so(c, "max_under_replicated")),
        ("producer events/s during reassignment", so(c, "acked_events_per_sec_during")),
        ("producer events/s otherwise", so(c, "acked_events_per_sec_outside")),
    ];
    let _ = writeln!(
        h,
        "<h2>The log underneath</h2>\n<p>The architectures read only what the replicated \
         brokers committed; no layer can restore what the log lost.</p>\n<table>"
    );
    for (label, value) in rows {
        if let Some(v) = value {
            let _ = writeln!(h, "<tr><th>{}</th><td>{v:.0}</td></tr>", escape(label));
        }
    }
    let _ = writeln!(h, "</table>");
}

/// With `[log]` retention, compaction or a `[log.tier]`: what stayed hot, what went cold, and
/// what reading the cold part cost.
fn log_storage_table(h: &mut String, r: &RunResults) {
    let Some(st) = r.summary.get("log_storage") else { return };
    let n = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_f64);
    let tier = st.get("tier").filter(|t| !t.is_null());
    let t = |k: &str| tier.and_then(|v| n(v, k));
    let mib = |b: Option<f64>| b.map(|b| b / (1024.0 * 1024.0));
    let timing = tier
        .and_then(|v| v.get("cold_fetch_timing"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("model");
    let rows: [(String, Option<f64>, usize); 11] = [
        ("MiB in the log's local (hot) segments at the end".into(), mib(n(st, "hot_bytes_end")), 2),
        ("MiB in the remote (cold) tier at the end".into(), mib(n(st, "cold_bytes_end")), 2),
        ("segments uploaded to the tier".into(), t("uploads"), 0),
        ("local copies deleted (now remote only)".into(), t("local_segments_offloaded"), 0),
        ("remote segments deleted by total retention".into(), t("remote_segments_deleted"), 0),
        ("cold segment fetches (cache misses)".into(), t("cold_fetches"), 0),
        ("MiB fetched from the tier".into(), mib(t("cold_fetched_bytes")), 2),
        (format!("ms spent fetching cold segments ({timing})"), t("cold_fetch_ms"), 0),
        (format!("ms per cold fetch ({timing})"), t("cold_fetch_ms_mean"), 1),
        ("local segments deleted by retention".into(), n(st, "segments_deleted"), 0),
        ("records removed by compaction".into(), n(st, "compacted_records"), 0),
    ];
    let _ = writeln!(
        h,
        "<h2>The log underneath</h2>\n<p>Closed segments move to the remote tier; a reader \
         below the local start (a Kappa replay from offset 0) fetches them back, and pays for \
         it.</p>\n<table>"
    );
    // Deletions and compaction only when they happened: most tiered runs keep everything.
    let optional = [4, 9, 10];
    for (i, (label, value, digits)) in rows.into_iter().enumerate() {
        if let Some(v) = value.filter(|&v| v != 0.0 || !optional.contains(&i)) {
            let _ = writeln!(h, "<tr><th>{}</th><td>{v:.digits$}</td></tr>", escape(&label));
        }
    }
    let _ = writeln!(h, "</table>");
}

/// HTML-escapes `text` for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `text`, then shows `backticked` spans as code (lessons name fields that way).
pub fn escape_prose(text: &str) -> String {
    let escaped = escape(text);
    let mut out = String::new();
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    // An unmatched backtick leaves an unclosed span: close it.
    if escaped.matches('`').count() % 2 == 1 {
        out.push_str("</code>");
    }
    out
}

/// Draws every chart of the results directory `dir` into `dir/plots/` (the `plot` command).
pub fn plot_dir(dir: &Path) -> Result<Vec<DrawnChart>, ResultsError> {
    let results = RunResults::load(dir)?;
    draw_all(&results, &dir.join("plots"))
}

/// Draws every chart and writes `dir/report.html` (the `report` command, and the end of
/// `workbench run`); returns the report's path.
pub fn plot_and_report(dir: &Path) -> Result<PathBuf, ResultsError> {
    let results = RunResults::load(dir)?;
    let charts = draw_all(&results, &dir.join("plots"))?;
    let html = render(&results, &charts);
    let path = dir.join("report.html");
    write_file(&path, html)?;
    Ok(path)
}

/// The page's CSS (shared with the comparison page).
pub(crate) const CSS: &str = "body{font-family:'Noto Sans',system-ui,sans-serif;max-width:1100px;\
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}\
.lesson{background:#f5f7fa;border-left:4px solid #1f77b4;padding:.6em 1em;white-space:pre-line}\
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}\
th,td{border:1px solid #ccc;padding:.3em .55em;text-align:right}\
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}\
.swatch{display:inline-block;width:.9em;height:.9em;margin-right:.4em;vertical-align:middle}\
figure{margin:1.5em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}\
figcaption{font-size:.95em}figcaption .look{color:#555}\
code{background:#f3f3f3;padding:0 .2em}.facts{color:#555}\
.bad{color:#b00020;font-weight:bold}.good{color:#2a7d2a}";

/// A results directory as HTML.
pub fn render(r: &RunResults, charts: &[DrawnChart]) -> String {
    let mut h = String::new();
    let title = format!("{} — lambda-workbench report", r.name);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(h, "<h1>{}</h1>", escape(&r.name));
    if !r.description.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", escape_prose(&r.description));
    }
    let facts: Vec<String> = [
        ("seed", r.run_figure("seed").map(|v| format!("{v:.0}"))),
        ("workload", r.run_figure("duration_ms").map(format_duration)),
        ("events", r.run_figure("events").map(|v| format!("{v:.0}"))),
        (
            "each log record stands for",
            r.run_figure("events_per_record").map(|v| format!("{v:.0} identical events")),
        ),
        ("out of order", r.run_figure("out_of_order_events").map(|v| format!("{v:.0}"))),
        ("answer cells", r.run_figure("oracle_cells").map(|v| format!("{v:.0}"))),
        ("driver", r.summary.get("driver").and_then(|v| v.as_str()).map(str::to_owned)),
        (
            "cost model",
            r.summary.get("cost_model").and_then(|m| m.get("source")).and_then(|v| v.as_str()).map(
                |s| match s {
                    "scenario" => "the scenario's".to_owned(),
                    file => format!("measured on this machine ({file})"),
                },
            ),
        ),
        (
            "converged",
            r.summary
                .get("converged")
                .and_then(|v| v.as_bool())
                .map(|b| if b { "yes" } else { "no" }.into()),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}: {}", escape(&v))))
    .collect();
    if !facts.is_empty() {
        let _ = writeln!(h, "<p class=\"facts\">{}</p>", facts.join(" · "));
    }
    if !r.lesson.is_empty() {
        let _ = writeln!(
            h,
            "<h2>The lesson</h2>\n<div class=\"lesson\">{}</div>",
            escape_prose(r.lesson.trim())
        );
    }

    headline_table(&mut h, r);
    cluster_table(&mut h, r);
    log_storage_table(&mut h, r);

    if !charts.is_empty() {
        let _ = writeln!(h, "<h2>Charts</h2>");
        let _ = writeln!(
            h,
            "<p>Each architecture keeps one colour and marker on every chart. PNG and SVG files \
             of each chart are in <code>plots/</code> beside this page.</p>"
        );
    }
    for c in charts {
        let svg = c
            .files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "svg"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|s| strip_xml_prolog(&s).to_owned());
        let _ = writeln!(h, "<figure id=\"{}\">", escape(&c.stem));
        match svg {
            Some(svg) => h.push_str(&svg),
            None => {
                let _ = write!(h, "<p>(chart file missing: plots/{}.svg)</p>", escape(&c.stem));
            }
        }
        let _ = writeln!(
            h,
            "\n<figcaption><strong>{}</strong><br>{}<br><span class=\"look\">{}</span></figcaption>\n</figure>",
            escape(&c.title),
            escape(&c.what),
            escape(&c.look)
        );
    }

    sources(&mut h, r);
    let _ = writeln!(
        h,
        "<h2>Files in this results directory</h2>\n<p><code>scenario.toml</code> (what ran), \
         <code>summary.json</code> (every figure above), <code>timeseries.csv</code> (long format: \
         <code>t_ms,architecture,metric,value</code>), <code>final_views/&lt;architecture&gt;.csv</code> \
         (the answers served at the end; <code>oracle.csv</code> is the exact one), \
         <code>plots/</code>. Regenerate this page with <code>workbench report {}</code>.</p>",
        escape(&r.dir.display().to_string())
    );
    h.push_str("</body>\n</html>\n");
    h
}

fn strip_xml_prolog(svg: &str) -> &str {
    match (svg.trim_start().starts_with("<?xml"), svg.find("?>")) {
        (true, Some(end)) => svg[end + 2..].trim_start(),
        _ => svg,
    }
}

/// The architecture's name cell: colour swatch and id.
pub(crate) fn arch_cell(id: &str) -> String {
    let colour = arch_style(id).map_or_else(|| "#888888".to_string(), |s| hex(s.rgb));
    format!("<span class=\"swatch\" style=\"background:{colour}\"></span>{}", escape(id))
}

fn headline_table(h: &mut String, r: &RunResults) {
    if r.architectures.is_empty() {
        return;
    }
    let _ = writeln!(h, "<h2>Headline figures</h2>\n<table>\n<thead><tr>");
    for col in [
        "architecture",
        "freshness p50",
        "freshness p99",
        "staleness p50",
        "mean error",
        "final error",
        "final = oracle",
        "time-to-correct p50",
        "late events",
        "batch jobs",
        "events read",
        "logic lines",
        "places to edit",
    ] {
        let _ = write!(h, "<th>{col}</th>");
    }
    let _ = writeln!(h, "</tr></thead>\n<tbody>");
    for a in &r.architectures {
        let dur = |path: &[&str]| r.figure(a, path).map(format_duration);
        let num = |path: &[&str]| r.figure(a, path).map(|v| format!("{v:.0}"));
        let err = |path: &[&str]| r.figure(a, path).map(|v| format!("{v:.4}"));
        let exact =
            r.arch_value(a, &["error", "final_equals_oracle"]).and_then(|v| v.as_bool()).map(|b| {
                if b {
                    "<span class=\"good\">yes</span>".to_string()
                } else {
                    "<span class=\"bad\">no</span>".to_string()
                }
            });
        let read = match (
            r.figure(a, &["counters", "batch_events_read"]),
            r.figure(a, &["counters", "stream_events_read"]),
        ) {
            (None, None) => None,
            (b, s) => Some(format!("{:.0}", b.unwrap_or(0.0) + s.unwrap_or(0.0))),
        };
        let cells = [
            dur(&["freshness_ms", "p50"]).map(|s| escape(&s)),
            dur(&["freshness_ms", "p99"]).map(|s| escape(&s)),
            dur(&["staleness_ms", "p50"]).map(|s| escape(&s)),
            err(&["error", "mean_rel"]),
            err(&["error", "final_rel"]),
            exact,
            dur(&["time_to_correct_ms", "p50"]).map(|s| escape(&s)),
            num(&["counters", "late_events"]),
            num(&["counters", "batch_jobs"]),
            read,
            num(&["duplication", "logic_lines"]),
            num(&["duplication", "places_to_edit_for_logic_change"]),
        ];
        let _ = write!(h, "<tr><td>{}</td>", arch_cell(a));
        for c in cells {
            let _ = write!(h, "<td>{}</td>", c.unwrap_or_else(|| "—".into()));
        }
        let _ = writeln!(h, "</tr>");
    }
    let _ = writeln!(
        h,
        "</tbody>\n</table>\n<p class=\"facts\">Errors are mean relative errors against the \
         oracle (0 = exact). Events read counts batch and stream reads of the log together. \
         Missing figures (—) were not measured for that architecture.</p>"
    );
}

fn sources(h: &mut String, r: &RunResults) {
    let _ = writeln!(
        h,
        "<h2>Where the code lives</h2>\n<p>Paths are from the project's root (open them in the \
         repository, not from this directory).</p>\n<table>\n<thead><tr><th>architecture</th>\
         <th>part</th><th>file</th></tr></thead>\n<tbody>"
    );
    for a in &r.architectures {
        let mut rows: Vec<(String, String)> = LAYER_SOURCES
            .iter()
            .find(|(id, _)| id == a)
            .map(|(_, rows)| rows.iter().map(|(p, f)| ((*p).to_owned(), (*f).to_owned())).collect())
            .unwrap_or_default();
        // The files the duplication measurement found holding this architecture's query logic.
        let logic = r
            .arch_value(a, &["duplication", "logic_files"])
            .and_then(|v| v.as_array())
            .map(|files| {
                files.iter().filter_map(|f| f.as_str()).map(str::to_owned).collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for f in logic {
            rows.push(("query logic (measured for duplication)".into(), f));
        }
        for (i, (part, file)) in rows.iter().enumerate() {
            let name = if i == 0 { arch_cell(a) } else { String::new() };
            let _ = writeln!(
                h,
                "<tr><td>{name}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(part),
                escape(file)
            );
        }
    }
    for (i, (part, file)) in COMMON_SOURCES.iter().enumerate() {
        let name = if i == 0 { "all" } else { "" };
        let _ = writeln!(
            h,
            "<tr><td>{name}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(part),
            escape(file)
        );
    }
    let _ = writeln!(h, "</tbody>\n</table>");
}
