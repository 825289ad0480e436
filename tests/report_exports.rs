//! Everything tabular in a results directory loads without cleaning: strict CSV (one header,
//! the same column count on every row, numeric columns parse) and valid JSON.

use crate::report_common;

use std::path::Path;

fn strict_csv(path: &Path, header: &[&str], numeric: &[usize]) -> usize {
    let text = std::fs::read_to_string(path).expect("csv readable");
    assert!(text.ends_with('\n'), "{}: last line unterminated", path.display());
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(head, header, "{}: header", path.display());
    let mut rows = 0;
    for (i, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), header.len(), "{}:{}: `{line}`", path.display(), i + 2);
        for &c in numeric {
            assert!(
                fields[c].parse::<f64>().is_ok_and(f64::is_finite),
                "{}:{}: column {} = `{}` is not a number",
                path.display(),
                i + 2,
                header[c],
                fields[c]
            );
        }
        assert!(fields.iter().all(|f| !f.contains('"')), "{}:{}: quoting", path.display(), i + 2);
        rows += 1;
    }
    rows
}

#[test]
fn timeseries_and_final_views_are_strict_csv() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = report_common::run(tmp.path(), 11);
    let n = strict_csv(
        &dir.join("timeseries.csv"),
        &["t_ms", "architecture", "metric", "value"],
        &[0, 3],
    );
    assert!(n > 100, "only {n} timeseries rows");
    let mut views = 0;
    for entry in std::fs::read_dir(dir.join("final_views")).expect("final_views") {
        let path = entry.expect("entry").path();
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("csv"));
        let rows = strict_csv(
            &path,
            &["query", "key", "window_start_ms", "window_end_ms", "value"],
            &[2, 3, 4],
        );
        assert!(rows > 0, "{}: empty", path.display());
        views += 1;
    }
    assert_eq!(views, 3, "kappa, lambda-unified and oracle");
    for json in ["summary.json", "timing.json"] {
        let text = std::fs::read_to_string(dir.join(json)).expect(json);
        serde_json::from_str::<serde_json::Value>(&text).expect(json);
    }
}

/// Runs `scripts/check_exports.py` (polars, pandas and DuckDB in Python) on a results directory
/// with `events.parquet`: every file loads with the right types, and DuckDB's recompute of the
/// final views from the exported events equals them. Skipped, saying why, when Python or its
/// packages are missing (`scripts/test` installs them).
#[test]
fn python_tools_load_every_export_and_duckdb_recomputes_the_views() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = report_common::run(tmp.path(), 12);
    lambda_workbench::run::export_events(&dir).expect("export events");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/check_exports.py");
    let out = match std::process::Command::new("python3").arg(&script).arg(&dir).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: python3 not runnable ({e})");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        eprintln!("SKIPPED: {stdout}");
        return;
    }
    assert!(out.status.success(), "check_exports.py failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("recomputed 3 final views"),
        "key_window_count of kappa, lambda-unified and the oracle:\n{stdout}"
    );
}
