//! Where a capture's bytes come from: a file, or standard input when the
//! name is `-` (tcpdump's `-r -`), either of them gzip, zstd or xz
//! compressed, as Wireshark opens them. Compression is told by the first
//! bytes, never by the name. Only a plain regular file can be read again
//! by offset (`Reread`); everything else is read once, front to back.
//!
//! A decompressor's error is noted where [`Opened::problem`] can tell it:
//! damaged compressed data is damage in the capture (everything before it
//! is still read), not a failure to read the file.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::CaptureError;

/// The name `-`: standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How a capture's bytes are packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Xz,
}

impl Compression {
    /// The format whose magic number `head` begins with.
    pub fn detect(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Compression::Zstd)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Some(Compression::Xz)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
        }
    }
}

/// What a decompressor said when it stopped, shared with the reader that
/// hands its bytes on.
pub type Problem = Arc<Mutex<Option<String>>>;

/// A capture's byte source, opened.
pub struct Opened {
    /// For messages: the path, or "standard input".
    pub name: String,
    pub reader: Box<dyn Read + Send>,
    pub compression: Option<Compression>,
    /// A plain regular file: its records can be read again by offset,
    /// and it can be read a second time.
    pub regular: bool,
    /// The decompressor's complaint, once it has one.
    pub problem: Problem,
    /// Bytes read from the file itself (before decompression), for
    /// progress against the file's size.
    pub raw: Arc<std::sync::atomic::AtomicU64>,
}

/// Opens `path` (`-`: standard input) and, if its content is compressed,
/// a decompressor over it.
pub fn open(path: &Path) -> Result<Opened, CaptureError> {
    let (name, source, regular): (String, Box<dyn Read + Send>, bool) = if is_stdin(path) {
        ("standard input".into(), Box::new(io::stdin()), false)
    } else {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| CaptureError {
            file: name.clone(),
            problem: e.to_string().to_lowercase(),
        })?;
        let meta = file.metadata().ok();
        if meta.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(CaptureError {
                file: name,
                problem: "is a directory, not a capture file".into(),
            });
        }
        let regular = meta.is_some_and(|m| m.is_file());
        (name, Box::new(file), regular)
    };
    wrap(name, source, regular)
}

/// Puts a decompressor over `source` when its first bytes call for one.
pub fn wrap(
    name: String,
    source: Box<dyn Read + Send>,
    regular: bool,
) -> Result<Opened, CaptureError> {
    let raw = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut source = Counted {
        inner: source,
        count: Arc::clone(&raw),
    };
    let mut head = [0u8; 6];
    let got = read_up_to(&mut source, &mut head).map_err(|e| CaptureError {
        file: name.clone(),
        problem: e.to_string().to_lowercase(),
    })?;
    let compression = Compression::detect(&head[..got]);
    let whole = io::Cursor::new(head[..got].to_vec()).chain(source);
    let problem: Problem = Arc::default();
    let reader: Box<dyn Read + Send> = match compression {
        None => Box::new(whole),
        Some(c) => Box::new(Noting {
            inner: decompressor(c, whole).map_err(|e| CaptureError {
                file: name.clone(),
                problem: format!("cannot start the {} decoder: {e}", c.name()),
            })?,
            kind: c,
            problem: Arc::clone(&problem),
        }),
    };
    Ok(Opened {
        name,
        reader,
        compression,
        regular: regular && compression.is_none(),
        problem,
        raw,
    })
}

fn decompressor(
    c: Compression,
    source: impl Read + Send + 'static,
) -> io::Result<Box<dyn Read + Send>> {
    Ok(match c {
        // Several gzip members one after another are one stream (`cat a.gz
        // b.gz`), as gzip -d reads them.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(source)),
        Compression::Zstd => Box::new(ZstdFrames::new(source)),
        Compression::Xz => Box::new(XzStreams::new(source)?),
    })
}

/// xz streams one after another, decoded with liblzma's own stream.
/// Not liblzma's `read::XzDecoder`: a call that meets damage returns the
/// error and drops what it decoded before it, up to a whole buffer of
/// records. Here that call hands those bytes out and the next one fails.
struct XzStreams<R: Read> {
    source: io::BufReader<R>,
    stream: liblzma::stream::Stream,
    /// The error met after what the last call handed out.
    failed: Option<liblzma::stream::Error>,
}

impl<R: Read> XzStreams<R> {
    fn new(source: R) -> io::Result<Self> {
        Ok(XzStreams {
            source: io::BufReader::new(source),
            // As `new_multi_decoder` makes it: no memory limit, concatenated
            // streams read as one.
            stream: liblzma::stream::Stream::new_auto_decoder(
                u64::MAX,
                liblzma::stream::CONCATENATED,
            )?,
            failed: None,
        })
    }
}

impl<R: Read> Read for XzStreams<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use io::BufRead;
        use liblzma::stream::{Action, Status};
        if let Some(e) = self.failed.take() {
            return Err(e.into());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let input = self.source.fill_buf()?;
            let eof = input.is_empty();
            let (in_before, out_before) = (self.stream.total_in(), self.stream.total_out());
            let action = if eof { Action::Finish } else { Action::Run };
            let status = self.stream.process(input, buf, action);
            let made = (self.stream.total_out() - out_before) as usize;
            let used = (self.stream.total_in() - in_before) as usize;
            self.source.consume(used);
            match status {
                Err(e) if made > 0 => {
                    self.failed = Some(e);
                    return Ok(made);
                }
                Err(e) => return Err(e.into()),
                Ok(Status::StreamEnd) => return Ok(made),
                Ok(_) if made > 0 => return Ok(made),
                Ok(_) if eof => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) if used == 0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "corrupt xz stream",
                    ));
                }
                Ok(_) => {}
            }
        }
    }
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Notes a decompressor's error before handing it on (pcap-parser keeps
/// only that a read failed, not why).
struct Noting {
    inner: Box<dyn Read + Send>,
    kind: Compression,
    problem: Problem,
}

impl Read for Noting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if let Ok(mut p) = self.problem.lock() {
                let what = match e.kind() {
                    io::ErrorKind::UnexpectedEof => "the compressed data ends early".to_string(),
                    _ => e.to_string(),
                };
                *p = Some(format!("{} data: {what}", self.kind.name()));
            }
        })
    }
}

/// zstd frames one after another (`zstd` writes one, `cat` of two files
/// makes two), each decoded in turn; skippable frames are passed over.
struct ZstdFrames<R: Read> {
    source: Pushback<R>,
    decoder: ruzstd::decoding::FrameDecoder,
    /// A frame is being decoded.
    in_frame: bool,
}

impl<R: Read> ZstdFrames<R> {
    fn new(source: R) -> Self {
        ZstdFrames {
            source: Pushback {
                first: None,
                inner: source,
            },
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Starts the next frame; false at the end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        loop {
            let mut one = [0u8; 1];
            if read_up_to(&mut self.source.inner, &mut one)? == 0 {
                return Ok(false);
            }
            self.source.first = Some(one[0]);
            match self.decoder.init(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped = io::copy(
                        &mut (&mut self.source).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                    if skipped < u64::from(length) {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }
}

/// ruzstd's errors, with a cut-short input said plainly (its message
/// then is a debug dump of the I/O error inside).
fn zstd_error(e: impl std::fmt::Display + std::fmt::Debug) -> io::Error {
    if format!("{e:?}").contains("UnexpectedEof") {
        io::ErrorKind::UnexpectedEof.into()
    } else {
        io::Error::new(io::ErrorKind::InvalidData, e.to_string())
    }
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(zstd_error)?;
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // This frame is done: another may follow.
            self.in_frame = false;
            if let (Some(said), Some(made)) = (
                self.decoder.get_checksum_from_data(),
                self.decoder.get_calculated_checksum(),
            ) && said != made
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a frame's checksum does not match its content",
                ));
            }
        }
    }
}

/// A reader with one byte put back in front.
struct Pushback<R> {
    first: Option<u8>,
    inner: R,
}

impl<R: Read> Read for Pushback<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.first.take(), buf.first_mut()) {
            (Some(b), Some(slot)) => {
                *slot = b;
                Ok(1)
            }
            (first, _) => {
                self.first = first;
                self.inner.read(buf)
            }
        }
    }
}

/// Reads until `buf` is full or the source ends.
pub fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sample() -> Vec<u8> {
        // Not compressible to nothing, long enough for several blocks.
        (0u32..200_000)
            .flat_map(|n| n.wrapping_mul(2_654_435_761).to_le_bytes())
            .collect()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn xz(data: &[u8]) -> Vec<u8> {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn read_all(bytes: Vec<u8>) -> (Option<Compression>, io::Result<Vec<u8>>) {
        let mut o = wrap("t".into(), Box::new(io::Cursor::new(bytes)), false).unwrap();
        let mut out = Vec::new();
        let r = o.reader.read_to_end(&mut out).map(|_| out);
        (o.compression, r)
    }

    #[test]
    fn each_format_is_told_by_content_and_decoded() {
        let data = sample();
        for (packed, want) in [
            (gzip(&data), Compression::Gzip),
            (xz(&data), Compression::Xz),
            (zstd(&data), Compression::Zstd),
        ] {
            let (c, out) = read_all(packed);
            assert_eq!(c, Some(want));
            assert!(out.unwrap() == data, "{want:?} decodes to the original");
        }
        let (c, out) = read_all(data.clone());
        assert_eq!(c, None);
        assert!(out.unwrap() == data, "plain bytes pass through");
    }

    #[test]
    fn streams_one_after_another_are_one() {
        let (a, b) = (sample(), b"and then some".to_vec());
        let whole = [a.clone(), b.clone()].concat();
        for join in [
            [gzip(&a), gzip(&b)].concat(),
            [xz(&a), xz(&b)].concat(),
            [zstd(&a), zstd(&b)].concat(),
        ] {
            assert!(read_all(join).1.unwrap() == whole);
        }
        // A skippable zstd frame between two is passed over.
        let skip = [&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0][..], b"xyz"].concat();
        let join = [zstd(&a), skip, zstd(&b)].concat();
        assert!(read_all(join).1.unwrap() == whole);
    }

    #[test]
    fn cut_short_or_damaged_data_is_an_error_after_what_came_before() {
        let data = sample();
        for packed in [gzip(&data), xz(&data), zstd(&data)] {
            let mut o = wrap(
                "t".into(),
                Box::new(io::Cursor::new(packed[..packed.len() / 2].to_vec())),
                false,
            )
            .unwrap();
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            let err = loop {
                match o.reader.read(&mut buf) {
                    Ok(0) => panic!("{:?}: a cut-short stream ended cleanly", o.compression),
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(e) => break e,
                }
            };
            assert!(
                data.starts_with(&out),
                "what came first is the original's start"
            );
            let noted = o.problem.lock().unwrap().clone().unwrap();
            assert!(noted.ends_with("the compressed data ends early"), "{noted}");
            assert!(err.kind() == io::ErrorKind::UnexpectedEof, "{err}");
        }
        // A flipped byte in the middle: the checksum (or the decoder) sees it.
        for mut packed in [gzip(&data), xz(&data), zstd(&data)] {
            let mid = packed.len() / 2;
            packed[mid] ^= 0x55;
            assert!(read_all(packed).1.is_err());
        }
    }

    /// What a damaged stream gives before its error, read `size` bytes a call.
    fn before_error(packed: &[u8], size: usize) -> Vec<u8> {
        let mut o = wrap(
            "t".into(),
            Box::new(io::Cursor::new(packed.to_vec())),
            false,
        )
        .unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; size];
        loop {
            match o.reader.read(&mut buf) {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn what_came_before_the_damage_does_not_depend_on_the_read_size() {
        // Found by the fuzz harness: liblzma's reader dropped what it had
        // decoded in the call that met the damage, so a capture read with
        // a large buffer (pcap-parser's is 1 MiB) lost records before it.
        let data = sample();
        for (name, mut packed) in [
            ("gzip", gzip(&data)),
            ("xz", xz(&data)),
            ("zstd", zstd(&data)),
        ] {
            let at = packed.len() * 3 / 4;
            packed[at] ^= 0x55;
            let small = before_error(&packed, 512);
            let large = before_error(&packed, 1 << 20);
            // Not necessarily the original's bytes: deflate decodes damage
            // as data until its end's checksum.
            assert!(
                large.starts_with(&small),
                "{name}: {} bytes read 1 MiB at a time, {} read 512 at a time",
                large.len(),
                small.len()
            );
        }
    }
}
