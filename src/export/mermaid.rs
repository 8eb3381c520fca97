//! A Mermaid `sequenceDiagram` in a fenced block, with state changes as
//! notes, for documentation that renders Mermaid. A lost segment is a
//! dotted arrow ending in a cross, as in the SVG; nothing else ends in one. ICMP errors come from a
//! participant of their own per router (between client and server), or from
//! the peer when its host sent them, as dashed arrows. Socket calls, where
//! known, are notes over their endpoint (`Note over C: connect() = 0`).

use std::fmt::Write;

use crate::ladder::{Ladder, Line};
use crate::track::Side;

fn actor(side: Side) -> &'static str {
    match side {
        Side::Client => "C",
        Side::Server => "S",
    }
}

/// Mermaid treats `;` and `#` specially in messages.
fn clean(s: &str) -> String {
    // A control character (a newline above all) would end the line.
    crate::shown::visible(s)
        .replace(';', ",")
        .replace('#', "no. ")
        .replace("%%", "% %")
}

pub fn render(l: &Ladder, title: Option<&str>) -> String {
    let mut s = String::from("```mermaid\nsequenceDiagram\n");
    let title = title.map_or_else(
        || format!("Connection {}: {}", l.number, l.verdict),
        str::to_owned,
    );
    let _ = writeln!(s, "    title {}", clean(&title));
    let _ = writeln!(s, "    participant C as client {}", l.client);
    // Routers in the order their first error appears: R1, R2, …
    let mut routers: Vec<std::net::IpAddr> = Vec::new();
    for i in l.icmp.iter().filter(|i| !i.from_peer) {
        if !routers.contains(&i.from) {
            routers.push(i.from);
            let _ = writeln!(
                s,
                "    participant R{} as router {}",
                routers.len(),
                clean(&i.from.to_string())
            );
        }
    }
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
    let marks = |s: &mut String, marks: &[Vec<crate::ladder::MarkView>; 2]| {
        for side in Side::BOTH {
            let ms = &marks[side.index()];
            if !ms.is_empty() {
                let states: Vec<&str> = ms.iter().map(|m| m.state.name()).collect();
                note(s, side, &states.join(" → "));
            }
        }
    };
    for line in l.lines() {
        let r = match line {
            Line::Segment(p) => &l.rows[p],
            Line::Icmp(p) => {
                let i = &l.icmp[p];
                let from = match routers.iter().position(|&r| r == i.from) {
                    Some(n) if !i.from_peer => format!("R{}", n + 1),
                    _ => actor(!i.to).to_string(),
                };
                let text = format!(
                    "{:.3} ms {}",
                    i.offset.as_millis_f64(),
                    i.label_with_notes()
                );
                let _ = writeln!(s, "    {from}-->>{}: {}", actor(i.to), clean(&text));
                marks(&mut s, &i.marks);
                continue;
            }
            Line::Call(p) => {
                let c = &l.calls[p];
                let _ = writeln!(s, "    Note over {}: {}", actor(c.side), clean(&c.label));
                continue;
            }
        };
        let (from, to) = (actor(r.from), actor(!r.from));
        // Solid, dotted for retransmissions; a cross only for a segment
        // that never arrived, as in the SVG (an RST arrives: it is solid,
        // and says when it refused the connection).
        let arrow = match (r.lost, r.retransmission) {
            (true, _) => "--x",
            (false, true) => "--)",
            (false, false) => "->>",
        };
        let mut text = format!("{:.3} ms {}", r.offset.as_millis_f64(), r.label);
        for (on, note) in [
            (r.retransmission, " (retransmission)"),
            (r.lost, " (lost)"),
            (r.refused, " (refused)"),
        ] {
            if on {
                text.push_str(note);
            }
        }
        let _ = writeln!(s, "    {from}{arrow}{to}: {}", clean(&text));
        marks(&mut s, &r.marks);
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
