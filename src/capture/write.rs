//! Writing captures: records out as pcap or pcapng, exactly as they were
//! read (time, link type, bytes, original length), so a saved file opens
//! in Wireshark and tcpdump and replays the same in tcpladder. Times are
//! written in nanoseconds (pcap's nanosecond magic; pcapng's `if_tsresol`
//! 9), which keeps any source's exactly; pcapng gets one interface a link
//! type.
//!
//! `copy_frames` is how a part of a capture is saved (the TUI's `w`,
//! `export --format pcap`): the source is read once more, front to back,
//! and the records asked for are written in their order.

use std::io::{self, Write};
use std::path::Path;

use super::{CaptureError, CaptureFile, FileFormat, Record};

/// Its snapshot length, as tcpdump writes it.
const SNAPLEN: u32 = 262_144;

/// A capture being written.
pub struct CaptureWriter<W: Write> {
    out: W,
    kind: Kind,
    /// Bytes written so far: whole records only, once a call returns.
    written: u64,
}

enum Kind {
    /// A pcap whose header waits for the first record's link type.
    Pending,
    /// Nanoseconds, which keep any source's times exactly.
    Pcap { link: u32 },
    /// The link types its interfaces were declared with, by index.
    PcapNg { interfaces: Vec<u32> },
}

impl<W: Write> CaptureWriter<W> {
    /// A nanosecond pcap of the first record's link type, its header
    /// written with that record.
    pub fn pending(out: W) -> Self {
        CaptureWriter {
            out,
            kind: Kind::Pending,
            written: 0,
        }
    }

    /// A pcapng file: its section header now, an interface for each link
    /// type as records of it come.
    pub fn pcapng(mut out: W) -> io::Result<Self> {
        let mut b = Vec::with_capacity(28);
        b.extend_from_slice(&0x0a0d_0d0au32.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        // Section length unknown.
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        b.extend_from_slice(&28u32.to_le_bytes());
        out.write_all(&b)?;
        Ok(CaptureWriter {
            out,
            kind: Kind::PcapNg {
                interfaces: Vec::new(),
            },
            written: b.len() as u64,
        })
    }

    /// One record. A pcap takes records of its own link type only.
    pub fn write(&mut self, rec: &Record<'_>) -> io::Result<()> {
        let mut b = Vec::with_capacity(rec.data.len() + 60);
        if let Kind::Pending = self.kind {
            b.extend_from_slice(&pcap_header(rec.link));
            self.kind = Kind::Pcap { link: rec.link };
        }
        let ns = rec.ts.as_nanos();
        let caplen = u32::try_from(rec.data.len()).unwrap_or(u32::MAX);
        match &mut self.kind {
            // Made a pcap above.
            Kind::Pending => {}
            Kind::Pcap { link } => {
                if rec.link != *link {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "a pcap file holds one link type ({link}), not also {}",
                            rec.link
                        ),
                    ));
                }
                let (secs, sub) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
                b.extend_from_slice(&(secs as u32).to_le_bytes());
                b.extend_from_slice(&(sub as u32).to_le_bytes());
                b.extend_from_slice(&caplen.to_le_bytes());
                b.extend_from_slice(&rec.orig_len.to_le_bytes());
                b.extend_from_slice(rec.data);
            }
            Kind::PcapNg { interfaces } => {
                let index = match interfaces.iter().position(|&l| l == rec.link) {
                    Some(i) => i,
                    None => {
                        interfaces.push(rec.link);
                        b.extend_from_slice(&interface_block(rec.link));
                        interfaces.len() - 1
                    }
                };
                let pad = (4 - rec.data.len() % 4) % 4;
                let len = 32 + rec.data.len() + pad;
                let t = ns as u64;
                b.extend_from_slice(&6u32.to_le_bytes());
                b.extend_from_slice(&(len as u32).to_le_bytes());
                b.extend_from_slice(&(index as u32).to_le_bytes());
                b.extend_from_slice(&((t >> 32) as u32).to_le_bytes());
                b.extend_from_slice(&(t as u32).to_le_bytes());
                b.extend_from_slice(&caplen.to_le_bytes());
                b.extend_from_slice(&rec.orig_len.to_le_bytes());
                b.extend_from_slice(rec.data);
                b.extend_from_slice(&[0; 3][..pad]);
                b.extend_from_slice(&(len as u32).to_le_bytes());
            }
        }
        self.out.write_all(&b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    /// Writes what a file needs though no record came (a pcap's header,
    /// with `link`), and flushes.
    pub fn finish(&mut self, link: u32) -> io::Result<()> {
        if let Kind::Pending = self.kind {
            let h = pcap_header(link);
            self.out.write_all(&h)?;
            self.written += h.len() as u64;
            self.kind = Kind::Pcap { link };
        }
        self.out.flush()
    }

    /// Bytes of whole blocks written.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A little-endian, nanosecond pcap file header.
fn pcap_header(link: u32) -> Vec<u8> {
    // The nanosecond magic.
    let magic: u32 = 0xa1b2_3c4d;
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&magic.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&SNAPLEN.to_le_bytes());
    h.extend_from_slice(&link.to_le_bytes());
    h
}

/// A pcapng interface description of `link`, in nanoseconds.
fn interface_block(link: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(32);
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&32u32.to_le_bytes());
    b.extend_from_slice(&(link as u16).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&SNAPLEN.to_le_bytes());
    // if_tsresol = 9: nanoseconds; then the end of options.
    b.extend_from_slice(&9u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&[9, 0, 0, 0]);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&32u32.to_le_bytes());
    b
}

/// Writes the records of `from` that `keep` takes (by frame number) to
/// `out`, in their order, and returns the format written and how many.
/// `want` pcap gives pcap when the records share one link type (a pcapng
/// source is read once more to know), pcapng otherwise. A damaged source
/// gives what came before the damage.
pub fn copy_frames(
    from: &Path,
    keep: impl Fn(u64) -> bool,
    want: FileFormat,
    out: impl Write,
) -> Result<(FileFormat, u64), CaptureError> {
    let format = match want {
        FileFormat::PcapNg => FileFormat::PcapNg,
        FileFormat::Pcap => {
            let mut file = CaptureFile::open(from)?;
            match file.format() {
                FileFormat::Pcap => FileFormat::Pcap,
                FileFormat::PcapNg => {
                    let mut links = Vec::new();
                    file.for_each(|rec| {
                        if keep(rec.frame) && !links.contains(&rec.link) {
                            links.push(rec.link);
                        }
                    })?;
                    if links.len() <= 1 {
                        FileFormat::Pcap
                    } else {
                        FileFormat::PcapNg
                    }
                }
            }
        }
    };
    let mut file = CaptureFile::open(from)?;
    let name = file.name().to_string();
    let fail = |e: io::Error| CaptureError {
        file: name.clone(),
        problem: format!("cannot write the copy: {e}"),
    };
    let mut writer = match format {
        FileFormat::PcapNg => CaptureWriter::pcapng(out).map_err(fail)?,
        // Its link type is the first record's.
        FileFormat::Pcap => CaptureWriter::pending(out),
    };
    let mut n = 0u64;
    let mut failed = None;
    file.for_each(|rec| {
        if !keep(rec.frame) || failed.is_some() {
            return;
        }
        match writer.write(rec) {
            Ok(()) => n += 1,
            Err(e) => failed = Some(e),
        }
    })?;
    if let Some(e) = failed {
        return Err(fail(e));
    }
    // Nothing matched: still a valid, empty capture of the file's link type.
    writer
        .finish(file.layout().first_link().unwrap_or(1))
        .map_err(fail)?;
    Ok((format, n))
}
