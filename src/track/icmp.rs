//! ICMP and ICMPv6 errors in the tracker: matching each error to the
//! connection whose segment it quotes, and applying it as Linux does.

use crate::decode::IcmpError;
use crate::time::Timestamp;

impl super::Tracker {
    /// Takes an ICMP error captured at `ts` in frame `frame`. A documented
    /// no-op for now: the matching (by quoted addresses, ports and sequence
    /// number) and its effect on the states are filled in by the tracker
    /// work of issue 7, item 8.
    pub fn push_icmp(&mut self, _err: &IcmpError, _ts: Timestamp, _frame: u64) {}
}
