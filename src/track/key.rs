//! The connection key: a 4-tuple in a canonical order so both directions
//! of a connection find the same entry.

use std::net::SocketAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnKey {
    low: SocketAddr,
    high: SocketAddr,
}

impl ConnKey {
    pub fn new(a: SocketAddr, b: SocketAddr) -> ConnKey {
        if (a.ip(), a.port()) <= (b.ip(), b.port()) {
            ConnKey { low: a, high: b }
        } else {
            ConnKey { low: b, high: a }
        }
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
}
