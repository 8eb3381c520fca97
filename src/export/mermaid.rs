//! A Mermaid `sequenceDiagram` in a fenced block, with state changes as
//! notes, for documentation that renders Mermaid.

use std::fmt::Write;

use crate::ladder::{Ladder, Role};
use crate::track::Side;

fn actor(side: Side) -> &'static str {
    match side {
        Side::Client => "C",
        Side::Server => "S",
    }
}

/// Mermaid treats `;` and `#` specially in messages.
fn clean(s: &str) -> String {
    s.replace(';', ",").replace('#', "no. ")
}

pub fn render(l: &Ladder, title: Option<&str>) -> String {
    let mut s = String::from("```mermaid\nsequenceDiagram\n");
    let title = title.map_or_else(
        || format!("Connection {}: {}", l.number, l.verdict),
        str::to_owned,
    );
    let _ = writeln!(s, "    title {}", clean(&title));
    let _ = writeln!(s, "    participant C as client {}", l.client);
    let _ = writeln!(s, "    participant S as server {}", l.server);
    let note = |s: &mut String, side: Side, text: &str| {
        let pos = match side {
            Side::Client => "left of C",
            Side::Server => "right of S",
        };
        let _ = writeln!(s, "    Note {pos}: {text}");
    };
    for side in Side::BOTH {
        note(&mut s, side, l.initial[side.index()].name());
    }
    for r in &l.rows {
        let (from, to) = (actor(r.from), actor(!r.from));
        // Solid for new data, dotted for retransmissions, a cross for RST.
        let arrow = match (r.role, r.retransmission) {
            (Role::Rst, _) => "-x",
            (_, true) => "--)",
            _ => "->>",
        };
        let mut text = format!("{:.3} ms {}", r.offset.as_millis_f64(), r.label);
        if r.retransmission {
            text.push_str(" (retransmission)");
        }
        let _ = writeln!(s, "    {from}{arrow}{to}: {}", clean(&text));
        for side in Side::BOTH {
            let ms = &r.marks[side.index()];
            if !ms.is_empty() {
                let states: Vec<&str> = ms.iter().map(|m| m.state.name()).collect();
                note(&mut s, side, &states.join(" → "));
            }
        }
    }
    for t in &l.time_waits {
        let end = t.end_text(l.start);
        note(
            &mut s,
            t.side,
            &format!("TIME-WAIT, 2MSL = {}: {end}", t.length),
        );
    }
    s.push_str("```\n");
    s
}
