//! The three targets, each given the same bytes:
//!
//! * `reader`: the bytes as a capture file, read to the end; read again cut
//!   short (what it gives must be a prefix of the whole read, holding every
//!   record that ended before the cut, and a clean file cut short must not
//!   be called damaged), and sometimes compressed (the same records).
//! * `decoder`: the file's records through one stateful `Decoder`, as
//!   `analysis` feeds it, and the bytes as one raw packet under every link
//!   type the decoder knows; a fresh stateful decoder must agree with the
//!   stateless one on anything that is not a fragment.
//! * `tracker`: `analyze_capture`, then every exporter on the connections
//!   (text, Mermaid, JSON, SVG, the detail pane's sentences, stats); the
//!   JSON must parse and its pieces make the whole document byte for byte,
//!   the SVG must parse as XML. And a streaming tracker, as `stats` runs.
//!
//! A broken property is a panic, like any other: the driver catches both
//! the same way. Each target also notes "features" (what happened, with the
//! numbers taken out): an input that shows a new one joins the corpus.

use std::io::Cursor;

use tcpladder::analysis::{self, Filter, ReadReport};
use tcpladder::capture::source::Compression;
use tcpladder::capture::{CaptureFile, Ending, Record};
use tcpladder::decode::{self, Decoder, Packet, Skip, link};
use tcpladder::export::{self, Bound, ExportOptions, Format, json, mermaid, text};
use tcpladder::ladder::{IcmpLine, LabelStyle, Ladder, explain};
use tcpladder::stats::{StatsDoc, Totals};
use tcpladder::time::{Span, Timestamp};
use tcpladder::track::{Connection, DEFAULT_MSL, TrackConfig, Tracker};

use crate::mutate::{Packing, compress};
use crate::rng::{Rng, hash};

pub type Target = fn(&[u8], &mut Features);

pub const TARGETS: [(&str, Target); 3] = [
    ("reader", reader),
    ("decoder", decoder),
    ("tracker", tracker),
];

/// Every link type the decoder has a rule for, and one it has not.
const LINKS: [u32; 20] = [
    link::LINKTYPE_NULL,
    link::LINKTYPE_ETHERNET,
    link::LINKTYPE_PPP,
    link::LINKTYPE_RAW_12,
    link::LINKTYPE_RAW_14,
    link::LINKTYPE_RAW,
    link::LINKTYPE_C_HDLC,
    link::LINKTYPE_LOOP,
    link::LINKTYPE_LINUX_SLL,
    link::LINKTYPE_NFLOG,
    link::LINKTYPE_IPV4,
    link::LINKTYPE_IPV6,
    link::LINKTYPE_LINUX_SLL2,
    link::LINKTYPE_ARCNET_LINUX,
    link::LINKTYPE_IPOIB,
    link::LINKTYPE_IEEE802_11,
    link::LINKTYPE_IEEE802_11_RADIOTAP,
    link::LINKTYPE_JUNIPER_ETHER,
    link::LINKTYPE_PPI,
    147,
];

/// Bounds on the work one input makes, so that a large capture stays a
/// quick execution (a slow one would read as a hang).
const MAX_RECORDS: usize = 20_000;
const MAX_DRAWN: usize = 12;
const MAX_EXPLAINED: usize = 200;

/// What an execution showed, as hashes.
#[derive(Default)]
pub struct Features(pub Vec<u64>);

impl Features {
    /// Each clause of `what` is a feature: a verdict joins several, and
    /// their combinations would be features without end.
    fn note(&mut self, target: &str, what: &str) {
        for clause in what.split("; ") {
            self.0
                .push(hash(&[target.as_bytes(), normalize(clause).as_bytes()]));
        }
    }
}

/// A message with its numbers taken out ("at byte 1234" and "at byte 56"
/// are the same place in the code), hex ones and addresses included, and
/// what it says in brackets (lists of times, mostly).
fn normalize(s: &str) -> String {
    let mut bare = String::with_capacity(s.len());
    let mut depth = 0usize;
    for ch in s.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => bare.push(ch),
            _ => {}
        }
    }
    let mut out = String::with_capacity(bare.len());
    for (i, word) in bare.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let hex = word.strip_prefix("0x").unwrap_or(word);
        let address = word.contains(':')
            && word
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if address
            || !hex.is_empty()
                && (hex.len() <= 2 || hex.len() < word.len())
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            out.push('#');
            continue;
        }
        let mut in_number = false;
        for ch in word.chars() {
            if ch.is_ascii_digit() {
                if !in_number {
                    out.push('#');
                }
                in_number = true;
            } else {
                in_number = false;
                out.push(ch);
            }
        }
    }
    out
}

/// The choices a target makes (where to cut, which options to draw
/// with) come from the input's own hash: a finding replays exactly.
fn knobs(target: &str, bytes: &[u8]) -> Rng {
    Rng::new(hash(&[target.as_bytes(), bytes]))
}

fn open(bytes: &[u8]) -> Result<CaptureFile, String> {
    CaptureFile::from_reader("fuzz", Cursor::new(bytes.to_vec())).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// reader
// ---------------------------------------------------------------------------

/// A record, owned, for comparing reads.
#[derive(Debug, PartialEq)]
struct Rec {
    frame: u64,
    ts: Timestamp,
    link: u32,
    orig_len: u32,
    interface: u32,
    offset: u64,
    data: Vec<u8>,
}

impl Rec {
    fn of(r: &Record<'_>) -> Rec {
        Rec {
            frame: r.frame,
            ts: r.ts,
            link: r.link,
            orig_len: r.orig_len,
            interface: r.interface,
            offset: r.offset,
            data: r.data.to_vec(),
        }
    }
}

struct Read {
    records: Vec<Rec>,
    end: Result<Ending, String>,
    /// Where the first damage the reader read past (or stopped at) began.
    first_damage: u64,
}

fn read(bytes: &[u8]) -> Result<Read, String> {
    let mut file = open(bytes)?;
    let mut records = Vec::new();
    let end = file
        .for_each(|r| {
            assert!(
                !r.rereadable,
                "record {} of a reader over memory claims to be rereadable",
                r.frame
            );
            records.push(Rec::of(r));
        })
        .map_err(|e| e.to_string());
    assert!(
        !file.rereadable(),
        "a capture read from memory claims to be rereadable"
    );
    let _ = (
        file.layout().first_link(),
        file.format(),
        file.progress_bytes(),
        file.compression(),
    );
    if let Ok(e) = &end {
        let _ = e.warning("fuzz");
    }
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.frame, i as u64 + 1, "frame numbers count records from 1");
    }
    for pair in file.resumed().windows(2) {
        assert!(
            pair[0].resumed <= pair[1].at,
            "damage said in the order it was met"
        );
    }
    let stopped = match &end {
        Ok(Ending::Damaged { offset, .. }) => Some(*offset),
        _ => None,
    };
    let first_damage = file
        .resumed()
        .first()
        .map(|r| r.at)
        .or(stopped)
        .unwrap_or(u64::MAX);
    Ok(Read {
        records,
        end,
        first_damage,
    })
}

fn ending_name(e: &Result<Ending, String>) -> String {
    match e {
        Ok(Ending::Complete) => "complete".into(),
        Ok(Ending::Truncated { .. }) => "truncated".into(),
        Ok(Ending::Damaged { problem, .. }) => format!("damaged: {problem}"),
        Err(e) => format!("error: {e}"),
    }
}

pub fn reader(bytes: &[u8], f: &mut Features) {
    let mut knobs = knobs("reader", bytes);
    let whole = read(bytes);
    match &whole {
        Err(e) => f.note("reader", &format!("open: {e}")),
        Ok(r) => {
            f.note("reader", &ending_name(&r.end));
            f.note(
                "reader",
                &format!("records: {}", usize::BITS - r.records.len().leading_zeros()),
            );
            for rec in r.records.iter().take(64) {
                f.note("reader", &format!("link {}", rec.link));
            }
        }
    }
    if Compression::detect(bytes).is_some() {
        // Already compressed (a mutated compressed seed, or a mutant
        // compressed by the driver): reading it is the test.
        if let Ok(whole) = &whole {
            let cut = knobs.below(bytes.len() + 1);
            check_prefix(whole, &read(&bytes[..cut]), cut, false);
        }
        return;
    }
    if let Ok(whole) = &whole {
        let cut = knobs.below(bytes.len() + 1);
        check_prefix(whole, &read(&bytes[..cut]), cut, true);
    }
    // One input in four also compressed: the records must not change.
    if knobs.one_in(4) {
        let how = [Packing::Gzip, Packing::Gzip, Packing::Zstd, Packing::Xz][knobs.below(4)];
        let packed = compress(how, bytes);
        let through = read(&packed);
        match (&whole, &through) {
            (Err(a), Err(b)) => assert_eq!(a, b, "{how:?}: another error than the plain file's"),
            (Ok(a), Ok(b)) => {
                assert!(
                    a.records == b.records,
                    "{how:?}: other records than the plain file's ({} and {})",
                    a.records.len(),
                    b.records.len()
                );
                assert!(
                    a.end == b.end,
                    "{how:?}: another ending than the plain file's ({} and {})",
                    ending_name(&a.end),
                    ending_name(&b.end)
                );
            }
            (a, b) => panic!(
                "{how:?}: opened {} but the plain file {}",
                if b.is_ok() { "fine" } else { "with an error" },
                if a.is_ok() { "fine" } else { "with an error" },
            ),
        }
        if let Ok(whole) = &whole {
            let cut = knobs.below(packed.len() + 1);
            check_prefix(whole, &read(&packed[..cut]), cut, false);
        }
    }
}

/// `part` is `whole`'s file cut at `cut`: its records are the first of
/// `whole`'s. With `exact` (the file itself cut, not compressed data),
/// every record whose block ended by the cut is there too (a record ends
/// where the next begins, or before), and a clean file cut short reads
/// as complete or cut short, never as damaged.
fn check_prefix(whole: &Read, part: &Result<Read, String>, cut: usize, exact: bool) {
    let Ok(part) = part else {
        // Cut inside the file header: nothing to compare.
        return;
    };
    // Up to the first damage the whole file met, a reader cut short reads
    // what it read; past it, where reading resumes may depend on what
    // follows, which the cut took away.
    let clean = |r: &&Rec| r.offset < whole.first_damage;
    let n = part.records.iter().take_while(clean).count();
    assert!(
        n <= whole.records.len() && part.records[..n] == whole.records[..n],
        "cut at byte {cut}: the records read are not the first of the whole file's \
         ({n} read, ending {}; {} in the whole, ending {})",
        ending_name(&part.end),
        whole.records.len(),
        ending_name(&whole.end)
    );
    if !exact {
        return;
    }
    for (i, pair) in whole.records.windows(2).enumerate() {
        if pair[1].offset <= (cut as u64).min(whole.first_damage) {
            assert!(
                i < n,
                "cut at byte {cut}: frame {} ended by byte {} and is missing (only {n} read)",
                pair[0].frame,
                pair[1].offset
            );
        }
    }
    if whole.end == Ok(Ending::Complete) && whole.first_damage == u64::MAX {
        assert!(
            matches!(part.end, Ok(Ending::Complete | Ending::Truncated { .. })),
            "cut at byte {cut}: a complete file cut short reads as {}",
            ending_name(&part.end)
        );
    }
}

// ---------------------------------------------------------------------------
// decoder
// ---------------------------------------------------------------------------

fn outcome(link: u32, r: &Result<Packet, Skip>) -> String {
    match r {
        Ok(Packet::Tcp(s)) => format!("{link} tcp {:?} {}", s.flags, s.truncated),
        Ok(Packet::IcmpError(e)) => format!("{link} icmp {:?}", e.kind),
        Err(Skip::Malformed(e)) => format!("{link} malformed {}: {}", e.layer, e.problem),
        Err(Skip::UnsupportedLink(_)) => format!("{link} unsupported"),
        Err(other) => format!("{link} {other:?}"),
    }
}

/// One packet through the stateless decoder and a fresh stateful one,
/// which must agree unless a fragment is involved.
fn decode_both(link: u32, data: &[u8], wire: u32, f: &mut Features) {
    let stateless = decode::decode_frame(link, data, wire);
    let (stateful, at) = Decoder::default().decode_payload(link, data, wire, Timestamp::default());
    f.note("decoder", &outcome(link, &stateful));
    if stateless != Err(Skip::Fragment) {
        assert_eq!(
            stateless, stateful,
            "link {link}: the stateless and the stateful decoder disagree"
        );
    }
    let payload = decode::payload(link, data, wire);
    if let (Some(p), Ok(Packet::Tcp(_))) = (payload, &stateful) {
        assert_eq!(
            p, at,
            "link {link}: payload() and decode_payload() point at different bytes"
        );
    }
    let _ = decode::decode(link, data);
}

pub fn decoder(bytes: &[u8], f: &mut Features) {
    let mut knobs = knobs("decoder", bytes);
    // The records of a capture, in order, through one decoder (fragments
    // held across records, as `analysis` does).
    if let Ok(mut file) = open(bytes) {
        let mut d = Decoder::default();
        let mut n = 0;
        let _ = file.for_each_until(|r| {
            n += 1;
            let (got, _) = d.decode_payload(r.link, r.data, r.orig_len, r.ts);
            f.note("decoder", &format!("record {}", outcome(r.link, &got)));
            decode_both(r.link, r.data, r.orig_len, f);
            n < MAX_RECORDS
        });
        let _ = (d.reassembly(), d.pending_fragments());
    }
    // The bytes as one packet, under every link type, whole and as if cut
    // by a snap length.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let longer = len.saturating_add(1 + knobs.below(2000) as u32);
    for link in LINKS {
        decode_both(link, bytes, len, f);
        decode_both(link, bytes, longer, f);
    }
    // A link type's flag bits (the pcap LINKTYPE_ field's upper bits), as
    // a damaged interface description gives.
    let odd = knobs.next_u64() as u32;
    decode_both(odd, bytes, len, f);
}

// ---------------------------------------------------------------------------
// tracker and renderers
// ---------------------------------------------------------------------------

pub fn tracker(bytes: &[u8], f: &mut Features) {
    let mut knobs = knobs("tracker", bytes);
    let Ok(file) = open(bytes) else {
        return;
    };
    let (conns, report) =
        match analysis::analyze_capture(file, Filter::default(), TrackConfig::default()) {
            Ok(x) => x,
            Err(e) => {
                f.note("tracker", &format!("analyze: {e}"));
                return;
            }
        };
    for w in report.warnings() {
        f.note("tracker", &w);
    }
    let _ = (report.ports_seen(5), report.skipped_total());
    stats(&report, conns.iter(), f);
    check_json(&conns);
    // A window of the connections drawn, not all: a capture of hundreds
    // would make one execution slow.
    let start = knobs.below(conns.len().max(1));
    for c in conns.iter().skip(start).take(MAX_DRAWN) {
        draw(c, &mut knobs, f);
    }
    stream(bytes, &mut knobs, f);
}

fn stats<'a>(report: &ReadReport, conns: impl Iterator<Item = &'a Connection>, f: &mut Features) {
    let mut totals = Totals::default();
    for c in conns {
        totals.add(c);
    }
    let doc = StatsDoc::new(report, &totals);
    let _ = doc.to_text();
    let json = serde_json::to_string(&doc).expect("the stats document serializes");
    serde_json::from_str::<serde_json::Value>(&json).expect("the stats JSON parses");
    f.note("tracker", &format!("stats {:?}", totals.by_closing.keys()));
}

/// `analyze --json`'s pieces (head, elements, separators, tail) are the
/// whole document byte for byte, every piece parses, and `--jsonl`'s
/// lines are the same objects.
fn check_json(conns: &[Connection]) {
    let mut pieces = json::HEAD.to_vec();
    for (i, c) in conns.iter().enumerate() {
        let element = json::element(c).expect("a connection serializes");
        let value: serde_json::Value = serde_json::from_slice(&element)
            .unwrap_or_else(|e| panic!("connection {}: its JSON does not parse: {e}", i + 1));
        let mut line = Vec::new();
        json::write_line(c, &mut line).expect("a connection serializes as a line");
        assert!(
            line.ends_with(b"\n") && !line[..line.len() - 1].contains(&b'\n'),
            "connection {}: its JSON line is not one line",
            i + 1
        );
        let again: serde_json::Value = serde_json::from_slice(&line)
            .unwrap_or_else(|e| panic!("connection {}: its JSON line does not parse: {e}", i + 1));
        assert!(
            value == again,
            "connection {}: the JSON line is another object than the element",
            i + 1
        );
        pieces.extend_from_slice(json::separator(i == 0));
        pieces.extend_from_slice(&element);
    }
    pieces.extend_from_slice(json::tail(!conns.is_empty()));
    let whole = serde_json::to_vec_pretty(&json::document(conns)).expect("the document serializes");
    assert!(
        pieces == whole,
        "the document written in pieces differs from the whole document"
    );
    serde_json::from_slice::<serde_json::Value>(&whole)
        .unwrap_or_else(|e| panic!("the JSON document does not parse: {e}"));
}

/// A `--from`/`--to` value, through the parser the command line uses
/// (which never makes segment 0).
fn bound(knobs: &mut Rng, segments: usize) -> Option<Bound> {
    let text = match knobs.below(4) {
        0 => knobs.below(segments + 2).to_string(),
        1 => format!("{}ms", knobs.below(5000) as f64 / 7.0),
        2 => format!("{}us", knobs.below(100_000)),
        _ => return None,
    };
    text.parse().ok()
}

/// Every view of one connection.
fn draw(c: &Connection, knobs: &mut Rng, f: &mut Features) {
    let style = LabelStyle {
        absolute: knobs.one_in(2),
    };
    let l = Ladder::build(c, DEFAULT_MSL, style);
    f.note("tracker", &l.verdict);
    let _ = text::render(&l, text::Charset::Unicode);
    let _ = text::render(&l, text::Charset::Ascii);
    let _ = mermaid::render(&l, Some("fuzz"));
    let lines = l.line_count();
    assert_eq!(
        l.lines().count(),
        lines,
        "lines() and line_count() disagree"
    );
    for n in 0..lines.min(MAX_EXPLAINED) {
        let _ = l.line_at(n);
    }
    for i in 0..c.segments.len().min(MAX_EXPLAINED) {
        let _ = explain::sentence(c, i);
        let _ = explain::fields(c, i, None);
    }
    for i in 0..c.icmp.len() {
        if let Some(line) = IcmpLine::of(c, i) {
            let _ = explain::icmp_sentence(&line);
            let _ = explain::icmp_fields(&l, &line);
            let _ = (line.label_with_notes(), line.sender());
        }
    }
    let mut o = ExportOptions {
        format: Format::Svg,
        dark: knobs.one_in(2),
        absolute_seq: knobs.one_in(2),
        redact: knobs.one_in(3),
        // Characters XML must escape, in the one text a user gives.
        title: knobs.one_in(2).then(|| "fuzz <&> \"'".to_string()),
        flat: knobs.one_in(2),
        from: bound(knobs, c.segments.len()),
        to: bound(knobs, c.segments.len()),
        ..ExportOptions::default()
    };
    match export::render(c, &o) {
        Ok(svg) => {
            let svg = String::from_utf8(svg).expect("the SVG is UTF-8");
            if let Err(e) = roxmltree::Document::parse(&svg) {
                panic!("the SVG does not parse as XML: {e}");
            }
        }
        Err(e) => f.note("tracker", &format!("export: {e}")),
    }
    for format in [Format::Txt, Format::Md] {
        o.format = format;
        o.ascii = knobs.one_in(2);
        if let Ok(out) = export::render(c, &o) {
            String::from_utf8(out).expect("a text export is UTF-8");
        }
    }
    let _ = export::frames(c, &o);
}

/// The records through a streaming tracker, connections let go as they
/// end or idle out, as `stats` and `live` run it.
fn stream(bytes: &[u8], knobs: &mut Rng, f: &mut Features) {
    let Ok(mut file) = open(bytes) else {
        return;
    };
    let keep_segments = knobs.one_in(2);
    let mut tracker = Tracker::new(TrackConfig {
        stream: true,
        keep_segments,
        keep_details: keep_segments && knobs.one_in(2),
        idle_timeout: Some(Span::from_secs(1 + knobs.below(60) as i64)),
        ..TrackConfig::default()
    });
    let filter = Filter {
        port: knobs
            .one_in(3)
            .then(|| [80, 443, 9601, 8080][knobs.below(4)]),
        bpf: None,
    };
    let mut decoder = Decoder::default();
    let mut report = ReadReport::default();
    let mut totals = Totals::default();
    let mut last = Timestamp::default();
    let mut n = 0;
    let _ = file.for_each_until(|r| {
        n += 1;
        analysis::feed(r, &filter, &mut decoder, &mut tracker, &mut report);
        last = last.max(r.ts);
        tracker.drain_done(|c| totals.add(&c));
        n < MAX_RECORDS
    });
    f.note("tracker", &format!("aged out {}", tracker.aged_out() > 0));
    tracker.finish_each(last, |c| totals.add(&c));
    report.finish_fragments(&decoder);
    let _ = StatsDoc::new(&report, &totals).to_text();
}
