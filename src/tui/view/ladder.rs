//! The ladder of the selected connection, drawn cell by cell with box
//! characters: a time column, two lifelines, one arrow per segment, the
//! states written where they change, ICMP errors as arrows of their own
//! (broken shaft, own colour) from the router or host that sent them, and
//! TIME-WAIT as a span with a live countdown. Socket calls (demo) hang off
//! their endpoint's lifeline in a colour of their own (`├ connect() = 0`),
//! the lifeline drawn heavy while a call blocks. Where the kernel's own
//! record of an endpoint disagrees with the inference, a `≠` on its
//! lifeline (the detail pane says how).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::{frame, put, seconds, time_text};
use crate::ladder::{CallLine, IcmpLine, Ladder, Line, MarkView, Row};
use crate::time::Timestamp;
use crate::track::{Side, State};
use crate::tui::app::{App, Focus};
use crate::tui::theme;

const TIME_W: u16 = 12;
/// In absolute mode: a time of day to the microsecond, "20:42:42.887351".
const CLOCK_W: u16 = 16;
/// On a lifeline where the kernel's own record disagrees.
pub const KERNEL_MARK: &str = "≠";
const STATE_W: u16 = 17;

/// Columns of one ladder line.
struct Cols {
    time: u16,
    /// The time column's width, a space after it included.
    time_w: u16,
    client: u16,
    left: u16,
    right: u16,
    server: u16,
    end: u16,
}

impl Cols {
    fn new(inner: Rect, mode: crate::tui::app::TimeMode) -> Cols {
        let time = inner.x;
        let time_w = match mode {
            crate::tui::app::TimeMode::Absolute => CLOCK_W,
            _ => TIME_W,
        };
        let client = time + time_w;
        let left = client + STATE_W;
        let end = inner.x + inner.width;
        let server = end.saturating_sub(STATE_W).max(left + 8);
        let right = server.saturating_sub(2);
        Cols {
            time,
            time_w,
            client,
            left,
            right,
            server: server.min(end),
            end,
        }
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let (Some(cache), Some(c)) = (&app.cache, app.selected_connection()) else {
        let inner = frame(app, area, "ladder", app.focus == Focus::Ladder, buf);
        put(
            buf,
            inner.x + 1,
            inner.y,
            inner.width,
            "no connection selected",
            t.dim,
        );
        return;
    };
    let l = &cache.ladder;
    let title = format!("connection {}", l.number);
    let mut inner = frame(app, area, &title, app.focus == Focus::Ladder, buf);
    if inner.height < 3 || inner.width < 40 {
        return;
    }
    // The verdict in full, wrapped, above the ladder.
    for line in app.verdict_lines(inner.width) {
        if inner.height <= 3 {
            return;
        }
        put(buf, inner.x, inner.y, inner.width, &line, t.title);
        inner.y += 1;
        inner.height -= 1;
    }
    let cols = Cols::new(inner, app.time_mode);
    let shown = app.shown_lines(c);
    // Header: endpoints and their states at the clock.
    let header = |side: Side| {
        let (st, left) = app.state_at(c, side);
        let tail = match left {
            Some(l) => format!("TIME-WAIT {} left", seconds(l)),
            None => st.to_string(),
        };
        (format!("{side} {}", l.addr(side)), tail, st)
    };
    let (ch, cs, cst) = header(Side::Client);
    let (sh, ss, sst) = header(Side::Server);
    let y = inner.y;
    put(buf, cols.time, y, cols.time_w, app.time_mode.name(), t.dim);
    put(buf, cols.client, y, cols.right - cols.client, &ch, t.title);
    let sw = (sh.chars().count() as u16).min(inner.width / 2);
    put(buf, cols.end.saturating_sub(sw), y, sw, &sh, t.title);
    let y = y + 1;
    put(buf, cols.client, y, STATE_W + 20, &cs, t.state_style(cst));
    let sw = (ss.chars().count() as u16).min(STATE_W + 8);
    put(
        buf,
        cols.end.saturating_sub(sw),
        y,
        sw,
        &ss,
        t.state_style(sst),
    );
    // Initial states.
    let y = y + 1;
    put(buf, cols.client, y, STATE_W - 1, l.initial[0].name(), t.dim);
    lifelines(buf, &cols, y, t.border, t.border);
    put(buf, cols.server, y, STATE_W, l.initial[1].name(), t.dim);

    let first_row_y = y + 1;
    let rows_h = usize::from(inner.y + inner.height - first_row_y);
    let mut y = first_row_y;
    let bars = l.bars();
    let in_view = app.ladder_offset..shown.min(app.ladder_offset + rows_h);
    for (n, line) in in_view.filter_map(|n| cache.line_at(n).map(|line| (n, line))) {
        match line {
            Line::Segment(p) => draw_row(app, l, &l.rows[p], &cols, y, buf),
            Line::Icmp(p) => draw_icmp(app, l, &l.icmp[p], &cols, y, buf),
            Line::Call(p) => draw_call(app, l, &l.calls[p], &cols, y, buf),
        }
        // A blocked call's bar over the lifeline.
        if let Some(&[a, b]) = bars.get(n) {
            for (on, x) in [(a, cols.left), (b, cols.right)] {
                if on {
                    put(buf, x, y, 1, "┃", t.call);
                }
            }
        }
        y += 1;
    }
    // After the last segment: TIME-WAIT running out, or still counting.
    if shown == cache.line_count() {
        let clock = app.clock();
        for tail in l.tail.iter().filter(|m| m.mark.time <= clock) {
            if y >= inner.y + inner.height {
                break;
            }
            let state = tail.mark.state;
            tail_row(
                app,
                &cols,
                y,
                tail.side,
                state,
                tail.why(),
                tail.offset,
                buf,
            );
            y += 1;
        }
        // A TIME-WAIT the capture ends in runs out on the clock: its CLOSED
        // is written as `analyze` writes a timer's change.
        for side in Side::BOTH {
            let Some(tw) = c.time_wait[side.index()] else {
                continue;
            };
            let written = l
                .tail
                .iter()
                .any(|m| m.side == side && m.mark.state == State::Closed);
            if written || tw.ended_early || tw.expires > clock || y >= inner.y + inner.height {
                continue;
            }
            if app.state_at(c, side).0 != State::Closed {
                continue;
            }
            let at = tw.expires - l.start;
            tail_row(
                app,
                &cols,
                y,
                side,
                State::Closed,
                "TIME-WAIT ran out",
                at,
                buf,
            );
            y += 1;
        }
        for side in Side::BOTH {
            if let (State::TimeWait, Some(left)) = app.state_at(c, side) {
                if y >= inner.y + inner.height {
                    break;
                }
                let text = format!("┆ {} left", seconds(left));
                side_text(buf, &cols, y, side, &text, t.time_wait);
                lifelines(buf, &cols, y, t.border, t.border);
                y += 1;
            }
        }
    }
}

/// A change with nothing on the wire, after the last segment: its time,
/// the state on its side, and why between the lifelines.
#[allow(clippy::too_many_arguments)]
fn tail_row(
    app: &App,
    cols: &Cols,
    y: u16,
    side: Side,
    state: State,
    why: &str,
    offset: crate::time::Span,
    buf: &mut Buffer,
) {
    let t = &app.theme;
    let time = format!("{:>11.6}", offset.as_secs_f64());
    put(buf, cols.time, y, cols.time_w, &time, t.dim);
    side_text(buf, cols, y, side, state.name(), t.state_style(state));
    lifelines(buf, cols, y, t.border, t.border);
    let why = format!("({} {why})", side);
    let room = cols.right.saturating_sub(cols.left + 3);
    let w = (why.chars().count() as u16).min(room);
    // Beside the lifeline whose state it is.
    let x = match side {
        Side::Client => cols.left + 2,
        Side::Server => cols.right.saturating_sub(w + 1),
    };
    put(buf, x, y, w, &why, t.dim);
}

fn side_text(buf: &mut Buffer, cols: &Cols, y: u16, side: Side, text: &str, style: Style) {
    match side {
        Side::Client => put(buf, cols.client, y, STATE_W - 1, text, style),
        Side::Server => put(buf, cols.server, y, cols.end - cols.server, text, style),
    }
}

fn lifelines(buf: &mut Buffer, cols: &Cols, y: u16, left: Style, right: Style) {
    put(buf, cols.left, y, 1, "│", left);
    put(buf, cols.right, y, 1, "│", right);
}

fn marks_text(ms: &[MarkView]) -> String {
    ms.iter()
        .map(|m| m.state.name())
        .collect::<Vec<_>>()
        .join("→")
}

const NO_MARKS: [Vec<MarkView>; 2] = [Vec::new(), Vec::new()];

/// A line's two lifelines and what stands beside each: the states entered
/// there, or the TIME-WAIT span (`┆`, and the lifeline in its colour).
fn states_and_lifelines(
    app: &App,
    marks: &[Vec<MarkView>; 2],
    in_time_wait: impl Fn(Side) -> bool,
    cols: &Cols,
    y: u16,
    buf: &mut Buffer,
) {
    let t = &app.theme;
    for side in Side::BOTH {
        let ms = &marks[side.index()];
        if let Some(last) = ms.last() {
            side_text(
                buf,
                cols,
                y,
                side,
                &marks_text(ms),
                t.state_style(last.state),
            );
        } else if in_time_wait(side) {
            side_text(buf, cols, y, side, "┆", t.time_wait);
        }
    }
    let life = |side| {
        if in_time_wait(side) {
            t.time_wait
        } else {
            t.border
        }
    };
    lifelines(buf, cols, y, life(Side::Client), life(Side::Server));
}

/// Inside a TIME-WAIT span on this row?
fn in_time_wait(l: &Ladder, r: &Row, side: Side) -> bool {
    l.time_waits
        .iter()
        .any(|tw| tw.side == side && r.index > tw.row && r.time < tw.expires)
}

fn draw_row(app: &App, l: &Ladder, r: &Row, cols: &Cols, y: u16, buf: &mut Buffer) {
    let t = &app.theme;
    let selected = app.icmp.is_none() && r.index == app.row;
    let time = time_text(app.time_mode, r.offset, r.delta, r.time);
    put_time(app, selected, &time, cols, y, buf);
    states_and_lifelines(app, &r.marks, |side| in_time_wait(l, r, side), cols, y, buf);
    // Where the kernel's own record parts from the inference.
    if let Some(k) = &l.kernel {
        for d in k.at_row(r.index) {
            let x = match d.side {
                Side::Client => cols.left,
                Side::Server => cols.right,
            };
            put(buf, x, y, 1, KERNEL_MARK, t.warn);
        }
    }
    // The arrow.
    let style = t.role(r.role);
    let style = if selected {
        style.patch(t.selected)
    } else {
        style
    };
    let width = cols.right.saturating_sub(cols.left + 1);
    if width < 6 {
        return;
    }
    let shaft = theme::shaft(r.role, r.retransmission).to_string();
    let label = format!(" {} {} ", theme::symbol(r.role), r.label_with_notes());
    let room = usize::from(width.saturating_sub(5));
    let label: String = label.chars().take(room).collect();
    let label_w = label.chars().count() as u16;
    let x0 = cols.left + 1;
    put(buf, x0, y, width, &shaft.repeat(usize::from(width)), style);
    match r.from {
        Side::Client => {
            put(buf, x0 + 2, y, label_w, &label, style);
            put(buf, cols.right - 1, y, 1, "▶", style);
        }
        Side::Server => {
            put(buf, x0, y, 1, "◀", style);
            put(buf, x0 + 3, y, label_w, &label, style);
        }
    }
}

/// The time column of a line that is not a segment (a call, an ICMP error).
fn put_time(app: &App, selected: bool, time: &str, cols: &Cols, y: u16, buf: &mut Buffer) {
    let t = &app.theme;
    let style = if selected { t.selected } else { t.dim };
    let w = usize::from(cols.time_w - 1);
    put(
        buf,
        cols.time,
        y,
        cols.time_w - 1,
        &format!("{time:>w$}"),
        style,
    );
}

/// Whether `side` is in a TIME-WAIT at a line after row `after_row` at `at`.
fn in_time_wait_after(l: &Ladder, side: Side, after_row: Option<usize>, at: Timestamp) -> bool {
    l.time_waits
        .iter()
        .any(|tw| tw.side == side && after_row.is_some_and(|a| a >= tw.row) && at < tw.expires)
}

/// A socket call: `├ connect() = 0` off the client's lifeline or
/// `accept() = 4 ┤` off the server's, in the call colour; no shaft, no
/// head.
fn draw_call(app: &App, l: &Ladder, c: &CallLine, cols: &Cols, y: u16, buf: &mut Buffer) {
    let t = &app.theme;
    let selected = app.call == Some(c.index);
    let time = time_text(app.time_mode, c.offset, c.delta, c.returned);
    put_time(app, selected, &time, cols, y, buf);
    let in_tw = |side: Side| in_time_wait_after(l, side, c.after_row, c.returned);
    states_and_lifelines(app, &NO_MARKS, in_tw, cols, y, buf);
    let style = if selected {
        t.call.patch(t.selected)
    } else {
        t.call
    };
    let width = cols.right.saturating_sub(cols.left + 1);
    if width < 6 {
        return;
    }
    let room = usize::from(width.saturating_sub(2));
    let label: String = format!(" {} ", c.label).chars().take(room).collect();
    let label_w = label.chars().count() as u16;
    let (tick, bar_tick) = match c.side {
        Side::Client => ("├", "┣"),
        Side::Server => ("┤", "┫"),
    };
    let tick = if c.blocked { bar_tick } else { tick };
    match c.side {
        Side::Client => {
            put(buf, cols.left, y, 1, tick, style);
            put(buf, cols.left + 1, y, label_w, &label, style);
        }
        Side::Server => {
            put(buf, cols.right - label_w, y, label_w, &label, style);
            put(buf, cols.right, y, 1, tick, style);
        }
    }
}

/// An ICMP error: `◀─ △ ICMP host unreachable from 198.18.0.2 … ─ ─ ─` toward
/// the endpoint it goes back to, in the theme's ICMP colour, with the
/// CLOSED it caused on that endpoint's side.
fn draw_icmp(app: &App, l: &Ladder, i: &IcmpLine, cols: &Cols, y: u16, buf: &mut Buffer) {
    let t = &app.theme;
    let selected = app.icmp == Some(i.index);
    let time = time_text(app.time_mode, i.offset, i.delta(l), i.time);
    put_time(app, selected, &time, cols, y, buf);
    let in_tw = |side: Side| in_time_wait_after(l, side, i.after_row, i.time);
    states_and_lifelines(app, &i.marks, in_tw, cols, y, buf);
    let style = if selected {
        t.icmp.patch(t.selected)
    } else {
        t.icmp
    };
    let width = cols.right.saturating_sub(cols.left + 1);
    if width < 6 {
        return;
    }
    let shaft: String = (0..width)
        .map(|k| if k % 2 == 0 { '─' } else { ' ' })
        .collect();
    let room = usize::from(width.saturating_sub(5));
    // With what it did when that fits.
    let full = i.label_with_notes();
    let text = if full.chars().count() + 4 <= room {
        full
    } else {
        i.label.clone()
    };
    let label = format!(" {} {text} ", theme::ICMP_SYMBOL);
    let label: String = label.chars().take(room).collect();
    let label_w = label.chars().count() as u16;
    let x0 = cols.left + 1;
    put(buf, x0, y, width, &shaft, style);
    match i.to {
        Side::Server => {
            put(buf, x0 + 2, y, label_w, &label, style);
            put(buf, cols.right - 1, y, 1, "▶", style);
        }
        Side::Client => {
            put(buf, x0, y, 1, "◀", style);
            put(buf, x0 + 1, y, 1, "─", style);
            put(buf, x0 + 3, y, label_w, &label, style);
        }
    }
}
