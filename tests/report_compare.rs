//! `workbench compare`: one chart per key figure with a group per run, and one table.

use crate::report_common;

use lambda_workbench::compare::compare;

#[test]
fn two_seeds_compare_on_one_chart_and_table() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = report_common::run(&tmp.path().join("a"), 1);
    let b = report_common::run(&tmp.path().join("b"), 2);
    let out = tmp.path().join("compare");
    let c = compare(&[a, b], &out).expect("compare");
    // Same scenario name twice: the seed tells the runs apart.
    assert_eq!(c.runs, ["report-test (seed 1)", "report-test (seed 2)"]);
    for stem in ["freshness_p50", "error_mean", "events_read", "logic_lines"] {
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).expect(stem);
        assert!(svg.contains("report-test (seed 1)") && svg.contains("report-test (seed 2)"));
        assert!(out.join(format!("{stem}.png")).exists());
    }
    let rows = c.markdown.lines().filter(|l| l.starts_with("| report-test")).count();
    assert_eq!(rows, 4, "two runs × two architectures:\n{}", c.markdown);
    assert_eq!(std::fs::read_to_string(out.join("compare.md")).expect("md"), c.markdown);
    let html = std::fs::read_to_string(&c.html).expect("html");
    assert!(html.contains("<svg") && !html.contains("https://") && !html.contains("<script"));
}
