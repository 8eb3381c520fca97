//! Link-layer dispatch: find where the IP header starts. etherparse's own
//! Linux-cooked parser rejects ARPHRD 772 (loopback), which is exactly what
//! `tcpdump -i any` records on a workstation, so every framing is read here.

use super::error::{DecodeError, Layer, Skip};

pub const LINKTYPE_NULL: u32 = 0;
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_PPP: u32 = 9;
pub const LINKTYPE_RAW_12: u32 = 12;
pub const LINKTYPE_RAW_14: u32 = 14;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_C_HDLC: u32 = 104;
pub const LINKTYPE_LOOP: u32 = 108;
pub const LINKTYPE_LINUX_SLL: u32 = 113;
pub const LINKTYPE_NFLOG: u32 = 239;
pub const LINKTYPE_IPV4: u32 = 228;
pub const LINKTYPE_IPV6: u32 = 229;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;
pub const LINKTYPE_ARCNET_LINUX: u32 = 129;
pub const LINKTYPE_IPOIB: u32 = 242;
pub const LINKTYPE_IEEE802_11: u32 = 105;
pub const LINKTYPE_IEEE802_11_RADIOTAP: u32 = 127;
pub const LINKTYPE_JUNIPER_ETHER: u32 = 178;
pub const LINKTYPE_PPI: u32 = 192;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
const ETH_PPPOE: u16 = 0x8864;
/// GRE's "transparent Ethernet bridging": an Ethernet frame follows.
pub(crate) const ETH_TEB: u16 = 0x6558;

/// Returns the offset of the IP header inside `data`.
pub fn ip_offset(link: u32, data: &[u8]) -> Result<usize, Skip> {
    ip_span(link, data).map(|(off, _)| off)
}

/// Returns where the IP packet starts inside `data` and where the link
/// layer says it ends: the end of `data`, or sooner when a length field
/// says so (PPPoE), so that padding after it is not taken for payload.
pub fn ip_span(link: u32, data: &[u8]) -> Result<(usize, usize), Skip> {
    let mut end = data.len();
    let off = ip_start(link, data, &mut end)?;
    if off > data.len() {
        return Err(truncated(data.len(), "link-layer header"));
    }
    Ok((off, end.max(off)))
}

fn ip_start(link: u32, data: &[u8], end: &mut usize) -> Result<usize, Skip> {
    match link {
        LINKTYPE_ETHERNET => ethernet_in(data, 0, end),
        LINKTYPE_LINUX_SLL => {
            need(data, 0, 16, "Linux cooked v1 header")?;
            ethertype(data, u16_at(data, 14), 16, end)
        }
        LINKTYPE_LINUX_SLL2 => {
            need(data, 0, 20, "Linux cooked v2 header")?;
            ethertype(data, u16_at(data, 0), 20, end)
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            need(data, 0, 4, "loopback family header")?;
            let raw = [data[0], data[1], data[2], data[3]];
            // NULL is in the byte order of the machine that wrote it, LOOP in
            // network order; the family is small, so whichever order gives a
            // small value is the right one.
            let le = u32::from_le_bytes(raw);
            let family = if le < 0x100 {
                le
            } else {
                u32::from_be_bytes(raw)
            };
            match family {
                2 | 10 | 24 | 28 | 30 => Ok(4),
                _ => Err(Skip::NotIp),
            }
        }
        LINKTYPE_RAW_12 | LINKTYPE_RAW_14 | LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => Ok(0),
        LINKTYPE_C_HDLC => {
            need(data, 0, 4, "Cisco HDLC header")?;
            ethertype(data, u16_at(data, 2), 4, end)
        }
        LINKTYPE_PPP => ppp(data, 0, end),
        LINKTYPE_NFLOG => nflog(data),
        // IP over InfiniBand: a 40-byte address header, then an EtherType
        // and two reserved bytes.
        LINKTYPE_IPOIB => {
            need(data, 0, 44, "IPoIB header")?;
            ethertype(data, u16_at(data, 40), 44, end)
        }
        LINKTYPE_ARCNET_LINUX => arcnet(data),
        LINKTYPE_IEEE802_11 => wlan(data, 0, end),
        // Radiotap: version, pad, then its length (little-endian).
        LINKTYPE_IEEE802_11_RADIOTAP => {
            need(data, 0, 4, "radiotap header")?;
            let len = usize::from(u16::from_le_bytes([data[2], data[3]]));
            wlan(data, len, end)
        }
        LINKTYPE_JUNIPER_ETHER => juniper(data, end),
        LINKTYPE_PPI => ppi(data, end),
        other => Err(Skip::UnsupportedLink(other)),
    }
}

/// Ethernet II with any number of VLAN tags (802.1Q, QinQ).
pub(crate) fn ethernet(data: &[u8], start: usize) -> Result<usize, Skip> {
    ethernet_in(data, start, &mut data.len())
}

fn ethernet_in(data: &[u8], start: usize, end: &mut usize) -> Result<usize, Skip> {
    need(data, start, 14, "Ethernet header")?;
    ethertype(data, u16_at(data, start + 12), start + 14, end)
}

/// Follows an EtherType chain (VLAN tags, MPLS labels, PPPoE) to IP.
fn ethertype(data: &[u8], mut ty: u16, mut off: usize, end: &mut usize) -> Result<usize, Skip> {
    // Bounded: each step consumes at least 4 bytes of the packet.
    loop {
        match ty {
            ETH_IPV4 | ETH_IPV6 => return Ok(off),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                need(data, off, 4, "VLAN tag")?;
                ty = u16_at(data, off + 2);
                off += 4;
            }
            ETH_MPLS | ETH_MPLS_MC => {
                // Pop labels to the bottom of the stack; the payload's
                // version nibble says which IP follows.
                loop {
                    need(data, off, 4, "MPLS label")?;
                    let bottom = data[off + 2] & 1 == 1;
                    off += 4;
                    if bottom {
                        break;
                    }
                }
                return match data.get(off).map(|b| b >> 4) {
                    Some(4 | 6) => Ok(off),
                    _ => Err(Skip::NotIp),
                };
            }
            ETH_PPPOE => {
                need(data, off, 6, "PPPoE header")?;
                // The session's length field ends the PPP frame; what
                // follows is Ethernet padding, whatever IP claims.
                let len = usize::from(u16_at(data, off + 4));
                *end = (*end).min(off + 6 + len);
                return ppp(data, off + 6, end);
            }
            ETH_TEB => return ethernet_in(data, off, end),
            _ => return Err(Skip::NotIp),
        }
    }
}

/// PPP, with or without the HDLC address/control bytes, 1- or 2-byte
/// protocol field.
fn ppp(data: &[u8], mut off: usize, end: &mut usize) -> Result<usize, Skip> {
    if data.get(off..off + 2) == Some(&[0xff, 0x03]) {
        off += 2;
    }
    let Some(&first) = data.get(off) else {
        return Err(truncated(off, "PPP header"));
    };
    let (proto, len) = if first & 1 == 1 {
        (u16::from(first), 1)
    } else {
        need(data, off, 2, "PPP protocol")?;
        (u16_at(data, off), 2)
    };
    match proto {
        0x0021 | 0x0057 => Ok(off + len),
        0x0281 | 0x0283 => ethertype(data, ETH_MPLS, off + len, end),
        _ => Err(Skip::NotIp),
    }
}

/// NFLOG: a 4-byte header, then TLVs; type 9 holds the packet.
fn nflog(data: &[u8]) -> Result<usize, Skip> {
    need(data, 0, 4, "NFLOG header")?;
    let mut off = 4;
    while off + 4 <= data.len() {
        let len = usize::from(u16::from_le_bytes([data[off], data[off + 1]]));
        let ty = u16::from_le_bytes([data[off + 2], data[off + 3]]);
        if len < 4 {
            return Err(Skip::Malformed(DecodeError::new(
                Layer::Link,
                off,
                format!("NFLOG attribute length {len} is below 4"),
            )));
        }
        if ty == 9 {
            return Ok(off + 4);
        }
        off += len.div_ceil(4) * 4;
    }
    Err(Skip::NotIp)
}

/// Linux ARCNET: source, destination, a 2-byte offset, then the protocol
/// id; RFC 1201 IP (0xD4) carries a 3-byte split header, RFC 1051 IP (0xF0)
/// none.
fn arcnet(data: &[u8]) -> Result<usize, Skip> {
    need(data, 0, 5, "ARCNET header")?;
    match data[4] {
        0xd4 => Ok(8),
        0xf0 => Ok(5),
        _ => Err(Skip::NotIp),
    }
}

/// An 802.11 data frame: its MAC header (3 or 4 addresses, QoS control,
/// HT control), then LLC/SNAP with an EtherType. Management and control
/// frames, null data and encrypted frames carry no IP that can be read.
fn wlan(data: &[u8], start: usize, end: &mut usize) -> Result<usize, Skip> {
    need(data, start, 24, "802.11 header")?;
    let (fc0, fc1) = (data[start], data[start + 1]);
    let data_frame = (fc0 >> 2) & 3 == 2;
    let subtype = fc0 >> 4;
    if !data_frame || subtype & 0x4 != 0 || fc1 & 0x40 != 0 {
        return Err(Skip::NotIp);
    }
    let mut hdr = 24;
    if fc1 & 0x03 == 0x03 {
        hdr += 6; // to and from the distribution system: a fourth address
    }
    if subtype & 0x8 != 0 {
        hdr += 2; // QoS control
        if fc1 & 0x80 != 0 {
            hdr += 4; // HT control, on QoS frames with the order bit
        }
    }
    let llc = start + hdr;
    need(data, llc, 8, "LLC/SNAP header")?;
    if data[llc..llc + 3] != [0xaa, 0xaa, 0x03] {
        return Err(Skip::NotIp);
    }
    ethertype(data, u16_at(data, llc + 6), llc + 8, end)
}

/// Juniper's "MGC" header (as tcpdump's print-juniper.c reads it): flags,
/// optional extension TLVs with their total length, then an Ethernet frame,
/// or with the "no L2" flag a 4-byte family and the IP packet.
fn juniper(data: &[u8], end: &mut usize) -> Result<usize, Skip> {
    need(data, 0, 4, "Juniper header")?;
    if data[..3] != *b"MGC" {
        return Err(Skip::Malformed(DecodeError::new(
            Layer::Link,
            0,
            "Juniper magic number is not MGC",
        )));
    }
    let flags = data[3];
    let mut off = 4;
    if flags & 0x80 != 0 {
        need(data, off, 2, "Juniper extension length")?;
        off += 2 + usize::from(u16_at(data, off));
    }
    if flags & 0x02 != 0 {
        need(data, off, 5, "Juniper family")?;
        return match data[off + 4] >> 4 {
            4 | 6 => Ok(off + 4),
            _ => Err(Skip::NotIp),
        };
    }
    ethernet_in(data, off, end)
}

/// PPI (per-packet information): a little-endian header length and the
/// link type of the frame behind it.
fn ppi(data: &[u8], end: &mut usize) -> Result<usize, Skip> {
    need(data, 0, 8, "PPI header")?;
    let len = usize::from(u16::from_le_bytes([data[2], data[3]]));
    let inner = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
    match inner {
        LINKTYPE_ETHERNET => ethernet_in(data, len, end),
        LINKTYPE_IEEE802_11 => wlan(data, len, end),
        LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => Ok(len),
        other => Err(Skip::UnsupportedLink(other)),
    }
}

fn u16_at(data: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([data[off], data[off + 1]])
}

fn need(data: &[u8], off: usize, len: usize, what: &str) -> Result<(), Skip> {
    if data.len() < off + len {
        Err(truncated(off, what))
    } else {
        Ok(())
    }
}

fn truncated(off: usize, what: &str) -> Skip {
    Skip::Malformed(DecodeError::new(
        Layer::Link,
        off,
        format!("{what} is cut short"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_with_two_vlan_tags() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x08, 0x00]);
        assert_eq!(ip_offset(LINKTYPE_ETHERNET, &f), Ok(22));
    }

    #[test]
    fn cooked_v1_loopback_arphrd_772() {
        let mut f = vec![0, 0, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        f.extend_from_slice(&[0x86, 0xdd]);
        assert_eq!(ip_offset(LINKTYPE_LINUX_SLL, &f), Ok(16));
    }

    #[test]
    fn pppoe_length_ends_the_packet_before_the_padding() {
        let mut f = vec![0u8; 12];
        // PPPoE session, payload length 42 (PPP protocol + 40 bytes of IP).
        f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00, 0x0f, 0x07, 0x00, 42, 0x00, 0x21]);
        f.extend_from_slice(&[0u8; 46]);
        assert_eq!(ip_span(LINKTYPE_ETHERNET, &f), Ok((22, 62)));
        assert_eq!(ip_offset(LINKTYPE_ETHERNET, &f), Ok(22));
    }

    #[test]
    fn juniper_ppi_and_wlan_framings() {
        // MGC, flags with extensions (4 bytes of TLVs), then Ethernet.
        let mut j = b"MGC\x80".to_vec();
        j.extend_from_slice(&[0, 4, 3, 1, 1, 0]);
        j.extend_from_slice(&[0u8; 12]);
        j.extend_from_slice(&[0x08, 0x00]);
        assert_eq!(ip_offset(LINKTYPE_JUNIPER_ETHER, &j), Ok(24));
        // 802.11 QoS data to the AP, LLC/SNAP, IPv4.
        let mut w = vec![0x88, 0x01];
        w.extend_from_slice(&[0u8; 24]);
        w.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        assert_eq!(ip_offset(LINKTYPE_IEEE802_11, &w), Ok(34));
        // The same frame behind an 8-byte PPI header.
        let mut p = vec![0, 0, 8, 0, 105, 0, 0, 0];
        p.extend_from_slice(&w);
        assert_eq!(ip_offset(LINKTYPE_PPI, &p), Ok(42));
        // A beacon (management) carries no IP; encrypted data neither.
        assert_eq!(
            ip_offset(LINKTYPE_IEEE802_11, &[0x80; 40]),
            Err(Skip::NotIp)
        );
        w[1] |= 0x40;
        assert_eq!(ip_offset(LINKTYPE_IEEE802_11, &w), Err(Skip::NotIp));
    }

    #[test]
    fn null_in_both_byte_orders() {
        assert_eq!(ip_offset(LINKTYPE_NULL, &[2, 0, 0, 0]), Ok(4));
        assert_eq!(ip_offset(LINKTYPE_NULL, &[0, 0, 0, 30]), Ok(4));
        assert_eq!(ip_offset(LINKTYPE_LOOP, &[0, 0, 0, 2]), Ok(4));
        assert_eq!(ip_offset(LINKTYPE_NULL, &[7, 0, 0, 0]), Err(Skip::NotIp));
    }

    #[test]
    fn arp_is_not_ip_and_unknown_links_are_named() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x06]);
        assert_eq!(ip_offset(LINKTYPE_ETHERNET, &f), Err(Skip::NotIp));
        assert_eq!(ip_offset(147, &f), Err(Skip::UnsupportedLink(147)));
    }

    #[test]
    fn short_ethernet_header_names_the_offset() {
        let Err(Skip::Malformed(e)) = ip_offset(LINKTYPE_ETHERNET, &[0; 9]) else {
            panic!("expected a malformed link layer");
        };
        assert_eq!(e.layer, Layer::Link);
        assert_eq!(e.offset, 0);
    }
}
