//! A capture written to a pcap file as packets come, on a thread of its
//! own, with nanosecond CLOCK_REALTIME timestamps (the clock socket calls
//! are stamped with): what `demo` and `trace` record while their programs
//! run. [`Spool::start`] returns once the handle is open and filtered, so
//! nothing sent afterwards is missed.
//!
//! The thread first runs a setup the caller gives (entering a network
//! namespace: a packet socket belongs to the namespace of the thread that
//! makes it). This module may not change any interface or namespace.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::thread::JoinHandle;
use std::time::Duration;

use pcap::{Capture, Precision};

/// How long the thread naps when nothing is waiting.
const NAP: Duration = Duration::from_millis(2);

/// Why a spool could not run.
#[derive(Clone, Debug)]
pub enum SpoolError {
    /// The caller's setup failed (entering the namespace, say).
    Setup(String),
    /// libpcap could not open or filter the interface.
    Open { iface: String, error: String },
    /// The file could not be written.
    Write(String),
    /// The capture or its thread stopped on an error.
    Stopped(String),
}

impl SpoolError {
    /// libpcap said the process lacks the privilege to capture.
    pub fn is_permission(&self) -> bool {
        matches!(self, SpoolError::Open { error, .. }
            if error.contains("ermission") || error.contains("not permitted"))
    }
}

impl fmt::Display for SpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpoolError::Setup(m) | SpoolError::Write(m) | SpoolError::Stopped(m) => f.write_str(m),
            SpoolError::Open { iface, error } => write!(f, "cannot capture on {iface}: {error}"),
        }
    }
}

/// A capture running on its thread.
pub struct Spool {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<u64, SpoolError>>,
}

impl Spool {
    /// Starts a thread called `name` that runs `setup`, opens `iface` with
    /// the BPF `filter` and writes every packet to `path`.
    pub fn start(
        name: &str,
        iface: &str,
        filter: &str,
        path: &Path,
        setup: impl FnOnce() -> Result<(), String> + Send + 'static,
    ) -> Result<Spool, SpoolError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let (ready_tx, ready_rx) = channel::<Result<(), SpoolError>>();
        let (iface, filter, file): (String, String, PathBuf) =
            (iface.into(), filter.into(), path.into());
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || -> Result<u64, SpoolError> {
                let opened = setup()
                    .map_err(SpoolError::Setup)
                    .and_then(|()| open(&iface, &filter, &file));
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
                        Err(e) => return Err(SpoolError::Stopped(format!("capture stopped: {e}"))),
                    }
                }
                save.flush()
                    .map_err(|e| SpoolError::Write(format!("{}: {e}", file.display())))?;
                Ok(n)
            })
            .map_err(|e| SpoolError::Stopped(format!("cannot start the capture thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Spool { stop, thread }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                _ => Err(SpoolError::Stopped("the capture thread ended early".into())),
            },
        }
    }

    /// Stops after what is waiting has been written; returns the packet count.
    pub fn stop(self) -> Result<u64, SpoolError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| SpoolError::Stopped("the capture thread panicked".into()))?
    }
}

fn open(
    iface: &str,
    filter: &str,
    file: &Path,
) -> Result<(Capture<pcap::Active>, pcap::Savefile), SpoolError> {
    let fail = |e: pcap::Error| SpoolError::Open {
        iface: iface.to_string(),
        error: e.to_string(),
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
        .map_err(|e| SpoolError::Write(format!("cannot write {}: {e}", file.display())))?;
    Ok((cap, save))
}

/// The file a spool writes: kept where the user asked (written beside it
/// under a temporary name and put in place by `commit` once complete, so a
/// run that fails leaves no partial capture), or a temporary one; removed
/// when dropped uncommitted (on every path out of a run, an error too).
#[derive(Debug)]
pub struct SpoolFile {
    pub path: PathBuf,
    /// Where it goes once complete, if it is kept.
    keep: Option<PathBuf>,
    /// Kept and put in place: it stays.
    committed: bool,
}

impl SpoolFile {
    /// `keep` if given (by way of a temporary name beside it), else the
    /// temporary `temp`.
    pub fn new(keep: Option<&Path>, temp: impl FnOnce() -> PathBuf) -> SpoolFile {
        match keep {
            Some(p) => {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "capture".into());
                SpoolFile {
                    path: p.with_file_name(format!(".{name}.tcpladder-{}.tmp", std::process::id())),
                    keep: Some(p.to_path_buf()),
                    committed: false,
                }
            }
            None => SpoolFile {
                path: temp(),
                keep: None,
                committed: false,
            },
        }
    }

    /// The capture is complete: a kept one goes where the user asked.
    /// Returns where it is now.
    pub fn commit(&mut self) -> std::io::Result<PathBuf> {
        if let Some(keep) = self.keep.take() {
            std::fs::rename(&self.path, &keep)?;
            self.path = keep;
            // In place: no longer this run's to remove.
            self.committed = true;
        }
        Ok(self.path.clone())
    }
}

impl Drop for SpoolFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn a_kept_capture_appears_only_when_committed() {
        let d = std::env::temp_dir().join(format!("tl-spoolfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let keep = d.join("run.pcap");
        {
            let f = SpoolFile::new(Some(&keep), || d.join("unused"));
            assert_ne!(f.path, keep, "written under another name first");
            std::fs::write(&f.path, b"partial").unwrap();
        }
        // A run that failed: nothing left, nothing where it was asked for.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        {
            let mut f = SpoolFile::new(Some(&keep), || d.join("unused"));
            std::fs::write(&f.path, b"whole").unwrap();
            assert_eq!(f.commit().unwrap(), keep);
        }
        assert_eq!(std::fs::read(&keep).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        // A temporary one goes when dropped.
        let temp = d.join("temp.pcap");
        {
            let mut f = SpoolFile::new(None, || temp.clone());
            std::fs::write(&f.path, b"t").unwrap();
            assert_eq!(f.commit().unwrap(), temp);
        }
        assert!(!temp.exists());
        let _ = std::fs::remove_dir_all(&d);
    }
}
