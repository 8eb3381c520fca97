//! Every command's output on every bundled capture, byte for byte: a
//! digest of each output is kept in tests/golden/digests.txt, so that a
//! change meant to make tcpladder faster or smaller (issue 9's compact
//! core) is seen to change nothing it prints. A change that is meant to
//! change output rewrites the file with `TCPLADDER_GOLDEN=write cargo test
//! --test integration golden` and shows in its diff, next to the
//! snapshots that say what changed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// FNV-1a, 64 bits: enough to tell outputs apart; not for adversaries.
fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x} {}", bytes.len())
}

fn run(args: &[&str]) -> Vec<u8> {
    // From the repository, with relative paths: outputs that name the file
    // are the same in any clone.
    let out = Command::new(env!("CARGO_BIN_EXE_tcpladder"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run tcpladder");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn export(capture: &Path, format: &str, extra: &[&str]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("tl-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = capture.file_name().unwrap().to_string_lossy();
    let out = dir.join(format!("{name}.{format}"));
    let mut args = vec![
        "export",
        capture.to_str().unwrap(),
        "--force",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args);
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    bytes
}

/// "capture command digest length" lines, in a fixed order.
fn digests() -> String {
    let mut captures: Vec<PathBuf> = std::fs::read_dir(root().join("captures"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| Path::new("captures").join(e.file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    captures.sort();
    let mut out = String::new();
    for c in &captures {
        let file = c.to_str().unwrap();
        let name = c.file_name().unwrap().to_string_lossy().into_owned();
        let outputs: Vec<(&str, Vec<u8>)> = vec![
            ("analyze", run(&["analyze", file])),
            ("analyze --json", run(&["analyze", "--json", file])),
            (
                "analyze --absolute-seq --ascii",
                run(&["analyze", "--absolute-seq", "--ascii", file]),
            ),
            ("stats", run(&["stats", file])),
            ("stats --json", run(&["stats", "--json", file])),
            ("export txt", export(c, "txt", &[])),
            ("export md", export(c, "md", &[])),
            ("export svg", export(c, "svg", &[])),
            (
                "export svg --flat --redact",
                export(c, "svg", &["--flat", "--redact"]),
            ),
        ];
        for (cmd, bytes) in outputs {
            let _ = writeln!(out, "{name} | {cmd} | {}", digest(&bytes));
        }
    }
    out
}

#[test]
fn every_commands_output_on_every_bundled_capture_is_unchanged() {
    let path = root().join("tests/golden/digests.txt");
    let now = digests();
    if std::env::var_os("TCPLADDER_GOLDEN").is_some_and(|v| v == "write") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let kept = std::fs::read_to_string(&path).expect("tests/golden/digests.txt");
    let changed: Vec<String> = kept
        .lines()
        .zip(now.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("was  {a}\nnow  {b}"))
        .collect();
    assert!(
        changed.is_empty() && kept.lines().count() == now.lines().count(),
        "output changed (rewrite with TCPLADDER_GOLDEN=write if meant):\n{}",
        changed.join("\n")
    );
}
