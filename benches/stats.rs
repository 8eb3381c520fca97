//! Throughput of the `stats` path (`tcpladder::analysis::stream_file` with
//! the configuration `tcpladder stats` uses), next to tshark and tcpdump on
//! the same file when they are installed.
//!
//! The input is synthetic and deterministic: about 2.5 million Ethernet/IPv4
//! packets of many interleaved TCP connections over ten minutes of capture
//! time, written once to `target/bench/synthetic-2.5M.pcap` (delete it to
//! have it written again). See `docs/performance.md`.
//!
//! Environment:
//! * `BENCH_ITERATIONS` — timed runs of our own path (default 5).
//! * `BENCH_EXTERNAL=0` — skip tshark and tcpdump.
//! * `BENCH_TCPDUMP_ITERATIONS` — timed runs of tcpdump (default 3); tshark
//!   runs once, it takes long on this file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tcpladder::analysis::{self, Filter};
use tcpladder::stats::Totals;
use tcpladder::track::{DEFAULT_MSL, TrackConfig};

type Res<T> = Result<T, Box<dyn Error>>;

/// How many packets the synthetic file holds (a few more: the last
/// connections are written whole).
const TARGET_PACKETS: u64 = 2_500_000;
/// Capture time the connections' starts are spread over.
const CAPTURE_SECS: u64 = 600;
const FILE_NAME: &str = "synthetic-2.5M.pcap";

fn main() -> Res<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(FILE_NAME);
    if path.is_file() {
        println!("using {}", path.display());
    } else {
        let t = Instant::now();
        let tmp = dir.join(format!("{FILE_NAME}.partial"));
        let n = write_synthetic(&tmp)?;
        std::fs::rename(&tmp, &path)?;
        println!(
            "wrote {} ({n} packets) in {:.1} s",
            path.display(),
            t.elapsed().as_secs_f64()
        );
    }
    let bytes = std::fs::metadata(&path)?.len();

    let iterations = env_number("BENCH_ITERATIONS", 5).max(1);
    // One untimed run reads the file into the page cache and checks it.
    let (packets, totals) = run_stats(&path)?;
    println!(
        "file: {packets} packets, {:.1} MiB ({:.0} bytes/packet); {} connections \
         (opening {:?}; closing {:?}; {} retransmissions, {} TIME-WAITs)",
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / packets.max(1) as f64,
        totals.connections,
        totals.by_opening,
        totals.by_closing,
        totals.retransmissions,
        totals.time_waits
    );
    let mut ours = Vec::new();
    for _ in 0..iterations {
        let cpu0 = thread_cpu();
        let t = Instant::now();
        let (n, _) = run_stats(&path)?;
        let wall = t.elapsed();
        let cpu = cpu0.zip(thread_cpu()).map(|(a, b)| b.saturating_sub(a));
        if n != packets {
            return Err(format!("run read {n} packets, the first {packets}").into());
        }
        ours.push(Timing { wall, cpu });
    }
    println!();
    println!(
        "{:<46} {:>9} {:>9} {:>9} {:>11} {:>11}",
        "", "best", "median", "CPU", "pkts/s", "pkts/s"
    );
    println!(
        "{:<46} {:>9} {:>9} {:>9} {:>11} {:>11}",
        "", "wall", "wall", "median", "best wall", "median CPU"
    );
    print_row(
        &format!("tcpladder stats path ({iterations} runs, 1 thread)"),
        &mut ours,
        packets,
    );

    if std::env::var("BENCH_EXTERNAL").as_deref() == Ok("0") {
        return Ok(());
    }
    let pin = on_path("taskset");
    let note = if pin { "taskset -c 0" } else { "not pinned" };
    if on_path("tcpdump") {
        let runs = env_number("BENCH_TCPDUMP_ITERATIONS", 3).max(1);
        let mut t = Vec::new();
        for _ in 0..runs {
            t.push(time_tool(pin, "tcpdump", &["-nn", "-r"], &path, &[])?);
        }
        print_row(
            &format!("tcpdump -nn -r ({runs} runs, {note})"),
            &mut t,
            packets,
        );
    } else {
        println!("tcpdump: not on PATH, skipped");
    }
    if on_path("tshark") {
        let mut t = vec![time_tool(
            pin,
            "tshark",
            &["-r"],
            &path,
            &["-q", "-z", "conv,tcp"],
        )?];
        print_row(
            &format!("tshark -q -z conv,tcp (1 run, {note})"),
            &mut t,
            packets,
        );
    } else {
        println!("tshark: not on PATH, skipped");
    }
    Ok(())
}

/// One timed run: wall time, and CPU time (user + system) when known.
#[derive(Clone, Copy, Debug)]
struct Timing {
    wall: Duration,
    cpu: Option<Duration>,
}

fn print_row(what: &str, runs: &mut [Timing], packets: u64) {
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

/// The `stats` subcommand's work, without printing.
fn run_stats(path: &Path) -> Res<(u64, Totals)> {
    let cfg = TrackConfig {
        msl: DEFAULT_MSL,
        keep_segments: false,
        stream: true,
        ..TrackConfig::default()
    };
    let mut totals = Totals::default();
    let report = analysis::stream_file(path, Filter::default(), cfg, |c| totals.add(&c))?;
    Ok((report.packets, totals))
}

/// CPU time this thread has run, from Linux's schedstat (nanoseconds).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Runs `tool before.. FILE after..` with its output discarded, pinned to
/// CPU 0 when `pin`. CPU time comes from GNU time when it is installed.
fn time_tool(pin: bool, tool: &str, before: &[&str], file: &Path, after: &[&str]) -> Res<Timing> {
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
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let t = Instant::now();
    let status = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let wall = t.elapsed();
    if !status.success() {
        return Err(format!("{tool} failed: {status}").into());
    }
    let cpu = std::fs::read_to_string(&usage).ok().and_then(|s| {
        let mut it = s.split_whitespace().map(|v| v.parse::<f64>().ok());
        let user = it.next()??;
        let sys = it.next()??;
        Some(Duration::from_secs_f64(user + sys))
    });
    let _ = std::fs::remove_file(&usage);
    Ok(Timing { wall, cpu })
}

// ---------------------------------------------------------------------------
// The synthetic capture.

/// splitmix64: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }

    /// Roughly log-uniform in [lo, hi): many small values, a few large.
    fn log_range(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        (l + u * (h - l)).exp() as u64
    }
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Maximum payload per segment: MSS 1460 less the 12 bytes of timestamps.
const SEG: u32 = 1448;

/// One packet to write, with everything its bytes need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pkt {
    /// Microseconds since the start of the capture.
    t: u64,
    /// Tie-break so equal times keep the order they were made in.
    order: u64,
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    len: u16,
    win: u16,
    ttl: u8,
    /// SYN options (MSS, SACK permitted, timestamps, window scale).
    syn_options: bool,
}

/// Writes one connection's packets into `out`, starting at `start` µs.
struct ConnGen<'a> {
    rng: &'a mut Rng,
    out: &'a mut Vec<Pkt>,
    client: (u32, u16),
    server: (u32, u16),
    order: &'a mut u64,
}

impl ConnGen<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        t: u64,
        from_client: bool,
        seq: u32,
        ack: u32,
        flags: u8,
        len: u32,
        syn: bool,
    ) {
        let (src, dst) = if from_client {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        };
        *self.order += 1;
        self.out.push(Pkt {
            t,
            order: *self.order,
            src: src.0,
            dst: dst.0,
            sport: src.1,
            dport: dst.1,
            seq,
            ack,
            flags,
            len: len as u16,
            win: if from_client { 502 } else { 509 },
            ttl: if from_client { 64 } else { 57 },
            syn_options: syn,
        });
    }

    /// A whole connection: handshake, request/response exchanges, close.
    fn connection(&mut self, start: u64) {
        let rtt = self.rng.log_range(300, 80_000); // 0.3 ms .. 80 ms
        let half = rtt / 2;
        let c_isn = self.rng.next() as u32;
        let s_isn = self.rng.next() as u32;
        let mut t = start;

        // 1% of SYNs are lost once: the retry follows after 1 s.
        self.push(t, true, c_isn, 0, SYN, 0, true);
        if self.rng.chance(10) {
            t += 1_000_000;
            self.push(t, true, c_isn, 0, SYN, 0, true);
        }
        // 5% are refused: the port is closed.
        if self.rng.chance(50) {
            self.push(
                t + half.max(50),
                false,
                0,
                c_isn.wrapping_add(1),
                RST | ACK,
                0,
                false,
            );
            return;
        }
        t += rtt;
        self.push(t, false, s_isn, c_isn.wrapping_add(1), SYN | ACK, 0, true);
        t += self.rng.range(20, 200);
        let mut cs = c_isn.wrapping_add(1); // client's next sequence number
        let mut ss = s_isn.wrapping_add(1);
        self.push(t, true, cs, ss, ACK, 0, false);

        let exchanges = self.rng.range(1, 4);
        for i in 0..exchanges {
            if i > 0 {
                t += self.rng.log_range(1_000, 2_000_000); // client idle
            }
            let req = self.rng.range(60, 900) as u32;
            t += self.rng.range(5, 100);
            self.push(t, true, cs, ss, PSH | ACK, req, false);
            cs = cs.wrapping_add(req);
            // The server thinks; a slow answer gets a bare ACK first.
            let think = self.rng.log_range(50, 60_000);
            t += half;
            if think > 40_000 {
                self.push(t, false, ss, cs, ACK, 0, false);
            }
            t += think;
            let resp = self.rng.log_range(100, 40_000) as u32;
            let mut sent = 0;
            let mut unacked = 0;
            // About 1.5% of data segments are lost after the capture point
            // (at most one a response): the client's ACKs stop below it
            // (duplicate ACKs), and the server sends it again after its RTO.
            let mut lost: Option<(u32, u32, u8)> = None;
            while sent < resp {
                let n = (resp - sent).min(SEG);
                let last = sent + n == resp;
                let flags = if last { PSH | ACK } else { ACK };
                self.push(t, false, ss, cs, flags, n, false);
                if lost.is_none() && self.rng.chance(15) {
                    lost = Some((ss, n, flags));
                }
                ss = ss.wrapping_add(n);
                sent += n;
                unacked += 1;
                t += self.rng.range(10, 120);
                // Delayed ACK: every second segment, and the last.
                if unacked == 2 || last {
                    let acked = lost.map_or(ss, |(seq, _, _)| seq);
                    self.push(t + half, true, cs, acked, ACK, 0, false);
                    unacked = 0;
                }
            }
            if let Some((seq, n, flags)) = lost {
                t += 200_000 + rtt;
                self.push(t, false, seq, cs, flags, n, false);
                t += half;
                self.push(t, true, cs, ss, ACK, 0, false);
            }
            t += half;
        }

        // Close. 2% end with an RST from the client instead.
        t += self.rng.log_range(100, 500_000);
        if self.rng.chance(20) {
            self.push(t, true, cs, ss, RST | ACK, 0, false);
            return;
        }
        let client_first = self.rng.chance(650);
        let (a_seq, b_seq) = if client_first { (cs, ss) } else { (ss, cs) };
        // The active closer's FIN, the passive side's ACK, its FIN a little
        // later, and the final ACK from the closer (four-way close).
        self.push(t, client_first, a_seq, b_seq, FIN | ACK, 0, false);
        t += half;
        self.push(
            t,
            !client_first,
            b_seq,
            a_seq.wrapping_add(1),
            ACK,
            0,
            false,
        );
        t += self.rng.range(30, 3_000);
        self.push(
            t,
            !client_first,
            b_seq,
            a_seq.wrapping_add(1),
            FIN | ACK,
            0,
            false,
        );
        t += half;
        self.push(
            t,
            client_first,
            a_seq.wrapping_add(1),
            b_seq.wrapping_add(1),
            ACK,
            0,
            false,
        );
    }
}

/// Client hosts and their next ephemeral port (ports rise, as on Linux, so a
/// 4-tuple is not reused while an earlier connection may still linger).
struct Clients {
    hosts: Vec<(u32, u16)>,
}

impl Clients {
    /// `n` clients scattered over the unicast space, as a server facing the
    /// Internet sees them (private, loopback and multicast ranges avoided).
    fn new(n: usize, rng: &mut Rng) -> Clients {
        let mut hosts = Vec::with_capacity(n);
        while hosts.len() < n {
            let a = rng.range(1, 224) as u8;
            if matches!(a, 10 | 100 | 127 | 169 | 172 | 192 | 198) {
                continue;
            }
            let rest = rng.next() as u32 & 0x00ff_ffff;
            let ip = (u32::from(a) << 24) | rest.max(1);
            hosts.push((ip, rng.range(32_768, 61_000) as u16));
        }
        Clients { hosts }
    }

    fn take(&mut self, rng: &mut Rng) -> (u32, u16) {
        let i = rng.range(0, self.hosts.len() as u64) as usize;
        let (ip, port) = self.hosts[i];
        self.hosts[i].1 = if port >= 60_999 { 32_768 } else { port + 1 };
        (ip, port)
    }
}

/// Writes the synthetic capture; returns the number of packets.
fn write_synthetic(path: &Path) -> Res<u64> {
    let mut rng = Rng(0x7c91_adde);
    let mut clients = Clients::new(20_000, &mut rng);
    let server_ports = [443u16, 443, 443, 80, 80, 8080, 22, 5432, 6379, 9502];
    // Start times: a Poisson process whose rate puts TARGET_PACKETS into
    // CAPTURE_SECS (about 21 packets a connection).
    let per_sec = TARGET_PACKETS as f64 / 21.0 / CAPTURE_SECS as f64;
    let mean_gap_us = 1e6 / per_sec;

    let mut w = PcapWriter::create(path)?;
    let mut heap: BinaryHeap<Reverse<Pkt>> = BinaryHeap::new();
    let mut script = Vec::new();
    let mut order = 0u64;
    let mut scheduled = 0u64;
    let mut next_start = 0u64;
    let mut written = 0u64;
    let base_secs = 1_767_225_600u64; // 2026-01-01T00:00:00Z
    loop {
        // Start every connection due before the next packet to write.
        while scheduled < TARGET_PACKETS && heap.peek().is_none_or(|Reverse(p)| next_start <= p.t) {
            let server_ip = u32::from_be_bytes([192, 0, 2, rng.range(1, 200) as u8]);
            let sport = server_ports[rng.range(0, server_ports.len() as u64) as usize];
            let client = clients.take(&mut rng);
            script.clear();
            ConnGen {
                rng: &mut rng,
                out: &mut script,
                client,
                server: (server_ip, sport),
                order: &mut order,
            }
            .connection(next_start);
            scheduled += script.len() as u64;
            heap.extend(script.drain(..).map(Reverse));
            let u = ((rng.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            next_start += (-u.ln() * mean_gap_us) as u64 + 1;
        }
        let Some(Reverse(p)) = heap.pop() else { break };
        w.packet(base_secs, &p)?;
        written += 1;
    }
    w.finish()?;
    Ok(written)
}

/// A minimal little-endian, microsecond pcap writer for Ethernet frames.
struct PcapWriter {
    out: BufWriter<File>,
    frame: Vec<u8>,
    ip_id: u16,
    /// Payload bytes, the first `len` of which every segment carries.
    payload: Vec<u8>,
}

impl PcapWriter {
    fn create(path: &Path) -> Res<PcapWriter> {
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
        })
    }

    fn packet(&mut self, base_secs: u64, p: &Pkt) -> Res<()> {
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
        let usecs = p.t % 1_000_000;
        let len = f.len() as u32;
        self.out.write_all(&(secs as u32).to_le_bytes())?;
        self.out.write_all(&(usecs as u32).to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(f)?;
        Ok(())
    }

    fn finish(mut self) -> Res<()> {
        self.out.flush()?;
        Ok(())
    }
}

/// One segment's worth of pseudo-random bytes.
fn payload_block() -> Vec<u8> {
    let mut rng = Rng(0x5eed_0fda);
    (0..SEG).map(|_| (rng.next() >> 56) as u8).collect()
}

/// One's-complement sum of big-endian 16-bit words (odd byte padded).
fn sum_words(mut acc: u32, b: &[u8]) -> u32 {
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

fn checksum(acc: u32, b: &[u8]) -> u16 {
    !(sum_words(acc, b) as u16)
}
