//! Packet bytes → one TCP segment. Pure: no I/O, no clock, no allocation on
//! the hot path. The link layer is dispatched here (`link`), IP and TCP are
//! read with etherparse's lax parsers so that a packet cut by the snap
//! length still yields flags, numbers and the true payload length when the
//! TCP header itself was captured.

pub mod error;
pub mod link;
pub mod tcp;

use std::net::{IpAddr, SocketAddr};

use etherparse::{IpNumber, LaxIpSlice, TcpSlice};

pub use error::{DecodeError, Layer, Skip, SkipKind};
pub use tcp::{Flags, SeqNumber, TcpOptions};

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
/// is unknown: the IP length fields are trusted.
pub fn decode(link: u32, data: &[u8]) -> Result<Segment, Skip> {
    let off = link::ip_offset(link, data)?;
    ip(Frame { data, whole: false }, off, 0)
}

/// Decodes a captured frame that was `wire_len` bytes on the wire. When
/// the whole frame was captured, the payload cannot be longer than what is
/// there, whatever the IP header claims.
pub fn decode_frame(link: u32, data: &[u8], wire_len: u32) -> Result<Segment, Skip> {
    let off = link::ip_offset(link, data)?;
    let whole = wire_len as usize <= data.len();
    ip(Frame { data, whole }, off, 0)
}

/// The captured bytes, and whether they are the whole frame (no snap-length
/// cut), which decides whether the IP length fields or the bytes win.
#[derive(Clone, Copy)]
struct Frame<'a> {
    data: &'a [u8],
    whole: bool,
}

fn ip(f: Frame<'_>, off: usize, depth: u8) -> Result<Segment, Skip> {
    let data = f.data;
    let bytes = &data[off..];
    let (slice, ext_err) = LaxIpSlice::from_slice(bytes)
        .map_err(|e| Skip::Malformed(DecodeError::new(Layer::Ip, off, e.to_string())))?;
    let payload = slice.payload();
    if payload.fragmented {
        return Err(Skip::Fragment);
    }
    let start = off + offset_in(bytes, payload.payload);
    match payload.ip_number {
        IpNumber::TCP => {}
        IpNumber::IPV4 | IpNumber::IPV6 if depth < MAX_TUNNEL_DEPTH => {
            return ip(f, start, depth + 1);
        }
        IpNumber::GRE if depth < MAX_TUNNEL_DEPTH => return gre(f, start, depth + 1),
        IpNumber::UDP if depth < MAX_TUNNEL_DEPTH => return udp_tunnel(f, start, depth + 1),
        _ => {
            return Err(match ext_err {
                Some((e, _)) => Skip::Malformed(DecodeError::new(Layer::Ip, off, e.to_string())),
                None => Skip::NotTcp,
            });
        }
    }
    // The IP length fields say how long the TCP segment really is; the
    // slice may be shorter (snap length) or longer (Ethernet padding).
    let (src, dst, ttl, claimed_end) = match &slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let total = usize::from(h.total_len());
            let end = if total >= usize::from(h.ihl()) * 4 {
                total
            } else {
                bytes.len()
            };
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                h.ttl(),
                end,
            )
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            let plen = usize::from(h.payload_length());
            let end = if plen == 0 { bytes.len() } else { 40 + plen };
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                h.hop_limit(),
                end,
            )
        }
    };
    let tcp_claimed = claimed_end.saturating_sub(start - off);
    tcp(f, start, src, dst, ttl, tcp_claimed)
}

/// GRE without routing: flags, protocol, then optional checksum, key and
/// sequence words (RFC 2784/2890).
fn gre(f: Frame<'_>, off: usize, depth: u8) -> Result<Segment, Skip> {
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
        0x0800 | 0x86dd => ip(f, inner, depth),
        link::ETH_TEB => ip(f, link::ethernet(data, inner)?, depth),
        _ => Err(Skip::NotTcp),
    }
}

/// VXLAN (UDP 4789) and Geneve (UDP 6081) carry whole frames, AYIYA (UDP
/// 5072) IP packets; any other UDP is simply not TCP.
fn udp_tunnel(f: Frame<'_>, off: usize, depth: u8) -> Result<Segment, Skip> {
    let data = f.data;
    let b = &data[off..];
    if b.len() < 16 {
        return Err(Skip::NotTcp);
    }
    let dport = u16::from_be_bytes([b[2], b[3]]);
    let inner = off + 8;
    match dport {
        4789 => ip(f, link::ethernet(data, inner + 8)?, depth),
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
                link::ETH_TEB => ip(f, link::ethernet(data, inner + header)?, depth),
                0x0800 | 0x86dd => ip(f, inner + header, depth),
                _ => Err(Skip::NotTcp),
            }
        }
        // AYIYA: identity and signature lengths in the first two bytes,
        // the next protocol in the fourth.
        5072 => {
            let a = &data[inner..];
            let header = 8 + (1usize << (a[0] >> 4)) + usize::from(a[1] >> 4) * 4;
            match a[3] {
                4 | 41 if inner + header < data.len() => ip(f, inner + header, depth),
                _ => Err(Skip::NotTcp),
            }
        }
        _ => Err(Skip::NotTcp),
    }
}

fn tcp(
    f: Frame<'_>,
    off: usize,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    claimed: usize,
) -> Result<Segment, Skip> {
    let b = &f.data[off..];
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
    let flags = Flags(u16::from_be_bytes([b[12], b[13]]) & 0x01ff);
    // With the whole header present etherparse reads it; when the snap
    // length cut into the options we keep the fixed part and the options
    // that are there.
    let (seq, ack, window, checksum, urgent, sport, dport, options) = match TcpSlice::from_slice(b)
    {
        Ok(t) => (
            t.sequence_number(),
            t.acknowledgment_number(),
            t.window_size(),
            t.checksum(),
            t.urgent_pointer(),
            t.source_port(),
            t.destination_port(),
            TcpOptions::parse(t.options()),
        ),
        Err(_) => (
            u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            u16::from_be_bytes([b[14], b[15]]),
            u16::from_be_bytes([b[16], b[17]]),
            u16::from_be_bytes([b[18], b[19]]),
            u16::from_be_bytes([b[0], b[1]]),
            u16::from_be_bytes([b[2], b[3]]),
            TcpOptions::parse(&b[20..header_len.min(b.len())]),
        ),
    };
    let mut len = claimed.saturating_sub(header_len);
    if f.whole {
        // The whole frame is here, yet the IP length may run past it (a
        // lying header, a trailer cut): only what is there counts.
        len = len.min(b.len().saturating_sub(header_len));
    }
    Ok(Segment {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        seq: SeqNumber(seq),
        ack: SeqNumber(ack),
        flags,
        window,
        len: u32::try_from(len).unwrap_or(u32::MAX),
        header_len: data_offset * 4,
        checksum,
        urgent,
        options,
        ttl,
        truncated: b.len() < header_len + len,
    })
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
}

#[cfg(test)]
mod tests {
    use super::testpkt::ipv4_tcp;
    use super::*;

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
}
