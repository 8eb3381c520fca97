//! Packet bytes → a TCP segment, or an ICMP error about one. Pure: no I/O,
//! no clock (time comes with each packet), no allocation on the path of a
//! packet that is not an IP fragment. The link layer is dispatched here
//! (`link`), IP and TCP are read with etherparse's lax parsers so that a
//! packet cut by the snap length still yields flags, numbers and the true
//! payload length when the TCP header itself was captured.
//!
//! [`Decoder`] is the front end every real path uses: it owns the IP
//! fragment [`Reassembler`], so a fragmented segment comes out once, whole,
//! with the packet that completed it. [`decode`] and [`decode_frame`] are
//! the stateless versions (fragments are skipped).

pub mod error;
pub mod icmp;
pub mod link;
pub mod reassembly;
pub mod tcp;

use std::net::{IpAddr, SocketAddr};

use etherparse::{IpNumber, LaxIpSlice};

use crate::time::Timestamp;

pub use error::{DecodeError, Layer, Skip, SkipKind};
pub use icmp::{IcmpError, IcmpKind, IcmpVersion};
pub use reassembly::{Reassembler, ReassemblyConfig, ReassemblyStats};
pub use tcp::{Flags, SeqNumber, TcpOptions};

/// What one packet decodes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    Tcp(Segment),
    /// An ICMP or ICMPv6 error quoting a TCP segment.
    IcmpError(IcmpError),
}

impl Packet {
    /// The TCP segment, if this is one.
    pub fn tcp(self) -> Option<Segment> {
        match self {
            Packet::Tcp(s) => Some(s),
            Packet::IcmpError(_) => None,
        }
    }
}

/// One TCP segment as it appeared on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub flags: Flags,
    /// The raw window field (not scaled).
    pub window: u16,
    /// Payload length from the IP length fields, not from what was captured.
    pub len: u32,
    pub header_len: u8,
    pub checksum: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The capture holds fewer bytes than the packet had (snap length).
    pub truncated: bool,
}

impl Segment {
    /// A segment with the fields the tracker reads and the rest plain (a
    /// 20-byte header, window 512, no options): for tests, benchmarks and
    /// synthetic traffic.
    pub fn new(
        src: SocketAddr,
        dst: SocketAddr,
        flags: Flags,
        seq: u32,
        ack: u32,
        len: u32,
    ) -> Segment {
        Segment {
            src,
            dst,
            seq: SeqNumber(seq),
            ack: SeqNumber(ack),
            flags,
            window: 512,
            len,
            header_len: 20,
            checksum: 0,
            urgent: 0,
            options: TcpOptions::default(),
            ttl: 64,
            truncated: false,
        }
    }

    /// Sequence space this segment occupies: payload plus one for SYN and
    /// one for FIN (RFC 9293 §3.4).
    pub fn seq_len(&self) -> u32 {
        self.len + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// First sequence number after this segment.
    pub fn end(&self) -> SeqNumber {
        self.seq.plus(self.seq_len())
    }
}

/// Tunnels are followed at most this deep (IP-in-IP, GRE).
const MAX_TUNNEL_DEPTH: u8 = 4;

/// Decodes a captured frame of link type `link` whose length on the wire
/// is unknown: the IP length fields are trusted. Stateless: an IP fragment
/// is [`Skip::Fragment`].
pub fn decode(link: u32, data: &[u8]) -> Result<Packet, Skip> {
    from_link(link, data, None, &mut Ctx::stateless())
}

/// Decodes a captured frame that was `wire_len` bytes on the wire. When
/// the whole frame was captured, the payload cannot be longer than what is
/// there, whatever the IP header claims. Stateless, like [`decode`].
pub fn decode_frame(link: u32, data: &[u8], wire_len: u32) -> Result<Packet, Skip> {
    from_link(link, data, Some(wire_len), &mut Ctx::stateless())
}

/// The link layer, then IP: `wire_len`, when known, tells whether the
/// whole frame was captured.
#[inline(always)]
fn from_link(
    link: u32,
    data: &[u8],
    wire_len: Option<u32>,
    ctx: &mut Ctx<'_>,
) -> Result<Packet, Skip> {
    let (f, off) = record_frame(link, data, wire_len)?;
    ip(f, off, 0, ctx)
}

/// A record's bytes up to where its link layer ends them, and where its
/// IP header begins: `wire_len`, when known, tells whether the whole
/// frame was captured.
#[inline(always)]
fn record_frame(link: u32, data: &[u8], wire_len: Option<u32>) -> Result<(Frame<'_>, usize), Skip> {
    let (off, end) = link::ip_span(link, data)?;
    let f = Frame {
        whole: wire_len.is_some_and(|w| w as usize <= data.len()),
        data: &data[..end],
        in_record: true,
    };
    Ok((f, off))
}

/// The decoder of a capture: [`decode_frame`] plus IP fragment reassembly.
/// Feed it every packet of one capture in order.
#[derive(Debug, Default)]
pub struct Decoder {
    reassembler: Reassembler,
}

impl Decoder {
    pub fn new(cfg: ReassemblyConfig) -> Decoder {
        Decoder {
            reassembler: Reassembler::new(cfg),
        }
    }

    /// Decodes one captured frame, taken at `ts`. A fragment that does not
    /// complete its datagram is [`Skip::FragmentHeld`]; the one that does
    /// yields the reassembled packet.
    #[inline(always)]
    pub fn decode(
        &mut self,
        link: u32,
        data: &[u8],
        wire_len: u32,
        ts: Timestamp,
    ) -> Result<Packet, Skip> {
        let mut ctx = Ctx {
            reassembler: Some(&mut self.reassembler),
            ts,
            payload: None,
        };
        from_link(link, data, Some(wire_len), &mut ctx)
    }

    /// [`decode`](Decoder::decode), and the segment's payload as far as
    /// `data` holds it (empty for a datagram put together from fragments).
    #[inline]
    pub fn decode_payload<'a>(
        &mut self,
        link: u32,
        data: &'a [u8],
        wire_len: u32,
        ts: Timestamp,
    ) -> (Result<Packet, Skip>, &'a [u8]) {
        let mut ctx = Ctx {
            reassembler: Some(&mut self.reassembler),
            ts,
            payload: None,
        };
        let packet = from_link(link, data, Some(wire_len), &mut ctx);
        let payload = ctx.payload.and_then(|r| data.get(r)).unwrap_or_default();
        (packet, payload)
    }

    /// [`decode_payload`](Decoder::decode_payload) into `out`. When `out`
    /// holds a TCP segment already and this frame is a plain IPv4 one
    /// (nearly always), the segment is written over where it is, field by
    /// field: a reader that keeps its records' places decodes without
    /// copying each segment again. Otherwise `out` gets what
    /// `decode_payload` gives.
    pub fn decode_into<'a>(
        &mut self,
        link: u32,
        data: &'a [u8],
        wire_len: u32,
        ts: Timestamp,
        out: &mut Result<Packet, Skip>,
    ) -> &'a [u8] {
        if let Ok(Packet::Tcp(seg)) = out
            && let Some(payload) = plain_into(link, data, wire_len, seg)
        {
            return payload;
        }
        let (packet, payload) = self.decode_payload(link, data, wire_len, ts);
        *out = packet;
        payload
    }

    /// What reassembly did so far.
    pub fn reassembly(&self) -> ReassemblyStats {
        self.reassembler.stats()
    }

    /// Datagrams still incomplete and the fragments they hold.
    pub fn pending_fragments(&self) -> (usize, u64) {
        self.reassembler.pending()
    }
}

/// What the stateful decoder hands down the layers.
struct Ctx<'r> {
    reassembler: Option<&'r mut Reassembler>,
    ts: Timestamp,
    /// Where the TCP payload is in the record (as far as captured), once
    /// a segment is decoded from the record's own bytes.
    payload: Option<std::ops::Range<usize>>,
}

impl Ctx<'_> {
    fn stateless() -> Ctx<'static> {
        Ctx {
            reassembler: None,
            ts: Timestamp::default(),
            payload: None,
        }
    }
}

/// The TCP payload of a captured frame (what of it was captured), if the
/// frame is a TCP segment whose payload is in its own bytes (not one put
/// together from IP fragments). Stateless, like [`decode_frame`].
pub fn payload(link: u32, data: &[u8], wire_len: u32) -> Option<&[u8]> {
    let mut ctx = Ctx::stateless();
    from_link(link, data, Some(wire_len), &mut ctx)
        .ok()?
        .tcp()?;
    data.get(ctx.payload?)
}

/// The captured bytes, and whether they are the whole frame (no snap-length
/// cut), which decides whether the IP length fields or the bytes win.
#[derive(Clone, Copy)]
struct Frame<'a> {
    data: &'a [u8],
    whole: bool,
    /// These are the record's own bytes (not a datagram put together
    /// from fragments, or decompressed), so offsets in them are offsets
    /// in the record.
    in_record: bool,
}

/// What an IP header says of the TCP segment it carries.
struct TcpIn {
    /// Where the TCP header begins in the frame.
    start: usize,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    /// Where the IP length fields say the packet ends, from the IP header.
    claimed_end: usize,
}

/// An IPv4 header of 20 bytes, not a fragment, carrying TCP: nearly every
/// packet of a capture, read from its fixed places (etherparse's general
/// parse cost more than the rest of decoding). What this gives is what the
/// general path gives for the same bytes; anything else is left to it.
#[inline]
fn plain_ipv4_tcp(bytes: &[u8], off: usize) -> Option<TcpIn> {
    let h: &[u8; 20] = bytes.get(..20)?.try_into().ok()?;
    // Version 4 with IHL 5; no More Fragments flag and offset 0 (the
    // reserved and Don't Fragment bits do not matter); protocol 6.
    if h[0] != 0x45 || h[6] & 0x3f != 0 || h[7] != 0 || h[9] != 6 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let addr = |i: usize| IpAddr::from([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    Some(TcpIn {
        start: off + 20,
        src: addr(12),
        dst: addr(16),
        ttl: h[8],
        // A total length shorter than the header is no length at all.
        claimed_end: if total >= 20 { total } else { bytes.len() },
    })
}

#[inline(always)]
fn ip(f: Frame<'_>, off: usize, depth: u8, ctx: &mut Ctx<'_>) -> Result<Packet, Skip> {
    let data = f.data;
    let Some(bytes) = data.get(off..) else {
        return Err(Skip::Malformed(DecodeError::new(
            Layer::Ip,
            data.len(),
            "the packet ends before its IP header",
        )));
    };
    let tcp_in = match plain_ipv4_tcp(bytes, off) {
        Some(t) => t,
        None => match any_ip(f, off, bytes, depth, ctx)? {
            Next::Tcp(t) => t,
            Next::Done(p) => return Ok(p),
        },
    };
    tcp_in_ip(f, off, tcp_in, ctx)
}

/// A frame with a plain IPv4 header and a TCP header that reads whole,
/// into `seg`; its payload as captured. None for any other frame (then
/// `seg` may be partly written: the caller decodes it generally).
#[inline(always)]
fn plain_into<'a>(link: u32, data: &'a [u8], wire_len: u32, seg: &mut Segment) -> Option<&'a [u8]> {
    let (f, off) = record_frame(link, data, Some(wire_len)).ok()?;
    let t = plain_ipv4_tcp(f.data.get(off..)?, off)?;
    let mut ctx = Ctx::stateless();
    tcp_in_ip_into(f, off, t, &mut ctx, seg).ok()?;
    data.get(ctx.payload?)
}

/// The TCP segment an IP header (at `off`) says is there.
#[inline(always)]
fn tcp_in_ip(f: Frame<'_>, off: usize, tcp_in: TcpIn, ctx: &mut Ctx<'_>) -> Result<Packet, Skip> {
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut seg = Segment::new(any, any, Flags(0), 0, 0, 0);
    tcp_in_ip_into(f, off, tcp_in, ctx, &mut seg)?;
    Ok(Packet::Tcp(seg))
}

/// [`tcp_in_ip`] into `seg`, written over where it is.
#[inline(always)]
fn tcp_in_ip_into(
    f: Frame<'_>,
    off: usize,
    tcp_in: TcpIn,
    ctx: &mut Ctx<'_>,
    seg: &mut Segment,
) -> Result<(), Skip> {
    let TcpIn {
        start,
        src,
        dst,
        ttl,
        claimed_end,
    } = tcp_in;
    seg.src = SocketAddr::new(src, 0);
    seg.dst = SocketAddr::new(dst, 0);
    let tcp_claimed = claimed_end.saturating_sub(start - off);
    tcp_into(f, start, ttl, tcp_claimed, ctx, seg)
}

/// [`decode_frame`] without the plain IPv4 path: every header through
/// the general one, to show the two agree.
#[cfg(test)]
pub(crate) fn decode_frame_generally(
    link: u32,
    data: &[u8],
    wire_len: u32,
) -> Result<Packet, Skip> {
    let (f, off) = record_frame(link, data, Some(wire_len))?;
    let mut ctx = Ctx::stateless();
    let bytes = f.data.get(off..).unwrap_or_default();
    match any_ip(f, off, bytes, 0, &mut ctx)? {
        Next::Tcp(t) => tcp_in_ip(f, off, t, &mut ctx),
        Next::Done(p) => Ok(p),
    }
}

/// After an IP header: a TCP segment to decode, or what the packet was.
enum Next {
    Tcp(TcpIn),
    Done(Packet),
}

/// Any IP header (options, IPv6 and its extensions, fragments, tunnels).
#[inline(never)]
fn any_ip(
    f: Frame<'_>,
    off: usize,
    bytes: &[u8],
    depth: u8,
    ctx: &mut Ctx<'_>,
) -> Result<Next, Skip> {
    let (slice, ext_err) = LaxIpSlice::from_slice(bytes)
        .map_err(|e| Skip::Malformed(DecodeError::new(Layer::Ip, off, e.to_string())))?;
    let payload = slice.payload();
    if payload.fragmented {
        return fragment(f, off, &slice, depth, ctx).map(Next::Done);
    }
    let start = off + offset_in(bytes, payload.payload);
    let v6 = matches!(slice, LaxIpSlice::Ipv6(_));
    let done = match payload.ip_number {
        IpNumber::TCP => None,
        IpNumber::IPV4 | IpNumber::IPV6 if depth < MAX_TUNNEL_DEPTH => {
            Some(ip(f, start, depth + 1, ctx))
        }
        IpNumber::GRE if depth < MAX_TUNNEL_DEPTH => Some(gre(f, start, depth + 1, ctx)),
        IpNumber::UDP if depth < MAX_TUNNEL_DEPTH => Some(udp_tunnel(f, start, depth + 1, ctx)),
        IpNumber::IP_COMP if depth < MAX_TUNNEL_DEPTH => {
            Some(ipcomp(f, start, &slice, depth + 1, ctx))
        }
        IpNumber::ICMP if !v6 => Some(icmp_error(f, start, &slice, IcmpVersion::V4)),
        IpNumber::IPV6_ICMP if v6 => Some(icmp_error(f, start, &slice, IcmpVersion::V6)),
        _ => {
            return Err(match ext_err {
                Some((e, _)) => Skip::Malformed(DecodeError::new(Layer::Ip, off, e.to_string())),
                None => Skip::NotTcp,
            });
        }
    };
    if let Some(done) = done {
        return done.map(Next::Done);
    }
    let (src, dst, ttl) = addresses(&slice);
    // The IP length fields say how long the TCP segment really is; the
    // slice may be shorter (snap length) or longer (Ethernet padding).
    let claimed_end = match &slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let total = usize::from(h.total_len());
            if total >= usize::from(h.ihl()) * 4 {
                total
            } else {
                bytes.len()
            }
        }
        LaxIpSlice::Ipv6(v6) => {
            let plen = usize::from(v6.header().payload_length());
            if plen == 0 { bytes.len() } else { 40 + plen }
        }
    };
    Ok(Next::Tcp(TcpIn {
        start,
        src,
        dst,
        ttl,
        claimed_end,
    }))
}

/// Source, destination and TTL / hop limit of an IP header.
fn addresses(slice: &LaxIpSlice<'_>) -> (IpAddr, IpAddr, u8) {
    match slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.ttl(),
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                h.hop_limit(),
            )
        }
    }
}

/// IPComp (RFC 3173): a 4-byte header (next header, flags, CPI), then the
/// payload compressed. Only DEFLATE (RFC 2394) is read, whatever the CPI
/// says (negotiated CPIs do not name the algorithm): a payload that does
/// not inflate is not TCP, as far as this decoder can tell. In tunnel mode
/// an IP packet comes out, in transport mode the TCP segment itself. The
/// inflated bytes are the only allocation on this path.
fn ipcomp(
    f: Frame<'_>,
    off: usize,
    outer: &LaxIpSlice<'_>,
    depth: u8,
    ctx: &mut Ctx<'_>,
) -> Result<Packet, Skip> {
    let b = &f.data[off..];
    if b.len() < 4 {
        return Err(Skip::Malformed(DecodeError::new(
            Layer::Tunnel,
            off,
            "IPComp header is cut short",
        )));
    }
    let next = b[0];
    if !matches!(next, 4 | 6 | 41) {
        return Err(Skip::NotTcp);
    }
    let Ok(plain) = miniz_oxide::inflate::decompress_to_vec_with_limit(&b[4..], 65535) else {
        return Err(Skip::NotTcp);
    };
    let inner = Frame {
        data: &plain,
        whole: f.whole,
        in_record: false,
    };
    if next == 6 {
        let (src, dst, ttl) = addresses(outer);
        let tcp_in = TcpIn {
            start: 0,
            src,
            dst,
            ttl,
            claimed_end: plain.len(),
        };
        return tcp_in_ip(inner, 0, tcp_in, ctx);
    }
    ip(inner, 0, depth, ctx)
}

/// An IP fragment: handed to the reassembler when there is one; the packet
/// that completes a datagram is decoded again from the reassembled bytes.
fn fragment(
    f: Frame<'_>,
    off: usize,
    slice: &LaxIpSlice<'_>,
    depth: u8,
    ctx: &mut Ctx<'_>,
) -> Result<Packet, Skip> {
    // A reassembled packet is decoded one level deeper, like a tunnel, so
    // fragments nested in reassembled data cannot recurse without bound.
    let Some(reassembler) = ctx
        .reassembler
        .as_deref_mut()
        .filter(|_| depth < MAX_TUNNEL_DEPTH)
    else {
        return Err(Skip::Fragment);
    };
    let bytes = &f.data[off..];
    let frag = match slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let ihl = usize::from(h.ihl()) * 4;
            let total = usize::from(h.total_len());
            if total < ihl || bytes.len() < ihl {
                return Err(Skip::Malformed(DecodeError::new(
                    Layer::Ip,
                    off,
                    format!("fragment's total length {total} is below its header length {ihl}"),
                )));
            }
            let end = total.min(bytes.len());
            reassembly::Fragment {
                key: reassembly::FragKey::V4 {
                    src: h.source_addr(),
                    dst: h.destination_addr(),
                    protocol: h.protocol().0,
                    id: h.identification(),
                },
                offset: u32::from(h.fragments_offset().value()) * 8,
                more: h.more_fragments(),
                len: (total - ihl) as u32,
                data: &bytes[ihl..end],
                header: &bytes[..ihl],
                next_header: 0,
                unfragmentable: 0,
            }
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            let Some(fh) = v6_fragment_header(bytes) else {
                return Err(Skip::Malformed(DecodeError::new(
                    Layer::Ip,
                    off,
                    "IPv6 fragment header not found before the upper layer",
                )));
            };
            let plen = usize::from(h.payload_length());
            let end = (40 + plen).min(bytes.len());
            let data_start = fh.at + 8;
            if 40 + plen < data_start || bytes.len() < data_start {
                return Err(Skip::Malformed(DecodeError::new(
                    Layer::Ip,
                    off + fh.at,
                    "IPv6 fragment header is cut short",
                )));
            }
            reassembly::Fragment {
                key: reassembly::FragKey::V6 {
                    src: h.source_addr(),
                    dst: h.destination_addr(),
                    id: fh.id,
                },
                offset: fh.offset,
                more: fh.more,
                len: (40 + plen - data_start) as u32,
                data: &bytes[data_start..end.max(data_start)],
                header: &bytes[..40],
                next_header: fh.next_header,
                unfragmentable: (fh.at - 40) as u32,
            }
        }
    };
    match reassembler.push(&frag, ctx.ts) {
        reassembly::Outcome::Complete(d) => ip(
            Frame {
                data: &d.bytes,
                whole: d.whole,
                in_record: false,
            },
            0,
            depth + 1,
            ctx,
        ),
        _ => Err(Skip::FragmentHeld),
    }
}

/// An IPv6 fragment header: where it starts and what it says.
struct V6Frag {
    at: usize,
    next_header: u8,
    offset: u32,
    more: bool,
    id: u32,
}

/// Walks the extension headers that may come before a fragment header
/// (hop-by-hop, routing, destination options) to it.
fn v6_fragment_header(bytes: &[u8]) -> Option<V6Frag> {
    let mut next = *bytes.get(6)?;
    let mut at = 40usize;
    for _ in 0..8 {
        match next {
            44 => {
                let h = bytes.get(at..at + 8)?;
                let word = u16::from_be_bytes([h[2], h[3]]);
                return Some(V6Frag {
                    at,
                    next_header: h[0],
                    offset: u32::from(word & 0xfff8),
                    more: word & 1 == 1,
                    id: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                });
            }
            0 | 43 | 60 => {
                let h = bytes.get(at..at + 2)?;
                next = h[0];
                at += (usize::from(h[1]) + 1) * 8;
            }
            _ => return None,
        }
    }
    None
}

/// An ICMP or ICMPv6 message starting at `off`: an error quoting at least
/// the first 8 bytes of a TCP header becomes a [`Packet::IcmpError`];
/// anything else is not TCP.
fn icmp_error(
    f: Frame<'_>,
    off: usize,
    outer: &LaxIpSlice<'_>,
    version: IcmpVersion,
) -> Result<Packet, Skip> {
    let b = &f.data[off..];
    if b.len() < 8 {
        return Err(Skip::Malformed(DecodeError::new(
            Layer::Icmp,
            off,
            format!("only {} of 8 header bytes captured", b.len()),
        )));
    }
    if !icmp::is_error(version, b[0]) {
        return Err(Skip::NotTcp);
    }
    let kind = IcmpKind {
        version,
        ty: b[0],
        code: b[1],
    };
    let quote_off = off + 8;
    let quote = &f.data[quote_off..];
    // The quoted datagram is cut, usually at 8 bytes past its IP header
    // (RFC 792) or 576 / 1280 bytes in all: lax parsing takes what is there.
    let Ok((q, _)) = LaxIpSlice::from_slice(quote) else {
        return Err(Skip::NotTcp);
    };
    let qp = q.payload();
    let quoted_version = match q {
        LaxIpSlice::Ipv4(_) => IcmpVersion::V4,
        LaxIpSlice::Ipv6(_) => IcmpVersion::V6,
    };
    if qp.ip_number != IpNumber::TCP || quoted_version != version {
        return Err(Skip::NotTcp);
    }
    // A quoted non-first fragment holds no TCP header.
    let first = match &q {
        LaxIpSlice::Ipv4(v4) => v4.header().fragments_offset().value() == 0,
        LaxIpSlice::Ipv6(_) => v6_fragment_header(quote).is_none_or(|h| h.offset == 0),
    };
    if !first {
        return Err(Skip::NotTcp);
    }
    let t = qp.payload;
    let t_off = quote_off + offset_in(quote, t);
    if t.len() < 8 {
        return Err(Skip::Malformed(DecodeError::new(
            Layer::Icmp,
            t_off,
            format!("quoted TCP header has only {} of 8 bytes", t.len()),
        )));
    }
    let (qsrc, qdst, _) = addresses(&q);
    let (from, to, ttl) = addresses(outer);
    Ok(Packet::IcmpError(IcmpError {
        from,
        to,
        version,
        kind,
        quoted_src: SocketAddr::new(qsrc, u16::from_be_bytes([t[0], t[1]])),
        quoted_dst: SocketAddr::new(qdst, u16::from_be_bytes([t[2], t[3]])),
        quoted_seq: SeqNumber(u32::from_be_bytes([t[4], t[5], t[6], t[7]])),
        quoted_flags: t
            .get(12..14)
            .map(|x| Flags(u16::from_be_bytes([x[0], x[1]]) & 0x01ff)),
        mtu: icmp::mtu(kind, b),
        ttl,
    }))
}

/// GRE's protocol type for Cisco WCCP.
const WCCP: u16 = 0x883e;

/// GRE without routing: flags, protocol, then optional checksum, key and
/// sequence words (RFC 2784/2890).
fn gre(f: Frame<'_>, off: usize, depth: u8, ctx: &mut Ctx<'_>) -> Result<Packet, Skip> {
    let data = f.data;
    let b = &data[off..];
    if b.len() < 4 {
        return Err(Skip::Malformed(DecodeError::new(
            Layer::Tunnel,
            off,
            "GRE header is cut short",
        )));
    }
    let flags = u16::from_be_bytes([b[0], b[1]]);
    let proto = u16::from_be_bytes([b[2], b[3]]);
    if flags & 0x4000 != 0 || flags & 0x0007 != 0 {
        return Err(Skip::NotTcp); // routing present or not version 0
    }
    let mut hdr = 4;
    for bit in [0x8000u16, 0x2000, 0x1000] {
        if flags & bit != 0 {
            hdr += 4;
        }
    }
    let inner = off + hdr;
    if inner > data.len() {
        return Err(Skip::Malformed(DecodeError::new(
            Layer::Tunnel,
            off,
            "GRE header is cut short",
        )));
    }
    match proto {
        0x0800 | 0x86dd => ip(f, inner, depth, ctx),
        link::ETH_TEB => ip(f, link::ethernet(data, inner)?, depth, ctx),
        // Cisco WCCP redirection: a 4-byte redirect header before the IP
        // packet, unless the packet follows at once (as Wireshark tells).
        WCCP => match data.get(inner).map(|b| b >> 4) {
            Some(4) => ip(f, inner, depth, ctx),
            _ if inner + 4 <= data.len() => ip(f, inner + 4, depth, ctx),
            _ => Err(Skip::Malformed(DecodeError::new(
                Layer::Tunnel,
                inner,
                "WCCP redirect header is cut short",
            ))),
        },
        _ => Err(Skip::NotTcp),
    }
}

/// VXLAN (UDP 4789) and Geneve (UDP 6081) carry whole frames, AYIYA (UDP
/// 5072) IP packets; any other UDP is simply not TCP.
fn udp_tunnel(f: Frame<'_>, off: usize, depth: u8, ctx: &mut Ctx<'_>) -> Result<Packet, Skip> {
    let data = f.data;
    let b = &data[off..];
    if b.len() < 16 {
        return Err(Skip::NotTcp);
    }
    let sport = u16::from_be_bytes([b[0], b[1]]);
    let dport = u16::from_be_bytes([b[2], b[3]]);
    let inner = off + 8;
    // VXLAN and Geneve senders pick the source port (a flow hash); AYIYA
    // answers come from its port, so it is recognised on either.
    let port = if sport == 5072 && dport != 4789 && dport != 6081 {
        5072
    } else {
        dport
    };
    match port {
        4789 => ip(f, link::ethernet(data, inner + 8)?, depth, ctx),
        6081 => {
            let g = &data[inner..];
            let header = 8 + usize::from(g[0] & 0x3f) * 4;
            let proto = u16::from_be_bytes([g[2], g[3]]);
            if inner + header > data.len() {
                return Err(Skip::Malformed(DecodeError::new(
                    Layer::Tunnel,
                    inner,
                    "Geneve options are cut short",
                )));
            }
            match proto {
                link::ETH_TEB => ip(f, link::ethernet(data, inner + header)?, depth, ctx),
                0x0800 | 0x86dd => ip(f, inner + header, depth, ctx),
                _ => Err(Skip::NotTcp),
            }
        }
        // AYIYA: identity and signature lengths in the first two bytes,
        // the next protocol in the fourth.
        5072 => {
            let a = &data[inner..];
            let header = 8 + (1usize << (a[0] >> 4)) + usize::from(a[1] >> 4) * 4;
            match a[3] {
                4 | 41 if inner + header < data.len() => ip(f, inner + header, depth, ctx),
                _ => Err(Skip::NotTcp),
            }
        }
        _ => Err(Skip::NotTcp),
    }
}

/// The TCP header at `off` into `seg`, field by field (its addresses
/// are the IP header's; the ports are set here). A segment written in
/// place is never read back whole while its parts are still being
/// stored, which stalls.
#[inline(always)]
fn tcp_into(
    f: Frame<'_>,
    off: usize,
    ttl: u8,
    claimed: usize,
    ctx: &mut Ctx<'_>,
    seg: &mut Segment,
) -> Result<(), Skip> {
    let b = f.data.get(off..).unwrap_or_default();
    if b.len() < 20 {
        return Err(Skip::Malformed(DecodeError::new(
            Layer::Tcp,
            off,
            format!("only {} of 20 header bytes captured", b.len()),
        )));
    }
    let data_offset = b[12] >> 4;
    if data_offset < 5 {
        return Err(Skip::Malformed(DecodeError::new(
            Layer::Tcp,
            off + 12,
            format!("data offset {data_offset} is below 5"),
        )));
    }
    let header_len = usize::from(data_offset) * 4;
    // The fixed part is all there; of the options, what was captured.
    let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let half = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let mut len = claimed.saturating_sub(header_len);
    if f.whole {
        // The whole frame is here, yet the IP length may run past it (a
        // lying header, a trailer cut): only what is there counts.
        len = len.min(b.len().saturating_sub(header_len));
    }
    if f.in_record {
        // As much of the payload as was captured.
        let at = off + header_len;
        let end = at.saturating_add(len).min(f.data.len());
        ctx.payload = Some(at.min(end)..end);
    }
    seg.src.set_port(half(0));
    seg.dst.set_port(half(2));
    seg.seq = SeqNumber(word(4));
    seg.ack = SeqNumber(word(8));
    seg.flags = Flags(u16::from_be_bytes([b[12], b[13]]) & 0x01ff);
    seg.window = half(14);
    seg.len = u32::try_from(len).unwrap_or(u32::MAX);
    seg.header_len = data_offset * 4;
    seg.checksum = half(16);
    seg.urgent = half(18);
    seg.options.read(&b[20..header_len.min(b.len())]);
    seg.ttl = ttl;
    seg.truncated = b.len() < header_len + len;
    Ok(())
}

/// Byte offset of `inner` inside `outer` (both views of the same packet).
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

#[cfg(test)]
pub(crate) mod testpkt {
    //! Hand-built packets for unit tests.

    /// An IPv4 + TCP packet (no link layer) with the given fields.
    pub fn ipv4_tcp(
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u16,
        payload: usize,
    ) -> Vec<u8> {
        let total = 20 + 20 + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let t = &mut p[20..];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = flags as u8;
        t[14..16].copy_from_slice(&1024u16.to_be_bytes());
        p
    }

    /// An IPv4 header from 10.0.0.1 to 10.0.0.2 (or as given) in front of
    /// `payload`.
    pub fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p.extend_from_slice(payload);
        p
    }

    /// An IPv6 header from 2001:db8::1 (last byte `src`) to 2001:db8::2 in
    /// front of `payload`.
    pub fn ipv6(next: u8, src: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        p[6] = next;
        p[7] = 64;
        for a in [8, 24] {
            p[a] = 0x20;
            p[a + 1] = 0x01;
            p[a + 2] = 0x0d;
            p[a + 3] = 0xb8;
        }
        p[23] = src;
        p[39] = 2;
        p.extend_from_slice(payload);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::testpkt::ipv4_tcp;
    use super::*;

    /// The stateless decoders, for packets that must be TCP segments.
    fn decode(link: u32, data: &[u8]) -> Result<Segment, Skip> {
        super::decode(link, data).map(|p| p.tcp().expect("a TCP segment"))
    }

    fn decode_frame(link: u32, data: &[u8], wire_len: u32) -> Result<Segment, Skip> {
        super::decode_frame(link, data, wire_len).map(|p| p.tcp().expect("a TCP segment"))
    }

    #[test]
    fn the_payload_is_the_bytes_after_the_tcp_header_as_far_as_captured() {
        let mut p = ipv4_tcp(1000, 80, 1, 1, 0x18, 6);
        p[40..46].copy_from_slice(b"hello\n");
        // Raw IP, and behind Ethernet with a trailer the IP length ends.
        assert_eq!(payload(101, &p, p.len() as u32), Some(&b"hello\n"[..]));
        let eth = [&[0u8; 12][..], &[0x08, 0x00], &p, &[0xee; 4]].concat();
        assert_eq!(payload(1, &eth, eth.len() as u32), Some(&b"hello\n"[..]));
        // Cut by the snap length: what is there.
        assert_eq!(payload(101, &p[..43], p.len() as u32), Some(&b"hel"[..]));
        // No payload, or not TCP.
        let bare = ipv4_tcp(1000, 80, 1, 1, 0x10, 0);
        assert_eq!(payload(101, &bare, bare.len() as u32), Some(&b""[..]));
        assert_eq!(payload(101, &[0x45, 0, 0], 3), None);
        let (packet, at) =
            Decoder::default().decode_payload(101, &p, p.len() as u32, Timestamp::default());
        assert!(packet.is_ok());
        // The payload begins at byte 40, after both headers.
        assert_eq!(at, &p[40..]);
    }

    #[test]
    fn raw_ipv4_syn() {
        let p = ipv4_tcp(40000, 9502, 100, 0, 0x02, 0);
        let s = decode(link::LINKTYPE_RAW, &p).unwrap();
        assert_eq!(s.src.to_string(), "10.0.0.1:40000");
        assert_eq!(s.dst.port(), 9502);
        assert!(s.flags.syn() && !s.flags.ack());
        assert_eq!(s.seq, SeqNumber(100));
        assert_eq!(s.len, 0);
        assert_eq!(s.seq_len(), 1);
    }

    #[test]
    fn snaplen_cut_keeps_the_true_length() {
        let p = ipv4_tcp(1, 2, 7, 9, 0x18, 1000);
        let s = decode(link::LINKTYPE_RAW, &p[..60]).unwrap();
        assert_eq!(s.len, 1000);
        assert!(s.truncated);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut p = ipv4_tcp(1, 2, 7, 9, 0x10, 0);
        p.extend_from_slice(&[0; 6]);
        let s = decode(link::LINKTYPE_RAW, &p).unwrap();
        assert_eq!(s.len, 0);
    }

    #[test]
    fn udp_is_skipped_not_an_error() {
        let mut p = ipv4_tcp(1, 2, 7, 9, 0x10, 0);
        p[9] = 17;
        assert_eq!(decode(link::LINKTYPE_RAW, &p), Err(Skip::NotTcp));
    }

    #[test]
    fn bad_data_offset_names_layer_and_offset() {
        let mut p = ipv4_tcp(1, 2, 7, 9, 0x10, 0);
        p[32] = 2 << 4;
        let Err(Skip::Malformed(e)) = decode(link::LINKTYPE_RAW, &p) else {
            panic!("expected malformed");
        };
        assert_eq!(e.layer, Layer::Tcp);
        assert_eq!(e.offset, 32);
    }

    #[test]
    fn ip_in_ip_is_followed() {
        let inner = ipv4_tcp(5, 6, 1, 0, 0x02, 0);
        let mut outer = vec![0u8; 20];
        outer[0] = 0x45;
        outer[2..4].copy_from_slice(&((20 + inner.len()) as u16).to_be_bytes());
        outer[9] = 4;
        outer.extend_from_slice(&inner);
        let s = decode(link::LINKTYPE_RAW, &outer).unwrap();
        assert_eq!(s.src.port(), 5);
    }

    /// An IPv4 + UDP header to `dport` in front of `payload`.
    fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((28 + payload.len()) as u16).to_be_bytes());
        p[9] = 17;
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn vxlan_and_geneve_are_followed_to_the_inner_frame() {
        let inner = ipv4_tcp(7, 8, 1, 0, 0x02, 0);
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&inner);
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend_from_slice(&eth);
        let s = decode(link::LINKTYPE_RAW, &udp(4789, &vx)).unwrap();
        assert_eq!(s.src.port(), 7);
        let mut geneve = vec![0, 0, 0x65, 0x58, 0, 0, 1, 0];
        geneve.extend_from_slice(&eth);
        let s = decode(link::LINKTYPE_RAW, &udp(6081, &geneve)).unwrap();
        assert_eq!(s.dst.port(), 8);
        assert_eq!(
            decode(link::LINKTYPE_RAW, &udp(53, &geneve)),
            Err(Skip::NotTcp)
        );
    }

    #[test]
    fn ipcomp_deflate_in_tunnel_and_transport_mode() {
        let inner = ipv4_tcp(1026, 80, 5, 6, 0x18, 300);
        let mut tunnel = vec![4, 0, 0xee, 0xd1];
        tunnel.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&inner, 6));
        let p = testpkt::ipv4(108, [10, 0, 0, 1], [10, 0, 0, 2], &tunnel);
        let s = decode_frame(link::LINKTYPE_RAW, &p, p.len() as u32).unwrap();
        assert_eq!((s.src.port(), s.len), (1026, 300));
        let mut transport = vec![6, 0, 0, 2];
        transport.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(&inner[20..], 6));
        let p = testpkt::ipv4(108, [10, 0, 0, 1], [10, 0, 0, 2], &transport);
        let s = decode_frame(link::LINKTYPE_RAW, &p, p.len() as u32).unwrap();
        assert_eq!((s.dst.port(), s.len), (80, 300));
        // Another algorithm (or damage) does not inflate: not TCP.
        let p = testpkt::ipv4(108, [10, 0, 0, 1], [10, 0, 0, 2], &[4, 0, 0, 3, 0xff, 0xff]);
        assert_eq!(decode(link::LINKTYPE_RAW, &p), Err(Skip::NotTcp));
    }

    #[test]
    fn ayiya_is_followed_from_either_port() {
        let inner = ipv4_tcp(80, 53382, 1, 2, 0x12, 0);
        // Identity 16 bytes (nibble 4), signature 5 words, next header 4.
        let mut ayiya = vec![0x41, 0x52, 0x11, 4, 0, 0, 0, 0];
        ayiya.extend_from_slice(&[0; 36]);
        ayiya.extend_from_slice(&inner);
        let mut answer = udp(53000, &ayiya);
        answer[20..22].copy_from_slice(&5072u16.to_be_bytes());
        assert_eq!(decode(link::LINKTYPE_RAW, &answer).unwrap().src.port(), 80);
        assert_eq!(
            decode(link::LINKTYPE_RAW, &udp(5072, &ayiya))
                .unwrap()
                .dst
                .port(),
            53382
        );
    }

    #[test]
    fn a_whole_frame_shorter_than_its_ip_length_is_clamped() {
        let mut p = ipv4_tcp(1, 2, 7, 9, 0x18, 100);
        // The IP header claims 8 bytes more than the frame holds.
        p[2..4].copy_from_slice(&(148u16).to_be_bytes());
        let cut = decode(link::LINKTYPE_RAW, &p).unwrap();
        assert_eq!((cut.len, cut.truncated), (108, true));
        let whole = decode_frame(link::LINKTYPE_RAW, &p, p.len() as u32).unwrap();
        assert_eq!((whole.len, whole.truncated), (100, false));
        // A snap-length cut keeps the length from the header.
        let snap = decode_frame(link::LINKTYPE_RAW, &p[..60], p.len() as u32).unwrap();
        assert_eq!(snap.len, 108);
    }

    #[test]
    fn arcnet_and_ipoib_framings() {
        let inner = ipv4_tcp(3, 4, 1, 0, 0x02, 0);
        let mut arc = vec![1, 2, 0, 0, 0xd4, 0, 0, 0];
        arc.extend_from_slice(&inner);
        assert_eq!(
            decode(link::LINKTYPE_ARCNET_LINUX, &arc)
                .unwrap()
                .src
                .port(),
            3
        );
        let mut ib = vec![0u8; 40];
        ib.extend_from_slice(&[0x08, 0x00, 0, 0]);
        ib.extend_from_slice(&inner);
        assert_eq!(decode(link::LINKTYPE_IPOIB, &ib).unwrap().dst.port(), 4);
    }

    #[test]
    fn tcp_header_cut_short_is_malformed() {
        let p = ipv4_tcp(1, 2, 7, 9, 0x10, 0);
        assert!(matches!(
            decode(link::LINKTYPE_RAW, &p[..30]),
            Err(Skip::Malformed(DecodeError {
                layer: Layer::Tcp,
                ..
            }))
        ));
    }

    /// The IPv4 packet `p` cut into fragments of `size` data bytes.
    fn fragments_v4(p: &[u8], size: usize) -> Vec<Vec<u8>> {
        let data = &p[20..];
        let mut out = Vec::new();
        for (i, chunk) in data.chunks(size).enumerate() {
            let off = i * size;
            let more = off + chunk.len() < data.len();
            let mut h = p[..20].to_vec();
            h[2..4].copy_from_slice(&((20 + chunk.len()) as u16).to_be_bytes());
            h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            let word = (off / 8) as u16 | if more { 0x2000 } else { 0 };
            h[6..8].copy_from_slice(&word.to_be_bytes());
            h.extend_from_slice(chunk);
            out.push(h);
        }
        out
    }

    #[test]
    fn ipv4_fragments_come_out_once_whole() {
        let p = ipv4_tcp(40000, 80, 7, 9, 0x18, 100);
        let frags = fragments_v4(&p, 48);
        assert_eq!(frags.len(), 3);
        let mut d = Decoder::default();
        let ts = Timestamp::from_secs_nanos(1, 0);
        let raw = link::LINKTYPE_RAW;
        let len = |f: &Vec<u8>| f.len() as u32;
        // The last fragment first: reassembly does not care for order.
        assert_eq!(
            d.decode(raw, &frags[2], len(&frags[2]), ts),
            Err(Skip::FragmentHeld)
        );
        assert_eq!(
            d.decode(raw, &frags[0], len(&frags[0]), ts),
            Err(Skip::FragmentHeld)
        );
        let Ok(Packet::Tcp(s)) = d.decode(raw, &frags[1], len(&frags[1]), ts) else {
            panic!("the middle fragment completes the segment");
        };
        assert_eq!((s.src.port(), s.dst.port(), s.len), (40000, 80, 100));
        assert!(!s.truncated);
        assert_eq!(d.reassembly().reassembled, 1);
        assert_eq!(d.pending_fragments(), (0, 0));
        // The stateless decoder only says what it is.
        assert_eq!(super::decode(raw, &frags[0]), Err(Skip::Fragment));
    }

    #[test]
    fn ipv6_fragments_after_a_hop_by_hop_header() {
        let tcp = ipv4_tcp(5000, 443, 1, 2, 0x10, 64)[20..].to_vec();
        let mut d = Decoder::default();
        let ts = Timestamp::default();
        let mut out = Vec::new();
        for (off, chunk, more) in [(0usize, &tcp[..48], true), (48, &tcp[48..], false)] {
            // Hop-by-hop (8 bytes of padding) then the fragment header.
            let mut ext = vec![44, 0, 1, 4, 0, 0, 0, 0];
            let word = off as u16 | u16::from(more);
            ext.extend_from_slice(&[6, 0]);
            ext.extend_from_slice(&word.to_be_bytes());
            ext.extend_from_slice(&0xdead_beefu32.to_be_bytes());
            ext.extend_from_slice(chunk);
            let pkt = testpkt::ipv6(0, 1, &ext);
            out.push(d.decode(link::LINKTYPE_RAW, &pkt, pkt.len() as u32, ts));
        }
        assert_eq!(out[0], Err(Skip::FragmentHeld));
        let Ok(Packet::Tcp(s)) = &out[1] else {
            panic!("expected the reassembled segment, got {:?}", out[1]);
        };
        assert_eq!((s.dst.port(), s.len), (443, 64));
        assert_eq!(s.src.to_string(), "[2001:db8::1]:5000");
    }

    /// An ICMP error message of `ty`/`code` with `rest` (the 4 bytes after
    /// the checksum) quoting `quote`.
    fn icmp(ty: u8, code: u8, rest: [u8; 4], quote: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, code, 0, 0];
        m.extend_from_slice(&rest);
        m.extend_from_slice(quote);
        m
    }

    fn icmp_of(r: Result<Packet, Skip>) -> IcmpError {
        match r {
            Ok(Packet::IcmpError(e)) => e,
            other => panic!("expected an ICMP error, got {other:?}"),
        }
    }

    #[test]
    fn icmp_port_unreachable_quoting_a_syn() {
        let syn = ipv4_tcp(40000, 9502, 1000, 0, 0x02, 0);
        let msg = icmp(3, 3, [0; 4], &syn);
        let p = testpkt::ipv4(1, [10, 0, 0, 2], [10, 0, 0, 1], &msg);
        let e = icmp_of(super::decode(link::LINKTYPE_RAW, &p));
        assert_eq!(e.from.to_string(), "10.0.0.2");
        assert_eq!(e.to.to_string(), "10.0.0.1");
        assert_eq!(e.quoted_src.to_string(), "10.0.0.1:40000");
        assert_eq!(e.quoted_dst.port(), 9502);
        assert_eq!(e.quoted_seq, SeqNumber(1000));
        assert_eq!(e.quoted_flags, Some(Flags::SYN));
        assert_eq!(e.kind.meaning(), "port unreachable");
        assert_eq!(e.kind.errno(), Some("ECONNREFUSED"));
        assert!(e.kind.is_hard());
        assert_eq!(e.mtu, None);
    }

    #[test]
    fn an_old_router_quotes_only_8_bytes_of_tcp() {
        let syn = ipv4_tcp(40000, 80, 77, 0, 0x02, 0);
        let msg = icmp(3, 4, [0, 0, 0x05, 0x78], &syn[..28]);
        let p = testpkt::ipv4(1, [192, 0, 2, 1], [10, 0, 0, 1], &msg);
        let e = icmp_of(super::decode(link::LINKTYPE_RAW, &p));
        assert_eq!(e.quoted_seq, SeqNumber(77));
        assert_eq!(e.quoted_flags, None);
        assert_eq!(e.mtu, Some(1400));
        assert_eq!(e.describe(), "fragmentation needed (next-hop MTU 1400)");
        assert_eq!(e.kind.errno(), None, "TCP lowers the MTU and retries");
        // Fewer than 8 bytes of TCP cannot be matched to anything.
        let msg = icmp(3, 1, [0; 4], &syn[..26]);
        let p = testpkt::ipv4(1, [192, 0, 2, 1], [10, 0, 0, 1], &msg);
        let Err(Skip::Malformed(err)) = super::decode(link::LINKTYPE_RAW, &p) else {
            panic!("a 6-byte quote is malformed");
        };
        assert_eq!((err.layer, err.offset), (Layer::Icmp, 48));
    }

    #[test]
    fn icmp_that_quotes_no_tcp_is_not_tcp() {
        let mut udp = ipv4_tcp(1, 53, 0, 0, 0, 0);
        udp[9] = 17;
        let msg = icmp(3, 3, [0; 4], &udp[..28]);
        let p = testpkt::ipv4(1, [10, 0, 0, 2], [10, 0, 0, 1], &msg);
        assert_eq!(super::decode(link::LINKTYPE_RAW, &p), Err(Skip::NotTcp));
        // An echo request is not an error at all.
        let echo = testpkt::ipv4(1, [10, 0, 0, 2], [10, 0, 0, 1], &[8, 0, 0, 0, 0, 1, 0, 1]);
        assert_eq!(super::decode(link::LINKTYPE_RAW, &echo), Err(Skip::NotTcp));
    }

    #[test]
    fn icmpv6_packet_too_big_and_admin_prohibited() {
        let tcp = ipv4_tcp(5000, 443, 99, 0, 0x02, 0)[20..].to_vec();
        let quoted = testpkt::ipv6(6, 1, &tcp);
        let msg = icmp(2, 0, 1280u32.to_be_bytes(), &quoted);
        let p = testpkt::ipv6(58, 9, &msg);
        let e = icmp_of(super::decode(link::LINKTYPE_RAW, &p));
        assert_eq!(e.version, IcmpVersion::V6);
        assert_eq!(e.describe(), "packet too big (MTU 1280)");
        assert_eq!(e.from.to_string(), "2001:db8::9");
        assert_eq!(e.quoted_src.to_string(), "[2001:db8::1]:5000");
        let msg = icmp(1, 1, [0; 4], &quoted);
        let e = icmp_of(super::decode(
            link::LINKTYPE_RAW,
            &testpkt::ipv6(58, 9, &msg),
        ));
        assert_eq!(e.kind.errno(), Some("EACCES"));
        assert!(e.kind.is_hard());
    }

    #[test]
    fn icmp_inside_a_tunnel_is_followed() {
        let syn = ipv4_tcp(40000, 22, 5, 0, 0x02, 0);
        let msg = icmp(11, 0, [0; 4], &syn);
        let inner = testpkt::ipv4(1, [10, 9, 9, 9], [10, 0, 0, 1], &msg);
        let outer = testpkt::ipv4(4, [172, 16, 0, 1], [172, 16, 0, 2], &inner);
        let e = icmp_of(super::decode(link::LINKTYPE_RAW, &outer));
        assert_eq!(e.from.to_string(), "10.9.9.9");
        assert_eq!(e.kind.meaning(), "time exceeded in transit");
        assert_eq!(e.kind.errno(), Some("EHOSTUNREACH"));
        assert!(!e.kind.is_hard());
    }
}
