//! The ladder view model: lanes, arrows, state marks and TIME-WAIT spans of
//! one connection. Pure, and shared by every view (text now; TUI, SVG and
//! Mermaid read the same model), so layout decisions live here and not in
//! drawing code.
//!
//! ICMP errors are lines of their own (`Ladder::icmp`), kept apart from the
//! segment rows so that row indices stay segment indices; `Ladder::lines`
//! gives both in capture order.
//!
//! Socket calls, where the programs' calls are known (`demo`), are lines of
//! their own too (`Ladder::calls`, placed by `calls::place`), on the
//! lifeline of the endpoint that made them; `Ladder::lines` puts them among
//! the rows by time. A ladder built from a capture alone has none and looks
//! exactly as before.

pub mod calls;
pub mod diagram;
pub mod explain;
pub mod kernel;
pub mod label;
pub mod page;
pub mod verdict;

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use crate::decode::SeqNumber;
use crate::time::{Span, Timestamp};
use crate::track::rows::Rows;
use crate::track::{Cause, Connection, IcmpRecord, SegmentRecord, Side, State, StateMark};

pub use calls::{Call, CallLine};
pub use kernel::{Disagreement, KernelView};
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
    /// "SYN", "SYN,ACK", "FIN", "RST", "data", "ACK".
    pub fn name(self) -> &'static str {
        match self {
            Role::Syn => "SYN",
            Role::SynAck => "SYN,ACK",
            Role::Fin => "FIN",
            Role::Rst => "RST",
            Role::Data => "data",
            Role::Ack => "ACK",
        }
    }

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
    /// Exactly as long as it is: a ladder of two million rows holds two
    /// million labels.
    pub label: Box<str>,
    pub role: Role,
    pub retransmission: bool,
    /// Evidently never arrived: sent again before anything acknowledged
    /// it, or a SYN that got no answer at all.
    pub lost: bool,
    /// The RST that refused the connection: the server's answer to a SYN
    /// nothing listened for. It arrived; it is drawn with a mark of its
    /// own, not a lost segment's cross.
    pub refused: bool,
    pub notes: Notes,
    /// Absolute sequence number, the first one after this segment, and the
    /// acknowledgment (None when the ACK flag is clear): what a drawing
    /// needs to keep cause before effect.
    pub seq: SeqNumber,
    pub end: SeqNumber,
    pub ack: Option<SeqNumber>,
    /// New states written on this row, per side (client, server), in order.
    pub marks: Marks,
}

/// The analysis notes of a row, in the order a label gives them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notes(u8);

impl Notes {
    pub const RETRANSMISSION: Notes = Notes(1);
    pub const KEEPALIVE: Notes = Notes(1 << 1);
    pub const TRUNCATED: Notes = Notes(1 << 2);
    pub const LOST: Notes = Notes(1 << 3);
    const NAMES: [(Notes, &'static str); 4] = [
        (Notes::RETRANSMISSION, "retransmission"),
        (Notes::KEEPALIVE, "keep-alive"),
        (Notes::TRUNCATED, "truncated"),
        (Notes::LOST, "lost"),
    ];

    /// What the segment's record says of it.
    pub fn of(rec: &SegmentRecord) -> Notes {
        let mut n = Notes::default();
        for (on, note) in [
            (rec.retransmission(), Notes::RETRANSMISSION),
            (rec.keepalive(), Notes::KEEPALIVE),
            (rec.truncated(), Notes::TRUNCATED),
        ] {
            if on {
                n.insert(note);
            }
        }
        n
    }

    pub fn insert(&mut self, n: Notes) {
        self.0 |= n.0;
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        Notes::NAMES
            .iter()
            .filter(|(n, _)| self.0 & n.0 != 0)
            .map(|(_, name)| *name)
    }
}

/// The states written on a row, per side: most rows have none, so those
/// hold nothing but a null pointer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Marks(Option<Box<[Vec<MarkView>; 2]>>);

static NO_MARKS: [Vec<MarkView>; 2] = [Vec::new(), Vec::new()];

impl Marks {
    pub fn push(&mut self, side: Side, m: MarkView) {
        self.0.get_or_insert_with(Default::default)[side.index()].push(m);
    }
}

impl std::ops::Deref for Marks {
    type Target = [Vec<MarkView>; 2];

    fn deref(&self) -> &Self::Target {
        self.0.as_deref().unwrap_or(&NO_MARKS)
    }
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

/// An ICMP or ICMPv6 error, drawn as an arrow from the address that sent it
/// (a router on the path, or the peer's host) to the endpoint whose segment
/// it quotes.
#[derive(Clone, Debug, PartialEq)]
pub struct IcmpLine {
    /// Index in the connection's `icmp` list.
    pub index: usize,
    /// The segment it was captured after (None: before the first segment).
    pub after_row: Option<usize>,
    pub frame: u64,
    pub time: Timestamp,
    /// Since the connection's first segment.
    pub offset: Span,
    pub from: IpAddr,
    /// Sent by the peer's host itself rather than by a router.
    pub from_peer: bool,
    /// The endpoint it goes back to.
    pub to: Side,
    pub ty: u8,
    pub code: u8,
    /// "host unreachable", "packet too big (MTU 1280)".
    pub meaning: String,
    /// Relative, like the segments'.
    pub quoted_seq: u32,
    /// The kind of the quoted segment, when the capture holds it.
    pub quoted: Option<Role>,
    /// The quoted segment's index: the endpoint's last copy of it before
    /// the error.
    pub quoted_row: Option<usize>,
    pub errno: Option<&'static str>,
    /// It ended the connection (SYN-SENT → CLOSED).
    pub closed: bool,
    /// "ICMP host unreachable from 198.18.0.2 (quoting SYN seq=0)".
    pub label: String,
    /// States written on this line, per side (the CLOSED it caused).
    pub marks: [Vec<MarkView>; 2],
}

impl IcmpLine {
    /// The connection's ICMP error `index`, as a line (without marks).
    pub fn of(c: &Connection, index: usize) -> Option<IcmpLine> {
        c.icmp.get(index).map(|rec| IcmpLine::new(c, index, rec))
    }

    fn new(c: &Connection, index: usize, rec: &IcmpRecord) -> IcmpLine {
        let before = rec.row.min(c.segments.len());
        let quoted_row = c
            .segments
            .upto(before)
            .rposition(|s| s.from == rec.to && s.rel_seq == rec.quoted_seq);
        let quoted = quoted_row.map(|k| Role::of(&c.segments[k]));
        let mut line = IcmpLine {
            index,
            after_row: rec.row.checked_sub(1),
            frame: rec.frame,
            time: rec.ts,
            offset: rec.ts - c.first_ts,
            from: rec.from,
            from_peer: rec.from == c.addr(!rec.to).ip(),
            to: rec.to,
            ty: rec.ty,
            code: rec.code,
            meaning: rec.meaning.clone(),
            quoted_seq: rec.quoted_seq,
            quoted,
            quoted_row,
            errno: rec.errno,
            closed: rec.closed,
            label: String::new(),
            marks: [Vec::new(), Vec::new()],
        };
        line.label = line.make_label();
        line
    }

    fn make_label(&self) -> String {
        let what = match self.quoted {
            Some(role) => format!("{} seq={}", role.name(), self.quoted_seq),
            None => format!("seq={}", self.quoted_seq),
        };
        format!("ICMP {} from {} (quoting {what})", self.meaning, self.from)
    }

    /// The label with what it did: "… [connect(): EHOSTUNREACH]" or
    /// "… [soft error]".
    pub fn label_with_notes(&self) -> String {
        match (self.closed, self.errno) {
            (true, Some(e)) => format!("{} [connect(): {e}]", self.label),
            (true, None) => format!("{} [connection closed]", self.label),
            (false, _) => format!("{} [soft error]", self.label),
        }
    }

    /// Since the segment before it (or the connection's start).
    pub fn delta(&self, l: &Ladder) -> Span {
        let before = self
            .after_row
            .and_then(|a| l.rows.iter().find(|r| r.index == a))
            .map_or(l.start, |r| r.time);
        self.time - before
    }

    /// Who sent it, in words: "router 198.18.0.2" or "server host 10.0.0.2".
    pub fn sender(&self) -> String {
        if self.from_peer {
            format!("{} host {}", !self.to, self.from)
        } else {
            format!("router {}", self.from)
        }
    }

    /// Whether this error caused `m`: the SYN-SENT → CLOSED the tracker
    /// made for it, at the same row, on the side it went to.
    fn caused(&self, rec: &IcmpRecord, m: &StateMark) -> bool {
        rec.closed
            && m.side == rec.to
            && m.row == rec.row
            && m.from == State::SynSent
            && m.to == State::Closed
            && m.cause == Cause::Icmp
    }
}

/// One line of the ladder, in capture order: a segment row, an ICMP
/// error or a socket call, by position in `Ladder::rows`, `Ladder::icmp`
/// or `Ladder::calls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    Segment(usize),
    Icmp(usize),
    Call(usize),
}

/// Where a line sorts: rows at odd slots (2i+1), the lines after row i at
/// the even slot between (2i+2, before the first row 0), then by time;
/// ties go segment, ICMP error, call.
type Key = (usize, Timestamp, u8);

fn gap(after_row: Option<usize>) -> usize {
    after_row.map_or(0, |a| 2 * a + 2)
}

impl Row {
    /// The label with its analysis notes: "FIN,ACK seq=12 … [retransmission]".
    pub fn label_with_notes(&self) -> String {
        let mut s = self.label.to_string();
        for n in self.notes.iter() {
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
            // An ICMP error's change is on its own line, not a tail mark.
            Cause::Icmp => "ICMP error",
            Cause::Received => "received",
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
    /// Each endpoint's one-way distance from the capture point, as the
    /// tracker learned it from the handshake (client, server).
    pub distance: [Option<Span>; 2],
    pub rows: Vec<Row>,
    /// ICMP errors, in capture order; `Ladder::lines` puts them among the
    /// rows.
    pub icmp: Vec<IcmpLine>,
    pub tail: Vec<TailMark>,
    pub time_waits: Vec<TimeWaitSpan>,
    /// Socket calls, in ladder order (`with_calls`); empty for a capture
    /// alone.
    pub calls: Vec<CallLine>,
    /// The kernel's own record of the endpoints on this host and where it
    /// disagrees with the inference (`with_kernel`); None without one.
    pub kernel: Option<KernelView>,
    /// (segment index, its payload as safe text) of the rows that carry
    /// some, in order (`with_payload`); empty otherwise.
    pub payload: Vec<(usize, Box<str>)>,
}

/// What deciding whether a segment was lost reads of it and of those
/// after it.
#[derive(Clone, Copy)]
struct Shape {
    from: Side,
    seq: SeqNumber,
    end: SeqNumber,
    ack: Option<SeqNumber>,
    role: Role,
}

impl Shape {
    fn of(rec: &SegmentRecord) -> Shape {
        Shape {
            from: rec.from,
            seq: rec.seq,
            end: seq_end(rec),
            ack: rec.flags.ack().then_some(rec.ack),
            role: Role::of(rec),
        }
    }
}

/// The first sequence number after the segment.
fn seq_end(rec: &SegmentRecord) -> SeqNumber {
    rec.seq
        .plus(rec.len + u32::from(rec.flags.syn()) + u32::from(rec.flags.fin()))
}

/// Which of the segments in `range` evidently never arrived. Only the
/// sender's own behaviour is taken as evidence: it sent the same sequence
/// space again with nothing from the peer acknowledging it in between; or
/// it is a SYN that got no answer (SYN,ACK or RST) at all.
///
/// What the tracker and the errors know wins over that guess: a resent copy
/// the receiver's timestamp echo or D-SACK names had arrived (its ACK was
/// lost), and a segment a router's ICMP error quotes was discarded there.
fn lost(segments: &Rows<SegmentRecord>, icmp: &[IcmpLine], range: Range<usize>) -> Vec<bool> {
    range
        .map(|i| {
            let quoted_by_router = icmp.iter().any(|l| !l.from_peer && l.quoted_row == Some(i));
            if quoted_by_router {
                return true;
            }
            let Some(rec) = segments.get(i) else {
                return false;
            };
            if rec.arrived() {
                return false;
            }
            let r = Shape::of(rec);
            if r.end == r.seq {
                return false;
            }
            let (from, seq, end, role) = (r.from, r.seq, r.end, r.role);
            let acked_by = |p: &Shape| p.from != from && p.ack.is_some_and(|a| end.le(a));
            let later = || segments.from(i + 1).map(Shape::of);
            for p in later() {
                if acked_by(&p) || (p.from != from && p.role == Role::Rst) {
                    break;
                }
                // The same segment again (a SYN,ACK that repeats a SYN in a
                // simultaneous open is not a resend).
                if p.from == from && p.seq == seq && p.end == end && p.role == role {
                    return true;
                }
            }
            r.role == Role::Syn
                && !later().any(|p| {
                    p.from != from && (acked_by(&p) || p.role == Role::Rst || p.role == Role::Syn)
                })
        })
        .collect()
}

impl Ladder {
    pub fn build(c: &Connection, msl: Span, style: LabelStyle) -> Ladder {
        Ladder::build_range(c, msl, style, 0..c.segments.len())
    }

    /// The ladder with the rows of the segments in `range` only (each row
    /// keeps its index in the connection), for a connection too long to
    /// hold as rows at once; all the rest (ICMP errors, the tail, the
    /// TIME-WAIT spans) is the whole ladder's.
    pub fn build_range(
        c: &Connection,
        msl: Span,
        style: LabelStyle,
        range: Range<usize>,
    ) -> Ladder {
        Ladder::build_part(c, msl, style, range, true)
    }

    /// [`Ladder::build_range`] without the verdict (which reads every
    /// segment): a part of a ladder whose frame says it.
    pub fn build_part_rows(
        c: &Connection,
        msl: Span,
        style: LabelStyle,
        range: Range<usize>,
    ) -> Ladder {
        Ladder::build_part(c, msl, style, range, false)
    }

    fn build_part(
        c: &Connection,
        msl: Span,
        style: LabelStyle,
        range: Range<usize>,
        with_verdict: bool,
    ) -> Ladder {
        let range = range.start.min(c.segments.len())..range.end.min(c.segments.len());
        let mut rows: Vec<Row> = Vec::with_capacity(range.len());
        let mut prev = match range.start.checked_sub(1) {
            Some(i) => c.segments[i].ts,
            None => c.first_ts,
        };
        let refused_by_server = c.opening() == crate::track::Opening::Refused;
        for (i, rec) in c.segments.from(range.start).take(range.len()).enumerate() {
            rows.push(Row {
                index: range.start + i,
                frame: rec.frame,
                time: rec.ts,
                offset: rec.ts - c.first_ts,
                delta: rec.ts - prev,
                from: rec.from,
                label: label::label(rec, style).into_boxed_str(),
                role: Role::of(rec),
                retransmission: rec.retransmission(),
                lost: false,
                refused: refused_by_server && rec.from == Side::Server && rec.flags.rst(),
                notes: Notes::of(rec),
                seq: rec.seq,
                end: seq_end(rec),
                ack: rec.flags.ack().then_some(rec.ack),
                marks: Marks::default(),
            });
            prev = rec.ts;
        }
        let mut icmp: Vec<IcmpLine> = c
            .icmp
            .iter()
            .enumerate()
            .map(|(i, rec)| IcmpLine::new(c, i, rec))
            .collect();
        for (r, lost) in rows.iter_mut().zip(lost(&c.segments, &icmp, range.clone())) {
            if lost {
                r.lost = true;
                r.notes.insert(Notes::LOST);
            }
        }
        let mut tail = Vec::new();
        let mut time_waits = Vec::new();
        for m in c.marks_by_row() {
            let view = MarkView {
                state: m.to,
                cause: m.cause,
                time: m.time,
                cause_row: m.cause_row,
            };
            // The CLOSED an ICMP error caused is written on its line.
            if let Some(line) = icmp
                .iter_mut()
                .zip(&c.icmp)
                .find(|(l, rec)| l.marks[m.side.index()].is_empty() && l.caused(rec, &m))
                .map(|(l, _)| l)
            {
                line.marks[m.side.index()].push(view);
                continue;
            }
            if range.contains(&m.row) {
                rows[m.row - range.start].marks.push(m.side, view);
            } else if m.row >= c.segments.len() {
                tail.push(TailMark {
                    side: m.side,
                    mark: view,
                    offset: m.time - c.first_ts,
                });
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
            verdict: if with_verdict {
                verdict::verdict(c)
            } else {
                String::new()
            },
            start: c.first_ts,
            initial: c.initial,
            distance: [c.distance(Side::Client), c.distance(Side::Server)],
            rows,
            icmp,
            tail,
            time_waits,
            calls: Vec::new(),
            kernel: None,
            payload: Vec::new(),
        }
    }

    /// The ladder with each row's payload (as far as the connection kept
    /// it with its details) as escaped text, for `analyze --payload`.
    pub fn with_payload(mut self, c: &Connection) -> Ladder {
        self.payload = self
            .rows
            .iter()
            .filter_map(|r| {
                let d = c.details.get(r.index)?;
                (!d.payload.is_empty()).then(|| (r.index, explain::escaped(&d.payload).into()))
            })
            .collect();
        self
    }

    /// The payload text of segment `index`, if `with_payload` gave it one.
    pub fn payload_of(&self, index: usize) -> Option<&str> {
        let at = self.payload.binary_search_by_key(&index, |p| p.0).ok()?;
        Some(&self.payload[at].1)
    }

    /// The ladder with the programs' socket calls placed on it. `placement`
    /// is the whole connection's (see `calls::place` for how a call at an
    /// endpoint is compared with segments seen at the capture point).
    pub fn with_calls(mut self, calls: &[Call], placement: &diagram::Placement) -> Ladder {
        self.calls = calls::place(&self, calls, calls::delays(placement));
        let words = calls::verdict_words(&self);
        if !words.is_empty() {
            self.verdict = format!("{}; {}", self.verdict, words.join("; "));
        }
        self
    }

    /// The ladder with the kernel's own states of `c`'s endpoints beside
    /// the inferred ones (see `kernel::compare`; `horizon` for a live
    /// capture).
    pub fn with_kernel(
        mut self,
        c: &Connection,
        states: &crate::track::kernel::KernelStates,
        horizon: Option<Timestamp>,
    ) -> Ladder {
        self.kernel = Some(kernel::compare(c, states, horizon));
        self
    }

    fn row_key(&self, pos: usize) -> Key {
        let r = &self.rows[pos];
        (2 * r.index + 1, r.time, 0)
    }

    fn icmp_key(&self, pos: usize) -> Key {
        let i = &self.icmp[pos];
        (gap(i.after_row), i.time, 1)
    }

    fn call_key(&self, pos: usize) -> Key {
        let c = &self.calls[pos];
        (gap(c.after_row), c.at, 2)
    }

    fn key(&self, line: Line) -> Key {
        match line {
            Line::Segment(p) => self.row_key(p),
            Line::Icmp(p) => self.icmp_key(p),
            Line::Call(p) => self.call_key(p),
        }
    }

    /// How many lines of each list (rows, ICMP errors, calls) sort before
    /// `key`.
    fn before(&self, key: Key) -> [usize; 3] {
        let pp = |n: usize, f: &dyn Fn(usize) -> Key| {
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if f(mid) < key {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        [
            pp(self.rows.len(), &|p| self.row_key(p)),
            pp(self.icmp.len(), &|p| self.icmp_key(p)),
            pp(self.calls.len(), &|p| self.call_key(p)),
        ]
    }

    /// The position of `line` in `lines`.
    pub fn line_of(&self, line: Line) -> usize {
        self.before(self.key(line)).iter().sum()
    }

    /// Segment rows, ICMP errors and calls in order: an error or a call
    /// comes after the row it followed, before the next one, and among
    /// themselves by time.
    pub fn lines(&self) -> impl Iterator<Item = Line> + '_ {
        let mut next = [0usize; 3];
        std::iter::from_fn(move || {
            let candidates = [
                (next[0] < self.rows.len()).then(|| Line::Segment(next[0])),
                (next[1] < self.icmp.len()).then(|| Line::Icmp(next[1])),
                (next[2] < self.calls.len()).then(|| Line::Call(next[2])),
            ];
            let (k, line) = candidates
                .iter()
                .enumerate()
                .filter_map(|(k, l)| l.map(|l| (k, l)))
                .min_by_key(|&(_, l)| self.key(l))?;
            next[k] += 1;
            Some(line)
        })
    }

    /// How many lines `lines` yields.
    pub fn line_count(&self) -> usize {
        self.rows.len() + self.icmp.len() + self.calls.len()
    }

    /// The position in `lines` of the row at position `pos` in `rows`.
    pub fn line_of_row(&self, pos: usize) -> usize {
        if pos >= self.rows.len() {
            return self.rows.len() + self.icmp.len() + self.calls.len();
        }
        self.line_of(Line::Segment(pos))
    }

    /// The position in `lines` of the ICMP line at position `pos` in `icmp`.
    pub fn line_of_icmp(&self, pos: usize) -> usize {
        self.line_of(Line::Icmp(pos))
    }

    /// The position in `lines` of the call at position `pos` in `calls`.
    pub fn line_of_call(&self, pos: usize) -> usize {
        self.line_of(Line::Call(pos))
    }

    /// The line at position `n` of `lines` (binary searches: the TUI asks
    /// on every update).
    pub fn line_at(&self, n: usize) -> Option<Line> {
        if n >= self.line_count() {
            return None;
        }
        // The first row at or after line n.
        let (mut lo, mut hi) = (0, self.rows.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.line_of_row(mid) < n {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo < self.rows.len() && self.line_of_row(lo) == n {
            return Some(Line::Segment(lo));
        }
        // Otherwise it is an error or a call in the gap before row `lo`:
        // merge that gap's few lines.
        let (first, mut i, mut c) = match lo.checked_sub(1) {
            Some(p) => {
                let [_, i, c] = self.before(self.row_key(p));
                (self.line_of_row(p) + 1, i, c)
            }
            None => (0, 0, 0),
        };
        for _ in first..n {
            let take_icmp = match (i < self.icmp.len(), c < self.calls.len()) {
                (true, true) => self.icmp_key(i) < self.call_key(c),
                (a, _) => a,
            };
            if take_icmp {
                i += 1;
            } else {
                c += 1;
            }
        }
        match (i < self.icmp.len(), c < self.calls.len()) {
            (true, true) if self.icmp_key(i) < self.call_key(c) => Some(Line::Icmp(i)),
            (true, false) => Some(Line::Icmp(i)),
            (_, true) => Some(Line::Call(c)),
            _ => None,
        }
    }
}

impl Ladder {
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
        // An error stays with the row it followed.
        let icmp = self
            .icmp
            .iter()
            .filter(|i| i.after_row.map_or(first == 0, |a| a >= first && a <= last))
            .cloned()
            .collect();
        // So does a call; indices are renumbered, as views select by them.
        let mut calls: Vec<CallLine> = self
            .calls
            .iter()
            .filter(|c| c.after_row.map_or(first == 0, |a| a >= first && a <= last))
            .cloned()
            .collect();
        for (k, c) in calls.iter_mut().enumerate() {
            c.index = k;
        }
        Ladder {
            initial,
            rows,
            icmp,
            calls,
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
        let (client, server) = (self.client.ip(), self.server.ip());
        self.client = doc(self.client, 1);
        self.server = doc(self.server, 2);
        // Routers get addresses of their own (RFC 5737 TEST-NET-3, RFC 3849).
        let mut routers: Vec<IpAddr> = Vec::new();
        let originals: Vec<IpAddr> = self.icmp.iter().map(|i| i.from).collect();
        for line in &mut self.icmp {
            line.from = if line.from == client {
                self.client.ip()
            } else if line.from == server {
                self.server.ip()
            } else {
                let n = match routers.iter().position(|&r| r == line.from) {
                    Some(n) => n,
                    None => {
                        routers.push(line.from);
                        routers.len() - 1
                    }
                };
                let n = u8::try_from(n + 1).unwrap_or(u8::MAX);
                match line.from {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(203, 0, 113, n)),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::new(
                        0x2001,
                        0xdb8,
                        0xffff,
                        0,
                        0,
                        0,
                        0,
                        u16::from(n),
                    )),
                }
            };
            line.label = line.make_label();
        }
        // The verdict names the sender of an error too.
        for (line, old) in self.icmp.iter().zip(&originals) {
            self.verdict = self
                .verdict
                .replace(&old.to_string(), &line.from.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Flags, IcmpError, IcmpKind, IcmpVersion, Segment};
    use crate::track::{TrackConfig, Tracker};

    const C: &str = "10.0.0.1:40000";
    const S: &str = "10.0.0.2:80";

    fn error(seq: u32, from: &str) -> IcmpError {
        IcmpError {
            from: from.parse().unwrap(),
            to: C.parse::<SocketAddr>().unwrap().ip(),
            version: IcmpVersion::V4,
            kind: IcmpKind {
                version: IcmpVersion::V4,
                ty: 3,
                code: 1,
            },
            quoted_src: C.parse().unwrap(),
            quoted_dst: S.parse().unwrap(),
            quoted_seq: SeqNumber(seq),
            quoted_flags: None,
            mtu: None,
            ttl: 64,
        }
    }

    /// Segments (from client, flags, seq, ack, len, µs), then an ICMP error
    /// quoting `quoted` after the first `after` of them.
    fn ladder(script: &[(bool, u16, u32, u32, u32, i64)], after: usize, quoted: u32) -> Ladder {
        let mut t = Tracker::new(TrackConfig::default());
        let (c, s) = (C.parse().unwrap(), S.parse().unwrap());
        for (k, &(from_client, flags, seq, ack, len, us)) in script.iter().enumerate() {
            if k == after {
                let at = Timestamp::from_nanos(us * 1000 - 500);
                assert!(t.push_icmp(&error(quoted, "192.168.7.1"), at, 99));
            }
            let (src, dst) = if from_client { (c, s) } else { (s, c) };
            let seg = Segment::new(src, dst, Flags(flags), seq, ack, len);
            t.push(&seg, Timestamp::from_nanos(us * 1000), k as u64 + 1);
        }
        if after == script.len() {
            assert!(t.push_icmp(
                &error(quoted, "192.168.7.1"),
                Timestamp::from_nanos(1_000_000_000),
                99
            ));
        }
        let conn = t.finish(Timestamp::from_nanos(2_000_000_000)).remove(0);
        Ladder::build(&conn, Span::from_secs(30), LabelStyle::default())
    }

    #[test]
    fn an_icmp_error_answering_a_syn_is_a_line_after_it_with_the_close() {
        let l = ladder(&[(true, 0x02, 100, 0, 0, 0)], 1, 100);
        assert_eq!(l.rows.len(), 1);
        assert_eq!(l.icmp.len(), 1);
        let i = &l.icmp[0];
        assert_eq!(i.after_row, Some(0));
        assert_eq!(i.to, Side::Client);
        assert!(!i.from_peer);
        assert_eq!(
            i.label,
            "ICMP host unreachable from 192.168.7.1 (quoting SYN seq=0)"
        );
        assert_eq!(
            i.label_with_notes(),
            format!("{} [connect(): EHOSTUNREACH]", i.label)
        );
        assert_eq!(i.sender(), "router 192.168.7.1");
        // The CLOSED is on the ICMP line, not a tail mark nor on the SYN's row.
        assert_eq!(i.marks[0].len(), 1);
        assert_eq!(i.marks[0][0].state, State::Closed);
        assert!(i.marks[1].is_empty());
        assert!(l.tail.iter().all(|t| t.side != Side::Client));
        assert_eq!(l.rows[0].marks[0].len(), 1, "only SYN-SENT on the SYN");
        assert_eq!(
            l.lines().collect::<Vec<_>>(),
            vec![Line::Segment(0), Line::Icmp(0)]
        );
        assert_eq!(l.line_of_icmp(0), 1);
        assert_eq!(l.line_at(1), Some(Line::Icmp(0)));
        assert_eq!(l.line_at(2), None);
    }

    #[test]
    fn a_soft_error_sits_between_the_rows_it_came_between_and_changes_nothing() {
        let script = [
            (true, 0x02, 100, 0, 0, 0),
            (false, 0x12, 500, 101, 0, 1000),
            (true, 0x10, 101, 501, 0, 2000),
            (true, 0x18, 101, 501, 10, 3000),
            (false, 0x10, 501, 111, 0, 4000),
        ];
        let l = ladder(&script, 4, 101);
        let i = &l.icmp[0];
        assert_eq!(i.after_row, Some(3));
        assert_eq!(i.quoted, Some(Role::Data));
        assert_eq!(i.quoted_row, Some(3));
        assert!(l.rows[3].lost, "a router discarded the segment it quotes");
        assert!(l.rows.iter().filter(|r| r.lost).count() == 1);
        assert!(i.marks.iter().all(Vec::is_empty));
        assert!(i.label_with_notes().ends_with("[soft error]"));
        let lines: Vec<Line> = l.lines().collect();
        assert_eq!(lines[4], Line::Icmp(0));
        assert_eq!(lines[5], Line::Segment(4));
        assert_eq!(l.line_of_row(3), 3);
        assert_eq!(l.line_of_row(4), 5);
        assert_eq!(l.line_of_icmp(0), 4);
        assert_eq!(l.line_count(), 6);
        for (n, line) in l.lines().enumerate() {
            assert_eq!(l.line_at(n), Some(line), "line {n}");
        }
        assert_eq!(l.line_at(6), None);
        // A cut keeps the error with the row it followed.
        assert_eq!(l.cut(0, 2).icmp.len(), 0);
        let cut = l.cut(3, 4);
        assert_eq!(cut.icmp.len(), 1);
        assert_eq!(
            cut.lines().collect::<Vec<_>>(),
            vec![Line::Segment(0), Line::Icmp(0), Line::Segment(1)]
        );
        assert_eq!(cut.line_of_row(1), 2);
        for (n, line) in cut.lines().enumerate() {
            assert_eq!(cut.line_at(n), Some(line), "cut line {n}");
        }
        // Redaction gives the router a documentation address too.
        let mut r = l.clone();
        r.redact();
        assert_eq!(r.icmp[0].from.to_string(), "203.0.113.1");
        assert!(r.icmp[0].label.contains("from 203.0.113.1"));
        assert!(!r.verdict.contains("192.168.7.1"), "{}", r.verdict);
    }
}
