//! Lecture export: SVG that parses and says what it should, PNG that
//! decodes to the right size and is not blank, golden text and Mermaid, the
//! TUI screenshot of a known frame, every bundled capture in both themes,
//! and the command's errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use resvg::tiny_skia::Pixmap;
use resvg::usvg;

use tcpladder::analysis::{Filter, analyze_file};
use tcpladder::export::{self, Bound, ExportOptions, Format};
use tcpladder::ladder::diagram::{self, Placement};
use tcpladder::track::{Connection, TrackConfig};
use tcpladder::tui::app::{App, ReplayStart};
use tcpladder::tui::theme::ThemeName;

mod layout;

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("captures")
}

fn load(file: &str) -> Vec<Connection> {
    analyze_file(
        &captures().join(file),
        Filter::default(),
        TrackConfig::default(),
    )
    .expect("capture")
    .0
}

fn opts(format: Format) -> ExportOptions {
    ExportOptions {
        format,
        ..ExportOptions::default()
    }
}

fn svg_of(c: &Connection, o: &ExportOptions) -> String {
    String::from_utf8(export::render(c, &o.clone()).expect("render")).expect("utf-8")
}

/// Parses with usvg, as the PNG path and Inkscape-like consumers do.
fn parse(svg: &str) -> usvg::Tree {
    usvg::Tree::from_str(svg, &export::png::options()).expect("the SVG parses")
}

#[test]
fn svg_parses_and_names_segments_and_states() {
    let conns = load("client-close.pcap");
    let svg = svg_of(&conns[0], &opts(Format::Svg));
    let tree = parse(&svg);
    assert!(tree.size().width() > 500.0 && tree.size().height() > 500.0);
    for needle in [
        "SYN seq=0 win=65495 mss=65495",
        "SYN,ACK seq=0 ack=1",
        "FIN,ACK seq=12 ack=23",
        "CLOSED",
        "LISTEN",
        "SYN-SENT",
        "SYN-RECEIVED",
        "ESTABLISHED",
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "CLOSE-WAIT",
        "LAST-ACK",
        "TIME-WAIT 2MSL = 60 s",
        "127.0.0.1:40001",
    ] {
        assert!(svg.contains(needle), "SVG lacks {needle:?}");
    }
    // Vector text, no embedded images or external references.
    assert!(svg.contains("<text"));
    assert!(!svg.contains("<image") && !svg.contains("href"));
}

#[test]
fn retransmissions_are_dashed_and_resets_red() {
    let c = &load("retransmission.pcap")[0];
    let svg = svg_of(c, &opts(Format::Svg));
    assert!(
        svg.contains("stroke-dasharray"),
        "retransmissions are dashed"
    );
    assert!(svg.contains("(retransmission)"));
    let r = &load("refused.pcap")[0];
    let svg = svg_of(r, &opts(Format::Svg));
    assert!(svg.contains(export::svg::LIGHT.rst), "RST is red");
}

/// A cross means lost and nothing else, in SVG and Mermaid: a refused
/// connection's RST arrived and has a badge of its own, the SYN timeout's
/// unanswered SYNs each end in a cross, other RSTs have neither; the legend
/// names what is drawn.
#[test]
fn a_cross_means_lost_and_a_refused_rst_says_so() {
    // A cross is a path of two strokes: "M x y L x y M x y L x y".
    let crosses = |svg: &str| {
        svg.split(r#"<path d="M "#)
            .skip(1)
            .filter(|p| p.split('"').next().is_some_and(|d| d.contains(" M ")))
            .count()
    };
    let badge = r#"<g class="refused">"#;
    let md =
        |c: &Connection| String::from_utf8(export::render(c, &opts(Format::Md)).unwrap()).unwrap();
    for (file, refused) in [
        ("refused.pcap", 1),
        ("syn-timeout.pcap", 0),
        ("abort-rst.pcap", 0),
        ("rst-unread.pcap", 0),
        ("retransmission.pcap", 0),
    ] {
        let c = &load(file)[0];
        let (l, _) = export::ladder_for(c, &opts(Format::Svg)).unwrap();
        let lost = l.rows.iter().filter(|r| r.lost).count();
        for flat in [false, true] {
            let svg = svg_of(
                c,
                &ExportOptions {
                    flat,
                    ..opts(Format::Svg)
                },
            );
            assert_eq!(crosses(&svg), lost, "{file}: a cross per lost segment");
            assert_eq!(svg.matches(badge).count(), refused, "{file}: refused");
            assert_eq!(
                svg.contains("Dotted, ending in a cross: lost"),
                lost > 0,
                "{file}: the legend"
            );
        }
        let md = md(c);
        assert_eq!(md.matches("--x").count(), lost, "{file}:\n{md}");
        assert_eq!(
            md.matches("-x").count(),
            lost,
            "{file}: nothing else ends in a cross"
        );
        assert_eq!(md.matches("(refused)").count(), refused, "{file}");
    }
    let r = &load("refused.pcap")[0];
    assert!(
        svg_of(r, &opts(Format::Svg)).contains("\u{201c}refused\u{201d}: the RST answering a SYN")
    );
    let t = &load("syn-timeout.pcap")[0];
    let (l, _) = export::ladder_for(t, &opts(Format::Svg)).unwrap();
    assert_eq!(l.rows.iter().filter(|r| r.lost).count(), 4, "every SYN");
}

#[test]
fn png_decodes_at_the_expected_size_and_is_not_blank() {
    let c = &load("client-close.pcap")[0];
    let svg = svg_of(c, &opts(Format::Svg));
    let size = parse(&svg).size();
    for scale in [1.0f32, 2.0] {
        let png = export::render(
            c,
            &ExportOptions {
                scale,
                ..opts(Format::Png)
            },
        )
        .expect("png");
        let img = Pixmap::decode_png(&png).expect("decodes");
        assert_eq!(img.width(), (size.width() * scale).ceil() as u32);
        assert_eq!(img.height(), (size.height() * scale).ceil() as u32);
        // Not blank: plenty of pixels differ from the white background,
        // and text was drawn (dark pixels).
        let px = img.pixels();
        let ink = px
            .iter()
            .filter(|p| p.red() < 200 || p.green() < 200 || p.blue() < 200)
            .count();
        let dark = px.iter().filter(|p| p.red() < 60 && p.green() < 60).count();
        assert!(ink > px.len() / 100, "ink {ink} of {}", px.len());
        assert!(dark > 500, "no text drawn: {dark} dark pixels");
    }
}

#[test]
fn golden_text_and_mermaid() {
    let c = &load("client-close.pcap")[0];
    let txt = String::from_utf8(export::render(c, &opts(Format::Txt)).unwrap()).unwrap();
    insta::assert_snapshot!("export_client_close_txt", txt);
    let md = String::from_utf8(export::render(c, &opts(Format::Md)).unwrap()).unwrap();
    assert!(md.starts_with("```mermaid\nsequenceDiagram\n"));
    insta::assert_snapshot!("export_client_close_md", md);
    let s = &load("simultaneous-open.pcap")[0];
    let md = String::from_utf8(export::render(s, &opts(Format::Md)).unwrap()).unwrap();
    insta::assert_snapshot!("export_simultaneous_open_md", md);
}

#[test]
fn tui_screenshot_of_a_known_frame_matches_its_golden_svg() {
    let path = captures().join("client-close.pcap");
    let cfg = TrackConfig::default();
    let (conns, _) = analyze_file(&path, Filter::default(), cfg).unwrap();
    let mut app = App::replay(
        conns,
        "client-close.pcap",
        ThemeName::Dark,
        cfg.msl,
        ReplayStart::End,
    );
    let area = Rect::new(0, 0, 100, 30);
    app.update(tcpladder::tui::app::Event::Resize(100, 30));
    let mut buf = Buffer::empty(area);
    (&app).render(area, &mut buf);
    let svg = export::screen::svg(&buf);
    parse(&svg);
    insta::assert_snapshot!("tui_screenshot_client_close_svg", svg);
    let text = export::screen::text(&buf);
    assert!(text.contains("FIN-WAIT-1"));
    let png = export::png::render(&svg, 1.0).unwrap();
    let img = Pixmap::decode_png(&png).unwrap();
    assert_eq!((img.width(), img.height()), (843, 510));
}

#[test]
fn every_capture_in_both_themes_and_every_format() {
    let mut rendered = 0;
    for entry in std::fs::read_dir(captures()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if !(name.ends_with(".pcap") || name.ends_with(".pcapng")) {
            continue;
        }
        for c in load(&name).iter().take(3) {
            for dark in [false, true] {
                let o = ExportOptions {
                    dark,
                    ..opts(Format::Svg)
                };
                let svg = svg_of(c, &o);
                parse(&svg);
                let png = export::render(
                    c,
                    &ExportOptions {
                        format: Format::Png,
                        scale: 0.5,
                        ..o.clone()
                    },
                )
                .unwrap_or_else(|e| panic!("{name}: {e}"));
                Pixmap::decode_png(&png).expect("png");
                for f in [Format::Txt, Format::Md] {
                    export::render(
                        c,
                        &ExportOptions {
                            format: f,
                            ..o.clone()
                        },
                    )
                    .unwrap();
                }
                rendered += 1;
            }
        }
    }
    assert!(rendered >= 32, "{rendered}");
}

#[test]
fn cuts_flat_arrows_and_redaction() {
    let c = &load("client-close.pcap")[0];
    let handshake = ExportOptions {
        to: Some(Bound::Segment(3)),
        ..opts(Format::Svg)
    };
    let svg = svg_of(c, &handshake);
    assert!(svg.contains("SYN,ACK") && !svg.contains("FIN,ACK"));
    let late = ExportOptions {
        from: Some(Bound::Millis(50.0)),
        ..opts(Format::Txt)
    };
    let txt = String::from_utf8(export::render(c, &late).unwrap()).unwrap();
    assert!(!txt.contains("SYN") && txt.contains("FIN,ACK"), "{txt}");
    // The cut starts in ESTABLISHED on both sides.
    assert!(txt.contains("ESTABLISHED"));
    let bad = ExportOptions {
        from: Some(Bound::Segment(40)),
        ..opts(Format::Svg)
    };
    let e = export::render(c, &bad).unwrap_err().to_string();
    assert!(e.contains("segments 1 to 11"), "{e}");

    let (l, p) = export::ladder_for(c, &opts(Format::Svg)).unwrap();
    let flat = diagram::layout(&l, &p, true, None);
    assert!(flat.arrows.iter().all(|a| a.y_send == a.y_arrive));
    let slanted = diagram::layout(&l, &Placement::estimate(&l), false, None);
    assert!(slanted.arrows.iter().all(|a| a.y_arrive > a.y_send));

    let red = ExportOptions {
        redact: true,
        ..opts(Format::Svg)
    };
    let svg = svg_of(c, &red);
    assert!(!svg.contains("127.0.0.1"));
    assert!(svg.contains("192.0.2.1:40001") && svg.contains("198.51.100.2:9502"));
}

#[test]
fn crossing_fins_cross_on_the_page() {
    let c = &load("simultaneous-close.pcap")[0];
    let (l, p) = export::ladder_for(c, &opts(Format::Svg)).unwrap();
    let d = diagram::layout(&l, &p, false, None);
    let fins: Vec<_> = d
        .arrows
        .iter()
        .filter(|a| a.label.starts_with("FIN"))
        .collect();
    assert_eq!(fins.len(), 2);
    let (a, b) = (fins[0], fins[1]);
    assert!(
        a.y_send < b.y_arrive && b.y_send < a.y_arrive,
        "{a:?} {b:?}"
    );
}

mod command {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("export-cmd")
            .join(name);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn run(args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_tcpladder"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    fn cap(name: &str) -> String {
        captures().join(name).display().to_string()
    }

    #[test]
    fn formats_from_extension_and_no_overwrite_without_force() {
        let d = scratch("formats");
        for ext in ["svg", "png", "txt", "md"] {
            let out = d.join(format!("hs.{ext}"));
            let (code, _, err) = run(&[
                "export",
                &cap("client-close.pcap"),
                "-o",
                out.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{err}");
            assert!(std::fs::metadata(&out).unwrap().len() > 100);
        }
        let out = d.join("hs.svg");
        let (code, _, err) = run(&["export", &cap("refused.pcap"), "-o", out.to_str().unwrap()]);
        assert_eq!(code, 1);
        assert!(
            err.contains("already exists") && err.contains("--force"),
            "{err}"
        );
        assert!(
            std::fs::read_to_string(&out).unwrap().contains("40001"),
            "not overwritten"
        );
        let (code, _, err) = run(&[
            "export",
            &cap("refused.pcap"),
            "-o",
            out.to_str().unwrap(),
            "--force",
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(std::fs::read_to_string(&out).unwrap().contains("40003"));
    }

    #[test]
    fn unknown_format_and_unwritable_path_are_errors() {
        let d = scratch("errors");
        let out = d.join("picture.gif");
        let (code, _, err) = run(&[
            "export",
            &cap("client-close.pcap"),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 1);
        assert!(
            err.contains("picture.gif") && err.contains("--format"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        let (code, _, err) = run(&[
            "export",
            &cap("client-close.pcap"),
            "-o",
            "/nonexistent-dir/x.svg",
        ]);
        assert_eq!(code, 1);
        assert!(
            err.contains("/nonexistent-dir/x.svg") && err.contains("cannot write"),
            "{err}"
        );
        let (code, _, err) = run(&[
            "export",
            &cap("client-close.pcap"),
            "--conn",
            "5",
            "-o",
            d.join("x.svg").to_str().unwrap(),
        ]);
        assert_eq!(code, 2);
        assert!(err.contains("valid: 1 to 1"), "{err}");
        assert!(!err.contains("panicked"));
    }

    #[test]
    fn all_writes_one_numbered_file_per_connection() {
        let d = scratch("all");
        let out = d.join("conn.md");
        let (code, _, err) = run(&[
            "export",
            &cap("multi-interface.pcapng"),
            "--all",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(d.join("conn-1.md").exists() && d.join("conn-2.md").exists());
        assert!(!out.exists());
    }
}

/// The pictures in docs/lecture-guide.md are what the tool exports today
/// (`docs/make-images.sh` makes them; this keeps the guide true).
#[test]
fn lecture_guide_images_are_current() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images");
    let title = |t: &str| Some(t.to_string());
    let cases: Vec<(&str, &str, ExportOptions)> = vec![
        (
            "client-close.pcap",
            "handshake.svg",
            ExportOptions {
                to: Some(Bound::Segment(3)),
                title: title("The three-way handshake"),
                ..opts(Format::Svg)
            },
        ),
        (
            "client-close.pcap",
            "four-way-close.svg",
            ExportOptions {
                from: Some(Bound::Segment(8)),
                title: title("The four-way close and TIME-WAIT"),
                ..opts(Format::Svg)
            },
        ),
        ("client-close.pcap", "client-close.svg", opts(Format::Svg)),
        (
            "simultaneous-open.pcap",
            "simultaneous-open.svg",
            ExportOptions {
                to: Some(Bound::Segment(6)),
                title: title("Simultaneous open: the SYNs cross"),
                ..opts(Format::Svg)
            },
        ),
        (
            "simultaneous-close.pcap",
            "simultaneous-close.svg",
            ExportOptions {
                from: Some(Bound::Segment(8)),
                title: title("Simultaneous close: the FINs cross"),
                ..opts(Format::Svg)
            },
        ),
        (
            "refused.pcap",
            "refused.svg",
            ExportOptions {
                title: title("Connection refused: SYN answered by RST"),
                ..opts(Format::Svg)
            },
        ),
        (
            "syn-timeout.pcap",
            "syn-timeout.svg",
            ExportOptions {
                flat: true,
                title: title("SYN timeout: retries with exponential backoff"),
                ..opts(Format::Svg)
            },
        ),
        (
            "retransmission.pcap",
            "fin-retransmission.svg",
            ExportOptions {
                from: Some(Bound::Segment(15)),
                title: title("A lost FIN and its retransmission"),
                ..opts(Format::Svg)
            },
        ),
        ("client-close.pcap", "client-close.md", opts(Format::Md)),
    ];
    for (capture, file, o) in cases {
        let c = &load(capture)[0];
        let now = String::from_utf8(export::render(c, &o).unwrap()).unwrap();
        let committed = std::fs::read_to_string(docs.join(file))
            .unwrap_or_else(|e| panic!("docs/images/{file}: {e}"));
        assert!(
            now == committed,
            "docs/images/{file} is out of date: run docs/make-images.sh"
        );
    }
}

/// ICMP errors: golden text and Mermaid of a SYN answered by a router's
/// host unreachable and of a soft packet too big, and the SVG's arrow.
mod icmp {
    use super::*;

    const UNREACHABLE: &str = "kernel/icmp-host-unreachable/client.pcap";
    const TOO_BIG: &str = "kernel/icmp6-packet-too-big/client.pcap";

    fn text(file: &str, format: Format) -> String {
        let c = &load(file)[0];
        String::from_utf8(export::render(c, &opts(format)).expect("render")).expect("utf-8")
    }

    #[test]
    fn golden_text_and_mermaid_of_icmp_errors() {
        let txt = text(UNREACHABLE, Format::Txt);
        let line = txt
            .lines()
            .find(|l| l.contains("ICMP host unreachable") && l.contains("│◀"))
            .expect("an ICMP line");
        // The CLOSED on the ICMP's own line, the arrow toward the client
        // with a broken shaft, and no tail mark.
        assert!(line.contains("CLOSED"), "{line}");
        assert!(line.contains("│◀─") && line.contains("─ ─│"), "{line}");
        assert!(!txt.contains("(ICMP error)"), "{txt}");
        insta::assert_snapshot!("export_icmp_host_unreachable_txt", txt);
        let md = text(UNREACHABLE, Format::Md);
        assert!(md.contains("participant R1 as router 198.18.0.2"), "{md}");
        assert!(md.contains("R1-->>C:"), "{md}");
        insta::assert_snapshot!("export_icmp_host_unreachable_md", md);
        let txt = text(TOO_BIG, Format::Txt);
        assert!(txt.contains("ICMP packet too big (MTU 1280) from 2001:db8::2"));
        insta::assert_snapshot!("export_icmp6_packet_too_big_txt", txt);
        insta::assert_snapshot!("export_icmp6_packet_too_big_md", text(TOO_BIG, Format::Md));
    }

    #[test]
    fn svg_draws_the_router_the_arrow_and_its_label() {
        let c = &load(UNREACHABLE)[0];
        let svg = svg_of(c, &opts(Format::Svg));
        parse(&svg);
        for needle in [
            r#"<g class="icmp">"#,
            "ICMP host unreachable (quoting SYN seq=0)",
            "router 198.18.0.2",
            "connect() fails: EHOSTUNREACH",
            export::svg::LIGHT.icmp,
        ] {
            assert!(svg.contains(needle), "SVG lacks {needle:?}");
        }
        // CLOSED where the error arrives, on the client's side.
        let (l, p) = export::ladder_for(c, &opts(Format::Svg)).unwrap();
        let d = diagram::layout(&l, &p, false, None);
        assert_eq!(d.icmp.len(), 1);
        let a = &d.icmp[0];
        assert!(a.y_send > d.arrows[0].y_send, "after the SYN");
        assert!(
            d.boxes
                .iter()
                .any(|b| b.state == tcpladder::track::State::Closed
                    && b.side == tcpladder::track::Side::Client
                    && b.y == a.y_arrive)
        );
        // Redacted, the router's address goes too, verdict included.
        let red = ExportOptions {
            redact: true,
            ..opts(Format::Svg)
        };
        let svg = svg_of(c, &red);
        assert!(!svg.contains("198.18."), "the capture's addresses remain");
        assert!(svg.contains("router 203.0.113.1"));
        // A soft error mid-connection slants between its neighbours.
        let c = &load(TOO_BIG)[0];
        let svg = svg_of(c, &opts(Format::Svg));
        assert!(svg.contains("soft error: nothing changes"));
    }
}

/// Socket calls: golden text and Mermaid of a bundled capture with the
/// calls the tutorials' programs would have made on it (hand-made, so the
/// snapshot does not depend on a live run's times), and the SVG's labels.
pub mod calls {
    use super::*;
    use tcpladder::ladder::Call;
    use tcpladder::time::Span;
    use tcpladder::track::Side;

    /// The tutorials' server and client on `client-close.pcap` (loopback:
    /// segments microseconds apart), in µs since its first segment.
    pub fn tutorial_calls(c: &Connection) -> Vec<Call> {
        use Side::{Client, Server};
        let t0 = c.first_ts;
        let at = |us: i64| t0 + Span::from_nanos(us * 1000);
        let call = |side, name, detail: Option<&str>, (a, b): (i64, i64), r: &str| Call {
            side,
            pid: if side == Client { 200 } else { 100 },
            call: name,
            fd: 3,
            detail: detail.map(str::to_owned),
            entered: at(a),
            returned: at(b),
            result: r.to_string(),
            socket: 0,
        };
        vec![
            call(Server, "socket", None, (-300, -298), "3"),
            call(Server, "bind", Some("127.0.0.1:9502"), (-290, -288), "0"),
            call(Server, "listen", Some("backlog 5"), (-280, -279), "0"),
            call(Server, "accept", None, (-270, 45), "4"),
            call(Client, "socket", None, (-100, -99), "3"),
            call(Client, "connect", Some("127.0.0.1:9502"), (-10, 38), "0"),
            call(Client, "write", Some("11 bytes"), (50, 62), "11"),
            call(Server, "read", None, (50, 80), "11"),
            call(Client, "read", None, (63, 140), "22"),
            call(Server, "write", Some("22 bytes"), (110, 127), "22"),
            call(Server, "read", None, (128, 50_420), "0"),
            call(Client, "close", None, (50_380, 50_402), "0"),
            call(Server, "close", None, (150_640, 150_672), "0"),
        ]
    }

    /// A refused connect(): the verdict gives the errno the call returned.
    #[test]
    fn the_verdict_gives_a_failed_connects_errno() {
        let c = &load("refused.pcap")[0];
        let call = Call {
            side: Side::Client,
            pid: 200,
            call: "connect",
            fd: 3,
            detail: Some("127.0.0.1:9502".into()),
            entered: c.first_ts - Span::from_nanos(10_000),
            returned: c.last_ts + Span::from_nanos(20_000),
            result: "-1 ECONNREFUSED".into(),
            socket: 0,
        };
        let txt =
            String::from_utf8(export::render_with_calls(c, &[call], &opts(Format::Txt)).unwrap())
                .unwrap();
        let verdict = txt.lines().nth(1).unwrap();
        assert!(verdict.starts_with("verdict: refused"), "{verdict}");
        assert!(
            verdict.contains("the client's connect() returned -1 ECONNREFUSED after"),
            "{verdict}"
        );
    }

    fn render(format: Format) -> String {
        let c = &load("client-close.pcap")[0];
        let bytes = export::render_with_calls(c, &tutorial_calls(c), &opts(format)).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn text_and_mermaid_show_each_call_on_its_side_where_it_returned() {
        let txt = render(Format::Txt);
        let line = |needle: &str| {
            txt.lines()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no {needle:?} in\n{txt}"))
        };
        // connect() returns after the final ACK and before the data;
        // accept() too; read() = 0 after the FIN; close() after its FIN.
        assert!(line("── ACK seq=1 ack=1") < line("connect() = 0"));
        assert!(line("connect() = 0") < line("PSH,ACK seq=1 ack=1 len=11"));
        assert!(line("── ACK seq=1 ack=1") < line("accept() = 4"));
        assert!(line("FIN,ACK seq=12 ack=23") < line("read() = 0 (EOF)"));
        assert!(line("FIN,ACK seq=12 ack=23") < line("close() = 0"));
        // Client calls start at the client's lifeline, server calls end at
        // the server's; blocked calls return on a heavy bar.
        let connect = &txt.lines().collect::<Vec<_>>()[line("connect() = 0")];
        assert!(connect.contains("┣ connect() = 0"), "{connect}");
        let accept = &txt.lines().collect::<Vec<_>>()[line("accept() = 4")];
        assert!(accept.trim_end().ends_with("accept() = 4 ┫"), "{accept}");
        // The verdict says it in the tutorials' words.
        let verdict = txt.lines().nth(1).unwrap();
        assert!(
            verdict.contains("the client's close() sent the FIN")
                && verdict.contains("the server's read() returned 0 (EOF) at the client's FIN"),
            "{verdict}"
        );
        insta::assert_snapshot!("export_client_close_with_calls_txt", txt);
        let md = render(Format::Md);
        assert!(md.contains("Note over C: connect() = 0"), "{md}");
        assert!(md.contains("Note over S: accept() = 4"), "{md}");
        insta::assert_snapshot!("export_client_close_with_calls_md", md);
        // Without calls nothing changes.
        let c = &load("client-close.pcap")[0];
        assert_eq!(
            export::render_with_calls(c, &[], &opts(Format::Txt)).unwrap(),
            export::render(c, &opts(Format::Txt)).unwrap()
        );
    }

    /// The lecture guide's picture with calls comes from fixed files (a
    /// kept `demo client-close` run) and is what the code draws now.
    #[test]
    fn the_lecture_guide_picture_with_calls_is_current() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/images");
        let (conns, _) = analyze_file(
            &docs.join("demo-client-close.pcap"),
            Filter::default(),
            TrackConfig::default(),
        )
        .expect("capture");
        let json = std::fs::read_to_string(docs.join("demo-client-close.json")).unwrap();
        let calls = tcpladder::demo::calls_from_json(&json).unwrap();
        assert_eq!(calls.len(), conns.len());
        assert!(calls[0].iter().any(|c| c.call == "connect"));
        let title = Some("The socket calls of a session the client closes".to_string());
        for (file, o) in [
            (
                "client-close-calls.svg",
                ExportOptions {
                    title,
                    ..opts(Format::Svg)
                },
            ),
            ("client-close-calls.txt", opts(Format::Txt)),
        ] {
            let now = export::render_with_calls(&conns[0], &calls[0], &o).unwrap();
            let committed = std::fs::read(docs.join(file)).unwrap();
            assert!(
                now == committed,
                "docs/images/{file} is out of date: run docs/make-images.sh"
            );
        }
        let txt = std::fs::read_to_string(docs.join("client-close-calls.txt")).unwrap();
        assert!(txt.contains("connect() = 0") && txt.contains("read() = 0 (EOF)"));
    }

    #[test]
    fn svg_labels_every_call_inside_the_canvas_with_bars_for_blocking_ones() {
        let c = &load("client-close.pcap")[0];
        let calls = tutorial_calls(c);
        let o = opts(Format::Svg);
        let svg = String::from_utf8(export::render_with_calls(c, &calls, &o).unwrap()).unwrap();
        let tree = parse(&svg);
        let (w, h) = (tree.size().width() as f64, tree.size().height() as f64);
        for label in [
            "connect() = 0",
            "accept() = 4",
            "read() = 0 (EOF)",
            "close() = 0",
        ] {
            assert!(svg.contains(label), "SVG lacks {label:?}");
        }
        assert_eq!(svg.matches(r#"<g class="call">"#).count(), calls.len());
        // Every label and bar within the canvas (labels measured at the
        // monospace width the layout assumes).
        let (l, p) = export::ladder_with_calls(c, &calls, &o).unwrap();
        let d = diagram::layout(&l, &p, false, None);
        assert_eq!(d.calls.len(), calls.len());
        let bars = d.calls.iter().filter(|m| m.y_entered.is_some()).count();
        assert!(bars >= 4, "connect, accept and the reads block");
        assert_eq!(svg.matches("fill-opacity=\"0.35\"").count(), bars);
        // A bar starts below the program's previous call and ends where
        // its call returns, drawn flat or slanted.
        for flat in [false, true] {
            let d = diagram::layout(&l, &p, flat, None);
            for (k, m) in d.calls.iter().enumerate() {
                let Some(top) = m.y_entered else { continue };
                assert!(top < m.y, "{m:?}");
                if let Some(prev) = d.calls[..k].iter().rev().find(|o| o.side == m.side) {
                    assert!(
                        prev.y <= top,
                        "flat {flat}: {} over {}",
                        m.label,
                        prev.label
                    );
                }
            }
        }
        for part in svg.split(r#"<g class="call">"#).skip(1) {
            let text = part.split("<text ").nth(1).expect("a label");
            let num = |key: &str| -> f64 {
                let v = text.split(&format!("{key}=\"")).nth(1).unwrap();
                v.split('"').next().unwrap().parse().unwrap()
            };
            let (x, y) = (num("x"), num("y"));
            let label = text.split('>').nth(1).unwrap().split('<').next().unwrap();
            let width = label.chars().count() as f64 * 12.0 * 0.602;
            let (left, right) = if text.contains(r#"text-anchor="end""#) {
                (x - width, x)
            } else {
                (x, x + width)
            };
            assert!(
                left >= 0.0 && right <= w,
                "{label} at {left}..{right} of {w}"
            );
            assert!(y > 0.0 && y < h, "{label} at y {y} of {h}");
        }
    }
}

/// PNG text in every language: DejaVu for what it has, then `--font`, then
/// the system's fonts (a CJK one must be installed: `.ci/run` installs
/// fonts-wqy-microhei).
mod fonts {
    use super::*;
    use tcpladder::export::png::{self, Fonts};

    /// The first system font file with Chinese characters.
    fn cjk_font_file() -> PathBuf {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        let has = |id| {
            db.with_face_data(id, |data, index| {
                skrifa::FontRef::from_index(data, index)
                    .is_ok_and(|f| skrifa::charmap::Charmap::new(&f).map('三').is_some())
            }) == Some(true)
        };
        db.faces()
            .filter(|f| has(f.id))
            .find_map(|f| match &f.source {
                usvg::fontdb::Source::File(p) | usvg::fontdb::Source::SharedFile(p, _) => {
                    Some(p.clone())
                }
                usvg::fontdb::Source::Binary(_) => None,
            })
            .expect("no CJK font installed (apt-get install fonts-wqy-microhei)")
    }

    /// One line of text, drawn.
    fn pixels(text: &str, fonts: &Fonts) -> Vec<u8> {
        let svg = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="240" height="60" font-family="DejaVu Sans, sans-serif"><rect width="240" height="60" fill="white"/><text x="10" y="42" font-size="32">{text}</text></svg>"#
        );
        let png = png::render_with(&svg, 1.0, fonts).expect("renders");
        Pixmap::decode_png(&png).expect("decodes").data().to_vec()
    }

    /// How many pixels are not white.
    fn ink(px: &[u8]) -> usize {
        px.chunks(4).filter(|p| p[..3] != [255, 255, 255]).count()
    }

    #[test]
    fn cjk_text_is_drawn_as_glyphs_not_boxes() {
        let (a, b) = ("三次握手", "四次挥手");
        let boxes_a = pixels(a, &Fonts::built_in_only());
        let boxes_b = pixels(b, &Fonts::built_in_only());
        // Without a fallback every character is the same empty box.
        assert_eq!(boxes_a, boxes_b);
        for fonts in [
            Fonts::default(),
            Fonts::with_file(&cjk_font_file()).unwrap(),
        ] {
            let drawn_a = pixels(a, &fonts);
            let drawn_b = pixels(b, &fonts);
            assert_ne!(drawn_a, boxes_a, "{a} is still boxes ({fonts:?})");
            assert_ne!(drawn_b, boxes_b, "{b} is still boxes ({fonts:?})");
            assert_ne!(drawn_a, drawn_b, "two texts, one picture ({fonts:?})");
            assert!(ink(&drawn_a) > 200, "{a} left almost nothing on the page");
        }
    }

    #[test]
    fn a_cjk_title_in_an_export_is_drawn() {
        let c = &load("client-close.pcap")[0];
        let title = |t: &str, fonts: Fonts| {
            let o = ExportOptions {
                to: Some(Bound::Segment(3)),
                title: Some(t.to_string()),
                scale: 1.0,
                fonts,
                ..opts(Format::Png)
            };
            export::render(c, &o).expect("renders")
        };
        let drawn = title("三次握手", Fonts::default());
        assert_ne!(drawn, title("三次握手", Fonts::built_in_only()));
        assert_ne!(drawn, title("四次挥手", Fonts::default()));
    }

    /// Text DejaVu can draw comes out byte for byte as with DejaVu alone,
    /// whatever the system has installed.
    #[test]
    fn latin_pngs_are_the_same_as_with_dejavu_alone() {
        for (file, dark, title) in [
            ("client-close.pcap", false, None),
            ("refused.pcap", true, None),
            ("syn-timeout.pcap", false, None),
            (
                "client-close.pcap",
                false,
                Some("Straße, café, naïve — Ελλάδα → Москва"),
            ),
        ] {
            let Some(c) = load(file).into_iter().next() else {
                panic!("{file}: no connection");
            };
            let render = |fonts: Fonts| {
                let o = ExportOptions {
                    dark,
                    title: title.map(str::to_string),
                    scale: 1.0,
                    fonts,
                    ..opts(Format::Png)
                };
                export::render(&c, &o).expect("renders")
            };
            assert!(
                render(Fonts::default()) == render(Fonts::built_in_only()),
                "{file} {title:?}: the fallback changed a picture DejaVu draws"
            );
        }
    }

    #[test]
    fn font_option_draws_with_the_file_and_names_a_bad_one() {
        let d = std::env::temp_dir().join(format!("tcpladder-font-cmd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let font = cjk_font_file();
        let cap = captures().join("client-close.pcap");
        let run = |font: &Path, out: &Path| {
            Command::new(env!("CARGO_BIN_EXE_tcpladder"))
                .arg("--font")
                .arg(font)
                .args([
                    "export",
                    "--to",
                    "3",
                    "--title",
                    "三次握手",
                    "--scale",
                    "1",
                    "-o",
                ])
                .arg(out)
                .arg(&cap)
                .output()
                .unwrap()
        };
        let out = d.join("hs.png");
        let r = run(&font, &out);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let c = &load("client-close.pcap")[0];
        let boxes = export::render(
            c,
            &ExportOptions {
                to: Some(Bound::Segment(3)),
                title: Some("三次握手".into()),
                scale: 1.0,
                fonts: Fonts::built_in_only(),
                ..opts(Format::Png)
            },
        )
        .unwrap();
        assert_ne!(std::fs::read(&out).unwrap(), boxes, "the title is boxes");
        let junk = d.join("junk.ttf");
        std::fs::write(&junk, "not a font").unwrap();
        for (bad, why) in [
            (d.join("missing.ttf"), "cannot read the font"),
            (junk, "not a font"),
            (d.clone(), "cannot read the font"),
        ] {
            let out = d.join("bad.png");
            let r = run(&bad, &out);
            let err = String::from_utf8_lossy(&r.stderr);
            assert_eq!(r.status.code(), Some(1), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(&bad.display().to_string()) && err.contains(why),
                "{err}"
            );
            assert!(!out.exists(), "written despite the bad font");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }
}
