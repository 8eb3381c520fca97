//! Totals over a whole capture, folded one finished connection at a time
//! (`tcpladder stats`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::analysis::ReadReport;
use crate::decode::SkipKind;
use crate::track::Connection;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    pub connections: u64,
    pub by_opening: BTreeMap<&'static str, u64>,
    pub by_closing: BTreeMap<&'static str, u64>,
    pub retransmissions: u64,
    pub segments_in_connections: u64,
    pub half_closes: u64,
    pub time_waits: u64,
}

impl Totals {
    pub fn add(&mut self, c: &Connection) {
        self.connections += 1;
        *self.by_opening.entry(c.opening().name()).or_default() += 1;
        *self.by_closing.entry(c.closing().0.name()).or_default() += 1;
        self.retransmissions += c.retransmissions;
        self.segments_in_connections += c.segment_count as u64;
        self.half_closes += u64::from(c.half_close().is_some());
        self.time_waits += c.time_wait.iter().flatten().count() as u64;
    }

    /// Adds totals counted apart (by another tracker).
    pub fn merge(&mut self, other: Totals) {
        // Every field by name: one added and not merged fails to compile.
        let Totals {
            connections,
            by_opening,
            by_closing,
            retransmissions,
            segments_in_connections,
            half_closes,
            time_waits,
        } = other;
        self.connections += connections;
        for (name, n) in by_opening {
            *self.by_opening.entry(name).or_default() += n;
        }
        for (name, n) in by_closing {
            *self.by_closing.entry(name).or_default() += n;
        }
        self.retransmissions += retransmissions;
        self.segments_in_connections += segments_in_connections;
        self.half_closes += half_closes;
        self.time_waits += time_waits;
    }
}

/// `tcpladder stats`' count of the file at `path`, on one tracker a core
/// (see [`analysis::fold_file`](crate::analysis::fold_file)).
pub fn count_file(
    path: &std::path::Path,
    filter: crate::analysis::Filter,
    cfg: crate::track::TrackConfig,
) -> Result<(ReadReport, Totals), crate::capture::CaptureError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (report, parts) =
        crate::analysis::fold_file(path, filter, cfg, cores, Totals::default, |t, c| t.add(c))?;
    let mut totals = Totals::default();
    for part in parts {
        totals.merge(part);
    }
    Ok((report, totals))
}

/// The `stats --json` document.
#[derive(Clone, Debug, Serialize)]
pub struct StatsDoc {
    pub file: String,
    pub packets: u64,
    pub tcp_segments: u64,
    pub skipped: Skipped,
    /// ICMP and ICMPv6 errors quoting a TCP segment.
    pub icmp_errors: u64,
    pub ip_fragments: Fragments,
    pub filtered_out: u64,
    pub connections: u64,
    /// Connections counted before they ended, to bound memory: idle past
    /// `--idle-timeout`, or unanswered SYNs past the last retransmission.
    pub aged_out: u64,
    pub by_opening: BTreeMap<&'static str, u64>,
    pub by_closing: BTreeMap<&'static str, u64>,
    pub retransmissions: u64,
    pub half_closes: u64,
    pub time_waits: u64,
    pub first: Option<f64>,
    pub last: Option<f64>,
    pub duration: f64,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Skipped {
    pub total: u64,
    pub not_tcp: u64,
    pub ip_fragment: u64,
    pub unsupported_link_type: u64,
    pub undecodable: u64,
}

/// IP fragments: held for reassembly (not skipped), the datagrams they
/// made, and those that never completed one.
#[derive(Clone, Debug, Serialize)]
pub struct Fragments {
    pub held: u64,
    pub reassembled: u64,
    pub never_completed: u64,
}

impl StatsDoc {
    pub fn new(report: &ReadReport, totals: &Totals) -> StatsDoc {
        let get = |k| report.skipped.get(&k).copied().unwrap_or(0);
        let duration = match (report.first_ts, report.last_ts) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        StatsDoc {
            file: report.file.clone(),
            packets: report.packets,
            tcp_segments: report.tcp_segments,
            skipped: Skipped {
                total: report.skipped_total(),
                not_tcp: get(SkipKind::NotTcp),
                ip_fragment: get(SkipKind::Fragment),
                unsupported_link_type: get(SkipKind::UnsupportedLink),
                undecodable: get(SkipKind::Undecodable),
            },
            icmp_errors: report.icmp_errors,
            ip_fragments: Fragments {
                held: report.fragments_held,
                reassembled: report.reassembled,
                never_completed: report.fragments_never_completed,
            },
            filtered_out: report.filtered_out,
            connections: totals.connections,
            aged_out: report.aged_out,
            by_opening: totals.by_opening.clone(),
            by_closing: totals.by_closing.clone(),
            retransmissions: totals.retransmissions,
            half_closes: totals.half_closes,
            time_waits: totals.time_waits,
            first: report.first_ts.map(|t| t.as_json_secs()),
            last: report.last_ts.map(|t| t.as_json_secs()),
            duration,
            warnings: report.warnings(),
        }
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "file               {}", self.file);
        let _ = writeln!(s, "packets read       {}", self.packets);
        let _ = writeln!(s, "TCP segments       {}", self.tcp_segments);
        let k = &self.skipped;
        let _ = writeln!(
            s,
            "packets skipped    {} (not TCP {}, IP fragment {}, unsupported link type {}, undecodable {})",
            k.total, k.not_tcp, k.ip_fragment, k.unsupported_link_type, k.undecodable
        );
        if self.icmp_errors > 0 {
            let _ = writeln!(s, "ICMP errors        {} (quoting TCP)", self.icmp_errors);
        }
        let f = &self.ip_fragments;
        if f.held > 0 {
            let _ = writeln!(
                s,
                "IP fragments       {} held for reassembly, {} datagram(s) reassembled, {} never completed",
                f.held, f.reassembled, f.never_completed
            );
        }
        if self.filtered_out > 0 {
            let _ = writeln!(s, "filtered out       {}", self.filtered_out);
        }
        let _ = writeln!(s, "capture duration   {:.6} s", self.duration);
        let _ = writeln!(s, "connections        {}", self.connections);
        if self.aged_out > 0 {
            let _ = writeln!(
                s,
                "aged out           {} (counted as they stood: idle past --idle-timeout, or an unanswered SYN past its last retransmission)",
                self.aged_out
            );
        }
        let list = |m: &BTreeMap<&'static str, u64>| {
            if m.is_empty() {
                return "none".to_string();
            }
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(s, "  by opening       {}", list(&self.by_opening));
        let _ = writeln!(s, "  by closing       {}", list(&self.by_closing));
        let _ = writeln!(s, "  half-closes      {}", self.half_closes);
        let _ = writeln!(s, "  TIME-WAITs       {}", self.time_waits);
        let _ = writeln!(s, "retransmissions    {}", self.retransmissions);
        s
    }
}
