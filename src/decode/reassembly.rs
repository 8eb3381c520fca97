//! IPv4 and IPv6 fragment reassembly, sans-IO: fragments and their capture
//! timestamps come in, a whole IP packet comes out when the last missing
//! piece arrives. The rules follow Linux (net/ipv4/ip_fragment.c,
//! net/ipv6/reassembly.c and inet_fragment.c), so a capture taken next to a
//! Linux host reassembles what that host reassembled:
//!
//! * A datagram is keyed by (source, destination, protocol, id) for IPv4
//!   and (source, destination, id) for IPv6.
//! * It is dropped when it is not complete `ipfrag_time` after its first
//!   fragment: 30 s for IPv4, 60 s for IPv6 (Linux's defaults). The clock is
//!   the capture's.
//! * A fragment that overlaps one already held, without lying wholly
//!   inside what is held, drops the whole datagram: Linux does this for
//!   IPv6 as RFC 5722 requires, and for IPv4 too since 4.19 (the
//!   "FragmentSmack" fix, `inet_frag_queue_insert` returning
//!   `IPFRAG_OVERLAP`). A fragment wholly inside held data is a duplicate
//!   (`IPFRAG_DUP`): ignored, the datagram kept.
//! * A last fragment that ends before data already held, or a second last
//!   fragment with another end, or data past a known end, or an empty
//!   fragment, drops the datagram; a non-last fragment is cut to a multiple
//!   of 8 bytes.
//! * A reassembled packet longer than 65535 bytes (IPv4 header and data;
//!   IPv6 payload) is dropped.
//!
//! Memory is bounded: at most `max_bytes` of fragment data and
//! `max_datagrams` datagrams are held; beyond that the oldest datagram is
//! dropped (counted as evicted). Nothing is allocated until a fragment
//! arrives.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};

use rustc_hash::FxHashMap;

use crate::time::{Span, Timestamp};

/// Limits, with Linux's defaults.
#[derive(Clone, Copy, Debug)]
pub struct ReassemblyConfig {
    /// `net.ipv4.ipfrag_time`.
    pub v4_timeout: Span,
    /// `net.ipv6.ip6frag_time`.
    pub v6_timeout: Span,
    /// Fragment bytes held at most (Linux's `ipfrag_high_thresh` is 4 MiB).
    pub max_bytes: usize,
    /// Datagrams in flight at most.
    pub max_datagrams: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            v4_timeout: Span::from_secs(30),
            v6_timeout: Span::from_secs(60),
            max_bytes: 4 << 20,
            max_datagrams: 4096,
        }
    }
}

/// Which datagram a fragment belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FragKey {
    V4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        id: u16,
    },
    V6 {
        src: Ipv6Addr,
        dst: Ipv6Addr,
        id: u32,
    },
}

impl FragKey {
    fn is_v6(&self) -> bool {
        matches!(self, FragKey::V6 { .. })
    }
}

/// One fragment as the decoder read it.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    pub key: FragKey,
    /// Byte offset of this fragment's data in the datagram.
    pub offset: u32,
    /// More fragments follow (MF).
    pub more: bool,
    /// Data length the IP header gives this fragment.
    pub len: u32,
    /// The data bytes captured (at most `len`; fewer after a snap-length cut).
    pub data: &'a [u8],
    /// The header to rebuild the packet from, used from the fragment at
    /// offset 0: the IPv4 header with its options, or the IPv6 fixed header.
    pub header: &'a [u8],
    /// IPv6: the fragment header's next header (what the data starts with).
    pub next_header: u8,
    /// IPv6: bytes of extension headers before the fragment header; they
    /// count toward the 65535-byte limit, as in Linux.
    pub unfragmentable: u32,
}

/// A reassembled packet: a plain IP header (no fragmentation fields) and
/// the whole data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub bytes: Vec<u8>,
    /// Every fragment was captured whole. When not, `bytes` ends where the
    /// first missing byte is, and the IP length field still gives the true
    /// length (as a snap-length cut packet does).
    pub whole: bool,
}

/// What became of one fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept, waiting for the rest.
    Held,
    /// Wholly inside data already held: ignored.
    Duplicate,
    /// It made the datagram unusable, which was dropped with it.
    Dropped(DropReason),
    /// It completed the datagram.
    Complete(Datagram),
}

/// Why a datagram was given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Overlap,
    /// Ends that disagree, data past the end, an empty fragment.
    Inconsistent,
    Oversize,
}

/// Counters, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Fragments handed in.
    pub fragments: u64,
    /// Datagrams completed.
    pub reassembled: u64,
    /// Fragments ignored as duplicates.
    pub duplicates: u64,
    /// Datagrams dropped for overlapping fragments.
    pub overlapping: u64,
    /// Datagrams dropped for inconsistent fragment ends.
    pub inconsistent: u64,
    /// Datagrams dropped for being longer than 65535 bytes.
    pub oversize: u64,
    /// Datagrams dropped because they were not complete in time.
    pub timed_out: u64,
    /// Datagrams dropped to stay within the memory limits.
    pub evicted: u64,
    /// Fragments that went down with a dropped datagram (any reason above).
    pub fragments_lost: u64,
}

#[derive(Debug)]
struct Piece {
    offset: u32,
    end: u32,
    data: Vec<u8>,
}

#[derive(Debug)]
struct Pending {
    serial: u64,
    first_seen: Timestamp,
    /// Sorted by offset, never overlapping.
    pieces: Vec<Piece>,
    /// Highest end seen, or the true end once the last fragment is in.
    len: u32,
    last_in: bool,
    /// Sum of the pieces' lengths; the datagram is whole when it equals
    /// `len` with both the first and the last fragment in (no overlaps, so
    /// no gaps either).
    meat: u32,
    bytes: usize,
    /// From the fragment at offset 0.
    header: Option<Vec<u8>>,
    next_header: u8,
    unfragmentable: u32,
    fragments: u64,
}

/// Holds incomplete datagrams.
#[derive(Debug, Default)]
pub struct Reassembler {
    cfg: ReassemblyConfig,
    pending: FxHashMap<FragKey, Pending>,
    /// Datagrams by first arrival, per version (their timeouts differ);
    /// entries whose serial no longer matches are stale and skipped.
    order: [VecDeque<(Timestamp, FragKey, u64)>; 2],
    serial: u64,
    bytes: usize,
    stats: ReassemblyStats,
}

impl Reassembler {
    pub fn new(cfg: ReassemblyConfig) -> Reassembler {
        Reassembler {
            cfg,
            ..Reassembler::default()
        }
    }

    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Datagrams waiting and the fragments they hold.
    pub fn pending(&self) -> (usize, u64) {
        let frags = self.pending.values().map(|p| p.fragments).sum();
        (self.pending.len(), frags)
    }

    /// Bytes of fragment data held.
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    /// Takes one fragment captured at `now`.
    pub fn push(&mut self, f: &Fragment<'_>, now: Timestamp) -> Outcome {
        self.stats.fragments += 1;
        self.expire(now);
        let timeout = self.timeout(&f.key);
        if self
            .pending
            .get(&f.key)
            .is_some_and(|p| now - p.first_seen > timeout)
        {
            // Out of order timestamps can leave an old one behind a newer
            // front of the queue.
            self.stats.timed_out += 1;
            self.remove(&f.key);
        }
        let offset = f.offset;
        let mut end = offset.saturating_add(f.len);
        if f.more {
            // Linux trims a non-last fragment to a multiple of 8 bytes.
            end &= !7;
        }
        let captured = f.data.len().min(end.saturating_sub(offset) as usize);
        let data = &f.data[..captured];
        // Room first: it may evict this very datagram, which then starts
        // afresh.
        self.make_room(data.len(), !self.pending.contains_key(&f.key));
        if !self.pending.contains_key(&f.key) {
            self.serial += 1;
            self.pending.insert(
                f.key,
                Pending {
                    serial: self.serial,
                    first_seen: now,
                    pieces: Vec::new(),
                    len: 0,
                    last_in: false,
                    meat: 0,
                    bytes: 0,
                    header: None,
                    next_header: 0,
                    unfragmentable: 0,
                    fragments: 0,
                },
            );
            self.order[usize::from(f.key.is_v6())].push_back((now, f.key, self.serial));
        }
        let Some(p) = self.pending.get_mut(&f.key) else {
            return Outcome::Held; // unreachable: inserted just above
        };
        let verdict = place(p, offset, end, f.more);
        match verdict {
            Placed::Duplicate => {
                self.stats.duplicates += 1;
                return Outcome::Duplicate;
            }
            Placed::Drop(reason) => {
                p.fragments += 1;
                match reason {
                    DropReason::Overlap => self.stats.overlapping += 1,
                    DropReason::Inconsistent => self.stats.inconsistent += 1,
                    DropReason::Oversize => self.stats.oversize += 1,
                }
                self.remove(&f.key);
                return Outcome::Dropped(reason);
            }
            Placed::At(i) => {
                p.pieces.insert(
                    i,
                    Piece {
                        offset,
                        end,
                        data: data.to_vec(),
                    },
                );
                p.meat += end - offset;
                p.bytes += data.len();
                p.fragments += 1;
                self.bytes += data.len();
                if offset == 0 {
                    p.header = Some(f.header.to_vec());
                    p.next_header = f.next_header;
                    p.unfragmentable = f.unfragmentable;
                }
            }
        }
        if !(p.last_in && p.header.is_some() && p.meat == p.len) {
            return Outcome::Held;
        }
        let Some(p) = self.take(&f.key) else {
            return Outcome::Held;
        };
        match build(&f.key, p) {
            Some(d) => {
                self.stats.reassembled += 1;
                Outcome::Complete(d)
            }
            None => {
                self.stats.oversize += 1;
                Outcome::Dropped(DropReason::Oversize)
            }
        }
    }

    fn timeout(&self, key: &FragKey) -> Span {
        if key.is_v6() {
            self.cfg.v6_timeout
        } else {
            self.cfg.v4_timeout
        }
    }

    /// Drops the datagrams whose time is up, oldest first.
    fn expire(&mut self, now: Timestamp) {
        for v in 0..2 {
            let timeout = if v == 1 {
                self.cfg.v6_timeout
            } else {
                self.cfg.v4_timeout
            };
            while let Some(&(seen, key, serial)) = self.order[v].front() {
                let live = self.pending.get(&key).is_some_and(|p| p.serial == serial);
                if live && now - seen <= timeout {
                    break;
                }
                self.order[v].pop_front();
                if live {
                    self.stats.timed_out += 1;
                    self.remove(&key);
                }
            }
        }
    }

    /// Evicts the oldest datagrams until `add` more bytes (and one more
    /// datagram, when `new`) fit.
    fn make_room(&mut self, add: usize, new: bool) {
        loop {
            let over_bytes = self.bytes + add > self.cfg.max_bytes;
            let over_count = new && self.pending.len() >= self.cfg.max_datagrams;
            if !(over_bytes || over_count) || self.pending.is_empty() {
                return;
            }
            // The older of the two queues' fronts (stale entries first).
            let pick = match (self.order[0].front(), self.order[1].front()) {
                (Some(a), Some(b)) => usize::from(b.0 < a.0),
                (Some(_), None) => 0,
                (None, Some(_)) => 1,
                (None, None) => return,
            };
            let Some((_, key, serial)) = self.order[pick].pop_front() else {
                return;
            };
            if self.pending.get(&key).is_some_and(|p| p.serial == serial) {
                self.stats.evicted += 1;
                self.remove(&key);
            }
        }
    }

    fn take(&mut self, key: &FragKey) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        self.bytes -= p.bytes;
        Some(p)
    }

    /// Drops a datagram, counting its fragments as lost.
    fn remove(&mut self, key: &FragKey) {
        if let Some(p) = self.take(key) {
            self.stats.fragments_lost += p.fragments;
        }
    }
}

enum Placed {
    At(usize),
    Duplicate,
    Drop(DropReason),
}

/// Where a fragment [offset, end) goes, by Linux's rules.
fn place(p: &mut Pending, offset: u32, end: u32, more: bool) -> Placed {
    if !more {
        if end < p.len || (p.last_in && end != p.len) {
            return Placed::Drop(DropReason::Inconsistent);
        }
        p.last_in = true;
        p.len = end;
    } else if end > p.len {
        if p.last_in {
            return Placed::Drop(DropReason::Inconsistent);
        }
        p.len = end;
    }
    if end <= offset {
        return Placed::Drop(DropReason::Inconsistent);
    }
    let i = p.pieces.partition_point(|q| q.offset < offset);
    // A duplicate lies inside a run of adjacent pieces. (Linux's runs are
    // the pieces that arrived in order at the tail; treating every
    // adjacent pair as one run differs only for a copy that spans two
    // pieces which arrived out of order, which Linux calls an overlap.)
    let mut j = i;
    if j > 0 && p.pieces[j - 1].end > offset {
        j -= 1;
    }
    if let Some(first) = p.pieces.get(j).filter(|q| q.offset <= offset) {
        let mut run_end = first.end;
        for q in &p.pieces[j + 1..] {
            if q.offset != run_end || run_end >= end {
                break;
            }
            run_end = q.end;
        }
        if end <= run_end {
            return Placed::Duplicate;
        }
    }
    let overlaps_prev = i > 0 && p.pieces[i - 1].end > offset;
    let overlaps_next = p.pieces.get(i).is_some_and(|q| q.offset < end);
    if overlaps_prev || overlaps_next {
        return Placed::Drop(DropReason::Overlap);
    }
    Placed::At(i)
}

/// The whole packet: the first fragment's header with the fragmentation
/// fields cleared and the lengths set, then the data. None when it would
/// be longer than 65535 bytes.
fn build(key: &FragKey, p: Pending) -> Option<Datagram> {
    let header = p.header?;
    let len = usize::try_from(p.len).ok()?;
    let whole = p
        .pieces
        .iter()
        .all(|q| q.data.len() == (q.end - q.offset) as usize);
    // The bytes there are, up to the first one not captured.
    let mut captured = 0usize;
    for q in &p.pieces {
        if q.offset as usize != captured {
            break;
        }
        captured += q.data.len();
        if q.data.len() < (q.end - q.offset) as usize {
            break;
        }
    }
    let mut bytes;
    if key.is_v6() {
        // Extension headers before the fragment header (hop-by-hop,
        // routing) are left out: nothing past IP reads them.
        if u64::from(p.unfragmentable) + u64::from(p.len) > 65535 || header.len() < 40 {
            return None;
        }
        bytes = Vec::with_capacity(40 + captured);
        bytes.extend_from_slice(&header[..40]);
        bytes[4..6].copy_from_slice(&(p.len as u16).to_be_bytes());
        bytes[6] = p.next_header;
    } else {
        let total = header.len() + len;
        if total > 65535 || header.len() < 20 {
            return None;
        }
        bytes = Vec::with_capacity(header.len() + captured);
        bytes.extend_from_slice(&header);
        bytes[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        // Keep DF, clear MF and the offset.
        bytes[6] &= 0x40;
        bytes[7] = 0;
    }
    for q in &p.pieces {
        let start = q.offset as usize;
        if start >= captured {
            break;
        }
        let n = q.data.len().min(captured - start);
        bytes.extend_from_slice(&q.data[..n]);
    }
    Some(Datagram { bytes, whole })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR: [u8; 20] = [
        0x45, 0, 0, 0, 0, 1, 0x20, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];

    fn key(id: u16) -> FragKey {
        FragKey::V4 {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: 6,
            id,
        }
    }

    fn frag<'a>(id: u16, offset: u32, more: bool, data: &'a [u8]) -> Fragment<'a> {
        Fragment {
            key: key(id),
            offset,
            more,
            len: data.len() as u32,
            data,
            header: &HDR,
            next_header: 0,
            unfragmentable: 0,
        }
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_secs_nanos(secs, 0)
    }

    fn complete(o: Outcome) -> Datagram {
        match o {
            Outcome::Complete(d) => d,
            other => panic!("expected a complete datagram, got {other:?}"),
        }
    }

    #[test]
    fn two_fragments_in_either_order() {
        let a: Vec<u8> = (0..16).collect();
        let b: Vec<u8> = (16..20).collect();
        for reversed in [false, true] {
            let mut r = Reassembler::default();
            let (first, second) = if reversed {
                (frag(1, 16, false, &b), frag(1, 0, true, &a))
            } else {
                (frag(1, 0, true, &a), frag(1, 16, false, &b))
            };
            assert_eq!(r.push(&first, t(0)), Outcome::Held);
            let d = complete(r.push(&second, t(1)));
            assert!(d.whole);
            assert_eq!(d.bytes.len(), 40);
            assert_eq!(u16::from_be_bytes([d.bytes[2], d.bytes[3]]), 40);
            assert_eq!(d.bytes[6] & 0x3f, 0, "MF and offset cleared");
            assert_eq!(&d.bytes[20..], &(0..20).collect::<Vec<u8>>()[..]);
            assert_eq!(r.bytes_held(), 0);
            assert_eq!(r.pending(), (0, 0));
        }
    }

    #[test]
    fn an_identical_copy_is_ignored_and_the_datagram_kept() {
        let a = [1u8; 16];
        let mut r = Reassembler::default();
        assert_eq!(r.push(&frag(1, 0, true, &a), t(0)), Outcome::Held);
        assert_eq!(r.push(&frag(1, 0, true, &a), t(0)), Outcome::Duplicate);
        complete(r.push(&frag(1, 16, false, &[2; 8]), t(0)));
        assert_eq!(r.stats().duplicates, 1);
    }

    #[test]
    fn a_partial_overlap_drops_the_whole_datagram() {
        let mut r = Reassembler::default();
        assert_eq!(r.push(&frag(1, 0, true, &[0; 16]), t(0)), Outcome::Held);
        assert_eq!(
            r.push(&frag(1, 8, true, &[0; 16]), t(0)),
            Outcome::Dropped(DropReason::Overlap)
        );
        // The rest arriving later starts a new datagram that cannot finish.
        assert_eq!(r.push(&frag(1, 16, false, &[0; 8]), t(0)), Outcome::Held);
        let s = r.stats();
        assert_eq!((s.overlapping, s.fragments_lost, s.reassembled), (1, 2, 0));
    }

    #[test]
    fn disagreeing_last_fragments_drop_the_datagram() {
        let mut r = Reassembler::default();
        r.push(&frag(1, 16, false, &[0; 8]), t(0));
        assert_eq!(
            r.push(&frag(1, 16, false, &[0; 16]), t(0)),
            Outcome::Dropped(DropReason::Inconsistent)
        );
        r.push(&frag(2, 16, false, &[0; 8]), t(0));
        assert_eq!(
            r.push(&frag(2, 24, true, &[0; 8]), t(0)),
            Outcome::Dropped(DropReason::Inconsistent),
            "data past the known end"
        );
    }

    #[test]
    fn incomplete_datagrams_time_out_per_version() {
        let mut r = Reassembler::default();
        r.push(&frag(1, 0, true, &[0; 8]), t(0));
        // 31 s later the first half is gone: the second cannot complete it.
        assert_eq!(r.push(&frag(1, 8, false, &[0; 8]), t(31)), Outcome::Held);
        assert_eq!(r.stats().timed_out, 1);
        // Within 30 s it completes.
        r.push(&frag(2, 0, true, &[0; 8]), t(100));
        complete(r.push(&frag(2, 8, false, &[0; 8]), t(129)));
    }

    #[test]
    fn memory_is_bounded_oldest_dropped_first() {
        let mut r = Reassembler::new(ReassemblyConfig {
            max_datagrams: 2,
            max_bytes: 40,
            ..ReassemblyConfig::default()
        });
        r.push(&frag(1, 0, true, &[0; 16]), t(0));
        r.push(&frag(2, 0, true, &[0; 16]), t(1));
        r.push(&frag(3, 0, true, &[0; 16]), t(2));
        assert_eq!(r.stats().evicted, 1);
        assert_eq!(r.pending().0, 2);
        // Datagram 1 went first: its end completes nothing.
        assert_eq!(r.push(&frag(1, 16, false, &[0; 8]), t(3)), Outcome::Held);
        assert!(r.bytes_held() <= 40);
        // Datagram 3 is still there.
        complete(r.push(&frag(3, 16, false, &[0; 8]), t(3)));
    }

    #[test]
    fn longer_than_65535_is_dropped() {
        let big = vec![0u8; 65528];
        let mut r = Reassembler::default();
        r.push(&frag(1, 0, true, &big), t(0));
        assert_eq!(
            r.push(&frag(1, 65528, false, &[0; 8]), t(0)),
            Outcome::Dropped(DropReason::Oversize)
        );
    }

    #[test]
    fn a_cut_fragment_keeps_the_true_length() {
        let mut r = Reassembler::default();
        let mut f = frag(1, 0, true, &[7; 10]);
        f.len = 16;
        r.push(&f, t(0));
        let d = complete(r.push(&frag(1, 16, false, &[8; 8]), t(0)));
        assert!(!d.whole);
        assert_eq!(d.bytes.len(), 30, "header and the 10 bytes captured");
        assert_eq!(u16::from_be_bytes([d.bytes[2], d.bytes[3]]), 44);
    }
}
