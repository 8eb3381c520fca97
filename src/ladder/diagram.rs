//! The lecture diagram's geometry: the drawing textbooks use, with arrows
//! slanted from their sending time on one lifeline to their arrival time on
//! the other. Pure and shared by the SVG and PNG exporters.
//!
//! A capture sees each segment at one point only. The handshake tells where
//! that point was: the gap SYN → SYN,ACK is the round trip from the capture
//! point to the server, SYN,ACK → ACK the round trip to the client. Their
//! sum is the round-trip time; their ratio places the capture point. Each
//! segment's sending and arrival times are then estimated from its capture
//! time and the one-way delays on either side of the capture point.
//!
//! The vertical axis is ordinal, not to scale: every distinct event (a send
//! or an arrival) gets its own step, so a 20 µs handshake and a 60 s
//! TIME-WAIT both stay readable, and arrows that crossed in flight cross on
//! the page.
//!
//! ICMP errors are arrows too: from a router mark between the lifelines
//! (or from the peer's lifeline when its host sent the error) to the
//! endpoint it goes back to, on the same ordinal axis.
//!
//! Socket calls are events on their endpoint's lifeline at their own
//! times (entry and return, taken on the endpoint's clock, which is what
//! the estimated sending and arrival times stand for): a label where the
//! call returned and a bar from its entry for a call that blocked.

use crate::time::Span;
use crate::track::{Cause, Side, State};

use super::{Ladder, Line, Role};

/// Where the capture was taken, as estimated from the handshake.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CapturePoint {
    NearClient,
    NearServer,
    Between,
    /// No complete handshake: nothing to estimate from.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    pub point: CapturePoint,
    pub rtt: Option<Span>,
    /// Share of the one-way delay between the client and the capture point:
    /// 0 at the client, 1 at the server.
    pub from_client: f64,
}

impl Placement {
    /// The capture point from the endpoints' distances, which the tracker
    /// learned from the handshake (the SYN,ACK after the SYN it answers, the
    /// client's ACK after that SYN,ACK).
    pub fn estimate(l: &Ladder) -> Placement {
        let unknown = Placement {
            point: CapturePoint::Unknown,
            rtt: None,
            from_client: 0.5,
        };
        let [Some(to_client), Some(to_server)] = l.distance else {
            return unknown;
        };
        let (to_client, to_server) = (to_client.as_nanos(), to_server.as_nanos());
        let rtt = 2 * (to_server + to_client);
        if rtt == 0 {
            return unknown;
        }
        let from_client = to_client as f64 / (to_client + to_server) as f64;
        let point = if from_client < 0.25 {
            CapturePoint::NearClient
        } else if from_client > 0.75 {
            CapturePoint::NearServer
        } else {
            CapturePoint::Between
        };
        Placement {
            point,
            rtt: Some(Span::from_nanos(rtt)),
            from_client,
        }
    }

    /// The diagram's footnote.
    pub fn footnote(&self, flat: bool) -> String {
        let how = match (self.point, self.rtt) {
            (CapturePoint::Unknown, _) | (_, None) => {
                return "Capture point unknown (no complete handshake): arrows are drawn at \
                        capture time. Vertical spacing is not to scale."
                    .to_string();
            }
            (CapturePoint::NearClient, Some(r)) => {
                format!("Captured near the client (round-trip time {r})")
            }
            (CapturePoint::NearServer, Some(r)) => {
                format!("Captured near the server (round-trip time {r})")
            }
            (CapturePoint::Between, Some(r)) => format!(
                "Captured between the two ends, {:.0}% of the way from the client \
                 (round-trip time {r})",
                self.from_client * 100.0
            ),
        };
        let drawn = if flat {
            "arrows drawn flat at capture time"
        } else {
            "send and arrival times estimated from it"
        };
        format!(
            "{how}; {drawn}. Times in ms since the first segment, at the capture point. Vertical spacing is not to scale."
        )
    }
}

/// One arrow, from (sender's lifeline, `y_send`) to (receiver's lifeline,
/// `y_arrive`), in ordinal steps from the top.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrow {
    pub index: usize,
    pub from: Side,
    pub y_send: f64,
    pub y_arrive: f64,
    pub label: String,
    pub role: Role,
    pub retransmission: bool,
    /// Never arrived: drawn stopping short, with a cross.
    pub lost: bool,
    /// The RST refusing the connection (`Row::refused`): marked as such.
    pub refused: bool,
    /// Estimated sending and arrival time, ns since the ladder's start
    /// (capture time, both, when drawn flat): what the vertical order
    /// follows.
    pub sent: i64,
    pub arrives: i64,
    /// Capture time, ms since the connection's first segment.
    pub time_ms: f64,
}

/// An ICMP error: from `x_from` (0 at the client's lifeline, 1 at the
/// server's) at `y_send` to the lifeline of `to` at `y_arrive`.
#[derive(Clone, Debug, PartialEq)]
pub struct IcmpArrow {
    /// Index in the ladder's `icmp`.
    pub index: usize,
    pub to: Side,
    /// Sent by the peer's host: drawn from its lifeline, with no router.
    pub from_peer: bool,
    pub x_from: f64,
    pub y_send: f64,
    pub y_arrive: f64,
    /// "ICMP host unreachable (quoting SYN seq=0)"
    pub label: String,
    /// "router 198.18.0.2" (at the router mark), "server host 10.0.0.2".
    pub sender: String,
    /// What it did: "connect() fails: EHOSTUNREACH", "soft error".
    pub effect: String,
    /// Capture time, ms since the connection's first segment.
    pub time_ms: f64,
}

/// Where a router that sent an ICMP error is drawn, as a share of the way
/// from the client's lifeline to the server's: most of the way from the
/// endpoint it answers, so the label fits along the arrow.
pub const ROUTER_AT: f64 = 0.8;

/// A socket call on its endpoint's lifeline.
#[derive(Clone, Debug, PartialEq)]
pub struct CallMark {
    /// Index in the ladder's `calls`.
    pub index: usize,
    pub side: Side,
    /// Where it returned.
    pub y: f64,
    /// Where it was entered, for a call that blocked: the top of its bar.
    pub y_entered: Option<f64>,
    /// "connect() = 0"
    pub label: String,
    /// Set up before the first segment (socket, bind, listen).
    pub head: bool,
    /// Return, ms since the connection's first segment.
    pub time_ms: f64,
}

/// A state written in a box on a lifeline.
#[derive(Clone, Debug, PartialEq)]
pub struct StateBox {
    pub side: Side,
    pub y: f64,
    pub text: String,
    pub state: State,
}

/// The TIME-WAIT bracket on one lifeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Bracket {
    pub side: Side,
    pub y0: f64,
    pub y1: f64,
    /// "TIME-WAIT · 2MSL = 60 s"
    pub label: String,
    /// "CLOSED at +60.151 s", or how it ended.
    pub end: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagram {
    pub title: String,
    pub verdict: String,
    pub addrs: [String; 2],
    pub arrows: Vec<Arrow>,
    pub icmp: Vec<IcmpArrow>,
    pub calls: Vec<CallMark>,
    pub boxes: Vec<StateBox>,
    pub brackets: Vec<Bracket>,
    /// Steps from the top (the initial states sit at 0) to the bottom.
    pub height: f64,
    /// What the marks drawn mean (only those the diagram has).
    pub legend: String,
    pub footnote: String,
}

/// The legend of the marks `arrows` are drawn with, one sentence a kind.
fn legend(arrows: &[Arrow]) -> String {
    let any = |f: &dyn Fn(&Arrow) -> bool| arrows.iter().any(f);
    let mut parts = Vec::new();
    if any(&|a| a.retransmission && !a.lost) {
        parts.push("Dashed: a retransmission.");
    }
    if any(&|a| a.lost) {
        parts.push("Dotted, ending in a cross: lost (captured, but it never arrived).");
    }
    match (
        any(&|a| a.refused),
        any(&|a| a.role == Role::Rst && !a.refused),
    ) {
        (true, _) => parts.push(
            "Thick red: a reset (RST). \u{201c}refused\u{201d}: the RST answering a SYN no \
             socket listened for (it arrived; nothing was lost).",
        ),
        (false, true) => parts.push("Thick red: a reset (RST)."),
        (false, false) => {}
    }
    parts.join(" ")
}

/// Sending and arrival time of every row, in ns, from its capture time
/// and the one-way delays on either side of the capture point, then moved
/// only later, never earlier, until they agree with what the capture
/// proves:
///
/// * an endpoint sends its segments in the order the capture saw them, and
///   they arrive in that order (a path does not reorder in the model; a
///   lost segment does not arrive at all);
/// * a segment that acknowledges data or a SYN or FIN is sent after that
///   arrived (on one host the delay is mostly processing, not the path, so
///   the estimate alone can say otherwise);
/// * a SYN or FIN that a later segment of the peer does not acknowledge had
///   not arrived when that segment left: those two crossed in flight.
///
/// So cause stays above effect, each lifeline keeps its order, and arrows
/// cross only when they crossed.
fn estimated_times(l: &Ladder, one_way: i64, share: f64) -> Vec<(i64, i64)> {
    let mut times: Vec<(i64, i64)> = Vec::with_capacity(l.rows.len());
    // Per side: rows sent by it that the peer has not acknowledged yet.
    let mut unacked: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    // Per side: its last sending time, and the rows it sent that arrive,
    // in order.
    let mut last_send: [Option<i64>; 2] = [None, None];
    let mut arriving: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    for (k, r) in l.rows.iter().enumerate() {
        let side = r.from.index();
        let before = match r.from {
            Side::Client => (share * one_way as f64) as i64,
            Side::Server => ((1.0 - share) * one_way as f64) as i64,
        };
        let mut send = r.time.as_nanos() - before;
        if let Some(last) = last_send[side] {
            send = send.max(last + 1);
        }
        if let Some(ack) = r.ack {
            let peer = (!r.from).index();
            let mut answered = Vec::new();
            unacked[peer].retain(|&x| {
                let covered = l.rows[x].end.le(ack);
                if covered {
                    answered.push(x);
                }
                !covered
            });
            for x in answered {
                send = send.max(times[x].1 + 1);
            }
            // A SYN or FIN this segment does not acknowledge had not
            // arrived when it left: those arrows cross it. (Data may have
            // arrived out of order and been SACKed; only control segments
            // are certain, and a FIN only when everything before it is
            // acknowledged: behind a gap it may have arrived and waited.)
            // What the peer sent after it arrives later still.
            let late: Vec<usize> = unacked[peer]
                .iter()
                .copied()
                .filter(|&x| not_arrived_before(&l.rows[x], ack))
                .collect();
            for x in late {
                if times[x].1 <= send {
                    times[x].1 = send + 1;
                    keep_arrival_order(&mut times, &arriving[peer], x);
                }
            }
        }
        last_send[side] = Some(send);
        let mut arrive = send + one_way;
        if !r.lost {
            if let Some(&p) = arriving[side].last() {
                arrive = arrive.max(times[p].1 + 1);
            }
            arriving[side].push(k);
        }
        times.push((send, arrive));
        // A lost segment never arrives, so nothing can cross it.
        if r.end != r.seq && !r.lost {
            unacked[r.from.index()].push(k);
        }
    }
    times
}

/// Whether a segment acknowledging `ack` proves that `r` had not arrived
/// when it left: `r` is a SYN the ACK does not cover (nothing precedes a
/// SYN in its sequence space), or a FIN whose segment the ACK reaches
/// exactly (everything before it acknowledged, nothing of it: an ACK
/// inside it may come from resent copies of its data).
pub fn not_arrived_before(r: &super::Row, ack: crate::decode::SeqNumber) -> bool {
    match r.role {
        Role::Syn | Role::SynAck => !r.end.le(ack),
        Role::Fin => r.seq == ack,
        _ => false,
    }
}

/// After row `x`'s arrival moved later: the rows its sender sent after it
/// (`arriving`, in order) arrive after it still.
fn keep_arrival_order(times: &mut [(i64, i64)], arriving: &[usize], x: usize) {
    let Ok(at) = arriving.binary_search(&x) else {
        return;
    };
    let mut prev = times[x].1;
    for &y in &arriving[at + 1..] {
        if times[y].1 > prev {
            // Those after it were in order already.
            break;
        }
        times[y].1 = prev + 1;
        prev = times[y].1;
    }
}

/// Sub-nanosecond steps of the layout's event times (see `call_times`).
const SUB: i64 = 16;

/// A time in ns as 1/SUB ns since the ladder's start (from the start, so
/// Unix times do not overflow).
fn fine(l: &Ladder, ns: i64) -> i64 {
    ns.saturating_sub(l.start.as_nanos()).saturating_mul(SUB)
}

/// Entry and return of every call, in 1/SUB ns, on the time axis of the estimated
/// sending and arrival times: the endpoint's own clock, kept inside the gap
/// the model placed it in (after its row's send or arrival on its lifeline,
/// before the next row's), as the estimates here split the round trip
/// otherwise than the calls model does. Calls sharing a gap stay apart and
/// in order, a nanosecond at least, so each gets a step of its own.
fn call_times(l: &Ladder, times: &[(i64, i64)]) -> Vec<(i64, i64)> {
    // When the row at position p touched `side`'s lifeline.
    let at_side = |p: usize, side: Side| {
        let (send, arrive) = times[p];
        fine(l, if l.rows[p].from == side { send } else { arrive })
    };
    let pos = |a: Option<usize>| a.and_then(|a| l.rows.iter().position(|r| r.index == a));
    let bounds = |after: Option<usize>, side: Side| {
        let p = pos(after);
        let lo = p.map_or(i64::MIN / 2, |p| at_side(p, side) + 1);
        let next = p.map_or(0, |p| p + 1);
        // The next row touching this lifeline after it.
        let hi = (next..l.rows.len())
            .map(|q| at_side(q, side))
            .filter(|&t| t >= lo)
            .min()
            .map_or(i64::MAX / 2, |t| t - 1);
        (lo, hi)
    };
    let mut out = vec![(0, 0); l.calls.len()];
    let mut last: [Option<(Option<usize>, i64)>; 2] = [None, None];
    for (k, c) in l.calls.iter().enumerate() {
        let side = c.side;
        let (lo, hi) = bounds(c.after_row, side);
        // Later calls of this side in the same gap need room below.
        let later = l.calls[k + 1..]
            .iter()
            .filter(|o| o.side == side && o.after_row == c.after_row)
            .count() as i64;
        let mut back = fine(l, c.returned.as_nanos()).clamp(lo, (hi - later).max(lo));
        if let Some((gap, t)) = last[side.index()]
            && gap == c.after_row
        {
            back = back.max(t + 1);
        }
        last[side.index()] = Some((c.after_row, back));
        let entry = if c.blocked {
            let (elo, _) = bounds(c.entered_after, side);
            fine(l, c.entered.as_nanos()).max(elo).min(back - 1)
        } else {
            back
        };
        out[k] = (entry, back);
    }
    out
}

/// Writes `state` on `side`'s lifeline at `y`: in the box already there
/// (one state after the other, as changes at one moment read), or in a
/// new one.
fn add_box(boxes: &mut Vec<StateBox>, side: Side, y: f64, state: State) {
    if let Some(b) = boxes.iter_mut().rev().find(|b| b.side == side && b.y == y) {
        b.text.push_str(" → ");
        b.text.push_str(state.name());
        b.state = state;
    } else {
        boxes.push(StateBox {
            side,
            y,
            text: state.name().to_string(),
            state,
        });
    }
}

/// Lays out a ladder. `placement` comes from the whole connection (a cut
/// may not contain the handshake).
pub fn layout(l: &Ladder, placement: &Placement, flat: bool, title: Option<&str>) -> Diagram {
    let flat = flat || placement.rtt.is_none();
    let one_way = placement.rtt.map_or(0, |r| r.as_nanos() / 2);
    let share = placement.from_client;
    let times = if flat {
        l.rows
            .iter()
            .map(|r| (r.time.as_nanos(), r.time.as_nanos()))
            .collect()
    } else {
        estimated_times(l, one_way, share)
    };
    // Send and arrival of each ICMP error. A router's error is captured on
    // its way back, so it is taken as sent at capture time and arriving
    // after the rest of the way to its endpoint; the peer host's error
    // travels like a segment from the peer.
    let dist = |side: Side| match side {
        Side::Client => (share * one_way as f64) as i64,
        Side::Server => ((1.0 - share) * one_way as f64) as i64,
    };
    // An endpoint's next segment after an error may be its answer to it (a
    // resend at the smaller MTU): the error is taken as arrived before
    // that segment left, as a reply is never sent before its cause arrived.
    let icmp_times: Vec<(i64, i64)> = l
        .icmp
        .iter()
        .map(|i| {
            let t = i.time.as_nanos();
            if flat {
                return (t, t);
            }
            let (send, arrive) = if i.from_peer {
                let send = t - dist(!i.to);
                (send, send + one_way)
            } else {
                (t, t + dist(i.to))
            };
            let next_send = l
                .rows
                .iter()
                .zip(&times)
                .find(|(r, _)| r.from == i.to && i.after_row.is_none_or(|a| r.index > a))
                .map(|(_, &(s, _))| s);
            match next_send {
                Some(n) if n > send => (send, arrive.min(n - 1)),
                _ => (send, arrive),
            }
        })
        .collect();
    let call_times = call_times(l, &times);
    // (time, order, line, is arrival); the order is the line's position in
    // capture order, so ties keep it.
    let mut events: Vec<(i64, usize, Line, bool)> = Vec::with_capacity(l.line_count() * 2);
    let mut line_y: Vec<(Line, f64)> = Vec::with_capacity(l.line_count());
    for (n, line) in l.lines().enumerate() {
        // In steps of 1/SUB ns, so a call fits between a segment's arrival
        // and the reply sent a nanosecond later. A call's "send" is its
        // entry and its "arrival" its return; only a blocked call gets a
        // step for its entry.
        let (send, arrive) = match line {
            Line::Segment(k) => (fine(l, times[k].0), fine(l, times[k].1)),
            Line::Icmp(k) => (fine(l, icmp_times[k].0), fine(l, icmp_times[k].1)),
            Line::Call(k) => call_times[k],
        };
        events.push((send, 2 * n, line, false));
        events.push((arrive, 2 * n + 1, line, true));
        line_y.push((line, (n + 1) as f64));
    }
    let mut ys = vec![(0.0, 0.0); l.rows.len()];
    let mut icmp_ys = vec![(0.0, 0.0); l.icmp.len()];
    let mut call_ys = vec![(0.0, 0.0); l.calls.len()];
    if flat {
        for &(line, y) in &line_y {
            match line {
                Line::Segment(k) => ys[k] = (y, y),
                Line::Icmp(k) => icmp_ys[k] = (y, y),
                Line::Call(k) => call_ys[k] = (y, y),
            }
        }
        // A bar starts just above the first line it covers (line n is at
        // step n + 1).
        for (k, y) in call_ys.iter_mut().enumerate() {
            let from = l.bar_lines(k).start as f64 + 0.5;
            y.0 = from.min(y.1);
        }
    } else {
        events.sort_by_key(|e| (e.0, e.1));
        let mut y = 0.0;
        let mut last_t = None;
        for &(t, _, line, arrival) in &events {
            if last_t != Some(t) {
                y += 1.0;
                last_t = Some(t);
            }
            let entry = match line {
                Line::Segment(k) => &mut ys[k],
                Line::Icmp(k) => &mut icmp_ys[k],
                Line::Call(k) => &mut call_ys[k],
            };
            if arrival {
                entry.1 = y;
            } else {
                entry.0 = y;
            }
        }
    }
    let arrows: Vec<Arrow> = l
        .rows
        .iter()
        .zip(&ys)
        .zip(&times)
        .map(|((r, &(y0, y1)), &(sent, arrives))| Arrow {
            index: r.index,
            from: r.from,
            y_send: y0,
            y_arrive: y1.max(y0),
            label: r.label.to_string(),
            role: r.role,
            retransmission: r.retransmission,
            lost: r.lost,
            refused: r.refused,
            sent: sent - l.start.as_nanos(),
            arrives: arrives - l.start.as_nanos(),
            time_ms: r.offset.as_millis_f64(),
        })
        .collect();
    let icmp: Vec<IcmpArrow> = l
        .icmp
        .iter()
        .zip(&icmp_ys)
        .map(|(i, &(y0, y1))| {
            let x_from = match (i.from_peer, i.to) {
                (true, Side::Client) => 1.0,
                (true, Side::Server) => 0.0,
                (false, Side::Client) => ROUTER_AT,
                (false, Side::Server) => 1.0 - ROUTER_AT,
            };
            let what = match i.quoted {
                Some(role) => format!("{} seq={}", role.name(), i.quoted_seq),
                None => format!("seq={}", i.quoted_seq),
            };
            IcmpArrow {
                index: i.index,
                to: i.to,
                from_peer: i.from_peer,
                x_from,
                y_send: y0,
                y_arrive: y1.max(y0),
                label: format!("ICMP {} (quoting {what})", i.meaning),
                sender: i.sender(),
                effect: match (i.closed, i.errno) {
                    (true, Some(e)) => format!("connect() fails: {e}"),
                    (true, None) => "connection closed".to_string(),
                    (false, _) => "soft error: nothing changes".to_string(),
                },
                time_ms: i.offset.as_millis_f64(),
            }
        })
        .collect();
    let calls: Vec<CallMark> = l
        .calls
        .iter()
        .zip(&call_ys)
        .map(|(c, &(y0, y))| CallMark {
            index: c.index,
            side: c.side,
            y,
            y_entered: c.blocked.then_some(y0.min(y)),
            label: c.label.clone(),
            head: c.head,
            time_ms: c.offset.as_millis_f64(),
        })
        .collect();
    let bottom = arrows
        .iter()
        .map(|a| a.y_arrive.max(a.y_send))
        .chain(icmp.iter().map(|a| a.y_arrive))
        .chain(calls.iter().map(|c| c.y))
        .fold(0.0, f64::max);
    let mut boxes = Vec::new();
    for side in Side::BOTH {
        boxes.push(StateBox {
            side,
            y: 0.0,
            text: l.initial[side.index()].name().to_string(),
            state: l.initial[side.index()],
        });
    }
    for (r, a) in l.rows.iter().zip(&arrows) {
        for side in Side::BOTH {
            for m in &r.marks[side.index()] {
                // The sender changes as it sends, the receiver where the
                // segment that caused it arrives (which can be an arrow
                // that crossed this row's): each change where it happened.
                let cause = arrows.iter().find(|c| c.index == m.cause_row);
                let y = match (m.cause, cause) {
                    (Cause::Received, Some(c)) if c.from != side => c.y_arrive,
                    _ if r.from == side => a.y_send,
                    _ => a.y_arrive,
                };
                add_box(&mut boxes, side, y, m.state);
            }
        }
    }
    // The CLOSED an ICMP error caused, where it arrives.
    for (i, a) in l.icmp.iter().zip(&icmp) {
        for side in Side::BOTH {
            for m in &i.marks[side.index()] {
                add_box(&mut boxes, side, a.y_arrive, m.state);
            }
        }
    }
    let end_y = bottom + 1.5;
    // A bracket is tall enough for its label.
    let end_y = l
        .time_waits
        .iter()
        .filter_map(|tw| {
            boxes
                .iter()
                .rev()
                .find(|b| b.side == tw.side && b.state == State::TimeWait)
                .map(|b| b.y + 5.0)
        })
        .fold(end_y, f64::max);
    let mut brackets = Vec::new();
    for tw in &l.time_waits {
        let y0 = boxes
            .iter()
            .rev()
            .find(|b| b.side == tw.side && b.state == State::TimeWait)
            .map_or(bottom, |b| b.y);
        let end = tw.end_text(l.start);
        brackets.push(Bracket {
            side: tw.side,
            y0,
            y1: end_y,
            label: format!("TIME-WAIT 2MSL = {}", tw.length),
            end,
        });
        if tw.ran_out || tw.ended_early {
            boxes.push(StateBox {
                side: tw.side,
                y: end_y,
                text: "CLOSED".to_string(),
                state: State::Closed,
            });
        }
    }
    let legend = legend(&arrows);
    Diagram {
        title: title.map_or_else(
            || {
                format!(
                    "Connection {}: client {} → server {}",
                    l.number, l.client, l.server
                )
            },
            str::to_owned,
        ),
        verdict: l.verdict.clone(),
        addrs: [l.client.to_string(), l.server.to_string()],
        arrows,
        icmp,
        calls,
        boxes,
        brackets,
        height: if l.time_waits.is_empty() {
            bottom + 1.0
        } else {
            end_y + 1.0
        },
        legend,
        footnote: placement.footnote(flat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Flags, Segment};
    use crate::ladder::LabelStyle;
    use crate::time::Timestamp;
    use crate::track::{TrackConfig, Tracker};

    /// A handshake captured at `us` microseconds, client 10.0.0.1.
    fn ladder(script: &[(bool, u16, u32, u32, i64)]) -> Ladder {
        let mut t = Tracker::new(TrackConfig::default());
        let c = "10.0.0.1:40000".parse().unwrap();
        let s = "10.0.0.2:80".parse().unwrap();
        for &(from_client, flags, seq, ack, us) in script {
            let (src, dst) = if from_client { (c, s) } else { (s, c) };
            let seg = Segment::new(src, dst, Flags(flags), seq, ack, 0);
            t.push(&seg, Timestamp::from_nanos(us * 1000), 0);
        }
        let conn = t.finish(Timestamp::from_nanos(0)).remove(0);
        Ladder::build(&conn, Span::from_secs(30), LabelStyle::default())
    }

    #[test]
    fn a_capture_next_to_the_client_sees_the_whole_round_trip_before_the_syn_ack() {
        let l = ladder(&[
            (true, 0x02, 1, 0, 0),
            (false, 0x12, 9, 2, 10_000),
            (true, 0x10, 2, 10, 10_050),
        ]);
        let p = Placement::estimate(&l);
        assert_eq!(p.point, CapturePoint::NearClient);
        assert_eq!(p.rtt, Some(Span::from_nanos(10_050_000)));
        let far = ladder(&[
            (true, 0x02, 1, 0, 0),
            (false, 0x12, 9, 2, 40),
            (true, 0x10, 2, 10, 10_040),
        ]);
        assert_eq!(Placement::estimate(&far).point, CapturePoint::NearServer);
    }

    #[test]
    fn arrows_slant_downwards_and_replies_start_after_arrival() {
        let l = ladder(&[
            (true, 0x02, 1, 0, 0),
            (false, 0x12, 9, 2, 10_000),
            (true, 0x10, 2, 10, 10_050),
        ]);
        let d = layout(&l, &Placement::estimate(&l), false, None);
        for a in &d.arrows {
            assert!(a.y_arrive > a.y_send, "{a:?}");
        }
        // The SYN,ACK leaves the server after the SYN arrived there.
        assert!(d.arrows[1].y_send >= d.arrows[0].y_arrive);
        assert!(d.footnote.starts_with("Captured near the client"));
        let flat = layout(&l, &Placement::estimate(&l), true, None);
        assert!(flat.arrows.iter().all(|a| a.y_send == a.y_arrive));
    }

    #[test]
    fn a_fin_is_never_sent_above_its_senders_earlier_ack() {
        // Captured near the client; the server answers faster than the
        // estimate says, so its ACK of the client's FIN must wait for the
        // FIN's estimated arrival, and its FIN, captured just after, after
        // that ACK.
        let l = ladder(&[
            (true, 0x02, 1, 0, 0),
            (false, 0x12, 9, 2, 10_000),
            (true, 0x10, 2, 10, 10_050),
            (true, 0x11, 2, 10, 20_000),
            (false, 0x10, 10, 3, 24_000),
            (false, 0x11, 10, 3, 24_500),
            (true, 0x10, 3, 11, 24_600),
        ]);
        let d = layout(&l, &Placement::estimate(&l), false, None);
        let a = &d.arrows;
        assert!(
            a[4].y_send > a[3].y_arrive,
            "the ACK after the FIN it answers"
        );
        assert!(a[5].y_send > a[4].y_send, "{:?} above {:?}", a[5], a[4]);
        assert!(a[5].y_arrive > a[4].y_arrive, "arriving in order too");
        for side in Side::BOTH {
            let sent: Vec<f64> = a
                .iter()
                .filter(|x| x.from == side)
                .map(|x| x.y_send)
                .collect();
            assert!(sent.windows(2).all(|w| w[0] <= w[1]), "{side:?}: {sent:?}");
        }
    }

    #[test]
    fn each_state_change_sits_where_it_happened() {
        // Simultaneous open: the server's SYN-SENT where its SYN leaves,
        // its SYN-RECEIVED where the client's SYN arrives, in boxes of
        // their own (not both where the last change happened).
        let l = ladder(&[
            (true, 0x02, 1, 0, 0),
            (false, 0x02, 9, 0, 10),
            (false, 0x12, 9, 2, 20),
            (true, 0x12, 1, 10, 30),
        ]);
        let d = layout(&l, &Placement::estimate(&l), true, None);
        let server = |st: State| {
            d.boxes
                .iter()
                .find(|b| b.side == Side::Server && b.state == st)
                .map(|b| (b.y, b.text.clone()))
        };
        let syn = d.arrows.iter().find(|a| a.from == Side::Server).unwrap();
        assert_eq!(
            server(State::SynSent),
            Some((syn.y_send, "SYN-SENT".into()))
        );
        assert_eq!(
            server(State::SynReceived),
            Some((d.arrows[0].y_arrive, "SYN-RECEIVED".into()))
        );
    }

    #[test]
    fn states_sit_at_the_sending_and_receiving_ends() {
        let l = ladder(&[
            (true, 0x02, 1, 0, 0),
            (false, 0x12, 9, 2, 10_000),
            (true, 0x10, 2, 10, 10_050),
        ]);
        let d = layout(&l, &Placement::estimate(&l), false, None);
        let y_of = |side: Side, st: State| {
            d.boxes
                .iter()
                .find(|b| b.side == side && b.state == st)
                .map(|b| b.y)
                .unwrap()
        };
        assert_eq!(y_of(Side::Client, State::SynSent), d.arrows[0].y_send);
        assert_eq!(y_of(Side::Server, State::SynReceived), d.arrows[0].y_arrive);
        assert_eq!(y_of(Side::Client, State::Established), d.arrows[1].y_arrive);
    }
}
