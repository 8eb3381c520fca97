//! `tcpladder demo`: the socket tutorials' programs, run for real in
//! private network namespaces and captured while they run. An I/O-edge
//! stage like `capture`: it makes namespaces, sends packets between them and
//! writes a pcap, which the ordinary pipeline (`analysis`) then reads. It
//! may not decide anything about TCP states: what the demo shows is what
//! the tracker infers from the capture, with the programs' own socket calls
//! beside it.
//!
//! One run: [`prepare`] (before any thread: a user namespace when not
//! root), then [`run`]: the client's and the server's namespaces
//! ([`netns`]) joined by the delayed path ([`path`]; with `--delay 0` and a
//! scenario that needs no forwarder, one namespace on plain loopback), the
//! capture on the client's interface ([`capture`]), the programs
//! ([`scenarios`]) recording their calls ([`record`]), a pause for the last
//! segments, then everything is stopped and dropped. [`calls_json`] adds the
//! calls to the `analyze --json` document.

pub mod capture;
pub mod netns;
pub mod path;
pub mod queue;
pub mod record;
pub mod scenarios;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use netns::{Privilege, prepare};
pub use record::{Addrs, Call};
pub use scenarios::Scenario;

use crate::capture::kernel::KernelTrace;
use crate::capture::spool::SpoolFile;
use crate::export::json::ConnectionDoc;
use crate::export::json::KernelDoc;
use crate::track::kernel::KernelRecord;
use crate::track::{Connection, Side, TrackConfig};
use netns::Netns;
use record::{Program, Recorder};
use scenarios::Ctx;

/// Why a demo could not run, in one line.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Isolation(String),
    #[error("{0}")]
    Capture(String),
    #[error("scenario {scenario}: the {side}'s {message}")]
    Program {
        scenario: &'static str,
        side: &'static str,
        message: String,
    },
}

/// What to run.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    pub scenario: Scenario,
    /// One-way delay of the path between client and server.
    pub delay: Duration,
    /// Where to keep the capture; a temporary file otherwise.
    pub keep: Option<PathBuf>,
}

/// A finished run: the capture and the calls.
#[derive(Debug)]
pub struct DemoRun {
    pub pcap: PathBuf,
    /// Removes a temporary capture once the caller is done with the run.
    _file: SpoolFile,
    pub calls: Vec<Call>,
    pub sockets: Vec<Addrs>,
    pub packets: u64,
    pub scenario: Scenario,
    pub delay: Duration,
    /// The most a packet left the forwarder after it was due; `None` on
    /// plain loopback.
    pub late: Option<Duration>,
    /// The server's listen queues over the run (empty without a server).
    pub queues: Vec<queue::Sample>,
    /// The tracker's settings that match the namespace's sysctls.
    pub track: TrackConfig,
    /// The kernel's own state changes of the demo's sockets, or why they
    /// could not be read (not root, no tracefs).
    pub kernel: Result<KernelRecord, String>,
}

/// The temporary capture of this process's run (known before the run, so
/// an interrupt handler can remove it).
pub fn temp_pcap() -> PathBuf {
    std::env::temp_dir().join(format!("tcpladder-demo-{}.pcap", std::process::id()))
}

/// The namespaces and what joins them, dropped together at the end.
struct Stage {
    client: Netns,
    server: Netns,
    interface: &'static str,
    forwarder: Option<path::Forwarder>,
}

fn client_sysctls(scenario: Scenario) -> Result<(), DemoError> {
    if let Some(n) = scenario.syn_retries() {
        netns::sysctl("net.ipv4.tcp_syn_retries", &n.to_string())?;
    }
    Ok(())
}

fn build_stage(cfg: &DemoConfig) -> Result<Stage, DemoError> {
    let scenario = cfg.scenario;
    if cfg.delay.is_zero() && !scenario.needs_forwarder() {
        let (ns, ()) = Netns::create(move || {
            netns::ip(&["link", "set", "lo", "up"])?;
            for a in [path::CLIENT, path::SERVER] {
                netns::ip(&["addr", "add", &format!("{a}/32"), "dev", "lo"])?;
            }
            client_sysctls(scenario)
        })?;
        return Ok(Stage {
            client: ns.clone(),
            server: ns,
            interface: "lo",
            forwarder: None,
        });
    }
    let (client, ctun) = Netns::create(move || {
        client_sysctls(scenario)?;
        path::open_tun(path::CLIENT)
    })?;
    let (server, stun) = Netns::create(|| path::open_tun(path::SERVER))?;
    let forwarder = path::Forwarder::start(ctun, stun, cfg.delay)?;
    Ok(Stage {
        client,
        server,
        interface: path::TUN_NAME,
        forwarder: Some(forwarder),
    })
}

/// Runs the scenario once and returns its capture and calls. [`prepare`]
/// must have been called first.
pub fn run(cfg: &DemoConfig) -> Result<DemoRun, DemoError> {
    let file = SpoolFile::new(cfg.keep.as_deref(), temp_pcap);
    let pcap = file.path.clone();
    let stage = build_stage(cfg)?;
    let recording = capture::Recording::start(&stage.client, stage.interface, &pcap)?;
    // Tracepoints are the host's: one session sees both namespaces.
    let ktrace = KernelTrace::start(&[scenarios::PORT]);
    let sampler = match cfg.scenario.programs().0 {
        Some(_) => Some(queue::Sampler::start(&stage.server, scenarios::PORT)?),
        None => None,
    };
    let rec = Recorder::default();
    let ctx = std::sync::Arc::new(Ctx::new(cfg.delay));
    let (server_prog, client_prog) = cfg.scenario.programs();
    let name = cfg.scenario.name();
    let server = match server_prog {
        Some(f) => {
            let (p, ctx) = (Program::new(Side::Server, &rec), ctx.clone());
            Some(stage.server.spawn("demo-server", move || f(&p, &ctx))?)
        }
        None => None,
    };
    let client = {
        let (p, ctx) = (Program::new(Side::Client, &rec), ctx.clone());
        stage
            .client
            .spawn("demo-client", move || client_prog(&p, &ctx))?
    };
    let outcome =
        |side: &'static str, r: std::thread::Result<Result<Result<(), String>, DemoError>>| match r
        {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(message))) => Err(DemoError::Program {
                scenario: name,
                side,
                message,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(DemoError::Program {
                scenario: name,
                side,
                message: "program panicked".into(),
            }),
        };
    let client_result = outcome("client", client.join());
    // A server still blocked (its client failed) is abandoned with the
    // namespaces: its thread ends with the process. One that ended is
    // heard first: a client that gave up waiting is its consequence.
    let server_result = match server {
        Some(h) if client_result.is_ok() || h.is_finished() => outcome("server", h.join()),
        _ => Ok(()),
    };
    // The last ACK needs a round trip to reach the capture.
    std::thread::sleep(cfg.delay * 3 + Duration::from_millis(150));
    let packets = recording.stop();
    let kernel = ktrace.and_then(KernelTrace::finish);
    let queues = match sampler {
        Some(s) => s.stop()?,
        None => Vec::new(),
    };
    let late = stage.forwarder.map(path::Forwarder::stop);
    drop(stage.client);
    drop(stage.server);
    let (calls, sockets) = rec.take();
    // Complete: a kept capture goes where it was asked for.
    let mut file = file;
    let pcap = file
        .commit()
        .map_err(|e| DemoError::Capture(format!("{}: {e}", pcap.display())))?;
    let mut run = DemoRun {
        pcap,
        _file: file,
        calls,
        sockets,
        packets: 0,
        scenario: cfg.scenario,
        delay: cfg.delay,
        late,
        queues,
        track: TrackConfig {
            syn_retries: cfg
                .scenario
                .syn_retries()
                .unwrap_or(crate::track::DEFAULT_SYN_RETRIES),
            ..TrackConfig::default()
        },
        kernel,
    };
    // On failure `run` is dropped here, and a temporary capture with it.
    server_result?;
    client_result?;
    run.packets = packets?;
    Ok(run)
}

impl DemoRun {
    /// The calls that belong to `conn`, in order of entry: those on its
    /// sockets (matched by both addresses; for a four-tuple used twice, the
    /// latest incarnation that had begun when the call returned), and the
    /// listener's own calls while the listener existed.
    pub fn calls_for<'a>(&'a self, conn: &Connection, all: &[Connection]) -> Vec<&'a Call> {
        let same_tuple: Vec<&Connection> = all
            .iter()
            .filter(|c| c.client == conn.client && c.server == conn.server)
            .collect();
        let incarnation_of = |t: crate::time::Timestamp| {
            same_tuple
                .iter()
                .rev()
                .find(|c| c.first_ts <= t)
                .or(same_tuple.first())
                .map(|c| c.id)
        };
        let mut out = Vec::new();
        for call in &self.calls {
            let Some(addrs) = self.sockets.get(call.socket) else {
                continue;
            };
            let (ours, theirs) = match call.side {
                Side::Client => (conn.client, conn.server),
                Side::Server => (conn.server, conn.client),
            };
            if addrs.listener {
                if addrs.local == Some(ours) && self.listener_alive(call.socket, conn.first_ts) {
                    out.push(call);
                }
                continue;
            }
            if addrs.local == Some(ours)
                && addrs.remote == Some(theirs)
                && incarnation_of(self.socket_start(call.socket)) == Some(conn.id)
            {
                out.push(call);
            }
        }
        out
    }

    /// Each connection's calls, by connection id, for the ladder views.
    pub fn calls_by_connection(&self, conns: &[Connection]) -> Vec<Vec<Call>> {
        crate::ladder::calls::by_connection(conns, |c| {
            self.calls_for(c, conns).into_iter().cloned().collect()
        })
    }

    /// The listen queues from `conn`'s first segment to its last, when the
    /// demo's listener was its server.
    fn listener_for(&self, conn: &Connection) -> Option<ListenerDoc> {
        if conn.server != server_addr() {
            return None;
        }
        let backlog = self
            .sockets
            .iter()
            .enumerate()
            .filter(|(i, a)| {
                a.listener && a.local == Some(conn.server) && self.listener_alive(*i, conn.first_ts)
            })
            .find_map(|(_, a)| a.backlog)?;
        Some(ListenerDoc {
            backlog: u32::try_from(backlog).ok(),
            samples: queue::during(&self.queues, conn.first_ts, conn.last_ts),
        })
    }

    /// When the socket's connection began, as far as its calls show: the
    /// return of its connect() or accept(), else its first call.
    fn socket_start(&self, socket: usize) -> crate::time::Timestamp {
        let mine = || self.calls.iter().filter(move |c| c.socket == socket);
        mine()
            .find(|c| c.call == "connect" || c.call == "accept")
            .or_else(|| mine().next())
            .map(|c| c.returned)
            .unwrap_or_default()
    }

    /// Whether the listening socket existed at `t`.
    fn listener_alive(&self, socket: usize, t: crate::time::Timestamp) -> bool {
        let mine: Vec<&Call> = self.calls.iter().filter(|c| c.socket == socket).collect();
        let born = mine.first().map(|c| c.entered);
        let died = mine.iter().find(|c| c.call == "close").map(|c| c.returned);
        born.is_some_and(|b| b <= t) && died.is_none_or(|d| t <= d)
    }
}

/// A call as `demo --json` prints it.
#[derive(Debug, Serialize)]
pub struct CallDoc {
    pub side: Side,
    pub pid: i32,
    pub call: &'static str,
    pub fd: i32,
    /// The arguments worth showing (`SHUT_WR`, `backlog 1`), or null.
    pub detail: Option<String>,
    pub entered: f64,
    pub returned: f64,
    pub result: String,
}

impl CallDoc {
    pub fn new(c: &Call) -> CallDoc {
        CallDoc {
            side: c.side,
            pid: c.pid,
            call: c.call,
            fd: c.fd,
            detail: c.detail.clone(),
            entered: c.entered.as_json_secs(),
            returned: c.returned.as_json_secs(),
            result: c.result.clone(),
        }
    }
}

/// The server's listen queues while a connection lasted.
#[derive(Debug, Serialize)]
pub struct ListenerDoc {
    /// What listen() asked for; null when the call was not seen (a
    /// listener that existed before `trace --pid` attached).
    pub backlog: Option<u32>,
    /// Each change, starting with the queues when the connection began.
    pub samples: Vec<queue::SampleDoc>,
}

/// A connection of the `analyze --json` document with its calls.
#[derive(Serialize)]
pub struct ConnectionWithCalls<'a> {
    #[serde(flatten)]
    pub connection: ConnectionDoc<'a>,
    pub calls: Vec<CallDoc>,
    /// null when no listener of the demo's served it.
    pub listener: Option<ListenerDoc>,
    /// The kernel's own record of both endpoints' states, where tcpladder
    /// could read it (root); null otherwise.
    pub kernel: Option<KernelDoc>,
}

/// How the run was made.
#[derive(Debug, Serialize)]
pub struct RunDoc {
    pub scenario: &'static str,
    /// The one-way delay asked for, in seconds.
    pub delay: f64,
    /// "tun" (the delayed path through the forwarder) or "loopback".
    pub path: &'static str,
    /// The most a packet left the forwarder after it was due, in seconds
    /// (null on loopback): the path's delay is `delay` to `delay` + this.
    pub late_max: Option<f64>,
    /// Why the kernel's own states are missing (null when they are there).
    pub kernel: Option<String>,
}

/// The `analyze --json` document, each connection with its socket calls
/// added as `"calls"` (the analysis document's fields come first, as
/// `analyze --json` prints them), and how the run was made as `"demo"`.
#[derive(Serialize)]
pub struct DocumentWithCalls<'a> {
    pub connections: Vec<ConnectionWithCalls<'a>>,
    pub demo: RunDoc,
}

pub fn calls_json<'a>(conns: &'a [Connection], run: &DemoRun) -> DocumentWithCalls<'a> {
    let kernel = kernel_docs(&run.kernel, conns);
    DocumentWithCalls {
        connections: conns
            .iter()
            .zip(kernel)
            .map(|(c, kernel)| ConnectionWithCalls {
                connection: crate::export::json::connection(c),
                calls: run
                    .calls_for(c, conns)
                    .into_iter()
                    .map(CallDoc::new)
                    .collect(),
                listener: run.listener_for(c),
                kernel,
            })
            .collect(),
        demo: RunDoc {
            scenario: run.scenario.name(),
            delay: run.delay.as_secs_f64(),
            path: if run.late.is_some() {
                "tun"
            } else {
                "loopback"
            },
            late_max: run.late.map(|d| d.as_secs_f64()),
            kernel: run.kernel.as_ref().err().cloned(),
        },
    }
}

/// Each connection's kernel record (see `KernelDoc::for_all`), all None
/// without one. `demo` and `trace` both use it.
pub fn kernel_docs(
    kernel: &Result<KernelRecord, String>,
    conns: &[Connection],
) -> Vec<Option<KernelDoc>> {
    match kernel {
        Ok(record) => KernelDoc::for_all(record, conns),
        Err(_) => conns.iter().map(|_| None).collect(),
    }
}

/// A call as `demo --json` printed it, read back.
#[derive(serde::Deserialize)]
struct CallIn {
    side: String,
    pid: i32,
    call: String,
    fd: i32,
    detail: Option<String>,
    entered: f64,
    returned: f64,
    result: String,
}

#[derive(serde::Deserialize)]
struct ConnectionIn {
    #[serde(default)]
    calls: Vec<CallIn>,
}

#[derive(serde::Deserialize)]
struct DocumentIn {
    connections: Vec<ConnectionIn>,
}

/// The calls of a `demo --json` document, per connection in its order (the
/// connection numbers of the capture it was made with): what
/// `export --calls` draws on a kept capture (`demo -w`), so a picture with
/// calls can be made again from fixed files.
pub fn calls_from_json(text: &str) -> Result<Vec<Vec<Call>>, String> {
    let doc: DocumentIn = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(doc.connections.len());
    for (n, c) in doc.connections.into_iter().enumerate() {
        let mut calls = Vec::with_capacity(c.calls.len());
        for k in c.calls {
            let side = match k.side.as_str() {
                "client" => Side::Client,
                "server" => Side::Server,
                other => return Err(format!("connection {}: side '{other}'", n + 1)),
            };
            let call = crate::ladder::calls::known_name(&k.call)
                .ok_or_else(|| format!("connection {}: unknown call '{}'", n + 1, k.call))?;
            calls.push(Call {
                side,
                pid: k.pid,
                call,
                fd: k.fd,
                detail: k.detail,
                entered: crate::time::Timestamp::from_secs_f64(k.entered),
                returned: crate::time::Timestamp::from_secs_f64(k.returned),
                result: k.result,
                socket: 0,
            });
        }
        out.push(calls);
    }
    Ok(out)
}

/// `demo --list`: one scenario a line, its name first.
pub fn list() -> String {
    let width = Scenario::ALL
        .iter()
        .map(|s| s.name().len())
        .max()
        .unwrap_or(0);
    Scenario::ALL
        .iter()
        .map(|s| format!("{:<width$}  {}\n", s.name(), s.about()))
        .collect()
}

/// The addresses the demo uses, for documentation and tests.
pub fn server_addr() -> SocketAddr {
    SocketAddr::new(path::SERVER.into(), scenarios::PORT)
}
