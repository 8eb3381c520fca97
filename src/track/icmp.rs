//! ICMP and ICMPv6 errors in the tracker: each error is matched to the
//! connection whose segment it quotes (addresses, ports, and a sequence
//! number that endpoint had sent) and applied as Linux applies it: in
//! SYN-SENT, every error that carries an errno ends the connection
//! (connect() fails with it); on a synchronized connection it is a soft
//! error and changes nothing. Pure: time arrives with the error.

use std::net::IpAddr;

use crate::decode::IcmpError;
use crate::time::Timestamp;

use super::{ConnKey, Side};

/// One ICMP error, as the connection it concerns saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct IcmpRecord {
    pub frame: u64,
    pub ts: Timestamp,
    /// Who sent it: a router on the path, or the peer's host.
    pub from: IpAddr,
    /// The endpoint whose segment it quotes, which it goes back to.
    pub to: Side,
    pub ty: u8,
    pub code: u8,
    /// "host unreachable", "packet too big (MTU 1280)".
    pub meaning: String,
    /// The quoted sequence number, relative like the segments'.
    pub quoted_seq: u32,
    /// What connect() returns when this error ends a SYN-SENT.
    pub errno: Option<&'static str>,
    /// It ended the connection (SYN-SENT → CLOSED).
    pub closed: bool,
    /// Index of the segment after which it was captured.
    pub row: usize,
}

impl super::Tracker {
    /// Takes an ICMP error captured at `ts` in frame `frame`; returns
    /// whether it concerned a followed connection.
    pub fn push_icmp(&mut self, err: &IcmpError, ts: Timestamp, frame: u64) -> bool {
        let key = ConnKey::new(err.quoted_src, err.quoted_dst);
        let taken = self
            .whole_mut(&key)
            .is_some_and(|c| c.push_icmp(err, ts, frame));
        if taken {
            self.last_key = Some(key);
        }
        taken
    }
}
