//! One line per segment as it is captured (`live --no-tui`), with the
//! state changes it reveals. Marks may land on earlier rows (a FIN's
//! arrival is proven by a later ACK), so each new mark says which segment
//! it belongs to.

use rustc_hash::FxHashMap;

use crate::ladder::label::{self, LabelStyle};
use crate::track::{Connection, Side};

/// Remembers what was printed per connection.
#[derive(Default)]
pub struct StreamPrinter {
    printed: FxHashMap<usize, (usize, usize)>,
}

impl StreamPrinter {
    /// Lines for whatever is new in `c` since the last call.
    pub fn lines(&mut self, c: &Connection) -> Vec<String> {
        let (segs, marks) = self.printed.entry(c.id).or_insert((0, 0));
        let mut out = Vec::new();
        let n = c.id + 1;
        if *segs == 0 && !c.segments.is_empty() {
            out.push(format!("#{n} client {} → server {}", c.client, c.server));
        }
        for (i, s) in c.segments.iter().enumerate().skip(*segs) {
            let text = label::label(s, LabelStyle::default());
            let notes: String = label::marks(s).iter().map(|m| format!(" [{m}]")).collect();
            let arrow = match s.from {
                Side::Client => format!("client ── {text}{notes} ──▶ server"),
                Side::Server => format!("client ◀── {text}{notes} ── server"),
            };
            out.push(format!(
                "#{n} {:>4} {:>11.6}  {arrow}",
                i + 1,
                (s.ts - c.first_ts).as_secs_f64()
            ));
        }
        *segs = c.segments.len();
        // An undone (tentative) change shortens the list: print it anew.
        if c.marks.len() < *marks {
            *marks = 0;
        }
        for m in c.marks.iter().skip(*marks) {
            let at = if m.row < c.segments.len() {
                format!("at segment {}", m.row + 1)
            } else {
                format!("at +{:.6} s", (m.time - c.first_ts).as_secs_f64())
            };
            out.push(format!(
                "#{n}        ⇒ {} {} → {} ({at})",
                m.side, m.from, m.to
            ));
        }
        *marks = c.marks.len();
        out
    }
}
