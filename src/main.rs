//! `workbench`: the thin binary edge. Parses arguments, calls the library, reports errors.

mod cli;

/// mimalloc instead of glibc's malloc: the log's reader and the layers allocate small buffers
/// on many threads, and glibc's arenas (`malloc_consolidate`, `_int_free`) were the largest
/// single cost in profiles of `workbench bench` and of simulated runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{self, BufWriter, Write};

use anyhow::Context;
use clap::Parser;
use lambda_workbench::log::FsyncPolicy;
use lambda_workbench::log::console::{self, ConsumeOptions, ProduceOptions};

use cli::{Cli, Command, Fsync, LogCommand};

/// `mi_option_purge_delay` in mimalloc's `mi_option_t` (`mimalloc.h`, v2 and v3 alike);
/// `libmimalloc-sys` declares `mi_option_set` but not this constant.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Frees unused memory back to the OS at once instead of after mimalloc's default 10 ms delay,
/// unless the user set `MIMALLOC_PURGE_DELAY` themselves. With the delay, pages freed by a
/// batch job or an end-of-run sweep stay resident while the next allocation grows elsewhere,
/// so peak RSS measured memory already freed: 466 MiB against 323 MiB without the delay on a
/// 1M-event YSB run, at the same speed (`docs/performance.md`). Memory figures are part of
/// what the workbench reports, so they should be the program's, not the allocator's.
fn purge_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option; mimalloc reads options atomically, and this runs
        // on the main thread before any other thread exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

fn main() -> std::process::ExitCode {
    purge_freed_memory_promptly();
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", error_chain(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated like anyhow's `{:#}`, but skipping a cause whose text
/// the message already ends with: the log's I/O errors show their OS error and also return it as
/// their source, which would otherwise print it twice.
fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let cause = cause.to_string();
        if text.ends_with(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// Writes to stdout; a closed pipe (`workbench list | head`) ends quietly, not with a panic.
fn emit(text: &str) -> anyhow::Result<()> {
    match io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The files a student should read for each architecture.
fn code_of(id: &str) -> &'static str {
    match id {
        "batch-lake" => "src/arch/batch_lake.rs, src/batch/mod.rs, src/batch/lambda_polars.rs",
        "lambda" => {
            "src/arch/lambda.rs, src/batch/lambda_polars.rs, src/speed/operators.rs, src/serving/mod.rs"
        }
        "lambda-unified" => "src/arch/lambda_unified.rs, src/query/unified/definitions.rs",
        "kappa" => "src/arch/kappa.rs, src/kappa/mod.rs, src/speed/mod.rs",
        "streaming-lake" => "src/arch/streaming_lake.rs, src/lake/",
        _ => "src/arch/",
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run { scenario, out, export_events, realtime, calibration } => {
            let options = lambda_workbench::run::RunOptions {
                clock: realtime.then_some(lambda_workbench::scenario::RunClock::Realtime),
                calibration,
            };
            let written = lambda_workbench::run::run_scenario_file_opts(&scenario, &out, &options)?;
            if export_events {
                let path = lambda_workbench::run::export_events(&written.dir)?;
                eprintln!("events exported to {}", path.display());
            }
            emit(&format!("results written to {}\n", written.dir.display()))?;
            if written.partial {
                // Like a shell's 128 + SIGINT: scripts see the run did not finish, though its
                // partial results are on disk.
                std::process::exit(130);
            }
            Ok(())
        }
        Command::Log { command } => log(command),
        Command::Calibrate { events, out, work } => {
            let c = lambda_workbench::calibrate::calibrate(&work, events)
                .context("workbench calibrate")?;
            std::fs::write(&out, c.to_toml())
                .with_context(|| format!("writing {}", out.display()))?;
            emit(&format!(
                "{}
cost model written to {}
",
                c.to_toml(),
                out.display()
            ))
        }
        Command::Bench { quick, out, no_duckdb, python, only } => {
            use lambda_workbench::bench::{BenchConfig, Sizes, run, table};
            let sizes = if quick { Sizes::quick() } else { Sizes::full() };
            let cfg = BenchConfig {
                out: out.clone(),
                quick,
                sizes,
                python: (!no_duckdb).then_some(python),
                install_duckdb: true,
                only,
            };
            let report = run(&cfg).context("workbench bench")?;
            emit(&format!(
                "{}\nbench.json, bench.md and bench.png/.svg written to {}\n",
                table(&report.figures),
                out.display()
            ))
        }
        Command::Plot { dir } => {
            let charts = lambda_workbench::html::plot_dir(&dir)?;
            // Written, not `println!`: a closed pipe (`| head`) is an error, not a panic.
            let mut out = BufWriter::new(io::stdout().lock());
            for f in charts.iter().flat_map(|c| &c.files) {
                writeln!(out, "{}", f.display()).context("writing stdout")?;
            }
            out.flush().context("writing stdout")?;
            Ok(())
        }
        Command::Report { dir } => {
            let path = lambda_workbench::html::plot_and_report(&dir)?;
            println!("report written to {}", path.display());
            Ok(())
        }
        Command::Compare { dirs, out } => {
            let c = lambda_workbench::compare::compare(&dirs, &out)?;
            let mut stdout = BufWriter::new(io::stdout().lock());
            write!(stdout, "{}", c.markdown).context("writing stdout")?;
            writeln!(stdout, "\ncharts and compare.html written to {}", out.display())
                .context("writing stdout")?;
            stdout.flush().context("writing stdout")?;
            Ok(())
        }
        Command::List => {
            let mut text = String::new();
            for (name, source) in lambda_workbench::scenario::BUNDLED {
                let origin = std::path::PathBuf::from(format!("scenarios/{name}.toml"));
                let scenario = lambda_workbench::scenario::Scenario::parse(source, &origin)?;
                text.push_str(&format!("{name:<22} {}\n", scenario.description));
            }
            emit(&text)
        }
        Command::Explain { scenario } => {
            let (s, _) = lambda_workbench::run::load_scenario(&scenario)?;
            let mut text = format!("{} — {}\n\n{}\n\n", s.name, s.description, s.lesson.trim());
            let queries: Vec<&str> = s.queries.iter().map(|q| q.name.as_str()).collect();
            text.push_str(&format!("queries:  {}\n", queries.join(", ")));
            text.push_str(&format!(
                "workload: {:?} events, {} events/s for {} s, {} partitions\n",
                s.workload.kind,
                s.workload.rate_per_sec,
                s.duration_ms / 1000,
                s.workload.partitions
            ));
            if let Some(c) = &s.cluster {
                text.push_str(&format!(
                    "log:      {} replicated brokers (factor {}), acks = {}: src/cluster/\n",
                    c.brokers, c.replication_factor, c.acks
                ));
            } else if s.log.backend == "kafka" {
                text.push_str(&format!(
                    "log:      a real Kafka cluster at {}: src/kafka.rs\n",
                    s.log.bootstrap_servers.join(",")
                ));
            }
            if let Some(g) = &s.consumer_group {
                text.push_str(&format!(
                    "consumer: a group of {} members, {} assignor: src/log/coordinator.rs\n",
                    g.members,
                    g.assignor.name()
                ));
            }
            for f in &s.faults {
                text.push_str(&format!("fault:    {} at {} s\n", f.kind(), f.at_ms() / 1000));
            }
            text.push_str("\nper architecture (what to expect; where to read the code):\n");
            for id in &s.architectures {
                let expect = if s.expect.exact.contains(id) {
                    "ends exactly equal to the oracle"
                } else if s.expect.inexact.contains(id) {
                    "ends WRONG: that is the lesson"
                } else {
                    "see the lesson"
                };
                text.push_str(&format!("  {id:<15} {expect}\n                  {}\n", code_of(id)));
            }
            emit(&text)
        }
    }
}

fn log(command: LogCommand) -> anyhow::Result<()> {
    match command {
        LogCommand::Produce {
            dir,
            topic,
            partitions,
            fsync,
            fsync_interval_ms,
            key_sep,
            segment_bytes,
            print_acks,
        } => {
            let fsync = match fsync {
                Fsync::Always => FsyncPolicy::Always,
                Fsync::Interval => FsyncPolicy::Interval { ms: fsync_interval_ms },
                Fsync::Never => FsyncPolicy::Never,
            };
            let opts = ProduceOptions {
                dir,
                topic,
                partitions,
                fsync,
                key_sep,
                segment_bytes,
                print_acks,
            };
            // A buffer larger than stdin's 8 KiB lets one read take in more of a fast writer's
            // lines, so batches (and fsyncs) are fewer; a slow writer still gets each read
            // flushed as soon as it is processed.
            let input = io::BufReader::with_capacity(256 * 1024, io::stdin().lock());
            let n = console::produce(&opts, input, io::stdout().lock()).context("log produce")?;
            eprintln!("{n} records durable");
            Ok(())
        }
        LogCommand::Consume { dir, topic, from_beginning: _, partition, from_time } => {
            let opts = ConsumeOptions { dir, topic, partition, from_time };
            let mut out = BufWriter::new(io::stdout().lock());
            console::consume(&opts, &mut out).context("log consume")?;
            out.flush().context("writing stdout")?;
            Ok(())
        }
        LogCommand::Describe { dir } => {
            let mut out = BufWriter::new(io::stdout().lock());
            console::describe(&dir, &mut out).context("log describe")?;
            out.flush().context("writing stdout")?;
            Ok(())
        }
    }
}
