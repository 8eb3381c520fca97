//! Text that came from outside (a `--title`, an interface's name, a
//! program's arguments) made safe to show in any output: control
//! characters become their visible Unicode pictures (U+241B `␛` for ESC),
//! and the two non-characters XML cannot hold become U+FFFD, so no byte of
//! it drives a terminal, breaks an SVG's XML or splits a Mermaid line.
//! Pure.

use std::borrow::Cow;

/// `s` with every character no output may carry replaced by one that shows
/// what it was.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(picture).collect())
}

/// Whether `s` has a character [`visible`] replaces.
pub fn has_hidden(s: &str) -> bool {
    s.chars().any(needs)
}

fn needs(c: char) -> bool {
    c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}' | '\u{2028}' | '\u{2029}')
}

fn picture(c: char) -> char {
    match c {
        // C0 controls: the Control Pictures block, U+2400 on.
        '\0'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
        '\u{7f}' => '\u{2421}',
        c if needs(c) => '\u{fffd}',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_show_as_pictures_and_plain_text_is_untouched() {
        assert!(matches!(visible("三次握手 handshake"), Cow::Borrowed(_)));
        assert_eq!(visible("a\u{1}b\u{1b}[2J\nc\u{7f}"), "a␁b␛[2J␊c␡");
        assert_eq!(
            visible("x\u{fffe}\u{ffff}\u{85}\u{2028}"),
            "x\u{fffd}\u{fffd}\u{fffd}\u{fffd}"
        );
        assert!(has_hidden("tab\there") && !has_hidden("plain"));
        // Nothing a terminal or XML chokes on is left.
        let out = visible("\u{0}\u{8}\u{b}\u{c}\u{e}\u{1f}\u{9b}");
        assert!(out.chars().all(|c| !c.is_control()));
    }
}
