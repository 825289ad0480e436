//! `workbench`: the thin binary edge. Parses arguments, calls the library, reports errors.

mod cli;

use std::io::{self, BufWriter, Write};

use anyhow::Context;
use clap::Parser;
use lambda_workbench::log::FsyncPolicy;
use lambda_workbench::log::console::{self, ConsumeOptions, ProduceOptions};

use cli::{Cli, Command, Fsync, LogCommand};

fn main() -> std::process::ExitCode {
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

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run { scenario, out } => {
            let written = lambda_workbench::run::run_scenario_file(&scenario, &out)?;
            println!("results written to {}", written.display());
            Ok(())
        }
        Command::Log { command } => log(command),
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
            for (name, text) in lambda_workbench::scenario::BUNDLED {
                let origin = std::path::PathBuf::from(format!("scenarios/{name}.toml"));
                let scenario = lambda_workbench::scenario::Scenario::parse(text, &origin)?;
                println!("{name:<22} {}", scenario.description);
            }
            Ok(())
        }
        Command::Explain { scenario } => {
            let (s, _) = lambda_workbench::run::load_scenario(&scenario)?;
            println!("{} — {}\n", s.name, s.description);
            println!("{}\n", s.lesson.trim());
            println!("architectures: {}", s.architectures.join(", "));
            let queries: Vec<&str> = s.queries.iter().map(|q| q.name.as_str()).collect();
            println!("queries:       {}", queries.join(", "));
            println!(
                "workload:      {} events/s for {} s, {} partitions",
                s.workload.rate_per_sec,
                s.duration_ms / 1000,
                s.workload.partitions
            );
            Ok(())
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
        } => {
            let fsync = match fsync {
                Fsync::Always => FsyncPolicy::Always,
                Fsync::Interval => FsyncPolicy::Interval { ms: fsync_interval_ms },
                Fsync::Never => FsyncPolicy::Never,
            };
            let opts = ProduceOptions { dir, topic, partitions, fsync, key_sep, segment_bytes };
            // A buffer larger than stdin's 8 KiB lets one read take in more of a fast writer's
            // lines, so batches (and fsyncs) are fewer; a slow writer still gets each read
            // flushed as soon as it is processed.
            let input = io::BufReader::with_capacity(256 * 1024, io::stdin().lock());
            let n = console::produce(&opts, input).context("log produce")?;
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
