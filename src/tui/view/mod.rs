//! Drawing. Views only read the `App`; every decision about what to show
//! was made in `update` or in the ladder model.

pub mod detail;
pub mod help;
pub mod ladder;
pub mod layout;
pub mod list;
pub mod status;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Widget;

use super::app::{App, TimeMode};
use crate::time::{Span, Timestamp};

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let t = &self.theme;
        buf.set_style(area, t.base);
        let a = layout::Areas::new(area);
        if a.too_small {
            let msg = format!(
                "terminal too small: {}×{} (tcpladder needs {}×{})",
                area.width,
                area.height,
                layout::MIN_WIDTH,
                layout::MIN_HEIGHT
            );
            buf.set_stringn(area.x, area.y, msg, usize::from(area.width), t.warn);
            return;
        }
        list::render(self, a.list, buf);
        ladder::render(self, a.ladder, buf);
        detail::render(self, a.detail, buf);
        status::render(self, a.status, buf);
        message(self, a.status, buf);
        if self.help {
            help::render(self, area, buf);
        }
    }
}

/// A message (a saved file's path, a warning) on lines of its own just
/// above the status line, wrapped to the width, until it clears itself.
fn message(app: &App, status: Rect, buf: &mut Buffer) {
    let Some(m) = &app.message else {
        return;
    };
    let lines = layout::wrap(m, usize::from(status.width.saturating_sub(2)));
    let n = (lines.len() as u16).min(status.y.saturating_sub(1)).min(4);
    for (k, line) in lines.iter().take(usize::from(n)).enumerate() {
        let y = status.y - n + k as u16;
        let row = Rect::new(status.x, y, status.width, 1);
        buf.set_style(row, app.theme.selected);
        put(
            buf,
            status.x + 1,
            y,
            status.width.saturating_sub(2),
            line,
            app.theme.selected,
        );
    }
}

/// A box with a title, drawn with the theme's border style.
pub(crate) fn frame(app: &App, area: Rect, title: &str, focused: bool, buf: &mut Buffer) -> Rect {
    use ratatui::widgets::{Block, BorderType, Borders};
    let t = &app.theme;
    let border = if focused { t.title } else { t.border };
    Block::new()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(border)
        .title(ratatui::text::Span::styled(
            format!(" {} ", crate::shown::visible(title)),
            t.title,
        ))
        .style(t.base)
        .render(area, buf);
    Rect::new(
        area.x + 1,
        area.y + 1,
        area.width.saturating_sub(2),
        area.height.saturating_sub(2),
    )
}

/// Writes `text` at (x, y), cut to `width` cells.
/// Writes `text` at (x, y), at most `width` columns; a control character
/// in it (from an interface's name, a file's) is drawn as its picture,
/// never sent to the terminal.
pub(crate) fn put(buf: &mut Buffer, x: u16, y: u16, width: u16, text: &str, style: Style) {
    if width > 0 {
        let text = crate::shown::visible(text);
        buf.set_stringn(x, y, text, usize::from(width), style);
    }
}

/// The time column in the chosen mode.
pub(crate) fn time_text(mode: TimeMode, offset: Span, delta: Span, at: Timestamp) -> String {
    match mode {
        TimeMode::Relative => format!("{:.6}", offset.as_secs_f64()),
        TimeMode::Delta => format!("+{:.6}", delta.as_secs_f64()),
        TimeMode::Absolute => clock_text(at),
    }
}

/// Wall-clock time of day, UTC, to the microsecond: "20:42:42.887351".
pub fn clock_text(at: Timestamp) -> String {
    let n = at.as_nanos();
    let secs = n.div_euclid(1_000_000_000);
    let micros = n.rem_euclid(1_000_000_000) / 1000;
    let day = secs.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{micros:06}",
        day / 3600,
        day / 60 % 60,
        day % 60
    )
}

/// "42.7 s" for countdowns.
pub(crate) fn seconds(s: Span) -> String {
    format!("{:.1} s", s.as_secs_f64().max(0.0))
}
