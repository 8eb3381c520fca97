//! The TUI's state and its update function. No drawing happens here and no
//! terminal is touched: events come in (keys, mouse, ticks carrying the
//! wall clock, captured packets), state changes, and the views in
//! `tui::view` read the result. Everything is testable without a terminal.

use std::collections::{HashMap, VecDeque};

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

use crate::analysis::kept::{ForReplay, KeptCapture};
use crate::analysis::{Filter, Progress, ReadReport, feed};
use crate::capture::live::{LiveMsg, LivePacket, Spooled};
use crate::decode::Decoder;
use crate::ladder::diagram::Placement;
use crate::ladder::{Call, LabelStyle, Ladder, Line};
use crate::time::{Span, Timestamp};
use crate::track::kernel::KernelRecord;
use crate::track::{Cause, ConnKey, Connection, Details, Side, State, TrackConfig, Tracker};

use super::search::Query;
use super::theme::{Theme, ThemeName};
use super::view::layout::Areas;

/// Playback speeds, slowest to fastest.
pub const SPEEDS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
];

/// One input to the application.
#[derive(Debug)]
pub enum Event {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Time passes: the wall clock now, and the wall time since the last
    /// tick (which drives playback).
    Tick {
        now: Timestamp,
        elapsed: Span,
    },
    /// From the live capture thread.
    Capture(LiveMsg),
    /// A screenshot or export was written (the paths) or failed.
    Saved(Result<String, String>),
    /// From the thread reading a file for `replay`: how far it has come,
    /// and the wall time since it began.
    Loading {
        progress: Progress,
        elapsed: Span,
    },
    /// The file is read: its connections and warnings, or why it could
    /// not be.
    Loaded(Result<Loaded, String>),
}

/// A file read in the background.
#[derive(Debug)]
pub struct Loaded {
    /// Every connection, or (a large capture) each kept to be rebuilt
    /// when shown.
    pub conns: ForReplay,
    pub warnings: Vec<String>,
}

/// A file still being read: the UI is open, and fills in when it is done.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadState {
    pub progress: Progress,
    pub elapsed: Span,
}

/// Work the app asks the terminal loop to do: it needs the filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Save the screen as drawn, as SVG, PNG and text.
    Screenshot,
    /// Export the selected connection's diagram as SVG and PNG.
    Export,
    /// Save everything captured so far (live) as pcap.
    SaveCapture,
    /// Save these records of the capture (sorted frame numbers: the
    /// selected connection's, or every filtered one's) as pcap; `what`
    /// names them in the file name and the message.
    SaveConnections { frames: Vec<u64>, what: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeMode {
    Relative,
    Delta,
    Absolute,
}

impl TimeMode {
    fn next(self) -> TimeMode {
        match self {
            TimeMode::Relative => TimeMode::Delta,
            TimeMode::Delta => TimeMode::Absolute,
            TimeMode::Absolute => TimeMode::Relative,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TimeMode::Relative => "relative",
            TimeMode::Delta => "delta",
            TimeMode::Absolute => "absolute",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    List,
    Ladder,
}

/// Replaying a file: every connection is known; the playback clock decides
/// how much of it is shown.
pub struct Replay {
    pub conns: Vec<Connection>,
    /// A large capture's connections instead, rebuilt when shown.
    pub rebuilt: Option<Box<Rebuilt>>,
    /// Every segment's time, in capture order, for global steps.
    pub times: crate::time::Times,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Playback runs past the last segment until every TIME-WAIT is over.
    pub horizon: Timestamp,
    pub clock: Timestamp,
    pub playing: bool,
    pub speed: f64,
}

/// How a replay opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayStart {
    /// At the first segment, paused (`--step`, and the built-in sample).
    Step,
    /// Playing from the first segment at capture speed.
    Play,
    /// At the end, everything shown, paused.
    End,
}

/// Where a live connection is kept.
#[derive(Clone, Copy, Debug)]
enum Loc {
    Active(ConnKey),
    Finished(usize),
    /// Folded into the totals to keep memory bounded.
    Folded,
}

/// Capturing: the tracker runs as packets arrive; the wall clock drives
/// timers.
pub struct Live {
    /// Where every packet captured goes (`-w`, or the spool).
    pub spooled: Option<Spooled>,
    /// Carries IP fragments between captured packets.
    pub decoder: Decoder,
    pub tracker: Tracker,
    /// Connections the tracker handed out as over; None once folded.
    pub finished: Vec<Option<Connection>>,
    locs: Vec<Loc>,
    /// The most connections held at once (`--max-connections`).
    pub max: usize,
    /// How many were folded into `folded_totals` to stay under `max`.
    pub folded: u64,
    pub folded_totals: crate::stats::Totals,
    /// Held connections (tracker's and handed out), and the oldest id that
    /// may still be held.
    held: usize,
    oldest: usize,
    /// Set when connections were folded, for the app to drop their ids.
    folded_now: bool,
    pub report: ReadReport,
    pub now: Timestamp,
    pub received: u32,
    pub dropped: u32,
    pub if_dropped: u32,
    /// (wall time, packets so far), for packets/s over the last seconds.
    rate: VecDeque<(Timestamp, u64)>,
    pub error: Option<String>,
    filter: Filter,
    /// Read from a pipe, not captured here.
    pub pipe: Option<Piped>,
}

/// A capture coming through a pipe: its clock is the packets' own, run on
/// by the wall clock since the last one came (a remote host's clock, or an
/// old capture `cat` into it, counts its TIME-WAITs down the same way).
#[derive(Clone, Debug, Default)]
pub struct Piped {
    /// The input ended: cleanly (None), or why it stopped early.
    pub ended: Option<Option<String>>,
    /// (the latest packet's time, the wall clock when it came).
    last: Option<(Timestamp, Timestamp)>,
    wall: Timestamp,
}

/// A large capture's connections: kept as where their records are, and
/// those on the screen rebuilt (app state: the rebuilding reads the file
/// through `analysis::kept`).
pub struct Rebuilt {
    pub capture: KeptCapture,
    /// By id: the list's rows in view and the selected connection.
    cache: HashMap<usize, Connection>,
}

/// The rows of a windowed ladder around row `at` of `n`: a quarter of the
/// window before it, the rest after, and at least twice `view` rows.
fn window_around(at: usize, n: usize, rows: usize, view: usize) -> std::ops::Range<usize> {
    let rows = rows.max(2 * view).max(1);
    let start = at.saturating_sub(rows / 4).min(n.saturating_sub(rows));
    start..(start + rows).min(n)
}

/// How long a status message stays.
const MESSAGE_FOR: Span = Span::from_secs(6);

/// Rebuilt connections held at most, beyond those on the screen.
const REBUILT_HELD: usize = 512;

impl Replay {
    /// A large capture's connections, each rebuilt when shown.
    fn kept(capture: Box<KeptCapture>, start_at: ReplayStart) -> Replay {
        let mut capture = *capture;
        let times = std::mem::take(&mut capture.times);
        let (end, horizon) = (capture.end, capture.horizon);
        let rebuilt = Rebuilt {
            capture,
            cache: HashMap::new(),
        };
        Replay::of(
            Vec::new(),
            Some(Box::new(rebuilt)),
            times,
            end,
            horizon,
            start_at,
        )
    }

    /// How many connections it has.
    fn total(&self) -> usize {
        match &self.rebuilt {
            Some(b) => b.capture.kept.len(),
            None => self.conns.len(),
        }
    }

    /// When connection `id` began.
    fn first_ts(&self, id: usize) -> Option<Timestamp> {
        match &self.rebuilt {
            Some(b) => b.capture.kept.get(id).map(|k| k.first_ts),
            None => self.conns.get(id).map(|c| c.first_ts),
        }
    }

    /// Connection `id`, when it is held (rebuilt ones only while shown).
    fn get(&self, id: usize) -> Option<&Connection> {
        match &self.rebuilt {
            Some(b) => b.cache.get(&id),
            None => self.conns.get(id),
        }
    }

    /// Rebuilds the connections among `ids` not held yet, letting go of
    /// others once many are held. The first failure is returned.
    fn hold(&mut self, ids: &[usize]) -> Option<String> {
        let b = self.rebuilt.as_mut()?;
        let mut failed = None;
        for &id in ids {
            if b.cache.contains_key(&id) {
                continue;
            }
            match b.capture.rebuild(id) {
                Ok(c) => {
                    b.cache.insert(id, c);
                }
                Err(e) => {
                    failed.get_or_insert(e.to_string());
                }
            }
        }
        if b.cache.len() > REBUILT_HELD + ids.len() {
            b.cache.retain(|id, _| ids.contains(id));
        }
        failed
    }

    fn new(conns: Vec<Connection>, start_at: ReplayStart) -> Replay {
        let mut times: Vec<Timestamp> = conns
            .iter()
            .flat_map(|c| c.segments.iter().map(|s| s.ts))
            .collect();
        times.sort();
        // An ICMP error can come after the last segment (a SYN answered by
        // host unreachable): the end is where it is shown.
        let end = conns
            .iter()
            .flat_map(|c| c.icmp.iter().map(|i| i.ts))
            .chain(times.last().copied())
            .max()
            .unwrap_or_default();
        let horizon = conns
            .iter()
            .flat_map(|c| c.time_wait.iter().flatten())
            .map(|tw| tw.expires)
            .max()
            .unwrap_or(end)
            .max(end);
        let times = crate::time::Times::from_sorted(times);
        Replay::of(conns, None, times, end, horizon, start_at)
    }

    /// The playback over `times`, held as `conns` or `rebuilt`.
    fn of(
        conns: Vec<Connection>,
        rebuilt: Option<Box<Rebuilt>>,
        times: crate::time::Times,
        end: Timestamp,
        horizon: Timestamp,
        start_at: ReplayStart,
    ) -> Replay {
        let start = times.first().unwrap_or_default();
        Replay {
            conns,
            rebuilt,
            times,
            start,
            end,
            horizon,
            clock: match start_at {
                ReplayStart::Step | ReplayStart::Play => start,
                ReplayStart::End => end,
            },
            playing: start_at == ReplayStart::Play,
            speed: 1.0,
        }
    }
}

pub enum Source {
    Replay(Replay),
    Live(Box<Live>),
}

/// The ladder model of the selected connection, rebuilt only when the
/// connection changes.
pub struct LadderCache {
    pub id: usize,
    pub segments: usize,
    pub marks: usize,
    pub icmp: usize,
    /// How many of the kernel's state changes it was built with, and how
    /// far they were complete.
    pub kernel: usize,
    pub kernel_until: Option<Timestamp>,
    pub ladder: Ladder,
    /// Some(rows) when the ladder holds only these rows of the connection
    /// (one of more than `App::window_above` segments, with no ICMP error
    /// or call, so that its lines are its rows); None: all of them.
    pub window: Option<std::ops::Range<usize>>,
}

/// Rows a windowed ladder holds.
const WINDOW: usize = 4096;

/// Connections longer than this get a windowed ladder.
pub const WINDOW_ABOVE: usize = 50_000;

impl LadderCache {
    /// The ladder's lines in all (the connection's segments, for a window).
    pub fn line_count(&self) -> usize {
        match &self.window {
            Some(_) => self.segments,
            None => self.ladder.line_count(),
        }
    }

    /// What line `n` of the ladder is, as a place in the cached ladder
    /// (a windowed one has its lines in the window only, and they are its
    /// rows).
    pub fn line_at(&self, n: usize) -> Option<Line> {
        match &self.window {
            Some(w) => w.contains(&n).then(|| Line::Segment(n - w.start)),
            None => self.ladder.line_at(n),
        }
    }

    /// How many of its calls have happened by `clock` (their `at` is in
    /// ladder order, so they form a prefix).
    fn shown_calls(&self, clock: Option<Timestamp>) -> usize {
        match clock {
            Some(t) => self.ladder.calls.partition_point(|c| c.at <= t),
            None => self.ladder.calls.len(),
        }
    }
}

pub struct App {
    pub source: Source,
    /// What the status line names: a file or an interface and filter.
    pub source_name: String,
    /// The capture the connections' packets can be copied from (`w`).
    pub capture_path: Option<std::path::PathBuf>,
    pub theme: Theme,
    pub msl: Span,
    pub time_mode: TimeMode,
    pub focus: Focus,
    /// Connection ids that match the filter, in id order.
    pub filtered: Vec<usize>,
    filtered_upto: usize,
    pub filter: String,
    pub editing_filter: bool,
    /// Before each character typed into the filter: the matches and how
    /// far they were looked for, so Backspace is as quick as typing.
    filter_history: Vec<(Vec<usize>, usize)>,
    /// What the filter searches.
    search: crate::tui::search::SearchText,
    /// The selected connection's id.
    pub selected: Option<usize>,
    pub list_offset: usize,
    /// The selected row of the ladder (a segment index), or the segment
    /// before the selected ICMP error.
    pub row: usize,
    /// The selected ICMP error (index in the connection's `icmp`), when the
    /// cursor is on one.
    pub icmp: Option<usize>,
    /// The selected socket call (index in the ladder's `calls`), when the
    /// cursor is on one.
    pub call: Option<usize>,
    /// The programs' socket calls per connection id (`demo`); empty for a
    /// capture alone.
    pub calls: Vec<Vec<Call>>,
    /// The kernel's own state changes of the sockets on this host (`demo`,
    /// `trace`, `live` as root), every connection's; empty without them.
    pub kernel: KernelRecord,
    /// Live: how far the kernel's record is complete (its last read).
    pub kernel_until: Option<Timestamp>,
    /// First line of the ladder in view, counting ICMP errors and calls as
    /// lines.
    pub ladder_offset: usize,
    /// Follow the newest segment (live) or the playback (replay).
    pub follow: bool,
    pub help: bool,
    /// Packets came since the filter last looked.
    captured: bool,
    /// The message shown and when it was first (by the ticks' wall clock).
    message_since: Option<(String, Timestamp)>,
    /// The detail pane shows the segment's payload in hex and text (`p`)
    /// instead of its fields.
    pub payload_view: bool,
    pub quit: bool,
    pub message: Option<String>,
    pub cache: Option<LadderCache>,
    pub size: Rect,
    /// Taken by the terminal loop.
    pub request: Option<Request>,
    /// Connections with more segments get a windowed ladder
    /// (`WINDOW_ABOVE`) of this many rows (`WINDOW`); tests set both low.
    pub window_above: usize,
    pub window_rows: usize,
    /// (connection, row, its whole header) read again from a kept
    /// capture's file for the detail pane.
    read_back: Option<(usize, usize, Details)>,
    /// `replay` while its file is read in the background.
    pub loading: Option<LoadState>,
    /// How the replay starts once loaded.
    start_at: ReplayStart,
    /// Why the file could not be read (the UI then quits).
    pub load_error: Option<String>,
    /// What reading the file warned about, for after the UI closes.
    pub load_warnings: Vec<String>,
}

impl App {
    /// Replays connections read from a file, starting as `start` says.
    pub fn replay(
        conns: Vec<Connection>,
        name: impl Into<String>,
        theme: ThemeName,
        msl: Span,
        start_at: ReplayStart,
    ) -> App {
        let replay = Replay::new(conns, start_at);
        let mut app = App::new(Source::Replay(replay), name.into(), theme, msl);
        app.start_at = start_at;
        app.selected = app.filtered.first().copied();
        app.refresh();
        app
    }

    /// A replay whose file is still being read: the UI opens at once with
    /// the progress (`Event::Loading`) and fills in on `Event::Loaded`.
    pub fn loading(
        name: impl Into<String>,
        theme: ThemeName,
        msl: Span,
        start_at: ReplayStart,
    ) -> App {
        let mut app = App::replay(Vec::new(), name, theme, msl, start_at);
        app.loading = Some(LoadState::default());
        app
    }

    fn loaded(&mut self, result: Result<Loaded, String>) {
        self.loading = None;
        match result {
            Ok(l) => {
                self.source = Source::Replay(match l.conns {
                    ForReplay::Kept(k) => Replay::kept(k, self.start_at),
                    ForReplay::Whole(conns) => Replay::new(conns, self.start_at),
                });
                // A filter typed while it loaded applies to what came.
                self.search = Default::default();
                self.filter_history.clear();
                self.refilter();
                self.selected = self.filtered.first().copied();
                self.cache = None;
                self.message = l.warnings.first().cloned();
                self.load_warnings = l.warnings;
                self.refresh();
            }
            Err(e) => {
                self.load_error = Some(e);
                self.quit = true;
            }
        }
    }

    /// Live capture with the tracker's settings (MSL, retry limits);
    /// packets arrive as `Event::Capture`.
    pub fn live(
        name: impl Into<String>,
        theme: ThemeName,
        track: TrackConfig,
        now: Timestamp,
        max_connections: usize,
    ) -> App {
        let cfg = TrackConfig {
            keep_segments: true,
            stream: false,
            ..track
        };
        let live = Live {
            spooled: None,
            decoder: Decoder::default(),
            tracker: Tracker::new(cfg),
            finished: Vec::new(),
            locs: Vec::new(),
            max: max_connections.max(10),
            folded: 0,
            folded_totals: crate::stats::Totals::default(),
            held: 0,
            oldest: 0,
            folded_now: false,
            report: ReadReport::default(),
            now,
            received: 0,
            dropped: 0,
            if_dropped: 0,
            rate: VecDeque::new(),
            error: None,
            filter: Filter::default(),
            pipe: None,
        };
        App::new(Source::Live(Box::new(live)), name.into(), theme, track.msl)
    }

    /// A capture read from a pipe as it arrives, shown as `live` shows
    /// one; its records come as `Event::Capture` too.
    pub fn piped(
        name: impl Into<String>,
        theme: ThemeName,
        track: TrackConfig,
        now: Timestamp,
        max_connections: usize,
    ) -> App {
        let mut app = App::live(name, theme, track, now, max_connections);
        if let Source::Live(l) = &mut app.source {
            l.pipe = Some(Piped {
                wall: now,
                ..Piped::default()
            });
        }
        app
    }

    fn new(source: Source, source_name: String, theme: ThemeName, msl: Span) -> App {
        let mut app = App {
            source,
            source_name,
            capture_path: None,
            theme: Theme::new(theme),
            msl,
            time_mode: TimeMode::Relative,
            focus: Focus::List,
            filtered: Vec::new(),
            filtered_upto: 0,
            filter: String::new(),
            editing_filter: false,
            filter_history: Vec::new(),
            search: Default::default(),
            selected: None,
            list_offset: 0,
            row: 0,
            icmp: None,
            call: None,
            calls: Vec::new(),
            kernel: KernelRecord::default(),
            kernel_until: None,
            ladder_offset: 0,
            follow: true,
            help: false,
            payload_view: false,
            message_since: None,
            captured: false,
            quit: false,
            message: None,
            cache: None,
            window_above: WINDOW_ABOVE,
            window_rows: WINDOW,
            read_back: None,
            size: Rect::new(0, 0, 120, 40),
            request: None,
            loading: None,
            start_at: ReplayStart::Step,
            load_error: None,
            load_warnings: Vec::new(),
        };
        app.refilter();
        app
    }

    /// Drawn in the theme's colours, or (`false`: `--color never`,
    /// NO_COLOR) in the terminal's own with bold and reverse video only.
    pub fn with_colour(mut self, colour: bool) -> App {
        if !colour {
            self.theme = self.theme.without_colour();
        }
        self
    }

    /// The programs' socket calls, per connection id, drawn on the ladders.
    pub fn with_calls(mut self, calls: Vec<Vec<Call>>) -> App {
        self.calls = calls;
        self.cache = None;
        // A call after the last segment (the server's close) is part of
        // the replay: the end reaches it.
        if let Source::Replay(r) = &mut self.source {
            // A replay opened at the end stays at the end.
            let at_end = r.clock >= r.end;
            for c in &r.conns {
                let Some(v) = self.calls.get(c.id).filter(|v| !v.is_empty()) else {
                    continue;
                };
                let l = Ladder::build(c, self.msl, LabelStyle::default());
                let p = Placement::estimate(&l);
                if let Some(last) = l.with_calls(v, &p).calls.last() {
                    r.end = r.end.max(last.at);
                    r.horizon = r.horizon.max(r.end);
                }
            }
            if at_end {
                r.clock = r.end;
            }
        }
        self.refresh();
        self
    }

    /// Live: the file the capture goes to, which `W` copies and `w` copies
    /// connections from.
    pub fn with_spool(mut self, spooled: Option<Spooled>) -> App {
        if let Source::Live(l) = &mut self.source {
            self.capture_path = spooled.as_ref().map(|s| s.path.clone());
            l.spooled = spooled;
        }
        self
    }

    /// Keeps only the connections the port filter takes (a pipe's records
    /// come unfiltered; a live capture is filtered in the kernel).
    pub fn with_port_filter(mut self, filter: Filter) -> App {
        if let Source::Live(l) = &mut self.source {
            l.filter = filter;
        }
        self
    }

    /// Why a piped capture stopped early, if it did.
    pub fn pipe_ended(&self) -> Option<String> {
        match &self.source {
            Source::Live(l) => l.pipe.as_ref()?.ended.clone()?,
            Source::Replay(_) => None,
        }
    }

    /// Replay: the capture file the connections came from, which `w`
    /// copies their packets from.
    pub fn with_capture_path(mut self, path: std::path::PathBuf) -> App {
        self.capture_path = Some(path);
        self
    }

    /// The frame numbers of connection `id`'s records, sorted.
    fn frames_of(&self, id: usize) -> Vec<u64> {
        if let Some(c) = self.connection(id) {
            return c.frames();
        }
        match &self.source {
            Source::Replay(Replay {
                rebuilt: Some(b), ..
            }) => b.capture.frames(id),
            _ => Vec::new(),
        }
    }

    /// `w`: the selected connection's packets, or with a filter typed,
    /// every matching connection's.
    fn save_connections(&mut self) {
        if self.capture_path.is_none() {
            self.message =
                Some("these connections were not read from a file: nothing to copy".into());
            return;
        }
        let (ids, what): (Vec<usize>, String) = if self.filter.is_empty() {
            match self.selected {
                Some(id) => (vec![id], format!("connection-{}", id + 1)),
                None => {
                    self.message = Some("no connection to save".into());
                    return;
                }
            }
        } else {
            let ids = self.filtered.clone();
            let what = format!("{}-connections", ids.len());
            (ids, what)
        };
        if ids.is_empty() {
            self.message = Some("no connection matches the filter: nothing to save".into());
            return;
        }
        let mut frames: Vec<u64> = ids.iter().flat_map(|&id| self.frames_of(id)).collect();
        frames.sort_unstable();
        frames.dedup();
        self.request = Some(Request::SaveConnections { frames, what });
    }

    /// The file the live capture goes to, if any.
    pub fn spooled(&self) -> Option<&Spooled> {
        match &self.source {
            Source::Live(l) => l.spooled.as_ref(),
            Source::Replay(_) => None,
        }
    }

    /// The kernel's own state changes, drawn beside the inferred states;
    /// why there are none is said once in the status line.
    pub fn with_kernel(mut self, kernel: Result<KernelRecord, String>) -> App {
        match kernel {
            Ok(record) => self.kernel = record,
            Err(why) => self.say_no_kernel(&why),
        }
        self.cache = None;
        self.refresh();
        self
    }

    fn say_no_kernel(&mut self, why: &str) {
        self.message = Some(format!("no kernel states: {why}"));
    }

    /// The kernel's record of `c`'s endpoints compared with the inference,
    /// when there is one. Live, as far as both the record and the capture
    /// are complete: the record to its last read, the capture (which hands
    /// packets over in batches) to a little before.
    fn kernel_view(&self, c: &Connection) -> Option<crate::ladder::KernelView> {
        if self.kernel.is_empty() {
            return None;
        }
        let k = self.kernel.states_until(c, self.next_on_tuple(c))?;
        let horizon = self.kernel_until.map(|t| t - Span::from_nanos(200_000_000));
        Some(crate::ladder::kernel::compare(c, &k, horizon))
    }

    /// The next connection on `c`'s four-tuple, when there is one: where
    /// its sockets' record ends.
    fn next_on_tuple(&self, c: &Connection) -> Option<Timestamp> {
        (c.id + 1..self.total())
            .filter_map(|id| self.connection(id))
            .filter(|o| crate::track::kernel::same_tuple_later(c, o))
            .map(|o| o.first_ts)
            .min()
    }

    // ----- what the views read -----

    pub fn total(&self) -> usize {
        match &self.source {
            Source::Replay(r) => r.total(),
            Source::Live(l) => l.locs.len(),
        }
    }

    pub fn connection(&self, id: usize) -> Option<&Connection> {
        match &self.source {
            Source::Replay(r) => r.get(id),
            Source::Live(l) => match l.locs.get(id)? {
                Loc::Active(key) => l.tracker.get(key),
                Loc::Finished(i) => l.finished.get(*i).and_then(Option::as_ref),
                Loc::Folded => None,
            },
        }
    }

    /// The clock that decides what is shown and drives timers: playback in
    /// replay, the wall clock live.
    pub fn clock(&self) -> Timestamp {
        match &self.source {
            Source::Replay(r) => r.clock,
            Source::Live(l) => l.now,
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self.source, Source::Live(_))
    }

    /// How many connections the filter takes (started by the clock or
    /// not).
    pub fn filtered_count(&self) -> usize {
        self.filtered.len()
    }

    /// Connections shown in the list: filtered, and started by the clock.
    pub fn visible_ids(&self) -> &[usize] {
        match &self.source {
            Source::Replay(r) => {
                let n = self
                    .filtered
                    .partition_point(|&id| r.first_ts(id).is_some_and(|t| t <= r.clock));
                &self.filtered[..n]
            }
            Source::Live(_) => &self.filtered,
        }
    }

    /// How many of a connection's segments have happened by the clock.
    pub fn shown_segments(&self, c: &Connection) -> usize {
        match &self.source {
            Source::Replay(r) => c.segments.partition_point(|s| s.ts <= r.clock),
            Source::Live(_) => c.segments.len(),
        }
    }

    /// How many of a connection's ICMP errors have happened by the clock.
    pub fn shown_icmp(&self, c: &Connection) -> usize {
        match &self.source {
            Source::Replay(r) => c.icmp.partition_point(|i| i.ts <= r.clock),
            Source::Live(_) => c.icmp.len(),
        }
    }

    /// How many ladder lines (segments and ICMP errors, in capture order)
    /// are shown: both are revealed by the clock, so they form a prefix.
    /// The selected connection's verdict as the ladder pane shows it,
    /// wrapped to `width`: in full once its last line has been played,
    /// before that only how far the playback is (a replay must not give
    /// the ending away).
    pub fn verdict_lines(&self, width: u16) -> Vec<String> {
        use super::view::layout::{VERDICT_LINES, wrap};
        let (Some(cache), Some(c)) = (&self.cache, self.selected_connection()) else {
            return Vec::new();
        };
        let shown = self.shown_lines(c);
        let text = if self.is_live() || shown >= cache.line_count() {
            cache.ladder.verdict.clone()
        } else {
            format!(
                "{shown} of {} played · the verdict comes after the last",
                cache.line_count()
            )
        };
        let mut lines = wrap(&text, usize::from(width.max(20)));
        if lines.len() > VERDICT_LINES {
            lines.truncate(VERDICT_LINES);
            if let Some(last) = lines.last_mut() {
                last.push_str(" …");
            }
        }
        lines
    }

    /// Rows of the ladder pane above its first line.
    pub fn ladder_header(&self) -> u16 {
        let inner_w = self.areas().ladder.width.saturating_sub(2);
        super::view::layout::LADDER_HEADER + self.verdict_lines(inner_w).len() as u16
    }

    pub fn shown_lines(&self, c: &Connection) -> usize {
        self.shown_segments(c) + self.shown_icmp(c) + self.shown_calls(c)
    }

    /// How many of a connection's calls are shown (those of the selected
    /// connection: the ladder that placed them is the cached one).
    pub fn shown_calls(&self, c: &Connection) -> usize {
        let clock = match &self.source {
            Source::Replay(r) => Some(r.clock),
            Source::Live(_) => None,
        };
        match &self.cache {
            Some(k) if k.id == c.id => k.shown_calls(clock),
            _ => 0,
        }
    }

    /// The cursor's position among the ladder's lines.
    pub fn cursor_line(&self) -> usize {
        let Some(cache) = &self.cache else {
            return 0;
        };
        if cache.window.is_some() {
            return self.row.min(cache.segments);
        }
        match (self.call, self.icmp) {
            (Some(k), _) => cache.ladder.line_of_call(k),
            (None, Some(j)) => cache.ladder.line_of_icmp(j),
            (None, None) => cache.ladder.line_of_row(self.row),
        }
    }

    /// Puts the cursor on line `n` of the ladder.
    fn set_cursor_line(&mut self, n: usize) {
        let Some(cache) = &self.cache else {
            return;
        };
        if cache.window.is_some() {
            // Its lines are its rows.
            self.row = n.min(cache.segments.saturating_sub(1));
            self.icmp = None;
            self.call = None;
            return;
        }
        match cache.ladder.line_at(n) {
            Some(Line::Segment(p)) => {
                self.row = cache.ladder.rows[p].index;
                self.icmp = None;
                self.call = None;
            }
            Some(Line::Icmp(j)) => {
                self.row = cache.ladder.icmp[j].after_row.unwrap_or(0);
                self.icmp = Some(j);
                self.call = None;
            }
            Some(Line::Call(k)) => {
                self.row = cache.ladder.calls[k].after_row.unwrap_or(0);
                self.icmp = None;
                self.call = Some(k);
            }
            None => {
                self.row = 0;
                self.icmp = None;
                self.call = None;
            }
        }
    }

    /// A side's state at the clock, and the TIME-WAIT time left if it is
    /// waiting.
    pub fn state_at(&self, c: &Connection, side: Side) -> (State, Option<Span>) {
        let clock = self.clock();
        let shown = self.shown_segments(c);
        let shown_icmp = self.shown_icmp(c);
        let mut state = c.initial[side.index()];
        for m in c.marks.iter().filter(|m| m.side == side) {
            // An ICMP error's change happens when the error is shown.
            let icmp = (m.cause == Cause::Icmp)
                .then(|| {
                    c.icmp
                        .iter()
                        .position(|i| i.closed && i.to == side && i.row == m.row)
                })
                .flatten();
            let happened = if let Some(j) = icmp {
                j < shown_icmp
            } else if m.row < c.segments.len() {
                m.row < shown
            } else {
                m.time <= clock
            };
            if happened {
                state = m.to;
            }
        }
        if state == State::TimeWait
            && let Some(tw) = c.time_wait[side.index()]
        {
            let left = tw.expires - clock;
            if left.as_nanos() <= 0 {
                return (State::Closed, None);
            }
            return (state, Some(left));
        }
        (state, None)
    }

    pub fn selected_connection(&self) -> Option<&Connection> {
        self.selected.and_then(|id| self.connection(id))
    }

    /// Index of the selected connection in the visible list.
    pub fn list_cursor(&self) -> Option<usize> {
        let id = self.selected?;
        self.visible_ids().iter().position(|&v| v == id)
    }

    pub fn areas(&self) -> Areas {
        Areas::new(self.size)
    }

    /// Playback position: segments shown of all, for the status line.
    pub fn position(&self) -> (usize, usize) {
        match &self.source {
            Source::Replay(r) => (r.times.count_until(r.clock), r.times.len()),
            Source::Live(l) => (
                l.report.tcp_segments as usize,
                l.report.tcp_segments as usize,
            ),
        }
    }

    /// Packets per second over the last few seconds (live).
    pub fn packet_rate(&self) -> f64 {
        let Source::Live(l) = &self.source else {
            return 0.0;
        };
        match (l.rate.front(), l.rate.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) as f64 / (b.0 - a.0).as_secs_f64(),
            _ => 0.0,
        }
    }

    // ----- update -----

    pub fn update(&mut self, ev: Event) {
        match ev {
            Event::Key(k) if k.kind != KeyEventKind::Release => self.key(k),
            Event::Key(_) => {}
            Event::Mouse(m) => self.mouse(m),
            Event::Resize(w, h) => self.size = Rect::new(0, 0, w, h),
            Event::Tick { now, elapsed } => self.tick(now, elapsed),
            Event::Capture(msg) => self.capture(msg),
            Event::Loading { progress, elapsed } => {
                if let Some(l) = &mut self.loading {
                    *l = LoadState { progress, elapsed };
                }
            }
            Event::Loaded(result) => self.loaded(result),
            Event::Saved(Ok(paths)) => self.message = Some(format!("saved {paths}")),
            Event::Saved(Err(e)) => self.message = Some(format!("not saved: {e}")),
        }
        self.refresh();
    }

    fn key(&mut self, k: KeyEvent) {
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(k.code, KeyCode::Char('c')) {
            self.quit = true;
            return;
        }
        if self.editing_filter {
            match k.code {
                KeyCode::Enter => self.editing_filter = false,
                KeyCode::Esc => {
                    self.editing_filter = false;
                    self.filter.clear();
                    self.filter_history.clear();
                    self.refilter();
                }
                KeyCode::Backspace => {
                    self.filter.pop();
                    // Back to the set before the last character, and what
                    // arrived since looked at with the shorter filter.
                    match self.filter_history.pop() {
                        Some((set, upto)) => {
                            self.filtered = self.held_only(set);
                            self.filtered_upto = upto;
                            self.extend_filter();
                            self.after_filter();
                        }
                        None => self.refilter(),
                    }
                }
                KeyCode::Char(c) => {
                    self.filter_history
                        .push((self.filtered.clone(), self.filtered_upto));
                    let before = self.filter.clone();
                    self.filter.push(c);
                    self.narrow_filter(&before);
                }
                _ => {}
            }
            return;
        }
        if self.help {
            // Any key closes the help; q still quits.
            self.help = false;
            if k.code == KeyCode::Char('q') {
                self.quit = true;
            }
            return;
        }
        let page = usize::from(self.page_height()).max(1);
        match k.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Esc => self.message = None,
            KeyCode::Char('/') => {
                self.editing_filter = true;
                self.filter.clear();
                self.filter_history.clear();
                self.refilter();
            }
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::List => Focus::Ladder,
                    Focus::Ladder => Focus::List,
                }
            }
            KeyCode::Enter => self.focus = Focus::Ladder,
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-(page as isize)),
            KeyCode::PageDown => self.move_by(page as isize),
            KeyCode::Char(' ') => self.toggle_play(),
            KeyCode::Right | KeyCode::Char('l') => self.step(true),
            KeyCode::Left | KeyCode::Char('h') => self.step(false),
            KeyCode::Char('+') | KeyCode::Char('=') => self.change_speed(true),
            KeyCode::Char('-') | KeyCode::Char('_') => self.change_speed(false),
            KeyCode::Home | KeyCode::Char('g') => self.jump(false),
            KeyCode::End | KeyCode::Char('G') => self.jump(true),
            KeyCode::Char('f') => {
                self.follow = true;
                self.message = Some("following".into());
            }
            KeyCode::Char('t') => self.time_mode = self.time_mode.next(),
            KeyCode::Char('p') => self.payload_view = !self.payload_view,
            KeyCode::Char('s') => self.request = Some(Request::Screenshot),
            KeyCode::Char('w') => self.save_connections(),
            KeyCode::Char('W') => match &self.source {
                Source::Live(l) if l.spooled.is_some() => {
                    self.request = Some(Request::SaveCapture);
                }
                Source::Live(_) => self.message = Some("this capture is not being written".into()),
                Source::Replay(_) => {
                    self.message = Some(format!(
                        "W saves a live capture whole; this one is already a file: {} \
                         (w saves the selected connection)",
                        self.source_name
                    ));
                }
            },
            KeyCode::Char('e') => match self.selected_connection() {
                // A picture of a bulk transfer would be metres long and
                // take minutes and gigabytes to draw.
                Some(c) if c.segments.len() > crate::export::PICTURE_ROWS => {
                    self.message = Some(format!(
                        "connection {} has {} segments, too many for one picture: \
                         tcpladder export FILE --conn {} --from A --to B -o part.svg draws a part",
                        c.id + 1,
                        c.segments.len(),
                        c.id + 1
                    ));
                }
                Some(_) => self.request = Some(Request::Export),
                None => self.message = Some("no connection to export".into()),
            },
            _ => {}
        }
    }

    fn mouse(&mut self, m: MouseEvent) {
        let a = self.areas();
        let inside = |r: Rect| {
            m.column >= r.x && m.column < r.x + r.width && m.row >= r.y && m.row < r.y + r.height
        };
        let target = if inside(a.list) {
            Some(Focus::List)
        } else if inside(a.ladder) || inside(a.detail) {
            Some(Focus::Ladder)
        } else {
            None
        };
        let delta = match m.kind {
            MouseEventKind::ScrollUp => -3,
            MouseEventKind::ScrollDown => 3,
            _ => return,
        };
        if let Some(f) = target {
            let keep = self.focus;
            self.focus = f;
            self.move_by(delta);
            if f == Focus::List {
                self.focus = keep;
            }
        }
    }

    fn page_height(&self) -> u16 {
        let a = self.areas();
        match self.focus {
            Focus::List => a.list.height.saturating_sub(2),
            Focus::Ladder => a.ladder.height.saturating_sub(2 + self.ladder_header()),
        }
    }

    /// Moves the cursor of the focused pane.
    fn move_by(&mut self, delta: isize) {
        match self.focus {
            Focus::List => {
                let ids = self.visible_ids();
                if ids.is_empty() {
                    return;
                }
                let cur = self.list_cursor().unwrap_or(0) as isize;
                let next = (cur + delta).clamp(0, ids.len() as isize - 1) as usize;
                let id = ids[next];
                // Live, picking another than the newest stops following;
                // back down to the newest follows again.
                let newest = next + 1 == ids.len();
                if self.selected != Some(id) {
                    self.select(Some(id));
                    self.follow = !self.is_live() || newest;
                }
            }
            Focus::Ladder => {
                let shown = self
                    .selected_connection()
                    .map_or(0, |c| self.shown_lines(c));
                if shown == 0 {
                    return;
                }
                let next =
                    (self.cursor_line() as isize + delta).clamp(0, shown as isize - 1) as usize;
                self.set_cursor_line(next);
                // Scrolling away from the newest line stops following.
                self.follow = next + 1 == shown;
            }
        }
    }

    /// Makes `id` the selected connection, its ladder from the top.
    fn select(&mut self, id: Option<usize>) {
        self.selected = id;
        self.row = 0;
        self.icmp = None;
        self.call = None;
        self.ladder_offset = 0;
    }

    fn toggle_play(&mut self) {
        if let Source::Replay(r) = &mut self.source {
            if !r.playing && r.clock >= r.horizon {
                r.clock = r.start;
            }
            r.playing = !r.playing;
            self.follow = true;
        }
    }

    fn change_speed(&mut self, faster: bool) {
        if let Source::Replay(r) = &mut self.source {
            let i = SPEEDS.iter().position(|&s| s >= r.speed).unwrap_or(3);
            let j = if faster {
                (i + 1).min(SPEEDS.len() - 1)
            } else {
                i.saturating_sub(1)
            };
            r.speed = SPEEDS[j];
        }
    }

    /// One segment forward or back: within the selected connection when
    /// there is one, otherwise in the whole capture. Pauses playback.
    fn step(&mut self, forward: bool) {
        let selected = self.selected;
        // The selected connection's calls are steps too.
        let call_times: Vec<Timestamp> = match &self.cache {
            Some(k) if Some(k.id) == selected => k.ladder.calls.iter().map(|c| c.at).collect(),
            _ => Vec::new(),
        };
        let Source::Replay(r) = &mut self.source else {
            return;
        };
        r.playing = false;
        let own = selected
            .and_then(|id| r.get(id))
            .filter(|c| !c.segments.is_empty());
        let target = match own {
            // Its ICMP errors are steps too.
            Some(c) if !c.icmp.is_empty() || !call_times.is_empty() => {
                let mut times: Vec<Timestamp> = c
                    .segments
                    .iter()
                    .map(|s| s.ts)
                    .chain(c.icmp.iter().map(|i| i.ts))
                    .chain(call_times.iter().copied())
                    .collect();
                times.sort();
                neighbour(times.len(), |i| times[i], r.clock, forward)
            }
            Some(c) => neighbour(c.segments.len(), |i| c.segments[i].ts, r.clock, forward),
            None => neighbour(
                r.times.len(),
                |i| r.times.get(i).unwrap_or_default(),
                r.clock,
                forward,
            ),
        };
        if let Some(t) = target {
            r.clock = t;
            self.follow = true;
        }
    }

    fn jump(&mut self, to_end: bool) {
        match &mut self.source {
            Source::Replay(r) => {
                r.playing = false;
                r.clock = if to_end { r.end } else { r.start };
                self.follow = true;
            }
            Source::Live(_) => {
                self.follow = to_end;
                if !to_end {
                    self.row = 0;
                    self.icmp = None;
                    self.call = None;
                }
            }
        }
    }

    fn tick(&mut self, now: Timestamp, elapsed: Span) {
        // A message clears itself a few seconds (of the wall clock) after
        // it was first shown.
        match (&self.message, &self.message_since) {
            (None, _) => self.message_since = None,
            (Some(m), Some((seen, at))) if m == seen => {
                if now - *at >= MESSAGE_FOR {
                    self.message = None;
                    self.message_since = None;
                }
            }
            (Some(m), _) => self.message_since = Some((m.clone(), now)),
        }
        match &mut self.source {
            Source::Replay(r) => {
                if r.playing {
                    let advance = Span::from_secs_f64(elapsed.as_secs_f64() * r.speed);
                    r.clock = r.clock + advance;
                    // Past the last segment it keeps running so TIME-WAIT
                    // counts down to its expiry.
                    if r.clock >= r.horizon {
                        r.clock = r.horizon;
                        r.playing = false;
                    }
                }
            }
            Source::Live(l) => {
                l.now = match &mut l.pipe {
                    Some(p) => {
                        p.wall = now;
                        p.last.map_or(now, |(ts, at)| ts + (now - at))
                    }
                    None => now,
                };
                l.rate.push_back((now, l.report.packets));
                while l
                    .rate
                    .front()
                    .is_some_and(|(t, _)| (now - *t) > Span::from_secs(3))
                {
                    l.rate.pop_front();
                }
            }
        }
    }

    fn capture(&mut self, msg: LiveMsg) {
        self.captured = true;
        let Source::Live(l) = &mut self.source else {
            return;
        };
        match msg {
            LiveMsg::Packets(batch) => {
                for p in &batch {
                    l.ingest(p);
                }
                if let Some(pipe) = &mut l.pipe
                    && let Some(latest) = batch.iter().map(|p| p.ts).max()
                {
                    let at = pipe.wall;
                    pipe.last = Some(match pipe.last {
                        Some((ts, since)) if ts >= latest => (ts, since),
                        _ => (latest, at),
                    });
                    l.now = latest.max(l.now);
                }
                if std::mem::take(&mut l.folded_now) {
                    self.drop_folded();
                }
            }
            LiveMsg::Stats {
                received,
                dropped,
                if_dropped,
            } => {
                l.received = received;
                l.dropped = dropped;
                l.if_dropped = if_dropped;
            }
            LiveMsg::Error(e) => l.error = Some(e),
            LiveMsg::Kernel { events, until } => {
                self.kernel.extend(events);
                self.kernel_until = Some(until);
            }
            LiveMsg::KernelUnavailable(why) => self.say_no_kernel(&why),
            LiveMsg::Ended(why) => {
                if let Some(p) = &mut l.pipe {
                    p.ended = Some(why);
                }
            }
        }
        if self.selected.is_none() {
            self.selected = self.filtered.first().copied();
        }
    }

    /// Keeps derived state consistent: the filter over new connections, the
    /// ladder cache, cursor and scroll.
    fn refresh(&mut self) {
        self.extend_filter();
        if self.selected.is_none() {
            self.selected = self.visible_ids().first().copied();
        }
        // Live and following: the newest connection is the one shown.
        if self.is_live()
            && self.follow
            && let Some(&newest) = self.visible_ids().last()
            && self.selected != Some(newest)
        {
            self.select(Some(newest));
        }
        // Keep the list cursor in view.
        let list_h = usize::from(self.areas().list.height.saturating_sub(3)).max(1);
        if let Some(cur) = self.list_cursor() {
            if cur < self.list_offset {
                self.list_offset = cur;
            } else if cur >= self.list_offset + list_h {
                self.list_offset = cur + 1 - list_h;
            }
        }
        self.rebuild_in_view(list_h);
        let Some(id) = self.selected else {
            self.cache = None;
            return;
        };
        let Some(c) = self.connection(id) else {
            self.cache = None;
            return;
        };
        let stale = match &self.cache {
            Some(k) => {
                k.id != id
                    || k.segments != c.segments.len()
                    || k.marks != c.marks.len()
                    || k.icmp != c.icmp.len()
                    || k.kernel != self.kernel.len()
            }
            None => true,
        };
        let windowed = c.segments.len() > self.window_above
            && c.icmp.is_empty()
            && self.kernel.is_empty()
            && self.calls.get(id).is_none_or(|v| v.is_empty());
        if stale {
            let (ladder, window) = if windowed {
                let window = window_around(self.row, c.segments.len(), self.window_rows, 0);
                let l = Ladder::build_range(c, self.msl, LabelStyle::default(), window.clone());
                (l, Some(window))
            } else {
                let mut ladder = Ladder::build(c, self.msl, LabelStyle::default());
                if let Some(calls) = self.calls.get(id).filter(|v| !v.is_empty()) {
                    let placement = Placement::estimate(&ladder);
                    ladder = ladder.with_calls(calls, &placement);
                }
                ladder.kernel = self.kernel_view(c);
                (ladder, None)
            };
            self.cache = Some(LadderCache {
                id,
                segments: c.segments.len(),
                marks: c.marks.len(),
                icmp: c.icmp.len(),
                kernel: self.kernel.len(),
                kernel_until: self.kernel_until,
                ladder,
                window,
            });
        }
        // Live: the record grew more complete with nothing new in it.
        if self
            .cache
            .as_ref()
            .is_some_and(|k| k.kernel_until != self.kernel_until)
        {
            let view = self.connection(id).and_then(|c| self.kernel_view(c));
            if let Some(k) = &mut self.cache {
                k.ladder.kernel = view;
                k.kernel_until = self.kernel_until;
            }
        }
        let shown = self.connection(id).map_or(0, |c| self.shown_lines(c));
        if self.follow || self.cursor_line() >= shown {
            self.set_cursor_line(shown.saturating_sub(1));
        }
        let cur = self.cursor_line();
        // Lines in view: the pane less its borders and three header lines.
        let h = usize::from(
            self.areas()
                .ladder
                .height
                .saturating_sub(2 + self.ladder_header()),
        )
        .max(1);
        if cur < self.ladder_offset {
            self.ladder_offset = cur;
        } else if cur >= self.ladder_offset + h {
            self.ladder_offset = cur + 1 - h;
        }
        self.keep_window(id, h);
        self.read_back_selected();
    }

    /// A windowed ladder is built again around the lines in view once they
    /// leave its window.
    fn keep_window(&mut self, id: usize, h: usize) {
        let (offset, msl) = (self.ladder_offset, self.msl);
        let Some(k) = &self.cache else {
            return;
        };
        let Some(w) = &k.window else {
            return;
        };
        let n = k.segments;
        // The view may draw a line more than `h` says.
        let need = offset..(offset + h + 1).min(n);
        if w.start <= need.start && need.end <= w.end {
            return;
        }
        let window = window_around(offset, n, self.window_rows, need.len());
        let Some(c) = self.connection(id) else {
            return;
        };
        let ladder = Ladder::build_range(c, msl, LabelStyle::default(), window.clone());
        if let Some(k) = &mut self.cache {
            k.ladder = ladder;
            k.window = Some(window);
        }
    }

    /// A large capture: the list's rows in view and the selected
    /// connection are rebuilt from the file if they are not held.
    fn rebuild_in_view(&mut self, rows: usize) {
        let mut ids: Vec<usize> = self
            .visible_ids()
            .iter()
            .skip(self.list_offset)
            .take(rows)
            .copied()
            .collect();
        ids.extend(self.selected);
        if let Source::Replay(r) = &mut self.source
            && let Some(e) = r.hold(&ids)
        {
            self.message = Some(format!("cannot read a connection again: {e}"));
        }
    }

    /// The whole header of segment `row` of connection `id`, when the
    /// connection was rebuilt without it (a kept capture): read again from
    /// the file for the detail pane, once for each segment shown there.
    pub fn read_details(&self, id: usize, row: usize) -> Option<&Details> {
        match &self.read_back {
            Some((i, r, d)) if *i == id && *r == row => Some(d),
            _ => None,
        }
    }

    /// A kept capture: the selected segment's whole header, read again.
    fn read_back_selected(&mut self) {
        let (Some(id), row) = (self.selected, self.row) else {
            return;
        };
        if matches!(&self.read_back, Some((i, r, _)) if *i == id && *r == row) {
            return;
        }
        let Source::Replay(r) = &mut self.source else {
            return;
        };
        let Some(b) = r.rebuilt.as_mut() else {
            return;
        };
        let frame = b.cache.get(&id).and_then(|c| {
            // Held whole (its details are its own), or rebuilt without them.
            c.details
                .is_empty()
                .then(|| c.segments.get(row).map(|s| s.frame))?
        });
        self.read_back = frame
            .and_then(|f| b.capture.details(id, f))
            .map(|d| (id, row, d));
    }

    /// The addresses of connection `id` (client, server), held or not.
    fn addresses(&self, id: usize) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        if let Source::Replay(Replay {
            rebuilt: Some(b), ..
        }) = &self.source
        {
            return b.capture.kept.get(id).map(|k| (k.client, k.server));
        }
        self.connection(id).map(|c| (c.client, c.server))
    }

    fn refilter(&mut self) {
        self.filtered.clear();
        self.filtered_upto = 0;
        self.extend_filter();
        self.after_filter();
    }

    /// The selection and the list's scroll after the filter changed.
    fn after_filter(&mut self) {
        if let Some(id) = self.selected
            && self.filtered.binary_search(&id).is_err()
        {
            self.select(self.visible_ids().first().copied());
        }
        self.list_offset = 0;
    }

    /// Forgets the ids of connections folded into the totals (live, over
    /// `--max-connections`).
    fn drop_folded(&mut self) {
        let filtered = std::mem::take(&mut self.filtered);
        self.filtered = self.held_only(filtered);
        if self
            .selected
            .is_some_and(|id| self.connection(id).is_none())
        {
            self.selected = self.filtered.first().copied();
            self.cache = None;
        }
    }

    /// `ids` without the connections folded into the totals (only live
    /// folds; a replay holds all).
    fn held_only(&self, mut ids: Vec<usize>) -> Vec<usize> {
        if self.is_live() {
            ids.retain(|&id| self.connection(id).is_some());
        }
        ids
    }

    /// Filters connections not yet looked at (live adds them as it goes).
    fn extend_filter(&mut self) {
        let total = self.total();
        let mut search = std::mem::take(&mut self.search);
        while search.len() < total {
            let id = search.len();
            // A replay's connections are final: their summaries are kept.
            let summary = match self.is_live() {
                true => None,
                false => self.summary(id),
            };
            search.push(self.addresses(id), summary);
        }
        self.search = search;
        let query = Query::parse(&self.filter);
        // Live, a connection's states and flags change as packets come: a
        // filter on them is asked again of all when some came.
        let captured = std::mem::take(&mut self.captured);
        if captured && !query.words.is_empty() && self.is_live() && self.filtered_upto > 0 {
            self.filtered.clear();
            self.filtered_upto = 0;
        }
        let from = self.filtered_upto;
        // One folded before it was looked at has no text: it never matches.
        let new = if query.is_empty() {
            self.held_only((from..total).collect())
        } else {
            query.matching(&self.search, None, from, |id| self.summary_now(id))
        };
        self.filtered.extend(new);
        self.filtered_upto = total;
    }

    /// A character typed at the end of the filter: when it only lengthens
    /// text looked for in the addresses, what matches now is a subset of
    /// what matched, so only those are looked at again; a word that means
    /// something (`refused` after `refuse`) is asked of all.
    fn narrow_filter(&mut self, before: &str) {
        let query = Query::parse(&self.filter);
        if Query::parse(before).words.is_empty() && query.words.is_empty() {
            if !query.is_empty() {
                self.filtered = query.matching(&self.search, Some(&self.filtered), 0, |id| {
                    self.summary_now(id)
                });
            }
            self.after_filter();
        } else {
            self.refilter();
        }
    }

    /// What the filter's words are asked of connection `id`: kept with
    /// its text in a replay, as it stands live.
    fn summary_now(&self, id: usize) -> Option<crate::track::Summary> {
        self.search.summary(id).or_else(|| self.summary(id))
    }

    fn summary(&self, id: usize) -> Option<crate::track::Summary> {
        if let Some(c) = self.connection(id) {
            return Some(c.summary());
        }
        match &self.source {
            Source::Replay(Replay {
                rebuilt: Some(b), ..
            }) => b.capture.kept.get(id).map(|k| k.summary),
            _ => None,
        }
    }
}

/// The clock one segment forward or back from `clock` among `items` (in
/// time order): the next one's time, or the one before the last shown;
/// stepping back past the first shows nothing.
fn neighbour(
    n: usize,
    ts: impl Fn(usize) -> Timestamp,
    clock: Timestamp,
    forward: bool,
) -> Option<Timestamp> {
    // How many are at or before the clock (times are in order).
    let (mut shown, mut hi) = (0, n);
    while shown < hi {
        let mid = shown + (hi - shown) / 2;
        if ts(mid) <= clock {
            shown = mid + 1;
        } else {
            hi = mid;
        }
    }
    if forward {
        (shown < n).then(|| ts(shown))
    } else if shown >= 2 {
        Some(ts(shown - 2))
    } else {
        (n > 0).then(|| Timestamp::from_nanos(ts(0).as_nanos() - 1))
    }
}

impl Live {
    fn ingest(&mut self, p: &LivePacket) {
        let rec = p.record();
        let before = self.tracker.next_id();
        feed(
            &rec,
            &self.filter,
            &mut self.decoder,
            &mut self.tracker,
            &mut self.report,
        );
        for c in self.tracker.take_done() {
            let id = c.id;
            self.finished.push(Some(c));
            if let Some(l) = self.locs.get_mut(id) {
                *l = Loc::Finished(self.finished.len() - 1);
            }
        }
        // At most one connection starts per packet: the one it went to.
        if self.tracker.next_id() > before
            && let Some(key) = self.tracker.last_key()
        {
            self.locs.push(Loc::Active(key));
            self.held += 1;
            if self.held > self.max {
                self.fold_oldest();
            }
        }
    }

    /// Folds the oldest tenth of the held connections into the totals:
    /// those that are over first (both ends closed or in TIME-WAIT), then,
    /// if that is not enough, the oldest of the rest (a SYN flood's).
    fn fold_oldest(&mut self) {
        let goal = self.max - self.max / 10;
        for pass_over_only in [true, false] {
            let mut id = self.oldest;
            while self.held > goal && id < self.locs.len() {
                let over = match &self.locs[id] {
                    Loc::Active(key) => self.tracker.get(key).is_none_or(Connection::is_finished),
                    Loc::Finished(_) => true,
                    Loc::Folded => false,
                };
                if over || (!pass_over_only && !matches!(self.locs[id], Loc::Folded)) {
                    let c = match std::mem::replace(&mut self.locs[id], Loc::Folded) {
                        Loc::Active(key) => self.tracker.evict(&key),
                        Loc::Finished(i) => self.finished.get_mut(i).and_then(Option::take),
                        Loc::Folded => None,
                    };
                    if let Some(c) = c {
                        self.folded_totals.add(&c);
                    }
                    self.folded += 1;
                    self.held -= 1;
                }
                id += 1;
            }
        }
        while matches!(self.locs.get(self.oldest), Some(Loc::Folded)) {
            self.oldest += 1;
        }
        self.folded_now = true;
    }
}
