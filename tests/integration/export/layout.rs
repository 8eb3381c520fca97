//! The lecture diagram's layout over every capture: rows in time order per
//! sender and receiver, crossings only where the capture proves them; no
//! text on another text, a mark, a state box or a line, and the text as
//! drawn inside the box the layout gave it.

use std::path::{Path, PathBuf};

use tcpladder::analysis::{Filter, analyze_file};
use tcpladder::export::{self, ExportOptions, Format};
use tcpladder::ladder::diagram::{self, Diagram, Placement};
use tcpladder::ladder::page::{self, Kind, Page, Quad, Text};
use tcpladder::ladder::{Ladder, Role};
use tcpladder::track::{Side, TrackConfig};

/// Every capture the checks run over: the bundled ones (with the kernel
/// recordings) and the peer corpus's TCP captures with a close.
fn all_captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut dirs = vec![root.join("captures")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                out.push(p);
            }
        }
    }
    let peer = root.join("../shared/peer-captures");
    if let Ok(manifest) = std::fs::read_to_string(peer.join("MANIFEST.tsv")) {
        for line in manifest.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            let tcp = f.get(6).and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
            let cases = f.get(7).copied().unwrap_or("");
            if tcp > 0
                && ["FIN-both-sides", "RST", "simultaneous-close"]
                    .iter()
                    .any(|c| cases.contains(c))
            {
                out.push(peer.join(f[0]));
            }
        }
    }
    out.sort();
    out
}

/// Whether row `j` acknowledges row `i`'s sequence space.
fn acks(l: &Ladder, j: usize, i: usize) -> bool {
    let (a, b) = (&l.rows[i], &l.rows[j]);
    a.from != b.from && a.end != a.seq && b.ack.is_some_and(|x| a.end.le(x))
}

fn x_of(side: Side) -> f64 {
    match side {
        Side::Client => 0.0,
        Side::Server => 1.0,
    }
}

/// An arrow's drawn shaft in page units: x from 0 (client) to 1 (server),
/// y in steps; a lost one stops where its cross is.
fn shaft(a: &diagram::Arrow) -> ((f64, f64), (f64, f64)) {
    let (x0, x1) = (x_of(a.from), x_of(!a.from));
    let f = if a.lost { page::LOST_REACH } else { 1.0 };
    (
        (x0, a.y_send),
        (x0 + (x1 - x0) * f, a.y_send + (a.y_arrive - a.y_send) * f),
    )
}

/// Whether two segments cross properly (touching at an end is not crossing).
fn cross(a: ((f64, f64), (f64, f64)), b: ((f64, f64), (f64, f64))) -> bool {
    let o = |p: (f64, f64), q: (f64, f64), r: (f64, f64)| {
        let v = (q.0 - p.0) * (r.1 - p.1) - (q.1 - p.1) * (r.0 - p.0);
        if v.abs() < 1e-9 { 0.0 } else { v.signum() }
    };
    let (d1, d2) = (o(a.0, a.1, b.0), o(a.0, a.1, b.1));
    let (d3, d4) = (o(b.0, b.1, a.0), o(b.0, b.1, a.1));
    d1 * d2 < 0.0 && d3 * d4 < 0.0
}

/// What is wrong with the order of `d`'s arrows, in words: each
/// endpoint's sends and each receiver's arrivals in capture order, on the
/// page and in the estimated times; the page showing the estimated times'
/// order; a reply sent after its cause arrived; a SYN or FIN its peer did
/// not acknowledge still in flight; crossings only of arrows the estimated
/// times have in flight at once and that do not answer each other; no time
/// earlier than the capture allows.
fn order_problems(l: &Ladder, p: &Placement, d: &Diagram, flat: bool) -> Vec<String> {
    let mut out = Vec::new();
    let name = |k: usize| format!("#{} {}", l.rows[k].index + 1, l.rows[k].label);
    let arrows = &d.arrows;
    for side in Side::BOTH {
        let sent: Vec<usize> = (0..arrows.len())
            .filter(|&k| arrows[k].from == side)
            .collect();
        for w in sent.windows(2) {
            let (a, b) = (&arrows[w[0]], &arrows[w[1]]);
            if b.y_send < a.y_send || !flat && b.sent < a.sent {
                out.push(format!(
                    "the {side:?} sends {} above its earlier {}",
                    name(w[1]),
                    name(w[0])
                ));
            }
        }
        let arriving: Vec<usize> = (0..arrows.len())
            .filter(|&k| arrows[k].from != side && !arrows[k].lost)
            .collect();
        for w in arriving.windows(2) {
            let (a, b) = (&arrows[w[0]], &arrows[w[1]]);
            if b.y_arrive < a.y_arrive || !flat && b.arrives < a.arrives {
                out.push(format!(
                    "{} arrives at the {side:?} above the earlier {}",
                    name(w[1]),
                    name(w[0])
                ));
            }
        }
    }
    // The page's order is the estimated times' order (flat: one step a
    // line, in capture order, which ties in time do not change).
    let mut events: Vec<(i64, f64, usize)> = Vec::new();
    for (k, a) in arrows.iter().enumerate() {
        events.push((a.sent, a.y_send, k));
        events.push((a.arrives, a.y_arrive, k));
    }
    events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    for w in events.windows(2) {
        let ((t0, y0, k0), (t1, y1, k1)) = (w[0], w[1]);
        if !flat && ((t0 == t1) != (y0 == y1) || y1 < y0) {
            out.push(format!(
                "{} (at {t0} ns, step {y0}) and {} (at {t1} ns, step {y1}) are drawn out of time order",
                name(k0),
                name(k1)
            ));
        }
    }
    let one_way = p.rtt.map_or(0, |r| r.as_nanos() / 2);
    for (i, a) in arrows.iter().enumerate() {
        let r = &l.rows[i];
        if flat || p.rtt.is_none() {
            let t = (r.time - l.start).as_nanos();
            if a.sent != t || a.arrives != t {
                out.push(format!(
                    "{} is drawn flat away from its capture time",
                    name(i)
                ));
            }
            continue;
        }
        let before = match r.from {
            Side::Client => (p.from_client * one_way as f64) as i64,
            Side::Server => ((1.0 - p.from_client) * one_way as f64) as i64,
        };
        if a.sent < (r.time - l.start).as_nanos() - before || a.arrives < a.sent + one_way {
            out.push(format!(
                "{} is sent or arrives earlier than the capture allows",
                name(i)
            ));
        }
    }
    for i in 0..arrows.len() {
        let first_ack = (i + 1..arrows.len()).find(|&j| acks(l, j, i));
        for j in i + 1..arrows.len() {
            let (a, b) = (&arrows[i], &arrows[j]);
            if a.from == b.from {
                continue;
            }
            let answers = acks(l, j, i);
            if !flat && answers && !a.lost && b.sent <= a.arrives {
                out.push(format!(
                    "{} is sent before {}, which it acknowledges, arrived",
                    name(j),
                    name(i)
                ));
            }
            // A SYN, or a FIN with everything before it acknowledged and
            // nothing of it.
            let waiting = match l.rows[i].role {
                Role::Syn | Role::SynAck => true,
                Role::Fin => l.rows[j].ack == Some(l.rows[i].seq),
                _ => false,
            };
            if !flat
                && waiting
                && !a.lost
                && l.rows[j].ack.is_some()
                && first_ack.is_none_or(|f| j < f)
                && a.arrives <= b.sent
            {
                out.push(format!(
                    "{} arrives before {} left, which does not acknowledge it",
                    name(i),
                    name(j)
                ));
            }
            if cross(shaft(a), shaft(b)) && (answers || b.sent >= a.arrives) {
                out.push(format!(
                    "{} crosses {} though {}",
                    name(i),
                    name(j),
                    if answers {
                        "that acknowledges it"
                    } else {
                        "the estimated times do not have them in flight at once"
                    }
                ));
            }
        }
    }
    out
}

/// Every ladder the checks draw: each connection (up to 8 a file, of up to
/// 400 segments) of every capture, and the lecture guide's session with
/// its socket calls.
fn ladders() -> Vec<(String, Ladder, Placement)> {
    let o = ExportOptions {
        format: Format::Svg,
        ..ExportOptions::default()
    };
    let mut out = Vec::new();
    for path in all_captures() {
        let Ok((conns, _)) = analyze_file(&path, Filter::default(), TrackConfig::default()) else {
            continue;
        };
        for c in conns.iter().take(8).filter(|c| c.segments.len() <= 400) {
            if let Ok((l, p)) = export::ladder_for(c, &o) {
                out.push((path.display().to_string(), l, p));
            }
        }
    }
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images");
    let pcap = docs.join("demo-client-close.pcap");
    let (conns, _) = analyze_file(&pcap, Filter::default(), TrackConfig::default()).unwrap();
    let json = std::fs::read_to_string(docs.join("demo-client-close.json")).unwrap();
    let calls = tcpladder::demo::calls_from_json(&json).unwrap();
    let (l, p) = export::ladder_with_calls(&conns[0], &calls[0], &o).unwrap();
    out.push((format!("{} with calls", pcap.display()), l, p));
    out
}

#[test]
fn rows_keep_each_senders_order_and_cross_only_when_proven() {
    let mut problems = Vec::new();
    let mut drawn = 0;
    for (name, l, p) in ladders() {
        for flat in [false, true] {
            let d = diagram::layout(&l, &p, flat, None);
            drawn += 1;
            for what in order_problems(&l, &p, &d, flat || p.rtt.is_none()) {
                problems.push(format!(
                    "{name} conn {}{}: {what}",
                    l.number,
                    if flat { " --flat" } else { "" }
                ));
            }
        }
    }
    assert!(drawn > 400, "{drawn}");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// A convex polygon, corners in order.
type Poly = Vec<(f64, f64)>;

/// Whether two convex polygons share area: no edge of either separates
/// them (touching is not overlapping). Written here again, not taken from
/// the layout, so a mistake there cannot hide one.
fn intersect(a: &Poly, b: &Poly) -> bool {
    let separates = |p: &Poly, q: &Poly| {
        (0..p.len()).any(|i| {
            let (x0, y0) = p[i];
            let (x1, y1) = p[(i + 1) % p.len()];
            let (nx, ny) = (y1 - y0, x0 - x1);
            if nx.abs() + ny.abs() < 1e-12 {
                return false;
            }
            let span = |r: &Poly| {
                r.iter()
                    .map(|&(x, y)| x * nx + y * ny)
                    .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
            };
            let ((alo, ahi), (blo, bhi)) = (span(p), span(q));
            let eps = 1e-6 * (nx.abs() + ny.abs());
            ahi <= blo + eps || bhi <= alo + eps
        })
    };
    !separates(a, b) && !separates(b, a)
}

fn poly(q: &Quad) -> Poly {
    q.0.to_vec()
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Poly {
    vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
}

/// A stroked line as a thin polygon.
fn band(a: (f64, f64), b: (f64, f64), width: f64) -> Poly {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt().max(1e-9);
    let (nx, ny) = (-dy / len * width / 2.0, dx / len * width / 2.0);
    vec![
        (a.0 + nx, a.1 + ny),
        (b.0 + nx, b.1 + ny),
        (b.0 - nx, b.1 - ny),
        (a.0 - nx, a.1 - ny),
    ]
}

fn show(t: &Text) -> String {
    format!(
        "{:?} {:?} at ({:.1}, {:.1})",
        t.kind, t.text, t.at.0, t.at.1
    )
}

/// Everything on `page` that overlaps what it must not, in words.
fn overlap_problems(page: &Page) -> Vec<String> {
    let mut out = Vec::new();
    let texts: Vec<&Text> = page.texts().collect();
    let boxes: Vec<Poly> = texts.iter().map(|t| poly(&t.outline())).collect();
    // Marks: crosses, badges, router marks.
    let mut marks: Vec<(String, Poly)> = Vec::new();
    for a in &page.arrows {
        if let Some(c) = &a.cross {
            let r = c.half + c.width / 2.0;
            marks.push((
                format!("the cross of #{}", a.index + 1),
                rect(c.at.0 - r, c.at.1 - r, c.at.0 + r, c.at.1 + r),
            ));
        }
        if let Some(b) = &a.badge {
            let f = &b.frame;
            marks.push((
                format!("the badge of #{}", a.index + 1),
                rect(f.x, f.y, f.x + f.w, f.y + f.h),
            ));
        }
    }
    for i in &page.icmp {
        if let Some(((x, y), r, _)) = &i.router {
            marks.push((
                "a router".into(),
                rect(x - r - 1.0, y - r - 1.0, x + r + 1.0, y + r + 1.0),
            ));
        }
    }
    let frames: Vec<(String, Poly)> = page
        .boxes
        .iter()
        .map(|b| {
            let f = &b.frame;
            (
                format!("the {} box", b.text.text),
                rect(f.x, f.y, f.x + f.w, f.y + f.h),
            )
        })
        .collect();
    // Lines a text may not sit on: the lifelines, brackets, call ticks and
    // bars.
    let mut lines: Vec<(String, Poly)> = Vec::new();
    for (k, l) in page.lifelines.iter().enumerate() {
        lines.push((format!("lifeline {k}"), band(l.from, l.to, l.width)));
    }
    for b in &page.brackets {
        for w in b.path.windows(2) {
            lines.push(("a TIME-WAIT bracket".into(), band(w[0], w[1], 2.0)));
        }
    }
    for c in &page.calls {
        lines.push((
            format!("the tick of {}", c.label.text),
            band(c.tick.from, c.tick.to, c.tick.width),
        ));
        if let Some(b) = &c.bar {
            lines.push((
                format!("the bar of {}", c.label.text),
                rect(b.x, b.y, b.x + b.w, b.y + b.h),
            ));
        }
    }
    // The text that belongs inside a frame.
    let own = |t: &Text, what: &str| {
        (t.kind == Kind::State && what == format!("the {} box", t.text))
            || (t.kind == Kind::Badge && what.starts_with("the badge"))
    };
    for i in 0..texts.len() {
        for j in i + 1..texts.len() {
            if intersect(&boxes[i], &boxes[j]) {
                out.push(format!("{} overlaps {}", show(texts[i]), show(texts[j])));
            }
        }
        for (what, m) in marks.iter().chain(&frames).chain(&lines) {
            if !own(texts[i], what) && intersect(&boxes[i], m) {
                out.push(format!("{} overlaps {what}", show(texts[i])));
            }
        }
        let (l, t, r, b) = texts[i].outline().bounds();
        if l < 0.0 || t < 0.0 || r > page.width || b > page.height {
            out.push(format!(
                "{} leaves the {}×{} page",
                show(texts[i]),
                page.width,
                page.height
            ));
        }
        let between = matches!(
            texts[i].kind,
            Kind::Label | Kind::IcmpLabel | Kind::IcmpEffect | Kind::Badge
        );
        if between && (l <= page.lane(Side::Client) || r >= page.lane(Side::Server)) {
            out.push(format!("{} is not between the lifelines", show(texts[i])));
        }
    }
    let solids: Vec<&(String, Poly)> = marks.iter().chain(&frames).collect();
    for i in 0..solids.len() {
        for j in i + 1..solids.len() {
            if intersect(&solids[i].1, &solids[j].1) {
                out.push(format!("{} overlaps {}", solids[i].0, solids[j].0));
            }
        }
    }
    out
}

/// How many arrow labels sit on another arrow's shaft: allowed where
/// bundles of arrows cross, counted to see.
fn labels_on_shafts(page: &Page) -> usize {
    let mut n = 0;
    for a in &page.arrows {
        let label = poly(&a.label.outline());
        n += page
            .arrows
            .iter()
            .filter(|b| b.index != a.index)
            .filter(|b| intersect(&label, &band(b.shaft.from, b.shaft.to, b.shaft.width)))
            .count();
    }
    n
}

#[test]
fn no_text_overlaps_a_text_a_mark_a_box_or_a_line() {
    let mut problems = Vec::new();
    let (mut drawn, mut on_shafts) = (0, 0);
    for (name, l, p) in ladders() {
        for flat in [false, true] {
            let page = page::lay_out(&diagram::layout(&l, &p, flat, None));
            drawn += 1;
            on_shafts += labels_on_shafts(&page);
            for what in overlap_problems(&page) {
                problems.push(format!(
                    "{name} conn {}{}: {what}",
                    l.number,
                    if flat { " --flat" } else { "" }
                ));
            }
        }
    }
    println!("{drawn} pages, {on_shafts} labels on another arrow's shaft");
    assert!(drawn > 400, "{drawn}");
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The SVG's texts, laid out by usvg with the fonts the PNG embeds: every
/// point of every glyph lies inside the box the layout gave the text, so
/// the boxes checked above are the ones drawn.
#[test]
fn drawn_glyphs_stay_inside_their_layout_boxes() {
    use resvg::usvg;
    fn walk(g: &usvg::Group, out: &mut Vec<(String, Vec<(f64, f64)>)>) {
        for n in g.children() {
            match n {
                usvg::Node::Group(g) => walk(g, out),
                usvg::Node::Text(t) => {
                    let s: String = t.chunks().iter().map(|c| c.text()).collect();
                    let mut pts = Vec::new();
                    glyph_points(t.flattened(), &mut pts);
                    out.push((s, pts));
                }
                _ => {}
            }
        }
    }
    fn glyph_points(g: &usvg::Group, out: &mut Vec<(f64, f64)>) {
        for n in g.children() {
            match n {
                usvg::Node::Group(g) => glyph_points(g, out),
                usvg::Node::Path(p) => {
                    let m = p.abs_transform();
                    for q in p.data().points() {
                        let (x, y) = (f64::from(q.x), f64::from(q.y));
                        out.push((
                            f64::from(m.sx) * x + f64::from(m.kx) * y + f64::from(m.tx),
                            f64::from(m.ky) * x + f64::from(m.sy) * y + f64::from(m.ty),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    let inside = |q: &Quad, (x, y): (f64, f64)| {
        // Within half a unit of the box (curve control points and rounding).
        let c = q.0;
        (0..4).all(|i| {
            let (x0, y0) = c[i];
            let (x1, y1) = c[(i + 1) % 4];
            let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt().max(1e-9);
            ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / len >= -0.5
        })
    };
    let mut checked = 0;
    let mut problems = Vec::new();
    let some = ladders()
        .into_iter()
        .filter(|(n, _, _)| !n.contains("peer-captures") && !n.contains("/kernel/"));
    for (name, l, p) in some {
        for flat in [false, true] {
            let page = page::lay_out(&diagram::layout(&l, &p, flat, None));
            let svg = export::svg::render(&page, &export::svg::LIGHT);
            let tree = usvg::Tree::from_str(&svg, &export::png::options()).unwrap();
            let mut drawn = Vec::new();
            walk(tree.root(), &mut drawn);
            let model: Vec<&Text> = page.texts().collect();
            assert_eq!(drawn.len(), model.len(), "{name}: texts drawn and laid out");
            for ((s, pts), t) in drawn.iter().zip(&model) {
                assert_eq!(s, &t.text, "{name}: the same texts in the same order");
                assert!(
                    !pts.is_empty() || s.trim().is_empty(),
                    "{name}: {s:?} has no glyphs"
                );
                let q = t.outline();
                if let Some(&pt) = pts.iter().find(|&&pt| !inside(&q, pt)) {
                    problems.push(format!(
                        "{name}: {} has a glyph at {pt:?} outside {q:?}",
                        show(t)
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "{checked}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
