//! The socket calls the built-in programs make, each recorded with when it
//! was entered and when it returned, on CLOCK_REALTIME (`SystemTime`), the
//! clock libpcap stamps packets with, so a call and a segment compare
//! directly.
//!
//! [`Sock`] wraps a `socket2::Socket` and records every call made through
//! it; the programs use nothing else, so the record is complete. Each call
//! keeps the socket it was made on, whose addresses (known exactly: the
//! programs bind before they connect) match it to a connection afterwards.
//!
//! This module may not touch namespaces or packets.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::time::Timestamp;
use crate::track::Side;

// The call type is the ladder's, which places calls among segments; the
// recorder only fills it in.
pub use crate::ladder::calls::Call;

/// The addresses of a socket, as far as they are known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Addrs {
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// A listening socket.
    pub listener: bool,
    /// Its `listen()` backlog.
    pub backlog: Option<i32>,
}

#[derive(Debug, Default)]
struct Log {
    calls: Vec<Call>,
    sockets: Vec<Addrs>,
}

/// Where both programs record; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Recorder(Arc<Mutex<Log>>);

impl Recorder {
    /// Everything recorded, calls in order of entry.
    pub fn take(&self) -> (Vec<Call>, Vec<Addrs>) {
        let mut log = match self.0.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        let mut calls = std::mem::take(&mut log.calls);
        calls.sort_by_key(|c| c.entered);
        (calls, std::mem::take(&mut log.sockets))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        match self.0.lock() {
            Ok(mut l) => f(&mut l),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// The current time on CLOCK_REALTIME.
pub fn now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Timestamp::from_secs_nanos(
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        i64::from(d.subsec_nanos()),
    )
}

/// The errno's name, as C programs print it with `strerrorname_np`.
pub fn errno_name(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => format!("{:?}", nix::errno::Errno::from_raw(code)),
        None => e.kind().to_string(),
    }
}

/// One of the built-in programs (the client or the server), on its thread.
#[derive(Clone, Debug)]
pub struct Program {
    pub side: Side,
    rec: Recorder,
}

impl Program {
    pub fn new(side: Side, rec: &Recorder) -> Program {
        Program {
            side,
            rec: rec.clone(),
        }
    }

    /// `socket(AF_INET, SOCK_STREAM, 0)`.
    pub fn socket(&self) -> std::io::Result<Sock> {
        let id = self.rec.with(|l| {
            l.sockets.push(Addrs::default());
            l.sockets.len() - 1
        });
        let entered = now();
        let r = Socket::new(Domain::IPV4, Type::STREAM, None);
        let returned = now();
        let fd = r.as_ref().map_or(-1, |s| s.as_raw_fd());
        self.push(Call {
            side: self.side,
            pid: nix::unistd::gettid().as_raw(),
            call: "socket",
            fd,
            detail: None,
            entered,
            returned,
            result: result(&r, |_| fd.to_string()),
            socket: id,
        });
        r.map(|s| Sock {
            prog: self.clone(),
            s: Some(s),
            id,
            fd,
        })
    }

    fn push(&self, call: Call) {
        self.rec.with(|l| l.calls.push(call));
    }
}

fn result<T>(r: &std::io::Result<T>, ok: impl FnOnce(&T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => format!("-1 {}", errno_name(e)),
    }
}

/// A socket whose every call is recorded.
#[derive(Debug)]
pub struct Sock {
    prog: Program,
    /// `None` once closed.
    s: Option<Socket>,
    id: usize,
    fd: i32,
}

impl Sock {
    fn inner(&self) -> std::io::Result<&Socket> {
        self.s
            .as_ref()
            .ok_or_else(|| std::io::Error::from_raw_os_error(nix::libc::EBADF))
    }

    fn note(&self, f: impl FnOnce(&mut Addrs)) {
        self.prog.rec.with(|l| {
            if let Some(a) = l.sockets.get_mut(self.id) {
                f(a);
            }
        });
    }

    /// Runs `op` as the call `name` and records it.
    fn call<T>(
        &self,
        name: &'static str,
        detail: Option<String>,
        op: impl FnOnce(&Socket) -> std::io::Result<T>,
        ok: impl FnOnce(&T) -> String,
    ) -> std::io::Result<T> {
        let entered = now();
        let r = self.inner().and_then(op);
        let returned = now();
        self.prog.push(Call {
            side: self.prog.side,
            pid: nix::unistd::gettid().as_raw(),
            call: name,
            fd: self.fd,
            detail,
            entered,
            returned,
            result: result(&r, ok),
            socket: self.id,
        });
        r
    }

    pub fn fd(&self) -> i32 {
        self.fd
    }

    /// The port the socket is bound to (0 before bind).
    pub fn local_port(&self) -> u16 {
        self.inner()
            .ok()
            .and_then(|s| s.local_addr().ok())
            .and_then(|a| a.as_socket())
            .map_or(0, |a| a.port())
    }

    /// `setsockopt(SO_REUSEADDR, 1)`.
    pub fn reuse_addr(&self) -> std::io::Result<()> {
        self.call(
            "setsockopt",
            Some("SO_REUSEADDR 1".into()),
            |s| s.set_reuse_address(true),
            |_| "0".into(),
        )
    }

    /// `setsockopt(SO_LINGER, {on, 0})`: close() will reset.
    pub fn linger_zero(&self) -> std::io::Result<()> {
        self.call(
            "setsockopt",
            Some("SO_LINGER {on, 0}".into()),
            |s| s.set_linger(Some(Duration::ZERO)),
            |_| "0".into(),
        )
    }

    pub fn bind(&self, addr: SocketAddr) -> std::io::Result<()> {
        let r = self.call(
            "bind",
            Some(addr.to_string()),
            |s| s.bind(&SockAddr::from(addr)),
            |_| "0".into(),
        );
        if r.is_ok() {
            let local = self.inner().ok().and_then(|s| s.local_addr().ok());
            self.note(|a| a.local = local.and_then(|l| l.as_socket()));
        }
        r
    }

    pub fn listen(&self, backlog: i32) -> std::io::Result<()> {
        self.note(|a| {
            a.listener = true;
            a.backlog = Some(backlog);
        });
        self.call(
            "listen",
            Some(format!("backlog {backlog}")),
            |s| s.listen(backlog),
            |_| "0".into(),
        )
    }

    pub fn connect(&self, addr: SocketAddr) -> std::io::Result<()> {
        self.note(|a| a.remote = Some(addr));
        let r = self.call(
            "connect",
            Some(addr.to_string()),
            |s| s.connect(&SockAddr::from(addr)),
            |_| "0".into(),
        );
        let local = self.inner().ok().and_then(|s| s.local_addr().ok());
        if let Some(l) = local.and_then(|l| l.as_socket()) {
            self.note(|a| a.local = Some(l));
        }
        r
    }

    /// `accept()`: the call is recorded against the new socket, whose
    /// connection it completes.
    pub fn accept(&self) -> std::io::Result<Sock> {
        let id = self.prog.rec.with(|l| {
            l.sockets.push(Addrs::default());
            l.sockets.len() - 1
        });
        let entered = now();
        let r = self.inner().and_then(|s| s.accept());
        let returned = now();
        let new_fd = r.as_ref().map_or(-1, |(s, _)| s.as_raw_fd());
        self.prog.push(Call {
            side: self.prog.side,
            pid: nix::unistd::gettid().as_raw(),
            call: "accept",
            fd: self.fd,
            detail: None,
            entered,
            returned,
            result: result(&r, |_| new_fd.to_string()),
            socket: id,
        });
        let (s, peer) = r?;
        let local = s.local_addr().ok().and_then(|l| l.as_socket());
        self.prog.rec.with(|l| {
            if let Some(a) = l.sockets.get_mut(id) {
                a.local = local;
                a.remote = peer.as_socket();
            }
        });
        Ok(Sock {
            prog: self.prog.clone(),
            s: Some(s),
            id,
            fd: new_fd,
        })
    }

    pub fn write(&self, data: &[u8]) -> std::io::Result<usize> {
        self.call(
            "write",
            Some(format!("{} bytes", data.len())),
            |mut s| s.write(data),
            |n| n.to_string(),
        )
    }

    /// One `read()`; 0 is the end of the stream (the peer's FIN).
    pub fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.call("read", None, |mut s| s.read(buf), |n| n.to_string())
    }

    /// `recv(MSG_PEEK)`: waits for data without taking it, so it is still
    /// unread when the socket is closed.
    pub fn peek(&self) -> std::io::Result<usize> {
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
        self.call(
            "recv",
            Some("MSG_PEEK".into()),
            |s| s.peek(&mut buf),
            |n| n.to_string(),
        )
    }

    pub fn shutdown_write(&self) -> std::io::Result<()> {
        self.call(
            "shutdown",
            Some("SHUT_WR".into()),
            |s| s.shutdown(Shutdown::Write),
            |_| "0".into(),
        )
    }

    /// `close()`: the descriptor goes away inside the timed call.
    pub fn close(mut self) -> std::io::Result<()> {
        let sock = self.s.take();
        let entered = now();
        drop(sock);
        let returned = now();
        self.prog.push(Call {
            side: self.prog.side,
            pid: nix::unistd::gettid().as_raw(),
            call: "close",
            fd: self.fd,
            detail: None,
            entered,
            returned,
            result: "0".into(),
            socket: self.id,
        });
        Ok(())
    }
}
