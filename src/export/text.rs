//! The Unicode (or plain ASCII) ladder printed by `analyze`: a time column,
//! the two endpoints as columns, one arrow per segment, each endpoint's
//! state written where it changes, and the TIME-WAIT span. Socket calls,
//! where known, hang off their endpoint's lifeline inside the lanes
//! (`├ connect() = 0`, `accept() = 4 ┤`), with the lifeline drawn heavy
//! while a call blocks. For a terminal, state names and the verdict can be
//! coloured with ANSI escapes ([`Paint::Ansi`]); the layout is the same.

use std::fmt::Write;

use crate::ladder::{CallLine, IcmpLine, Ladder, Line, MarkView, Row};
use crate::track::{Side, State};

/// Character set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    Unicode,
    Ascii,
}

/// Plain text, or state names and the verdict in ANSI colours (for a
/// terminal: `analyze --color`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Paint {
    #[default]
    Plain,
    Ansi,
}

const RESET: &str = "\x1b[0m";

impl Paint {
    /// `name` in the colour the terminal UI gives `state` (bold; TIME-WAIT
    /// magenta, CLOSED red, the rest cyan), in the terminal's own palette
    /// so it reads on dark and light backgrounds alike.
    fn state(self, state: State, name: &str) -> String {
        match self {
            Paint::Plain => name.to_string(),
            Paint::Ansi => {
                let sgr = match state {
                    State::TimeWait => "\x1b[1;35m",
                    State::Closed => "\x1b[1;31m",
                    _ => "\x1b[1;36m",
                };
                format!("{sgr}{name}{RESET}")
            }
        }
    }

    /// The verdict, in bold.
    fn verdict(self, text: &str) -> String {
        match self {
            Paint::Plain => text.to_string(),
            Paint::Ansi => format!("\x1b[1m{text}{RESET}"),
        }
    }
}

/// Text for a column: what it shows, and how many cells that is (escapes
/// take none).
struct Cell {
    text: String,
    width: usize,
}

impl Cell {
    fn plain(text: String) -> Cell {
        let width = text.chars().count();
        Cell { text, width }
    }

    /// The text and blanks to fill `width` cells.
    fn padded(&self, width: usize) -> Padded<'_> {
        Padded(self, width)
    }
}

/// A [`Cell`] filled with blanks to a width, written without a copy.
struct Padded<'a>(&'a Cell, usize);

impl std::fmt::Display for Padded<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.text)?;
        for _ in self.0.width..self.1 {
            f.write_char(' ')?;
        }
        Ok(())
    }
}

struct Glyphs {
    line: char,
    dashed: char,
    right: char,
    left: char,
    life: char,
    span: char,
    /// The broken shaft of an ICMP error, so it is not taken for a segment.
    icmp: &'static str,
    then: &'static str,
    /// Ends text cut short.
    more: char,
    /// A lifeline while a call on it blocks, and where a call returns on
    /// it (plain and on a bar, per side: client, server).
    bar: char,
    tick: [char; 2],
    bar_tick: [char; 2],
}

const UNICODE: Glyphs = Glyphs {
    line: '─',
    dashed: '╌',
    right: '▶',
    left: '◀',
    life: '│',
    span: '┆',
    icmp: "─ ",
    then: " → ",
    more: '…',
    bar: '┃',
    tick: ['├', '┤'],
    bar_tick: ['┣', '┫'],
};

const ASCII: Glyphs = Glyphs {
    line: '-',
    dashed: '.',
    right: '>',
    left: '<',
    life: '|',
    span: ':',
    icmp: "- ",
    then: " -> ",
    more: '+',
    bar: '#',
    tick: ['+', '+'],
    bar_tick: ['#', '#'],
};

const TIME_W: usize = 11;

/// Where finished lines go: a `String`, or any writer.
trait LineSink {
    fn line(&mut self, line: &str) -> std::io::Result<()>;
}

impl LineSink for String {
    fn line(&mut self, line: &str) -> std::io::Result<()> {
        self.push_str(line);
        self.push('\n');
        Ok(())
    }
}

/// A writer as a [`LineSink`].
struct Writer<'w, W: std::io::Write>(&'w mut W);

impl<W: std::io::Write> LineSink for Writer<'_, W> {
    fn line(&mut self, line: &str) -> std::io::Result<()> {
        self.0.write_all(line.as_bytes())?;
        self.0.write_all(b"\n")
    }
}

/// Text written through it goes out a line at a time, without trailing
/// blanks (the golden files and terminals stay clean), each line ending
/// in a newline, and in ASCII when asked. The first error is kept and
/// returned by `finish`.
struct Lines<S: LineSink> {
    sink: S,
    line: String,
    ascii: bool,
    error: Option<std::io::Error>,
}

impl<S: LineSink> Lines<S> {
    fn new(sink: S, charset: Charset) -> Self {
        Lines {
            sink,
            line: String::new(),
            ascii: charset == Charset::Ascii,
            error: None,
        }
    }

    /// Ends the line so far.
    fn end_line(&mut self) {
        if self.error.is_none() {
            let line = self.line.trim_end();
            let r = if self.ascii {
                // The verdict and header carry a few non-ASCII signs of their own.
                self.sink.line(&line.replace('→', "->").replace('µ', "u"))
            } else {
                self.sink.line(line)
            };
            if let Err(e) = r {
                self.error = Some(e);
            }
        }
        self.line.clear();
    }

    fn finish(mut self) -> std::io::Result<S> {
        if !self.line.is_empty() {
            self.end_line();
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.sink),
        }
    }
}

impl<S: LineSink> Write for Lines<S> {
    fn write_str(&mut self, mut s: &str) -> std::fmt::Result {
        // Formatting writes in small pieces: a plain scan beats memchr's
        // set-up on them.
        while let Some(n) = s.bytes().position(|b| b == b'\n') {
            self.line.push_str(&s[..n]);
            self.end_line();
            s = &s[n + 1..];
        }
        self.line.push_str(s);
        Ok(())
    }

    // Padding comes a character at a time.
    fn write_char(&mut self, c: char) -> std::fmt::Result {
        if c == '\n' {
            self.end_line();
        } else {
            self.line.push(c);
        }
        Ok(())
    }
}

pub fn render(l: &Ladder, charset: Charset) -> String {
    render_painted(l, charset, Paint::Plain)
}

/// [`render`], coloured as `paint` says.
pub fn render_painted(l: &Ladder, charset: Charset, paint: Paint) -> String {
    // Lines into a String: nothing can fail.
    render_lines(l, paint, Lines::new(String::new(), charset)).unwrap_or_default()
}

/// [`render_painted`], written to `w` a line at a time: a ladder of
/// millions of rows is never held as text.
pub fn render_to(
    l: &Ladder,
    charset: Charset,
    paint: Paint,
    w: &mut impl std::io::Write,
) -> std::io::Result<()> {
    render_lines(l, paint, Lines::new(Writer(w), charset)).map(|_| ())
}

fn render_lines<S: LineSink>(l: &Ladder, paint: Paint, mut out: Lines<S>) -> std::io::Result<S> {
    let w = Widths {
        paint,
        ..Widths::of(l, out.ascii)
    };
    w.header(l, &mut out);
    w.body(l, &mut out);
    w.footer(l, &mut out);
    out.finish()
}

/// [`render_to`] for a connection too long to hold as rows at once: the
/// same text, its rows made `chunk` at a time (twice: once to measure the
/// columns). Only for a connection without ICMP errors, whose lines are
/// its rows alone.
pub fn render_long_to(
    c: &crate::track::Connection,
    msl: crate::time::Span,
    style: crate::ladder::LabelStyle,
    charset: Charset,
    paint: Paint,
    chunk: usize,
    w: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let chunk = chunk.max(1);
    let n = c.segments.len();
    let part = |a: usize| Ladder::build_part_rows(c, msl, style, a..(a + chunk).min(n));
    let ascii = charset == Charset::Ascii;
    let frame = Ladder::build_range(c, msl, style, 0..0);
    let mut widths = Widths {
        paint,
        ..Widths::of(&frame, ascii)
    };
    for a in (0..n).step_by(chunk) {
        widths = widths.max(Widths::of(&part(a), ascii));
    }
    let mut out = Lines::new(Writer(w), charset);
    widths.header(&frame, &mut out);
    for a in (0..n).step_by(chunk) {
        widths.body(&part(a), &mut out);
    }
    widths.footer(&frame, &mut out);
    out.finish().map(|_| ())
}

/// The glyphs and the two column widths a ladder's text is laid out in.
#[derive(Clone, Copy)]
struct Widths {
    g: &'static Glyphs,
    cw: usize,
    arrow_w: usize,
    paint: Paint,
}

fn marks_text(g: &Glyphs, ms: &[MarkView]) -> String {
    ms.iter()
        .map(|m| m.state.name())
        .collect::<Vec<_>>()
        .join(g.then)
}

/// [`marks_text`] as painted.
fn marks_cell(g: &Glyphs, ms: &[MarkView], paint: Paint) -> Cell {
    let plain = marks_text(g, ms);
    if paint == Paint::Plain {
        return Cell::plain(plain);
    }
    let width = plain.chars().count();
    let text = ms
        .iter()
        .map(|m| paint.state(m.state, m.state.name()))
        .collect::<Vec<_>>()
        .join(g.then);
    Cell { text, width }
}

fn tail_text(t: &crate::ladder::TailMark) -> String {
    format!("{} ({})", t.mark.state.name(), t.why())
}

/// [`tail_text`] as painted.
fn tail_cell(t: &crate::ladder::TailMark, paint: Paint) -> Cell {
    let state = t.mark.state;
    Cell {
        text: format!("{} ({})", paint.state(state, state.name()), t.why()),
        width: tail_text(t).chars().count(),
    }
}

/// A state's name as painted.
fn state_cell(state: State, paint: Paint) -> Cell {
    Cell {
        text: paint.state(state, state.name()),
        width: state.name().chars().count(),
    }
}

impl Widths {
    /// Wide enough for everything in `l`.
    fn of(l: &Ladder, ascii: bool) -> Widths {
        let g = if ascii { &ASCII } else { &UNICODE };
        let marks_text = |ms: &[MarkView]| marks_text(g, ms);
        let mut cw = State::SynReceived.name().len();
        let mut arrow_w = 20;
        for r in &l.rows {
            cw = cw.max(marks_text(&r.marks[0]).chars().count());
            arrow_w = arrow_w.max(r.label_with_notes().chars().count() + 8);
        }
        for i in &l.icmp {
            cw = cw.max(marks_text(&i.marks[0]).chars().count());
            arrow_w = arrow_w.max(i.label_with_notes().chars().count() + 12);
        }
        for c in &l.calls {
            arrow_w = arrow_w.max(c.label.chars().count() + 6);
        }
        for t in l.tail.iter().filter(|t| t.side == Side::Client) {
            cw = cw.max(tail_text(t).chars().count());
        }
        Widths {
            g,
            cw,
            arrow_w,
            paint: Paint::Plain,
        }
    }

    fn max(self, o: Widths) -> Widths {
        Widths {
            cw: self.cw.max(o.cw),
            arrow_w: self.arrow_w.max(o.arrow_w),
            ..self
        }
    }

    /// The title, the endpoints and their first states.
    fn header(&self, l: &Ladder, out: &mut impl Write) {
        let (g, cw, arrow_w) = (self.g, self.cw, self.arrow_w);
        let client_h = format!("client {}", l.client);
        let server_h = format!("server {}", l.server);
        let _ = writeln!(out, "connection {}: {} → {}", l.number, client_h, server_h);
        let _ = writeln!(out, "verdict: {}", self.paint.verdict(&l.verdict));
        let _ = writeln!(out);
        // Header and the initial states.
        let lead = " ".repeat(TIME_W + 2);
        let _ = writeln!(
            out,
            "{:>TIME_W$}  {:<width$}{}",
            "time (s)",
            client_h,
            server_h,
            width = cw + arrow_w + 3
        );
        let _ = writeln!(
            out,
            "{lead}{} {life}{:arrow_w$}{life} {}",
            state_cell(l.initial[0], self.paint).padded(cw),
            "",
            state_cell(l.initial[1], self.paint).text,
            life = g.life
        );
    }

    /// The ladder's lines.
    fn body(&self, l: &Ladder, out: &mut impl Write) {
        let (g, cw, arrow_w, paint) = (self.g, self.cw, self.arrow_w, self.paint);
        // Inside a TIME-WAIT span on a line after row `after` (not the row it
        // starts on) at `time`?
        let in_span = |side: Side, after: bool, row: usize, time| {
            l.time_waits.iter().any(|t| {
                t.side == side
                    && (row > t.row || after && row >= t.row)
                    && (time < t.expires || !t.ran_out && !t.ended_early)
            })
        };
        let side_texts = |marks: &[Vec<MarkView>; 2], span: &dyn Fn(Side) -> bool| {
            Side::BOTH.map(|side| {
                let ms = &marks[side.index()];
                if !ms.is_empty() {
                    marks_cell(g, ms, paint)
                } else if span(side) {
                    Cell::plain(g.span.to_string())
                } else {
                    Cell::plain(String::new())
                }
            })
        };
        let bars = l.bars();
        for (n, line) in l.lines().enumerate() {
            let (offset, side_text, arrow) = match line {
                Line::Segment(p) => {
                    let r = &l.rows[p];
                    let span = |side| in_span(side, false, r.index, r.time);
                    (r.offset, side_texts(&r.marks, &span), arrow(r, arrow_w, g))
                }
                Line::Icmp(p) => {
                    let i = &l.icmp[p];
                    let span = |side| i.after_row.is_some_and(|a| in_span(side, true, a, i.time));
                    (
                        i.offset,
                        side_texts(&i.marks, &span),
                        icmp_arrow(i, arrow_w, g),
                    )
                }
                Line::Call(p) => {
                    let c = &l.calls[p];
                    let span = |side| {
                        c.after_row
                            .is_some_and(|a| in_span(side, true, a, c.returned))
                    };
                    let none = [Vec::new(), Vec::new()];
                    (c.offset, side_texts(&none, &span), call_line(c, arrow_w, g))
                }
            };
            // A blocked call's bar: the lifeline drawn heavy.
            let arrow = match bars.get(n) {
                Some(&[a, b]) if a || b => {
                    let mut cells: Vec<char> = arrow.chars().collect();
                    let last = cells.len().saturating_sub(1);
                    for (on, at) in [(a, 0), (b, last)] {
                        if on && cells.get(at) == Some(&g.life) {
                            cells[at] = g.bar;
                        }
                    }
                    cells.into_iter().collect()
                }
                _ => arrow,
            };
            let _ = writeln!(
                out,
                "{:>TIME_W$.6}  {} {} {}",
                offset.as_secs_f64(),
                side_text[0].padded(cw),
                arrow,
                side_text[1].text,
            );
            // Under its arrow, the segment's payload (`analyze --payload`).
            if let Line::Segment(p) = line
                && let Some(text) = l.payload_of(l.rows[p].index)
            {
                let inner = arrow_w.saturating_sub(4).max(8);
                for chunk in payload_lines(text, inner, g.more) {
                    let _ = writeln!(
                        out,
                        "{:>TIME_W$}  {:<cw$} {life}  {chunk:<inner$}  {life}",
                        "",
                        "",
                        life = g.life
                    );
                }
            }
        }
    }

    /// What comes after the last line: states past it, notes.
    fn footer(&self, l: &Ladder, out: &mut impl Write) {
        let (g, cw, arrow_w) = (self.g, self.cw, self.arrow_w);
        let lead = " ".repeat(TIME_W + 2);
        for t in &l.tail {
            let cell = tail_cell(t, self.paint);
            let none = Cell::plain(String::new());
            let (left, right) = match t.side {
                Side::Client => (&cell, &none),
                Side::Server => (&none, &cell),
            };
            let _ = writeln!(
                out,
                "{:>TIME_W$.6}  {} {life}{:arrow_w$}{life} {}",
                t.offset.as_secs_f64(),
                left.padded(cw),
                "",
                right.text,
                life = g.life
            );
        }
        if !l.calls.is_empty() {
            let _ = writeln!(
                out,
                "{lead}calls: timed on the clock of the endpoint that made them, placed among the segments by their estimated times there"
            );
        }
        for t in &l.time_waits {
            if !t.ran_out && !t.ended_early {
                let _ = writeln!(
                    out,
                    "{lead}{} TIME-WAIT (2MSL = {}) until {:.6}, after the end of the capture",
                    t.side,
                    t.length,
                    (t.expires - l.start).as_secs_f64()
                );
            }
        }
    }
}

/// `│── label ───▶│` or `│◀── label ───│`, `width` cells between the
/// lifelines.
/// Payload text under an arrow: at most this many lines of it.
const PAYLOAD_LINES: usize = 4;

/// `text` cut into lines of `width` characters, the last ending in
/// `more` when there is more than [`PAYLOAD_LINES`] hold.
fn payload_lines(text: &str, width: usize, more: char) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<String> = chars.chunks(width).map(|c| c.iter().collect()).collect();
    if lines.len() > PAYLOAD_LINES {
        lines.truncate(PAYLOAD_LINES);
        if let Some(last) = lines.last_mut() {
            last.pop();
            last.push(more);
        }
    }
    lines
}

fn arrow(r: &Row, width: usize, g: &Glyphs) -> String {
    let line = if r.retransmission { g.dashed } else { g.line };
    let text = r.label_with_notes();
    let used = text.chars().count() + 2 + 1; // spaces around, head
    let fill = width.saturating_sub(used);
    let before = 2.min(fill);
    let after = fill - before;
    let run = |n: usize| line.to_string().repeat(n);
    match r.from {
        Side::Client => format!(
            "{life}{} {text} {}{}{life}",
            run(before),
            run(after),
            g.right,
            life = g.life
        ),
        Side::Server => format!(
            "{life}{}{} {text} {}{life}",
            g.left,
            run(before),
            run(after),
            life = g.life
        ),
    }
}

/// `├ connect() = 0          │` or `│          accept() = 4 ┤`: a call
/// hangs off its own lifeline, with no shaft or head, so it is not taken
/// for a segment.
fn call_line(c: &CallLine, width: usize, g: &Glyphs) -> String {
    let k = c.side.index();
    let tick = if c.blocked { g.bar_tick[k] } else { g.tick[k] };
    let text = &c.label;
    let pad = " ".repeat(width.saturating_sub(text.chars().count() + 2));
    match c.side {
        Side::Client => format!("{tick} {text}{pad} {}", g.life),
        Side::Server => format!("{} {pad}{text} {tick}", g.life),
    }
}

/// `│◀─ ICMP … ─ ─ ─│` toward the endpoint it goes back to, with a broken
/// shaft: an error from a router or the peer's host, not a segment.
fn icmp_arrow(i: &IcmpLine, width: usize, g: &Glyphs) -> String {
    let text = i.label_with_notes();
    let mut chars = g.icmp.chars();
    let (dash, gap) = (chars.next().unwrap_or('-'), chars.next().unwrap_or(' '));
    // Head, a solid piece, the label, and the broken run with the space
    // beside the label: " ─ ─ ─" ends on a dash when its length is even;
    // the solid piece takes one more dash when it is not.
    let broken_len = width.saturating_sub(text.chars().count() + 3);
    let (solid, broken_len) = if broken_len % 2 == 1 && broken_len > 1 {
        (2, broken_len - 1)
    } else {
        (1, broken_len)
    };
    let solid = dash.to_string().repeat(solid);
    let broken = |from_text: bool| -> String {
        (0..broken_len)
            .map(|k| {
                let k = if from_text { k } else { broken_len - 1 - k };
                if k % 2 == 0 { gap } else { dash }
            })
            .collect()
    };
    match i.to {
        Side::Client => format!(
            "{life}{}{solid} {text}{}{life}",
            g.left,
            broken(true),
            life = g.life
        ),
        Side::Server => format!(
            "{life}{}{text} {solid}{}{life}",
            broken(false),
            g.right,
            life = g.life
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Flags, IcmpError, IcmpKind, IcmpVersion, Segment, SeqNumber};
    use crate::ladder::LabelStyle;
    use crate::time::{Span, Timestamp};
    use crate::track::{TrackConfig, Tracker};

    /// SYN, SYN,ACK, then an error about the SYN,ACK from `from`, which
    /// goes back to the server.
    fn ladder(from: &str) -> Ladder {
        let mut t = Tracker::new(TrackConfig::default());
        let c: std::net::SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let s: std::net::SocketAddr = "10.0.0.2:80".parse().unwrap();
        t.push(
            &Segment::new(c, s, Flags(0x02), 100, 0, 0),
            Timestamp::from_nanos(0),
            1,
        );
        t.push(
            &Segment::new(s, c, Flags(0x12), 500, 101, 0),
            Timestamp::from_nanos(1000),
            2,
        );
        let err = IcmpError {
            from: from.parse().unwrap(),
            to: s.ip(),
            version: IcmpVersion::V4,
            kind: IcmpKind {
                version: IcmpVersion::V4,
                ty: 3,
                code: 3,
            },
            quoted_src: s,
            quoted_dst: c,
            quoted_seq: SeqNumber(500),
            quoted_flags: None,
            mtu: None,
            ttl: 64,
        };
        assert!(t.push_icmp(&err, Timestamp::from_nanos(2000), 3));
        let conn = t.finish(Timestamp::from_nanos(3000)).remove(0);
        Ladder::build(&conn, Span::from_secs(30), LabelStyle::default())
    }

    /// The text without its ANSI escapes.
    fn unpainted(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(at) = rest.find('\x1b') {
            out.push_str(&rest[..at]);
            let end = rest[at..].find('m').map_or(rest.len(), |m| at + m + 1);
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn colour_marks_state_names_and_the_verdict_and_moves_nothing() {
        let l = ladder("10.9.9.9");
        for charset in [Charset::Unicode, Charset::Ascii] {
            let plain = render(&l, charset);
            let painted = render_painted(&l, charset, Paint::Ansi);
            assert!(!plain.contains('\x1b'), "{plain}");
            assert_eq!(unpainted(&painted), plain);
            let verdict = painted.lines().nth(1).unwrap_or_default();
            assert!(verdict.starts_with("verdict: \x1b[1m"), "{verdict:?}");
            for coloured in [
                "\x1b[1;31mCLOSED\x1b[0m",
                "\x1b[1;36mLISTEN\x1b[0m",
                "\x1b[1;36mSYN-SENT\x1b[0m",
                "\x1b[1;36mSYN-RECEIVED\x1b[0m",
            ] {
                assert!(painted.contains(coloured), "no {coloured:?} in {painted}");
            }
            // Labels stay plain: "SYN" is no state.
            assert!(!painted.contains("\x1b[1;36mSYN\x1b"), "{painted}");
        }
    }

    #[test]
    fn an_error_from_the_peer_host_starts_on_its_lifeline_without_a_router() {
        let l = ladder("10.0.0.1");
        let p = crate::ladder::diagram::Placement::estimate(&l);
        let d = crate::ladder::diagram::layout(&l, &p, false, None);
        assert_eq!(d.icmp[0].x_from, 0.0);
        assert_eq!(d.icmp[0].to, Side::Server);
        let svg = crate::export::svg::render(
            &crate::ladder::page::lay_out(&d),
            &crate::export::svg::LIGHT,
        );
        assert!(svg.contains("ICMP port unreachable (quoting SYN,ACK seq=0)"));
        assert!(!svg.contains("<circle"), "no router mark");
        let routed = ladder("10.9.9.9");
        let d = crate::ladder::diagram::layout(&routed, &p, false, None);
        assert_eq!(d.icmp[0].x_from, 1.0 - crate::ladder::diagram::ROUTER_AT);
        let svg = crate::export::svg::render(
            &crate::ladder::page::lay_out(&d),
            &crate::export::svg::LIGHT,
        );
        assert!(svg.contains("<circle") && svg.contains("router 10.9.9.9"));
    }

    #[test]
    fn an_error_to_the_server_points_right_with_a_broken_shaft() {
        for charset in [Charset::Unicode, Charset::Ascii] {
            let l = ladder("10.0.0.1");
            assert!(l.icmp[0].from_peer, "the client's host sent it");
            assert_eq!(l.icmp[0].sender(), "client host 10.0.0.1");
            let out = render(&l, charset);
            let line = out
                .lines()
                .find(|l| l.contains("ICMP port unreachable from 10.0.0.1 (quoting"))
                .unwrap_or_else(|| panic!("{out}"));
            let (life, head, dash) = match charset {
                Charset::Unicode => ("│", "─▶│", "│─ ─"),
                Charset::Ascii => ("|", "->|", "|- -"),
            };
            assert!(line.contains(dash) && line.ends_with(head), "{line}");
            assert!(
                line.contains("(quoting SYN,ACK seq=0) [soft error]"),
                "{line}"
            );
            // After the SYN,ACK's row, and the arrow is as wide as the others.
            let rows: Vec<&str> = out.lines().filter(|l| l.contains(life)).collect();
            assert!(rows.last().is_some_and(|r| r == &line), "{out}");
            let width = |s: &str| {
                let cells: Vec<char> = s.chars().collect();
                let life = life.chars().next().unwrap_or('|');
                let a = cells.iter().position(|&c| c == life);
                let b = cells.iter().rposition(|&c| c == life);
                a.zip(b).map(|(a, b)| b - a)
            };
            assert_eq!(width(line), width(rows[1]), "{out}");
        }
    }
}
