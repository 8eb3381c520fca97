//! Live capture with libpcap (the `pcap` crate), on a thread of its own.
//!
//! Packets are copied (up to a header snap length) and sent over a channel
//! in batches; the consumer decodes them like file records. libpcap's read
//! timeout cannot be trusted to fire on Linux, so the handle is put in
//! non-blocking mode: the thread drains what is there, hands the batch over
//! at once, and naps a few milliseconds when nothing is waiting. A stop
//! request is seen within one nap, so quitting is instant and the last
//! packets are never left sitting in a batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcap::{Active, Capture, Device, Linktype};

use crate::time::Timestamp;

/// Only headers are needed: link + IP + options + TCP fits in this.
const SNAPLEN: i32 = 256;
const LINKTYPE_LINUX_SLL2: i32 = 276;
/// How long the thread sleeps when no packet is waiting.
const NAP: Duration = Duration::from_millis(5);
/// A batch is handed over when the queue runs dry or at this size.
const MAX_BATCH: usize = 4096;

/// What to capture.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub interface: String,
    /// A BPF filter; `tcp` when none is given.
    pub filter: String,
}

impl LiveConfig {
    /// `-p PORT` and `-f BPF` combined, as tcpdump would take them.
    pub fn filter_for(port: Option<u16>, bpf: Option<&str>) -> String {
        let mut f = String::from("tcp");
        if let Some(p) = port {
            f.push_str(&format!(" port {p}"));
        }
        if let Some(b) = bpf {
            f = format!("({f}) and ({b})");
        }
        f
    }
}

/// A captured packet, owned.
#[derive(Clone, Debug)]
pub struct LivePacket {
    pub frame: u64,
    pub ts: Timestamp,
    pub link: u32,
    pub data: Vec<u8>,
    pub orig_len: u32,
}

impl LivePacket {
    /// The packet as a capture record, as the file reader hands them out.
    pub fn record(&self) -> crate::capture::Record<'_> {
        crate::capture::Record {
            frame: self.frame,
            ts: self.ts,
            link: self.link,
            data: &self.data,
            orig_len: self.orig_len,
            interface: 0,
        }
    }
}

/// Messages from the capture thread.
#[derive(Debug)]
pub enum LiveMsg {
    Packets(Vec<LivePacket>),
    /// The kernel's counters: received, dropped for lack of buffer,
    /// dropped by the interface.
    Stats {
        received: u32,
        dropped: u32,
        if_dropped: u32,
    },
    /// The capture ended with an error.
    Error(String),
}

/// Why a capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "capturing on {interface} needs privileges: run with sudo, or give the binary the capabilities once with `sudo setcap cap_net_raw,cap_net_admin=eip {binary}`"
    )]
    Permission { interface: String, binary: String },
    #[error("{0}")]
    Other(String),
}

/// Interface names and descriptions, as `tcpdump -D` lists them.
pub fn list_interfaces() -> Result<Vec<(String, String)>, LiveError> {
    let devs = Device::list().map_err(|e| LiveError::Other(e.to_string()))?;
    Ok(devs
        .into_iter()
        .map(|d| (d.name, d.desc.unwrap_or_default()))
        .collect())
}

/// An open capture, not yet running.
pub struct LiveCapture {
    cap: Capture<Active>,
    link: u32,
}

impl LiveCapture {
    pub fn open(cfg: &LiveConfig) -> Result<LiveCapture, LiveError> {
        let classify = |e: pcap::Error| {
            let msg = e.to_string();
            let lower = msg.to_lowercase();
            if lower.contains("permission") || lower.contains("not permitted") {
                LiveError::Permission {
                    interface: cfg.interface.clone(),
                    binary: std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "tcpladder".into()),
                }
            } else {
                LiveError::Other(format!("{}: {msg}", cfg.interface))
            }
        };
        let mut cap = Capture::from_device(cfg.interface.as_str())
            .map_err(classify)?
            .snaplen(SNAPLEN)
            .immediate_mode(true)
            .promisc(false)
            .timeout(100)
            .open()
            .map_err(classify)?;
        // The `any` device in Linux cooked v2 carries the interface index
        // and direction; older libpcap falls back to v1, which we also read.
        if cfg.interface == "any" {
            let _ = cap.set_datalink(Linktype(LINKTYPE_LINUX_SLL2));
        }
        cap.filter(&cfg.filter, true)
            .map_err(|e| LiveError::Other(format!("filter '{}': {e}", cfg.filter)))?;
        let link = cap.get_datalink().0 as u32;
        let cap = cap
            .setnonblock()
            .map_err(|e| LiveError::Other(format!("{}: {e}", cfg.interface)))?;
        Ok(LiveCapture { cap, link })
    }

    pub fn link(&self) -> u32 {
        self.link
    }

    /// Starts the capture thread. Packets arrive in batches at most every
    /// 20 ms; kernel counters every second.
    pub fn spawn(mut self) -> (LiveHandle, Receiver<LiveMsg>) {
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || self.run(&tx, &flag));
        (
            LiveHandle {
                stop,
                thread: Some(thread),
            },
            rx,
        )
    }

    fn run(&mut self, tx: &Sender<LiveMsg>, stop: &AtomicBool) {
        let mut batch = Vec::new();
        let mut frame = 0u64;
        let mut last_stats = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let mut idle = false;
            match self.cap.next_packet() {
                Ok(p) => {
                    frame += 1;
                    let ts =
                        Timestamp::from_secs_nanos(p.header.ts.tv_sec, p.header.ts.tv_usec * 1000);
                    batch.push(LivePacket {
                        frame,
                        ts,
                        link: self.link,
                        data: p.data.to_vec(),
                        orig_len: p.header.len,
                    });
                }
                // Non-blocking: nothing is waiting right now.
                Err(pcap::Error::TimeoutExpired) => idle = true,
                Err(e) => {
                    let _ = tx.send(LiveMsg::Error(e.to_string()));
                    break;
                }
            }
            if !batch.is_empty()
                && (idle || batch.len() >= MAX_BATCH)
                && tx
                    .send(LiveMsg::Packets(std::mem::take(&mut batch)))
                    .is_err()
            {
                return;
            }
            if last_stats.elapsed() >= Duration::from_secs(1) {
                if let Ok(s) = self.cap.stats() {
                    let _ = tx.send(LiveMsg::Stats {
                        received: s.received,
                        dropped: s.dropped,
                        if_dropped: s.if_dropped,
                    });
                }
                last_stats = Instant::now();
            }
            if idle {
                std::thread::sleep(NAP);
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(LiveMsg::Packets(batch));
        }
        if let Ok(s) = self.cap.stats() {
            let _ = tx.send(LiveMsg::Stats {
                received: s.received,
                dropped: s.dropped,
                if_dropped: s.if_dropped,
            });
        }
    }
}

/// Stops the capture thread when asked or dropped.
pub struct LiveHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LiveHandle {
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
