//! A real run's results directory gets every chart (PNG and SVG, titled) and a self-contained
//! `report.html`; `workbench plot`/`report` regenerate them; old or partial results never panic.

use crate::report_common;

use std::path::Path;

use lambda_workbench::html::{escape, plot_and_report, plot_dir};
use report_common::{CHARTS, LESSON, run};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn svg_title(dir: &Path, stem: &str) -> String {
    std::fs::read_to_string(dir.join("plots").join(format!("{stem}.svg"))).expect("svg written")
}

#[test]
fn run_writes_every_chart_and_a_self_contained_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = run(tmp.path(), 7);
    for stem in CHARTS {
        let png = std::fs::read(dir.join("plots").join(format!("{stem}.png"))).expect(stem);
        assert!(png.starts_with(PNG_SIGNATURE), "{stem}.png is not a PNG");
        let svg = svg_title(&dir, stem);
        assert!(svg.contains("report-test: "), "{stem}.svg lacks its title");
    }
    let error = svg_title(&dir, "error_over_time");
    assert!(error.contains("consistency error against the oracle"));
    assert!(error.contains("kappa reprocess"), "reprocessing moment not marked");
    assert!(error.contains("kappa") && error.contains("lambda-unified"), "legend missing");

    let html = std::fs::read_to_string(dir.join("report.html")).expect("report.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(&escape(LESSON)), "lesson missing or unescaped");
    assert!(!html.contains("<exactly>"), "lesson text inserted unescaped");
    assert!(html.contains("A small run for the report tests."));
    let start = html.find("Headline figures").expect("headline table");
    let end = html[start..].find("</table>").expect("table end") + start;
    let table = &html[start..end];
    for arch in ["kappa", "lambda-unified"] {
        assert!(table.contains(&format!("</span>{arch}</td><td>")), "no headline row for {arch}");
    }
    assert_eq!(table.matches("<tr><td>").count(), 2, "one row per architecture");
    assert_eq!(html.matches("<svg").count(), CHARTS.len(), "every chart inline");
    assert!(!html.contains("http://") || only_svg_namespace(&html), "network reference");
    assert!(!html.contains("https://"), "network reference");
    assert!(!html.contains("<script"), "the report needs no scripts");
    assert!(html.contains("src/kappa/mod.rs") && html.contains("src/query/unified/definitions.rs"));
    assert_eq!(html.matches("<figcaption>").count(), CHARTS.len());
}

/// SVG's `xmlns="http://www.w3.org/2000/svg"` is a name, not a request: the only `http://`
/// allowed.
fn only_svg_namespace(html: &str) -> bool {
    html.replace("http://www.w3.org/2000/svg", "")
        .replace("http://www.w3.org/1999/xlink", "")
        .find("http://")
        .is_none()
}

#[test]
fn plot_and_report_regenerate_without_rerunning() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = run(tmp.path(), 8);
    std::fs::remove_dir_all(dir.join("plots")).expect("rm plots");
    std::fs::remove_file(dir.join("report.html")).expect("rm report");
    let charts = plot_dir(&dir).expect("plot");
    assert_eq!(charts.iter().map(|c| c.stem.as_str()).collect::<Vec<_>>(), CHARTS);
    assert!(!dir.join("report.html").exists(), "plot writes charts only");
    let report = plot_and_report(&dir).expect("report");
    assert_eq!(report, dir.join("report.html"));
    assert!(std::fs::read_to_string(report).expect("html").contains("<svg"));
}

#[test]
fn partial_and_old_results_are_handled_without_panics() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("old");
    std::fs::create_dir_all(&dir).expect("mkdir");
    // An older summary: no counters, no duplication, no staleness; no timeseries, no scenario.
    std::fs::write(
        dir.join("summary.json"),
        r#"{"scenario":"old <run>","architectures":{"kappa":{"freshness_ms":{"p50":5,"p99":9,"max":12},
           "error":{"mean_rel":0.1,"final_rel":0.0,"final_equals_oracle":true}},
           "some-future-arch":{"error":{"mean_rel":0.2}}}}"#,
    )
    .expect("write");
    let report = plot_and_report(&dir).expect("report from partial results");
    let html = std::fs::read_to_string(report).expect("html");
    assert!(html.contains("old &lt;run&gt;"));
    assert!(html.contains("some-future-arch"));
    assert!(dir.join("plots/freshness_percentiles.png").exists());
    assert!(!dir.join("plots/error_over_time.png").exists(), "no series, no chart");

    // Not a results directory: an error naming summary.json, not a panic.
    let err = plot_dir(&tmp.path().join("missing")).expect_err("no summary");
    assert!(err.to_string().contains("summary.json"), "{err}");
    // A malformed timeseries row is reported with its line.
    std::fs::write(dir.join("timeseries.csv"), "t_ms,architecture,metric,value\n1,kappa,x\n")
        .expect("write");
    let err = plot_dir(&dir).expect_err("bad csv");
    assert!(err.to_string().contains("line 2"), "{err}");
}
