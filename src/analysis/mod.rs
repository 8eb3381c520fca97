//! Runs a capture file through decode and track. This is glue at the I/O
//! edge: it opens the file (through `capture`) and feeds the pure stages.

mod fold;
pub mod kept;

pub use fold::fold_file;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender};

use crate::capture::bpf::Bpf;
use crate::capture::{CaptureError, CaptureFile, Ending, Layout, Record, UNKNOWN_INTERFACE};
use crate::decode::{self, DecodeError, Decoder, Layer, Packet, Skip, SkipKind};
use crate::time::Timestamp;
use crate::track::{Connection, TrackConfig, Tracker};

/// Which segments to follow.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Keep segments with this port on either end.
    pub port: Option<u16>,
    /// Keep only the records this BPF expression matches (tcpdump's
    /// filter, checked with [`Bpf::check`](crate::capture::bpf::Bpf::check)),
    /// before anything is decoded.
    pub bpf: Option<std::sync::Arc<str>>,
}

impl Filter {
    fn keeps(&self, seg: &decode::Segment) -> bool {
        self.keeps_ports(seg.src.port(), seg.dst.port())
    }

    fn keeps_ports(&self, a: u16, b: u16) -> bool {
        self.port.is_none_or(|p| a == p || b == p)
    }
}

/// What reading the file itself showed, apart from the connections.
#[derive(Clone, Debug, Default)]
pub struct ReadReport {
    pub file: String,
    pub packets: u64,
    pub tcp_segments: u64,
    /// ICMP and ICMPv6 errors quoting a TCP segment the filter keeps.
    pub icmp_errors: u64,
    /// TCP segments (and ICMP errors, by their quoted ports) left out by
    /// the filter.
    pub filtered_out: u64,
    /// The ports of the segments the port filter left out, each with how
    /// many had it: what the capture has instead.
    pub other_ports: BTreeMap<u16, u64>,
    /// The port filter it was read with.
    pub port: Option<u16>,
    /// Damage in the middle of the file that reading resumed after.
    pub resumed: Vec<crate::capture::Resumed>,
    /// `stream_file`: connections handed out before they ended, idle past
    /// the timeout or an unanswered SYN past its last retransmission.
    pub aged_out: u64,
    /// IP fragments that completed nothing when they arrived: held for
    /// reassembly, duplicates, or dropped with their datagram. Not counted
    /// as skipped.
    pub fragments_held: u64,
    /// Datagrams reassembled (each counted once more, as what it decoded to).
    pub reassembled: u64,
    /// Held fragments whose datagram never completed: timed out, evicted,
    /// dropped (overlaps, inconsistent ends, too long) or still incomplete
    /// when the capture ended. Set by [`ReadReport::finish_fragments`].
    pub fragments_never_completed: u64,
    pub skipped: BTreeMap<SkipKind, u64>,
    pub unsupported_links: BTreeMap<u32, u64>,
    /// The first damaged packet, to show as an example.
    pub first_undecodable: Option<(u64, DecodeError)>,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub ending: Option<Ending>,
}

impl ReadReport {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Warnings for stderr: damage at the end of the file, packets that
    /// could not be decoded.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        for r in &self.resumed {
            w.push(r.warning(&self.file));
        }
        if let Some(msg) = self.ending.as_ref().and_then(|e| e.warning(&self.file)) {
            w.push(msg);
        }
        if self.fragments_never_completed > 0 {
            w.push(format!(
                "{}: {} IP fragment(s) never completed a datagram",
                self.file, self.fragments_never_completed
            ));
        }
        if let Some((frame, e)) = &self.first_undecodable {
            let n = self
                .skipped
                .get(&SkipKind::Undecodable)
                .copied()
                .unwrap_or(0);
            w.push(format!(
                "{}: {n} packet(s) could not be decoded (first: packet {frame}, {e})",
                self.file
            ));
        }
        for (link, n) in &self.unsupported_links {
            w.push(format!(
                "{}: {n} packet(s) with unsupported link type {link} skipped",
                self.file
            ));
        }
        // -p kept nothing: which ports there are instead.
        if let Some(port) = self.port
            && self.tcp_segments == self.filtered_out
            && let Some(seen) = self.ports_seen(5)
        {
            w.push(format!(
                "{}: no TCP segment has port {port}; the capture's ports: {seen}",
                self.file
            ));
        }
        w
    }

    /// Takes the decoder's final fragment counts (at the end of a capture).
    pub fn finish_fragments(&mut self, decoder: &Decoder) {
        let r = decoder.reassembly();
        self.reassembled = r.reassembled;
        self.fragments_never_completed = r.fragments_lost + decoder.pending_fragments().1;
    }

    /// A segment the port filter left out: its ports, counted for
    /// [`ports_seen`](ReadReport::ports_seen).
    fn note_ports(&mut self, a: u16, b: u16) {
        for p in [a, b] {
            *self.other_ports.entry(p).or_default() += 1;
        }
    }

    /// With a port filter that kept little or nothing: the ports the
    /// segments it left out have, most segments first ("9502 (22
    /// segments), 40001 (11)"), at most `n`.
    pub fn ports_seen(&self, n: usize) -> Option<String> {
        let mut ports: Vec<(u16, u64)> = self.other_ports.iter().map(|(&p, &k)| (p, k)).collect();
        if ports.is_empty() {
            return None;
        }
        ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let more = ports.len().saturating_sub(n);
        let mut s: Vec<String> = ports
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, (p, k))| match i {
                0 => format!("{p} ({k} segments)"),
                _ => format!("{p} ({k})"),
            })
            .collect();
        if more > 0 {
            s.push(format!("and {more} more"));
        }
        Some(s.join(", "))
    }

    fn note_time(&mut self, ts: Timestamp) {
        self.first_ts = Some(self.first_ts.map_or(ts, |f| f.min(ts)));
        self.last_ts = Some(self.last_ts.map_or(ts, |l| l.max(ts)));
    }
}

/// Reads a whole file and returns every connection with its segments.
pub fn analyze_file(
    path: &Path,
    filter: Filter,
    cfg: TrackConfig,
) -> Result<(Vec<Connection>, ReadReport), CaptureError> {
    analyze_file_progress(path, filter, cfg, |_| {})
}

/// How far reading a file has come, for a progress bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub bytes: u64,
    /// The file's size (0 when unknown).
    pub total: u64,
    pub packets: u64,
    pub connections: u64,
}

impl Progress {
    /// "45% · 1.20 of 2.60 GB · 4.50 M packets · 120000 connections ·
    /// 3.10 M packets/s", `secs` after reading began.
    pub fn text(&self, secs: f64) -> String {
        let gb = |b: u64| b as f64 / 1e9;
        let rate = if secs > 0.0 {
            self.packets as f64 / secs
        } else {
            0.0
        };
        let pct = match self.total {
            0 => String::new(),
            t => format!("{:.0}% · ", 100.0 * self.bytes as f64 / t as f64),
        };
        format!(
            "{pct}{:.2} of {:.2} GB · {:.2} M packets · {} connections · {:.2} M packets/s",
            gb(self.bytes),
            gb(self.total),
            self.packets as f64 / 1e6,
            self.connections,
            rate / 1e6
        )
    }
}

/// How often, in records, `analyze_file_progress` reports.
const PROGRESS_EVERY: u64 = 1 << 15;

/// [`analyze_file`], telling `progress` how far it has come every few tens
/// of thousands of records and once at the end.
pub fn analyze_file_progress(
    path: &Path,
    filter: Filter,
    cfg: TrackConfig,
    progress: impl FnMut(Progress),
) -> Result<(Vec<Connection>, ReadReport), CaptureError> {
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    analyze_capture_progress(CaptureFile::open(path)?, total, filter, cfg, progress)
}

/// The one analysis of a whole capture: every connection kept, `progress`
/// told how far it has come (of `total` bytes, 0 when unknown).
fn analyze_capture_progress(
    file: CaptureFile,
    total: u64,
    filter: Filter,
    cfg: TrackConfig,
    progress: impl FnMut(Progress),
) -> Result<(Vec<Connection>, ReadReport), CaptureError> {
    // Not streaming: connections replaced by a new incarnation stay in the
    // tracker, and `finish` returns them all in order.
    let mut tracker = Tracker::new(TrackConfig {
        stream: false,
        ..cfg
    });
    let (report, _) = run(
        file,
        total,
        filter,
        &mut tracker,
        |_| {},
        progress,
        |_, _| {},
    )?;
    let end = report.last_ts.unwrap_or_default();
    Ok((tracker.finish(end), report))
}

/// Like [`analyze_file`], for a capture already open (the sample built into
/// the binary, say).
pub fn analyze_capture(
    file: CaptureFile,
    filter: Filter,
    cfg: TrackConfig,
) -> Result<(Vec<Connection>, ReadReport), CaptureError> {
    analyze_capture_progress(file, 0, filter, cfg, |_| {})
}

/// Whether the file's records come in time order (none stamped before the
/// one ahead of it), so that following it as a stream gives what a
/// whole-file view does. False for anything but a regular file: it can be
/// read only once.
pub fn in_time_order(path: &Path) -> Result<bool, CaptureError> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(false);
    }
    let mut file = CaptureFile::open(path)?;
    let mut last: Option<Timestamp> = None;
    let mut ordered = true;
    file.for_each_until(|rec| {
        ordered = last.is_none_or(|l| rec.ts >= l);
        last = Some(rec.ts);
        ordered
    })?;
    Ok(ordered)
}

/// Every connection of a file, in order of its first segment as
/// [`analyze_file`] returns them, each handed to `each` as soon as it and
/// all before it are over: memory follows the connections open at once
/// (and those waiting behind a long one), not the length of the capture.
///
/// The file must be in time order ([`in_time_order`]): a connection is let
/// go 2×MSL after its last segment, and only a segment stamped earlier than
/// one already read could still have joined it.
pub fn stream_in_order(
    path: &Path,
    filter: Filter,
    cfg: TrackConfig,
    progress: impl FnMut(Progress),
    mut each: impl FnMut(Connection),
) -> Result<ReadReport, CaptureError> {
    let mut order = InOrder::default();
    // Never aged out idle: the whole-file view does not either.
    let cfg = TrackConfig {
        idle_timeout: None,
        ..cfg
    };
    stream(
        path,
        filter,
        cfg,
        progress,
        |c| order.put(c, &mut each),
        |_, _| {},
    )
    .map(|(report, _)| report)
}

/// Puts connections handed out in the order they ended back in the order
/// they began: each in the place its id names (ids count up from 0, one a
/// connection, and the tracker hands each out once), passed on as soon as
/// all before it have come.
#[derive(Default)]
struct InOrder {
    /// Id of the first place.
    base: usize,
    waiting: std::collections::VecDeque<Option<Box<Connection>>>,
}

impl InOrder {
    fn put(&mut self, c: Box<Connection>, each: &mut impl FnMut(Connection)) {
        // An id already passed on cannot come again: ids are handed out once.
        let Some(at) = c.id.checked_sub(self.base) else {
            return;
        };
        if self.waiting.len() <= at {
            self.waiting.resize_with(at + 1, || None);
        }
        self.waiting[at] = Some(c);
        while let Some(Some(_)) = self.waiting.front() {
            if let Some(Some(c)) = self.waiting.pop_front() {
                self.base += 1;
                each(*c);
            }
        }
    }
}

/// Streams a file: each connection is handed to `done` once it is over and
/// then freed, so memory follows the connections open at once.
pub fn stream_file(
    path: &Path,
    filter: Filter,
    cfg: TrackConfig,
    mut done: impl FnMut(&Connection),
) -> Result<ReadReport, CaptureError> {
    stream(path, filter, cfg, |_| {}, |c| done(&c), |_, _| {}).map(|(report, _)| report)
}

/// The one streaming read: connections to `done` as they are let go, then
/// those still open at the end.
fn stream(
    path: &Path,
    filter: Filter,
    cfg: TrackConfig,
    progress: impl FnMut(Progress),
    mut done: impl FnMut(Box<Connection>),
    joined: impl FnMut(usize, &Decoded),
) -> Result<(ReadReport, Layout), CaptureError> {
    let total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let file = CaptureFile::open(path)?;
    let mut tracker = Tracker::new(TrackConfig {
        stream: true,
        ..cfg
    });
    let (mut report, layout) = run(
        file,
        total,
        filter,
        &mut tracker,
        &mut done,
        progress,
        joined,
    )?;
    report.aged_out = tracker.aged_out();
    let end = report.last_ts.unwrap_or_default();
    tracker.finish_each(end, done);
    Ok((report, layout))
}

/// Records decoded on the reading thread before they are handed over.
const BATCH: usize = 16384;

/// A record decoded on the reading thread.
struct Decoded {
    ts: Timestamp,
    frame: u64,
    /// None: the BPF filter left it out.
    packet: Option<Result<Packet, Skip>>,
    /// The first bytes of its TCP payload, when the tracker keeps details.
    payload: Option<Box<[u8]>>,
    /// Where its record begins in the file.
    offset: u64,
    /// Reading that record again and decoding it alone gives this packet
    /// (not so for one reassembled from fragments).
    rereadable: bool,
}

impl Decoded {
    /// A place for a record, holding a TCP segment for the decoder to
    /// write over.
    fn blank() -> Decoded {
        let any = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        Decoded {
            ts: Timestamp::default(),
            frame: 0,
            packet: Some(Ok(Packet::Tcp(decode::Segment::new(
                any,
                any,
                decode::Flags(0),
                0,
                0,
                0,
            )))),
            payload: None,
            offset: 0,
            rereadable: false,
        }
    }
}

/// What the reading thread hands over: records, and how far into the file
/// it has read.
struct Batch {
    items: Vec<Decoded>,
    consumed: u64,
}

/// Every record of `file` through decode and `tracker`: connections a
/// streaming tracker is done with go to `done` as they end, and `progress`
/// hears how far it has come (of `total` bytes, 0 when unknown) every few
/// tens of thousands of records and at the end.
///
/// Two threads: this one tracks, another reads and decodes, a few
/// thousand records ahead. Records reach the tracker in file order, so
/// the result is the same as one thread's.
fn run(
    file: CaptureFile,
    total: u64,
    filter: Filter,
    tracker: &mut Tracker,
    mut done: impl FnMut(Box<Connection>),
    mut progress: impl FnMut(Progress),
    mut joined: impl FnMut(usize, &Decoded),
) -> Result<(ReadReport, Layout), CaptureError> {
    let mut at = Progress {
        total,
        ..Progress::default()
    };
    let keep_payload = tracker.config().keep_details;
    let (report, layout, ()) =
        read_through(file, &filter, keep_payload, |batches, back, report| {
            let mut since_report = 0u64;
            for batch in batches {
                for d in &batch.items {
                    let payload = d.payload.as_deref().unwrap_or_default();
                    let packet = d.packet.as_ref();
                    if let Some(id) =
                        apply(d.ts, d.frame, packet, payload, &filter, tracker, report)
                    {
                        joined(id, d);
                    }
                    // A whole-file tracker keeps them: `finish` returns them in order.
                    if tracker.config().stream && tracker.has_done() {
                        tracker.drain_done(&mut done);
                    }
                }
                let n = batch.items.len() as u64;
                at.packets += n;
                since_report += n;
                at.bytes = match total {
                    0 => batch.consumed,
                    t => batch.consumed.min(t),
                };
                if since_report >= PROGRESS_EVERY {
                    since_report = 0;
                    at.connections = tracker.next_id() as u64;
                    progress(at);
                }
                // The reader may have finished: then the buffer is just dropped.
                let _ = back.send(batch.items);
            }
        })?;
    at.connections = tracker.next_id() as u64;
    progress(at);
    Ok((report, layout))
}

/// Reads `file` on a thread of its own, decoding a few thousand records
/// ahead, and hands the batches in file order to `consume`, which counts
/// them in the report it is given and sends each batch's buffer back to be
/// filled again. The report then gets how the file ended, the damage read
/// past and the fragment counts.
fn read_through<R>(
    mut file: CaptureFile,
    filter: &Filter,
    keep_payload: bool,
    consume: impl FnOnce(Receiver<Batch>, Sender<Vec<Decoded>>, &mut ReadReport) -> R,
) -> Result<(ReadReport, Layout, R), CaptureError> {
    let mut report = ReadReport {
        file: file.name().to_string(),
        port: filter.port,
        ..ReadReport::default()
    };
    let name = report.file.clone();
    let (read, consumed) = std::thread::scope(|s| {
        // Few batches in flight: the reader stays a little ahead.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(4);
        let (back, spent) = std::sync::mpsc::channel::<Vec<Decoded>>();
        let bpf = filter.bpf.clone();
        let reader = std::thread::Builder::new()
            .name("read".into())
            .spawn_scoped(s, move || {
                read_ahead(&mut file, bpf.as_deref(), keep_payload, BATCH, |batch| {
                    tx.send(batch).map_err(|_| Stopped)?;
                    Ok(spent.try_recv().ok())
                })
            });
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                return Err(CaptureError {
                    file: name.clone(),
                    problem: format!("cannot start the reading thread ({e})"),
                });
            }
        };
        let consumed = consume(rx, back, &mut report);
        match reader.join() {
            Ok(read) => read.map(|r| (r, consumed)),
            Err(_) => Err(CaptureError {
                file: name.clone(),
                problem: "the reading thread failed".into(),
            }),
        }
    })?;
    let layout = report.finish_reading(read);
    Ok((report, layout, consumed))
}

/// The reading thread: decodes records in batches and sends them on until
/// the file ends (its ending and the decoder, for the fragment counts) or
/// fails (after sending what came before the failure).
///
/// `hand_over` takes each batch, and gives back a spent one's buffer to
/// fill again when there is one; Err when the other side stopped.
fn read_ahead(
    file: &mut CaptureFile,
    bpf: Option<&str>,
    keep_payload: bool,
    batch: usize,
    mut hand_over: impl FnMut(Batch) -> Result<Option<Vec<Decoded>>, Stopped>,
) -> Result<Read, CaptureError> {
    let mut decoder = Decoder::default();
    let fail = |problem: String| CaptureError {
        file: file.name().to_string(),
        problem,
    };
    let mut bpf = bpf.map(Bpf::check).transpose().map_err(fail)?;
    let mut refused = None;
    let mut spare = None;
    loop {
        // A spent batch's records are written over, in place.
        let mut items: Vec<Decoded> = spare.take().unwrap_or_else(|| Vec::with_capacity(batch));
        let mut n = 0;
        let r = file.for_each_until(|rec| {
            let matched = match bpf.as_mut().map(|b| b.matches(rec)) {
                None | Some(Ok(true)) => true,
                Some(Ok(false)) => false,
                Some(Err(e)) => {
                    refused = Some(e);
                    return false;
                }
            };
            let before = decoder.reassembly().reassembled;
            if n == items.len() {
                items.push(Decoded::blank());
            }
            let Some(d) = items.get_mut(n) else {
                return false;
            };
            n += 1;
            d.payload = if matched {
                let packet = d.packet.get_or_insert(Err(Skip::NotTcp));
                let payload = decode_record_into(rec, &mut decoder, keep_payload, packet);
                (!payload.is_empty()).then(|| payload.into())
            } else {
                d.packet = None;
                None
            };
            d.ts = rec.ts;
            d.frame = rec.frame;
            d.rereadable = rec.rereadable && decoder.reassembly().reassembled == before;
            d.offset = rec.offset;
            n < batch
        });
        items.truncate(n);
        let batch = Batch {
            items,
            consumed: file.progress_bytes(),
        };
        match hand_over(batch) {
            Ok(back) => spare = back,
            // The tracking side stopped listening: nothing more to do.
            Err(Stopped) => return Ok((Ending::Complete, decoder, file.layout(), Vec::new())),
        }
        if let Some(why) = refused {
            return Err(CaptureError {
                file: file.name().to_string(),
                problem: why,
            });
        }
        if let Some(ending) = r? {
            return Ok((ending, decoder, file.layout(), file.resumed().to_vec()));
        }
    }
}

/// What the side that takes the batches says when it has stopped.
struct Stopped;

/// What reading a whole file leaves, besides its records: how it ended,
/// the decoder (for the fragment counts), its headers, the damage read past.
type Read = (Ending, Decoder, Layout, Vec<crate::capture::Resumed>);

impl ReadReport {
    /// Takes what reading the file left, once it is all read.
    fn finish_reading(&mut self, (ending, decoder, layout, resumed): Read) -> Layout {
        self.ending = Some(ending);
        self.resumed = resumed;
        self.finish_fragments(&decoder);
        layout
    }
}

/// One record through the decoder (which carries IP fragments between
/// records), and the segment's payload as captured when `keep` (the first
/// bytes a connection keeps of it).
fn decode_with_payload<'a>(
    rec: &Record<'a>,
    decoder: &mut Decoder,
    keep: bool,
) -> (Result<Packet, Skip>, &'a [u8]) {
    let mut packet = Err(Skip::NotTcp);
    let payload = decode_record_into(rec, decoder, keep, &mut packet);
    (packet, payload)
}

/// [`decode_with_payload`] into `out` (see [`Decoder::decode_into`]).
#[inline(always)]
fn decode_record_into<'a>(
    rec: &Record<'a>,
    decoder: &mut Decoder,
    keep: bool,
    out: &mut Result<Packet, Skip>,
) -> &'a [u8] {
    if rec.link == UNKNOWN_INTERFACE {
        *out = Err(Skip::Malformed(DecodeError::new(
            Layer::Link,
            0,
            format!(
                "interface {} was never described in the file",
                rec.interface
            ),
        )));
        return &[];
    }
    let payload = decoder.decode_into(rec.link, rec.data, rec.orig_len, rec.ts, out);
    if keep {
        &payload[..payload.len().min(crate::track::PAYLOAD_KEPT)]
    } else {
        &[]
    }
}

/// One record through decode and track. `decoder` carries the IP
/// fragments between records: use one per capture.
pub fn feed(
    rec: &Record<'_>,
    filter: &Filter,
    decoder: &mut Decoder,
    tracker: &mut Tracker,
    report: &mut ReadReport,
) {
    let keep = tracker.config().keep_details;
    let (packet, payload) = decode_with_payload(rec, decoder, keep);
    apply(
        rec.ts,
        rec.frame,
        Some(&packet),
        payload,
        filter,
        tracker,
        report,
    );
}

/// A decoded record into the report and the tracker; the id of the
/// connection it joined, if any.
fn apply(
    ts: Timestamp,
    frame: u64,
    packet: Option<&Result<Packet, Skip>>,
    payload: &[u8],
    filter: &Filter,
    tracker: &mut Tracker,
    report: &mut ReadReport,
) -> Option<usize> {
    match account(ts, frame, packet, filter, report) {
        Track::Segment(seg) => Some(tracker.push_payload(seg, ts, frame, payload)),
        Track::Icmp(err) => {
            if tracker.push_icmp(err, ts, frame) {
                return tracker
                    .last_key()
                    .and_then(|k| tracker.get(&k))
                    .map(|c| c.id);
            }
            None
        }
        Track::Nothing => None,
    }
}

/// What a decoded record is for the tracker, once the report has counted it.
enum Track<'p> {
    Segment(&'p decode::Segment),
    Icmp(&'p decode::IcmpError),
    Nothing,
}

/// Counts a decoded record in the report (`packet` None: the BPF filter
/// left it out) and says what the tracker is to be given of it.
fn account<'p>(
    ts: Timestamp,
    frame: u64,
    packet: Option<&'p Result<Packet, Skip>>,
    filter: &Filter,
    report: &mut ReadReport,
) -> Track<'p> {
    report.packets += 1;
    let Some(packet) = packet else {
        report.filtered_out += 1;
        return Track::Nothing;
    };
    report.note_time(ts);
    match packet {
        Ok(Packet::Tcp(seg)) => {
            report.tcp_segments += 1;
            if filter.keeps(seg) {
                return Track::Segment(seg);
            }
            report.filtered_out += 1;
            report.note_ports(seg.src.port(), seg.dst.port());
        }
        Ok(Packet::IcmpError(err)) => {
            if filter.keeps_ports(err.quoted_src.port(), err.quoted_dst.port()) {
                report.icmp_errors += 1;
                return Track::Icmp(err);
            }
            report.filtered_out += 1;
        }
        Err(Skip::FragmentHeld) => report.fragments_held += 1,
        Err(skip) => {
            *report.skipped.entry(skip.kind()).or_default() += 1;
            match skip {
                Skip::UnsupportedLink(l) => *report.unsupported_links.entry(*l).or_default() += 1,
                Skip::Malformed(e) if report.first_undecodable.is_none() => {
                    report.first_undecodable = Some((frame, e.clone()));
                }
                _ => {}
            }
        }
    }
    Track::Nothing
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every capture file under `dir`.
    fn captures(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                captures(&p, out);
            } else if p
                .extension()
                .is_some_and(|x| matches!(x.to_str(), Some("pcap" | "pcapng" | "cap")))
            {
                out.push(p);
            }
        }
    }

    /// The plain IPv4 path of the decoder reads what the general one
    /// reads, on every record of the bundled and the peer captures.
    #[test]
    fn the_plain_ipv4_path_decodes_as_the_general_one() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        captures(&root.join("captures"), &mut files);
        captures(&root.join("../shared/peer-captures"), &mut files);
        let (mut records, mut plain) = (0u64, 0u64);
        for file in &files {
            let Ok(mut f) = CaptureFile::open(file) else {
                continue;
            };
            loop {
                let r = f.for_each_until(|rec| {
                    records += 1;
                    let fast = decode::decode_frame(rec.link, rec.data, rec.orig_len);
                    let general = decode::decode_frame_generally(rec.link, rec.data, rec.orig_len);
                    if matches!(fast, Ok(Packet::Tcp(_))) {
                        plain += 1;
                    }
                    assert_eq!(fast, general, "{} frame {}", file.display(), rec.frame);
                    true
                });
                if !matches!(r, Ok(None)) {
                    break;
                }
            }
        }
        assert!(
            records > 1000 && plain > 500,
            "{records} records, {plain} TCP"
        );
    }
}
