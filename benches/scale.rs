//! The scale table of docs/performance.md: the release binary on large
//! captures, side by side with tshark and tcpdump in the same run.
//!
//! The files are written on first use to `target/bench/` (delete one to
//! have it written again):
//! * `loopback-0.5M.pcap`, `loopback-2.5M.pcap`, `loopback-10M.pcap`: the real loopback
//!   connections of `captures/*.pcap` (recorded from the Linux kernel),
//!   repeated on new client and server addresses, one copy of a file every
//!   50 ms of capture time, so about 12,000 connections are held at once
//!   (each lingers 2×MSL after its last segment).
//! * `synflood-1M.pcap`: a million unanswered SYNs from distinct sources
//!   in one minute, all of them open at once.
//! * `bulk-2M.pcap`: one connection of two million segments (data and
//!   delayed ACKs), captured with `-s 66`-style truncation.
//!
//! Each row runs `tcpladder` (the binary Cargo built for this benchmark)
//! under GNU time for wall, CPU and peak memory. Environment:
//! * `BENCH_FILES=loopback-0.5M,synflood-1M,...`: only these files.
//! * `BENCH_ITERATIONS=N`: runs of each of our commands (default 3; best
//!   wall and lowest RSS reported).
//! * `BENCH_EXTERNAL=0`: skip tshark and tcpdump.
//! * `BENCH_BEFORE=PATH`: also time another tcpladder binary (an earlier
//!   build) on the same rows, for before-and-after figures.

mod common;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The capture files a row runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    Loopback { packets: u64, name: &'static str },
    SynFlood,
    Bulk,
}

impl Input {
    fn name(self) -> &'static str {
        match self {
            Input::Loopback { name, .. } => name,
            Input::SynFlood => "synflood-1M",
            Input::Bulk => "bulk-2M",
        }
    }

    fn write(self, path: &Path) -> Res<u64> {
        match self {
            Input::Loopback { packets, .. } => write_loopback(path, packets),
            Input::SynFlood => write_syn_flood(path, 1_000_000),
            Input::Bulk => write_bulk(path, 2_000_000),
        }
    }
}

const INPUTS: [Input; 5] = [
    Input::Loopback {
        packets: 500_000,
        name: "loopback-0.5M",
    },
    Input::Loopback {
        packets: 2_500_000,
        name: "loopback-2.5M",
    },
    Input::Loopback {
        packets: 10_000_000,
        name: "loopback-10M",
    },
    Input::SynFlood,
    Input::Bulk,
];

fn main() -> Res<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let ours = PathBuf::from(env!("CARGO_BIN_EXE_tcpladder"));
    let before = std::env::var_os("BENCH_BEFORE").map(PathBuf::from);
    let wanted = std::env::var("BENCH_FILES").ok();
    let iterations = env_number("BENCH_ITERATIONS", 3).max(1);
    let external = std::env::var("BENCH_EXTERNAL").as_deref() != Ok("0");
    let tshark = external && on_path("tshark");
    let tcpdump = external && on_path("tcpdump");
    if !Path::new("/usr/bin/time").is_file() {
        return Err("GNU time (/usr/bin/time) is needed for CPU and memory figures".into());
    }
    for input in INPUTS {
        if wanted
            .as_deref()
            .is_some_and(|w| !w.split(',').any(|n| n == input.name()))
        {
            continue;
        }
        let path = dir.join(format!("{}.pcap", input.name()));
        if !path.is_file() {
            let t = Instant::now();
            let tmp = dir.join(format!("{}.pcap.partial", input.name()));
            let n = input.write(&tmp)?;
            std::fs::rename(&tmp, &path)?;
            println!(
                "wrote {} ({n} packets) in {:.1} s",
                path.display(),
                t.elapsed().as_secs_f64()
            );
        }
        // Into the page cache, and the counts the rows divide by.
        let counts = Counts::of(&ours, &path)?;
        let mib = std::fs::metadata(&path)?.len() as f64 / f64::from(1 << 20);
        println!();
        println!(
            "## {}: {} packets, {} TCP segments, {mib:.0} MiB, {} connections",
            input.name(),
            counts.packets,
            counts.segments,
            counts.connections,
        );
        println!(
            "{:<44} {:>9} {:>9} {:>9} {:>10} {:>12}",
            "command", "wall", "CPU", "pkts/s", "max RSS", "per unit"
        );
        let file = path.to_string_lossy().to_string();
        let runs = |binary: &Path, args: &[&str]| -> Res<Usage> {
            let mut best: Option<Usage> = None;
            for _ in 0..iterations {
                let u = run_timed(binary.as_os_str(), args)?;
                best = Some(best.map_or(u, |b| b.best(u)));
            }
            best.ok_or_else(|| "no run".into())
        };
        let mut stats = None;
        let mut json = None;
        for (who, binary) in [("tcpladder", Some(&ours)), ("before:", before.as_ref())] {
            let Some(binary) = binary else { continue };
            let s = runs(binary, &["stats", &file])?;
            s.print(&format!("{who} stats"), counts.packets, None);
            if input == Input::SynFlood {
                // All of them are open at once: the last SYN comes long
                // before the first one's retries would end.
                let per = s.max_rss_kb as f64 * 1024.0 / counts.connections.max(1) as f64;
                println!("{:<44} {per:.0} B per open connection", "");
            }
            let j = runs(binary, &["analyze", "--json", &file])?;
            j.print(
                &format!("{who} analyze --json > /dev/null"),
                counts.packets,
                None,
            );
            let a = runs(binary, &["analyze", &file])?;
            a.print(
                &format!("{who} analyze > /dev/null"),
                counts.packets,
                Some(("B/segment", counts.segments)),
            );
            stats.get_or_insert(s);
            json.get_or_insert(j);
        }
        let (Some(stats), Some(json)) = (stats, json) else {
            return Err("no run of ours".into());
        };
        if tshark {
            let t = run_timed("tshark".as_ref(), &["-r", &file, "-q", "-z", "conv,tcp"])?;
            t.print("tshark -q -z conv,tcp", counts.packets, None);
            println!(
                "{:<44} stats {:.1}×, analyze --json {:.1}× tshark's speed",
                "",
                t.wall.as_secs_f64() / stats.wall.as_secs_f64(),
                t.wall.as_secs_f64() / json.wall.as_secs_f64()
            );
        }
        if tcpdump {
            // -S: absolute sequence numbers. For relative ones tcpdump
            // keeps every connection in a hash table of 919 chains, and
            // a million connections make that quadratic (hours on the
            // 10 M file).
            let t = run_timed("tcpdump".as_ref(), &["-nn", "-S", "-r", &file])?;
            t.print("tcpdump -nn -S -r", counts.packets, None);
        }
    }
    Ok(())
}

/// What `tcpladder stats --json` counts in a file.
struct Counts {
    packets: u64,
    segments: u64,
    connections: u64,
}

impl Counts {
    fn of(ours: &Path, file: &Path) -> Res<Counts> {
        let out = Command::new(ours)
            .args(["stats", "--json"])
            .arg(file)
            .stderr(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(format!("tcpladder stats --json {} failed", file.display()).into());
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let n = |k: &str| v.pointer(k).and_then(|x| x.as_u64()).unwrap_or(0);
        Ok(Counts {
            packets: n("/packets"),
            segments: n("/tcp_segments"),
            connections: n("/connections"),
        })
    }
}

/// One command's wall time, CPU time and peak resident memory.
#[derive(Clone, Copy, Debug)]
struct Usage {
    wall: Duration,
    cpu: Duration,
    max_rss_kb: u64,
}

impl Usage {
    /// The best of two runs: least wall time, least memory.
    fn best(self, o: Usage) -> Usage {
        Usage {
            wall: self.wall.min(o.wall),
            cpu: self.cpu.min(o.cpu),
            max_rss_kb: self.max_rss_kb.min(o.max_rss_kb),
        }
    }

    fn print(&self, what: &str, packets: u64, per: Option<(&str, u64)>) {
        let per = per.map_or(String::new(), |(unit, n)| {
            format!(
                "{:.0} {unit}",
                self.max_rss_kb as f64 * 1024.0 / n.max(1) as f64
            )
        });
        println!(
            "{what:<44} {:>7.3} s {:>7.3} s {:>8.2} M {:>7} MB {per:>12}",
            self.wall.as_secs_f64(),
            self.cpu.as_secs_f64(),
            packets as f64 / self.wall.as_secs_f64() / 1e6,
            self.max_rss_kb / 1024,
        );
    }
}

/// Runs a command under GNU time with its output discarded.
fn run_timed(program: &std::ffi::OsStr, args: &[&str]) -> Res<Usage> {
    let usage = std::env::temp_dir().join(format!("tcpladder-scale-{}.time", std::process::id()));
    let mut argv: Vec<std::ffi::OsString> = ["/usr/bin/time", "-f", "%U %S %M", "-o"]
        .map(Into::into)
        .to_vec();
    argv.push(usage.clone().into());
    argv.push(program.into());
    argv.extend(args.iter().map(Into::into));
    let wall = run_discarding(&argv)?;
    let text = std::fs::read_to_string(&usage)?;
    let _ = std::fs::remove_file(&usage);
    let mut it = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .map(|v| v.parse::<f64>());
    let (Some(Ok(user)), Some(Ok(sys)), Some(Ok(rss))) = (it.next(), it.next(), it.next()) else {
        return Err(format!("GNU time wrote {text:?}").into());
    };
    Ok(Usage {
        wall,
        cpu: Duration::from_secs_f64(user + sys),
        max_rss_kb: rss as u64,
    })
}

// ---------------------------------------------------------------------------
// The files.

/// 2026-01-01T00:00:00Z.
const BASE_SECS: u64 = 1_767_225_600;

/// The packets of one bundled capture, times relative to its first.
struct Template {
    packets: Vec<(u64, Vec<u8>)>,
}

/// The bundled loopback captures that are little-endian microsecond pcap
/// of Ethernet/IPv4/TCP (all but the IPv6 and nanosecond ones).
fn templates() -> Res<Vec<Template>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for path in names {
        let bytes = std::fs::read(&path)?;
        if bytes.len() < 24 || bytes[..4] != [0xd4, 0xc3, 0xb2, 0xa1] {
            continue;
        }
        let mut packets = Vec::new();
        let mut at = 24;
        let mut first = None;
        let mut ipv4_tcp = true;
        while at + 16 <= bytes.len() {
            let word =
                |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
            let us = u64::from(word(at)) * 1_000_000 + u64::from(word(at + 4));
            let caplen = word(at + 8) as usize;
            let data = bytes.get(at + 16..at + 16 + caplen).ok_or("short record")?;
            at += 16 + caplen;
            if data.len() < 54 || data[12..14] != [0x08, 0x00] || data[23] != 6 {
                ipv4_tcp = false;
                break;
            }
            let t0 = *first.get_or_insert(us);
            packets.push((us - t0, data.to_vec()));
        }
        if ipv4_tcp && !packets.is_empty() {
            out.push(Template { packets });
        }
    }
    if out.is_empty() {
        return Err("no usable capture in captures/".into());
    }
    Ok(out)
}

/// The port the bundled captures' server listens on.
const SERVER_PORT: u16 = 9502;

/// `frame` with copy `k`'s addresses: the end on port 9502 becomes one of
/// 200 servers, the other a client address of its own; checksums redone.
fn readdress(frame: &mut [u8], k: u64) {
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let tcp = 14 + ihl;
    // Spread over the whole address space (a bijection of k): tcpdump
    // hashes addresses by their first bits, and a /8 of clients would put
    // them all in one of its buckets.
    let client = (k as u32).wrapping_mul(0x9e37_79b1).to_be_bytes();
    let server = u32::from_be_bytes([192, 168, 0, 1 + (k % 200) as u8]).to_be_bytes();
    for (addr_at, port_at) in [(26, tcp), (30, tcp + 2)] {
        let port = u16::from_be_bytes([frame[port_at], frame[port_at + 1]]);
        let addr = if port == SERVER_PORT { server } else { client };
        frame[addr_at..addr_at + 4].copy_from_slice(&addr);
    }
    frame[24..26].copy_from_slice(&[0, 0]);
    let sum = checksum(0, &frame[14..14 + ihl]);
    frame[24..26].copy_from_slice(&sum.to_be_bytes());
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    let end = (14 + total).min(frame.len());
    if end == 14 + total && tcp + 18 <= end {
        frame[tcp + 16..tcp + 18].copy_from_slice(&[0, 0]);
        let mut pseudo = [0u8; 12];
        pseudo[..8].copy_from_slice(&frame[26..34]);
        pseudo[9] = 6;
        pseudo[10..12].copy_from_slice(&((total - ihl) as u16).to_be_bytes());
        let sum = checksum(sum_words(0, &pseudo), &frame[tcp..end]);
        frame[tcp + 16..tcp + 18].copy_from_slice(&sum.to_be_bytes());
    }
}

/// Copies of the bundled captures, one starting every 50 ms, until
/// `target` packets are written (the last copy whole).
fn write_loopback(path: &Path, target: u64) -> Res<u64> {
    const EVERY_US: u64 = 50_000;
    let templates = templates()?;
    let mut w = PcapWriter::create(path)?;
    // (time, copy, index): the next packet of each copy under way.
    let mut heap: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
    let mut copies = 0u64;
    let mut scheduled = 0u64;
    let mut written = 0u64;
    let mut frame = Vec::new();
    loop {
        let next_start = copies * EVERY_US;
        if scheduled < target
            && heap
                .peek()
                .is_none_or(|Reverse((t, _, _))| next_start <= *t)
        {
            let tpl = &templates[(copies % templates.len() as u64) as usize];
            scheduled += tpl.packets.len() as u64;
            heap.push(Reverse((next_start, copies, 0)));
            copies += 1;
            continue;
        }
        let Some(Reverse((t, k, i))) = heap.pop() else {
            break;
        };
        let tpl = &templates[(k % templates.len() as u64) as usize];
        frame.clear();
        frame.extend_from_slice(&tpl.packets[i].1);
        readdress(&mut frame, k);
        w.raw(
            BASE_SECS + t / 1_000_000,
            t % 1_000_000,
            &frame,
            frame.len() as u32,
        )?;
        written += 1;
        if let Some((rel, _)) = tpl.packets.get(i + 1) {
            heap.push(Reverse((t - tpl.packets[i].0 + rel, k, i + 1)));
        }
    }
    w.finish()?;
    Ok(written)
}

/// `n` bare SYNs, each from its own address and port, to one server, over
/// 60 s: nothing answers, and connect()'s retries last longer than that.
fn write_syn_flood(path: &Path, n: u64) -> Res<u64> {
    let mut w = PcapWriter::create(path)?;
    let mut rng = Rng(0x5f1d_0001);
    for i in 0..n {
        let p = Pkt {
            t: i * 60_000_000 / n,
            order: i,
            // Spread over the address space (see `readdress`).
            src: (i as u32).wrapping_mul(0x9e37_79b1),
            dst: u32::from_be_bytes([192, 168, 0, 1]),
            sport: 1024 + (rng.next() % 60_000) as u16,
            dport: 80,
            seq: rng.next() as u32,
            ack: 0,
            flags: SYN,
            len: 0,
            win: 64_240,
            ttl: 64,
            syn_options: true,
        };
        w.packet(BASE_SECS, &p)?;
    }
    w.finish()?;
    Ok(n)
}

/// One connection of `n` segments: a handshake, full-sized data from the
/// client with an ACK every second segment, and a four-way close; only the
/// headers are captured.
fn write_bulk(path: &Path, n: u64) -> Res<u64> {
    let mut w = PcapWriter::create(path)?;
    w.snap = Some(14 + 20 + 32);
    let (c, s) = (
        (u32::from_be_bytes([10, 1, 0, 1]), 40_000u16),
        (u32::from_be_bytes([10, 1, 0, 2]), 5001u16),
    );
    let (c_isn, s_isn) = (0x1000_0000u32, 0x7000_0000u32);
    let mut order = 0;
    let mut t = 0u64;
    let mut put =
        |w: &mut PcapWriter, t: u64, from_client: bool, seq: u32, ack: u32, flags: u8, len: u16| {
            let ((src, sport), (dst, dport)) = if from_client { (c, s) } else { (s, c) };
            order += 1;
            w.packet(
                BASE_SECS,
                &Pkt {
                    t,
                    order,
                    src,
                    dst,
                    sport,
                    dport,
                    seq,
                    ack,
                    flags,
                    len,
                    win: if from_client { 502 } else { 24_000 },
                    ttl: 64,
                    syn_options: flags & SYN != 0,
                },
            )
        };
    put(&mut w, t, true, c_isn, 0, SYN, 0)?;
    put(&mut w, t + 100, false, s_isn, c_isn + 1, SYN | ACK, 0)?;
    put(&mut w, t + 200, true, c_isn + 1, s_isn + 1, ACK, 0)?;
    let mut written = 3u64;
    let mut seq = c_isn.wrapping_add(1);
    let s_seq = s_isn.wrapping_add(1);
    t += 1000;
    while written + 4 < n {
        put(&mut w, t, true, seq, s_seq, ACK | PSH, SEG as u16)?;
        seq = seq.wrapping_add(SEG);
        written += 1;
        t += 12;
        if written % 3 == 2 {
            put(&mut w, t, false, s_seq, seq, ACK, 0)?;
            written += 1;
        }
    }
    put(&mut w, t + 10, true, seq, s_seq, FIN | ACK, 0)?;
    put(
        &mut w,
        t + 110,
        false,
        s_seq,
        seq.wrapping_add(1),
        FIN | ACK,
        0,
    )?;
    put(
        &mut w,
        t + 210,
        true,
        seq.wrapping_add(1),
        s_seq + 1,
        ACK,
        0,
    )?;
    written += 3;
    w.finish()?;
    Ok(written)
}
