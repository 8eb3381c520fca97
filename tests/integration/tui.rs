//! The TUI without a terminal: app state and keys, and rendered frames
//! (ratatui's TestBackend) compared with insta snapshots in both themes.

use std::path::Path;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use tcpladder::analysis::{Filter, analyze_file};
use tcpladder::capture::live::{LiveMsg, LivePacket};
use tcpladder::time::{Span, Timestamp};
use tcpladder::track::{Side, State, TrackConfig};
use tcpladder::tui::app::{App, Event, Focus, ReplayStart, Source, TimeMode};
use tcpladder::tui::theme::ThemeName;

fn replay(file: &str, theme: ThemeName, step: bool) -> App {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(file);
    let cfg = TrackConfig::default();
    let (conns, _) = analyze_file(&path, Filter::default(), cfg).expect("capture");
    let start = if step {
        ReplayStart::Step
    } else {
        ReplayStart::End
    };
    let mut app = App::replay(conns, file, theme, cfg.msl, start);
    app.update(Event::Resize(120, 36));
    app
}

/// The frame's characters, a line a row.
fn text_only(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| f.render_widget(app, f.area())).expect("draw");
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..h {
        for x in 0..w {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

/// A capture's records as the live capture thread hands them over.
fn live_packets(path: &Path) -> Vec<LivePacket> {
    let mut file = tcpladder::capture::CaptureFile::open(path).unwrap();
    let mut packets = Vec::new();
    file.for_each(|r| {
        packets.push(LivePacket {
            frame: r.frame,
            ts: r.ts,
            link: r.link,
            data: r.data.to_vec(),
            orig_len: r.orig_len,
        })
    })
    .unwrap();
    packets
}

fn key(app: &mut App, code: KeyCode) {
    app.update(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn chars(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn tick(app: &mut App, secs: f64) {
    app.update(Event::Tick {
        now: Timestamp::from_secs_f64(2e9),
        elapsed: Span::from_secs_f64(secs),
    });
}

fn clock(app: &App) -> Timestamp {
    app.clock()
}

fn speed(app: &App) -> f64 {
    match &app.source {
        Source::Replay(r) => r.speed,
        Source::Live(_) => 0.0,
    }
}

mod keys {
    use super::*;

    #[test]
    fn step_forward_and_back_undoes() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, true);
        assert_eq!(app.position(), (1, 11));
        let c = app.selected_connection().unwrap();
        assert_eq!(app.state_at(c, Side::Server), (State::SynReceived, None));
        key(&mut app, KeyCode::Right);
        key(&mut app, KeyCode::Char('l'));
        assert_eq!(app.position(), (3, 11));
        let c = app.selected_connection().unwrap();
        assert_eq!(app.state_at(c, Side::Server).0, State::Established);
        key(&mut app, KeyCode::Left);
        key(&mut app, KeyCode::Char('h'));
        assert_eq!(app.position(), (1, 11));
        let c = app.selected_connection().unwrap();
        assert_eq!(app.state_at(c, Side::Server).0, State::SynReceived);
        assert_eq!(app.state_at(c, Side::Client).0, State::SynSent);
        key(&mut app, KeyCode::Left);
        assert_eq!(app.position(), (0, 11));
        key(&mut app, KeyCode::End);
        assert_eq!(app.position(), (11, 11));
        key(&mut app, KeyCode::Home);
        assert_eq!(app.position(), (1, 11));
    }

    #[test]
    fn replay_without_step_plays_from_the_first_segment() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/client-close.pcap");
        let cfg = TrackConfig::default();
        let (conns, _) = analyze_file(&path, Filter::default(), cfg).unwrap();
        let mut app = App::replay(conns, "f", ThemeName::Dark, cfg.msl, ReplayStart::Play);
        assert_eq!(app.position(), (1, 11));
        tick(&mut app, 0.06);
        assert_eq!(app.position(), (8, 11), "60 ms of capture time later");
        key(&mut app, KeyCode::Char(' '));
        tick(&mut app, 10.0);
        assert_eq!(app.position(), (8, 11), "paused");
    }

    #[test]
    fn the_ladder_cursor_follows_the_step() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, true);
        for _ in 0..4 {
            key(&mut app, KeyCode::Right);
        }
        assert_eq!(app.row, 4);
        key(&mut app, KeyCode::Tab);
        assert_eq!(app.focus, Focus::Ladder);
        key(&mut app, KeyCode::Up);
        assert_eq!(app.row, 3);
        assert!(!app.follow);
    }

    #[test]
    fn speed_changes_in_steps_and_is_bounded() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, true);
        assert_eq!(speed(&app), 1.0);
        key(&mut app, KeyCode::Char('+'));
        assert_eq!(speed(&app), 2.0);
        for _ in 0..3 {
            key(&mut app, KeyCode::Char('-'));
        }
        assert_eq!(speed(&app), 0.25);
        for _ in 0..30 {
            key(&mut app, KeyCode::Char('-'));
        }
        assert_eq!(speed(&app), 0.1);
        for _ in 0..30 {
            key(&mut app, KeyCode::Char('+'));
        }
        assert_eq!(speed(&app), 1000.0);
    }

    #[test]
    fn playback_runs_at_speed_and_stops_when_time_wait_is_over() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, true);
        let start = clock(&app);
        key(&mut app, KeyCode::Char('+')); // 2×
        key(&mut app, KeyCode::Char(' '));
        tick(&mut app, 0.05);
        assert_eq!(clock(&app) - start, Span::from_secs_f64(0.1));
        assert_eq!(app.position(), (9, 11));
        // At 2× for 35 s: 70 s of capture time, past the 60 s TIME-WAIT.
        tick(&mut app, 35.0);
        let c = app.selected_connection().unwrap();
        assert_eq!(app.state_at(c, Side::Client), (State::Closed, None));
        let Source::Replay(r) = &app.source else {
            panic!("replay");
        };
        assert!(!r.playing, "playback stops at the last TIME-WAIT's expiry");
        assert_eq!(r.clock, r.horizon);
    }

    #[test]
    fn time_wait_counts_down_on_the_playback_clock() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, false);
        key(&mut app, KeyCode::Char(' '));
        tick(&mut app, 10.0);
        let c = app.selected_connection().unwrap();
        let (state, left) = app.state_at(c, Side::Client);
        assert_eq!(state, State::TimeWait);
        let left = left.expect("countdown").as_secs_f64();
        // Entered at the server's FIN, 20 µs before the last segment.
        assert!((49.9..50.0).contains(&left), "{left}");
    }

    #[test]
    fn filter_by_port_and_escape_clears_it() {
        let mut app = replay("multi-interface.pcapng", ThemeName::Dark, false);
        assert_eq!(app.visible_ids().len(), 2);
        key(&mut app, KeyCode::Char('/'));
        chars(&mut app, "9503");
        assert_eq!(app.visible_ids(), &[1]);
        assert_eq!(app.selected, Some(1));
        key(&mut app, KeyCode::Enter);
        assert!(!app.editing_filter);
        assert_eq!(app.visible_ids(), &[1]);
        key(&mut app, KeyCode::Char('/'));
        key(&mut app, KeyCode::Esc);
        assert_eq!(app.visible_ids().len(), 2);
    }

    /// Typing narrows, Backspace widens: at every step the list is what a
    /// plain search of every connection's addresses gives.
    #[test]
    fn the_filter_matches_a_plain_search_at_every_key() {
        let mut app = replay("many-connections.pcap", ThemeName::Dark, false);
        let plain = |app: &App, needle: &str| -> Vec<usize> {
            (0..app.total())
                .filter(|&id| {
                    let c = app.connection(id).unwrap();
                    format!("{} {}", c.client, c.server).contains(needle)
                })
                .collect()
        };
        key(&mut app, KeyCode::Char('/'));
        let typed = "127.0.0.1:411";
        let mut so_far = String::new();
        for c in typed.chars() {
            so_far.push(c);
            key(&mut app, KeyCode::Char(c));
            assert_eq!(app.visible_ids(), plain(&app, &so_far), "typed {so_far:?}");
        }
        assert!(app.visible_ids().len() < app.total(), "the filter narrows");
        for _ in typed.chars() {
            so_far.pop();
            key(&mut app, KeyCode::Backspace);
            assert_eq!(
                app.visible_ids(),
                plain(&app, &so_far),
                "back to {so_far:?}"
            );
        }
        assert_eq!(app.visible_ids().len(), app.total());
    }

    #[test]
    fn the_detail_pane_shows_the_payload_and_p_its_hex() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, true);
        for _ in 0..3 {
            key(&mut app, KeyCode::Right);
        }
        let text = text_only(&app, 120, 36);
        assert!(text.contains("payload   GET /hello\\n"), "{text}");
        key(&mut app, KeyCode::Char('p'));
        let text = text_only(&app, 120, 36);
        assert!(
            text.contains("segment 4 of 11 · payload, 11 bytes"),
            "{text}"
        );
        assert!(text.contains("0000  4745 5420 2f68 656c 6c6f 0a"), "{text}");
        assert!(text.contains("GET /hello."), "{text}");
        // A segment without payload says so; p again gives the fields.
        key(&mut app, KeyCode::Right);
        assert!(text_only(&app, 120, 36).contains("no payload"));
        key(&mut app, KeyCode::Char('p'));
        assert!(text_only(&app, 120, 36).contains("flags     ACK"));
    }

    /// The connections of several captures in one replay.
    fn mixed() -> (App, Vec<tcpladder::track::Connection>) {
        let mut all = Vec::new();
        for f in [
            "refused.pcap",
            "client-close.pcap",
            "abort-rst.pcap",
            "syn-timeout.pcap",
            "retransmission.pcap",
            "half-close.pcap",
            "reuse-time-wait.pcap",
            "simultaneous-open.pcap",
            "rst-unread.pcap",
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("captures")
                .join(f);
            let (conns, _) =
                analyze_file(&path, Filter::default(), TrackConfig::default()).unwrap();
            all.extend(conns);
        }
        all.sort_by_key(|c| c.first_ts);
        for (n, c) in all.iter_mut().enumerate() {
            c.id = n;
        }
        let mut app = App::replay(
            all.clone(),
            "mixed",
            ThemeName::Dark,
            Span::from_secs(60),
            ReplayStart::End,
        );
        app.update(Event::Resize(120, 36));
        (app, all)
    }

    fn matched(app: &App) -> Vec<usize> {
        app.visible_ids().to_vec()
    }

    #[test]
    fn the_filter_takes_states_verdicts_and_flags_and_counts_them() {
        use tcpladder::track::Opening;
        let (mut app, all) = mixed();
        let ids = |f: &dyn Fn(&tcpladder::track::Connection) -> bool| -> Vec<usize> {
            all.iter().filter(|c| f(c)).map(|c| c.id).collect()
        };
        let cases: Vec<(&str, Vec<usize>)> = vec![
            ("refused", ids(&|c| c.opening() == Opening::Refused)),
            ("rst", ids(&|c| c.segments.iter().any(|s| s.flags.rst()))),
            (
                "state:time-wait",
                ids(&|c| c.time_wait.iter().any(Option::is_some)),
            ),
            (
                "state:syn-rec",
                ids(&|c| c.marks.iter().any(|m| m.to == State::SynReceived)),
            ),
            ("unanswered", ids(&|c| c.opening() == Opening::Unanswered)),
            (
                "retx",
                ids(&|c| c.segments.iter().any(|s| s.retransmission())),
            ),
            (
                "rst 40003",
                ids(&|c| c.segments.iter().any(|s| s.flags.rst()) && c.client.port() == 40003),
            ),
        ];
        for (filter, want) in cases {
            assert!(
                !want.is_empty() && want.len() < all.len(),
                "{filter}: a case that tells"
            );
            key(&mut app, KeyCode::Char('/'));
            // Typed a key at a time: each prefix narrows or asks again.
            chars(&mut app, filter);
            assert_eq!(matched(&app), want, "{filter}");
            let status = text_only(&app, 200, 36);
            let said = format!("{} of {} match", want.len(), all.len());
            assert!(status.contains(&said), "{filter}: {said}");
            key(&mut app, KeyCode::Enter);
            assert_eq!(matched(&app), want, "{filter} kept");
            // Cleared: all again.
            key(&mut app, KeyCode::Char('/'));
            key(&mut app, KeyCode::Esc);
            assert_eq!(matched(&app).len(), all.len());
        }
        // Backspace from a word to text and back.
        key(&mut app, KeyCode::Char('/'));
        chars(&mut app, "refused");
        let refused = matched(&app);
        key(&mut app, KeyCode::Backspace);
        assert!(matched(&app).is_empty(), "'refuse' is text, in no address");
        chars(&mut app, "d");
        assert_eq!(matched(&app), refused);
    }

    #[test]
    fn a_time_wait_that_runs_out_on_the_clock_writes_its_closed_row() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, true);
        key(&mut app, KeyCode::End);
        key(&mut app, KeyCode::Char(' '));
        tick(&mut app, 30.0);
        let text = text_only(&app, 120, 36);
        assert!(text.contains("TIME-WAIT 30."), "{text}");
        assert!(!text.contains("TIME-WAIT ran out"), "{text}");
        tick(&mut app, 31.0);
        let text = text_only(&app, 120, 36);
        let row = text
            .lines()
            .find(|l| l.contains("TIME-WAIT ran out"))
            .unwrap_or_else(|| panic!("no CLOSED row: {text}"));
        // At 2×MSL after the client's TIME-WAIT began.
        assert!(row.contains("60.150"), "{row}");
        assert!(
            row.contains("CLOSED") && row.contains("(client TIME-WAIT ran out)"),
            "{row}"
        );
        println!("{row}");
    }

    #[test]
    fn the_verdict_waits_for_the_end_then_wraps_in_full() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/client-close.pcap");
        let (conns, _) = analyze_file(&path, Filter::default(), TrackConfig::default()).unwrap();
        let verdict = tcpladder::ladder::verdict::verdict(&conns[0]);
        let mut app = replay("client-close.pcap", ThemeName::Dark, true);
        for w in [80u16, 100, 130] {
            app.update(Event::Resize(w, 36));
            let text = text_only(&app, w, 36);
            assert!(
                !text.contains("four-way"),
                "{w}: the ending shown before it is played"
            );
            assert!(text.contains("1 of 11 played"), "{w}: {text}");
        }
        key(&mut app, KeyCode::End);
        for w in [80u16, 100, 130] {
            app.update(Event::Resize(w, 36));
            let text = text_only(&app, w, 36);
            // The pane's lines between its title and the endpoints' names.
            let lines: Vec<&str> = text.lines().collect();
            let top = lines
                .iter()
                .position(|l| l.contains("connection 1 ─"))
                .unwrap();
            let said: Vec<String> = lines[top + 1..]
                .iter()
                .take_while(|l| !l.contains("client 127.0.0.1:40001"))
                .map(|l| l.trim_matches(|c| c == '│' || c == ' ').to_string())
                .collect();
            assert_eq!(said.join(" "), verdict, "{w} columns");
        }
    }

    #[test]
    fn a_message_wraps_above_the_status_line_and_clears_itself() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, true);
        app.update(Event::Resize(80, 30));
        // Replay's W: a long message.
        key(&mut app, KeyCode::Char('W'));
        let said = app.message.clone().expect("a message");
        assert!(said.len() > 80, "{said}");
        let text = text_only(&app, 80, 30);
        let lines: Vec<&str> = text.lines().collect();
        // Every word of it is on the screen, on the lines above the status.
        let above: String = lines[lines.len() - 4..lines.len() - 1].join(" ");
        for word in said.split(' ') {
            assert!(above.contains(word), "{word} of {said}: {text}");
        }
        let at = |secs: f64| Event::Tick {
            now: Timestamp::from_secs_f64(2e9 + secs),
            elapsed: Span::from_secs_f64(0.05),
        };
        app.update(at(0.0));
        app.update(at(3.0));
        assert!(app.message.is_some(), "still there after 3 s");
        app.update(at(6.5));
        assert!(app.message.is_none(), "gone after 6 s");
        assert!(!text_only(&app, 80, 30).contains("already a file"));
    }

    #[test]
    fn the_absolute_time_column_gives_microseconds() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, false);
        key(&mut app, KeyCode::Char('t'));
        key(&mut app, KeyCode::Char('t'));
        assert_eq!(app.time_mode, TimeMode::Absolute);
        let text = text_only(&app, 120, 36);
        let c = app.selected_connection().unwrap();
        let want = tcpladder::tui::view::clock_text(c.segments[1].ts);
        assert_eq!(want.len(), 15, "{want}");
        let row = text.lines().find(|l| l.contains("SYN,ACK")).unwrap();
        assert!(row.contains(&format!("{want} ")), "{want} in {row}");
    }

    #[test]
    fn a_control_character_in_a_name_is_drawn_not_sent() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/refused.pcap");
        let (conns, _) = analyze_file(&path, Filter::default(), TrackConfig::default()).unwrap();
        let mut app = App::replay(
            conns,
            "evil\u{1b}]0;x\u{7}\u{1b}[2J.pcap",
            ThemeName::Dark,
            Span::from_secs(60),
            ReplayStart::End,
        );
        app.update(Event::Resize(120, 36));
        let text = text_only(&app, 120, 36);
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains("evil␛]0;x␇␛[2J.pcap"), "{text}");
    }

    #[test]
    fn list_moves_and_time_mode_cycles() {
        let mut app = replay("multi-interface.pcapng", ThemeName::Dark, false);
        assert_eq!(app.selected, Some(0));
        key(&mut app, KeyCode::Down);
        assert_eq!(app.selected, Some(1));
        key(&mut app, KeyCode::Char('k'));
        assert_eq!(app.selected, Some(0));
        key(&mut app, KeyCode::Char('t'));
        assert_eq!(app.time_mode, TimeMode::Delta);
        key(&mut app, KeyCode::Char('t'));
        key(&mut app, KeyCode::Char('t'));
        assert_eq!(app.time_mode, TimeMode::Relative);
    }

    #[test]
    fn help_opens_and_any_key_closes_it_q_quits() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, false);
        key(&mut app, KeyCode::Char('?'));
        assert!(app.help);
        key(&mut app, KeyCode::Char('x'));
        assert!(!app.help && !app.quit);
        key(&mut app, KeyCode::Char('q'));
        assert!(app.quit);
        let mut app = replay("client-close.pcap", ThemeName::Dark, false);
        app.update(Event::Key(KeyEvent::new(
            KeyCode::Char('c'),
            KeyModifiers::CONTROL,
        )));
        assert!(app.quit);
    }

    /// Live, a soft ICMP error (fragmentation needed) becomes a line the
    /// cursor follows, between the segments it came between.
    #[test]
    fn live_shows_an_icmp_error_as_it_arrives() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures/kernel/icmp-frag-needed/client.pcap");
        let packets = live_packets(&path);
        let mut app = App::live(
            "veth (tcp)",
            ThemeName::Dark,
            TrackConfig::default(),
            packets[0].ts,
            1000,
        );
        app.update(Event::Resize(120, 36));
        // Four segments, then the error alone (frame 5).
        app.update(Event::Capture(LiveMsg::Packets(packets[..4].to_vec())));
        assert_eq!((app.row, app.icmp), (3, None));
        app.update(Event::Capture(LiveMsg::Packets(packets[4..5].to_vec())));
        assert_eq!((app.row, app.icmp), (3, Some(0)));
        let c = app.selected_connection().unwrap();
        assert_eq!(app.shown_lines(c), 5);
        app.update(Event::Capture(LiveMsg::Packets(packets[5..].to_vec())));
        let c = app.selected_connection().unwrap();
        assert_eq!(app.icmp, None);
        assert_eq!(app.row, c.segments.len() - 1);
        assert_eq!(app.cursor_line(), c.segments.len());
    }

    #[test]
    fn live_follows_new_segments_until_scrolled_away() {
        // Feed the sample's packets as if captured live.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/client-close.pcap");
        let packets = live_packets(&path);
        let first = packets[0].ts;
        let mut app = App::live(
            "lo (tcp)",
            ThemeName::Dark,
            TrackConfig::default(),
            first,
            1000,
        );
        app.update(Event::Resize(120, 36));
        app.update(Event::Capture(LiveMsg::Packets(packets[..6].to_vec())));
        assert_eq!(app.total(), 1);
        assert_eq!(app.row, 5);
        key(&mut app, KeyCode::Tab);
        key(&mut app, KeyCode::Up);
        assert!(!app.follow);
        app.update(Event::Capture(LiveMsg::Packets(packets[6..].to_vec())));
        assert_eq!(app.row, 4, "scrolled away: the cursor stays");
        key(&mut app, KeyCode::Char('f'));
        assert_eq!(app.row, 10);
        // The wall clock drives the countdown live.
        app.update(Event::Tick {
            now: packets[10].ts + Span::from_secs(20),
            elapsed: Span::from_secs(20),
        });
        let c = app.selected_connection().unwrap();
        let (st, left) = app.state_at(c, Side::Client);
        assert_eq!(st, State::TimeWait);
        assert!(left.unwrap() < Span::from_secs(40) + Span::from_nanos(1));
        app.update(Event::Capture(LiveMsg::Stats {
            received: 11,
            dropped: 2,
            if_dropped: 0,
        }));
        let Source::Live(l) = &app.source else {
            panic!("live");
        };
        assert_eq!(l.dropped, 2);
    }

    #[test]
    fn live_following_selects_each_new_connection_until_another_is_picked() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/many-connections.pcap");
        let packets = live_packets(&path);
        let mut app = App::live(
            "lo",
            ThemeName::Dark,
            TrackConfig::default(),
            packets[0].ts,
            1000,
        );
        app.update(Event::Resize(120, 36));
        let mut fed = 0;
        for chunk in packets.chunks(40).take(10) {
            app.update(Event::Capture(LiveMsg::Packets(chunk.to_vec())));
            fed += chunk.len();
            let newest = app.visible_ids().last().copied();
            assert!(app.follow);
            assert_eq!(app.selected, newest, "after {fed} packets");
        }
        assert!(app.total() > 3);
        // Picking an older one: it stays while new ones come.
        key(&mut app, KeyCode::Up);
        let picked = app.selected;
        assert!(!app.follow);
        app.update(Event::Capture(LiveMsg::Packets(
            packets[fed..fed + 80].to_vec(),
        )));
        fed += 80;
        assert_eq!(app.selected, picked);
        assert!(text_only(&app, 120, 36).contains("paused view (f follows)"));
        // f: the newest again, and on with the next.
        key(&mut app, KeyCode::Char('f'));
        assert_eq!(app.selected, app.visible_ids().last().copied());
        app.update(Event::Capture(LiveMsg::Packets(
            packets[fed..fed + 80].to_vec(),
        )));
        assert_eq!(app.selected, app.visible_ids().last().copied());
    }
}

mod frames {
    use super::*;

    fn frame(app: &App) -> String {
        let mut t = Terminal::new(TestBackend::new(120, 36)).expect("terminal");
        t.draw(|f| f.render_widget(app, f.area())).expect("draw");
        format!("{:?}", t.backend().buffer())
    }

    #[test]
    fn sample_at_start_mid_handshake_and_in_time_wait() {
        for theme in [ThemeName::Dark, ThemeName::Light] {
            let name = format!("{theme:?}").to_lowercase();
            let mut app = replay("client-close.pcap", theme, true);
            insta::assert_snapshot!(format!("client_close_start_{name}"), frame(&app));
            key(&mut app, KeyCode::Right);
            insta::assert_snapshot!(format!("client_close_handshake_{name}"), frame(&app));
            key(&mut app, KeyCode::End);
            key(&mut app, KeyCode::Char(' '));
            tick(&mut app, 12.5);
            insta::assert_snapshot!(format!("client_close_time_wait_{name}"), frame(&app));
        }
    }

    /// `--color never` (or NO_COLOR): no cell in colour in either theme,
    /// in the list, the ladder, the detail pane and the help overlay,
    /// with bold kept and the selection in reverse video; the text is the
    /// coloured UI's.
    #[test]
    fn without_colour_no_cell_has_a_colour_and_the_selection_still_shows() {
        use ratatui::style::{Color, Modifier};
        for theme in [ThemeName::Dark, ThemeName::Light] {
            let mut plain = replay("client-close.pcap", theme, true).with_colour(false);
            let mut coloured = replay("client-close.pcap", theme, true);
            for keys in [
                &[][..],
                &[KeyCode::Right, KeyCode::Right],
                &[KeyCode::Tab],
                &[KeyCode::Char('?')],
            ] {
                for k in keys {
                    key(&mut plain, *k);
                    key(&mut coloured, *k);
                }
                let mut t = Terminal::new(TestBackend::new(120, 36)).expect("terminal");
                t.draw(|f| f.render_widget(&plain, f.area())).expect("draw");
                let buf = t.backend().buffer().clone();
                let (mut reversed, mut bold) = (0, 0);
                for y in 0..36 {
                    for x in 0..120 {
                        let c = &buf[(x, y)];
                        assert!(
                            c.fg == Color::Reset && c.bg == Color::Reset,
                            "{theme:?} after {keys:?}: {:?} at {x},{y} is {:?} on {:?}",
                            c.symbol(),
                            c.fg,
                            c.bg
                        );
                        reversed += usize::from(c.modifier.contains(Modifier::REVERSED));
                        bold += usize::from(c.modifier.contains(Modifier::BOLD));
                    }
                }
                assert!(
                    reversed >= 120,
                    "{theme:?} after {keys:?}: no selection shown"
                );
                assert!(bold > 0, "{theme:?} after {keys:?}: bold lost");
                assert_eq!(text_only(&plain, 120, 36), text_only(&coloured, 120, 36));
                // A screenshot shows the reverse video too: dark text on
                // the light default.
                let svg = tcpladder::export::screen::svg(&buf);
                assert!(svg.contains(r##"fill="#e0e0e0"/>"##), "no light background");
                assert!(
                    svg.contains(r##"fill="#000000" font-weight="bold""##)
                        || svg.contains(r##"fill="#000000" textLength"##)
                );
            }
            // The same frame in colour has colours: the check above can fail.
            let mut t = Terminal::new(TestBackend::new(120, 36)).expect("terminal");
            t.draw(|f| f.render_widget(&coloured, f.area()))
                .expect("draw");
            let buf = t.backend().buffer();
            assert!(buf.content().iter().any(|c| c.fg != Color::Reset));
        }
    }

    #[test]
    fn simultaneous_close_and_refused() {
        for theme in [ThemeName::Dark, ThemeName::Light] {
            let name = format!("{theme:?}").to_lowercase();
            let app = replay("simultaneous-close.pcap", theme, false);
            insta::assert_snapshot!(format!("simultaneous_close_{name}"), frame(&app));
        }
        let app = replay("refused.pcap", ThemeName::Dark, false);
        insta::assert_snapshot!("refused_dark", text_only(&app, 120, 36));
    }

    #[test]
    fn help_overlay_lists_every_key() {
        let mut app = replay("client-close.pcap", ThemeName::Dark, false);
        key(&mut app, KeyCode::Char('?'));
        let text = text_only(&app, 120, 36);
        for (k, what) in tcpladder::tui::view::help::KEYS {
            assert!(text.contains(k), "help lacks {k}");
            assert!(
                text.contains(what),
                "help cuts '{what}' at 120 columns: {text}"
            );
        }
        // Narrower: each meaning wraps, none is cut.
        app.update(Event::Resize(70, 40));
        let text = text_only(&app, 70, 40);
        let words: String = text.replace(['│', '┃'], " ");
        for (_, what) in tcpladder::tui::view::help::KEYS {
            for word in what.split(' ') {
                assert!(
                    words.contains(word),
                    "'{word}' of '{what}' at 70 columns: {text}"
                );
            }
        }
        assert!(text.contains("ICMP error (broken line)"), "{text}");
    }

    #[test]
    fn too_small_says_so_instead_of_panicking() {
        let app = replay("client-close.pcap", ThemeName::Dark, false);
        for (w, h) in [(0, 0), (1, 1), (20, 5), (59, 40), (200, 15)] {
            let text = text_only(&app, w, h);
            if w > 30 && h > 0 {
                assert!(text.contains("terminal too small"), "{w}x{h}");
            }
        }
        // Every size from the minimum up draws without panicking.
        for w in (60..=200).step_by(7) {
            for h in (16..=60).step_by(5) {
                text_only(&app, w, h);
            }
        }
    }

    /// Socket calls (demo): lines of their own off their endpoint's
    /// lifeline, revealed by the clock, steps of their own, selectable,
    /// and explained in the tutorials' words in the detail pane.
    #[test]
    fn calls_on_the_ladder_and_their_detail() {
        let app = replay("client-close.pcap", ThemeName::Dark, true);
        let calls = crate::export::calls::tutorial_calls(app.connection(0).unwrap());
        let mut app = app.with_calls(vec![calls]);
        // At the first segment: the set-up calls head the lifelines, the
        // connect() has not returned.
        let text = text_only(&app, 120, 36);
        assert!(text.contains("listen(backlog 5) = 0 ┤"), "{text}");
        assert!(text.contains("├ socket() = 3"), "{text}");
        assert!(!text.contains("connect() = 0"), "{text}");
        // Steps: SYN,ACK, ACK, then connect() returns.
        for _ in 0..3 {
            key(&mut app, KeyCode::Right);
        }
        assert!(app.call.is_some(), "the cursor follows onto the call");
        let text = text_only(&app, 120, 36);
        let line = text
            .lines()
            .find(|l| l.contains("connect() = 0"))
            .unwrap_or_else(|| panic!("no connect() in\n{text}"));
        assert!(line.contains("┣ connect() = 0"), "{line}");
        assert!(
            !line.contains('▶') && !line.contains('◀'),
            "not an arrow: {line}"
        );
        for needle in [
            "client call 5 of 13: connect()",
            "connect() sends the SYN and blocks until the SYN,ACK arrives",
            "SYN,ACK (segment 2)",
            "woken by  2 SYN,ACK",
            "sent      1 SYN",
        ] {
            assert!(text.contains(needle), "detail lacks {needle:?}\n{text}");
        }
        insta::assert_snapshot!("client_close_calls_connect_dark", text);
        // One more step: accept() returns on the server's side.
        key(&mut app, KeyCode::Right);
        let text = text_only(&app, 120, 36);
        assert!(text.contains("accept() = 4 ┫"), "{text}");
        assert!(text.contains("final ACK"), "{text}");
        // Up moves off the calls to the ACK segment and back.
        key(&mut app, KeyCode::Tab);
        key(&mut app, KeyCode::Up);
        key(&mut app, KeyCode::Up);
        assert_eq!((app.row, app.icmp, app.call), (2, None, None));
        // The segment's detail names the call it wakes.
        let text = text_only(&app, 120, 36);
        // (wrapped on words: the sentence ends a line)
        assert!(
            text.contains("handshake is complete. It wakes the server's")
                && text.contains("accept(), which returns 4."),
            "{text}"
        );
        key(&mut app, KeyCode::Down);
        assert!(app.call.is_some());
        // The end shows every call, in colour, in both themes.
        for theme in [ThemeName::Dark, ThemeName::Light] {
            let name = format!("{theme:?}").to_lowercase();
            let app = replay("client-close.pcap", theme, false);
            let calls = crate::export::calls::tutorial_calls(app.connection(0).unwrap());
            let app = app.with_calls(vec![calls]);
            let text = text_only(&app, 120, 36);
            assert!(text.contains("read() = 0 (EOF) ┫"), "{text}");
            insta::assert_snapshot!(format!("client_close_calls_end_{name}"), frame(&app));
        }
    }

    /// A SYN answered by a router's host unreachable: the error is a line
    /// of its own, revealed by the clock, selectable, explained in the
    /// detail pane, and the client's CLOSED appears with it.
    #[test]
    fn icmp_error_line_and_its_detail() {
        let mut app = replay(
            "kernel/icmp-host-unreachable/client.pcap",
            ThemeName::Dark,
            true,
        );
        let text = text_only(&app, 120, 36);
        assert!(!text.contains("△ ICMP"), "{text}");
        let c = app.selected_connection().unwrap();
        assert_eq!(app.state_at(c, Side::Client).0, State::SynSent);
        // One step on: the error, selected, and its effect.
        key(&mut app, KeyCode::Right);
        assert_eq!(app.icmp, Some(0));
        let c = app.selected_connection().unwrap();
        assert_eq!(app.state_at(c, Side::Client).0, State::Closed);
        let text = text_only(&app, 120, 36);
        let line = text
            .lines()
            .find(|l| l.contains("△ ICMP host unreachable from 198.18.0.2"))
            .unwrap_or_else(|| panic!("no ICMP line in\n{text}"));
        assert!(line.contains("CLOSED") && line.contains("│◀─"), "{line}");
        for needle in [
            "ICMP error 1 of 1",
            "router 198.18.0.2 tells the client that its SYN could not go on: host unreachable",
            "ICMP type 3 code 1",
            "In SYN-SENT Linux gives up",
            "errno     EHOSTUNREACH",
            "client CLOSED",
        ] {
            assert!(text.contains(needle), "detail lacks {needle:?}\n{text}");
        }
        insta::assert_snapshot!("icmp_host_unreachable_dark", text);
        // Up selects the SYN again; the detail pane follows.
        key(&mut app, KeyCode::Tab);
        key(&mut app, KeyCode::Up);
        assert_eq!((app.row, app.icmp), (0, None));
        assert!(text_only(&app, 120, 36).contains("segment 1 of 1"));
        key(&mut app, KeyCode::Down);
        assert_eq!(app.icmp, Some(0));
        // Stepping back hides it and undoes the CLOSED.
        key(&mut app, KeyCode::Left);
        let c = app.selected_connection().unwrap();
        assert_eq!(app.state_at(c, Side::Client).0, State::SynSent);
        assert_eq!(app.icmp, None);
        // In colour, in both themes.
        for theme in [ThemeName::Dark, ThemeName::Light] {
            let name = format!("{theme:?}").to_lowercase();
            let app = replay("kernel/icmp6-packet-too-big/client.pcap", theme, false);
            insta::assert_snapshot!(format!("icmp6_packet_too_big_{name}"), frame(&app));
        }
    }

    #[test]
    fn ladder_shows_states_and_countdown_in_text() {
        let mut app = replay("client-close.pcap", ThemeName::Light, false);
        key(&mut app, KeyCode::Char(' '));
        tick(&mut app, 17.3);
        let text = text_only(&app, 120, 36);
        assert!(text.contains("TIME-WAIT 42.7 s left"), "{text}");
        assert!(text.contains("FIN-WAIT-1"));
        assert!(text.contains("CLOSE-WAIT"));
        assert!(text.contains("LAST-ACK"));
    }
}

/// The kernel's own states (demo, trace, live as root) beside the inferred
/// ones: a `≠` on the lifeline where they part, the kernel's states and
/// the disagreement in the detail pane, the reason in the status line
/// when there are none.
mod kernel {
    use super::*;
    use tcpladder::track::kernel::{KernelEvent, KernelRecord};

    fn linux(s: State) -> &'static str {
        match s {
            State::Closed => "TCP_CLOSE",
            State::Listen => "TCP_LISTEN",
            State::SynSent => "TCP_SYN_SENT",
            State::SynReceived => "TCP_SYN_RECV",
            State::Established => "TCP_ESTABLISHED",
            State::FinWait1 => "TCP_FIN_WAIT1",
            State::FinWait2 => "TCP_FIN_WAIT2",
            State::CloseWait => "TCP_CLOSE_WAIT",
            State::Closing => "TCP_CLOSING",
            State::LastAck => "TCP_LAST_ACK",
            State::TimeWait => "TCP_TIME_WAIT",
        }
    }

    /// What the kernel would report for `app`'s first connection if it
    /// agreed with the inference, `side`'s record cut after `keep` states.
    fn record(app: &App, side: Side, keep: usize) -> Vec<KernelEvent> {
        let c = app.connection(0).unwrap();
        let mut out = Vec::new();
        for s in Side::BOTH {
            let (local, remote) = match s {
                Side::Client => (c.client, c.server),
                Side::Server => (c.server, c.client),
            };
            let tl = c.timeline(s);
            let n = if s == side { keep } else { tl.len() };
            for w in tl[..n.min(tl.len())].windows(2) {
                out.push(KernelEvent {
                    time: w[1].1,
                    local,
                    remote,
                    old: linux(w[0].0).into(),
                    new: linux(w[1].0).into(),
                });
            }
        }
        out.sort_by_key(|e| e.time);
        out
    }

    fn text(app: &App) -> String {
        text_only(app, 120, 36)
    }

    #[test]
    fn agreement_draws_no_mark_and_the_detail_gives_the_kernels_states() {
        let app = replay("client-close.pcap", ThemeName::Dark, false);
        let events = record(&app, Side::Server, usize::MAX);
        let mut app = app.with_kernel(Ok(KernelRecord::new(events)));
        let k = app.cache.as_ref().and_then(|k| k.ladder.kernel.as_ref());
        assert!(k.is_some_and(|k| k.disagreements.is_empty()), "{k:?}");
        let t = text(&app);
        assert!(!t.contains('≠'), "{t}");
        // On the handshake's ACK (segment 3 of 11): both ESTABLISHED by
        // the kernel's record; on the SYN, the client in SYN-SENT.
        key(&mut app, KeyCode::Tab);
        for _ in 0..8 {
            key(&mut app, KeyCode::Up);
        }
        let t = text(&app);
        assert!(t.contains("segment 3 of 11"), "{t}");
        assert!(t.contains("kernel C  ESTABLISHED"), "{t}");
        assert!(t.contains("kernel S  ESTABLISHED"), "{t}");
        key(&mut app, KeyCode::Up);
        key(&mut app, KeyCode::Up);
        let t = text(&app);
        assert!(t.contains("kernel C  SYN-SENT"), "{t}");
    }

    #[test]
    fn a_disagreement_is_marked_on_the_lifeline_and_explained() {
        let app = replay("client-close.pcap", ThemeName::Dark, false);
        // The kernel's server never left ESTABLISHED (say its FIN was
        // dropped by a filter after the capture point).
        let events = record(&app, Side::Server, 3);
        let mut app = app.with_kernel(Ok(KernelRecord::new(events)));
        let k = app
            .cache
            .as_ref()
            .and_then(|k| k.ladder.kernel.clone())
            .expect("a kernel view");
        assert_eq!(k.disagreements.len(), 1, "{k:?}");
        let d = &k.disagreements[0];
        assert_eq!(
            (d.side, d.kernel, d.inferred),
            (Side::Server, State::Established, State::CloseWait)
        );
        let row = d.after_row.expect("a row");
        let t = text(&app);
        let marked: Vec<&str> = t.lines().filter(|l| l.contains('≠')).collect();
        assert_eq!(marked.len(), 1, "{t}");
        // On the server's lifeline, at the client's FIN.
        assert!(marked[0].contains("FIN"), "{}", marked[0]);
        assert!(marked[0].contains("▶≠"), "{}", marked[0]);
        // Selected, the row says how.
        key(&mut app, KeyCode::Tab);
        for _ in row..10 {
            key(&mut app, KeyCode::Up);
        }
        let t = text(&app);
        assert!(t.contains("The kernel disagrees about the server"), "{t}");
        assert!(t.contains("never entered it (still ESTABLISHED)"), "{t}");
        assert!(t.contains("kernel S  ESTABLISHED"), "{t}");
    }

    #[test]
    fn without_a_record_the_status_line_says_why_once() {
        let app = replay("client-close.pcap", ThemeName::Dark, false);
        let app = app.with_kernel(Err("the kernel's states need root".into()));
        let t = text(&app);
        assert!(
            t.contains("no kernel states: the kernel's states need root"),
            "{t}"
        );
        assert!(
            app.cache
                .as_ref()
                .is_some_and(|k| k.ladder.kernel.is_none())
        );
    }

    #[test]
    fn live_compares_only_what_both_have_reached() {
        let file = replay("client-close.pcap", ThemeName::Dark, false);
        let events = record(&file, Side::Server, usize::MAX);
        let c = file.connection(0).unwrap().clone();
        let mut app = App::live(
            "lo",
            ThemeName::Dark,
            TrackConfig::default(),
            c.first_ts,
            1000,
        );
        app.update(Event::Resize(120, 36));
        // The capture's packets, then a record that has the handshake only.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/client-close.pcap");
        let packets = live_packets(&path);
        app.update(Event::Capture(LiveMsg::Packets(packets)));
        let handshake_end = c.timeline(Side::Server)[2].1;
        let early: Vec<KernelEvent> = events
            .iter()
            .filter(|e| e.time <= handshake_end)
            .cloned()
            .collect();
        app.update(Event::Capture(LiveMsg::Kernel {
            events: early,
            until: handshake_end + Span::from_secs_f64(0.2),
        }));
        let k = app
            .cache
            .as_ref()
            .and_then(|k| k.ladder.kernel.clone())
            .expect("kernel view");
        assert!(
            k.disagreements.is_empty(),
            "not yet read is not a disagreement: {k:?}"
        );
        // Much later, still nothing new read: the record is complete and
        // the close it lacks is a disagreement.
        let late = c.segments.last().unwrap().ts + Span::from_secs(5);
        app.update(Event::Capture(LiveMsg::Kernel {
            events: Vec::new(),
            until: late,
        }));
        let k = app
            .cache
            .as_ref()
            .and_then(|k| k.ladder.kernel.clone())
            .expect("kernel view");
        assert_eq!(k.disagreements.len(), 2, "{k:?}");
    }
}

/// Live, the UI holds at most `--max-connections`: past it the oldest
/// finished connections are folded into the totals, the list forgets
/// them, the status line says so, and everything still draws.
#[test]
fn live_folds_the_oldest_connections_past_the_cap() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/many-connections.pcap");
    let packets = live_packets(&path);
    let mut app = App::live(
        "lo (port 9502)",
        ThemeName::Dark,
        TrackConfig::default(),
        packets[0].ts,
        10,
    );
    app.update(Event::Resize(120, 36));
    for p in packets.chunks(7) {
        app.update(Event::Capture(LiveMsg::Packets(p.to_vec())));
        let held = (0..app.total())
            .filter(|&id| app.connection(id).is_some())
            .count();
        assert!(held <= 10, "{held} connections held");
    }
    let Source::Live(l) = &app.source else {
        panic!("live")
    };
    let seen = app.total();
    assert!(
        seen > 10,
        "the capture has more connections than the cap: {seen}"
    );
    assert_eq!(
        l.folded as usize + (0..seen).filter(|&id| app.connection(id).is_some()).count(),
        seen
    );
    assert_eq!(l.folded_totals.connections, l.folded);
    // The list shows only what is held; the selection is one of them.
    assert!(
        app.visible_ids()
            .iter()
            .all(|&id| app.connection(id).is_some())
    );
    assert!(app.selected.is_some_and(|id| app.connection(id).is_some()));
    let text = text_only(&app, 160, 36);
    assert!(
        text.contains("oldest folded into totals (--max-connections 10)"),
        "{text}"
    );
}

/// `replay` opens at once while the file is read: the list shows the
/// progress, the status line too, keys work, and the connections fill in
/// when it is done; a file that fails quits with the reason.
#[test]
fn replay_opens_at_once_and_fills_in_when_loaded() {
    use tcpladder::analysis::Progress;
    use tcpladder::tui::app::Loaded;
    let mut app = App::loading(
        "big.pcap",
        ThemeName::Dark,
        Span::from_secs(30),
        ReplayStart::Step,
    );
    app.update(Event::Resize(140, 36));
    app.update(Event::Loading {
        progress: Progress {
            bytes: 450,
            total: 1000,
            packets: 2_000_000,
            connections: 70_000,
        },
        elapsed: Span::from_secs(1),
    });
    let text = text_only(&app, 140, 36);
    assert!(text.contains("reading big.pcap"), "{text}");
    assert!(text.contains("45% · "), "{text}");
    assert!(
        text.contains("2.00 M packets · 70000 connections · 2.00 M packets/s"),
        "{text}"
    );
    // Keys while it loads: a filter can be typed, help opens and closes.
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "9502");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('?'));
    key(&mut app, KeyCode::Char('x'));
    assert!(!app.quit);
    // Loaded: the connections, the filter typed meanwhile applied, the
    // first warning in the status line.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/multi-interface.pcapng");
    let (conns, _) = analyze_file(&path, Filter::default(), TrackConfig::default()).unwrap();
    let n = conns.len();
    app.update(Event::Loaded(Ok(Loaded {
        conns: tcpladder::analysis::kept::ForReplay::Whole(conns),
        warnings: vec!["a warning".into()],
    })));
    assert!(app.loading.is_none());
    assert_eq!(app.total(), n);
    assert_eq!(app.visible_ids(), &[0], "the filter 9502 keeps the first");
    assert!(app.selected_connection().is_some());
    let text = text_only(&app, 140, 36);
    assert!(!text.contains("reading big.pcap"), "{text}");
    assert!(text.contains("a warning"), "{text}");
    // A file that cannot be read: the UI quits with the reason.
    let mut app = App::loading(
        "bad.pcap",
        ThemeName::Dark,
        Span::from_secs(30),
        ReplayStart::Step,
    );
    app.update(Event::Loaded(Err("bad.pcap: not a capture".into())));
    assert!(app.quit);
    assert_eq!(app.load_error.as_deref(), Some("bad.pcap: not a capture"));
}

/// A replay of a large capture keeps its connections as where their
/// records are and rebuilds those on the screen: every frame is the one
/// a replay holding them all draws, key by key.
#[test]
fn a_kept_capture_replays_as_one_held_whole() {
    use tcpladder::analysis::kept::load_for_replay;
    use tcpladder::tui::app::Loaded;
    let cfg = TrackConfig::default();
    for file in [
        "many-connections.pcap",
        "retransmission.pcap",
        "syn-timeout.pcap",
        "ipv6.pcap",
        "reuse-time-wait.pcap",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("captures")
            .join(file);
        let open = |keep_above: u64| {
            let (conns, _) =
                load_for_replay(&path, Filter::default(), cfg, keep_above, |_| {}).unwrap();
            let mut app = App::loading(file, ThemeName::Dark, cfg.msl, ReplayStart::Step);
            app.update(Event::Resize(120, 36));
            app.update(Event::Loaded(Ok(Loaded {
                conns,
                warnings: Vec::new(),
            })));
            app
        };
        let (mut whole, mut kept) = (open(u64::MAX), open(0));
        assert!(
            matches!(&kept.source, Source::Replay(r) if r.rebuilt.is_some() && r.conns.is_empty())
        );
        assert!(matches!(&whole.source, Source::Replay(r) if r.rebuilt.is_none()));
        let keys = [
            KeyCode::Right,
            KeyCode::Right,
            KeyCode::Right,
            KeyCode::End,
            KeyCode::Down,
            KeyCode::Down,
            KeyCode::PageDown,
            KeyCode::Enter,
            KeyCode::Down,
            KeyCode::Left,
            KeyCode::Tab,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::Char('/'),
            KeyCode::Char('1'),
            KeyCode::Char(':'),
            KeyCode::Enter,
            KeyCode::Down,
        ];
        assert_eq!(
            text_only(&kept, 120, 36),
            text_only(&whole, 120, 36),
            "{file}"
        );
        for (n, k) in keys.into_iter().enumerate() {
            key(&mut whole, k);
            key(&mut kept, k);
            assert_eq!(
                text_only(&kept, 120, 36),
                text_only(&whole, 120, 36),
                "{file}, after key {} ({k:?})",
                n + 1
            );
        }
    }
}

/// A connection too long to hold as ladder rows gets a window of them,
/// built again as the view moves: every frame is the one the whole ladder
/// draws, key by key (here with windows of four rows over every
/// connection of more than three segments).
#[test]
fn a_windowed_ladder_draws_as_the_whole() {
    let mut moved = false;
    for file in [
        "many-connections.pcap",
        "retransmission.pcap",
        "half-close.pcap",
    ] {
        let mut whole = replay(file, ThemeName::Dark, true);
        let mut windowed = replay(file, ThemeName::Dark, true);
        windowed.window_above = 3;
        windowed.window_rows = 4;
        windowed.cache = None;
        // Small panes: the window must move within one connection.
        whole.update(Event::Resize(110, 24));
        windowed.update(Event::Resize(110, 24));
        let mut keys = vec![KeyCode::Enter];
        keys.extend([KeyCode::Right; 6]);
        keys.extend([
            KeyCode::Down,
            KeyCode::Down,
            KeyCode::End,
            KeyCode::Up,
            KeyCode::Up,
        ]);
        keys.extend([
            KeyCode::PageUp,
            KeyCode::Home,
            KeyCode::PageDown,
            KeyCode::Tab,
        ]);
        keys.extend([KeyCode::Down; 3]);
        keys.extend([KeyCode::Enter, KeyCode::End, KeyCode::PageUp, KeyCode::Up]);
        for (n, k) in keys.into_iter().enumerate() {
            key(&mut whole, k);
            key(&mut windowed, k);
            let (a, b) = (text_only(&windowed, 110, 24), text_only(&whole, 110, 24));
            assert!(a == b, "{file}, after key {} ({k:?}):\n{a}\n{b}", n + 1);
            if let Some(c) = &windowed.cache
                && let Some(w) = &c.window
                && w.start > 0
                && w.len() < c.segments
            {
                moved = true;
            }
        }
        let w = windowed.cache.as_ref().map(|k| k.window.clone());
        assert!(matches!(&w, Some(Some(_))), "{file}: not windowed: {w:?}");
    }
    assert!(moved, "no window ever moved off the first rows");
}
