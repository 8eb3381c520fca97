//! The built-in client and server, one pair of programs per scenario,
//! doing what the socket tutorials do: the server `socket()`, `bind()`,
//! `listen()` and blocks in `accept()`; the client `socket()`, `bind()` to
//! port 0 (as the tutorial's client does, so its port is known before the
//! SYN), `connect()`; a request and a reply with `write()` and `read()`;
//! `close()`. Every call goes through [`Sock`] and is recorded.
//!
//! The programs run on threads of this process, each in its namespace;
//! they wait for each other only through [`Ctx`] (the server is listening,
//! both are ready to close), never by guessing a time, except where a
//! scenario must let the network settle (the client's reconnect in
//! `reuse-time-wait`). This module may not touch namespaces or packets.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Barrier, Condvar, Mutex};
use std::time::Duration;

use super::path::{CLIENT, SERVER, SILENT, UNREACHABLE};
use super::record::{Program, Sock, errno_name};

/// The port the server listens on, as in the tutorials' tcpdump line.
pub const PORT: u16 = 9502;
const REQUEST: &[u8] = b"hello, server\n";
const REPLY: &[u8] = b"hello, client\n";
/// How long a program waits for the other before giving up.
const PATIENCE: Duration = Duration::from_secs(20);

/// A scenario: what it shows and the programs that show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    ClientClose,
    ServerClose,
    Refused,
    SynTimeout,
    HostUnreachable,
    HalfClose,
    LingerRst,
    UnreadRst,
    BacklogFull,
    SimultaneousClose,
    ReuseTimeWait,
}

impl Scenario {
    pub const ALL: [Scenario; 11] = [
        Scenario::ClientClose,
        Scenario::ServerClose,
        Scenario::Refused,
        Scenario::SynTimeout,
        Scenario::HostUnreachable,
        Scenario::HalfClose,
        Scenario::LingerRst,
        Scenario::UnreadRst,
        Scenario::BacklogFull,
        Scenario::SimultaneousClose,
        Scenario::ReuseTimeWait,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::ClientClose => "client-close",
            Scenario::ServerClose => "server-close",
            Scenario::Refused => "refused",
            Scenario::SynTimeout => "syn-timeout",
            Scenario::HostUnreachable => "host-unreachable",
            Scenario::HalfClose => "half-close",
            Scenario::LingerRst => "linger-rst",
            Scenario::UnreadRst => "unread-rst",
            Scenario::BacklogFull => "backlog-full",
            Scenario::SimultaneousClose => "simultaneous-close",
            Scenario::ReuseTimeWait => "reuse-time-wait",
        }
    }

    pub fn about(self) -> &'static str {
        match self {
            Scenario::ClientClose => {
                "a request and a reply, then the client calls close() first: four-way close, the client in TIME-WAIT"
            }
            Scenario::ServerClose => {
                "the server calls close() after its reply: the client's read() = 0 (EOF), the server in TIME-WAIT"
            }
            Scenario::Refused => {
                "nothing listens on the port: the SYN is answered by RST, connect() = -1 ECONNREFUSED"
            }
            Scenario::SynTimeout => {
                "the server host never answers: the SYN is resent once (tcp_syn_retries = 1 in the client's namespace), connect() = -1 ETIMEDOUT after 3 s"
            }
            Scenario::HostUnreachable => {
                "a router answers the SYN with ICMP host unreachable: connect() = -1 EHOSTUNREACH"
            }
            Scenario::HalfClose => {
                "the client's shutdown(SHUT_WR) after its request, the server's reply after read() = 0, then the server's close()"
            }
            Scenario::LingerRst => {
                "SO_LINGER {on, 0}: the client's close() sends RST instead of FIN, the server's read() = -1 ECONNRESET"
            }
            Scenario::UnreadRst => {
                "the server calls close() with the request unread: RST instead of FIN, the client's read() = -1 ECONNRESET"
            }
            Scenario::BacklogFull => {
                "listen(fd, 1) and no accept(): two connections fill the accept queue, the third client's SYNs are dropped (ETIMEDOUT)"
            }
            Scenario::SimultaneousClose => {
                "both call close() at the same moment: the FINs cross on the delayed path, CLOSING, both ends in TIME-WAIT"
            }
            Scenario::ReuseTimeWait => {
                "the server closes first and restarts: bind() = -1 EADDRINUSE until SO_REUSEADDR; the client reconnects from the same port into the TIME-WAIT"
            }
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The client namespace's `net.ipv4.tcp_syn_retries`, where the
    /// scenario waits for connect() to give up.
    pub fn syn_retries(self) -> Option<u8> {
        match self {
            Scenario::SynTimeout | Scenario::BacklogFull => Some(1),
            _ => None,
        }
    }

    /// Needs the forwarder (a host that never answers, a router's ICMP
    /// error) even with no delay.
    pub fn needs_forwarder(self) -> bool {
        matches!(self, Scenario::SynTimeout | Scenario::HostUnreachable)
    }

    pub(super) fn programs(self) -> (Option<ProgramFn>, ProgramFn) {
        match self {
            Scenario::ClientClose => (Some(server_waits_for_eof), client_closes),
            Scenario::ServerClose => (Some(server_closes), client_reads_eof),
            Scenario::Refused => (None, client_refused),
            Scenario::SynTimeout => (None, client_times_out),
            Scenario::HostUnreachable => (None, client_unreachable),
            Scenario::HalfClose => (Some(server_half_close), client_half_close),
            Scenario::LingerRst => (Some(server_reset_by_peer), client_linger_zero),
            Scenario::UnreadRst => (Some(server_unread_close), client_reset_by_peer),
            Scenario::BacklogFull => (Some(server_never_accepts), clients_fill_backlog),
            Scenario::SimultaneousClose => (Some(server_closes_with_peer), client_closes_with_peer),
            Scenario::ReuseTimeWait => (Some(server_restarts), client_reconnects),
        }
    }
}

pub(super) type ProgramFn = fn(&Program, &Ctx) -> Result<(), String>;

/// A flag one program raises and the other waits for.
#[derive(Debug, Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub fn open(&self) {
        let mut g = match self.open.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = true;
        self.cv.notify_all();
    }

    pub fn wait(&self, what: &str) -> Result<(), String> {
        let g = match self.open.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (g, _) = match self.cv.wait_timeout_while(g, PATIENCE, |open| !*open) {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        if *g {
            Ok(())
        } else {
            Err(format!("gave up waiting for {what}"))
        }
    }
}

/// What the two programs share.
#[derive(Debug)]
pub struct Ctx {
    pub delay: Duration,
    /// The server is listening.
    pub listening: Gate,
    /// The server's second listener is up (reuse-time-wait).
    pub relistening: Gate,
    /// The client is finished (backlog-full).
    pub client_done: Gate,
    /// Both are ready to close (simultaneous-close).
    pub close_together: Barrier,
}

impl Ctx {
    pub fn new(delay: Duration) -> Ctx {
        Ctx {
            delay,
            listening: Gate::default(),
            relistening: Gate::default(),
            client_done: Gate::default(),
            close_together: Barrier::new(2),
        }
    }

    fn server_addr(&self) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(SERVER, PORT))
    }
}

fn at(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

/// Names the failed call: "accept: Connection reset by peer (ECONNRESET)".
fn step<T>(what: &str, r: std::io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e} ({})", errno_name(&e)))
}

/// A call that must fail with `errno`.
fn must_fail<T>(what: &str, r: std::io::Result<T>, errno: &str) -> Result<(), String> {
    match r {
        Err(e) if errno_name(&e) == errno => Ok(()),
        Err(e) => Err(format!("{what}: expected {errno}, got {}", errno_name(&e))),
        Ok(_) => Err(format!("{what}: expected {errno}, but it succeeded")),
    }
}

/// socket(), bind(port), listen(backlog); the client is told.
fn listen(p: &Program, ctx: &Ctx, backlog: i32, reuse: bool) -> Result<Sock, String> {
    let l = step("socket", p.socket())?;
    if reuse {
        step("setsockopt", l.reuse_addr())?;
    }
    step("bind", l.bind(ctx.server_addr()))?;
    step("listen", l.listen(backlog))?;
    Ok(l)
}

/// socket(), bind(port 0) as the tutorial's client does, connect().
fn connect_to(p: &Program, to: SocketAddr) -> Result<(Sock, std::io::Result<()>), String> {
    let s = step("socket", p.socket())?;
    step("bind", s.bind(at(CLIENT, 0)))?;
    let r = s.connect(to);
    Ok((s, r))
}

fn connected(p: &Program, ctx: &Ctx) -> Result<Sock, String> {
    ctx.listening.wait("the server to listen")?;
    let (s, r) = connect_to(p, ctx.server_addr())?;
    step("connect", r)?;
    Ok(s)
}

/// Reads until `n` bytes came or the stream ended.
fn read_n(s: &Sock, n: usize) -> Result<usize, String> {
    let mut buf = [0u8; 256];
    let mut got = 0;
    while got < n {
        let k = step("read", s.read(&mut buf))?;
        if k == 0 {
            break;
        }
        got += k;
    }
    Ok(got)
}

/// One read that must return 0: the peer's FIN.
fn read_eof(s: &Sock) -> Result<(), String> {
    let mut buf = [0u8; 256];
    match step("read", s.read(&mut buf))? {
        0 => Ok(()),
        n => Err(format!("read: expected 0 (EOF), got {n} bytes")),
    }
}

fn request_reply(s: &Sock) -> Result<(), String> {
    step("write", s.write(REQUEST))?;
    read_n(s, REPLY.len()).map(|_| ())
}

fn serve_one(c: &Sock) -> Result<(), String> {
    read_n(c, REQUEST.len())?;
    step("write", c.write(REPLY)).map(|_| ())
}

fn server_waits_for_eof(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let l = listen(p, ctx, 5, false)?;
    ctx.listening.open();
    let c = step("accept", l.accept())?;
    serve_one(&c)?;
    read_eof(&c)?;
    step("close", c.close())?;
    step("close", l.close())
}

fn client_closes(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let s = connected(p, ctx)?;
    request_reply(&s)?;
    step("close", s.close())
}

fn server_closes(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let l = listen(p, ctx, 5, false)?;
    ctx.listening.open();
    let c = step("accept", l.accept())?;
    serve_one(&c)?;
    step("close", c.close())?;
    step("close", l.close())
}

fn client_reads_eof(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let s = connected(p, ctx)?;
    request_reply(&s)?;
    read_eof(&s)?;
    step("close", s.close())
}

fn client_refused(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let (s, r) = connect_to(p, ctx.server_addr())?;
    must_fail("connect", r, "ECONNREFUSED")?;
    step("close", s.close())
}

fn client_times_out(p: &Program, _ctx: &Ctx) -> Result<(), String> {
    let (s, r) = connect_to(p, at(SILENT, PORT))?;
    must_fail("connect", r, "ETIMEDOUT")?;
    step("close", s.close())
}

fn client_unreachable(p: &Program, _ctx: &Ctx) -> Result<(), String> {
    let (s, r) = connect_to(p, at(UNREACHABLE, PORT))?;
    must_fail("connect", r, "EHOSTUNREACH")?;
    step("close", s.close())
}

fn server_half_close(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let l = listen(p, ctx, 5, false)?;
    ctx.listening.open();
    let c = step("accept", l.accept())?;
    // Everything up to the client's FIN: the request, then read() = 0.
    read_n(&c, usize::MAX)?;
    // The half-closed connection still carries data the other way.
    step("write", c.write(REPLY))?;
    step("close", c.close())?;
    step("close", l.close())
}

fn client_half_close(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let s = connected(p, ctx)?;
    step("write", s.write(REQUEST))?;
    step("shutdown", s.shutdown_write())?;
    read_n(&s, REPLY.len())?;
    read_eof(&s)?;
    step("close", s.close())
}

fn server_reset_by_peer(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let l = listen(p, ctx, 5, false)?;
    ctx.listening.open();
    let c = step("accept", l.accept())?;
    serve_one(&c)?;
    let mut buf = [0u8; 256];
    must_fail("read", c.read(&mut buf), "ECONNRESET")?;
    step("close", c.close())?;
    step("close", l.close())
}

fn client_linger_zero(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let s = connected(p, ctx)?;
    request_reply(&s)?;
    step("setsockopt", s.linger_zero())?;
    step("close", s.close())
}

fn server_unread_close(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let l = listen(p, ctx, 5, false)?;
    ctx.listening.open();
    let c = step("accept", l.accept())?;
    // Wait for the request without taking it off the receive queue.
    step("recv", c.peek())?;
    step("close", c.close())?;
    step("close", l.close())
}

fn client_reset_by_peer(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let s = connected(p, ctx)?;
    step("write", s.write(REQUEST))?;
    let mut buf = [0u8; 256];
    must_fail("read", s.read(&mut buf), "ECONNRESET")?;
    step("close", s.close())
}

fn server_never_accepts(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let l = listen(p, ctx, 1, false)?;
    ctx.listening.open();
    ctx.client_done.wait("the clients")?;
    step("close", l.close())
}

fn clients_fill_backlog(p: &Program, ctx: &Ctx) -> Result<(), String> {
    ctx.listening.wait("the server to listen")?;
    let mut open = Vec::new();
    // listen(fd, 1) queues two: Linux lets the accept queue hold one more
    // than the backlog before it drops SYNs.
    for _ in 0..2 {
        let (s, r) = connect_to(p, ctx.server_addr())?;
        step("connect", r)?;
        open.push(s);
    }
    let (s, r) = connect_to(p, ctx.server_addr())?;
    must_fail("connect", r, "ETIMEDOUT")?;
    step("close", s.close())?;
    for s in open {
        step("close", s.close())?;
    }
    ctx.client_done.open();
    Ok(())
}

fn server_closes_with_peer(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let l = listen(p, ctx, 5, false)?;
    ctx.listening.open();
    let c = step("accept", l.accept())?;
    serve_one(&c)?;
    ctx.close_together.wait();
    step("close", c.close())?;
    step("close", l.close())
}

fn client_closes_with_peer(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let s = connected(p, ctx)?;
    request_reply(&s)?;
    ctx.close_together.wait();
    step("close", s.close())
}

fn server_restarts(p: &Program, ctx: &Ctx) -> Result<(), String> {
    let l = listen(p, ctx, 5, true)?;
    ctx.listening.open();
    let c = step("accept", l.accept())?;
    serve_one(&c)?;
    step("close", c.close())?;
    step("close", l.close())?;
    // The restarted server: its port is held by the TIME-WAIT until it
    // asks for SO_REUSEADDR.
    let l = step("socket", p.socket())?;
    must_fail("bind", l.bind(ctx.server_addr()), "EADDRINUSE")?;
    step("setsockopt", l.reuse_addr())?;
    step("bind", l.bind(ctx.server_addr()))?;
    step("listen", l.listen(5))?;
    ctx.relistening.open();
    let c = step("accept", l.accept())?;
    serve_one(&c)?;
    read_eof(&c)?;
    step("close", c.close())?;
    step("close", l.close())
}

fn client_reconnects(p: &Program, ctx: &Ctx) -> Result<(), String> {
    ctx.listening.wait("the server to listen")?;
    let s = step("socket", p.socket())?;
    step("setsockopt", s.reuse_addr())?;
    step("bind", s.bind(at(CLIENT, 0)))?;
    step("connect", s.connect(ctx.server_addr()))?;
    let port = s.local_port();
    request_reply(&s)?;
    read_eof(&s)?;
    step("close", s.close())?;
    ctx.relistening.wait("the server to listen again")?;
    // Until the server's ACK of our FIN comes back this socket is still in
    // LAST-ACK on the same four-tuple, and connect() would fail.
    std::thread::sleep(ctx.delay * 4 + Duration::from_millis(100));
    let s = step("socket", p.socket())?;
    step("setsockopt", s.reuse_addr())?;
    step("bind", s.bind(at(CLIENT, port)))?;
    step("connect", s.connect(ctx.server_addr()))?;
    request_reply(&s)?;
    step("close", s.close())
}
