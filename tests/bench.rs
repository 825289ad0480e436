//! `workbench bench` end to end in a tiny configuration: every measurement's code path runs,
//! bench.json has the documented shape and every ratio is finite. No timing is asserted.

use lambda_workbench::bench::{BenchConfig, BenchReport, Sizes, run};

#[test]
fn tiny_bench_writes_a_well_formed_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench");
    // The DuckDB baseline needs Python; the skip path is what a bare CI machine takes.
    let cfg = BenchConfig {
        out: out.clone(),
        quick: true,
        sizes: Sizes::tiny(),
        python: None,
        install_duckdb: false,
        only: Vec::new(),
    };
    let report = run(&cfg).unwrap();
    for file in ["bench.json", "bench.md", "bench.png", "bench.svg"] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    assert!(!out.join("work").exists(), "scratch data is removed");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bench.json")).unwrap()).unwrap();
    let back: BenchReport = serde_json::from_value(json.clone()).unwrap();
    // Floats may differ in the last digit after a JSON round trip; the structure may not.
    assert_eq!(back.sizes, report.sizes);
    let names = |r: &BenchReport| r.figures.iter().map(|f| f.figure.clone()).collect::<Vec<_>>();
    assert_eq!(names(&back), names(&report));
    let groups: Vec<&str> = report.figures.iter().map(|f| f.group.as_str()).collect();
    for g in ["append", "replay", "speed", "batch", "sim", "scaling"] {
        assert!(groups.contains(&g), "no {g} figure in {groups:?}");
    }
    assert_eq!(groups.iter().filter(|g| **g == "append").count(), 4);
    for f in &json["figures"].as_array().unwrap()[..] {
        for field in ["figure", "unit", "ours", "baseline", "ratio", "goal", "met", "notes"] {
            assert!(f.get(field).is_some(), "{field} missing in {f}");
        }
    }
    for f in &report.figures {
        assert!(f.ours.is_finite() && f.ours > 0.0, "{}: ours = {}", f.figure, f.ours);
        if let Some(b) = f.baseline {
            let r = f.ratio.unwrap_or_else(|| panic!("{}: baseline without ratio", f.figure));
            assert!(r.is_finite() && r > 0.0, "{}: ratio {r}", f.figure);
            assert!((r - f.ours / b).abs() <= 1e-9 * r.max(1.0));
        }
        if f.group == "batch" {
            // Skipped baseline: no ratio, no verdict, and the notes say why.
            assert_eq!((f.baseline, f.ratio, f.met), (None, None, None), "{}", f.figure);
            assert!(f.notes.contains("skipped"), "{}", f.notes);
        }
        if ["append", "replay", "speed"].contains(&f.group.as_str()) {
            assert!(f.met.is_some(), "{} has a goal and a baseline", f.figure);
        }
    }
    let table = std::fs::read_to_string(out.join("bench.md")).unwrap();
    assert_eq!(table.lines().filter(|l| l.starts_with("| ")).count(), report.figures.len() + 1);
}

/// `workbench bench --help` lists every name `--only` accepts (it once left out `scaling`),
/// and an unknown name is refused with the list, before anything runs.
#[test]
fn the_only_flag_lists_and_checks_every_measurement() {
    use lambda_workbench::bench::MEASUREMENTS;
    let bin = env!("CARGO_BIN_EXE_workbench");
    let help = std::process::Command::new(bin).args(["bench", "--help"]).output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    let only = help.lines().skip_while(|l| !l.contains("--only")).collect::<Vec<_>>().join(" ");
    for name in MEASUREMENTS {
        assert!(only.contains(name), "`--only` help does not list {name}: {only}");
    }
    let bad = std::process::Command::new(bin)
        .args(["bench", "--only", "appendd", "--out"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8(bad.stderr).unwrap();
    assert!(err.contains("appendd") && err.contains("scaling"), "{err}");
}
