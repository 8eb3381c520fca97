//! The Unicode (or plain ASCII) ladder printed by `analyze`: a time column,
//! the two endpoints as columns, one arrow per segment, each endpoint's
//! state written where it changes, and the TIME-WAIT span.

use std::fmt::Write;

use crate::ladder::{Ladder, MarkView, Row};
use crate::track::{Side, State};

/// Character set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    Unicode,
    Ascii,
}

struct Glyphs {
    line: char,
    dashed: char,
    right: char,
    left: char,
    life: char,
    span: char,
    then: &'static str,
}

const UNICODE: Glyphs = Glyphs {
    line: '─',
    dashed: '╌',
    right: '▶',
    left: '◀',
    life: '│',
    span: '┆',
    then: " → ",
};

const ASCII: Glyphs = Glyphs {
    line: '-',
    dashed: '.',
    right: '>',
    left: '<',
    life: '|',
    span: ':',
    then: " -> ",
};

const TIME_W: usize = 11;

pub fn render(l: &Ladder, charset: Charset) -> String {
    let g = match charset {
        Charset::Unicode => &UNICODE,
        Charset::Ascii => &ASCII,
    };
    let marks_text = |ms: &[MarkView]| -> String {
        ms.iter()
            .map(|m| m.state.name())
            .collect::<Vec<_>>()
            .join(g.then)
    };
    let mut cw = State::SynReceived.name().len();
    let mut arrow_w = 20;
    for r in &l.rows {
        cw = cw.max(marks_text(&r.marks[0]).chars().count());
        arrow_w = arrow_w.max(r.label_with_notes().chars().count() + 8);
    }
    let tail_text = |t: &crate::ladder::TailMark| format!("{} ({})", t.mark.state.name(), t.why());
    for t in l.tail.iter().filter(|t| t.side == Side::Client) {
        cw = cw.max(tail_text(t).chars().count());
    }
    let mut out = String::new();
    let client_h = format!("client {}", l.client);
    let server_h = format!("server {}", l.server);
    let _ = writeln!(out, "connection {}: {} → {}", l.number, client_h, server_h);
    let _ = writeln!(out, "verdict: {}", l.verdict);
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
        "{lead}{:<cw$} {life}{:arrow_w$}{life} {}",
        l.initial[0].name(),
        "",
        l.initial[1].name(),
        life = g.life
    );
    let tw_from = |side: Side| l.time_waits.iter().find(|t| t.side == side).map(|t| t.row);
    for r in &l.rows {
        let mut side_text = [String::new(), String::new()];
        for side in Side::BOTH {
            let i = side.index();
            side_text[i] = if !r.marks[i].is_empty() {
                marks_text(&r.marks[i])
            } else if tw_from(side).is_some_and(|row| r.index > row)
                && l.time_waits
                    .iter()
                    .any(|t| t.side == side && (r.time < t.expires || !t.ran_out && !t.ended_early))
            {
                g.span.to_string()
            } else {
                String::new()
            };
        }
        let _ = writeln!(
            out,
            "{:>TIME_W$.6}  {:<cw$} {} {}",
            r.offset.as_secs_f64(),
            side_text[0],
            arrow(r, arrow_w, g),
            side_text[1],
        );
    }
    for t in &l.tail {
        let text = tail_text(t);
        let (left, right) = match t.side {
            Side::Client => (text, String::new()),
            Side::Server => (String::new(), text),
        };
        let _ = writeln!(
            out,
            "{:>TIME_W$.6}  {:<cw$} {life}{:arrow_w$}{life} {}",
            t.offset.as_secs_f64(),
            left,
            "",
            right,
            life = g.life
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
    // No trailing blanks: the golden files and terminals stay clean.
    let out = out
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    match charset {
        Charset::Unicode => out,
        // The verdict and header carry a few non-ASCII signs of their own.
        Charset::Ascii => out.replace('→', "->").replace('µ', "u"),
    }
}

/// `│── label ───▶│` or `│◀── label ───│`, `width` cells between the
/// lifelines.
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
