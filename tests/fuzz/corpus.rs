//! The seed corpus: the bundled captures (`captures/*.pcap*`, and the
//! kernel scenarios' capture points), a few of them gzip, xz and zstd
//! compressed so that the decompressors are fuzzed too, the peer corpus's
//! captures when `../shared/peer-captures/` is there (those listed in its
//! MANIFEST.tsv, small ones first, up to a total), and the packets of all
//! of these on their own, for the decoder's raw-packet target.

use std::collections::HashSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use tcpladder::capture::CaptureFile;

use crate::mutate::{Packing, compress};
use crate::rng::hash;

/// A kernel scenario's capture or a peer capture larger than this is left
/// out: most of a mutated large file is never reached, and it is slow.
const MAX_SEED: u64 = 64 << 10;
const MAX_PEER_TOTAL: u64 = 2 << 20;
/// Packets taken from each capture, and in all.
const PACKETS_PER_FILE: usize = 12;
const MAX_PACKETS: usize = 4000;
const MAX_PACKET: usize = 2048;

pub struct Seeds {
    /// Name and content.
    pub files: Vec<(String, Vec<u8>)>,
    pub packets: Vec<Vec<u8>>,
}

fn sorted(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| keep(p));
    v.sort();
    v
}

fn is_capture(p: &Path) -> bool {
    p.is_file()
        && p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains(".pcap"))
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(u64::MAX)
}

pub fn load(root: &Path) -> Seeds {
    let mut files = Vec::new();
    let captures = root.join("captures");
    let add = |files: &mut Vec<(String, Vec<u8>)>, p: &Path| {
        if let Ok(b) = std::fs::read(p) {
            let name = p.strip_prefix(root).unwrap_or(p).display().to_string();
            files.push((name, b));
        }
    };
    for p in sorted(&captures, is_capture) {
        add(&mut files, &p);
    }
    for dir in sorted(&captures.join("kernel"), |p| p.is_dir()) {
        for p in sorted(&dir, |p| is_capture(p) && size(p) <= MAX_SEED) {
            add(&mut files, &p);
        }
    }
    // Compressed copies of the first few bundled captures.
    let packed: Vec<(String, Vec<u8>)> = files
        .iter()
        .take(3)
        .zip([
            (Packing::Gzip, "gz"),
            (Packing::Xz, "xz"),
            (Packing::Zstd, "zst"),
        ])
        .map(|((name, b), (how, ext))| (format!("{name}.{ext}"), compress(how, b)))
        .collect();
    files.extend(packed);
    let peer = root.join("../shared/peer-captures");
    if let Ok(manifest) = std::fs::read_to_string(peer.join("MANIFEST.tsv")) {
        let mut listed: Vec<(u64, PathBuf)> = manifest
            .lines()
            .skip(1)
            .filter_map(|l| l.split('\t').next())
            .map(|p| peer.join(p))
            .filter(|p| p.is_file())
            .map(|p| (size(&p), p))
            .filter(|(s, _)| *s <= MAX_SEED)
            .collect();
        listed.sort();
        let mut total = 0;
        for (s, p) in listed {
            if total + s > MAX_PEER_TOTAL {
                break;
            }
            total += s;
            add(&mut files, &p);
        }
    }
    let packets = packets_of(&files);
    Seeds { files, packets }
}

/// The records of every seed capture, each once.
fn packets_of(files: &[(String, Vec<u8>)]) -> Vec<Vec<u8>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (_, b) in files {
        let Ok(mut file) = CaptureFile::from_reader("seed", Cursor::new(b.clone())) else {
            continue;
        };
        let mut taken = 0;
        let _ = file.for_each_until(|r| {
            if r.data.len() <= MAX_PACKET && seen.insert(hash(&[r.data])) {
                out.push(r.data.to_vec());
                taken += 1;
            }
            taken < PACKETS_PER_FILE && out.len() < MAX_PACKETS
        });
    }
    out
}
