//! Connections and their endpoints' states, from decoded segments. Pure and
//! sans-IO: time arrives with each segment, so replay and live capture
//! behave the same and every rule is unit-testable.

pub mod conn;
pub mod icmp;
pub mod kernel;
pub mod key;
pub mod state;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::decode::Segment;
use crate::time::{Span, Timestamp};

pub use conn::{
    Basis, Cause, Closer, Closing, Connection, Opening, SegmentRecord, StateMark, Tentative,
    TimeWait,
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

/// Follows every connection in a capture.
pub struct Tracker {
    cfg: TrackConfig,
    conns: FxHashMap<ConnKey, Connection>,
    /// Finished connections not yet taken by the caller.
    done: Vec<Connection>,
    /// (linger deadline, key, id) of connections that finished, oldest first.
    expiry: VecDeque<(Timestamp, ConnKey, usize)>,
    /// (deadline, key, id) of unanswered SYNs, for ageing out, in about
    /// deadline order (one put back may sit behind a later one: it is then
    /// aged out late, never early). Short-lived: about two minutes.
    syns: VecDeque<(Timestamp, ConnKey, usize)>,
    /// When the open connections are next looked over for idle ones.
    next_sweep: Timestamp,
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
            conns: FxHashMap::default(),
            done: Vec::new(),
            expiry: VecDeque::new(),
            syns: VecDeque::new(),
            next_sweep: Timestamp::default(),
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

    /// Adds one segment; returns the id of the connection it joined.
    pub fn push(&mut self, seg: &Segment, ts: Timestamp, frame: u64) -> usize {
        if self.cfg.stream {
            let now = self.clock.map_or(ts, |c| c.max(ts));
            self.clock = Some(now);
            self.expire(now);
        }
        let key = ConnKey::new(seg.src, seg.dst);
        self.last_key = Some(key);
        let bare_syn = seg.flags.syn() && !seg.flags.ack();
        let replace = match self.conns.get_mut(&key) {
            None => false,
            Some(c) => {
                if bare_syn && c.is_new_incarnation(seg.src, seg.seq) {
                    c.end_by_new_incarnation(ts);
                    true
                } else if c.is_finished() && ts > c.linger_until() {
                    // A stray long after the end: a new (mid-stream) one.
                    c.advance(ts);
                    true
                } else if syn_deadline(c).is_some_and(|d| ts > d) {
                    // Unanswered, and connect() has given up (ETIMEDOUT):
                    // whatever comes now is not that connection's.
                    c.conclude(ts);
                    true
                } else {
                    false
                }
            }
        };
        if replace && let Some(old) = self.conns.remove(&key) {
            self.done.push(old);
        }
        let next_id = &mut self.next_id;
        let cfg = self.cfg;
        let mut created = false;
        let conn = self.conns.entry(key).or_insert_with(|| {
            let id = *next_id;
            *next_id += 1;
            created = true;
            Connection::new(id, seg, ts, &cfg)
        });
        let was_finished = conn.is_finished();
        conn.push(seg, ts, frame);
        let id = conn.id;
        if self.cfg.stream
            && created
            && let Some(at) = syn_deadline(conn)
        {
            self.syns.push_back((at, key, id));
        }
        if self.cfg.stream && conn.is_finished() && !was_finished {
            self.expiry.push_back((conn.linger_until(), key, id));
        }
        id
    }

    fn expire(&mut self, now: Timestamp) {
        self.age_out(now);
        self.expire_finished(now);
    }

    /// Hands out unanswered SYNs past their last retransmission, and (a
    /// few times an idle timeout) connections idle past it.
    fn age_out(&mut self, now: Timestamp) {
        while let Some(&(deadline, key, id)) = self.syns.front() {
            if deadline >= now {
                break;
            }
            self.syns.pop_front();
            let Some(c) = self.conns.get(&key).filter(|c| c.id == id) else {
                continue;
            };
            match syn_deadline(c) {
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
            .filter(|(_, c)| !c.is_finished() && c.last_ts + idle < now)
            .map(|(k, _)| *k)
            .collect();
        for key in idle_keys {
            self.hand_out_aged(key);
        }
    }

    fn hand_out_aged(&mut self, key: ConnKey) {
        if let Some(mut c) = self.conns.remove(&key) {
            // As if the capture ended here.
            c.conclude(self.clock.unwrap_or(c.last_ts));
            self.done.push(c);
            self.aged_out += 1;
        }
    }

    fn expire_finished(&mut self, now: Timestamp) {
        while let Some(&(deadline, key, id)) = self.expiry.front() {
            // Over only once `now` is past the deadline, the rule push()
            // uses: a segment exactly at the deadline still joins it.
            if deadline >= now {
                break;
            }
            self.expiry.pop_front();
            let Some(c) = self.conns.get(&key) else {
                continue;
            };
            if c.id != id {
                continue;
            }
            if !c.is_finished() || c.linger_until() >= now {
                // It came back to life or got a late segment: look again later.
                let again = c.linger_until();
                if c.is_finished() {
                    self.expiry.push_back((again, key, id));
                }
                continue;
            }
            if let Some(mut c) = self.conns.remove(&key) {
                c.advance(now);
                self.done.push(c);
            }
        }
    }

    /// Forgets an open connection (a view holding too many); a later
    /// segment on its four-tuple starts a new, mid-stream one.
    pub fn evict(&mut self, key: &ConnKey) -> Option<Connection> {
        self.conns.remove(key)
    }

    /// Connections that are over, in the order they ended; the caller owns
    /// them now.
    pub fn take_done(&mut self) -> Vec<Connection> {
        std::mem::take(&mut self.done)
    }

    pub fn has_done(&self) -> bool {
        !self.done.is_empty()
    }

    /// Connections still being followed.
    pub fn active(&self) -> impl Iterator<Item = &Connection> {
        self.conns.values()
    }

    /// The connection currently on a 4-tuple.
    pub fn get(&self, key: &ConnKey) -> Option<&Connection> {
        self.conns.get(key)
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
    pub fn finish(mut self, end: Timestamp) -> Vec<Connection> {
        let mut all = std::mem::take(&mut self.done);
        for (_, mut c) in self.conns.drain() {
            c.advance(end);
            c.conclude(end);
            all.push(c);
        }
        all.sort_by_key(|c| c.id);
        all
    }
}
