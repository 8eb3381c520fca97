//! The connection key: a 4-tuple in a canonical order so both directions
//! of a connection find the same entry, packed into 40 bytes of plain
//! words (a map of a million half-open connections is mostly keys, and
//! words are built in registers: a key assembled byte by byte in memory
//! costs a stalled load on every packet).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnKey {
    /// The lower end's address (an IPv4 address in the low 32 bits of the
    /// first word), then the higher's.
    low: [u64; 2],
    high: [u64; 2],
    /// The lower end's port in bits 32–47, the higher's in 16–31; bits 0
    /// and 1 say which ends are IPv6 (a mixed pair never comes off the
    /// wire, but a key must still give back what it got).
    tail: u64,
}

const LOW_V6: u64 = 1;
const HIGH_V6: u64 = 2;

fn words(ip: IpAddr) -> ([u64; 2], bool) {
    match ip {
        IpAddr::V4(v4) => ([u64::from(u32::from(v4)), 0], false),
        IpAddr::V6(v6) => {
            let n = u128::from(v6);
            ([(n >> 64) as u64, n as u64], true)
        }
    }
}

impl ConnKey {
    #[inline]
    pub fn new(a: SocketAddr, b: SocketAddr) -> ConnKey {
        // IPv4 both ends, nearly always: compared as integers.
        if let (SocketAddr::V4(x), SocketAddr::V4(y)) = (a, b) {
            let x = (u64::from(u32::from(*x.ip())), x.port());
            let y = (u64::from(u32::from(*y.ip())), y.port());
            let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
            return ConnKey {
                low: [lo.0, 0],
                high: [hi.0, 0],
                tail: (u64::from(lo.1) << 32) | (u64::from(hi.1) << 16),
            };
        }
        ConnKey::any(a, b)
    }

    #[cold]
    fn any(a: SocketAddr, b: SocketAddr) -> ConnKey {
        let ((lo, lp), (hi, hp)) = if (a.ip(), a.port()) <= (b.ip(), b.port()) {
            ((a.ip(), a.port()), (b.ip(), b.port()))
        } else {
            ((b.ip(), b.port()), (a.ip(), a.port()))
        };
        let (low, low_v6) = words(lo);
        let (high, high_v6) = words(hi);
        let mut tail = (u64::from(lp) << 32) | (u64::from(hp) << 16);
        if low_v6 {
            tail |= LOW_V6;
        }
        if high_v6 {
            tail |= HIGH_V6;
        }
        ConnKey { low, high, tail }
    }

    /// A few bits that differ between keys, cheaply (for sharding a map;
    /// the map hashes the whole key itself).
    pub(crate) fn spread(&self) -> u32 {
        let mix = self.low[0] ^ self.low[1] ^ self.high[0] ^ self.high[1];
        (mix ^ (mix >> 11) ^ (self.tail >> 16) ^ (self.tail >> 37)) as u32
    }

    /// The end that sorts first.
    pub fn low(&self) -> SocketAddr {
        end(self.low, self.tail & LOW_V6 != 0, (self.tail >> 32) as u16)
    }

    /// The end that sorts second.
    pub fn high(&self) -> SocketAddr {
        end(
            self.high,
            self.tail & HIGH_V6 != 0,
            (self.tail >> 16) as u16,
        )
    }
}

fn end(w: [u64; 2], v6: bool, port: u16) -> SocketAddr {
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::from((u128::from(w[0]) << 64) | u128::from(w[1])))
    } else {
        IpAddr::V4(Ipv4Addr::from(w[0] as u32))
    };
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_give_one_key() {
        let a: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        assert_eq!(ConnKey::new(a, b), ConnKey::new(b, a));
        let c: SocketAddr = "10.0.0.2:81".parse().unwrap();
        assert_ne!(ConnKey::new(a, b), ConnKey::new(a, c));
    }

    #[test]
    fn the_ends_come_back_as_they_went_in() {
        for (a, b) in [
            ("10.0.0.1:40000", "10.0.0.2:80"),
            ("[2001:db8::2]:443", "[2001:db8::1]:50000"),
            ("127.0.0.1:9502", "127.0.0.1:40001"),
            ("10.0.0.2:80", "[::1]:9502"),
            ("255.255.255.255:65535", "0.0.0.0:0"),
        ] {
            let (a, b): (SocketAddr, SocketAddr) = (a.parse().unwrap(), b.parse().unwrap());
            let k = ConnKey::new(a, b);
            let (lo, hi) = if (a.ip(), a.port()) <= (b.ip(), b.port()) {
                (a, b)
            } else {
                (b, a)
            };
            assert_eq!((k.low(), k.high()), (lo, hi));
        }
    }

    #[test]
    fn an_ipv4_key_differs_from_its_mapped_ipv6_form() {
        let a: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let a6: SocketAddr = "[::ffff:10.0.0.1]:40000".parse().unwrap();
        let b6: SocketAddr = "[::ffff:10.0.0.2]:80".parse().unwrap();
        assert_ne!(ConnKey::new(a, b), ConnKey::new(a6, b6));
    }
}
