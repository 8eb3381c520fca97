//! The `tcpladder` binary: arguments in, exit code out. Errors become one
//! line on stderr; exit 1 for unusable input, 2 for usage.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use tcpladder::analysis::{self, Filter, ReadReport};
use tcpladder::capture::live::{self, LiveCapture, LiveConfig, LiveError, LiveMsg};
use tcpladder::cli::{
    AnalyzeArgs, Cli, Command, DemoArgs, ExportArgs, LiveArgs, ReplayArgs, StatsArgs, TraceArgs,
};
use tcpladder::decode::Decoder;
use tcpladder::export::png::Fonts;
use tcpladder::export::stream::StreamPrinter;
use tcpladder::export::{ExportOptions, Format, save};
use tcpladder::export::{json, text};
use tcpladder::ladder::{LabelStyle, Ladder};
use tcpladder::stats::StatsDoc;
use tcpladder::track::{TrackConfig, Tracker};
use tcpladder::tui::app::{App, ReplayStart};
use tcpladder::tui::terminal::{self, Saving, wall_now};
use tcpladder::tui::theme::ThemeName;

// The tracker makes and frees a few small buffers per connection, millions
// of times on a large capture; mimalloc does that at about half glibc's
// cost (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An error that is the user's arguments, not the input.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

/// How the terminal UI looks.
#[derive(Clone, Copy, Debug)]
struct Ui {
    theme: ThemeName,
    /// False: `--color never`, or NO_COLOR with `auto`.
    colour: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Read before anything runs, so a bad file is said at once.
    let fonts = match cli.font.as_deref().map(Fonts::with_file).transpose() {
        Ok(fonts) => fonts.unwrap_or_default(),
        Err(e) => {
            eprintln!("tcpladder: {e}");
            return ExitCode::from(1);
        }
    };
    let ui = Ui {
        theme: cli.theme.unwrap_or(ThemeName::Dark),
        // The UI only ever draws on a terminal.
        colour: cli.color.colour_here(true),
    };
    let saving = Saving {
        dir: cli.shots.clone(),
        export: ExportOptions {
            dark: cli.theme == Some(ThemeName::Dark),
            fonts: fonts.clone(),
            ..ExportOptions::default()
        },
    };
    let result = match cli.command {
        None => sample(ui, &saving),
        Some(Command::Analyze(a)) => {
            use std::io::IsTerminal;
            let paint = match cli.color.colour_here(std::io::stdout().is_terminal()) {
                true => text::Paint::Ansi,
                false => text::Paint::Plain,
            };
            analyze(a, paint)
        }
        Some(Command::Stats(s)) => stats(s),
        Some(Command::Replay(r)) => replay(r, ui, &saving),
        Some(Command::Live(l)) => live(l, ui, &saving),
        Some(Command::Export(e)) => export(e, cli.theme.unwrap_or(ThemeName::Light), fonts),
        Some(Command::Demo(d)) => demo(d, ui, cli.theme, &saving),
        Some(Command::Trace(t)) => trace(t, ui, cli.theme, &saving),
        Some(Command::Completions(c)) => write_stdout(&tcpladder::cli::completion_script(c.shell)),
        Some(Command::Man(m)) => tcpladder::cli::man_page(m.command.as_deref())
            .map_err(|e| UsageError(e).into())
            .and_then(|page| write_stdout(&page)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                // `tcpladder analyze f | head`: the reader left; not an error.
                return ExitCode::SUCCESS;
            }
            eprintln!("tcpladder: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let kind = c
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                c.downcast_ref::<serde_json::Error>()
                    .and_then(|j| j.io_error_kind())
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Standard output, buffered: the locked stdout flushes at every newline,
/// which made pretty JSON one write() per line (a live storm's document
/// took seconds of system time). Whoever writes flushes at the end, so a
/// closed pipe is still seen.
fn buffered_stdout() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock())
}

/// Writes `bytes` to standard output and flushes.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Writes a JSON document and a newline, then flushes.
fn print_json(doc: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = buffered_stdout();
    serde_json::to_writer_pretty(&mut out, doc).context("writing JSON")?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// A progress line on stderr while a file is read, once reading has taken
/// a second, when stderr is a terminal.
struct ProgressLine {
    name: String,
    shown: bool,
    began: Instant,
    last: Option<Instant>,
}

impl ProgressLine {
    fn new(path: &std::path::Path, shown: bool) -> ProgressLine {
        use std::io::IsTerminal;
        ProgressLine {
            name: path.display().to_string(),
            shown: shown && std::io::stderr().is_terminal(),
            began: Instant::now(),
            last: None,
        }
    }

    fn update(&mut self, p: analysis::Progress) {
        let since = self.began.elapsed();
        if !self.shown || since < Duration::from_secs(1) {
            return;
        }
        if self
            .last
            .is_some_and(|l| l.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last = Some(Instant::now());
        eprint!(
            "\r\x1b[2Ktcpladder: reading {}: {}",
            self.name,
            p.text(since.as_secs_f64())
        );
    }

    fn clear(&self) {
        if self.last.is_some() {
            eprint!("\r\x1b[2K");
        }
    }
}

/// `analyze_file`, with a progress line on stderr when it is a terminal
/// and reading takes more than a second.
fn analyze_with_progress(
    path: &std::path::Path,
    filter: Filter,
    cfg: TrackConfig,
) -> anyhow::Result<(Vec<tcpladder::track::Connection>, ReadReport)> {
    let mut line = ProgressLine::new(path, true);
    let result = analysis::analyze_file_progress(path, filter, cfg, |p| line.update(p));
    line.clear();
    Ok(result?)
}

/// Connections go to the formatting threads a few dozen at a time: one at
/// a time, the threads spend their time waking each other.
const HANDFUL: usize = 64;

/// `analyze` of a whole capture in time order: each connection is written
/// as soon as it and those before it are over, while the file is still
/// being read (the output is the same as from the whole-file view).
fn analyze_streaming(
    a: &AnalyzeArgs,
    paint: text::Paint,
    out: &mut impl Write,
) -> anyhow::Result<(ReadReport, usize)> {
    use std::io::IsTerminal;
    let cfg = analyze_config(a);
    let filter = analyze_filter(a)?;
    let path = a.common.file.clone();
    // The output shows how far it has come when it goes to the terminal.
    let mut line = ProgressLine::new(&path, !std::io::stdout().is_terminal());
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<tcpladder::track::Connection>>(8);
    std::thread::scope(|s| {
        let reading = std::thread::Builder::new()
            .name("track".into())
            .spawn_scoped(s, move || {
                let mut handful = Vec::with_capacity(HANDFUL);
                let r = analysis::stream_in_order(
                    &path,
                    filter,
                    cfg,
                    |p| line.update(p),
                    |c| {
                        handful.push(c);
                        if handful.len() == HANDFUL {
                            // The writer stopped (a closed pipe): nothing to do.
                            let _ = tx.send(std::mem::take(&mut handful));
                        }
                    },
                );
                let _ = tx.send(handful);
                line.clear();
                r
            })
            .context("starting the tracking thread")?;
        let written = write_analysis(a, cfg.msl, paint, rx, out);
        let report = match reading.join() {
            Ok(r) => r?,
            Err(_) => anyhow::bail!("the tracking thread failed"),
        };
        Ok((report, written?))
    })
}

/// The connections as `analyze` prints them, JSON or ladders, formatted
/// on every core and written in order; returns how many there were.
fn write_analysis(
    a: &AnalyzeArgs,
    msl: tcpladder::time::Span,
    paint: text::Paint,
    conns: std::sync::mpsc::Receiver<Vec<tcpladder::track::Connection>>,
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    use tcpladder::export::ordered::render_in_order;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// Past this many segments a connection is written as it is
    /// formatted, not held whole as text first.
    const HUGE: usize = 50_000;
    if a.common.json {
        enum Piece {
            Made(serde_json::Result<Vec<u8>>),
            Huge(Box<tcpladder::track::Connection>),
        }
        let make = |c: tcpladder::track::Connection| {
            if c.segments.len() > HUGE {
                Piece::Huge(Box::new(c))
            } else {
                Piece::Made(json::element(&c))
            }
        };
        out.write_all(json::HEAD)?;
        let mut first = true;
        let n = render_in_order(conns, threads, make, |piece| {
            out.write_all(json::separator(first))?;
            first = false;
            match piece {
                Piece::Made(element) => out.write_all(&element?)?,
                Piece::Huge(c) => json::write_element(&c, out)?,
            }
            anyhow::Ok(())
        })
        .context("writing JSON")?;
        out.write_all(json::tail(n > 0))?;
        writeln!(out)?;
        return Ok(n);
    }
    let charset = if a.ascii {
        text::Charset::Ascii
    } else {
        text::Charset::Unicode
    };
    let style = LabelStyle {
        absolute: a.absolute_seq,
    };
    enum Piece {
        Made(String),
        Huge(Box<Ladder>),
        /// Written a few thousand rows at a time, never held as rows.
        Long(Box<tcpladder::track::Connection>),
    }
    let payload = a.payload;
    let ladder = |c: tcpladder::track::Connection| {
        if payload {
            // Asked for: every row with its payload, whatever the length.
            Piece::Made(text::render_painted(
                &Ladder::build(&c, msl, style).with_payload(&c),
                charset,
                paint,
            ))
        } else if c.segments.len() <= HUGE {
            Piece::Made(text::render_painted(
                &Ladder::build(&c, msl, style),
                charset,
                paint,
            ))
        } else if c.icmp.is_empty() {
            Piece::Long(Box::new(c))
        } else {
            Piece::Huge(Box::new(Ladder::build(&c, msl, style)))
        }
    };
    let mut first = true;
    render_in_order(conns, threads, ladder, |piece| {
        if !first {
            writeln!(out)?;
        }
        first = false;
        match piece {
            Piece::Made(text) => out.write_all(text.as_bytes()),
            Piece::Huge(l) => text::render_to(&l, charset, paint, out),
            Piece::Long(c) => text::render_long_to(&c, msl, style, charset, paint, 4096, out),
        }
    })
    .map_err(Into::into)
}

/// `analyze`'s port and BPF filter, the expression checked.
fn analyze_filter(a: &AnalyzeArgs) -> anyhow::Result<Filter> {
    Ok(a.common
        .tracking
        .file_filter(&a.common.bpf)
        .map_err(UsageError)?)
}

/// What `analyze` tracks with: the payload kept with each segment's
/// details when it is printed.
fn analyze_config(a: &AnalyzeArgs) -> TrackConfig {
    TrackConfig {
        keep_details: a.payload,
        ..a.common.tracking.track_config()
    }
}

fn warn(lines: &[String]) {
    for w in lines {
        eprintln!("tcpladder: warning: {w}");
    }
}

fn analyze(a: AnalyzeArgs, paint: text::Paint) -> anyhow::Result<()> {
    let mut out = buffered_stdout();
    if a.jsonl {
        return analyze_lines(&a, &mut out);
    }
    let (report, n) = if a.conn.is_none() && analysis::in_time_order(&a.common.file)? {
        analyze_streaming(&a, paint, &mut out)?
    } else {
        analyze_whole(&a, paint, &mut out)?
    };
    if !a.common.json && n == 0 {
        writeln!(out, "no TCP connections in {}", report.file)?;
    }
    out.flush()?;
    warn(&report.warnings());
    Ok(())
}

/// `analyze --jsonl`: each connection on a line as soon as it is over,
/// then freed.
fn analyze_lines(a: &AnalyzeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let cfg = TrackConfig {
        // As `--json`: never aged out idle.
        idle_timeout: None,
        ..a.common.tracking.track_config()
    };
    let filter = analyze_filter(a)?;
    let mut failed = None;
    let report = analysis::stream_file(&a.common.file, filter, cfg, |c| {
        if failed.is_none()
            && let Err(e) = json::write_line(c, out)
        {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.flush()?;
    warn(&report.warnings());
    Ok(())
}

/// `analyze` reading the whole file first (out of time order, a pipe, or
/// `--conn`).
fn analyze_whole(
    a: &AnalyzeArgs,
    paint: text::Paint,
    out: &mut impl Write,
) -> anyhow::Result<(ReadReport, usize)> {
    let cfg = analyze_config(a);
    let filter = analyze_filter(a)?;
    let (conns, report) = analyze_with_progress(&a.common.file, filter, cfg)?;
    let selected: Vec<_> = match a.conn {
        None => conns,
        Some(n) if n >= 1 && n <= conns.len() => conns.into_iter().skip(n - 1).take(1).collect(),
        Some(n) => {
            warn(&report.warnings());
            let range = if conns.is_empty() {
                "the capture has no TCP connections".to_string()
            } else {
                format!("valid: 1 to {}", conns.len())
            };
            return Err(UsageError(format!("--conn {n} is out of range ({range})")).into());
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let mut selected = selected.into_iter().peekable();
    while selected.peek().is_some() {
        // Dropped at once: rendering reads them all.
        let _ = tx.send(selected.by_ref().take(HANDFUL).collect());
    }
    drop(tx);
    let n = write_analysis(a, cfg.msl, paint, rx, out)?;
    Ok((report, n))
}

fn stats(s: StatsArgs) -> anyhow::Result<()> {
    if !(s.idle_timeout.is_finite() && s.idle_timeout >= 0.0) {
        return Err(UsageError("--idle-timeout takes seconds, 0 or more".into()).into());
    }
    // Streaming is fold_file's own; only the segments need not be kept.
    let cfg = TrackConfig {
        keep_segments: false,
        idle_timeout: (s.idle_timeout > 0.0)
            .then(|| tcpladder::time::Span::from_secs_f64(s.idle_timeout)),
        ..s.common.tracking.track_config()
    };
    let filter = s
        .common
        .tracking
        .file_filter(&s.common.bpf)
        .map_err(UsageError)?;
    let (report, totals) = tcpladder::stats::count_file(&s.common.file, filter, cfg)?;
    let doc = StatsDoc::new(&report, &totals);
    if s.common.json {
        return print_json(&doc);
    }
    warn(&doc.warnings);
    let mut out = buffered_stdout();
    out.write_all(doc.to_text().as_bytes())?;
    out.flush()?;
    Ok(())
}

/// The UI needs a terminal on both ends; say so instead of failing in
/// raw-mode setup.
/// `demo --export` and `trace --export`: each connection with its calls,
/// to OUT, or OUT-1, OUT-2, ... for several.
fn export_with_calls(
    conns: &[tcpladder::track::Connection],
    calls: &[Vec<tcpladder::ladder::calls::Call>],
    out: &std::path::Path,
    opts: &ExportOptions,
    force: bool,
) -> anyhow::Result<()> {
    let paths: Vec<std::path::PathBuf> = if conns.len() > 1 {
        conns
            .iter()
            .map(|c| save::numbered(out, c.id + 1))
            .collect()
    } else {
        vec![out.to_path_buf()]
    };
    save::check_new(&paths, force)?;
    for (c, path) in conns.iter().zip(&paths) {
        let mine = calls.get(c.id).map_or(&[][..], Vec::as_slice);
        let bytes = tcpladder::export::render_with_calls(c, mine, opts)
            .with_context(|| format!("connection {}", c.id + 1))?;
        save::write(path, &bytes, force)?;
        eprintln!("tcpladder: wrote {}", path.display());
    }
    Ok(())
}

/// What `demo` and `trace` check before running anything: a terminal when
/// the UI is to open, the export's format from its name, and that `-w`
/// would not overwrite a file.
fn program_output(o: &tcpladder::cli::ProgramOutput) -> anyhow::Result<Option<Format>> {
    if !o.json && o.export.is_none() {
        need_terminal()?;
    }
    let format = match &o.export {
        Some(out) => Some(Format::from_path(out).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: cannot tell the format from the name; use an extension .svg .png .txt .md",
                out.display()
            )
        })?),
        None => None,
    };
    if let Some(w) = &o.write {
        save::check_new(std::slice::from_ref(w), o.force)?;
    }
    Ok(format)
}

/// With the capture on standard input: the UI draws on standard output
/// and reads keys from the controlling terminal.
fn need_output_terminal() -> anyhow::Result<()> {
    let keys = std::fs::File::open("/dev/tty").is_ok();
    require_terminal(keys, "`tcpladder analyze -`")
}

fn need_terminal() -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let keys = std::io::stdin().is_terminal();
    require_terminal(
        keys,
        "`tcpladder analyze FILE` or `tcpladder live --no-tui`",
    )
}

/// The UI draws on standard output and needs a terminal to read keys
/// from (`keys`); else a usage error saying what to run `instead`.
fn require_terminal(keys: bool, instead: &str) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    if keys && std::io::stdout().is_terminal() {
        return Ok(());
    }
    Err(UsageError(format!(
        "the terminal UI needs an interactive terminal; for text output use {instead} (see --help)"
    ))
    .into())
}

/// SIGINT, SIGTERM and SIGHUP while the UI runs: the terminal is given
/// back as `q` gives it (keys come raw, so Ctrl-C is a key there).
fn restore_on_signal() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        terminal::restore_if_active();
        std::process::exit(130);
    })
    .context("installing the signal handler")
}

/// A UI over a capture as it comes (`live`, `replay -`): the keys come raw
/// (Ctrl-C is a key), so a hangup or kill must still remove the kernel's
/// tracefs instance and the spool, and give the terminal back.
fn restore_and_clean_up_on_signal() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        tcpladder::capture::kernel::remove_instance();
        live::remove_spool();
        terminal::restore_if_active();
        std::process::exit(130);
    })
    .context("installing the signal handler")
}

/// No command: the UI on the sample built into the binary.
fn sample(ui: Ui, saving: &Saving) -> anyhow::Result<()> {
    need_terminal()?;
    restore_on_signal()?;
    let cfg = TrackConfig::default();
    let (conns, _) = analysis::analyze_capture(tcpladder::sample::open()?, Filter::default(), cfg)?;
    let app = App::replay(
        conns,
        tcpladder::sample::NAME,
        ui.theme,
        cfg.msl,
        ReplayStart::Step,
    )
    .with_colour(ui.colour);
    terminal::run(app, terminal::Feed::None, saving).context("terminal")?;
    Ok(())
}

fn replay(r: ReplayArgs, ui: Ui, saving: &Saving) -> anyhow::Result<()> {
    use tcpladder::tui::app::{Event, Loaded};
    // The detail pane shows every header field.
    let cfg = TrackConfig {
        keep_details: true,
        ..r.tracking.track_config()
    };
    let filter = r.tracking.file_filter(&r.bpf).map_err(UsageError)?;
    // A pipe is shown as it arrives, as a live capture is.
    let stdin = tcpladder::capture::source::is_stdin(&r.file);
    if stdin || std::fs::metadata(&r.file).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return replay_pipe(&r, cfg, filter, ui, saving);
    }
    need_terminal()?;
    restore_on_signal()?;
    // A file that cannot be opened is said before the terminal is taken.
    tcpladder::capture::CaptureFile::open(&r.file)?;
    let name = r.file.display().to_string();
    let start = if r.step {
        ReplayStart::Step
    } else {
        ReplayStart::Play
    };
    // The UI opens at once; the file is read on a thread of its own, which
    // reports its progress and hands the connections over when done.
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    let path = r.file.clone();
    std::thread::Builder::new()
        .name("replay-load".into())
        .spawn(move || {
            let began = Instant::now();
            let elapsed = || tcpladder::time::Span::from_secs_f64(began.elapsed().as_secs_f64());
            // A large capture is kept as where its connections' records
            // are, each rebuilt when shown: memory follows the screen.
            let keep_above = std::env::var("TCPLADDER_KEEP_ABOVE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(analysis::kept::KEEP_ABOVE);
            let result =
                analysis::kept::load_for_replay(&path, filter, cfg, keep_above, |progress| {
                    let _ = tx.send(Event::Loading {
                        progress,
                        elapsed: elapsed(),
                    });
                });
            let loaded = result
                .map(|(conns, report)| Loaded {
                    conns,
                    warnings: report.warnings(),
                })
                .map_err(|e| e.to_string());
            let _ = tx.send(Event::Loaded(loaded));
        })
        .context("starting the reading thread")?;
    let app = App::loading(name, ui.theme, cfg.msl, start)
        .with_colour(ui.colour)
        .with_capture_path(r.file.clone());
    let app = terminal::run(app, terminal::Feed::Load(rx), saving).context("terminal")?;
    if let Some(e) = app.load_error {
        anyhow::bail!("{e}");
    }
    warn(&app.load_warnings);
    Ok(())
}

/// `replay -` (or a named pipe): the records shown as they come, like a
/// live capture's, spooled for `w` and `W`.
fn replay_pipe(
    r: &ReplayArgs,
    cfg: TrackConfig,
    filter: Filter,
    ui: Ui,
    saving: &Saving,
) -> anyhow::Result<()> {
    if filter.bpf.is_some() {
        return Err(UsageError(
            "-f does not apply to a pipe: filter where it is captured (tcpdump -w - EXPR)".into(),
        )
        .into());
    }
    let stdin = tcpladder::capture::source::is_stdin(&r.file);
    if stdin {
        // The keys come from the terminal itself then.
        need_output_terminal()?;
    } else {
        need_terminal()?;
    }
    let name = if stdin {
        "standard input".to_string()
    } else {
        r.file.display().to_string()
    };
    let (spooled, rx) = tcpladder::capture::pipe::spawn(&r.file, &std::env::temp_dir());
    restore_and_clean_up_on_signal()?;
    let app = App::piped(name, ui.theme, cfg, wall_now(), usize::MAX)
        .with_colour(ui.colour)
        .with_port_filter(filter)
        .with_spool(Some(spooled));
    let result = terminal::run(app, terminal::Feed::Live(rx), saving).context("terminal");
    live::remove_spool();
    let app = result?;
    if let Some(why) = app.pipe_ended() {
        warn(&[why]);
    }
    Ok(())
}

fn open_live(l: &LiveArgs) -> anyhow::Result<LiveCapture> {
    let cfg = LiveConfig {
        interface: l.interface.clone(),
        filter: LiveConfig::filter_for(l.tracking.port, l.bpf.as_deref()),
        buffer_kib: l.buffer_kib,
        write: l.write.clone(),
        // The TUI spools what it captures, for `w`.
        spool_in: (!l.no_tui).then(std::env::temp_dir),
    };
    if let Some(w) = &l.write {
        save::check_new(std::slice::from_ref(w), l.force)?;
    }
    let cap = LiveCapture::open(&cfg).map_err(|e| match e {
        LiveError::Permission { .. } => anyhow::anyhow!("{e}"),
        LiveError::Other(m) => anyhow::anyhow!("cannot capture: {m}"),
    })?;
    if l.no_kernel {
        return Ok(cap);
    }
    // The kernel's own states of the followed port's sockets (every TCP
    // socket's without a port), where this process may read them.
    let ports: Vec<u16> = l.tracking.port.into_iter().collect();
    let feed = tcpladder::capture::kernel::KernelTrace::start(&ports)
        .and_then(tcpladder::capture::kernel::KernelTrace::feed);
    Ok(cap.with_kernel(feed))
}

fn live(l: LiveArgs, ui: Ui, saving: &Saving) -> anyhow::Result<()> {
    if l.list {
        let mut out = std::io::stdout().lock();
        for (name, desc) in live::list_interfaces().map_err(|e| anyhow::anyhow!("{e}"))? {
            if desc.is_empty() {
                writeln!(out, "{name}")?;
            } else {
                writeln!(out, "{name:<16} {desc}")?;
            }
        }
        return Ok(());
    }
    if let Some(d) = l.duration
        && !(d.is_finite() && d > 0.0)
    {
        return Err(UsageError("--duration takes a positive number of seconds".into()).into());
    }
    if !l.no_tui {
        need_terminal()?;
    }
    let cap = open_live(&l)?;
    if l.no_tui {
        return live_lines(&l, cap);
    }
    // What the user asked for; the whole filter (with the ICMP errors and
    // fragments it adds) would push the counters off the status line.
    let mut asked: Vec<String> = Vec::new();
    if let Some(p) = l.tracking.port {
        asked.push(format!("port {p}"));
    }
    if let Some(f) = &l.bpf {
        asked.push(format!("-f '{f}'"));
    }
    let name = match asked.is_empty() {
        true => format!("{} (all TCP)", l.interface),
        false => format!("{} ({})", l.interface, asked.join(", ")),
    };
    let max = usize::try_from(l.max_connections).unwrap_or(usize::MAX);
    let track = TrackConfig {
        keep_details: true,
        ..l.tracking.track_config()
    };
    let app = App::live(name, ui.theme, track, wall_now(), max)
        .with_spool(cap.spooled())
        .with_colour(ui.colour);
    restore_and_clean_up_on_signal()?;
    let (mut handle, rx) = cap.spawn();
    let result = terminal::run(app, terminal::Feed::Live(rx), saving).context("terminal");
    handle.stop();
    live::remove_spool();
    result.map(|_| ())
}

/// `live --no-tui`: what was captured so far.
struct LineSession {
    decoder: Decoder,
    tracker: Tracker,
    finished: Vec<tcpladder::track::Connection>,
    report: ReadReport,
    printer: StreamPrinter,
    dropped: (u32, u32),
    print_lines: bool,
    count: Option<u64>,
    /// The kernel's own state changes, where they could be read.
    kernel: tcpladder::track::kernel::KernelRecord,
}

impl LineSession {
    /// Handles one message; returns true once `--count` is reached.
    fn handle(&mut self, msg: LiveMsg, out: &mut impl Write) -> anyhow::Result<bool> {
        match msg {
            LiveMsg::Packets(batch) => {
                for p in &batch {
                    let rec = p.record();
                    let before = (self.report.tcp_segments, self.report.icmp_errors);
                    analysis::feed(
                        &rec,
                        &Filter::default(),
                        &mut self.decoder,
                        &mut self.tracker,
                        &mut self.report,
                    );
                    self.finished.extend(self.tracker.take_done());
                    // An ICMP error prints too: it may end a SYN-SENT that
                    // no later segment would show.
                    let news = (self.report.tcp_segments, self.report.icmp_errors) != before;
                    if news && self.print_lines {
                        let key = self.tracker.last_key();
                        if let Some(c) = key.and_then(|k| self.tracker.get(&k)) {
                            for line in self.printer.lines(c) {
                                writeln!(out, "{line}")?;
                            }
                        }
                    }
                    if self.count.is_some_and(|n| self.report.tcp_segments >= n) {
                        out.flush()?;
                        return Ok(true);
                    }
                }
                // Once a batch: the lines are seen as they come, without a
                // write() for each.
                out.flush()?;
            }
            LiveMsg::Stats {
                dropped,
                if_dropped,
                ..
            } => self.dropped = (dropped, if_dropped),
            LiveMsg::Error(e) => anyhow::bail!("capture stopped: {e}"),
            LiveMsg::Kernel { events, .. } => self.kernel.extend(events),
            LiveMsg::KernelUnavailable(why) => eprintln!("tcpladder: no kernel states: {why}"),
            // Only a pipe's reader ends so.
            LiveMsg::Ended(_) => {}
        }
        Ok(false)
    }
}

/// `live --no-tui`: ladder lines as segments arrive, or JSON at the end.
fn live_lines(l: &LiveArgs, cap: LiveCapture) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .context("installing the Ctrl-C handler")?;
    let cfg = l.tracking.track_config();
    let mut session = LineSession {
        decoder: Decoder::default(),
        tracker: Tracker::new(cfg),
        finished: Vec::new(),
        report: ReadReport::default(),
        printer: StreamPrinter::default(),
        dropped: (0, 0),
        print_lines: !l.json,
        count: l.count,
        kernel: Default::default(),
    };
    let (mut handle, rx) = cap.spawn();
    let started = Instant::now();
    let deadline = l.duration.map(Duration::from_secs_f64);
    let mut out = buffered_stdout();
    let mut done = false;
    while !done && !stop.load(Ordering::Relaxed) {
        if deadline.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(msg) => done = session.handle(msg, &mut out)?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    handle.stop();
    // What the thread handed over as it stopped.
    while let Ok(msg) = rx.try_recv() {
        if !done {
            done = session.handle(msg, &mut out)?;
        }
    }
    session.report.finish_fragments(&session.decoder);
    let end = session.report.last_ts.unwrap_or_else(wall_now);
    let mut all = session.tracker.finish(end);
    all.extend(session.finished);
    all.sort_by_key(|c| c.id);
    if l.json {
        let doc = json::document_with_kernel(&all, &session.kernel);
        serde_json::to_writer_pretty(&mut out, &doc).context("writing JSON")?;
        writeln!(out)?;
    } else {
        // Where the kernel's record parts from the lines printed.
        if !session.kernel.is_empty() {
            for (c, k) in all
                .iter()
                .zip(json::KernelDoc::for_all(&session.kernel, &all))
            {
                for d in k.into_iter().flat_map(|k| k.disagreements) {
                    writeln!(out, "connection {}: ≠ {} {}", c.id + 1, d.side, d.text)?;
                }
            }
        }
    }
    out.flush()?;
    eprintln!(
        "tcpladder: {} packets, {} TCP segments, {} connection(s); kernel dropped {} (interface {})",
        session.report.packets,
        session.report.tcp_segments,
        all.len(),
        session.dropped.0,
        session.dropped.1
    );
    Ok(())
}

/// `export`: one connection (or each) to SVG, PNG, text or Mermaid.
fn export(e: ExportArgs, theme: ThemeName, fonts: Fonts) -> anyhow::Result<()> {
    if let Some(t) = &e.title
        && tcpladder::shown::has_hidden(t)
    {
        eprintln!(
            "tcpladder: warning: --title has control characters; they are drawn as their pictures: {}",
            tcpladder::shown::visible(t)
        );
    }
    let format = match e.format.or_else(|| Format::from_path(&e.output)) {
        Some(f) => f,
        None => anyhow::bail!(
            "{}: cannot tell the format from the name; use --format svg|png|txt|md|pcap or an \
             extension .svg .png .txt .md .pcap",
            e.output.display()
        ),
    };
    let cfg = e.tracking.track_config();
    let filter = e.tracking.file_filter(&e.bpf).map_err(UsageError)?;
    // The packets are copied from the capture, read a second time: a pipe
    // is kept in a temporary file meanwhile.
    let held = match format {
        Format::Pcap => Held::regular(&e.file)?,
        _ => Held::Not(e.file.clone()),
    };
    let (conns, mut report) = analyze_with_progress(held.path(), filter, cfg)?;
    if let Held::Temp(_) = held {
        report.file = "standard input".into();
    }
    warn(&report.warnings());
    if conns.is_empty() {
        anyhow::bail!("{}: no TCP connections to export", report.file);
    }
    let chosen: Vec<&tcpladder::track::Connection> = if e.all {
        conns.iter().collect()
    } else {
        let n = e.conn.unwrap_or(1);
        if n == 0 || n > conns.len() {
            return Err(UsageError(format!(
                "--conn {n} is out of range (valid: 1 to {})",
                conns.len()
            ))
            .into());
        }
        vec![&conns[n - 1]]
    };
    if format == Format::Pcap {
        return export_packets(&e, &held, &chosen, cfg.msl);
    }
    let paths: Vec<std::path::PathBuf> = if e.all && chosen.len() > 1 {
        chosen
            .iter()
            .map(|c| save::numbered(&e.output, c.id + 1))
            .collect()
    } else {
        vec![e.output.clone()]
    };
    save::check_new(&paths, e.force)?;
    let opts = ExportOptions {
        format,
        dark: theme == ThemeName::Dark,
        absolute_seq: e.absolute_seq,
        redact: e.redact,
        title: e.title.clone(),
        scale: e.scale,
        flat: e.flat,
        from: e.from,
        to: e.to,
        ascii: e.ascii,
        msl: cfg.msl,
        fonts,
    };
    // Calls from a `demo --json` document made with this capture.
    let calls = match &e.calls {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?;
            tcpladder::demo::calls_from_json(&text)
                .map_err(|m| anyhow::anyhow!("{}: {m}", p.display()))?
        }
        None => Vec::new(),
    };
    for (c, path) in chosen.iter().zip(&paths) {
        let mine = calls.get(c.id).map_or(&[][..], Vec::as_slice);
        let bytes = tcpladder::export::render_with_calls(c, mine, &opts)
            .with_context(|| format!("connection {}", c.id + 1))?;
        save::write(path, &bytes, e.force)?;
        eprintln!("tcpladder: wrote {}", path.display());
    }
    Ok(())
}

/// `export --format pcap`: the chosen connections' packets (all of them
/// in one file with `--all`), copied from the capture as they are.
fn export_packets(
    e: &ExportArgs,
    held: &Held,
    chosen: &[&tcpladder::track::Connection],
    msl: tcpladder::time::Span,
) -> anyhow::Result<()> {
    use tcpladder::capture::FileFormat;
    save::check_new(std::slice::from_ref(&e.output), e.force)?;
    let opts = ExportOptions {
        format: Format::Pcap,
        from: e.from,
        to: e.to,
        msl,
        ..ExportOptions::default()
    };
    let mut frames = Vec::new();
    for c in chosen {
        frames.extend(
            tcpladder::export::frames(c, &opts)
                .with_context(|| format!("connection {}", c.id + 1))?,
        );
    }
    frames.sort_unstable();
    let want = match e.output.extension().and_then(|x| x.to_str()) {
        Some(x) if x.eq_ignore_ascii_case("pcapng") => FileFormat::PcapNg,
        _ => FileFormat::Pcap,
    };
    let mut bytes = Vec::new();
    let (written, n) = tcpladder::capture::write::copy_frames(
        held.path(),
        |f| frames.binary_search(&f).is_ok(),
        want,
        &mut bytes,
    )?;
    save::write(&e.output, &bytes, e.force)?;
    let note = match (want, written) {
        (FileFormat::Pcap, FileFormat::PcapNg) => {
            " as pcapng (the packets have several link types)"
        }
        _ => "",
    };
    eprintln!(
        "tcpladder: wrote {} packets to {}{note}",
        n,
        e.output.display()
    );
    Ok(())
}

/// A capture that can be read twice: the file itself, or what a pipe gave,
/// kept in a temporary file (removed when dropped).
enum Held {
    Not(std::path::PathBuf),
    Temp(std::path::PathBuf),
}

impl Held {
    fn regular(path: &std::path::Path) -> anyhow::Result<Held> {
        if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return Ok(Held::Not(path.to_path_buf()));
        }
        let temp = std::env::temp_dir().join(format!("tcpladder-input-{}", std::process::id()));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| format!("{}", temp.display()))?;
        let held = Held::Temp(temp);
        let copied = if tcpladder::capture::source::is_stdin(path) {
            std::io::copy(&mut std::io::stdin().lock(), &mut out)
        } else {
            std::fs::File::open(path).and_then(|mut f| std::io::copy(&mut f, &mut out))
        };
        copied.with_context(|| format!("{}", path.display()))?;
        Ok(held)
    }

    fn path(&self) -> &std::path::Path {
        match self {
            Held::Not(p) | Held::Temp(p) => p,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Held::Temp(p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `demo`: the built-in programs in namespaces of their own, captured, then
/// shown like `replay --step` (or as JSON with their calls, or exported).
fn demo(d: DemoArgs, ui: Ui, chosen: Option<ThemeName>, saving: &Saving) -> anyhow::Result<()> {
    use tcpladder::demo::{self, DemoConfig};
    if d.list {
        std::io::stdout()
            .lock()
            .write_all(demo::list().as_bytes())?;
        return Ok(());
    }
    let Some(scenario) = d.scenario else {
        return Err(UsageError("name a scenario (demo --list shows them)".into()).into());
    };
    let format = program_output(&d.output)?;
    // Before any thread exists: an unprivileged user needs a user namespace,
    // which Linux gives only to a single-threaded process.
    demo::prepare()?;
    // Everything else the run makes dies with the process; only the
    // temporary capture and the tracefs instance must be removed by hand.
    let tmp = demo::temp_pcap();
    ctrlc::set_handler(move || {
        let _ = std::fs::remove_file(&tmp);
        tcpladder::capture::kernel::remove_instance();
        terminal::restore_if_active();
        std::process::exit(130);
    })
    .context("installing the Ctrl-C handler")?;
    let run = demo::run(&DemoConfig {
        scenario,
        delay: d.delay,
        keep: d.output.write.clone(),
    })?;
    let (conns, report) = analysis::analyze_file(&run.pcap, Filter::default(), run.track)?;
    warn(&report.warnings());
    if d.output.json {
        return print_json(&demo::calls_json(&conns, &run));
    }
    if let (Some(out), Some(format)) = (&d.output.export, format) {
        if conns.is_empty() {
            anyhow::bail!("demo {}: no TCP connection was captured", scenario.name());
        }
        let opts = ExportOptions {
            format,
            dark: chosen == Some(ThemeName::Dark),
            msl: run.track.msl,
            ..saving.export.clone()
        };
        let calls = run.calls_by_connection(&conns);
        return export_with_calls(&conns, &calls, out, &opts, d.output.force);
    }
    let name = match &d.output.write {
        Some(w) => format!("demo {} ({})", scenario.name(), w.display()),
        None => format!("demo {}", scenario.name()),
    };
    let msl = run.track.msl;
    let calls = run.calls_by_connection(&conns);
    let kernel = run.kernel.clone();
    // The capture is read; a temporary one goes before the UI opens.
    drop(run);
    let app = App::replay(conns, name, ui.theme, msl, ReplayStart::Step)
        .with_calls(calls)
        .with_kernel(kernel)
        .with_colour(ui.colour);
    terminal::run(app, terminal::Feed::None, saving).context("terminal")?;
    Ok(())
}

/// `trace`: the user's program under ptrace, its connections captured, then
/// shown like `demo` (or as JSON with the calls, or exported).
fn trace(t: TraceArgs, ui: Ui, chosen: Option<ThemeName>, saving: &Saving) -> anyhow::Result<()> {
    use tcpladder::trace::{self, TraceConfig};
    let format = program_output(&t.output)?;
    let mut cfg = match t.pid {
        Some(pid) => TraceConfig::attach(pid),
        None => TraceConfig::spawn(t.program.clone()),
    };
    cfg.port = t.port;
    cfg.keep = t.output.write.clone();
    cfg.isolated = t.isolated;
    cfg.interface = Some(t.interface.clone());
    // Before any thread exists (--isolated as a user: a user namespace).
    trace::prepare(&cfg)?;
    // First Ctrl-C: a spawned program gets its own SIGINT from the terminal
    // and the trace ends when it exits; an attached one is detached. The
    // second gives up (a spawned program dies with the tracer).
    let stop = Arc::new(AtomicBool::new(false));
    if t.pid.is_some() {
        cfg.stop = Some(stop.clone());
    }
    let tmp = trace::temp_pcap();
    ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::Relaxed) {
            let _ = std::fs::remove_file(&tmp);
            tcpladder::capture::kernel::remove_instance();
            terminal::restore_if_active();
            std::process::exit(130);
        }
    })
    .context("installing the Ctrl-C handler")?;
    let run = trace::run(&cfg)?;
    if let Some(code) = run.exit.filter(|c| *c != 0) {
        eprintln!("tcpladder: the traced program exited with status {code}");
    }
    let track = TrackConfig::default();
    let (all, report) = analysis::analyze_file(&run.pcap, Filter::default(), track)?;
    warn(&report.warnings());
    let conns = run.touched(&all);
    if t.output.json {
        return print_json(&trace::trace_json(&conns, &run));
    }
    if conns.is_empty() {
        anyhow::bail!(
            "trace: none of the program's sockets made a TCP connection that was captured"
        );
    }
    let calls = run.calls_by_connection(&conns);
    if let (Some(out), Some(format)) = (&t.output.export, format) {
        let opts = ExportOptions {
            format,
            dark: chosen == Some(ThemeName::Dark),
            msl: track.msl,
            ..saving.export.clone()
        };
        return export_with_calls(&conns, &calls, out, &opts, t.output.force);
    }
    let name = match (t.pid, t.program.first()) {
        (Some(pid), _) => format!("trace --pid {pid}"),
        (None, Some(p)) => format!("trace {p}"),
        (None, None) => "trace".into(),
    };
    let kernel = run.kernel.clone();
    drop(run);
    let app = App::replay(conns, name, ui.theme, track.msl, ReplayStart::Step)
        .with_calls(calls)
        .with_kernel(kernel)
        .with_colour(ui.colour);
    terminal::run(app, terminal::Feed::None, saving).context("terminal")?;
    Ok(())
}
