//! tcpladder among the usual tools: captures through a pipe and
//! compressed, tcpdump's filters on files (counted against tcpdump itself),
//! and packets written back out as pcap (read again, the same
//! connections).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tcpladder::analysis::{Filter, stream_file};
use tcpladder::track::TrackConfig;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcpladder")
}

fn captures() -> Vec<PathBuf> {
    let all = crate::bundled_captures();
    assert!(all.len() >= 10, "the bundled captures: {all:?}");
    all
}

/// `tcpladder ARGS` with `stdin` as its standard input.
fn run(args: &[&str], stdin: Option<Vec<u8>>) -> std::process::Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tcpladder");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        // A writer thread: the child may fill its stdout before reading all.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    child.wait_with_output().expect("tcpladder output")
}

/// The JSON document without its `file` field (the name differs).
fn doc_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    doc.as_object_mut().unwrap().remove("file");
    doc
}

#[test]
fn a_capture_through_a_pipe_reads_as_the_file_does() {
    for f in captures() {
        let name = f.to_str().unwrap();
        let bytes = std::fs::read(&f).unwrap();
        for cmd in ["analyze", "stats"] {
            let file = doc_of(&run(&[cmd, "--json", name], None));
            let piped = run(&[cmd, "--json", "-"], Some(bytes.clone()));
            assert_eq!(doc_of(&piped), file, "{cmd} of {name} through a pipe");
        }
        // The text names standard input where it named the file.
        let text = run(&["stats", "-"], Some(bytes));
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(
            text.starts_with("file               standard input"),
            "{text}"
        );
    }
}

#[test]
fn compressed_captures_open_by_their_content_whatever_their_name() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/retransmission.pcap");
    let bytes = std::fs::read(&f).unwrap();
    let file = doc_of(&run(&["analyze", "--json", f.to_str().unwrap()], None));
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&bytes).unwrap();
        e.finish().unwrap()
    };
    let xz = {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(&bytes).unwrap();
        e.finish().unwrap()
    };
    let zst =
        ruzstd::encoding::compress_to_vec(&bytes[..], ruzstd::encoding::CompressionLevel::Fastest);
    let dir = std::env::temp_dir().join(format!("tl-compressed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (packed, kind) in [(gz, "gzip"), (xz, "xz"), (zst, "zstd")] {
        assert_ne!(packed, bytes);
        // Named as if plain: the content decides.
        let path = dir.join(format!("{kind}.pcap"));
        std::fs::write(&path, &packed).unwrap();
        let opened = doc_of(&run(&["analyze", "--json", path.to_str().unwrap()], None));
        assert_eq!(opened, file, "{kind}");
        // And through a pipe.
        let piped = doc_of(&run(&["analyze", "--json", "-"], Some(packed.clone())));
        assert_eq!(piped, file, "{kind} through a pipe");
        // Cut in half: a warning, and what came before the cut.
        let half = dir.join(format!("{kind}-half.pcap"));
        std::fs::write(&half, &packed[..packed.len() * 2 / 3]).unwrap();
        let out = run(&["stats", "--json", half.to_str().unwrap()], None);
        let err = String::from_utf8_lossy(&out.stderr);
        let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let packets = stats["packets"].as_u64().unwrap_or(0);
        let warned = stats["warnings"].to_string();
        assert!(
            warned.contains("the compressed data ends early")
                || err.contains("the compressed data ends early"),
            "{kind}: {err} {warned}"
        );
        assert!(
            packets < 19,
            "{kind}: {packets} of 19 packets from two thirds"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tcpdump --count -r FILE EXPR`, or None when tcpdump cannot read it.
fn tcpdump_count(file: &Path, expr: &str) -> Option<u64> {
    let out = Command::new("tcpdump")
        .arg("--count")
        .arg("-r")
        .arg(file)
        .arg(expr)
        .output()
        .expect("tcpdump is installed (.ci/run installs it)");
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next()?.parse().ok()
}

/// The records `expr` keeps, as tcpladder counts them.
fn our_count(file: &Path, expr: &str) -> Option<u64> {
    let filter = Filter {
        bpf: Some(expr.into()),
        ..Filter::default()
    };
    let report = stream_file(file, filter, TrackConfig::default(), |_| {}).ok()?;
    Some(report.packets - report.filtered_out)
}

#[test]
fn a_bpf_filter_keeps_what_tcpdump_keeps() {
    const EXPRS: &[&str] = &[
        "tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0",
        "tcp port 9502 or tcp port 80",
        "ip6 or vlan or (ip and ip[6:2] & 0x3fff != 0)",
        "host 127.0.0.1 and not tcp[tcpflags] & tcp-ack != 0",
    ];
    let mut files = captures();
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-captures");
    if let Ok(manifest) = std::fs::read_to_string(peers.join("MANIFEST.tsv")) {
        // Every peer capture of one link type tcpdump reads.
        files.extend(manifest.lines().skip(1).filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let one_link = cols
                .get(4)
                .is_some_and(|t| !t.contains("interfaces") && !t.contains("cannot"));
            one_link.then(|| peers.join(cols[0]))
        }));
    }
    let (mut compared, mut matched_some) = (0, 0);
    let mut wrong = Vec::new();
    for f in &files {
        for expr in EXPRS {
            let Some(theirs) = tcpdump_count(f, expr) else {
                continue;
            };
            let ours = our_count(f, expr);
            compared += 1;
            if theirs > 0 {
                matched_some += 1;
            }
            if ours != Some(theirs) {
                wrong.push(format!(
                    "{}: '{expr}': tcpdump {theirs}, ours {ours:?}",
                    f.display()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {compared} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(compared >= 40, "only {compared} comparisons");
    assert!(
        matched_some >= 10,
        "the filters matched something in only {matched_some}"
    );
}

#[test]
fn a_bad_filter_is_a_usage_error_naming_it() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/refused.pcap");
    let out = run(&["analyze", "-f", "tcp prot 80", f.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("filter 'tcp prot 80'") && err.contains("syntax error"),
        "{err}"
    );
}

/// Each connection's packets saved alone read back as that connection:
/// the same segments (but for their frame numbers), the same verdict.
#[test]
fn a_connection_saved_as_pcap_reads_back_the_same() {
    let dir = std::env::temp_dir().join(format!("tl-pcap-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let strip = |mut c: serde_json::Value| {
        for s in c["segments"].as_array_mut().into_iter().flatten() {
            s.as_object_mut().unwrap().remove("frame");
        }
        for s in c["icmp"].as_array_mut().into_iter().flatten() {
            s.as_object_mut().unwrap().remove("frame");
        }
        // Its place in the file it is read from.
        c.as_object_mut().unwrap().remove("number");
        c
    };
    let mut saved = 0;
    for f in captures() {
        let name = f.to_str().unwrap();
        let whole = doc_of(&run(&["analyze", "--json", name], None));
        let conns = whole["connections"].as_array().unwrap();
        for n in 1..=conns.len().min(4) {
            for ext in ["pcap", "pcapng"] {
                let out = dir.join(format!(
                    "{}-{n}.{ext}",
                    f.file_stem().unwrap().to_string_lossy()
                ));
                let w = run(
                    &[
                        "export",
                        name,
                        "--conn",
                        &n.to_string(),
                        "--force",
                        "-o",
                        out.to_str().unwrap(),
                    ],
                    None,
                );
                assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
                let back = doc_of(&run(&["analyze", "--json", out.to_str().unwrap()], None));
                let back = back["connections"].as_array().unwrap();
                assert_eq!(back.len(), 1, "{name} connection {n} as {ext}");
                let (alone, there) = (strip(back[0].clone()), strip(conns[n - 1].clone()));
                assert_eq!(alone["segments"], there["segments"], "{name} {n} {ext}");
                // Alone, nothing comes after it: a TIME-WAIT that the next
                // connection on its ports ended early runs its course.
                if there["time_wait"]["ended_early"] != true {
                    assert_eq!(alone, there, "{name} {n} {ext}");
                }
                // The file is what its name says.
                let magic = std::fs::read(&out).unwrap();
                let ng = magic.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]);
                let said = String::from_utf8_lossy(&w.stderr).contains("as pcapng");
                // A .pcap is pcapng only when its packets need it, and says so.
                assert_eq!(ng, ext == "pcapng" || said, "{}", out.display());
                saved += 1;
            }
        }
    }
    assert!(saved >= 20);
    // Every connection in one file: the same analysis.
    for f in captures() {
        let name = f.to_str().unwrap();
        let out = dir.join("all.pcapng");
        let w = run(
            &[
                "export",
                name,
                "--all",
                "--force",
                "-o",
                out.to_str().unwrap(),
            ],
            None,
        );
        assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
        let strip_all = |d: serde_json::Value| -> Vec<serde_json::Value> {
            d["connections"]
                .as_array()
                .unwrap()
                .iter()
                .cloned()
                .map(strip)
                .collect()
        };
        let whole = doc_of(&run(&["analyze", "--json", name], None));
        let back = doc_of(&run(&["analyze", "--json", out.to_str().unwrap()], None));
        assert_eq!(strip_all(back), strip_all(whole), "{name} --all");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Saved pcap is what tcpdump reads: the same packets, the same times.
#[test]
fn tcpdump_reads_a_saved_connection_as_it_reads_the_original() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/many-connections.pcap");
    let dir = std::env::temp_dir().join(format!("tl-pcap-td-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("c5.pcap");
    let w = run(
        &[
            "export",
            f.to_str().unwrap(),
            "--conn",
            "5",
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert!(w.status.success(), "{}", String::from_utf8_lossy(&w.stderr));
    let lines = |file: &Path, expr: &[&str]| {
        let o = Command::new("tcpdump")
            .args(["-nn", "-tt", "-r"])
            .arg(file)
            .args(expr)
            .output()
            .expect("tcpdump");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let copy = lines(&out, &[]);
    let first = copy.lines().next().expect("packets in the copy");
    // The client's port, from "TIME IP 127.0.0.1.PORT > ...".
    let port = first
        .split_whitespace()
        .nth(2)
        .and_then(|a| a.rsplit('.').next())
        .expect("a port");
    let original = lines(&f, &["port", port]);
    assert_eq!(copy, original);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--jsonl`: one line a connection, each the object `--json` has in its
/// `connections`, none left out and none twice.
#[test]
fn jsonl_gives_every_connection_of_the_document_one_a_line() {
    let mut lines_seen = 0;
    for f in captures() {
        let name = f.to_str().unwrap();
        let doc = doc_of(&run(&["analyze", "--json", name], None));
        let out = run(&["analyze", "--jsonl", name], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        lines.sort_by_key(|c| c["number"].as_u64());
        assert_eq!(
            &serde_json::Value::Array(lines.clone()),
            &doc["connections"],
            "{name}"
        );
        lines_seen += lines.len();
        // The same through a pipe.
        let piped = run(
            &["analyze", "--jsonl", "-"],
            Some(std::fs::read(&f).unwrap()),
        );
        assert_eq!(
            String::from_utf8(piped.stdout).unwrap(),
            text,
            "{name} piped"
        );
    }
    assert!(lines_seen > 100, "{lines_seen}");
}

/// `analyze --payload`: the bytes under their arrow, control bytes
/// escaped so a hostile payload cannot drive the terminal.
#[test]
fn analyze_payload_prints_escaped_bytes_under_the_arrow() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/client-close.pcap");
    let out = run(&["analyze", "--payload", f.to_str().unwrap()], None);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("PSH,ACK seq=1 ack=1 len=11"))
        .expect("the request's arrow");
    assert!(
        lines[at + 1].contains("│  GET /hello\\n"),
        "{}",
        lines[at + 1]
    );
    assert!(
        !lines[at + 2].contains('\\'),
        "one line of payload: {}",
        lines[at + 2]
    );
    // The same file with the request's bytes made hostile.
    let mut bytes = std::fs::read(&f).unwrap();
    let at = bytes
        .windows(11)
        .position(|w| w == b"GET /hello\n")
        .expect("the request in the file");
    bytes[at..at + 11].copy_from_slice(b"\x1b[2J\x07\x00abcd\xff");
    let out = run(&["analyze", "--payload", "-"], Some(bytes));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text}");
    assert!(text.contains("\\x1b[2J\\x07\\x00abcd\\xff"), "{text}");
}

/// `-p` with no segment on that port says which ports there are.
#[test]
fn a_port_with_no_segment_names_the_ports_there_are() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/many-connections.pcap");
    let name = f.to_str().unwrap();
    let total = doc_of(&run(&["stats", "--json", name], None))["tcp_segments"]
        .as_u64()
        .unwrap();
    for cmd in ["analyze", "stats"] {
        let out = run(&[cmd, "-p", "80", name], None);
        let err = String::from_utf8_lossy(&out.stderr);
        // Every segment has the server's port.
        let want =
            format!("no TCP segment has port 80; the capture's ports: 9502 ({total} segments), ");
        assert!(err.contains(&want), "{cmd}: {err}");
        assert!(err.contains("more"), "{cmd}: {err}");
    }
    // A port that is there: no such warning.
    let out = run(&["analyze", "-p", "9502", name], None);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("no TCP segment has port"));
}
