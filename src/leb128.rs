//! Unsigned LEB128: seven bits a byte, the high bit set on all but the
//! last. The packed lists of times and record places write their steps
//! this way: most steps take a byte or two where a `u64` takes eight.
//! Pure.

/// Appends `v`.
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The number that begins at `*at`, moving `at` past it; None when the
/// bytes end inside it (or it runs past 64 bits).
pub fn get(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_come_back_as_written_in_as_few_bytes_as_they_need() {
        let values = [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX];
        let mut out = Vec::new();
        for v in values {
            put(&mut out, v);
        }
        // 1 + 1 + 1 + 2 + 2 + 6 + 10 bytes.
        assert_eq!(out.len(), 23);
        let mut at = 0;
        let back: Vec<u64> = std::iter::from_fn(|| get(&out, &mut at)).collect();
        assert_eq!(back, values);
        assert_eq!(get(&[0x80, 0x80], &mut 0), None, "cut short");
    }
}
