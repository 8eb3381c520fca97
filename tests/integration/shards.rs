//! `stats` on several trackers at once (`analysis::fold_file`): the
//! connections split by 4-tuple, each tracker hearing every segment's
//! time. The totals and the report must be those of one tracker
//! (`stream_file`), byte for byte, on every capture we have, with idle
//! timeouts short enough to age connections out mid-capture.

use std::path::{Path, PathBuf};

use tcpladder::analysis::{Filter, fold_file, stream_file};
use tcpladder::stats::{StatsDoc, Totals};
use tcpladder::time::Span;
use tcpladder::track::TrackConfig;

use crate::captures::capture_files;

fn counting(idle: Option<Span>) -> TrackConfig {
    TrackConfig {
        keep_segments: false,
        idle_timeout: idle,
        ..TrackConfig::default()
    }
}

/// The `stats --json` document, or the error, as text.
fn one_tracker(file: &Path, filter: &Filter, cfg: TrackConfig) -> String {
    let mut totals = Totals::default();
    match stream_file(file, filter.clone(), cfg, |c| totals.add(c)) {
        Ok(report) => serde_json::to_string(&StatsDoc::new(&report, &totals)).expect("json"),
        Err(e) => format!("error: {e}"),
    }
}

fn trackers(file: &Path, filter: &Filter, cfg: TrackConfig, n: usize) -> (String, usize) {
    match fold_file(file, filter.clone(), cfg, n, Totals::default, |t, c| {
        t.add(c)
    }) {
        Ok((report, parts)) => {
            let made = parts.len();
            let mut totals = Totals::default();
            for p in parts {
                totals.merge(p);
            }
            let doc = serde_json::to_string(&StatsDoc::new(&report, &totals)).expect("json");
            (doc, made)
        }
        Err(e) => (format!("error: {e}"), n),
    }
}

fn all_captures() -> Vec<PathBuf> {
    let mut files = crate::bundled_captures();
    capture_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peer-captures"),
        &mut files,
    );
    files.sort();
    files
}

#[test]
fn several_trackers_count_what_one_tracker_counts() {
    let files = all_captures();
    let mut compared = 0;
    let mut aged = 0;
    // The default, then short enough that idle connections go mid-capture.
    for idle in [
        Some(tcpladder::track::DEFAULT_IDLE_TIMEOUT),
        Some(Span::from_secs(2)),
        Some(Span::from_nanos(50_000_000)),
    ] {
        let cfg = counting(idle);
        for file in &files {
            let want = one_tracker(file, &Filter::default(), cfg);
            if want.contains("\"aged_out\":") && !want.contains("\"aged_out\":0") {
                aged += 1;
            }
            for n in [1, 2, 3, 7] {
                let (got, made) = trackers(file, &Filter::default(), cfg, n);
                assert_eq!(made, n, "{}: one result a tracker", file.display());
                assert_eq!(
                    got,
                    want,
                    "{} on {n} trackers, idle {idle:?}",
                    file.display()
                );
            }
            compared += 1;
        }
    }
    assert!(compared >= 3 * crate::bundled_captures().len());
    // The short timeouts did age connections out: the clock was tested.
    assert!(aged > 10, "only {aged} runs aged anything out");
}

#[test]
fn several_trackers_keep_the_filters() {
    let file = crate::bundled_captures()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "many-connections.pcap"))
        .unwrap_or_else(|| crate::bundled_captures()[0].clone());
    let cfg = counting(Some(tcpladder::track::DEFAULT_IDLE_TIMEOUT));
    for filter in [
        Filter {
            port: Some(9502),
            bpf: None,
        },
        Filter {
            port: None,
            bpf: Some("tcp[tcpflags] & tcp-syn != 0".into()),
        },
    ] {
        let want = one_tracker(&file, &filter, cfg);
        assert!(!want.starts_with("error"), "{want}");
        for n in [2, 5] {
            assert_eq!(trackers(&file, &filter, cfg, n).0, want, "{filter:?}");
        }
    }
}
