//! What one segment does in its connection, in a plain sentence, and every
//! header field for the detail pane. Pure: reads a tracked connection.

use crate::decode::{SeqNumber, TcpOptions};
use crate::track::{Connection, Details, SegmentRecord, ShownOptions, Side};

use super::{IcmpLine, Ladder, Role, label};

/// "the server acknowledges the client's SYN (ack = ISN+1) and sends its
/// own SYN".
pub fn sentence(c: &Connection, index: usize) -> String {
    let Some(s) = c.segments.get(index) else {
        return String::new();
    };
    let me = s.from;
    let peer = !me;
    let f = s.flags;
    let again = if s.retransmission() {
        ", again: a retransmission"
    } else {
        ""
    };
    if f.rst() {
        return format!(
            "the {me} resets the connection (RST): both ends drop it at once, without TIME-WAIT"
        );
    }
    if f.syn() && !f.ack() {
        let opening = if c.sent_bare_syn(peer) && me == Side::Server {
            " while the client's SYN is on its way (simultaneous open)"
        } else {
            ""
        };
        return format!(
            "the {me} asks to open a connection: its SYN carries its initial sequence number \
             (ISN {}) and its options{opening}{again}",
            s.seq
        );
    }
    if f.syn() {
        return format!(
            "the {me} acknowledges the {peer}'s SYN (ack = ISN+1) and sends its own SYN{again}"
        );
    }
    let acks_syn = acks_peer_syn(c, index);
    let acks_fin = acks_peer_fin(c, index);
    let mut parts: Vec<String> = Vec::new();
    if f.fin() {
        let first = if c
            .segments
            .upto(index)
            .any(|p| p.from == peer && p.flags.fin())
        {
            "closes its direction too"
        } else {
            "closes its direction: it will send no more data"
        };
        parts.push(format!("the {me} {first} (FIN){again}"));
        if s.len > 0 {
            parts.push(format!("with {} last bytes", s.len));
        }
        if acks_fin {
            parts.push(format!("and acknowledges the {peer}'s FIN"));
        }
        return parts.join(" ");
    }
    if s.len > 0 {
        let first = s.rel_seq;
        let last = s.rel_seq.wrapping_add(s.len).wrapping_sub(1);
        return format!(
            "the {me} sends {} bytes of data (bytes {first}–{last}){again}",
            s.len
        );
    }
    if s.keepalive() {
        return format!("the {me} probes whether the {peer} is still there (keep-alive)");
    }
    if acks_syn {
        return format!(
            "the {me} acknowledges the {peer}'s SYN (ack = ISN+1): the three-way handshake is complete"
        );
    }
    if acks_fin {
        return format!("the {me} acknowledges the {peer}'s FIN (ack = FIN+1)");
    }
    match s.rel_ack() {
        Some(a) => format!(
            "the {me} acknowledges everything up to byte {} from the {peer}",
            a.saturating_sub(1)
        ),
        None => format!("the {me} sends a segment with no ACK"),
    }
}

/// Whether this segment is the first from its sender to acknowledge the
/// peer's SYN.
fn acks_peer_syn(c: &Connection, index: usize) -> bool {
    let s = &c.segments[index];
    c.isn(!s.from)
        .is_some_and(|isn| first_to_ack(c, index, isn.plus(1)))
}

/// Whether this segment is the first from its sender to acknowledge the
/// peer's FIN.
fn acks_peer_fin(c: &Connection, index: usize) -> bool {
    let s = &c.segments[index];
    c.segments
        .upto(index)
        .find(|p| p.from != s.from && p.flags.fin())
        .is_some_and(|fin| first_to_ack(c, index, fin.seq.plus(fin.len + 1)))
}

/// Segment `index` acknowledges `end`, and no earlier one from its sender did.
fn first_to_ack(c: &Connection, index: usize, end: SeqNumber) -> bool {
    let s = &c.segments[index];
    let covers = |p: &SegmentRecord| p.flags.ack() && end.le(p.ack);
    covers(s)
        && !c
            .segments
            .upto(index)
            .any(|p| p.from == s.from && covers(p))
}

/// Every header field of a segment, as (name, value) pairs; the whole
/// header's from `details` when the connection did not keep it.
pub fn fields(
    c: &Connection,
    index: usize,
    details: Option<&Details>,
) -> Vec<(&'static str, String)> {
    let Some(s) = c.segments.get(index) else {
        return Vec::new();
    };
    let (src, dst) = (c.addr(s.from), c.addr(!s.from));
    // Most telling first: a small pane shows only the first few.
    let mut v: Vec<(&'static str, String)> = vec![
        ("flags", format!("{} (0x{:03x})", s.flags, s.flags.0)),
        ("seq", format!("{} (absolute {})", s.rel_seq, s.seq)),
    ];
    v.push((
        "ack",
        match s.rel_ack() {
            Some(r) => format!("{r} (absolute {})", s.ack),
            None => format!("not set (field {})", s.ack),
        },
    ));
    v.push(("length", format!("{} bytes of payload", s.len)));
    let details = c.details.get(index).or(details);
    // What it carries, where it was kept: the pane's `p` shows it whole.
    if let Some(d) = details.filter(|d| !d.payload.is_empty()) {
        v.push(("payload", escaped(&d.payload)));
    }
    v.push((
        "window",
        match s.scaled_window() {
            Some(w) => format!("{} (field {})", w, s.window),
            None => s.window.to_string(),
        },
    ));
    let opts = match details {
        Some(d) => option_names(&d.options),
        None => shown_option_names(&s.options),
    };
    v.push(("options", listed(&opts, "none")));
    v.push(("analysis", listed(&label::marks(s), "—")));
    v.push(("from", format!("{} {src}", s.from)));
    v.push(("to", format!("{} {dst}", !s.from)));
    v.push(("frame", s.frame.to_string()));
    if let Some(d) = details {
        v.push(("header", format!("{} bytes", d.header_len)));
        v.push(("checksum", format!("0x{:04x}", d.checksum)));
        v.push(("urgent", d.urgent.to_string()));
        v.push(("TTL/hops", d.ttl.to_string()));
    }
    v
}

/// `items` apart by commas, or `none` when there are none.
fn listed(items: &[impl AsRef<str>], none: &str) -> String {
    if items.is_empty() {
        return none.to_string();
    }
    let names: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    names.join(", ")
}

/// Every option a header carries, named.
fn option_names(o: &TcpOptions) -> Vec<String> {
    let mut opts = Vec::new();
    if let Some(m) = o.mss {
        opts.push(format!("MSS {m}"));
    }
    if o.sack_permitted {
        opts.push("SACK permitted".to_string());
    }
    if let Some((val, ecr)) = o.timestamps {
        opts.push(format!("TSval {val} TSecr {ecr}"));
    }
    if let Some(ws) = o.window_scale {
        opts.push(window_scale_name(ws));
    }
    if o.sack_blocks > 0 {
        opts.push(sack_blocks_name(o.sack_blocks));
    }
    if o.fast_open {
        opts.push("TCP Fast Open".to_string());
    }
    if o.mptcp {
        opts.push("MPTCP".to_string());
    }
    if o.other > 0 {
        opts.push(format!("{} other", o.other));
    }
    if o.malformed {
        opts.push("malformed option list".to_string());
    }
    opts
}

/// The options a record keeps, named, when the whole header was not kept.
fn shown_option_names(o: &ShownOptions) -> Vec<String> {
    let mut opts = Vec::new();
    if let Some(m) = o.mss() {
        opts.push(format!("MSS {m}"));
    }
    if o.sack_permitted() {
        opts.push("SACK permitted".to_string());
    }
    if o.timestamps() {
        opts.push("timestamps".to_string());
    }
    if let Some(ws) = o.window_scale() {
        opts.push(window_scale_name(ws));
    }
    if o.sack_blocks() > 0 {
        opts.push(sack_blocks_name(o.sack_blocks()));
    }
    if o.fast_open() {
        opts.push("TCP Fast Open".to_string());
    }
    opts
}

fn window_scale_name(ws: u8) -> String {
    format!("window scale {ws} (×{})", 1u32 << ws.min(14))
}

fn sack_blocks_name(n: u8) -> String {
    format!("{n} SACK block(s)")
}

/// What an ICMP error says, in a sentence: "router 198.18.0.2 tells the
/// client its SYN could not go on: host unreachable. In SYN-SENT Linux
/// gives up at once: connect() fails with EHOSTUNREACH and the client is
/// CLOSED". (In SYN-SENT every error with an errno ends the attempt, hard
/// or soft in RFC 1122's terms; on a synchronized connection none does.)
pub fn icmp_sentence(i: &IcmpLine) -> String {
    let to = i.to;
    let what = match i.quoted {
        Some(Role::Data) => format!("its data (seq={})", i.quoted_seq),
        Some(role) => format!("its {}", role.name()),
        None => format!("its segment seq={}", i.quoted_seq),
    };
    let head = format!(
        "{} tells the {to} that {what} could not go on: {}",
        i.sender(),
        i.meaning
    );
    let tail = match (i.closed, i.errno) {
        (true, Some(e)) => {
            format!(
                "In SYN-SENT Linux gives up at once: connect() fails with {e} and the {to} is CLOSED"
            )
        }
        (true, None) => format!("It ends the connection: the {to} is CLOSED"),
        (false, _) if i.meaning.contains("MTU") => format!(
            "A soft error: no state changes; the {to} lowers its path MTU and sends smaller segments"
        ),
        (false, _) if i.quoted == Some(Role::Syn) => format!(
            "Linux only noted it (the socket was busy at that instant): the {to} sends its SYN again"
        ),
        (false, _) => {
            "On a synchronized connection it is a soft error: no state changes".to_string()
        }
    };
    format!("{head}. {tail}")
}

/// Every field of an ICMP error, for the detail pane.
pub fn icmp_fields(l: &Ladder, i: &IcmpLine) -> Vec<(&'static str, String)> {
    let proto = if i.from.is_ipv6() { "ICMPv6" } else { "ICMP" };
    let quoted = match i.quoted {
        Some(role) => format!("{} seq={}", role.name(), i.quoted_seq),
        None => format!("seq={}", i.quoted_seq),
    };
    let effect: String = i.marks[i.to.index()]
        .iter()
        .map(|m| m.state.name())
        .collect::<Vec<_>>()
        .join(" → ");
    vec![
        ("meaning", i.meaning.clone()),
        ("type", format!("{proto} type {} code {}", i.ty, i.code)),
        ("from", i.sender()),
        ("to", format!("{} {}", i.to, l.addr(i.to))),
        ("quotes", quoted),
        (
            "errno",
            match (i.closed, i.errno) {
                (true, Some(e)) => e.to_string(),
                _ => "none (a soft error)".to_string(),
            },
        ),
        (
            "effect",
            if effect.is_empty() {
                "none".to_string()
            } else {
                format!("{} {effect}", i.to)
            },
        ),
        ("frame", i.frame.to_string()),
    ]
}

/// Payload bytes as text a terminal shows safely: printable ASCII as it
/// is, a backslash doubled, `\n` `\r` `\t` so written, any other byte as
/// `\xNN` (no control byte reaches the terminal).
pub fn escaped(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// Payload bytes as tcpdump -X shows them: `per_line` a line (16 there;
/// 8 for a narrow pane), the offset, the bytes in hex in pairs, and the
/// printable ones (others as `.`).
pub fn hex_lines(bytes: &[u8], per_line: usize) -> Vec<String> {
    let per_line = per_line.max(2);
    let hex_w = per_line * 2 + per_line / 2 - 1;
    bytes
        .chunks(per_line)
        .enumerate()
        .map(|(n, chunk)| {
            let mut hex = String::with_capacity(40);
            for (k, b) in chunk.iter().enumerate() {
                if k % 2 == 0 && k > 0 {
                    hex.push(' ');
                }
                hex.push_str(&format!("{b:02x}"));
            }
            let text: String = chunk
                .iter()
                .map(|&b| {
                    if (0x20..=0x7e).contains(&b) {
                        char::from(b)
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:04x}  {hex:<hex_w$}  {text}", n * per_line)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Flags, Segment};
    use crate::time::Timestamp;
    use crate::track::{TrackConfig, Tracker};

    #[test]
    fn payload_text_never_passes_a_control_byte() {
        let raw = b"GET / HTTP/1.1\r\n\x1b[2J\\\x00\xff\t";
        let s = escaped(raw);
        assert_eq!(s, "GET / HTTP/1.1\\r\\n\\x1b[2J\\\\\\x00\\xff\\t");
        assert!(s.chars().all(|c| (' '..='~').contains(&c)));
    }

    #[test]
    fn hex_lines_are_tcpdumps_sixteen_a_line() {
        let lines = hex_lines(b"GET / HTTP/1.1\r\nHost: x", 16);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "0000  4745 5420 2f20 4854 5450 2f31 2e31 0d0a  GET / HTTP/1.1.."
        );
        assert_eq!(
            lines[1],
            "0010  486f 7374 3a20 78                        Host: x"
        );
    }

    fn run(script: &[(bool, u16, u32, u32, u32)]) -> Connection {
        let mut t = Tracker::new(TrackConfig::default());
        let c = "10.0.0.1:40000".parse().unwrap();
        let s = "10.0.0.2:80".parse().unwrap();
        for (i, &(from_client, flags, seq, ack, len)) in script.iter().enumerate() {
            let (src, dst) = if from_client { (c, s) } else { (s, c) };
            let seg = Segment::new(src, dst, Flags(flags), seq, ack, len);
            t.push(&seg, Timestamp::from_nanos(i as i64), i as u64 + 1);
        }
        t.finish(Timestamp::from_nanos(100)).remove(0)
    }

    #[test]
    fn handshake_and_close_sentences() {
        let c = run(&[
            (true, 0x02, 100, 0, 0),
            (false, 0x12, 500, 101, 0),
            (true, 0x10, 101, 501, 0),
            (true, 0x18, 101, 501, 5),
            (false, 0x10, 501, 106, 0),
            (true, 0x11, 106, 501, 0),
            (false, 0x10, 501, 107, 0),
        ]);
        assert!(sentence(&c, 0).starts_with("the client asks to open a connection"));
        assert_eq!(
            sentence(&c, 1),
            "the server acknowledges the client's SYN (ack = ISN+1) and sends its own SYN"
        );
        assert!(sentence(&c, 2).contains("handshake is complete"));
        assert_eq!(
            sentence(&c, 3),
            "the client sends 5 bytes of data (bytes 1–5)"
        );
        assert!(sentence(&c, 4).contains("up to byte 5"));
        assert!(sentence(&c, 5).contains("closes its direction"));
        assert_eq!(
            sentence(&c, 6),
            "the server acknowledges the client's FIN (ack = FIN+1)"
        );
    }

    #[test]
    fn fields_show_absolute_and_relative() {
        let c = run(&[(true, 0x02, 100, 0, 0), (false, 0x12, 500, 101, 0)]);
        let f = fields(&c, 1, None);
        let get = |k: &str| f.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("seq"), "0 (absolute 500)");
        assert_eq!(get("ack"), "1 (absolute 101)");
        assert_eq!(get("flags"), "SYN,ACK (0x012)");
    }
}
