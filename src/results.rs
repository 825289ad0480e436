//! Reading a results directory back (the files [`crate::report`] writes), so charts, the HTML
//! report and comparisons can be regenerated without rerunning anything.
//!
//! Reading is forgiving: only `summary.json` is required. A missing `timeseries.csv` or
//! `scenario.toml`, a field an older version did not write, or an architecture without some
//! counter all read as "not measured" (`None`, an empty series), never as an error or a zero.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::plot::{PlotError, arch_rank};

/// Why a results directory could not be read or its outputs written.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// A file could not be read (for `summary.json`: the directory is not a results directory).
    #[error("{}: cannot read: {source} (is this a results directory written by `workbench run`?)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is not in the expected format.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line when known.
        message: String,
    },
    /// An output could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A chart could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// A moment worth marking on time charts (a reprocessing start, a fault, a logic change).
#[derive(Debug, Clone, PartialEq)]
pub struct Moment {
    /// Simulated time, ms.
    pub t_ms: i64,
    /// Short label (e.g. "kappa reprocess").
    pub label: String,
}

/// Time series by `(architecture, metric)`: `(t_ms, value)` points in file order.
pub type SeriesMap = BTreeMap<(String, String), Vec<(f64, f64)>>;

/// One results directory, read back.
#[derive(Debug, Clone)]
pub struct RunResults {
    /// The directory.
    pub dir: PathBuf,
    /// Scenario name (from the summary, else the scenario file, else the directory name).
    pub name: String,
    /// The scenario's one-line description (empty when unknown).
    pub description: String,
    /// What the scenario teaches (empty when unknown).
    pub lesson: String,
    /// `summary.json` as written.
    pub summary: Value,
    /// Architecture ids in the summary, in the fixed order of [`crate::plot::ARCH_STYLES`].
    pub architectures: Vec<String>,
    /// `timeseries.csv`: `(architecture, metric)` → `(t_ms, value)` points in file order.
    pub series: SeriesMap,
    /// Moments to mark on time charts; see [`moments`].
    pub moments: Vec<Moment>,
}

impl RunResults {
    /// Reads `dir` (see the module docs for what may be missing).
    pub fn load(dir: &Path) -> Result<RunResults, ResultsError> {
        let summary_path = dir.join("summary.json");
        let text = std::fs::read_to_string(&summary_path)
            .map_err(|source| ResultsError::Read { path: summary_path.clone(), source })?;
        let summary: Value = serde_json::from_str(&text).map_err(|e| ResultsError::Parse {
            path: summary_path.clone(),
            message: format!("not valid JSON: {e}"),
        })?;
        let mut architectures: Vec<String> = summary
            .get("architectures")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        architectures.sort_by(|a, b| arch_rank(a).cmp(&arch_rank(b)).then(a.cmp(b)));

        let scenario_path = dir.join("scenario.toml");
        let scenario: toml::Table = match std::fs::read_to_string(&scenario_path) {
            Ok(text) => text.parse().map_err(|e: toml::de::Error| ResultsError::Parse {
                path: scenario_path.clone(),
                message: format!("not valid TOML: {}", e.message()),
            })?,
            Err(_) => toml::Table::new(),
        };
        let str_of = |v: Option<&toml::Value>| v.and_then(toml::Value::as_str).map(str::to_owned);
        let name = summary
            .get("scenario")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| str_of(scenario.get("name")))
            .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "results".into());

        let series_path = dir.join("timeseries.csv");
        let series = match std::fs::read_to_string(&series_path) {
            Ok(text) => parse_timeseries(&text, &series_path)?,
            Err(_) => BTreeMap::new(),
        };
        let mut found = moments(&scenario);
        found.extend(read_markers_csv(&dir.join("markers.csv")));
        found.sort_by_key(|m| m.t_ms);

        Ok(RunResults {
            dir: dir.to_path_buf(),
            name,
            description: str_of(scenario.get("description")).unwrap_or_default(),
            lesson: str_of(scenario.get("lesson")).unwrap_or_default(),
            summary,
            architectures,
            series,
            moments: found,
        })
    }

    /// The number at `path` under architecture `arch` in the summary (e.g.
    /// `["freshness_ms", "p50"]`), if present and numeric.
    pub fn figure(&self, arch: &str, path: &[&str]) -> Option<f64> {
        self.arch_value(arch, path).and_then(Value::as_f64)
    }

    /// The value at `path` under architecture `arch` in the summary.
    pub fn arch_value(&self, arch: &str, path: &[&str]) -> Option<&Value> {
        let mut v = self.summary.get("architectures")?.get(arch)?;
        for key in path {
            v = v.get(key)?;
        }
        Some(v)
    }

    /// A run-level number in the summary (e.g. `events`).
    pub fn run_figure(&self, key: &str) -> Option<f64> {
        self.summary.get(key).and_then(Value::as_f64)
    }

    /// The points of `metric` for `arch` (`log` for log-wide metrics); empty when absent.
    pub fn points(&self, arch: &str, metric: &str) -> &[(f64, f64)] {
        self.series.get(&(arch.to_owned(), metric.to_owned())).map_or(&[], Vec::as_slice)
    }
}

/// Parses `timeseries.csv` (`t_ms,architecture,metric,value`), strictly: a malformed row is an
/// error naming its line (the file is machine-written; a bad row means a bad file).
pub fn parse_timeseries(text: &str, path: &Path) -> Result<SeriesMap, ResultsError> {
    let mut out = SeriesMap::new();
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, "t_ms,architecture,metric,value")) | None => {}
        Some((_, header)) => {
            return Err(ResultsError::Parse {
                path: path.to_owned(),
                message: format!(
                    "line 1: expected header `t_ms,architecture,metric,value`, found `{header}`"
                ),
            });
        }
    }
    for (i, line) in lines.filter(|(_, l)| !l.is_empty()) {
        let bad = |what: &str| ResultsError::Parse {
            path: path.to_owned(),
            message: format!("line {}: {what}: `{line}`", i + 1),
        };
        let fields: Vec<&str> = line.split(',').collect();
        let [t, arch, metric, value] = fields[..] else {
            return Err(bad("expected 4 fields"));
        };
        let t: f64 = t.parse().map_err(|_| bad("t_ms is not a number"))?;
        let value: f64 = value.parse().map_err(|_| bad("value is not a number"))?;
        out.entry((arch.to_owned(), metric.to_owned())).or_default().push((t, value));
    }
    Ok(out)
}

/// The moments a scenario schedules, for marking on time charts:
/// - `[kappa] reprocess_at_ms = [...]` → "kappa reprocess";
/// - `[[faults]]` tables with `at_ms` and `kind` (or `type`) → the kind (for the fault timeline
///   when it lands; unknown shapes are ignored).
///
/// A results directory may also hold `markers.csv` (`t_ms,label`), for moments only the driver
/// knows (a batch job failing, a reprocessing switch); [`RunResults::load`] reads both.
pub fn moments(scenario: &toml::Table) -> Vec<Moment> {
    let mut out = Vec::new();
    let reprocess = scenario
        .get("kappa")
        .and_then(|k| k.get("reprocess_at_ms"))
        .and_then(toml::Value::as_array);
    for t in reprocess.into_iter().flatten().filter_map(toml::Value::as_integer) {
        out.push(Moment { t_ms: t, label: "kappa reprocess".into() });
    }
    let faults = scenario.get("faults").and_then(toml::Value::as_array);
    for fault in faults.into_iter().flatten() {
        let at = fault.get("at_ms").and_then(toml::Value::as_integer);
        let kind = fault
            .get("kind")
            .or_else(|| fault.get("type"))
            .and_then(toml::Value::as_str)
            .unwrap_or("fault");
        if let Some(t_ms) = at {
            out.push(Moment { t_ms, label: kind.to_owned() });
        }
    }
    out
}

/// `markers.csv` (`t_ms,label`, header optional); unreadable or malformed rows are skipped.
fn read_markers_csv(path: &Path) -> Vec<Moment> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    text.lines()
        .filter_map(|line| {
            let (t, label) = line.split_once(',')?;
            Some(Moment { t_ms: t.trim().parse().ok()?, label: label.trim().to_owned() })
        })
        .collect()
}

/// Writes `contents` to `path`, creating parent directories.
pub(crate) fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), ResultsError> {
    let io = |source| ResultsError::Write { path: path.to_owned(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, contents).map_err(io)
}
