//! The selected segment, ICMP error or socket call: what it does, in a
//! sentence (for a call, in the socket tutorials' words: which segment it
//! sent, which woke it), and every field.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::ladder::KERNEL_MARK;
use super::layout::wrap;
use super::{frame, put};
use crate::ladder::{Ladder, explain, kernel};
use crate::track::State;
use crate::tui::app::App;

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let Some(c) = app.selected_connection() else {
        frame(app, area, "segment", false, buf);
        return;
    };
    let shown = app.shown_segments(c);
    if shown == 0 {
        let inner = frame(app, area, "segment", false, buf);
        put(
            buf,
            inner.x + 1,
            inner.y,
            inner.width,
            "nothing captured yet",
            t.dim,
        );
        return;
    }
    // The selected call, ICMP error, or segment.
    let call = app
        .call
        .zip(app.cache.as_ref())
        .and_then(|(k, cache)| cache.ladder.calls.get(k).map(|line| (line, cache)));
    let icmp = app
        .icmp
        .zip(app.cache.as_ref())
        .and_then(|(j, k)| k.ladder.icmp.get(j).map(|line| (line, k)));
    let (title, sentence, fields) = match (call, icmp) {
        (Some((line, cache)), _) => (
            format!(
                "{} call {} of {}: {}()",
                line.side,
                line.index + 1,
                cache.ladder.calls.len(),
                line.name
            ),
            line.sentence(&cache.ladder),
            line.fields(&cache.ladder),
        ),
        (None, Some((line, cache))) => (
            format!("ICMP error {} of {}", line.index + 1, c.icmp.len()),
            explain::icmp_sentence(line),
            explain::icmp_fields(&cache.ladder, line),
        ),
        (None, None) if app.payload_view => {
            let i = app.row.min(shown - 1);
            return payload(app, c, i, area, buf);
        }
        (None, None) => {
            let i = app.row.min(shown - 1);
            // With the calls it came from or woke, where they are known.
            let notes = app.cache.as_ref().and_then(|k| k.ladder.call_notes(i));
            let mut sentence = explain::sentence(c, i);
            if let Some(n) = notes {
                sentence = format!("{sentence}. {n}");
            }
            let mut fields = explain::fields(c, i, app.read_details(c.id, i));
            if let Some(l) = app.cache.as_ref().map(|k| &k.ladder) {
                let (said, states) = kernel_words(l, i);
                sentence.push_str(&said);
                // Beside the inferred states, where they are.
                let at = fields
                    .iter()
                    .position(|f| f.0 == "analysis")
                    .map_or(fields.len(), |p| p + 1);
                fields.splice(at..at, states);
            }
            (
                format!("segment {} of {}", i + 1, c.segments.len()),
                sentence,
                fields,
            )
        }
    };
    let inner = frame(app, area, &title, false, buf);
    if inner.height == 0 {
        return;
    }
    // The sentence, wrapped on words.
    let mut y = inner.y;
    let bottom = inner.y + inner.height;
    for line in wrap(&sentence, usize::from(inner.width.max(10) - 1)) {
        if y >= bottom {
            return;
        }
        put(buf, inner.x, y, inner.width, &line, t.title);
        y += 1;
    }
    // Fields in as many columns as fit.
    let col_w: u16 = 38;
    let ncols = (inner.width / col_w).max(1);
    let rows_left = bottom.saturating_sub(y);
    if rows_left == 0 {
        return;
    }
    // Column by column; on a small pane the least important fields (last)
    // are the ones left out.
    let per_col = rows_left;
    for (k, (name, value)) in fields.iter().enumerate() {
        let k = k as u16;
        let (cx, cy) = (k / per_col, k % per_col);
        if cy >= rows_left || cx >= ncols {
            continue;
        }
        let x = inner.x + cx * col_w;
        let w = if cx + 1 == ncols {
            inner.width - cx * col_w
        } else {
            col_w - 1
        };
        put(buf, x, y + cy, 10.min(w), name, t.dim);
        put(buf, x + 10, y + cy, w.saturating_sub(10), value, t.base);
    }
}

/// Segment `i`'s payload as tcpdump -X shows it (`p`), as far as it was
/// kept.
fn payload(app: &App, c: &crate::track::Connection, i: usize, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let len = c.segments.get(i).map_or(0, |s| s.len);
    let kept = c
        .details
        .get(i)
        .or_else(|| app.read_details(c.id, i))
        .map_or(&[][..], |d| &d.payload[..]);
    let title = format!(
        "segment {} of {} · payload, {len} bytes{} · p: fields",
        i + 1,
        c.segments.len(),
        if (kept.len() as u64) < u64::from(len) {
            format!(", {} captured or kept", kept.len())
        } else {
            String::new()
        }
    );
    let inner = frame(app, area, &title, false, buf);
    if kept.is_empty() {
        let why = if len == 0 {
            "no payload"
        } else {
            "its payload was not captured (snap length) or was put together from fragments"
        };
        put(buf, inner.x + 1, inner.y, inner.width, why, t.dim);
        return;
    }
    // Sixteen bytes a line where they fit (73 columns), else eight.
    let per_line = if inner.width >= 74 { 16 } else { 8 };
    let lines = explain::hex_lines(kept, per_line);
    let room = usize::from(inner.height);
    for (k, line) in lines.iter().enumerate().take(room) {
        let text = if k + 1 == room && lines.len() > room {
            format!("… {} more bytes", kept.len() - k * per_line)
        } else {
            line.clone()
        };
        put(
            buf,
            inner.x + 1,
            inner.y + k as u16,
            inner.width.saturating_sub(1),
            &text,
            t.base,
        );
    }
}

/// What the kernel's own record says at segment `i`: its disagreements
/// drawn there, as sentences, and both endpoints' kernel states just
/// after it, as a field.
fn kernel_words(l: &Ladder, i: usize) -> (String, Vec<(&'static str, String)>) {
    let Some(k) = &l.kernel else {
        return (String::new(), Vec::new());
    };
    let said: String = k
        .at_row(i)
        .map(|d| {
            format!(
                ". {KERNEL_MARK} The kernel disagrees about the {}: {}",
                d.side, d.text
            )
        })
        .collect();
    let name = |v: Option<State>| v.map_or("not on this host".to_string(), |s| s.to_string());
    let states = kernel::after_row(l, i)
        .map(|s| vec![("kernel C", name(s[0])), ("kernel S", name(s[1]))])
        .unwrap_or_default();
    (said, states)
}
