//! The ptrace side of `trace`: one thread that starts (or attaches to) the
//! program, follows its forks, vforks, clones and threads, and at every
//! syscall entry and exit of the socket calls reads the registers (x86_64:
//! `orig_rax`, `rdi`, `rsi`, `rdx`, `r10`, `r8`, `rax`), the tracee's
//! memory (`process_vm_readv`, for sockaddrs, socket options and pollfds)
//! and `/proc` ([`super::procnet`]), all while the tracee is stopped, so
//! each call is tied to its socket's four-tuple exactly.
//!
//! Every ptrace request and every `waitpid` is made by the one tracer
//! thread (Linux ties a tracee to the thread that attached it), and the
//! waits are `__WNOTHREAD`, so children of other threads of this process
//! are never reaped here. A spawned program is seized with
//! `PTRACE_O_EXITKILL`: it dies with the tracer. An attached one is
//! detached when the stop flag is raised.
//!
//! This module may not capture packets or judge TCP states; it records
//! calls and the sockets' addresses.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::sys::ptrace::{self, Options};
use nix::sys::signal::{Signal, kill};
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::TraceError;
use super::procnet::{self, Peek, SockView};
use crate::demo::queue::Listening;
use crate::demo::record::{Addrs, Call, now};
use crate::time::Timestamp;
use crate::track::Side;

/// A socket the program used, with what is known of it.
#[derive(Clone, Debug, Default)]
pub struct SockInfo {
    pub addrs: Addrs,
    pub side: Option<Side>,
    pub inode: u64,
}

/// What the tracer gathered.
#[derive(Debug, Default)]
pub struct Gathered {
    pub calls: Vec<Call>,
    pub sockets: Vec<SockInfo>,
    /// The program's exit status (128 + the signal that killed it); `None`
    /// when it was detached still running.
    pub exit: Option<i32>,
    /// The first process: the spawned program, or the attached pid.
    pub pid: i32,
}

/// The registers of a syscall stop.
#[derive(Clone, Copy, Debug)]
struct Regs {
    nr: i64,
    args: [u64; 6],
    ret: i64,
}

#[cfg(target_arch = "x86_64")]
fn regs(pid: Pid) -> Option<Regs> {
    let r = ptrace::getregs(pid).ok()?;
    // A 32-bit program (the compat code segment) numbers its syscalls
    // differently: not decoded.
    if r.cs == 0x23 {
        return None;
    }
    Some(Regs {
        nr: r.orig_rax as i64,
        args: [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9],
        ret: r.rax as i64,
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn regs(_pid: Pid) -> Option<Regs> {
    None
}

/// Whether this machine's registers are decoded.
pub fn supported() -> bool {
    cfg!(target_arch = "x86_64")
}

/// A call seen at its entry, waiting for its exit.
#[derive(Clone, Debug)]
struct Pending {
    nr: i64,
    args: [u64; 6],
    entered: Timestamp,
    /// The socket of the call's fd (index into `sockets`).
    sock: Option<usize>,
    /// A sockaddr or option value read at entry.
    detail: Option<String>,
    addr: Option<SocketAddr>,
    /// Blocked in this call already when the trace attached: `entered` is
    /// the attach time.
    before: bool,
}

struct Tracer {
    calls: Vec<Call>,
    sockets: Vec<SockInfo>,
    by_inode: HashMap<u64, usize>,
    pending: HashMap<i32, Pending>,
    /// Entry times of calls the kernel is restarting after a signal.
    restarting: HashMap<i32, (i64, Timestamp)>,
    /// The syscall each attached thread was blocked in when attached: its
    /// entry, seen again when the kernel restarts it, is the attach time.
    blocked_before: HashMap<i32, i64>,
    tracees: Vec<i32>,
    peek: Peek,
    main: i32,
    exit: Option<i32>,
    /// Where the listeners are, for the queue sampler.
    listening: Listening,
}

const RESTART: std::ops::RangeInclusive<i64> = -516..=-512;

fn options(spawned: bool) -> Options {
    let o = Options::PTRACE_O_TRACESYSGOOD
        | Options::PTRACE_O_TRACEFORK
        | Options::PTRACE_O_TRACEVFORK
        | Options::PTRACE_O_TRACECLONE
        | Options::PTRACE_O_TRACEEXEC
        | Options::PTRACE_O_TRACEEXIT;
    if spawned {
        o | Options::PTRACE_O_EXITKILL
    } else {
        o
    }
}

fn wait_flags() -> WaitPidFlag {
    WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD
}

/// Whether `program` can be executed (a path, or a name on PATH).
fn findable(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Starts `argv` stopped (through `sh -c 'kill -STOP $$; exec "$@"'`),
/// seizes it, and traces it and its descendants until all have exited.
/// Must be called on the thread that will do nothing else meanwhile.
/// That `argv` names a program that can be started.
pub fn check_program(argv: &[String]) -> Result<(), TraceError> {
    let Some(program) = argv.first() else {
        return Err(TraceError::Program("no program to run".into()));
    };
    if !findable(program) {
        return Err(TraceError::Program(format!(
            "{program}: not found (give a path, or a name on PATH)"
        )));
    }
    Ok(())
}

/// With `stop` raised, the program is sent SIGINT (as Ctrl-C would) and
/// traced until it exits; what is still alive 2 s later is killed.
pub fn spawn_and_trace(
    argv: &[String],
    stop: Option<&AtomicBool>,
    listening: Listening,
) -> Result<Gathered, TraceError> {
    check_program(argv)?;
    let Some(program) = argv.first() else {
        return Err(TraceError::Program("no program to run".into()));
    };
    let child = Command::new("sh")
        .arg("-c")
        .arg("kill -STOP $$; exec \"$@\"")
        .arg("tcpladder-trace")
        .args(argv)
        .spawn()
        .map_err(|e| TraceError::Program(format!("cannot start sh to run {program}: {e}")))?;
    let pid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
    let first = waitpid(pid, Some(WaitPidFlag::WUNTRACED | wait_flags()))
        .map_err(|e| TraceError::Program(format!("waiting for {program} to start: {e}")))?;
    if !matches!(first, WaitStatus::Stopped(_, Signal::SIGSTOP)) {
        return Err(TraceError::Program(format!(
            "{program} did not start ({first:?})"
        )));
    }
    if let Err(e) = ptrace::seize(pid, options(true)) {
        let _ = kill(pid, Signal::SIGKILL);
        return Err(TraceError::Ptrace(format!(
            "cannot trace {program}: PTRACE_SEIZE failed ({}); check kernel.yama.ptrace_scope or a container's seccomp policy",
            e.desc()
        )));
    }
    kill(pid, Signal::SIGCONT)
        .map_err(|e| TraceError::Program(format!("cannot resume {program}: {}", e.desc())))?;
    let mut t = Tracer::new(pid.as_raw(), listening);
    t.tracees.push(pid.as_raw());
    t.run(stop, true)?;
    Ok(t.finish())
}

/// Attaches to every thread of `pid` and traces until it exits or `stop`
/// is raised (then detaches, leaving it running).
pub fn attach_and_trace(
    pid: i32,
    stop: Option<&AtomicBool>,
    listening: Listening,
) -> Result<Gathered, TraceError> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|e| TraceError::Program(format!("no process {pid}: {e}")))?;
    let mut t = Tracer::new(pid, listening);
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let p = Pid::from_raw(tid);
        // "43 0x3 ..." while blocked in accept(); "running" otherwise.
        if let Some(nr) = std::fs::read_to_string(format!("/proc/{tid}/syscall"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok())
        {
            t.blocked_before.insert(tid, nr);
        }
        match ptrace::seize(p, options(false)) {
            Ok(()) => {
                t.tracees.push(tid);
                let _ = ptrace::interrupt(p);
            }
            Err(Errno::ESRCH) => {}
            Err(e) => {
                t.detach_all();
                return Err(TraceError::Ptrace(format!(
                    "cannot attach to {pid}: PTRACE_SEIZE failed ({}); it needs the same user and kernel.yama.ptrace_scope 0, or root",
                    e.desc()
                )));
            }
        }
    }
    if t.tracees.is_empty() {
        return Err(TraceError::Program(format!("no process {pid}")));
    }
    t.run(stop, false)?;
    Ok(t.finish())
}

impl Tracer {
    fn new(main: i32, listening: Listening) -> Tracer {
        Tracer {
            listening,
            calls: Vec::new(),
            sockets: Vec::new(),
            by_inode: HashMap::new(),
            pending: HashMap::new(),
            restarting: HashMap::new(),
            blocked_before: HashMap::new(),
            tracees: Vec::new(),
            peek: Peek::default(),
            main,
            exit: None,
        }
    }

    fn finish(mut self) -> Gathered {
        self.calls.sort_by_key(|c| c.entered);
        Gathered {
            calls: self.calls,
            sockets: self.sockets,
            exit: self.exit,
            pid: self.main,
        }
    }

    fn gone(&mut self, pid: i32) {
        self.peek.forget(pid);
        self.tracees.retain(|p| *p != pid);
        self.pending.remove(&pid);
        self.restarting.remove(&pid);
    }

    /// Follows the tracees until none is left. Without a stop flag the
    /// wait blocks; with one it polls every 50 µs (a tracee stopped at a
    /// call waits that much longer, its times do not move).
    fn run(&mut self, stop: Option<&AtomicBool>, spawned: bool) -> Result<(), TraceError> {
        let mut flags = wait_flags();
        if stop.is_some() {
            flags |= WaitPidFlag::WNOHANG;
        }
        let mut interrupted: Option<std::time::Instant> = None;
        while !self.tracees.is_empty() {
            let status = match waitpid(None::<Pid>, Some(flags)) {
                Ok(s) => s,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECHILD) => break,
                Err(e) => return Err(TraceError::Ptrace(format!("waitpid failed: {}", e.desc()))),
            };
            let t = now();
            match status {
                WaitStatus::StillAlive => {
                    if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                        if !spawned {
                            self.detach_all();
                            return Ok(());
                        }
                        match interrupted {
                            None => {
                                let _ = kill(Pid::from_raw(self.main), Signal::SIGINT);
                                interrupted = Some(std::time::Instant::now());
                            }
                            Some(at) if at.elapsed() > Duration::from_secs(2) => {
                                for &tid in &self.tracees {
                                    let _ = kill(Pid::from_raw(tid), Signal::SIGKILL);
                                }
                            }
                            Some(_) => {}
                        }
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
                WaitStatus::PtraceSyscall(pid) => {
                    self.on_syscall(pid, t);
                    let _ = ptrace::syscall(pid, None);
                }
                WaitStatus::PtraceEvent(pid, _, event) => {
                    let fork = [
                        ptrace::Event::PTRACE_EVENT_FORK,
                        ptrace::Event::PTRACE_EVENT_VFORK,
                        ptrace::Event::PTRACE_EVENT_CLONE,
                    ];
                    if fork.iter().any(|e| *e as i32 == event)
                        && let Ok(new) = ptrace::getevent(pid)
                    {
                        let new = i32::try_from(new).unwrap_or(0);
                        if new > 0 && !self.tracees.contains(&new) {
                            self.tracees.push(new);
                        }
                    }
                    if event == ptrace::Event::PTRACE_EVENT_EXIT as i32 {
                        self.on_exit(pid, t);
                    }
                    if event == ptrace::Event::PTRACE_EVENT_EXEC as i32 {
                        // A thread that execs takes over the leader's pid.
                        self.pending.remove(&pid.as_raw());
                    }
                    let _ = ptrace::syscall(pid, None);
                }
                WaitStatus::Stopped(pid, sig) => {
                    if !self.tracees.contains(&pid.as_raw()) {
                        self.tracees.push(pid.as_raw());
                    }
                    let _ = ptrace::syscall(pid, Some(sig));
                }
                WaitStatus::Exited(pid, code) => {
                    if pid.as_raw() == self.main {
                        self.exit = Some(code);
                    }
                    self.gone(pid.as_raw());
                }
                WaitStatus::Signaled(pid, sig, _) => {
                    if pid.as_raw() == self.main {
                        self.exit = Some(128 + sig as i32);
                    }
                    self.gone(pid.as_raw());
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Stops each tracee and lets it go.
    fn detach_all(&mut self) {
        for tid in std::mem::take(&mut self.tracees) {
            let p = Pid::from_raw(tid);
            let _ = ptrace::interrupt(p);
            let sig = match waitpid(p, Some(wait_flags())) {
                Ok(WaitStatus::Stopped(_, s)) => Some(s),
                Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_) => continue,
                Ok(_) => None,
            };
            let _ = ptrace::detach(p, sig);
        }
    }

    fn on_syscall(&mut self, pid: Pid, t: Timestamp) {
        let Some(r) = regs(pid) else {
            return;
        };
        let tid = pid.as_raw();
        match self.pending.remove(&tid) {
            // A stop with a call pending is its exit (the syscall number
            // still matches; a mismatch means the entry was missed).
            Some(p) if p.nr == r.nr => self.exit(tid, p, r, t),
            _ => self.entry(tid, r, t),
        }
    }

    /// A process about to exit (its fds still open): each TCP socket it
    /// still holds is closed by the exit, which gets a call of its own,
    /// `exit`, since no close() will be seen for it.
    fn on_exit(&mut self, pid: Pid, t: Timestamp) {
        let tid = pid.as_raw();
        // Only the last task of a process takes the fds with it.
        let tasks = std::fs::read_dir(format!("/proc/{tid}/task")).map(|d| d.count());
        if !tasks.is_ok_and(|n| n <= 1) {
            return;
        }
        let code = ptrace::getevent(pid).map_or(-1, |status| (status >> 8) & 0xff);
        let Ok(fds) = std::fs::read_dir(format!("/proc/{tid}/fd")) else {
            return;
        };
        let mut open: Vec<(i32, usize)> = fds
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter_map(|fd| {
                let inode = procnet::socket_inode(tid, fd)?;
                Some((fd, *self.by_inode.get(&inode)?))
            })
            .collect();
        open.sort_unstable();
        for (fd, sock) in open {
            self.refresh(tid, sock, fd as u64);
            self.calls.push(Call {
                side: Side::Client,
                pid: tid,
                call: "exit",
                fd,
                detail: Some("closes the socket".into()),
                entered: t,
                returned: t,
                result: code.to_string(),
                socket: sock,
            });
        }
    }

    fn sock_of(&mut self, tid: i32, fd: u64) -> Option<usize> {
        let fd = i32::try_from(fd).ok()?;
        let inode = procnet::socket_inode(tid, fd)?;
        if let Some(&i) = self.by_inode.get(&inode) {
            return Some(i);
        }
        // A TCP socket made before the trace began (or passed in).
        let view = self.lookup(tid, fd, inode)?;
        Some(self.add_sock(inode, Some(view), None))
    }

    /// What the kernel says of TCP socket `inode`, fd `fd` of `tid`: from
    /// a copy of the fd, else from the TCP tables. `None` for any other
    /// kind of socket.
    fn lookup(&mut self, tid: i32, fd: i32, inode: u64) -> Option<SockView> {
        match self.peek.view(tid, fd) {
            Some(v) => v.tcp.then_some(v),
            None => procnet::find(tid, inode).map(SockView::from),
        }
    }

    fn add_sock(&mut self, inode: u64, view: Option<SockView>, side: Option<Side>) -> usize {
        let mut info = SockInfo {
            inode,
            side,
            ..SockInfo::default()
        };
        if let Some(v) = view {
            apply_view(&mut info, &v);
        }
        self.sockets.push(info);
        let i = self.sockets.len() - 1;
        self.by_inode.insert(inode, i);
        i
    }

    fn refresh(&mut self, tid: i32, sock: usize, fd: u64) {
        let (Some(info), Ok(fd)) = (self.sockets.get(sock), i32::try_from(fd)) else {
            return;
        };
        let inode = info.inode;
        if let Some(view) = self.lookup(tid, fd, inode)
            && let Some(info) = self.sockets.get_mut(sock)
        {
            apply_view(info, &view);
        }
        // A listener (made by listen(), or found at accept() when attached):
        // its queues are sampled from now on.
        if let Some(port) = self
            .sockets
            .get(sock)
            .filter(|i| i.addrs.listener)
            .and_then(|i| i.addrs.local)
            .map(|l| l.port())
            && let Ok(mut l) = self.listening.lock()
            && !l.iter().any(|(_, p)| *p == port)
        {
            l.push((tid, port));
        }
    }

    fn entry(&mut self, tid: i32, r: Regs, t: Timestamp) {
        let entered = match self.restarting.remove(&tid) {
            Some((nr, first)) if nr == r.nr => first,
            _ => t,
        };
        let before = self.blocked_before.remove(&tid) == Some(r.nr);
        let a = r.args;
        let pid = Pid::from_raw(tid);
        let mut p = Pending {
            nr: r.nr,
            args: a,
            entered,
            sock: None,
            detail: None,
            addr: None,
            before,
        };
        match r.nr {
            libc::SYS_socket => {
                let (domain, ty) = (a[0] as i32, a[1] as i32);
                if !(domain == libc::AF_INET || domain == libc::AF_INET6)
                    || ty & 0xf != libc::SOCK_STREAM
                {
                    return;
                }
                let mut d = String::from(if domain == libc::AF_INET {
                    "AF_INET"
                } else {
                    "AF_INET6"
                });
                if ty & libc::SOCK_NONBLOCK != 0 {
                    d.push_str(" SOCK_NONBLOCK");
                }
                p.detail = Some(d);
            }
            libc::SYS_bind | libc::SYS_connect => {
                p.sock = self.sock_of(tid, a[0]);
                if p.sock.is_none() {
                    return;
                }
                let len = usize::try_from(a[2]).unwrap_or(0).min(128);
                p.addr = read_mem(pid, a[1], len).and_then(|b| procnet::parse_sockaddr(&b));
                p.detail = p.addr.map(|s| s.to_string());
            }
            libc::SYS_setsockopt | libc::SYS_getsockopt => {
                if sockopt_name(a[1] as i32, a[2] as i32).is_none() {
                    return;
                }
                p.sock = self.sock_of(tid, a[0]);
                if p.sock.is_none() {
                    return;
                }
                if r.nr == libc::SYS_setsockopt {
                    p.detail = sockopt_detail(pid, a[1] as i32, a[2] as i32, a[3]);
                }
            }
            libc::SYS_poll
            | libc::SYS_ppoll
            | libc::SYS_select
            | libc::SYS_pselect6
            | libc::SYS_epoll_wait
            | libc::SYS_epoll_pwait => {}
            libc::SYS_listen
            | libc::SYS_accept
            | libc::SYS_accept4
            | libc::SYS_read
            | libc::SYS_write
            | libc::SYS_readv
            | libc::SYS_writev
            | libc::SYS_recvfrom
            | libc::SYS_sendto
            | libc::SYS_recvmsg
            | libc::SYS_sendmsg
            | libc::SYS_sendfile
            | libc::SYS_shutdown
            | libc::SYS_close => {
                p.sock = self.sock_of(tid, a[0]);
                let Some(s) = p.sock else {
                    return;
                };
                if r.nr == libc::SYS_close {
                    // The last moment the socket's addresses can be read.
                    self.refresh(tid, s, a[0]);
                }
            }
            _ => return,
        }
        self.pending.insert(tid, p);
    }

    fn exit(&mut self, tid: i32, p: Pending, r: Regs, t: Timestamp) {
        let ret = r.ret;
        if RESTART.contains(&ret) {
            // Interrupted by a signal: the kernel enters it again.
            self.restarting.insert(tid, (p.nr, p.entered));
            return;
        }
        let a = p.args;
        let pid = Pid::from_raw(tid);
        let result = result_text(ret);
        let fd = i32::try_from(a[0]).unwrap_or(-1);
        let mut call = Call {
            side: Side::Client,
            pid: tid,
            call: "",
            fd,
            detail: p.detail.clone(),
            entered: p.entered,
            returned: t,
            result: result.clone(),
            socket: p.sock.unwrap_or(usize::MAX),
        };
        match p.nr {
            libc::SYS_socket => {
                let Some(inode) = i32::try_from(ret)
                    .ok()
                    .and_then(|f| procnet::socket_inode(tid, f))
                else {
                    if ret < 0 {
                        call.call = "socket";
                        call.fd = -1;
                        self.push_unbound(call);
                    }
                    return;
                };
                call.call = "socket";
                call.fd = i32::try_from(ret).unwrap_or(-1);
                call.socket = self.add_sock(inode, None, None);
            }
            libc::SYS_bind => {
                call.call = "bind";
                if ret == 0
                    && let (Some(s), Some(addr)) = (p.sock, p.addr)
                    && let Some(info) = self.sockets.get_mut(s)
                    && info.addrs.local.is_none()
                    && addr.port() != 0
                {
                    info.addrs.local = Some(addr);
                }
            }
            libc::SYS_listen => {
                call.call = "listen";
                call.detail = Some(format!("backlog {}", a[1] as i32));
                if let Some(s) = p.sock {
                    self.refresh(tid, s, a[0]);
                    if let Some(info) = self.sockets.get_mut(s)
                        && ret == 0
                    {
                        info.addrs.listener = true;
                        info.addrs.backlog = Some(a[1] as i32);
                        info.side = Some(Side::Server);
                    }
                }
            }
            libc::SYS_connect => {
                call.call = "connect";
                if let Some(s) = p.sock {
                    self.refresh(tid, s, a[0]);
                    if let Some(info) = self.sockets.get_mut(s) {
                        info.side.get_or_insert(Side::Client);
                        if info.addrs.remote.is_none() {
                            info.addrs.remote = p.addr;
                        }
                    }
                }
            }
            libc::SYS_accept | libc::SYS_accept4 => {
                call.call = if p.nr == libc::SYS_accept {
                    "accept"
                } else {
                    "accept4"
                };
                if let Ok(new_fd) = i32::try_from(ret)
                    && let Some(inode) = procnet::socket_inode(tid, new_fd)
                {
                    call.socket = match self.by_inode.get(&inode) {
                        Some(&i) => i,
                        None => {
                            let view = self.lookup(tid, new_fd, inode);
                            self.add_sock(inode, view, Some(Side::Server))
                        }
                    };
                    if let Some(info) = self.sockets.get_mut(call.socket) {
                        info.side = Some(Side::Server);
                    }
                }
            }
            libc::SYS_read | libc::SYS_recvfrom | libc::SYS_recvmsg | libc::SYS_readv => {
                call.call = match p.nr {
                    libc::SYS_read => "read",
                    libc::SYS_recvfrom => "recvfrom",
                    libc::SYS_recvmsg => "recvmsg",
                    _ => "readv",
                };
                if p.nr == libc::SYS_recvfrom && a[3] as i32 & libc::MSG_PEEK != 0 {
                    call.detail = Some("MSG_PEEK".into());
                }
            }
            libc::SYS_write | libc::SYS_sendto | libc::SYS_sendmsg | libc::SYS_writev => {
                call.call = match p.nr {
                    libc::SYS_write => "write",
                    libc::SYS_sendto => "sendto",
                    libc::SYS_sendmsg => "sendmsg",
                    _ => "writev",
                };
                if matches!(p.nr, libc::SYS_write | libc::SYS_sendto) {
                    call.detail = Some(format!("{} bytes", a[2]));
                }
            }
            libc::SYS_sendfile => {
                call.call = "sendfile";
                call.detail = Some(format!("{} bytes", a[3]));
            }
            libc::SYS_shutdown => {
                call.call = "shutdown";
                call.detail = Some(
                    match a[1] as i32 {
                        libc::SHUT_RD => "SHUT_RD",
                        libc::SHUT_WR => "SHUT_WR",
                        _ => "SHUT_RDWR",
                    }
                    .into(),
                );
            }
            libc::SYS_close => {
                // The inode stays mapped: a forked copy of the fd may
                // still be open, and sockfs does not reuse inode numbers.
                call.call = "close";
            }
            libc::SYS_setsockopt | libc::SYS_getsockopt => {
                let name = sockopt_name(a[1] as i32, a[2] as i32).unwrap_or("?");
                call.call = if p.nr == libc::SYS_setsockopt {
                    "setsockopt"
                } else {
                    "getsockopt"
                };
                if p.nr == libc::SYS_getsockopt {
                    call.detail = if ret == 0 {
                        sockopt_detail(pid, a[1] as i32, a[2] as i32, a[3])
                    } else {
                        Some(name.into())
                    };
                }
            }
            libc::SYS_poll
            | libc::SYS_ppoll
            | libc::SYS_select
            | libc::SYS_pselect6
            | libc::SYS_epoll_wait
            | libc::SYS_epoll_pwait => {
                if ret > 0 {
                    let ready = ready_fds(pid, p.nr, &a, ret);
                    self.push_ready(tid, &call, p.nr, ret, ready);
                }
                return;
            }
            _ => return,
        }
        if p.before {
            let note = "blocked since before the trace began";
            call.detail = Some(match call.detail.take() {
                Some(d) => format!("{d}; {note}"),
                None => note.into(),
            });
        }
        self.calls.push(call);
    }

    /// A call on no known socket (a failed socket()): kept with a socket
    /// entry of its own so indices stay valid.
    fn push_unbound(&mut self, mut call: Call) {
        self.sockets.push(SockInfo::default());
        call.socket = self.sockets.len() - 1;
        self.calls.push(call);
    }

    /// One call for each TCP socket a poll, select or epoll_wait
    /// reported ready.
    fn push_ready(&mut self, tid: i32, call: &Call, nr: i64, ret: i64, ready: Vec<(i32, String)>) {
        let name = match nr {
            libc::SYS_poll => "poll",
            libc::SYS_ppoll => "ppoll",
            // glibc's select() and pselect() both make pselect6.
            libc::SYS_select | libc::SYS_pselect6 => "select",
            libc::SYS_epoll_wait => "epoll_wait",
            _ => "epoll_pwait",
        };
        for (fd, detail) in ready {
            let Ok(raw) = u64::try_from(fd) else {
                continue;
            };
            let Some(sock) = self.sock_of(tid, raw) else {
                continue;
            };
            let mut c = call.clone();
            c.call = name;
            c.fd = fd;
            c.socket = sock;
            c.result = ret.to_string();
            c.detail = Some(detail);
            self.calls.push(c);
        }
    }
}

/// The fds a poll, select or epoll_wait that returned `ret` reported
/// ready, each with what it is ready for, read from the tracee's memory at
/// the call's exit. For epoll the event's data is taken as the fd (what
/// CPython, libevent and most C programs register).
fn ready_fds(pid: Pid, nr: i64, a: &[u64; 6], ret: i64) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    match nr {
        libc::SYS_poll | libc::SYS_ppoll => {
            let n = usize::try_from(a[1]).unwrap_or(0).min(1024);
            let Some(b) = read_mem(pid, a[0], n * 8) else {
                return out;
            };
            for c in b.chunks_exact(8) {
                let fd = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
                let revents = i16::from_ne_bytes([c[6], c[7]]);
                if revents != 0 && fd >= 0 {
                    out.push((fd, poll_bits(i32::from(revents))));
                }
            }
        }
        libc::SYS_select | libc::SYS_pselect6 => {
            let nfds = usize::try_from(a[0]).unwrap_or(0).min(4096);
            let bytes = nfds.div_ceil(64) * 8;
            for (set, what) in [(a[1], "readable"), (a[2], "writable"), (a[3], "exception")] {
                let Some(b) = read_mem(pid, set, bytes) else {
                    continue;
                };
                for fd in 0..nfds {
                    if b.get(fd / 8)
                        .is_some_and(|byte| byte & (1 << (fd % 8)) != 0)
                    {
                        out.push((i32::try_from(fd).unwrap_or(-1), what.to_string()));
                    }
                }
            }
        }
        _ => {
            let n = usize::try_from(ret).unwrap_or(0).min(1024);
            let Some(b) = read_mem(pid, a[1], n * 12) else {
                return out;
            };
            for c in b.chunks_exact(12) {
                let events = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
                let fd = i32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
                out.push((fd, poll_bits(i32::try_from(events).unwrap_or(0))));
            }
        }
    }
    out
}

fn apply_view(info: &mut SockInfo, v: &SockView) {
    if v.local.is_some() {
        info.addrs.local = v.local;
    }
    if v.listening {
        info.addrs.listener = true;
        info.side = Some(Side::Server);
    } else if v.remote.is_some() {
        info.addrs.remote = v.remote;
    }
}

fn read_mem(pid: Pid, addr: u64, len: usize) -> Option<Vec<u8>> {
    if addr == 0 || len == 0 || len > 4096 {
        return None;
    }
    let mut buf = vec![0u8; len];
    let remote = [RemoteIoVec {
        base: usize::try_from(addr).ok()?,
        len,
    }];
    let n = process_vm_readv(pid, &mut [IoSliceMut::new(&mut buf)], &remote).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// "0", "5", "-1 ECONNREFUSED".
pub fn result_text(ret: i64) -> String {
    if (-4095..0).contains(&ret) {
        let code = i32::try_from(-ret).unwrap_or(0);
        format!("-1 {:?}", Errno::from_raw(code))
    } else {
        ret.to_string()
    }
}

fn sockopt_name(level: i32, name: i32) -> Option<&'static str> {
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_LINGER) => Some("SO_LINGER"),
        (libc::SOL_SOCKET, libc::SO_REUSEADDR) => Some("SO_REUSEADDR"),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY) => Some("TCP_NODELAY"),
        _ => None,
    }
}

/// `SO_LINGER on 0`, `SO_REUSEADDR 1`, from the option's value in memory.
fn sockopt_detail(pid: Pid, level: i32, name: i32, optval: u64) -> Option<String> {
    let label = sockopt_name(level, name)?;
    let int = |b: &[u8], at: usize| -> Option<i32> {
        Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    if name == libc::SO_LINGER && level == libc::SOL_SOCKET {
        let b = read_mem(pid, optval, 8);
        return Some(
            match b.as_deref().and_then(|b| Some((int(b, 0)?, int(b, 4)?))) {
                Some((on, secs)) => {
                    format!("{label} {} {secs}", if on != 0 { "on" } else { "off" })
                }
                None => label.into(),
            },
        );
    }
    let b = read_mem(pid, optval, 4);
    Some(match b.as_deref().and_then(|b| int(b, 0)) {
        Some(v) => format!("{label} {v}"),
        None => label.into(),
    })
}

/// `POLLIN|POLLOUT` (epoll's bits have the same values).
fn poll_bits(revents: i32) -> String {
    let names = [
        (libc::POLLIN, "POLLIN"),
        (libc::POLLOUT, "POLLOUT"),
        (libc::POLLERR, "POLLERR"),
        (libc::POLLHUP, "POLLHUP"),
        (libc::POLLRDHUP, "POLLRDHUP"),
    ];
    let set: Vec<&str> = names
        .iter()
        .filter(|(b, _)| revents & i32::from(*b) != 0)
        .map(|(_, n)| *n)
        .collect();
    if set.is_empty() {
        format!("revents {revents:#x}")
    } else {
        set.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_name_the_errno() {
        assert_eq!(result_text(0), "0");
        assert_eq!(result_text(4), "4");
        assert_eq!(result_text(-111), "-1 ECONNREFUSED");
        assert_eq!(result_text(-115), "-1 EINPROGRESS");
    }

    #[test]
    fn poll_bits_are_named() {
        assert_eq!(
            poll_bits(i32::from(libc::POLLIN | libc::POLLHUP)),
            "POLLIN|POLLHUP"
        );
        assert_eq!(poll_bits(libc::EPOLLOUT), "POLLOUT");
        assert_eq!(poll_bits(0x400), "revents 0x400");
    }

    #[test]
    fn only_the_three_options_are_followed() {
        assert_eq!(
            sockopt_name(libc::SOL_SOCKET, libc::SO_LINGER),
            Some("SO_LINGER")
        );
        assert_eq!(
            sockopt_name(libc::IPPROTO_TCP, libc::TCP_NODELAY),
            Some("TCP_NODELAY")
        );
        assert_eq!(sockopt_name(libc::SOL_SOCKET, libc::SO_RCVBUF), None);
    }
}
