//! The malformed-scenario corpus (issue #9 item 6): every file in `tests/malformed-scenarios/`
//! is wrong in one way — a wrong type, an unknown field, a negative duration, a zero rate, a
//! window longer than the run, contradictory settings, a huge value — and starts with
//! `# expect field: NAME`. Loading it must fail with a one-line error naming the file, a line
//! and that field; never a panic, never a scenario that would hang or exhaust memory when run.
//! Add a case by adding a file.

use std::path::Path;

use lambda_workbench::scenario::Scenario;

/// Whether the error's field path (`workload.bursts[1].start_ms`, `architectures[1]`) ends in
/// the field `want`.
fn names(path: Option<&str>, want: &str) -> bool {
    let Some(path) = path else { return false };
    let last = path.rsplit('.').next().unwrap_or(path);
    last.split('[').next() == Some(want)
}

#[test]
fn every_malformed_scenario_is_a_clear_error_naming_its_field() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed-scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|e| e.expect("list corpus").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "the corpus shrank to {} files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).expect("read case");
        let field = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect field: "))
            .unwrap_or_else(|| {
                panic!("{}: first line must be `# expect field: NAME`", path.display())
            })
            .trim()
            .to_owned();
        let loaded = std::panic::catch_unwind(|| Scenario::load(path));
        let problem = match loaded {
            Err(_) => Some("panicked".to_owned()),
            Ok(Ok(_)) => Some("was accepted".to_owned()),
            Ok(Err(e)) => {
                let msg = e.to_string();
                let file = path.file_name().unwrap().to_string_lossy().into_owned();
                if msg.contains('\n') {
                    Some(format!("multi-line error: {msg:?}"))
                } else if !msg.contains(&file) || e.line().is_none() {
                    Some(format!("no file:line in: {msg}"))
                } else if !names(e.field(), &field) || !msg.contains("field `") {
                    Some(format!("does not name `{field}`: {msg}"))
                } else {
                    None
                }
            }
        };
        if let Some(p) = problem {
            failures.push(format!("{}: {p}", path.file_name().unwrap().to_string_lossy()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
