//! The sample capture built into the binary, so a first run needs no root,
//! no network and no file: a handshake, a request and a reply, a four-way
//! close and the TIME-WAIT that follows (`captures/client-close.pcap`).

use crate::capture::{CaptureError, CaptureFile};

pub const NAME: &str = "sample (captures/client-close.pcap)";
pub const BYTES: &[u8] = include_bytes!("../captures/client-close.pcap");

pub fn open() -> Result<CaptureFile, CaptureError> {
    CaptureFile::from_reader(NAME, std::io::Cursor::new(BYTES))
}
