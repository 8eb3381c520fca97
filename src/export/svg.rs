//! The lecture diagram as SVG: real vector text, no external fonts or
//! images (font families fall back to the viewer's sans and monospace),
//! readable when scaled onto a slide. Draws a `ladder::page::Page` as it
//! is: every position and size was decided there.
//! Socket calls are labels outside their endpoint's lifeline (where the
//! state boxes are, at steps of their own), with a bar on the lifeline
//! from entry to return for a call that blocked, as textbooks draw them.

use std::fmt::Write;

use crate::ladder::Role;
use crate::ladder::page::{
    Anchor, ArrowShape, BoxShape, BracketShape, CallShape, Dash, Font, Head, IcmpShape, Ink, Page,
    Stroke, Text,
};

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

fn role_colour(p: &Palette, role: Role) -> &'static str {
    match role {
        Role::Syn | Role::SynAck => p.syn,
        Role::Fin => p.fin,
        Role::Rst => p.rst,
        Role::Data => p.data,
        Role::Ack => p.ack,
    }
}

fn colour(p: &Palette, ink: Ink) -> &'static str {
    match ink {
        Ink::Text => p.text,
        Ink::Muted => p.muted,
        Ink::Lifeline => p.lifeline,
        Ink::Role(r) => role_colour(p, r),
        Ink::TimeWait => p.time_wait,
        Ink::Icmp => p.icmp,
        Ink::Call => p.call,
    }
}

/// Escapes text for SVG: XML's five, and what XML cannot hold at all
/// (control characters, shown as their pictures; see `shown`).
pub fn esc(s: &str) -> String {
    let s = crate::shown::visible(s);
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

fn text(s: &mut String, t: &Text, p: &Palette) {
    let (x, y) = t.at;
    let _ = write!(s, r#"<text x="{x:.1}" y="{y:.1}" font-size="{}""#, t.size);
    match t.font {
        Font::Sans => {}
        Font::SansBold => s.push_str(r#" font-weight="bold""#),
        Font::SansItalic => s.push_str(r#" font-style="italic""#),
        Font::Mono => {
            let _ = write!(s, r#" font-family="{MONO}""#);
        }
    }
    match t.anchor {
        Anchor::Start => {}
        Anchor::Middle => s.push_str(r#" text-anchor="middle""#),
        Anchor::End => s.push_str(r#" text-anchor="end""#),
    }
    let _ = write!(s, r#" fill="{}""#, colour(p, t.ink));
    if t.angle != 0.0 {
        let _ = write!(s, r#" transform="rotate({:.2} {x:.1} {y:.1})""#, t.angle);
    }
    let _ = write!(s, ">{}</text>", esc(&t.text));
}

fn line(s: &mut String, l: &Stroke, p: &Palette) {
    let ((x0, y0), (x1, y1)) = (l.from, l.to);
    let dash = match l.dash {
        Dash::Solid => "",
        Dash::Dashed => r#" stroke-dasharray="7 5""#,
        Dash::Dotted => r#" stroke-dasharray="2 4""#,
        Dash::DashDot => r#" stroke-dasharray="9 3 2 3""#,
    };
    let _ = write!(
        s,
        r#"<line x1="{x0:.1}" y1="{y0:.1}" x2="{x1:.1}" y2="{y1:.1}" stroke="{}" stroke-width="{}"{dash}/>"#,
        colour(p, l.ink),
        l.width
    );
}

fn head(s: &mut String, h: &Head, p: &Palette) {
    let [(ax, ay), (bx, by)] = h.corners;
    let (tx, ty) = h.tip;
    let _ = write!(
        s,
        r#"<polygon points="{tx:.1},{ty:.1} {ax:.1},{ay:.1} {bx:.1},{by:.1}" fill="{}"/>"#,
        colour(p, h.ink)
    );
}

/// Renders the page as a standalone SVG document.
pub fn render(page: &Page, p: &Palette) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="{SANS}">"#,
        w = page.width,
        h = page.height
    );
    let _ = writeln!(s, "<title>{}</title>", esc(&page.title.text));
    let _ = writeln!(
        s,
        r#"<rect x="0" y="0" width="{:.0}" height="{:.0}" fill="{}"/>"#,
        page.width, page.height, p.background
    );
    for t in std::iter::once(&page.title)
        .chain(&page.verdict)
        .chain(&page.lanes)
    {
        text(&mut s, t, p);
        s.push('\n');
    }
    for l in &page.lifelines {
        line(&mut s, l, p);
        s.push('\n');
    }
    text(&mut s, &page.unit, p);
    s.push('\n');
    for a in &page.arrows {
        arrow(&mut s, a, p);
    }
    for i in &page.icmp {
        icmp(&mut s, i, p);
    }
    for c in &page.calls {
        call(&mut s, c, p);
    }
    for b in &page.brackets {
        bracket(&mut s, b, p);
    }
    for b in &page.boxes {
        state_box(&mut s, b, p);
    }
    for t in &page.footer {
        text(&mut s, t, p);
        s.push('\n');
    }
    s.push_str("</svg>\n");
    s
}

/// A segment: its time on the axis, the shaft (dashed for a resend,
/// dotted and ending in a cross for a lost one), the head, the badge of a
/// refused connection's RST, and the label.
fn arrow(s: &mut String, a: &ArrowShape, p: &Palette) {
    text(s, &a.time, p);
    s.push('\n');
    line(s, &a.shaft, p);
    s.push('\n');
    if let Some(h) = &a.head {
        head(s, h, p);
        s.push('\n');
    }
    if let Some(c) = &a.cross {
        let ((x, y), r) = (c.at, c.half);
        let _ = writeln!(
            s,
            r#"<path d="M {:.1} {:.1} L {:.1} {:.1} M {:.1} {:.1} L {:.1} {:.1}" stroke="{}" stroke-width="{}"/>"#,
            x - r,
            y - r,
            x + r,
            y + r,
            x - r,
            y + r,
            x + r,
            y - r,
            p.rst,
            c.width
        );
    }
    if let Some(b) = &a.badge {
        let f = &b.frame;
        let _ = write!(
            s,
            r#"<g class="refused"><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="3" fill="{}" stroke="{}" stroke-width="1.4"/>"#,
            f.x,
            f.y,
            f.w,
            f.h,
            p.background,
            colour(p, b.text.ink)
        );
        text(s, &b.text, p);
        s.push_str("</g>\n");
    }
    text(s, &a.label, p);
    s.push('\n');
}

/// An ICMP error: a router mark (a small circle named with its address)
/// between the lifelines, or the peer's lifeline when its host sent it, and
/// a dash-dotted arrow to the endpoint, labelled above and with its effect
/// below.
fn icmp(s: &mut String, i: &IcmpShape, p: &Palette) {
    text(s, &i.time, p);
    s.push('\n');
    s.push_str(r#"<g class="icmp">"#);
    line(s, &i.shaft, p);
    s.push('\n');
    head(s, &i.head, p);
    s.push('\n');
    if let Some(((x, y), r, name)) = &i.router {
        let _ = writeln!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{}" stroke="{}" stroke-width="2"/>"#,
            p.background, p.icmp
        );
        text(s, name, p);
        s.push('\n');
    }
    text(s, &i.label, p);
    s.push('\n');
    text(s, &i.effect, p);
    s.push_str("</g>\n");
}

/// A socket call: its bar on the lifeline when it blocked, a tick where it
/// returned and its label beside, outside the lanes.
fn call(s: &mut String, c: &CallShape, p: &Palette) {
    s.push_str(r#"<g class="call">"#);
    if let Some(b) = &c.bar {
        let _ = write!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" fill-opacity="0.35" stroke="{}" stroke-width="1"/>"#,
            b.x, b.y, b.w, b.h, p.call, p.call
        );
    }
    line(s, &c.tick, p);
    text(s, &c.label, p);
    s.push_str("</g>\n");
}

/// The TIME-WAIT bracket, its turned label and how it ends.
fn bracket(s: &mut String, b: &BracketShape, p: &Palette) {
    let [(x0, y0), (x1, _), (_, y1), (x3, _)] = b.path;
    let _ = writeln!(
        s,
        r#"<path d="M {x0:.1} {y0:.1} H {x1:.1} V {y1:.1} H {x3:.1}" fill="none" stroke="{}" stroke-width="2"/>"#,
        p.time_wait
    );
    text(s, &b.label, p);
    s.push('\n');
    text(s, &b.end, p);
    s.push('\n');
}

fn state_box(s: &mut String, b: &BoxShape, p: &Palette) {
    let f = &b.frame;
    let _ = writeln!(
        s,
        r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{}" rx="4" fill="{}" stroke="{}" stroke-width="1.2"/>"#,
        f.x,
        f.y,
        f.w,
        f.h,
        p.box_fill,
        colour(p, b.stroke)
    );
    text(s, &b.text, p);
    s.push('\n');
}
