//! The trace's capture: libpcap on one interface (`lo` by default) of the
//! host, or of the private namespace `--isolated` made, written to a pcap
//! file as packets come, with nanosecond CLOCK_REALTIME timestamps, the
//! clock the calls are stamped with. [`Recording::start`] returns once the
//! handle is open and filtered, so it is called before the program runs.
//!
//! This module may not touch the traced program or change any interface.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::thread::JoinHandle;
use std::time::Duration;

use pcap::{Capture, Precision};

use super::TraceError;
use crate::demo::netns::Netns;

const NAP: Duration = Duration::from_millis(2);

/// A capture running on its thread.
pub struct Recording {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<u64, TraceError>>,
}

impl Recording {
    /// Opens `interface` (in `ns`, else the host's) with `filter` and
    /// starts writing `path`.
    pub fn start(
        ns: Option<&Netns>,
        interface: &str,
        filter: &str,
        path: &Path,
    ) -> Result<Recording, TraceError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (ready_tx, ready_rx) = channel::<Result<(), TraceError>>();
        let (iface, filter, file): (String, String, PathBuf) =
            (interface.into(), filter.into(), path.into());
        let ns = ns.cloned();
        let thread = std::thread::Builder::new()
            .name("trace-capture".into())
            .spawn(move || -> Result<u64, TraceError> {
                let opened = match &ns {
                    Some(ns) => ns
                        .enter()
                        .map_err(|e| TraceError::Isolation(e.to_string()))
                        .and_then(|()| open(&iface, &filter, &file)),
                    None => open(&iface, &filter, &file),
                };
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
                            if stopping {
                                break;
                            }
                            std::thread::sleep(NAP);
                        }
                        Err(e) => return Err(TraceError::Capture(format!("capture stopped: {e}"))),
                    }
                }
                save.flush()
                    .map_err(|e| TraceError::Capture(format!("{}: {e}", file.display())))?;
                Ok(n)
            })
            .map_err(|e| TraceError::Capture(format!("cannot start the capture thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Recording { stop, thread }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                _ => Err(TraceError::Capture("the capture thread ended early".into())),
            },
        }
    }

    /// Stops after what is waiting has been written; returns the packet count.
    pub fn stop(self) -> Result<u64, TraceError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| TraceError::Capture("the capture thread panicked".into()))?
    }
}

fn open(
    iface: &str,
    filter: &str,
    file: &Path,
) -> Result<(Capture<pcap::Active>, pcap::Savefile), TraceError> {
    let fail = |e: pcap::Error| {
        let text = e.to_string();
        if text.contains("ermission") || text.contains("not permitted") {
            TraceError::Capture(format!(
                "capturing on {iface} needs root or CAP_NET_RAW (or run the program with --isolated): {text}"
            ))
        } else {
            TraceError::Capture(format!("cannot capture on {iface}: {text}"))
        }
    };
    let mut cap = Capture::from_device(iface)
        .map_err(fail)?
        .snaplen(65535)
        .immediate_mode(true)
        .promisc(false)
        .precision(Precision::Nano)
        .timeout(50)
        .open()
        .map_err(fail)?;
    cap.filter(filter, true).map_err(fail)?;
    let cap = cap.setnonblock().map_err(fail)?;
    let save = cap
        .savefile(file)
        .map_err(|e| TraceError::Capture(format!("cannot write {}: {e}", file.display())))?;
    Ok((cap, save))
}
