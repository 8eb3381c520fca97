//! Reading .pcap and .pcapng files. Records are handed to a callback while
//! they still sit in the reader's buffer, so nothing is copied. A file that
//! is damaged part-way still delivers every record before the damage; the
//! reader then reports where and why it stopped.

use std::fs::File;
use std::io::Read;

use super::source::{self, read_up_to};
use std::path::Path;

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Block, PcapBlockOwned, PcapError, create_reader};

use super::{Record, UNKNOWN_INTERFACE};
use crate::time::Timestamp;

const BUFFER: usize = 1 << 20;
/// The link-type field's upper bits carry FCS information (pcap spec,
/// LINKTYPE_ field); libpcap masks them off the same way.
const LINKTYPE_MASK: u32 = 0x03ff_ffff;
/// A legacy pcap file's header.
const PCAP_HEADER: usize = 24;
/// A pcapng section header block's length is sane below this.
const MAX_SECTION_HEADER: u32 = 1 << 20;
/// Larger records than this are taken as damage, not as packets.
const MAX_RECORD: usize = 64 << 20;

/// Which container the file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    Pcap,
    PcapNg,
}

/// A file that cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct CaptureError {
    pub file: String,
    pub problem: String,
}

/// How reading ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    Complete,
    /// The last record is cut short (the writer was killed, or the copy was).
    Truncated {
        offset: u64,
    },
    /// A block that cannot be parsed; everything before it was delivered.
    Damaged {
        offset: u64,
        problem: String,
    },
}

impl Ending {
    /// One-line warning for the user, or None for a clean file.
    pub fn warning(&self, file: &str) -> Option<String> {
        match self {
            Ending::Complete => None,
            Ending::Truncated { offset } => Some(format!(
                "{file}: the last record is cut short at byte {offset}; everything before it was read"
            )),
            Ending::Damaged { offset, problem } => Some(format!(
                "{file}: damaged at byte {offset} ({problem}); everything before it was read"
            )),
        }
    }
}

#[derive(Clone, Debug)]
struct Interface {
    link: u32,
    /// Timestamp units per second.
    units: u64,
    offset_secs: i64,
}

/// An open capture file.
pub struct CaptureFile {
    name: String,
    reader: Box<dyn PcapReaderIterator + Send>,
    format: FileFormat,
    /// Each section: where it begins, its byte order and its interfaces
    /// so far; records are read against the last one's.
    sections: Vec<Section>,
    legacy_nanos: bool,
    frame: u64,
    last_ts: Timestamp,
    /// The reader's buffer size; it doubles when a record does not fit.
    buffer: usize,
    /// A plain regular file (`rereadable()`).
    rereadable: bool,
    compression: Option<source::Compression>,
    /// What the decompressor said when it failed.
    problem: source::Problem,
    /// Bytes read from the file itself.
    raw: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// `for_each_until` returns (with `Ok(None)`) when the records already
    /// read are all out, before it reads more (which may wait on a pipe).
    pause_before_read: bool,
    paused: bool,
    /// Damage read past, in order.
    resumed: Vec<Resumed>,
    /// Where the damage being read past began, and what it was.
    problem_at: Option<(u64, String)>,
}

/// Damage in the middle of a file, and where reading resumed after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resumed {
    /// Where the bad record or block began.
    pub at: u64,
    /// Where the next plausible one begins.
    pub resumed: u64,
    pub problem: String,
}

impl Resumed {
    pub fn warning(&self, file: &str) -> String {
        format!(
            "{file}: damaged at byte {} ({}), resumed at byte {}, {} bytes skipped",
            self.at,
            self.problem,
            self.resumed,
            self.resumed - self.at
        )
    }
}

/// What the front of the buffer says of the next record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Front {
    Plausible,
    Implausible,
    /// Not all of its header is there yet.
    Short,
}

/// Largest packet a record may plausibly hold: TSO/GRO captures reach
/// 64 KiB and more, nothing real reaches this.
const MAX_PACKET: u32 = 256 << 10;
/// Seconds a record reading resumes at may be from the last one read.
const RESUME_WITHIN: i64 = 7 * 86_400;
/// How far the buffer may grow while looking for a plausible record.
const SCAN_LIMIT: usize = 4 << 20;

/// The 32-bit word at `at` in `d`, in the file's byte order.
fn word_at(d: &[u8], at: usize, big: bool) -> Option<u32> {
    let b: [u8; 4] = d.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// A legacy pcap record header at the front of `d`, as a record being
/// read: more captured than the file's snap length (at least
/// [`MAX_PACKET`]) allows is damage, as tcpdump and Wireshark take it;
/// writers are lax about the rest.
fn pcap_front(d: &[u8], big: bool, snaplen: u32) -> Front {
    let Some(h) = d.get(..16) else {
        return Front::Short;
    };
    let word = |i: usize| word_at(h, i, big).unwrap_or(0);
    let caplen = word(8);
    if caplen <= snaplen.max(MAX_PACKET) && (caplen as usize) <= MAX_RECORD {
        Front::Plausible
    } else {
        Front::Implausible
    }
}

/// A legacy pcap record header at the front of `d`, as a place to resume
/// after damage: it must look like what real writers write.
fn pcap_resumable(d: &[u8], big: bool, nanos: bool) -> Front {
    let Some(h) = d.get(..16) else {
        return Front::Short;
    };
    let word = |i: usize| word_at(h, i, big).unwrap_or(0);
    let (frac, caplen, orig) = (word(4), word(8), word(12));
    let units = if nanos { 1_000_000_000 } else { 1_000_000 };
    if frac < units && caplen <= orig && caplen <= MAX_PACKET && orig <= 1 << 30 {
        Front::Plausible
    } else {
        Front::Implausible
    }
}

/// pcapng block types a real file holds (RFC draft: SHB, IDB, PB, SPB,
/// NRB, ISB, EPB, the systemd journal and decryption secrets, custom).
const NG_BLOCKS: &[u32] = &[0x0a0d_0d0a, 1, 2, 3, 4, 5, 6, 9, 10, 0xbad, 0x4000_0bad];

/// A pcapng block at the front of `d`.
fn ng_front(d: &[u8], big: bool) -> Front {
    let Some(h) = d.get(..8) else {
        return Front::Short;
    };
    let word = |i: usize| word_at(h, i, big).unwrap_or(0);
    // A section header's length is in its own byte order, which its
    // byte-order magic says.
    let len = if h[..4] == SHB {
        match d.get(..12) {
            None => return Front::Short,
            Some(head) => shb_length(head).unwrap_or(0),
        }
    } else {
        word(4)
    };
    if len >= 12 && len % 4 == 0 && (len as usize) <= MAX_RECORD {
        Front::Plausible
    } else {
        Front::Implausible
    }
}

/// A known pcapng block type with a length that could be, at the front
/// of `d`.
fn ng_block(d: &[u8], big: bool) -> bool {
    word_at(d, 0, big).is_some_and(|ty| NG_BLOCKS.contains(&ty))
        && ng_front(d, big) == Front::Plausible
}

/// Whether reading can resume at the front of `d`.
enum Candidate {
    Yes,
    No,
    NeedMore,
}

/// A record that looks right and is followed by another that does (or by
/// the end of the file): where reading resumes after damage.
fn candidate(
    d: &[u8],
    format: FileFormat,
    big: bool,
    nanos: bool,
    exhausted: bool,
    near: Option<i64>,
) -> Candidate {
    // At the end of the file there is no more to wait for.
    match candidate_so_far(d, format, big, nanos, exhausted, near) {
        Candidate::NeedMore if exhausted => Candidate::No,
        c => c,
    }
}

fn candidate_so_far(
    d: &[u8],
    format: FileFormat,
    big: bool,
    nanos: bool,
    exhausted: bool,
    near: Option<i64>,
) -> Candidate {
    let word = |at: usize| word_at(d, at, big);
    match format {
        FileFormat::Pcap => {
            match pcap_resumable(d, big, nanos) {
                Front::Short => return Candidate::NeedMore,
                Front::Implausible => return Candidate::No,
                Front::Plausible => {}
            }
            let (Some(secs), Some(caplen)) = (word(0), word(8)) else {
                return Candidate::NeedMore;
            };
            // A packet, at a time near the records read before it (or,
            // for the first, near the one after it): zeros in a packet's
            // bytes look like a record header otherwise.
            let close = |a: i64, b: i64| (a - b).abs() <= RESUME_WITHIN;
            if caplen == 0 || near.is_some_and(|t| !close(i64::from(secs), t)) {
                return Candidate::No;
            }
            let next = 16 + caplen as usize;
            if d.len() == next && exhausted {
                return Candidate::Yes;
            }
            let rest = d.get(next..).unwrap_or_default();
            let next_secs = word_at(rest, 0, big);
            match pcap_resumable(rest, big, nanos) {
                Front::Plausible
                    if next_secs.is_some_and(|n| close(i64::from(n), i64::from(secs))) =>
                {
                    Candidate::Yes
                }
                Front::Plausible | Front::Implausible => Candidate::No,
                Front::Short => Candidate::NeedMore,
            }
        }
        FileFormat::PcapNg => {
            let Some(len) = word(4) else {
                return Candidate::NeedMore;
            };
            if !ng_block(d, big) {
                return Candidate::No;
            }
            let len = len as usize;
            // Large blocks are not taken for a place to resume: random
            // bytes would have the reader wait on megabytes.
            if len > MAX_PACKET as usize + 64 {
                return Candidate::No;
            }
            match word(len - 4) {
                None => Candidate::NeedMore,
                Some(trailer) if trailer as usize != len => Candidate::No,
                Some(_) if d.len() == len && exhausted => Candidate::Yes,
                Some(_) => match d.get(len..len + 8) {
                    Some(next) if ng_block(next, big) => Candidate::Yes,
                    Some(_) => Candidate::No,
                    None => Candidate::NeedMore,
                },
            }
        }
    }
}

impl CaptureFile {
    /// Opens a capture: a file, or standard input for `-`, either of them
    /// possibly compressed (see [`source`](super::source)).
    pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
        CaptureFile::from_opened(source::open(path)?)
    }

    /// Reads from any byte source (compressed too); `name` is used in
    /// messages. Its records cannot be read again by offset.
    pub fn from_reader<R: Read + Send + 'static>(
        name: impl Into<String>,
        source: R,
    ) -> Result<CaptureFile, CaptureError> {
        CaptureFile::from_opened(source::wrap(name.into(), Box::new(source), false)?)
    }

    fn from_opened(opened: source::Opened) -> Result<CaptureFile, CaptureError> {
        let source::Opened {
            name,
            mut reader,
            compression,
            regular,
            problem,
            raw,
        } = opened;
        let fail = |problem: String| CaptureError {
            file: name.clone(),
            problem,
        };
        let read_err = |e: std::io::Error| {
            let what = problem
                .lock()
                .ok()
                .and_then(|p| p.clone())
                .unwrap_or_else(|| e.to_string().to_lowercase());
            fail(what)
        };
        // Peek at the magic ourselves so that a wrong file gets a precise
        // message instead of pcap-parser's generic one.
        let mut head = vec![0u8; 4];
        let got = read_up_to(&mut reader, &mut head).map_err(read_err)?;
        if got == 0 {
            return Err(fail("empty file, not a capture".into()));
        }
        let format = match head[..] {
            [0x0a, 0x0d, 0x0d, 0x0a] => FileFormat::PcapNg,
            [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x34, 0xcd, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xcd, 0x34] => FileFormat::Pcap,
            _ if got < 4 => return Err(fail(format!("only {got} bytes long, not a capture"))),
            _ => {
                return Err(fail(format!(
                    "not a pcap or pcapng file (starts with {:02x} {:02x} {:02x} {:02x})",
                    head[0], head[1], head[2], head[3]
                )));
            }
        };
        // The header whole and nothing more: from a pipe, more may be a
        // long time coming.
        let want = match format {
            FileFormat::Pcap => PCAP_HEADER,
            FileFormat::PcapNg => {
                head.resize(12, 0);
                let got = read_up_to(&mut reader, &mut head[4..]).map_err(read_err)?;
                if got < 8 {
                    return Err(fail("the file header is cut short".into()));
                }
                let len = section_header_length(&head)
                    .ok_or_else(|| fail("the section header's length is not valid".into()))?;
                len as usize
            }
        };
        let have = head.len();
        head.resize(want, 0);
        let got = read_up_to(&mut reader, &mut head[have..]).map_err(read_err)?;
        if have + got < want {
            return Err(fail("the file header is cut short".into()));
        }
        let chained = HeaderFirst {
            header: std::io::Cursor::new(head),
            paused: false,
            rest: reader,
        };
        let reader = create_reader(BUFFER, chained).map_err(|e| {
            fail(match e {
                PcapError::Eof | PcapError::Incomplete(_) | PcapError::UnexpectedEof => {
                    "the file header is cut short".to_string()
                }
                PcapError::HeaderNotRecognized => "file header not recognized".to_string(),
                other => format!("cannot read the file header ({other:?})"),
            })
        })?;
        Ok(CaptureFile {
            name,
            reader,
            format,
            sections: Vec::new(),
            legacy_nanos: false,
            frame: 0,
            last_ts: Timestamp::default(),
            buffer: BUFFER,
            rereadable: regular,
            compression,
            problem,
            raw,
            pause_before_read: false,
            paused: false,
            resumed: Vec::new(),
            problem_at: None,
        })
    }

    /// Makes `for_each_until` return each time the records read so far are
    /// all out, before it reads (and maybe waits for) more: a pipe's
    /// reader then hands them on at once.
    pub fn pause_before_reading(&mut self) {
        self.pause_before_read = true;
    }

    /// Its records can be read again by offset ([`Reread`]): a plain
    /// regular file, not a pipe or compressed data.
    pub fn rereadable(&self) -> bool {
        self.rereadable
    }

    pub fn compression(&self) -> Option<source::Compression> {
        self.compression
    }

    /// How far into the file itself reading has come (for a compressed
    /// one, of the compressed bytes): progress against its size.
    pub fn progress_bytes(&self) -> u64 {
        match self.compression {
            None => self.consumed(),
            Some(_) => self.raw.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many bytes of the file have been read so far.
    pub fn consumed(&self) -> u64 {
        self.reader.consumed() as u64
    }

    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// What has been read of the file's headers so far: what reading one
    /// of its records again needs ([`Reread`]).
    pub fn layout(&self) -> Layout {
        Layout {
            format: self.format,
            legacy_nanos: self.legacy_nanos,
            sections: self.sections.clone(),
        }
    }

    /// Calls `f` for every packet record in file order.
    pub fn for_each(&mut self, mut f: impl FnMut(&Record<'_>)) -> Result<Ending, CaptureError> {
        self.for_each_until(|r| {
            f(r);
            true
        })
        .map(|e| e.unwrap_or(Ending::Complete))
    }

    /// Calls `f` for each packet record in file order until it returns
    /// false (then `Ok(None)`: call again to go on), the file ends, or
    /// (see `pause_before_reading`) what was read is all out.
    pub fn for_each_until(
        &mut self,
        mut f: impl FnMut(&Record<'_>) -> bool,
    ) -> Result<Option<Ending>, CaptureError> {
        loop {
            if !self.legacy_records(&mut f) {
                return Ok(None);
            }
            let offset = self.reader.consumed() as u64;
            // A record whose length no record of this file can have is
            // damage, whatever the buffer holds of it (so the same bytes
            // read the same from a file, a pipe or a decompressor).
            if offset > 0 && self.front() == Front::Implausible {
                match self.resync()? {
                    Some(()) => continue,
                    None => return Ok(Some(self.unrecovered())),
                }
            }
            match self.reader.next() {
                Ok((used, block)) => {
                    let header =
                        note_header(&block, offset, &mut self.sections, &mut self.legacy_nanos);
                    let interfaces = self.sections.last().map_or(&[][..], |s| &s.interfaces[..]);
                    if !header
                        && let Some(rec) = record(
                            &block,
                            offset,
                            interfaces,
                            self.legacy_nanos,
                            &mut self.frame,
                            &mut self.last_ts,
                        )
                    {
                        let rec = Record {
                            rereadable: rec.rereadable && self.rereadable,
                            ..rec
                        };
                        let go_on = f(&rec);
                        self.reader.consume(used);
                        if !go_on {
                            return Ok(None);
                        }
                        continue;
                    }
                    self.reader.consume(used);
                }
                Err(PcapError::Eof) => return Ok(Some(Ending::Complete)),
                Err(PcapError::Incomplete(_)) => {
                    // Every record in the buffer is out: a pipe's reader
                    // hands them on before it waits for more.
                    if self.pause_before_read && !std::mem::replace(&mut self.paused, true) {
                        return Ok(None);
                    }
                    self.paused = false;
                    if self.reader.refill().is_err() {
                        return self.read_failed();
                    }
                }
                Err(PcapError::BufferTooSmall) => {
                    // From the buffer's size, not from how much it holds:
                    // after a big record it may hold little yet be full size.
                    let want = self.buffer * 2;
                    if want > MAX_RECORD || !self.reader.grow(want) {
                        return Ok(Some(self.damaged("a record is larger than 64 MiB".into())));
                    }
                    self.buffer = want;
                    if self.reader.refill().is_err() {
                        return self.read_failed();
                    }
                }
                Err(PcapError::UnexpectedEof) => {
                    // Nothing left: after reading past damage the buffer
                    // may not have been shifted, which pcap-parser takes
                    // for a cut.
                    if self.reader.data().is_empty() {
                        return Ok(Some(Ending::Complete));
                    }
                    return Ok(Some(Ending::Truncated {
                        offset: self.reader.consumed() as u64,
                    }));
                }
                Err(PcapError::ReadError) => return self.read_failed(),
                Err(e) => {
                    let problem = describe(&e);
                    // Past the block that does not parse, to the next that
                    // does, if there is one.
                    self.problem_at = Some((self.reader.consumed() as u64, problem));
                    match self.resync()? {
                        Some(()) => continue,
                        None => return Ok(Some(self.unrecovered())),
                    }
                }
            }
        }
    }

    /// Legacy pcap records read straight from the buffer, as many as it
    /// holds whole: the header is four words, and pcap-parser's parse of
    /// each through the boxed reader cost several times the rest of the
    /// read. What this does not take (a record not all in the buffer, an
    /// implausible header, any other format) the general loop reads, so
    /// the records and offsets are the same either way. False when `f`
    /// asked to stop.
    fn legacy_records(&mut self, f: &mut impl FnMut(&Record<'_>) -> bool) -> bool {
        let Some(section) = self.sections.last().filter(|s| s.plain_legacy) else {
            return true;
        };
        let (big, snaplen) = (section.big_endian, section.snaplen);
        let link = section
            .interfaces
            .first()
            .map_or(UNKNOWN_INTERFACE, |i| i.link);
        let base = self.reader.consumed() as u64;
        let data = self.reader.data();
        let mut at = 0;
        let mut go_on = true;
        while go_on {
            let d = &data[at..];
            if pcap_front(d, big, snaplen) != Front::Plausible {
                break;
            }
            let word = |i: usize| word_at(d, i, big).unwrap_or(0);
            let caplen = word(8) as usize;
            let Some(bytes) = d.get(16..16 + caplen) else {
                break;
            };
            let rec = legacy_record(
                (word(0), word(4)),
                bytes,
                word(12),
                base + at as u64,
                link,
                self.legacy_nanos,
                (&mut self.frame, &mut self.last_ts),
            );
            go_on = f(&Record {
                rereadable: self.rereadable,
                ..rec
            });
            at += 16 + caplen;
        }
        if at > 0 {
            self.reader.consume(at);
        }
        go_on
    }

    /// The damaged places read past so far, in order.
    pub fn resumed(&self) -> &[Resumed] {
        &self.resumed
    }

    /// Whether the record header at the front of the buffer could be one.
    fn front(&self) -> Front {
        let d = self.reader.data();
        let section = self.sections.last();
        let big = section.is_some_and(|s| s.big_endian);
        match self.format {
            FileFormat::Pcap => pcap_front(d, big, section.map_or(0, |s| s.snaplen)),
            FileFormat::PcapNg => ng_front(d, big),
        }
    }

    /// Reads past damage: from the byte after the bad record's start, to
    /// the next place where a plausible record is followed by another (or
    /// by the end of the file). Some(()) when it found one and noted where
    /// (`resumed`); None at the end of the file.
    fn resync(&mut self) -> Result<Option<()>, CaptureError> {
        let start = self.reader.consumed() as u64;
        let (problem_at, problem) = match self.problem_at.take() {
            Some(p) => p,
            None => (start, self.front_problem()),
        };
        let big = self.sections.last().is_some_and(|s| s.big_endian);
        let (nanos, format) = (self.legacy_nanos, self.format);
        // The last record read, when there was one.
        let near = (self.frame > 0).then(|| self.last_ts.as_nanos().div_euclid(1_000_000_000));
        // pcapng blocks start on 4-byte boundaries; pcap records anywhere.
        let step = match format {
            FileFormat::Pcap => 1,
            FileFormat::PcapNg => 4,
        };
        let mut skip = step;
        loop {
            let exhausted = self.reader.reader_exhausted();
            let d = self.reader.data();
            let mut k = skip.min(d.len());
            let mut more = false;
            let mut found = false;
            while k < d.len() {
                match candidate(&d[k..], format, big, nanos, exhausted, near) {
                    Candidate::Yes => {
                        found = true;
                        break;
                    }
                    Candidate::No => k += step,
                    Candidate::NeedMore => {
                        more = true;
                        break;
                    }
                }
            }
            if found {
                self.reader.consume(k);
                let resumed = self.reader.consumed() as u64;
                self.resumed.push(Resumed {
                    at: problem_at,
                    resumed,
                    problem,
                });
                return Ok(Some(()));
            }
            if exhausted && !more {
                self.reader.consume(d.len());
                self.problem_at = Some((problem_at, problem));
                return Ok(None);
            }
            // What was looked at goes; the rest waits for more bytes.
            self.reader.consume(k);
            skip = 0;
            if more && self.reader.data().len() * 2 > self.buffer && self.buffer * 2 <= SCAN_LIMIT {
                let want = self.buffer * 2;
                if self.reader.grow(want) {
                    self.buffer = want;
                }
            }
            if self.reader.refill().is_err() {
                // Damaged compressed data ends it where this damage began;
                // a failed read is an error.
                self.problem_at = Some((problem_at, problem));
                return self.read_failed().map(|_| None);
            }
            if self.reader.reader_exhausted() && self.reader.data().is_empty() {
                self.problem_at = Some((problem_at, problem));
                return Ok(None);
            }
        }
    }

    /// What is wrong with the record header at the front of the buffer.
    fn front_problem(&self) -> String {
        let d = self.reader.data();
        let big = self.sections.last().is_some_and(|s| s.big_endian);
        let word = |at: usize| word_at(d, at, big).unwrap_or(0);
        match self.format {
            FileFormat::Pcap => format!(
                "a record of {} bytes captured, {} on the wire, time fraction {}",
                word(8),
                word(12),
                word(4)
            ),
            FileFormat::PcapNg => format!("a block {} bytes long", word(4)),
        }
    }

    /// Damage nothing plausible followed: how reading ended.
    fn unrecovered(&mut self) -> Ending {
        let (offset, problem) = self
            .problem_at
            .take()
            .unwrap_or((self.reader.consumed() as u64, "damaged".into()));
        Ending::Damaged { offset, problem }
    }

    /// A read that failed (pcap-parser keeps only that it did): damage in
    /// the capture if the decompressor found its data broken (what came
    /// before stands), else an error.
    fn read_failed(&self) -> Result<Option<Ending>, CaptureError> {
        if let Some(problem) = self.problem.lock().ok().and_then(|p| p.clone()) {
            return Ok(Some(self.damaged(problem)));
        }
        Err(CaptureError {
            file: self.name.clone(),
            problem: "read error".into(),
        })
    }

    fn damaged(&self, problem: String) -> Ending {
        Ending::Damaged {
            offset: self.reader.consumed() as u64,
            problem,
        }
    }
}

/// A pcapng section header block's type.
const SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// The length a pcapng section header block whose first 12 bytes are
/// `head` (type, length, byte-order magic) gives, read in the byte order
/// its magic says.
fn shb_length(head: &[u8]) -> Option<u32> {
    let big = match head.get(8..12)? {
        [0x1a, 0x2b, 0x3c, 0x4d] => true,
        [0x4d, 0x3c, 0x2b, 0x1a] => false,
        _ => return None,
    };
    word_at(head, 4, big)
}

/// [`shb_length`], if it is a sane one for a file's first block.
fn section_header_length(head: &[u8]) -> Option<u32> {
    shb_length(head).filter(|&len| len >= 28 && len % 4 == 0 && len <= MAX_SECTION_HEADER)
}

/// The file's header, then the rest of the source. pcap-parser reads its
/// header with one read() and then reads once more before the first
/// record: that second read gets nothing (not an end, it only fills the
/// buffer), so opening a pipe never waits for the first packet.
struct HeaderFirst {
    header: std::io::Cursor<Vec<u8>>,
    paused: bool,
    rest: Box<dyn Read + Send>,
}

impl Read for HeaderFirst {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.header.read(buf)?;
        if n > 0 {
            return Ok(n);
        }
        if !self.paused {
            self.paused = true;
            return Ok(0);
        }
        self.rest.read(buf)
    }
}

fn describe(e: &PcapError<&[u8]>) -> String {
    match e {
        PcapError::NomError(_, kind) => format!("unparseable block: {}", kind.description()),
        PcapError::OwnedNomError(_, kind) => format!("unparseable block: {}", kind.description()),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Notes a header block in the table of sections (a legacy pcap file is
/// one section, its header the interface); false for any other block.
fn note_header(
    block: &PcapBlockOwned<'_>,
    offset: u64,
    sections: &mut Vec<Section>,
    legacy_nanos: &mut bool,
) -> bool {
    match block {
        PcapBlockOwned::LegacyHeader(h) => {
            *legacy_nanos = h.is_nanosecond_precision();
            sections.push(Section {
                start: offset,
                big_endian: h.is_bigendian(),
                interfaces: vec![Interface {
                    link: (h.network.0 as u32) & LINKTYPE_MASK,
                    units: if *legacy_nanos {
                        1_000_000_000
                    } else {
                        1_000_000
                    },
                    offset_secs: 0,
                }],
                snaplen: h.snaplen,
                plain_legacy: !h.is_modified_format(),
            });
        }
        // Interface numbers restart in every section.
        PcapBlockOwned::NG(Block::SectionHeader(shb)) => sections.push(Section {
            start: offset,
            big_endian: shb.big_endian(),
            interfaces: Vec::new(),
            snaplen: 0,
            plain_legacy: false,
        }),
        PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
            if let Some(s) = sections.last_mut() {
                s.interfaces.push(Interface {
                    link: (idb.linktype.0 as u32) & LINKTYPE_MASK,
                    units: ts_units(idb.if_tsresol),
                    offset_secs: idb.if_tsoffset,
                });
            }
        }
        _ => return false,
    }
    true
}

/// Turns a packet block into a record, read against its section's
/// interfaces; None for a block that is not a packet.
/// A legacy pcap record (its time in seconds and micro- or nanoseconds),
/// counted as the next frame, its time now the last one.
fn legacy_record<'a>(
    (secs, frac): (u32, u32),
    data: &'a [u8],
    orig_len: u32,
    offset: u64,
    link: u32,
    nanos: bool,
    (frame, last_ts): (&mut u64, &mut Timestamp),
) -> Record<'a> {
    *frame += 1;
    let nanos_per_unit = if nanos { 1 } else { 1000 };
    let ts = Timestamp::from_secs_nanos(i64::from(secs), i64::from(frac) * nanos_per_unit);
    *last_ts = ts;
    Record {
        frame: *frame,
        ts,
        link,
        data,
        orig_len,
        interface: 0,
        offset,
        rereadable: true,
    }
}

fn record<'a>(
    block: &'a PcapBlockOwned<'a>,
    offset: u64,
    interfaces: &[Interface],
    legacy_nanos: bool,
    frame: &mut u64,
    last_ts: &mut Timestamp,
) -> Option<Record<'a>> {
    match block {
        PcapBlockOwned::Legacy(b) => {
            let link = interfaces.first().map_or(UNKNOWN_INTERFACE, |i| i.link);
            let caplen = (b.caplen as usize).min(b.data.len());
            Some(legacy_record(
                (b.ts_sec, b.ts_usec),
                &b.data[..caplen],
                b.origlen,
                offset,
                link,
                legacy_nanos,
                (frame, last_ts),
            ))
        }
        PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
            *frame += 1;
            let iface = interfaces.get(epb.if_id as usize);
            let (link, ts) = match iface {
                Some(i) => {
                    let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                    (i.link, ticks_to_ts(ticks, i.units, i.offset_secs))
                }
                None => (UNKNOWN_INTERFACE, *last_ts),
            };
            *last_ts = ts;
            let caplen = (epb.caplen as usize).min(epb.data.len());
            Some(Record {
                frame: *frame,
                ts,
                link,
                data: &epb.data[..caplen],
                orig_len: epb.origlen,
                interface: epb.if_id,
                offset,
                rereadable: true,
            })
        }
        PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
            *frame += 1;
            // A simple packet has no timestamp: it keeps the previous one.
            let link = interfaces.first().map_or(UNKNOWN_INTERFACE, |i| i.link);
            let len = (spb.origlen as usize).min(spb.data.len());
            Some(Record {
                frame: *frame,
                ts: *last_ts,
                link,
                data: &spb.data[..len],
                orig_len: spb.origlen,
                interface: 0,
                offset,
                // Its time is the record's before it: not in the block.
                rereadable: false,
            })
        }
        _ => None,
    }
}

/// A section of the file: a pcapng section, or a legacy pcap file whole.
#[derive(Clone, Debug)]
struct Section {
    start: u64,
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// A legacy pcap's snap length (0 for pcapng).
    snaplen: u32,
    /// A legacy pcap in the standard record format (not the old
    /// "modified" one, whose record headers are longer).
    plain_legacy: bool,
}

/// A file's headers, as far as a read went ([`CaptureFile::layout`]).
#[derive(Clone, Debug)]
pub struct Layout {
    format: FileFormat,
    legacy_nanos: bool,
    sections: Vec<Section>,
}

impl Layout {
    /// The link type of the first interface described.
    pub fn first_link(&self) -> Option<u32> {
        self.sections
            .iter()
            .flat_map(|s| s.interfaces.iter())
            .map(|i| i.link)
            .next()
    }
}

/// Reads single records of a file again by where they begin
/// ([`Record::offset`]), as the first read found them: `replay` keeps
/// where a large capture's packets are rather than the packets.
pub struct Reread {
    name: String,
    file: File,
    format: FileFormat,
    legacy_nanos: bool,
    sections: Vec<Section>,
    /// The bytes last read, from `at` on.
    buf: Vec<u8>,
    at: u64,
}

/// How far a read of records goes ahead at most.
const WINDOW: usize = 1 << 20;

impl Reread {
    /// For a file read to its end (or as far as it goes) by `read`: what
    /// that read learned of its headers is what reading a record needs.
    pub fn new(path: &Path, read: Layout) -> Result<Reread, CaptureError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| CaptureError {
            file: name.clone(),
            problem: e.to_string().to_lowercase(),
        })?;
        Ok(Reread {
            name,
            file,
            format: read.format,
            legacy_nanos: read.legacy_nanos,
            sections: read.sections,
            buf: Vec::new(),
            at: 0,
        })
    }

    fn fail(&self, offset: u64, problem: impl Into<String>) -> CaptureError {
        CaptureError {
            file: self.name.clone(),
            problem: format!("at byte {offset}: {}", problem.into()),
        }
    }

    /// Where in `buf` the `len` bytes at `offset` are, read with what
    /// follows up to `reach` (at most `WINDOW` more) unless the last read
    /// has them already: the records of a connection that fills the file
    /// are read in large pieces, not one system call each.
    fn load(
        &mut self,
        offset: u64,
        len: usize,
        reach: u64,
    ) -> Result<std::ops::Range<usize>, CaptureError> {
        use std::os::unix::fs::FileExt;
        if len > MAX_RECORD {
            return Err(self.fail(offset, "a record is larger than 64 MiB"));
        }
        let end = offset + len as u64;
        let held = self.at <= offset && end <= self.at + self.buf.len() as u64;
        if !held {
            let want = reach.clamp(end, offset + WINDOW.max(len) as u64) - offset;
            self.buf.resize(want as usize, 0);
            let mut got = 0;
            while got < len {
                match self.file.read_at(&mut self.buf[got..], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.fail(offset, e.to_string().to_lowercase())),
                }
            }
            self.buf.truncate(got);
            self.at = offset;
            if got < len {
                return Err(self.fail(offset, "the file ends inside the record"));
            }
        }
        let from = (offset - self.at) as usize;
        Ok(from..from + len)
    }

    /// Hands `f` record number `frame`, whose block begins at `offset`;
    /// the caller will want the records up to `reach` soon (0: none).
    pub fn record_at<T>(
        &mut self,
        offset: u64,
        frame: u64,
        reach: u64,
        f: impl FnOnce(&Record<'_>) -> T,
    ) -> Result<T, CaptureError> {
        let Some(section) = self
            .sections
            .partition_point(|s| s.start <= offset)
            .checked_sub(1)
        else {
            return Err(self.fail(offset, "no file or section header before it"));
        };
        let big_endian = self.sections[section].big_endian;
        // First the header that says how long the record is.
        let (head, len_at) = match self.format {
            FileFormat::Pcap => (16, 8),
            FileFormat::PcapNg => (8, 4),
        };
        let at = self.load(offset, head, reach)?.start + len_at;
        let w = [
            self.buf[at],
            self.buf[at + 1],
            self.buf[at + 2],
            self.buf[at + 3],
        ];
        let stated = if big_endian {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        } as usize;
        let whole = match self.format {
            FileFormat::Pcap => 16 + stated,
            FileFormat::PcapNg => stated,
        };
        let range = self.load(offset, whole, reach)?;
        let bytes = &self.buf[range];
        let block = match self.format {
            FileFormat::Pcap if big_endian => pcap_parser::pcap::parse_pcap_frame_be(bytes)
                .map(|(_, b)| PcapBlockOwned::Legacy(b)),
            FileFormat::Pcap => {
                pcap_parser::pcap::parse_pcap_frame(bytes).map(|(_, b)| PcapBlockOwned::Legacy(b))
            }
            FileFormat::PcapNg if big_endian => {
                pcap_parser::pcapng::parse_block_be(bytes).map(|(_, b)| PcapBlockOwned::NG(b))
            }
            FileFormat::PcapNg => {
                pcap_parser::pcapng::parse_block_le(bytes).map(|(_, b)| PcapBlockOwned::NG(b))
            }
        };
        let problem = match block {
            Ok(block) => {
                let interfaces = &self.sections[section].interfaces;
                let (mut n, mut ts) = (frame.saturating_sub(1), Timestamp::default());
                match record(
                    &block,
                    offset,
                    interfaces,
                    self.legacy_nanos,
                    &mut n,
                    &mut ts,
                ) {
                    Some(rec) => return Ok(f(&rec)),
                    None => "not a packet record".to_string(),
                }
            }
            Err(pcap_parser::nom::Err::Error(e) | pcap_parser::nom::Err::Failure(e)) => {
                describe(&e)
            }
            Err(pcap_parser::nom::Err::Incomplete(_)) => "cut short".to_string(),
        };
        Err(self.fail(offset, problem))
    }

    /// The file's name, as errors give it.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// if_tsresol: high bit clear → 10^-n s, set → 2^-n s; default 10^-6.
fn ts_units(tsresol: u8) -> u64 {
    let n = u32::from(tsresol & 0x7f);
    let units = if tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n)
    };
    units.filter(|&u| u > 0).unwrap_or(1_000_000)
}

fn ticks_to_ts(ticks: u64, units: u64, offset_secs: i64) -> Timestamp {
    let secs = (ticks / units) as i64;
    let frac = u128::from(ticks % units) * 1_000_000_000 / u128::from(units);
    Timestamp::from_secs_nanos(secs.saturating_add(offset_secs), frac as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian microsecond pcap with the given raw-IP records.
    pub(crate) fn pcap_bytes(records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
        f.extend_from_slice(&2u16.to_le_bytes());
        f.extend_from_slice(&4u16.to_le_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&101u32.to_le_bytes());
        for (sec, usec, data) in records {
            f.extend_from_slice(&sec.to_le_bytes());
            f.extend_from_slice(&usec.to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(data);
        }
        f
    }

    /// (frame, nanoseconds, length) of every record, and how reading ended.
    type Read = (Vec<(u64, i64, usize)>, Ending);

    fn read_all(bytes: Vec<u8>) -> Result<Read, CaptureError> {
        let mut cf = CaptureFile::from_reader("t.pcap", std::io::Cursor::new(bytes))?;
        let mut out = Vec::new();
        let end = cf.for_each(|r| out.push((r.frame, r.ts.as_nanos(), r.data.len())))?;
        Ok((out, end))
    }

    #[test]
    fn reads_records_in_order() {
        let f = pcap_bytes(&[(10, 5, &[1, 2, 3]), (11, 0, &[4; 40])]);
        let (recs, end) = read_all(f).unwrap();
        assert_eq!(end, Ending::Complete);
        assert_eq!(recs, vec![(1, 10_000_005_000, 3), (2, 11_000_000_000, 40)]);
    }

    /// From a pipe: the file opens on its header alone, and each record
    /// is handed out as it comes, before the writer has written more.
    #[test]
    fn a_pipe_opens_on_its_header_and_gives_records_as_they_come() {
        use std::io::Write;
        let whole = pcap_bytes(&[(1, 0, &[7; 30]), (2, 0, &[8; 30])]);
        let (reader, mut writer) = std::io::pipe().unwrap();
        writer.write_all(&whole[..24]).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reading = std::thread::spawn(move || {
            let mut cf = CaptureFile::from_reader("pipe", reader).unwrap();
            tx.send(0).unwrap();
            cf.for_each(|r| tx.send(r.frame).unwrap()).unwrap()
        });
        let wait = std::time::Duration::from_secs(10);
        assert_eq!(rx.recv_timeout(wait), Ok(0), "opened on the header alone");
        writer.write_all(&whole[24..24 + 46]).unwrap();
        assert_eq!(
            rx.recv_timeout(wait),
            Ok(1),
            "the first record, the second not written"
        );
        writer.write_all(&whole[24 + 46..]).unwrap();
        assert_eq!(rx.recv_timeout(wait), Ok(2));
        drop(writer);
        assert_eq!(reading.join().unwrap(), Ending::Complete);
    }

    #[test]
    fn a_pcapng_section_header_is_read_whole_and_no_further() {
        let shb = |len: u32| {
            let mut b = vec![0x0a, 0x0d, 0x0d, 0x0a];
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&[0x4d, 0x3c, 0x2b, 0x1a]);
            b
        };
        assert_eq!(section_header_length(&shb(28)), Some(28));
        assert_eq!(section_header_length(&shb(27)), None, "not a multiple of 4");
        assert_eq!(
            section_header_length(&shb(12)),
            None,
            "shorter than the block"
        );
        assert_eq!(section_header_length(&shb(u32::MAX - 3)), None, "absurd");
        let mut big = shb(28);
        big[4..8].copy_from_slice(&28u32.to_be_bytes());
        big[8..12].copy_from_slice(&[0x1a, 0x2b, 0x3c, 0x4d]);
        assert_eq!(section_header_length(&big), Some(28), "big-endian");
    }

    #[test]
    fn truncated_last_record_keeps_the_ones_before() {
        let mut f = pcap_bytes(&[(1, 0, &[9; 20]), (2, 0, &[9; 20])]);
        f.truncate(f.len() - 7);
        let (recs, end) = read_all(f).unwrap();
        assert_eq!(recs.len(), 1);
        assert!(matches!(end, Ending::Truncated { .. }));
    }

    #[test]
    fn empty_and_foreign_files_are_named_errors() {
        let e = read_all(Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "t.pcap: empty file, not a capture");
        let e = read_all(b"<html><body>".to_vec()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.pcap: not a pcap or pcapng file"),
            "{e}"
        );
    }

    #[test]
    fn pcapng_resolutions() {
        assert_eq!(ts_units(6), 1_000_000);
        assert_eq!(ts_units(9), 1_000_000_000);
        assert_eq!(ts_units(0x80 | 10), 1024);
        assert_eq!(
            ticks_to_ts(1536, 1024, 5),
            Timestamp::from_secs_nanos(6, 500_000_000)
        );
    }
}
