//! ICMP and ICMPv6 errors that quote a TCP segment: who sent the error,
//! what it means, and what Linux makes of it (the errno `connect()` returns
//! and whether RFC 1122 calls it a hard error).
//!
//! Linux's rules, read from net/ipv4/tcp_ipv4.c (`tcp_v4_err`),
//! net/ipv6/tcp_ipv6.c (`tcp_v6_err`), net/ipv4/icmp.c (`icmp_err_convert`)
//! and net/ipv6/icmp.c (`icmpv6_err_convert`):
//!
//! * In SYN-SENT (and SYN-RECEIVED) TCP gives up on *every* error it
//!   converts, hard or soft: `tcp_done_with_error`, and `connect()` returns
//!   the converted errno. Fragmentation needed / packet too big only lower
//!   the path MTU, source quench is ignored, and ICMPv4 destination
//!   unreachable codes above 15 are ignored.
//! * On a synchronized connection nothing changes: the errno is kept as a
//!   soft error (reported only with `IP_RECVERR`, or at a later timeout).
//! * The errno table's "fatal" flag (what [`IcmpKind::is_hard`] returns) is
//!   RFC 1122's hard/soft distinction; Linux's UDP and raw sockets act on
//!   it, and TCP only in the two states above, where it acts on all.

use std::net::{IpAddr, SocketAddr};

use super::tcp::{Flags, SeqNumber};

/// Which ICMP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcmpVersion {
    V4,
    V6,
}

/// The type and code of an error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IcmpKind {
    pub version: IcmpVersion,
    pub ty: u8,
    pub code: u8,
}

/// ICMPv4 types that are errors about a datagram (RFC 792).
const V4_UNREACH: u8 = 3;
const V4_SOURCE_QUENCH: u8 = 4;
const V4_TIME_EXCEEDED: u8 = 11;
const V4_PARAMETER_PROBLEM: u8 = 12;
/// ICMPv6 error types (RFC 4443).
const V6_UNREACH: u8 = 1;
const V6_TOO_BIG: u8 = 2;
const V6_TIME_EXCEEDED: u8 = 3;
const V6_PARAMETER_PROBLEM: u8 = 4;

/// ICMPv4 destination unreachable, codes 0–15: meaning, the errno and the
/// "fatal" flag of Linux's `icmp_err_convert`.
const V4_UNREACH_CODES: [(&str, &str, bool); 16] = [
    ("network unreachable", "ENETUNREACH", false),
    ("host unreachable", "EHOSTUNREACH", false),
    ("protocol unreachable", "ENOPROTOOPT", true),
    ("port unreachable", "ECONNREFUSED", true),
    ("fragmentation needed", "EMSGSIZE", false),
    ("source route failed", "EOPNOTSUPP", false),
    ("destination network unknown", "ENETUNREACH", true),
    ("destination host unknown", "EHOSTDOWN", true),
    ("source host isolated", "ENONET", true),
    ("network administratively prohibited", "ENETUNREACH", true),
    ("host administratively prohibited", "EHOSTUNREACH", true),
    ("network unreachable for TOS", "ENETUNREACH", false),
    ("host unreachable for TOS", "EHOSTUNREACH", false),
    (
        "communication administratively prohibited",
        "EHOSTUNREACH",
        true,
    ),
    ("host precedence violation", "EHOSTUNREACH", true),
    ("precedence cutoff in effect", "EHOSTUNREACH", true),
];

/// ICMPv6 destination unreachable, codes 0–6 (`tab_unreach` in Linux);
/// later codes are EPROTO and fatal.
const V6_UNREACH_CODES: [(&str, &str, bool); 7] = [
    ("no route to destination", "ENETUNREACH", false),
    ("administratively prohibited", "EACCES", true),
    ("beyond scope of source address", "EHOSTUNREACH", false),
    ("address unreachable", "EHOSTUNREACH", false),
    ("port unreachable", "ECONNREFUSED", true),
    (
        "source address failed ingress/egress policy",
        "EACCES",
        true,
    ),
    ("reject route to destination", "EACCES", true),
];

impl IcmpKind {
    /// The plain meaning of the type and code.
    pub fn meaning(&self) -> &'static str {
        let code = usize::from(self.code);
        match (self.version, self.ty) {
            (IcmpVersion::V4, V4_UNREACH) => V4_UNREACH_CODES
                .get(code)
                .map_or("destination unreachable (unknown code)", |c| c.0),
            (IcmpVersion::V4, V4_SOURCE_QUENCH) => "source quench (obsolete, ignored)",
            (IcmpVersion::V4, V4_TIME_EXCEEDED) | (IcmpVersion::V6, V6_TIME_EXCEEDED) => {
                if self.code == 1 {
                    "fragment reassembly time exceeded"
                } else {
                    "time exceeded in transit"
                }
            }
            (IcmpVersion::V4, V4_PARAMETER_PROBLEM) => "parameter problem",
            (IcmpVersion::V6, V6_UNREACH) => V6_UNREACH_CODES
                .get(code)
                .map_or("destination unreachable (unknown code)", |c| c.0),
            (IcmpVersion::V6, V6_TOO_BIG) => "packet too big",
            (IcmpVersion::V6, V6_PARAMETER_PROBLEM) => match self.code {
                0 => "parameter problem: erroneous header field",
                1 => "parameter problem: unrecognized next header",
                2 => "parameter problem: unrecognized IPv6 option",
                _ => "parameter problem",
            },
            _ => "ICMP error",
        }
    }

    /// The errno Linux's `connect()` returns when this error arrives in
    /// SYN-SENT, which it then leaves for CLOSED; None when TCP does not give
    /// up on it (fragmentation needed and packet too big lower the path
    /// MTU, source quench and unknown ICMPv4 unreachable codes are ignored).
    pub fn errno(&self) -> Option<&'static str> {
        match (self.version, self.ty) {
            (IcmpVersion::V4, V4_UNREACH) if self.code == 4 => None,
            (IcmpVersion::V4, V4_UNREACH) => {
                V4_UNREACH_CODES.get(usize::from(self.code)).map(|c| c.1)
            }
            (IcmpVersion::V4, V4_TIME_EXCEEDED) | (IcmpVersion::V6, V6_TIME_EXCEEDED) => {
                Some("EHOSTUNREACH")
            }
            (IcmpVersion::V4, V4_PARAMETER_PROBLEM) | (IcmpVersion::V6, V6_PARAMETER_PROBLEM) => {
                Some("EPROTO")
            }
            (IcmpVersion::V6, V6_UNREACH) => Some(
                V6_UNREACH_CODES
                    .get(usize::from(self.code))
                    .map_or("EPROTO", |c| c.1),
            ),
            _ => None,
        }
    }

    /// RFC 1122's hard error (Linux's "fatal" flag): port and protocol
    /// unreachable, the prohibited and unknown codes, parameter problems.
    /// Soft: network/host unreachable, time exceeded, fragmentation needed
    /// / packet too big, source quench.
    pub fn is_hard(&self) -> bool {
        match (self.version, self.ty) {
            (IcmpVersion::V4, V4_UNREACH) => V4_UNREACH_CODES
                .get(usize::from(self.code))
                .is_some_and(|c| c.2),
            (IcmpVersion::V4, V4_PARAMETER_PROBLEM) | (IcmpVersion::V6, V6_PARAMETER_PROBLEM) => {
                true
            }
            (IcmpVersion::V6, V6_UNREACH) => V6_UNREACH_CODES
                .get(usize::from(self.code))
                .is_none_or(|c| c.2),
            _ => false,
        }
    }

    /// Fragmentation needed or packet too big: the message carries an MTU.
    pub fn is_mtu(&self) -> bool {
        matches!(
            (self.version, self.ty, self.code),
            (IcmpVersion::V4, V4_UNREACH, 4) | (IcmpVersion::V6, V6_TOO_BIG, _)
        )
    }
}

/// An ICMP or ICMPv6 error about a TCP segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpError {
    /// Who sent the ICMP message (a router on the path, or the host).
    pub from: IpAddr,
    /// Whom it was sent to: the quoted segment's sender.
    pub to: IpAddr,
    pub version: IcmpVersion,
    pub kind: IcmpKind,
    /// The quoted segment's source (the endpoint the error goes back to).
    pub quoted_src: SocketAddr,
    pub quoted_dst: SocketAddr,
    /// The quoted sequence number (always within the first 8 bytes).
    pub quoted_seq: SeqNumber,
    /// The quoted flags, when the quote reaches them (14 bytes of TCP).
    pub quoted_flags: Option<Flags>,
    /// Next-hop MTU of fragmentation needed / packet too big (None when a
    /// router sent 0, as pre-RFC 1191 routers do).
    pub mtu: Option<u32>,
    /// Hop limit / TTL of the ICMP packet itself.
    pub ttl: u8,
}

impl IcmpError {
    /// The meaning with the MTU when there is one: "fragmentation needed
    /// (next-hop MTU 1400)", "packet too big (MTU 1280)".
    pub fn describe(&self) -> String {
        let m = self.kind.meaning();
        match (self.mtu, self.version) {
            (Some(mtu), IcmpVersion::V4) if self.kind.is_mtu() => {
                format!("{m} (next-hop MTU {mtu})")
            }
            (Some(mtu), IcmpVersion::V6) if self.kind.is_mtu() => format!("{m} (MTU {mtu})"),
            _ => m.to_string(),
        }
    }
}

/// Whether an ICMP type is an error this decoder reads (the rest, echo and
/// the like, is simply not TCP).
pub(crate) fn is_error(version: IcmpVersion, ty: u8) -> bool {
    match version {
        IcmpVersion::V4 => matches!(
            ty,
            V4_UNREACH | V4_SOURCE_QUENCH | V4_TIME_EXCEEDED | V4_PARAMETER_PROBLEM
        ),
        IcmpVersion::V6 => matches!(
            ty,
            V6_UNREACH | V6_TOO_BIG | V6_TIME_EXCEEDED | V6_PARAMETER_PROBLEM
        ),
    }
}

/// The MTU field of an 8-byte ICMP header, when the message has one.
pub(crate) fn mtu(kind: IcmpKind, header: &[u8]) -> Option<u32> {
    if !kind.is_mtu() || header.len() < 8 {
        return None;
    }
    let v = match kind.version {
        IcmpVersion::V4 => u32::from(u16::from_be_bytes([header[6], header[7]])),
        IcmpVersion::V6 => u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
    };
    (v != 0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(ty: u8, code: u8) -> IcmpKind {
        IcmpKind {
            version: IcmpVersion::V4,
            ty,
            code,
        }
    }

    fn v6(ty: u8, code: u8) -> IcmpKind {
        IcmpKind {
            version: IcmpVersion::V6,
            ty,
            code,
        }
    }

    #[test]
    fn linux_errno_table_v4() {
        let cases = [
            (0, Some("ENETUNREACH"), false),
            (1, Some("EHOSTUNREACH"), false),
            (2, Some("ENOPROTOOPT"), true),
            (3, Some("ECONNREFUSED"), true),
            (4, None, false),
            (9, Some("ENETUNREACH"), true),
            (10, Some("EHOSTUNREACH"), true),
            (13, Some("EHOSTUNREACH"), true),
            (16, None, false),
        ];
        for (code, errno, hard) in cases {
            assert_eq!(v4(3, code).errno(), errno, "code {code}");
            assert_eq!(v4(3, code).is_hard(), hard, "code {code}");
        }
        assert_eq!(v4(11, 0).errno(), Some("EHOSTUNREACH"));
        assert!(!v4(11, 0).is_hard());
        assert_eq!(v4(12, 0).errno(), Some("EPROTO"));
        assert!(v4(12, 0).is_hard());
        assert_eq!(v4(4, 0).errno(), None);
        assert_eq!(
            v4(3, 13).meaning(),
            "communication administratively prohibited"
        );
    }

    #[test]
    fn linux_errno_table_v6() {
        assert_eq!(v6(1, 0).errno(), Some("ENETUNREACH"));
        assert!(!v6(1, 0).is_hard());
        assert_eq!(v6(1, 1).errno(), Some("EACCES"));
        assert!(v6(1, 1).is_hard());
        assert_eq!(v6(1, 3).errno(), Some("EHOSTUNREACH"));
        assert_eq!(v6(1, 4).errno(), Some("ECONNREFUSED"));
        assert_eq!(v6(1, 9).errno(), Some("EPROTO"));
        assert!(v6(1, 9).is_hard());
        assert_eq!(v6(2, 0).errno(), None);
        assert!(v6(2, 0).is_mtu());
        assert_eq!(v6(3, 0).errno(), Some("EHOSTUNREACH"));
        assert_eq!(v6(4, 1).errno(), Some("EPROTO"));
        assert!(v6(4, 1).is_hard());
    }

    #[test]
    fn mtu_is_read_from_the_right_bytes() {
        let h4 = [3, 4, 0, 0, 0, 0, 0x05, 0x78];
        assert_eq!(mtu(v4(3, 4), &h4), Some(1400));
        assert_eq!(mtu(v4(3, 1), &h4), None);
        assert_eq!(mtu(v4(3, 4), &[3, 4, 0, 0, 0, 0, 0, 0]), None);
        let h6 = [2, 0, 0, 0, 0, 0, 0x05, 0x00];
        assert_eq!(mtu(v6(2, 0), &h6), Some(1280));
    }
}
