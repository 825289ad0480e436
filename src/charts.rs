//! Every chart of a run, drawn from its results directory (`workbench plot DIR`, and the end of
//! `workbench run`): what each chart shows is decided here, how it is drawn in [`crate::plot`].
//!
//! A chart whose data is missing (an older results directory, an architecture without that
//! layer) is skipped, not drawn empty; bars for a figure an architecture lacks are left out.

use std::path::{Path, PathBuf};

use crate::plot::{
    BarChart, BarSeries, LineChart, MarkedLineChart, PanelChart, Series, TimelineChart,
    VerticalMarker, draw_chart,
};
use crate::results::{ResultsError, RunResults};

/// A chart that was drawn, with what the report says about it.
#[derive(Debug, Clone)]
pub struct DrawnChart {
    /// File stem under `plots/` (e.g. `error_over_time`).
    pub stem: String,
    /// The chart's title.
    pub title: String,
    /// Caption line 1: what the chart shows.
    pub what: String,
    /// Caption line 2: what to look at (with this run's standout figure when there is one).
    pub look: String,
    /// The PNG and SVG files.
    pub files: Vec<PathBuf>,
}

/// A unit for durations: its name and how many ms it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeUnit {
    /// `ms`, `s`, `min` or `h`.
    pub name: &'static str,
    /// Milliseconds per unit.
    pub ms: f64,
}

/// The unit that keeps numbers up to `max_ms` readable (a 6-hour batch cycle in hours, a
/// half-second freshness in ms).
pub fn time_unit(max_ms: f64) -> TimeUnit {
    if max_ms < 2_000.0 {
        TimeUnit { name: "ms", ms: 1.0 }
    } else if max_ms < 600_000.0 {
        TimeUnit { name: "s", ms: 1_000.0 }
    } else if max_ms < 3.0 * 3_600_000.0 {
        TimeUnit { name: "min", ms: 60_000.0 }
    } else {
        TimeUnit { name: "h", ms: 3_600_000.0 }
    }
}

/// A duration for people: `281 ms`, `3.0 s`, `12.5 min`, `6.0 h`.
pub fn format_duration(ms: f64) -> String {
    let u = time_unit(ms.abs());
    if u.name == "ms" { format!("{ms:.0} ms") } else { format!("{:.1} {}", ms / u.ms, u.name) }
}

/// Draws every chart the results support into `plots_dir`; returns them in report order.
pub fn draw_all(r: &RunResults, plots_dir: &Path) -> Result<Vec<DrawnChart>, ResultsError> {
    let mut out = Vec::new();
    let archs = &r.architectures;
    let t_max = r.series.values().flatten().map(|p| p.0).fold(0.0, f64::max);
    let tu = time_unit(t_max);
    let x_label = format!("simulated time ({})", tu.name);
    let markers: Vec<VerticalMarker> = r
        .moments
        .iter()
        .map(|m| VerticalMarker { x: m.t_ms as f64 / tu.ms, label: m.label.clone() })
        .collect();
    let over_time = |metric: &str, scale: f64| -> Vec<Series> {
        archs
            .iter()
            .filter(|a| !r.points(a, metric).is_empty())
            .map(|a| Series {
                label: a.clone(),
                points: r.points(a, metric).iter().map(|&(t, v)| (t / tu.ms, v / scale)).collect(),
            })
            .collect()
    };
    let title = |what: &str| format!("{}: {what}", r.name);
    let best = |path: &[&str], lowest: bool| -> Option<(String, f64)> {
        archs
            .iter()
            .filter_map(|a| r.figure(a, path).map(|v| (a.clone(), v)))
            .reduce(|x, y| if (y.1 < x.1) == lowest && y.1 != x.1 { y } else { x })
    };
    let mut emit = |stem: &str, title: String, what: String, look: String, files: Vec<PathBuf>| {
        out.push(DrawnChart { stem: stem.into(), title, what, look, files });
    };
    let marked_note = if r.moments.is_empty() {
        String::new()
    } else {
        " Grey vertical lines mark scheduled moments (reprocessing, faults).".to_string()
    };

    // Consistency error over time.
    let series = over_time("error_mean_rel", 1.0);
    if !series.is_empty() {
        let t = title("consistency error against the oracle");
        let chart = MarkedLineChart {
            chart: LineChart {
                title: t.clone(),
                x_label: x_label.clone(),
                y_label: "mean relative error (0 = exact)".into(),
                series,
            },
            markers: markers.clone(),
        };
        let files = draw_chart(&chart, &plots_dir.join("error_over_time"))?;
        let standout = best(&["error", "mean_rel"], true)
            .map(|(a, v)| format!(" Lowest average error: {a} ({v:.3})."))
            .unwrap_or_default();
        emit(
            "error_over_time",
            t,
            "How far each architecture's served answers are from the exact answers (the oracle) \
             over the events appended so far, averaged over keys and windows."
                .into(),
            format!(
                "Look at how high each line climbs after new events and how quickly it falls back \
                 to 0; a line that ends above 0 ends wrong.{marked_note}{standout}"
            ),
            files,
        );
    }

    // Fraction of cells exactly right over time.
    let series = over_time("fraction_exact", 1.0);
    if !series.is_empty() {
        let t = title("fraction of answers exactly right");
        let chart = MarkedLineChart {
            chart: LineChart {
                title: t.clone(),
                x_label: x_label.clone(),
                y_label: "fraction of cells exact (1 = all)".into(),
                series,
            },
            markers: markers.clone(),
        };
        let files = draw_chart(&chart, &plots_dir.join("fraction_exact_over_time"))?;
        emit(
            "fraction_exact_over_time",
            t,
            "The share of (key, window) answers that equal the oracle exactly at each sample."
                .into(),
            format!(
                "Look for dips: the still-open windows are never exact, so the line stays below 1 \
                 while events arrive; it should reach 1 once the run settles.{marked_note}"
            ),
            files,
        );
    }

    // Staleness over time.
    let max_stale =
        archs.iter().flat_map(|a| r.points(a, "staleness_ms")).map(|p| p.1).fold(0.0, f64::max);
    let su = time_unit(max_stale);
    let series = over_time("staleness_ms", su.ms);
    if !series.is_empty() {
        let t = title("staleness of the served view");
        let chart = MarkedLineChart {
            chart: LineChart {
                title: t.clone(),
                x_label: x_label.clone(),
                y_label: format!("staleness ({})", su.name),
                series,
            },
            markers: markers.clone(),
        };
        let files = draw_chart(&chart, &plots_dir.join("staleness_over_time"))?;
        let standout = best(&["staleness_ms", "p50"], true)
            .map(|(a, v)| {
                format!(" Freshest view (median staleness): {a}, {}.", format_duration(v))
            })
            .unwrap_or_default();
        emit(
            "staleness_over_time",
            t,
            "At each moment, how far behind the newest fully reflected event the served view is \
             (sample time minus that event's time). An event an architecture dropped for good (late \
             for kappa's windows) does not hold it back: it shows in the correctness charts."
                .into(),
            format!(
                "Look at the height (how stale) and the shape: a saw-tooth that grows until each \
                 batch publishes is a batch-fed view; a flat low line is a stream-fed one.{standout}"
            ),
            files,
        );
    }

    // Freshness and time-to-correct percentiles.
    for (stem, key, what, look, name) in [
        (
            "freshness_percentiles",
            "freshness_ms",
            "From an event's time until it first shows in the served answers: median, 99th \
             percentile and worst case, per architecture.",
            "Look at p99 and max more than p50: they are what a dashboard user waits for in the \
             worst case.",
            "freshness (event time to visible)",
        ),
        (
            "time_to_correct",
            "time_to_correct_ms",
            "Per window, from the window's end until the served answer is exactly right and stays \
             right: median, 99th percentile and worst case.",
            "Look for architectures whose windows take a batch cycle to become right, and for \
             windows never right (shown in the table).",
            "time to correct (window end to exact)",
        ),
    ] {
        let values: Vec<(String, [Option<f64>; 3])> = archs
            .iter()
            .map(|a| {
                let v = |p: &str| r.figure(a, &[key, p]);
                (a.clone(), [v("p50"), v("p99"), v("max")])
            })
            .filter(|(_, v)| v.iter().any(Option::is_some))
            .collect();
        if values.is_empty() {
            continue;
        }
        let max = values.iter().flat_map(|(_, v)| v.iter().flatten()).copied().fold(0.0, f64::max);
        let u = time_unit(max);
        let t = title(name);
        let chart = BarChart {
            title: t.clone(),
            x_label: "percentile over events / windows".into(),
            y_label: format!("{} ({})", key.trim_end_matches("_ms").replace('_', " "), u.name),
            groups: vec!["p50".into(), "p99".into(), "max".into()],
            series: values
                .iter()
                .map(|(a, v)| BarSeries {
                    label: a.clone(),
                    values: v.iter().map(|x| x.map(|x| x / u.ms)).collect(),
                })
                .collect(),
        };
        let files = draw_chart(&chart, &plots_dir.join(stem))?;
        let standout = best(&[key, "p99"], true)
            .map(|(a, v)| format!(" Best p99: {a}, {}.", format_duration(v)))
            .unwrap_or_default();
        emit(stem, t, what.into(), format!("{look}{standout}"), files);
    }

    // Cost: busy time per layer, events read.
    for (stem, name, unit_is_time, layers, what, look) in [
        (
            "cost_busy_time",
            "simulated busy time per layer",
            true,
            &[("batch", "batch_busy_ms"), ("stream", "stream_busy_ms"), ("lake", "lake_busy_ms")][..],
            "Simulated processing time spent by each layer over the run (the cost model: overhead \
             per job or poll plus a cost per event).",
            "Look at what the batch layer costs for recomputing everything each cycle, against \
             the stream layer's incremental work.",
        ),
        (
            "cost_events_read",
            "events read from the log per layer",
            false,
            &[("batch", "batch_events_read"), ("stream", "stream_events_read")][..],
            "How many events each layer read from the log; reading the same event twice counts \
             twice.",
            "Look for reads above the number of events in the log: batch recomputation and \
             kappa reprocessing read the log again.",
        ),
    ] {
        let cells: Vec<(String, Vec<Option<f64>>)> = archs
            .iter()
            .map(|a| {
                (a.clone(), layers.iter().map(|(_, k)| r.figure(a, &["counters", k])).collect())
            })
            .collect();
        let keep: Vec<usize> = (0..layers.len())
            .filter(|&i| cells.iter().any(|(_, v)| v[i].is_some_and(|x| x > 0.0)))
            .collect();
        if keep.is_empty() {
            continue;
        }
        let max = cells.iter().flat_map(|(_, v)| v.iter().flatten()).copied().fold(0.0, f64::max);
        let (scale, y_label) = if unit_is_time {
            let u = time_unit(max);
            (u.ms, format!("busy time ({})", u.name))
        } else {
            (1.0, "events read".to_string())
        };
        let t = title(name);
        let chart = BarChart {
            title: t.clone(),
            x_label: "layer".into(),
            y_label,
            groups: keep.iter().map(|&i| layers[i].0.to_string()).collect(),
            series: cells
                .iter()
                .map(|(a, v)| BarSeries {
                    label: a.clone(),
                    values: keep.iter().map(|&i| v[i].map(|x| x / scale)).collect(),
                })
                .collect(),
        };
        let files = draw_chart(&chart, &plots_dir.join(stem))?;
        let look = match (unit_is_time, r.run_figure("events")) {
            (false, Some(n)) => format!("{look} The log holds {n:.0} events."),
            _ => look.to_string(),
        };
        emit(stem, t, what.into(), look, files);
    }

    // Storage over time: the shared log (hot) and each architecture's cold tier.
    let log = r.points("log", "log_bytes");
    if !log.is_empty() {
        let t = title("storage over time: hot log and cold files");
        let mut series = vec![Series {
            label: "log (hot)".into(),
            points: log.iter().map(|&(x, v)| (x / tu.ms, v / 1e6)).collect(),
        }];
        for a in archs.iter() {
            let cold = r.points(a, "cold_bytes");
            if !cold.is_empty() {
                series.push(Series {
                    // The architecture id alone, so the series keeps its fixed colour.
                    label: a.clone(),
                    points: cold.iter().map(|&(x, v)| (x / tu.ms, v / 1e6)).collect(),
                });
            }
        }
        let chart = MarkedLineChart {
            chart: LineChart {
                title: t.clone(),
                x_label: x_label.clone(),
                y_label: "bytes stored (MB)".into(),
                series,
            },
            markers: markers.clone(),
        };
        let files = draw_chart(&chart, &plots_dir.join("log_bytes_over_time"))?;
        emit(
            "log_bytes_over_time",
            t,
            "Bytes stored in the shared log (all partitions, hot tier), and in the streaming \
             lake's cold Parquet files when it runs."
                .into(),
            "Look at the growth rate: every architecture here reads this one log, and kappa can \
             only reprocess what retention keeps in it."
                .into(),
            files,
        );
    }

    // Timeline: what each architecture did when (from timeline.csv, when the run wrote one).
    let timeline = std::fs::read_to_string(r.dir.join("timeline.csv")).unwrap_or_default();
    let events: Vec<(f64, usize, String)> = timeline
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.splitn(3, ',');
            let t: f64 = fields.next()?.parse().ok()?;
            let arch = fields.next()?;
            let lane = archs.iter().position(|a| a == arch)?;
            Some((t / tu.ms, lane, fields.next()?.to_owned()))
        })
        .collect();
    if !events.is_empty() {
        let t = title("timeline: batch jobs, crashes, reprocessing");
        let chart = TimelineChart {
            title: t.clone(),
            x_label: x_label.clone(),
            lanes: archs.to_vec(),
            events,
        };
        let files = draw_chart(&chart, &plots_dir.join("timeline"))?;
        emit(
            "timeline",
            t,
            "What each architecture did when: batch jobs starting and publishing (or failing), \
             stream jobs crashing, kappa reprocessing and switching tables, redeploys."
                .into(),
            "Look at the rhythm: a batch architecture is only as fresh as its last published \
             view; kappa's switch shows how long a replay took."
                .into(),
            files,
        );
    }

    // Peak table cells.
    let peaks: Vec<BarSeries> = archs
        .iter()
        .filter_map(|a| {
            r.figure(a, &["counters", "peak_table_cells"])
                .map(|v| BarSeries { label: a.clone(), values: vec![Some(v)] })
        })
        .collect();
    if !peaks.is_empty() {
        let t = title("peak storage of served tables");
        let chart = BarChart {
            title: t.clone(),
            x_label: String::new(),
            y_label: "table cells (key × window)".into(),
            groups: vec!["peak cells held at once".into()],
            series: peaks,
        };
        let files = draw_chart(&chart, &plots_dir.join("peak_table_cells"))?;
        let cells = r
            .run_figure("oracle_cells")
            .map(|n| format!(" The exact answer has {n:.0} cells."))
            .unwrap_or_default();
        emit(
            "peak_table_cells",
            t,
            "The most table cells an architecture held at once (batch view + speed views, or the \
             old and new table while kappa reprocesses)."
                .into(),
            format!(
                "Look for values near twice the answer's size: two copies kept during a hand-over.{cells}"
            ),
            files,
        );
    }

    // Code duplication.
    let dup = |key: &str| -> Vec<BarSeries> {
        archs
            .iter()
            .filter(|a| r.arch_value(a, &["duplication"]).is_some())
            .map(|a| BarSeries {
                label: a.clone(),
                values: vec![r.figure(a, &["duplication", key])],
            })
            .collect()
    };
    let panels: Vec<BarChart> = [
        ("lines of query logic", "logic_lines", "code lines"),
        ("places to edit for a logic change", "places_to_edit_for_logic_change", "files"),
        ("batch/speed similarity", "batch_speed_similarity", "token-trigram Jaccard (0..1)"),
    ]
    .into_iter()
    .map(|(name, key, unit)| BarChart {
        title: name.into(),
        x_label: String::new(),
        y_label: unit.into(),
        groups: vec![String::new()],
        series: dup(key),
    })
    .filter(|p| p.series.iter().any(|s| s.values.iter().any(Option::is_some)))
    .collect();
    if !panels.is_empty() {
        let t = title("query logic written per architecture");
        let chart = PanelChart { title: t.clone(), panels };
        let files = draw_chart(&chart, &plots_dir.join("duplication"))?;
        emit(
            "duplication",
            t,
            "Measured from this project's own source: code lines holding query logic, how many \
             files change when one query changes, and how alike two implementations are."
                .into(),
            "Look for more than one place to edit: that architecture implements each query \
             twice, and the two copies must be kept in step by hand."
                .into(),
            files,
        );
    }
    Ok(out)
}
