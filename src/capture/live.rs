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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcap::{Active, Capture, Device, Linktype};

use crate::capture::kernel::{KernelEvent, KernelFeed};
use crate::time::Timestamp;

/// Only headers are needed: link + IP + options + TCP fits in this.
const SNAPLEN: i32 = 256;
const LINKTYPE_LINUX_SLL2: i32 = 276;
/// How long the thread sleeps when no packet is waiting.
const NAP_MS: u8 = 5;
/// How often the kernel's record is read beside the packets.
const KERNEL_EVERY: Duration = Duration::from_millis(100);
/// A batch is handed over when the queue runs dry or at this size.
const MAX_BATCH: usize = 4096;

/// What to capture.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub interface: String,
    /// A BPF filter; `tcp` when none is given.
    pub filter: String,
    /// The kernel's capture buffer, in KiB (tcpdump's `-B`).
    pub buffer_kib: u32,
    /// Every packet captured is also written here, as pcap (tcpdump's
    /// `-w`).
    pub write: Option<std::path::PathBuf>,
    /// Without `write`: spool what is captured to a temporary file in
    /// this folder instead (the TUI's `w` saves it), removed at the end.
    pub spool_in: Option<std::path::PathBuf>,
}

/// The pcap file every captured packet goes to: the `-w` file, or a
/// temporary spool. Its first `complete()` bytes are whole records, on
/// disk: a copy of them is a valid capture of everything so far.
#[derive(Clone, Debug)]
pub struct Spooled {
    pub path: std::path::PathBuf,
    complete: Arc<AtomicU64>,
}

impl Spooled {
    /// A spool at `path` with nothing complete yet.
    pub fn new(path: std::path::PathBuf) -> Spooled {
        Spooled {
            path,
            complete: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn complete(&self) -> u64 {
        self.complete.load(Ordering::Acquire)
    }

    /// Its first `n` bytes are whole records, on disk.
    pub fn set_complete(&self, n: u64) {
        self.complete.store(n, Ordering::Release);
    }
}

/// Makes `path` the spool [`remove_spool`] removes.
pub fn note_spool(path: &std::path::Path) {
    if let Ok(mut s) = SPOOL.lock() {
        *s = Some(path.to_path_buf());
    }
}

/// The spool of this process, for a signal handler to remove.
static SPOOL: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);

/// Removes this process's temporary spool, if it has one (a `-w` file
/// stays): at the end, and from a signal handler, so the file is not left
/// behind by Ctrl-C or a kill either.
pub fn remove_spool() {
    if let Ok(mut s) = SPOOL.lock()
        && let Some(p) = s.take()
    {
        let _ = std::fs::remove_file(p);
    }
}

/// A pcap file's header: 24 bytes before the first record.
const PCAP_HEADER: u64 = 24;
/// A pcap record's header: 16 bytes before its data.
const RECORD_HEADER: u64 = 16;

/// The default capture buffer: 64 MiB, about two seconds of a loopback
/// connection storm (200 k small packets a second) while the capture
/// thread waits for a CPU. libpcap's own default is 2 MiB.
pub const DEFAULT_BUFFER_KIB: u32 = 64 * 1024;

/// ICMP and ICMPv6 errors, whatever they quote (the decoder keeps those
/// that quote TCP). ICMPv4: destination unreachable, source quench, time
/// exceeded, parameter problem. ICMPv6: types 1 to 4, read at `ip6[40]`,
/// which is only the ICMPv6 type when no extension header comes first; BPF
/// cannot follow IPv6 extension headers by offset, and libpcap's `icmp6`
/// itself only looks at the fixed header's next header, so an ICMPv6 error
/// behind an extension header is missed. Errors are rarely sent that way.
/// BPF has no set membership (`in`): each type is compared on its own.
const ICMP_ERRORS: &str = "(icmp and (icmp[0] = 3 or icmp[0] = 4 or icmp[0] = 11 or icmp[0] = 12)) \
                           or (icmp6 and ip6[40] >= 1 and ip6[40] <= 4)";

/// IP fragments, whatever they carry: libpcap's `tcp port P` matches only
/// a first fragment (the others have no TCP header), so without these a
/// fragmented segment could never be reassembled. IPv4: MF set or a
/// non-zero offset; IPv6: a fragment header right after the fixed header
/// (the same offset limit as for ICMPv6). The port is checked after
/// reassembly.
const IP_FRAGMENTS: &str = "(ip and ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] = 44)";

impl LiveConfig {
    /// `-p PORT` and `-f BPF` combined, as tcpdump would take them: TCP on
    /// the port, or an ICMP/ICMPv6 error (the port of the segment an error
    /// quotes is checked after decoding), or an IP fragment, and then the
    /// user's filter.
    pub fn filter_for(port: Option<u16>, bpf: Option<&str>) -> String {
        let tcp = match port {
            Some(p) => format!("tcp port {p}"),
            None => String::from("tcp"),
        };
        // BPF's `and` and `or` have equal precedence: parenthesize.
        let mut f = format!("({tcp}) or {ICMP_ERRORS} or {IP_FRAGMENTS}");
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
            offset: 0,
            rereadable: false,
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
    /// The kernel's own state changes read since the last of these; the
    /// record is complete until `until`.
    Kernel {
        events: Vec<KernelEvent>,
        until: Timestamp,
    },
    /// Why the kernel's states cannot be read (said once).
    KernelUnavailable(String),
    /// A piped capture ended: cleanly, or with why it stopped early.
    Ended(Option<String>),
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
    /// The kernel's own state changes, read beside the packets (or why
    /// they cannot be).
    kernel: Option<Result<KernelFeed, String>>,
    /// `-w FILE` or the spool: every packet, as captured.
    save: Option<pcap::Savefile>,
    spooled: Option<Spooled>,
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
            .buffer_size(i32::try_from(u64::from(cfg.buffer_kib) * 1024).unwrap_or(i32::MAX))
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
        let target = match (&cfg.write, &cfg.spool_in) {
            (Some(path), _) => Some((path.clone(), true)),
            (None, Some(dir)) => Some((
                dir.join(format!("tcpladder-live-{}.pcap", std::process::id())),
                false,
            )),
            (None, None) => None,
        };
        let (save, spooled) = match target {
            Some((path, kept)) => {
                let save = cap
                    .savefile(&path)
                    .map_err(|e| LiveError::Other(format!("{}: {e}", path.display())))?;
                if !kept {
                    note_spool(&path);
                }
                let spooled = Spooled::new(path);
                (Some(save), Some(spooled))
            }
            None => (None, None),
        };
        Ok(LiveCapture {
            cap,
            link,
            kernel: None,
            save,
            spooled,
        })
    }

    /// Where every captured packet goes, if anywhere.
    pub fn spooled(&self) -> Option<Spooled> {
        self.spooled.clone()
    }

    /// Puts what was written on disk and says how much is complete.
    fn flush_spool(&mut self, written: u64) -> Result<(), pcap::Error> {
        if let Some(save) = &mut self.save {
            save.flush()?;
            if let Some(s) = &self.spooled {
                s.set_complete(written);
            }
        }
        Ok(())
    }

    pub fn link(&self) -> u32 {
        self.link
    }

    /// Starts the capture thread. Packets arrive in batches at most every
    /// 20 ms; kernel counters every second.
    /// Reads the kernel's own state changes too (`KernelTrace::feed`), or
    /// says why not once, as `LiveMsg::KernelUnavailable`.
    pub fn with_kernel(mut self, feed: Result<KernelFeed, String>) -> LiveCapture {
        self.kernel = Some(feed);
        self
    }

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
        // Bytes of the spool, counted as libpcap writes them.
        let mut written = PCAP_HEADER;
        let mut last_stats = Instant::now();
        let mut last_kernel = Instant::now();
        if let Some(Err(why)) = self.kernel.take_if(|k| k.is_err()) {
            let _ = tx.send(LiveMsg::KernelUnavailable(why));
        }
        while !stop.load(Ordering::Relaxed) {
            let mut idle = false;
            match self.cap.next_packet() {
                Ok(p) => {
                    if let Some(save) = &mut self.save {
                        save.write(&p);
                        written += RECORD_HEADER + u64::from(p.header.caplen);
                    }
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
            if !batch.is_empty() && (idle || batch.len() >= MAX_BATCH) {
                // On disk before the packets are shown: what `w` saves
                // has all the UI shows.
                if let Err(e) = self.flush_spool(written) {
                    let _ = tx.send(LiveMsg::Error(format!("writing the capture file: {e}")));
                }
                if tx
                    .send(LiveMsg::Packets(std::mem::take(&mut batch)))
                    .is_err()
                {
                    return;
                }
            }
            if last_kernel.elapsed() >= KERNEL_EVERY
                && let Some(Ok(feed)) = &mut self.kernel
            {
                // The packets before the changes: a view compares what
                // both have reached.
                if !batch.is_empty() {
                    let _ = tx.send(LiveMsg::Packets(std::mem::take(&mut batch)));
                }
                let until = super::wall_now();
                let events = feed.read();
                let _ = tx.send(LiveMsg::Kernel { events, until });
                last_kernel = Instant::now();
            }
            if last_stats.elapsed() >= Duration::from_secs(1) {
                // What was captured is on disk within a second, also if
                // the process is killed.
                let _ = self.flush_spool(written);
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
                // Until a packet is there (or a nap's time, to see a stop
                // request and read the kernel's record).
                use std::os::fd::AsFd;
                let mut fds = [nix::poll::PollFd::new(
                    self.cap.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                if nix::poll::poll(&mut fds, NAP_MS).is_err() {
                    std::thread::sleep(Duration::from_millis(u64::from(NAP_MS)));
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(LiveMsg::Packets(batch));
        }
        if let Err(e) = self.flush_spool(written) {
            let _ = tx.send(LiveMsg::Error(format!("writing the capture file: {e}")));
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

#[cfg(test)]
mod tests {
    use super::*;
    use pcap::Capture;

    /// An Ethernet frame around an IPv4 packet of protocol `proto`.
    fn ether_ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0]);
        let total = (20 + payload.len()) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(payload);
        f
    }

    /// An Ethernet frame around an IPv6 packet of next header `next`.
    fn ether_ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        f.extend_from_slice(&[next, 64]);
        f.extend_from_slice(&[0; 32]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn the_filter_compiles_for_every_live_link_type() {
        for link in [1, 113, 276] {
            let dead = Capture::dead(Linktype(link)).expect("a dead capture");
            for f in [
                LiveConfig::filter_for(None, None),
                LiveConfig::filter_for(Some(9502), None),
                LiveConfig::filter_for(Some(443), Some("host 10.0.0.1")),
            ] {
                if let Err(e) = dead.compile(&f, true) {
                    panic!("link type {link}: '{f}' does not compile: {e}");
                }
            }
        }
    }

    #[test]
    fn the_filter_keeps_tcp_on_the_port_icmp_errors_and_fragments() {
        let dead = Capture::dead(Linktype(1)).expect("a dead capture");
        let prog = dead
            .compile(&LiveConfig::filter_for(Some(9502), None), true)
            .expect("compiles");
        let mut tcp = vec![0u8; 20];
        tcp[2..4].copy_from_slice(&9502u16.to_be_bytes());
        tcp[12] = 0x50;
        assert!(prog.filter(&ether_ipv4(6, &tcp)), "TCP to the port");
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        assert!(!prog.filter(&ether_ipv4(6, &tcp)), "TCP to another port");
        for ty in [3u8, 4, 11, 12] {
            assert!(
                prog.filter(&ether_ipv4(1, &[ty, 0, 0, 0, 0, 0, 0, 0])),
                "ICMP {ty}"
            );
        }
        assert!(
            !prog.filter(&ether_ipv4(1, &[8, 0, 0, 0, 0, 0, 0, 0])),
            "echo"
        );
        for ty in 1u8..=4 {
            assert!(
                prog.filter(&ether_ipv6(58, &[ty, 0, 0, 0, 0, 0, 0, 0])),
                "ICMPv6 {ty}"
            );
        }
        assert!(
            !prog.filter(&ether_ipv6(58, &[128, 0, 0, 0, 0, 0, 0, 0])),
            "echo6"
        );
        assert!(!prog.filter(&ether_ipv4(17, &[0; 8])), "UDP");
        // A second fragment of a segment to the port: no TCP header in it.
        let mut frag = ether_ipv4(6, &[0; 8]);
        frag[20..22].copy_from_slice(&0x0003u16.to_be_bytes());
        assert!(prog.filter(&frag), "IPv4 fragment at offset 24");
        let frag6 = ether_ipv6(44, &[6, 0, 0, 0x18, 0, 0, 0, 1, 0, 0]);
        assert!(prog.filter(&frag6), "IPv6 fragment");
    }
}
