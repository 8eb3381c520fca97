//! The `tcpladder` binary: arguments in, exit code out. Errors become one
//! line on stderr; exit 1 for unusable input, 2 for usage.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use tcpladder::analysis::{self, Filter};
use tcpladder::cli::{AnalyzeArgs, Cli, Command, StatsArgs};
use tcpladder::export::{json, text};
use tcpladder::ladder::{LabelStyle, Ladder};
use tcpladder::stats::{StatsDoc, Totals};
use tcpladder::track::TrackConfig;

/// An error that is the user's arguments, not the input.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(a) => analyze(a),
        Command::Stats(s) => stats(s),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                // `tcpladder analyze f | head`: the reader left; not an error.
                return ExitCode::SUCCESS;
            }
            eprintln!("tcpladder: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let kind = c
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                c.downcast_ref::<serde_json::Error>()
                    .and_then(|j| j.io_error_kind())
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn warn(lines: &[String]) {
    for w in lines {
        eprintln!("tcpladder: warning: {w}");
    }
}

fn analyze(a: AnalyzeArgs) -> anyhow::Result<()> {
    let cfg = TrackConfig {
        msl: a.common.msl(),
        ..TrackConfig::default()
    };
    let filter = Filter {
        port: a.common.port,
    };
    let (conns, report) = analysis::analyze_file(&a.common.file, filter, cfg)?;
    warn(&report.warnings());
    let selected: Vec<_> = match a.conn {
        None => conns.iter().collect(),
        Some(n) if n >= 1 && n <= conns.len() => vec![&conns[n - 1]],
        Some(n) => {
            let range = if conns.is_empty() {
                "the capture has no TCP connections".to_string()
            } else {
                format!("valid: 1 to {}", conns.len())
            };
            return Err(UsageError(format!("--conn {n} is out of range ({range})")).into());
        }
    };
    let mut out = std::io::stdout().lock();
    if a.common.json {
        serde_json::to_writer_pretty(&mut out, &json::document(selected))
            .context("writing JSON")?;
        writeln!(out)?;
        return Ok(());
    }
    if selected.is_empty() {
        writeln!(out, "no TCP connections in {}", report.file)?;
        return Ok(());
    }
    let charset = if a.ascii {
        text::Charset::Ascii
    } else {
        text::Charset::Unicode
    };
    let style = LabelStyle {
        absolute: a.absolute_seq,
    };
    for (i, c) in selected.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        let ladder = Ladder::build(c, cfg.msl, style);
        out.write_all(text::render(&ladder, charset).as_bytes())?;
    }
    Ok(())
}

fn stats(s: StatsArgs) -> anyhow::Result<()> {
    let cfg = TrackConfig {
        msl: s.common.msl(),
        keep_segments: false,
        stream: true,
    };
    let filter = Filter {
        port: s.common.port,
    };
    let mut totals = Totals::default();
    let report = analysis::stream_file(&s.common.file, filter, cfg, |c| totals.add(&c))?;
    let doc = StatsDoc::new(&report, &totals);
    let mut out = std::io::stdout().lock();
    if s.common.json {
        serde_json::to_writer_pretty(&mut out, &doc).context("writing JSON")?;
        writeln!(out)?;
    } else {
        warn(&doc.warnings);
        out.write_all(doc.to_text().as_bytes())?;
    }
    Ok(())
}
