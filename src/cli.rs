//! Command-line arguments, parsed by clap into a typed configuration.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::analysis::Filter;
use crate::export::{Bound, Format};
use crate::time::Span;
use crate::track::TrackConfig;
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
    /// Colour theme: the terminal UI defaults to dark, exports to light
    /// (projectors wash out dark backgrounds).
    #[arg(long, global = true, value_enum)]
    pub theme: Option<ThemeName>,
    /// Folder where the UI's `s` (screenshot) and `e` (export) save files.
    #[arg(long, global = true, value_name = "DIR", default_value = ".")]
    pub shots: PathBuf,
    /// A font (.ttf, .otf, .ttc) for the characters of PNG text that the
    /// built-in DejaVu fonts lack, tried before the system's fonts.
    #[arg(long, global = true, value_name = "FILE")]
    pub font: Option<PathBuf>,
    /// Colour in `analyze` text and the terminal UI: auto (when standard
    /// output is a terminal and NO_COLOR is not set), always, never.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour output going to a terminal (or not), given the
    /// value of NO_COLOR: any non-empty value turns `auto` off
    /// (no-color.org); `always` and `never` are the user's word for this
    /// run and win over it.
    pub fn colour(self, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }

    /// [`ColorChoice::colour`] with this process's NO_COLOR.
    pub fn colour_here(self, terminal: bool) -> bool {
        self.colour(terminal, std::env::var_os("NO_COLOR").as_deref())
    }
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
    /// Draw a connection for slides and handouts: SVG, PNG, text, Mermaid.
    Export(ExportArgs),
    /// Run the socket tutorials' client and server in private network
    /// namespaces, capture them and show the ladder (--json adds their
    /// socket calls).
    Demo(DemoArgs),
    /// Run a program (or attach to one with --pid) under ptrace, record its
    /// socket calls, capture its connections and show the ladder.
    Trace(TraceArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell) to standard output.
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to standard output: tcpladder(1), or
    /// tcpladder-COMMAND(1) for one command.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print (analyze, export, ...); the main
    /// page by default.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

#[derive(Debug, Args)]
pub struct Tracking {
    /// Keep only connections with this port on either end.
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Maximum segment lifetime in seconds; TIME-WAIT lasts twice this.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_msl)]
    pub msl: f64,
    /// Linux's tcp_syn_retries on the client, for the estimate of when an
    /// unanswered connect() gives up (ETIMEDOUT).
    #[arg(long, value_name = "N", default_value_t = crate::track::DEFAULT_SYN_RETRIES)]
    pub syn_retries: u8,
    /// Linux's tcp_retries2, for when unacknowledged data is given up.
    #[arg(long, value_name = "N", default_value_t = crate::track::DEFAULT_RETRIES2)]
    pub retries2: u8,
    /// Linux's tcp_orphan_retries (0 means 8), for when a closed socket
    /// stops resending its FIN.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub orphan_retries: u8,
}

/// A tcpdump filter on a capture file.
#[derive(Debug, Args)]
pub struct FileFilter {
    /// Keep only the packets this BPF expression matches, as `tcpdump -r
    /// FILE EXPR` would (libpcap's own compiler and matcher), before
    /// anything else is read of them.
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub bpf: Option<String>,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Capture file (.pcap or .pcapng, possibly gzip, zstd or xz
    /// compressed); - reads standard input.
    pub file: PathBuf,
    #[command(flatten)]
    pub tracking: Tracking,
    #[command(flatten)]
    pub bpf: FileFilter,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub common: Common,
    /// One JSON object a line, each connection as soon as it is over (the
    /// shape of an `analyze --json` connection), holding only what is
    /// open: for jq, DuckDB and the like on captures of any size.
    #[arg(long, conflicts_with_all = ["json", "conn"])]
    pub jsonl: bool,
    /// Plain ASCII instead of Unicode box drawing.
    #[arg(long)]
    pub ascii: bool,
    /// Only connection N (1-based, in order of first segment).
    #[arg(long, value_name = "N")]
    pub conn: Option<usize>,
    /// Raw sequence numbers instead of relative ones.
    #[arg(long)]
    pub absolute_seq: bool,
    /// Under each arrow, the segment's payload as text (as `tcpdump -A`,
    /// control bytes escaped as \n, \r, \t, \xNN; the first 512 bytes, four
    /// lines at most).
    #[arg(long, conflicts_with_all = ["json", "jsonl"])]
    pub payload: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Count a connection with no segment for this many seconds of capture
    /// time as it stands and forget it, to bound memory (0: never; the
    /// default is Linux's keep-alive time). Unanswered SYNs are counted
    /// once their last retransmission is past, whatever this is.
    #[arg(long, value_name = "SECS", default_value_t = 7200.0)]
    pub idle_timeout: f64,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture file (.pcap or .pcapng, possibly gzip, zstd or xz
    /// compressed); - reads standard input, shown as it arrives (`ssh
    /// host tcpdump -U -w - | tcpladder replay -`).
    pub file: PathBuf,
    #[command(flatten)]
    pub tracking: Tracking,
    #[command(flatten)]
    pub bpf: FileFilter,
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
    /// Do not read the kernel's own TCP state changes (by default, as
    /// root, they are shown beside the inferred states).
    #[arg(long)]
    pub no_kernel: bool,
    /// The kernel's capture buffer in KiB, as tcpdump's -B (default 64 MiB:
    /// about two seconds of a connection storm while the capture thread
    /// waits for a CPU).
    #[arg(short = 'B', long = "buffer-size", value_name = "KiB",
          default_value_t = crate::capture::live::DEFAULT_BUFFER_KIB,
          value_parser = clap::value_parser!(u32).range(64..=4_194_304))]
    pub buffer_kib: u32,
    /// The UI holds at most this many connections (about 4 KB each); past
    /// it the oldest finished ones are folded into the totals, as sngrep's
    /// -l does (then, in a SYN flood, the oldest of the rest).
    #[arg(long, value_name = "N", default_value_t = 50_000,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub max_connections: u64,
    /// Also write every packet captured to FILE, as pcap (as tcpdump -w);
    /// it opens in Wireshark and replays the same in tcpladder.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Overwrite the -w file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").args(["conn", "all"])))]
pub struct ExportArgs {
    /// Capture file (.pcap or .pcapng, possibly gzip, zstd or xz
    /// compressed); - reads standard input.
    pub file: PathBuf,
    #[command(flatten)]
    pub tracking: Tracking,
    #[command(flatten)]
    pub bpf: FileFilter,
    /// Connection N (1-based, in order of first segment); the first by
    /// default.
    #[arg(long, value_name = "N")]
    pub conn: Option<usize>,
    /// Every connection, one file each: out.svg becomes out-1.svg,
    /// out-2.svg, ...
    #[arg(long)]
    pub all: bool,
    /// Output format; by default taken from the file name's extension.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Where to write.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
    /// Raw sequence numbers instead of relative ones.
    #[arg(long)]
    pub absolute_seq: bool,
    /// Replace the addresses with documentation ones (192.0.2.1,
    /// 198.51.100.2, 2001:db8::1/2), keeping the ports.
    #[arg(long)]
    pub redact: bool,
    /// Title above the diagram (SVG, PNG, Mermaid).
    #[arg(long)]
    pub title: Option<String>,
    /// PNG pixels per SVG unit.
    #[arg(long, default_value_t = 2.0, value_parser = parse_scale)]
    pub scale: f32,
    /// Horizontal arrows at capture time instead of slanted ones.
    #[arg(long)]
    pub flat: bool,
    /// First segment to draw: a number (1, 2, ...) or a time since the
    /// first segment (1.5ms, 250us, 2s).
    #[arg(long, value_name = "SEG|TIME")]
    pub from: Option<Bound>,
    /// Last segment to draw, as --from (`--to 3` is the handshake).
    #[arg(long, value_name = "SEG|TIME")]
    pub to: Option<Bound>,
    /// Plain ASCII for the txt format.
    #[arg(long)]
    pub ascii: bool,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// Socket calls to draw, from a `demo --json` document made with this
    /// capture (`demo -w FILE.pcap --json`): how the documentation's
    /// pictures with calls are made again from fixed files.
    #[arg(long, value_name = "FILE.json", hide = true)]
    pub calls: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The scenario to run (`--list` shows them all).
    #[arg(required_unless_present = "list", value_parser = parse_scenario)]
    pub scenario: Option<crate::demo::Scenario>,
    /// List the scenarios, one a line, and exit.
    #[arg(long)]
    pub list: bool,
    /// One-way delay of the path between client and server (20ms, 1.5ms,
    /// 250us, 0 for plain loopback).
    #[arg(long, value_name = "TIME", default_value = "20ms", value_parser = parse_delay)]
    pub delay: std::time::Duration,
    #[command(flatten)]
    pub output: ProgramOutput,
}

/// What `demo` and `trace` give instead of (or beside) the UI.
#[derive(Debug, Args)]
pub struct ProgramOutput {
    /// Keep the capture in this pcap file.
    #[arg(short = 'w', long = "write", value_name = "FILE.pcap")]
    pub write: Option<PathBuf>,
    /// Print the `analyze --json` document with each connection's socket
    /// calls (when the program is done) instead of opening the UI.
    #[arg(long, conflicts_with = "export")]
    pub json: bool,
    /// Export the diagram (SVG, PNG, text or Mermaid, by extension)
    /// instead of opening the UI; several connections give OUT-1, OUT-2, ...
    #[arg(long, value_name = "OUT")]
    pub export: Option<PathBuf>,
    /// Overwrite existing files (--export, -w).
    #[arg(long)]
    pub force: bool,
}

fn parse_scenario(s: &str) -> Result<crate::demo::Scenario, String> {
    crate::demo::Scenario::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = crate::demo::Scenario::ALL
            .iter()
            .map(|s| s.name())
            .collect();
        format!("no scenario '{s}' (known: {})", names.join(", "))
    })
}

/// `20ms`, `1.5ms`, `250us`, `1s`, `0`: at most one second.
fn parse_delay(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if t == "0" {
        (t, 0.0)
    } else {
        return Err(format!("'{s}' is not a time: write 20ms, 250us, 1s or 0"));
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a time: write 20ms, 250us, 1s or 0"))?;
    let secs = v * scale;
    if secs.is_finite() && (0.0..=1.0).contains(&secs) {
        Ok(std::time::Duration::from_secs_f64(secs))
    } else {
        Err("the delay must be between 0 and 1 s".into())
    }
}

fn parse_scale(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if v.is_finite() && (0.1..=8.0).contains(&v) {
        Ok(v)
    } else {
        Err("the scale must be between 0.1 and 8".into())
    }
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

    /// The tracker's settings: the MSL and retries, headers not kept whole
    /// (only a detail pane shows them), everything else as by default.
    pub fn track_config(&self) -> TrackConfig {
        TrackConfig {
            keep_details: false,
            msl: self.msl(),
            syn_retries: self.syn_retries,
            retries2: self.retries2,
            orphan_retries: self.orphan_retries,
            ..TrackConfig::default()
        }
    }

    /// The port filter alone (live capture filters in the kernel).
    pub fn filter(&self) -> Filter {
        Filter {
            port: self.port,
            bpf: None,
        }
    }

    /// The port and a file's BPF filter, the expression checked.
    pub fn file_filter(&self, f: &FileFilter) -> Result<Filter, String> {
        if let Some(expr) = &f.bpf {
            crate::capture::bpf::Bpf::check(expr)?;
        }
        Ok(Filter {
            port: self.port,
            bpf: f.bpf.as_deref().map(std::sync::Arc::from),
        })
    }
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Capture only this TCP port (default: all TCP on the interface; the
    /// connections the program's sockets made are kept).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Attach to this running process and its threads instead of starting
    /// a program (Ctrl-C detaches and shows what was seen).
    #[arg(long, value_name = "PID", conflicts_with_all = ["program", "isolated"])]
    pub pid: Option<i32>,
    /// Run the program in a private network namespace with its own
    /// loopback, so capturing needs no root where user namespaces are
    /// allowed.
    #[arg(long)]
    pub isolated: bool,
    /// The interface to capture on.
    #[arg(short = 'i', long, value_name = "IFACE", default_value = "lo")]
    pub interface: String,
    #[command(flatten)]
    pub output: ProgramOutput,
    /// The program to run and its arguments, after `--`.
    #[arg(last = true, value_name = "PROGRAM", required_unless_present = "pid")]
    pub program: Vec<String>,
}

/// The completion script for `shell`, from the definitions above.
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    use clap::CommandFactory;
    // Into memory: the generator panics when a write fails, and a closed
    // pipe is no reason to.
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tcpladder", &mut out);
    out
}

/// The manual page in roff: tcpladder(1), or tcpladder-COMMAND(1).
pub fn man_page(command: Option<&str>) -> Result<Vec<u8>, String> {
    use clap::CommandFactory;
    let mut cli = Cli::command().disable_help_subcommand(true);
    // Gives each command its page name (tcpladder-analyze) and usage line.
    cli.build();
    let page = match command {
        None => cli,
        Some(name) => match cli.find_subcommand(name) {
            Some(c) => c.clone(),
            None => {
                let names: Vec<&str> = cli.get_subcommands().map(clap::Command::get_name).collect();
                return Err(format!("no command '{name}' (known: {})", names.join(", ")));
            }
        },
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .source(format!("tcpladder {}", env!("CARGO_PKG_VERSION")))
        .render(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_is_on_for_a_terminal_unless_no_color_says_otherwise() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        for (choice, terminal, no_color, want) in [
            (ColorChoice::Auto, true, None, true),
            (ColorChoice::Auto, false, None, false),
            (ColorChoice::Auto, true, set, false),
            // An empty NO_COLOR is as if unset (no-color.org).
            (ColorChoice::Auto, true, empty, true),
            (ColorChoice::Always, false, set, true),
            (ColorChoice::Never, true, None, false),
        ] {
            assert_eq!(
                choice.colour(terminal, no_color),
                want,
                "{choice:?}, terminal {terminal}, NO_COLOR {no_color:?}"
            );
        }
    }

    #[test]
    fn the_man_page_of_a_command_and_of_none() {
        let main = String::from_utf8(man_page(None).unwrap()).unwrap();
        assert!(main.contains("\n.TH tcpladder 1 "), "{main}");
        let analyze = String::from_utf8(man_page(Some("analyze")).unwrap()).unwrap();
        assert!(
            analyze.contains("\n.TH tcpladder-analyze 1  \"tcpladder 0.1.0\""),
            "{analyze}"
        );
        assert!(analyze.contains("absolute\\-seq"), "{analyze}");
        let e = man_page(Some("nope")).unwrap_err();
        assert!(e.contains("'nope'") && e.contains("analyze, stats"), "{e}");
    }
}
