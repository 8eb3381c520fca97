//! Where each pane goes. Computed from the terminal size alone, so the
//! update function (scrolling, paging) and the views agree.

use ratatui::layout::Rect;

/// Below this the screen says it is too small instead of drawing.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    pub too_small: bool,
    pub list: Rect,
    pub ladder: Rect,
    pub detail: Rect,
    pub status: Rect,
}

impl Areas {
    pub fn new(size: Rect) -> Areas {
        let too_small = size.width < MIN_WIDTH || size.height < MIN_HEIGHT;
        let w = size.width;
        let h = size.height;
        let status = Rect::new(size.x, size.y + h.saturating_sub(1), w, 1.min(h));
        let body_h = h.saturating_sub(1);
        let list_h = (body_h / 4).clamp(5, 12).min(body_h);
        let list = Rect::new(size.x, size.y, w, list_h);
        let rest_y = size.y + list_h;
        let rest_h = body_h.saturating_sub(list_h);
        // Wide terminals get the detail pane beside the ladder.
        let (ladder, detail) = if w >= 170 {
            let dw = 56;
            (
                Rect::new(size.x, rest_y, w - dw, rest_h),
                Rect::new(size.x + w - dw, rest_y, dw, rest_h),
            )
        } else {
            let dh = 9.min(rest_h / 2);
            (
                Rect::new(size.x, rest_y, w, rest_h - dh),
                Rect::new(size.x, rest_y + rest_h - dh, w, dh),
            )
        };
        Areas {
            too_small,
            list,
            ladder,
            detail,
            status,
        }
    }
}

/// The ladder pane's lines above its rows besides the verdict's: the
/// endpoints, their states, their first states.
pub const LADDER_HEADER: u16 = 3;
/// The verdict takes at most this many lines of the ladder pane.
pub const VERDICT_LINES: usize = 3;

/// `text` wrapped on spaces into lines of at most `width` characters (a
/// longer word is cut).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_tile_the_screen() {
        for (w, h) in [(80, 24), (120, 40), (200, 60), (60, 16)] {
            let a = Areas::new(Rect::new(0, 0, w, h));
            assert!(!a.too_small);
            let area = |r: Rect| u32::from(r.width) * u32::from(r.height);
            assert_eq!(
                area(a.list) + area(a.ladder) + area(a.detail) + area(a.status),
                u32::from(w) * u32::from(h),
                "{w}x{h}"
            );
        }
        assert!(Areas::new(Rect::new(0, 0, 40, 10)).too_small);
    }
}
