//! `workbench compare DIR1 DIR2 ...`: the same key figures of several runs (batch interval 1 h
//! against 6 h, two seeds, ...) on one chart per figure — one group of bars per run, one bar per
//! architecture in its fixed colour — and one table, as markdown on stdout and in
//! `compare.md`, and as `compare.html` with the charts inline.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::charts::{DrawnChart, format_duration, time_unit};
use crate::html::{CSS, arch_cell, escape};
use crate::plot::{BarChart, BarSeries, arch_rank, draw_chart};
use crate::results::{ResultsError, RunResults, write_file};

/// How a figure is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Milliseconds, shown in a readable unit.
    Duration,
    /// A ratio (errors), four decimals.
    Ratio,
    /// A count.
    Count,
}

/// One key figure: chart stem, name, kind, and how to read it from a run.
struct Figure {
    stem: &'static str,
    name: &'static str,
    kind: Kind,
    get: fn(&RunResults, &str) -> Option<f64>,
    look: &'static str,
}

fn sum(r: &RunResults, a: &str, keys: &[&str]) -> Option<f64> {
    let values: Vec<f64> = keys.iter().filter_map(|k| r.figure(a, &["counters", k])).collect();
    if values.is_empty() { None } else { Some(values.iter().sum()) }
}

const FIGURES: &[Figure] = &[
    Figure {
        stem: "freshness_p50",
        name: "freshness p50",
        kind: Kind::Duration,
        get: |r, a| r.figure(a, &["freshness_ms", "p50"]),
        look: "lower is fresher: the typical wait from an event to its effect on the answers",
    },
    Figure {
        stem: "freshness_p99",
        name: "freshness p99",
        kind: Kind::Duration,
        get: |r, a| r.figure(a, &["freshness_ms", "p99"]),
        look: "the near-worst wait; batch-only paths grow with the batch interval",
    },
    Figure {
        stem: "staleness_p50",
        name: "staleness p50",
        kind: Kind::Duration,
        get: |r, a| r.figure(a, &["staleness_ms", "p50"]),
        look: "how far behind the served view typically is",
    },
    Figure {
        stem: "error_mean",
        name: "mean error",
        kind: Kind::Ratio,
        get: |r, a| r.figure(a, &["error", "mean_rel"]),
        look: "average distance from the exact answers over the run (0 = always exact)",
    },
    Figure {
        stem: "error_final",
        name: "final error",
        kind: Kind::Ratio,
        get: |r, a| r.figure(a, &["error", "final_rel"]),
        look: "what is still wrong once everything settled: dropped late data, approximation",
    },
    Figure {
        stem: "time_to_correct_p50",
        name: "time-to-correct p50",
        kind: Kind::Duration,
        get: |r, a| r.figure(a, &["time_to_correct_ms", "p50"]),
        look: "from a window's end until its answer is right for good",
    },
    Figure {
        stem: "events_read",
        name: "events read",
        kind: Kind::Count,
        get: |r, a| sum(r, a, &["batch_events_read", "stream_events_read"]),
        look: "log reads by all layers; recomputation and reprocessing read the log again",
    },
    Figure {
        stem: "busy_time",
        name: "busy time",
        kind: Kind::Duration,
        get: |r, a| sum(r, a, &["batch_busy_ms", "stream_busy_ms", "lake_busy_ms"]),
        look: "simulated processing time of all layers together",
    },
    Figure {
        stem: "peak_table_cells",
        name: "peak table cells",
        kind: Kind::Count,
        get: |r, a| r.figure(a, &["counters", "peak_table_cells"]),
        look: "storage held by served tables at the worst moment",
    },
    Figure {
        stem: "logic_lines",
        name: "logic lines",
        kind: Kind::Count,
        get: |r, a| r.figure(a, &["duplication", "logic_lines"]),
        look: "query logic written for the architecture (same in every run: it is the code)",
    },
];

/// What a comparison wrote.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Run labels, in argument order.
    pub runs: Vec<String>,
    /// The table, as markdown.
    pub markdown: String,
    /// The charts.
    pub charts: Vec<DrawnChart>,
    /// `compare.html`.
    pub html: PathBuf,
}

/// Labels for runs: the scenario name, with the seed or position added when names repeat.
fn labels(runs: &[RunResults]) -> Vec<String> {
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    let with_seed: Vec<String> = runs
        .iter()
        .map(|r| match r.run_figure("seed") {
            Some(s) => format!("{} (seed {s:.0})", r.name),
            None => r.name.clone(),
        })
        .collect();
    let unique = |v: &[String]| v.iter().enumerate().all(|(i, x)| !v[..i].contains(x));
    if unique(&names) {
        names
    } else if unique(&with_seed) {
        with_seed
    } else {
        names.iter().enumerate().map(|(i, n)| format!("{n} #{}", i + 1)).collect()
    }
}

fn show(kind: Kind, v: f64) -> String {
    match kind {
        Kind::Duration => format_duration(v),
        Kind::Ratio => format!("{v:.4}"),
        Kind::Count => format!("{v:.0}"),
    }
}

/// Compares the results directories `dirs`, writing charts, `compare.md` and `compare.html`
/// into `out`.
pub fn compare(dirs: &[PathBuf], out: &Path) -> Result<Comparison, ResultsError> {
    let runs: Vec<RunResults> =
        dirs.iter().map(|d| RunResults::load(d)).collect::<Result<_, _>>()?;
    let run_labels = labels(&runs);
    let mut archs: Vec<String> =
        runs.iter().flat_map(|r| r.architectures.iter().cloned()).collect();
    archs.sort_by(|a, b| arch_rank(a).cmp(&arch_rank(b)).then(a.cmp(b)));
    archs.dedup();

    let mut charts = Vec::new();
    for f in FIGURES {
        let values: Vec<Vec<Option<f64>>> =
            archs.iter().map(|a| runs.iter().map(|r| (f.get)(r, a)).collect()).collect();
        if values.iter().flatten().all(Option::is_none) {
            continue;
        }
        let max = values.iter().flatten().flatten().copied().fold(0.0, f64::max);
        let (scale, y_label) = match f.kind {
            Kind::Duration => {
                let u = time_unit(max);
                (u.ms, format!("{} ({})", f.name, u.name))
            }
            Kind::Ratio => (1.0, format!("{} (relative, 0 = exact)", f.name)),
            Kind::Count => (1.0, f.name.to_string()),
        };
        let title = format!("{} by run", f.name);
        let chart = BarChart {
            title: title.clone(),
            x_label: "run".into(),
            y_label,
            groups: run_labels.clone(),
            series: archs
                .iter()
                .zip(&values)
                .map(|(a, v)| BarSeries {
                    label: a.clone(),
                    values: v.iter().map(|x| x.map(|x| x / scale)).collect(),
                })
                .collect(),
        };
        let files = draw_chart(&chart, &out.join(f.stem))?;
        charts.push(DrawnChart {
            stem: f.stem.into(),
            title,
            what: format!("{} of each architecture, one group of bars per run.", f.name),
            look: format!("Look at how it changes between runs: {}.", f.look),
            files,
        });
    }

    // The table: one row per (run, architecture).
    let mut md = String::from("| run | architecture |");
    for f in FIGURES {
        let _ = write!(md, " {} |", f.name);
    }
    md.push_str("\n|---|---|");
    md.push_str(&"---:|".repeat(FIGURES.len()));
    md.push('\n');
    let mut rows_html = String::new();
    for (r, label) in runs.iter().zip(&run_labels) {
        for a in &r.architectures {
            let cells: Vec<String> = FIGURES
                .iter()
                .map(|f| (f.get)(r, a).map_or_else(|| "—".into(), |v| show(f.kind, v)))
                .collect();
            let _ = writeln!(md, "| {} | {a} | {} |", label.replace('|', "/"), cells.join(" | "));
            let _ = write!(rows_html, "<tr><td>{}</td><td>{}</td>", escape(label), arch_cell(a));
            for c in &cells {
                let _ = write!(rows_html, "<td>{}</td>", escape(c));
            }
            rows_html.push_str("</tr>\n");
        }
    }
    write_file(&out.join("compare.md"), &md)?;

    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>lambda-workbench comparison</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <h1>Comparison of {} runs</h1>\n<ul>\n",
        runs.len()
    );
    for (r, label) in runs.iter().zip(&run_labels) {
        let _ = writeln!(
            h,
            "<li><strong>{}</strong>: <code>{}</code>{}</li>",
            escape(label),
            escape(&r.dir.display().to_string()),
            if r.description.is_empty() {
                String::new()
            } else {
                format!(" — {}", escape(&r.description))
            }
        );
    }
    h.push_str(
        "</ul>\n<h2>Key figures</h2>\n<table>\n<thead><tr><th>run</th><th>architecture</th>",
    );
    for f in FIGURES {
        let _ = write!(h, "<th>{}</th>", escape(f.name));
    }
    let _ = writeln!(h, "</tr></thead>\n<tbody>\n{rows_html}</tbody>\n</table>\n<h2>Charts</h2>");
    for c in &charts {
        let svg = c
            .files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == "svg"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let _ = writeln!(
            h,
            "<figure id=\"{}\">{svg}\n<figcaption><strong>{}</strong><br>{}<br><span class=\"look\">{}</span></figcaption>\n</figure>",
            escape(&c.stem),
            escape(&c.title),
            escape(&c.what),
            escape(&c.look)
        );
    }
    h.push_str("</body>\n</html>\n");
    let html = out.join("compare.html");
    write_file(&html, h)?;
    Ok(Comparison { runs: run_labels, markdown: md, charts, html })
}
