//! The trace's capture: libpcap on one interface (`lo` by default) of the
//! host, or of the private namespace `--isolated` made, written to a pcap
//! file as packets come, with nanosecond CLOCK_REALTIME timestamps, the
//! clock the calls are stamped with. [`Recording::start`] returns once the
//! handle is open and filtered, so it is called before the program runs.
//!
//! This module may not touch the traced program or change any interface.

use std::path::Path;

use super::TraceError;
use crate::capture::spool::{Spool, SpoolError};
use crate::demo::netns::Netns;

/// A capture running on its thread.
pub struct Recording(Spool);

impl Recording {
    /// Opens `interface` (in `ns`, else the host's) with `filter` and
    /// starts writing `path`.
    pub fn start(
        ns: Option<&Netns>,
        interface: &str,
        filter: &str,
        path: &Path,
    ) -> Result<Recording, TraceError> {
        let ns = ns.cloned();
        let setup = move || match &ns {
            Some(ns) => ns.enter().map_err(|e| e.to_string()),
            None => Ok(()),
        };
        Spool::start("trace-capture", interface, filter, path, setup)
            .map(Recording)
            .map_err(to_trace)
    }

    /// Stops after what is waiting has been written; returns the packet count.
    pub fn stop(self) -> Result<u64, TraceError> {
        self.0.stop().map_err(to_trace)
    }
}

fn to_trace(e: SpoolError) -> TraceError {
    match e {
        SpoolError::Setup(m) => TraceError::Isolation(m),
        e if e.is_permission() => TraceError::Capture(format!(
            "{e}: capturing needs root or CAP_NET_RAW (or run the program with --isolated)"
        )),
        other => TraceError::Capture(other.to_string()),
    }
}
