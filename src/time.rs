//! Capture time as it arrives with each record. Nothing here reads a clock:
//! replay and live capture both hand timestamps in, so every rule that
//! depends on time (TIME-WAIT, retransmission intervals) is deterministic.

use std::fmt;
use std::ops::{Add, Sub};

/// A point in time, nanoseconds since the Unix epoch (signed: some captures
/// carry timestamps before 1970).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A signed span between two timestamps, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(i64);

impl Timestamp {
    pub const fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    pub fn from_secs_f64(secs: f64) -> Self {
        Timestamp((secs * 1e9).round() as i64)
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Seconds since the epoch rounded to microseconds, the precision most
    /// captures have; used in JSON so numbers print without float noise.
    pub fn as_json_secs(self) -> f64 {
        let micros = self.0.div_euclid(1000);
        micros as f64 / 1e6
    }
}

impl Span {
    pub const fn from_nanos(nanos: i64) -> Self {
        Span(nanos)
    }

    pub const fn from_secs(secs: i64) -> Self {
        Span(secs * 1_000_000_000)
    }

    pub fn from_secs_f64(secs: f64) -> Self {
        Span((secs * 1e9).round() as i64)
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl Add<Span> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Span) -> Timestamp {
        Timestamp(self.0.saturating_add(rhs.0))
    }
}

impl Sub<Span> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Span) -> Timestamp {
        Timestamp(self.0.saturating_sub(rhs.0))
    }
}

impl Sub for Timestamp {
    type Output = Span;
    fn sub(self, rhs: Timestamp) -> Span {
        Span(self.0.saturating_sub(rhs.0))
    }
}

impl Add for Span {
    type Output = Span;
    fn add(self, rhs: Span) -> Span {
        Span(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for Span {
    /// Human scale: "42 µs", "1.5 ms", "60 s".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.abs();
        let sign = if self.0 < 0 { "-" } else { "" };
        if n < 1_000 {
            write!(f, "{sign}{n} ns")
        } else if n < 1_000_000 {
            write!(f, "{sign}{} µs", trim(n as f64 / 1e3))
        } else if n < 1_000_000_000 {
            write!(f, "{sign}{} ms", trim(n as f64 / 1e6))
        } else {
            write!(f, "{sign}{} s", trim(n as f64 / 1e9))
        }
    }
}

/// At most one decimal place, none when it is zero: "1.5", "60".
fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_display_picks_a_human_unit() {
        assert_eq!(Span::from_secs(60).to_string(), "60 s");
        assert_eq!(Span::from_nanos(1_500_000).to_string(), "1.5 ms");
        assert_eq!(Span::from_nanos(42_000).to_string(), "42 µs");
        assert_eq!(Span::from_nanos(-7).to_string(), "-7 ns");
    }

    #[test]
    fn json_seconds_round_to_microseconds() {
        let t = Timestamp::from_secs_nanos(1_795_290_342, 492_141_999);
        assert_eq!(t.as_json_secs(), 1_795_290_342.492141);
    }
}

/// Timestamps in order, packed: LEB128 steps from one to the next (a
/// byte or three where a `Timestamp` takes eight), with the value and
/// place of every `STRIDE`-th for finding one without reading from the
/// start. `replay` holds every segment's time of a capture this way.
#[derive(Clone, Debug, Default)]
pub struct Times {
    bytes: Vec<u8>,
    /// (the time, where its step begins) of times 0, STRIDE, 2·STRIDE, …
    marks: Vec<(Timestamp, usize)>,
    len: usize,
    last: Timestamp,
}

const STRIDE: usize = 256;

impl Times {
    /// From times in order (one earlier than the one before is taken as
    /// equal to it).
    pub fn from_sorted(times: impl IntoIterator<Item = Timestamp>) -> Times {
        let mut t = Times::default();
        for ts in times {
            t.push(ts);
        }
        t.bytes.shrink_to_fit();
        t.marks.shrink_to_fit();
        t
    }

    /// Adds `ts`, taken as no earlier than the last.
    pub fn push(&mut self, ts: Timestamp) {
        let ts = if self.len == 0 { ts } else { ts.max(self.last) };
        let step = if self.len == 0 {
            0
        } else {
            (ts.as_nanos() - self.last.as_nanos()) as u64
        };
        if self.len.is_multiple_of(STRIDE) {
            self.marks.push((ts, self.bytes.len()));
        }
        crate::leb128::put(&mut self.bytes, step);
        self.last = ts;
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn first(&self) -> Option<Timestamp> {
        self.marks.first().map(|m| m.0)
    }

    pub fn last(&self) -> Option<Timestamp> {
        (self.len > 0).then_some(self.last)
    }

    /// Time `i`.
    pub fn get(&self, i: usize) -> Option<Timestamp> {
        if i >= self.len {
            return None;
        }
        let &(mut t, mut at) = self.marks.get(i / STRIDE)?;
        // The mark's own step (zero or not) is skipped: its time is known.
        for k in 0..=i % STRIDE {
            let step = self.step_at(&mut at)?;
            if k > 0 {
                t = Timestamp::from_nanos(t.as_nanos() + step as i64);
            }
        }
        Some(t)
    }

    fn step_at(&self, at: &mut usize) -> Option<u64> {
        crate::leb128::get(&self.bytes, at)
    }

    /// How many are at or before `clock`.
    pub fn count_until(&self, clock: Timestamp) -> usize {
        // The last mark at or before the clock, then step from it.
        let m = self.marks.partition_point(|&(t, _)| t <= clock);
        let Some(k) = m.checked_sub(1) else {
            return 0;
        };
        let (mut t, mut at) = self.marks[k];
        let mut n = k * STRIDE;
        // Time n is `t` (<= clock); count on while the next is too.
        let end = ((k + 1) * STRIDE).min(self.len);
        let _ = self.step_at(&mut at);
        n += 1;
        while n < end {
            let Some(step) = self.step_at(&mut at) else {
                break;
            };
            t = Timestamp::from_nanos(t.as_nanos() + step as i64);
            if t > clock {
                break;
            }
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod times_tests {
    use super::*;

    #[test]
    fn packed_times_give_back_each_and_count_like_a_sorted_vec() {
        let v: Vec<Timestamp> = (0..2000i64)
            .map(|i| Timestamp::from_nanos(1_700_000_000_000_000_000 + i * i * 997 + (i % 3) * 5))
            .collect();
        let mut sorted = v.clone();
        sorted.sort();
        let t = Times::from_sorted(sorted.iter().copied());
        assert_eq!(t.len(), sorted.len());
        assert!(t.bytes.len() < 4 * sorted.len(), "{} bytes", t.bytes.len());
        for (i, &ts) in sorted.iter().enumerate() {
            assert_eq!(t.get(i), Some(ts), "time {i}");
        }
        assert_eq!(t.get(sorted.len()), None);
        assert_eq!(
            (t.first(), t.last()),
            (sorted.first().copied(), sorted.last().copied())
        );
        for probe in [0usize, 1, 255, 256, 257, 1000, 1999] {
            for d in [-1i64, 0, 1] {
                let clock = Timestamp::from_nanos(sorted[probe].as_nanos() + d);
                let want = sorted.partition_point(|&x| x <= clock);
                assert_eq!(t.count_until(clock), want, "at {probe}{d:+}");
            }
        }
        assert_eq!(t.count_until(Timestamp::from_nanos(0)), 0);
        let empty = Times::from_sorted([]);
        assert_eq!(
            (empty.len(), empty.count_until(Timestamp::from_nanos(5))),
            (0, 0)
        );
    }
}
