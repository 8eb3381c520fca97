//! One connection incarnation: its segments, and one RFC 9293 state machine
//! per endpoint, driven only by what the capture proves.
//!
//! A capture is taken at one point, so a captured segment may never have
//! reached its receiver. States are inferred from what each endpoint
//! *sends*: its flags, its ACK field (what it had received when it sent),
//! its timestamp echo and SACK blocks. docs/ARCHITECTURE.md has the rules
//! in full; in short:
//!
//! * Sending changes the sender's state at once (SYN → SYN-SENT, FIN →
//!   FIN-WAIT-1 or LAST-ACK, RST → CLOSED, undone if it keeps talking).
//! * One sender's segments arrive in the order sent. A SYN, FIN or data is
//!   taken as arrived when its receiver acknowledges it; what was sent
//!   after it waits behind it in a per-direction queue. Of several copies,
//!   the one the receiver's TSecr or D-SACK names arrived first, else the
//!   last before the acknowledgment.
//! * A pure ACK or RST is delivered when it reaches the head of the queue,
//!   tentatively: a retransmission of what it covered, or the receiver
//!   talking on after an RST, undoes it.
//! * At the receiver the ACK field is processed first, then SYN and FIN,
//!   each step a change of its own (FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT).
//!   An RST counts only at the exact sequence number (RFC 5961).
//! * A change is drawn on the row of the segment that caused it, not before
//!   the receiver's last send that shows it had not arrived; its time is
//!   the arrival, from the endpoints' distances the handshake shows.
//! * Where the wire is silent (retries running out), the change is
//!   estimated from Linux's backoff and marked so.

use std::net::SocketAddr;

use smallvec::SmallVec;

use crate::decode::{Flags, Segment, SeqNumber, TcpOptions};
use crate::time::{Span, Timestamp};

use super::TrackConfig;
use super::rows::{Rows, shrink};
use super::state::{Side, State};

/// One captured segment, as the connection saw it: what a ladder needs of
/// it, in 48 bytes (a capture of ten million segments is held at once by
/// `replay`). The header fields only the detail pane shows are in
/// [`Details`], kept beside it only when asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentRecord {
    pub frame: u64,
    pub ts: Timestamp,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    /// Relative numbers as Wireshark computes them.
    pub rel_seq: u32,
    /// The relative acknowledgment; meaningless when the ACK flag is clear
    /// (`rel_ack()` says None then).
    rel_ack: u32,
    pub len: u32,
    pub window: u16,
    pub flags: Flags,
    pub from: Side,
    /// Its options as its label shows them.
    pub options: ShownOptions,
    bits: u8,
    /// The window's scale shift, once both SYNs agreed on scaling;
    /// `NO_SHIFT` before.
    shift: u8,
}

const NO_SHIFT: u8 = u8::MAX;

/// `SegmentRecord::bits`.
const RETRANSMISSION: u8 = 1;
const KEEPALIVE: u8 = 1 << 1;
const ARRIVED: u8 = 1 << 2;
const TRUNCATED: u8 = 1 << 3;

impl SegmentRecord {
    fn bit(&self, b: u8) -> bool {
        self.bits & b != 0
    }

    /// None when the ACK flag is clear.
    pub fn rel_ack(&self) -> Option<u32> {
        self.flags.ack().then_some(self.rel_ack)
    }

    /// The window in bytes, once both SYNs agreed on window scaling.
    pub fn scaled_window(&self) -> Option<u32> {
        (self.shift != NO_SHIFT).then(|| u32::from(self.window) << self.shift)
    }

    /// Carries sequence space its sender had already sent.
    pub fn retransmission(&self) -> bool {
        self.bit(RETRANSMISSION)
    }

    /// A keep-alive probe (one byte or none, one below the next sequence).
    pub fn keepalive(&self) -> bool {
        self.bit(KEEPALIVE)
    }

    /// Shown to have arrived although its sender sent it again: the
    /// receiver's timestamp echo or D-SACK names it (its ACK was lost).
    pub fn arrived(&self) -> bool {
        self.bit(ARRIVED)
    }

    /// The capture kept less of it than the headers say it carried.
    pub fn truncated(&self) -> bool {
        self.bit(TRUNCATED)
    }
}

/// `b` when `on`: a flag for a byte of bits.
fn bit(on: bool, b: u8) -> u8 {
    if on { b } else { 0 }
}

/// The options a segment's label names, packed: MSS and window scale are
/// on SYNs, SACK blocks on some ACKs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShownOptions {
    /// Meaningful with `HAS_MSS`, `HAS_WINDOW_SCALE`.
    mss: u16,
    window_scale: u8,
    /// Flags below, and the number of SACK blocks (at most four fit in
    /// the option space) in the top three bits.
    bits: u8,
}

/// `ShownOptions::bits`.
const SACK_PERMITTED: u8 = 1;
const TIMESTAMPS: u8 = 1 << 1;
const FAST_OPEN: u8 = 1 << 2;
const HAS_MSS: u8 = 1 << 3;
const HAS_WINDOW_SCALE: u8 = 1 << 4;
const SACK_BLOCKS_SHIFT: u8 = 5;

impl ShownOptions {
    pub fn of(o: &TcpOptions) -> ShownOptions {
        ShownOptions {
            mss: o.mss.unwrap_or(0),
            window_scale: o.window_scale.unwrap_or(0),
            bits: (o.sack_blocks.min(7) << SACK_BLOCKS_SHIFT)
                | bit(o.sack_permitted, SACK_PERMITTED)
                | bit(o.timestamps.is_some(), TIMESTAMPS)
                | bit(o.fast_open, FAST_OPEN)
                | bit(o.mss.is_some(), HAS_MSS)
                | bit(o.window_scale.is_some(), HAS_WINDOW_SCALE),
        }
    }

    pub fn mss(&self) -> Option<u16> {
        (self.bits & HAS_MSS != 0).then_some(self.mss)
    }

    pub fn window_scale(&self) -> Option<u8> {
        (self.bits & HAS_WINDOW_SCALE != 0).then_some(self.window_scale)
    }

    pub fn sack_blocks(&self) -> u8 {
        self.bits >> SACK_BLOCKS_SHIFT
    }

    pub fn sack_permitted(&self) -> bool {
        self.bits & SACK_PERMITTED != 0
    }

    /// It carries the timestamps option.
    pub fn timestamps(&self) -> bool {
        self.bits & TIMESTAMPS != 0
    }

    pub fn fast_open(&self) -> bool {
        self.bits & FAST_OPEN != 0
    }
}

/// The rest of a segment's header, for its detail pane.
#[derive(Clone, Debug, PartialEq)]
pub struct Details {
    pub options: TcpOptions,
    pub header_len: u8,
    pub checksum: u16,
    pub urgent: u16,
    pub ttl: u8,
    /// The first [`PAYLOAD_KEPT`] bytes of its payload, as captured (none
    /// for a segment put together from IP fragments).
    pub payload: Box<[u8]>,
}

/// Payload bytes kept of a segment for the detail pane and `analyze
/// --payload`: a screenful of text or hex.
pub const PAYLOAD_KEPT: usize = 512;

impl Details {
    pub fn of(seg: &Segment, payload: &[u8]) -> Details {
        Details {
            options: seg.options,
            header_len: seg.header_len,
            checksum: seg.checksum,
            urgent: seg.urgent,
            ttl: seg.ttl,
            payload: payload[..payload.len().min(PAYLOAD_KEPT)].into(),
        }
    }
}

/// Why a state changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The endpoint sent this row's segment.
    Sent,
    /// The endpoint received this row's segment.
    Received,
    /// The TIME-WAIT timer ran out.
    Timer,
    /// A new connection on the same 4-tuple ended TIME-WAIT early.
    NewIncarnation,
    /// Nothing on the wire shows it: the endpoint's retransmissions ran out
    /// (connect() fails with ETIMEDOUT), estimated from Linux's timers.
    Estimated,
    /// An ICMP or ICMPv6 error ended it (a hard error in SYN-SENT); `row`
    /// is the `IcmpRecord`'s.
    Icmp,
}

/// The evidence a state change rests on, as `analyze --json` reports it in
/// each side's timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// The endpoint sent a segment that only this state sends.
    Sent,
    /// The peer's ACK of the endpoint's SYN or FIN arrived.
    Acknowledged,
    /// A SYN, FIN or RST from the peer arrived.
    Received,
    /// A timer ran out (TIME-WAIT), or a new incarnation ended it.
    Timer,
    /// Not seen: the state before the first segment.
    Assumed,
    /// Not on the wire at all: estimated from the kernel's timers.
    Estimated,
}

impl Basis {
    pub fn name(self) -> &'static str {
        match self {
            Basis::Sent => "sent",
            Basis::Acknowledged => "acknowledged",
            Basis::Received => "received",
            Basis::Timer => "timer",
            Basis::Assumed => "assumed",
            Basis::Estimated => "estimated",
        }
    }
}

/// What an ACK-driven change rests on, so it can be undone when the
/// endpoint later shows it never got that ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tentative {
    /// The peer's ACK covered this endpoint's SYN.
    AckOfSyn,
    /// The peer's ACK covered this endpoint's FIN.
    AckOfFin,
    /// The peer's RST.
    Rst,
    /// The endpoint's own RST: undone if it keeps talking (an RST forged
    /// in its name by a middlebox, which its own socket never sent).
    SentRst,
    /// An ICMP error in SYN-SENT: undone if the endpoint sends its SYN
    /// again (the error was only noted, not acted on).
    Icmp,
}

/// A state change of one endpoint, placed on a ladder row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StateMark {
    pub side: Side,
    pub from: State,
    pub to: State,
    /// Index into the connection's segments; equal to the segment count for
    /// changes after the last segment (a TIME-WAIT that ran out).
    pub row: usize,
    pub time: Timestamp,
    pub cause: Cause,
    pub tentative: Option<Tentative>,
    /// The segment that caused it: the one sent, or the one received (which
    /// may sit above `row` when the change is drawn later, crossing FINs).
    pub cause_row: usize,
    pub basis: Basis,
}

/// The TIME-WAIT of one endpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeWait {
    pub entered: Timestamp,
    /// 2×MSL after entry, or after the last retransmitted FIN that restarted
    /// the timer; or the moment a new incarnation ended it early.
    pub expires: Timestamp,
    pub ended_early: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    ThreeWay,
    Simultaneous,
    Refused,
    /// The SYN was answered by an ICMP error that ended connect().
    Unreachable,
    Unanswered,
    MidStream,
}

impl Opening {
    pub fn name(self) -> &'static str {
        match self {
            Opening::ThreeWay => "three-way",
            Opening::Simultaneous => "simultaneous",
            Opening::Refused => "refused",
            Opening::Unreachable => "unreachable",
            Opening::Unanswered => "unanswered",
            Opening::MidStream => "mid-stream",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    Fin,
    Simultaneous,
    Reset,
    None,
}

impl Closing {
    pub fn name(self) -> &'static str {
        match self {
            Closing::Fin => "fin",
            Closing::Simultaneous => "simultaneous",
            Closing::Reset => "reset",
            Closing::None => "none",
        }
    }
}

/// What the TUI's filter asks of a connection besides its addresses: the
/// states either end was in, the flags its segments carried, how it
/// opened and closed. Small, so a capture kept for `replay` holds one for
/// each of a million connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// A bit for each [`State`] either end was in (`1 << state as u16`).
    pub reached: u16,
    pub flags: Flags,
    pub opening: Opening,
    pub closing: Closing,
    pub retransmitted: bool,
    pub half_closed: bool,
}

impl Summary {
    pub fn reached(&self, s: State) -> bool {
        self.reached & (1 << s as u16) != 0
    }
}

/// Who closed: the first FIN's sender, the RST's sender, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closer {
    One(Side),
    Both,
}

/// A segment waiting to be delivered to its receiver.
#[derive(Clone, Copy, Debug)]
struct Pending {
    row: usize,
    ts: Timestamp,
    seq: SeqNumber,
    end: SeqNumber,
    flags: Flags,
    ack: SeqNumber,
    /// What the receiver expects next from this sender, as far as the
    /// sender's earlier segments show: where an RST must sit to count.
    expected: Option<SeqNumber>,
    /// Its TCP timestamp (TSval), which the receiver echoes.
    tsval: Option<u32>,
}

/// One direction's segments waiting for delivery, oldest first: most
/// often none or the one SYN or FIN not yet acknowledged, so the first is
/// held inline and a connection allocates nothing for it. Never longer
/// than `MAX_QUEUE` + 1, so taking the head by shifting is cheap.
#[derive(Clone, Debug, Default)]
struct Waiting(SmallVec<[Pending; 1]>);

impl Waiting {
    fn push_back(&mut self, p: Pending) {
        self.0.push(p);
    }

    fn pop_front(&mut self) -> Option<Pending> {
        (!self.0.is_empty()).then(|| self.0.remove(0))
    }

    fn front(&self) -> Option<&Pending> {
        self.0.first()
    }

    fn iter(&self) -> impl Iterator<Item = &Pending> {
        self.0.iter()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The receiver's segment that acknowledges queued ones, and what it says
/// about which copies arrived.
#[derive(Clone, Copy, Debug)]
struct Proof {
    ts: Timestamp,
    /// TSecr: the TSval of the segment the receiver last took in.
    tsecr: Option<u32>,
    /// A D-SACK block (RFC 2883): this range arrived more than once.
    dsack: Option<(SeqNumber, SeqNumber)>,
}

impl Proof {
    fn of(seg: &Segment, ts: Timestamp) -> Proof {
        let o = &seg.options;
        Proof {
            ts,
            tsecr: o.timestamps.map(|(_, ecr)| ecr),
            dsack: o.first_sack.filter(|(_, r)| r.le(seg.ack)),
        }
    }

    /// Whether this copy, rather than a later one, is the one that arrived
    /// first: the receiver echoes its timestamp (a TIME-WAIT socket echoes
    /// the first FIN's), or reports the range as received twice (a full
    /// socket's D-SACK for a resent FIN whose ACK was lost).
    fn shows_arrival_of(&self, p: &Pending) -> bool {
        let echoed = p.tsval.is_some() && self.tsecr == p.tsval;
        let twice = self
            .dsack
            .is_some_and(|(l, r)| l.le(p.seq) && p.end.le(r) && p.seq != p.end);
        echoed || twice
    }
}

/// Where and why a state change is drawn; every change goes through
/// `Connection::set_state` with one.
#[derive(Clone, Copy, Debug)]
struct Change {
    row: usize,
    time: Timestamp,
    cause: Cause,
    basis: Basis,
    tentative: Option<Tentative>,
    cause_row: usize,
}

impl Change {
    fn new(row: usize, time: Timestamp, cause: Cause, basis: Basis) -> Change {
        Change {
            row,
            time,
            cause,
            basis,
            tentative: None,
            cause_row: row,
        }
    }
}

/// An endpoint's last send: its row, capture time, and whether it carried
/// an ACK (and so tells what had arrived by then).
#[derive(Clone, Copy, Debug)]
struct LastSend {
    row: usize,
    ts: Timestamp,
    ack: bool,
}

impl Pending {
    fn occupies_sequence_space(&self) -> bool {
        self.end != self.seq
    }
}

/// State changes a connection usually has (five a side, and TIME-WAIT's
/// end).
const MARKS: usize = 12;

/// A queue longer than this (a one-sided capture of a SYN flood, say) is
/// cut by delivering its head: memory stays bounded.
const MAX_QUEUE: usize = 64;

/// Per-endpoint sequence bookkeeping.
#[derive(Clone, Debug, Default)]
struct Endpoint {
    state: State,
    isn: Option<SeqNumber>,
    /// Base for relative numbers.
    base: Option<SeqNumber>,
    /// Highest sequence end sent so far.
    next_seq: Option<SeqNumber>,
    fin_seq: Option<SeqNumber>,
    window_scale: Option<u8>,
    sent_syn_scale: bool,
    last_send: Option<LastSend>,
    /// (row, time) of the first segment after this endpoint's last send.
    after_last_send: Option<(usize, Timestamp)>,
    last_mark_row: usize,
    segments: u64,
    payload_bytes: u64,
    // Nearly always one or two: kept inline, not allocated.
    syn_times: SmallVec<[Timestamp; 2]>,
    fin_times: SmallVec<[Timestamp; 2]>,
    sent_bare_syn: bool,
    sent_syn_ack: bool,
    sent_rst: bool,
    sent_fin: bool,
    /// Highest acknowledgment it sent: its receive point, as far as shown.
    acked: Option<SeqNumber>,
    /// How often it resent its SYN,ACK after an ACK of it had come. Once
    /// is a lost ACK; twice, its listener is dropping the ACKs (a full
    /// accept queue), so only its own segments can show it established.
    acks_of_syn_undone: u8,
    /// The most recent segment of new data it sent (seq, time), and the
    /// times of the copies of the segment it last resent.
    last_new_data: Option<(SeqNumber, Timestamp)>,
    resent: Option<(SeqNumber, SmallVec<[Timestamp; 2]>)>,
    /// Sent its FIN before receiving the peer's (an active closer).
    active_close: bool,
}

/// Facts for the verdict that no single state shows.
#[derive(Clone, Debug, Default)]
struct Facts {
    first_fin: Option<Side>,
    /// The first RST, and the states of both ends when it was sent.
    rst: Option<(Side, State)>,
    both_fins_before_rst: bool,
    half_close: Option<Side>,
    half_close_bytes: u64,
    first_was_syn_ack: bool,
    /// Who answered with a bare RST, showing it had no such connection.
    no_connection_rst: Option<Side>,
    /// Whose ACK of a SYN or FIN was lost, the copy it acknowledged having
    /// arrived (shown by its timestamp echo or D-SACK).
    ack_lost: Option<Side>,
}

/// How the tracker let a connection go after its last segment: what a
/// copy rebuilt from the same segments must have done to it to be the
/// same (`replay` rebuilds connections of a large capture from the file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Release {
    /// Not let go.
    #[default]
    Held,
    /// A new incarnation on its four-tuple began then.
    NewIncarnation(Timestamp),
    /// Its timers ran to then (it was over, or a stray came long after).
    Advanced(Timestamp),
    /// Given up on then: connect() had, or it was idle too long.
    Concluded(Timestamp),
    /// The capture ended then.
    CaptureEnd(Timestamp),
}

/// A connection incarnation.
#[derive(Clone, Debug)]
pub struct Connection {
    pub id: usize,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// How the tracker let it go, once it has.
    pub released: Release,
    /// Every segment, when the tracker keeps them.
    pub segments: Rows<SegmentRecord>,
    /// The rest of each segment's header, by row, when the tracker keeps
    /// that too (for a detail pane); empty otherwise.
    pub details: Rows<Details>,
    pub marks: Vec<StateMark>,
    /// Each side's state before the first segment (LISTEN is assumed for a
    /// server until it shows otherwise).
    pub initial: [State; 2],
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    pub segment_count: usize,
    pub retransmissions: u64,
    /// Retransmissions that carry neither SYN nor FIN.
    pub data_retransmissions: u64,
    pub time_wait: [Option<TimeWait>; 2],
    /// ICMP errors that quote this connection's segments.
    pub icmp: Vec<super::IcmpRecord>,
    /// Every flag any of its segments carried.
    pub flags_seen: Flags,
    /// One-way delay from the capture point to each endpoint, once the
    /// handshake shows it.
    delay: [Option<Span>; 2],
    ends: [Endpoint; 2],
    queue: [Waiting; 2],
    /// Acknowledged by a SYN,ACK, delivered on the next row.
    deferred: [Option<SeqNumber>; 2],
    facts: Facts,
    keep_segments: bool,
    keep_details: bool,
    two_msl: Span,
    syn_retries: u8,
    retries2: u8,
    orphan_retries: u8,
}

impl Connection {
    /// A new incarnation whose first segment is `seg`.
    #[inline(always)]
    pub fn new(id: usize, seg: &Segment, ts: Timestamp, cfg: &TrackConfig) -> Self {
        let msl = cfg.msl;
        let bare_syn = seg.flags.syn() && !seg.flags.ack();
        let syn_ack = seg.flags.syn() && seg.flags.ack();
        // The client sent the first SYN without ACK; the receiver of a
        // SYN,ACK is that client; with no SYN, the higher port.
        let sender_is_client = if bare_syn {
            true
        } else if syn_ack {
            false
        } else {
            seg.src.port() >= seg.dst.port()
        };
        let (client, server) = if sender_is_client {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let initial = if bare_syn {
            [State::Closed, State::Listen]
        } else if syn_ack {
            [State::SynSent, State::Listen]
        } else {
            [State::Established, State::Established]
        };
        let mut ends: [Endpoint; 2] = Default::default();
        for s in Side::BOTH {
            ends[s.index()].state = initial[s.index()];
        }
        Connection {
            id,
            client,
            server,
            released: Release::Held,
            segments: Rows::default(),
            details: Rows::default(),
            // A whole connection has about eleven: one allocation.
            marks: Vec::with_capacity(MARKS),
            initial,
            first_ts: ts,
            last_ts: ts,
            segment_count: 0,
            retransmissions: 0,
            data_retransmissions: 0,
            time_wait: [None, None],
            icmp: Vec::new(),
            flags_seen: Flags(0),
            delay: [None, None],
            ends,
            queue: Default::default(),
            deferred: [None, None],
            facts: Facts {
                first_was_syn_ack: syn_ack,
                ..Facts::default()
            },
            keep_segments: cfg.keep_segments,
            keep_details: cfg.keep_details,
            two_msl: Span::from_nanos(msl.as_nanos().saturating_mul(2)),
            syn_retries: cfg.syn_retries,
            retries2: cfg.retries2,
            // Linux: 0 stands for 8 (tcp_orphan_retries()).
            orphan_retries: if cfg.orphan_retries == 0 {
                8
            } else {
                cfg.orphan_retries
            },
        }
    }

    pub fn side_of(&self, addr: SocketAddr) -> Side {
        if addr == self.client {
            Side::Client
        } else {
            Side::Server
        }
    }

    pub fn addr(&self, side: Side) -> SocketAddr {
        match side {
            Side::Client => self.client,
            Side::Server => self.server,
        }
    }

    /// How far the endpoint is from the capture point (one way), once the
    /// handshake shows it.
    pub fn distance(&self, side: Side) -> Option<Span> {
        self.delay[side.index()]
    }

    /// The endpoint's current state.
    pub fn state(&self, side: Side) -> State {
        self.ends[side.index()].state
    }

    /// The ISN the endpoint used, if its SYN was seen.
    pub fn isn(&self, side: Side) -> Option<SeqNumber> {
        self.ends[side.index()].isn
    }

    /// The base its relative sequence numbers count from.
    pub fn base(&self, side: Side) -> Option<SeqNumber> {
        self.ends[side.index()].base
    }

    /// Successive states of one side, the initial one first.
    pub fn states(&self, side: Side) -> Vec<State> {
        let mut v = vec![self.initial[side.index()]];
        v.extend(self.marks.iter().filter(|m| m.side == side).map(|m| m.to));
        v
    }

    /// Every state of one side with when it began and what shows it, the
    /// assumed initial state first (at the first segment).
    pub fn timeline(&self, side: Side) -> Vec<(State, Timestamp, Basis)> {
        // Held before the first change, which may precede the first
        // capture time once the sender's distance is known.
        let first = self
            .marks
            .iter()
            .find(|m| m.side == side)
            .map_or(self.first_ts, |m| m.time.min(self.first_ts));
        let mut v = vec![(self.initial[side.index()], first, Basis::Assumed)];
        v.extend(
            self.marks
                .iter()
                .filter(|m| m.side == side)
                .map(|m| (m.to, m.time, m.basis)),
        );
        v
    }

    /// Marks sorted by row, as a ladder draws them.
    pub fn marks_by_row(&self) -> Vec<StateMark> {
        let mut v = self.marks.clone();
        v.sort_by_key(|m| m.row);
        v
    }

    pub fn sent_bare_syn(&self, side: Side) -> bool {
        self.ends[side.index()].sent_bare_syn
    }

    pub fn payload_bytes(&self, side: Side) -> u64 {
        self.ends[side.index()].payload_bytes
    }

    pub fn segments_from(&self, side: Side) -> u64 {
        self.ends[side.index()].segments
    }

    /// Times the endpoint sent a SYN (first and retransmissions).
    pub fn syn_times(&self, side: Side) -> &[Timestamp] {
        &self.ends[side.index()].syn_times
    }

    /// Times the endpoint sent its FIN (first and retransmissions).
    pub fn fin_times(&self, side: Side) -> &[Timestamp] {
        &self.ends[side.index()].fin_times
    }

    /// Whether a bare SYN from `from` with sequence `seq` starts a new
    /// incarnation on this 4-tuple rather than belonging to this one.
    pub fn is_new_incarnation(&self, from: SocketAddr, seq: SeqNumber) -> bool {
        let e = &self.ends[self.side_of(from).index()];
        match e.isn {
            // Same ISN: a retransmission.
            Some(isn) => isn != seq,
            // Its first SYN: part of this connection (simultaneous open)
            // unless it already spoke without one or everything is over.
            None => e.segments > 0 || self.is_finished(),
        }
    }

    /// Both ends are CLOSED or in TIME-WAIT.
    /// The frame numbers of its segments and ICMP errors, in order (what
    /// saving it as a capture copies).
    pub fn frames(&self) -> Vec<u64> {
        let mut f: Vec<u64> = self.segments.iter().map(|s| s.frame).collect();
        f.extend(self.icmp.iter().map(|i| i.frame));
        f.sort_unstable();
        f.dedup();
        f
    }

    /// Its [`Summary`], as it stands.
    pub fn summary(&self) -> Summary {
        let mut reached = 0u16;
        let states = self
            .initial
            .iter()
            .copied()
            .chain(self.marks.iter().map(|m| m.to))
            .chain(Side::BOTH.iter().map(|&s| self.state(s)));
        for st in states {
            reached |= 1 << st as u16;
        }
        Summary {
            reached,
            flags: self.flags_seen,
            opening: self.opening(),
            closing: self.closing().0,
            retransmitted: self.retransmissions > 0,
            half_closed: self.half_close().is_some(),
        }
    }

    pub fn is_finished(&self) -> bool {
        Side::BOTH.iter().all(|s| self.state(*s).is_finished())
    }

    /// Asks the cache for the parts of this connection that letting it go
    /// reads (its states, timers, marks), ahead of time: a connection let
    /// go 2×MSL after its last segment is long out of the cache, and
    /// waiting for each of its lines in turn cost more than the rest of
    /// ending it. Changes nothing.
    pub(crate) fn prefetch(&self) {
        use mem_prefetch::prefetch_read_data as fetch;
        fetch::<_, 3>(&self.id);
        fetch::<_, 3>(&self.released);
        fetch::<_, 3>(&self.marks);
        fetch::<_, 3>(&self.time_wait);
        fetch::<_, 3>(&self.facts);
        fetch::<_, 3>(&self.deferred);
        for s in Side::BOTH {
            let e = &self.ends[s.index()];
            fetch::<_, 3>(&e.state);
            fetch::<_, 3>(&e.syn_times);
            fetch::<_, 3>(&e.resent);
            fetch::<_, 3>(&self.queue[s.index()]);
        }
    }

    /// When a finished connection can be forgotten: after its TIME-WAITs
    /// have run out and 2×MSL has passed since its last segment.
    pub fn linger_until(&self) -> Timestamp {
        let mut t = self.last_ts + self.two_msl;
        for tw in self.time_wait.iter().flatten() {
            t = t.max(tw.expires);
        }
        t
    }

    /// Processes one captured segment.
    pub fn push(&mut self, seg: &Segment, ts: Timestamp, frame: u64) {
        self.push_payload(seg, ts, frame, &[]);
    }

    /// [`push`](Connection::push), with the segment's payload as captured
    /// (kept, the first bytes of it, with its details).
    pub fn push_payload(&mut self, seg: &Segment, ts: Timestamp, frame: u64, payload: &[u8]) {
        self.flags_seen = Flags(self.flags_seen.0 | seg.flags.0);
        let from = self.side_of(seg.src);
        let row = self.segment_count;
        for s in Side::BOTH {
            let e = &mut self.ends[s.index()];
            if matches!(e.last_send, Some(l) if l.row + 1 == row) {
                e.after_last_send = Some((row, ts));
            }
        }
        // Timers and deferred deliveries happen before this segment, on its row.
        self.advance(ts);
        self.segment_count += 1;
        self.last_ts = self.last_ts.max(ts);
        let expected = self.ends[from.index()].next_seq;
        let record = self.number(seg, ts, frame, from);
        if record.retransmission() {
            self.retransmissions += 1;
            if !seg.flags.syn() && !seg.flags.fin() {
                self.data_retransmissions += 1;
            }
        }

        // A "listener" that answers with RST was never listening: the port
        // is closed (RFC 9293 §3.10.7.1), so the SYN it got changed nothing.
        if seg.flags.rst()
            && self.state(from) == State::Listen
            && !self.marks.iter().any(|m| m.side == from)
        {
            self.reassume(from, State::Closed);
        }
        self.learn_delay(from, seg, ts);
        // What this segment's ACK proves its sender had received.
        if seg.flags.ack() {
            self.deliver_proven(from, seg.ack, seg.flags.syn(), Some(Proof::of(seg, ts)));
        }
        self.on_send(from, seg, row, ts, &record);

        let p = Pending {
            row,
            ts,
            seq: seg.seq,
            end: seg.end(),
            flags: seg.flags,
            ack: seg.ack,
            expected,
            tsval: seg.options.timestamps.map(|(val, _)| val),
        };
        let q = &mut self.queue[from.index()];
        if p.flags.syn() || p.flags.fin() || !q.is_empty() {
            q.push_back(p);
            if q.len() > MAX_QUEUE
                && let Some(head) = q.pop_front()
            {
                self.receive(!from, &head, true, None);
            }
        } else {
            self.receive(!from, &p, true, None);
        }

        let e = &mut self.ends[from.index()];
        e.last_send = Some(LastSend {
            row,
            ts,
            ack: seg.flags.ack(),
        });
        e.after_last_send = None;
        e.segments += 1;
        if !record.retransmission() {
            e.payload_bytes += u64::from(seg.len);
        }
        if self.keep_segments {
            self.segments.push(record);
            if self.keep_details {
                self.details.push(Details::of(seg, payload));
            }
        }
    }

    /// Delivers what a SYN,ACK's sender had acknowledged but could not yet
    /// have processed.
    fn flush_deferred(&mut self) {
        for s in Side::BOTH {
            if let Some(ack) = self.deferred[s.index()].take() {
                self.deliver_proven(s, ack, false, None);
            }
        }
    }

    /// Lets timers run to `now`: a TIME-WAIT that has expired becomes CLOSED.
    /// Also the end of capture: nothing further can arrive.
    pub fn advance(&mut self, now: Timestamp) {
        self.flush_deferred();
        for s in Side::BOTH {
            if self.state(s) != State::TimeWait {
                continue;
            }
            if let Some(tw) = self.time_wait[s.index()]
                && tw.expires <= now
            {
                let c = Change::new(self.segment_count, tw.expires, Cause::Timer, Basis::Timer);
                self.set_state(s, State::Closed, c);
            }
        }
    }

    /// When connect() will give up if nothing answers, for a client still
    /// in SYN-SENT at the end of the capture (Linux's backoff and
    /// `tcp_syn_retries`), and the retries that assumes.
    pub fn syn_give_up_estimate(&self) -> Option<(Timestamp, u8)> {
        let e = &self.ends[Side::Client.index()];
        if e.state != State::SynSent {
            return None;
        }
        let t = eventual_give_up(&e.syn_times, syn_timeout(self.syn_retries))?;
        Some((self.sent_at(Side::Client, t), self.syn_retries))
    }

    /// An ICMP error quoting one of this connection's segments. Linux
    /// takes it only when the quoted number lies in what the endpoint has
    /// sent and not yet had acknowledged; in SYN-SENT every error with an
    /// errno then ends the connection (tcp_v4_err / tcp_v6_err), elsewhere
    /// it is soft and changes nothing. Returns false for an error that
    /// quotes numbers this endpoint never sent.
    pub fn push_icmp(&mut self, err: &crate::decode::IcmpError, ts: Timestamp, frame: u64) -> bool {
        let side = self.side_of(err.quoted_src);
        if self.addr(!side) != err.quoted_dst {
            return false;
        }
        let e = &self.ends[side.index()];
        let peer_acked = self.ends[(!side).index()].acked;
        let low = peer_acked.or(e.isn).or(e.base);
        let sent = match (low, e.next_seq) {
            (Some(l), Some(n)) => l.le(err.quoted_seq) && err.quoted_seq.le(n),
            _ => false,
        };
        if !sent {
            return false;
        }
        let base = e.base.unwrap_or(err.quoted_seq);
        self.advance(ts);
        let errno = err.kind.errno();
        let closes = self.state(side) == State::SynSent && errno.is_some();
        let row = self.segment_count;
        if closes {
            let time = ts + self.delay[side.index()].unwrap_or_default();
            // Tentative: Linux only notes a soft error when the socket is
            // busy in a system call at that instant (it happens on
            // loopback, where the error comes back inside connect()), and
            // then the SYN is sent again.
            let c = Change {
                tentative: Some(Tentative::Icmp),
                ..Change::new(row, time, Cause::Icmp, Basis::Received)
            };
            self.set_state(side, State::Closed, c);
        }
        self.icmp.push(super::IcmpRecord {
            frame,
            ts,
            from: err.from,
            to: side,
            ty: err.kind.ty,
            code: err.kind.code,
            meaning: err.describe(),
            quoted_seq: err.quoted_seq - base,
            errno,
            closed: closes,
            row,
        });
        self.last_ts = self.last_ts.max(ts);
        true
    }

    /// The capture is over at `end`. An endpoint still resending a SYN or
    /// FIN that nothing acknowledged gives up when its retries run out, and
    /// Linux puts nothing on the wire then (connect() fails with ETIMEDOUT,
    /// a FIN-WAIT-1 or LAST-ACK socket is dropped): that CLOSED is
    /// estimated from the backoff the copies show. It is placed where the
    /// next copy was due when the capture went on past that moment in
    /// silence; for a SYN otherwise where `tcp_syn_retries` runs out.
    pub fn conclude(&mut self, end: Timestamp) {
        // What still waits behind a SYN or FIN that nothing acknowledged:
        // that SYN or FIN is not taken as arrived, but the ACKs and RSTs
        // sent after it did arrive (a lost segment does not hold back the
        // ones after it; their ACK fields are processed on arrival).
        for from in Side::BOTH {
            // The receiver still expects the first segment that did not
            // arrive: an RST must sit there to count.
            let mut hole = None;
            while let Some(mut p) = self.queue[from.index()].pop_front() {
                if p.occupies_sequence_space() {
                    hole.get_or_insert(p.seq);
                } else {
                    p.expected = hole.or(p.expected);
                    self.receive(!from, &p, true, None);
                }
            }
        }
        for s in Side::BOTH {
            let e = &self.ends[s.index()];
            let unacked_data = e
                .resent
                .as_ref()
                .filter(|(seq, _)| self.ends[(!s).index()].acked.is_none_or(|a| !seq.lt(a)));
            let (times, limit) = match e.state {
                State::SynSent => (&e.syn_times[..], model_timeout(self.syn_retries, SYN_RTO)),
                // Closed sockets, mostly, after close(): the orphan limit.
                State::FinWait1 | State::Closing | State::LastAck => (
                    &e.fin_times[..],
                    model_timeout(self.orphan_retries, RTO_MIN),
                ),
                State::Established | State::CloseWait => match unacked_data {
                    Some((_, times)) => (&times[..], model_timeout(self.retries2, RTO_MIN)),
                    None => continue,
                },
                _ => continue,
            };
            if let Some(t) = give_up_time(times, Some(limit), end) {
                // The copies' times are the capture's: the timer ran at
                // the endpoint.
                let t = self.sent_at(s, t);
                let c = Change::new(self.segment_count, t, Cause::Estimated, Basis::Estimated);
                self.set_state(s, State::Closed, c);
            }
        }
    }

    /// Frees what only following further segments needs, once the tracker
    /// has let the connection go: the delivery queues and the lists' spare
    /// room (a list grown by doubling is up to half empty).
    pub fn compact(&mut self) {
        self.queue = Default::default();
        self.segments.shrink();
        self.details.shrink();
        shrink(&mut self.marks);
        shrink(&mut self.icmp);
    }

    /// The tracker lets it go, as `how` says.
    pub fn release(&mut self, how: Release) {
        match how {
            Release::Held => {}
            Release::NewIncarnation(t) => self.end_by_new_incarnation(t),
            Release::Advanced(t) => self.advance(t),
            Release::Concluded(t) => self.conclude(t),
            Release::CaptureEnd(t) => {
                self.advance(t);
                self.conclude(t);
            }
        }
        self.released = how;
    }

    /// A new incarnation on the same 4-tuple starts at `ts`: a TIME-WAIT
    /// still running ends there.
    pub fn end_by_new_incarnation(&mut self, ts: Timestamp) {
        self.advance(ts);
        for s in Side::BOTH {
            if self.state(s) == State::TimeWait {
                if let Some(tw) = &mut self.time_wait[s.index()] {
                    tw.expires = ts;
                    tw.ended_early = true;
                }
                let c = Change::new(self.segment_count, ts, Cause::NewIncarnation, Basis::Timer);
                self.set_state(s, State::Closed, c);
            }
        }
    }

    /// Relative numbers, window scaling and retransmission marks.
    fn number(&mut self, seg: &Segment, ts: Timestamp, frame: u64, from: Side) -> SegmentRecord {
        let syn = seg.flags.syn();
        {
            let e = &mut self.ends[from.index()];
            if syn {
                if e.isn.is_none() {
                    e.isn = Some(seg.seq);
                    e.base = Some(seg.seq);
                } else if e.base != Some(seg.seq) {
                    // A SYN,ACK with another ISN (a middlebox answering
                    // for the server, say): Wireshark's relative numbers
                    // count from the latest SYN, and so do ours.
                    e.base = Some(seg.seq);
                }
                if let Some(ws) = seg.options.window_scale {
                    e.window_scale = Some(ws.min(14));
                }
                e.sent_syn_scale = seg.options.window_scale.is_some();
            } else if e.base.is_none() {
                // Wireshark's rule without a SYN: the first byte seen is 1.
                e.base = Some(SeqNumber(seg.seq.0.wrapping_sub(1)));
            }
        }
        if seg.flags.ack() {
            let peer = &mut self.ends[(!from).index()];
            if peer.base.is_none() {
                peer.base = Some(SeqNumber(seg.ack.0.wrapping_sub(1)));
            }
        }
        let e = &self.ends[from.index()];
        let peer = &self.ends[(!from).index()];
        let base = e.base.unwrap_or(seg.seq);
        let occupies = seg.seq_len() > 0;
        let keepalive = !syn
            && !seg.flags.fin()
            && !seg.flags.rst()
            && seg.len <= 1
            && e.next_seq.is_some_and(|n| seg.seq.plus(1) == n);
        // In a simultaneous open the SYN,ACK carries the SYN again, as the
        // RFC prescribes; that first SYN,ACK is not a retransmission.
        let first_syn_ack = syn && seg.flags.ack() && e.sent_bare_syn && !e.sent_syn_ack;
        let retransmission =
            occupies && !keepalive && !first_syn_ack && e.next_seq.is_some_and(|n| seg.seq.lt(n));
        let scaling = e.sent_syn_scale && peer.sent_syn_scale;
        let shift = match (syn, scaling, e.window_scale) {
            (false, true, Some(ws)) => Some(ws),
            _ => None,
        };
        let e = &mut self.ends[from.index()];
        // An RST's number is no position in the stream: it may be forged,
        // or copied from the segment it answers.
        if !seg.flags.rst() {
            e.next_seq = Some(match e.next_seq {
                Some(n) => n.max(seg.end()),
                None => seg.end(),
            });
        }
        if seg.len > 0 && !syn && !seg.flags.fin() {
            if retransmission {
                match &mut e.resent {
                    Some((seq, times)) if *seq == seg.seq => times.push(ts),
                    _ => {
                        let orig = e.last_new_data.filter(|(s, _)| *s == seg.seq);
                        let mut times: SmallVec<[Timestamp; 2]> =
                            orig.map(|(_, t)| t).into_iter().collect();
                        times.push(ts);
                        e.resent = Some((seg.seq, times));
                    }
                }
            } else {
                e.last_new_data = Some((seg.seq, ts));
            }
        }
        if seg.flags.ack() {
            e.acked = Some(e.acked.map_or(seg.ack, |a| a.max(seg.ack)));
        }
        let rel_ack = if seg.flags.ack() {
            seg.ack - self.ends[(!from).index()].base.unwrap_or(seg.ack)
        } else {
            0
        };
        SegmentRecord {
            frame,
            ts,
            from,
            flags: seg.flags,
            seq: seg.seq,
            ack: seg.ack,
            rel_seq: seg.seq - base,
            rel_ack,
            len: seg.len,
            window: seg.window,
            shift: shift.unwrap_or(NO_SHIFT),
            options: ShownOptions::of(&seg.options),
            bits: bit(seg.truncated, TRUNCATED)
                | bit(retransmission, RETRANSMISSION)
                | bit(keepalive, KEEPALIVE),
        }
    }

    /// `receiver` sent an ACK of `ack`: every queued segment of its peer
    /// that this covers has arrived, in order. A receiver that sends a
    /// SYN,ACK is still in SYN-RECEIVED, so of what the ACK covers only the
    /// bare SYNs can have arrived yet; the rest is delivered on the next row.
    fn deliver_proven(
        &mut self,
        receiver: Side,
        ack: SeqNumber,
        sending_syn_ack: bool,
        proof: Option<Proof>,
    ) {
        let q = (!receiver).index();
        while let Some(head) = self.queue[q].front().copied() {
            if head.occupies_sequence_space() && !head.end.le(ack) {
                break;
            }
            if sending_syn_ack && head.flags.ack() {
                self.deferred[receiver.index()] = Some(ack);
                break;
            }
            self.queue[q].pop_front();
            if head.occupies_sequence_space() {
                // Of several copies, the last one before the proof arrived,
                // unless the proof shows an earlier one did.
                let later_copy = self.queue[q].iter().any(|p| {
                    p.seq == head.seq
                        && p.end == head.end
                        && p.flags.syn() == head.flags.syn()
                        && p.flags.fin() == head.flags.fin()
                        && p.flags.ack() == head.flags.ack()
                        && p.end.le(ack)
                });
                if later_copy {
                    if !proof.is_some_and(|p| p.shows_arrival_of(&head)) {
                        continue;
                    }
                    if let Some(rec) = self.segments.get_mut(head.row) {
                        rec.bits |= ARRIVED;
                    }
                    self.facts.ack_lost.get_or_insert(receiver);
                }
                self.receive(receiver, &head, false, proof.map(|p| p.ts));
            } else {
                self.receive(receiver, &head, true, None);
            }
        }
    }

    /// Sender-driven transitions (RFC 9293 §3.10, the user calls and the
    /// segments they put on the wire).
    fn on_send(&mut self, s: Side, seg: &Segment, row: usize, ts: Timestamp, rec: &SegmentRecord) {
        let f = seg.flags;
        let st = self.state(s);
        let none_yet = !self.marks.iter().any(|m| m.side == s);
        let sent = Change::new(row, self.sent_at(s, ts), Cause::Sent, Basis::Sent);
        if f.syn() {
            // Retries of one kind: bare SYNs, or SYN,ACKs from a listener.
            let e = &mut self.ends[s.index()];
            if !f.ack() || !e.sent_bare_syn {
                e.syn_times.push(ts);
            }
        }
        if f.fin() {
            self.ends[s.index()].fin_times.push(ts);
        }
        if f.rst() {
            // A bare RST (no ACK flag) whose number is the acknowledgment
            // it answers is what a host with no such connection sends: the
            // ACK that seemed to establish it never did (a full accept
            // queue with tcp_abort_on_overflow, an expired request), or it
            // had already given up.
            let bare = !f.ack()
                && self.ends[(!s).index()].acked.is_none_or(|a| a == seg.seq)
                && !matches!(st, State::Closed | State::Listen | State::SynSent);
            if bare {
                self.undo_tentative(s, |t| t == Tentative::AckOfSyn);
                self.facts.no_connection_rst.get_or_insert(s);
            }
            let st = self.state(s);
            self.ends[s.index()].sent_rst = true;
            if self.facts.rst.is_none() {
                self.facts.rst = Some((s, st));
                self.facts.both_fins_before_rst = self.ends[0].sent_fin && self.ends[1].sent_fin;
            }
            let gave_up = bare.then(|| self.data_give_up(s, ts)).flatten();
            match (st, gave_up) {
                (State::Closed | State::Listen, _) => {}
                // Its retransmissions had run out before: closed then.
                (_, Some(t)) => {
                    let c = Change::new(row, t, Cause::Estimated, Basis::Estimated);
                    self.set_state(s, State::Closed, c);
                }
                // RST aborts from any other state (ABORT call, or a reply to
                // an unacceptable segment).
                _ => {
                    let c = Change {
                        tentative: Some(Tentative::SentRst),
                        ..sent
                    };
                    self.set_state(s, State::Closed, c);
                }
            }
            return;
        }
        let redo_rst = self
            .undo_if_contradicted(s, f)
            // Redone only if the RST can still have been on its way when
            // this segment left: it reached the endpoint after. One that
            // reached it before, the endpoint ignored (or never got: a
            // filter in front of it dropped it).
            .is_some_and(|rst_at| self.delay[s.index()].is_none() || rst_at >= sent.time);
        let st = self.state(s);
        match (st, f.syn(), f.ack(), f.fin()) {
            // OPEN, active: CLOSED → SYN-SENT.
            (State::Closed, true, false, _) => {
                self.ends[s.index()].sent_bare_syn = true;
                self.set_state(s, State::SynSent, sent);
            }
            // A bare SYN from the side assumed to be listening: it was
            // actively opening too (simultaneous open, RFC 9293 Figure 8).
            (State::Listen, true, false, _) if none_yet => {
                self.ends[s.index()].sent_bare_syn = true;
                self.reassume(s, State::Closed);
                self.set_state(s, State::SynSent, sent);
            }
            (State::SynSent, true, false, _) => {
                self.ends[s.index()].sent_bare_syn = true;
            }
            // SYN,ACK: it received a SYN. Normally the delivery of that SYN
            // already moved it; here the SYN itself was not captured.
            (State::Listen | State::SynSent | State::Closed, true, true, _) => {
                self.ends[s.index()].sent_syn_ack = true;
                self.set_state(s, State::SynReceived, sent);
            }
            (_, true, true, _) => self.ends[s.index()].sent_syn_ack = true,
            // A server whose listener dropped an ACK of its SYN,ACK shows by
            // sending anything else that a later one got through.
            (State::SynReceived, false, true, false)
                if self.ends[s.index()].acks_of_syn_undone >= 2 =>
            {
                let c = Change {
                    basis: Basis::Acknowledged,
                    ..sent
                };
                self.set_state(s, State::Established, c);
            }
            // CLOSE from ESTABLISHED or SYN-RECEIVED: FIN-WAIT-1.
            (State::Established | State::SynReceived, false, _, true) => {
                let e = &mut self.ends[s.index()];
                e.fin_seq = Some(seg.seq.plus(seg.len));
                e.sent_fin = true;
                e.active_close = true;
                self.facts.first_fin.get_or_insert(s);
                self.set_state(s, State::FinWait1, sent);
            }
            // CLOSE from CLOSE-WAIT: LAST-ACK.
            (State::CloseWait, false, _, true) => {
                let e = &mut self.ends[s.index()];
                e.fin_seq = Some(seg.seq.plus(seg.len));
                e.sent_fin = true;
                self.facts.first_fin.get_or_insert(s);
                self.set_state(s, State::LastAck, sent);
            }
            _ => {}
        }
        // Data sent after the peer's FIN arrived: a half-close in use.
        if seg.len > 0
            && !rec.retransmission()
            && matches!(self.state(s), State::CloseWait | State::LastAck)
            && !f.fin()
        {
            self.facts.half_close.get_or_insert(s);
            self.facts.half_close_bytes += u64::from(seg.len);
        }
        if redo_rst {
            let c = Change {
                cause: Cause::Received,
                basis: Basis::Received,
                tentative: Some(Tentative::Rst),
                ..sent
            };
            self.set_state(s, State::Closed, c);
        }
    }

    /// The endpoint shows it never got an ACK (it retransmits what the ACK
    /// covered) or an RST (it keeps talking): undo that tentative change.
    /// Returns when the RST arrived if the undone change was an RST's: if
    /// that was after this segment left, the caller redoes it.
    fn undo_if_contradicted(&mut self, s: Side, f: Flags) -> Option<Timestamp> {
        let last = self
            .marks
            .iter()
            .rev()
            .find(|m| m.side == s)
            .map(|m| m.time);
        let undone = self.undo_tentative(s, |t| match t {
            Tentative::AckOfSyn => f.syn() && f.ack(),
            Tentative::AckOfFin => f.fin(),
            Tentative::Rst | Tentative::SentRst | Tentative::Icmp => true,
        });
        match undone {
            Some(Tentative::AckOfSyn) => {
                // Captured at the endpoint's own link, the ACK it resends
                // over cannot have been lost on the way: its listener
                // dropped it. Elsewhere the first time may be a loss.
                let at_its_link = matches!(
                    (self.delay[s.index()], self.delay[(!s).index()]),
                    (Some(mine), Some(peer))
                        if mine.as_nanos() * 20 < peer.as_nanos() && mine.as_nanos() < 1_000_000
                );
                let e = &mut self.ends[s.index()];
                let n = if at_its_link { 2 } else { 1 };
                e.acks_of_syn_undone = e.acks_of_syn_undone.saturating_add(n);
            }
            Some(Tentative::Icmp) => {
                if let Some(i) = self.icmp.iter_mut().rev().find(|i| i.closed && i.to == s) {
                    i.closed = false;
                }
            }
            Some(Tentative::SentRst) => {
                // It never sent that RST.
                if self.facts.rst.is_some_and(|(side, _)| side == s) {
                    self.facts.rst = None;
                }
                self.ends[s.index()].sent_rst = false;
            }
            _ => {}
        }
        last.filter(|_| undone == Some(Tentative::Rst))
    }

    /// Removes the side's last change if it is tentative and `undo` says
    /// so; returns what it rested on.
    fn undo_tentative(&mut self, s: Side, undo: impl Fn(Tentative) -> bool) -> Option<Tentative> {
        let pos = self.marks.iter().rposition(|m| m.side == s)?;
        let m = self.marks[pos];
        let t = m.tentative.filter(|t| undo(*t))?;
        self.marks.remove(pos);
        self.ends[s.index()].state = m.from;
        self.ends[s.index()].last_mark_row = self
            .marks
            .iter()
            .filter(|k| k.side == s)
            .map(|k| k.row)
            .max()
            .unwrap_or(0);
        if m.to == State::TimeWait {
            self.time_wait[s.index()] = None;
        }
        Some(t)
    }

    /// When `s`, resending a data segment nobody acknowledged, ran out of
    /// retries, if that was before `now` (see `give_up_time`).
    fn data_give_up(&self, s: Side, now: Timestamp) -> Option<Timestamp> {
        let e = &self.ends[s.index()];
        let (seq, times) = e.resent.as_ref()?;
        if self.ends[(!s).index()].acked.is_some_and(|a| seq.lt(a)) {
            return None;
        }
        give_up_time(times, None, now + Span::from_nanos(1))
            .filter(|t| *t <= now)
            .map(|t| self.sent_at(s, t))
    }

    /// Receive-driven transitions (RFC 9293 §3.10.7.4, "SEGMENT ARRIVES"),
    /// in the RFC's order: the RST check, the ACK field (step five), then
    /// SYN and FIN (step eight). Each step that changes the state is a mark
    /// of its own, so a FIN that also acknowledges ours goes FIN-WAIT-1 →
    /// FIN-WAIT-2 → TIME-WAIT, as Linux goes. `proof` is when the
    /// receiver's acknowledgment of it was captured, if it was.
    fn receive(&mut self, r: Side, p: &Pending, tentative: bool, proof: Option<Timestamp>) {
        let st = self.state(r);
        let (row, time) = self.placement(r, p, proof);
        let f = p.flags;
        let change = |basis: Basis, tentative: Option<Tentative>| Change {
            row,
            time,
            cause: Cause::Received,
            basis,
            tentative,
            cause_row: p.row,
        };
        if f.rst() {
            if self.accepts_rst(r, p) {
                let t = tentative.then_some(Tentative::Rst);
                self.set_state(r, State::Closed, change(Basis::Received, t));
            }
            return;
        }
        let e = &self.ends[r.index()];
        let acks_syn = f.ack() && e.isn.is_none_or(|i| i.plus(1).le(p.ack));
        let acks_fin = f.ack() && e.fin_seq.is_some_and(|fs| fs.plus(1).le(p.ack));
        // Step five, the ACK field. The change can be undone later only
        // when nothing but an ACK arrived: a SYN or FIN with it was proven.
        let ack_only = tentative && !f.fin() && !f.syn();
        let acked = match st {
            // SYN,ACK arrives in SYN-SENT: ESTABLISHED.
            State::SynSent if f.syn() && acks_syn => {
                Some((State::Established, Basis::Received, None))
            }
            // Our SYN acknowledged in SYN-RECEIVED: ESTABLISHED.
            // Not when its listener already dropped an ACK of it (a full
            // accept queue): then only its own segments show it.
            State::SynReceived if acks_syn && !(ack_only && e.acks_of_syn_undone >= 2) => Some((
                State::Established,
                Basis::Acknowledged,
                Some(Tentative::AckOfSyn),
            )),
            // Our FIN acknowledged: FIN-WAIT-1 → FIN-WAIT-2, CLOSING →
            // TIME-WAIT, LAST-ACK → CLOSED.
            State::FinWait1 if acks_fin => Some((
                State::FinWait2,
                Basis::Acknowledged,
                Some(Tentative::AckOfFin),
            )),
            State::Closing if acks_fin => Some((
                State::TimeWait,
                Basis::Acknowledged,
                Some(Tentative::AckOfFin),
            )),
            State::LastAck if acks_fin => Some((
                State::Closed,
                Basis::Acknowledged,
                Some(Tentative::AckOfFin),
            )),
            _ => None,
        };
        if let Some((to, basis, why)) = acked {
            let t = if ack_only { why } else { None };
            self.set_state(r, to, change(basis, t));
        }
        // Step eight: a SYN arrives: LISTEN → SYN-RECEIVED; SYN-SENT →
        // SYN-RECEIVED (simultaneous open).
        if f.syn() && !f.ack() && matches!(self.state(r), State::Listen | State::SynSent) {
            self.set_state(r, State::SynReceived, change(Basis::Received, None));
        }
        if f.fin() {
            let to = match self.state(r) {
                State::SynReceived | State::Established => Some(State::CloseWait),
                // FINs crossed: our FIN not yet acknowledged.
                State::FinWait1 => Some(State::Closing),
                State::FinWait2 => Some(State::TimeWait),
                // A retransmitted FIN restarts the 2MSL timer.
                State::TimeWait => {
                    if let Some(tw) = &mut self.time_wait[r.index()] {
                        tw.expires = time + self.two_msl;
                    }
                    None
                }
                _ => None,
            };
            if let Some(to) = to {
                self.set_state(r, to, change(Basis::Received, None));
            }
        }
    }

    /// Whether an RST that reaches `r` resets it (RFC 9293 §3.10.7.4 first
    /// step, with RFC 5961 §3 as Linux applies it). A listener ignores it;
    /// in SYN-SENT it counts only if it acknowledges our SYN; elsewhere,
    /// TIME-WAIT included, only an RST whose sequence number is exactly the
    /// next one expected resets (one in the window but off the mark draws a
    /// challenge ACK, one outside the window is dropped), and once the
    /// peer's FIN has arrived, one below that too.
    fn accepts_rst(&self, r: Side, p: &Pending) -> bool {
        let e = &self.ends[r.index()];
        match self.state(r) {
            State::Listen | State::Closed => false,
            State::SynSent => p.flags.ack() && e.isn.is_some_and(|i| i.plus(1) == p.ack),
            // Where the receiver is: what the sender had sent, or what the
            // receiver last acknowledged (when data in between was lost).
            st => {
                let at = |next: SeqNumber| {
                    p.seq == next
                        || (matches!(st, State::CloseWait | State::LastAck | State::Closing)
                            && p.seq.plus(1) == next)
                };
                match (p.expected, e.acked) {
                    // The peer's numbers are not known: nothing to check.
                    (None, None) => true,
                    (a, b) => a.is_some_and(at) || b.is_some_and(at),
                }
            }
        }
    }

    /// Row and time at which a received segment takes effect. The row is
    /// its own, but not before the receiver's last send that shows it had
    /// not yet arrived, nor before the receiver's previous state change.
    /// The time is when it reached the receiver: captured plus the
    /// receiver's distance from the capture point, not before that last
    /// send left, and never after the receiver's acknowledgment of it left
    /// (`proof`).
    fn placement(&self, r: Side, p: &Pending, proof: Option<Timestamp>) -> (usize, Timestamp) {
        let e = &self.ends[r.index()];
        let d = self.delay[r.index()].unwrap_or_default();
        let mut row = p.row;
        let mut time = p.ts + d;
        if let Some(last) = e.last_send
            && last.ack
            && last.row >= p.row
        {
            // Arrived after that send: on the next row, or on the
            // send's own row when nothing came after it.
            row = e.after_last_send.map_or(last.row, |(r, _)| r);
            time = time.max(last.ts - d);
        }
        if let Some(pt) = proof {
            time = time.min(pt - d);
        }
        if e.last_mark_row > row {
            row = e.last_mark_row;
        }
        if let Some(m) = self.marks.iter().rev().find(|m| m.side == r) {
            time = time.max(m.time);
        }
        (row, time)
    }

    /// When the endpoint sent what the capture saw at `ts`.
    fn sent_at(&self, s: Side, ts: Timestamp) -> Timestamp {
        ts - self.delay[s.index()].unwrap_or_default()
    }

    /// The one-way delay from the capture point to each endpoint, from the
    /// handshake: a SYN,ACK captured Δ after the SYN it answers puts the
    /// server Δ/2 away; the client's ACK captured Δ after that SYN,ACK puts
    /// the client Δ/2 away. It lets each endpoint's changes be placed when
    /// the endpoint made them, wherever the capture was taken. Changes made
    /// before it was known are moved once.
    fn learn_delay(&mut self, from: Side, seg: &Segment, ts: Timestamp) {
        let f = seg.flags;
        if self.delay[from.index()].is_some() || !f.ack() {
            return;
        }
        let me = &self.ends[from.index()];
        let peer = &self.ends[(!from).index()];
        let answers_peer_syn = peer.isn.is_some_and(|i| i.plus(1) == seg.ack);
        // SYN,ACK answering a bare SYN; or the ACK of a SYN,ACK from the
        // side that sent the bare SYN. Simultaneous opens have no such pair.
        // In a simultaneous open each side's SYN,ACK answers the other's
        // SYN, so each side's distance comes from its own SYN,ACK.
        let pair = if f.syn() {
            peer.sent_bare_syn
        } else {
            me.sent_bare_syn && !peer.sent_bare_syn && peer.sent_syn_ack
        };
        // The peer's SYN times are its bare SYNs, or a listener's SYN,ACKs.
        let Some(&asked) = peer.syn_times.last().filter(|_| pair && answers_peer_syn) else {
            return;
        };
        let d = Span::from_nanos((ts - asked).as_nanos().max(0) / 2);
        self.delay[from.index()] = Some(d);
        for m in self.marks.iter_mut().filter(|m| m.side == from) {
            m.time = match m.basis {
                Basis::Sent => m.time - d,
                Basis::Received | Basis::Acknowledged => m.time + d,
                _ => m.time,
            };
        }
    }

    /// Every state change goes through here.
    fn set_state(&mut self, side: Side, to: State, c: Change) {
        let from = self.state(side);
        if from == to {
            return;
        }
        if to == State::TimeWait {
            self.time_wait[side.index()] = Some(TimeWait {
                entered: c.time,
                expires: c.time + self.two_msl,
                ended_early: false,
            });
        }
        let e = &mut self.ends[side.index()];
        e.state = to;
        e.last_mark_row = e.last_mark_row.max(c.row);
        self.marks.push(StateMark {
            side,
            from,
            to,
            row: c.row,
            time: c.time,
            cause: c.cause,
            tentative: c.tentative,
            cause_row: c.cause_row,
            basis: c.basis,
        });
    }

    /// Replaces an assumed initial state once the endpoint shows otherwise.
    fn reassume(&mut self, side: Side, state: State) {
        self.initial[side.index()] = state;
        self.ends[side.index()].state = state;
    }

    /// How the connection opened.
    pub fn opening(&self) -> Opening {
        let c = &self.ends[0];
        let s = &self.ends[1];
        if c.sent_bare_syn {
            if s.sent_bare_syn {
                Opening::Simultaneous
            } else if s.sent_syn_ack {
                Opening::ThreeWay
            } else if s.sent_rst {
                Opening::Refused
            } else if self.icmp.iter().any(|i| i.closed && i.to == Side::Client) {
                Opening::Unreachable
            } else {
                Opening::Unanswered
            }
        } else if self.facts.first_was_syn_ack {
            Opening::ThreeWay
        } else {
            Opening::MidStream
        }
    }

    /// How it closed, and who closed it.
    pub fn closing(&self) -> (Closing, Option<Closer>) {
        if let Some((side, _)) = self.facts.rst
            && !self.facts.both_fins_before_rst
        {
            return (Closing::Reset, Some(Closer::One(side)));
        }
        if self.ends.iter().all(|e| e.active_close) {
            return (Closing::Simultaneous, Some(Closer::Both));
        }
        match self.facts.first_fin {
            Some(s) => (Closing::Fin, Some(Closer::One(s))),
            None => (Closing::None, None),
        }
    }

    /// Payload sent after receiving the peer's FIN: by whom, how much.
    pub fn half_close(&self) -> Option<(Side, u64)> {
        self.facts
            .half_close
            .map(|s| (s, self.facts.half_close_bytes))
    }

    /// The side whose ACK of a SYN or FIN was lost although the segment had
    /// arrived (the sender resent it; the receiver's TSecr or D-SACK says so).
    pub fn ack_lost(&self) -> Option<Side> {
        self.facts.ack_lost
    }

    /// The side whose bare RST (no ACK flag, the number it answers) showed
    /// it had no such connection.
    pub fn no_connection_rst(&self) -> Option<Side> {
        self.facts.no_connection_rst
    }

    /// The side that sent the first RST, and the state it was in.
    pub fn first_rst(&self) -> Option<(Side, State)> {
        self.facts.rst
    }
}

/// Linux's initial retransmission timeout for a SYN (`TCP_TIMEOUT_INIT`).
const SYN_RTO: Span = Span::from_secs(1);
/// The retransmission timeout never grows past this (`TCP_RTO_MAX`).
const RTO_MAX: Span = Span::from_secs(120);

/// The smallest retransmission timeout, the base for data and FINs.
const RTO_MIN: Span = Span::from_nanos(200_000_000);

/// How long connect() keeps trying: Linux's `tcp_model_timeout` for
/// `tcp_syn_retries` = `retries` (127 s for the default 6).
pub fn syn_timeout(retries: u8) -> Span {
    model_timeout(retries, SYN_RTO)
}

/// Linux's `tcp_model_timeout`: how long since the first copy the kernel
/// keeps resending with `retries` allowed, from a first timeout of `base`
/// doubling until it would pass `TCP_RTO_MAX`, then steps of that. The
/// kernel gives up at the first retransmission timer past it.
pub fn model_timeout(retries: u8, base: Span) -> Span {
    let ratio = (RTO_MAX.as_nanos() / base.as_nanos().max(1)).max(1);
    let thresh = ratio.ilog2();
    let r = u32::from(retries);
    let nanos = if r <= thresh {
        ((2i64 << r) - 1) * base.as_nanos()
    } else {
        ((2i64 << thresh) - 1) * base.as_nanos() + i64::from(r - thresh) * RTO_MAX.as_nanos()
    };
    Span::from_nanos(nanos)
}

/// The interval to the copy after the last of `copies`: double the last
/// one, or the same while the copies are still evenly spaced (Linux's
/// `tcp_syn_linear_timeouts`), never past `TCP_RTO_MAX`. With one copy only
/// a SYN's first timeout is known (`first`).
fn next_interval(copies: &[Timestamp], first: Option<Span>) -> Option<Span> {
    let next = match copies {
        [.., a, b, c] if (*c - *b).as_nanos() * 2 < (*b - *a).as_nanos() * 3 => *c - *b,
        [.., b, c] => Span::from_nanos((*c - *b).as_nanos() * 2),
        _ => first?,
    };
    Some(Span::from_nanos(
        next.as_nanos().clamp(1, RTO_MAX.as_nanos()),
    ))
}

/// When an endpoint still resending at the end of the capture will give up
/// if nothing answers: the backoff carried on from the copies (doubling
/// after the next, never past `TCP_RTO_MAX`) until `limit` since the first
/// copy is reached. For the verdict of a capture that ends too early to
/// show it.
pub fn eventual_give_up(copies: &[Timestamp], limit: Span) -> Option<Timestamp> {
    let (&first, &last) = (copies.first()?, copies.last()?);
    let mut next = next_interval(copies, Some(SYN_RTO))?;
    let mut due = last;
    // Bounded: the limit is at most a few hours of RTO_MAX steps.
    for _ in 0..512 {
        due = due + next;
        if due - first >= limit {
            return Some(due);
        }
        next = Span::from_nanos((next.as_nanos() * 2).min(RTO_MAX.as_nanos()));
    }
    None
}

/// When an endpoint that sent `copies` of one segment gave up, if the
/// capture or the limit shows it. The kernel decides at the timer of the
/// next copy ([`next_interval`]): past `limit` (since the first copy) it
/// gives up instead of sending. A capture that runs on past that moment
/// with no copy shows the same. Otherwise the endpoint was still trying
/// when the capture ended, and nothing is guessed.
pub fn give_up_time(
    copies: &[Timestamp],
    limit: Option<Span>,
    end: Timestamp,
) -> Option<Timestamp> {
    let (&first, &last) = (copies.first()?, copies.last()?);
    let next = next_interval(copies, limit.map(|_| SYN_RTO))?;
    let due = last + next;
    // Timers run a little late; allow a tenth of the interval.
    let slack = Span::from_nanos(next.as_nanos() / 10 + 50_000_000);
    let limit_reached = limit.is_some_and(|l| due - first >= l);
    (limit_reached || due + slack <= end).then_some(due)
}
