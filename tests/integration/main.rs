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
mod tmux;
mod toolbox;
mod trace;
mod tui;
