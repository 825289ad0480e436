//! Charts are written as PNG and SVG, text renders with the embedded font, and odd data
//! (empty, single point, flat, NaN) never panics.

use std::path::Path;

use image::GenericImageView;
use lambda_workbench::plot::{CHART_SIZE, LineChart, PlotError, Series, draw_line_chart};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn two_series(title: &str) -> LineChart {
    LineChart {
        title: title.to_string(),
        x_label: "simulated time (s)".into(),
        y_label: "error (%)".into(),
        series: vec![
            Series {
                label: "lambda".into(),
                points: (0..60).map(|i| (i as f64, (i as f64 / 6.0).sin() * 10.0 + 20.0)).collect(),
            },
            Series {
                label: "kappa".into(),
                points: (0..60).map(|i| (i as f64, 30.0 - i as f64 / 3.0)).collect(),
            },
        ],
    }
}

/// Pixels in the band above the plot where the caption goes that are not (near) white.
fn ink_in_title_area(png: &Path) -> usize {
    let img = image::open(png).expect("decode png");
    assert_eq!(img.dimensions(), CHART_SIZE);
    let mut ink = 0;
    for y in 5..45 {
        for x in 100..924 {
            let p = img.get_pixel(x, y).0;
            if p[0] < 200 || p[1] < 200 || p[2] < 200 {
                ink += 1;
            }
        }
    }
    ink
}

fn assert_written(paths: &[std::path::PathBuf], stem: &Path) {
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[0], stem.with_file_name(format!("{}.png", name(stem))));
    assert_eq!(paths[1], stem.with_file_name(format!("{}.svg", name(stem))));
    let png = std::fs::read(&paths[0]).expect("png written");
    assert!(png.starts_with(PNG_SIGNATURE), "not a PNG");
    let svg = std::fs::read_to_string(&paths[1]).expect("svg written");
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "not an SVG");
}

fn name(stem: &Path) -> String {
    stem.file_name().expect("file name").to_string_lossy().into_owned()
}

#[test]
fn two_series_chart_writes_png_and_svg_with_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stem = dir.path().join("nested/dirs/error.v2");
    let paths = draw_line_chart(&two_series("Error against the oracle"), &stem).expect("draw");
    assert_written(&paths, &stem);

    let png = std::fs::read(&paths[0]).expect("png");
    assert!(png.len() > 10_000, "PNG suspiciously small: {} bytes", png.len());

    let svg = std::fs::read_to_string(&paths[1]).expect("svg");
    for text in ["Error against the oracle", "lambda", "kappa", "simulated time (s)", "error (%)"] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    assert!(svg.contains("Noto Sans"), "SVG does not ask for the embedded font");

    // The caption renders with the embedded font: ink where the title is, and none there
    // when the title is empty.
    let titled = ink_in_title_area(&paths[0]);
    let untitled_paths =
        draw_line_chart(&two_series(""), &dir.path().join("untitled")).expect("draw");
    let untitled = ink_in_title_area(&untitled_paths[0]);
    assert!(titled > 500, "title drew only {titled} dark pixels");
    assert!(untitled < titled / 10, "empty title still drew {untitled} pixels");
    assert_ne!(std::fs::read(&untitled_paths[0]).expect("png"), png);
}

#[test]
fn lines_use_distinct_colours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = draw_line_chart(&two_series("colours"), &dir.path().join("c")).expect("draw");
    let svg = std::fs::read_to_string(&paths[1]).expect("svg");
    // Tableau blue and orange, the first two series colours.
    assert!(svg.contains("#1F77B4") || svg.contains("#1f77b4"), "first series colour missing");
    assert!(svg.contains("#FF7F0E") || svg.contains("#ff7f0e"), "second series colour missing");
}

fn draws(chart: LineChart) {
    let dir = tempfile::tempdir().expect("tempdir");
    let stem = dir.path().join("chart");
    let paths = draw_line_chart(&chart, &stem).expect("draw");
    assert_written(&paths, &stem);
}

fn chart_with(series: Vec<Series>) -> LineChart {
    LineChart { title: "edge case".into(), x_label: "x".into(), y_label: "y".into(), series }
}

#[test]
fn no_series_does_not_panic() {
    draws(chart_with(vec![]));
}

#[test]
fn empty_series_does_not_panic() {
    draws(chart_with(vec![Series { label: "nothing".into(), points: vec![] }]));
}

#[test]
fn single_point_does_not_panic() {
    draws(chart_with(vec![Series { label: "one".into(), points: vec![(3.0, 7.0)] }]));
    draws(chart_with(vec![Series { label: "origin".into(), points: vec![(0.0, 0.0)] }]));
}

#[test]
fn all_equal_y_does_not_panic() {
    let points = (0..10).map(|i| (i as f64, 5.0)).collect();
    draws(chart_with(vec![Series { label: "flat".into(), points }]));
}

#[test]
fn non_finite_points_are_skipped() {
    let points = vec![
        (0.0, 1.0),
        (f64::NAN, 2.0),
        (2.0, f64::INFINITY),
        (3.0, f64::NEG_INFINITY),
        (4.0, 3.0),
        (f64::MAX, f64::MIN),
    ];
    draws(chart_with(vec![Series { label: "gaps".into(), points }]));
    let only_nan = vec![(f64::NAN, f64::NAN)];
    draws(chart_with(vec![Series { label: "nan".into(), points: only_nan }]));
}

#[test]
fn many_series_and_unlabelled_series() {
    let series = (0..14)
        .map(|k| Series {
            label: if k % 2 == 0 { format!("s{k}") } else { String::new() },
            points: (0..5).map(|i| (i as f64, (i * k) as f64)).collect(),
        })
        .collect();
    draws(chart_with(series));
}

#[test]
fn unicode_text_draws() {
    let mut chart = two_series("Fraîcheur — p99 ≤ 5 s");
    chart.series[0].label = "λ".into();
    draws(chart);
}

#[test]
fn bad_output_paths_are_errors_naming_the_path() {
    let err = draw_line_chart(&two_series("t"), Path::new("")).expect_err("empty stem");
    assert!(matches!(err, PlotError::BadPath { .. }), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let err = draw_line_chart(&two_series("t"), &file.join("chart")).expect_err("parent is a file");
    assert!(matches!(err, PlotError::CreateDir { .. }), "{err}");
    assert!(err.to_string().contains(&file.display().to_string()), "{err}");
}
