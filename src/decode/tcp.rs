//! TCP header values as domain types: sequence numbers with wrapping
//! comparisons, the flag set, and the options that matter for a ladder.

use serde::Serialize;
use std::fmt;
use std::ops::{BitOr, Sub};

/// A TCP sequence or acknowledgment number. Comparisons wrap (RFC 9293
/// §3.4): `a < b` when `b` is less than 2^31 ahead of `a`.
///
/// ```
/// use tcpladder::decode::SeqNumber;
/// let last = SeqNumber(u32::MAX);
/// let next = last.plus(1);
/// assert_eq!(next, SeqNumber(0));
/// assert!(last.lt(next), "0 comes after 2^32 - 1");
/// assert_eq!(next - last, 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    pub fn plus(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }

    /// Signed distance from `other` to `self`.
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    pub fn lt(self, other: SeqNumber) -> bool {
        self.diff(other) < 0
    }

    pub fn le(self, other: SeqNumber) -> bool {
        self.diff(other) <= 0
    }

    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self.lt(other) { other } else { self }
    }
}

impl Sub for SeqNumber {
    type Output = u32;
    /// Distance modulo 2^32: the relative number Wireshark prints.
    fn sub(self, rhs: SeqNumber) -> u32 {
        self.0.wrapping_sub(rhs.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The TCP flag bits, FIN (bit 0) to CWR (bit 7), plus AE (formerly NS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u16);

impl Flags {
    pub const FIN: Flags = Flags(0x001);
    pub const SYN: Flags = Flags(0x002);
    pub const RST: Flags = Flags(0x004);
    pub const PSH: Flags = Flags(0x008);
    pub const ACK: Flags = Flags(0x010);
    pub const URG: Flags = Flags(0x020);
    pub const ECE: Flags = Flags(0x040);
    pub const CWR: Flags = Flags(0x080);
    pub const AE: Flags = Flags(0x100);

    /// Names in bit order, which is also the order Wireshark and the
    /// textbooks write them in ("SYN,ACK", "FIN,ACK", "RST,ACK").
    const NAMES: [(Flags, &'static str); 9] = [
        (Flags::FIN, "FIN"),
        (Flags::SYN, "SYN"),
        (Flags::RST, "RST"),
        (Flags::PSH, "PSH"),
        (Flags::ACK, "ACK"),
        (Flags::URG, "URG"),
        (Flags::ECE, "ECE"),
        (Flags::CWR, "CWR"),
        (Flags::AE, "AE"),
    ];

    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn syn(self) -> bool {
        self.contains(Flags::SYN)
    }
    pub fn fin(self) -> bool {
        self.contains(Flags::FIN)
    }
    pub fn rst(self) -> bool {
        self.contains(Flags::RST)
    }
    pub fn ack(self) -> bool {
        self.contains(Flags::ACK)
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| n)
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl fmt::Display for Flags {
    /// "SYN,ACK"; "none" when no bit is set (a null scan).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for n in self.names() {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(n)?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

impl Serialize for Flags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// The options a connection ladder shows. Unknown options are counted, not
/// kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    /// Number of SACK blocks carried.
    pub sack_blocks: u8,
    /// The first SACK block (left, right edge): a D-SACK (RFC 2883) when it
    /// lies below the cumulative ACK, the report of a duplicate arrival.
    pub first_sack: Option<(SeqNumber, SeqNumber)>,
    /// (TSval, TSecr)
    pub timestamps: Option<(u32, u32)>,
    pub fast_open: bool,
    pub mptcp: bool,
    pub other: u8,
    /// The option list ended early or had a bad length byte.
    pub malformed: bool,
}

impl TcpOptions {
    /// Reads the option bytes that are present; a list cut short by the
    /// snap length yields what was there and sets `malformed` only when a
    /// length byte itself is impossible.
    #[inline]
    pub fn parse(b: &[u8]) -> TcpOptions {
        let mut o = TcpOptions::default();
        o.read(b);
        o
    }

    /// [`parse`](TcpOptions::parse) into `self`, written over where it is
    /// (a segment decoded in place is never copied whole).
    #[inline]
    pub fn read(&mut self, mut b: &[u8]) {
        *self = TcpOptions::default();
        let o = self;
        while let Some(&kind) = b.first() {
            match kind {
                0 => break,
                1 => {
                    b = &b[1..];
                    continue;
                }
                _ => {}
            }
            let Some(&len) = b.get(1) else { break };
            let len = usize::from(len);
            if len < 2 {
                o.malformed = true;
                break;
            }
            let Some(body) = b.get(2..len) else { break };
            match (kind, body.len()) {
                (2, 2) => o.mss = Some(u16::from_be_bytes([body[0], body[1]])),
                (3, 1) => o.window_scale = Some(body[0]),
                (4, 0) => o.sack_permitted = true,
                (5, n) if n % 8 == 0 => {
                    o.sack_blocks = (n / 8) as u8;
                    if n >= 8 {
                        let l = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                        let r = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                        o.first_sack = Some((SeqNumber(l), SeqNumber(r)));
                    }
                }
                (8, 8) => {
                    let v = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    let e = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                    o.timestamps = Some((v, e));
                }
                (34, _) => o.fast_open = true,
                (30, _) => o.mptcp = true,
                (2 | 3 | 4 | 5 | 8, _) => o.malformed = true,
                _ => o.other = o.other.saturating_add(1),
            }
            b = &b[len..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_comparisons_wrap() {
        let a = SeqNumber(u32::MAX - 1);
        let b = a.plus(5);
        assert_eq!(b, SeqNumber(3));
        assert!(a.lt(b));
        assert!(!b.lt(a));
        assert_eq!(b - a, 5);
        assert_eq!(a.max(b), b);
    }

    #[test]
    fn flags_print_in_wireshark_order() {
        assert_eq!((Flags::SYN | Flags::ACK).to_string(), "SYN,ACK");
        assert_eq!((Flags::ACK | Flags::FIN).to_string(), "FIN,ACK");
        assert_eq!(Flags(0).to_string(), "none");
    }

    #[test]
    fn options_of_a_linux_syn() {
        // mss 65495, sackOK, TS, nop, wscale 7 — what Linux puts on a loopback SYN.
        let b = [
            2, 4, 0xff, 0xd7, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let o = TcpOptions::parse(&b);
        assert_eq!(o.mss, Some(65495));
        assert!(o.sack_permitted);
        assert_eq!(o.timestamps, Some((1, 0)));
        assert_eq!(o.window_scale, Some(7));
        assert!(!o.malformed);
    }

    #[test]
    fn the_first_sack_block_is_kept() {
        // nop, nop, SACK with two blocks.
        let mut b = vec![1, 1, 5, 18];
        for v in [100u32, 200, 300, 400] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        let o = TcpOptions::parse(&b);
        assert_eq!(o.sack_blocks, 2);
        assert_eq!(o.first_sack, Some((SeqNumber(100), SeqNumber(200))));
    }

    #[test]
    fn zero_option_length_is_malformed_not_a_loop() {
        let o = TcpOptions::parse(&[2, 0, 1, 1]);
        assert!(o.malformed);
    }

    #[test]
    fn cut_option_list_keeps_what_is_there() {
        let o = TcpOptions::parse(&[2, 4, 0x05, 0xb4, 8, 10, 0]);
        assert_eq!(o.mss, Some(1460));
        assert_eq!(o.timestamps, None);
    }
}
