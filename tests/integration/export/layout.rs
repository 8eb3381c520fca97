//! The lecture diagram's layout over every capture: rows in time order per
//! sender and receiver, crossings only where the capture proves them.

use std::path::{Path, PathBuf};

use tcpladder::analysis::{Filter, analyze_file};
use tcpladder::export::{self, ExportOptions, Format};
use tcpladder::ladder::diagram::{self, Diagram, Placement};
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
/// y in steps; a lost one stops three quarters of the way.
fn shaft(a: &diagram::Arrow) -> ((f64, f64), (f64, f64)) {
    let (x0, x1) = (x_of(a.from), x_of(!a.from));
    let f = if a.lost { 0.75 } else { 1.0 };
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
