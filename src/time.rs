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
