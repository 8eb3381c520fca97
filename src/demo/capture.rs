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

use std::path::Path;

use super::DemoError;
use super::netns::Netns;
use crate::capture::spool::{Spool, SpoolError};

/// A capture running on its thread.
pub struct Recording(Spool);

impl Recording {
    /// Opens `interface` in `ns` and starts writing `path`.
    pub fn start(ns: &Netns, interface: &str, path: &Path) -> Result<Recording, DemoError> {
        // What `live` keeps (TCP, ICMP errors, fragments): the kernel's own
        // chatter on a new interface (IPv6 router solicitations) stays out.
        let filter = crate::capture::live::LiveConfig::filter_for(None, None);
        let ns = ns.clone();
        let setup = move || ns.enter().map_err(|e| e.to_string());
        Spool::start("demo-capture", interface, &filter, path, setup)
            .map(Recording)
            .map_err(to_demo)
    }

    /// Stops after what is waiting has been written; returns the packet count.
    pub fn stop(self) -> Result<u64, DemoError> {
        self.0.stop().map_err(to_demo)
    }
}

fn to_demo(e: SpoolError) -> DemoError {
    match e {
        SpoolError::Setup(m) => DemoError::Isolation(m),
        other => DemoError::Capture(other.to_string()),
    }
}
