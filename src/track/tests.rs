//! State-machine tests, grouped by the state the connection is in, with a
//! constructor per state (the smoltcp way). Client 10.0.0.1:40000 (ISN
//! 1000), server 10.0.0.2:9502 (ISN 5000); one millisecond per segment.

use super::*;
use crate::decode::{Flags, SeqNumber};
use State::{
    CloseWait, Closed, Established, FinWait1, FinWait2, LastAck, Listen, SynReceived, SynSent,
    TimeWait,
};
use std::net::SocketAddr;

const C_ISN: u32 = 1000;
/// How far each endpoint is from the capture point, as the handshake shows
/// it: the SYN,ACK comes 1 ms after the SYN and the ACK 1 ms after that.
const AWAY: Span = Span::from_nanos(500_000);
const S_ISN: u32 = 5000;

fn client() -> SocketAddr {
    "10.0.0.1:40000".parse().unwrap()
}
fn server() -> SocketAddr {
    "10.0.0.2:9502".parse().unwrap()
}

fn flags(s: &str) -> Flags {
    s.split(',').fold(Flags(0), |f, n| {
        f | match n {
            "SYN" => Flags::SYN,
            "ACK" => Flags::ACK,
            "FIN" => Flags::FIN,
            "RST" => Flags::RST,
            "PSH" => Flags::PSH,
            other => panic!("flag {other}"),
        }
    })
}

fn segment(from: Side, f: &str, seq: u32, ack: u32, len: u32) -> Segment {
    let (src, dst) = match from {
        Side::Client => (client(), server()),
        Side::Server => (server(), client()),
    };
    Segment::new(src, dst, flags(f), seq, ack, len)
}

/// A tracker driven one segment at a time.
struct Script {
    tracker: Tracker,
    ms: i64,
    /// Options for the next segment only.
    options: Option<crate::decode::TcpOptions>,
}

impl Script {
    fn new() -> Script {
        Script::with(TrackConfig::default())
    }
    fn with(cfg: TrackConfig) -> Script {
        Script {
            tracker: Tracker::new(cfg),
            ms: 0,
            options: None,
        }
    }
    /// The next segment carries these TCP timestamps and SACK block.
    fn opts(&mut self, tsval: u32, tsecr: u32, sack: Option<(u32, u32)>) -> &mut Script {
        self.options = Some(crate::decode::TcpOptions {
            timestamps: Some((tsval, tsecr)),
            first_sack: sack.map(|(l, r)| (SeqNumber(l), SeqNumber(r))),
            sack_blocks: u8::from(sack.is_some()),
            ..Default::default()
        });
        self
    }
    fn at(&mut self, ms: i64) -> &mut Script {
        self.ms = ms;
        self
    }
    fn c(&mut self, f: &str, seq: u32, ack: u32, len: u32) -> &mut Script {
        self.send(Side::Client, f, seq, ack, len)
    }
    fn s(&mut self, f: &str, seq: u32, ack: u32, len: u32) -> &mut Script {
        self.send(Side::Server, f, seq, ack, len)
    }
    fn send(&mut self, from: Side, f: &str, seq: u32, ack: u32, len: u32) -> &mut Script {
        let mut seg = segment(from, f, seq, ack, len);
        seg.options = self.options.take().unwrap_or_default();
        let ts = Timestamp::from_nanos(self.ms * 1_000_000);
        self.tracker.push(&seg, ts, self.ms as u64);
        self.ms += 1;
        self
    }
    fn conn(&self) -> &Connection {
        let mut v: Vec<&Connection> = self.tracker.active().collect();
        v.sort_by_key(|c| c.id);
        v.last().expect("a connection")
    }
    fn states(&self, side: Side) -> Vec<State> {
        self.conn().states(side)
    }
    fn state(&self, side: Side) -> State {
        self.conn().state(side)
    }
    fn mark_row(&self, side: Side, to: State) -> usize {
        self.conn()
            .marks
            .iter()
            .find(|m| m.side == side && m.to == to)
            .unwrap_or_else(|| panic!("no {side} mark to {to}"))
            .row
    }
    fn finish(self) -> Vec<Connection> {
        let end = Timestamp::from_nanos(self.ms * 1_000_000);
        self.tracker.finish(end)
    }
}

fn syn_sent() -> Script {
    let mut s = Script::new();
    s.c("SYN", C_ISN, 0, 0);
    s
}

fn syn_received() -> Script {
    let mut s = syn_sent();
    s.s("SYN,ACK", S_ISN, C_ISN + 1, 0);
    s
}

fn established() -> Script {
    let mut s = syn_received();
    s.c("ACK", C_ISN + 1, S_ISN + 1, 0);
    s
}

/// Established, then the client sent 10 bytes and the server 20, all acked.
fn established_with_data() -> Script {
    let mut s = established();
    s.c("PSH,ACK", C_ISN + 1, S_ISN + 1, 10)
        .s("PSH,ACK", S_ISN + 1, C_ISN + 11, 20)
        .c("ACK", C_ISN + 11, S_ISN + 21, 0);
    s
}

const C_FIN: u32 = C_ISN + 11;
const S_FIN: u32 = S_ISN + 21;

fn fin_wait_1() -> Script {
    let mut s = established_with_data();
    s.c("FIN,ACK", C_FIN, S_ISN + 21, 0);
    s
}

fn fin_wait_2() -> Script {
    let mut s = fin_wait_1();
    s.s("ACK", S_FIN, C_FIN + 1, 0);
    s
}

fn last_ack() -> Script {
    let mut s = fin_wait_2();
    s.s("FIN,ACK", S_FIN, C_FIN + 1, 0);
    s
}

fn time_wait() -> Script {
    let mut s = last_ack();
    s.c("ACK", C_FIN + 1, S_FIN + 1, 0);
    s
}

/// A connection the client closed, its TIME-WAIT still running: for the
/// views' tests.
pub(crate) fn client_close_connection() -> Connection {
    time_wait().conn().clone()
}

mod listen_and_syn_sent {
    use super::*;

    #[test]
    fn syn_moves_the_client_to_syn_sent_and_assumes_a_listener() {
        let s = syn_sent();
        assert_eq!(s.states(Side::Client), vec![Closed, SynSent]);
        assert_eq!(s.states(Side::Server), vec![Listen]);
        assert_eq!(s.conn().opening(), Opening::Unanswered);
    }

    #[test]
    fn rst_ack_refuses_and_the_port_was_closed() {
        let mut s = syn_sent();
        s.s("RST,ACK", 0, C_ISN + 1, 0);
        assert_eq!(s.states(Side::Client), vec![Closed, SynSent, Closed]);
        assert_eq!(s.states(Side::Server), vec![Closed]);
        assert_eq!(s.conn().opening(), Opening::Refused);
        assert_eq!(
            s.conn().closing(),
            (Closing::Reset, Some(Closer::One(Side::Server)))
        );
    }

    #[test]
    fn rst_that_does_not_ack_our_syn_is_ignored_in_syn_sent() {
        let mut s = syn_sent();
        s.s("RST,ACK", 0, C_ISN + 7, 0);
        assert_eq!(s.state(Side::Client), SynSent);
    }

    #[test]
    fn syn_retransmission_is_marked_and_changes_nothing() {
        let mut s = syn_sent();
        s.at(1000)
            .c("SYN", C_ISN, 0, 0)
            .at(3000)
            .c("SYN", C_ISN, 0, 0);
        let c = s.conn();
        assert_eq!(c.retransmissions, 2);
        assert_eq!(c.syn_times(Side::Client).len(), 3);
        assert_eq!(s.states(Side::Client), vec![Closed, SynSent]);
        let v = s.finish();
        assert!(v[0].segments[1].retransmission());
        assert!(!v[0].segments[0].retransmission());
    }

    #[test]
    fn syn_from_the_assumed_listener_is_a_simultaneous_open() {
        let mut s = syn_sent();
        s.s("SYN", S_ISN, 0, 0)
            .c("SYN,ACK", C_ISN, S_ISN + 1, 0)
            .s("SYN,ACK", S_ISN, C_ISN + 1, 0)
            .c("ACK", C_ISN + 1, S_ISN + 1, 0);
        assert_eq!(
            s.states(Side::Client),
            vec![Closed, SynSent, SynReceived, Established]
        );
        assert_eq!(
            s.states(Side::Server),
            vec![Closed, SynSent, SynReceived, Established]
        );
        assert_eq!(s.conn().opening(), Opening::Simultaneous);
    }

    #[test]
    fn the_listener_leaves_listen_on_the_syn_row() {
        let s = syn_received();
        assert_eq!(s.states(Side::Server), vec![Listen, SynReceived]);
        assert_eq!(s.mark_row(Side::Server, SynReceived), 0);
    }

    #[test]
    fn a_lost_first_syn_puts_the_arrival_on_the_retransmission() {
        let mut s = syn_sent();
        s.at(1000)
            .c("SYN", C_ISN, 0, 0)
            .s("SYN,ACK", S_ISN, C_ISN + 1, 0);
        assert_eq!(s.mark_row(Side::Server, SynReceived), 1);
    }
}

mod syn_received {
    use super::*;

    #[test]
    fn syn_ack_then_ack_establishes_both() {
        let s = established();
        assert_eq!(s.states(Side::Client), vec![Closed, SynSent, Established]);
        assert_eq!(
            s.states(Side::Server),
            vec![Listen, SynReceived, Established]
        );
        // The client's change is drawn where the SYN,ACK arrives, the
        // server's where the ACK arrives.
        assert_eq!(s.mark_row(Side::Client, Established), 1);
        assert_eq!(s.mark_row(Side::Server, Established), 2);
        assert_eq!(s.conn().opening(), Opening::ThreeWay);
    }

    #[test]
    fn client_state_waits_for_proof_that_the_syn_ack_arrived() {
        let s = syn_received();
        assert_eq!(s.state(Side::Client), SynSent);
    }

    #[test]
    fn lost_final_ack_is_undone_by_a_syn_ack_retransmission() {
        let mut s = established();
        s.at(1000).s("SYN,ACK", S_ISN, C_ISN + 1, 0);
        assert_eq!(s.state(Side::Server), SynReceived);
        s.c("ACK", C_ISN + 1, S_ISN + 1, 0);
        assert_eq!(s.state(Side::Server), Established);
        assert_eq!(s.mark_row(Side::Server, Established), 4);
    }

    #[test]
    fn handshake_starting_at_syn_ack_makes_the_receiver_the_client() {
        let mut s = Script::new();
        s.s("SYN,ACK", S_ISN, C_ISN + 1, 0)
            .c("ACK", C_ISN + 1, S_ISN + 1, 0);
        let c = s.conn();
        assert_eq!(c.client, client());
        assert_eq!(c.opening(), Opening::ThreeWay);
        assert_eq!(s.states(Side::Client), vec![SynSent, Established]);
        let v = s.finish();
        assert_eq!(v[0].segments[0].rel_ack(), Some(1));
    }
}

mod established {
    use super::*;

    #[test]
    fn data_changes_no_state() {
        let s = established_with_data();
        assert_eq!(s.state(Side::Client), Established);
        assert_eq!(s.state(Side::Server), Established);
        assert_eq!(s.conn().payload_bytes(Side::Client), 10);
        assert_eq!(s.conn().payload_bytes(Side::Server), 20);
    }

    #[test]
    fn fin_moves_the_sender_at_once_and_the_receiver_only_on_its_ack() {
        let s = fin_wait_1();
        assert_eq!(s.state(Side::Client), FinWait1);
        assert_eq!(s.state(Side::Server), Established);
    }

    #[test]
    fn rst_aborts_both() {
        let mut s = established_with_data();
        s.c("RST,ACK", C_ISN + 11, S_ISN + 21, 0);
        assert_eq!(s.state(Side::Client), Closed);
        assert_eq!(s.state(Side::Server), Closed);
        assert_eq!(
            s.conn().closing(),
            (Closing::Reset, Some(Closer::One(Side::Client)))
        );
    }

    #[test]
    fn peer_talking_after_a_rst_shows_the_rst_arrived_later() {
        let mut s = established_with_data();
        s.c("RST", C_ISN + 11, 0, 0)
            .s("PSH,ACK", S_ISN + 21, C_ISN + 11, 5);
        assert_eq!(s.state(Side::Server), Closed);
        assert_eq!(s.mark_row(Side::Server, Closed), 7);
    }

    #[test]
    fn peer_talking_long_after_a_rst_never_took_it() {
        // The RST reached the server half a second before it spoke again
        // (its distance is known from the handshake): it ignored the RST,
        // or a filter in front of it dropped it.
        let mut s = established_with_data();
        s.c("RST", C_ISN + 11, 0, 0);
        let at = s.ms + 500;
        s.at(at).s("PSH,ACK", S_ISN + 21, C_ISN + 11, 5);
        assert_eq!(s.state(Side::Server), Established);
        assert_eq!(
            s.states(Side::Server),
            vec![Listen, SynReceived, Established]
        );
    }

    #[test]
    fn relative_numbers_follow_wireshark() {
        let v = established_with_data().finish();
        let segs = &v[0].segments;
        assert_eq!((segs[0].rel_seq, segs[0].rel_ack()), (0, None));
        assert_eq!((segs[1].rel_seq, segs[1].rel_ack()), (0, Some(1)));
        assert_eq!(
            (segs[4].rel_seq, segs[4].rel_ack(), segs[4].len),
            (1, Some(11), 20)
        );
    }

    #[test]
    fn mid_stream_starts_at_one_and_picks_the_higher_port_as_client() {
        let mut s = Script::new();
        s.s("PSH,ACK", 777, 333, 50).c("ACK", 333, 827, 0);
        let v = s.finish();
        let c = &v[0];
        assert_eq!(c.opening(), Opening::MidStream);
        assert_eq!(c.client, client());
        assert_eq!(c.states(Side::Server), vec![Established]);
        assert_eq!(
            (c.segments[0].rel_seq, c.segments[0].rel_ack()),
            (1, Some(1))
        );
        assert_eq!(
            (c.segments[1].rel_seq, c.segments[1].rel_ack()),
            (1, Some(51))
        );
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Script::new();
        let isn = u32::MAX - 4;
        s.c("SYN", isn, 0, 0)
            .s("SYN,ACK", S_ISN, isn.wrapping_add(1), 0)
            .c("ACK", isn.wrapping_add(1), S_ISN + 1, 0)
            .c("PSH,ACK", isn.wrapping_add(1), S_ISN + 1, 100)
            .s("ACK", S_ISN + 1, isn.wrapping_add(101), 0)
            .c("PSH,ACK", isn.wrapping_add(101), S_ISN + 1, 100);
        let v = s.finish();
        let segs = &v[0].segments;
        assert_eq!(segs[5].rel_seq, 101);
        assert_eq!(segs[4].rel_ack(), Some(101));
        assert!(!segs[5].retransmission());
    }

    #[test]
    fn data_retransmission_is_marked_but_a_keepalive_is_not() {
        let mut s = established_with_data();
        s.c("PSH,ACK", C_ISN + 1, S_ISN + 21, 10)
            .c("ACK", C_ISN + 10, S_ISN + 21, 1);
        let v = s.finish();
        assert!(v[0].segments[6].retransmission());
        assert!(v[0].segments[7].keepalive());
        assert!(!v[0].segments[7].retransmission());
    }
}

mod fin_wait_1 {
    use super::*;

    #[test]
    fn ack_of_fin_moves_to_fin_wait_2_and_the_peer_to_close_wait() {
        let s = fin_wait_2();
        assert_eq!(s.state(Side::Client), FinWait2);
        assert_eq!(s.state(Side::Server), CloseWait);
        // CLOSE-WAIT is drawn where the FIN arrives (row 6), FIN-WAIT-2
        // where the ACK arrives (row 7).
        assert_eq!(s.mark_row(Side::Server, CloseWait), 6);
        assert_eq!(s.mark_row(Side::Client, FinWait2), 7);
    }

    #[test]
    fn fin_that_acks_our_fin_passes_through_fin_wait_2() {
        let mut s = fin_wait_1();
        s.s("FIN,ACK", S_FIN, C_FIN + 1, 0)
            .c("ACK", C_FIN + 1, S_FIN + 1, 0);
        // RFC 9293 §3.10.7.4: step five (the ACK) enters FIN-WAIT-2, step
        // eight (the FIN) then TIME-WAIT, on one row; Linux does the same.
        assert_eq!(
            s.states(Side::Client),
            vec![Closed, SynSent, Established, FinWait1, FinWait2, TimeWait]
        );
        assert_eq!(
            s.mark_row(Side::Client, FinWait2),
            s.mark_row(Side::Client, TimeWait)
        );
        assert_eq!(
            s.states(Side::Server),
            vec![Listen, SynReceived, Established, CloseWait, LastAck, Closed]
        );
        assert_eq!(
            s.conn().closing(),
            (Closing::Fin, Some(Closer::One(Side::Client)))
        );
    }

    #[test]
    fn crossing_fins_pass_through_closing_on_both_sides() {
        let mut s = established_with_data();
        s.c("FIN,ACK", C_FIN, S_FIN, 0)
            .s("FIN,ACK", S_FIN, C_FIN, 0)
            .c("ACK", C_FIN + 1, S_FIN + 1, 0)
            .s("ACK", S_FIN + 1, C_FIN + 1, 0);
        let want = |first: State| vec![first, Established, FinWait1, State::Closing, TimeWait];
        let c = s.states(Side::Client);
        let v = s.states(Side::Server);
        assert_eq!(c[1..], want(SynSent)[..]);
        assert_eq!(v[2..], want(SynReceived)[1..]);
        assert_eq!(
            s.conn().closing(),
            (Closing::Simultaneous, Some(Closer::Both))
        );
        // The server's CLOSING is drawn after its own FIN, which proved the
        // client's FIN had not arrived yet.
        assert!(s.mark_row(Side::Server, State::Closing) > s.mark_row(Side::Server, FinWait1));
        assert!(s.conn().time_wait[0].is_some() && s.conn().time_wait[1].is_some());
    }

    #[test]
    fn fin_retransmission_undoes_a_lost_ack() {
        let mut s = fin_wait_2();
        s.at(500).c("FIN,ACK", C_FIN, S_FIN, 0);
        assert_eq!(s.state(Side::Client), FinWait1);
        assert_eq!(s.conn().fin_times(Side::Client).len(), 2);
    }
}

mod close_wait {
    use super::*;

    #[test]
    fn data_after_the_peers_fin_is_a_half_close() {
        let mut s = fin_wait_2();
        s.s("PSH,ACK", S_FIN, C_FIN + 1, 100)
            .s("PSH,ACK", S_FIN + 100, C_FIN + 1, 100)
            .c("ACK", C_FIN + 1, S_FIN + 200, 0);
        assert_eq!(s.conn().half_close(), Some((Side::Server, 200)));
        assert_eq!(s.state(Side::Client), FinWait2);
    }

    #[test]
    fn fin_from_close_wait_is_last_ack() {
        let s = last_ack();
        assert_eq!(s.state(Side::Server), LastAck);
    }
}

mod last_ack {
    use super::*;

    #[test]
    fn final_ack_closes_the_server_and_the_client_waits() {
        let s = time_wait();
        assert_eq!(s.state(Side::Server), Closed);
        assert_eq!(s.state(Side::Client), TimeWait);
        let tw = s.conn().time_wait[0].expect("client TIME-WAIT");
        assert_eq!((tw.expires - tw.entered), Span::from_secs(60));
        // TIME-WAIT is entered when the server's FIN arrives (row 8).
        assert_eq!(s.mark_row(Side::Client, TimeWait), 8);
        // It arrived half a round trip after the capture saw it leave.
        assert_eq!(tw.entered, Timestamp::from_nanos(8_000_000) + AWAY);
    }

    #[test]
    fn lost_final_ack_shows_in_a_fin_retransmission() {
        let mut s = time_wait();
        s.at(200).s("FIN,ACK", S_FIN, C_FIN + 1, 0);
        assert_eq!(s.state(Side::Server), LastAck);
        s.c("ACK", C_FIN + 1, S_FIN + 1, 0);
        assert_eq!(s.state(Side::Server), Closed);
        // The retransmitted FIN restarted the client's 2MSL timer.
        let tw = s.conn().time_wait[0].unwrap();
        assert_eq!(
            tw.expires,
            Timestamp::from_nanos(200_000_000) + AWAY + Span::from_secs(60)
        );
    }
}

mod time_wait {
    use super::*;

    #[test]
    fn expires_after_two_msl() {
        let s = time_wait();
        s.tracker
            .finish(Timestamp::from_nanos(0) + Span::from_secs(61));
        let mut s2 = time_wait();
        s2.at(61_000);
        let v = s2.finish();
        assert_eq!(
            v[0].states(Side::Client),
            vec![
                Closed,
                SynSent,
                Established,
                FinWait1,
                FinWait2,
                TimeWait,
                Closed
            ]
        );
        let last = v[0].marks.last().unwrap();
        assert_eq!(last.cause, Cause::Timer);
        assert_eq!(
            last.time,
            Timestamp::from_nanos(8_000_000) + AWAY + Span::from_secs(60)
        );
    }

    #[test]
    fn still_waiting_at_the_end_of_a_short_capture() {
        let v = time_wait().finish();
        assert_eq!(v[0].state(Side::Client), TimeWait);
    }

    #[test]
    fn a_new_syn_on_the_same_tuple_starts_a_new_incarnation_and_ends_time_wait() {
        let mut s = time_wait();
        s.at(5000).c("SYN", 90_000, 0, 0);
        let v = s.finish();
        assert_eq!(v.len(), 2);
        let tw = v[0].time_wait[0].unwrap();
        assert!(tw.ended_early);
        assert_eq!(tw.expires, Timestamp::from_nanos(5_000_000_000));
        assert_eq!(v[0].marks.last().unwrap().cause, Cause::NewIncarnation);
        assert_eq!(v[1].states(Side::Client), vec![Closed, SynSent]);
        assert_eq!(v[1].segments[0].rel_seq, 0);
    }

    #[test]
    fn retransmitted_syn_is_not_a_new_incarnation() {
        let mut s = syn_sent();
        s.at(1000).c("SYN", C_ISN, 0, 0);
        assert_eq!(s.finish().len(), 1);
    }

    #[test]
    fn rst_ends_time_wait() {
        let mut s = time_wait();
        s.s("RST", S_FIN + 1, 0, 0);
        assert_eq!(s.state(Side::Client), Closed);
    }
}

mod streaming {
    use super::*;

    #[test]
    fn finished_connections_are_handed_out_after_they_linger() {
        let mut s = Script::with(TrackConfig {
            keep_segments: false,
            stream: true,
            ..TrackConfig::default()
        });
        s.c("SYN", C_ISN, 0, 0)
            .s("RST,ACK", 0, C_ISN + 1, 0)
            .at(1000)
            .c("SYN", C_ISN, 0, 0);
        assert!(!s.tracker.has_done());
        // Another connection's segment two minutes later lets time pass.
        let mut other = segment(Side::Client, "SYN", 1, 0, 0);
        other.src = "10.0.0.9:1234".parse().unwrap();
        s.tracker
            .push(&other, Timestamp::from_nanos(0) + Span::from_secs(120), 99);
        let done = s.tracker.take_done();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].state(Side::Client), Closed);
        assert_eq!(done[0].segment_count, 3);
        assert!(done[0].segments.is_empty());
        assert_eq!(s.tracker.active_count(), 1);
    }

    fn streaming_with_idle(idle: Option<Span>) -> Script {
        Script::with(TrackConfig {
            keep_segments: false,
            stream: true,
            idle_timeout: idle,
            ..TrackConfig::default()
        })
    }

    /// Another connection's SYN at `secs`: lets capture time pass.
    fn tick(s: &mut Script, secs: i64, port: u16) {
        let mut other = segment(Side::Client, "SYN", 1, 0, 0);
        other.src = format!("10.0.0.9:{port}").parse().unwrap();
        s.tracker
            .push(&other, Timestamp::from_nanos(0) + Span::from_secs(secs), 99);
    }

    #[test]
    fn an_unanswered_syn_is_aged_out_once_its_last_retransmission_is_past() {
        let mut s = streaming_with_idle(None);
        s.c("SYN", C_ISN, 0, 0);
        // tcp_syn_retries 6: the client gives up 127 s after its SYN.
        tick(&mut s, 120, 1);
        assert_eq!(s.tracker.aged_out(), 0);
        tick(&mut s, 130, 2);
        let done = s.tracker.take_done();
        assert_eq!(done.len(), 1, "{done:#?}");
        // Concluded as if the capture ended there: connect() gave up.
        assert_eq!(done[0].states(Side::Client), vec![Closed, SynSent, Closed]);
        assert_eq!(
            done[0].marks.last().map(|m| m.basis),
            Some(Basis::Estimated)
        );
        assert_eq!(s.tracker.aged_out(), 1);
    }

    #[test]
    fn an_idle_connection_is_aged_out_after_the_timeout_and_not_before() {
        let mut s = streaming_with_idle(Some(Span::from_secs(600)));
        s.c("SYN", C_ISN, 0, 0)
            .s("SYN,ACK", S_ISN, C_ISN + 1, 0)
            .c("ACK", C_ISN + 1, S_ISN + 1, 0);
        // Talking at 500 s moves its deadline on.
        s.at(500_000).c("PSH,ACK", C_ISN + 1, S_ISN + 1, 10);
        tick(&mut s, 700, 1);
        assert_eq!(
            s.tracker.aged_out(),
            0,
            "still within 600 s of its last segment"
        );
        tick(&mut s, 1101, 2);
        // It, and the unanswered SYN that ticked at 700 s.
        let done = s.tracker.take_done();
        let mine: Vec<&Connection> = done.iter().filter(|c| c.client == client()).collect();
        assert_eq!(mine.len(), 1, "{done:#?}");
        assert_eq!(mine[0].state(Side::Client), Established);
        assert_eq!(s.tracker.aged_out(), 2);
        // Without a timeout an established connection stays.
        let mut s = streaming_with_idle(None);
        s.c("SYN", C_ISN, 0, 0)
            .s("SYN,ACK", S_ISN, C_ISN + 1, 0)
            .c("ACK", C_ISN + 1, S_ISN + 1, 0);
        tick(&mut s, 100_000, 1);
        assert_eq!(s.tracker.aged_out(), 0);
    }

    #[test]
    fn after_connect_gave_up_a_segment_on_the_tuple_starts_another_connection() {
        // Whole-file tracking too, so `analyze` and `stats` split alike.
        // The same SYN 200 s on: not a retransmission any more.
        let mut s = Script::new();
        s.c("SYN", C_ISN, 0, 0);
        s.at(200_000).c("SYN", C_ISN, 0, 0);
        let v = s.finish();
        assert_eq!(v.len(), 2, "{v:#?}");
        assert_eq!(v[0].states(Side::Client), vec![Closed, SynSent, Closed]);
        // Within the retries it is the same connection's SYN again.
        let mut s = Script::new();
        s.c("SYN", C_ISN, 0, 0);
        s.at(1_000).c("SYN", C_ISN, 0, 0);
        assert_eq!(s.finish().len(), 1);
    }

    /// Runs the same script counting (lone SYNs packed) and whole-file,
    /// and gives both results, in order of first segment.
    fn counted_and_whole(script: impl Fn(&mut Script)) -> (Vec<Connection>, Vec<Connection>) {
        let mut counted = streaming_with_idle(None);
        script(&mut counted);
        let mut whole = Script::new();
        script(&mut whole);
        (counted.finish(), whole.finish())
    }

    #[test]
    fn a_syn_packed_away_then_answered_is_the_connection_it_would_have_been() {
        let (counted, whole) = counted_and_whole(|s| {
            s.c("SYN", C_ISN, 0, 0);
            // Other traffic 3 s on packs the lone SYN; its retransmission
            // and the answer make it whole again.
            tick(s, 3, 1);
            s.at(3_000).c("SYN", C_ISN, 0, 0);
            s.s("SYN,ACK", S_ISN, C_ISN + 1, 0)
                .c("ACK", C_ISN + 1, S_ISN + 1, 0)
                .c("FIN,ACK", C_ISN + 1, S_ISN + 1, 0)
                .s("FIN,ACK", S_ISN + 1, C_ISN + 2, 0)
                .c("ACK", C_ISN + 2, S_ISN + 2, 0);
        });
        assert_eq!(counted.len(), 2);
        assert_eq!(counted.len(), whole.len());
        for (a, b) in counted.iter().zip(&whole) {
            assert_eq!(a.marks, b.marks);
            assert_eq!(a.segment_count, b.segment_count);
            assert_eq!(a.retransmissions, b.retransmissions);
            assert_eq!(a.syn_times(Side::Client), b.syn_times(Side::Client));
        }
        assert_eq!(counted[0].syn_times(Side::Client).len(), 2);
        assert_eq!(counted[0].state(Side::Client), TimeWait);
    }

    #[test]
    fn a_packed_syn_is_aged_out_and_finished_like_a_whole_one() {
        let (counted, whole) = counted_and_whole(|s| {
            s.c("SYN", C_ISN, 0, 0);
            // Packed at 2 s, still open at the end at 60 s.
            tick(s, 2, 1);
            tick(s, 60, 2);
        });
        assert_eq!(counted.len(), 3);
        for (a, b) in counted.iter().zip(&whole) {
            assert_eq!((a.client, a.server), (b.client, b.server));
            assert_eq!(a.marks, b.marks);
        }
        // Unanswered past its last retransmission: handed out whole.
        let mut s = streaming_with_idle(None);
        s.c("SYN", C_ISN, 0, 0);
        tick(&mut s, 2, 1);
        tick(&mut s, 130, 2);
        // (The tick at 2 s is not past its own deadline yet.)
        let done = s.tracker.take_done();
        assert_eq!(done.len(), 1, "{done:#?}");
        assert_eq!(done[0].client, client());
        assert_eq!(done[0].states(Side::Client), vec![Closed, SynSent, Closed]);
    }

    #[test]
    fn timestamps_going_backwards_still_age_connections() {
        let mut s = streaming_with_idle(None);
        s.c("SYN", C_ISN, 0, 0);
        tick(&mut s, 300, 1);
        // The clock is the latest timestamp seen: a later packet stamped
        // earlier does not hold the unanswered SYN.
        tick(&mut s, 10, 2);
        assert_eq!(s.tracker.aged_out(), 1);
    }
}

mod rst_in_every_state {
    use super::*;

    /// Each constructor, the state it leaves the client in, and the next
    /// client sequence number.
    fn cases() -> Vec<(&'static str, Script, State, u32)> {
        vec![
            ("syn-sent", syn_sent(), SynSent, C_ISN + 1),
            ("established", established(), Established, C_ISN + 1),
            ("fin-wait-1", fin_wait_1(), FinWait1, C_FIN + 1),
            ("fin-wait-2", fin_wait_2(), FinWait2, C_FIN + 1),
            ("time-wait", time_wait(), TimeWait, C_FIN + 1),
        ]
    }

    #[test]
    fn an_acceptable_rst_from_the_server_closes_the_client() {
        for (name, mut s, before, _) in cases() {
            assert_eq!(s.state(Side::Client), before, "{name}");
            // The server's next sequence number: anything else is outside
            // the window or off the mark and changes nothing.
            let server_next = match before {
                SynSent => 0,
                Established => S_ISN + 1,
                TimeWait => S_FIN + 1,
                _ => S_ISN + 21,
            };
            s.s(
                "RST,ACK",
                server_next,
                s.conn().isn(Side::Client).unwrap().0 + 1,
                0,
            );
            // In SYN-SENT it counts because it acknowledges the SYN.
            assert_eq!(s.state(Side::Client), Closed, "{name}");
        }
    }

    #[test]
    fn an_rst_off_the_expected_sequence_number_changes_nothing() {
        // RFC 5961 §3: in the window but not exact draws a challenge ACK;
        // outside it is dropped. In TIME-WAIT Linux ignores both.
        for (name, mut s, before, _) in cases().into_iter().skip(1) {
            let ack = s.conn().isn(Side::Client).unwrap().0 + 1;
            s.s("RST,ACK", S_ISN + 5, ack, 0);
            s.s("RST", S_ISN + 1_000_000, 0, 0);
            assert_eq!(s.state(Side::Client), before, "{name}");
        }
    }

    #[test]
    fn a_late_rst_answering_an_old_segment_leaves_time_wait_alone() {
        // The server's socket is gone; a reordered old ACK from the client
        // draws a bare RST whose seq is that ACK's old acknowledgment.
        let mut s = time_wait();
        s.s("RST", S_ISN + 21, 0, 0);
        assert_eq!(s.state(Side::Client), TimeWait);
        let mut s = time_wait();
        s.s("RST", S_FIN + 1, 0, 0);
        assert_eq!(s.state(Side::Client), Closed);
    }

    #[test]
    fn a_client_rst_closes_the_client_whatever_its_state() {
        for (name, mut s, before, next) in cases() {
            if before == TimeWait {
                continue; // nothing is sent from TIME-WAIT but ACKs
            }
            s.c("RST", next, 0, 0);
            assert_eq!(s.state(Side::Client), Closed, "{name}");
            let (closing, closer) = s.conn().closing();
            assert_eq!(closing, Closing::Reset, "{name}");
            assert_eq!(closer, Some(Closer::One(Side::Client)), "{name}");
        }
    }

    #[test]
    fn rst_in_close_wait_and_last_ack_closes_the_server() {
        let mut s = fin_wait_2();
        s.s("RST,ACK", S_FIN, C_FIN + 1, 0);
        assert_eq!(s.states(Side::Server).last(), Some(&Closed));
        assert_eq!(s.state(Side::Client), Closed);
        let mut s = last_ack();
        s.s("RST", S_FIN + 1, 0, 0);
        assert_eq!(s.state(Side::Server), Closed);
    }

    #[test]
    fn rst_in_syn_received_closes_the_server() {
        let mut s = syn_received();
        s.c("RST", C_ISN + 1, 0, 0);
        assert_eq!(s.state(Side::Server), Closed);
        assert_eq!(s.state(Side::Client), Closed);
    }

    #[test]
    fn rst_to_a_listener_is_ignored() {
        let mut s = Script::new();
        s.c("SYN", C_ISN, 0, 0).c("RST", C_ISN + 1, 0, 0);
        assert_eq!(s.states(Side::Server), vec![Listen]);
    }
}

mod syn_received_close {
    use super::*;

    #[test]
    fn fin_from_syn_received_is_fin_wait_1() {
        // The server accepted and closed before the client's ACK was seen.
        let mut s = syn_received();
        s.s("FIN,ACK", S_ISN + 1, C_ISN + 1, 0);
        assert_eq!(s.state(Side::Server), FinWait1);
    }

    #[test]
    fn closing_then_ack_is_time_wait() {
        let mut s = established_with_data();
        s.c("FIN,ACK", C_FIN, S_FIN, 0)
            .s("FIN,ACK", S_FIN, C_FIN, 0)
            .c("ACK", C_FIN + 1, S_FIN + 1, 0);
        assert_eq!(s.state(Side::Client), State::Closing);
        s.s("ACK", S_FIN + 1, C_FIN + 1, 0);
        assert_eq!(s.state(Side::Client), TimeWait);
        assert_eq!(s.state(Side::Server), TimeWait);
    }
}

mod gives_up {
    use super::*;
    use crate::track::conn::{give_up_time, syn_timeout};

    fn at(secs: &[f64]) -> Vec<Timestamp> {
        secs.iter().map(|s| Timestamp::from_secs_f64(*s)).collect()
    }

    #[test]
    fn linux_gives_connect_127_s_by_default_and_15_s_with_three_retries() {
        assert_eq!(syn_timeout(6), Span::from_secs(127));
        assert_eq!(syn_timeout(3), Span::from_secs(15));
        assert_eq!(syn_timeout(8), Span::from_secs(127 + 2 * 120));
    }

    #[test]
    fn the_limit_decides_at_the_next_timer() {
        // syn-timeout.pcap: SYNs at 0, 1, 3, 7 s; tcp_syn_retries=3.
        let copies = at(&[0.0, 1.0, 3.0, 7.0]);
        let end = Timestamp::from_secs_f64(7.0);
        let t = give_up_time(&copies, Some(syn_timeout(3)), end);
        assert_eq!(t, Some(Timestamp::from_secs_f64(15.0)));
        // With six retries it is still trying when the capture ends.
        assert_eq!(give_up_time(&copies, Some(syn_timeout(6)), end), None);
    }

    #[test]
    fn linear_timeouts_keep_the_interval_until_it_doubles() {
        // This kernel's tcp_syn_linear_timeouts: 1 s apart, then doubling.
        let copies = at(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 11.0, 19.0, 35.0, 67.0]);
        let t = give_up_time(&copies, Some(syn_timeout(6)), copies[10]);
        assert_eq!(t, Some(Timestamp::from_secs_f64(131.0)));
        let early = at(&[0.0, 1.0, 2.0]);
        let t = give_up_time(&early, Some(syn_timeout(6)), Timestamp::from_secs_f64(60.0));
        assert_eq!(t, Some(Timestamp::from_secs_f64(3.0)));
    }

    #[test]
    fn silence_past_the_due_copy_shows_the_end_only_when_the_capture_runs_on() {
        let fins = at(&[1.0, 1.2, 1.6]);
        assert_eq!(
            give_up_time(&fins, None, Timestamp::from_secs_f64(2.0)),
            None
        );
        let t = give_up_time(&fins, None, Timestamp::from_secs_f64(3.0));
        assert_eq!(t, Some(Timestamp::from_secs_f64(2.4)));
        // One FIN alone says nothing about its timer.
        assert_eq!(
            give_up_time(&fins[..1], None, Timestamp::from_secs_f64(99.0)),
            None
        );
    }

    #[test]
    fn an_unanswered_syn_closes_as_an_estimate_after_the_last_row() {
        let mut s = Script::with(TrackConfig {
            syn_retries: 3,
            ..TrackConfig::default()
        });
        for ms in [0, 1000, 3000, 7000] {
            s.at(ms).c("SYN", C_ISN, 0, 0);
        }
        let v = s.finish();
        assert_eq!(v[0].states(Side::Client), vec![Closed, SynSent, Closed]);
        let m = v[0].marks.last().unwrap();
        assert_eq!(
            (m.cause, m.basis, m.row),
            (Cause::Estimated, Basis::Estimated, 4)
        );
        assert_eq!(m.time, Timestamp::from_secs_f64(15.0));
        assert_eq!(v[0].state(Side::Server), Listen);
    }
}

mod which_copy_arrived {
    use super::*;

    /// The server's FIN sent twice; the capture (near the server) never saw
    /// the client's ACK of the first, lost on the way.
    fn fin_sent_twice(proof: &mut dyn FnMut(&mut Script)) -> Script {
        let mut s = fin_wait_2();
        s.at(9).opts(9, 0, None).s("FIN,ACK", S_FIN, C_FIN + 1, 0);
        s.at(209)
            .opts(209, 0, None)
            .s("FIN,ACK", S_FIN, C_FIN + 1, 0);
        s.at(210);
        proof(&mut s);
        s
    }

    #[test]
    fn a_time_wait_echo_of_the_first_fin_shows_the_ack_was_lost_not_the_fin() {
        let s = fin_sent_twice(&mut |s| {
            s.opts(500, 9, None).c("ACK", C_FIN + 1, S_FIN + 1, 0);
        });
        let tw = s.conn().time_wait[0].unwrap();
        assert_eq!(tw.entered, Timestamp::from_nanos(9_000_000) + AWAY);
        assert!(s.conn().segments[8].arrived());
        assert_eq!(s.conn().ack_lost(), Some(Side::Client));
        // The second copy arrived in TIME-WAIT and restarted its timer.
        let again = Timestamp::from_nanos(209_000_000) + AWAY;
        assert_eq!(tw.expires, again + Span::from_secs(60));
        assert_eq!(s.state(Side::Server), Closed);
    }

    #[test]
    fn a_dsack_of_the_fin_shows_the_first_copy_arrived() {
        let s = fin_sent_twice(&mut |s| {
            s.opts(500, 209, Some((S_FIN, S_FIN + 1)))
                .c("ACK", C_FIN + 1, S_FIN + 1, 0);
        });
        let tw = s.conn().time_wait[0].unwrap();
        assert_eq!(tw.entered, Timestamp::from_nanos(9_000_000) + AWAY);
    }

    #[test]
    fn without_evidence_the_last_copy_is_taken_as_the_one_that_arrived() {
        let s = fin_sent_twice(&mut |s| {
            s.opts(500, 209, None).c("ACK", C_FIN + 1, S_FIN + 1, 0);
        });
        let tw = s.conn().time_wait[0].unwrap();
        assert_eq!(tw.entered, Timestamp::from_nanos(209_000_000) + AWAY);
        assert!(!s.conn().segments[8].arrived());
        assert_eq!(s.conn().ack_lost(), None);
    }
}

mod resets_and_refusals {
    use super::*;

    #[test]
    fn an_rst_forged_in_the_servers_name_is_undone_when_the_server_talks_on() {
        let mut s = established();
        // A middlebox's RST far outside the client's window.
        s.s("RST", S_ISN + 1 + (1 << 30), 0, 0);
        assert_eq!(s.state(Side::Client), Established);
        s.s("PSH,ACK", S_ISN + 1, C_ISN + 1, 20);
        assert_eq!(s.state(Side::Server), Established);
        assert!(!s.conn().segments[4].retransmission());
        assert_eq!(s.conn().first_rst(), None);
    }

    #[test]
    fn an_rst_at_the_receivers_own_ack_counts_when_data_before_it_was_lost() {
        let mut s = established();
        s.c("PSH,ACK", C_ISN + 1, S_ISN + 1, 5); // lost on the way
        s.at(300).c("PSH,ACK", C_ISN + 1, S_ISN + 1, 5);
        // The client gave up; the server's last ACK was C_ISN + 1.
        s.s("ACK", S_ISN + 1, C_ISN + 1, 0);
        s.c("RST", C_ISN + 1, 0, 0);
        assert_eq!(s.state(Side::Server), Closed);
    }

    #[test]
    fn a_listener_that_keeps_dropping_the_ack_stays_in_syn_received() {
        let mut s = established();
        for t in [1000, 3000] {
            s.at(t).s("SYN,ACK", S_ISN, C_ISN + 1, 0);
            s.c("ACK", C_ISN + 1, S_ISN + 1, 0);
        }
        assert_eq!(s.state(Side::Server), SynReceived);
        // Then a bare RST: no connection there (tcp_abort_on_overflow).
        s.s("RST", S_ISN + 1, 0, 0);
        assert_eq!(s.states(Side::Server), vec![Listen, SynReceived, Closed]);
        assert_eq!(s.conn().no_connection_rst(), Some(Side::Server));
    }

    #[test]
    fn once_lost_the_next_ack_of_the_syn_ack_establishes() {
        let mut s = established();
        s.at(1000).s("SYN,ACK", S_ISN, C_ISN + 1, 0);
        s.c("ACK", C_ISN + 1, S_ISN + 1, 0);
        assert_eq!(s.state(Side::Server), Established);
    }

    #[test]
    fn resent_data_nobody_acknowledges_is_given_up_at_tcp_retries2() {
        let mut s = Script::with(TrackConfig {
            retries2: 3,
            ..TrackConfig::default()
        });
        s.c("SYN", C_ISN, 0, 0)
            .s("SYN,ACK", S_ISN, C_ISN + 1, 0)
            .c("ACK", C_ISN + 1, S_ISN + 1, 0);
        for t in [100, 300, 700, 1500] {
            s.at(t).c("PSH,ACK", C_ISN + 1, S_ISN + 1, 5);
        }
        let v = s.finish();
        let m = v[0].marks.last().unwrap();
        assert_eq!(
            (m.side, m.to, m.cause),
            (Side::Client, Closed, Cause::Estimated)
        );
        // 200 ms doubling for 3 retries: 1.4 s after the first copy, at the
        // timer due 1.6 s after the last.
        assert_eq!(m.time, Timestamp::from_nanos(3_100_000_000) - AWAY);
    }
}

mod icmp_errors {
    use super::*;
    use crate::decode::{IcmpError, IcmpKind, IcmpVersion};

    fn error(ty: u8, code: u8, quoted_seq: u32) -> IcmpError {
        IcmpError {
            from: "10.0.9.9".parse().unwrap(),
            to: client().ip(),
            version: IcmpVersion::V4,
            kind: IcmpKind {
                version: IcmpVersion::V4,
                ty,
                code,
            },
            quoted_src: client(),
            quoted_dst: server(),
            quoted_seq: SeqNumber(quoted_seq),
            quoted_flags: None,
            mtu: None,
            ttl: 64,
        }
    }

    #[test]
    fn host_unreachable_in_syn_sent_ends_connect_with_ehostunreach() {
        let mut s = syn_sent();
        let t = Timestamp::from_nanos(30_000_000);
        assert!(s.tracker.push_icmp(&error(3, 1, C_ISN), t, 2));
        let c = s.conn();
        assert_eq!(c.states(Side::Client), vec![Closed, SynSent, Closed]);
        assert_eq!(c.icmp.len(), 1);
        assert_eq!(c.icmp[0].errno, Some("EHOSTUNREACH"));
        assert!(c.icmp[0].closed);
        assert_eq!(c.icmp[0].to, Side::Client);
        assert_eq!(c.opening(), Opening::Unreachable);
    }

    #[test]
    fn a_syn_sent_again_after_the_error_shows_it_was_only_noted() {
        // On loopback the error can come back while connect() still holds
        // the socket: Linux notes it as soft and resends the SYN.
        let mut s = syn_sent();
        s.tracker
            .push_icmp(&error(3, 1, C_ISN), Timestamp::from_nanos(1_000_000), 2);
        s.at(1000).c("SYN", C_ISN, 0, 0);
        assert_eq!(s.state(Side::Client), SynSent);
        s.tracker
            .push_icmp(&error(3, 1, C_ISN), Timestamp::from_nanos(1_001_000_000), 4);
        let c = s.conn();
        assert_eq!(c.states(Side::Client), vec![Closed, SynSent, Closed]);
        assert_eq!((c.icmp[0].closed, c.icmp[1].closed), (false, true));
    }

    #[test]
    fn an_error_on_an_established_connection_is_soft() {
        let mut s = established_with_data();
        let t = Timestamp::from_nanos(30_000_000);
        assert!(s.tracker.push_icmp(&error(3, 1, C_ISN + 11), t, 9));
        assert_eq!(s.state(Side::Client), Established);
        assert!(!s.conn().icmp[0].closed);
    }

    #[test]
    fn an_error_quoting_numbers_never_sent_is_not_taken() {
        let mut s = syn_sent();
        let t = Timestamp::from_nanos(30_000_000);
        assert!(!s.tracker.push_icmp(&error(3, 1, C_ISN + 5000), t, 2));
        assert_eq!(s.state(Side::Client), SynSent);
        assert!(s.conn().icmp.is_empty());
    }
}

mod end_of_capture {
    use super::*;

    #[test]
    fn an_ack_behind_an_unacknowledged_fin_still_arrives() {
        // The server's FIN is never acknowledged; the client's ACK after its
        // own FIN is not held back by that.
        let mut s = established_with_data();
        s.c("FIN,ACK", C_FIN, S_ISN + 21, 0)
            .s("FIN,ACK", S_FIN, C_FIN, 0)
            .c("ACK", C_FIN + 1, S_FIN + 1, 0);
        let v = s.finish();
        // The server's FIN arrived (the client acknowledged it); the
        // client's never did, but the ACK behind it moved the server on.
        assert_eq!(v[0].state(Side::Server), FinWait2);
        assert_eq!(v[0].state(Side::Client), State::Closing);
    }

    #[test]
    fn an_rst_behind_a_lost_fin_must_sit_where_the_receiver_waits() {
        // The FIN never arrived, so the server still expects C_FIN: an RST
        // at C_FIN + 1 draws a challenge ACK (RFC 5961), one at C_FIN counts.
        for (seq, want) in [(C_FIN + 1, Established), (C_FIN, Closed)] {
            let mut s = established_with_data();
            s.c("FIN,ACK", C_FIN, S_ISN + 21, 0)
                .at(300)
                .c("RST", seq, 0, 0);
            let v = s.finish();
            assert_eq!(v[0].state(Side::Server), want, "RST at {seq}");
        }
    }
}

mod relative_numbers {
    use super::*;

    #[test]
    fn a_syn_ack_with_another_isn_rebases_like_wireshark() {
        let mut s = syn_received();
        // A second SYN,ACK from the server's side with a different ISN.
        s.s("SYN,ACK", 77_000, C_ISN + 1, 0);
        s.c("ACK", C_ISN + 1, 77_001, 0);
        let c = s.conn();
        assert_eq!(c.segments[2].rel_seq, 0);
        assert_eq!(c.segments[3].rel_ack(), Some(1));
    }
}

mod records {
    use super::*;
    use crate::decode::TcpOptions;

    fn syn_with_options(cfg: TrackConfig) -> Connection {
        let mut s = Script::with(cfg);
        s.options = Some(TcpOptions {
            mss: Some(0),
            window_scale: Some(7),
            sack_permitted: true,
            sack_blocks: 4,
            timestamps: Some((11, 0)),
            fast_open: true,
            mptcp: true,
            ..Default::default()
        });
        s.c("SYN", C_ISN, 0, 0);
        s.conn().clone()
    }

    #[test]
    fn a_record_is_48_bytes() {
        // What `replay` holds for every segment of a capture.
        assert!(std::mem::size_of::<SegmentRecord>() <= 48);
    }

    #[test]
    fn a_record_keeps_every_option_its_label_names() {
        let c = syn_with_options(TrackConfig::default());
        let o = c.segments[0].options;
        // An MSS of 0 is still an MSS option (a flag, not a zero, says none).
        assert_eq!(o.mss(), Some(0));
        assert_eq!(o.window_scale(), Some(7));
        assert!(o.sack_permitted() && o.timestamps() && o.fast_open());
        assert_eq!(o.sack_blocks(), 4);
        let none = ShownOptions::of(&TcpOptions::default());
        assert_eq!(
            (none.mss(), none.window_scale(), none.sack_blocks()),
            (None, None, 0)
        );
        assert!(!none.sack_permitted() && !none.timestamps() && !none.fast_open());
    }

    #[test]
    fn whole_headers_are_kept_only_when_asked_for() {
        let kept = syn_with_options(TrackConfig::default());
        assert_eq!(kept.details.len(), 1);
        assert_eq!(kept.details[0].options.timestamps, Some((11, 0)));
        assert!(kept.details[0].options.mptcp);
        let lean = syn_with_options(TrackConfig {
            keep_details: false,
            ..TrackConfig::default()
        });
        assert!(lean.details.is_empty());
        assert_eq!(lean.segments, kept.segments);
    }

    #[test]
    fn the_scaled_window_needs_both_syns_to_scale() {
        let mut s = Script::new();
        let ws = |n| TcpOptions {
            window_scale: Some(n),
            ..Default::default()
        };
        s.options = Some(ws(7));
        s.c("SYN", C_ISN, 0, 0);
        s.options = Some(ws(2));
        s.s("SYN,ACK", S_ISN, C_ISN + 1, 0);
        s.c("ACK", C_ISN + 1, S_ISN + 1, 0);
        let c = s.conn();
        assert_eq!(
            c.segments[0].scaled_window(),
            None,
            "a SYN's window is never scaled"
        );
        assert_eq!(
            c.segments[2].scaled_window(),
            Some(u32::from(c.segments[2].window) << 7)
        );
        assert_eq!(c.segments[2].rel_ack(), Some(1));
        assert_eq!(c.segments[0].rel_ack(), None);
    }
}
