//! The text the list's `/` filter searches: every connection's addresses,
//! "client server", one after another in one buffer, so a key press scans
//! bytes (SIMD, through memchr) instead of formatting a million addresses.
//! App state, no drawing.

use std::fmt::Write;

use memchr::memmem::Finder;

use std::net::SocketAddr;

#[derive(Debug, Default)]
pub struct SearchText {
    /// "10.0.0.1:40000 10.99.0.1:80\n" for each connection, by id.
    text: String,
    /// Where each connection's text ends (its newline excluded).
    ends: Vec<usize>,
}

impl SearchText {
    /// How many connections are in.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The next connection's text (empty for one no longer held: it never
    /// matches).
    /// The next connection's (client, server) addresses, or None for one
    /// not held.
    pub fn push(&mut self, addresses: Option<(SocketAddr, SocketAddr)>) {
        if let Some((client, server)) = addresses {
            // Addresses are written in lowercase (IPv6 hex digits too).
            let _ = write!(self.text, "{client} {server}");
        }
        self.ends.push(self.text.len());
        self.text.push('\n');
    }

    fn start(&self, id: usize) -> usize {
        match id {
            0 => 0,
            _ => self.ends[id - 1] + 1,
        }
    }

    /// The ids among `within` (sorted; all ids from `from` on when None)
    /// whose text contains `needle` (lowercase, not empty), in order.
    pub fn matching(&self, needle: &str, within: Option<&[usize]>, from: usize) -> Vec<usize> {
        // A newline separates the connections' texts: nothing contains one.
        if needle.contains('\n') {
            return Vec::new();
        }
        let finder = Finder::new(needle.as_bytes());
        let bytes = self.text.as_bytes();
        let one = |id: usize| -> bool {
            id < self.ends.len() && finder.find(&bytes[self.start(id)..self.ends[id]]).is_some()
        };
        match within {
            // Few candidates: look at each.
            Some(ids) if ids.len() * 4 < self.ends.len() => {
                ids.iter().copied().filter(|&id| one(id)).collect()
            }
            _ => {
                // One pass over the whole text; each hit belongs to the
                // connection whose text it is in (the needle has no newline,
                // so no hit spans two).
                let mut hits: Vec<usize> = Vec::new();
                let from = if within.is_some() {
                    0
                } else {
                    from.min(self.ends.len())
                };
                let base = if from < self.ends.len() {
                    self.start(from)
                } else {
                    bytes.len()
                };
                let mut id = from;
                let mut pos = base;
                while let Some(off) = finder.find(&bytes[pos..]) {
                    let at = pos + off;
                    while id < self.ends.len() && self.ends[id] < at + needle.len() {
                        id += 1;
                    }
                    if id >= self.ends.len() {
                        break;
                    }
                    hits.push(id);
                    // The rest of this connection's text cannot add to it.
                    pos = self.ends[id] + 1;
                    if pos >= bytes.len() {
                        break;
                    }
                }
                match within {
                    None => hits,
                    Some(ids) => intersect(&hits, ids),
                }
            }
        }
    }
}

/// The ids in both sorted lists.
fn intersect(a: &[usize], b: &[usize]) -> Vec<usize> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(addrs: &[&str]) -> SearchText {
        let mut s = SearchText::default();
        for a in addrs {
            s.ends.push(s.text.len() + a.len());
            s.text.push_str(a);
            s.text.push('\n');
        }
        s
    }

    #[test]
    fn matches_within_one_connections_text_only() {
        let s = text(&[
            "10.0.0.1:1 10.9.9.9:80",
            "10.0.0.2:2 10.9.9.9:443",
            "[2001:db8::1]:5 [2001:db8::2]:80",
        ]);
        assert_eq!(s.matching("10.9", None, 0), vec![0, 1]);
        assert_eq!(s.matching(":80", None, 0), vec![0, 2]);
        assert_eq!(s.matching("80\n10", None, 0), Vec::<usize>::new());
        assert_eq!(s.matching("2001", None, 0), vec![2]);
        // Only the new ones (live): from an id on.
        assert_eq!(s.matching("10.9", None, 1), vec![1]);
        assert_eq!(s.matching("10.9", None, 3), Vec::<usize>::new());
        // Narrowing: only among the ids given, by either path.
        assert_eq!(s.matching(":80", Some(&[1, 2]), 0), vec![2]);
        assert_eq!(s.matching("10", Some(&[1]), 0), vec![1]);
        assert_eq!(s.matching("443", Some(&[0, 2]), 0), Vec::<usize>::new());
    }
}
