//! One TUI frame, drawn into ratatui's TestBackend: the connection list
//! with 100 000 connections, and the ladder of a 10 000-segment connection.
//! `cargo bench --bench render`; figures in docs/performance.md.

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use tcpladder::decode::{Flags, Segment};
use tcpladder::export::{ExportOptions, Format};
use tcpladder::time::{Span, Timestamp};
use tcpladder::track::{Connection, TrackConfig, Tracker};
use tcpladder::tui::app::{App, Event, ReplayStart};
use tcpladder::tui::theme::ThemeName;

fn seg(c: u32, s: u32, from_client: bool, flags: u16, seq: u32, ack: u32, len: u32) -> Segment {
    let client =
        std::net::SocketAddr::from(([10, (c >> 16) as u8, (c >> 8) as u8, c as u8], 40000));
    let server = std::net::SocketAddr::from(([10, 99, 0, 1], 80 + s as u16));
    let (src, dst) = if from_client {
        (client, server)
    } else {
        (server, client)
    };
    Segment::new(src, dst, Flags(flags), seq, ack, len)
}

/// `n` connections, each a handshake, a request, a reply and a close.
fn many(n: u32) -> Vec<Connection> {
    let mut t = Tracker::new(TrackConfig::default());
    let mut ns = 0i64;
    let mut push = |t: &mut Tracker, s: Segment| {
        ns += 10_000;
        t.push(&s, Timestamp::from_nanos(ns), 0);
    };
    for c in 0..n {
        for (fc, f, seq, ack, len) in [
            (true, 0x02, 100, 0, 0),
            (false, 0x12, 500, 101, 0),
            (true, 0x10, 101, 501, 0),
            (true, 0x18, 101, 501, 40),
            (false, 0x18, 501, 141, 300),
            (true, 0x11, 141, 801, 0),
            (false, 0x11, 801, 142, 0),
            (true, 0x10, 142, 802, 0),
        ] {
            push(&mut t, seg(c, 0, fc, f, seq, ack, len));
        }
    }
    t.finish(Timestamp::from_nanos(ns))
}

/// One connection with `n` segments of data and their ACKs.
fn long(n: u32) -> Vec<Connection> {
    let mut t = Tracker::new(TrackConfig::default());
    let at = |i: u32| Timestamp::from_nanos(i64::from(i) * 1_000_000);
    t.push(&seg(1, 1, true, 0x02, 0, 0, 0), at(0), 1);
    t.push(&seg(1, 1, false, 0x12, 0, 1, 0), at(1), 2);
    t.push(&seg(1, 1, true, 0x10, 1, 1, 0), at(2), 3);
    for i in 0..n / 2 {
        let seq = 1 + i * 1000;
        t.push(&seg(1, 1, true, 0x18, seq, 1, 1000), at(3 + 2 * i), 0);
        t.push(&seg(1, 1, false, 0x10, 1, seq + 1000, 0), at(4 + 2 * i), 0);
    }
    t.finish(at(n + 10))
}

fn app(conns: Vec<Connection>) -> App {
    let mut app = App::replay(
        conns,
        "bench",
        ThemeName::Dark,
        Span::from_secs(30),
        ReplayStart::End,
    );
    app.update(Event::Resize(200, 50));
    app
}

fn draw(term: &mut Terminal<TestBackend>, app: &App) {
    term.draw(|f| f.render_widget(app, f.area())).expect("draw");
}

fn bench(c: &mut Criterion) {
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("terminal");

    let mut list = app(many(100_000));
    // Look at the middle of the list, not just its head.
    for _ in 0..5 {
        list.update(Event::Key(KeyEvent::new(
            KeyCode::PageDown,
            KeyModifiers::NONE,
        )));
    }
    c.bench_function("frame: list of 100000 connections", |b| {
        b.iter(|| draw(&mut term, &list))
    });

    let ladder = app(long(10_000));
    c.bench_function("frame: ladder of a 10000-segment connection", |b| {
        b.iter(|| draw(&mut term, &ladder))
    });

    // Exporting the 10 000-segment connection, as `tcpladder export` does.
    let big = long(10_000);
    for format in [Format::Svg, Format::Txt, Format::Md] {
        let o = ExportOptions {
            format,
            ..ExportOptions::default()
        };
        c.bench_function(
            &format!("export: 10000-segment connection as {}", format.extension()),
            |b| b.iter(|| tcpladder::export::render(&big[0], &o).expect("export")),
        );
    }
    // A PNG of it would be thousands of pixels wide and a million tall: it
    // is refused with a message; the handshake alone is what goes on a slide.
    let handshake = ExportOptions {
        format: Format::Png,
        to: Some(tcpladder::export::Bound::Segment(3)),
        ..ExportOptions::default()
    };
    c.bench_function("export: its handshake as png (scale 2)", |b| {
        b.iter(|| tcpladder::export::render(&big[0], &handshake).expect("export"))
    });

    // Selecting a connection builds its ladder model once (labels and all).
    let conns = long(10_000);
    c.bench_function("select: build the 10000-segment ladder model", |b| {
        b.iter(|| {
            tcpladder::ladder::Ladder::build(
                &conns[0],
                Span::from_secs(30),
                tcpladder::ladder::LabelStyle::default(),
            )
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
