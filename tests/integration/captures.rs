//! Every capture in `captures/`: a reviewed golden text ladder (insta) and
//! checked verdicts. A new capture fails `every_capture_has_an_expectation`
//! until it is added here.

use std::path::{Path, PathBuf};

use tcpladder::analysis::{Filter, analyze_file};
use tcpladder::export::json::{ConnectionDoc, document};
use tcpladder::export::text::{Charset, render};
use tcpladder::ladder::{LabelStyle, Ladder};
use tcpladder::track::{Connection, TrackConfig};

/// What a capture must show. States are the last state of each side at the
/// end of the capture.
struct Expect {
    file: &'static str,
    connections: usize,
    opening: &'static str,
    closing: &'static str,
    closed_by: Option<&'static str>,
    client_states: &'static [&'static str],
    server_states: &'static [&'static str],
    time_wait: Option<&'static str>,
    half_close: bool,
    /// Words the verdict must contain.
    verdict: &'static [&'static str],
}

const NORMAL_CLIENT: &[&str] = &[
    "CLOSED",
    "SYN-SENT",
    "ESTABLISHED",
    "FIN-WAIT-1",
    "FIN-WAIT-2",
    "TIME-WAIT",
];
const NORMAL_SERVER: &[&str] = &[
    "LISTEN",
    "SYN-RECEIVED",
    "ESTABLISHED",
    "CLOSE-WAIT",
    "LAST-ACK",
    "CLOSED",
];
/// The same roles when the server closes first.
const PASSIVE_CLIENT: &[&str] = &[
    "CLOSED",
    "SYN-SENT",
    "ESTABLISHED",
    "CLOSE-WAIT",
    "LAST-ACK",
    "CLOSED",
];
const ACTIVE_SERVER: &[&str] = &[
    "LISTEN",
    "SYN-RECEIVED",
    "ESTABLISHED",
    "FIN-WAIT-1",
    "FIN-WAIT-2",
    "TIME-WAIT",
];

fn client_close(file: &'static str) -> Expect {
    Expect {
        file,
        connections: 1,
        opening: "three-way",
        closing: "fin",
        closed_by: Some("client"),
        client_states: NORMAL_CLIENT,
        server_states: NORMAL_SERVER,
        time_wait: Some("client"),
        half_close: false,
        verdict: &["four-way close"],
    }
}

fn expectations() -> Vec<Expect> {
    vec![
        client_close("client-close.pcap"),
        client_close("ipv6.pcap"),
        client_close("nanosecond.pcap"),
        Expect {
            file: "server-close.pcapng",
            closed_by: Some("server"),
            client_states: PASSIVE_CLIENT,
            server_states: ACTIVE_SERVER,
            time_wait: Some("server"),
            ..client_close("")
        },
        Expect {
            file: "refused.pcap",
            opening: "refused",
            closing: "reset",
            closed_by: Some("server"),
            client_states: &["CLOSED", "SYN-SENT", "CLOSED"],
            server_states: &["CLOSED"],
            time_wait: None,
            verdict: &["refused: the server answered the SYN with RST"],
            ..client_close("")
        },
        Expect {
            file: "syn-timeout.pcap",
            opening: "unanswered",
            closing: "none",
            closed_by: None,
            client_states: &["CLOSED", "SYN-SENT"],
            server_states: &["LISTEN"],
            time_wait: None,
            verdict: &["SYN sent 4 times", "1 s, 2 s, 4"],
            ..client_close("")
        },
        Expect {
            file: "syn-retransmit.pcap",
            verdict: &["client's SYN sent 2 times", "four-way close"],
            ..client_close("")
        },
        Expect {
            file: "simultaneous-open.pcap",
            opening: "simultaneous",
            client_states: &[
                "CLOSED",
                "SYN-SENT",
                "SYN-RECEIVED",
                "ESTABLISHED",
                "FIN-WAIT-1",
                "FIN-WAIT-2",
                "TIME-WAIT",
            ],
            server_states: &[
                "CLOSED",
                "SYN-SENT",
                "SYN-RECEIVED",
                "ESTABLISHED",
                "CLOSE-WAIT",
                "LAST-ACK",
                "CLOSED",
            ],
            verdict: &["simultaneous open"],
            ..client_close("")
        },
        Expect {
            file: "simultaneous-close.pcap",
            closing: "simultaneous",
            closed_by: Some("both"),
            client_states: &[
                "CLOSED",
                "SYN-SENT",
                "ESTABLISHED",
                "FIN-WAIT-1",
                "CLOSING",
                "TIME-WAIT",
            ],
            server_states: &[
                "LISTEN",
                "SYN-RECEIVED",
                "ESTABLISHED",
                "FIN-WAIT-1",
                "CLOSING",
                "TIME-WAIT",
            ],
            time_wait: Some("both"),
            verdict: &["simultaneous close"],
            ..client_close("")
        },
        Expect {
            file: "half-close.pcap",
            half_close: true,
            verdict: &["half-close: the server sent 3072 bytes after the client's FIN"],
            ..client_close("")
        },
        Expect {
            file: "abort-rst.pcap",
            closing: "reset",
            closed_by: Some("client"),
            client_states: &["CLOSED", "SYN-SENT", "ESTABLISHED", "CLOSED"],
            server_states: &["LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSED"],
            time_wait: None,
            verdict: &["reset by the client in ESTABLISHED"],
            ..client_close("")
        },
        Expect {
            file: "rst-unread.pcap",
            closing: "reset",
            closed_by: Some("server"),
            client_states: &["CLOSED", "SYN-SENT", "ESTABLISHED", "CLOSED"],
            server_states: &["LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSED"],
            time_wait: None,
            verdict: &["reset by the server in ESTABLISHED instead of a FIN"],
            ..client_close("")
        },
        Expect {
            file: "retransmission.pcap",
            verdict: &["client's FIN sent 2 times", "1 data retransmission"],
            ..client_close("")
        },
        Expect {
            file: "reuse-time-wait.pcap",
            connections: 2,
            closed_by: Some("server"),
            client_states: PASSIVE_CLIENT,
            server_states: &[
                "LISTEN",
                "SYN-RECEIVED",
                "ESTABLISHED",
                "FIN-WAIT-1",
                "FIN-WAIT-2",
                "TIME-WAIT",
                "CLOSED",
            ],
            time_wait: Some("server"),
            verdict: &[
                "TIME-WAIT ended early",
                "by a new connection on the same ports",
            ],
            ..client_close("")
        },
        Expect {
            file: "many-connections.pcap",
            connections: 128,
            ..client_close("")
        },
        Expect {
            file: "multi-interface.pcapng",
            connections: 2,
            ..client_close("")
        },
    ]
}

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

fn load(file: &str) -> Vec<Connection> {
    let (conns, report) = analyze_file(
        &captures_dir().join(file),
        Filter::default(),
        TrackConfig::default(),
    )
    .unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(
        report.warnings().is_empty(),
        "{file}: {:?}",
        report.warnings()
    );
    conns
}

fn check(e: &Expect, c: &ConnectionDoc) {
    let f = e.file;
    assert_eq!(c.opening, e.opening, "{f}: opening");
    assert_eq!(c.closing, e.closing, "{f}: closing");
    assert_eq!(c.closed_by, e.closed_by, "{f}: closed_by");
    let names = |v: &[tcpladder::track::State]| v.iter().map(|s| s.name()).collect::<Vec<_>>();
    assert_eq!(
        names(&c.client_states),
        e.client_states,
        "{f}: client states"
    );
    assert_eq!(
        names(&c.server_states),
        e.server_states,
        "{f}: server states"
    );
    assert_eq!(
        c.time_wait.as_ref().map(|t| t.side),
        e.time_wait,
        "{f}: TIME-WAIT side"
    );
    if let Some(tw) = c.time_wait.as_ref().filter(|t| !t.ended_early) {
        // With both sides waiting, the span runs from the first entry to
        // the last expiry.
        let span = tw.expires - tw.entered;
        assert!(
            (60.0..61.0).contains(&(span + 1e-6)),
            "{f}: TIME-WAIT is 2MSL = 60 s, got {span}"
        );
    }
    assert_eq!(c.half_close, e.half_close, "{f}: half_close");
    for word in e.verdict {
        assert!(
            c.verdict.contains(word),
            "{f}: verdict {:?} lacks {word:?}",
            c.verdict
        );
    }
}

#[test]
fn every_capture_has_an_expectation() {
    let listed: Vec<&str> = expectations().iter().map(|e| e.file).collect();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(captures_dir()).expect("captures/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        if name.ends_with(".pcap") || name.ends_with(".pcapng") {
            found.push(name);
        }
    }
    found.sort();
    for name in &found {
        assert!(listed.contains(&name.as_str()), "{name} has no expectation");
    }
    assert_eq!(found.len(), listed.len(), "expectations for missing files");
}

#[test]
fn verdicts_and_states() {
    for e in expectations() {
        let conns = load(e.file);
        assert_eq!(conns.len(), e.connections, "{}: connections", e.file);
        let doc = document(&conns);
        match e.file {
            // The second connection on the reused 4-tuple is a normal one
            // closed by the client.
            "reuse-time-wait.pcap" => {
                check(&e, &doc.connections[0]);
                check(
                    &client_close("reuse-time-wait.pcap (2nd)"),
                    &doc.connections[1],
                );
                assert_eq!(doc.connections[0].client, doc.connections[1].client);
            }
            // One session per interface: Ethernet on lo, Linux cooked on
            // any; the second is closed by the server.
            "multi-interface.pcapng" => {
                check(&e, &doc.connections[0]);
                let second = Expect {
                    closed_by: Some("server"),
                    client_states: PASSIVE_CLIENT,
                    server_states: ACTIVE_SERVER,
                    time_wait: Some("server"),
                    ..client_close("multi-interface.pcapng (any)")
                };
                check(&second, &doc.connections[1]);
                assert!(doc.connections[1].server.ends_with(":9503"));
            }
            // Busy servers close at once: some closes take three segments
            // (the FIN carries the ACK) and skip FIN-WAIT-2.
            "many-connections.pcap" => {
                for c in &doc.connections {
                    assert_eq!((c.opening, c.closing), ("three-way", "fin"));
                    assert_eq!(c.closed_by, Some("client"));
                    let last = |v: &[tcpladder::track::State]| v.last().map(|s| s.name());
                    assert_eq!(last(&c.client_states), Some("TIME-WAIT"));
                    assert_eq!(last(&c.server_states), Some("CLOSED"));
                }
                let three = doc
                    .connections
                    .iter()
                    .filter(|c| c.verdict.contains("three-segment"))
                    .count();
                let four = doc
                    .connections
                    .iter()
                    .filter(|c| c.verdict.contains("four-way"))
                    .count();
                assert_eq!(three + four, 128, "every close is one or the other");
            }
            _ => {
                for c in &doc.connections {
                    check(&e, c);
                }
            }
        }
    }
}

#[test]
fn golden_ladders() {
    for e in expectations() {
        let conns = load(e.file);
        let msl = TrackConfig::default().msl;
        // Many connections look alike: the first one stands for them.
        let shown = if conns.len() > 4 {
            &conns[..1]
        } else {
            &conns[..]
        };
        let mut text = String::new();
        for c in shown {
            let l = Ladder::build(c, msl, LabelStyle::default());
            text.push_str(&render(&l, Charset::Unicode));
            text.push('\n');
        }
        let name = e.file.replace('.', "_");
        insta::assert_snapshot!(name, text);
    }
}

#[test]
fn ascii_ladder_has_no_unicode() {
    let conns = load("client-close.pcap");
    let l = Ladder::build(&conns[0], TrackConfig::default().msl, LabelStyle::default());
    let text = render(&l, Charset::Ascii);
    assert!(text.is_ascii(), "{text}");
    assert!(text.contains("-->|"), "{text}");
}

#[test]
fn port_filter_keeps_only_that_port() {
    let dir = captures_dir();
    let keep = Filter {
        port: Some(9502),
        ..Filter::default()
    };
    let drop = Filter {
        port: Some(1),
        ..Filter::default()
    };
    let file = dir.join("client-close.pcap");
    let (kept, _) = analyze_file(&file, keep, TrackConfig::default()).expect("read");
    let (none, report) = analyze_file(&file, drop, TrackConfig::default()).expect("read");
    assert_eq!(kept.len(), 1);
    assert!(none.is_empty());
    assert_eq!(report.filtered_out, report.tcp_segments);
}

/// `analyze` streams a file in time order and reads one that goes back in
/// time whole; both print what the whole-file analysis gives.
#[test]
fn streamed_and_whole_file_analysis_agree() {
    use tcpladder::analysis::in_time_order;
    let dir = captures_dir();
    // many-connections was recorded 30 s after client-close.
    let later = std::fs::read(dir.join("many-connections.pcap")).unwrap();
    let earlier = std::fs::read(dir.join("client-close.pcap")).unwrap();
    let tmp = std::env::temp_dir();
    let forward = tmp.join(format!("tcpladder-forward-{}.pcap", std::process::id()));
    let back = tmp.join(format!("tcpladder-back-{}.pcap", std::process::id()));
    let joined = |a: &[u8], b: &[u8]| [a, &b[24..]].concat();
    std::fs::write(&forward, joined(&earlier, &later)).unwrap();
    std::fs::write(&back, joined(&later, &earlier)).unwrap();
    assert!(in_time_order(&forward).unwrap());
    assert!(!in_time_order(&back).unwrap());
    for file in [&forward, &back] {
        let (conns, _) = analyze_file(file, Filter::default(), TrackConfig::default()).unwrap();
        assert_eq!(conns.len(), 129);
        let whole = serde_json::to_string_pretty(&document(&conns)).unwrap() + "\n";
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcpladder"))
            .args(["analyze", "--json"])
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            whole,
            "{}",
            file.display()
        );
        let text = std::process::Command::new(env!("CARGO_BIN_EXE_tcpladder"))
            .arg("analyze")
            .arg(file)
            .output()
            .unwrap();
        let ladders: Vec<String> = conns
            .iter()
            .map(|c| {
                render(
                    &Ladder::build(c, TrackConfig::default().msl, LabelStyle::default()),
                    Charset::Unicode,
                )
            })
            .collect();
        assert_eq!(String::from_utf8(text.stdout).unwrap(), ladders.join("\n"));
    }
    let _ = std::fs::remove_file(&forward);
    let _ = std::fs::remove_file(&back);
}

/// Every file under `dir` (and its folders) with a capture's extension.
pub(crate) fn capture_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            capture_files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| matches!(x.to_str(), Some("pcap" | "pcapng" | "cap")))
        {
            out.push(p);
        }
    }
}

/// `replay` of a large capture keeps each connection as where its records
/// are and rebuilds it when shown: the rebuilt connection is the one the
/// first read made, field for field, on every bundled capture and every
/// peer capture in time order.
#[test]
fn connections_rebuilt_from_their_records_are_the_ones_first_read() {
    use tcpladder::analysis::kept::keep_file;
    use tcpladder::analysis::{in_time_order, stream_in_order};
    let mut files = Vec::new();
    capture_files(&captures_dir(), &mut files);
    let bundled = files.len();
    capture_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-captures"),
        &mut files,
    );
    files.sort();
    let (mut checked, mut conns_checked, mut whole) = (0, 0, 0);
    for file in &files {
        if !in_time_order(file).unwrap_or(false) {
            continue;
        }
        let cfg = TrackConfig::default();
        let mut first = Vec::new();
        let Ok(report) = stream_in_order(
            file,
            Filter::default(),
            cfg,
            |_| {},
            |mut c| {
                c.compact();
                first.push(c);
            },
        ) else {
            continue;
        };
        let (mut kept, kept_report) = keep_file(file, Filter::default(), cfg, |_| {}).unwrap();
        assert_eq!(report.packets, kept_report.packets, "{}", file.display());
        assert_eq!(kept.kept.len(), first.len(), "{}", file.display());
        for c in &first {
            let k = &kept.kept[c.id];
            assert_eq!(
                (k.first_ts, k.client, k.server),
                (c.first_ts, c.client, c.server)
            );
            whole += usize::from(k.is_whole());
            let again = kept
                .rebuild(c.id)
                .unwrap_or_else(|e| panic!("{}: connection {}: {e}", file.display(), c.id + 1));
            assert_eq!(
                format!("{again:?}"),
                format!("{c:?}"),
                "{}: connection {}",
                file.display(),
                c.id + 1
            );
            conns_checked += 1;
        }
        // Every segment's time, in order.
        let mut times: Vec<_> = first
            .iter()
            .flat_map(|c| c.segments.iter().map(|s| s.ts))
            .collect();
        times.sort();
        assert_eq!(kept.times.len(), times.len());
        assert!(
            times
                .iter()
                .enumerate()
                .all(|(i, &t)| kept.times.get(i) == Some(t))
        );
        checked += 1;
    }
    assert!(checked >= bundled / 2, "only {checked} files in time order");
    assert!(conns_checked > 200, "only {conns_checked} connections");
    eprintln!("rebuilt {conns_checked} connections of {checked} files ({whole} held whole)");
}

/// `analyze` writes a connection of millions of segments a few rows at a
/// time: the text is the one the whole ladder gives, on every connection
/// of every bundled capture and peer capture (without ICMP errors), made
/// one, two and seven rows at a time, in both charsets and both numberings,
/// plain and in colour.
#[test]
fn a_ladder_made_a_few_rows_at_a_time_reads_as_the_whole() {
    use tcpladder::export::text::{Paint, render_long_to, render_painted};
    let mut files = Vec::new();
    capture_files(&captures_dir(), &mut files);
    capture_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-captures"),
        &mut files,
    );
    files.sort();
    let cfg = TrackConfig::default();
    let mut compared = 0;
    for file in &files {
        let Ok((conns, _)) = analyze_file(file, Filter::default(), cfg) else {
            continue;
        };
        for c in conns.iter().filter(|c| c.icmp.is_empty()) {
            for (style, charset, chunk, paint) in [
                (LabelStyle::default(), Charset::Unicode, 1, Paint::Plain),
                (LabelStyle::default(), Charset::Unicode, 2, Paint::Ansi),
                (
                    LabelStyle { absolute: true },
                    Charset::Ascii,
                    7,
                    Paint::Plain,
                ),
            ] {
                let whole = render_painted(&Ladder::build(c, cfg.msl, style), charset, paint);
                let mut out = Vec::new();
                render_long_to(c, cfg.msl, style, charset, paint, chunk, &mut out).unwrap();
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    whole,
                    "{}: connection {}, {chunk} rows at a time",
                    file.display(),
                    c.id + 1
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 600, "only {compared} ladders compared");
}
