//! The TUI's `/` filter on a million connections: the time each key takes
//! (typing narrows the previous matches; Backspace goes back to them).
//! `cargo bench --bench filter`; figures in docs/performance.md. Prints the
//! median and worst of 5 rounds for each key, in ms.

use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use tcpladder::decode::{Flags, Segment};
use tcpladder::time::{Span, Timestamp};
use tcpladder::track::{Connection, TrackConfig, Tracker};
use tcpladder::tui::app::{App, Event, ReplayStart};
use tcpladder::tui::theme::ThemeName;

const CONNECTIONS: u32 = 1_000_000;

/// `n` connections from 10.x.y.z to 10.99.0.1:80, each a SYN and a RST,ACK
/// (small, so a million fit).
fn many(n: u32) -> Vec<Connection> {
    let mut t = Tracker::new(TrackConfig::default());
    let server = std::net::SocketAddr::from(([10, 99, 0, 1], 80));
    for c in 0..n {
        let client = std::net::SocketAddr::from((
            [10, (c >> 16) as u8, (c >> 8) as u8, c as u8],
            40000 + (c % 20000) as u16,
        ));
        let ns = i64::from(c) * 10_000;
        t.push(
            &Segment::new(client, server, Flags(0x02), 100, 0, 0),
            Timestamp::from_nanos(ns),
            0,
        );
        t.push(
            &Segment::new(server, client, Flags(0x14), 0, 101, 0),
            Timestamp::from_nanos(ns + 5_000),
            0,
        );
    }
    t.finish(Timestamp::from_nanos(i64::from(n) * 10_000 + 1))
}

fn key(app: &mut App, code: KeyCode) -> f64 {
    let t = Instant::now();
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    t.elapsed().as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let built = Instant::now();
    let mut app = App::replay(
        many(CONNECTIONS),
        "bench",
        ThemeName::Dark,
        Span::from_secs(30),
        ReplayStart::End,
    );
    app.update(Event::Resize(200, 50));
    eprintln!(
        "{CONNECTIONS} connections built in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    let typed = "10.1.2";
    let mut times: Vec<(String, Vec<f64>)> = Vec::new();
    for _round in 0..5 {
        let mut row = Vec::new();
        row.push(("/".to_string(), key(&mut app, KeyCode::Char('/'))));
        let mut so_far = String::new();
        for c in typed.chars() {
            so_far.push(c);
            row.push((format!("type {so_far:?}"), key(&mut app, KeyCode::Char(c))));
        }
        for _ in typed.chars() {
            so_far.pop();
            row.push((
                format!("Backspace → {so_far:?}"),
                key(&mut app, KeyCode::Backspace),
            ));
        }
        row.push(("Esc".to_string(), key(&mut app, KeyCode::Esc)));
        for (k, (name, ms)) in row.into_iter().enumerate() {
            if times.len() <= k {
                times.push((name, Vec::new()));
            }
            times[k].1.push(ms);
        }
    }
    println!("{:<24} {:>10} {:>10}", "key", "median ms", "worst ms");
    for (name, mut v) in times {
        v.sort_by(f64::total_cmp);
        println!(
            "{name:<24} {:>10.2} {:>10.2}",
            v[v.len() / 2],
            v[v.len() - 1]
        );
    }
}
