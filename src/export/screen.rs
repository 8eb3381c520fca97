//! A screenshot of the TUI exactly as drawn: ratatui's cell grid, colours
//! and all, as SVG (and through it PNG) and as plain text.

use std::fmt::Write;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use super::svg::esc;

const CELL_W: f64 = 8.43;
const CELL_H: f64 = 17.0;
const FONT_PX: f64 = 14.0;

/// The grid's text, one line per row, trailing blanks kept out.
pub fn text(buf: &Buffer) -> String {
    let a = buf.area;
    let mut s = String::new();
    for y in a.y..a.y + a.height {
        let mut line = String::new();
        for x in a.x..a.x + a.width {
            line.push_str(buf[(x, y)].symbol());
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// An xterm-like palette for the named colours.
fn hex(c: Color, fallback: &'static str) -> String {
    let named = match c {
        Color::Reset => return fallback.to_string(),
        Color::Black => "#000000",
        Color::Red => "#cd0000",
        Color::Green => "#00a000",
        Color::Yellow => "#cdcd00",
        Color::Blue => "#0040e0",
        Color::Magenta => "#cd00cd",
        Color::Cyan => "#00cdcd",
        Color::Gray => "#c8c8c8",
        Color::DarkGray => "#7f7f7f",
        Color::LightRed => "#ff5555",
        Color::LightGreen => "#55ff55",
        Color::LightYellow => "#ffff55",
        Color::LightBlue => "#6f8fff",
        Color::LightMagenta => "#ff55ff",
        Color::LightCyan => "#55ffff",
        Color::White => "#ffffff",
        Color::Rgb(r, g, b) => return format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => return indexed(i),
    };
    named.to_string()
}

/// The 256-colour cube and grey ramp.
fn indexed(i: u8) -> String {
    match i {
        0..=15 => {
            let basic = [
                Color::Black,
                Color::Red,
                Color::Green,
                Color::Yellow,
                Color::Blue,
                Color::Magenta,
                Color::Cyan,
                Color::Gray,
                Color::DarkGray,
                Color::LightRed,
                Color::LightGreen,
                Color::LightYellow,
                Color::LightBlue,
                Color::LightMagenta,
                Color::LightCyan,
                Color::White,
            ];
            hex(basic[usize::from(i)], "#000000")
        }
        16..=231 => {
            let n = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            format!(
                "#{:02x}{:02x}{:02x}",
                level(n / 36),
                level(n / 6 % 6),
                level(n % 6)
            )
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            format!("#{v:02x}{v:02x}{v:02x}")
        }
    }
}

/// A cell's text and background colours as drawn, reverse video applied,
/// each with the default that stands for the terminal's own.
fn drawn(cell: &ratatui::buffer::Cell) -> [(Color, &'static str); 2] {
    let fg = (cell.fg, "#e0e0e0");
    let bg = (cell.bg, "#000000");
    if cell.modifier.contains(Modifier::REVERSED) {
        [bg, fg]
    } else {
        [fg, bg]
    }
}

/// The grid as an SVG picture: a rectangle per run of one background, a
/// text run per run of one style, stretched to the cell grid so box
/// drawing lines up whatever the viewer's font.
pub fn svg(buf: &Buffer) -> String {
    let a = buf.area;
    let w = f64::from(a.width) * CELL_W;
    let h = f64::from(a.height) * CELL_H;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.1} {h:.1}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT_PX}">"#
    );
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{w:.1}" height="{h:.1}" fill="#000000"/>"##
    );
    for row in 0..a.height {
        let y = a.y + row;
        let top = f64::from(row) * CELL_H;
        // Backgrounds.
        let mut x = 0;
        while x < a.width {
            let bg = drawn(&buf[(a.x + x, y)])[1];
            let start = x;
            while x < a.width && drawn(&buf[(a.x + x, y)])[1] == bg {
                x += 1;
            }
            let _ = writeln!(
                s,
                r#"<rect x="{:.2}" y="{top:.2}" width="{:.2}" height="{CELL_H}" fill="{}"/>"#,
                f64::from(start) * CELL_W,
                f64::from(x - start) * CELL_W,
                hex(bg.0, bg.1)
            );
        }
        // Text runs of one foreground and weight.
        let mut x = 0;
        while x < a.width {
            let cell = &buf[(a.x + x, y)];
            let (fg, bold) = (drawn(cell)[0], cell.modifier.contains(Modifier::BOLD));
            let start = x;
            let mut run = String::new();
            while x < a.width {
                let c = &buf[(a.x + x, y)];
                if drawn(c)[0] != fg || c.modifier.contains(Modifier::BOLD) != bold {
                    break;
                }
                let sym = c.symbol();
                run.push_str(if sym.is_empty() { " " } else { sym });
                x += 1;
            }
            if run.trim().is_empty() {
                continue;
            }
            let cells = f64::from(x - start);
            let weight = if bold { r#" font-weight="bold""# } else { "" };
            let _ = writeln!(
                s,
                r#"<text x="{:.2}" y="{:.2}" fill="{}"{weight} textLength="{:.2}" lengthAdjust="spacingAndGlyphs" xml:space="preserve">{}</text>"#,
                f64::from(start) * CELL_W,
                top + CELL_H - 4.5,
                hex(fg.0, fg.1),
                cells * CELL_W,
                esc(&run)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
