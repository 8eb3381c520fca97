//! The peer corpus: ~370 capture files written by other projects (tcpdump,
//! Zeek, Suricata, libpcap, pcap-parser, ...), kept next to this repository in
//! `../shared/peer-captures` (see its README.md). The test is skipped, and
//! passes, when that folder is not there.
//!
//! Two checks, one pass over the corpus:
//!
//! 1. Every capture listed in `MANIFEST.tsv` goes through [`analyze_file`]
//!    (default `TrackConfig`, no filter) inside `catch_unwind`. A panic fails
//!    the test, and every one is listed; a file that cannot be opened is an
//!    error, which is fine, and only counted.
//! 2. Where `_generated/<path>.tshark-segments.tsv` exists (tshark 4.0.17's
//!    view of every TCP segment), our segments are matched to tshark's rows
//!    by frame number (`SegmentRecord::frame` counts records from 1 exactly
//!    as tshark's `frame.number` does) and compared field by field: the nine
//!    flag bits, the relative sequence number, the relative acknowledgment
//!    number (only when tshark shows the ACK flag) and the payload length. A
//!    tshark row we produced no segment for counts as a disagreement; the
//!    report says why our decoder skipped that frame.
//!
//! Two rules about tshark's rows:
//!
//! * Several values in one field: tshark writes them comma-separated when a
//!   frame carries more than one TCP header (a tunnel). Our decoder follows
//!   tunnels to the innermost TCP header, so the LAST value (the innermost)
//!   is compared. The corpus as generated has no such row.
//! * A row with an empty `tcp.len` is not compared: tshark could not read
//!   that TCP header whole (an ICMP error quoting the first 8 bytes of a
//!   segment, or a header tshark flags as malformed, where it also leaves
//!   seq/ack absolute). Such rows are counted as "not compared".
//!
//! The figure is printed (visible with `--nocapture`, and shown by nextest
//! when the test fails) and written to `target/peer-corpus-report.txt`.
//! `PEER_CORPUS_WORST=N` lists N captures instead of 15.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use tcpladder::analysis::{Filter, analyze_file};
use tcpladder::capture::CaptureFile;
use tcpladder::decode::{self, Skip};
use tcpladder::track::TrackConfig;

/// Share of tshark's segments we must reproduce exactly.
/// 99.96% is 5780 of the 5782 segments: what is left is overlapping
/// fragments that Linux drops and tshark reassembles (docs/performance.md).
const MIN_AGREEMENT_PERCENT: f64 = 99.96;
/// How many of the worst captures the report names.
const WORST_SHOWN: usize = 15;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-captures")
}

fn report_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/peer-corpus-report.txt")
}

/// The fields compared for one segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seg {
    flags: u16,
    rel_seq: u32,
    /// None when the ACK flag is clear.
    rel_ack: Option<u32>,
    len: u32,
}

/// One row of a `.tshark-segments.tsv`.
#[derive(Clone, Copy, Debug)]
struct TsharkRow {
    frame: u64,
    /// None when tshark could not read the header whole (empty tcp.len).
    seg: Option<Seg>,
}

/// What went wrong with one tshark row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    /// We produced no segment for this frame.
    Missing,
    Flags,
    Seq,
    Ack,
    Len,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Missing => "segment missing",
            Kind::Flags => "flags differ",
            Kind::Seq => "relative seq differs",
            Kind::Ack => "relative ack differs",
            Kind::Len => "len differs",
        }
    }
}

#[derive(Debug, Default)]
struct CaptureResult {
    path: String,
    compared: u64,
    agree: u64,
    /// tshark rows left out (empty tcp.len).
    not_compared: u64,
    /// Per field; a row can differ in several fields.
    by_kind: BTreeMap<Kind, u64>,
    /// Frames tshark lists that we produced no segment for.
    missing_frames: Vec<u64>,
    /// Why each missing frame was skipped by our decoder.
    missing_why: BTreeMap<String, u64>,
    /// The first disagreement, described.
    example: Option<String>,
    /// Frames we made a segment of that tshark does not list as TCP.
    extra_frames: Vec<u64>,
}

/// The last of several comma-separated values (the innermost header).
fn last_value(field: &str) -> &str {
    field.rsplit(',').next().unwrap_or(field).trim()
}

fn parse_u32(field: &str) -> Option<u32> {
    last_value(field).parse().ok()
}

fn parse_flags(field: &str) -> Option<u16> {
    let v = last_value(field);
    let hex = v.strip_prefix("0x").unwrap_or(v);
    u16::from_str_radix(hex, 16).ok().map(|f| f & 0x01ff)
}

/// Reads tshark's per-segment TSV. A row that does not parse is an error, so
/// that a damaged reference is noticed rather than skipped.
fn read_tshark(path: &Path) -> Result<Vec<TsharkRow>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("{}: no column {name}", path.display()))
    };
    let (c_frame, c_flags, c_seq, c_ack, c_len) = (
        col("frame.number")?,
        col("tcp.flags")?,
        col("tcp.seq")?,
        col("tcp.ack")?,
        col("tcp.len")?,
    );
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let get = |c: usize| f.get(c).copied().unwrap_or("");
        let bad = || format!("{}: line {} does not parse: {line}", path.display(), i + 2);
        let frame: u64 = get(c_frame).trim().parse().map_err(|_| bad())?;
        if get(c_len).trim().is_empty() {
            rows.push(TsharkRow { frame, seg: None });
            continue;
        }
        let flags = parse_flags(get(c_flags)).ok_or_else(bad)?;
        let rel_seq = parse_u32(get(c_seq)).ok_or_else(bad)?;
        let rel_ack = if flags & 0x10 != 0 {
            Some(parse_u32(get(c_ack)).ok_or_else(bad)?)
        } else {
            None
        };
        let len = parse_u32(get(c_len)).ok_or_else(bad)?;
        rows.push(TsharkRow {
            frame,
            seg: Some(Seg {
                flags,
                rel_seq,
                rel_ack,
                len,
            }),
        });
    }
    Ok(rows)
}

/// The paths listed in MANIFEST.tsv (first column, header skipped).
fn manifest(dir: &Path) -> Result<Vec<String>, String> {
    let path = dir.join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect())
}

fn describe(s: &Seg) -> String {
    let ack = s.rel_ack.map_or("-".to_string(), |a| a.to_string());
    format!(
        "flags 0x{:03x} seq {} ack {} len {}",
        s.flags, s.rel_seq, ack, s.len
    )
}

/// Our segments, by frame number; None when the file cannot be read.
fn our_segments(capture: &Path) -> Result<HashMap<u64, Seg>, String> {
    let (conns, _report) =
        analyze_file(capture, Filter::default(), TrackConfig::default()).map_err(|e| e.problem)?;
    let mut ours = HashMap::new();
    for c in &conns {
        for s in c.segments.iter() {
            let seg = Seg {
                flags: s.flags.0 & 0x01ff,
                rel_seq: s.rel_seq,
                rel_ack: s.rel_ack(),
                len: s.len,
            };
            ours.insert(s.frame, seg);
        }
    }
    Ok(ours)
}

/// Compares one capture with its tshark rows.
fn compare(path: &str, ours: &HashMap<u64, Seg>, rows: &[TsharkRow]) -> CaptureResult {
    let mut r = CaptureResult {
        path: path.to_string(),
        ..CaptureResult::default()
    };
    for row in rows {
        let Some(t) = row.seg else {
            r.not_compared += 1;
            continue;
        };
        r.compared += 1;
        let mut kinds = Vec::new();
        match ours.get(&row.frame) {
            None => {
                kinds.push(Kind::Missing);
                r.missing_frames.push(row.frame);
            }
            Some(o) => {
                if o.flags != t.flags {
                    kinds.push(Kind::Flags);
                }
                if o.rel_seq != t.rel_seq {
                    kinds.push(Kind::Seq);
                }
                if t.rel_ack.is_some() && o.rel_ack != t.rel_ack {
                    kinds.push(Kind::Ack);
                }
                if o.len != t.len {
                    kinds.push(Kind::Len);
                }
            }
        }
        if kinds.is_empty() {
            r.agree += 1;
            continue;
        }
        for k in &kinds {
            *r.by_kind.entry(*k).or_default() += 1;
        }
        if r.example.is_none() {
            let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
            let got = ours.get(&row.frame).map_or("nothing".to_string(), describe);
            r.example = Some(format!(
                "frame {}: {}; tshark {}, ours {}",
                row.frame,
                names.join(", "),
                describe(&t),
                got
            ));
        }
    }
    let listed: HashSet<u64> = rows.iter().map(|r| r.frame).collect();
    r.extra_frames = ours
        .keys()
        .copied()
        .filter(|f| !listed.contains(f))
        .collect();
    r.extra_frames.sort_unstable();
    r
}

/// Decodes the given frames once more to say why no segment came of them.
fn why_missing(capture: &Path, frames: &[u64]) -> BTreeMap<String, u64> {
    let mut why = BTreeMap::new();
    let wanted: HashSet<u64> = frames.iter().copied().collect();
    let mut seen = HashSet::new();
    let read = CaptureFile::open(capture).and_then(|mut f| {
        f.for_each(|rec| {
            if !wanted.contains(&rec.frame) {
                return;
            }
            seen.insert(rec.frame);
            let reason = match decode::decode(rec.link, rec.data) {
                Ok(_) => "decoded, but in no connection".to_string(),
                Err(Skip::UnsupportedLink(l)) => format!("unsupported link type {l}"),
                Err(Skip::Malformed(e)) => format!("undecodable ({})", e.layer),
                Err(other) => other.to_string(),
            };
            *why.entry(reason).or_default() += 1;
        })
    });
    if let Err(e) = read {
        *why.entry(format!("file unreadable: {}", e.problem))
            .or_default() += (frames.len() - seen.len()) as u64;
    } else if seen.len() < frames.len() {
        *why.entry("frame number beyond what we read".to_string())
            .or_default() += (frames.len() - seen.len()) as u64;
    }
    why
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        100.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic)".to_string())
}

#[test]
fn peer_corpus_agrees_with_tshark() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        let msg = "peer corpus: SKIPPED — ../shared/peer-captures not found";
        eprintln!("{msg}");
        return;
    }
    let files = manifest(&dir).unwrap_or_else(|e| panic!("peer corpus: {e}"));
    assert!(!files.is_empty(), "peer corpus: MANIFEST.tsv lists nothing");

    let mut panicked: Vec<String> = Vec::new();
    let mut unreadable: Vec<String> = Vec::new();
    let mut results: Vec<CaptureResult> = Vec::new();
    let mut reference_errors: Vec<String> = Vec::new();

    for rel in &files {
        let capture = dir.join(rel);
        let ours = match catch_unwind(AssertUnwindSafe(|| our_segments(&capture))) {
            Err(payload) => {
                panicked.push(format!("{rel}: {}", panic_message(payload.as_ref())));
                continue;
            }
            Ok(Err(problem)) => {
                unreadable.push(format!("{rel}: {problem}"));
                HashMap::new()
            }
            Ok(Ok(ours)) => ours,
        };
        let tsv = dir
            .join("_generated")
            .join(format!("{rel}.tshark-segments.tsv"));
        if !tsv.is_file() {
            continue;
        }
        let rows = match read_tshark(&tsv) {
            Ok(rows) => rows,
            Err(e) => {
                reference_errors.push(e);
                continue;
            }
        };
        let mut r = compare(rel, &ours, &rows);
        if !r.missing_frames.is_empty() {
            let frames = r.missing_frames.clone();
            match catch_unwind(AssertUnwindSafe(|| why_missing(&capture, &frames))) {
                Ok(why) => r.missing_why = why,
                Err(payload) => panicked.push(format!(
                    "{rel} (decoding frames again): {}",
                    panic_message(payload.as_ref())
                )),
            }
        }
        results.push(r);
    }

    let out = report(&files, &results, &unreadable, &reference_errors, &panicked);
    eprintln!("{out}");
    let path = report_path();
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, &out));
    if let Err(e) = written {
        eprintln!("peer corpus: could not write {}: {e}", path.display());
    }

    let compared: u64 = results.iter().map(|r| r.compared).sum();
    let agree: u64 = results.iter().map(|r| r.agree).sum();
    let share = percent(agree, compared);
    assert!(
        panicked.is_empty(),
        "peer corpus: {} capture(s) made the library panic:\n{}",
        panicked.len(),
        panicked.join("\n")
    );
    assert!(
        reference_errors.is_empty(),
        "peer corpus: tshark reference files that do not parse:\n{}",
        reference_errors.join("\n")
    );
    assert!(
        share >= MIN_AGREEMENT_PERCENT,
        "peer corpus: only {share:.2}% of tshark's segments agree \
         (need {MIN_AGREEMENT_PERCENT:.2}%); see the report above or in {}",
        path.display()
    );
}

/// The text of the report.
fn report(
    files: &[String],
    results: &[CaptureResult],
    unreadable: &[String],
    reference_errors: &[String],
    panicked: &[String],
) -> String {
    let compared: u64 = results.iter().map(|r| r.compared).sum();
    let agree: u64 = results.iter().map(|r| r.agree).sum();
    let not_compared: u64 = results.iter().map(|r| r.not_compared).sum();
    let mut by_kind: BTreeMap<Kind, u64> = BTreeMap::new();
    let mut missing_why: BTreeMap<&str, u64> = BTreeMap::new();
    for r in results {
        for (k, n) in &r.by_kind {
            *by_kind.entry(*k).or_default() += n;
        }
        for (w, n) in &r.missing_why {
            *missing_why.entry(w.as_str()).or_default() += n;
        }
    }
    let extra: Vec<String> = results
        .iter()
        .filter(|r| !r.extra_frames.is_empty())
        .map(|r| format!("{} frame(s) {:?}", r.path, r.extra_frames))
        .collect();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "peer corpus: {agree}/{compared} segments agree ({:.2}%) over {} captures \
         with a tshark reference; {} files in MANIFEST.tsv, {} unreadable, {} panicked",
        percent(agree, compared),
        results.len(),
        files.len(),
        unreadable.len(),
        panicked.len()
    );
    let list = |m: Vec<String>| {
        if m.is_empty() {
            "none".to_string()
        } else {
            m.join(", ")
        }
    };
    let _ = writeln!(
        out,
        "  disagreements by field (a segment can differ in several): {}",
        list(
            by_kind
                .iter()
                .map(|(k, n)| format!("{} {n}", k.name()))
                .collect()
        )
    );
    let _ = writeln!(
        out,
        "  why our decoder made no segment: {}",
        list(
            missing_why
                .iter()
                .map(|(w, n)| format!("{w} {n}"))
                .collect()
        )
    );
    let _ = writeln!(
        out,
        "  tshark rows not compared (no tcp.len: ICMP-quoted or malformed header): {not_compared}"
    );
    let _ = writeln!(
        out,
        "  segments we made of frames tshark does not list as TCP: {}",
        list(extra)
    );

    let mut worst: Vec<&CaptureResult> = results.iter().filter(|r| r.agree < r.compared).collect();
    worst.sort_by(|a, b| {
        (b.compared - b.agree)
            .cmp(&(a.compared - a.agree))
            .then_with(|| a.path.cmp(&b.path))
    });
    let shown = std::env::var("PEER_CORPUS_WORST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(WORST_SHOWN)
        .min(worst.len());
    let _ = writeln!(
        out,
        "  captures with disagreements: {} (the {shown} with the most below)",
        worst.len()
    );
    for r in worst.iter().take(shown) {
        let _ = writeln!(
            out,
            "  {:>4}/{:<4} {}",
            r.compared - r.agree,
            r.compared,
            r.path
        );
        if let Some(ex) = &r.example {
            let _ = writeln!(out, "             e.g. {ex}");
        }
        if !r.missing_why.is_empty() {
            let why: Vec<String> = r
                .missing_why
                .iter()
                .map(|(w, n)| format!("{w} {n}"))
                .collect();
            let _ = writeln!(out, "             no segment: {}", why.join(", "));
        }
    }
    for u in unreadable {
        let _ = writeln!(out, "  unreadable: {u}");
    }
    for e in reference_errors {
        let _ = writeln!(out, "  bad tshark reference: {e}");
    }
    for p in panicked {
        let _ = writeln!(out, "  PANIC: {p}");
    }
    out
}

#[test]
fn tshark_fields_use_the_innermost_value() {
    assert_eq!(parse_u32("6,6"), Some(6));
    assert_eq!(parse_u32("80,443"), Some(443));
    assert_eq!(parse_u32("17"), Some(17));
    assert_eq!(parse_flags("0x0018"), Some(0x18));
    assert_eq!(parse_flags("0x0002,0x0812"), Some(0x12));
    assert_eq!(parse_flags("0x0fff"), Some(0x1ff));
    assert_eq!(parse_u32(""), None);
}

/// The ICMP errors of a real capture, as tshark 4.0.17 reads them
/// (`tshark -r smtp.trace -o tcp.relative_sequence_numbers:FALSE -Y icmp -T
/// fields -e frame.number -e icmp.type -e icmp.code -e icmp.mtu -e
/// tcp.srcport -e tcp.dstport -e tcp.seq`): four "fragmentation needed"
/// from a router, quoting the client's data segments.
#[test]
fn icmp_errors_of_a_real_capture_agree_with_tshark() {
    use tcpladder::decode::{Decoder, IcmpVersion, Packet};
    let path = corpus_dir().join("zeek/testing/btest/Traces/smtp.trace");
    if !path.is_file() {
        eprintln!("peer corpus ICMP: SKIPPED — {} not found", path.display());
        return;
    }
    let expected: [(u64, u32); 4] = [
        (26, 2126795847),
        (28, 2126797307),
        (29, 2126798767),
        (30, 2126800227),
    ];
    let mut decoder = Decoder::default();
    let mut got = Vec::new();
    CaptureFile::open(&path)
        .and_then(|mut f| {
            f.for_each(|rec| {
                if let Ok(Packet::IcmpError(e)) =
                    decoder.decode(rec.link, rec.data, rec.orig_len, rec.ts)
                {
                    got.push((rec.frame, e));
                }
            })
        })
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.problem));
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((frame, e), (want_frame, want_seq)) in got.iter().zip(expected) {
        assert_eq!(*frame, want_frame);
        assert_eq!(e.version, IcmpVersion::V4);
        assert_eq!((e.kind.ty, e.kind.code), (3, 4));
        assert_eq!(e.mtu, Some(1492));
        assert_eq!(e.from.to_string(), "192.168.1.1");
        assert_eq!(e.to.to_string(), "10.10.1.4");
        assert_eq!(e.quoted_src.to_string(), "10.10.1.4:1470");
        assert_eq!(e.quoted_dst.to_string(), "74.53.140.153:25");
        assert_eq!(e.quoted_seq.0, want_seq);
        assert_eq!(
            e.kind.errno(),
            None,
            "fragmentation needed only lowers the MTU"
        );
    }
}

/// Fragments through analysis: held apart from skipped packets, the
/// segment on the frame that completed it (as tshark numbers it), and the
/// overlapping datagram Linux would drop reported as never completed.
#[test]
fn fragments_of_real_captures_are_counted() {
    let dir = corpus_dir();
    let syn =
        dir.join("suricata-verify/tests/defrag/bug-6887-defrag-ipv4-tcp-syn/frag-ip-tcp-syn.pcap");
    let overlap = dir.join("zeek/testing/btest/Traces/ipv4/fragmented-4.pcap");
    if !syn.is_file() || !overlap.is_file() {
        eprintln!("peer corpus fragments: SKIPPED — captures not found");
        return;
    }
    let run = |p: &Path| {
        analyze_file(p, Filter::default(), TrackConfig::default())
            .unwrap_or_else(|e| panic!("{}: {}", p.display(), e.problem))
    };
    let (conns, report) = run(&syn);
    assert_eq!(report.reassembled, 1);
    assert_eq!(report.fragments_never_completed, 0);
    assert_eq!(report.skipped_total(), 0);
    let frames: Vec<u64> = conns
        .iter()
        .flat_map(|c| c.segments.iter().map(|s| s.frame))
        .collect();
    assert_eq!(
        frames,
        [3],
        "the SYN is frame 3, the fragment that completed it"
    );
    assert_eq!(report.fragments_held, 2);
    let (_, report) = run(&overlap);
    assert_eq!((report.fragments_held, report.reassembled), (4, 0));
    assert_eq!(report.fragments_never_completed, 4);
    assert!(
        report
            .warnings()
            .iter()
            .any(|w| w.contains("never completed"))
    );
}
