//! The I/O edge: capture records in, with their timestamps and link types.
//! Files are read with pcap-parser (pcap and pcapng, several interfaces with
//! different link types, per-interface timestamp resolution). Nothing past
//! this module opens a file.

pub mod bpf;
pub mod file;
pub mod kernel;
pub mod live;
pub mod pipe;
pub mod source;
pub mod spool;
pub mod write;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::time::Timestamp;

/// The wall clock, read here at the edge and handed to the core and the
/// app with what was captured.
pub fn wall_now() -> Timestamp {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_secs_nanos(d.as_secs() as i64, i64::from(d.subsec_nanos()))
}

pub use file::{CaptureError, CaptureFile, Ending, FileFormat, Layout, Reread, Resumed};

/// One captured packet, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// 1-based record number, as tshark and Wireshark count frames.
    pub frame: u64,
    pub ts: Timestamp,
    /// LINKTYPE_* value of the interface that captured it, or
    /// [`UNKNOWN_INTERFACE`] when a pcapng packet names an interface the file
    /// never described.
    pub link: u32,
    pub data: &'a [u8],
    pub orig_len: u32,
    pub interface: u32,
    /// Where its block begins in the file, to read it again
    /// ([`Reread`]); 0 for a packet captured live.
    pub offset: u64,
    /// Reading the block at `offset` again gives this same record (not
    /// so for a live packet, or a pcapng simple packet, whose time is the
    /// record's before it).
    pub rereadable: bool,
}

/// Link value for a packet whose interface was never described.
pub const UNKNOWN_INTERFACE: u32 = u32::MAX;
