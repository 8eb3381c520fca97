//! The demo's capture: libpcap on the client's interface, inside the
//! client's namespace, written to a pcap file as packets come, with
//! nanosecond timestamps (CLOCK_REALTIME, the clock the calls are stamped
//! with).
//!
//! The handle is opened by a thread that has entered the namespace (the
//! packet socket belongs to the namespace of the thread that makes it);
//! [`Recording::start`] returns once the handle is open, so nothing the
//! programs send afterwards is missed. This module may not change the
//! namespace's configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::thread::JoinHandle;
use std::time::Duration;

use pcap::{Capture, Precision};

use super::DemoError;
use super::netns::Netns;

const NAP: Duration = Duration::from_millis(2);

/// A capture running on its thread.
pub struct Recording {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Result<u64, DemoError>, DemoError>>,
}

impl Recording {
    /// Opens `interface` in `ns` and starts writing `path`.
    pub fn start(ns: &Netns, interface: &str, path: &Path) -> Result<Recording, DemoError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (ready_tx, ready_rx) = channel::<Result<(), DemoError>>();
        let iface = interface.to_string();
        let file: PathBuf = path.to_path_buf();
        let thread = ns.spawn("demo-capture", move || {
            let opened = open(&iface, &file);
            let (mut cap, mut save) = match opened {
                Ok(v) => {
                    let _ = ready_tx.send(Ok(()));
                    v
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.clone()));
                    return Err(e);
                }
            };
            let mut n = 0u64;
            loop {
                let stopping = flag.load(Ordering::Relaxed);
                match cap.next_packet() {
                    Ok(p) => {
                        save.write(&p);
                        n += 1;
                    }
                    Err(pcap::Error::TimeoutExpired) => {
                        // Drained: stop only once nothing is waiting.
                        if stopping {
                            break;
                        }
                        std::thread::sleep(NAP);
                    }
                    Err(e) => return Err(DemoError::Capture(format!("capture stopped: {e}"))),
                }
            }
            save.flush()
                .map_err(|e| DemoError::Capture(format!("{}: {e}", file.display())))?;
            Ok(n)
        })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Recording { stop, thread }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => match thread.join() {
                Ok(Err(e)) | Ok(Ok(Err(e))) => Err(e),
                _ => Err(DemoError::Capture("the capture thread ended early".into())),
            },
        }
    }

    /// Stops after what is waiting has been written; returns the packet count.
    pub fn stop(self) -> Result<u64, DemoError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| DemoError::Capture("the capture thread panicked".into()))??
    }
}

fn open(iface: &str, file: &Path) -> Result<(Capture<pcap::Active>, pcap::Savefile), DemoError> {
    let fail = |e: pcap::Error| DemoError::Capture(format!("cannot capture on {iface}: {e}"));
    let mut cap = Capture::from_device(iface)
        .map_err(fail)?
        .snaplen(65535)
        .immediate_mode(true)
        .promisc(false)
        .precision(Precision::Nano)
        .timeout(50)
        .open()
        .map_err(fail)?;
    // What `live` keeps (TCP, ICMP errors, fragments): the kernel's own
    // chatter on a new interface (IPv6 router solicitations) stays out.
    let filter = crate::capture::live::LiveConfig::filter_for(None, None);
    cap.filter(&filter, true).map_err(fail)?;
    let cap = cap.setnonblock().map_err(fail)?;
    let save = cap
        .savefile(file)
        .map_err(|e| DemoError::Capture(format!("cannot write {}: {e}", file.display())))?;
    Ok((cap, save))
}
