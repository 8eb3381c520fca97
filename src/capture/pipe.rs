//! A capture arriving through a pipe (`ssh host tcpdump -U -w - | tcpladder
//! replay -`): read on a thread of its own as records come and handed to
//! the UI like a live capture's packets (the same `LiveMsg`s), each batch
//! as soon as the records already read are out. Every record is spooled
//! to a temporary file in the capture's own format, which the UI's `w`
//! and `W` copy from; the spool is removed at exit.
//!
//! The thread may sit in a read that only the writer can end; it is never
//! joined, and goes with the process.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

use super::live::{LiveMsg, LivePacket, Spooled};
use super::write::CaptureWriter;
use super::{CaptureFile, FileFormat};

/// Records handed over at most at once.
const MAX_BATCH: usize = 4096;

/// Starts reading `path` (`-`: standard input) on a thread, spooling into
/// `spool_dir`. The spool's path and completeness come back at once; the
/// records, and how the input ended, as messages.
pub fn spawn(path: &Path, spool_dir: &Path) -> (Spooled, Receiver<LiveMsg>) {
    let spool = spool_dir.join(format!("tcpladder-pipe-{}.pcap", std::process::id()));
    let spooled = Spooled::new(spool.clone());
    super::live::note_spool(&spool);
    let (tx, rx) = channel();
    let path = path.to_path_buf();
    let shared = spooled.clone();
    let started = std::thread::Builder::new()
        .name("pipe".into())
        .spawn(move || {
            let why = read(&path, &spool, &shared, &tx).err();
            let _ = tx.send(LiveMsg::Ended(why));
        });
    if let Err(e) = started {
        let (tx, rx) = channel();
        let _ = tx.send(LiveMsg::Ended(Some(format!("cannot start reading: {e}"))));
        return (spooled, rx);
    }
    (spooled, rx)
}

/// Reads to the end, sending batches; a warning (damage, a cut-short
/// record) or an error comes back as the reason it ended early.
fn read(
    path: &Path,
    spool: &PathBuf,
    spooled: &Spooled,
    tx: &Sender<LiveMsg>,
) -> Result<(), String> {
    let mut file = CaptureFile::open(path).map_err(|e| e.to_string())?;
    file.pause_before_reading();
    let out = std::fs::File::create(spool).map_err(|e| format!("{}: {e}", spool.display()))?;
    let out = BufWriter::new(out);
    let mut writer = match file.format() {
        FileFormat::PcapNg => CaptureWriter::pcapng(out),
        // Its link type comes with the first record.
        FileFormat::Pcap => Ok(CaptureWriter::pending(out)),
    }
    .map_err(|e| format!("{}: {e}", spool.display()))?;
    let mut batch = Vec::new();
    loop {
        let mut failed = None;
        let r = file.for_each_until(|rec| {
            if let Err(e) = writer.write(rec) {
                failed = Some(format!("{}: {e}", spool.display()));
                return false;
            }
            batch.push(LivePacket {
                frame: rec.frame,
                ts: rec.ts,
                link: rec.link,
                data: rec.data.to_vec(),
                orig_len: rec.orig_len,
            });
            batch.len() < MAX_BATCH
        });
        // On disk before the UI shows them: what `W` saves has it all.
        if let Err(e) = writer.flush() {
            failed.get_or_insert(format!("{}: {e}", spool.display()));
        }
        spooled.set_complete(writer.written());
        if !batch.is_empty()
            && tx
                .send(LiveMsg::Packets(std::mem::take(&mut batch)))
                .is_err()
        {
            return Ok(());
        }
        if let Some(why) = failed {
            return Err(why);
        }
        match r.map_err(|e| e.to_string())? {
            None => continue,
            Some(ending) => return ending.warning(file.name()).map_or(Ok(()), Err),
        }
    }
}
