//! `report.html` in a real headless browser (Debian's chromium): the page loads with no console
//! messages and its charts are visible in a screenshot. `scripts/browser-test.sh` installs
//! chromium when it is missing; without it this test prints why it skips and passes.

use crate::report_common;

use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(profile: &Path, args: &[String]) -> std::process::Output {
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("run chromium")
}

/// Console messages chromium logged while loading `page` (it logs them as `:CONSOLE` lines).
fn console_messages(profile: &Path, page: &Path) -> (String, Vec<String>) {
    let out = chromium(profile, &["--dump-dom".into(), format!("file://{}", page.display())]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console = stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_owned).collect();
    (String::from_utf8_lossy(&out.stdout).into_owned(), console)
}

fn available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    eprintln!(
        "SKIPPED report_browser: {CHROMIUM} not found; run scripts/browser-test.sh (installs \
         Debian's chromium with apt-get) to test report.html in a headless browser"
    );
    false
}

#[test]
fn report_loads_without_console_errors_and_charts_are_visible() {
    if !available() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = report_common::run(&tmp.path().join("results"), 5);
    let report: PathBuf = dir.join("report.html").canonicalize().expect("report");

    // The console check can fail: a page with a script error is caught.
    let bad = tmp.path().join("bad.html");
    std::fs::write(&bad, "<html><body><script>notDefined();</script></body></html>")
        .expect("write");
    let (_, messages) = console_messages(&tmp.path().join("profile-bad"), &bad);
    assert!(!messages.is_empty(), "console capture is blind: a script error went unseen");

    let (dom, messages) = console_messages(&tmp.path().join("profile-dom"), &report);
    assert!(
        messages.is_empty(),
        "console messages while loading the report:\n{}",
        messages.join("\n")
    );
    assert_eq!(
        dom.matches("<svg").count(),
        report_common::CHARTS.len(),
        "charts in the loaded DOM"
    );
    assert!(dom.contains(report_common::LESSON.split(' ').next().unwrap_or("Kappa")));

    let shot = tmp.path().join("report.png");
    let out = chromium(
        &tmp.path().join("profile-shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,4000".into(),
            format!("file://{}", report.display()),
        ],
    );
    assert!(
        shot.exists(),
        "no screenshot; chromium said:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&shot).expect("decode screenshot").to_rgb8();
    assert_eq!(img.dimensions(), (1280, 4000));
    let ink = img.pixels().filter(|p| p.0.iter().any(|&c| c < 230)).count();
    assert!(ink > 50_000, "screenshot nearly blank: {ink} non-white pixels");
    // Kappa's orange lines and bars: the SVG charts rendered, not just the text.
    let orange = img
        .pixels()
        .filter(|p| p.0[0] > 230 && (100..150).contains(&p.0[1]) && p.0[2] < 60)
        .count();
    assert!(orange > 2_000, "kappa's colour barely visible ({orange} px): charts not drawn?");
    // Every chart lies below the top of the page: its pixel band is not blank either.
    for band in img.rows().collect::<Vec<_>>().chunks(1000) {
        let ink = band
            .iter()
            .flat_map(|row| row.clone())
            .filter(|p| p.0.iter().any(|&c| c < 230))
            .count();
        assert!(ink > 5_000, "a 1000-pixel band of the page is blank");
    }
}
