//! All integration tests in one binary, one module per concern.

mod bad_input;
mod captures;
mod cli;
mod demo;
mod export;
mod faults;
mod golden;
mod kernel_truth;
mod live;
mod peer_corpus;
mod props;
mod shards;
mod tmux;
mod toolbox;
mod trace;
mod tui;

/// The bundled captures (`captures/*.pcap`, `*.pcapng`), sorted.
fn bundled_captures() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut all: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .expect("captures/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    all.sort();
    all
}
