//! The help overlay: every key, and the legend of arrow styles.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::{Clear, Widget};

use super::layout::wrap;
use super::{frame, put};
use crate::tui::app::App;
use crate::tui::theme;

/// Every key the TUI takes, as the README lists them.
pub const KEYS: &[(&str, &str)] = &[
    ("q, Ctrl-C", "quit"),
    ("?", "this help (any key closes it)"),
    ("↑ ↓, k j", "move in the focused pane"),
    ("PgUp PgDn", "a page up or down"),
    ("mouse wheel", "scroll the pane under the pointer"),
    ("Tab", "switch between the list and the ladder"),
    ("Enter", "open the selected connection's ladder"),
    ("space", "play / pause (replay)"),
    ("→ ←, l h", "step one segment forward / back (replay)"),
    ("+ -", "faster / slower, 0.1× to 1000× (replay)"),
    ("Home End, g G", "jump to the start / end"),
    ("f", "follow the newest segment again"),
    ("t", "time column: relative, delta, absolute"),
    (
        "p",
        "the segment's payload in hex and text, or its fields again",
    ),
    (
        "/",
        "filter: addresses, ports, state:NAME, refused, rst, retx, ...",
    ),
    ("s", "save the screen as SVG, PNG and text"),
    ("e", "export the connection's diagram as SVG and PNG"),
    (
        "w",
        "save the connection's packets as pcap (with a filter: every match's)",
    ),
    ("W", "live: save everything captured so far as pcap"),
    ("Esc", "clear a message, or cancel the filter"),
];

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    // As wide as its longest line, where the screen has room; else each
    // meaning wraps under itself.
    let longest = KEYS
        .iter()
        .map(|(_, what)| what.chars().count())
        .max()
        .unwrap_or(0) as u16;
    let w = (longest + 22).max(64).min(area.width);
    let what_w = usize::from(w.saturating_sub(22).max(10));
    let key_lines: usize = KEYS.iter().map(|(_, what)| wrap(what, what_w).len()).sum();
    let h = (key_lines + theme::LEGEND.len() + 6) as u16;
    let h = h.min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    Clear.render(r, buf);
    let inner = frame(app, r, "keys", true, buf);
    // One line: a key (or a sample arrow) and what it means.
    let line = |buf: &mut Buffer, y: u16, left: &str, style, what: &str| {
        put(buf, inner.x + 1, y, 16, left, style);
        let w = inner.width.saturating_sub(18);
        put(buf, inner.x + 18, y, w, what, t.base);
    };
    let mut y = inner.y;
    for (k, what) in KEYS {
        for (n, part) in wrap(what, what_w).iter().enumerate() {
            if y >= inner.y + inner.height {
                return;
            }
            line(buf, y, if n == 0 { k } else { "" }, t.title, part);
            y += 1;
        }
    }
    y += 1;
    for (role, what) in theme::LEGEND {
        if y >= inner.y + inner.height {
            return;
        }
        let style = t.role(*role);
        let sample = format!(
            "{}{} {}{}",
            theme::shaft(*role, false).to_string().repeat(3),
            theme::symbol(*role),
            theme::shaft(*role, false).to_string().repeat(3),
            '▶'
        );
        line(buf, y, &sample, style, what);
        y += 1;
    }
    if y < inner.y + inner.height {
        let sample = format!("─ ─{} ─ ─▶", theme::ICMP_SYMBOL);
        line(buf, y, &sample, t.icmp, "ICMP error (broken line)");
        y += 1;
    }
    if y < inner.y + inner.height {
        put(
            buf,
            inner.x + 1,
            y,
            inner.width,
            "╌╌╌ dashed: retransmission   ┆ TIME-WAIT span",
            t.dim,
        );
    }
}
