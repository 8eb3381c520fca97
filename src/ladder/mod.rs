//! The ladder view model: lanes, arrows, state marks and TIME-WAIT spans of
//! one connection. Pure, and shared by every view (text now; TUI, SVG and
//! Mermaid read the same model), so layout decisions live here and not in
//! drawing code.

pub mod diagram;
pub mod explain;
pub mod label;
pub mod verdict;

use std::net::SocketAddr;

use crate::decode::SeqNumber;
use crate::time::{Span, Timestamp};
use crate::track::{Cause, Connection, SegmentRecord, Side, State};

pub use label::LabelStyle;

/// What kind of segment an arrow is, for colour and symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Syn,
    SynAck,
    Fin,
    Rst,
    Data,
    Ack,
}

impl Role {
    pub fn of(rec: &SegmentRecord) -> Role {
        let f = rec.flags;
        if f.rst() {
            Role::Rst
        } else if f.syn() && f.ack() {
            Role::SynAck
        } else if f.syn() {
            Role::Syn
        } else if f.fin() {
            Role::Fin
        } else if rec.len > 0 {
            Role::Data
        } else {
            Role::Ack
        }
    }
}

/// One arrow.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Index of the segment in the connection.
    pub index: usize,
    pub frame: u64,
    pub time: Timestamp,
    /// Since the connection's first segment.
    pub offset: Span,
    /// Since the previous row.
    pub delta: Span,
    pub from: Side,
    pub label: String,
    pub role: Role,
    pub retransmission: bool,
    /// Evidently never arrived: sent again before anything acknowledged
    /// it, or a SYN that got no answer at all.
    pub lost: bool,
    pub notes: Vec<&'static str>,
    /// Absolute sequence number, the first one after this segment, and the
    /// acknowledgment (None when the ACK flag is clear): what a drawing
    /// needs to keep cause before effect.
    pub seq: SeqNumber,
    pub end: SeqNumber,
    pub ack: Option<SeqNumber>,
    /// New states written on this row, per side (client, server), in order.
    pub marks: [Vec<MarkView>; 2],
}

/// A state written on a lifeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MarkView {
    pub state: State,
    pub cause: Cause,
    pub time: Timestamp,
    /// The segment that caused it (see `StateMark::cause_row`).
    pub cause_row: usize,
}

/// A TIME-WAIT drawn as a span on one lifeline.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeWaitSpan {
    pub side: Side,
    /// Row where it starts.
    pub row: usize,
    pub entered: Timestamp,
    pub expires: Timestamp,
    /// 2×MSL, the span's nominal length.
    pub length: Span,
    pub ended_early: bool,
    /// Whether the capture reaches its end.
    pub ran_out: bool,
}

impl Row {
    /// The label with its analysis notes: "FIN,ACK seq=12 … [retransmission]".
    pub fn label_with_notes(&self) -> String {
        let mut s = self.label.clone();
        for n in &self.notes {
            s.push_str(" [");
            s.push_str(n);
            s.push(']');
        }
        s
    }
}

impl TimeWaitSpan {
    /// How it ends, relative to the ladder's start: "CLOSED at +60.151 s",
    /// "ended early at +0.454 s by a new connection", or "until +60.151 s
    /// (after the capture)".
    pub fn end_text(&self, start: Timestamp) -> String {
        let at = (self.expires - start).as_secs_f64();
        if self.ended_early {
            format!("ended early at +{at:.3} s by a new connection")
        } else if self.ran_out {
            format!("CLOSED at +{at:.3} s")
        } else {
            format!("until +{at:.3} s (after the capture)")
        }
    }
}

/// A state change after the last segment (a TIME-WAIT running out).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TailMark {
    pub side: Side,
    pub mark: MarkView,
    pub offset: Span,
}

impl TailMark {
    /// Why the state changed with nothing on the wire.
    pub fn why(&self) -> &'static str {
        match self.mark.cause {
            Cause::Timer => "TIME-WAIT ran out",
            Cause::NewIncarnation => "TIME-WAIT ended by a new connection",
            Cause::Estimated => "retries ran out, estimated",
            // Nothing after the last segment is received but an ICMP error.
            Cause::Received => "ICMP error",
            Cause::Sent => "",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ladder {
    /// 1-based, as the user counts connections.
    pub number: usize,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub verdict: String,
    pub start: Timestamp,
    pub initial: [State; 2],
    pub rows: Vec<Row>,
    pub tail: Vec<TailMark>,
    pub time_waits: Vec<TimeWaitSpan>,
}

/// Marks the copies that evidently never arrived. Only the sender's own
/// behaviour is taken as evidence: it sent the same sequence space again
/// with nothing from the peer acknowledging it in between; or it is a SYN
/// that got no answer (SYN,ACK or RST) at all.
fn mark_lost(rows: &mut [Row]) {
    for i in 0..rows.len() {
        let r = &rows[i];
        if r.end == r.seq {
            continue;
        }
        let (from, seq, end, role) = (r.from, r.seq, r.end, r.role);
        let acked_by = |p: &Row| p.from != from && p.ack.is_some_and(|a| end.le(a));
        let mut lost = false;
        for later in &rows[i + 1..] {
            if acked_by(later) || (later.from != from && later.role == Role::Rst) {
                break;
            }
            // The same segment again (a SYN,ACK that repeats a SYN in a
            // simultaneous open is not a resend).
            if later.from == from && later.seq == seq && later.end == end && later.role == role {
                lost = true;
                break;
            }
        }
        if r.role == Role::Syn
            && !rows[i + 1..].iter().any(|p| {
                p.from != from && (acked_by(p) || p.role == Role::Rst || p.role == Role::Syn)
            })
        {
            lost = true;
        }
        if lost {
            rows[i].lost = true;
            rows[i].notes.push("lost");
        }
    }
}

impl Ladder {
    pub fn build(c: &Connection, msl: Span, style: LabelStyle) -> Ladder {
        let mut rows: Vec<Row> = Vec::with_capacity(c.segments.len());
        let mut prev = c.first_ts;
        for (i, rec) in c.segments.iter().enumerate() {
            rows.push(Row {
                index: i,
                frame: rec.frame,
                time: rec.ts,
                offset: rec.ts - c.first_ts,
                delta: rec.ts - prev,
                from: rec.from,
                label: label::label(rec, style),
                role: Role::of(rec),
                retransmission: rec.retransmission,
                lost: false,
                notes: label::marks(rec),
                seq: rec.seq,
                end: rec
                    .seq
                    .plus(rec.len + u32::from(rec.flags.syn()) + u32::from(rec.flags.fin())),
                ack: rec.flags.ack().then_some(rec.ack),
                marks: [Vec::new(), Vec::new()],
            });
            prev = rec.ts;
        }
        mark_lost(&mut rows);
        let mut tail = Vec::new();
        let mut time_waits = Vec::new();
        for m in c.marks_by_row() {
            let view = MarkView {
                state: m.to,
                cause: m.cause,
                time: m.time,
                cause_row: m.cause_row,
            };
            match rows.get_mut(m.row) {
                Some(r) => r.marks[m.side.index()].push(view),
                None => tail.push(TailMark {
                    side: m.side,
                    mark: view,
                    offset: m.time - c.first_ts,
                }),
            }
            if m.to == State::TimeWait
                && let Some(tw) = c.time_wait[m.side.index()]
            {
                time_waits.push(TimeWaitSpan {
                    side: m.side,
                    row: m.row,
                    entered: tw.entered,
                    expires: tw.expires,
                    length: Span::from_nanos(msl.as_nanos() * 2),
                    ended_early: tw.ended_early,
                    ran_out: c.state(m.side) == State::Closed,
                });
            }
        }
        Ladder {
            number: c.id + 1,
            client: c.client,
            server: c.server,
            verdict: verdict::verdict(c),
            start: c.first_ts,
            initial: c.initial,
            rows,
            tail,
            time_waits,
        }
    }

    pub fn addr(&self, side: Side) -> SocketAddr {
        match side {
            Side::Client => self.client,
            Side::Server => self.server,
        }
    }

    /// Only rows `first..=last` (indices): a handshake alone, say. The
    /// initial states become the states just before `first`; TIME-WAIT and
    /// the marks after the last segment stay only if the cut reaches the
    /// end.
    pub fn cut(&self, first: usize, last: usize) -> Ladder {
        let last = last.min(self.rows.len().saturating_sub(1));
        let mut initial = self.initial;
        for r in self.rows.iter().take(first) {
            for side in Side::BOTH {
                if let Some(m) = r.marks[side.index()].last() {
                    initial[side.index()] = m.state;
                }
            }
        }
        let rows: Vec<Row> = self
            .rows
            .iter()
            .filter(|r| r.index >= first && r.index <= last)
            .cloned()
            .collect();
        let to_end = last + 1 >= self.rows.len();
        Ladder {
            initial,
            rows,
            tail: if to_end {
                self.tail.clone()
            } else {
                Vec::new()
            },
            time_waits: self
                .time_waits
                .iter()
                .filter(|t| t.row >= first && t.row <= last)
                .copied()
                .collect(),
            ..self.clone()
        }
    }

    /// Replaces the addresses with documentation ones (RFC 5737, RFC 3849),
    /// keeping the ports, so captures from real networks can be shown.
    pub fn redact(&mut self) {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let doc = |a: SocketAddr, n: u8| -> SocketAddr {
            let ip = match a.ip() {
                IpAddr::V4(_) if n == 1 => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
                IpAddr::V6(_) => {
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
                }
            };
            SocketAddr::new(ip, a.port())
        };
        self.client = doc(self.client, 1);
        self.server = doc(self.server, 2);
    }
}
