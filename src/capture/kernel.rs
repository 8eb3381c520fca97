//! The kernel's own record of TCP state changes, read where tcpladder runs
//! beside an endpoint (`demo`, `trace`): the tracepoint `sock:inet_sock_set_state`
//! in a private tracefs instance, filtered on the followed ports, removed
//! again afterwards. An I/O edge like the rest of `capture`: it reads and
//! writes tracefs files and nothing else, and decides nothing about what
//! the capture shows.
//!
//! Linux's states are translated to RFC 9293 names here, in [`rfc_path`],
//! with what the tracepoint never says (captures/README.md has the same
//! table for the recorded kernel truth): a listener's request sockets and
//! TIME-WAIT mini-sockets are never reported, so a child socket appears at
//! the handshake's final ACK (LISTEN → SYN_RECV → ESTABLISHED) and a full
//! socket replaced by a TIME-WAIT mini-socket shows as `→ CLOSE`.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::time::Timestamp;
use crate::track::State;

const TRACEFS: &str = "/sys/kernel/tracing";

/// One state change of one socket, as the kernel reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelEvent {
    /// On the capture's clock (CLOCK_REALTIME).
    pub time: Timestamp,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Linux's names, as the tracepoint prints them ("TCP_SYN_SENT").
    pub old: String,
    pub new: String,
}

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

    /// Stops and returns every change recorded, oldest first.
    pub fn finish(self) -> Result<Vec<KernelEvent>, String> {
        self.write("tracing_on", "0")?;
        let text = fs::read_to_string(self.dir.join("trace"))
            .map_err(|e| format!("{}: {e}", self.dir.display()))?;
        Ok(text
            .lines()
            .filter_map(|l| parse_line(l, self.offset_ns))
            .collect())
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        self.write_path(&self.dir.join(file), value)
    }

    fn write_path(&self, path: &Path, value: &str) -> Result<(), String> {
        fs::write(path, value).map_err(|e| format!("{}: {e}", path.display()))
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

/// The RFC 9293 name of a Linux state, as the tracepoint prints it.
pub fn rfc_state(linux: &str) -> Option<State> {
    Some(match linux {
        "TCP_ESTABLISHED" => State::Established,
        "TCP_SYN_SENT" => State::SynSent,
        // The child socket, or the request socket (never reported).
        "TCP_SYN_RECV" | "TCP_NEW_SYN_RECV" => State::SynReceived,
        "TCP_FIN_WAIT1" => State::FinWait1,
        "TCP_FIN_WAIT2" => State::FinWait2,
        "TCP_TIME_WAIT" => State::TimeWait,
        "TCP_CLOSE" => State::Closed,
        "TCP_CLOSE_WAIT" => State::CloseWait,
        "TCP_LAST_ACK" => State::LastAck,
        "TCP_LISTEN" => State::Listen,
        "TCP_CLOSING" => State::Closing,
        _ => return None,
    })
}

/// One socket's path in RFC names from its events (oldest first), the
/// first `old` state leading. `X → CLOSE` is ambiguous in Linux: it is also
/// how a full socket replaced by a TIME-WAIT mini-socket ends. From CLOSING
/// it is always that (the ACK of our FIN came); from FIN-WAIT-2 when
/// `fin_arrived` says the peer's FIN had come by then (else an orphan's
/// FIN-WAIT-2 mini-socket, still FIN-WAIT-2). The mini-socket's own end is
/// never reported.
pub fn rfc_path(events: &[&KernelEvent], fin_arrived: impl Fn(Timestamp) -> bool) -> Vec<State> {
    let mut path: Vec<State> = Vec::new();
    for e in events {
        let (Some(old), Some(mut new)) = (rfc_state(&e.old), rfc_state(&e.new)) else {
            continue;
        };
        if path.is_empty() {
            // A child socket is cloned from the listener: it starts there.
            path.push(old);
        }
        if new == State::Closed {
            match old {
                State::Closing => new = State::TimeWait,
                State::FinWait2 if fin_arrived(e.time) => new = State::TimeWait,
                State::FinWait2 => continue,
                _ => {}
            }
        }
        if path.last() != Some(&new) {
            path.push(new);
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "python3-4242 [001] ..s2. 5501.123456: inet_sock_set_state: \
        family=AF_INET protocol=IPPROTO_TCP sport=40001 dport=9502 saddr=127.0.0.1 \
        daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 \
        oldstate=TCP_CLOSE newstate=TCP_SYN_SENT";

    fn ev(old: &str, new: &str, ms: i64) -> KernelEvent {
        KernelEvent {
            time: Timestamp::from_nanos(ms * 1_000_000),
            local: "127.0.0.1:40001".parse().unwrap(),
            remote: "127.0.0.1:9502".parse().unwrap(),
            old: old.into(),
            new: new.into(),
        }
    }

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

    #[test]
    fn a_client_close_ends_in_time_wait_once_the_fin_came() {
        let evs = [
            ev("TCP_CLOSE", "TCP_SYN_SENT", 0),
            ev("TCP_SYN_SENT", "TCP_ESTABLISHED", 1),
            ev("TCP_ESTABLISHED", "TCP_FIN_WAIT1", 2),
            ev("TCP_FIN_WAIT1", "TCP_FIN_WAIT2", 3),
            ev("TCP_FIN_WAIT2", "TCP_CLOSE", 4),
        ];
        let refs: Vec<&KernelEvent> = evs.iter().collect();
        let fin_at = Timestamp::from_nanos(4_000_000);
        let with_fin = rfc_path(&refs, |t| t >= fin_at);
        use State::*;
        assert_eq!(
            with_fin,
            vec![Closed, SynSent, Established, FinWait1, FinWait2, TimeWait]
        );
        // An orphan's FIN-WAIT-2 mini-socket: no FIN yet.
        let orphan = rfc_path(&refs, |_| false);
        assert_eq!(orphan.last(), Some(&FinWait2));
    }

    #[test]
    fn a_child_socket_starts_from_the_listener() {
        let evs = [
            ev("TCP_LISTEN", "TCP_SYN_RECV", 0),
            ev("TCP_SYN_RECV", "TCP_ESTABLISHED", 0),
            ev("TCP_ESTABLISHED", "TCP_CLOSE_WAIT", 2),
            ev("TCP_CLOSE_WAIT", "TCP_LAST_ACK", 3),
            ev("TCP_LAST_ACK", "TCP_CLOSE", 4),
        ];
        let refs: Vec<&KernelEvent> = evs.iter().collect();
        use State::*;
        assert_eq!(
            rfc_path(&refs, |_| false),
            vec![Listen, SynReceived, Established, CloseWait, LastAck, Closed]
        );
    }
}
