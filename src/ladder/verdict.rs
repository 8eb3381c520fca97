//! The one-line verdict on a connection: how it opened, how it ended, and
//! what a reader should look at.

use crate::time::{Span, Timestamp};
use crate::track::{Cause, Closer, Closing, Connection, Opening, Side, State};

/// "refused: the server answered the SYN with RST", or a summary such as
/// "three-way handshake; the client closed first (four-way close); client
/// in TIME-WAIT until +60.0 s".
pub fn verdict(c: &Connection) -> String {
    let opening = c.opening();
    match opening {
        Opening::Refused => {
            let tries = c.syn_times(Side::Client).len();
            let mut s = "refused: the server answered the SYN with RST".to_string();
            if tries > 1 {
                s.push_str(&format!(" (SYN sent {tries} times)"));
            }
            return s;
        }
        Opening::Unreachable => {
            let mut s = String::from("unreachable: ");
            if let Some(i) = c.icmp.iter().find(|i| i.closed) {
                s.push_str(&format!(
                    "ICMP {} from {} answered the SYN; connect() fails with {}",
                    i.meaning,
                    i.from,
                    i.errno.unwrap_or("an error")
                ));
            }
            return s;
        }
        Opening::Unanswered => {
            let times = c.syn_times(Side::Client);
            let mut s = if times.len() > 1 {
                format!(
                    "unanswered: SYN sent {} times (retries after {}), no reply",
                    times.len(),
                    intervals(times)
                )
            } else {
                "unanswered: one SYN, no reply".to_string()
            };
            match (c.first_rst(), gave_up(c, Side::Client)) {
                (Some((Side::Client, _)), _) => s.push_str("; the client gave up with RST"),
                (_, Some(t)) => s.push_str(&format!(
                    "; connect() gives up at about {} with ETIMEDOUT (estimated from the SYN \
                     backoff and tcp_syn_retries; nothing on the wire shows it)",
                    format_offset(t - c.first_ts)
                )),
                _ => match c.syn_give_up_estimate() {
                    Some((t, retries)) => s.push_str(&format!(
                        "; the client is still in SYN-SENT when the capture ends: if nothing \
                         answers, connect() gives up at about {} with ETIMEDOUT (estimated: \
                         tcp_syn_retries {retries}, --syn-retries)",
                        format_offset(t - c.first_ts)
                    )),
                    None => s.push_str(&format!("; the client is in {}", c.state(Side::Client))),
                },
            }
            return s;
        }
        _ => {}
    }
    let mut parts: Vec<String> = Vec::new();
    parts.push(
        match opening {
            Opening::ThreeWay if c.sent_bare_syn(Side::Client) => "three-way handshake",
            Opening::ThreeWay => "three-way handshake (the client's SYN was not captured)",
            Opening::Simultaneous => "simultaneous open (the SYNs crossed)",
            _ => "capture starts mid-connection",
        }
        .to_string(),
    );
    if opening != Opening::MidStream && c.state(Side::Server) == State::SynReceived {
        parts.push("the handshake's final ACK never showed".into());
    }
    let synack_tries = c.syn_times(Side::Server).len();
    if c.syn_times(Side::Client).len() > 1 || synack_tries > 1 {
        let who = if c.syn_times(Side::Client).len() > 1 {
            Side::Client
        } else {
            Side::Server
        };
        let t = c.syn_times(who);
        parts.push(format!(
            "{who}'s SYN sent {} times (retries after {})",
            t.len(),
            intervals(t)
        ));
    }
    let (closing, closer) = c.closing();
    match (closing, closer) {
        (Closing::Fin, Some(Closer::One(side))) => {
            let how = match three_segment(c, side) {
                Some(true) => " (the FIN carried the ACK of the first: three-segment close)",
                Some(false) => " (four-way close)",
                None => "",
            };
            parts.push(format!("the {side} closed first{how}"));
        }
        (Closing::Simultaneous, _) => parts.push("simultaneous close (the FINs crossed)".into()),
        (Closing::Reset, Some(Closer::One(side))) => {
            let state = c
                .first_rst()
                .map(|(_, st)| st)
                .unwrap_or(State::Established);
            let mut s = format!("reset by the {side} in {state}");
            if matches!(state, State::Established | State::CloseWait)
                && c.fin_times(side).is_empty()
                && c.no_connection_rst() != Some(side)
            {
                s.push_str(
                    " instead of a FIN (abortive close: SO_LINGER 0, or close() with unread data)",
                );
            }
            parts.push(s);
        }
        _ => {
            let states = format!("{} / {}", c.state(Side::Client), c.state(Side::Server));
            parts.push(format!("still open at the end of the capture ({states})"));
        }
    }
    if let Some((side, bytes)) = c.half_close() {
        parts.push(format!(
            "half-close: the {side} sent {bytes} bytes after the {}'s FIN",
            !side
        ));
    }
    for side in Side::BOTH {
        let fins = c.fin_times(side);
        if fins.len() > 1 {
            let why = if c.ack_lost() == Some(!side) {
                format!(" (the first arrived: the {}'s ACK of it was lost)", !side)
            } else {
                String::new()
            };
            parts.push(format!(
                "{side}'s FIN sent {} times (retries after {}){why}",
                fins.len(),
                intervals(fins)
            ));
        }
    }
    for side in Side::BOTH {
        if let Some(tw) = c.time_wait[side.index()] {
            let rel = |t: Timestamp| format_offset(t - c.first_ts);
            parts.push(if tw.ended_early {
                format!(
                    "{side}'s TIME-WAIT ended early at {} by a new connection on the same ports",
                    rel(tw.expires)
                )
            } else if c.state(side) == State::Closed {
                format!("{side}'s TIME-WAIT ran out at {}", rel(tw.expires))
            } else {
                format!("{side} in TIME-WAIT until {}", rel(tw.expires))
            });
        }
    }
    for side in Side::BOTH {
        let Some(m) = c
            .marks
            .iter()
            .rfind(|m| m.side == side && m.cause == Cause::Estimated)
        else {
            continue;
        };
        let what = match m.from {
            State::FinWait1 | State::Closing | State::LastAck => "its FIN",
            _ => "its data (ETIMEDOUT)",
        };
        parts.push(format!(
            "the {side} gives up resending {what} at about {} and drops the connection \
             (estimated from the backoff and Linux's retry limits; nothing on the wire shows it)",
            format_offset(m.time - c.first_ts)
        ));
    }
    if let Some(side) = c.no_connection_rst() {
        parts.push(format!(
            "the {side}'s bare RST (no ACK flag, the number it answers) says it had no such \
             connection: a full accept queue with tcp_abort_on_overflow, an expired request, \
             or a connection it had already dropped"
        ));
    }
    for i in c.icmp.iter().filter(|i| !i.closed) {
        parts.push(format!(
            "ICMP {} from {} to the {} (a soft error: nothing changes)",
            i.meaning, i.from, i.to
        ));
    }
    let data_retx = c.data_retransmissions;
    if data_retx > 0 {
        parts.push(format!("{data_retx} data retransmission(s)"));
    }
    parts.join("; ")
}

/// When `side` ran out of retries, as the tracker estimated it.
fn gave_up(c: &Connection, side: Side) -> Option<Timestamp> {
    c.marks
        .iter()
        .rfind(|m| m.side == side && m.cause == Cause::Estimated)
        .map(|m| m.time)
}

/// Whether the peer's FIN acknowledged `closer`'s FIN (three segments) or
/// a separate ACK came first (four). None when segments were not kept.
fn three_segment(c: &Connection, closer: Side) -> Option<bool> {
    let fin = c
        .segments
        .iter()
        .find(|s| s.from == closer && s.flags.fin())?;
    let fin_end = fin.seq.plus(fin.len + 1);
    let reply = c
        .segments
        .iter()
        .find(|s| s.from == !closer && s.flags.ack() && fin_end.le(s.ack))?;
    Some(reply.flags.fin())
}

/// "1 s, 2 s, 4 s": the gaps between successive transmissions.
fn intervals(times: &[Timestamp]) -> String {
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// "+60.0 s" relative to the connection's first segment.
pub fn format_offset(span: Span) -> String {
    // A capture whose timestamps go backwards gives a negative one.
    let secs = span.as_secs_f64();
    if secs < 0.0 {
        format!("-{:.3} s", -secs)
    } else {
        format!("+{secs:.3} s")
    }
}

#[cfg(test)]
mod offset_tests {
    use super::*;

    #[test]
    fn offsets_have_one_sign() {
        assert_eq!(format_offset(Span::from_secs_f64(1.5)), "+1.500 s");
        assert_eq!(format_offset(Span::from_secs_f64(-1.5)), "-1.500 s");
    }
}
