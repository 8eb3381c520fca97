//! The terminal edge: raw mode, alternate screen, mouse, a panic hook that
//! restores the terminal, and the event loop that turns keys, resizes,
//! captured packets and the passing of wall time into `Event`s.

use std::io::{self, Stdout};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

use super::app::{App, Event};
use crate::capture::live::LiveMsg;
use crate::time::{Span, Timestamp};

/// Frames per second while something moves; input is handled at once.
const TICK: Duration = Duration::from_millis(50);

/// The wall clock, read here at the edge and handed to the app.
pub fn wall_now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_secs_nanos(d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), DisableMouseCapture, LeaveAlternateScreen);
}

/// Runs the UI until the user quits. The terminal is restored on every
/// way out: a normal quit, an error, or a panic.
pub fn run(mut app: App, capture: Option<Receiver<LiveMsg>>) -> io::Result<()> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    let mut out = io::stdout();
    if let Err(e) = execute!(out, EnterAlternateScreen, EnableMouseCapture) {
        restore();
        return Err(e);
    }
    let result = Terminal::new(CrosstermBackend::new(out))
        .and_then(|mut terminal| event_loop(&mut terminal, &mut app, capture.as_ref()));
    restore();
    result
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    capture: Option<&Receiver<LiveMsg>>,
) -> io::Result<()> {
    let size = terminal.size()?;
    app.update(Event::Resize(size.width, size.height));
    app.update(Event::Tick {
        now: wall_now(),
        elapsed: Span::default(),
    });
    let mut last_tick = Instant::now();
    while !app.quit {
        terminal.draw(|f| f.render_widget(&*app, f.area()))?;
        let wait = TICK.saturating_sub(last_tick.elapsed());
        if event::poll(wait)? {
            // Take everything that is queued before drawing again.
            loop {
                let ev = match event::read()? {
                    event::Event::Key(k) => Some(Event::Key(k)),
                    event::Event::Mouse(m) => Some(Event::Mouse(m)),
                    event::Event::Resize(w, h) => Some(Event::Resize(w, h)),
                    _ => None,
                };
                if let Some(ev) = ev {
                    app.update(ev);
                }
                if app.quit || !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
        if let Some(rx) = capture {
            while let Ok(msg) = rx.try_recv() {
                app.update(Event::Capture(msg));
            }
        }
        let elapsed = last_tick.elapsed();
        if elapsed >= TICK {
            last_tick = Instant::now();
            app.update(Event::Tick {
                now: wall_now(),
                elapsed: Span::from_nanos(elapsed.as_nanos() as i64),
            });
        }
    }
    Ok(())
}
