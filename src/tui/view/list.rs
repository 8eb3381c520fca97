//! The connection list: one line per connection, newest appear live.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::{clock_text, frame, put, seconds};
use crate::track::{Connection, Side};
use crate::tui::app::{App, Focus};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Number,
    Addresses,
    Verdict,
    Client,
    Server,
    Start,
    Age,
    Retx,
}

/// Column, title, width; the addresses take what is left. Columns with a
/// lower priority (later in `DROP_ORDER`) go first on narrow terminals.
const COLUMNS: &[(Col, &str, u16)] = &[
    (Col::Number, "#", 4),
    (Col::Addresses, "client → server", 0),
    (Col::Verdict, "opening / closing", 24),
    (Col::Client, "client state", 17),
    (Col::Server, "server state", 17),
    (Col::Start, "start", 12),
    (Col::Age, "age", 8),
    (Col::Retx, "retx", 4),
];

/// Dropped in this order until the addresses get room.
const DROP_ORDER: &[Col] = &[Col::Start, Col::Age, Col::Retx, Col::Verdict];

/// Room the addresses want: "127.0.0.1:40001 → 127.0.0.1:9502" and a bit.
const ADDR_WANT: u16 = 36;

fn columns(width: u16) -> Vec<(Col, &'static str, u16)> {
    let mut cols: Vec<_> = COLUMNS.to_vec();
    let fixed = |cols: &[(Col, &str, u16)]| cols.iter().map(|(_, _, w)| w + 1).sum::<u16>();
    for drop in DROP_ORDER {
        if width >= fixed(&cols) + ADDR_WANT {
            break;
        }
        cols.retain(|(c, _, _)| c != drop);
    }
    let addr = width.saturating_sub(fixed(&cols)).max(16);
    for c in &mut cols {
        if c.0 == Col::Addresses {
            c.2 = addr;
        }
    }
    cols
}

/// The progress of a file being read, as the list and status line say it.
pub fn load_text(l: &crate::tui::app::LoadState) -> String {
    l.progress.text(l.elapsed.as_secs_f64())
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let ids = app.visible_ids();
    let title = if app.filter.is_empty() {
        format!("connections {}", ids.len())
    } else {
        format!("connections {} matching \"{}\"", ids.len(), app.filter)
    };
    let inner = frame(app, area, &title, app.focus == Focus::List, buf);
    if inner.height == 0 {
        return;
    }
    let cols = columns(inner.width);
    let right = inner.x + inner.width;
    let line = |y: u16, cells: &[(String, Style)], buf: &mut Buffer| {
        let mut x = inner.x;
        for ((_, _, w), (text, style)) in cols.iter().zip(cells) {
            if x < right {
                put(buf, x, y, (*w).min(right - x), text, *style);
            }
            x += w + 1;
        }
    };
    let header: Vec<(String, Style)> = cols
        .iter()
        .map(|(_, n, _)| (n.to_string(), t.dim))
        .collect();
    line(inner.y, &header, buf);
    if let Some(l) = &app.loading {
        // The file is being read: a bar and what has come so far.
        let p = l.progress;
        let width = usize::from(inner.width.saturating_sub(4).min(60));
        let filled = match p.total {
            0 => 0,
            t => (u128::from(p.bytes) * width as u128 / u128::from(t)) as usize,
        };
        let bar = format!(
            "{}{}",
            "█".repeat(filled),
            "░".repeat(width - filled.min(width))
        );
        put(
            buf,
            inner.x + 1,
            inner.y + 1,
            inner.width,
            &format!("reading {}", app.source_name),
            t.title,
        );
        put(buf, inner.x + 1, inner.y + 2, inner.width, &bar, t.state);
        put(
            buf,
            inner.x + 1,
            inner.y + 3,
            inner.width,
            &load_text(l),
            t.dim,
        );
        return;
    }
    if ids.is_empty() {
        let msg = if app.is_live() {
            "waiting for TCP segments…"
        } else {
            "no connection has started yet (press → or space)"
        };
        put(buf, inner.x + 1, inner.y + 1, inner.width, msg, t.dim);
        return;
    }
    let rows = usize::from(inner.height.saturating_sub(1));
    for (i, &id) in ids.iter().enumerate().skip(app.list_offset).take(rows) {
        let Some(c) = app.connection(id) else {
            continue;
        };
        let y = inner.y + 1 + (i - app.list_offset) as u16;
        let selected = app.selected == Some(id);
        let style = if selected { t.selected } else { t.base };
        if selected {
            buf.set_style(Rect::new(inner.x, y, inner.width, 1), t.selected);
        }
        let cells: Vec<(String, Style)> = cols
            .iter()
            .map(|(col, _, _)| (cell(app, c, *col), style))
            .collect();
        line(y, &cells, buf);
    }
}

fn cell(app: &App, c: &Connection, col: Col) -> String {
    let shown = app.shown_segments(c);
    let finished = shown == c.segments.len();
    let state = |side: Side| {
        let (st, left) = app.state_at(c, side);
        match left {
            Some(l) => format!("{st} {}", seconds(l)),
            None => st.to_string(),
        }
    };
    match col {
        Col::Number => (c.id + 1).to_string(),
        Col::Addresses => format!("{} → {}", c.client, c.server),
        Col::Verdict => {
            // Verdicts are shown once they have happened by the clock.
            let opening = if finished || shown >= 3 {
                c.opening().name()
            } else {
                "…"
            };
            let closing = if finished {
                c.closing().0.name()
            } else {
                "…"
            };
            format!("{opening} / {closing}")
        }
        Col::Client => state(Side::Client),
        Col::Server => state(Side::Server),
        Col::Start => {
            let s = clock_text(c.first_ts);
            s[..12.min(s.len())].to_string()
        }
        Col::Age => seconds(app.clock() - c.first_ts),
        // The count so far: the total once all is shown.
        Col::Retx if finished => c.retransmissions.to_string(),
        Col::Retx => c
            .segments
            .upto(shown)
            .filter(|s| s.retransmission())
            .count()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_lists_drop_columns_before_squeezing_addresses() {
        let wide = columns(160);
        assert_eq!(wide.len(), COLUMNS.len());
        let narrow = columns(100);
        assert!(narrow.iter().all(|(c, _, _)| *c != Col::Start));
        let addr = narrow
            .iter()
            .find(|(c, _, _)| *c == Col::Addresses)
            .unwrap();
        assert!(addr.2 >= 30, "{}", addr.2);
    }
}
