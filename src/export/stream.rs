//! One line per segment as it is captured (`live --no-tui`), with the
//! state changes it reveals. Marks may land on earlier rows (a FIN's
//! arrival is proven by a later ACK), so each new mark says which segment
//! it belongs to. ICMP errors get lines of their own, in capture order.

use rustc_hash::FxHashMap;

use crate::ladder::IcmpLine;
use crate::ladder::label::{self, LabelStyle};
use crate::track::{Cause, Connection, Side, StateMark};

/// Remembers what was printed per connection: segments, the marks
/// themselves (a tentative one may be undone later), ICMP errors.
#[derive(Default)]
pub struct StreamPrinter {
    printed: FxHashMap<usize, Printed>,
}

#[derive(Default)]
struct Printed {
    segments: usize,
    marks: Vec<StateMark>,
    icmp: usize,
}

/// `#1 ICMP    0.030458  client ◀─ ICMP host unreachable … ─ ─ router 198.18.0.2`
fn icmp_line(c: &Connection, j: usize) -> Option<String> {
    let i = IcmpLine::of(c, j)?;
    let text = i.label_with_notes();
    let arrow = match i.to {
        Side::Client => format!("client ◀─ {text} ─ ─ {}", i.sender()),
        Side::Server => format!("{} ─ ─ {text} ─▶ server", i.sender()),
    };
    Some(format!(
        "#{} ICMP {:>11.6}  {arrow}",
        c.id + 1,
        (i.time - c.first_ts).as_secs_f64()
    ))
}

impl StreamPrinter {
    /// Lines for whatever is new in `c` since the last call.
    pub fn lines(&mut self, c: &Connection) -> Vec<String> {
        let p = self.printed.entry(c.id).or_default();
        let (segs, icmp) = (&mut p.segments, &mut p.icmp);
        let mut out = Vec::new();
        let n = c.id + 1;
        if *segs == 0 && !c.segments.is_empty() {
            out.push(format!("#{n} client {} → server {}", c.client, c.server));
        }
        for (i, s) in c.segments.iter().enumerate().skip(*segs) {
            // Errors captured before this segment come first.
            while *icmp < c.icmp.len() && c.icmp[*icmp].row <= i {
                out.extend(icmp_line(c, *icmp));
                *icmp += 1;
            }
            let text = label::label(s, LabelStyle::default());
            let notes: String = label::marks(s).iter().map(|m| format!(" [{m}]")).collect();
            let arrow = match s.from {
                Side::Client => format!("client ── {text}{notes} ──▶ server"),
                Side::Server => format!("client ◀── {text}{notes} ── server"),
            };
            out.push(format!(
                "#{n} {:>4} {:>11.6}  {arrow}",
                i + 1,
                (s.ts - c.first_ts).as_secs_f64()
            ));
        }
        *segs = c.segments.len();
        while *icmp < c.icmp.len() {
            out.extend(icmp_line(c, *icmp));
            *icmp += 1;
        }
        // A tentative change that later segments undid: say so, then
        // print what came instead.
        let same = p
            .marks
            .iter()
            .zip(&c.marks)
            // Times may be refined later (once the handshake shows the
            // endpoints' distances); the change itself is what counts.
            .take_while(|(a, b)| (a.side, a.from, a.to, a.row) == (b.side, b.from, b.to, b.row))
            .count();
        for m in p.marks[same..].iter().rev() {
            out.push(format!(
                "#{n}        ⇐ {} {} → {} undone: later segments show it did not happen then",
                m.side, m.from, m.to
            ));
        }
        for m in &c.marks[same..] {
            let at = if m.cause == Cause::Icmp {
                "by the ICMP error".to_string()
            } else if m.row < c.segments.len() {
                format!("at segment {}", m.row + 1)
            } else {
                format!("at +{:.6} s", (m.time - c.first_ts).as_secs_f64())
            };
            out.push(format!(
                "#{n}        ⇒ {} {} → {} ({at})",
                m.side, m.from, m.to
            ));
        }
        p.marks = c.marks.clone();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Filter, analyze_file};
    use crate::track::TrackConfig;

    #[test]
    fn an_icmp_error_gets_its_own_line_in_capture_order() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures/kernel/icmp-host-unreachable/client.pcap");
        let (conns, _) =
            analyze_file(&path, Filter::default(), TrackConfig::default()).expect("capture");
        let mut p = StreamPrinter::default();
        let lines = p.lines(&conns[0]);
        let icmp = lines
            .iter()
            .position(|l| l.contains("ICMP host unreachable from 198.18.0.2"))
            .expect("an ICMP line");
        let syn = lines
            .iter()
            .position(|l| l.contains("SYN seq=0"))
            .expect("the SYN");
        assert!(syn < icmp, "{lines:#?}");
        assert!(lines[icmp].contains("client ◀─") && lines[icmp].ends_with("router 198.18.0.2"));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("client SYN-SENT → CLOSED (by the ICMP error)")),
            "{lines:#?}"
        );
        // Nothing is printed twice.
        assert!(p.lines(&conns[0]).is_empty());
    }

    #[test]
    fn an_undone_change_is_said_so_and_not_printed_again() {
        use crate::decode::{Flags, IcmpError, IcmpKind, IcmpVersion, Segment, SeqNumber};
        use crate::time::Timestamp;
        use crate::track::Tracker;
        let (c, s): (std::net::SocketAddr, std::net::SocketAddr) = (
            "127.0.0.1:40612".parse().unwrap(),
            "127.0.0.1:9612".parse().unwrap(),
        );
        let syn = Segment::new(c, s, Flags::SYN, 1000, 0, 0);
        let err = IcmpError {
            from: s.ip(),
            to: c.ip(),
            version: IcmpVersion::V4,
            kind: IcmpKind {
                version: IcmpVersion::V4,
                ty: 3,
                code: 1,
            },
            quoted_src: c,
            quoted_dst: s,
            quoted_seq: SeqNumber(1000),
            quoted_flags: Some(Flags::SYN),
            mtu: None,
            ttl: 64,
        };
        let mut t = Tracker::new(TrackConfig::default());
        let mut p = StreamPrinter::default();
        let ms = |n: i64| Timestamp::from_nanos(n * 1_000_000);
        t.push(&syn, ms(0), 1);
        t.push_icmp(&err, ms(1), 2);
        let first = p.lines(t.active().next().unwrap());
        assert!(
            first
                .iter()
                .any(|l| l.contains("SYN-SENT → CLOSED (by the ICMP error)"))
        );
        // The SYN again: Linux had only noted the error.
        t.push(&syn, ms(1000), 3);
        let again = p.lines(t.active().next().unwrap());
        assert!(
            again
                .iter()
                .any(|l| l.contains("⇐ client SYN-SENT → CLOSED undone")),
            "{again:#?}"
        );
        assert!(
            !again.iter().any(|l| l.contains("CLOSED → SYN-SENT")),
            "{again:#?}"
        );
    }
}
