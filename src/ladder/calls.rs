//! The socket calls of a connection's two programs, placed among its
//! segments: the link the socket tutorials draw from a call to the segment
//! it sends or the segment that wakes it. Pure: the calls come from
//! whoever recorded them (`demo` now), the ladder only places them.
//!
//! A call is placed where it returned, after the last segment that had
//! happened at its endpoint by then. The capture sees each segment at one
//! point only, so "had happened at the endpoint" uses the same one-way
//! delays the lecture diagram estimates from the handshake
//! (`diagram::Placement`): a segment the endpoint sent left it that delay
//! before the capture saw it, one it received arrived that delay after.
//! With the capture at the client (the demo's), the client's delay is ~0
//! and its calls compare with capture times directly, while the server's
//! are compared with the segments shifted by the path's one-way delay.

use crate::time::{Span, Timestamp};
use crate::track::{Side, State};

use super::diagram::{CapturePoint, Placement};
use super::{Ladder, Role, Row};

/// One call as it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub side: Side,
    /// The thread's kernel task id (what `strace -f` shows as the pid).
    pub pid: i32,
    pub call: &'static str,
    pub fd: i32,
    /// The call's arguments worth showing (`SHUT_WR`, `backlog 1`).
    pub detail: Option<String>,
    pub entered: Timestamp,
    pub returned: Timestamp,
    /// "0", "5" (bytes or a new fd), "-1 ECONNREFUSED".
    pub result: String,
    /// The recorder's id of the socket it was made on (for `accept`, the
    /// new socket); the ladder does not use it.
    pub socket: usize,
}

/// The call names the ladder knows, so a call read back from JSON gets the
/// same `&'static str` as a recorded one.
pub const NAMES: &[&str] = &[
    "socket",
    "bind",
    "listen",
    "setsockopt",
    "getsockopt",
    "connect",
    "accept",
    "accept4",
    "read",
    "recv",
    "recvfrom",
    "write",
    "send",
    "sendto",
    "shutdown",
    "close",
];

/// Each connection's calls, indexed by connection id, as the views take
/// them; `calls_for` says which calls belong to a connection.
pub fn by_connection(
    conns: &[crate::track::Connection],
    mut calls_for: impl FnMut(&crate::track::Connection) -> Vec<Call>,
) -> Vec<Vec<Call>> {
    let mut out = vec![Vec::new(); conns.iter().map(|c| c.id + 1).max().unwrap_or(0)];
    for c in conns {
        if let Some(v) = out.get_mut(c.id) {
            *v = calls_for(c);
        }
    }
    out
}

/// `name` as one of [`NAMES`].
pub fn known_name(name: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| *n == name)
}

/// Calls that put nothing on the wire: before the first segment they head
/// the lifeline.
fn setup(name: &str) -> bool {
    matches!(
        name,
        "socket" | "bind" | "listen" | "setsockopt" | "getsockopt"
    )
}

/// The verdict's words for the calls, in the tutorials' language: the
/// errno a failed `connect()` gave, which call sent the first FIN or RST,
/// which `read()` the peer's FIN woke with 0. Empty without calls.
pub fn verdict_words(l: &Ladder) -> Vec<String> {
    let mut out = Vec::new();
    let lines = &l.calls;
    if let Some(c) = lines
        .iter()
        .find(|c| c.name == "connect" && c.errno().is_some())
    {
        out.push(format!(
            "the client's connect() returned {} after {}",
            c.result,
            c.returned - c.entered
        ));
    }
    let ends = |c: &&CallLine| {
        c.sent
            .and_then(|k| l.rows.get(k))
            .is_some_and(|r| matches!(r.role, super::Role::Fin | super::Role::Rst))
    };
    if let Some(c) = lines.iter().filter(ends).min_by_key(|c| c.sent) {
        let what = l.rows.get(c.sent.unwrap_or_default()).map_or("FIN", |r| {
            if r.role == super::Role::Rst {
                "RST"
            } else {
                "FIN"
            }
        });
        let call = c.label.split(" = ").next().unwrap_or(&c.label);
        out.push(format!("the {}'s {call} sent the {what}", c.side));
    }
    for side in Side::BOTH {
        if let Some(c) = lines
            .iter()
            .find(|c| c.side == side && c.label.ends_with("(EOF)") && c.woke.is_some())
        {
            let call = c.label.split(" = ").next().unwrap_or(&c.label);
            out.push(format!(
                "the {side}'s {call} returned 0 (EOF) at the {}'s FIN",
                !side
            ));
        }
    }
    out
}

/// A call on the ladder.
#[derive(Clone, Debug, PartialEq)]
pub struct CallLine {
    /// Position in `Ladder::calls`.
    pub index: usize,
    pub side: Side,
    pub pid: i32,
    pub name: &'static str,
    pub fd: i32,
    pub detail: Option<String>,
    pub entered: Timestamp,
    pub returned: Timestamp,
    pub result: String,
    /// The segment it returned after (None: before the first).
    pub after_row: Option<usize>,
    /// The segment it was entered after.
    pub entered_after: Option<usize>,
    /// Segments went by while it waited: drawn as a bar from entry to
    /// return.
    pub blocked: bool,
    /// Set up before the first segment, putting nothing on the wire
    /// (`socket`, `bind`, `listen`, `setsockopt`): heads the lifeline.
    pub head: bool,
    /// Its return on the capture point's clock, kept between the segments
    /// it sits between: what a replay clock reveals it by.
    pub at: Timestamp,
    /// Its return since the connection's first segment, on its endpoint's
    /// own clock.
    pub offset: Span,
    /// Since the line before it.
    pub delta: Span,
    /// The segment it sent (`connect` the SYN, `close` the FIN or RST,
    /// `write` its data).
    pub sent: Option<usize>,
    /// The segment that woke it (`connect` the SYN,ACK or RST, `accept`
    /// the final ACK, `read` the data or the FIN).
    pub woke: Option<usize>,
    /// "connect() = 0", "read() = 0 (EOF)", "shutdown(SHUT_WR) = 0".
    pub label: String,
}

impl CallLine {
    /// The label as the tutorials write it.
    fn make_label(name: &str, detail: Option<&str>, result: &str) -> String {
        // Addresses and byte counts are in the detail pane; the flags that
        // change what the call does are part of its name on the ladder.
        let args = match (name, detail) {
            ("shutdown" | "setsockopt" | "listen" | "recv", Some(d)) => d,
            _ => "",
        };
        let eof = matches!(name, "read" | "recv" | "recvfrom") && result == "0";
        format!(
            "{name}({args}) = {result}{}",
            if eof { " (EOF)" } else { "" }
        )
    }

    /// Whether it failed: "-1 ECONNREFUSED".
    pub fn errno(&self) -> Option<&str> {
        self.result.strip_prefix("-1").map(str::trim)
    }

    /// What it did, in the tutorials' words: "connect() sends the SYN and
    /// blocks until the SYN,ACK arrives; it returned 0 when the SYN,ACK
    /// (segment 2) arrived".
    pub fn sentence(&self, l: &Ladder) -> String {
        let seg = |k: Option<usize>| {
            k.and_then(|k| l.rows.iter().find(|r| r.index == k))
                .map(|r| format!("{} (segment {})", r.role.name(), r.index + 1))
        };
        let sent = seg(self.sent);
        let woke = seg(self.woke);
        let peer = !self.side;
        let what = match self.name {
            "socket" => "socket() makes the socket; nothing goes on the wire".to_string(),
            "bind" => {
                "bind() gives the socket its local address; nothing goes on the wire".to_string()
            }
            "listen" => format!(
                "listen() makes the socket a listener ({}): the kernel now answers SYNs \
                 and queues the connections for accept(); nothing goes on the wire",
                self.detail.as_deref().unwrap_or("backlog")
            ),
            "setsockopt" | "getsockopt" => format!(
                "{}() sets an option ({}); nothing goes on the wire",
                self.name,
                self.detail.as_deref().unwrap_or("?")
            ),
            "connect" => match self.errno() {
                None => format!(
                    "connect() sends the SYN and blocks until the SYN,ACK arrives; it \
                     returned 0 when {} arrived and the {} sent the final ACK",
                    woke.as_deref().unwrap_or("the SYN,ACK"),
                    self.side
                ),
                Some(e) if e.starts_with("ECONNREFUSED") => format!(
                    "connect() sent the SYN and blocked; {} from the {peer} (no listener) \
                     made it fail with {e}",
                    woke.as_deref().unwrap_or("an RST")
                ),
                Some(e) if e.starts_with("ETIMEDOUT") => format!(
                    "connect() sent the SYN and blocked; no answer came after the SYN \
                     retries, so it failed with {e}"
                ),
                Some(e) => format!(
                    "connect() sent the SYN and blocked; an ICMP error (a soft error in \
                     SYN-SENT) made it fail with {e}"
                ),
            },
            "accept" | "accept4" => match self.errno() {
                None => format!(
                    "accept() blocks until a connection completes its handshake: the final \
                     ACK{} moved it from the listener's SYN queue to its accept queue, and \
                     accept() returned the new socket, fd {}",
                    self.woke
                        .map_or(String::new(), |k| format!(" (segment {})", k + 1)),
                    self.result
                ),
                Some(e) => format!("accept() failed with {e}"),
            },
            "read" | "recv" | "recvfrom" => match (self.result.as_str(), self.errno()) {
                ("0", _) => format!(
                    "{}() returns 0, the end of the stream, when the {peer}'s FIN arrives{}",
                    self.name,
                    woke.map_or(String::new(), |w| format!(": {w}"))
                ),
                (_, Some(e)) => format!("{}() failed with {e}", self.name),
                (n, None) => format!(
                    "{}() returned {n} bytes{}",
                    self.name,
                    woke.map_or(String::new(), |w| format!(" that arrived in {w}"))
                ),
            },
            "write" | "send" | "sendto" => format!(
                "{}() hands the bytes to the kernel and returns {}; the kernel sends them{}",
                self.name,
                self.result,
                sent.as_deref()
                    .map_or(String::new(), |s| format!(" as {s}"))
            ),
            "shutdown" => format!(
                "shutdown({}) half-closes: it sends {} and the socket can still read",
                self.detail.as_deref().unwrap_or(""),
                sent.as_deref().unwrap_or("the FIN")
            ),
            "close" => match self.sent.and_then(|k| l.rows.iter().find(|r| r.index == k)) {
                Some(r) if r.role == Role::Rst => format!(
                    "close() sends an RST instead of a FIN ({}: SO_LINGER 0 or unread data \
                     aborts the connection)",
                    sent.as_deref().unwrap_or("RST")
                ),
                Some(_) => format!(
                    "close() sends the FIN, {}, and returns at once; the kernel finishes \
                     the close",
                    sent.as_deref().unwrap_or("FIN")
                ),
                None => "close() releases the descriptor; nothing new goes on the wire".to_string(),
            },
            other => format!("{other}() returned {}", self.result),
        };
        let waited = if self.blocked {
            format!(
                " It blocked {} (entered at {:+.6} s).",
                self.returned - self.entered,
                (self.entered - l.start).as_secs_f64()
            )
        } else {
            String::new()
        };
        format!("{what}.{waited}")
    }

    /// Every field, for the detail pane.
    pub fn fields(&self, l: &Ladder) -> Vec<(&'static str, String)> {
        let seg = |k: Option<usize>| {
            k.and_then(|k| l.rows.iter().find(|r| r.index == k))
                .map_or("none".to_string(), |r| {
                    format!("{} {}", r.index + 1, r.role.name())
                })
        };
        vec![
            ("call", self.label.clone()),
            ("side", format!("{} pid {}", self.side, self.pid)),
            ("fd", self.fd.to_string()),
            (
                "args",
                self.detail.clone().unwrap_or_else(|| "none".to_string()),
            ),
            (
                "entered",
                format!("{:+.6} s", (self.entered - l.start).as_secs_f64()),
            ),
            (
                "returned",
                format!("{:+.6} s", (self.returned - l.start).as_secs_f64()),
            ),
            ("took", (self.returned - self.entered).to_string()),
            ("result", self.result.clone()),
            ("sent", seg(self.sent)),
            ("woken by", seg(self.woke)),
        ]
    }
}

/// The one-way delay between the capture point and each endpoint (client,
/// server), from the diagram's estimate. A capture next to one endpoint
/// gives it no delay at all: what the handshake shows there is that host's
/// processing time, not a path (a share of it would put the FIN `close()`
/// sent before `close()` was entered). Zero without a handshake to
/// estimate from: the calls are then compared with capture times.
pub fn delays(p: &Placement) -> [Span; 2] {
    let one_way = p.rtt.map_or(0, |r| r.as_nanos() / 2);
    let share = match p.point {
        CapturePoint::NearClient => 0.0,
        CapturePoint::NearServer => 1.0,
        CapturePoint::Between => p.from_client,
        CapturePoint::Unknown => return [Span::from_nanos(0); 2],
    };
    [
        Span::from_nanos((share * one_way as f64) as i64),
        Span::from_nanos(((1.0 - share) * one_way as f64) as i64),
    ]
}

/// The delays between the capture point and one endpoint, each way: a
/// path's two directions need not be equal (the demo's forwarder shows
/// differences of a tenth of a millisecond, as much as a call takes).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Way {
    /// From the capture point to the endpoint: what a segment it receives
    /// takes after the capture saw it.
    to: Span,
    /// From the endpoint to the capture point.
    from: Span,
}

impl Way {
    fn both(d: Span) -> Way {
        Way { to: d, from: d }
    }
}

/// When a row happened at `side`: sent by it `from` before the capture saw
/// it, received `to` after.
fn local(r: &Row, side: Side, w: Way) -> Timestamp {
    if r.from == side {
        r.time - w.from
    } else {
        r.time + w.to
    }
}

/// Which segments a call sends.
fn sends(name: &str) -> &'static [Role] {
    match name {
        "connect" => &[Role::Syn],
        "close" | "shutdown" => &[Role::Fin, Role::Rst],
        "write" | "send" | "sendto" => &[Role::Data, Role::Fin],
        _ => &[],
    }
}

/// The segment each call sent (by position in `rows`; calls in order of
/// entry): the first of its kind from its side captured after it was
/// entered that no earlier call sent. (The capture is after the sender, so
/// this holds whatever the delay.)
fn sent_rows(l: &Ladder, by_entry: &[&Call]) -> Vec<Option<usize>> {
    let n = l.rows.len();
    let mut claimed = vec![false; n];
    let mut sent = Vec::with_capacity(by_entry.len());
    for c in by_entry {
        let kinds = sends(c.call);
        let k = (0..n).find(|&k| {
            let r = &l.rows[k];
            !claimed[k] && r.from == c.side && kinds.contains(&r.role) && r.time >= c.entered
        });
        if let Some(k) = k {
            claimed[k] = true;
        }
        sent.push(k);
    }
    sent
}

/// The segment that woke a call (by position in `rows`): for connect and
/// accept the one that made the side ESTABLISHED (or the RST that refused
/// it); for a reset the peer's RST; for a read the FIN it reports or the
/// last data that had arrived (by the delay `d` to its side).
fn woke_row(l: &Ladder, c: &Call, d: Way) -> Option<usize> {
    let peer = |role: Role| {
        l.rows
            .iter()
            .position(|r| r.from != c.side && r.role == role)
    };
    match c.call {
        "connect" | "accept" | "accept4" if !c.result.starts_with("-1") => l
            .rows
            .iter()
            .flat_map(|r| &r.marks[c.side.index()])
            .find(|m| m.state == State::Established)
            .and_then(|m| l.rows.iter().position(|r| r.index == m.cause_row)),
        "connect" => peer(Role::Rst),
        _ if c.result.contains("ECONNRESET") || c.result.contains("EPIPE") => peer(Role::Rst),
        "read" | "recv" | "recvfrom" if c.result == "0" => peer(Role::Fin),
        "read" | "recv" | "recvfrom" if !c.result.starts_with("-1") => l
            .rows
            .iter()
            .rposition(|r| {
                r.from != c.side && r.role == Role::Data && local(r, c.side, d) <= c.returned
            })
            .or_else(|| peer(Role::Data)),
        _ => None,
    }
}

/// The delays each way, tightened by what the calls show for certain: a
/// call returned after the segment that woke it arrived (the delay toward
/// its side is at most the gap between that segment's capture and the
/// return); it was entered before the segment it sent left and returned
/// after (the delay from its side is at most the gap from the entry to the
/// capture, at least the gap from the return). The handshake's estimate
/// splits a round trip evenly; what one way loses the other keeps.
fn calibrate(l: &Ladder, by_entry: &[&Call], sent: &[Option<usize>], delay: [Span; 2]) -> [Way; 2] {
    let mut out = delay.map(Way::both);
    for side in Side::BOTH {
        // Bounds on the way to the side (only from above) and from it.
        let mut to_hi = i64::MAX;
        let (mut from_lo, mut from_hi) = (0i64, i64::MAX);
        let hi = &mut to_hi;
        // The peer's first sequence number: stream offset k is at isn+1+k.
        let isn = l
            .rows
            .iter()
            .find(|r| r.from != side && matches!(r.role, Role::Syn | Role::SynAck))
            .map(|r| r.seq);
        // Bytes this side has read so far.
        let mut taken: u32 = 0;
        for (c, s) in by_entry.iter().zip(sent).filter(|(c, _)| c.side == side) {
            let reads = matches!(c.call, "read" | "recv" | "recvfrom");
            let bytes = c.result.parse::<u32>().ok().filter(|&n| n > 0);
            if let (true, Some(n), Some(isn)) = (reads, bytes, isn) {
                // A read that returned data: the segment holding its first
                // byte had arrived.
                let first = isn.plus(1).plus(taken);
                if let Some(r) = l
                    .rows
                    .iter()
                    .find(|r| r.from != side && r.seq.le(first) && first.lt(r.end))
                {
                    *hi = (*hi).min((c.returned - r.time).as_nanos());
                }
                // A peek leaves the bytes for the next read.
                if c.detail.as_deref() != Some("MSG_PEEK") {
                    taken = taken.wrapping_add(n);
                }
            } else if !(reads && bytes.is_some())
                && let Some(w) = woke_row(l, c, Way::both(Span::from_nanos(0)))
            {
                // What woke the others does not depend on the delay.
                *hi = (*hi).min((c.returned - l.rows[w].time).as_nanos());
            }
            if let Some(s) = *s {
                let t = l.rows[s].time;
                from_hi = from_hi.min((t - c.entered).as_nanos());
                from_lo = from_lo.max((t - c.returned).as_nanos());
            }
        }
        let d = delay[side.index()].as_nanos();
        let to = d.min(to_hi.max(0));
        // The round trip the handshake measured stays whole.
        let from = 2 * d - to;
        // Inconsistent bounds (clocks, a wrong match): keep the estimate.
        let from = if from_lo <= from_hi {
            from.clamp(from_lo, from_hi.max(0))
        } else {
            d
        };
        out[side.index()] = Way {
            to: Span::from_nanos(to),
            from: Span::from_nanos(from),
        };
    }
    out
}

/// Places `calls` among the ladder's rows, in ladder order.
///
/// Times alone are not enough at the far end: the delay to it is an
/// estimate (a path's two directions differ by a fraction of a
/// millisecond, as much as an `accept()` takes to return after the final
/// ACK). So cause and effect, which are certain, bound the estimate: a call
/// comes after the segment that woke it and after the segment it sent, and
/// before a segment a later call of its program sent; it was entered after
/// its program's previous call returned, and before the segment it sent.
pub fn place(l: &Ladder, calls: &[Call], delay: [Span; 2]) -> Vec<CallLine> {
    let mut by_entry: Vec<&Call> = calls.iter().collect();
    by_entry.sort_by_key(|c| c.entered);
    let sent = sent_rows(l, &by_entry);
    let delay = calibrate(l, &by_entry, &sent, delay);
    let d = |side: Side| delay[side.index()];
    // How many rows had happened at `side` by `t` (a count, not the last
    // such row: a segment one side sent and one it received can swap order
    // between the capture point and the endpoint, and the count keeps the
    // order monotone).
    let count = |side: Side, t: Timestamp| -> usize {
        l.rows
            .iter()
            .filter(|r| local(r, side, d(side)) <= t)
            .count()
    };
    let woke: Vec<Option<usize>> = by_entry.iter().map(|c| woke_row(l, c, d(c.side))).collect();
    // Rows before the return and the entry (counts), bounded as above.
    let mut spots: Vec<(usize, usize)> = Vec::with_capacity(by_entry.len());
    for (k, c) in by_entry.iter().enumerate() {
        let mut ret = count(c.side, c.returned);
        let mut ent = count(c.side, c.entered);
        // Before what a later call of this side sent.
        if let Some(upper) = by_entry
            .iter()
            .zip(&sent)
            .skip(k + 1)
            .filter(|(o, _)| o.side == c.side && o.pid == c.pid && o.entered >= c.returned)
            .filter_map(|(_, s)| *s)
            .min()
        {
            ret = ret.min(upper);
        }
        for s in [woke[k], sent[k]].into_iter().flatten() {
            ret = ret.max(s + 1);
        }
        if let Some(s) = sent[k] {
            ent = ent.min(s);
        }
        // A program's calls keep its own order: entered after its previous
        // call returned, and returning after it.
        let program = |o: &Call| o.side == c.side && o.pid == c.pid;
        if let Some(prev) = (0..k).rev().find(|&j| program(by_entry[j])) {
            ent = ent.max(spots[prev].0);
            ret = ret.max(spots[prev].0);
        }
        spots.push((ret, ent.min(ret)));
    }
    let index_of = |count: usize| count.checked_sub(1).map(|p| l.rows[p].index);
    let mut out: Vec<CallLine> = Vec::with_capacity(by_entry.len());
    for (k, c) in by_entry.iter().enumerate() {
        let side = c.side;
        let (ret, ent) = spots[k];
        let after_row = index_of(ret);
        let entered_after = index_of(ent);
        // It waited if the segment that woke it came after it was entered,
        // or if something happened at its endpoint while it ran: a segment
        // or an ICMP error from outside; for a call that waits by nature
        // (connect, accept, a read), its own side's segments too (the SYN
        // sent again while connect() waits for ETIMEDOUT). What a write or
        // a close sends meanwhile does not count (a write spans the data it
        // sends and the ACK beside it), nor do segments merely in flight
        // toward it, which the capture saw first.
        let waits = matches!(
            c.call,
            "connect" | "accept" | "accept4" | "read" | "recv" | "recvfrom"
        );
        let during = |t: Timestamp| c.entered < t && t <= c.returned;
        let happened_during = l.rows.iter().enumerate().any(|(p, r)| {
            (r.from != side || waits && sent[k] != Some(p)) && during(local(r, side, d(side)))
        }) || l
            .icmp
            .iter()
            .any(|i| i.to == side && during(i.time + d(side).to));
        let blocked = ret != ent && (woke[k].is_some_and(|w| w >= ent) || happened_during);
        let head = setup(c.call) && ret == 0 && !blocked;
        // On the capture clock, held between the rows around it. Before
        // the first segment the endpoints' own clocks order the calls.
        let mut at = if ret == 0 {
            c.returned
        } else {
            c.returned + d(side).from
        };
        if let Some(lo) = ret.checked_sub(1).map(|p| l.rows[p].time) {
            at = at.max(lo);
        }
        if let Some(hi) = l.rows.get(ret).map(|r| r.time) {
            at = at.min(hi);
        }
        out.push(CallLine {
            index: 0,
            side,
            pid: c.pid,
            name: c.call,
            fd: c.fd,
            detail: c.detail.clone(),
            entered: c.entered,
            returned: c.returned,
            result: c.result.clone(),
            after_row,
            entered_after,
            blocked,
            head,
            at,
            offset: c.returned - l.start,
            delta: Span::from_nanos(0),
            sent: sent[k].map(|p| l.rows[p].index),
            woke: woke[k].map(|p| l.rows[p].index),
            label: CallLine::make_label(c.call, c.detail.as_deref(), &c.result),
        });
    }
    // Ladder order: by the gap between rows, then by time within it; a
    // program's calls stay in its own order.
    out.sort_by_key(|c| (c.after_row.map_or(0, |a| a + 1), c.at, c.entered));
    let pos = |index: Option<usize>| index.and_then(|i| l.rows.iter().position(|r| r.index == i));
    let mut prev = l.start;
    for (k, c) in out.iter_mut().enumerate() {
        c.index = k;
        let before = pos(c.after_row).map_or(l.start, |p| l.rows[p].time);
        let base = if k == 0 { before } else { prev.max(before) };
        c.delta = c.at - base;
        prev = c.at;
    }
    out
}

impl Ladder {
    /// The lines (positions in `lines`) a blocked call's bar passes: from
    /// the line after the one it was entered after up to its own return
    /// line, which is left out (it carries the label). Empty for a call
    /// that did not block.
    pub fn bar_lines(&self, k: usize) -> std::ops::Range<usize> {
        let Some(c) = self.calls.get(k).filter(|c| c.blocked) else {
            return 0..0;
        };
        let after_row = c
            .entered_after
            .and_then(|a| self.rows.iter().position(|r| r.index == a))
            .map_or(0, |p| self.line_of_row(p) + 1);
        // Not over the program's previous call, which returned before this
        // one was entered (they can share the gap after a row).
        let after_prev = self.calls[..k]
            .iter()
            .enumerate()
            .rev()
            .find(|(_, p)| p.side == c.side && p.returned <= c.entered)
            .map_or(0, |(j, _)| self.line_of_call(j) + 1);
        after_row.max(after_prev)..self.line_of_call(k)
    }

    /// What the row with segment index `index` has to do with the calls,
    /// in the tutorials' words: "The client's connect() sent it. It wakes
    /// the server's accept(), which returns 4." None without calls.
    pub fn call_notes(&self, index: usize) -> Option<String> {
        let mut notes = Vec::new();
        for c in self.calls.iter().filter(|c| c.sent == Some(index)) {
            notes.push(format!("The {}'s {}() sent it.", c.side, c.name));
        }
        for c in self.calls.iter().filter(|c| c.woke == Some(index)) {
            notes.push(format!(
                "It wakes the {}'s {}(), which returns {}.",
                c.side,
                c.name,
                match c.result.as_str() {
                    "0" if matches!(c.name, "read" | "recv" | "recvfrom") => "0 (EOF)",
                    r => r,
                }
            ));
        }
        (!notes.is_empty()).then(|| notes.join(" "))
    }

    /// Per line of `lines`, whether each lifeline (client, server) is
    /// inside a blocked call's bar there.
    pub fn bars(&self) -> Vec<[bool; 2]> {
        let mut out = vec![[false; 2]; self.line_count()];
        for (k, c) in self.calls.iter().enumerate() {
            for n in self.bar_lines(k) {
                if let Some(b) = out.get_mut(n) {
                    b[c.side.index()] = true;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Flags, Segment};
    use crate::ladder::{LabelStyle, Line};
    use crate::track::{TrackConfig, Tracker};

    /// Handshake, the client's data, its close, the server's close, at
    /// 0, 10, 11, 20, 30, 40, 41 ms.
    fn ladder() -> Ladder {
        let mut t = Tracker::new(TrackConfig::default());
        let c = "10.0.0.1:40000".parse().unwrap();
        let s = "10.0.0.2:80".parse().unwrap();
        let script = [
            (true, 0x02, 100, 0, 0, 0),
            (false, 0x12, 500, 101, 0, 10),
            (true, 0x10, 101, 501, 0, 11),
            (true, 0x18, 101, 501, 5, 20),
            (true, 0x11, 106, 501, 0, 30),
            (false, 0x11, 501, 107, 0, 40),
            (true, 0x10, 107, 502, 0, 41),
        ];
        for (k, &(from_client, flags, seq, ack, len, ms)) in script.iter().enumerate() {
            let (src, dst) = if from_client { (c, s) } else { (s, c) };
            let seg = Segment::new(src, dst, Flags(flags), seq, ack, len);
            t.push(&seg, Timestamp::from_nanos(ms * 1_000_000), k as u64 + 1);
        }
        let conn = t.finish(Timestamp::from_nanos(50_000_000)).remove(0);
        Ladder::build(&conn, Span::from_secs(30), LabelStyle::default())
    }

    fn call(side: Side, name: &'static str, detail: Option<&str>, us: (i64, i64), r: &str) -> Call {
        Call {
            side,
            pid: 7,
            call: name,
            fd: 3,
            detail: detail.map(str::to_owned),
            entered: Timestamp::from_nanos(us.0 * 1000),
            returned: Timestamp::from_nanos(us.1 * 1000),
            result: r.to_string(),
            socket: 0,
        }
    }

    fn calls() -> Vec<Call> {
        use Side::{Client, Server};
        vec![
            call(Server, "socket", None, (-900, -899), "3"),
            call(Server, "listen", Some("backlog 1"), (-800, -799), "0"),
            call(Server, "accept", None, (-700, 11_300), "4"),
            call(Client, "socket", None, (-500, -499), "3"),
            call(Client, "connect", None, (-100, 11_050), "0"),
            call(Client, "write", Some("5 bytes"), (19_990, 20_010), "5"),
            call(Server, "read", None, (11_400, 20_200), "5"),
            call(Server, "read", None, (20_300, 30_100), "0"),
            call(Client, "close", None, (29_990, 30_010), "0"),
            call(Server, "shutdown", Some("SHUT_WR"), (39_990, 40_005), "0"),
        ]
    }

    #[test]
    fn calls_go_after_the_rows_they_returned_after_on_their_own_lifeline() {
        let l = ladder();
        let l = Ladder {
            calls: place(&l, &calls(), [Span::from_nanos(0); 2]),
            ..l
        };
        let by = |side: Side, label: &str| {
            l.calls
                .iter()
                .find(|c| c.side == side && c.label == label)
                .unwrap_or_else(|| panic!("{label}: {:#?}", l.calls))
        };
        // Set-up calls head the lifelines, in time order.
        let heads: Vec<&str> = l
            .calls
            .iter()
            .filter(|c| c.head)
            .map(|c| c.label.as_str())
            .collect();
        assert_eq!(
            heads,
            ["socket() = 3", "listen(backlog 1) = 0", "socket() = 3"]
        );
        let connect = by(Side::Client, "connect() = 0");
        assert_eq!(connect.after_row, Some(2), "after the final ACK");
        assert_eq!(connect.entered_after, None, "entered before the SYN");
        assert!(connect.blocked && !connect.head);
        assert_eq!(connect.sent, Some(0), "the SYN");
        assert_eq!(connect.woke, Some(1), "the SYN,ACK");
        let accept = by(Side::Server, "accept() = 4");
        assert_eq!(accept.after_row, Some(2));
        assert_eq!(accept.woke, Some(2), "the final ACK");
        assert!(accept.blocked);
        let write = by(Side::Client, "write() = 5");
        assert_eq!((write.entered_after, write.after_row), (Some(2), Some(3)));
        assert_eq!(write.sent, Some(3));
        assert!(!write.blocked, "a write spans the data it sends");
        let eof = by(Side::Server, "read() = 0 (EOF)");
        assert_eq!(eof.after_row, Some(4));
        assert_eq!(eof.woke, Some(4), "the FIN");
        assert!(eof.blocked);
        let close = by(Side::Client, "close() = 0");
        assert_eq!((close.after_row, close.sent), (Some(4), Some(4)));
        let shut = by(Side::Server, "shutdown(SHUT_WR) = 0");
        assert_eq!((shut.after_row, shut.sent), (Some(5), Some(5)));
        assert_eq!(
            l.call_notes(0).as_deref(),
            Some("The client's connect() sent it.")
        );
        assert_eq!(
            l.call_notes(2).as_deref(),
            Some("It wakes the server's accept(), which returns 4.")
        );
        assert_eq!(l.call_notes(6), None);
        assert!(
            eof.sentence(&l)
                .contains("returns 0, the end of the stream"),
            "{}",
            eof.sentence(&l)
        );
        assert!(
            connect
                .sentence(&l)
                .starts_with("connect() sends the SYN and blocks until the SYN,ACK arrives"),
            "{}",
            connect.sentence(&l)
        );
        // Lines: every call between the rows it came between, and the
        // positions agree both ways.
        let lines: Vec<Line> = l.lines().collect();
        assert_eq!(lines.len(), l.line_count());
        assert_eq!(lines[..3], [Line::Call(0), Line::Call(1), Line::Call(2)]);
        for (n, &line) in lines.iter().enumerate() {
            assert_eq!(l.line_at(n), Some(line), "line {n}");
            assert_eq!(l.line_of(line), n);
        }
        assert_eq!(l.line_at(lines.len()), None);
        let row2 = l.line_of_row(2);
        let after: Vec<Line> = lines[row2 + 1..row2 + 3].to_vec();
        assert!(after.contains(&Line::Call(connect.index)), "{lines:?}");
        assert!(after.contains(&Line::Call(accept.index)), "{lines:?}");
        // The connect's bar runs from the client's socket() to its return.
        let bar = l.bar_lines(connect.index);
        assert_eq!(bar.start, l.line_of_call(2) + 1);
        assert_eq!(bar.end, l.line_of_call(connect.index));
        assert!(l.bar_lines(write.index).is_empty());
        let bars = l.bars();
        assert!(bars[l.line_of_row(0)][0] && bars[l.line_of_row(0)][1]);
        // A cut keeps the calls with the rows they follow.
        let cut = l.cut(3, 4);
        let kept: Vec<&str> = cut.calls.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(
            kept,
            [
                "write() = 5",
                "read() = 5",
                "close() = 0",
                "read() = 0 (EOF)"
            ]
        );
        for (n, line) in cut.lines().enumerate() {
            assert_eq!(cut.line_at(n), Some(line), "cut line {n}");
        }
    }

    #[test]
    fn the_far_end_is_compared_with_the_segments_shifted_by_the_delay() {
        let l = ladder();
        // The server 5 ms from the capture point: its accept() returned
        // 3 ms after the ACK was captured, before that ACK got there; the
        // estimate alone would put it before the ACK; the ACK that woke it
        // bounds the delay and the placement.
        let mut early = calls();
        early[2].returned = Timestamp::from_nanos(14_000_000);
        let d = [Span::from_nanos(0), Span::from_nanos(5_000_000)];
        let placed = place(&l, &early, d);
        let accept = placed.iter().find(|c| c.name == "accept").unwrap();
        assert_eq!(accept.after_row, Some(2), "not before the ACK that woke it");
        // The server's read() = 5 returned at 20.2 ms, when by the estimate
        // the data (captured at 20 ms) was 5 ms from arriving: a read does
        // not return data before it came, so it goes after the data's row,
        // and before the FIN, which had not arrived either.
        let read = placed.iter().find(|c| c.label == "read() = 5").unwrap();
        assert_eq!(read.after_row, Some(3));
        assert!(read.at >= l.rows[3].time && read.at <= l.rows[4].time);
    }

    #[test]
    fn a_connect_that_times_out_blocked_across_its_own_retries() {
        let mut t = Tracker::new(TrackConfig::default());
        let c = "10.0.0.1:40000".parse().unwrap();
        let s = "10.0.0.2:80".parse().unwrap();
        for (k, ms) in [0i64, 1000].into_iter().enumerate() {
            let seg = Segment::new(c, s, Flags(0x02), 100, 0, 0);
            t.push(&seg, Timestamp::from_nanos(ms * 1_000_000), k as u64 + 1);
        }
        let conn = t.finish(Timestamp::from_nanos(2_000_000_000)).remove(0);
        let l = Ladder::build(&conn, Span::from_secs(30), LabelStyle::default());
        let calls = [
            call(
                Side::Client,
                "connect",
                None,
                (-1, 3_000_000),
                "-1 ETIMEDOUT",
            ),
            call(
                Side::Client,
                "write",
                None,
                (3_000_010, 3_000_020),
                "-1 EPIPE",
            ),
        ];
        let placed = place(&l, &calls, [Span::from_nanos(0); 2]);
        let connect = &placed[0];
        assert_eq!((connect.entered_after, connect.after_row), (None, Some(1)));
        assert_eq!(
            connect.sent,
            Some(0),
            "the first SYN; the second is the kernel's"
        );
        assert!(connect.blocked, "its own SYN went again while it waited");
        assert!(!placed[1].blocked, "nothing happened during the write");
        assert!(
            connect
                .sentence(&l)
                .contains("no answer came after the SYN retries")
        );
        assert_eq!(connect.errno(), Some("ETIMEDOUT"));
    }

    #[test]
    fn labels_read_as_the_tutorials_write_them() {
        let f = CallLine::make_label;
        assert_eq!(f("connect", Some("10.0.0.2:80"), "0"), "connect() = 0");
        assert_eq!(
            f("connect", None, "-1 ECONNREFUSED"),
            "connect() = -1 ECONNREFUSED"
        );
        assert_eq!(f("read", None, "0"), "read() = 0 (EOF)");
        assert_eq!(f("shutdown", Some("SHUT_WR"), "0"), "shutdown(SHUT_WR) = 0");
        assert_eq!(f("accept", None, "4"), "accept() = 4");
    }
}
