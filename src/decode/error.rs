//! Why a packet did not yield a TCP segment: either it is simply not one
//! (counted, not an error), or a layer is damaged (named, with the byte
//! offset where the problem is).

use std::fmt;

/// The protocol layer that could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Link,
    Ip,
    Tunnel,
    Icmp,
    Tcp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Link => "link layer",
            Layer::Ip => "IP header",
            Layer::Tunnel => "tunnel header",
            Layer::Icmp => "ICMP message",
            Layer::Tcp => "TCP header",
        })
    }
}

/// A damaged header: which layer, at which byte offset of the packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{layer} at offset {offset}: {problem}")]
pub struct DecodeError {
    pub layer: Layer,
    pub offset: usize,
    pub problem: String,
}

impl DecodeError {
    pub fn new(layer: Layer, offset: usize, problem: impl Into<String>) -> Self {
        DecodeError {
            layer,
            offset,
            problem: problem.into(),
        }
    }
}

/// A packet that is not a TCP segment this tool can follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The link layer carries something other than IP (ARP, LLC, ...).
    NotIp,
    /// IP, but not TCP (UDP, ICMP, ...).
    NotTcp,
    /// An IP fragment, from the stateless decoder (no reassembly).
    Fragment,
    /// An IP fragment the [`Decoder`](super::Decoder) keeps for reassembly
    /// (or ignores as a duplicate, or dropped with its datagram): it
    /// completes nothing yet. Counted apart from the skipped packets.
    FragmentHeld,
    /// A link type this decoder has no rule for.
    UnsupportedLink(u32),
    /// A header that is damaged or cut before the TCP header ends.
    Malformed(DecodeError),
}

/// The `stats` buckets a skipped packet falls into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipKind {
    NotTcp,
    Fragment,
    UnsupportedLink,
    Undecodable,
}

impl Skip {
    pub fn kind(&self) -> SkipKind {
        match self {
            Skip::NotIp | Skip::NotTcp => SkipKind::NotTcp,
            Skip::Fragment | Skip::FragmentHeld => SkipKind::Fragment,
            Skip::UnsupportedLink(_) => SkipKind::UnsupportedLink,
            Skip::Malformed(_) => SkipKind::Undecodable,
        }
    }
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::NotIp => f.write_str("not an IP packet"),
            Skip::NotTcp => f.write_str("not TCP"),
            Skip::Fragment => f.write_str("IP fragment (not reassembled)"),
            Skip::FragmentHeld => f.write_str("IP fragment (held for reassembly)"),
            Skip::UnsupportedLink(l) => write!(f, "unsupported link type {l}"),
            Skip::Malformed(e) => e.fmt(f),
        }
    }
}
