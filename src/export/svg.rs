//! The lecture diagram as SVG: real vector text, no external fonts or
//! images (font families fall back to the viewer's sans and monospace),
//! readable when scaled onto a slide. Reads the `ladder::diagram` geometry.
//! Socket calls are labels outside their endpoint's lifeline (where the
//! state boxes are, at steps of their own), with a bar on the lifeline
//! from entry to return for a call that blocked, as textbooks draw them.

use std::fmt::Write;

use crate::ladder::Role;
use crate::ladder::diagram::{Arrow, CallMark, Diagram, IcmpArrow, ROUTER_AT};
use crate::track::{Side, State};

/// Colours of one theme, as SVG colour strings.
#[derive(Clone, Copy, Debug)]
pub struct Palette {
    pub background: &'static str,
    pub text: &'static str,
    pub muted: &'static str,
    pub lifeline: &'static str,
    pub box_fill: &'static str,
    pub syn: &'static str,
    pub fin: &'static str,
    pub rst: &'static str,
    pub data: &'static str,
    pub ack: &'static str,
    pub time_wait: &'static str,
    /// ICMP errors and the routers that sent them.
    pub icmp: &'static str,
    /// Socket calls and their bars.
    pub call: &'static str,
}

pub const LIGHT: Palette = Palette {
    background: "#ffffff",
    text: "#1a1a1a",
    muted: "#666666",
    lifeline: "#444444",
    box_fill: "#eef3fb",
    syn: "#16803c",
    fin: "#1f4fbf",
    rst: "#c0201e",
    data: "#1a1a1a",
    ack: "#6b6b6b",
    time_wait: "#8a2be2",
    icmp: "#c2410c",
    call: "#a21caf",
};

pub const DARK: Palette = Palette {
    background: "#16181d",
    text: "#e8e8e8",
    muted: "#a0a0a0",
    lifeline: "#b0b0b0",
    box_fill: "#26303f",
    syn: "#5fd38d",
    fin: "#7fb0ff",
    rst: "#ff6b6b",
    data: "#e8e8e8",
    ack: "#a8a8a8",
    time_wait: "#d59cff",
    icmp: "#ffa657",
    call: "#f0abfc",
};

const SANS: &str = "DejaVu Sans, Verdana, Arial, sans-serif";
const MONO: &str = "DejaVu Sans Mono, Menlo, Consolas, monospace";
/// Vertical step between events.
const STEP: f64 = 34.0;
const TOP: f64 = 128.0;
const LABEL_PX: f64 = 13.0;
/// Width of a monospace character at LABEL_PX (DejaVu Sans Mono: 0.602 em).
const MONO_W: f64 = LABEL_PX * 0.602;
const STATE_PX: f64 = 12.5;
const BOX_H: f64 = 20.0;
/// Call labels: monospace, a little smaller than the arrows'.
const CALL_PX: f64 = 12.0;
/// Width of the "refused" badge.
const BADGE_W: f64 = 60.0;

fn role_colour(p: &Palette, role: Role) -> &'static str {
    match role {
        Role::Syn | Role::SynAck => p.syn,
        Role::Fin => p.fin,
        Role::Rst => p.rst,
        Role::Data => p.data,
        Role::Ack => p.ack,
    }
}

/// Escapes text for SVG.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            _ => o.push(c),
        }
    }
    o
}

/// Horizontal positions, from the widest label and state.
struct Geometry {
    axis: f64,
    client: f64,
    server: f64,
    box_w: f64,
    width: f64,
    height: f64,
}

impl Geometry {
    fn new(d: &Diagram) -> Geometry {
        let longest_label = d
            .arrows
            .iter()
            .map(|a| label_text(a).chars().count())
            // An error from a router runs only part of the way across.
            .chain(d.icmp.iter().map(|a| {
                // Room on both sides: clear of the router mark and of a lost
                // segment's cross beside it.
                let n = a.label.chars().count() as f64 + 14.0;
                let share = if a.from_peer { 1.0 } else { ROUTER_AT };
                (n / share).ceil() as usize
            }))
            .max()
            .unwrap_or(20) as f64;
        let longest_state = d
            .boxes
            .iter()
            .map(|b| b.text.chars().count())
            .max()
            .unwrap_or(12) as f64;
        // Call labels share the margin outside the lifelines with the boxes.
        let longest_call = d
            .calls
            .iter()
            .map(|c| c.label.chars().count())
            .max()
            .unwrap_or(0) as f64;
        let box_w = (longest_state * STATE_PX * 0.64 + 16.0)
            .max(longest_call * CALL_PX * 0.602 + 12.0)
            .max(110.0);
        let axis = 78.0;
        let client = axis + 40.0 + box_w + 14.0;
        let span = (longest_label * MONO_W + 90.0).max(440.0);
        let server = client + span;
        let width = server + 14.0 + box_w + 56.0;
        let legend = if d.legend.is_empty() { 0.0 } else { 30.0 };
        let height = TOP + d.height * STEP + 80.0 + legend;
        Geometry {
            axis,
            client,
            server,
            box_w,
            width,
            height,
        }
    }

    fn lane(&self, side: Side) -> f64 {
        match side {
            Side::Client => self.client,
            Side::Server => self.server,
        }
    }
}

fn y(step: f64) -> f64 {
    TOP + step * STEP
}

fn label_text(a: &Arrow) -> String {
    match (a.retransmission, a.lost) {
        (true, true) => format!("{} (retransmission, lost)", a.label),
        (true, false) => format!("{} (retransmission)", a.label),
        (false, true) => format!("{} (lost)", a.label),
        (false, false) => a.label.clone(),
    }
}

/// Renders the diagram as a standalone SVG document.
pub fn render(d: &Diagram, p: &Palette) -> String {
    let g = Geometry::new(d);
    let mut s = String::new();
    let extra = 17.0
        * (wrap(&d.verdict, ((g.width - 48.0) / (13.0 * 0.55)) as usize)
            .len()
            .max(1)
            - 1) as f64;
    let g = Geometry {
        height: g.height + extra,
        ..g
    };
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="{SANS}">"#,
        w = g.width,
        h = g.height
    );
    let _ = writeln!(s, "<title>{}</title>", esc(&d.title));
    let _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{:.0}" height="{:.0}" fill="{}"/>"#,
        g.width, g.height, p.background
    );
    // Title and verdict.
    let _ = writeln!(
        s,
        r#"<text x="24" y="34" font-size="20" font-weight="bold" fill="{}">{}</text>"#,
        p.text,
        esc(&d.title)
    );
    // The verdict, wrapped; everything below moves down to make room.
    let verdict = wrap(&d.verdict, ((g.width - 48.0) / (13.0 * 0.55)) as usize);
    for (i, line) in verdict.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="24" y="{:.1}" font-size="13" fill="{}">{}</text>"#,
            58.0 + 17.0 * i as f64,
            p.muted,
            esc(line)
        );
    }
    let shift = 17.0 * (verdict.len().max(1) - 1) as f64;
    let _ = writeln!(s, r#"<g transform="translate(0 {shift:.1})">"#);
    // Lane headers and lifelines.
    for side in Side::BOTH {
        let x = g.lane(side);
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="88" font-size="16" font-weight="bold" text-anchor="middle" fill="{}">{}</text>"#,
            p.text,
            side.name()
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="106" font-size="12" font-family="{MONO}" text-anchor="middle" fill="{}">{}</text>"#,
            p.muted,
            esc(&d.addrs[side.index()])
        );
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{}" stroke-width="2"/>"#,
            y(0.0) - 8.0,
            y(d.height) - 10.0,
            p.lifeline
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="{}">ms</text>"#,
        g.axis,
        y(0.0) + 4.0,
        p.muted
    );
    for a in &d.arrows {
        arrow(&mut s, &g, a, p, if a.crosses { 0.3 } else { 0.5 });
    }
    for a in &d.icmp {
        icmp_arrow(&mut s, &g, a, p);
    }
    for c in &d.calls {
        call(&mut s, &g, c, p);
    }
    for b in &d.brackets {
        let x = match b.side {
            Side::Client => g.client - 14.0 - g.box_w - 16.0,
            Side::Server => g.server + 14.0 + g.box_w + 16.0,
        };
        let (y0, y1) = (y(b.y0), y(b.y1));
        let tick = match b.side {
            Side::Client => 7.0,
            Side::Server => -7.0,
        };
        let _ = writeln!(
            s,
            r#"<path d="M {:.1} {y0:.1} H {x:.1} V {y1:.1} H {:.1}" fill="none" stroke="{}" stroke-width="2"/>"#,
            x + tick,
            x + tick,
            p.time_wait
        );
        let (lx, rot) = match b.side {
            Side::Client => (x - 6.0, -90.0),
            Side::Server => (x + 6.0, 90.0),
        };
        let my = (y0 + y1) / 2.0;
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{my:.1}" font-size="12" font-weight="bold" text-anchor="middle" fill="{}" transform="rotate({rot} {lx:.1} {my:.1})">{}</text>"#,
            p.time_wait,
            esc(&b.label)
        );
        let (ex, anchor) = match b.side {
            Side::Client => (g.client - 14.0, "end"),
            Side::Server => (g.server + 14.0 + g.box_w, "end"),
        };
        let _ = writeln!(
            s,
            r#"<text x="{ex:.1}" y="{:.1}" font-size="11" text-anchor="{anchor}" fill="{}">{}</text>"#,
            y1 + BOX_H / 2.0 + 14.0,
            p.time_wait,
            esc(&b.end)
        );
    }
    for b in &d.boxes {
        let bx = match b.side {
            Side::Client => g.client - 14.0 - g.box_w,
            Side::Server => g.server + 14.0,
        };
        let by = y(b.y) - BOX_H / 2.0;
        let stroke = match b.state {
            State::TimeWait => p.time_wait,
            State::Closed => p.muted,
            _ => p.lifeline,
        };
        let _ = writeln!(
            s,
            r#"<rect x="{bx:.1}" y="{by:.1}" width="{:.1}" height="{BOX_H}" rx="4" fill="{}" stroke="{stroke}" stroke-width="1.2"/>"#,
            g.box_w, p.box_fill
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="{STATE_PX}" font-weight="bold" text-anchor="middle" fill="{}">{}</text>"#,
            bx + g.box_w / 2.0,
            by + BOX_H / 2.0 + 4.5,
            p.text,
            esc(&b.text)
        );
    }
    s.push_str("</g>\n");
    // The legend and the footnote, wrapped to the picture's width.
    let per_line = ((g.width - 48.0) / (11.0 * 0.55)) as usize;
    let mut lines = Vec::new();
    for text in [&d.legend, &d.footnote] {
        if !text.is_empty() {
            lines.extend(wrap(text, per_line.max(40)));
        }
    }
    for (i, line) in lines.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="24" y="{:.1}" font-size="11" fill="{}">{}</text>"#,
            g.height - 40.0 - 15.0 * (lines.len().max(2) - 2) as f64 + 15.0 * i as f64,
            p.muted,
            esc(line)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A segment that never arrived: the shaft stops three quarters of the way
/// and ends in a cross, as textbooks draw a loss.
fn lost_arrow(
    s: &mut String,
    g: &Geometry,
    a: &Arrow,
    p: &Palette,
    (x0, y0, x1, y1): (f64, f64, f64, f64),
    label_at: f64,
) {
    let colour = role_colour(p, a.role);
    axis_time(s, g, p, y0, a.time_ms);
    let (ex, ey) = (x0 + (x1 - x0) * 0.75, y0 + (y1 - y0) * 0.75);
    let _ = writeln!(
        s,
        r#"<line x1="{x0:.1}" y1="{y0:.1}" x2="{ex:.1}" y2="{ey:.1}" stroke="{colour}" stroke-width="1.6" stroke-dasharray="2 4"/>"#
    );
    let _ = writeln!(
        s,
        r#"<path d="M {:.1} {:.1} L {:.1} {:.1} M {:.1} {:.1} L {:.1} {:.1}" stroke="{}" stroke-width="2.6"/>"#,
        ex - 7.0,
        ey - 7.0,
        ex + 7.0,
        ey + 7.0,
        ex - 7.0,
        ey + 7.0,
        ex + 7.0,
        ey - 7.0,
        p.rst
    );
    let (dx, dy) = (x1 - x0, y1 - y0);
    let angle = upright(dx, dy);
    let t = label_at.min(0.4);
    let (mx, my) = (x0 + dx * t, y0 + dy * t - 6.0);
    let _ = writeln!(
        s,
        r#"<text x="{mx:.1}" y="{my:.1}" font-size="{LABEL_PX}" font-family="{MONO}" text-anchor="middle" fill="{colour}" transform="rotate({angle:.2} {mx:.1} {my:.1})">{}</text>"#,
        esc(&label_text(a))
    );
}

/// A socket call: its bar on the lifeline when it blocked, a tick where it
/// returned and its label beside, outside the lanes.
fn call(s: &mut String, g: &Geometry, c: &CallMark, p: &Palette) {
    let x = g.lane(c.side);
    let yr = y(c.y);
    let _ = write!(s, r#"<g class="call">"#);
    if let Some(y0) = c.y_entered {
        let y0 = y(y0);
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{y0:.1}" width="8" height="{:.1}" fill="{}" fill-opacity="0.35" stroke="{}" stroke-width="1"/>"#,
            x - 4.0,
            (yr - y0).max(2.0),
            p.call,
            p.call
        );
    }
    let (x1, tx, anchor) = match c.side {
        Side::Client => (x - 10.0, x - 13.0, "end"),
        Side::Server => (x + 10.0, x + 13.0, "start"),
    };
    let _ = writeln!(
        s,
        r#"<line x1="{x:.1}" y1="{yr:.1}" x2="{x1:.1}" y2="{yr:.1}" stroke="{c}" stroke-width="2"/><text x="{tx:.1}" y="{:.1}" font-size="{CALL_PX}" font-family="{MONO}" text-anchor="{anchor}" fill="{c}">{}</text></g>"#,
        yr + 4.0,
        esc(&c.label),
        c = p.call
    );
}

/// The time at an arrow's tail, on the left axis.
fn axis_time(s: &mut String, g: &Geometry, p: &Palette, y0: f64, ms: f64) {
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" font-size="11" font-family="{MONO}" text-anchor="end" fill="{}">{ms:.3}</text>"#,
        g.axis,
        y0 + 4.0,
        p.muted,
    );
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

fn wrap(text: &str, width: usize) -> Vec<String> {
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
    lines
}

fn arrow(s: &mut String, g: &Geometry, a: &Arrow, p: &Palette, label_at: f64) {
    let colour = role_colour(p, a.role);
    let (x0, x1) = match a.from {
        Side::Client => (g.client, g.server),
        Side::Server => (g.server, g.client),
    };
    let (y0, y1) = (y(a.y_send), y(a.y_arrive));
    if a.lost {
        lost_arrow(s, g, a, p, (x0, y0, x1, y1), label_at);
        return;
    }
    // Time on the axis at the arrow's tail.
    axis_time(s, g, p, y0, a.time_ms);
    let dash = if a.retransmission {
        r#" stroke-dasharray="7 5""#
    } else {
        ""
    };
    let width = if a.role == Role::Rst { 2.4 } else { 1.6 };
    // Stop the shaft at the arrowhead's base.
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let head = 11.0;
    let (bx, by) = (x1 - ux * head, y1 - uy * head);
    let _ = writeln!(
        s,
        r#"<line x1="{x0:.1}" y1="{y0:.1}" x2="{bx:.1}" y2="{by:.1}" stroke="{colour}" stroke-width="{width}"{dash}/>"#
    );
    let (px, py) = (-uy * 4.5, ux * 4.5);
    let _ = writeln!(
        s,
        r#"<polygon points="{x1:.1},{y1:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
        bx + px,
        by + py,
        bx - px,
        by - py
    );
    if a.refused {
        // A cross means lost; the RST refusing a connection arrived, and
        // says what it is in a badge on its shaft, near its sender.
        let (w, h) = (BADGE_W, 16.0);
        let cx = x0 + dx.signum() * (16.0 + w / 2.0);
        let cy = y0 + dy * ((cx - x0) / dx);
        let _ = writeln!(
            s,
            r#"<g class="refused"><rect x="{:.1}" y="{:.1}" width="{w:.1}" height="{h}" rx="3" fill="{}" stroke="{colour}" stroke-width="1.4"/><text x="{cx:.1}" y="{:.1}" font-size="11" font-weight="bold" text-anchor="middle" fill="{colour}">refused</text></g>"#,
            cx - w / 2.0,
            cy - h / 2.0,
            p.background,
            cy + 4.0
        );
    }
    let angle = upright(dx, dy);
    // Keep the whole label between the lifelines.
    let half = label_text(a).chars().count() as f64 * MONO_W / 2.0 * (dx / len).abs();
    let (lo, hi) = (x0.min(x1) + half + 10.0, x0.max(x1) - half - 10.0);
    let mut mx = x0 + dx * label_at;
    if lo <= hi {
        mx = mx.clamp(lo, hi);
    }
    let t = if dx.abs() > f64::EPSILON {
        (mx - x0) / dx
    } else {
        0.5
    };
    let my = y0 + dy * t - 6.0;
    let _ = writeln!(
        s,
        r#"<text x="{mx:.1}" y="{my:.1}" font-size="{LABEL_PX}" font-family="{MONO}" text-anchor="middle" fill="{colour}" transform="rotate({angle:.2} {mx:.1} {my:.1})">{}</text>"#,
        esc(&label_text(a))
    );
}

/// An ICMP error: a router mark (a small circle named with its address)
/// between the lifelines, or the peer's lifeline when its host sent it, and
/// a dash-dotted arrow to the endpoint, labelled above and with its effect
/// below.
fn icmp_arrow(s: &mut String, g: &Geometry, a: &IcmpArrow, p: &Palette) {
    let colour = p.icmp;
    let x0 = g.client + (g.server - g.client) * a.x_from;
    let x1 = g.lane(a.to);
    let (y0, y1) = (y(a.y_send), y(a.y_arrive));
    axis_time(s, g, p, y0, a.time_ms);
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let start = if a.from_peer { 0.0 } else { 7.0 };
    let (sx, sy) = (x0 + ux * start, y0 + uy * start);
    let head = 11.0;
    let (bx, by) = (x1 - ux * head, y1 - uy * head);
    let _ = writeln!(
        s,
        r#"<g class="icmp"><line x1="{sx:.1}" y1="{sy:.1}" x2="{bx:.1}" y2="{by:.1}" stroke="{colour}" stroke-width="1.8" stroke-dasharray="9 3 2 3"/>"#
    );
    let (px, py) = (-uy * 4.5, ux * 4.5);
    let _ = writeln!(
        s,
        r#"<polygon points="{x1:.1},{y1:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
        bx + px,
        by + py,
        bx - px,
        by - py
    );
    if !a.from_peer {
        let _ = writeln!(
            s,
            r#"<circle cx="{x0:.1}" cy="{y0:.1}" r="6" fill="{}" stroke="{colour}" stroke-width="2"/>"#,
            p.background
        );
        // Above the mark, running away from the label.
        let (tx, anchor) = match a.to {
            Side::Client => (x0 - 4.0, "start"),
            Side::Server => (x0 + 4.0, "end"),
        };
        let _ = writeln!(
            s,
            r#"<text x="{tx:.1}" y="{:.1}" font-size="11" text-anchor="{anchor}" fill="{colour}">{}</text>"#,
            y0 - 11.0,
            esc(&a.sender)
        );
    }
    let angle = upright(dx, dy);
    let (mx, my) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let _ = writeln!(
        s,
        r#"<text x="{mx:.1}" y="{:.1}" font-size="{LABEL_PX}" font-family="{MONO}" text-anchor="middle" fill="{colour}" transform="rotate({angle:.2} {mx:.1} {my:.1})">{}</text>"#,
        my - 6.0,
        esc(&a.label)
    );
    let _ = writeln!(
        s,
        r#"<text x="{mx:.1}" y="{:.1}" font-size="11" font-style="italic" text-anchor="middle" fill="{colour}" transform="rotate({angle:.2} {mx:.1} {my:.1})">{}</text></g>"#,
        my + 14.0,
        esc(&a.effect)
    );
}
