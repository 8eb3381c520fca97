//! The connection key: a 4-tuple in a canonical order so both directions
//! of a connection find the same entry, packed into 38 bytes (a map of a
//! million half-open connections is mostly keys).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnKey {
    /// The lower end's address, then the higher's; an IPv4 address takes
    /// the first four bytes of its half.
    ips: [u8; 32],
    ports: [u16; 2],
    /// Which halves are IPv6 (bit 0 the lower end's): a mixed pair never
    /// comes off the wire, but a key must still give back what it got.
    v6: u8,
}

impl ConnKey {
    pub fn new(a: SocketAddr, b: SocketAddr) -> ConnKey {
        let (low, high) = if (a.ip(), a.port()) <= (b.ip(), b.port()) {
            (a, b)
        } else {
            (b, a)
        };
        let mut ips = [0u8; 32];
        let mut v6 = 0;
        for (i, (half, addr)) in ips.chunks_exact_mut(16).zip([low, high]).enumerate() {
            match addr.ip() {
                IpAddr::V4(ip) => half[..4].copy_from_slice(&ip.octets()),
                IpAddr::V6(ip) => {
                    half.copy_from_slice(&ip.octets());
                    v6 |= 1 << i;
                }
            }
        }
        ConnKey {
            ips,
            ports: [low.port(), high.port()],
            v6,
        }
    }

    /// A few bits that differ between keys, cheaply (for sharding a map;
    /// the map hashes the whole key itself).
    pub(crate) fn spread(&self) -> u32 {
        let [a, b] = self.ports;
        let ip = |i: usize| u32::from(self.ips[i]);
        u32::from(a ^ b) ^ ip(3) ^ ip(19) ^ (ip(2) << 3) ^ (ip(15) << 1)
    }

    /// The end that sorts first.
    pub fn low(&self) -> SocketAddr {
        self.end(0)
    }

    /// The end that sorts second.
    pub fn high(&self) -> SocketAddr {
        self.end(1)
    }

    fn end(&self, i: usize) -> SocketAddr {
        let half = &self.ips[16 * i..16 * (i + 1)];
        let ip = if self.v6 & (1 << i) != 0 {
            let mut b = [0u8; 16];
            b.copy_from_slice(half);
            IpAddr::V6(Ipv6Addr::from(b))
        } else {
            IpAddr::V4(Ipv4Addr::new(half[0], half[1], half[2], half[3]))
        };
        SocketAddr::new(ip, self.ports[i])
    }
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
