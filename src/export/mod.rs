//! Renderers of the ladder model and of connection summaries. They only
//! read the model; no layout decision is made twice.

pub mod json;
pub mod mermaid;
pub mod ordered;
pub mod png;
pub mod save;
pub mod screen;
pub mod stream;
pub mod svg;
pub mod text;

use std::path::Path;

use crate::ladder::diagram::{self, Placement};
use crate::ladder::{Call, LabelStyle, Ladder};
use crate::time::Span;
use crate::track::Connection;

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Svg,
    Png,
    Txt,
    Md,
    /// The connection's own packets, copied from the capture
    /// ([`frames`] says which).
    Pcap,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Png => "png",
            Format::Txt => "txt",
            Format::Md => "md",
            Format::Pcap => "pcap",
        }
    }

    /// From a file name's extension.
    pub fn from_path(p: &Path) -> Option<Format> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "svg" => Some(Format::Svg),
            "png" => Some(Format::Png),
            "txt" | "text" => Some(Format::Txt),
            "md" | "markdown" | "mmd" => Some(Format::Md),
            "pcap" | "pcapng" | "cap" => Some(Format::Pcap),
            _ => None,
        }
    }
}

/// Where a cut starts or ends: a segment number (1-based) or a time in
/// milliseconds since the connection's first segment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    Segment(usize),
    Millis(f64),
}

impl std::str::FromStr for Bound {
    type Err = String;
    /// "3" is segment 3; "1.5ms", "250us", "2s" are times.
    fn from_str(s: &str) -> Result<Bound, String> {
        let s = s.trim();
        let time = |num: &str, scale: f64| {
            num.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| Bound::Millis(v * scale))
                .ok_or_else(|| format!("'{s}' is not a time"))
        };
        if let Some(n) = s.strip_suffix("ms") {
            time(n, 1.0)
        } else if let Some(n) = s.strip_suffix("us").or_else(|| s.strip_suffix("µs")) {
            time(n, 1e-3)
        } else if let Some(n) = s.strip_suffix('s') {
            time(n, 1e3)
        } else {
            match s.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(Bound::Segment(n)),
                _ => Err(format!(
                    "'{s}' is neither a segment number (1, 2, …) nor a time (1.5ms, 250us, 2s)"
                )),
            }
        }
    }
}

/// Everything an export needs besides the connection.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    pub format: Format,
    pub dark: bool,
    pub absolute_seq: bool,
    pub redact: bool,
    pub title: Option<String>,
    pub scale: f32,
    pub flat: bool,
    pub from: Option<Bound>,
    pub to: Option<Bound>,
    pub ascii: bool,
    pub msl: Span,
    /// What PNG text is drawn with (`--font`).
    pub fonts: png::Fonts,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            format: Format::Svg,
            dark: false,
            absolute_seq: false,
            redact: false,
            title: None,
            scale: 2.0,
            flat: false,
            from: None,
            to: None,
            ascii: false,
            msl: crate::track::DEFAULT_MSL,
            fonts: png::Fonts::default(),
        }
    }
}

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Range(String),
    #[error(transparent)]
    Png(#[from] png::PngError),
    #[error("pcap is not drawn: its packets are copied from the capture")]
    NotDrawn,
    #[error(
        "the connection has {0} segments; a picture holds at most 20000: draw a part with --from/--to"
    )]
    TooLong(usize),
}

/// Row indices a cut keeps.
fn window(l: &Ladder, from: Option<Bound>, to: Option<Bound>) -> Result<(usize, usize), String> {
    let n = l.rows.len();
    if n == 0 {
        return Err("the connection has no segments".into());
    }
    let pos = |b: Bound, start: bool| -> Result<usize, String> {
        match b {
            Bound::Segment(k) if (1..=n).contains(&k) => Ok(k - 1),
            Bound::Segment(k) => Err(format!(
                "segment {k} is out of range (the connection has segments 1 to {n})"
            )),
            Bound::Millis(ms) => {
                let first_after = l.rows.iter().position(|r| r.offset.as_millis_f64() >= ms);
                if start {
                    first_after.ok_or_else(|| {
                        format!(
                            "no segment at or after {ms} ms (the last is at {:.3} ms)",
                            l.rows[n - 1].offset.as_millis_f64()
                        )
                    })
                } else {
                    let upto = l.rows.iter().rposition(|r| r.offset.as_millis_f64() <= ms);
                    upto.ok_or_else(|| format!("no segment at or before {ms} ms"))
                }
            }
        }
    };
    let a = from.map_or(Ok(0), |b| pos(b, true))?;
    let b = to.map_or(Ok(n - 1), |b| pos(b, false))?;
    if a > b {
        return Err(format!(
            "--from is after --to: the window keeps segments {} to {}",
            a + 1,
            b + 1
        ));
    }
    Ok((a, b))
}

/// The ladder an export draws: built, cut, redacted.
pub fn ladder_for(c: &Connection, o: &ExportOptions) -> Result<(Ladder, Placement), ExportError> {
    ladder_with_calls(c, &[], o)
}

/// The ladder an export draws, with the programs' socket calls placed on
/// it (before the cut, which keeps the calls among the rows it keeps).
pub fn ladder_with_calls(
    c: &Connection,
    calls: &[Call],
    o: &ExportOptions,
) -> Result<(Ladder, Placement), ExportError> {
    let style = LabelStyle {
        absolute: o.absolute_seq,
    };
    let mut full = Ladder::build(c, o.msl, style);
    let placement = Placement::estimate(&full);
    if !calls.is_empty() {
        full = full.with_calls(calls, &placement);
    }
    let (a, b) = window(&full, o.from, o.to).map_err(ExportError::Range)?;
    let mut l = if a == 0 && b + 1 >= full.rows.len() {
        full
    } else {
        full.cut(a, b)
    };
    if o.redact {
        l.redact();
    }
    Ok((l, placement))
}

/// The frame numbers of the records behind what an export of `c` would
/// draw (`--from`/`--to` cut it; uncut, its ICMP errors too), in order:
/// what `--format pcap` copies from the capture.
pub fn frames(c: &Connection, o: &ExportOptions) -> Result<Vec<u64>, ExportError> {
    if o.from.is_none() && o.to.is_none() {
        return Ok(c.frames());
    }
    // The rows the cut keeps, in capture order.
    let (l, _) = ladder_with_calls(c, &[], o)?;
    Ok(l.rows.iter().map(|r| r.frame).collect())
}

/// Segments a picture (SVG, PNG) holds at most: more is metres of paper,
/// and minutes and gigabytes to draw.
pub const PICTURE_ROWS: usize = 20_000;

/// Renders one connection in the chosen format.
pub fn render(c: &Connection, o: &ExportOptions) -> Result<Vec<u8>, ExportError> {
    render_with_calls(c, &[], o)
}

/// Renders one connection with its programs' socket calls.
pub fn render_with_calls(
    c: &Connection,
    calls: &[Call],
    o: &ExportOptions,
) -> Result<Vec<u8>, ExportError> {
    let (l, placement) = ladder_with_calls(c, calls, o)?;
    Ok(match o.format {
        Format::Txt => {
            let cs = if o.ascii {
                text::Charset::Ascii
            } else {
                text::Charset::Unicode
            };
            text::render(&l, cs).into_bytes()
        }
        Format::Md => mermaid::render(&l, o.title.as_deref()).into_bytes(),
        Format::Pcap => return Err(ExportError::NotDrawn),
        Format::Svg | Format::Png => {
            // A picture metres long is refused before it is laid out.
            if l.rows.len() > PICTURE_ROWS {
                return Err(ExportError::TooLong(l.rows.len()));
            }
            let d = diagram::layout(&l, &placement, o.flat, o.title.as_deref());
            let palette = if o.dark { svg::DARK } else { svg::LIGHT };
            let page = crate::ladder::page::lay_out(&d);
            if o.format == Format::Png {
                png::check_size(page.width, page.height, o.scale)?;
            }
            let doc = svg::render(&page, &palette);
            if o.format == Format::Svg {
                doc.into_bytes()
            } else {
                png::render_with(&doc, o.scale, &o.fonts)?
            }
        }
    })
}
