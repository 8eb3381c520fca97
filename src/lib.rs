//! tcpladder: TCP connection setup and teardown as ladder diagrams.
//!
//! The pipeline reads top to bottom, one module a stage:
//! [`capture`] (files in) → [`decode`] (bytes → TCP segment) → [`track`]
//! (connections and both endpoints' RFC 9293 states) → [`ladder`] (the view
//! model) → [`export`] (text and JSON renderers). `decode`, `track` and
//! `ladder` are pure: no files, terminals, sockets or clocks. [`demo`] is
//! another way in: it runs built-in programs in private namespaces and
//! captures them.
#![forbid(unsafe_code)]

pub mod analysis;
pub mod capture;
pub mod cli;
pub mod decode;
pub mod demo;
pub mod export;
pub mod ladder;
pub mod leb128;
pub mod sample;
pub mod shown;
pub mod stats;
pub mod time;
pub mod trace;
pub mod track;
pub mod tui;
