//! Throughput of the `stats` path (`tcpladder::stats::count_file` with
//! the configuration `tcpladder stats` uses), next
//! to tshark and tcpdump on the same file when they are installed.
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

mod common;

// The allocator `tcpladder` itself runs with, so the figures are the
// command's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::Path;
use std::time::Instant;

use common::*;

use tcpladder::analysis::Filter;
use tcpladder::stats::Totals;
use tcpladder::track::{DEFAULT_MSL, TrackConfig};

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
        let cpu0 = process_cpu();
        let t = Instant::now();
        let (n, _) = run_stats(&path)?;
        let wall = t.elapsed();
        let cpu = cpu0.zip(process_cpu()).map(|(a, b)| b.saturating_sub(a));
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
        &format!("tcpladder stats path ({iterations} runs, 2 threads)"),
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

/// The `stats` subcommand's work, without printing.
fn run_stats(path: &Path) -> Res<(u64, Totals)> {
    let cfg = TrackConfig {
        msl: DEFAULT_MSL,
        keep_segments: false,
        stream: true,
        ..TrackConfig::default()
    };
    let (report, totals) = tcpladder::stats::count_file(path, Filter::default(), cfg)?;
    Ok((report.packets, totals))
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
