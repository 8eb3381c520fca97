//! What the benchmarks share: timing external tools and our binary, a
//! fixed-seed generator, and a small pcap writer for Ethernet/IPv4/TCP.
// Each benchmark is its own crate and uses only part of this module.
#![allow(dead_code)]

use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub type Res<T> = Result<T, Box<dyn Error>>;

/// One timed run: wall time, and CPU time (user + system) when known.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub wall: Duration,
    pub cpu: Option<Duration>,
}

pub fn print_row(what: &str, runs: &mut [Timing], packets: u64) {
    let secs = |d: Duration| format!("{:.3} s", d.as_secs_f64());
    let rate = |d: Duration| format!("{:.2} M", packets as f64 / d.as_secs_f64() / 1e6);
    runs.sort_by_key(|t| t.wall);
    let best = runs.first().map(|t| t.wall).unwrap_or_default();
    let median = runs.get(runs.len() / 2).map(|t| t.wall).unwrap_or_default();
    let mut cpus: Vec<Duration> = runs.iter().filter_map(|t| t.cpu).collect();
    cpus.sort();
    let cpu = cpus.get(cpus.len() / 2).copied();
    println!(
        "{what:<46} {:>9} {:>9} {:>9} {:>11} {:>11}",
        secs(best),
        secs(median),
        cpu.map_or("-".to_string(), secs),
        rate(best),
        cpu.map_or("-".to_string(), rate)
    );
}

/// CPU time (user + system) the whole process has used, threads that
/// have ended included, from /proc/self/stat (clock ticks of 10 ms).
pub fn process_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may hold spaces: count after it.
    let rest = &s[s.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let sys: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + sys) * 10))
}

pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Runs `tool before.. FILE after..` with its output discarded, pinned to
/// CPU 0 when `pin`. CPU time comes from GNU time when it is installed.
pub fn time_tool(
    pin: bool,
    tool: &str,
    before: &[&str],
    file: &Path,
    after: &[&str],
) -> Res<Timing> {
    let gnu_time = Path::new("/usr/bin/time");
    let usage = std::env::temp_dir().join(format!("tcpladder-bench-{}.time", std::process::id()));
    let mut argv: Vec<std::ffi::OsString> = Vec::new();
    if pin {
        argv.extend(["taskset", "-c", "0"].map(Into::into));
    }
    if gnu_time.is_file() {
        argv.push(gnu_time.into());
        argv.extend(["-f", "%U %S", "-o"].map(Into::into));
        argv.push(usage.clone().into());
    }
    argv.push(tool.into());
    argv.extend(before.iter().map(Into::into));
    argv.push(file.into());
    argv.extend(after.iter().map(Into::into));
    let wall = run_discarding(&argv)?;
    let cpu = std::fs::read_to_string(&usage).ok().and_then(|s| {
        let mut it = s.split_whitespace().map(|v| v.parse::<f64>().ok());
        let user = it.next()??;
        let sys = it.next()??;
        Some(Duration::from_secs_f64(user + sys))
    });
    let _ = std::fs::remove_file(&usage);
    Ok(Timing { wall, cpu })
}

/// Runs `argv` with its output discarded; returns the wall time, or an
/// error naming the program when it fails.
pub fn run_discarding(argv: &[std::ffi::OsString]) -> Res<Duration> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let t = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let wall = t.elapsed();
    if !status.success() {
        let what: Vec<_> = argv.iter().map(|a| a.to_string_lossy()).collect();
        return Err(format!("{} failed: {status}", what.join(" ")).into());
    }
    Ok(wall)
}

// ---------------------------------------------------------------------------
// Synthetic captures.

/// splitmix64: small, fast and the same on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }

    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }

    /// Roughly log-uniform in [lo, hi): many small values, a few large.
    pub fn log_range(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (l + u * (h - l)).exp() as u64
    }
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// Maximum payload per segment: MSS 1460 less the 12 bytes of timestamps.
pub const SEG: u32 = 1448;

/// One packet to write, with everything its bytes need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pkt {
    /// Microseconds since the start of the capture.
    pub t: u64,
    /// Tie-break so equal times keep the order they were made in.
    pub order: u64,
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub len: u16,
    pub win: u16,
    pub ttl: u8,
    /// SYN options (MSS, SACK permitted, timestamps, window scale).
    pub syn_options: bool,
}

/// A minimal little-endian, microsecond pcap writer for Ethernet frames.
pub struct PcapWriter {
    pub out: BufWriter<File>,
    pub frame: Vec<u8>,
    pub ip_id: u16,
    /// Payload bytes, the first `len` of which every segment carries.
    pub payload: Vec<u8>,
    /// Bytes kept of each frame (`tcpdump -s`); None: all.
    pub snap: Option<usize>,
}

impl PcapWriter {
    pub fn create(path: &Path) -> Res<PcapWriter> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?; // thiszone
        out.write_all(&0u32.to_le_bytes())?; // sigfigs
        out.write_all(&262_144u32.to_le_bytes())?; // snaplen
        out.write_all(&1u32.to_le_bytes())?; // LINKTYPE_ETHERNET
        Ok(PcapWriter {
            out,
            frame: Vec::with_capacity(2048),
            ip_id: 1,
            payload: payload_block(),
            snap: None,
        })
    }

    pub fn packet(&mut self, base_secs: u64, p: &Pkt) -> Res<()> {
        let f = &mut self.frame;
        f.clear();
        // Ethernet: MACs derived from the addresses.
        let mac = |ip: u32| {
            let b = ip.to_be_bytes();
            [0x02, 0x42, b[0], b[1], b[2], b[3]]
        };
        f.extend_from_slice(&mac(p.dst));
        f.extend_from_slice(&mac(p.src));
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        // IPv4.
        let opt_len: usize = if p.syn_options { 20 } else { 12 };
        let tcp_len = 20 + opt_len + usize::from(p.len);
        let total = 20 + tcp_len;
        let ip_start = f.len();
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&(total as u16).to_be_bytes());
        f.extend_from_slice(&self.ip_id.to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);
        f.extend_from_slice(&[0x40, 0, p.ttl, 6, 0, 0]); // DF, TTL, TCP
        f.extend_from_slice(&p.src.to_be_bytes());
        f.extend_from_slice(&p.dst.to_be_bytes());
        let sum = checksum(0, &f[ip_start..ip_start + 20]);
        f[ip_start + 10..ip_start + 12].copy_from_slice(&sum.to_be_bytes());
        // TCP.
        let tcp_start = f.len();
        f.extend_from_slice(&p.sport.to_be_bytes());
        f.extend_from_slice(&p.dport.to_be_bytes());
        f.extend_from_slice(&p.seq.to_be_bytes());
        f.extend_from_slice(&p.ack.to_be_bytes());
        f.push((((20 + opt_len) / 4) as u8) << 4);
        f.push(p.flags);
        let win = if p.syn_options { 64_240 } else { p.win };
        f.extend_from_slice(&win.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        // Each host's timestamp clock ticks in milliseconds from its own
        // offset; the echo is the peer's clock.
        let ms = (p.t / 1000) as u32;
        let tsval = ms.wrapping_add(p.src.rotate_left(7));
        let tsecr = if p.flags & ACK != 0 {
            ms.wrapping_add(p.dst.rotate_left(7))
        } else {
            0
        };
        if p.syn_options {
            f.extend_from_slice(&[2, 4, 0x05, 0xb4, 4, 2, 8, 10]); // MSS 1460, SACK-perm, TS
            f.extend_from_slice(&tsval.to_be_bytes());
            f.extend_from_slice(&tsecr.to_be_bytes());
            f.extend_from_slice(&[1, 3, 3, 7]); // NOP, window scale 7
        } else {
            f.extend_from_slice(&[1, 1, 8, 10]);
            f.extend_from_slice(&tsval.to_be_bytes());
            f.extend_from_slice(&tsecr.to_be_bytes());
        }
        // The payload: opaque bytes, as encrypted traffic looks.
        f.extend_from_slice(&self.payload[..usize::from(p.len).min(self.payload.len())]);
        // Checksum over the pseudo-header and the segment.
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&p.src.to_be_bytes());
        pseudo[4..8].copy_from_slice(&p.dst.to_be_bytes());
        pseudo[9] = 6;
        pseudo[10..12].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        let partial = sum_words(0, &pseudo);
        let sum = checksum(partial, &f[tcp_start..]);
        f[tcp_start + 16..tcp_start + 18].copy_from_slice(&sum.to_be_bytes());

        let secs = base_secs + p.t / 1_000_000;
        let frame = std::mem::take(&mut self.frame);
        let kept = self.snap.map_or(frame.len(), |s| s.min(frame.len()));
        let r = self.raw(secs, p.t % 1_000_000, &frame[..kept], frame.len() as u32);
        self.frame = frame;
        r
    }

    /// One record as it stands: `data` captured of a frame `orig_len` long.
    pub fn raw(&mut self, secs: u64, usecs: u64, data: &[u8], orig_len: u32) -> Res<()> {
        self.out.write_all(&(secs as u32).to_le_bytes())?;
        self.out.write_all(&(usecs as u32).to_le_bytes())?;
        self.out.write_all(&(data.len() as u32).to_le_bytes())?;
        self.out.write_all(&orig_len.to_le_bytes())?;
        self.out.write_all(data)?;
        Ok(())
    }

    pub fn finish(mut self) -> Res<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// One segment's worth of pseudo-random bytes.
pub fn payload_block() -> Vec<u8> {
    let mut rng = Rng(0x5eed_0fda);
    (0..SEG).map(|_| (rng.next() >> 56) as u8).collect()
}

/// One's-complement sum of big-endian 16-bit words (odd byte padded).
pub fn sum_words(mut acc: u32, b: &[u8]) -> u32 {
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

pub fn checksum(acc: u32, b: &[u8]) -> u16 {
    !(sum_words(acc, b) as u16)
}
