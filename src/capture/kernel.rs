//! The kernel's own record of TCP state changes, read where tcpladder runs
//! beside an endpoint (`demo`, `trace`): the tracepoint `sock:inet_sock_set_state`
//! in a private tracefs instance, filtered on the followed ports, removed
//! again afterwards. An I/O edge like the rest of `capture`: it reads and
//! writes tracefs files and nothing else, and decides nothing about what
//! the capture shows.
//!
//! Linux's states are translated to RFC 9293 names in `track::kernel`;
//! this module only reads them.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::time::Timestamp;
pub use crate::track::kernel::KernelEvent;
use crate::track::kernel::KernelRecord;

const TRACEFS: &str = "/sys/kernel/tracing";

/// A tracepoint session; dropped, it removes its instance.
pub struct KernelTrace {
    dir: PathBuf,
    /// Added to the trace's CLOCK_MONOTONIC times to get CLOCK_REALTIME.
    offset_ns: i64,
}

impl KernelTrace {
    /// Starts recording the changes of sockets with one of `ports` on either
    /// end (every TCP socket's when `ports` is empty). Fails, saying why in one line, where tracefs is not there or not
    /// writable (not root).
    pub fn start(ports: &[u16]) -> Result<KernelTrace, String> {
        let root = Path::new(TRACEFS);
        match fs::read_dir(root.join("instances")) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(format!(
                    "the kernel's states need root (tracefs at {TRACEFS})"
                ));
            }
            Err(_) => {
                return Err(format!(
                    "the kernel's states need tracefs at {TRACEFS} (mount -t tracefs nodev {TRACEFS})"
                ));
            }
        }
        let dir = instance_dir();
        fs::create_dir(&dir)
            .map_err(|e| format!("the kernel's states need root ({}: {e})", dir.display()))?;
        let trace = KernelTrace {
            dir,
            offset_ns: realtime_minus_monotonic()?,
        };
        let filter = ports
            .iter()
            .map(|p| format!("sport == {p} || dport == {p}"))
            .collect::<Vec<_>>()
            .join(" || ");
        let event = trace.dir.join("events/sock/inet_sock_set_state");
        trace.write("trace_clock", "mono")?;
        // No ports: every TCP socket's changes (matched by address later).
        if !filter.is_empty() {
            trace.write_path(&event.join("filter"), &filter)?;
        }
        trace.write_path(&event.join("enable"), "1")?;
        trace.write("tracing_on", "1")?;
        Ok(trace)
    }

    /// Stops and returns every change recorded, indexed by socket.
    pub fn finish(self) -> Result<KernelRecord, String> {
        self.write("tracing_on", "0")?;
        let text = fs::read_to_string(self.dir.join("trace"))
            .map_err(|e| format!("{}: {e}", self.dir.display()))?;
        Ok(KernelRecord::new(
            text.lines()
                .filter_map(|l| parse_line(l, self.offset_ns))
                .collect(),
        ))
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        self.write_path(&self.dir.join(file), value)
    }

    fn write_path(&self, path: &Path, value: &str) -> Result<(), String> {
        fs::write(path, value).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// A tracepoint session read as it records, for a live capture: each
/// [`read`](KernelFeed::read) takes what was recorded since the last.
pub struct KernelFeed {
    partial: Vec<u8>,
    trace: KernelTrace,
}

impl KernelTrace {
    /// Reads the session as it records instead of at the end.
    pub fn feed(self) -> Result<KernelFeed, String> {
        // Readable now, or say why at the start.
        let mut feed = KernelFeed {
            partial: Vec::new(),
            trace: self,
        };
        feed.open().map(|_| feed)
    }
}

impl KernelFeed {
    /// The pipe is opened for each read and closed again: while it is open
    /// the instance cannot be removed, and a signal handler that exits at
    /// once must be able to remove it.
    fn open(&mut self) -> Result<fs::File, String> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.trace.dir.join("trace_pipe");
        fs::OpenOptions::new()
            .read(true)
            // A read with nothing recorded returns at once (EAGAIN).
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Every change recorded since the last read, oldest first (sorted by
    /// time: the pipe interleaves the CPUs' buffers). Never blocks.
    pub fn read(&mut self) -> Vec<KernelEvent> {
        use std::io::Read;
        let Ok(mut pipe) = self.open() else {
            return Vec::new();
        };
        let mut buf = [0u8; 16 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // WouldBlock: nothing more for now; anything else ends this
                // read quietly (the capture goes on).
                Err(_) => break,
            }
        }
        drop(pipe);
        let Some(cut) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(cut + 1);
        let text = String::from_utf8_lossy(&self.partial);
        let mut events: Vec<KernelEvent> = text
            .lines()
            .filter_map(|l| parse_line(l, self.trace.offset_ns))
            .collect();
        self.partial = rest;
        events.sort_by_key(|e| e.time);
        events
    }
}

impl Drop for KernelTrace {
    fn drop(&mut self) {
        remove(&self.dir);
    }
}

/// This process's instance: one a session at most, named by the pid so an
/// interrupt handler, which cannot reach the session, finds it.
fn instance_dir() -> PathBuf {
    Path::new(TRACEFS)
        .join("instances")
        .join(format!("tcpladder-{}", std::process::id()))
}

fn remove(dir: &Path) {
    let _ = fs::write(dir.join("events/sock/inet_sock_set_state/enable"), "0");
    let _ = fs::remove_dir(dir);
}

/// Removes this process's instance, if any: for an interrupt handler that
/// exits without unwinding.
pub fn remove_instance() {
    let dir = instance_dir();
    if dir.is_dir() {
        remove(&dir);
    }
}

fn realtime_minus_monotonic() -> Result<i64, String> {
    use nix::time::{ClockId, clock_gettime};
    let ns = |c: ClockId| -> Result<i64, String> {
        let t = clock_gettime(c).map_err(|e| format!("clock_gettime: {e}"))?;
        Ok(t.tv_sec() * 1_000_000_000 + t.tv_nsec())
    };
    let mono = ns(ClockId::CLOCK_MONOTONIC)?;
    let real = ns(ClockId::CLOCK_REALTIME)?;
    Ok(real - mono)
}

/// One line of the trace, e.g.
/// `python3-123 [001] ..... 5501.123456: inet_sock_set_state: family=AF_INET
/// protocol=IPPROTO_TCP sport=9502 dport=40001 saddr=127.0.0.1 daddr=127.0.0.1
/// saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_SYN_RECV
/// newstate=TCP_ESTABLISHED`. None for anything else.
pub fn parse_line(line: &str, offset_ns: i64) -> Option<KernelEvent> {
    let (head, body) = line.split_once(": inet_sock_set_state: ")?;
    let secs = head.rsplit(' ').next()?.trim_end_matches(':');
    let (s, frac) = secs.split_once('.')?;
    let frac_ns: i64 = format!("{frac:0<9}").get(..9)?.parse().ok()?;
    let mono = s.parse::<i64>().ok()? * 1_000_000_000 + frac_ns;
    let field = |k: &str| {
        body.split(' ')
            .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
    };
    if field("protocol")? != "IPPROTO_TCP" {
        return None;
    }
    let v6 = field("family")? == "AF_INET6";
    let (sa, da) = if v6 {
        (field("saddrv6")?, field("daddrv6")?)
    } else {
        (field("saddr")?, field("daddr")?)
    };
    let ip = |a: &str| a.parse::<IpAddr>().ok();
    let port = |p: &str| p.parse::<u16>().ok();
    Some(KernelEvent {
        time: Timestamp::from_nanos(mono + offset_ns),
        local: SocketAddr::new(ip(sa)?, port(field("sport")?)?),
        remote: SocketAddr::new(ip(da)?, port(field("dport")?)?),
        old: field("oldstate")?.to_string(),
        new: field("newstate")?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "python3-4242 [001] ..s2. 5501.123456: inet_sock_set_state: \
        family=AF_INET protocol=IPPROTO_TCP sport=40001 dport=9502 saddr=127.0.0.1 \
        daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 \
        oldstate=TCP_CLOSE newstate=TCP_SYN_SENT";

    #[test]
    fn a_tracepoint_line_gives_the_socket_and_its_change() {
        let e = parse_line(LINE, 1_000).expect("parsed");
        assert_eq!(e.time, Timestamp::from_nanos(5_501_123_456_000 + 1_000));
        assert_eq!(e.local, "127.0.0.1:40001".parse().unwrap());
        assert_eq!(e.remote, "127.0.0.1:9502".parse().unwrap());
        assert_eq!(
            (e.old.as_str(), e.new.as_str()),
            ("TCP_CLOSE", "TCP_SYN_SENT")
        );
        assert_eq!(parse_line("# tracer: nop", 0), None);
        assert_eq!(
            parse_line(&LINE.replace("IPPROTO_TCP", "IPPROTO_SCTP"), 0),
            None
        );
    }

    #[test]
    fn ipv6_sockets_use_the_v6_addresses() {
        let line = LINE
            .replace("AF_INET ", "AF_INET6 ")
            .replace("saddrv6=::ffff:127.0.0.1", "saddrv6=2001:db8::1")
            .replace("daddrv6=::ffff:127.0.0.1", "daddrv6=2001:db8::2");
        let e = parse_line(&line, 0).expect("parsed");
        assert_eq!(e.local, "[2001:db8::1]:40001".parse().unwrap());
    }
}
