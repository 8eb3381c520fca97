//! The terminal edge: raw mode, alternate screen, mouse, a panic hook that
//! restores the terminal, and the event loop that turns keys, resizes,
//! captured packets and the passing of wall time into `Event`s.

use std::io::{self, Stdout};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

use super::app::{App, Event, Request};
use crate::capture::live::LiveMsg;
use crate::export::{self, ExportOptions, Format, save as files, screen};
use crate::time::{Span, Timestamp};

/// Frames per second while something moves; input is handled at once.
const TICK: Duration = Duration::from_millis(50);

pub use crate::capture::wall_now;

/// Whether the UI holds the terminal (raw mode, alternate screen).
static ACTIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Gives the terminal back if the UI holds it: for a signal handler that
/// exits at once (SIGINT, SIGTERM, SIGHUP leave the terminal as `q` does).
pub fn restore_if_active() {
    if ACTIVE.swap(false, std::sync::atomic::Ordering::SeqCst) {
        restore();
    }
}

/// Gives the terminal back.
pub fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        ratatui::crossterm::cursor::Show
    );
}

/// Where `s` and `e` save, and how exports look.
#[derive(Clone, Debug)]
pub struct Saving {
    pub dir: PathBuf,
    pub export: ExportOptions,
}

impl Default for Saving {
    fn default() -> Self {
        Saving {
            dir: PathBuf::from("."),
            export: ExportOptions::default(),
        }
    }
}

/// What feeds the app besides the keyboard and the clock.
pub enum Feed {
    None,
    /// The live capture thread.
    Live(Receiver<LiveMsg>),
    /// A thread reading a file (`Event::Loading`, then `Event::Loaded`).
    Load(Receiver<Event>),
}

/// Runs the UI until the user quits, and gives the app back. The terminal
/// is restored on every way out: a normal quit, an error, or a panic.
pub fn run(mut app: App, feed: Feed, saving: &Saving) -> io::Result<App> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode()?;
    ACTIVE.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut out = io::stdout();
    if let Err(e) = execute!(out, EnterAlternateScreen, EnableMouseCapture) {
        restore();
        return Err(e);
    }
    let result = Terminal::new(CrosstermBackend::new(out))
        .and_then(|mut terminal| event_loop(&mut terminal, &mut app, &feed, saving));
    restore_if_active();
    result.map(|()| app)
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    feed: &Feed,
    saving: &Saving,
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
        if let Some(req) = app.request.take() {
            let size = terminal.size()?;
            let result = save(app, req, Rect::new(0, 0, size.width, size.height), saving);
            app.update(Event::Saved(result));
        }
        match feed {
            Feed::None => {}
            Feed::Live(rx) => {
                while let Ok(msg) = rx.try_recv() {
                    app.update(Event::Capture(msg));
                }
            }
            Feed::Load(rx) => {
                while let Ok(ev) = rx.try_recv() {
                    app.update(ev);
                }
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

/// "20261121-210455": a timestamp for file names, UTC.
pub fn stamp(t: Timestamp) -> String {
    let secs = t.as_nanos().div_euclid(1_000_000_000);
    let (days, day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        day / 3600,
        day / 60 % 60,
        day % 60
    )
}

/// A file name in `dir` that does not exist yet: `base.ext`, else
/// `base-2.ext`, ...
fn fresh(dir: &Path, base: &str, ext: &str) -> PathBuf {
    let mut p = dir.join(format!("{base}.{ext}"));
    let mut n = 2;
    while p.exists() {
        p = dir.join(format!("{base}-{n}.{ext}"));
        n += 1;
    }
    p
}

/// Does what `s` or `e` asked for; returns the paths written.
fn save(app: &App, req: Request, area: Rect, saving: &Saving) -> Result<String, String> {
    let now = stamp(wall_now());
    let dir = &saving.dir;
    let mut written: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    match req {
        Request::Screenshot => {
            // The screen exactly as drawn: the same widget at the same size.
            let mut buf = Buffer::empty(area);
            app.render(area, &mut buf);
            let svg = screen::svg(&buf);
            let png = export::png::render_with(&svg, 1.0, &saving.export.fonts)
                .map_err(|e| e.to_string())?;
            let base = format!("tcpladder-screen-{now}");
            written.push((fresh(dir, &base, "svg"), svg.into_bytes()));
            written.push((fresh(dir, &base, "png"), png));
            written.push((fresh(dir, &base, "txt"), screen::text(&buf).into_bytes()));
        }
        Request::SaveCapture => {
            let spool = app
                .spooled()
                .ok_or_else(|| "this capture is not being written".to_string())?;
            let path = fresh(dir, &format!("tcpladder-capture-{now}"), "pcap");
            copy_complete(spool, &path).map_err(|e| e.to_string())?;
            return Ok(path.display().to_string());
        }
        Request::SaveConnections { frames, what } => {
            let from = app
                .capture_path
                .as_deref()
                .ok_or_else(|| "these connections were not read from a file".to_string())?;
            let path = fresh(dir, &format!("tcpladder-{what}-{now}"), "pcap");
            let mut out = Vec::new();
            let (format, n) = crate::capture::write::copy_frames(
                from,
                |f| frames.binary_search(&f).is_ok(),
                crate::capture::FileFormat::Pcap,
                &mut out,
            )
            .map_err(|e| e.to_string())?;
            files::write(&path, &out, false).map_err(|e| e.to_string())?;
            let note = match format {
                crate::capture::FileFormat::PcapNg => ", as pcapng: several link types",
                crate::capture::FileFormat::Pcap => "",
            };
            return Ok(format!("{n} packets to {}{note}", path.display()));
        }
        Request::Export => {
            let c = app
                .selected_connection()
                .ok_or_else(|| "no connection selected".to_string())?;
            let base = format!("tcpladder-connection-{}-{now}", c.id + 1);
            for format in [Format::Svg, Format::Png] {
                let opts = ExportOptions {
                    format,
                    msl: app.msl,
                    ..saving.export.clone()
                };
                let calls = app.calls.get(c.id).map_or(&[][..], Vec::as_slice);
                let bytes =
                    export::render_with_calls(c, calls, &opts).map_err(|e| e.to_string())?;
                written.push((fresh(dir, &base, format.extension()), bytes));
            }
        }
    }
    let mut names = Vec::new();
    for (path, bytes) in &written {
        files::write(path, bytes, false).map_err(|e| e.to_string())?;
        names.push(path.display().to_string());
    }
    Ok(names.join(", "))
}

/// The spool's complete records, copied to a new file at `to` (whole or
/// not at all).
fn copy_complete(
    spool: &crate::capture::live::Spooled,
    to: &std::path::Path,
) -> Result<(), files::SaveError> {
    use std::io::Read;
    files::write_with(to, false, |out| {
        let from = std::fs::File::open(&spool.path)?;
        std::io::copy(&mut from.take(spool.complete()), out).map(|_| ())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_dates() {
        assert_eq!(stamp(Timestamp::from_nanos(0)), "19700101-000000");
        // 2026-11-21 21:04:55 UTC
        let t = Timestamp::from_secs_nanos(1_795_295_095, 0);
        assert_eq!(stamp(t), "20261121-210455");
        assert_eq!(
            stamp(Timestamp::from_secs_nanos(951_782_400, 0)),
            "20000229-000000"
        );
    }
}
