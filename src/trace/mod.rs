//! `tcpladder trace`: the user's own program run under ptrace (or a
//! running one attached to), every socket call recorded with its entry and
//! return time and its result, and the connections captured at the same
//! time, so the ladder shows the calls beside the segments. An I/O-edge
//! stage like `capture` and `demo`: it starts processes, traces them and
//! writes a pcap, which the ordinary pipeline (`analysis`) then reads. It
//! may not decide anything about TCP states, and it never sends a packet
//! itself.
//!
//! One run ([`run`]): the capture is opened first ([`capture`], on `lo` of
//! the host or of a private network namespace with `--isolated`), then the
//! tracer thread ([`tracer`]) starts the program stopped and seizes it (or
//! seizes every thread of `--pid`), follows it until every traced process
//! has exited (or the stop flag is raised), the capture is given a moment
//! for the last segments and stopped. Each fd is tied to its connection
//! while the tracee is stopped at the call, through its socket inode and
//! the kernel's TCP tables ([`procnet`]). [`TraceRun::calls_for`] and
//! [`trace_json`] give each captured connection its calls.

pub mod capture;
pub mod procnet;
pub mod tracer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::capture::spool::SpoolFile;
use crate::demo::netns::{self, Netns};
use crate::demo::{Addrs, Call, CallDoc};
use crate::time::Timestamp;
use crate::track::{Connection, Side};

/// Why a trace could not run, in one line.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{0}")]
    Program(String),
    #[error("{0}")]
    Ptrace(String),
    #[error("{0}")]
    Capture(String),
    #[error("{0}")]
    Isolation(String),
}

/// What to trace.
#[derive(Clone, Debug)]
pub enum Target {
    /// Run this program with these arguments (`argv[0]` is looked up on
    /// PATH).
    Spawn(Vec<String>),
    /// Attach to this running process and all its threads.
    Attach(i32),
}

/// How to trace.
#[derive(Clone, Debug)]
pub struct TraceConfig {
    pub target: Target,
    /// Capture only this TCP port (else all TCP on the interface).
    pub port: Option<u16>,
    /// Where to keep the capture; a temporary file otherwise.
    pub keep: Option<PathBuf>,
    /// Run the program in a private network namespace (its own `lo`), so
    /// capturing needs no host privileges. Not with [`Target::Attach`].
    pub isolated: bool,
    /// The interface to capture on; `lo` when `None`.
    pub interface: Option<String>,
    /// Raised (by a Ctrl-C handler) to stop: an attached process is
    /// detached and left running; a spawned one is sent SIGINT and followed
    /// until it exits (killed if it is still there 2 s later). Without
    /// it the tracer waits blocking, the most exact timing; a spawned
    /// program still dies with the tracer (`PTRACE_O_EXITKILL`).
    pub stop: Option<Arc<AtomicBool>>,
}

impl TraceConfig {
    pub fn spawn(argv: Vec<String>) -> TraceConfig {
        TraceConfig {
            target: Target::Spawn(argv),
            port: None,
            keep: None,
            isolated: false,
            interface: None,
            stop: None,
        }
    }

    pub fn attach(pid: i32) -> TraceConfig {
        TraceConfig {
            target: Target::Attach(pid),
            ..TraceConfig::spawn(Vec::new())
        }
    }
}

/// A finished trace: the capture and the calls.
#[derive(Debug)]
pub struct TraceRun {
    pub pcap: PathBuf,
    _file: SpoolFile,
    /// Every recorded call, in order of entry; `socket` indexes `sockets`.
    /// `side` is the socket's role as far as the calls show it (connect →
    /// client; listen, accept → server).
    pub calls: Vec<Call>,
    /// Each socket's addresses, from the kernel's tables.
    pub sockets: Vec<Addrs>,
    /// The program's exit status (128 + signal); `None` when an attached
    /// process was left running.
    pub exit: Option<i32>,
    /// The spawned program's pid, or the attached one.
    pub pid: i32,
    pub packets: u64,
    /// The kernel's own state changes of the sockets, or why they could
    /// not be read (not root, no tracefs).
    pub kernel: Result<crate::track::kernel::KernelRecord, String>,
    /// The listen queues of each port the program listened on, sampled
    /// while it ran.
    pub queues: Vec<(u16, Vec<crate::demo::queue::Sample>)>,
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// The temporary capture of this process's first run (known before the
/// run, so an interrupt handler can remove it).
pub fn temp_pcap() -> PathBuf {
    std::env::temp_dir().join(format!("tcpladder-trace-{}.pcap", std::process::id()))
}

fn next_temp_pcap() -> PathBuf {
    match RUNS.fetch_add(1, Ordering::Relaxed) {
        0 => temp_pcap(),
        n => std::env::temp_dir().join(format!("tcpladder-trace-{}-{n}.pcap", std::process::id())),
    }
}

/// For `--isolated` as a user who is not root: moves the process into a
/// user namespace. Must be called before the process starts any thread;
/// nothing to do otherwise.
pub fn prepare(cfg: &TraceConfig) -> Result<(), TraceError> {
    if cfg.isolated {
        crate::demo::prepare().map_err(|e| TraceError::Isolation(e.to_string()))?;
    }
    Ok(())
}

/// How long the capture keeps going after the program is done: the last
/// ACK of a close may follow the last call.
const TAIL: Duration = Duration::from_millis(150);

/// Traces the program once and returns its capture and calls.
pub fn run(cfg: &TraceConfig) -> Result<TraceRun, TraceError> {
    if !tracer::supported() {
        return Err(TraceError::Ptrace(
            "trace decodes syscall registers on x86_64 only".into(),
        ));
    }
    if cfg.isolated && matches!(cfg.target, Target::Attach(_)) {
        return Err(TraceError::Program(
            "--isolated runs a new program; it cannot be used with --pid".into(),
        ));
    }
    if let Target::Spawn(argv) = &cfg.target {
        tracer::check_program(argv)?;
    }
    let file = SpoolFile::new(cfg.keep.as_deref(), next_temp_pcap);
    let ns = if cfg.isolated {
        let (ns, ()) = Netns::create(|| netns::ip(&["link", "set", "lo", "up"]))
            .map_err(|e| TraceError::Isolation(e.to_string()))?;
        Some(ns)
    } else {
        None
    };
    let filter = crate::capture::live::LiveConfig::filter_for(cfg.port, None);
    let iface = cfg.interface.as_deref().unwrap_or("lo");
    let recording = capture::Recording::start(ns.as_ref(), iface, &filter, &file.path)?;
    let ports: Vec<u16> = cfg.port.into_iter().collect();
    let ktrace = crate::capture::kernel::KernelTrace::start(&ports);
    let target = cfg.target.clone();
    let stop = cfg.stop.clone();
    let listening = crate::demo::queue::Listening::default();
    let sampler = crate::demo::queue::PortSampler::start(listening.clone());
    let tracing = std::thread::Builder::new()
        .name("trace-ptrace".into())
        .spawn(move || -> Result<tracer::Gathered, TraceError> {
            if let Some(ns) = &ns {
                ns.enter()
                    .map_err(|e| TraceError::Isolation(e.to_string()))?;
            }
            match target {
                Target::Spawn(argv) => tracer::spawn_and_trace(&argv, stop.as_deref(), listening),
                Target::Attach(pid) => tracer::attach_and_trace(pid, stop.as_deref(), listening),
            }
        })
        .map_err(|e| TraceError::Ptrace(format!("cannot start the tracer thread: {e}")));
    let gathered = match tracing {
        Ok(h) => h
            .join()
            .unwrap_or_else(|_| Err(TraceError::Ptrace("the tracer thread panicked".into()))),
        Err(e) => Err(e),
    };
    if gathered.is_ok() {
        std::thread::sleep(TAIL);
    }
    let packets = recording.stop();
    let kernel = ktrace.and_then(crate::capture::kernel::KernelTrace::finish);
    // Without a sampler thread the queues are unknown, no more.
    let queues = sampler
        .map(crate::demo::queue::PortSampler::stop)
        .unwrap_or_default();
    let g = gathered?;
    let sockets: Vec<Addrs> = g.sockets.iter().map(|s| s.addrs).collect();
    let listening_ports: Vec<u16> = sockets
        .iter()
        .filter(|a| a.listener)
        .filter_map(|a| a.local.map(|l| l.port()))
        .collect();
    let side_of = |i: usize| -> Side {
        let Some(s) = g.sockets.get(i) else {
            return Side::Client;
        };
        s.side.unwrap_or_else(|| match s.addrs.local {
            Some(l) if listening_ports.contains(&l.port()) => Side::Server,
            _ => Side::Client,
        })
    };
    let mut calls: Vec<Call> = g
        .calls
        .iter()
        .cloned()
        .map(|mut c| {
            c.side = side_of(c.socket);
            c
        })
        .collect();
    mark_copies(&mut calls);
    // Complete: a kept capture goes where it was asked for.
    let mut file = file;
    let pcap = file
        .commit()
        .map_err(|e| TraceError::Capture(format!("{}: {e}", file.path.display())))?;
    Ok(TraceRun {
        pcap,
        _file: file,
        calls,
        sockets,
        exit: g.exit,
        pid: g.pid,
        packets: packets?,
        kernel,
        queues,
    })
}

/// Whether a socket's local address is `addr`: after a failed connect()
/// the kernel keeps the port but forgets the address (0.0.0.0).
fn same(local: std::net::SocketAddr, addr: std::net::SocketAddr) -> bool {
    local.port() == addr.port() && (local.ip() == addr.ip() || local.ip().is_unspecified())
}

/// A socket shared by forked processes is closed once by each; only the
/// last close (or exit) releases it and sends its FIN. The others say so.
fn mark_copies(calls: &mut [Call]) {
    let ends = |c: &Call| c.call == "close" || c.call == "exit";
    let mut last: std::collections::HashMap<usize, Timestamp> = std::collections::HashMap::new();
    for c in calls.iter().filter(|c| ends(c) && c.result == "0") {
        let t = last.entry(c.socket).or_insert(c.returned);
        *t = (*t).max(c.returned);
    }
    for c in calls.iter_mut().filter(|c| ends(c) && c.result == "0") {
        if last.get(&c.socket).is_some_and(|t| c.returned < *t) {
            c.detail = Some("a copy: the socket stays open".into());
        }
    }
}

impl TraceRun {
    /// Which side of `conn` the socket is, if it is one of its endpoints.
    fn side_in(&self, socket: usize, conn: &Connection, all: &[Connection]) -> Option<Side> {
        let a = self.sockets.get(socket)?;
        if a.listener {
            let l = a.local?;
            let serves = l.port() == conn.server.port()
                && (l.ip().is_unspecified() || l.ip() == conn.server.ip());
            return (serves && self.alive(socket, conn.first_ts)).then_some(Side::Server);
        }
        let side = match (a.local, a.remote) {
            (Some(l), Some(r)) if same(l, conn.client) && r == conn.server => Side::Client,
            (Some(l), Some(r)) if same(l, conn.server) && r == conn.client => Side::Server,
            // A connect() that failed before the kernel listed the socket:
            // only the address it was given is known; the connection is
            // the one that began while it was blocked.
            (None, Some(r)) if r == conn.server => {
                let (from, to) = self.span(socket)?;
                return (from <= conn.first_ts && conn.first_ts <= to).then_some(Side::Client);
            }
            _ => return None,
        };
        // The same four-tuple used twice: the incarnation that had begun
        // when the socket's connect() or accept() returned.
        let start = self.start(socket);
        let latest = all
            .iter()
            .filter(|c| c.client == conn.client && c.server == conn.server)
            .rfind(|c| c.first_ts <= start)
            .or_else(|| {
                all.iter()
                    .find(|c| c.client == conn.client && c.server == conn.server)
            })
            .map(|c| c.id);
        (latest == Some(conn.id)).then_some(side)
    }

    fn mine(&self, socket: usize) -> impl Iterator<Item = &Call> {
        self.calls.iter().filter(move |c| c.socket == socket)
    }

    fn span(&self, socket: usize) -> Option<(Timestamp, Timestamp)> {
        let first = self.mine(socket).map(|c| c.entered).min()?;
        let last = self.mine(socket).map(|c| c.returned).max()?;
        Some((first, last))
    }

    fn start(&self, socket: usize) -> Timestamp {
        self.mine(socket)
            .find(|c| matches!(c.call, "connect" | "accept" | "accept4"))
            .or_else(|| self.mine(socket).next())
            .map(|c| c.returned)
            .unwrap_or_default()
    }

    fn alive(&self, socket: usize, t: Timestamp) -> bool {
        let born = self.mine(socket).next().map(|c| c.entered);
        // The last close: a forked child closing its copy leaves the
        // socket open.
        let died = self
            .mine(socket)
            .filter(|c| c.call == "close")
            .map(|c| c.returned)
            .max();
        born.is_some_and(|b| b <= t) && died.is_none_or(|d| t <= d)
    }

    /// The calls that belong to `conn`, in order of entry, each with its
    /// side in that connection: the calls on its sockets (matched by both
    /// addresses from the kernel's tables) and its listener's calls.
    pub fn calls_for(&self, conn: &Connection, all: &[Connection]) -> Vec<Call> {
        let sides: Vec<Option<Side>> = (0..self.sockets.len())
            .map(|s| self.side_in(s, conn, all))
            .collect();
        self.calls
            .iter()
            .filter_map(|c| {
                let side = (*sides.get(c.socket)?)?;
                Some(Call { side, ..c.clone() })
            })
            .collect()
    }

    /// The connections some traced socket belongs to, numbered again from
    /// 0 (the capture without `-p` holds all TCP on the interface, other
    /// programs' too).
    pub fn touched(&self, conns: &[Connection]) -> Vec<Connection> {
        let mut out: Vec<Connection> = conns
            .iter()
            .filter(|c| (0..self.sockets.len()).any(|s| self.side_in(s, c, conns).is_some()))
            .cloned()
            .collect();
        for (i, c) in out.iter_mut().enumerate() {
            c.id = i;
        }
        out
    }

    /// The listen queues of the traced listener that served `conn`, from
    /// its first segment to its last, with the backlog its listen() asked.
    pub fn listener_for(&self, conn: &Connection) -> Option<crate::demo::ListenerDoc> {
        let serves = |l: std::net::SocketAddr| {
            l.port() == conn.server.port()
                && (l.ip().is_unspecified() || l.ip() == conn.server.ip())
        };
        let listener = (0..self.sockets.len()).find(|&i| {
            let a = &self.sockets[i];
            a.listener && a.local.is_some_and(serves) && self.alive(i, conn.first_ts)
        })?;
        let backlog = self.sockets[listener].backlog;
        let (_, samples) = self.queues.iter().find(|(p, _)| *p == conn.server.port())?;
        Some(crate::demo::ListenerDoc {
            backlog: backlog.and_then(|b| u32::try_from(b).ok()),
            samples: crate::demo::queue::during(samples, conn.first_ts, conn.last_ts),
        })
    }

    /// Each connection's calls, by connection id, for the ladder views.
    pub fn calls_by_connection(&self, conns: &[Connection]) -> Vec<Vec<Call>> {
        crate::ladder::calls::by_connection(conns, |c| self.calls_for(c, conns))
    }
}

/// A connection of the `analyze --json` document with its calls, in
/// `demo --json`'s shape; `listener` is null unless a traced listener
/// served it.
pub type TraceConnection<'a> = crate::demo::ConnectionWithCalls<'a>;

/// How the trace was made.
#[derive(Debug, Serialize)]
pub struct TraceDoc {
    pub pid: i32,
    /// null when an attached process was left running.
    pub exit: Option<i32>,
    pub calls: usize,
    pub packets: u64,
    /// Why the kernel's own states are missing (null when they are there).
    pub kernel: Option<String>,
}

/// The `analyze --json` document with each connection's calls, and the
/// trace itself as `"trace"`.
#[derive(Serialize)]
pub struct TraceDocument<'a> {
    pub connections: Vec<TraceConnection<'a>>,
    pub trace: TraceDoc,
}

pub fn trace_json<'a>(conns: &'a [Connection], run: &TraceRun) -> TraceDocument<'a> {
    let kernel = crate::demo::kernel_docs(&run.kernel, conns);
    TraceDocument {
        connections: conns
            .iter()
            .zip(kernel)
            .map(|(c, kernel)| TraceConnection {
                connection: crate::export::json::connection(c),
                calls: run.calls_for(c, conns).iter().map(CallDoc::new).collect(),
                listener: run.listener_for(c),
                kernel,
            })
            .collect(),
        trace: TraceDoc {
            pid: run.pid,
            exit: run.exit,
            calls: run.calls.len(),
            packets: run.packets,
            kernel: run.kernel.as_ref().err().cloned(),
        },
    }
}
