//! Connections and their endpoints' states, from decoded segments. Pure and
//! sans-IO: time arrives with each segment, so replay and live capture
//! behave the same and every rule is unit-testable.

pub mod conn;
pub mod icmp;
pub mod kernel;
pub mod key;
pub mod rows;
pub mod state;
mod store;

#[cfg(test)]
pub(crate) mod tests;

use crate::decode::Segment;
use crate::time::{Span, Timestamp};
use store::{Map, Queue, Slab};

pub use conn::{
    Basis, Cause, Closer, Closing, Connection, Details, Opening, PAYLOAD_KEPT, Release,
    SegmentRecord, ShownOptions, StateMark, Summary, Tentative, TimeWait,
};
pub use icmp::IcmpRecord;
pub use key::ConnKey;
pub use state::{Side, State};

/// Linux's MSL is 30 s (TIME-WAIT lasts 60 s).
pub const DEFAULT_MSL: Span = Span::from_secs(30);

/// Linux's default `net.ipv4.tcp_syn_retries`.
pub const DEFAULT_SYN_RETRIES: u8 = 6;
/// Linux's default `net.ipv4.tcp_retries2`.
pub const DEFAULT_RETRIES2: u8 = 15;

#[derive(Clone, Copy, Debug)]
pub struct TrackConfig {
    pub msl: Span,
    /// Keep every segment (for ladders); `stats` turns this off.
    pub keep_segments: bool,
    /// With `keep_segments`: keep each segment's whole header too (for a
    /// detail pane); exports do without.
    pub keep_details: bool,
    /// Hand finished connections out as soon as they can no longer receive
    /// segments (2×MSL after the last one), so memory follows the
    /// connections open at once rather than the length of the capture.
    pub stream: bool,
    /// Linux's `tcp_syn_retries`: how many times connect() resends its SYN
    /// before it gives up, for the estimate of that moment.
    pub syn_retries: u8,
    /// Linux's `tcp_retries2`: how long unacknowledged data is resent.
    pub retries2: u8,
    /// Linux's `tcp_orphan_retries` (0 means 8): how long a closed
    /// socket resends its FIN.
    pub orphan_retries: u8,
    /// With `stream`: a connection with no segment for this long (capture
    /// time) is handed out as it stands and forgotten ("aged out"); a
    /// later segment on its four-tuple starts a mid-stream one. None:
    /// never. Unanswered SYNs are aged out once the client's last
    /// possible retransmission is past, whatever this is.
    pub idle_timeout: Option<Span>,
}

/// `stats`' default idle timeout: Linux's default keep-alive time (two
/// hours), so a connection kept alive by the kernel is never aged out.
pub const DEFAULT_IDLE_TIMEOUT: Span = Span::from_secs(7200);

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            msl: DEFAULT_MSL,
            keep_segments: true,
            keep_details: true,
            stream: false,
            syn_retries: DEFAULT_SYN_RETRIES,
            retries2: DEFAULT_RETRIES2,
            orphan_retries: 0,
            idle_timeout: None,
        }
    }
}

/// When an unanswered SYN may be aged out: once its last possible
/// retransmission's wait is over. None once anything answered.
fn syn_deadline(c: &Connection) -> Option<Timestamp> {
    // Still in SYN-SENT: nothing answered.
    c.syn_give_up_estimate()
        .map(|(t, _)| t.max(c.last_ts) + Span::from_secs(1))
}

/// Something was queued that is due at `at` (see `Tracker::due`).
fn note_due(due: &mut Option<Timestamp>, at: Timestamp) {
    *due = Some(due.map_or(at, |d| d.min(at)));
}

/// Where a 4-tuple's connection is held: its index in `Tracker::full`,
/// or, packed, in `Tracker::lone`. Eight bytes; with the 40-byte key a map
/// entry is 48.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Full(u32),
    Lone(u32),
}

/// Declares `Fields`, a segment without its addresses (the key has
/// them), and the two ways between it and a `Segment`, from one list of
/// the fields, so the three cannot drift apart.
macro_rules! segment_without_addresses {
    ($($name:ident: $ty:ty),* $(,)?) => {
        #[derive(Clone, Copy, Debug)]
        struct Fields {
            $($name: $ty,)*
        }

        impl Fields {
            fn of(seg: &Segment) -> Fields {
                // Every field but the addresses: a field added to Segment
                // and not listed here fails to compile.
                let Segment { src: _, dst: _, $($name,)* } = *seg;
                Fields { $($name,)* }
            }

            fn with(self, src: std::net::SocketAddr, dst: std::net::SocketAddr) -> Segment {
                let Fields { $($name,)* } = self;
                Segment { src, dst, $($name,)* }
            }
        }
    };
}

segment_without_addresses!(
    seq: crate::decode::SeqNumber,
    ack: crate::decode::SeqNumber,
    flags: crate::decode::Flags,
    window: u16,
    len: u32,
    header_len: u8,
    checksum: u16,
    urgent: u16,
    options: crate::decode::TcpOptions,
    ttl: u8,
    truncated: bool,
);

/// A connection that is so far one bare SYN, unanswered for a while
/// (`PACK_AFTER`), while only counting (streaming, segments not kept): 88 bytes
/// instead of a whole `Connection`, so the million half-open connections
/// of a SYN flood fit. Made whole again, by replaying its SYN, when
/// anything more happens to it.
#[derive(Clone, Copy, Debug)]
struct LoneSyn {
    id: usize,
    ts: Timestamp,
    frame: u64,
    /// The SYN came from the key's lower end.
    from_low: bool,
    fields: Fields,
}

impl LoneSyn {
    fn of(id: usize, key: &ConnKey, seg: &Segment, ts: Timestamp, frame: u64) -> LoneSyn {
        LoneSyn {
            id,
            ts,
            frame,
            from_low: seg.src == key.low(),
            fields: Fields::of(seg),
        }
    }

    /// The connection as it stood after its SYN.
    fn whole(&self, key: &ConnKey, cfg: &TrackConfig) -> Box<Connection> {
        let (src, dst) = if self.from_low {
            (key.low(), key.high())
        } else {
            (key.high(), key.low())
        };
        let seg = self.fields.with(src, dst);
        let mut c = Box::new(Connection::new(self.id, &seg, self.ts, cfg));
        c.push(&seg, self.ts, self.frame);
        c
    }
}

/// How long a lone SYN stays whole before it is packed: longer than most
/// answers take (one packed and then answered is made whole again, at
/// some cost in time), far shorter than the client's first retry.
const PACK_AFTER: Span = Span::from_nanos(250_000_000);

/// Follows every connection in a capture.
pub struct Tracker {
    cfg: TrackConfig,
    conns: Map<Slot>,
    full: Slab<Box<Connection>>,
    /// Packed lone SYNs (counting only).
    lone: Slab<LoneSyn>,
    /// (when, key, the SYN) of new connections that began with a bare SYN,
    /// to be packed if nothing else has come by then (counting only).
    young: Queue<(Timestamp, ConnKey, LoneSyn)>,
    /// Finished connections not yet taken by the caller, still boxed: a
    /// connection is moved as a pointer, not as its 800-odd bytes.
    #[allow(clippy::vec_box)]
    done: Vec<Box<Connection>>,
    /// (linger deadline, key, slab index, id) of connections that
    /// finished, oldest first. A finished connection is never packed, so
    /// the index finds it without a lookup while the id still matches.
    expiry: Queue<(Timestamp, ConnKey, u32, usize)>,
    /// (deadline, key, id) of unanswered SYNs, for ageing out, in about
    /// deadline order (one put back may sit behind a later one: it is then
    /// aged out late, never early). Short-lived: about two minutes.
    syns: Queue<(Timestamp, ConnKey, usize)>,
    /// When the open connections are next looked over for idle ones.
    next_sweep: Timestamp,
    /// The earliest deadline at the front of `young`, `syns` and `expiry`
    /// (None: all three empty). Until the clock is past it and
    /// `next_sweep`, `expire` would find nothing to do, so it is not
    /// called: most segments are then a comparison here.
    due: Option<Timestamp>,
    /// The latest timestamp seen: the clock that ages connections, so a
    /// capture whose timestamps go backwards still frees memory.
    clock: Option<Timestamp>,
    aged_out: u64,
    next_id: usize,
    last_key: Option<ConnKey>,
}

impl Tracker {
    pub fn new(cfg: TrackConfig) -> Tracker {
        Tracker {
            cfg,
            conns: Map::default(),
            full: Slab::default(),
            lone: Slab::default(),
            young: Queue::default(),
            done: Vec::new(),
            expiry: Queue::default(),
            syns: Queue::default(),
            next_sweep: Timestamp::default(),
            due: None,
            clock: None,
            aged_out: 0,
            next_id: 0,
            last_key: None,
        }
    }

    /// How many connections were aged out (see `TrackConfig::idle_timeout`).
    pub fn aged_out(&self) -> u64 {
        self.aged_out
    }

    pub fn config(&self) -> &TrackConfig {
        &self.cfg
    }

    /// Only counting: lone SYNs may be packed.
    fn counting(&self) -> bool {
        self.cfg.stream && !self.cfg.keep_segments
    }

    /// The whole connection in `slot`, if it is not packed.
    fn full_in(&self, slot: Slot) -> Option<&Connection> {
        match slot {
            Slot::Full(i) => self.full.get(i).map(|c| &**c),
            Slot::Lone(_) => None,
        }
    }

    /// The slab index of the connection on `key`, made whole if it was
    /// packed: one lookup.
    fn whole_index(&mut self, key: &ConnKey) -> Option<u32> {
        let slot = self.conns.get_mut(key)?;
        match *slot {
            Slot::Full(i) => Some(i),
            Slot::Lone(l) => {
                let c = self.lone.take(l)?.whole(key, &self.cfg);
                let i = self.full.insert(c);
                *slot = Slot::Full(i);
                Some(i)
            }
        }
    }

    /// The connection on `key`, made whole if it was packed.
    pub(super) fn whole_mut(&mut self, key: &ConnKey) -> Option<&mut Connection> {
        let i = self.whole_index(key)?;
        self.full.get_mut(i).map(|c| &mut **c)
    }

    /// Takes the connection on `key` out, whole.
    fn remove(&mut self, key: &ConnKey) -> Option<Box<Connection>> {
        let slot = self.conns.remove(key)?;
        self.take_slot(key, slot)
    }

    fn take_slot(&mut self, key: &ConnKey, slot: Slot) -> Option<Box<Connection>> {
        match slot {
            Slot::Full(i) => self.full.take(i),
            Slot::Lone(l) => self.lone.take(l).map(|l| l.whole(key, &self.cfg)),
        }
    }

    /// The id of the connection in `slot`, packed or not.
    fn id_in(&self, slot: Slot) -> Option<usize> {
        match slot {
            Slot::Full(i) => self.full.get(i).map(|c| c.id),
            Slot::Lone(l) => self.lone.get(l).map(|l| l.id),
        }
    }

    /// Adds one segment; returns the id of the connection it joined.
    pub fn push(&mut self, seg: &Segment, ts: Timestamp, frame: u64) -> usize {
        self.push_payload(seg, ts, frame, &[])
    }

    /// [`push`](Tracker::push), with the segment's payload as captured,
    /// which a connection keeps the first bytes of with its details.
    pub fn push_payload(
        &mut self,
        seg: &Segment,
        ts: Timestamp,
        frame: u64,
        payload: &[u8],
    ) -> usize {
        self.tick(ts);
        let key = ConnKey::new(seg.src, seg.dst);
        self.last_key = Some(key);
        let bare_syn = seg.flags.syn() && !seg.flags.ack();
        let mut index = self.whole_index(&key);
        if let Some(i) = index
            && let Some(c) = self.full.get_mut(i)
        {
            let replace = if bare_syn && c.is_new_incarnation(seg.src, seg.seq) {
                c.release(Release::NewIncarnation(ts));
                true
            } else if c.is_finished() && ts > c.linger_until() {
                // A stray long after the end: a new (mid-stream) one.
                c.release(Release::Advanced(ts));
                true
            } else if syn_deadline(c).is_some_and(|d| ts > d) {
                // Unanswered, and connect() has given up (ETIMEDOUT):
                // whatever comes now is not that connection's.
                c.release(Release::Concluded(ts));
                true
            } else {
                false
            };
            if replace {
                self.conns.remove(&key);
                if let Some(old) = self.full.take(i) {
                    self.done.push(old);
                }
                index = None;
            }
        }
        let created = index.is_none();
        let i = match index {
            Some(i) => i,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                let i = self
                    .full
                    .insert(Box::new(Connection::new(id, seg, ts, &self.cfg)));
                self.conns.insert(key, Slot::Full(i));
                i
            }
        };
        let (stream, counting) = (self.cfg.stream, self.counting());
        // Just found or made.
        let Some(conn) = self.full.get_mut(i) else {
            return self.next_id.saturating_sub(1);
        };
        let was_finished = conn.is_finished();
        conn.push_payload(seg, ts, frame, payload);
        let id = conn.id;
        if stream {
            if created && let Some(at) = syn_deadline(conn) {
                self.syns.push_back((at, key, id));
                note_due(&mut self.due, at);
            }
            if !was_finished && conn.is_finished() {
                let at = conn.linger_until();
                self.expiry.push_back((at, key, i, id));
                note_due(&mut self.due, at);
            }
        }
        if created && bare_syn && counting {
            let lone = LoneSyn::of(id, &key, seg, ts, frame);
            self.young.push_back((ts + PACK_AFTER, key, lone));
            note_due(&mut self.due, ts + PACK_AFTER);
        }
        id
    }

    /// The capture's clock has come to `ts` (a segment was seen there),
    /// whichever connection the segment was for: streaming, whatever
    /// is due by then is let go. Every segment ticks, before it is pushed;
    /// a tracker that holds some of the 4-tuples (one of several) is
    /// ticked for the others' segments too, so it lets go of its
    /// connections at the same moments as one tracker of them all would.
    pub fn tick(&mut self, ts: Timestamp) {
        if !self.cfg.stream {
            return;
        }
        let now = self.clock.map_or(ts, |c| c.max(ts));
        self.clock = Some(now);
        if self.acts_at(now) {
            self.expire(now);
            self.due = [
                self.young.front().map(|e| e.0),
                self.syns.front().map(|e| e.0),
                self.expiry.front().map(|e| e.0),
            ]
            .into_iter()
            .flatten()
            .min();
        }
    }

    /// Whether a tick at `now` (the clock, not earlier than it is) would
    /// let anything go. False up to some moment and true from then on,
    /// until a tick there: a tracker of some of the 4-tuples can skip
    /// through the others' times to the first that acts.
    pub fn acts_at(&self, now: Timestamp) -> bool {
        let sweep = self.cfg.idle_timeout.is_some() && now >= self.next_sweep;
        self.cfg.stream && (sweep || self.due.is_some_and(|d| d < now))
    }

    fn expire(&mut self, now: Timestamp) {
        self.pack_lone(now);
        self.age_out(now);
        self.expire_finished(now);
    }

    /// Packs the connections that are still their first SYN a while later.
    fn pack_lone(&mut self, now: Timestamp) {
        while let Some(&(at, key, lone)) = self.young.front() {
            if at >= now {
                break;
            }
            self.young.pop_front();
            let Some(&slot) = self.conns.get(&key) else {
                continue;
            };
            let Slot::Full(i) = slot else {
                continue;
            };
            let still_lone = self
                .full
                .get(i)
                .is_some_and(|c| c.id == lone.id && c.segment_count == 1 && c.icmp.is_empty());
            if !still_lone {
                continue;
            }
            self.full.take(i);
            let l = self.lone.insert(lone);
            self.conns.insert(key, Slot::Lone(l));
        }
    }

    /// Hands out unanswered SYNs past their last retransmission, and (a
    /// few times an idle timeout) connections idle past it.
    fn age_out(&mut self, now: Timestamp) {
        while let Some(&(deadline, key, id)) = self.syns.front() {
            if deadline >= now {
                break;
            }
            self.syns.pop_front();
            let Some(&slot) = self.conns.get(&key) else {
                continue;
            };
            if self.id_in(slot) != Some(id) {
                continue;
            }
            let deadline = match self.full_in(slot) {
                Some(c) => syn_deadline(c),
                // Packed: still its one SYN, so the deadline stands.
                None => Some(deadline),
            };
            match deadline {
                Some(at) if at >= now => self.syns.push_back((at, key, id)),
                // Answered: the idle rule applies now.
                None => {}
                Some(_) => self.hand_out_aged(key),
            }
        }
        let Some(idle) = self.cfg.idle_timeout else {
            return;
        };
        if now < self.next_sweep {
            return;
        }
        // A look over every open connection an eighth of the timeout apart:
        // none stays more than that past its deadline.
        self.next_sweep = now + Span::from_nanos((idle.as_nanos() / 8).max(1_000_000_000));
        let idle_keys: Vec<ConnKey> = self
            .conns
            .iter()
            .filter(|(_, s)| match **s {
                Slot::Full(i) => self
                    .full
                    .get(i)
                    .is_some_and(|c| !c.is_finished() && c.last_ts + idle < now),
                Slot::Lone(l) => self.lone.get(l).is_some_and(|l| l.ts + idle < now),
            })
            .map(|(k, _)| *k)
            .collect();
        for key in idle_keys {
            self.hand_out_aged(key);
        }
    }

    fn hand_out_aged(&mut self, key: ConnKey) {
        if let Some(mut c) = self.remove(&key) {
            // As if the capture ended here.
            c.release(Release::Concluded(self.clock.unwrap_or(c.last_ts)));
            self.done.push(c);
            self.aged_out += 1;
        }
    }

    fn expire_finished(&mut self, now: Timestamp) {
        while let Some(&(deadline, key, i, id)) = self.expiry.front() {
            // Over only once `now` is past the deadline, the rule push()
            // uses: a segment exactly at the deadline still joins it.
            if deadline >= now {
                break;
            }
            self.expiry.pop_front();
            let Some(c) = self.full.get(i).filter(|c| c.id == id) else {
                continue;
            };
            if !c.is_finished() || c.linger_until() >= now {
                // It came back to life or got a late segment: look again later.
                let again = c.linger_until();
                if c.is_finished() {
                    self.expiry.push_back((again, key, i, id));
                }
                continue;
            }
            self.conns.remove(&key);
            if let Some(mut c) = self.full.take(i) {
                c.release(Release::Advanced(now));
                self.done.push(c);
            }
        }
        // The next to go, while other segments come first.
        if let Some(&(_, _, i, _)) = self.expiry.front()
            && let Some(c) = self.full.get(i)
        {
            c.prefetch();
        }
    }

    /// Forgets an open connection (a view holding too many); a later
    /// segment on its four-tuple starts a new, mid-stream one.
    pub fn evict(&mut self, key: &ConnKey) -> Option<Connection> {
        self.remove(key).map(|c| *c)
    }

    /// Connections that are over, in the order they ended; the caller owns
    /// them now, and keeps them: what only tracking needed is freed.
    pub fn take_done(&mut self) -> Vec<Connection> {
        let mut all = Vec::with_capacity(self.done.len());
        self.drain_done(|mut c| {
            c.compact();
            all.push(*c);
        });
        all
    }

    /// Hands each connection that is over to `f`, in the order they ended,
    /// keeping the list's room for the next ones. Not compacted: for a
    /// caller that is done with each soon (counting, rendering).
    pub fn drain_done(&mut self, f: impl FnMut(Box<Connection>)) {
        self.done.drain(..).for_each(f);
    }

    pub fn has_done(&self) -> bool {
        !self.done.is_empty()
    }

    /// Connections still being followed (while only counting, not those
    /// that are one SYN packed away).
    pub fn active(&self) -> impl Iterator<Item = &Connection> {
        self.conns.values().filter_map(|s| self.full_in(*s))
    }

    /// The connection currently on a 4-tuple (while only counting, None
    /// for one that is one SYN packed away).
    pub fn get(&self, key: &ConnKey) -> Option<&Connection> {
        self.full_in(*self.conns.get(key)?)
    }

    /// The 4-tuple of the last segment pushed.
    pub fn last_key(&self) -> Option<ConnKey> {
        self.last_key
    }

    /// The id the next new connection will get (= connections so far).
    pub fn next_id(&self) -> usize {
        self.next_id
    }

    pub fn active_count(&self) -> usize {
        self.conns.len()
    }

    /// Ends the capture at `end`: timers run to it, and every connection is
    /// returned in order of its first segment.
    pub fn finish(self, end: Timestamp) -> Vec<Connection> {
        let mut all = Vec::with_capacity(self.done.len() + self.conns.len());
        self.finish_each(end, |mut c| {
            c.compact();
            all.push(c);
        });
        // Sorted boxed: a pointer moves, not an 800-byte connection.
        all.sort_unstable_by_key(|c| c.id);
        all.into_iter().map(|c| *c).collect()
    }

    /// Every connection as it stands, in id order, none let go: for the
    /// caller to let go as it must (a connection rebuilt from its own
    /// segments, let go as the first tracker let it go).
    #[allow(clippy::vec_box)]
    pub fn into_connections(self) -> Vec<Box<Connection>> {
        let mut all = Vec::new();
        self.hand_over(|c, _| all.push(c));
        all.sort_unstable_by_key(|c| c.id);
        all
    }

    /// Every connection it holds to `f`: those that were over first, in
    /// the order they ended, then the open ones (`true`) in no particular
    /// order, each made whole only when its turn comes.
    fn hand_over(mut self, mut f: impl FnMut(Box<Connection>, bool)) {
        self.drain_done(|c| f(c, false));
        for (key, slot) in self.conns.drain_all() {
            if let Some(c) = self.take_slot(&key, slot) {
                f(c, true);
            }
        }
    }

    /// Ends the capture at `end`: the connections not yet taken go to `f`,
    /// those that were over first, in the order they ended, then the open
    /// ones in no particular order, each made whole only when its turn
    /// comes (a million packed SYNs are never all whole at once). Not
    /// compacted, as with `drain_done`.
    pub fn finish_each(self, end: Timestamp, mut f: impl FnMut(Box<Connection>)) {
        self.hand_over(|mut c, open| {
            if open {
                c.release(Release::CaptureEnd(end));
            }
            f(c);
        });
    }
}
