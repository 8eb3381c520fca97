//! The real binary on bad input: files that are not captures, captures
//! that are damaged or cut short, packets it cannot decode, and bad
//! arguments. Whatever happens, it exits with 0, 1 or 2, never panics,
//! and says in one line which file is the problem.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Client 10.0.0.1:40000, server 10.0.0.2:80.
const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];
const CPORT: u16 = 40000;
const SPORT: u16 = 80;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

/// An IPv4 + TCP packet without a link layer (link type 101).
fn packet(from_client: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sport, dport) = if from_client {
        (CLIENT, SERVER, CPORT, SPORT)
    } else {
        (SERVER, CLIENT, SPORT, CPORT)
    };
    let total = 40 + payload.len();
    let mut p = vec![0u8; 40];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..28].copy_from_slice(&seq.to_be_bytes());
    p[28..32].copy_from_slice(&ack.to_be_bytes());
    p[32] = 5 << 4;
    p[33] = flags;
    p[34..36].copy_from_slice(&65535u16.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// Handshake, five bytes of data and its ACK, four-way close: 8 packets.
fn conversation() -> Vec<Vec<u8>> {
    vec![
        packet(true, 1000, 0, SYN, &[]),
        packet(false, 5000, 1001, SYN | ACK, &[]),
        packet(true, 1001, 5001, ACK, &[]),
        packet(true, 1001, 5001, PSH | ACK, b"hello"),
        packet(false, 5001, 1006, ACK, &[]),
        packet(true, 1006, 5001, FIN | ACK, &[]),
        packet(false, 5001, 1007, FIN | ACK, &[]),
        packet(true, 1007, 5002, ACK, &[]),
    ]
}

/// A little-endian microsecond pcap, one millisecond between records.
fn pcap(link: u32, packets: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&link.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        f.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        f.extend_from_slice(&(i as u32 * 1000).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(p);
    }
    f
}

/// Offset of record `i`'s header in a file made by [`pcap`].
fn record_offset(packets: &[Vec<u8>], i: usize) -> usize {
    24 + packets[..i].iter().map(|p| 16 + p.len()).sum::<usize>()
}

/// A scratch path, removed again when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn path(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad_input");
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir.join(format!("{}-{name}", std::process::id())))
    }

    fn file(name: &str, bytes: &[u8]) -> Scratch {
        let s = Scratch::path(name);
        std::fs::write(&s.0, bytes).unwrap();
        s
    }

    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.is_dir() {
            let _ = std::fs::remove_dir(&self.0);
        } else {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

fn tcpladder<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpladder"))
        .args(args)
        .output()
        .expect("run tcpladder");
    let run = Run {
        code: out.status.code().expect("exited, not killed by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "tcpladder {:?} panicked:\n{}",
        args.iter()
            .map(|a| a.as_ref().to_owned())
            .collect::<Vec<_>>(),
        run.stderr
    );
    assert!(
        matches!(run.code, 0..=2),
        "exit code {}:\n{}",
        run.code,
        run.stderr
    );
    run
}

/// A file the tool cannot use: exit 1, one line naming the file and the
/// problem, nothing on stdout. Checked for both subcommands and with JSON.
fn assert_fatal(path: &str, problem: &str) {
    for args in [
        vec!["analyze", path],
        vec!["analyze", "--json", path],
        vec!["stats", path],
        vec!["stats", "--json", path],
    ] {
        let r = tcpladder(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        let lines = r.stderr_lines();
        assert_eq!(
            lines.len(),
            1,
            "{args:?}: stderr is not one line:\n{}",
            r.stderr
        );
        assert!(
            lines[0].contains(path),
            "{args:?}: file not named: {}",
            lines[0]
        );
        assert!(lines[0].contains(problem), "{args:?}: {}", lines[0]);
        assert!(r.stdout.is_empty(), "{args:?}: stdout: {}", r.stdout);
    }
}

fn segments(doc: &Value, conn: usize) -> usize {
    doc["connections"][conn]["segments"]
        .as_array()
        .expect("segments array")
        .len()
}

// ---------------------------------------------------------------------------
// Files that are not captures
// ---------------------------------------------------------------------------

#[test]
fn empty_file() {
    let f = Scratch::file("empty.pcap", b"");
    assert_fatal(&f.name(), "empty file");
}

#[test]
fn text_file() {
    let f = Scratch::file("notes.txt", b"this is not a capture\nsecond line\n");
    assert_fatal(
        &f.name(),
        "not a pcap or pcapng file (starts with 74 68 69 73)",
    );
}

#[test]
fn three_bytes() {
    let f = Scratch::file("tiny.pcap", b"abc");
    assert_fatal(&f.name(), "only 3 bytes long");
}

#[test]
fn directory() {
    let d = Scratch::path("a-directory.pcap");
    std::fs::create_dir_all(&d.0).unwrap();
    assert_fatal(&d.name(), "is a directory");
}

#[test]
fn missing_file() {
    let f = Scratch::path("does-not-exist.pcap");
    assert_fatal(&f.name(), "no such file");
}

#[test]
fn file_header_cut_short() {
    let whole = pcap(101, &[]);
    let f = Scratch::file("short-header.pcap", &whole[..10]);
    assert_fatal(&f.name(), "the file header is cut short");
}

// ---------------------------------------------------------------------------
// Captures without connections
// ---------------------------------------------------------------------------

#[test]
fn header_only_has_no_connections() {
    let f = Scratch::file("header-only.pcap", &pcap(101, &[]));
    let name = f.name();

    let r = tcpladder(&["analyze", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("no TCP connections in {name}\n"));
    assert_eq!(r.stderr, "");

    let r = tcpladder(&["analyze", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["connections"].as_array().map(Vec::len), Some(0));

    let r = tcpladder(&["stats", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = r.json();
    assert_eq!(doc["packets"], 0);
    assert_eq!(doc["connections"], 0);
    assert_eq!(doc["skipped"]["total"], 0);
    assert_eq!(doc["warnings"].as_array().map(Vec::len), Some(0));

    // --conn on an empty capture says so.
    let r = tcpladder(&["analyze", "--conn", "1", &name]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("--conn 1 is out of range"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("no TCP connections"), "{}", r.stderr);
}

// ---------------------------------------------------------------------------
// A good capture, then the same one damaged
// ---------------------------------------------------------------------------

#[test]
fn good_capture_for_reference() {
    let f = Scratch::file("good.pcap", &pcap(101, &conversation()));
    let name = f.name();

    let r = tcpladder(&["analyze", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    let doc = r.json();
    assert_eq!(doc["connections"].as_array().map(Vec::len), Some(1));
    let c = &doc["connections"][0];
    assert_eq!(c["client"], "10.0.0.1:40000");
    assert_eq!(c["server"], "10.0.0.2:80");
    assert_eq!(c["opening"], "three-way");
    assert_eq!(c["closing"], "fin");
    assert_eq!(c["closed_by"], "client");
    assert_eq!(segments(&doc, 0), 8);

    let r = tcpladder(&["analyze", "--ascii", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("connection 1: client 10.0.0.1:40000"),
        "{}",
        r.stdout
    );

    let r = tcpladder(&["stats", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    let s = r.json();
    assert_eq!(s["file"], name.as_str());
    assert_eq!(s["packets"], 8);
    assert_eq!(s["tcp_segments"], 8);
    assert_eq!(s["skipped"]["total"], 0);
    assert_eq!(s["connections"], 1);
    assert_eq!(s["by_opening"]["three-way"], 1);
    assert_eq!(s["by_closing"]["fin"], 1);
    assert_eq!(s["time_waits"], 1);
    assert_eq!(s["retransmissions"], 0);
    assert_eq!(s["duration"], 0.007);
    assert_eq!(s["warnings"].as_array().map(Vec::len), Some(0));
}

#[test]
fn last_record_cut_short() {
    let mut bytes = pcap(101, &conversation());
    // Into the middle of the last record's packet bytes.
    bytes.truncate(bytes.len() - 15);
    let f = Scratch::file("cut.pcap", &bytes);
    let name = f.name();

    for json in [false, true] {
        let mut args = vec!["analyze", name.as_str()];
        if json {
            args.push("--json");
        }
        let r = tcpladder(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let lines = r.stderr_lines();
        assert_eq!(lines.len(), 1, "one warning:\n{}", r.stderr);
        assert!(lines[0].contains(&name), "{}", lines[0]);
        assert!(
            lines[0].contains("the last record is cut short"),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("warning"), "{}", lines[0]);
        if json {
            // The seven complete records are all there.
            assert_eq!(segments(&r.json(), 0), 7);
        } else {
            assert!(r.stdout.starts_with("connection 1:"), "{}", r.stdout);
        }
    }

    let r = tcpladder(&["stats", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&name) && r.stderr.contains("cut short"),
        "{}",
        r.stderr
    );

    let r = tcpladder(&["stats", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.json();
    assert_eq!(s["packets"], 7);
    assert_eq!(s["tcp_segments"], 7);
    assert_eq!(s["connections"], 1);
    let warnings = s["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("the last record is cut short"),
        "{warnings:?}"
    );
}

#[test]
fn impossible_record_length_in_the_middle() {
    let packets = conversation();
    let mut bytes = pcap(101, &packets);
    // Record 4's captured length becomes 0xFFFFFFFF.
    let at = record_offset(&packets, 3) + 8;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let f = Scratch::file("bad-length.pcap", &bytes);
    let name = f.name();

    let r = tcpladder(&["analyze", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
    assert!(r.stderr.contains(&name), "{}", r.stderr);
    assert!(r.stderr.contains("resumed at byte"), "{}", r.stderr);
    // Everything but the damaged record: before it and after it.
    assert_eq!(segments(&r.json(), 0), packets.len() - 1);

    let r = tcpladder(&["stats", &name]);
    assert!(r.code == 0 || r.code == 1, "exit {}", r.code);
    assert!(r.stderr.contains(&name), "{}", r.stderr);

    let r = tcpladder(&["stats", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.json();
    assert_eq!(s["packets"], packets.len() - 1);
    assert_eq!(s["warnings"].as_array().map(Vec::len), Some(1));
    assert!(s["warnings"][0].as_str().unwrap().contains(&name), "{s}");
}

#[test]
fn unknown_link_type_is_counted_and_named() {
    let f = Scratch::file("link147.pcap", &pcap(147, &conversation()[..3]));
    let name = f.name();
    let warning = "3 packet(s) with unsupported link type 147 skipped";

    let r = tcpladder(&["stats", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].contains(&name) && lines[0].contains(warning),
        "{}",
        lines[0]
    );
    assert!(
        r.stdout.contains("unsupported link type 3,"),
        "{}",
        r.stdout
    );

    let r = tcpladder(&["stats", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.json();
    assert_eq!(s["packets"], 3);
    assert_eq!(s["tcp_segments"], 0);
    assert_eq!(s["connections"], 0);
    assert_eq!(s["skipped"]["total"], 3);
    assert_eq!(s["skipped"]["unsupported_link_type"], 3);
    assert_eq!(s["skipped"]["undecodable"], 0);
    assert!(s["warnings"][0].as_str().unwrap().contains(warning), "{s}");

    let r = tcpladder(&["analyze", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(warning), "{}", r.stderr);
    assert_eq!(r.stdout, format!("no TCP connections in {name}\n"));
}

#[test]
fn damaged_tcp_header_is_counted_and_located() {
    let mut packets = conversation();
    // Packet 2 (the SYN,ACK): data offset 2.
    packets[1][32] = 2 << 4;
    let f = Scratch::file("bad-tcp.pcap", &pcap(101, &packets));
    let name = f.name();

    let r = tcpladder(&["analyze", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = r.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    let w = lines[0];
    assert!(w.contains(&name), "{w}");
    assert!(w.contains("1 packet(s) could not be decoded"), "{w}");
    assert!(w.contains("packet 2"), "{w}");
    assert!(w.contains("TCP header at offset 32"), "{w}");
    assert!(w.contains("data offset 2 is below 5"), "{w}");
    assert_eq!(segments(&r.json(), 0), 7);

    let r = tcpladder(&["stats", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.json();
    assert_eq!(s["packets"], 8);
    assert_eq!(s["tcp_segments"], 7);
    assert_eq!(s["skipped"]["total"], 1);
    assert_eq!(s["skipped"]["undecodable"], 1);
    assert_eq!(s["skipped"]["not_tcp"], 0);
    assert_eq!(s["connections"], 1);
    assert!(
        s["warnings"][0]
            .as_str()
            .unwrap()
            .contains("TCP header at offset"),
        "{s}"
    );
}

/// Valid but odd: the server answers with two SYN,ACKs carrying different
/// ISNs, and the client sends its FIN twice with different sequence
/// numbers. Neither repeat is a retransmission.
#[test]
fn repeated_syn_ack_and_fin_with_new_sequence_numbers() {
    let packets = vec![
        packet(true, 1000, 0, SYN, &[]),
        packet(false, 5000, 1001, SYN | ACK, &[]),
        packet(false, 9000, 1001, SYN | ACK, &[]),
        packet(true, 1001, 9001, ACK, &[]),
        packet(true, 1001, 9001, FIN | ACK, &[]),
        packet(true, 3000, 9001, FIN | ACK, &[]),
    ];
    let f = Scratch::file("odd-repeats.pcap", &pcap(101, &packets));
    let name = f.name();
    for args in [
        vec!["analyze", name.as_str()],
        vec!["analyze", "--json", name.as_str()],
        vec!["stats", "--json", name.as_str()],
    ] {
        let r = tcpladder(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(!r.stdout.contains("18446744073709551615"), "{}", r.stdout);
    }
}

// ---------------------------------------------------------------------------
// Bad arguments: exit 2
// ---------------------------------------------------------------------------

#[test]
fn conn_out_of_range() {
    let f = Scratch::file("range.pcap", &pcap(101, &conversation()));
    let name = f.name();
    for n in ["99", "0", "2"] {
        let r = tcpladder(&["analyze", "--conn", n, &name]);
        assert_eq!(r.code, 2, "--conn {n}: {}", r.stderr);
        let lines = r.stderr_lines();
        assert_eq!(lines.len(), 1, "{}", r.stderr);
        assert!(
            lines[0].contains(&format!("--conn {n} is out of range")),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("valid: 1 to 1"), "{}", lines[0]);
        assert!(r.stdout.is_empty());
    }
    let r = tcpladder(&["analyze", "--conn", "1", "--json", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(segments(&r.json(), 0), 8);
}

#[test]
fn bad_msl() {
    let f = Scratch::file("msl.pcap", &pcap(101, &conversation()));
    let name = f.name();
    for msl in ["0", "--msl=-1", "abc", "nan", "inf", "3601", ""] {
        let flag = if msl.starts_with("--") {
            msl.to_string()
        } else {
            format!("--msl={msl}")
        };
        for cmd in ["analyze", "stats"] {
            let r = tcpladder(&[cmd, flag.as_str(), name.as_str()]);
            assert_eq!(r.code, 2, "{cmd} {flag}: {}", r.stderr);
            assert!(r.stderr.contains("--msl"), "{cmd} {flag}: {}", r.stderr);
            assert!(r.stdout.is_empty());
        }
    }
    // A good one still works.
    let r = tcpladder(&["stats", "--msl", "0.5", &name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn usage_errors() {
    let f = Scratch::file("usage.pcap", &pcap(101, &conversation()));
    let name = f.name();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["analyze", &name, "--bogus"], "--bogus"),
        (vec!["stats", "--ascii", &name], "--ascii"),
        (vec!["analyze"], "FILE"),
        (vec!["frobnicate", &name], "frobnicate"),
        (vec!["analyze", "-p", "70000", &name], "70000"),
        (vec!["analyze", "--conn", "-1", &name], "-1"),
        (vec![], "terminal"),
    ];
    for (args, mention) in cases {
        let r = tcpladder(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(mention), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    }
}
