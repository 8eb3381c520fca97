//! The `analyze --json` document. Its shape is a contract: fields may be
//! added, none changed.

use serde::Serialize;

use crate::ladder::verdict::verdict;
use crate::track::kernel::KernelRecord;
use crate::track::rows::Rows;
use crate::track::{Closer, Connection, SegmentRecord, Side, State};

#[derive(Serialize)]
pub struct Document<'a> {
    pub connections: Vec<ConnectionDoc<'a>>,
}

#[derive(Serialize)]
pub struct ConnectionDoc<'a> {
    /// 1-based, as `--conn` takes it.
    pub number: usize,
    pub client: String,
    pub server: String,
    pub opening: &'static str,
    pub closing: &'static str,
    pub closed_by: Option<&'static str>,
    pub half_close: bool,
    pub client_states: Vec<State>,
    pub server_states: Vec<State>,
    /// The same states with when each began and the evidence for it.
    pub client_timeline: Vec<TimelineDoc>,
    pub server_timeline: Vec<TimelineDoc>,
    pub time_wait: Option<TimeWaitDoc>,
    pub verdict: String,
    pub retransmissions: u64,
    /// Written straight from the connection's records, not gathered
    /// first: a connection of millions of segments is not held twice.
    pub segments: SegmentsDoc<'a>,
    /// ICMP errors quoting this connection's segments (empty when none).
    pub icmp: Vec<IcmpDoc>,
}

/// A connection with the kernel's own record of its endpoints (`live`
/// as root): null where no state change of its sockets was read.
#[derive(Serialize)]
pub struct ConnectionWithKernel<'a> {
    #[serde(flatten)]
    pub connection: ConnectionDoc<'a>,
    pub kernel: Option<KernelDoc>,
}

#[derive(Serialize)]
#[serde(untagged)]
pub enum LiveDocument<'a> {
    Plain(Document<'a>),
    WithKernel {
        connections: Vec<ConnectionWithKernel<'a>>,
    },
}

/// The `analyze --json` document, each connection with `"kernel"` added
/// when the kernel's record was read at all.
pub fn document_with_kernel<'a>(
    conns: &'a [Connection],
    record: &KernelRecord,
) -> LiveDocument<'a> {
    if record.is_empty() {
        return LiveDocument::Plain(document(conns));
    }
    LiveDocument::WithKernel {
        connections: conns
            .iter()
            .zip(KernelDoc::for_all(record, conns))
            .map(|(c, kernel)| ConnectionWithKernel {
                connection: connection(c),
                kernel,
            })
            .collect(),
    }
}

#[derive(Serialize)]
pub struct IcmpDoc {
    pub time: f64,
    pub from: String,
    /// The endpoint it goes back to: "client" or "server".
    pub to: Side,
    #[serde(rename = "type")]
    pub ty: u8,
    pub code: u8,
    pub meaning: String,
    pub quoted_seq: u32,
    /// What connect() returned, when the error ended a SYN-SENT.
    pub errno: Option<&'static str>,
    pub frame: u64,
}

/// Each endpoint's states as the kernel reported them, in RFC 9293 names
/// (null for an endpoint not on this host), and where they part from the
/// inferred ones. A state the tracepoint never reports (a listener's
/// request socket, a TIME-WAIT mini-socket's end) is not there.
#[derive(Debug, Serialize)]
pub struct KernelDoc {
    pub client_states: Option<Vec<State>>,
    pub server_states: Option<Vec<State>>,
    pub disagreements: Vec<DisagreementDoc>,
}

#[derive(Debug, Serialize)]
pub struct DisagreementDoc {
    pub side: Side,
    pub time: f64,
    pub kernel: State,
    pub inferred: State,
    pub text: String,
}

impl KernelDoc {
    pub fn new(v: &crate::ladder::KernelView) -> KernelDoc {
        KernelDoc {
            client_states: v.states.states(Side::Client),
            server_states: v.states.states(Side::Server),
            disagreements: v
                .disagreements
                .iter()
                .map(|d| DisagreementDoc {
                    side: d.side,
                    time: d.time.as_json_secs(),
                    kernel: d.kernel,
                    inferred: d.inferred,
                    text: d.text.clone(),
                })
                .collect(),
        }
    }

    /// Each connection's record (see `KernelRecord::states_for_all`),
    /// compared with its inferred states; None where no change names its
    /// sockets.
    pub fn for_all(record: &KernelRecord, all: &[Connection]) -> Vec<Option<KernelDoc>> {
        record
            .states_for_all(all)
            .iter()
            .zip(all)
            .map(|(k, c)| {
                k.as_ref()
                    .map(|k| KernelDoc::new(&crate::ladder::kernel::compare(c, k, None)))
            })
            .collect()
    }
}

#[derive(Serialize)]
pub struct TimelineDoc {
    pub state: State,
    pub time: f64,
    /// "sent", "acknowledged", "received", "timer", "assumed" or "estimated".
    pub basis: &'static str,
}

fn timeline(c: &Connection, side: Side) -> Vec<TimelineDoc> {
    c.timeline(side)
        .into_iter()
        .map(|(state, t, basis)| TimelineDoc {
            state,
            time: t.as_json_secs(),
            basis: basis.name(),
        })
        .collect()
}

#[derive(Serialize)]
pub struct TimeWaitDoc {
    pub side: &'static str,
    pub entered: f64,
    pub expires: f64,
    pub ended_early: bool,
}

#[derive(Serialize)]
pub struct SegmentDoc {
    pub time: f64,
    pub from: Side,
    pub flags: crate::decode::Flags,
    pub seq: u32,
    pub ack: Option<u32>,
    pub len: u32,
    pub retransmission: bool,
    pub frame: u64,
    pub win: u16,
}

/// A connection's segments, serialized one by one as [`SegmentDoc`]s.
pub struct SegmentsDoc<'a>(&'a Rows<SegmentRecord>);

impl SegmentsDoc<'_> {
    pub fn iter(&self) -> impl Iterator<Item = SegmentDoc> + '_ {
        self.0.iter().map(|s| SegmentDoc {
            time: s.ts.as_json_secs(),
            from: s.from,
            flags: s.flags,
            seq: s.rel_seq,
            ack: s.rel_ack(),
            len: s.len,
            retransmission: s.retransmission(),
            frame: s.frame,
            win: s.window,
        })
    }
}

impl Serialize for SegmentsDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

pub fn connection(c: &Connection) -> ConnectionDoc<'_> {
    let (closing, closer) = c.closing();
    let tws: Vec<(Side, _)> = Side::BOTH
        .into_iter()
        .filter_map(|s| c.time_wait[s.index()].map(|t| (s, t)))
        .collect();
    let time_wait = match tws.as_slice() {
        [] => None,
        [(side, t)] => Some(TimeWaitDoc {
            side: side.name(),
            entered: t.entered.as_json_secs(),
            expires: t.expires.as_json_secs(),
            ended_early: t.ended_early,
        }),
        [(_, a), (_, b), ..] => Some(TimeWaitDoc {
            side: "both",
            entered: a.entered.min(b.entered).as_json_secs(),
            expires: a.expires.max(b.expires).as_json_secs(),
            ended_early: a.ended_early || b.ended_early,
        }),
    };
    ConnectionDoc {
        number: c.id + 1,
        client: c.client.to_string(),
        server: c.server.to_string(),
        opening: c.opening().name(),
        closing: closing.name(),
        closed_by: closer.map(|k| match k {
            Closer::One(s) => s.name(),
            Closer::Both => "both",
        }),
        half_close: c.half_close().is_some(),
        client_states: c.states(Side::Client),
        server_states: c.states(Side::Server),
        client_timeline: timeline(c, Side::Client),
        server_timeline: timeline(c, Side::Server),
        time_wait,
        verdict: verdict(c),
        retransmissions: c.retransmissions,
        segments: SegmentsDoc(&c.segments),
        icmp: c
            .icmp
            .iter()
            .map(|i| IcmpDoc {
                time: i.ts.as_json_secs(),
                from: i.from.to_string(),
                to: i.to,
                ty: i.ty,
                code: i.code,
                meaning: i.meaning.clone(),
                quoted_seq: i.quoted_seq,
                errno: i.closed.then_some(i.errno).flatten(),
                frame: i.frame,
            })
            .collect(),
    }
}

/// The pretty [`Document`] in pieces, byte for byte what serde_json
/// writes for it whole: [`HEAD`], each connection's [`element`] after its
/// [`separator`], then [`tail`]. The pieces can be made on different
/// threads.
pub const HEAD: &[u8] = b"{\n  \"connections\": [";

/// What comes before the `first` or a later element.
pub fn separator(first: bool) -> &'static [u8] {
    if first { b"\n" } else { b",\n" }
}

/// One connection as an element of the document's array: laid out two
/// levels deep, its first line indented too.
pub fn element(c: &Connection) -> serde_json::Result<Vec<u8>> {
    // Room for what it usually takes (a segment is about 550 bytes of
    // pretty JSON), so the text is not copied as it grows.
    let mut out = Vec::with_capacity(4096 + 600 * c.segments.len());
    write_element(c, &mut out)?;
    Ok(out)
}

/// One connection on one line, as `analyze --jsonl` writes them: the
/// same object as an element of the document's `connections`.
pub fn write_line(c: &Connection, w: &mut impl std::io::Write) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *w, &connection(c))?;
    w.write_all(b"\n").map_err(serde_json::Error::io)
}

/// [`element`], written to `w` as it is made.
pub fn write_element(c: &Connection, w: &mut impl std::io::Write) -> serde_json::Result<()> {
    w.write_all(b"    ").map_err(serde_json::Error::io)?;
    let mut s = serde_json::Serializer::with_formatter(w, Nested::default());
    connection(c).serialize(&mut s)
}

/// serde_json's pretty layout (two spaces a level) for a value that sits
/// two levels deep, as an element of the document's array does.
struct Nested {
    level: usize,
    has_value: bool,
}

impl Default for Nested {
    fn default() -> Self {
        Nested {
            level: 2,
            has_value: false,
        }
    }
}

impl Nested {
    fn line<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        // A newline and the indentation in one write, as deep as it goes.
        const LINE: &[u8] = b"\n                                ";
        let want = 1 + 2 * self.level;
        w.write_all(&LINE[..want.min(LINE.len())])?;
        for _ in 0..want.saturating_sub(LINE.len()) / 2 {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn open<W: ?Sized + std::io::Write>(&mut self, w: &mut W, b: &[u8]) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b)
    }

    fn close<W: ?Sized + std::io::Write>(&mut self, w: &mut W, b: &[u8]) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.line(w)?;
        }
        w.write_all(b)
    }

    fn item<W: ?Sized + std::io::Write>(&self, w: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.line(w)
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.item(w, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// The end of the document, after `any` elements or none.
pub fn tail(any: bool) -> &'static [u8] {
    if any { b"\n  ]\n}" } else { b"]\n}" }
}

pub fn document<'a>(conns: impl IntoIterator<Item = &'a Connection>) -> Document<'a> {
    Document {
        connections: conns.into_iter().map(connection).collect(),
    }
}
