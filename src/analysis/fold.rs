//! Counting a capture on several cores: the connections are split by
//! 4-tuple among trackers, one on the reading thread and the others on
//! threads of their own, and each folds the connections it lets go into a
//! value of its own. Glue at the I/O edge,
//! like the rest of `analysis`; the trackers stay pure.
//!
//! Every tracker hears every segment's time, its own segments' whole, so
//! it lets go of each connection at the same moment as one tracker of all
//! of them would: the same connections, ended the same way. Only the order
//! in which they are folded differs, so the fold must not depend on it.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::{Condvar, Mutex};

use super::{Batch, Decoded, Filter, ReadReport, Stopped, Track, account, read_ahead};
use crate::capture::{CaptureError, CaptureFile};
use crate::decode::Packet;
use crate::time::Timestamp;
use crate::track::{Connection, TrackConfig, Tracker};

/// More trackers than this gain nothing: the reading thread is then the
/// limit.
const MAX_SHARDS: usize = 16;

/// Records a batch (about 180 bytes each), as measured on the bench
/// files: fewer hand the batches over more often, more crowd the
/// trackers' caches.
const FOLD_BATCH: usize = 8192;

/// A batch of records as the trackers see it: the records; the clock
/// (the latest time so far) at each segment that is tracked, in file
/// order; and, a list a tracker, the records it is given.
struct Routed {
    items: Vec<Decoded>,
    clock: Vec<Timestamp>,
    own: Vec<Vec<Own>>,
}

/// A record for one tracker.
#[derive(Clone, Copy)]
struct Own {
    /// Its place in the batch.
    index: u32,
    /// How many of the batch's tracked segments come before it.
    after: u32,
}

/// Reads `path` as [`stream_file`](super::stream_file) does, with the
/// connections split among `shards` trackers; each tracker's connections
/// are folded by `fold` into a value made by `new`, which come back one a
/// tracker.
///
/// This thread reads, decodes and routes (it has each record in its cache
/// when it counts it), and tracks a smaller share itself; the others
/// track on threads of their own. With two cores that is two busy
/// threads: a third, time-sliced with them, costs more than it brings.
pub fn fold_file<T: Send>(
    path: &Path,
    filter: Filter,
    cfg: TrackConfig,
    shards: usize,
    new: impl Fn() -> T + Sync,
    fold: impl Fn(&mut T, &Connection) + Sync,
) -> Result<(ReadReport, Vec<T>), CaptureError> {
    let cfg = TrackConfig {
        stream: true,
        ..cfg
    };
    let mut file = CaptureFile::open(path)?;
    let mut report = ReadReport {
        file: file.name().to_string(),
        port: filter.port,
        ..ReadReport::default()
    };
    let name = report.file.clone();
    let fail = |problem: String| CaptureError {
        file: name.clone(),
        problem,
    };
    let split = Split::new(shards.clamp(1, MAX_SHARDS));
    let (read, tracked) = std::thread::scope(|s| {
        let mut routes = Vec::new();
        let mut workers = Vec::new();
        for me in 1..split.shards {
            let (tx, rx) = handoff::<Arc<Routed>>(2);
            let (new, fold) = (&new, &fold);
            let t = std::thread::Builder::new()
                .name(format!("track {me}"))
                .spawn_scoped(s, move || track_shard(me, rx, cfg, new(), fold));
            match t {
                Ok(t) => workers.push(t),
                Err(e) => return (None, Err(format!("cannot start a tracking thread ({e})"))),
            }
            routes.push(tx);
        }
        let mut router = Router {
            split,
            routes,
            in_flight: VecDeque::new(),
            clock: None,
            spare: Vec::new(),
            free: Vec::new(),
        };
        let mut mine = Tracker::new(cfg);
        let mut acc = new();
        let read = read_ahead(
            &mut file,
            filter.bpf.as_deref(),
            cfg.keep_details,
            FOLD_BATCH,
            |batch| {
                let routed = router.send(batch, &filter, &mut report)?;
                track_batch(&mut mine, 0, &routed, &mut |t: &mut Tracker| {
                    t.drain_done(|c| fold(&mut acc, &c));
                });
                drop(routed);
                Ok(router.spent())
            },
        );
        // The other trackers end once their routes are gone.
        drop(router);
        let mut tracked = vec![Ok((mine, acc))];
        tracked.extend(
            workers
                .into_iter()
                .map(|t| t.join().map_err(|_| "a tracking thread failed".to_string())),
        );
        let tracked = tracked.into_iter().collect::<Result<Vec<_>, String>>();
        (Some(read), tracked)
    });
    let tracked = tracked.map_err(fail)?;
    let Some(read) = read else {
        return Err(fail("no tracking thread started".into()));
    };
    report.finish_reading(read?);
    let end = report.last_ts.unwrap_or_default();
    let mut folded = Vec::with_capacity(tracked.len());
    for (tracker, mut acc) in tracked {
        report.aged_out += tracker.aged_out();
        tracker.finish_each(end, |c| fold(&mut acc, &c));
        folded.push(acc);
    }
    Ok((report, folded))
}

/// Sends every batch, with what each tracker is to do with it, to the
/// other trackers; a batch they are all through with is given back.
struct Router {
    split: Split,
    routes: Vec<Sender<Arc<Routed>>>,
    in_flight: VecDeque<Arc<Routed>>,
    /// The clock so far.
    clock: Option<Timestamp>,
    /// Lists of spent batches, to fill again.
    spare: Vec<(Vec<Timestamp>, Vec<Vec<Own>>)>,
    /// Records of spent batches.
    free: Vec<Vec<Decoded>>,
}

impl Router {
    /// Counts each record of `batch` in the report and sends it on.
    fn send(
        &mut self,
        batch: Batch,
        filter: &Filter,
        report: &mut ReadReport,
    ) -> Result<Arc<Routed>, Stopped> {
        let lists = self.spare.pop().unwrap_or_default();
        let routed = Arc::new(route_batch(
            batch.items,
            lists,
            self.split,
            &mut self.clock,
            filter,
            report,
        ));
        for r in &self.routes {
            // A tracker that stopped has failed: its join says so.
            r.send(Arc::clone(&routed)).map_err(|_| Stopped)?;
        }
        self.in_flight.push_back(Arc::clone(&routed));
        Ok(routed)
    }

    /// The records of a batch every tracker is through with, to be
    /// written over (a new one is made, and its places filled, only
    /// when none is).
    fn spent(&mut self) -> Option<Vec<Decoded>> {
        while self
            .in_flight
            .front()
            .is_some_and(|r| Arc::strong_count(r) == 1)
        {
            if let Some(Ok(done)) = self.in_flight.pop_front().map(Arc::try_unwrap) {
                self.spare.push((done.clock, done.own));
                self.free.push(done.items);
            }
        }
        self.free.pop()
    }
}

/// Counts each record in the report and says which tracker each goes to,
/// and the clock at each tracked segment (`clock`: the clock so far).
/// `lists` are spent ones, to fill again.
fn route_batch(
    items: Vec<Decoded>,
    (mut clock, mut own): (Vec<Timestamp>, Vec<Vec<Own>>),
    split: Split,
    now: &mut Option<Timestamp>,
    filter: &Filter,
    report: &mut ReadReport,
) -> Routed {
    clock.clear();
    own.resize_with(split.shards, Vec::new);
    own.iter_mut().for_each(Vec::clear);
    for (index, d) in items.iter().enumerate() {
        let after = clock.len() as u32;
        let shard = match account(d.ts, d.frame, d.packet.as_ref(), filter, report) {
            Track::Segment(seg) => {
                // As the one tracker's clock: segments move it, ICMP does not.
                let t = now.map_or(d.ts, |c| c.max(d.ts));
                *now = Some(t);
                clock.push(t);
                split.of(seg.src, seg.dst)
            }
            Track::Icmp(err) => split.of(err.quoted_src, err.quoted_dst),
            Track::Nothing => continue,
        };
        own[shard].push(Own {
            // A batch holds a few thousand records.
            index: index as u32,
            after,
        });
    }
    Routed { items, clock, own }
}

/// The share of the 4-tuples the reading thread tracks itself, when
/// there are other trackers: what balanced its reading against the other
/// tracker's work on two cores (`benches/scale.rs`; the shares tried are
/// in docs/performance.md). It changes nothing in the result.
const READER_SHARE: f64 = 0.22;

/// Which tracker holds a 4-tuple: tracker 0 (the reading thread's) a
/// [`READER_SHARE`] of them, the others the rest in equal parts.
#[derive(Clone, Copy, Debug)]
struct Split {
    shards: usize,
    /// Hashes below this are tracker 0's.
    mine: u64,
    /// The rest scaled to the other trackers: a hash past `mine` times
    /// this, over 2^64, is the tracker after the first.
    scale: u64,
}

impl Split {
    fn new(shards: usize) -> Split {
        let whole = 1u64 << 32;
        let mine = if shards > 1 {
            (READER_SHARE * whole as f64) as u64
        } else {
            whole
        };
        let rest = (whole - mine).max(1);
        Split {
            shards,
            mine,
            // At most 15 × 2^64 / (3 × 2^30): 2^36 or so.
            scale: (((shards as u128).saturating_sub(1) << 64) / u128::from(rest)) as u64,
        }
    }

    /// The tracker of the 4-tuple of `a` and `b`: the same either way
    /// round, made from the addresses as they are (a key built in memory
    /// first is read back before it is all stored, which stalls).
    fn of(&self, a: SocketAddr, b: SocketAddr) -> usize {
        fn end(x: SocketAddr) -> u64 {
            let ip = match x.ip() {
                IpAddr::V4(v4) => u64::from(u32::from(v4)),
                IpAddr::V6(v6) => {
                    let n = u128::from(v6);
                    (n >> 64) as u64 ^ n as u64
                }
            };
            ip.rotate_left(16) ^ u64::from(x.port())
        }
        // Fibonacci hashing to 32 bits; scaled without a division.
        let h = (end(a) ^ end(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
        if h < self.mine {
            return 0;
        }
        let k = (u128::from(h - self.mine) * u128::from(self.scale)) >> 64;
        (1 + k as usize).min(self.shards - 1)
    }
}

/// One tracker's thread: its own records pushed, the clock moved through
/// the others' times, what it lets go folded.
fn track_shard<T>(
    me: usize,
    routed: Receiver<Arc<Routed>>,
    cfg: TrackConfig,
    mut acc: T,
    fold: &impl Fn(&mut T, &Connection),
) -> (Tracker, T) {
    let mut tracker = Tracker::new(cfg);
    let mut fold_done = |t: &mut Tracker| {
        if t.has_done() {
            t.drain_done(|c| fold(&mut acc, &c));
        }
    };
    while let Some(r) = routed.recv() {
        track_batch(&mut tracker, me, &r, &mut fold_done);
    }
    (tracker, acc)
}

/// One batch into tracker `me`: its own records pushed in order, the
/// clock moved through the others' times in between.
fn track_batch(
    tracker: &mut Tracker,
    me: usize,
    r: &Routed,
    fold_done: &mut impl FnMut(&mut Tracker),
) {
    let clock = &r.clock[..];
    // The clock's entries already gone through.
    let mut at = 0;
    for o in r.own.get(me).into_iter().flatten() {
        let Some(d) = r.items.get(o.index as usize) else {
            continue;
        };
        let after = o.after as usize;
        catch_up(tracker, clock.get(at..after).unwrap_or_default(), fold_done);
        match &d.packet {
            Some(Ok(Packet::Tcp(seg))) => {
                let payload = d.payload.as_deref().unwrap_or_default();
                tracker.push_payload(seg, d.ts, d.frame, payload);
                // Its own entry in the clock was its push.
                at = after + 1;
            }
            Some(Ok(Packet::IcmpError(err))) => {
                tracker.push_icmp(err, d.ts, d.frame);
                at = after;
            }
            _ => at = after,
        }
        fold_done(tracker);
    }
    catch_up(tracker, clock.get(at..).unwrap_or_default(), fold_done);
}

/// Moves the tracker's clock through `times` (the clock at the other
/// trackers' segments, never going back) as ticks at each would: a tick
/// where one acts, and at the last, found by halving since between them
/// ticks change nothing.
fn catch_up(
    tracker: &mut Tracker,
    mut times: &[Timestamp],
    fold_done: &mut impl FnMut(&mut Tracker),
) {
    while let Some(&last) = times.last() {
        let quiet = times.partition_point(|&t| !tracker.acts_at(t));
        match times.get(quiet) {
            Some(&t) => {
                tracker.tick(t);
                fold_done(tracker);
                times = &times[quiet + 1..];
            }
            None => {
                tracker.tick(last);
                return;
            }
        }
    }
}

/// A bounded queue between two threads that waits without spinning:
/// with more threads than cores, a waiting side that spins takes the
/// core the other side needs.
struct Queue<T> {
    items: Mutex<(VecDeque<T>, bool)>,
    changed: Condvar,
    bound: usize,
}

struct Sender<T>(Arc<Queue<T>>);
struct Receiver<T>(Arc<Queue<T>>);

fn handoff<T>(bound: usize) -> (Sender<T>, Receiver<T>) {
    let q = Arc::new(Queue {
        items: Mutex::new((VecDeque::new(), false)),
        changed: Condvar::new(),
        bound,
    });
    (Sender(Arc::clone(&q)), Receiver(q))
}

impl<T> Sender<T> {
    /// Waits while the queue is full; Err when the receiver is gone.
    fn send(&self, item: T) -> Result<(), T> {
        let q = &self.0;
        let Ok(mut g) = q.items.lock() else {
            return Err(item);
        };
        loop {
            if g.1 {
                return Err(item);
            }
            if g.0.len() < q.bound {
                g.0.push_back(item);
                q.changed.notify_all();
                return Ok(());
            }
            g = match q.changed.wait(g) {
                Ok(g) => g,
                Err(_) => return Err(item),
            };
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Ok(mut g) = self.0.items.lock() {
            g.1 = true;
        }
        self.0.changed.notify_all();
    }
}

impl<T> Receiver<T> {
    /// The next item; None once the sender is gone and all are taken.
    fn recv(&self) -> Option<T> {
        let q = &self.0;
        let mut g = q.items.lock().ok()?;
        loop {
            if let Some(item) = g.0.pop_front() {
                q.changed.notify_all();
                return Some(item);
            }
            if g.1 {
                return None;
            }
            g = q.changed.wait(g).ok()?;
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Ok(mut g) = self.0.items.lock() {
            g.1 = true;
        }
        self.0.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Flags, Segment};
    use crate::time::Span;
    use crate::track::Release;

    /// What is told of a connection let go: which, how and when.
    type Let = (SocketAddr, SocketAddr, Timestamp, Release, usize);

    fn of(c: &Connection) -> Let {
        (c.client, c.server, c.first_ts, c.released, c.segment_count)
    }

    /// Three hundred connections a few tens of milliseconds apart: most
    /// closed by the client (TIME-WAIT, let go after the linger), some
    /// reset, some left idle (aged out), a few with times going back.
    fn script() -> Vec<Decoded> {
        let mut out = Vec::new();
        let server: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let mut put = |t: i64, seg: Segment| {
            out.push(Decoded {
                ts: Timestamp::from_nanos(t),
                frame: out.len() as u64 + 1,
                packet: Some(Ok(Packet::Tcp(seg))),
                payload: None,
                offset: 0,
                rereadable: true,
            });
        };
        let (syn, ack, fin, rst) = (Flags::SYN, Flags::ACK, Flags::FIN, Flags::RST);
        for i in 0..300u32 {
            let client: SocketAddr = format!("10.1.{}.{}:{}", i / 200, i % 200, 40000 + i)
                .parse()
                .unwrap();
            // Now and then a little before the one before it.
            let t0 = i64::from(i) * 37_000_000 - if i % 17 == 0 { 5_000_000 } else { 0 };
            let (c, s) = (1000 * i, 5000 * i);
            let step = |k: i64| t0 + k * 1_000_000;
            put(step(0), Segment::new(client, server, syn, c, 0, 0));
            put(
                step(1),
                Segment::new(server, client, syn | ack, s, c + 1, 0),
            );
            put(step(2), Segment::new(client, server, ack, c + 1, s + 1, 0));
            match i % 5 {
                // Left open: idle until it ages out.
                0 => {}
                1 => put(
                    step(3),
                    Segment::new(client, server, rst | ack, c + 1, s + 1, 0),
                ),
                _ => {
                    put(
                        step(3),
                        Segment::new(client, server, fin | ack, c + 1, s + 1, 0),
                    );
                    put(
                        step(4),
                        Segment::new(server, client, fin | ack, s + 1, c + 2, 0),
                    );
                    put(step(5), Segment::new(client, server, ack, c + 2, s + 2, 0));
                }
            }
        }
        out
    }

    fn cfg() -> TrackConfig {
        TrackConfig {
            msl: Span::from_nanos(400_000_000),
            keep_segments: false,
            stream: true,
            idle_timeout: Some(Span::from_secs(3)),
            ..TrackConfig::default()
        }
    }

    fn one_tracker(items: &[Decoded]) -> (Vec<Let>, u64) {
        let mut t = Tracker::new(cfg());
        let mut all = Vec::new();
        for d in items {
            if let Some(Ok(Packet::Tcp(seg))) = &d.packet {
                t.push(seg, d.ts, d.frame);
            }
            t.drain_done(|c| all.push(of(&c)));
        }
        let aged = t.aged_out();
        t.finish_each(Timestamp::from_secs_nanos(20, 0), |c| all.push(of(&c)));
        all.sort_by_key(|l| (l.0, l.1, l.2, format!("{:?}", l.3), l.4));
        (all, aged)
    }

    fn trackers(items: Vec<Decoded>, n: usize, batch: usize) -> (Vec<Let>, u64) {
        let mut ts: Vec<Tracker> = (0..n).map(|_| Tracker::new(cfg())).collect();
        let mut all = Vec::new();
        let mut now = None;
        let mut report = ReadReport::default();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<Decoded> = items.by_ref().take(batch).collect();
            let r = route_batch(
                chunk,
                Default::default(),
                Split::new(n),
                &mut now,
                &Filter::default(),
                &mut report,
            );
            for (me, t) in ts.iter_mut().enumerate() {
                track_batch(t, me, &r, &mut |t: &mut Tracker| {
                    t.drain_done(|c| all.push(of(&c)))
                });
            }
        }
        let mut aged = 0;
        for t in ts {
            aged += t.aged_out();
            t.finish_each(Timestamp::from_secs_nanos(20, 0), |c| all.push(of(&c)));
        }
        all.sort_by_key(|l| (l.0, l.1, l.2, format!("{:?}", l.3), l.4));
        (all, aged)
    }

    #[test]
    fn trackers_of_some_4_tuples_let_go_when_and_as_one_tracker_does() {
        let (want, aged) = one_tracker(&script());
        assert_eq!(want.len(), 300);
        assert!(aged > 0, "the script ages some out");
        let advanced = want
            .iter()
            .filter(|l| matches!(l.3, Release::Advanced(_)))
            .count();
        assert!(advanced > 100, "most are let go after their linger");
        for n in [1, 2, 3, 5] {
            for batch in [1, 7, 4096] {
                assert_eq!(
                    trackers(script(), n, batch),
                    (want.clone(), aged),
                    "{n} trackers, batches of {batch}"
                );
            }
        }
    }

    #[test]
    fn a_4_tuple_goes_to_one_tracker_either_way_round_in_the_shares_set() {
        let a: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        for n in 1..9 {
            let split = Split::new(n);
            assert_eq!(split.of(a, b), split.of(b, a));
            let mut count = vec![0u32; n];
            for i in 0..20_000u32 {
                let c = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 40000));
                let s = split.of(c, a);
                assert_eq!(s, split.of(a, c));
                count[s] += 1;
            }
            let share = |k: usize| f64::from(count[k]) / 20_000.0;
            if n == 1 {
                assert_eq!(count[0], 20_000);
                continue;
            }
            assert!((share(0) - READER_SHARE).abs() < 0.03, "{n}: {count:?}");
            let each = (1.0 - READER_SHARE) / (n - 1) as f64;
            for k in 1..n {
                assert!((share(k) - each).abs() < 0.03, "{n}: {count:?}");
            }
        }
    }
}
