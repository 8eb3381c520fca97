//! The kernel's own record of an endpoint's states, beside the inferred
//! ones: Linux's state changes of a socket (as `sock:inet_sock_set_state`
//! reports them; `capture::kernel` reads them) translated to RFC 9293
//! names, and matched to the connection they belong to. Pure like the rest
//! of `track`: the events arrive as data.
//!
//! The translation is here, in [`rfc_state`] and [`rfc_path`], with what
//! the tracepoint never says (captures/README.md has the same table for the
//! recorded kernel truth): a listener's request sockets and TIME-WAIT
//! mini-sockets are never reported, so a child socket appears at the
//! handshake's final ACK (LISTEN → SYN_RECV → ESTABLISHED at once) and a
//! full socket replaced by a TIME-WAIT mini-socket shows as `→ CLOSE`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use crate::time::{Span, Timestamp};
use crate::track::{Connection, Side, State};

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

/// One socket's path in RFC names from its events (oldest first), each
/// state with the time the kernel entered it; the first `old` state leads,
/// at the first event's time. `X → CLOSE` is ambiguous in Linux: it is
/// also how a full socket replaced by a TIME-WAIT mini-socket ends. From
/// CLOSING it is always that (the ACK of our FIN came); from FIN-WAIT-2
/// when `fin_arrived` says the peer's FIN had come by then (else an
/// orphan's FIN-WAIT-2 mini-socket, still FIN-WAIT-2). The mini-socket's
/// own end is never reported.
pub fn rfc_path(
    events: &[&KernelEvent],
    fin_arrived: impl Fn(Timestamp) -> bool,
) -> Vec<(State, Timestamp)> {
    let mut path: Vec<(State, Timestamp)> = Vec::new();
    for e in events {
        let (Some(old), Some(mut new)) = (rfc_state(&e.old), rfc_state(&e.new)) else {
            continue;
        };
        if path.is_empty() {
            // A child socket is cloned from the listener: it starts there.
            path.push((old, e.time));
        }
        if new == State::Closed {
            match old {
                State::Closing => new = State::TimeWait,
                State::FinWait2 if fin_arrived(e.time) => new = State::TimeWait,
                State::FinWait2 => continue,
                _ => {}
            }
        }
        if path.last().map(|p| p.0) != Some(new) {
            path.push((new, e.time));
        }
    }
    path
}

/// Each endpoint's states as the kernel reported them, with when it
/// entered each; `None` for an endpoint that is not on this host (no event
/// names its socket).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelStates {
    pub sides: [Option<Vec<(State, Timestamp)>>; 2],
}

impl KernelStates {
    pub fn side(&self, side: Side) -> Option<&[(State, Timestamp)]> {
        self.sides[side.index()].as_deref()
    }

    /// The states alone, oldest first.
    pub fn states(&self, side: Side) -> Option<Vec<State>> {
        self.side(side).map(|p| p.iter().map(|s| s.0).collect())
    }

    /// The state the kernel had `side` in at `at`: the last one entered by
    /// then, or the first one (the socket's state before its first change).
    pub fn state_at(&self, side: Side, at: Timestamp) -> Option<State> {
        state_at(self.side(side)?, at)
    }
}

/// The state a path (states with when each was entered, oldest first) is
/// in at `at`: the last one entered by then, or the first one.
pub fn state_at(path: &[(State, Timestamp)], at: Timestamp) -> Option<State> {
    let k = path.partition_point(|s| s.1 <= at);
    path.get(k.saturating_sub(1)).map(|s| s.0)
}

/// The kernel's state changes, indexed by socket, so that each
/// connection's are found without a pass over all of them.
#[derive(Clone, Debug, Default)]
pub struct KernelRecord {
    events: Vec<KernelEvent>,
    /// By (local, remote) address.
    by_socket: HashMap<(SocketAddr, SocketAddr), Vec<usize>>,
    /// connect() enters SYN-SENT before it picks the ephemeral port: that
    /// one change has local port 0; by (local IP, remote).
    unbound: HashMap<(IpAddr, SocketAddr), Vec<usize>>,
}

impl KernelRecord {
    pub fn new(events: Vec<KernelEvent>) -> KernelRecord {
        let mut r = KernelRecord::default();
        r.extend(events);
        r
    }

    pub fn extend(&mut self, events: impl IntoIterator<Item = KernelEvent>) {
        for e in events {
            let k = self.events.len();
            if e.local.port() == 0 {
                self.unbound
                    .entry((e.local.ip(), e.remote))
                    .or_default()
                    .push(k);
            } else {
                self.by_socket
                    .entry((e.local, e.remote))
                    .or_default()
                    .push(k);
            }
            self.events.push(e);
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The changes of the socket `local` → `remote` from `start` to before
    /// `end`, oldest first.
    fn pick(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        start: Timestamp,
        end: Option<Timestamp>,
    ) -> Vec<&KernelEvent> {
        let none = Vec::new();
        let bound = self.by_socket.get(&(local, remote)).unwrap_or(&none);
        let unbound = self.unbound.get(&(local.ip(), remote)).unwrap_or(&none);
        let mut v: Vec<&KernelEvent> = bound
            .iter()
            .chain(unbound)
            .filter_map(|&k| self.events.get(k))
            .filter(|e| e.time >= start && end.is_none_or(|t| e.time < t))
            .collect();
        v.sort_by_key(|e| e.time);
        v
    }

    /// Both endpoints' states as the kernel reported them, for `conn`: its
    /// sockets' changes from shortly before its first segment on, until
    /// `next` (the next connection on the same four-tuple, if any). None
    /// when no change names either socket.
    pub fn states_until(&self, conn: &Connection, next: Option<Timestamp>) -> Option<KernelStates> {
        if self.events.is_empty() {
            return None;
        }
        // connect() enters SYN-SENT just before its SYN is captured.
        let margin = Span::from_nanos(50_000_000);
        let start = conn.first_ts - margin;
        let end = next.map(|t| t - margin);
        // Whether the peer's FIN had come by then (a FIN is captured before
        // it reaches an endpoint further away, so this is a bound).
        let fin_by = |side: Side| {
            let first = conn.fin_times(!side).first().copied();
            move |at| first.is_some_and(|f| f <= at)
        };
        let path = |side: Side| {
            let (local, remote) = match side {
                Side::Client => (conn.client, conn.server),
                Side::Server => (conn.server, conn.client),
            };
            let p = rfc_path(&self.pick(local, remote, start, end), fin_by(side));
            (!p.is_empty()).then_some(p)
        };
        let sides = [path(Side::Client), path(Side::Server)];
        (sides.iter().any(Option::is_some)).then_some(KernelStates { sides })
    }

    /// [`states_until`](Self::states_until) for every connection of `all`,
    /// each until the next one on its four-tuple.
    pub fn states_for_all(&self, all: &[Connection]) -> Vec<Option<KernelStates>> {
        let next = next_incarnations(all);
        all.iter()
            .zip(next)
            .map(|(c, n)| self.states_until(c, n))
            .collect()
    }
}

/// For each connection of `all` (by position), when the next connection on
/// its four-tuple began, if one did.
pub fn next_incarnations(all: &[Connection]) -> Vec<Option<Timestamp>> {
    let mut starts: HashMap<(SocketAddr, SocketAddr), Vec<Timestamp>> = HashMap::new();
    for c in all {
        starts
            .entry((c.client, c.server))
            .or_default()
            .push(c.first_ts);
    }
    for v in starts.values_mut() {
        v.sort();
    }
    all.iter()
        .map(|c| {
            let v = starts.get(&(c.client, c.server))?;
            v.get(v.partition_point(|&t| t <= c.first_ts)).copied()
        })
        .collect()
}

/// Whether `later` is a later incarnation of `conn`'s four-tuple.
pub fn same_tuple_later(conn: &Connection, later: &Connection) -> bool {
    later.first_ts > conn.first_ts && later.client == conn.client && later.server == conn.server
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(old: &str, new: &str, ms: i64) -> KernelEvent {
        KernelEvent {
            time: Timestamp::from_nanos(ms * 1_000_000),
            local: "127.0.0.1:40001".parse().unwrap(),
            remote: "127.0.0.1:9502".parse().unwrap(),
            old: old.into(),
            new: new.into(),
        }
    }

    fn states(p: &[(State, Timestamp)]) -> Vec<State> {
        p.iter().map(|s| s.0).collect()
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
            states(&with_fin),
            vec![Closed, SynSent, Established, FinWait1, FinWait2, TimeWait]
        );
        assert_eq!(with_fin[5].1, fin_at);
        // An orphan's FIN-WAIT-2 mini-socket: no FIN yet.
        let orphan = rfc_path(&refs, |_| false);
        assert_eq!(orphan.last().map(|s| s.0), Some(FinWait2));
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
            states(&rfc_path(&refs, |_| false)),
            vec![Listen, SynReceived, Established, CloseWait, LastAck, Closed]
        );
    }

    #[test]
    fn the_state_at_a_time_is_the_last_one_entered() {
        let k = KernelStates {
            sides: [
                Some(vec![
                    (State::Closed, Timestamp::from_nanos(0)),
                    (State::SynSent, Timestamp::from_nanos(0)),
                    (State::Established, Timestamp::from_nanos(10)),
                ]),
                None,
            ],
        };
        let at = |n| k.state_at(Side::Client, Timestamp::from_nanos(n));
        assert_eq!(at(5), Some(State::SynSent));
        assert_eq!(at(10), Some(State::Established));
        assert_eq!(at(99), Some(State::Established));
        assert_eq!(k.state_at(Side::Server, Timestamp::from_nanos(5)), None);
    }
}
