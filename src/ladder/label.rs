//! The text on an arrow: flags, numbers, length, window and the options
//! that matter for a handshake.

use std::fmt::Write;

use crate::track::SegmentRecord;

/// How numbers are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabelStyle {
    /// Raw sequence numbers instead of Wireshark's relative ones.
    pub absolute: bool,
}

/// "SYN seq=0 win=65495 mss=65495 sackOK TS ws=7",
/// "PSH,ACK seq=1 ack=1 len=5 win=512".
pub fn label(rec: &SegmentRecord, style: LabelStyle) -> String {
    let mut s = rec.flags.to_string();
    let (seq, ack) = if style.absolute {
        (rec.seq.0, rec.flags.ack().then_some(rec.ack.0))
    } else {
        (rec.rel_seq, rec.rel_ack())
    };
    let _ = write!(s, " seq={seq}");
    if let Some(a) = ack {
        let _ = write!(s, " ack={a}");
    }
    if rec.len > 0 {
        let _ = write!(s, " len={}", rec.len);
    }
    let _ = write!(
        s,
        " win={}",
        rec.scaled_window().unwrap_or(u32::from(rec.window))
    );
    let o = &rec.options;
    if let Some(mss) = o.mss() {
        let _ = write!(s, " mss={mss}");
    }
    if o.sack_permitted() {
        s.push_str(" sackOK");
    }
    if o.timestamps() && rec.flags.syn() {
        s.push_str(" TS");
    }
    if let Some(ws) = o.window_scale() {
        let _ = write!(s, " ws={ws}");
    }
    if o.sack_blocks() > 0 {
        let _ = write!(s, " sack={}", o.sack_blocks());
    }
    if o.fast_open() {
        s.push_str(" TFO");
    }
    s
}

/// The analysis marks, for the end of the label and the detail pane.
pub fn marks(rec: &SegmentRecord) -> Vec<&'static str> {
    let mut v = Vec::new();
    if rec.retransmission() {
        v.push("retransmission");
    }
    if rec.keepalive() {
        v.push("keep-alive");
    }
    if rec.truncated() {
        v.push("truncated");
    }
    v
}
