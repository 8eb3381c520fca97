//! A large capture's connections for `replay`, kept as the few facts its
//! list needs and where their packets are in the file; each is rebuilt
//! from those packets when it is shown. A connection is only its own
//! segments and ICMP errors, taken in order, and how the tracker let it
//! go: the same again gives the same connection, so memory follows what
//! is on the screen, not the length of the capture.
//!
//! I/O edge: it reads the file (through `capture`).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::Path;

use rustc_hash::FxHashMap;

use crate::capture::{CaptureError, CaptureFile, Reread};
use crate::decode::Decoder;
use crate::leb128;
use crate::time::{Times, Timestamp};
use crate::track::{Connection, Details, Release, Summary, TrackConfig, Tracker};

use super::{Filter, Progress, ReadReport, apply, decode_with_payload, stream};

/// A connection's records, by where each begins in the file and its
/// number, as LEB128 steps from the one before (both only grow): two to
/// six bytes a record instead of sixteen.
#[derive(Clone, Debug, Default)]
struct Places {
    bytes: Vec<u8>,
    last: (u64, u64),
}

impl Places {
    fn push(&mut self, offset: u64, frame: u64) {
        let (o, f) = self.last;
        leb128::put(&mut self.bytes, frame.wrapping_sub(f));
        leb128::put(&mut self.bytes, offset.wrapping_sub(o));
        self.last = (offset, frame);
    }

    fn done(self) -> Box<[u8]> {
        self.bytes.into_boxed_slice()
    }
}

/// (offset, frame) of each record in `bytes` (as [`Places`] wrote them).
fn places(bytes: &[u8]) -> impl Iterator<Item = (u64, u64)> + '_ {
    let mut at = 0;
    let (mut offset, mut frame) = (0u64, 0u64);
    std::iter::from_fn(move || {
        let df = leb128::get(bytes, &mut at)?;
        let doff = leb128::get(bytes, &mut at)?;
        frame = frame.wrapping_add(df);
        offset = offset.wrapping_add(doff);
        Some((offset, frame))
    })
}

/// Records this close after one are read with it.
const NEAR: u64 = 4096;

/// One connection as kept.
#[derive(Debug)]
pub struct Kept {
    pub first_ts: Timestamp,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// What the TUI's filter asks of it (its states, flags, verdict).
    pub summary: Summary,
    how: How,
}

#[derive(Debug)]
enum How {
    /// Its records, in order, and how it was let go.
    Reread {
        places: Box<[u8]>,
        released: Release,
    },
    /// Held whole: a record of it cannot be read again alone (a packet
    /// reassembled from fragments, or a pcapng simple packet).
    Whole(Box<Connection>),
}

impl Kept {
    /// Held whole, not rebuilt.
    pub fn is_whole(&self) -> bool {
        matches!(self.how, How::Whole(_))
    }
}

/// Every connection of a capture, kept, with what the playback needs of
/// all of them at once.
pub struct KeptCapture {
    /// By connection id.
    pub kept: Vec<Kept>,
    /// Every segment's time, in order, for global steps (the playback
    /// takes them).
    pub times: Times,
    /// The last segment's or ICMP error's time.
    pub end: Timestamp,
    /// When the last TIME-WAIT runs out (at least `end`).
    pub horizon: Timestamp,
    reread: Reread,
    cfg: TrackConfig,
}

impl std::fmt::Debug for KeptCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeptCapture({} connections)", self.kept.len())
    }
}

impl KeptCapture {
    /// Connection `id` rebuilt from its records.
    pub fn rebuild(&mut self, id: usize) -> Result<Connection, CaptureError> {
        let Some(k) = self.kept.get(id) else {
            return Err(self.fail(format!("no connection {}", id + 1)));
        };
        let (at, released) = match &k.how {
            How::Whole(c) => return Ok((**c).clone()),
            How::Reread { places, released } => (places, *released),
        };
        let mut decoder = Decoder::default();
        let mut tracker = Tracker::new(TrackConfig {
            stream: false,
            ..self.cfg
        });
        let mut report = ReadReport::default();
        // Read ahead when the next record follows closely: a connection
        // that fills the file is read in large pieces, one spread over it
        // a record at a time.
        let mut all = places(at).peekable();
        while let Some((offset, frame)) = all.next() {
            let reach = match all.peek() {
                Some(&(next, _)) if next.saturating_sub(offset) <= NEAR => u64::MAX,
                _ => 0,
            };
            let keep_payload = self.cfg.keep_details;
            self.reread.record_at(offset, frame, reach, |rec| {
                let (packet, payload) = decode_with_payload(rec, &mut decoder, keep_payload);
                apply(
                    rec.ts,
                    rec.frame,
                    Some(&packet),
                    payload,
                    &Filter::default(),
                    &mut tracker,
                    &mut report,
                );
            })?;
        }
        let mut all = tracker.into_connections();
        // Its own records make one connection, as they did the first time.
        let (Some(mut c), true) = (all.pop(), all.is_empty()) else {
            return Err(self.fail(format!("connection {} did not read back as one", id + 1)));
        };
        c.id = id;
        c.release(released);
        c.compact();
        Ok(*c)
    }

    /// The frame numbers of connection `id`'s records, in order.
    pub fn frames(&self, id: usize) -> Vec<u64> {
        match self.kept.get(id).map(|k| &k.how) {
            Some(How::Reread { places: at, .. }) => places(at).map(|(_, f)| f).collect(),
            Some(How::Whole(c)) => c.frames(),
            None => Vec::new(),
        }
    }

    /// The whole header of connection `id`'s segment in record `frame`,
    /// read again from the file (a kept capture's connections are rebuilt
    /// without it).
    pub fn details(&mut self, id: usize, frame: u64) -> Option<Details> {
        let k = self.kept.get(id)?;
        let How::Reread { places: at, .. } = &k.how else {
            return None;
        };
        let (offset, _) = places(at).find(|&(_, f)| f == frame)?;
        self.reread
            .record_at(offset, frame, 0, |rec| {
                // One decode gives both (a kept record is never a fragment).
                let (packet, payload) =
                    Decoder::default().decode_payload(rec.link, rec.data, rec.orig_len, rec.ts);
                Some(Details::of(&packet.ok()?.tcp()?, payload))
            })
            .ok()?
    }

    fn fail(&self, problem: String) -> CaptureError {
        CaptureError {
            file: self.reread.name().to_string(),
            problem,
        }
    }
}

/// Captures from this size up are kept for `replay` ([`load_for_replay`]):
/// about 350 k packets of a typical capture, whose connections held whole
/// take some 150 MB.
pub const KEEP_ABOVE: u64 = 32 << 20;

/// A capture as `replay` holds it.
#[derive(Debug)]
pub enum ForReplay {
    Whole(Vec<Connection>),
    Kept(Box<KeptCapture>),
}

/// What `replay` reads: a capture of `keep_above` bytes or more in time
/// order is kept ([`keep_file`]), anything else analysed whole.
pub fn load_for_replay(
    path: &Path,
    filter: Filter,
    cfg: TrackConfig,
    keep_above: u64,
    progress: impl FnMut(Progress),
) -> Result<(ForReplay, ReadReport), CaptureError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    // Kept records are read again by offset: a plain file's only.
    let rereadable = size >= keep_above && CaptureFile::open(path)?.rereadable();
    if rereadable && super::in_time_order(path)? {
        // Headers are read again from the file when the pane shows one.
        let lean = TrackConfig {
            keep_details: false,
            ..cfg
        };
        let (kept, report) = keep_file(path, filter, lean, progress)?;
        return Ok((ForReplay::Kept(Box::new(kept)), report));
    }
    let (conns, report) = super::analyze_file_progress(path, filter, cfg, progress)?;
    Ok((ForReplay::Whole(conns), report))
}

/// Reads a capture in time order (`in_time_order`) for `replay`, keeping
/// each connection as [`Kept`]; `cfg` is what connections are rebuilt
/// with too.
pub fn keep_file(
    path: &Path,
    filter: Filter,
    cfg: TrackConfig,
    progress: impl FnMut(Progress),
) -> Result<(KeptCapture, ReadReport), CaptureError> {
    // Where each connection's records are, by id, until it is kept, and
    // whether each can be read again alone: filled as records join
    // connections, emptied as connections are kept. The segments' times
    // come from the records too: the tracker keeps no segments here.
    let refs: RefCell<FxHashMap<usize, (Places, bool)>> = RefCell::default();
    // In order: the file is.
    let mut times = Times::default();
    let mut end = None::<Timestamp>;
    // By id, filled in the order connections are let go: none waits for
    // one that began before it.
    let mut kept: Vec<Option<Kept>> = Vec::new();
    let mut horizon = None::<Timestamp>;
    // Connections with a record that cannot be read again alone: read a
    // second time, whole.
    let mut again: Vec<usize> = Vec::new();
    let mut keep = |c: Connection| {
        horizon = horizon.max(c.time_wait.iter().flatten().map(|tw| tw.expires).max());
        let (frames, alone) = refs.borrow_mut().remove(&c.id).unwrap_or_default();
        if !alone {
            again.push(c.id);
        }
        if kept.len() <= c.id {
            kept.resize_with(c.id + 1, || None);
        }
        kept[c.id] = Some(Kept {
            first_ts: c.first_ts,
            client: c.client,
            server: c.server,
            summary: c.summary(),
            how: How::Reread {
                places: frames.done(),
                released: c.released,
            },
        });
    };
    let cfg = TrackConfig {
        keep_segments: true,
        idle_timeout: None,
        ..cfg
    };
    let counting = TrackConfig {
        keep_segments: false,
        ..cfg
    };
    let (report, layout) = stream(
        path,
        filter.clone(),
        counting,
        progress,
        |c| keep(*c),
        |id, d| {
            if matches!(d.packet, Some(Ok(crate::decode::Packet::Tcp(_)))) {
                times.push(d.ts);
            }
            end = end.max(Some(d.ts));
            let mut r = refs.borrow_mut();
            let (places, alone) = r.entry(id).or_insert_with(|| (Places::default(), true));
            places.push(d.offset, d.frame);
            *alone &= d.rereadable;
        },
    )?;
    if !again.is_empty() {
        again.sort_unstable();
        let whole = |c: Box<Connection>| {
            if again.binary_search(&c.id).is_ok()
                && let Some(Some(k)) = kept.get_mut(c.id)
            {
                let mut c = c;
                c.compact();
                k.how = How::Whole(c);
            }
        };
        stream(path, filter, cfg, |_| {}, whole, |_, _| {})?;
    }
    let end = end.unwrap_or_default();
    // Every id was let go once, the last ones at the end.
    let ids = kept.len();
    let kept: Vec<Kept> = kept.into_iter().flatten().collect();
    if kept.len() != ids {
        return Err(CaptureError {
            file: path.display().to_string(),
            problem: format!("{} connection(s) were lost while reading", ids - kept.len()),
        });
    }
    Ok((
        KeptCapture {
            kept,
            times,
            end,
            horizon: horizon.unwrap_or(end).max(end),
            reread: Reread::new(path, layout)?,
            cfg,
        },
        report,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_come_back_as_written() {
        let written = [
            (24u64, 1u64),
            (90, 2),
            (200_000, 9),
            (5_000_000_000, 1 << 40),
            (5_000_000_001, (1 << 40) + 1),
        ];
        let mut p = Places::default();
        for (o, f) in written {
            p.push(o, f);
        }
        let bytes = p.done();
        assert!(
            bytes.len() < 16 * written.len() / 2,
            "{} bytes",
            bytes.len()
        );
        assert!(places(&bytes).eq(written.iter().copied()));
        assert_eq!(places(&[0x80]).count(), 0, "a step cut short ends the list");
    }
}
