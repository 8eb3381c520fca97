//! A mutational fuzz harness that runs on stable Rust: the capture reader,
//! the decoder and the tracker with every renderer (`targets`), fed inputs
//! made by damaging the bundled and peer captures (`corpus`, `mutate`).
//! `cargo test` runs it for a few seconds; longer:
//!
//! ```text
//! FUZZ_SECONDS=600 cargo test --release --test fuzz
//! ```
//!
//! * `FUZZ_SECONDS` (default 15): how long; `FUZZ_EXECS`: stop after so
//!   many inputs instead (or as well).
//! * `FUZZ_SEED`: the random seed (decimal or 0x-hex); by default from the
//!   clock. It is printed: the same seed, build and seed captures (the
//!   peer corpus there or not) make the same inputs in the same order.
//! * `FUZZ_REPLAY=PATH`: runs that file (or every file in that folder) through
//!   every target and says what each did, instead of fuzzing.
//! * `FUZZ_HANG_SECONDS` (default 5): an input taking longer is a finding.
//! * `FUZZ_FINDINGS=DIR` (default `target/fuzz-findings`): where findings go.
//!
//! Each input runs under `catch_unwind`, with a panic hook that records
//! every panic, in any thread (the analysis reads on a thread of its own).
//! A finding is written as `TARGET-HASH.bin` (the input, made smaller while
//! it fails the same way), `TARGET-HASH.orig.bin` (as found) and
//! `TARGET-HASH.txt` (the message and how to replay it); the harness then
//! exits non-zero. A hang is written by the watchdog thread, which then
//! ends the process, since a stuck thread cannot be stopped.
//!
//! Guidance without instrumentation: an input that makes a target note a
//! feature not seen before (an outcome, an error message with its numbers
//! taken out, a verdict) joins the corpus.

#![forbid(unsafe_code)]

mod corpus;
mod mutate;
mod rng;
mod targets;

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mutate::{MAX_LEN, Packing, compress, havoc};
use rng::{Rng, hash, mix};
use targets::{Features, TARGETS, Target};

/// Each pool of the corpus grows up to this many inputs; then a new one
/// takes the place of an earlier find (never of a seed).
const MAX_POOL: usize = 4000;
/// Minimizing a finding stops after this long or this many runs.
const MINIMIZE_FOR: Duration = Duration::from_secs(5);
const MINIMIZE_RUNS: usize = 5000;

/// Panics seen since the last `take_panics`: message and location.
static PANICS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// What is running now, for the watchdog.
static CURRENT: Mutex<Option<Running>> = Mutex::new(None);

struct Running {
    since: Instant,
    target: &'static str,
    input: Arc<Vec<u8>>,
    /// Which execution (0 in a replay or while minimizing).
    exec: u64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic never happens while one of these is held, but a poisoned
    // lock must not hide a finding.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn install_hook(quiet: bool) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with no message".into());
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        lock(&PANICS).push((msg, at));
        if !quiet {
            default(info);
        }
    }));
}

/// How an input failed a target.
#[derive(Clone, Debug)]
struct Failure {
    message: String,
    at: String,
}

impl Failure {
    /// Two failures are the same bug when they panic at the same place
    /// with the same message, numbers and what is said in brackets aside.
    fn key(&self, target: &str) -> u64 {
        let first = self.message.lines().next().unwrap_or_default();
        let general: String = first
            .split('(')
            .next()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .collect();
        hash(&[target.as_bytes(), self.at.as_bytes(), general.as_bytes()])
    }
}

fn run(
    name: &'static str,
    target: Target,
    input: &Arc<Vec<u8>>,
    exec: u64,
    f: &mut Features,
) -> Option<Failure> {
    lock(&PANICS).clear();
    *lock(&CURRENT) = Some(Running {
        since: Instant::now(),
        target: name,
        input: Arc::clone(input),
        exec,
    });
    let result = catch_unwind(AssertUnwindSafe(|| target(input, f)));
    *lock(&CURRENT) = None;
    let panics = std::mem::take(&mut *lock(&PANICS));
    match (result, panics.into_iter().next()) {
        (Ok(()), None) => None,
        (_, Some((message, at))) => Some(Failure { message, at }),
        (Err(_), None) => Some(Failure {
            message: "unwound without the hook seeing a panic".into(),
            at: String::new(),
        }),
    }
}

/// Everything a finding's report says besides the failure.
#[derive(Clone)]
struct Context {
    dir: PathBuf,
    seed: u64,
    hang: Duration,
}

impl Context {
    fn write(&self, target: &str, key: u64, f: &Failure, exec: u64, orig: &[u8], small: &[u8]) {
        let _ = std::fs::create_dir_all(&self.dir);
        let stem = self.dir.join(format!("{target}-{key:016x}"));
        let bin = stem.with_extension("bin");
        let _ = std::fs::write(&bin, small);
        let _ = std::fs::write(stem.with_extension("orig.bin"), orig);
        let found = match exec {
            0 => "in a replay, or while another finding was made smaller".to_string(),
            n => format!("execution {n} of FUZZ_SEED={:#x}", self.seed),
        };
        let note = format!(
            "target: {target}\nmessage: {}\nat: {}\nfound: {found}\n\
             input: {} bytes ({} as found)\nreplay: FUZZ_REPLAY={} cargo test --test fuzz\n",
            f.message,
            f.at,
            small.len(),
            orig.len(),
            bin.display()
        );
        let _ = std::fs::write(stem.with_extension("txt"), note);
        eprintln!(
            "fuzz: FINDING in {target}: {} (at {}), written to {}",
            f.message,
            f.at,
            bin.display()
        );
    }
}

/// Ends the process when one input has run too long: writes the input as
/// a finding first.
fn watchdog(ctx: Context) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let stuck = lock(&CURRENT)
                .as_ref()
                .filter(|r| r.since.elapsed() > ctx.hang)
                .map(|r| (r.target, Arc::clone(&r.input), r.exec));
            if let Some((target, input, exec)) = stuck {
                let f = Failure {
                    message: format!("hang: still running after {} s", ctx.hang.as_secs_f64()),
                    at: "not known (it is still running)".into(),
                };
                let key = f.key(target) ^ hash(&[&input]);
                ctx.write(target, key, &f, exec, &input, &input);
                eprintln!("fuzz: stopped by the hang guard; 1 finding");
                std::process::exit(1);
            }
        }
    });
}

/// Drops chunks of `input` while `target` still fails at the same place.
fn minimize(name: &'static str, target: Target, input: &[u8], f: &Failure) -> Vec<u8> {
    let deadline = Instant::now() + MINIMIZE_FOR;
    let mut best = input.to_vec();
    let mut runs = 0;
    let mut chunk = best.len().div_ceil(2);
    while chunk >= 1 {
        let mut at = 0;
        while at < best.len() {
            if runs >= MINIMIZE_RUNS || Instant::now() > deadline {
                return best;
            }
            runs += 1;
            let mut candidate = best.clone();
            candidate.drain(at..(at + chunk).min(best.len()));
            let candidate = Arc::new(candidate);
            match run(name, target, &candidate, 0, &mut Features::default()) {
                Some(g) if g.at == f.at => best = candidate.to_vec(),
                _ => at += chunk,
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    best
}

/// Inputs to mutate: the seeds first, then what was kept.
struct Pool {
    items: Vec<Arc<Vec<u8>>>,
    seeds: usize,
}

impl Pool {
    fn new(seeds: Vec<Vec<u8>>) -> Pool {
        Pool {
            seeds: seeds.len(),
            items: seeds.into_iter().map(Arc::new).collect(),
        }
    }

    fn pick(&self, rng: &mut Rng) -> &Arc<Vec<u8>> {
        &self.items[rng.below(self.items.len())]
    }

    fn add(&mut self, input: Arc<Vec<u8>>, rng: &mut Rng) {
        if self.items.len() < MAX_POOL.max(self.seeds + 1) {
            self.items.push(input);
        } else {
            let at = self.seeds + rng.below(self.items.len() - self.seeds);
            self.items[at] = input;
        }
    }
}

fn env_num(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
    .or_else(|| panic!("{name}={v} is not a number"))
}

/// Whether `cargo test`'s arguments select this test ("fuzz"), as libtest
/// would: a name filter, `--exact`, `--skip`; `--ignored` and `--bench`
/// runs leave it out. `--list` lists it (for nextest).
fn selected() -> bool {
    const NAME: &str = "fuzz";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let exact = args.iter().any(|a| a == "--exact");
    let matches = |f: &str| if exact { f == NAME } else { NAME.contains(f) };
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut list = false;
    let mut ignored = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => list = true,
            "--ignored" | "--bench" => ignored = true,
            "--skip" => skips.extend(it.next().cloned()),
            "--test-threads" | "--format" | "--color" | "--logfile" | "-Z" | "--shuffle-seed" => {
                it.next();
            }
            s if s.starts_with('-') => {}
            s => filters.push(s.to_string()),
        }
    }
    let chosen = !ignored
        && (filters.is_empty() || filters.iter().any(|f| matches(f)))
        && !skips.iter().any(|s| NAME.contains(s.as_str()));
    if list {
        if chosen {
            println!("{NAME}: test");
        }
        std::process::exit(0);
    }
    chosen
}

fn replay(path: &Path) -> bool {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("FUZZ_REPLAY's folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "txt"))
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut ok = true;
    for p in files {
        let input = Arc::new(std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())));
        for (name, target) in TARGETS {
            let started = Instant::now();
            match run(name, target, &input, 0, &mut Features::default()) {
                None => println!(
                    "replay {}: {name}: ok ({:.3} s)",
                    p.display(),
                    started.elapsed().as_secs_f64()
                ),
                Some(f) => {
                    ok = false;
                    println!(
                        "replay {}: {name}: FAILED: {} (at {})",
                        p.display(),
                        f.message,
                        f.at
                    );
                }
            }
        }
    }
    ok
}

fn main() {
    if !selected() {
        println!("fuzz: not selected by the arguments");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let hang = Duration::from_secs_f64(env_num("FUZZ_HANG_SECONDS").unwrap_or(5) as f64);
    let dir = std::env::var_os("FUZZ_FINDINGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/fuzz-findings"));
    if let Some(p) = std::env::var_os("FUZZ_REPLAY") {
        install_hook(false);
        watchdog(Context { dir, seed: 0, hang });
        if !replay(Path::new(&p)) {
            std::process::exit(1);
        }
        return;
    }
    let seed = env_num("FUZZ_SEED").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        mix(t.as_nanos() as u64 ^ u64::from(std::process::id()))
    });
    let secs = env_num("FUZZ_SECONDS").unwrap_or(15);
    let max_execs = env_num("FUZZ_EXECS").unwrap_or(u64::MAX);
    let ctx = Context { dir, seed, hang };
    println!("fuzz: FUZZ_SEED={seed:#x}, {secs} s");
    install_hook(true);
    watchdog(ctx.clone());

    let seeds = corpus::load(root);
    assert!(
        !seeds.files.is_empty(),
        "no seed captures under {}",
        root.display()
    );
    // Two pools, so that the packets (many, small, for the decoder alone)
    // do not crowd out the captures every target reads.
    let mut pools = [
        Pool::new(seeds.files.into_iter().map(|(_, b)| b).collect()),
        Pool::new(seeds.packets),
    ];
    let (n_files, n_packets) = (pools[0].seeds, pools[1].seeds);
    let n_seeds = n_files + n_packets;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut rng = Rng::new(seed);
    let mut seen: HashSet<u64> = HashSet::new();
    let mut findings: HashMap<(&str, u64), u64> = HashMap::new();
    let mut execs: u64 = 0;
    let mut added = 0usize;
    // The seeds as they are first (their features are the baseline), then
    // mutants, until the time or the count is up.
    let mut next_seed = 0;
    // A long run says how it goes once a minute.
    let mut next_note = started + Duration::from_secs(60);
    while Instant::now() < deadline && execs < max_execs {
        if Instant::now() >= next_note {
            next_note += Duration::from_secs(60);
            println!(
                "fuzz: {:.0} s, {execs} executions, corpus {}, {} features, {} findings",
                started.elapsed().as_secs_f64(),
                pools[0].items.len() + pools[1].items.len(),
                seen.len(),
                findings.len()
            );
        }
        // Captures three times in four.
        let mut pool = usize::from(rng.one_in(4) && !pools[1].items.is_empty());
        let input = if next_seed < n_seeds {
            next_seed += 1;
            pool = usize::from(next_seed > n_files);
            let i = if pool == 0 {
                next_seed - 1
            } else {
                next_seed - 1 - n_files
            };
            Arc::clone(&pools[pool].items[i])
        } else {
            let mut b = pools[pool].pick(&mut rng).to_vec();
            let from = if pools[1].items.is_empty() {
                0
            } else {
                rng.below(2)
            };
            let donor = Arc::clone(pools[from].pick(&mut rng));
            havoc(&mut rng, &mut b, &donor);
            if rng.one_in(16) {
                // Compressed, and sometimes damaged again: the
                // decompressors' errors under the reader.
                let how = rng.pick(&[Packing::Gzip, Packing::Xz, Packing::Zstd]);
                b = compress(how, &b);
                if rng.one_in(2) {
                    havoc(&mut rng, &mut b, &[]);
                }
            }
            b.truncate(MAX_LEN);
            Arc::new(b)
        };
        execs += 1;
        let mut features = Features::default();
        for (name, target) in TARGETS {
            let Some(f) = run(name, target, &input, execs, &mut features) else {
                continue;
            };
            let key = f.key(name);
            let count = findings.entry((name, key)).or_insert(0);
            *count += 1;
            if *count == 1 {
                let small = minimize(name, target, &input, &f);
                ctx.write(name, key, &f, execs, &input, &small);
            }
        }
        let mut new = false;
        for h in features.0 {
            new |= seen.insert(h);
        }
        if new && next_seed >= n_seeds {
            added += 1;
            pools[pool].add(input, &mut rng);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total: u64 = findings.values().sum();
    println!(
        "fuzz: {execs} executions in {elapsed:.1} s over {n_seeds} seeds ({n_files} captures, \
         {n_packets} packets; {} run as they are), {added} inputs added, {} features, \
         FUZZ_SEED={seed:#x}, {} findings",
        next_seed,
        seen.len(),
        findings.len()
    );
    if !findings.is_empty() {
        let mut list: Vec<_> = findings.into_iter().collect();
        list.sort();
        for ((target, key), n) in list {
            println!(
                "fuzz: {target}-{key:016x}: {n} inputs, in {}",
                ctx.dir.display()
            );
        }
        println!("fuzz: {total} failing inputs; see the .txt files for how to replay them");
        std::process::exit(1);
    }
}
