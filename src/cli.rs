//! Command-line parsing only (clap derive); the library does the work.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Runs data architectures side by side over one shared log and measures what separates them.
#[derive(Debug, Parser)]
#[command(name = "workbench", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario through every architecture it names and write results.
    Run {
        /// The scenario file (TOML), or the name of a bundled scenario (`workbench list`).
        scenario: PathBuf,
        /// Results directory; the run writes `OUT/<scenario-name>/`.
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Also write every event of the run's log to `OUT/<scenario-name>/events.parquet`.
        #[arg(long)]
        export_events: bool,
        /// Run on the wall clock whatever the scenario's `clock` says: the workload takes its
        /// `duration_ms` in real time; Ctrl-C stops it and keeps partial results.
        #[arg(long)]
        realtime: bool,
        /// Use the cost model measured by `workbench calibrate` (its TOML file) instead of the
        /// scenario's batch, speed and lake costs; the file is copied into the results.
        #[arg(long, value_name = "FILE")]
        calibration: Option<PathBuf>,
    },
    /// Redraw every chart of a results directory into DIR/plots/ (PNG and SVG).
    Plot {
        /// A results directory (written by `workbench run`).
        dir: PathBuf,
    },
    /// Redraw the charts and write DIR/report.html (self-contained; open it in a browser).
    Report {
        /// A results directory (written by `workbench run`).
        dir: PathBuf,
    },
    /// Put the key figures of several runs on one chart each and one table.
    Compare {
        /// Results directories to compare (two or more make sense).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where the charts, compare.md and compare.html go.
        #[arg(long, default_value = "results/compare")]
        out: PathBuf,
    },
    /// The bundled scenarios, one line each.
    List,
    /// What a scenario teaches, in plain words.
    Explain {
        /// A scenario file, or the name of a bundled scenario.
        scenario: PathBuf,
    },
    /// Measure every layer against a baseline in the same run (table, DIR/bench.json, chart).
    Bench {
        /// CI smoke sizes: about a minute instead of several.
        #[arg(long)]
        quick: bool,
        /// Where bench.json, bench.md and bench.png/.svg go (scratch data in OUT/work, removed).
        #[arg(long, default_value = "results/bench")]
        out: PathBuf,
        /// Skip the DuckDB baseline (otherwise it is pip-installed when missing).
        #[arg(long)]
        no_duckdb: bool,
        /// Python interpreter for the DuckDB baseline.
        #[arg(long, default_value = "python3")]
        python: PathBuf,
        /// Only these measurements; repeatable.
        // The names come from the bench's own list, so the help (clap appends the possible
        // values) and the bench's check cannot drift apart.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(
            lambda_workbench::bench::MEASUREMENTS
        ))]
        only: Vec<String>,
    },
    /// Measure this code's batch, stream and lake costs on this machine and write them as a
    /// cost model for `workbench run --calibration FILE`.
    Calibrate {
        /// Events in the larger of the two generated logs (the smaller has a quarter).
        #[arg(long, default_value_t = 400_000)]
        events: u64,
        /// Where the cost model (TOML) goes.
        #[arg(long, default_value = "calibration.toml")]
        out: PathBuf,
        /// Scratch directory for the generated logs (removed after).
        #[arg(long, default_value = "results/calibrate-work")]
        work: PathBuf,
    },
    /// The log on its own, like Kafka's console tools.
    Log {
        /// What to do with the log.
        #[command(subcommand)]
        command: LogCommand,
    },
}

/// `workbench log ...`
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Append stdin, one record per line; exit 0 once every line is durable per --fsync.
    Produce {
        /// Log directory.
        #[arg(long)]
        dir: PathBuf,
        /// Topic (created if missing).
        #[arg(long)]
        topic: String,
        /// Partitions when the topic is created.
        #[arg(long, default_value_t = 1)]
        partitions: u32,
        /// When appends are durable.
        #[arg(long, value_enum, default_value_t = Fsync::Always)]
        fsync: Fsync,
        /// Interval for --fsync interval, in ms.
        #[arg(long, default_value_t = 1000)]
        fsync_interval_ms: u64,
        /// Split a key off each line at the first occurrence of this character.
        #[arg(long)]
        key_sep: Option<char>,
        /// Roll segments at this many bytes (hidden: for tests that need several segments).
        #[arg(long, hide = true)]
        segment_bytes: Option<u64>,
        /// Print `ack <partition> <first offset> <last offset>` on stdout as each batch becomes
        /// durable per --fsync (for crash tests: every printed ack must survive a kill -9).
        #[arg(long)]
        print_acks: bool,
    },
    /// Print a topic's values, one per line, partition by partition in offset order.
    Consume {
        /// Log directory.
        #[arg(long)]
        dir: PathBuf,
        /// Topic.
        #[arg(long)]
        topic: String,
        /// Start at each partition's first offset (the default; kept for Kafka muscle memory).
        #[arg(long)]
        from_beginning: bool,
        /// Only this partition.
        #[arg(long)]
        partition: Option<u32>,
        /// Start at the first record whose timestamp is ≥ this (ms).
        #[arg(long)]
        from_time: Option<i64>,
    },
    /// Show topics, partitions, segments, offsets, sizes and time ranges.
    Describe {
        /// Log directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// `--fsync` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Fsync {
    /// fsync before every acknowledgement.
    Always,
    /// fsync at most every --fsync-interval-ms.
    Interval,
    /// Leave it to the OS.
    Never,
}
