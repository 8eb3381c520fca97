//! Runs a capture file through decode and track. This is glue at the I/O
//! edge: it opens the file (through `capture`) and feeds the pure stages.

use std::collections::BTreeMap;
use std::path::Path;

use crate::capture::{CaptureError, CaptureFile, Ending, Record, UNKNOWN_INTERFACE};
use crate::decode::{self, DecodeError, Layer, Skip, SkipKind};
use crate::time::Timestamp;
use crate::track::{Connection, TrackConfig, Tracker};

/// Which segments to follow.
#[derive(Clone, Copy, Debug, Default)]
pub struct Filter {
    /// Keep segments with this port on either end.
    pub port: Option<u16>,
}

impl Filter {
    fn keeps(&self, seg: &decode::Segment) -> bool {
        self.port
            .is_none_or(|p| seg.src.port() == p || seg.dst.port() == p)
    }
}

/// What reading the file itself showed, apart from the connections.
#[derive(Clone, Debug, Default)]
pub struct ReadReport {
    pub file: String,
    pub packets: u64,
    pub tcp_segments: u64,
    /// TCP segments left out by the filter.
    pub filtered_out: u64,
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
        if let Some(msg) = self.ending.as_ref().and_then(|e| e.warning(&self.file)) {
            w.push(msg);
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
        w
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
    analyze_capture(CaptureFile::open(path)?, filter, cfg)
}

/// Like [`analyze_file`], for a capture already open (the sample built into
/// the binary, say).
pub fn analyze_capture(
    mut file: CaptureFile,
    filter: Filter,
    cfg: TrackConfig,
) -> Result<(Vec<Connection>, ReadReport), CaptureError> {
    let mut tracker = Tracker::new(TrackConfig {
        stream: false,
        ..cfg
    });
    // Not streaming: connections replaced by a new incarnation stay in the
    // tracker, and `finish` returns them all in order.
    let report = run(&mut file, filter, &mut tracker, |_| {})?;
    let end = report.last_ts.unwrap_or_default();
    Ok((tracker.finish(end), report))
}

/// Streams a file: each connection is handed to `done` once it is over and
/// then freed, so memory follows the connections open at once.
pub fn stream_file(
    path: &Path,
    filter: Filter,
    cfg: TrackConfig,
    mut done: impl FnMut(Connection),
) -> Result<ReadReport, CaptureError> {
    let mut file = CaptureFile::open(path)?;
    let mut tracker = Tracker::new(TrackConfig {
        stream: true,
        ..cfg
    });
    let report = run(&mut file, filter, &mut tracker, &mut done)?;
    let end = report.last_ts.unwrap_or_default();
    for c in tracker.finish(end) {
        done(c);
    }
    Ok(report)
}

fn run(
    file: &mut CaptureFile,
    filter: Filter,
    tracker: &mut Tracker,
    mut done: impl FnMut(Connection),
) -> Result<ReadReport, CaptureError> {
    let mut report = ReadReport {
        file: file.name().to_string(),
        ..ReadReport::default()
    };
    let ending = file.for_each(|rec| {
        feed(rec, filter, tracker, &mut report);
        if tracker.config().stream && tracker.has_done() {
            for c in tracker.take_done() {
                done(c);
            }
        }
    })?;
    report.ending = Some(ending);
    Ok(report)
}

/// One record through decode and track.
pub fn feed(rec: &Record<'_>, filter: Filter, tracker: &mut Tracker, report: &mut ReadReport) {
    report.packets += 1;
    report.note_time(rec.ts);
    let decoded = if rec.link == UNKNOWN_INTERFACE {
        Err(Skip::Malformed(DecodeError::new(
            Layer::Link,
            0,
            format!(
                "interface {} was never described in the file",
                rec.interface
            ),
        )))
    } else {
        decode::decode_frame(rec.link, rec.data, rec.orig_len)
    };
    match decoded {
        Ok(seg) => {
            report.tcp_segments += 1;
            if filter.keeps(&seg) {
                tracker.push(&seg, rec.ts, rec.frame);
            } else {
                report.filtered_out += 1;
            }
        }
        Err(skip) => {
            *report.skipped.entry(skip.kind()).or_default() += 1;
            match skip {
                Skip::UnsupportedLink(l) => *report.unsupported_links.entry(l).or_default() += 1,
                Skip::Malformed(e) if report.first_undecodable.is_none() => {
                    report.first_undecodable = Some((rec.frame, e));
                }
                _ => {}
            }
        }
    }
}
