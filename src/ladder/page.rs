//! The lecture diagram on a page: where each line, mark and text of a
//! [`Diagram`] goes, in SVG user units, laid out so that no text sits on
//! another text, on a mark (a lost segment's cross, a refused
//! connection's badge), on a state box or on a lifeline, and arrow labels
//! stay between the lifelines. Pure; the SVG exporter only draws what it
//! says, and the tests check the same boxes.
//!
//! Text is estimated, not measured: its width is the character count
//! times the font size times the font's advance (DejaVu Sans Mono's exact
//! 0.602 em; for DejaVu Sans, upper bounds of the mean over the texts
//! drawn here) plus a little, its height the font's ascent and descent.
//! The PNG exporter embeds those fonts, so the estimate holds for PNG and
//! for SVG viewers that have them.
//!
//! Arrow labels are placed one after the other, down the page, at the
//! first free spot along their arrow (above it, then below), preferring
//! spots clear of other arrows; when an arrow has no free spot, the steps
//! it spans grow taller and the page is laid out again.

use std::collections::HashMap;

use crate::track::{Side, State};

use super::Role;
use super::diagram::{Arrow, Bracket, CallMark, Diagram, IcmpArrow, ROUTER_AT, StateBox};

/// Height of one step of the ordinal axis, before any grows.
pub const STEP: f64 = 34.0;
/// Where step 0 is, below the headers (and the verdict's first line).
const TOP: f64 = 128.0;
const LABEL_PX: f64 = 13.0;
const STATE_PX: f64 = 12.5;
const BOX_H: f64 = 20.0;
const CALL_PX: f64 = 12.0;
const SMALL_PX: f64 = 11.0;
/// How far across a lost segment's dotted line reaches, where its cross is.
pub const LOST_REACH: f64 = 0.8;
/// Half the size of a lost segment's cross.
const CROSS: f64 = 7.0;
/// A label keeps this far from the lifelines (an arrowhead is 11 long).
const LANE_MARGIN: f64 = 12.0;
/// Baseline of a label above its arrow; the gap under a label below it.
const ABOVE: f64 = 6.0;
const BELOW: f64 = 3.0;
/// Room kept between a label being placed and what is there already.
const CLEARANCE: f64 = 1.5;
/// Layout rounds before the page is taken as it is; in the first few, a
/// label on another arrow's shaft makes room too.
const ROUNDS: usize = 16;
const SOFT_ROUNDS: usize = 7;
/// How much taller a cramped step gets a round, and at most (for a label
/// on something, and one only on another arrow).
const GROWTH: f64 = 1.25;
const MAX_GROWTH: f64 = 6.0;
const SOFT_GROWTH: f64 = 4.8;

/// A point, (x, y), y downwards.
pub type Point = (f64, f64);

/// The faces text is set in (the SVG names the families).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Font {
    Sans,
    SansBold,
    SansItalic,
    Mono,
}

/// Ascent and descent of the DejaVu faces, in em: the box a text's glyphs
/// stay inside.
pub const ASCENT: f64 = 0.93;
pub const DESCENT: f64 = 0.24;
/// Added to every width, in em: short words of wide letters ("ms") are
/// wider than the mean.
pub const PAD_EM: f64 = 0.3;

impl Font {
    /// Width of a character, in em.
    pub fn advance(self) -> f64 {
        match self {
            Font::Mono => 0.602,
            Font::Sans => 0.62,
            Font::SansItalic => 0.6,
            // State names are capitals.
            Font::SansBold => 0.74,
        }
    }
}

/// Where a text's position is along it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// What something is drawn in; the SVG maps it to the theme's colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ink {
    Text,
    Muted,
    Lifeline,
    Role(Role),
    TimeWait,
    Icmp,
    Call,
}

/// What a text is, for its reader (and the tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Title,
    Verdict,
    Lane,
    Address,
    /// "ms" over the time axis.
    Unit,
    /// A time on the axis.
    Time,
    /// An arrow's label.
    Label,
    State,
    Call,
    IcmpLabel,
    IcmpEffect,
    Router,
    Bracket,
    BracketEnd,
    /// The word on a refused connection's badge.
    Badge,
    Legend,
    Footnote,
}

/// One line of text.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    pub text: String,
    /// The anchor point on the baseline; rotation is about it.
    pub at: Point,
    pub anchor: Anchor,
    pub size: f64,
    pub font: Font,
    /// Degrees, clockwise (SVG's `rotate`).
    pub angle: f64,
    pub ink: Ink,
    pub kind: Kind,
}

impl Text {
    fn new(text: impl Into<String>, at: Point, anchor: Anchor, size: f64, font: Font) -> Text {
        Text {
            text: text.into(),
            at,
            anchor,
            size,
            font,
            angle: 0.0,
            ink: Ink::Text,
            kind: Kind::Label,
        }
    }

    fn ink(self, ink: Ink) -> Text {
        Text { ink, ..self }
    }

    fn kind(self, kind: Kind) -> Text {
        Text { kind, ..self }
    }

    /// The estimated width.
    pub fn width(&self) -> f64 {
        text_width(&self.text, self.size, self.font)
    }

    /// The box the text's glyphs stay inside, turned with it.
    pub fn outline(&self) -> Quad {
        self.outline_with(0.0)
    }

    /// The outline, `pad` larger all round.
    fn outline_with(&self, pad: f64) -> Quad {
        let w = self.width() + 2.0 * pad;
        let x0 = match self.anchor {
            Anchor::Start => -pad,
            Anchor::Middle => -w / 2.0,
            Anchor::End => pad - w,
        };
        let (top, bottom) = (-ASCENT * self.size - pad, DESCENT * self.size + pad);
        let (sin, cos) = self.angle.to_radians().sin_cos();
        let turn = |(x, y): Point| (self.at.0 + x * cos - y * sin, self.at.1 + x * sin + y * cos);
        Quad([
            turn((x0, top)),
            turn((x0 + w, top)),
            turn((x0 + w, bottom)),
            turn((x0, bottom)),
        ])
    }
}

/// The estimated width of `text` set in `font` at `size`.
pub fn text_width(text: &str, size: f64, font: Font) -> f64 {
    (text.chars().count() as f64 * font.advance() + PAD_EM) * size
}

/// A convex quadrilateral, corners in order: the shape every overlap is
/// tested on (texts turned with their arrows, boxes, marks, and lines as
/// thin quads).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quad(pub [Point; 4]);

impl Quad {
    pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Quad {
        Quad([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    }

    /// A line from `a` to `b` drawn `width` wide.
    pub fn line(a: Point, b: Point, width: f64) -> Quad {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = (dx * dx + dy * dy).sqrt().max(1e-9);
        let (nx, ny) = (-dy / len * width / 2.0, dx / len * width / 2.0);
        Quad([
            (a.0 + nx, a.1 + ny),
            (b.0 + nx, b.1 + ny),
            (b.0 - nx, b.1 - ny),
            (a.0 - nx, a.1 - ny),
        ])
    }

    /// (left, top, right, bottom).
    pub fn bounds(&self) -> (f64, f64, f64, f64) {
        self.0.iter().fold(
            (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
            |(l, t, r, b), &(x, y)| (l.min(x), t.min(y), r.max(x), b.max(y)),
        )
    }

    /// Whether the two share any area (touching edges do not count): no
    /// edge of either separates them.
    pub fn overlaps(&self, o: &Quad) -> bool {
        let separated = |a: &Quad, b: &Quad| {
            (0..4).any(|i| {
                let (p, q) = (a.0[i], a.0[(i + 1) % 4]);
                let axis = (q.1 - p.1, p.0 - q.0);
                if axis.0.abs() + axis.1.abs() < 1e-12 {
                    return false;
                }
                let proj = |pt: Point| pt.0 * axis.0 + pt.1 * axis.1;
                let (amin, amax) = minmax(a.0.iter().map(|&p| proj(p)));
                let (bmin, bmax) = minmax(b.0.iter().map(|&p| proj(p)));
                let eps = 1e-6 * (axis.0.abs() + axis.1.abs());
                amax <= bmin + eps || bmax <= amin + eps
            })
        };
        !separated(self, o) && !separated(o, self)
    }
}

fn minmax(it: impl Iterator<Item = f64>) -> (f64, f64) {
    it.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

/// How a line is stroked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dash {
    Solid,
    /// A retransmission.
    Dashed,
    /// A lost segment.
    Dotted,
    /// An ICMP error.
    DashDot,
}

/// A straight line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stroke {
    pub from: Point,
    pub to: Point,
    pub width: f64,
    pub ink: Ink,
    pub dash: Dash,
}

impl Stroke {
    fn new(from: Point, to: Point, width: f64, ink: Ink) -> Stroke {
        Stroke {
            from,
            to,
            width,
            ink,
            dash: Dash::Solid,
        }
    }

    pub fn outline(&self) -> Quad {
        Quad::line(self.from, self.to, self.width)
    }
}

/// An arrowhead: its tip and the two corners of its base.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Head {
    pub tip: Point,
    pub corners: [Point; 2],
    pub ink: Ink,
}

/// A lost segment's cross, centred where its dotted line stops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cross {
    pub at: Point,
    /// Half its width and height.
    pub half: f64,
    pub width: f64,
}

impl Cross {
    pub fn outline(&self) -> Quad {
        let r = self.half + self.width / 2.0;
        Quad::rect(self.at.0 - r, self.at.1 - r, self.at.0 + r, self.at.1 + r)
    }
}

/// An axis-parallel rectangle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn outline(&self) -> Quad {
        Quad::rect(self.x, self.y, self.x + self.w, self.y + self.h)
    }
}

/// The badge on a refused connection's RST: a word in a frame, on the
/// shaft near its sender.
#[derive(Clone, Debug, PartialEq)]
pub struct Badge {
    pub frame: Rect,
    pub text: Text,
}

/// A segment's arrow.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrowShape {
    /// Index of the segment in the connection.
    pub index: usize,
    pub time: Text,
    pub shaft: Stroke,
    /// None for a lost segment, which ends in its cross.
    pub head: Option<Head>,
    pub cross: Option<Cross>,
    pub badge: Option<Badge>,
    pub label: Text,
}

/// An ICMP error's arrow.
#[derive(Clone, Debug, PartialEq)]
pub struct IcmpShape {
    pub time: Text,
    pub shaft: Stroke,
    pub head: Head,
    /// The router's mark (centre, radius) and its name; none when the
    /// peer's host sent the error.
    pub router: Option<(Point, f64, Text)>,
    pub label: Text,
    pub effect: Text,
}

/// A socket call on its lifeline.
#[derive(Clone, Debug, PartialEq)]
pub struct CallShape {
    /// From entry to return, for a call that blocked.
    pub bar: Option<Rect>,
    pub tick: Stroke,
    pub label: Text,
}

/// The TIME-WAIT bracket.
#[derive(Clone, Debug, PartialEq)]
pub struct BracketShape {
    /// The path: from the lifeline's side at the top, down, back in.
    pub path: [Point; 4],
    pub label: Text,
    pub end: Text,
}

/// A state box.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxShape {
    pub frame: Rect,
    /// The frame's colour: TIME-WAIT and CLOSED have their own.
    pub stroke: Ink,
    pub text: Text,
}

/// Everything drawn, in drawing order.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub width: f64,
    pub height: f64,
    pub title: Text,
    pub verdict: Vec<Text>,
    pub lanes: Vec<Text>,
    pub lifelines: [Stroke; 2],
    pub unit: Text,
    pub arrows: Vec<ArrowShape>,
    pub icmp: Vec<IcmpShape>,
    pub calls: Vec<CallShape>,
    pub brackets: Vec<BracketShape>,
    pub boxes: Vec<BoxShape>,
    /// The legend's lines, then the footnote's.
    pub footer: Vec<Text>,
}

impl Page {
    /// Every text on the page, in drawing order.
    pub fn texts(&self) -> impl Iterator<Item = &Text> {
        std::iter::once(&self.title)
            .chain(&self.verdict)
            .chain(&self.lanes)
            .chain(std::iter::once(&self.unit))
            .chain(self.arrows.iter().flat_map(|a| {
                std::iter::once(&a.time)
                    .chain(a.badge.as_ref().map(|b| &b.text))
                    .chain(std::iter::once(&a.label))
            }))
            .chain(self.icmp.iter().flat_map(|i| {
                std::iter::once(&i.time)
                    .chain(i.router.as_ref().map(|r| &r.2))
                    .chain([&i.label, &i.effect])
            }))
            .chain(self.calls.iter().map(|c| &c.label))
            .chain(self.brackets.iter().flat_map(|b| [&b.label, &b.end]))
            .chain(self.boxes.iter().map(|b| &b.text))
            .chain(&self.footer)
    }

    /// The x of a lifeline.
    pub fn lane(&self, side: Side) -> f64 {
        self.lifelines[side.index()].from.0
    }
}

/// Horizontal positions, from the widest texts.
#[derive(Clone, Copy, Debug)]
struct Columns {
    axis: f64,
    client: f64,
    server: f64,
    box_w: f64,
    width: f64,
}

impl Columns {
    fn new(d: &Diagram) -> Columns {
        let mono = |s: &str, px: f64| text_width(s, px, Font::Mono);
        let badge_w = badge_width();
        // The distance between the lifelines each label needs.
        let label_span = d
            .arrows
            .iter()
            .map(|a| {
                let w = mono(&label_text(a), LABEL_PX);
                if a.lost {
                    (w + 2.0 * LANE_MARGIN + CROSS + 3.0) / LOST_REACH
                } else if a.refused {
                    w + 2.0 * LANE_MARGIN + badge_w + 16.0
                } else {
                    w + 2.0 * LANE_MARGIN
                }
            })
            // An error from a router runs only part of the way across,
            // from beside the router's mark.
            .chain(d.icmp.iter().map(|a| {
                let w =
                    mono(&a.label, LABEL_PX).max(text_width(&a.effect, SMALL_PX, Font::SansItalic));
                let share = if a.from_peer { 1.0 } else { ROUTER_AT };
                (w + 2.0 * LANE_MARGIN + 10.0) / share
            }))
            .fold(0.0, f64::max);
        // Some room to spare, for labels to move along their arrows.
        let roomy = d
            .arrows
            .iter()
            .map(|a| mono(&label_text(a), LABEL_PX) + 2.0 * LANE_MARGIN + 60.0)
            .fold(0.0, f64::max);
        let longest_state = d
            .boxes
            .iter()
            .map(|b| text_width(&b.text, STATE_PX, Font::SansBold))
            .fold(0.0, f64::max);
        // Call labels share the margin outside the lifelines with the boxes.
        let longest_call = d
            .calls
            .iter()
            .map(|c| mono(&c.label, CALL_PX))
            .fold(0.0, f64::max);
        let box_w = (longest_state + 12.0).max(longest_call + 2.0).max(110.0);
        let axis = 78.0;
        let client = axis + 40.0 + box_w + 14.0;
        let server = client + label_span.max(roomy).max(440.0);
        // A server's TIME-WAIT ends in words to the right of its boxes.
        let server_end = d
            .brackets
            .iter()
            .filter(|b| b.side == Side::Server)
            .map(|b| text_width(&b.end, SMALL_PX, Font::Sans) + 24.0)
            .fold(0.0, f64::max);
        let width = (server + 14.0 + (box_w + 56.0).max(server_end))
            .max(text_width(&d.title, 20.0, Font::SansBold) + 48.0)
            .ceil();
        Columns {
            axis,
            client,
            server,
            box_w,
            width,
        }
    }

    fn lane(&self, side: Side) -> f64 {
        match side {
            Side::Client => self.client,
            Side::Server => self.server,
        }
    }
}

/// Where steps are: each step's height (steps grow where labels need
/// room), from `top`.
struct Rows {
    top: f64,
    heights: Vec<f64>,
    /// Sum of the heights before each step.
    before: Vec<f64>,
}

impl Rows {
    fn new(top: f64, heights: &[f64]) -> Rows {
        let mut before = Vec::with_capacity(heights.len() + 1);
        let mut sum = 0.0;
        for h in heights {
            before.push(sum);
            sum += h;
        }
        before.push(sum);
        Rows {
            top,
            heights: heights.to_vec(),
            before,
        }
    }

    /// The y of a (fractional) step.
    fn y(&self, step: f64) -> f64 {
        let step = step.max(0.0);
        let k = step.floor() as usize;
        let frac = step - step.floor();
        match (self.before.get(k), self.heights.get(k)) {
            (Some(b), Some(h)) => self.top + b + frac * h,
            _ => {
                let n = self.heights.len();
                self.top + self.before[n] + (step - n as f64) * STEP
            }
        }
    }
}

/// The label an arrow carries.
pub fn label_text(a: &Arrow) -> String {
    match (a.retransmission, a.lost) {
        (true, true) => format!("{} (retransmission, lost)", a.label),
        (true, false) => format!("{} (retransmission)", a.label),
        (false, true) => format!("{} (lost)", a.label),
        (false, false) => a.label.clone(),
    }
}

const BADGE: &str = "refused";
const BADGE_PX: f64 = 11.0;

fn badge_width() -> f64 {
    text_width(BADGE, BADGE_PX, Font::SansBold) + 4.0
}

/// Lines of at most `width` characters, the last not a lone short word
/// where the line before can spare one.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let cur = lines.last().map_or(0, |l| l.chars().count());
        if cur > 0 && cur + 1 + word.chars().count() > width {
            lines.push(String::new());
        }
        if let Some(l) = lines.last_mut() {
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(word);
        }
    }
    let n = lines.len();
    if n >= 2 {
        let (head, tail) = lines.split_at_mut(n - 1);
        let (prev, last) = (&mut head[n - 2], &mut tail[0]);
        while last.chars().count() < 12 {
            let Some(cut) = prev.rfind(' ') else { break };
            let word = prev[cut + 1..].to_string();
            let longer = word.chars().count() + 1 + last.chars().count();
            // Not past the width, nor making the line before the shorter.
            if longer > width || cut < longer {
                break;
            }
            *last = format!("{word} {last}");
            prev.truncate(cut);
        }
    }
    lines
}

/// The angle of a line in degrees, turned so its text reads left to right.
fn upright(dx: f64, dy: f64) -> f64 {
    let angle = dy.atan2(dx).to_degrees();
    if angle.abs() > 90.0 {
        angle - 180.0_f64.copysign(angle)
    } else {
        angle
    }
}

/// What texts may not overlap (`hard`) and had better not (`soft`: other
/// arrows' shafts), found by the band of the page they are in.
#[derive(Default)]
struct Obstacles {
    hard: Vec<Quad>,
    soft: Vec<Quad>,
    /// Band → (soft?, index).
    bands: HashMap<i64, Vec<(bool, usize)>>,
}

const BAND: f64 = 48.0;

impl Obstacles {
    fn bands(q: &Quad) -> std::ops::RangeInclusive<i64> {
        let (_, top, _, bottom) = q.bounds();
        ((top / BAND).floor() as i64)..=((bottom / BAND).floor() as i64)
    }

    fn add(&mut self, q: Quad, soft: bool) {
        let list = if soft { &mut self.soft } else { &mut self.hard };
        list.push(q);
        let k = list.len() - 1;
        for b in Obstacles::bands(&q) {
            self.bands.entry(b).or_default().push((soft, k));
        }
    }

    /// How many hard and soft obstacles `q` overlaps.
    fn hits(&self, q: &Quad) -> (usize, usize) {
        let mut seen: Vec<(bool, usize)> = Vec::new();
        for b in Obstacles::bands(q) {
            for &e in self.bands.get(&b).into_iter().flatten() {
                if !seen.contains(&e) {
                    seen.push(e);
                }
            }
        }
        let (mut hard, mut soft) = (0, 0);
        for (is_soft, k) in seen {
            let o = if is_soft {
                &self.soft[k]
            } else {
                &self.hard[k]
            };
            if o.overlaps(q) {
                if is_soft {
                    soft += 1;
                } else {
                    hard += 1;
                }
            }
        }
        (hard, soft)
    }
}

/// A text to place along a line: its offset to the side of it (negative:
/// above), the rest of the text as given.
struct Piece {
    text: Text,
    offset: f64,
}

/// Where `place_along` put a label: its texts, how many things they
/// overlap that they must not, how many other arrows, and whether below
/// its arrow.
struct Spot {
    texts: Vec<Text>,
    hard: usize,
    soft: usize,
    below: bool,
}

impl Spot {
    /// Whether the label needs more room: it overlaps something, or
    /// (`clear`) another arrow or sits below its own.
    fn cramped(&self, clear: bool) -> bool {
        self.hard > 0 || clear && (self.soft > 0 || self.below)
    }
}

/// Places `pieces` (one label, or a label and its effect below) along the
/// line `from` → `to`, within `lo..hi` in x, at the first free spot
/// (`crossing`: the line crosses another).
fn place_along(
    obstacles: &Obstacles,
    from: Point,
    to: Point,
    (lo, hi): (f64, f64),
    pieces: &[Piece],
    flip: bool,
    crossing: bool,
) -> Spot {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let angle = upright(dx, dy);
    let (sin, cos) = angle.to_radians().sin_cos();
    // "Up" for upright text.
    let normal = (sin, -cos);
    let at = |t: f64, offset: f64| {
        (
            from.0 + dx * t - normal.0 * offset,
            from.1 + dy * t - normal.1 * offset,
        )
    };
    let make = |t: f64, below: bool| -> Vec<Text> {
        pieces
            .iter()
            .map(|p| {
                let offset = if below && flip {
                    // The whole group moves below the line.
                    p.offset + ABOVE + BELOW + ASCENT * p.text.size
                } else {
                    p.offset
                };
                Text {
                    at: at(t, offset),
                    angle,
                    ..p.text.clone()
                }
            })
            .collect()
    };
    // The best spot so far, and its rank among those tried.
    let mut best: Option<(usize, Spot)> = None;
    let sides: &[bool] = if flip { &[false, true] } else { &[false] };
    let mut rank = 0;
    for &below in sides {
        // The range of t that keeps every piece within lo..hi.
        let probe = make(0.5, below);
        let (left, right) = probe.iter().fold((f64::MAX, f64::MIN), |(l, r), t| {
            let (a, _, b, _) = t.outline().bounds();
            (l.min(a), r.max(b))
        });
        let (t_lo, t_hi) = if dx.abs() < 1e-9 {
            (0.5, 0.5)
        } else {
            let a = 0.5 + (lo - left) / dx;
            let b = 0.5 + (hi - right) / dx;
            (a.min(b), a.max(b))
        };
        let fits = t_lo <= t_hi;
        let mut ts: Vec<f64> = Vec::new();
        // Where along the line to try, in order: the middle first; for an
        // arrow that crosses another, nearer its sender, where the other
        // is not (crossing arrows meet in their middles).
        let order: &[f64] = if crossing {
            &[
                0.3, 0.38, 0.22, 0.46, 0.14, 0.54, 0.06, 0.62, 0.7, 0.78, 0.86, 0.94, 0.0, 1.0,
            ]
        } else {
            &[
                0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82, 0.1, 0.9, 0.0, 1.0,
            ]
        };
        for &t in order {
            let t = if fits {
                t.clamp(t_lo, t_hi)
            } else {
                (t_lo + t_hi) / 2.0
            };
            if !ts.iter().any(|&u| (u - t).abs() < 0.005) {
                ts.push(t);
            }
        }
        for &t in &ts {
            let texts = make(t, below);
            let (mut hard, mut soft) = (usize::from(!fits), 0);
            for x in &texts {
                let (h, s) = obstacles.hits(&x.outline_with(CLEARANCE));
                hard += h;
                soft += s;
            }
            let better = best
                .as_ref()
                .is_none_or(|(r, b)| (hard, soft, rank) < (b.hard, b.soft, *r));
            if better {
                let spot = Spot {
                    texts,
                    hard,
                    soft,
                    below,
                };
                best = Some((rank, spot));
            }
            rank += 1;
            if hard == 0 && soft == 0 {
                break;
            }
        }
        if best
            .as_ref()
            .is_some_and(|(_, b)| b.hard == 0 && b.soft == 0)
        {
            break;
        }
    }
    best.map_or(
        Spot {
            texts: Vec::new(),
            hard: 1,
            soft: 0,
            below: false,
        },
        |(_, spot)| spot,
    )
}

/// Lays `d` out on a page.
pub fn lay_out(d: &Diagram) -> Page {
    let cols = Columns::new(d);
    let steps = d.height.ceil().max(0.0) as usize + 2;
    let mut heights = vec![STEP; steps];
    let mut page = None;
    let mut round = 0;
    while round < ROUNDS {
        let clear = round < SOFT_ROUNDS;
        let (p, stuck) = attempt(d, &cols, &heights, clear);
        page = Some(p);
        if stuck.is_empty() {
            break;
        }
        // More room where a label found none: the steps its arrow spans
        // (a flat arrow's, the steps above and below it).
        let mut grow = vec![false; steps];
        for (a, b) in stuck {
            let (lo, hi) = (a.min(b), a.max(b));
            let (first, last) = if hi - lo < 0.5 {
                (
                    (lo.floor() - 1.0).max(0.0) as usize,
                    lo.floor() as usize + 1,
                )
            } else {
                (lo.floor() as usize, hi.ceil() as usize)
            };
            let last = last.max(first + 1);
            for g in grow.iter_mut().take(last.min(steps)).skip(first) {
                *g = true;
            }
        }
        // Parallel steep arrows come no further apart however tall their
        // steps get: growth stops before the page is all slopes, sooner
        // for a label that is only on another arrow.
        let most = STEP * if clear { SOFT_GROWTH } else { MAX_GROWTH };
        let mut grew = false;
        for (h, g) in heights.iter_mut().zip(grow) {
            if g && *h * GROWTH <= most {
                *h *= GROWTH;
                grew = true;
            }
        }
        round = match (grew, clear) {
            (true, _) => round + 1,
            (false, true) => SOFT_ROUNDS,
            (false, false) => break,
        };
    }
    page.unwrap_or_else(|| attempt(d, &cols, &heights, false).0)
}

/// One layout with these step heights: the page, and the (send, arrival)
/// steps of the arrows whose labels found no free spot (`clear`: none
/// clear of other arrows either).
fn attempt(d: &Diagram, cols: &Columns, heights: &[f64], clear: bool) -> (Page, Vec<(f64, f64)>) {
    let width = cols.width;
    let per_line = |px: f64| ((width - 48.0) / (px * Font::Sans.advance())).floor() as usize;
    let title =
        Text::new(&d.title, (24.0, 34.0), Anchor::Start, 20.0, Font::SansBold).kind(Kind::Title);
    let verdict: Vec<Text> = wrap(&d.verdict, per_line(13.0).max(20))
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            Text::new(
                line,
                (24.0, 58.0 + 17.0 * i as f64),
                Anchor::Start,
                13.0,
                Font::Sans,
            )
            .ink(Ink::Muted)
            .kind(Kind::Verdict)
        })
        .collect();
    let shift = 17.0 * (verdict.len().max(1) - 1) as f64;
    let rows = Rows::new(TOP + shift, heights);
    let y = |step: f64| rows.y(step);
    let mut lanes = Vec::new();
    for side in Side::BOTH {
        let x = cols.lane(side);
        lanes.push(
            Text::new(
                side.name(),
                (x, 88.0 + shift),
                Anchor::Middle,
                16.0,
                Font::SansBold,
            )
            .kind(Kind::Lane),
        );
        lanes.push(
            Text::new(
                &d.addrs[side.index()],
                (x, 106.0 + shift),
                Anchor::Middle,
                12.0,
                Font::Mono,
            )
            .ink(Ink::Muted)
            .kind(Kind::Address),
        );
    }
    let lifeline = |side: Side| {
        let x = cols.lane(side);
        Stroke::new(
            (x, y(0.0) - 8.0),
            (x, y(d.height) - 10.0),
            2.0,
            Ink::Lifeline,
        )
    };
    let lifelines = [lifeline(Side::Client), lifeline(Side::Server)];
    let unit = Text::new(
        "ms",
        (cols.axis, y(0.0) + 4.0),
        Anchor::End,
        SMALL_PX,
        Font::Sans,
    )
    .ink(Ink::Muted)
    .kind(Kind::Unit);
    let mut obstacles = Obstacles::default();
    for l in &lifelines {
        obstacles.add(l.outline(), false);
    }
    let time = |at: f64, ms: f64| {
        Text::new(
            format!("{ms:.3}"),
            (cols.axis, at + 4.0),
            Anchor::End,
            SMALL_PX,
            Font::Mono,
        )
        .ink(Ink::Muted)
        .kind(Kind::Time)
    };
    // Everything but the movable labels first, so those make way.
    let mut arrows: Vec<ArrowShape> = d
        .arrows
        .iter()
        .map(|a| arrow_shape(a, cols, &y, &time))
        .collect();
    // Which arrows cross another one.
    let mut crossings = vec![false; arrows.len()];
    {
        let mut shafts = Obstacles::default();
        for a in &arrows {
            shafts.add(a.shaft.outline(), true);
        }
        for (k, a) in arrows.iter().enumerate() {
            // Itself, and any other.
            crossings[k] = shafts.hits(&a.shaft.outline()).1 > 1;
        }
    }
    for a in &arrows {
        obstacles.add(a.shaft.outline(), true);
        if let Some(c) = &a.cross {
            obstacles.add(c.outline(), false);
        }
        if let Some(b) = &a.badge {
            obstacles.add(b.frame.outline(), false);
        }
    }
    let mut icmp: Vec<IcmpShape> = d
        .icmp
        .iter()
        .map(|a| icmp_shape(a, cols, &y, &time))
        .collect();
    for i in &icmp {
        obstacles.add(i.shaft.outline(), true);
        if let Some((c, r, name)) = &i.router {
            obstacles.add(
                Quad::rect(c.0 - r - 1.0, c.1 - r - 1.0, c.0 + r + 1.0, c.1 + r + 1.0),
                false,
            );
            obstacles.add(name.outline(), false);
        }
    }
    let calls: Vec<CallShape> = d.calls.iter().map(|c| call_shape(c, cols, &y)).collect();
    for c in &calls {
        obstacles.add(c.label.outline(), false);
        obstacles.add(c.tick.outline(), false);
        if let Some(b) = &c.bar {
            obstacles.add(b.outline(), false);
        }
    }
    let brackets: Vec<BracketShape> = d
        .brackets
        .iter()
        .map(|b| bracket_shape(b, cols, &y))
        .collect();
    let boxes: Vec<BoxShape> = d.boxes.iter().map(|b| box_shape(b, cols, &y)).collect();
    for b in &boxes {
        obstacles.add(b.frame.outline(), false);
    }
    for b in &brackets {
        obstacles.add(b.label.outline(), false);
        obstacles.add(b.end.outline(), false);
    }
    // The labels, down the page.
    let mut order: Vec<(f64, bool, usize)> = d
        .arrows
        .iter()
        .enumerate()
        .map(|(k, a)| (a.y_send, false, k))
        .chain(d.icmp.iter().enumerate().map(|(k, a)| (a.y_send, true, k)))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut stuck = Vec::new();
    for (_, is_icmp, k) in order {
        if is_icmp {
            let (a, shape) = (&d.icmp[k], &mut icmp[k]);
            let from = shape.shaft.from;
            let to = shape.head.tip;
            let (lo, hi) = (
                from.0.min(to.0) + LANE_MARGIN,
                from.0.max(to.0) - LANE_MARGIN,
            );
            let pieces = [
                Piece {
                    text: shape.label.clone(),
                    offset: -ABOVE,
                },
                Piece {
                    text: shape.effect.clone(),
                    offset: BELOW + ASCENT * SMALL_PX + 2.0,
                },
            ];
            let spot = place_along(&obstacles, from, to, (lo, hi), &pieces, true, false);
            if spot.cramped(clear) {
                stuck.push((a.y_send, a.y_arrive));
            }
            if let [label, effect] = spot.texts.as_slice() {
                obstacles.add(label.outline(), false);
                obstacles.add(effect.outline(), false);
                shape.label = label.clone();
                shape.effect = effect.clone();
            }
        } else {
            let (a, shape) = (&d.arrows[k], &mut arrows[k]);
            let from = shape.shaft.from;
            let to = match shape.head {
                Some(h) => h.tip,
                None => shape.shaft.to,
            };
            let toward = if to.0 >= from.0 { 1.0 } else { -1.0 };
            // Clear of the lifelines, and of the cross or the badge at the
            // ends.
            let start = match &shape.badge {
                Some(b) => {
                    if toward > 0.0 {
                        b.frame.x + b.frame.w + 4.0
                    } else {
                        b.frame.x - 4.0
                    }
                }
                None => from.0 + toward * LANE_MARGIN,
            };
            let end = match &shape.cross {
                Some(c) => c.at.0 - toward * (c.half + c.width + 3.0),
                None => cols.lane(!a.from) - toward * LANE_MARGIN,
            };
            // Along the part drawn: a lost segment's stops at its cross.
            let full_to = match shape.cross {
                Some(c) => c.at,
                None => (cols.lane(!a.from), y(a.y_arrive)),
            };
            let piece = [Piece {
                text: shape.label.clone(),
                offset: -ABOVE,
            }];
            let spot = place_along(
                &obstacles,
                from,
                full_to,
                (start.min(end), start.max(end)),
                &piece,
                true,
                crossings[k],
            );
            if spot.cramped(clear) {
                stuck.push((a.y_send, a.y_arrive));
            }
            if let Some(t) = spot.texts.into_iter().next() {
                obstacles.add(t.outline(), false);
                shape.label = t;
            }
        }
    }
    let bottom = y(d.height);
    let per_small = per_line(SMALL_PX).max(40);
    let mut footer = Vec::new();
    for (text, kind) in [(&d.legend, Kind::Legend), (&d.footnote, Kind::Footnote)] {
        if text.is_empty() {
            continue;
        }
        for line in wrap(text, per_small) {
            let at = (24.0, bottom + 40.0 + 15.0 * footer.len() as f64);
            footer.push(
                Text::new(line, at, Anchor::Start, SMALL_PX, Font::Sans)
                    .ink(Ink::Muted)
                    .kind(kind),
            );
        }
    }
    let height = footer
        .last()
        .map_or(bottom + 80.0, |t| (t.at.1 + 25.0).max(bottom + 80.0))
        .ceil();
    (
        Page {
            width,
            height,
            title,
            verdict,
            lanes,
            lifelines,
            unit,
            arrows,
            icmp,
            calls,
            brackets,
            boxes,
            footer,
        },
        stuck,
    )
}

fn arrow_shape(
    a: &Arrow,
    cols: &Columns,
    y: &dyn Fn(f64) -> f64,
    time: &dyn Fn(f64, f64) -> Text,
) -> ArrowShape {
    let ink = Ink::Role(a.role);
    let (x0, x1) = (cols.lane(a.from), cols.lane(!a.from));
    let (y0, y1) = (y(a.y_send), y(a.y_arrive));
    let (dx, dy) = (x1 - x0, y1 - y0);
    let label = Text::new(
        label_text(a),
        (x0, y0),
        Anchor::Middle,
        LABEL_PX,
        Font::Mono,
    )
    .ink(ink);
    if a.lost {
        let end = (x0 + dx * LOST_REACH, y0 + dy * LOST_REACH);
        return ArrowShape {
            index: a.index,
            time: time(y0, a.time_ms),
            shaft: Stroke {
                dash: Dash::Dotted,
                ..Stroke::new((x0, y0), end, 1.6, ink)
            },
            head: None,
            cross: Some(Cross {
                at: end,
                half: CROSS,
                width: 2.6,
            }),
            badge: None,
            label,
        };
    }
    // The shaft stops at the arrowhead's base.
    let (head, base, _) = arrowhead((x0, y0), (x1, y1), ink);
    let badge = a.refused.then(|| {
        let w = badge_width();
        let h = 16.0;
        let toward = dx.signum();
        let cx = x0 + toward * (16.0 + w / 2.0);
        let cy = y0 + dy * ((cx - x0) / dx);
        Badge {
            frame: Rect {
                x: cx - w / 2.0,
                y: cy - h / 2.0,
                w,
                h,
            },
            text: Text::new(
                BADGE,
                (cx, cy + 4.0),
                Anchor::Middle,
                BADGE_PX,
                Font::SansBold,
            )
            .ink(ink)
            .kind(Kind::Badge),
        }
    });
    ArrowShape {
        index: a.index,
        time: time(y0, a.time_ms),
        shaft: Stroke {
            dash: if a.retransmission {
                Dash::Dashed
            } else {
                Dash::Solid
            },
            ..Stroke::new(
                (x0, y0),
                base,
                if a.role == Role::Rst { 2.4 } else { 1.6 },
                ink,
            )
        },
        head: Some(head),
        cross: None,
        badge,
        label,
    }
}

/// An arrowhead at `tip` for a shaft from `from`: the head, where the
/// shaft stops (the head's base) and the shaft's unit direction.
fn arrowhead(from: (f64, f64), tip: (f64, f64), ink: Ink) -> (Head, (f64, f64), (f64, f64)) {
    let (dx, dy) = (tip.0 - from.0, tip.1 - from.1);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (bx, by) = (tip.0 - ux * 11.0, tip.1 - uy * 11.0);
    let (px, py) = (-uy * 4.5, ux * 4.5);
    let head = Head {
        tip,
        corners: [(bx + px, by + py), (bx - px, by - py)],
        ink,
    };
    (head, (bx, by), (ux, uy))
}

fn icmp_shape(
    a: &IcmpArrow,
    cols: &Columns,
    y: &dyn Fn(f64) -> f64,
    time: &dyn Fn(f64, f64) -> Text,
) -> IcmpShape {
    let x0 = cols.client + (cols.server - cols.client) * a.x_from;
    let x1 = cols.lane(a.to);
    let (y0, y1) = (y(a.y_send), y(a.y_arrive));
    let (head, base, (ux, uy)) = arrowhead((x0, y0), (x1, y1), Ink::Icmp);
    let start = if a.from_peer { 0.0 } else { 7.0 };
    let router = (!a.from_peer).then(|| {
        // Above the mark, running over the arrow (the router is nearer
        // the other lifeline than the name is long).
        let (tx, anchor) = match a.to {
            Side::Client => (x0 + 4.0, Anchor::End),
            Side::Server => (x0 - 4.0, Anchor::Start),
        };
        (
            (x0, y0),
            6.0,
            Text::new(&a.sender, (tx, y0 - 11.0), anchor, SMALL_PX, Font::Sans)
                .ink(Ink::Icmp)
                .kind(Kind::Router),
        )
    });
    let mid = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    IcmpShape {
        time: time(y0, a.time_ms),
        shaft: Stroke {
            dash: Dash::DashDot,
            ..Stroke::new((x0 + ux * start, y0 + uy * start), base, 1.8, Ink::Icmp)
        },
        head,
        router,
        label: Text::new(&a.label, mid, Anchor::Middle, LABEL_PX, Font::Mono)
            .ink(Ink::Icmp)
            .kind(Kind::IcmpLabel),
        effect: Text::new(&a.effect, mid, Anchor::Middle, SMALL_PX, Font::SansItalic)
            .ink(Ink::Icmp)
            .kind(Kind::IcmpEffect),
    }
}

fn call_shape(c: &CallMark, cols: &Columns, y: &dyn Fn(f64) -> f64) -> CallShape {
    let x = cols.lane(c.side);
    let yr = y(c.y);
    let bar = c.y_entered.map(|y0| {
        let y0 = y(y0);
        Rect {
            x: x - 4.0,
            y: y0,
            w: 8.0,
            h: (yr - y0).max(2.0),
        }
    });
    let (x1, tx, anchor) = match c.side {
        Side::Client => (x - 10.0, x - 13.0, Anchor::End),
        Side::Server => (x + 10.0, x + 13.0, Anchor::Start),
    };
    CallShape {
        bar,
        tick: Stroke::new((x, yr), (x1, yr), 2.0, Ink::Call),
        label: Text::new(&c.label, (tx, yr + 4.0), anchor, CALL_PX, Font::Mono)
            .ink(Ink::Call)
            .kind(Kind::Call),
    }
}

fn bracket_shape(b: &Bracket, cols: &Columns, y: &dyn Fn(f64) -> f64) -> BracketShape {
    let x = match b.side {
        Side::Client => cols.client - 14.0 - cols.box_w - 16.0,
        Side::Server => cols.server + 14.0 + cols.box_w + 16.0,
    };
    let (y0, y1) = (y(b.y0), y(b.y1));
    let tick = match b.side {
        Side::Client => 7.0,
        Side::Server => -7.0,
    };
    let (lx, angle) = match b.side {
        Side::Client => (x - 6.0, -90.0),
        Side::Server => (x + 6.0, 90.0),
    };
    let my = (y0 + y1) / 2.0;
    // Outward from the lifeline, clear of it.
    let (end_x, end_anchor) = match b.side {
        Side::Client => (cols.client - 14.0, Anchor::End),
        Side::Server => (cols.server + 14.0, Anchor::Start),
    };
    BracketShape {
        path: [(x + tick, y0), (x, y0), (x, y1), (x + tick, y1)],
        label: Text {
            angle,
            ..Text::new(&b.label, (lx, my), Anchor::Middle, 12.0, Font::SansBold)
                .ink(Ink::TimeWait)
                .kind(Kind::Bracket)
        },
        end: Text::new(
            &b.end,
            (end_x, y1 + BOX_H / 2.0 + 14.0),
            end_anchor,
            SMALL_PX,
            Font::Sans,
        )
        .ink(Ink::TimeWait)
        .kind(Kind::BracketEnd),
    }
}

fn box_shape(b: &StateBox, cols: &Columns, y: &dyn Fn(f64) -> f64) -> BoxShape {
    let bx = match b.side {
        Side::Client => cols.client - 14.0 - cols.box_w,
        Side::Server => cols.server + 14.0,
    };
    let by = y(b.y) - BOX_H / 2.0;
    BoxShape {
        frame: Rect {
            x: bx,
            y: by,
            w: cols.box_w,
            h: BOX_H,
        },
        stroke: match b.state {
            State::TimeWait => Ink::TimeWait,
            State::Closed => Ink::Muted,
            _ => Ink::Lifeline,
        },
        text: Text::new(
            &b.text,
            (bx + cols.box_w / 2.0, by + BOX_H / 2.0 + 4.5),
            Anchor::Middle,
            STATE_PX,
            Font::SansBold,
        )
        .kind(Kind::State),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quads_overlap_only_when_they_share_area() {
        let a = Quad::rect(0.0, 0.0, 10.0, 10.0);
        assert!(a.overlaps(&Quad::rect(5.0, 5.0, 15.0, 15.0)));
        assert!(!a.overlaps(&Quad::rect(10.0, 0.0, 20.0, 10.0)), "touching");
        assert!(!a.overlaps(&Quad::rect(11.0, 0.0, 20.0, 10.0)));
        // A line passing a corner diagonally, close but clear.
        let line = Quad::line((12.0, 0.0), (22.0, -10.0), 1.0);
        assert!(!a.overlaps(&line));
        let through = Quad::line((-5.0, 5.0), (15.0, 5.0), 1.0);
        assert!(a.overlaps(&through));
    }

    #[test]
    fn wrapping_leaves_no_lone_short_word_at_the_end() {
        let lines = wrap("client in TIME-WAIT until +60.451 s", 31);
        assert_eq!(lines, vec!["client in TIME-WAIT", "until +60.451 s"]);
        assert_eq!(
            wrap("alpha beta gamma s", 16),
            vec!["alpha beta", "gamma s"]
        );
        assert_eq!(
            wrap("alpha beta gamma delta epsilon", 17),
            vec!["alpha beta gamma", "delta epsilon"]
        );
        assert_eq!(wrap("one two three", 40), vec!["one two three"]);
    }

    #[test]
    fn a_turned_text_has_a_turned_outline() {
        let mut t = Text::new("abcd", (100.0, 100.0), Anchor::Middle, 10.0, Font::Mono);
        let (l, top, r, b) = t.outline().bounds();
        assert!((r - l - t.width()).abs() < 1e-9);
        assert!((b - top - (ASCENT + DESCENT) * 10.0).abs() < 1e-9);
        t.angle = 90.0;
        let (l2, top2, r2, b2) = t.outline().bounds();
        assert!((b2 - top2 - t.width()).abs() < 1e-9, "runs downwards");
        assert!((r2 - l2 - (ASCENT + DESCENT) * 10.0).abs() < 1e-9);
        // Turned about its anchor: the middle stays.
        assert!(((top2 + b2) / 2.0 - 100.0).abs() < 1e-9);
    }
}
