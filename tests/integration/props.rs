//! Property tests: the decoder, the capture reader, the tracker and the
//! renderers never panic on any input, and keep their documented
//! invariants. Packets and capture files are built here, layer by layer,
//! so that random values reach the deep paths (tunnels, extension headers,
//! TCP options) and not only the first length check.
//!
//! Case counts keep the whole module to about ten seconds in a debug build;
//! `TCPLADDER_PROP_SCALE=N` multiplies them.

use std::io::{Cursor, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;

use tcpladder::capture::{CaptureFile, Ending};
use tcpladder::decode::{self, Flags, Segment, SeqNumber, Skip, TcpOptions};
use tcpladder::export::{json, text};
use tcpladder::ladder::{LabelStyle, Ladder};
use tcpladder::time::{Span, Timestamp};
use tcpladder::track::{Connection, Side, TrackConfig, Tracker};

/// The stateless decoder, for the TCP segments these properties build.
fn decode_tcp(link: u32, bytes: &[u8]) -> Result<Segment, Skip> {
    decode::decode(link, bytes).map(|p| {
        p.tcp()
            .unwrap_or_else(|| panic!("an ICMP error, not a TCP segment"))
    })
}

/// Every link type the decoder has a rule for.
const LINKS: [u32; 13] = [0, 1, 9, 12, 14, 101, 104, 108, 113, 228, 229, 239, 276];

/// `TCPLADDER_PROP_SCALE=N` runs N times as many cases (a longer search).
fn config(cases: u32) -> Config {
    let scale = std::env::var("TCPLADDER_PROP_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    Config {
        cases: cases.saturating_mul(scale),
        // Regression files would land next to this file; a failure prints
        // the minimal input instead.
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------
// Packet building
// ---------------------------------------------------------------------------

/// Bytes under construction, with the offsets of the fields worth damaging
/// (lengths, type and protocol numbers, data offsets).
#[derive(Clone, Debug, Default)]
struct Built {
    bytes: Vec<u8>,
    hot: Vec<usize>,
}

impl Built {
    /// Puts `header` in front; `hot` are offsets inside the header.
    fn prepend(&mut self, header: Vec<u8>, hot: &[usize]) {
        let n = header.len();
        for h in &mut self.hot {
            *h += n;
        }
        self.hot.extend_from_slice(hot);
        let mut b = header;
        b.append(&mut self.bytes);
        self.bytes = b;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    V4,
    V6,
    Ether,
}

#[derive(Clone, Debug)]
struct TcpSpec {
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    /// FIN..CWR in the low 8 bits, AE in bit 8.
    flags: u16,
    reserved: u8,
    window: u16,
    checksum: u16,
    urgent: u16,
    /// A multiple of 4, at most 40 bytes.
    options: Vec<u8>,
    payload: usize,
}

impl TcpSpec {
    fn header_len(&self) -> usize {
        20 + self.options.len()
    }

    fn bytes(&self) -> Built {
        let mut b = Vec::with_capacity(self.header_len() + self.payload);
        b.extend_from_slice(&self.sport.to_be_bytes());
        b.extend_from_slice(&self.dport.to_be_bytes());
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.ack.to_be_bytes());
        let doff = (self.header_len() / 4) as u8;
        b.push(doff << 4 | (self.reserved & 0x7) << 1 | (self.flags >> 8) as u8 & 1);
        b.push(self.flags as u8);
        b.extend_from_slice(&self.window.to_be_bytes());
        b.extend_from_slice(&self.checksum.to_be_bytes());
        b.extend_from_slice(&self.urgent.to_be_bytes());
        b.extend_from_slice(&self.options);
        b.extend((0..self.payload).map(|i| i as u8));
        Built {
            bytes: b,
            hot: vec![12, 13, 20],
        }
    }
}

#[derive(Clone, Debug)]
struct V4Spec {
    src: [u8; 4],
    dst: [u8; 4],
    ttl: u8,
    id: u16,
    dont_fragment: bool,
    options: Vec<u8>,
}

#[derive(Clone, Debug)]
enum Ext6 {
    /// Destination options (60) or routing (43): 8 + 8×n bytes.
    Raw { kind: u8, blocks: u8, fill: u8 },
    /// A fragment header that does not fragment (offset 0, no more).
    AtomicFragment { id: u32 },
    /// Authentication header, 16 bytes.
    Auth { spi: u32 },
}

#[derive(Clone, Debug)]
struct V6Spec {
    src: [u8; 16],
    dst: [u8; 16],
    hop: u8,
    /// Hop-by-hop options, which may only come first: extra 8-byte blocks.
    hop_by_hop: Option<u8>,
    exts: Vec<Ext6>,
}

#[derive(Clone, Debug)]
enum IpSpec {
    V4(V4Spec),
    V6(V6Spec),
}

impl IpSpec {
    fn addrs(&self) -> (IpAddr, IpAddr, u8) {
        match self {
            IpSpec::V4(v) => (
                IpAddr::V4(Ipv4Addr::from(v.src)),
                IpAddr::V4(Ipv4Addr::from(v.dst)),
                v.ttl,
            ),
            IpSpec::V6(v) => (
                IpAddr::V6(Ipv6Addr::from(v.src)),
                IpAddr::V6(Ipv6Addr::from(v.dst)),
                v.hop,
            ),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            IpSpec::V4(_) => Kind::V4,
            IpSpec::V6(_) => Kind::V6,
        }
    }

    /// Wraps `inner` (whose protocol number is `proto`) in this header.
    fn wrap(&self, inner: &mut Built, proto: u8) {
        match self {
            IpSpec::V4(v) => {
                let ihl = 20 + v.options.len();
                let total = ihl + inner.bytes.len();
                let mut h = Vec::with_capacity(ihl);
                h.push(0x40 | (ihl / 4) as u8);
                h.push(0);
                h.extend_from_slice(&(total as u16).to_be_bytes());
                h.extend_from_slice(&v.id.to_be_bytes());
                h.extend_from_slice(&(if v.dont_fragment { 0x4000u16 } else { 0 }).to_be_bytes());
                h.push(v.ttl);
                h.push(proto);
                h.extend_from_slice(&[0, 0]);
                h.extend_from_slice(&v.src);
                h.extend_from_slice(&v.dst);
                h.extend_from_slice(&v.options);
                inner.prepend(h, &[0, 2, 3, 6, 7, 9]);
            }
            IpSpec::V6(v) => {
                // Extension headers, innermost first.
                let mut next = proto;
                let mut exts = Vec::new();
                for e in v.exts.iter().rev() {
                    let (h, kind) = match *e {
                        Ext6::Raw { kind, blocks, fill } => {
                            let mut h = vec![next, blocks];
                            h.extend(std::iter::repeat_n(fill, 6 + 8 * usize::from(blocks)));
                            (h, kind)
                        }
                        Ext6::AtomicFragment { id } => {
                            let mut h = vec![next, 0, 0, 0];
                            h.extend_from_slice(&id.to_be_bytes());
                            (h, 44)
                        }
                        Ext6::Auth { spi } => {
                            let mut h = vec![next, 2, 0, 0];
                            h.extend_from_slice(&spi.to_be_bytes());
                            h.extend_from_slice(&[0; 8]);
                            (h, 51)
                        }
                    };
                    next = kind;
                    exts.push(h);
                }
                if let Some(blocks) = v.hop_by_hop {
                    let mut h = vec![next, blocks, 1, 4];
                    h.extend(std::iter::repeat_n(0, 4 + 8 * usize::from(blocks)));
                    next = 0;
                    exts.push(h);
                }
                for h in exts {
                    inner.prepend(h, &[0, 1]);
                }
                let mut h = Vec::with_capacity(40);
                h.extend_from_slice(&[0x60, 0, 0, 0]);
                h.extend_from_slice(&(inner.bytes.len() as u16).to_be_bytes());
                h.push(next);
                h.push(v.hop);
                h.extend_from_slice(&v.src);
                h.extend_from_slice(&v.dst);
                inner.prepend(h, &[0, 4, 5, 6]);
            }
        }
    }
}

fn ip_proto(kind: Kind) -> u8 {
    match kind {
        Kind::V4 => 4,
        Kind::V6 => 41,
        // EtherIP: not followed, so a valid packet never has it.
        Kind::Ether => 97,
    }
}

fn ethertype(kind: Kind) -> u16 {
    match kind {
        Kind::V4 => 0x0800,
        Kind::V6 => 0x86dd,
        Kind::Ether => 0x6558,
    }
}

/// What follows the MAC addresses of an Ethernet frame.
#[derive(Clone, Debug)]
struct EthChain {
    /// (TPID index, TCI) of each VLAN tag.
    tags: Vec<(usize, u16)>,
    tail: EthTail,
}

#[derive(Clone, Debug)]
enum EthTail {
    Plain,
    Mpls(u8),
    Pppoe(PppSpec),
}

#[derive(Clone, Copy, Debug)]
struct PppSpec {
    address_control: bool,
    compressed: bool,
}

impl PppSpec {
    fn header(self, kind: Kind) -> Vec<u8> {
        let mut h = Vec::new();
        if self.address_control {
            h.extend_from_slice(&[0xff, 0x03]);
        }
        let proto: u8 = if kind == Kind::V6 { 0x57 } else { 0x21 };
        if !self.compressed {
            h.push(0);
        }
        h.push(proto);
        h
    }
}

impl EthChain {
    /// The Ethernet header and its tags, for an IP packet of `kind`.
    fn wrap(&self, inner: &mut Built, kind: Kind) {
        let mut h = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        let mut hot = Vec::new();
        for &(tpid, tci) in &self.tags {
            hot.push(h.len());
            h.extend_from_slice(&[0x8100u16, 0x88a8, 0x9100][tpid % 3].to_be_bytes());
            h.extend_from_slice(&tci.to_be_bytes());
        }
        hot.push(h.len());
        match &self.tail {
            EthTail::Plain => h.extend_from_slice(&ethertype(kind).to_be_bytes()),
            EthTail::Mpls(labels) => {
                h.extend_from_slice(&0x8847u16.to_be_bytes());
                for i in 0..*labels {
                    let bottom = u8::from(i + 1 == *labels);
                    hot.push(h.len() + 2);
                    h.extend_from_slice(&[0, 0x10 + i, bottom, 64]);
                }
            }
            EthTail::Pppoe(ppp) => {
                h.extend_from_slice(&0x8864u16.to_be_bytes());
                let len = inner.bytes.len() + ppp.header(kind).len();
                h.extend_from_slice(&[0x11, 0, 0x12, 0x34]);
                h.extend_from_slice(&(len as u16).to_be_bytes());
                hot.push(h.len());
                h.extend(ppp.header(kind));
            }
        }
        inner.prepend(h, &hot);
    }
}

/// A tunnel around the packet built so far.
#[derive(Clone, Debug)]
enum Wrap {
    /// IP-in-IP (4) or IPv6-in-IP (41).
    Ip(IpSpec),
    /// GRE with optional checksum, key and sequence words, carrying IP or
    /// (when `bridged`) an Ethernet frame, inside `outer`.
    Gre {
        words: [bool; 3],
        bridged: Option<EthChain>,
        outer: IpSpec,
    },
}

#[derive(Clone, Debug)]
enum LinkSpec {
    Ethernet(EthChain),
    Sll,
    Sll2,
    /// NULL in either byte order.
    Null {
        big_endian: bool,
    },
    Loop,
    Ppp(PppSpec),
    CiscoHdlc,
    /// Other attributes' value lengths before the packet attribute.
    Nflog(Vec<u8>),
    /// 12, 14, 101, 228 or 229: IP right away.
    Raw(u32),
}

impl LinkSpec {
    fn wrap(&self, inner: &mut Built, kind: Kind) -> u32 {
        let et = ethertype(kind).to_be_bytes();
        match self {
            LinkSpec::Ethernet(chain) => {
                chain.wrap(inner, kind);
                1
            }
            LinkSpec::Sll => {
                let mut h = vec![0, 0, 0x03, 0x04, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
                h.extend_from_slice(&et);
                inner.prepend(h, &[14]);
                113
            }
            LinkSpec::Sll2 => {
                let mut h = et.to_vec();
                h.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
                inner.prepend(h, &[0]);
                276
            }
            LinkSpec::Null { big_endian } => {
                let family: u32 = if kind == Kind::V6 { 30 } else { 2 };
                let h = if *big_endian {
                    family.to_be_bytes()
                } else {
                    family.to_le_bytes()
                };
                inner.prepend(h.to_vec(), &[0, 3]);
                0
            }
            LinkSpec::Loop => {
                let family: u32 = if kind == Kind::V6 { 24 } else { 2 };
                inner.prepend(family.to_be_bytes().to_vec(), &[3]);
                108
            }
            LinkSpec::Ppp(ppp) => {
                inner.prepend(ppp.header(kind), &[0]);
                9
            }
            LinkSpec::CiscoHdlc => {
                let mut h = vec![0x0f, 0];
                h.extend_from_slice(&et);
                inner.prepend(h, &[2]);
                104
            }
            LinkSpec::Nflog(others) => {
                let mut h = vec![2, 0, 0, 0];
                let mut hot = Vec::new();
                for (i, &len) in others.iter().enumerate() {
                    hot.push(h.len());
                    let ty = [1u16, 2, 3, 10, 16][i % 5];
                    h.extend_from_slice(&(4 + u16::from(len)).to_le_bytes());
                    h.extend_from_slice(&ty.to_le_bytes());
                    h.extend(std::iter::repeat_n(0xaa, usize::from(len).div_ceil(4) * 4));
                }
                hot.push(h.len());
                h.extend_from_slice(&(4 + inner.bytes.len() as u16).to_le_bytes());
                h.extend_from_slice(&9u16.to_le_bytes());
                inner.prepend(h, &hot);
                239
            }
            LinkSpec::Raw(link) => *link,
        }
    }
}

/// A whole frame: TCP in IP, zero or more tunnels, a link layer, padding.
#[derive(Clone, Debug)]
struct PacketSpec {
    tcp: TcpSpec,
    ip: IpSpec,
    wraps: Vec<Wrap>,
    link: LinkSpec,
    padding: usize,
}

/// A built frame and what decoding it must give.
struct Frame {
    link: u32,
    built: Built,
    /// Where the TCP header starts.
    tcp_at: usize,
    /// Where the TCP payload ends (padding may follow).
    payload_end: usize,
}

impl PacketSpec {
    fn build(&self) -> Frame {
        let mut b = self.tcp.bytes();
        let tcp_len = b.bytes.len();
        self.ip.wrap(&mut b, 6);
        let mut kind = self.ip.kind();
        for w in &self.wraps {
            match w {
                Wrap::Ip(ip) => {
                    ip.wrap(&mut b, ip_proto(kind));
                    kind = ip.kind();
                }
                Wrap::Gre {
                    words,
                    bridged,
                    outer,
                } => {
                    if let Some(chain) = bridged {
                        chain.wrap(&mut b, kind);
                        kind = Kind::Ether;
                    }
                    let mut flags = 0u16;
                    let mut extra = 0;
                    for (on, bit) in words.iter().zip([0x8000u16, 0x2000, 0x1000]) {
                        if *on {
                            flags |= bit;
                            extra += 4;
                        }
                    }
                    let mut h = flags.to_be_bytes().to_vec();
                    h.extend_from_slice(&ethertype(kind).to_be_bytes());
                    h.extend(std::iter::repeat_n(0x5a, extra));
                    b.prepend(h, &[0, 1, 2, 3]);
                    outer.wrap(&mut b, 47);
                    kind = outer.kind();
                }
            }
        }
        let link = self.link.wrap(&mut b, kind);
        let len = b.bytes.len();
        b.bytes.extend(std::iter::repeat_n(0, self.padding));
        Frame {
            link,
            built: b,
            tcp_at: len - tcp_len,
            payload_end: len,
        }
    }

    fn expected_addrs(&self) -> (SocketAddr, SocketAddr, u8) {
        let (s, d, ttl) = self.ip.addrs();
        (
            SocketAddr::new(s, self.tcp.sport),
            SocketAddr::new(d, self.tcp.dport),
            ttl,
        )
    }
}

// ---------------------------------------------------------------------------
// Packet strategies
// ---------------------------------------------------------------------------

fn words(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<[u8; 4]>(), 0..=max).prop_map(|w| w.concat())
}

/// TCP option lists: mostly well-formed kinds, sometimes random bytes.
fn tcp_options() -> impl Strategy<Value = Vec<u8>> {
    let one = prop_oneof![
        Just(vec![1u8]),
        any::<u16>().prop_map(|m| vec![2, 4, (m >> 8) as u8, m as u8]),
        any::<u8>().prop_map(|w| vec![3, 3, w]),
        Just(vec![4, 2]),
        (1usize..=4).prop_map(|n| {
            let mut v = vec![5, (2 + 8 * n) as u8];
            v.extend(std::iter::repeat_n(7, 8 * n));
            v
        }),
        any::<[u8; 8]>().prop_map(|t| {
            let mut v = vec![8, 10];
            v.extend_from_slice(&t);
            v
        }),
        vec(any::<u8>(), 0..6),
    ];
    vec(one, 0..6).prop_map(|opts| {
        let mut v: Vec<u8> = opts.concat();
        v.truncate(40);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v
    })
}

fn tcp_spec() -> impl Strategy<Value = TcpSpec> {
    (
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>()),
        (
            0u16..0x200,
            0u8..8,
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
        ),
        tcp_options(),
        prop_oneof![3 => 0usize..8, 1 => 0usize..300],
    )
        .prop_map(
            |(
                (sport, dport, seq, ack),
                (flags, reserved, window, checksum, urgent),
                options,
                payload,
            )| {
                TcpSpec {
                    sport,
                    dport,
                    seq,
                    ack,
                    flags,
                    reserved,
                    window,
                    checksum,
                    urgent,
                    options,
                    payload,
                }
            },
        )
}

fn v4_spec() -> impl Strategy<Value = V4Spec> {
    (
        any::<[u8; 4]>(),
        any::<[u8; 4]>(),
        any::<u8>(),
        any::<u16>(),
        any::<bool>(),
        words(10),
    )
        .prop_map(|(src, dst, ttl, id, dont_fragment, options)| V4Spec {
            src,
            dst,
            ttl,
            id,
            dont_fragment,
            options,
        })
}

fn ext6() -> impl Strategy<Value = Ext6> {
    prop_oneof![
        (select(vec![43u8, 60]), 0u8..3, any::<u8>()).prop_map(|(kind, blocks, fill)| Ext6::Raw {
            kind,
            blocks,
            fill
        }),
        any::<u32>().prop_map(|id| Ext6::AtomicFragment { id }),
        any::<u32>().prop_map(|spi| Ext6::Auth { spi }),
    ]
}

fn v6_spec() -> impl Strategy<Value = V6Spec> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<u8>(),
        prop::option::weighted(0.3, 0u8..2),
        prop_oneof![2 => Just(Vec::new()), 1 => vec(ext6(), 1..4)],
    )
        .prop_map(|(src, dst, hop, hop_by_hop, exts)| V6Spec {
            src,
            dst,
            hop,
            hop_by_hop,
            exts,
        })
}

fn ip_spec() -> impl Strategy<Value = IpSpec> {
    prop_oneof![
        v4_spec().prop_map(IpSpec::V4),
        v6_spec().prop_map(IpSpec::V6)
    ]
}

fn ppp_spec() -> impl Strategy<Value = PppSpec> {
    (any::<bool>(), any::<bool>()).prop_map(|(address_control, compressed)| PppSpec {
        address_control,
        compressed,
    })
}

fn eth_chain() -> impl Strategy<Value = EthChain> {
    (
        vec((0usize..3, any::<u16>()), 0..3),
        prop_oneof![
            3 => Just(EthTail::Plain),
            1 => (1u8..4).prop_map(EthTail::Mpls),
            1 => ppp_spec().prop_map(EthTail::Pppoe),
        ],
    )
        .prop_map(|(tags, tail)| EthChain { tags, tail })
}

fn wrap() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        ip_spec().prop_map(Wrap::Ip),
        (
            any::<[bool; 3]>(),
            prop::option::weighted(0.3, eth_chain()),
            ip_spec()
        )
            .prop_map(|(words, bridged, outer)| Wrap::Gre {
                words,
                bridged,
                outer
            }),
    ]
}

fn link_spec() -> impl Strategy<Value = LinkSpec> {
    prop_oneof![
        3 => eth_chain().prop_map(LinkSpec::Ethernet),
        1 => Just(LinkSpec::Sll),
        1 => Just(LinkSpec::Sll2),
        1 => any::<bool>().prop_map(|big_endian| LinkSpec::Null { big_endian }),
        1 => Just(LinkSpec::Loop),
        1 => ppp_spec().prop_map(LinkSpec::Ppp),
        1 => Just(LinkSpec::CiscoHdlc),
        1 => vec(0u8..12, 0..3).prop_map(LinkSpec::Nflog),
        2 => select(vec![12u32, 14, 101, 228, 229]).prop_map(LinkSpec::Raw),
    ]
}

/// Well-formed packets: at most three tunnels, so the decoder's depth limit
/// (four) is never what stops it.
fn packet_spec() -> impl Strategy<Value = PacketSpec> {
    (
        tcp_spec(),
        ip_spec(),
        prop_oneof![3 => Just(Vec::new()), 1 => vec(wrap(), 1..=3)],
        link_spec(),
        prop_oneof![3 => Just(0usize), 1 => 1usize..20],
    )
        .prop_map(|(tcp, ip, wraps, link, padding)| PacketSpec {
            tcp,
            ip,
            wraps,
            link,
            padding,
        })
}

/// Bytes written over a frame: (which offset, value). An offset picks
/// either one of the frame's length/type fields or any byte.
#[derive(Clone, Debug)]
enum Hit {
    Hot(prop::sample::Index, u8),
    Any(prop::sample::Index, u8),
}

fn hits() -> impl Strategy<Value = Vec<Hit>> {
    vec(
        prop_oneof![
            3 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, v)| Hit::Hot(i, v)),
            1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, v)| Hit::Any(i, v)),
        ],
        0..4,
    )
}

fn damage(b: &mut Built, hits: &[Hit]) {
    if b.bytes.is_empty() {
        return;
    }
    for h in hits {
        let (at, v) = match h {
            Hit::Hot(i, v) if !b.hot.is_empty() => (b.hot[i.index(b.hot.len())], *v),
            Hit::Hot(i, v) | Hit::Any(i, v) => (i.index(b.bytes.len()), *v),
        };
        if let Some(byte) = b.bytes.get_mut(at) {
            *byte = v;
        }
    }
}

fn link_type() -> impl Strategy<Value = u32> {
    prop_oneof![3 => select(LINKS.to_vec()), 1 => any::<u32>()]
}

// ---------------------------------------------------------------------------
// Decoder properties
// ---------------------------------------------------------------------------

/// `packet` (raw IPv4, 20-byte header) cut into fragments of `size`
/// (rounded to a multiple of 8) data bytes, with identification `id`.
fn fragment_v4(packet: &[u8], size: usize, id: u16) -> Vec<Vec<u8>> {
    let size = (size.max(8) / 8) * 8;
    let data = &packet[20..];
    let mut out = Vec::new();
    for (i, chunk) in data.chunks(size).enumerate() {
        let off = i * size;
        let more = off + chunk.len() < data.len();
        let mut f = packet[..20].to_vec();
        f[2..4].copy_from_slice(&((20 + chunk.len()) as u16).to_be_bytes());
        f[4..6].copy_from_slice(&id.to_be_bytes());
        let word = (off / 8) as u16 | if more { 0x2000 } else { 0 };
        f[6..8].copy_from_slice(&word.to_be_bytes());
        f.extend_from_slice(chunk);
        out.push(f);
    }
    out
}

/// A raw IPv4 TCP packet with `payload` bytes of data.
fn raw_tcp(sport: u16, seq: u32, flags: u8, payload: usize) -> Vec<u8> {
    let total = 40 + payload;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&80u16.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = flags;
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

proptest! {
    #![proptest_config(config(500))]

    /// Cut into fragments, shuffled, with copies of some: the segment comes
    /// out exactly once, the same as unfragmented, on the last fragment
    /// needed.
    #[test]
    fn fragments_in_any_order_reassemble_to_the_same_segment(
        payload in 0usize..3000,
        size in 8usize..1500,
        seed in any::<u64>(),
        dups in vec(any::<prop::sample::Index>(), 0..4),
    ) {
        use tcpladder::decode::{Decoder, Packet};
        let p = raw_tcp(40000, 1234, 0x18, payload);
        let want = decode_tcp(101, &p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut frags = fragment_v4(&p, size, 77);
        let originals = frags.len();
        // A fixed-seed shuffle (Fisher–Yates over a small LCG).
        let mut x = seed | 1;
        for i in (1..frags.len()).rev() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            frags.swap(i, (x >> 33) as usize % (i + 1));
        }
        // A duplicating link: copies right behind their originals.
        for d in &dups {
            let i = d.index(frags.len());
            let copy = frags[i].clone();
            frags.insert(i + 1, copy);
        }
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            let ts = Timestamp::from_nanos(i as i64);
            match d.decode(101, f, f.len() as u32, ts) {
                Ok(Packet::Tcp(s)) => got.push(s),
                Ok(other) => prop_assert!(false, "not TCP: {:?}", other),
                Err(Skip::FragmentHeld) => {}
                Err(e) => prop_assert!(false, "fragment {}: {}", i, e),
            }
        }
        // Unfragmented, every copy is a segment of its own; fragmented, the
        // segment comes out once (a copy of the last fragment behind it
        // starts a new datagram that completes nothing).
        let expected = if originals == 1 { frags.len() } else { 1 };
        prop_assert_eq!(got.len(), expected, "{} fragments", frags.len());
        prop_assert_eq!(&got[0], &want);
        if dups.is_empty() {
            prop_assert_eq!(d.pending_fragments(), (0, 0));
        }
        // A copy arriving after the datagram completed starts a new one
        // (as in Linux), which waits for its timeout and completes nothing.
    }

    /// Random fragment fields and bytes never make the decoder panic, and
    /// what it holds stays within its limits.
    #[test]
    fn the_decoder_never_panics_on_random_fragments(
        frags in vec((0u16..8192, any::<bool>(), vec(any::<u8>(), 0..200), 0u16..4), 1..40),
    ) {
        use tcpladder::decode::Decoder;
        let mut d = Decoder::default();
        for (i, (off, more, data, id)) in frags.iter().enumerate() {
            let mut f = raw_tcp(1, 2, 0x10, 0)[..20].to_vec();
            f[2..4].copy_from_slice(&((20 + data.len()) as u16).to_be_bytes());
            f[4..6].copy_from_slice(&id.to_be_bytes());
            let word = off | if *more { 0x2000 } else { 0 };
            f[6..8].copy_from_slice(&word.to_be_bytes());
            f.extend_from_slice(data);
            let _ = d.decode(101, &f, f.len() as u32, Timestamp::from_nanos(i as i64));
        }
        let (datagrams, _) = d.pending_fragments();
        prop_assert!(datagrams <= 4);
    }
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(
        link in link_type(),
        bytes in vec(any::<u8>(), 0..160),
    ) {
        let _ = decode::decode(link, &bytes);
    }

    #[test]
    fn decode_never_panics_on_damaged_frames(
        spec in packet_spec(),
        extra_wraps in vec(wrap(), 0..3),
        hits in hits(),
        cut in any::<prop::sample::Index>(),
        relink in prop::option::weighted(0.1, link_type()),
    ) {
        // Extra tunnels go past the depth limit.
        let mut spec = spec;
        spec.wraps.extend(extra_wraps);
        let mut f = spec.build();
        damage(&mut f.built, &hits);
        let n = cut.index(f.built.bytes.len() + 1);
        let link = relink.unwrap_or(f.link);
        let _ = decode::decode(link, &f.built.bytes[..n]);
        let _ = decode::decode(link, &f.built.bytes);
    }
}

proptest! {
    #![proptest_config(config(1500))]

    /// A well-formed frame decodes to exactly the segment that was built.
    #[test]
    fn well_formed_frames_decode_to_what_was_built(spec in packet_spec()) {
        let f = spec.build();
        let seg = decode_tcp(f.link, &f.built.bytes)
            .map_err(|e| TestCaseError::fail(format!("{e} in {:02x?}", f.built.bytes)))?;
        let (src, dst, ttl) = spec.expected_addrs();
        prop_assert_eq!(seg.src, src);
        prop_assert_eq!(seg.dst, dst);
        prop_assert_eq!(seg.ttl, ttl);
        prop_assert_eq!(seg.seq, SeqNumber(spec.tcp.seq));
        prop_assert_eq!(seg.ack, SeqNumber(spec.tcp.ack));
        prop_assert_eq!(seg.flags, Flags(spec.tcp.flags));
        prop_assert_eq!(seg.window, spec.tcp.window);
        prop_assert_eq!(seg.checksum, spec.tcp.checksum);
        prop_assert_eq!(seg.urgent, spec.tcp.urgent);
        prop_assert_eq!(usize::from(seg.header_len), spec.tcp.header_len());
        prop_assert_eq!(seg.len as usize, spec.tcp.payload);
        prop_assert_eq!(seg.options, TcpOptions::parse(&spec.tcp.options));
        prop_assert!(!seg.truncated);
    }

    /// A frame cut by the snap length still yields the segment once the
    /// fixed TCP header is in, with the true payload length; before that it
    /// is a skip, never a wrong segment.
    #[test]
    fn snap_length_cuts_keep_the_true_length(
        spec in packet_spec(),
        cut in any::<prop::sample::Index>(),
    ) {
        let f = spec.build();
        let n = cut.index(f.built.bytes.len() + 1);
        let got = decode_tcp(f.link, &f.built.bytes[..n]);
        if n < f.tcp_at + 20 {
            prop_assert!(got.is_err(), "cut at {} (TCP at {}) gave {:?}", n, f.tcp_at, got);
        } else {
            let seg = got.map_err(|e| TestCaseError::fail(format!("cut at {n}: {e}")))?;
            let (src, dst, _) = spec.expected_addrs();
            prop_assert_eq!(seg.src, src);
            prop_assert_eq!(seg.dst, dst);
            prop_assert_eq!(seg.seq, SeqNumber(spec.tcp.seq));
            prop_assert_eq!(seg.flags, Flags(spec.tcp.flags));
            prop_assert_eq!(seg.len as usize, spec.tcp.payload);
            prop_assert_eq!(seg.truncated, n < f.payload_end);
        }
    }
}

#[test]
fn tcp_data_offset_below_five_is_malformed_at_every_link() {
    let spec = PacketSpec {
        tcp: TcpSpec {
            sport: 1,
            dport: 2,
            seq: 3,
            ack: 4,
            flags: 0x10,
            reserved: 0,
            window: 5,
            checksum: 0,
            urgent: 0,
            options: Vec::new(),
            payload: 0,
        },
        ip: IpSpec::V4(V4Spec {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 2],
            ttl: 64,
            id: 0,
            dont_fragment: false,
            options: Vec::new(),
        }),
        wraps: Vec::new(),
        link: LinkSpec::Raw(101),
        padding: 0,
    };
    let f = spec.build();
    for doff in 0..5u8 {
        let mut b = f.built.bytes.clone();
        b[f.tcp_at + 12] = doff << 4;
        match decode_tcp(f.link, &b) {
            Err(Skip::Malformed(e)) => {
                assert_eq!(e.offset, f.tcp_at + 12);
                assert!(e.to_string().starts_with("TCP header at offset"), "{e}");
            }
            other => panic!("data offset {doff}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Capture files
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Rec {
    sec: u32,
    frac: u32,
    data: Vec<u8>,
    extra_orig: u32,
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        any::<u32>(),
        0u32..1_000_000_000,
        vec(any::<u8>(), 0..120),
        prop_oneof![3 => Just(0u32), 1 => 0u32..2000],
    )
        .prop_map(|(sec, frac, data, extra_orig)| Rec {
            sec,
            frac,
            data,
            extra_orig,
        })
}

/// A pcap file; returns it and the offset where each record ends.
fn pcap(recs: &[Rec], big_endian: bool, nanos: bool, link: u32) -> (Vec<u8>, Vec<usize>) {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = Vec::new();
    f.extend_from_slice(&u32b(if nanos { 0xa1b23c4d } else { 0xa1b2c3d4 }));
    f.extend_from_slice(&u16b(2));
    f.extend_from_slice(&u16b(4));
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&u32b(262_144));
    f.extend_from_slice(&u32b(link));
    let mut ends = Vec::new();
    for r in recs {
        f.extend_from_slice(&u32b(r.sec));
        f.extend_from_slice(&u32b(r.frac));
        f.extend_from_slice(&u32b(r.data.len() as u32));
        f.extend_from_slice(&u32b(r.data.len() as u32 + r.extra_orig));
        f.extend_from_slice(&r.data);
        ends.push(f.len());
    }
    (f, ends)
}

/// A pcapng file with one section and one interface (with the given
/// timestamp resolution option, if any); the offset where each packet
/// block ends.
fn pcapng(recs: &[Rec], big_endian: bool, link: u16, tsresol: Option<u8>) -> (Vec<u8>, Vec<usize>) {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = Vec::new();
    // Section header block.
    f.extend_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a]);
    f.extend_from_slice(&u32b(28));
    f.extend_from_slice(&u32b(0x1a2b3c4d));
    f.extend_from_slice(&u16b(1));
    f.extend_from_slice(&u16b(0));
    f.extend_from_slice(&[0xff; 8]);
    f.extend_from_slice(&u32b(28));
    // Interface description block.
    let opts_len = if tsresol.is_some() { 12 } else { 0 };
    let idb_len = 20 + opts_len;
    f.extend_from_slice(&u32b(1));
    f.extend_from_slice(&u32b(idb_len));
    f.extend_from_slice(&u16b(link));
    f.extend_from_slice(&u16b(0));
    f.extend_from_slice(&u32b(0));
    if let Some(r) = tsresol {
        f.extend_from_slice(&u16b(9));
        f.extend_from_slice(&u16b(1));
        f.extend_from_slice(&[r, 0, 0, 0]);
        f.extend_from_slice(&u16b(0));
        f.extend_from_slice(&u16b(0));
    }
    f.extend_from_slice(&u32b(idb_len));
    let mut ends = Vec::new();
    for r in recs {
        let padded = r.data.len().div_ceil(4) * 4;
        let len = 32 + padded as u32;
        f.extend_from_slice(&u32b(6));
        f.extend_from_slice(&u32b(len));
        f.extend_from_slice(&u32b(0));
        f.extend_from_slice(&u32b(r.sec));
        f.extend_from_slice(&u32b(r.frac));
        f.extend_from_slice(&u32b(r.data.len() as u32));
        f.extend_from_slice(&u32b(r.data.len() as u32 + r.extra_orig));
        f.extend_from_slice(&r.data);
        f.extend(std::iter::repeat_n(0, padded - r.data.len()));
        f.extend_from_slice(&u32b(len));
        ends.push(f.len());
    }
    (f, ends)
}

/// What a reader delivered: (frame, link, data, orig_len) per record.
type Delivered = Vec<(u64, u32, Vec<u8>, u32, i64)>;

/// A source that hands out at most `chunk` bytes per read, as a pipe does.
struct Chunked {
    inner: Cursor<Vec<u8>>,
    chunk: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.inner.read(&mut buf[..n])
    }
}

fn read(bytes: Vec<u8>) -> Result<(Delivered, Ending), String> {
    read_from(bytes, None)
}

/// Reads everything; `chunk` limits each read() of the source.
fn read_from(bytes: Vec<u8>, chunk: Option<usize>) -> Result<(Delivered, Ending), String> {
    let opened = match chunk {
        None => CaptureFile::from_reader("prop.pcap", Cursor::new(bytes)),
        Some(chunk) => CaptureFile::from_reader(
            "prop.pcap",
            Chunked {
                inner: Cursor::new(bytes),
                chunk,
            },
        ),
    };
    let mut cf = opened.map_err(|e| {
        assert!(e.to_string().starts_with("prop.pcap: "), "{e}");
        e.to_string()
    })?;
    let mut out = Vec::new();
    let end = cf
        .for_each(|r| {
            out.push((
                r.frame,
                r.link,
                r.data.to_vec(),
                r.orig_len,
                r.ts.as_nanos(),
            ));
        })
        .map_err(|e| e.to_string())?;
    Ok((out, end))
}

/// Checks that the first `n` delivered records are the first `n` built.
fn same_records(got: &Delivered, recs: &[Rec], n: usize, link: u32) -> Result<(), TestCaseError> {
    prop_assert!(got.len() >= n, "{} delivered, {} expected", got.len(), n);
    for (i, (g, r)) in got.iter().zip(recs).take(n).enumerate() {
        prop_assert_eq!(g.0, i as u64 + 1);
        // The reader masks off the FCS bits of the link-type field.
        prop_assert_eq!(g.1, link & 0x03ff_ffff);
        prop_assert_eq!(&g.2, &r.data);
        prop_assert_eq!(g.3, r.data.len() as u32 + r.extra_orig);
    }
    Ok(())
}

fn magic_prefix() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        select(vec![
            vec![0xd4, 0xc3, 0xb2, 0xa1],
            vec![0xa1, 0xb2, 0xc3, 0xd4],
            vec![0x4d, 0x3c, 0xb2, 0xa1],
            vec![0xa1, 0xb2, 0x3c, 0x4d],
            vec![0x34, 0xcd, 0xb2, 0xa1],
            vec![0xa1, 0xb2, 0xcd, 0x34],
            vec![0x0a, 0x0d, 0x0d, 0x0a],
        ]),
        // A whole little-endian pcapng section header.
        Just(pcapng(&[], false, 1, None).0[..28].to_vec()),
        Just(pcap(&[], false, false, 101).0),
    ]
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn reader_never_panics_on_arbitrary_bytes(
        prefix in magic_prefix(),
        bytes in vec(any::<u8>(), 0..400),
    ) {
        let mut b = prefix;
        b.extend(bytes);
        let _ = read(b);
    }

    /// A pcap cut anywhere delivers every record that ends before the cut,
    /// and says the last one is cut short unless the cut is on a boundary.
    #[test]
    fn truncated_pcap_keeps_every_complete_record(
        recs in vec(rec(), 0..12),
        big_endian in any::<bool>(),
        nanos in any::<bool>(),
        link in link_type(),
        cut in any::<prop::sample::Index>(),
        chunk in prop::option::weighted(0.3, prop_oneof![1usize..64, 64usize..5000]),
    ) {
        let (mut f, ends) = pcap(&recs, big_endian, nanos, link);
        let n = cut.index(f.len() + 1);
        f.truncate(n);
        match read_from(f, chunk) {
            Err(e) => prop_assert!(n < 24, "cut at {}: {}", n, e),
            Ok((got, end)) => {
                prop_assert!(n >= 24, "a {}-byte file was accepted", n);
                let complete = ends.iter().filter(|&&e| e <= n).count();
                prop_assert_eq!(got.len(), complete);
                same_records(&got, &recs, complete, link)?;
                let unit = if nanos { 1 } else { 1000 };
                for (g, r) in got.iter().zip(&recs) {
                    let ts = Timestamp::from_secs_nanos(i64::from(r.sec), i64::from(r.frac) * unit);
                    prop_assert_eq!(g.4, ts.as_nanos());
                }
                let boundary = n == 24 || ends.contains(&n);
                if boundary {
                    prop_assert_eq!(end, Ending::Complete);
                } else {
                    let start = if complete == 0 { 24 } else { ends[complete - 1] };
                    prop_assert_eq!(end, Ending::Truncated { offset: start as u64 });
                }
            }
        }
    }

    /// Bytes overwritten anywhere: every record that ends before the first
    /// damaged byte is still delivered, unchanged.
    #[test]
    fn damaged_pcap_keeps_every_record_before_the_damage(
        recs in vec(rec(), 1..12),
        big_endian in any::<bool>(),
        link in link_type(),
        hits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        length_hit in prop::option::weighted(0.3, (any::<prop::sample::Index>(), any::<u32>())),
    ) {
        let (mut f, ends) = pcap(&recs, big_endian, false, link);
        let mut first = f.len();
        for (i, v) in &hits {
            let at = i.index(f.len());
            f[at] = *v;
            first = first.min(at);
        }
        if let Some((i, v)) = length_hit {
            // A record's captured-length field.
            let r = i.index(ends.len());
            let at = if r == 0 { 24 } else { ends[r - 1] } + 8;
            let bytes = if big_endian { v.to_be_bytes() } else { v.to_le_bytes() };
            f[at..at + 4].copy_from_slice(&bytes);
            first = first.min(at);
        }
        let before = ends.iter().filter(|&&e| e <= first).count();
        match read(f) {
            Err(e) => prop_assert!(first < 24, "damage at {}: {}", first, e),
            Ok((got, _)) => same_records(&got, &recs, before, link)?,
        }
    }

    /// The same for pcapng, with a timestamp resolution option.
    #[test]
    fn truncated_pcapng_keeps_every_complete_block(
        recs in vec(rec(), 0..10),
        big_endian in any::<bool>(),
        link in any::<u16>(),
        tsresol in prop::option::of(select(vec![3u8, 6, 9, 0x80 | 10, 0x80, 0x7f])),
        cut in any::<prop::sample::Index>(),
        chunk in prop::option::weighted(0.3, prop_oneof![1usize..64, 64usize..5000]),
    ) {
        let (mut f, ends) = pcapng(&recs, big_endian, link, tsresol);
        let n = cut.index(f.len() + 1);
        f.truncate(n);
        match read_from(f, chunk) {
            Err(e) => prop_assert!(n < 28, "cut at {}: {}", n, e),
            Ok((got, end)) => {
                let complete = ends.iter().filter(|&&e| e <= n).count();
                prop_assert_eq!(got.len(), complete);
                same_records(&got, &recs, complete, u32::from(link))?;
                let idb_end = 28 + if tsresol.is_some() { 32 } else { 20 };
                let boundary = n == 28 || n == idb_end || ends.contains(&n);
                prop_assert_eq!(end == Ending::Complete, boundary, "cut at {}: {:?}", n, end);
            }
        }
    }
}

/// Records larger than the reader's 1 MiB buffer are read whole, from a
/// file or from a pipe that hands out a few kilobytes at a time; a length
/// past the 64 MiB limit is damage, read past to the next record.
#[test]
fn records_larger_than_the_buffer() {
    let sizes = [10usize, 1_500_000, 20, 3_000_000, 30];
    let recs: Vec<Rec> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| Rec {
            sec: i as u32,
            frac: 0,
            data: (0..n).map(|k| (k % 251) as u8).collect(),
            extra_orig: 0,
        })
        .collect();
    for (big_endian, chunk) in [(false, None), (true, Some(7000)), (false, Some(1))] {
        if chunk == Some(1) {
            // One byte at a time is slow; the small records are enough.
            let small: Vec<Rec> = recs
                .iter()
                .filter(|r| r.data.len() < 100)
                .cloned()
                .collect();
            let (f, _) = pcap(&small, big_endian, false, 1);
            let (got, end) = read_from(f, chunk).unwrap();
            assert_eq!(got.len(), small.len());
            assert_eq!(end, Ending::Complete);
            continue;
        }
        // A snap length that allows them: beyond it a record is damage.
        let snap = |f: &mut Vec<u8>| {
            let v = 4u32 << 20;
            let b = if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            f[16..20].copy_from_slice(&b);
        };
        let (mut f, _) = pcap(&recs, big_endian, false, 1);
        snap(&mut f);
        let (got, end) = read_from(f, chunk).unwrap();
        assert_eq!(end, Ending::Complete, "chunk {chunk:?}");
        assert_eq!(got.len(), recs.len(), "chunk {chunk:?}");
        for (g, r) in got.iter().zip(&recs) {
            assert!(g.2 == r.data, "record {} differs", g.0);
        }

        // The fourth record claims 100 MiB.
        let (mut f, ends) = pcap(&recs, big_endian, false, 1);
        snap(&mut f);
        let at = ends[2] + 8;
        let claim = 100u32 << 20;
        let claim = if big_endian {
            claim.to_be_bytes()
        } else {
            claim.to_le_bytes()
        };
        f[at..at + 4].copy_from_slice(&claim);
        let (got, end) = read_from(f, chunk).unwrap();
        // Damage, read past: the records before it and the one after.
        assert_eq!(got.len(), 4, "chunk {chunk:?}");
        assert!(
            got[3].2 == recs[4].data,
            "chunk {chunk:?}: the fifth record after the damage"
        );
        assert_eq!(end, Ending::Complete, "chunk {chunk:?}");
    }
}

// ---------------------------------------------------------------------------
// Tracker
// ---------------------------------------------------------------------------

/// Sequence numbers that matter: zero, the wrap point, the sign boundary,
/// and the neighbours of each, so that acknowledgments often match.
const SEQS: [u32; 12] = [
    0,
    1,
    2,
    100,
    101,
    102,
    0x7fff_ffff,
    0x8000_0000,
    0x8000_0001,
    u32::MAX - 1,
    u32::MAX,
    5000,
];

fn seq_number() -> impl Strategy<Value = u32> {
    prop_oneof![4 => select(SEQS.to_vec()), 1 => any::<u32>()]
}

fn flags() -> impl Strategy<Value = Flags> {
    let f = |b: u16| Flags(b);
    prop_oneof![
        select(vec![
            f(0x002),
            f(0x012),
            f(0x010),
            f(0x018),
            f(0x011),
            f(0x001),
            f(0x004),
            f(0x014),
            f(0x003),
            f(0x006),
            f(0x007),
            f(0x000),
        ]),
        (0u16..0x200).prop_map(Flags),
    ]
}

/// A few endpoints, so connections collide and incarnations replace each
/// other (including a connection from an endpoint to itself).
fn endpoint() -> impl Strategy<Value = SocketAddr> {
    select(vec![
        "10.0.0.1:40000".parse::<SocketAddr>().unwrap(),
        "10.0.0.2:80".parse().unwrap(),
        "10.0.0.1:80".parse().unwrap(),
        "[::1]:9502".parse().unwrap(),
    ])
}

/// One segment and the time step before it (may be negative).
fn segment() -> impl Strategy<Value = (Segment, i64)> {
    (
        (endpoint(), endpoint(), seq_number(), seq_number(), flags()),
        (
            // Payload lengths as the decoder can produce them (at most a
            // 64 MiB record).
            prop_oneof![4 => 0u32..3, 1 => 0u32..(64 << 20)],
            any::<u16>(),
            prop::option::weighted(0.2, any::<u8>()),
            prop::option::weighted(0.2, any::<u16>()),
        ),
        prop_oneof![
            4 => 0i64..2_000_000,
            2 => 0i64..5_000_000_000,
            1 => 20_000_000_000i64..200_000_000_000,
            1 => -3_000_000_000i64..0,
        ],
    )
        .prop_map(
            |((src, dst, seq, ack, flags), (len, window, ws, mss), dt)| {
                let seg = Segment {
                    src,
                    dst,
                    seq: SeqNumber(seq),
                    ack: SeqNumber(ack),
                    flags,
                    window,
                    len,
                    header_len: 20,
                    checksum: 0,
                    urgent: 0,
                    options: TcpOptions {
                        window_scale: ws,
                        mss,
                        ..TcpOptions::default()
                    },
                    ttl: 64,
                    truncated: false,
                };
                (seg, dt)
            },
        )
}

fn start_time() -> impl Strategy<Value = i64> {
    select(vec![
        1_700_000_000_000_000_000i64,
        0,
        -5_000_000_000,
        i64::MAX - 10_000_000_000,
    ])
}

fn msl() -> impl Strategy<Value = Span> {
    prop_oneof![
        Just(Span::from_secs(30)),
        (1i64..60_000).prop_map(|ms| Span::from_nanos(ms * 1_000_000)),
    ]
}

/// The segments with their timestamps and frame numbers.
fn timeline(start: i64, segs: &[(Segment, i64)]) -> Vec<(Segment, Timestamp, u64)> {
    let mut t = start;
    segs.iter()
        .enumerate()
        .map(|(i, (s, dt))| {
            t = t.saturating_add(*dt);
            (s.clone(), Timestamp::from_nanos(t), i as u64 + 1)
        })
        .collect()
}

fn end_of(tl: &[(Segment, Timestamp, u64)]) -> Timestamp {
    tl.iter().map(|x| x.1).max().unwrap_or_default()
}

/// The invariants every connection list from a tracker keeps.
fn check_connections(conns: &[Connection], pushed: usize, kept: bool) -> Result<(), TestCaseError> {
    for (i, c) in conns.iter().enumerate() {
        prop_assert_eq!(c.id, i, "ids are 0..n in order");
    }
    let total: usize = conns.iter().map(|c| c.segment_count).sum();
    prop_assert_eq!(total, pushed);
    for c in conns {
        prop_assert!(c.segment_count > 0, "connection {} has no segment", c.id);
        if kept {
            prop_assert_eq!(c.segments.len(), c.segment_count);
        } else {
            prop_assert!(c.segments.is_empty());
        }
        for side in Side::BOTH {
            let states = c.states(side);
            prop_assert_eq!(states[0], c.initial[side.index()]);
            for w in states.windows(2) {
                prop_assert_ne!(w[0], w[1], "conn {} {}: {:?}", c.id, side, states);
            }
            prop_assert_eq!(*states.last().unwrap(), c.state(side));
            // Each change starts where the previous one ended.
            let mut at = c.initial[side.index()];
            for m in c.marks.iter().filter(|m| m.side == side) {
                prop_assert_eq!(m.from, at, "conn {} {}: {:?}", c.id, side, c.marks);
                at = m.to;
            }
        }
        for m in &c.marks {
            prop_assert!(
                m.row <= c.segment_count,
                "mark row {} of {}",
                m.row,
                c.segment_count
            );
        }
        prop_assert!(c.first_ts <= c.last_ts);
    }
    Ok(())
}

fn render_all(conns: &[Connection], msl: Span, absolute: bool) -> Result<(), TestCaseError> {
    for c in conns {
        let ladder = Ladder::build(c, msl, LabelStyle { absolute });
        prop_assert_eq!(ladder.rows.len(), c.segments.len());
        for charset in [text::Charset::Unicode, text::Charset::Ascii] {
            let out = text::render(&ladder, charset);
            prop_assert!(out.lines().count() >= 4 + ladder.rows.len());
            if charset == text::Charset::Ascii {
                // Addresses and the header arrow aside, the ladder is ASCII.
                for line in out.lines().skip(3) {
                    prop_assert!(line.is_ascii(), "{}", line);
                }
            }
        }
    }
    let doc = json::document(conns);
    let s = serde_json::to_string(&doc).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_str(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let list = v["connections"].as_array().expect("connections array");
    prop_assert_eq!(list.len(), conns.len());
    for (c, j) in conns.iter().zip(list) {
        prop_assert_eq!(
            j["segments"].as_array().map(Vec::len),
            Some(c.segments.len())
        );
        prop_assert_eq!(j["number"].as_u64(), Some(c.id as u64 + 1));
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(600))]

    #[test]
    fn tracker_keeps_its_invariants(
        start in start_time(),
        segs in vec(segment(), 0..60),
        msl in msl(),
    ) {
        let tl = timeline(start, &segs);
        let mut t = Tracker::new(TrackConfig { msl, keep_segments: true, stream: false, ..TrackConfig::default() });
        let mut ids = Vec::new();
        for (s, ts, frame) in &tl {
            ids.push(t.push(s, *ts, *frame));
        }
        let conns = t.finish(end_of(&tl));
        check_connections(&conns, tl.len(), true)?;
        // push() returned the connection each segment joined.
        for (i, c) in conns.iter().enumerate() {
            let frames: Vec<u64> = c.segments.iter().map(|s| s.frame).collect();
            let joined: Vec<u64> = ids
                .iter()
                .enumerate()
                .filter(|&(_, &id)| id == i)
                .map(|(k, _)| k as u64 + 1)
                .collect();
            prop_assert_eq!(frames, joined);
        }
    }

    #[test]
    fn streaming_tracker_hands_out_every_segment(
        start in start_time(),
        segs in vec(segment(), 0..60),
        msl in msl(),
    ) {
        let tl = timeline(start, &segs);
        let mut t = Tracker::new(TrackConfig { msl, keep_segments: false, stream: true, ..TrackConfig::default() });
        let mut out = Vec::new();
        for (s, ts, frame) in &tl {
            t.push(s, *ts, *frame);
            out.extend(t.take_done());
            prop_assert!(!t.has_done());
        }
        out.extend(t.finish(end_of(&tl)));
        out.sort_by_key(|c| c.id);
        check_connections(&out, tl.len(), false)?;
    }

    #[test]
    fn rendering_never_panics(
        start in start_time(),
        segs in vec(segment(), 0..40),
        msl in msl(),
        absolute in any::<bool>(),
    ) {
        let tl = timeline(start, &segs);
        let mut t = Tracker::new(TrackConfig { msl, keep_segments: true, stream: false, ..TrackConfig::default() });
        for (s, ts, frame) in &tl {
            t.push(s, *ts, *frame);
        }
        let conns = t.finish(end_of(&tl));
        render_all(&conns, msl, absolute)?;
    }

    /// Decoded random frames through the whole pipeline.
    #[test]
    fn decoded_frames_track_and_render(
        specs in vec((packet_spec(), 0i64..3_000_000_000), 1..25),
    ) {
        let mut t = Tracker::new(TrackConfig::default());
        let mut ts = Timestamp::from_nanos(1_000_000_000);
        let mut pushed = 0;
        for (i, (spec, dt)) in specs.iter().enumerate() {
            ts = ts + Span::from_nanos(*dt);
            let f = spec.build();
            if let Ok(seg) = decode_tcp(f.link, &f.built.bytes) {
                t.push(&seg, ts, i as u64 + 1);
                pushed += 1;
            }
        }
        let conns = t.finish(ts);
        check_connections(&conns, pushed, true)?;
        render_all(&conns, tcpladder::track::DEFAULT_MSL, false)?;
    }
}

fn tuple_segment(from_client: bool, flags: Flags, seq: u32, ack: u32) -> Segment {
    let c: SocketAddr = "10.0.0.1:40000".parse().unwrap();
    let s: SocketAddr = "10.0.0.2:80".parse().unwrap();
    let (src, dst) = if from_client { (c, s) } else { (s, c) };
    Segment::new(src, dst, flags, seq, ack, 0)
}

/// Connections as `analyze` (batch) and `stats` (streaming) see them.
fn batch_and_stream(
    tl: &[(Segment, Timestamp, u64)],
    msl: Span,
) -> (Vec<Connection>, Vec<Connection>) {
    let mut batch = Tracker::new(TrackConfig {
        msl,
        keep_segments: true,
        stream: false,
        ..TrackConfig::default()
    });
    let mut stream = Tracker::new(TrackConfig {
        msl,
        keep_segments: false,
        stream: true,
        ..TrackConfig::default()
    });
    let mut streamed = Vec::new();
    for (s, ts, frame) in tl {
        batch.push(s, *ts, *frame);
        stream.push(s, *ts, *frame);
        streamed.extend(stream.take_done());
    }
    streamed.extend(stream.finish(end_of(tl)));
    streamed.sort_by_key(|c| c.id);
    (batch.finish(end_of(tl)), streamed)
}

/// A refused connection is over at once and lingers for 2×MSL; a stray
/// segment exactly at the end of that linger must be counted the same way
/// by `analyze` and by `stats`.
#[test]
fn stream_and_batch_agree_at_the_linger_boundary() {
    let msl = Span::from_secs(30);
    let t0 = Timestamp::from_nanos(1_000_000_000);
    let tl = vec![
        (tuple_segment(true, Flags::SYN, 1000, 0), t0, 1),
        (
            tuple_segment(false, Flags::RST | Flags::ACK, 0, 1001),
            t0,
            2,
        ),
        (
            tuple_segment(true, Flags::ACK, 1001, 1),
            t0 + Span::from_secs(60),
            3,
        ),
    ];
    let (batch, stream) = batch_and_stream(&tl, msl);
    let ids = |v: &[Connection]| v.iter().map(|c| c.segment_count).collect::<Vec<_>>();
    assert_eq!(
        ids(&batch),
        ids(&stream),
        "segments per connection, analyze (batch) vs stats (stream)"
    );
}

proptest! {
    #![proptest_config(config(400))]

    /// `analyze` and `stats` split a capture into the same connections.
    /// Timestamps only move forward, by odd nanosecond steps, so they
    /// rarely land exactly on a linger deadline (that case has its own
    /// test); out of order, streaming cannot agree with a whole-file view.
    #[test]
    fn stream_and_batch_agree_on_connections(
        segs in vec(segment(), 0..60),
        msl in msl(),
    ) {
        let segs: Vec<_> = segs.into_iter().map(|(s, dt)| (s, dt.abs() | 1)).collect();
        let tl = timeline(1_700_000_000_000_000_000, &segs);
        let (batch, stream) = batch_and_stream(&tl, msl);
        let counts = |v: &[Connection]| v.iter().map(|c| c.segment_count).collect::<Vec<_>>();
        prop_assert_eq!(counts(&batch), counts(&stream));
    }
}
