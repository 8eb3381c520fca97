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

use crate::capture::{CaptureError, Reread};
use crate::decode::Decoder;
use crate::time::Timestamp;
use crate::track::{Connection, Release, TrackConfig, Tracker};

use super::{Filter, InOrder, Progress, ReadReport, apply, decode_record, stream};

/// A record of the file, by where it begins and its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FrameRef {
    offset: u64,
    frame: u64,
}

/// One connection as kept.
#[derive(Debug)]
pub struct Kept {
    pub first_ts: Timestamp,
    pub client: SocketAddr,
    pub server: SocketAddr,
    how: How,
}

#[derive(Debug)]
enum How {
    /// Its records, in order, and how it was let go.
    Reread {
        frames: Box<[FrameRef]>,
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
    pub times: Vec<Timestamp>,
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
            return Err(CaptureError {
                file: String::new(),
                problem: format!("no connection {}", id + 1),
            });
        };
        let (frames, released) = match &k.how {
            How::Whole(c) => return Ok((**c).clone()),
            How::Reread { frames, released } => (frames, *released),
        };
        let mut decoder = Decoder::default();
        let mut tracker = Tracker::new(TrackConfig {
            stream: false,
            ..self.cfg
        });
        let mut report = ReadReport::default();
        for f in frames.iter() {
            self.reread.record_at(f.offset, f.frame, |rec| {
                let packet = decode_record(rec, &mut decoder);
                apply(
                    rec.ts,
                    rec.frame,
                    &packet,
                    Filter::default(),
                    &mut tracker,
                    &mut report,
                );
            })?;
        }
        let mut all = tracker.into_connections();
        // Its own records make one connection, as they did the first time.
        let (Some(mut c), true) = (all.pop(), all.is_empty()) else {
            return Err(CaptureError {
                file: String::new(),
                problem: format!("connection {} did not read back as one", id + 1),
            });
        };
        c.id = id;
        c.release(released);
        c.compact();
        Ok(*c)
    }
}

/// Captures from this size up are kept for `replay` ([`load_for_replay`]):
/// about 350 k packets of a typical capture, whose connections held whole
/// take some 150 MB.
pub const KEEP_ABOVE: u64 = 32 << 20;

/// What `replay` reads: a capture of `keep_above` bytes or more in time
/// order is kept ([`keep_file`]), anything else analysed whole; the
/// connections (empty when kept), the kept capture, and the report.
pub fn load_for_replay(
    path: &Path,
    filter: Filter,
    cfg: TrackConfig,
    keep_above: u64,
    progress: impl FnMut(Progress),
) -> Result<(Vec<Connection>, Option<KeptCapture>, ReadReport), CaptureError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size >= keep_above && super::in_time_order(path)? {
        let (kept, report) = keep_file(path, filter, cfg, progress)?;
        return Ok((Vec::new(), Some(kept), report));
    }
    let (conns, report) = super::analyze_file_progress(path, filter, cfg, progress)?;
    Ok((conns, None, report))
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
    // connections, emptied as connections are kept.
    let refs: RefCell<(Vec<Vec<FrameRef>>, Vec<bool>)> = RefCell::default();
    let mut kept: Vec<Kept> = Vec::new();
    let mut times: Vec<Timestamp> = Vec::new();
    let (mut end, mut horizon) = (None::<Timestamp>, None::<Timestamp>);
    let mut order = InOrder::default();
    let mut keep = |mut c: Connection| {
        times.extend(c.segments.iter().map(|s| s.ts));
        let last = c
            .icmp
            .iter()
            .map(|i| i.ts)
            .chain(c.segments.last().map(|s| s.ts))
            .max();
        end = end.max(last);
        horizon = horizon.max(c.time_wait.iter().flatten().map(|tw| tw.expires).max());
        let (frames, alone) = {
            let mut r = refs.borrow_mut();
            let frames = r.0.get_mut(c.id).map(std::mem::take).unwrap_or_default();
            (frames, r.1.get(c.id).copied().unwrap_or(false))
        };
        let (first_ts, client, server) = (c.first_ts, c.client, c.server);
        let how = if alone {
            How::Reread {
                frames: frames.into_boxed_slice(),
                released: c.released,
            }
        } else {
            c.compact();
            How::Whole(Box::new(c))
        };
        kept.push(Kept {
            first_ts,
            client,
            server,
            how,
        });
    };
    let cfg = TrackConfig {
        keep_segments: true,
        idle_timeout: None,
        ..cfg
    };
    let (report, layout) = stream(
        path,
        filter,
        cfg,
        progress,
        |c| order.put(c, &mut keep),
        |id, d| {
            let mut r = refs.borrow_mut();
            let (frames, alone) = &mut *r;
            if frames.len() <= id {
                frames.resize_with(id + 1, Vec::new);
                alone.resize(id + 1, true);
            }
            frames[id].push(FrameRef {
                offset: d.offset,
                frame: d.frame,
            });
            alone[id] &= d.rereadable;
        },
    )?;
    times.sort_unstable();
    let end = end.unwrap_or_default();
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
