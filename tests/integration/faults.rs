//! Faults in what tcpladder reads and writes: damage in the middle of a
//! capture is read past (every record after it that a careful reader can
//! find is found).

use std::path::{Path, PathBuf};

use tcpladder::capture::CaptureFile;

fn captures() -> Vec<PathBuf> {
    crate::bundled_captures()
}

/// (time, bytes) of every record, the resumed places, and the ending.
type Read = (Vec<(i64, Vec<u8>)>, usize, tcpladder::capture::Ending);

fn read(bytes: Vec<u8>) -> Read {
    let mut f = CaptureFile::from_reader("t", std::io::Cursor::new(bytes)).unwrap();
    let mut out = Vec::new();
    let end = f
        .for_each(|r| out.push((r.ts.as_nanos(), r.data.to_vec())))
        .unwrap();
    (out, f.resumed().len(), end)
}

/// Where each packet record's length field is: (offset of the field, the
/// record's start), for pcap (caplen) and pcapng (an enhanced or simple
/// packet block's length), little-endian files only.
fn length_fields(bytes: &[u8]) -> Vec<(usize, usize)> {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let mut out = Vec::new();
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let (ty, len) = (word(at), word(at + 4));
            if ty == 6 || ty == 3 {
                out.push((at + 4, at));
            }
            at += len;
        }
    } else {
        let mut at = 24;
        while at + 16 <= bytes.len() {
            out.push((at + 8, at));
            at += 16 + word(at + 8);
        }
    }
    out
}

#[test]
fn damage_in_the_middle_is_read_past_and_everything_after_it_kept() {
    let mut damaged = 0;
    for f in captures() {
        let bytes = std::fs::read(&f).unwrap();
        if bytes[..4] != [0xd4, 0xc3, 0xb2, 0xa1] && bytes[..4] != [0x0a, 0x0d, 0x0d, 0x0a] {
            continue;
        }
        let (whole, _, _) = read(bytes.clone());
        let fields = length_fields(&bytes);
        assert_eq!(fields.len(), whole.len(), "{}", f.display());
        for (n, &(field, _)) in fields.iter().enumerate() {
            for bad in [0x7fff_ffffu32, 0xffff_fff0, 0x0040_0001] {
                let mut b = bytes.clone();
                b[field..field + 4].copy_from_slice(&bad.to_le_bytes());
                let (got, resumed, end) = read(b);
                // All but the damaged record, in order.
                let mut want = whole.clone();
                want.remove(n);
                assert_eq!(
                    got.len(),
                    want.len(),
                    "{} record {} length {bad:#x}: {end:?}",
                    f.display(),
                    n + 1
                );
                assert!(
                    got == want,
                    "{} record {}: other records",
                    f.display(),
                    n + 1
                );
                // After the last packet only other blocks can follow (a
                // pcapng file's statistics), where reading may resume.
                let last = n + 1 == whole.len();
                assert!(
                    resumed == 1 || last && resumed == 0,
                    "{} record {}: resumed {resumed} times",
                    f.display(),
                    n + 1
                );
                damaged += 1;
            }
        }
    }
    assert!(damaged > 300, "{damaged} damaged files read");
}

/// A header overwritten whole is damage too, and a second damage further
/// on is read past as well; each is said with where it resumed.
#[test]
fn each_damage_is_said_with_where_reading_resumed() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/many-connections.pcap");
    let bytes = std::fs::read(&f).unwrap();
    let (whole, _, _) = read(bytes.clone());
    let fields = length_fields(&bytes);
    let mut b = bytes.clone();
    let (_, start_a) = fields[100];
    b[start_a..start_a + 16].fill(0xff);
    let (field_b, _) = fields[900];
    b[field_b..field_b + 4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let path = std::env::temp_dir().join(format!("tl-damaged-{}.pcap", std::process::id()));
    std::fs::write(&path, &b).unwrap();
    let (got, resumed, _) = read(b);
    assert_eq!(resumed, 2);
    assert_eq!(got.len(), whole.len() - 2);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcpladder"))
        .arg("stats")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let err = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("resumed at byte"))
        .collect();
    assert_eq!(said.len(), 2, "{err}");
    assert!(
        said[0].contains(&format!("damaged at byte {start_a} ")),
        "{err}"
    );
    assert!(
        !err.contains("cut short"),
        "damage is not a cut tail: {err}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("packets read       {}", whole.len() - 2)),
        "{text}"
    );
}

/// Hostile text in a title reaches no output raw: the SVG is XML, the
/// PNG is drawn, the Mermaid title stays on its line, and a warning says
/// what was done.
#[test]
fn control_characters_in_a_title_are_shown_not_obeyed() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/refused.pcap");
    let dir = std::env::temp_dir().join(format!("tl-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let title = "a\u{1}b\u{1b}[2J\nline two\u{fffe}\u{ffff}\t<&>\"";
    for ext in ["svg", "png", "md", "txt"] {
        let out = dir.join(format!("t.{ext}"));
        let r = std::process::Command::new(env!("CARGO_BIN_EXE_tcpladder"))
            .arg("export")
            .arg(&f)
            .args(["--force", "--title", title, "-o"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            r.status.success(),
            "{ext}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            err.contains("--title has control characters"),
            "{ext}: {err}"
        );
        let bytes = std::fs::read(&out).unwrap();
        match ext {
            "png" => assert!(bytes.starts_with(b"\x89PNG")),
            _ => {
                let text = String::from_utf8(bytes).unwrap();
                let bad = text
                    .chars()
                    .find(|&c| (c.is_control() && c != '\n') || c == '\u{fffe}' || c == '\u{ffff}');
                assert_eq!(bad, None, "{ext}: a raw control character");
                if ext == "svg" {
                    resvg::usvg::Tree::from_str(&text, &tcpladder::export::png::options())
                        .unwrap_or_else(|e| panic!("not XML: {e}"));
                    assert!(text.contains("a␁b␛[2J␊line two"), "{text}");
                }
                if ext == "md" {
                    let line = text
                        .lines()
                        .find(|l| l.trim_start().starts_with("title"))
                        .unwrap();
                    assert!(line.contains("line two"), "the title on one line: {line}");
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A raw-IP pcap of one mid-stream connection of `n` ACKs.
fn long_connection(n: u32) -> Vec<u8> {
    let mut f = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 101] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    for k in 0..n {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&40000u16.to_be_bytes());
        p.extend_from_slice(&80u16.to_be_bytes());
        p.extend_from_slice(&(1000 + k).to_be_bytes());
        p.extend_from_slice(&7u32.to_be_bytes());
        p.extend_from_slice(&[0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
        for v in [1_700_000_000 + k / 1000, (k % 1000) * 1000, 40, 40] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&p);
    }
    f
}

/// Sizes are checked before the work: a PNG too large and a picture of too
/// many segments are refused at once, nothing written; a scale past 8 is a
/// usage error.
#[test]
fn pictures_too_large_are_refused_before_they_are_drawn() {
    let bin = env!("CARGO_BIN_EXE_tcpladder");
    let dir = std::env::temp_dir().join(format!("tl-sizes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tall =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("captures/kernel/lossy-transfer/client.pcap");
    let out = dir.join("big.png");
    let r = std::process::Command::new(bin)
        .arg("export")
        .arg(&tall)
        .args(["--scale", "8", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("more than a PNG may have"), "{err}");
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing left behind"
    );
    let r = std::process::Command::new(bin)
        .args(["export", "--scale", "9", "-o"])
        .arg(&out)
        .arg(&tall)
        .output()
        .unwrap();
    assert_eq!(
        r.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    // 20,001 segments: no picture, but a part of it is one.
    let long = dir.join("long.pcap");
    std::fs::write(&long, long_connection(20_001)).unwrap();
    for ext in ["svg", "png"] {
        let out = dir.join(format!("long.{ext}"));
        let r = std::process::Command::new(bin)
            .arg("export")
            .arg(&long)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(r.status.code(), Some(1), "{ext}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(
            err.contains("20001 segments; a picture holds at most 20000"),
            "{err}"
        );
        assert!(!out.exists());
    }
    let part = dir.join("part.svg");
    let r = std::process::Command::new(bin)
        .arg("export")
        .arg(&long)
        .args(["--to", "100", "-o"])
        .arg(&part)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}
