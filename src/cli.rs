//! Command-line arguments, parsed by clap into a typed configuration.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::time::Span;

#[derive(Debug, Parser)]
#[command(
    name = "tcpladder",
    version,
    about = "TCP connection setup and teardown as ladder diagrams",
    long_about = "Reads a .pcap or .pcapng capture, follows both endpoints of every TCP \
                  connection through the RFC 9293 state machine, and draws the handshake, \
                  the close and the TIME-WAIT that follows as a ladder diagram.",
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a ladder diagram (or JSON) for every connection in a capture.
    Analyze(AnalyzeArgs),
    /// Count packets, segments, connections by kind, retransmissions.
    Stats(StatsArgs),
}

#[derive(Debug, Args)]
pub struct Common {
    /// Capture file (.pcap or .pcapng).
    pub file: PathBuf,
    /// Keep only connections with this port on either end.
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Maximum segment lifetime in seconds; TIME-WAIT lasts twice this.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_msl)]
    pub msl: f64,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Plain ASCII instead of Unicode box drawing.
    #[arg(long)]
    pub ascii: bool,
    /// Only connection N (1-based, in order of first segment).
    #[arg(long, value_name = "N")]
    pub conn: Option<usize>,
    /// Raw sequence numbers instead of relative ones.
    #[arg(long)]
    pub absolute_seq: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub common: Common,
}

fn parse_msl(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(v)
    } else {
        Err("the MSL must be between 0 and 3600 seconds".into())
    }
}

impl Common {
    pub fn msl(&self) -> Span {
        Span::from_secs_f64(self.msl)
    }
}
