//! The batch layer's recompute vs DuckDB (how it scales with events: [`super::scaling`]).
//!
//! Ours is [`PolarsBatch::compute`], what a batch job runs: a hash aggregation (rayon over
//! partitions and segments) over the events in columns, each segment's columns decoded from
//! the log once and kept by the batch layer's column cache (`batch/columns.rs`); the figure
//! with the goal times that recompute, a second figure the cold one that decodes every record
//! from the log.
//! The baseline is DuckDB running the same query on the same rows, read from a Parquet file
//! that polars wrote from the log (`scripts/duckdb_baseline.py`, embedded in the binary), on
//! the same number of threads. Each side's time includes reading its input: the column cache
//! for us (building it from the log is reported beside), the Parquet file for DuckDB. Result
//! row counts are compared, so both computed the same groups, and the cached and cold
//! recomputes must give the same view.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use polars::prelude::*;

use super::{BenchConfig, BenchError, Figure, Goal, best_of_cpu, io_err, note};
use crate::batch::BatchCompute;
use crate::batch::lambda_polars::{PolarsBatch, Projection, read_events, read_frame};
use crate::log::{FsyncPolicy, Log, LogConfig, ManualClock, Record};
use crate::query::{QueryKind, QuerySet, QuerySpec};
use crate::scenario::Scenario;
use crate::workload::{self, Campaigns};

const TOPIC: &str = "events";
const WINDOW_MS: i64 = 10_000;
/// Records per appended batch.
const APPEND_BATCH: usize = 500;
/// The DuckDB baseline script, written next to the data at run time (so the binary does not
/// depend on the working directory).
const DUCKDB_SCRIPT: &str = include_str!("../../scripts/duckdb_baseline.py");

/// The YSB scenario (ad events, 1000 ads in 100 campaigns, 4 partitions) with a rate giving
/// `events` events.
fn ads_scenario(events: u64) -> Result<Scenario, BenchError> {
    let text = crate::scenario::bundled("ysb")
        .ok_or_else(|| BenchError::Check("bundled scenario `ysb` missing".into()))?;
    let mut s = Scenario::parse(text, Path::new("scenarios/ysb.toml"))?;
    let secs = (s.duration_ms / 1000).max(1) as u64;
    s.workload.rate_per_sec = events.div_ceil(secs).clamp(1, u64::from(u32::MAX)) as u32;
    Ok(s)
}

/// A log in `dir` holding `events` YSB ad events (4 partitions), and the campaign table they
/// refer to: the input of the batch measurements and of the criterion batch benches.
pub fn ads_log(dir: &Path, events: u64) -> Result<(Log, Arc<Campaigns>), BenchError> {
    let scenario = ads_scenario(events)?;
    let log = write_events(dir, &scenario, events)?;
    Ok((log, Arc::new(Campaigns::new(&scenario.workload, scenario.seed))))
}

/// One query of `kind` over 10 s tumbling windows, with the campaign table.
pub fn query_set(kinds: &[QueryKind], campaigns: &Arc<Campaigns>) -> QuerySet {
    QuerySet {
        specs: kinds
            .iter()
            .enumerate()
            .map(|(i, &k)| QuerySpec { id: i as u8, ..spec(k) })
            .collect(),
        campaigns: campaigns.clone(),
        ttl_ms: None,
    }
}

/// The topic [`ads_log`] writes.
pub const ADS_TOPIC: &str = TOPIC;

/// A log holding the first `events` events of `scenario`, partitioned by key like the
/// simulated driver's producer does.
fn write_events(dir: &Path, scenario: &Scenario, events: u64) -> Result<Log, BenchError> {
    let config = LogConfig { fsync: FsyncPolicy::Never, ..LogConfig::default() };
    let mut log = Log::open(dir, config, Arc::new(ManualClock::new(0)))?;
    let partitions = scenario.workload.partitions;
    log.create_topic(TOPIC, partitions)?;
    let mut pending: Vec<Vec<Record>> = vec![Vec::with_capacity(APPEND_BATCH); partitions as usize];
    let generated = workload::events(&scenario.workload, scenario.seed, scenario.duration_ms);
    for e in generated.take(events as usize) {
        let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.into_bytes());
        let topic = log.topic_mut(TOPIC)?;
        let p = topic.partition_for(record.key.as_deref());
        let batch = &mut pending[p as usize];
        batch.push(record);
        if batch.len() == APPEND_BATCH {
            topic.partition_mut(p)?.append(batch)?;
            batch.clear();
        }
    }
    for (p, batch) in pending.iter().enumerate() {
        log.topic_mut(TOPIC)?.partition_mut(p as u32)?.append(batch)?;
    }
    Ok(log)
}

pub(crate) fn spec(kind: QueryKind) -> QuerySpec {
    QuerySpec {
        id: 0,
        kind,
        window_ms: WINDOW_MS,
        slide_ms: WINDOW_MS,
        approximate: false,
        hll_precision: 12,
        exclude_bots: false,
    }
}

pub(crate) fn log_ends(log: &Log) -> Result<Vec<(u64, u64)>, BenchError> {
    Ok(log
        .topic(TOPIC)?
        .partitions()
        .iter()
        .map(|p| (p.log_start_offset(), p.log_end_offset()))
        .collect())
}

/// Visits every record of `ranges` with `for_each_record` and nothing else (partitions in
/// parallel, chunks as the batch reader's); returns the records visited.
fn log_read_only(log: &Log, ranges: &[(u64, u64)]) -> Result<u64, BenchError> {
    use rayon::prelude::*;
    let topic = log.topic(TOPIC)?;
    ranges
        .par_iter()
        .enumerate()
        .map(|(p, &(from, end))| {
            let partition = topic.partition(p as u32)?;
            let (mut next, mut n) = (from, 0u64);
            while next < end {
                let want = ((end - next) as usize).min(50_000);
                let after = partition.for_each_record(next, want, |_| {
                    n += 1;
                    std::ops::ControlFlow::Continue(())
                })?;
                if after == next {
                    break;
                }
                next = after;
            }
            Ok(n)
        })
        .sum()
}

/// Writes the events and the campaign table as Parquet for DuckDB.
fn write_parquet(
    log: &Log,
    campaigns: &Campaigns,
    dir: &Path,
) -> Result<(PathBuf, PathBuf), BenchError> {
    let mut df = read_events(log, TOPIC, &log_ends(log)?, "bench")?;
    let events = dir.join("events.parquet");
    let file = std::fs::File::create(&events).map_err(io_err("create", &events))?;
    ParquetWriter::new(file).finish(&mut df)?;
    let (ads, names): (Vec<&str>, Vec<&str>) = campaigns.iter().unzip();
    let mut table = DataFrame::new_infer_height(vec![
        Column::new("ad".into(), ads),
        Column::new("campaign".into(), names),
    ])?;
    let path = dir.join("campaigns.parquet");
    let file = std::fs::File::create(&path).map_err(io_err("create", &path))?;
    ParquetWriter::new(file).finish(&mut table)?;
    Ok((events, path))
}

/// What the DuckDB script reported: per query (best seconds, result rows), and its version.
#[derive(Debug)]
struct DuckDb {
    version: String,
    /// Per query: best wall seconds, CPU seconds of that best run, result rows.
    times: Vec<(QueryKind, f64, Option<f64>, u64)>,
}

/// Makes sure the `duckdb` module imports, installing it with pip when allowed. The error
/// says why the baseline is skipped.
fn ensure_duckdb(python: &Path, install: bool) -> Result<(), String> {
    let imports = |p: &Path| {
        Command::new(p).args(["-c", "import duckdb"]).output().is_ok_and(|o| o.status.success())
    };
    if Command::new(python).arg("--version").output().is_err() {
        return Err(format!("{} not found", python.display()));
    }
    if imports(python) {
        return Ok(());
    }
    if !install {
        return Err("the duckdb Python module is missing (pip install duckdb)".into());
    }
    note("installing DuckDB's Python package (pip install duckdb) ...");
    let out = Command::new(python)
        .args(["-m", "pip", "install", "--quiet", "duckdb"])
        .output()
        .map_err(|e| format!("pip install duckdb: {e}"))?;
    if !out.status.success() || !imports(python) {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("pip install duckdb failed: {}", err.trim()));
    }
    Ok(())
}

fn run_duckdb(
    cfg: &BenchConfig,
    work: &Path,
    events: &Path,
    campaigns: &Path,
    threads: usize,
) -> Result<DuckDb, String> {
    let python = cfg.python.as_deref().ok_or("baseline disabled (--no-duckdb)")?;
    ensure_duckdb(python, cfg.install_duckdb)?;
    let script = work.join("duckdb_baseline.py");
    std::fs::write(&script, DUCKDB_SCRIPT).map_err(|e| format!("{}: {e}", script.display()))?;
    let out = Command::new(python)
        .arg(&script)
        .arg(events)
        .arg(campaigns)
        .args(["--threads", &threads.to_string(), "--window-ms", &WINDOW_MS.to_string()])
        .args(["--repeats", &cfg.sizes.repeats.max(1).to_string()])
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "duckdb script failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("duckdb script printed no JSON ({e})"))?;
    let mut times = Vec::new();
    for kind in [QueryKind::KeySum, QueryKind::CampaignWindowCount] {
        let q = &v[kind.name()];
        let (Some(s), Some(rows)) = (q["best_s"].as_f64(), q["rows"].as_u64()) else {
            return Err(format!("duckdb script output lacks {}", kind.name()));
        };
        times.push((kind, s, q["cpu_s"].as_f64(), rows));
    }
    Ok(DuckDb { version: v["version"].as_str().unwrap_or("?").to_owned(), times })
}

/// Measures the recompute against DuckDB, then the recompute's scaling.
pub fn run(work: &Path, cfg: &BenchConfig, add: &mut dyn FnMut(Figure)) -> Result<(), BenchError> {
    let sizes = &cfg.sizes;
    let n = sizes.batch_events;
    let scenario = ads_scenario(n)?;
    let campaigns = Arc::new(Campaigns::new(&scenario.workload, scenario.seed));
    let dir = work.join("batch");
    let t = Instant::now();
    let log = write_events(&dir.join("log"), &scenario, n)?;
    note(&format!("log of {n} events written in {:.1} s", t.elapsed().as_secs_f64()));
    let threads = rayon::current_num_threads();
    let ranges = log_ends(&log)?;
    let cutoff: Vec<u64> = ranges.iter().map(|r| r.1).collect();

    // Where the time goes, step by step: the log's read path alone (partitions in
    // parallel), then read + decode into the query-input columns (what a recompute does before
    // polars), and the whole recompute below.
    let (log_read_s, log_read_cpu, records) =
        best_of_cpu(sizes.repeats, || log_read_only(&log, &ranges))?;
    let (frame_s, frame_cpu, height) = best_of_cpu(sizes.repeats, || {
        Ok(read_frame(&log, TOPIC, &ranges, Projection::QueryInput, "bench")?.height())
    })?;
    if records != n || height as u64 != n {
        return Err(BenchError::Check(format!("batch read {records} / {height} of {n} events")));
    }

    let (events_pq, campaigns_pq) = write_parquet(&log, &campaigns, &dir)?;
    let duck = run_duckdb(cfg, &dir, &events_pq, &campaigns_pq, threads);
    if let Err(why) = &duck {
        note(&format!("DuckDB baseline skipped: {why}"));
    }
    for kind in [QueryKind::KeySum, QueryKind::CampaignWindowCount] {
        let queries =
            QuerySet { specs: vec![spec(kind)], campaigns: campaigns.clone(), ttl_ms: None };
        // Cold: every recompute decodes every record from the log (no columns kept).
        let (cold_s, cold_cpu, (cold_view, cold_read)) = best_of_cpu(sizes.repeats, || {
            Ok(PolarsBatch::without_column_cache().compute(&log, TOPIC, &cutoff, &queries)?)
        })?;
        // Warm: the batch layer's own column cache, built by its first recompute from the log
        // (timed on its own, like the Parquet file DuckDB reads is written before its clock
        // starts), then the recompute a batch job runs on every later cycle.
        let batch = PolarsBatch::new();
        let t = Instant::now();
        let (first_view, _) = batch.compute(&log, TOPIC, &cutoff, &queries)?;
        let build_s = t.elapsed().as_secs_f64();
        let (ours_s, ours_cpu, (view, read)) =
            best_of_cpu(sizes.repeats, || Ok(batch.compute(&log, TOPIC, &cutoff, &queries)?))?;
        if read != n || cold_read != n {
            return Err(BenchError::Check(format!("batch {}: read {read} of {n}", kind.name())));
        }
        if view != cold_view || view != first_view {
            return Err(BenchError::Check(format!(
                "batch {}: the recompute from cached columns differs from decoding the log",
                kind.name()
            )));
        }
        let stats = batch.column_cache().stats();
        let mut notes = format!(
            "{n} YSB events, 10 s tumbling windows, {threads} threads. Timed: the recompute \
             from the batch layer's column cache (each segment's events decoded once from the \
             log by our code, kept while the segment is unchanged; {} segments, {:.0} MiB; \
             this run decoded {} records and read {} pieces from the cache); the first \
             recompute, which built the cache from the log, took {build_s:.3} s; a cold \
             recompute decoding every record took {cold_s:.3} s. Steps measured on their own, \
             wall s: log visit (for_each_record) {log_read_s:.3}, log visit + decode into \
             polars columns {frame_s:.3}",
            stats.segments,
            stats.bytes as f64 / (1 << 20) as f64,
            stats.records_decoded,
            stats.hits,
        );
        if let (Some(r), Some(f), Some(o), Some(c)) = (log_read_cpu, frame_cpu, ours_cpu, cold_cpu)
        {
            notes.push_str(&format!(
                "; CPU s (all threads): log read {r:.2}, decode into polars columns {:.2}, \
                 cold recompute {c:.2}, recompute from the cache {o:.2}",
                (f - r).max(0.0),
            ));
        }
        let mut cold_baseline = None;
        let baseline = match &duck {
            Ok(d) => d.times.iter().find(|t| t.0 == kind).map(|&(_, s, cpu, rows)| {
                if let (Some(ours), Some(theirs)) = (ours_cpu, cpu) {
                    notes.push_str(&format!(
                        "; CPU s total: ours {ours:.2}, duckdb {theirs:.2} (ratio {:.1})",
                        ours / theirs.max(1e-9)
                    ));
                }
                if rows != view.len() as u64 {
                    notes.push_str(&format!(
                        "; RESULT ROWS DIFFER: ours {} duckdb {rows}",
                        view.len()
                    ));
                }
                let name = format!("duckdb {} from Parquet", d.version);
                cold_baseline = Some((s, name.clone()));
                (s, name)
            }),
            Err(why) => {
                notes.push_str(&format!("; baseline skipped: {why}"));
                None
            }
        };
        add(Figure::new(
            "batch",
            format!("batch recompute {}", kind.name()),
            "s",
            ours_s,
            baseline,
            Some(Goal { ratio_at_most: Some(1.0), ..Goal::default() }),
            notes,
        ));
        let mut cold_notes = format!(
            "the same recompute without the column cache: every record's value text parsed \
             from the log (what the first recompute after a restart does); CPU s {}",
            cold_cpu.map_or("-".into(), |c| format!("{c:.2}"))
        );
        if let Err(why) = &duck {
            cold_notes.push_str(&format!("; baseline skipped: {why}"));
        }
        add(Figure::new(
            "batch",
            format!("batch recompute {}, cold (decode every record)", kind.name()),
            "s",
            cold_s,
            cold_baseline,
            None,
            cold_notes,
        ));
    }
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `1M`, `250k`, `100M`.
pub(crate) fn scale_label(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}
