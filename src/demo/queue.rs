//! The server's listen queues, sampled while a scenario runs: how many
//! connections wait in the SYN queue (request sockets, SYN-RECEIVED) and in
//! the accept queue (handshake done, not yet taken by `accept()`), which
//! the tutorials draw as the two queues `listen(fd, backlog)` sizes.
//!
//! A thread in the server's namespace reads `/proc/thread-self/net/tcp`
//! (the table of the namespace of the thread that reads it) every few
//! milliseconds: a listening socket's `rx_queue` is its accept queue
//! length, and each request socket is a line in state SYN-RECEIVED (the
//! backlog is not in the table: it comes from the `listen()` call). Only changes are kept. This module reads; it may not
//! change the namespace.
//!
//! `trace` samples a traced program's listeners the same way
//! ([`PortSampler`]): from `/proc/TID/net/tcp` and `tcp6` of a thread that
//! called `listen()` (its namespace's tables), for the ports it listens on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::DemoError;
use super::netns::Netns;
use super::record::now;
use crate::time::Timestamp;

const EVERY: Duration = Duration::from_millis(2);
/// /proc/net/tcp's state numbers.
const TCP_SYN_RECV: u8 = 0x03;
const TCP_LISTEN: u8 = 0x0a;

/// The queues at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub time: Timestamp,
    pub syn_queue: u32,
    pub accept_queue: u32,
    /// Whether anything listens on the port.
    pub listening: bool,
}

/// A sample as `demo --json` prints it.
#[derive(Debug, Serialize)]
pub struct SampleDoc {
    pub time: f64,
    pub syn_queue: u32,
    pub accept_queue: u32,
}

impl From<&Sample> for SampleDoc {
    fn from(s: &Sample) -> SampleDoc {
        SampleDoc {
            time: s.time.as_json_secs(),
            syn_queue: s.syn_queue,
            accept_queue: s.accept_queue,
        }
    }
}

/// The sampling thread.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Vec<Sample>, DemoError>>,
}

impl Sampler {
    /// Samples the queues of the listener on `port` in `ns`.
    pub fn start(ns: &Netns, port: u16) -> Result<Sampler, DemoError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let thread = ns.spawn("demo-queues", move || {
            let mut samples: Vec<Sample> = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Ok(table) = std::fs::read_to_string("/proc/thread-self/net/tcp") {
                    keep_change(&mut samples, queues(&table, port));
                }
                // The programs start once the queues before them are known.
                let _ = ready_tx.send(());
                std::thread::sleep(EVERY);
            }
            samples
        })?;
        // A sampler that cannot start leaves the queues unknown, no more.
        let _ = ready_rx.recv_timeout(Duration::from_secs(1));
        Ok(Sampler { stop, thread })
    }

    pub fn stop(self) -> Result<Vec<Sample>, DemoError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| DemoError::Capture("the queue sampler panicked".into()))?
    }
}

/// Adds the queues read now if they differ from the last sample.
fn keep_change(samples: &mut Vec<Sample>, (syn, accept, listening): (u32, u32, bool)) {
    let changed = samples
        .last()
        .is_none_or(|l| (l.syn_queue, l.accept_queue, l.listening) != (syn, accept, listening));
    if changed {
        samples.push(Sample {
            time: now(),
            syn_queue: syn,
            accept_queue: accept,
            listening,
        });
    }
}

/// The samples from the last one at or before `first` to the first one
/// after `last`: the queues when a connection began, every change while it
/// lasted, and what it left (the sampler may read just after the last
/// segment the change accept() made just before it).
pub fn during(samples: &[Sample], first: Timestamp, last: Timestamp) -> Vec<SampleDoc> {
    let from = samples.iter().rposition(|s| s.time <= first).unwrap_or(0);
    let to = samples.partition_point(|s| s.time <= last) + 1;
    samples
        .get(from..to.min(samples.len()).max(from))
        .unwrap_or_default()
        .iter()
        .map(SampleDoc::from)
        .collect()
}

/// The listeners a traced program opened, as the tracer finds them: the
/// thread that called `listen()` (whose namespace's tables show the
/// queues) and the port.
pub type Listening = Arc<Mutex<Vec<(i32, u16)>>>;

/// Samples the queues of every port in a [`Listening`] list as it grows,
/// each port's changes apart.
pub struct PortSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(u16, Vec<Sample>)>>,
}

impl PortSampler {
    pub fn start(listening: Listening) -> std::io::Result<PortSampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("trace-queues".into())
            .spawn(move || {
                let mut out: Vec<(u16, Vec<Sample>)> = Vec::new();
                while !flag.load(Ordering::Relaxed) {
                    let now_listening = listening.lock().map(|l| l.clone()).unwrap_or_default();
                    for (tid, port) in now_listening {
                        let read =
                            |f: &str| std::fs::read_to_string(format!("/proc/{tid}/net/{f}"));
                        // A thread that has exited: its queues are no longer
                        // there to read.
                        let (Ok(v4), v6) = (read("tcp"), read("tcp6")) else {
                            continue;
                        };
                        let (a, b) = (queues(&v4, port), queues(&v6.unwrap_or_default(), port));
                        let q = (a.0 + b.0, a.1 + b.1, a.2 || b.2);
                        let k = match out.iter().position(|(p, _)| *p == port) {
                            Some(k) => k,
                            None => {
                                out.push((port, Vec::new()));
                                out.len() - 1
                            }
                        };
                        keep_change(&mut out[k].1, q);
                    }
                    std::thread::sleep(EVERY);
                }
                out
            })?;
        Ok(PortSampler { stop, thread })
    }

    /// Each port's samples.
    pub fn stop(self) -> Vec<(u16, Vec<Sample>)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// SYN queue and accept queue of the listener on `port`, and whether one
/// listens, from the text of /proc/net/tcp (which, unlike sock_diag, does
/// not show the backlog: that comes from the `listen()` call).
pub fn queues(table: &str, port: u16) -> (u32, u32, bool) {
    let mut syn = 0;
    let mut accept = 0;
    let mut listening = false;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(st), Some(queues)) = (f.get(1), f.get(3), f.get(4)) else {
            continue;
        };
        let local_port = local
            .rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        if local_port != Some(port) {
            continue;
        }
        let Ok(state) = u8::from_str_radix(st, 16) else {
            continue;
        };
        let rx = queues
            .split(':')
            .nth(1)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .unwrap_or(0);
        match state {
            TCP_LISTEN => {
                accept += rx;
                listening = true;
            }
            TCP_SYN_RECV => syn += 1,
            _ => {}
        }
    }
    (syn, accept, listening)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_listener_with_queued_connections() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 020012C6:251E 00000000:0000 0A 00000001:00000002 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 020012C6:251E 010012C6:A001 03 00000000:00000000 02:00000060 00000000     0        0 0 2 0
   2: 020012C6:251E 010012C6:A002 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0
   3: 020012C6:1F90 00000000:0000 0A 00000080:00000000 00:00000000 00000000     0        0 3 1 0
";
        assert_eq!(queues(table, 9502), (1, 2, true));
        assert_eq!(queues(table, 8080), (0, 0, true));
        assert_eq!(queues(table, 1), (0, 0, false));
    }
}
