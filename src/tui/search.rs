//! The list's `/` filter: words that name a state, a verdict or a flag
//! ([`Query`]), and text looked for in every connection's addresses,
//! "client server", one after another in one buffer, so a key press scans
//! bytes (SIMD, through memchr) instead of formatting a million addresses.
//! App state, no drawing.

use std::fmt::Write;

use memchr::memmem::Finder;

use std::net::SocketAddr;

use crate::decode::Flags;
use crate::track::{Closing, Opening, State, Summary};

#[derive(Debug, Default)]
pub struct SearchText {
    /// "10.0.0.1:40000 10.99.0.1:80\n" for each connection, by id.
    text: String,
    /// Where each connection's text ends (its newline excluded).
    ends: Vec<usize>,
    /// Each connection's summary, where it cannot change any more (a
    /// replay's): what the filter's words are asked of.
    summaries: Vec<Option<Summary>>,
}

impl SearchText {
    /// How many connections are in.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The next connection's (client, server) addresses, or None for one
    /// not held (it never matches), and its summary if it is final.
    pub fn push(&mut self, addresses: Option<(SocketAddr, SocketAddr)>, summary: Option<Summary>) {
        self.summaries.push(summary);
        if let Some((client, server)) = addresses {
            // Addresses are written in lowercase (IPv6 hex digits too).
            let _ = write!(self.text, "{client} {server}");
        }
        self.ends.push(self.text.len());
        self.text.push('\n');
    }

    /// Connection `id`'s summary, if it was given one.
    pub fn summary(&self, id: usize) -> Option<Summary> {
        self.summaries.get(id).copied().flatten()
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

/// One word of the filter that is not text to find in the addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Word {
    /// `state:NAME`: either end was in a state whose name begins so
    /// (`state:time` is TIME-WAIT, `state:fin` both FIN-WAITs).
    State(String),
    /// A flag some segment carried: `syn`, `ack`, `fin`, `rst`, `psh`,
    /// `urg`, `ece`, `cwr`.
    Flag(Flags),
    Opening(Opening),
    Closing(Closing),
    /// `simultaneous`: opened or closed so.
    Simultaneous,
    /// `retx`, `retransmission`: something was sent again.
    Retransmitted,
    /// `half-close`.
    HalfClosed,
}

/// Every word the filter knows, for the help and the README.
pub const WORDS: &str = "state:NAME (e.g. state:TIME-WAIT, state:syn), refused, unanswered, \
                         unreachable, three-way, mid-stream, simultaneous, reset, half-close, \
                         retx, and the flags syn ack fin rst psh urg ece cwr";

impl Word {
    /// The word `w` (lowercase) means, if it is one.
    pub fn of(w: &str) -> Option<Word> {
        if let Some(name) = w.strip_prefix("state:") {
            return Some(Word::State(name.to_uppercase()));
        }
        let flag = |bit: u16| Some(Word::Flag(Flags(bit)));
        match w {
            "fin" => flag(0x001),
            "syn" => flag(0x002),
            "rst" => flag(0x004),
            "psh" => flag(0x008),
            "ack" => flag(0x010),
            "urg" => flag(0x020),
            "ece" => flag(0x040),
            "cwr" => flag(0x080),
            "three-way" => Some(Word::Opening(Opening::ThreeWay)),
            "refused" => Some(Word::Opening(Opening::Refused)),
            "unreachable" => Some(Word::Opening(Opening::Unreachable)),
            "unanswered" => Some(Word::Opening(Opening::Unanswered)),
            "mid-stream" => Some(Word::Opening(Opening::MidStream)),
            "reset" => Some(Word::Closing(Closing::Reset)),
            "simultaneous" => Some(Word::Simultaneous),
            "retx" | "retransmission" | "retransmissions" => Some(Word::Retransmitted),
            "half-close" | "half-closed" => Some(Word::HalfClosed),
            _ => None,
        }
    }

    fn keeps(&self, s: &Summary) -> bool {
        match self {
            Word::State(prefix) => State::ALL
                .iter()
                .any(|&st| s.reached(st) && st.name().starts_with(prefix.as_str())),
            Word::Flag(f) => s.flags.0 & f.0 != 0,
            Word::Opening(o) => s.opening == *o,
            Word::Closing(c) => s.closing == *c,
            Word::Simultaneous => {
                s.opening == Opening::Simultaneous || s.closing == Closing::Simultaneous
            }
            Word::Retransmitted => s.retransmitted,
            Word::HalfClosed => s.half_closed,
        }
    }
}

/// The filter as typed: its words that mean something, and the rest,
/// each looked for in the addresses. A connection must match them all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pub words: Vec<Word>,
    pub text: Vec<String>,
}

impl Query {
    pub fn parse(filter: &str) -> Query {
        let mut q = Query::default();
        for w in filter.to_lowercase().split_whitespace() {
            match Word::of(w) {
                Some(word) => q.words.push(word),
                None => q.text.push(w.to_string()),
            }
        }
        q
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.text.is_empty()
    }

    /// Whether a connection with this summary passes the words.
    pub fn keeps(&self, s: &Summary) -> bool {
        self.words.iter().all(|w| w.keeps(s))
    }

    /// The ids among `within` (or all from `from` on) whose addresses hold
    /// every text part and whose summary (`summary`, None for one not
    /// held: it never matches a word) passes the words, in order.
    pub fn matching(
        &self,
        search: &SearchText,
        within: Option<&[usize]>,
        from: usize,
        summary: impl Fn(usize) -> Option<Summary>,
    ) -> Vec<usize> {
        let mut ids: Option<Vec<usize>> = within.map(<[usize]>::to_vec);
        for t in &self.text {
            ids = Some(search.matching(t, ids.as_deref(), from));
        }
        let ids = ids.unwrap_or_else(|| (from..search.len()).collect());
        if self.words.is_empty() {
            return ids;
        }
        ids.into_iter()
            .filter(|&id| summary(id).is_some_and(|s| self.keeps(&s)))
            .collect()
    }
}

/// The ids in both sorted lists./// The ids in both sorted lists.
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
            s.summaries.push(None);
            s.text.push_str(a);
            s.text.push('\n');
        }
        s
    }

    #[test]
    fn words_are_told_from_text_and_partial_ones_stay_text() {
        let q = Query::parse("state:Time RST 10.0.0.1 refuse");
        assert_eq!(
            q.words,
            vec![Word::State("TIME".into()), Word::Flag(Flags(0x004))]
        );
        assert_eq!(q.text, vec!["10.0.0.1".to_string(), "refuse".to_string()]);
        assert_eq!(Word::of("refused"), Some(Word::Opening(Opening::Refused)));
        assert_eq!(Word::of("9502"), None);
        let s = Summary {
            reached: 1 << State::TimeWait as u16 | 1 << State::SynSent as u16,
            flags: Flags(0x012),
            opening: Opening::ThreeWay,
            closing: Closing::Fin,
            retransmitted: false,
            half_closed: false,
        };
        let keeps = |f: &str| Query::parse(f).keeps(&s);
        assert!(keeps("state:time-wait") && keeps("state:t") && keeps("state:syn-sent"));
        assert!(!keeps("state:fin") && !keeps("state:time-wait-") && !keeps("rst"));
        assert!(keeps("syn ack three-way") && !keeps("syn fin"));
        assert!(!keeps("retx") && !keeps("simultaneous") && !keeps("half-close"));
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
