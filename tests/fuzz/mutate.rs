//! The mutators: byte-level damage of the kinds real captures suffer or an
//! attacker would try: flipped bits, bytes set to edge values, 16- and
//! 32-bit fields (lengths, counts, offsets) set to extremes at aligned
//! offsets, files cut short, chunks deleted, duplicated or spliced in from
//! another input, and now and then the result compressed (and damaged
//! again) so that the decompressors are fuzzed along with the reader.

use std::io::Write;

use crate::rng::Rng;

/// Inputs never grow past this: larger says nothing more and slows a run.
pub const MAX_LEN: usize = 1 << 20;

const BYTES: [u8; 8] = [0, 1, 0x7f, 0x80, 0xfe, 0xff, 0x40, 0x20];
const WORDS: [u16; 8] = [0, 1, 0x7fff, 0x8000, 0xffff, 0xfffe, 0x0100, 0x05dc];
const DWORDS: [u32; 9] = [
    0,
    1,
    0x7fff_ffff,
    0xffff_fff0,
    0xffff_ffff,
    0x8000_0000,
    0x0000_ffff,
    0x0001_0000,
    0x0400_0000,
];

/// Applies a few mutations to `b` in place; `donor` (another corpus
/// input) is what splices take from.
pub fn havoc(rng: &mut Rng, b: &mut Vec<u8>, donor: &[u8]) {
    // Mostly a few changes (near the seed, past its first checks), now and
    // then a burst.
    let rounds = 1 + if rng.one_in(6) {
        rng.below(16)
    } else {
        rng.below(3)
    };
    for _ in 0..rounds {
        one(rng, b, donor);
    }
    b.truncate(MAX_LEN);
}

/// A chunk's length from `at`: short mostly, sometimes the rest.
fn chunk(rng: &mut Rng, len: usize, at: usize) -> usize {
    let room = len - at;
    let max = if rng.one_in(8) { room } else { room.min(64) };
    1 + rng.below(max.max(1)).min(room.saturating_sub(1))
}

fn one(rng: &mut Rng, b: &mut Vec<u8>, donor: &[u8]) {
    if b.is_empty() {
        let n = 1 + rng.below(32);
        b.extend((0..n).map(|_| rng.byte()));
        return;
    }
    let len = b.len();
    match rng.below(13) {
        0 => {
            let i = rng.below(len);
            b[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(len);
            b[i] = if rng.one_in(3) {
                rng.byte()
            } else {
                rng.pick(&BYTES)
            };
        }
        2 => {
            let i = rng.below(len);
            let d = 1 + rng.below(16) as u8;
            b[i] = if rng.one_in(2) {
                b[i].wrapping_add(d)
            } else {
                b[i].wrapping_sub(d)
            };
        }
        3 if len >= 2 => {
            let i = rng.below(len / 2) * 2;
            let big = rng.one_in(2);
            let old = [b[i], b[i + 1]];
            let cur = if big {
                u16::from_be_bytes(old)
            } else {
                u16::from_le_bytes(old)
            };
            let v = match rng.below(3) {
                0 => cur.wrapping_add(1 + rng.below(32) as u16),
                1 => cur.wrapping_sub(1 + rng.below(32) as u16),
                _ => rng.pick(&WORDS),
            };
            let v = if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            b[i..i + 2].copy_from_slice(&v);
        }
        4 if len >= 4 => {
            // A length field set to an extreme: where most readers go
            // wrong (allocations, offset arithmetic, loops that never end).
            let i = rng.below(len / 4) * 4;
            let big = rng.one_in(2);
            let old = [b[i], b[i + 1], b[i + 2], b[i + 3]];
            let cur = if big {
                u32::from_be_bytes(old)
            } else {
                u32::from_le_bytes(old)
            };
            let v = match rng.below(4) {
                0 => cur.wrapping_add(1 + rng.below(64) as u32),
                1 => cur.wrapping_sub(1 + rng.below(64) as u32),
                2 => cur.wrapping_mul(2),
                _ => rng.pick(&DWORDS),
            };
            let v = if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            b[i..i + 4].copy_from_slice(&v);
        }
        5 => {
            // Cut short, as a killed writer or a partial copy leaves it.
            b.truncate(rng.below(len));
        }
        6 => {
            let at = rng.below(len);
            let n = chunk(rng, len, at);
            b.drain(at..at + n);
        }
        7 => {
            let at = rng.below(len);
            let n = chunk(rng, len, at);
            let copy = b[at..at + n].to_vec();
            let to = rng.below(len + 1);
            b.splice(to..to, copy);
        }
        8 if !donor.is_empty() => {
            let from = rng.below(donor.len());
            let n = chunk(rng, donor.len(), from);
            let to = rng.below(len + 1);
            b.splice(to..to, donor[from..from + n].iter().copied());
        }
        9 if !donor.is_empty() => {
            let from = rng.below(donor.len());
            let to = rng.below(len);
            let n = chunk(rng, donor.len(), from).min(len - to);
            b[to..to + n].copy_from_slice(&donor[from..from + n]);
        }
        10 if !donor.is_empty() => {
            // This input's head on the donor's tail.
            let keep = rng.below(len + 1);
            let from = rng.below(donor.len());
            b.truncate(keep);
            b.extend_from_slice(&donor[from..]);
        }
        11 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(32);
            let same = rng.one_in(2);
            let fill = rng.byte();
            let new: Vec<u8> = (0..n)
                .map(|_| if same { fill } else { rng.byte() })
                .collect();
            b.splice(at..at, new);
        }
        _ => {
            // A run of bytes set to one value (a zeroed or 0xff-filled
            // stretch, as a damaged disk gives).
            let at = rng.below(len);
            let n = chunk(rng, len, at);
            let v = rng.pick(&BYTES);
            b[at..at + n].fill(v);
        }
    }
}

/// The compressed formats the reader opens.
#[derive(Clone, Copy, Debug)]
pub enum Packing {
    Gzip,
    Xz,
    Zstd,
}

pub fn compress(how: Packing, b: &[u8]) -> Vec<u8> {
    match how {
        Packing::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b).expect("gzip into memory");
            e.finish().expect("gzip into memory")
        }
        Packing::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 0);
            e.write_all(b).expect("xz into memory");
            e.finish().expect("xz into memory")
        }
        Packing::Zstd => {
            ruzstd::encoding::compress_to_vec(b, ruzstd::encoding::CompressionLevel::Fastest)
        }
    }
}
