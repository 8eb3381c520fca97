//! Command-line arguments, parsed by clap into a typed configuration.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::time::Span;
use crate::tui::theme::ThemeName;

#[derive(Debug, Parser)]
#[command(
    name = "tcpladder",
    version,
    about = "TCP connection setup and teardown as ladder diagrams",
    long_about = "Follows both endpoints of every TCP connection through the RFC 9293 state \
                  machine and draws the handshake, the close and the TIME-WAIT that follows \
                  as a ladder diagram: live, from a capture file, or exported.\n\n\
                  With no command, opens the terminal UI on a sample capture built into the \
                  binary."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Colour theme of the terminal UI (light suits projectors).
    #[arg(long, global = true, value_enum, default_value_t = ThemeName::Dark)]
    pub theme: ThemeName,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a ladder diagram (or JSON) for every connection in a capture.
    Analyze(AnalyzeArgs),
    /// Count packets, segments, connections by kind, retransmissions.
    Stats(StatsArgs),
    /// Open a capture file in the terminal UI and play it back.
    Replay(ReplayArgs),
    /// Capture live with libpcap and watch connections as they happen.
    Live(LiveArgs),
}

#[derive(Debug, Args)]
pub struct Tracking {
    /// Keep only connections with this port on either end.
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Maximum segment lifetime in seconds; TIME-WAIT lasts twice this.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_msl)]
    pub msl: f64,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Capture file (.pcap or .pcapng).
    pub file: PathBuf,
    #[command(flatten)]
    pub tracking: Tracking,
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

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture file (.pcap or .pcapng).
    pub file: PathBuf,
    #[command(flatten)]
    pub tracking: Tracking,
    /// Open paused at the first segment, to step through it.
    #[arg(long)]
    pub step: bool,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Interface to capture on.
    #[arg(short, long, value_name = "IFACE", default_value = "any")]
    pub interface: String,
    /// A BPF filter added to "tcp" (and to the port, if given).
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub bpf: Option<String>,
    #[command(flatten)]
    pub tracking: Tracking,
    /// List the interfaces that can be captured on, and exit.
    #[arg(long)]
    pub list: bool,
    /// Print each segment as a ladder line instead of opening the UI.
    #[arg(long)]
    pub no_tui: bool,
    /// With --no-tui: stop after this many seconds.
    #[arg(long, value_name = "SECS", requires = "no_tui")]
    pub duration: Option<f64>,
    /// With --no-tui: stop after this many TCP segments.
    #[arg(long, value_name = "N", requires = "no_tui")]
    pub count: Option<u64>,
    /// With --no-tui: at the end, print the `analyze --json` document of
    /// what was captured (instead of the ladder lines).
    #[arg(long, requires = "no_tui")]
    pub json: bool,
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

impl Tracking {
    pub fn msl(&self) -> Span {
        Span::from_secs_f64(self.msl)
    }
}
