//! The status line: source, playback position and speed, key hints.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use super::{clock_text, put};
use crate::tui::app::{App, Source};

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    buf.set_style(area, t.selected);
    if app.editing_filter {
        let text = format!(
            " filter: {}▏  {} of {} match │ Enter keeps it, Esc clears │ words: {}",
            app.filter,
            app.filtered_count(),
            app.total(),
            crate::tui::search::WORDS
        );
        put(buf, area.x, area.y, area.width, &text, t.selected);
        return;
    }
    let (pos, total) = app.position();
    let left = match &app.source {
        Source::Replay(_) if app.loading.is_some() => {
            let l = app.loading.unwrap_or_default();
            format!(
                " ◌ reading {} │ {} │ q quits",
                app.source_name,
                super::list::load_text(&l)
            )
        }
        Source::Replay(r) => {
            let play = if r.playing { "▶" } else { "‖" };
            format!(
                " {play} replay {} │ {}× │ segment {pos}/{total} │ +{:.6} s │ {}",
                app.source_name,
                r.speed,
                (r.clock - r.start).as_secs_f64().max(0.0),
                clock_text(r.clock),
            )
        }
        Source::Live(l) => {
            let follow = if app.follow {
                "following"
            } else {
                "paused view (f follows)"
            };
            let mut s = match &l.pipe {
                // No kernel counts a pipe's drops; its end is news.
                Some(p) => {
                    let state = match &p.ended {
                        None => "reading".to_string(),
                        Some(None) => "input ended".to_string(),
                        Some(Some(why)) => format!("input ended: {why}"),
                    };
                    format!(
                        " ● pipe {} │ {} packets │ {:.0}/s │ {state} │ {follow}",
                        app.source_name,
                        l.report.packets,
                        app.packet_rate(),
                    )
                }
                None => format!(
                    " ● live {} │ {} packets │ {:.0}/s │ kernel dropped {} (interface {}) │ {follow}",
                    app.source_name,
                    l.report.packets,
                    app.packet_rate(),
                    l.dropped,
                    l.if_dropped
                ),
            };
            if l.folded > 0 {
                s.push_str(&format!(
                    " │ {} oldest folded into totals (--max-connections {})",
                    l.folded, l.max
                ));
            }
            if let Some(e) = &l.error {
                s.push_str(&format!(" │ capture stopped: {e}"));
            }
            s
        }
    };
    // A message has lines of its own above (view::message).
    let hints = " ? help  q quit ";
    let hw = hints.chars().count() as u16;
    put(
        buf,
        area.x,
        area.y,
        area.width.saturating_sub(hw),
        &left,
        t.selected,
    );
    if area.width > hw {
        put(buf, area.x + area.width - hw, area.y, hw, hints, t.selected);
    }
}
