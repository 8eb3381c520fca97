//! The tracker's storage: a slab and a FIFO queue that grow by whole
//! chunks, so neither ever copies what it holds into a larger block. A
//! `Vec` of a million entries briefly needs room for a million and a half
//! while it doubles; these never need more than one extra chunk.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::ConnKey;

/// Entries per chunk (a power of two).
const CHUNK: usize = 4096;

/// Places addressed by index, freed places reused.
#[derive(Debug)]
pub(super) struct Slab<T> {
    chunks: Vec<Vec<Option<T>>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            chunks: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Stores `item`; returns its index. Indices are u32: four billion
    /// connections at once are far beyond memory.
    pub(super) fn insert(&mut self, item: T) -> u32 {
        if let Some(i) = self.free.pop()
            && let Some(place) = self.place(i)
        {
            *place = Some(item);
            return i;
        }
        let full = self.chunks.last().is_none_or(|c| c.len() == CHUNK);
        if full {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let n = self.chunks.len() - 1;
        let last = &mut self.chunks[n];
        last.push(Some(item));
        (n * CHUNK + last.len() - 1) as u32
    }

    fn place(&mut self, i: u32) -> Option<&mut Option<T>> {
        let i = i as usize;
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    /// Takes the item at `i` out, freeing its place.
    pub(super) fn take(&mut self, i: u32) -> Option<T> {
        let item = self.place(i)?.take();
        if item.is_some() {
            self.free.push(i);
        }
        item
    }

    pub(super) fn get(&self, i: u32) -> Option<&T> {
        let i = i as usize;
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.place(i)?.as_mut()
    }
}

/// First in, first out.
#[derive(Debug)]
pub(super) struct Queue<T> {
    chunks: VecDeque<VecDeque<T>>,
    /// The last chunk drained, kept for the next one needed: a fresh
    /// chunk's pages would be faulted in and zeroed by the kernel again.
    spare: Option<VecDeque<T>>,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            chunks: VecDeque::new(),
            spare: None,
        }
    }
}

impl<T> Queue<T> {
    pub(super) fn push_back(&mut self, item: T) {
        match self.chunks.back_mut() {
            Some(c) if c.len() < CHUNK => c.push_back(item),
            _ => {
                let mut c = self
                    .spare
                    .take()
                    .unwrap_or_else(|| VecDeque::with_capacity(CHUNK));
                c.push_back(item);
                self.chunks.push_back(c);
            }
        }
    }

    pub(super) fn front(&self) -> Option<&T> {
        self.chunks.front()?.front()
    }

    pub(super) fn pop_front(&mut self) -> Option<T> {
        let many = self.chunks.len() > 1;
        let first = self.chunks.front_mut()?;
        let item = first.pop_front();
        // A drained chunk goes, unless it is the only one: a ring, it
        // takes the next pushes.
        if first.is_empty() && many {
            self.spare = self.chunks.pop_front();
        }
        item
    }
}

/// Maps that make up one, so that growing one of them (a hash map
/// briefly holds its old table and a new one twice the size) costs a
/// little more memory for a moment, not half as much again as all.
const SHARDS: usize = 32;

/// The tracker's map from 4-tuple to slot, in shards.
#[derive(Debug)]
pub(super) struct Map<V> {
    shards: Vec<FxHashMap<ConnKey, V>>,
}

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map {
            shards: (0..SHARDS).map(|_| FxHashMap::default()).collect(),
        }
    }
}

impl<V> Map<V> {
    fn shard(&self, key: &ConnKey) -> usize {
        key.spread() as usize % SHARDS
    }

    pub(super) fn get(&self, key: &ConnKey) -> Option<&V> {
        self.shards[self.shard(key)].get(key)
    }

    pub(super) fn get_mut(&mut self, key: &ConnKey) -> Option<&mut V> {
        let i = self.shard(key);
        self.shards[i].get_mut(key)
    }

    pub(super) fn insert(&mut self, key: ConnKey, value: V) {
        let i = self.shard(&key);
        self.shards[i].insert(key, value);
    }

    pub(super) fn remove(&mut self, key: &ConnKey) -> Option<V> {
        let i = self.shard(key);
        self.shards[i].remove(key)
    }

    pub(super) fn len(&self) -> usize {
        self.shards.iter().map(|m| m.len()).sum()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&ConnKey, &V)> {
        self.shards.iter().flat_map(|m| m.iter())
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(|m| m.values())
    }

    /// Empties the map, each shard's memory freed as soon as it is read.
    pub(super) fn drain_all(&mut self) -> impl Iterator<Item = (ConnKey, V)> + use<V> {
        std::mem::take(&mut self.shards).into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slab_gives_back_what_it_holds_and_reuses_freed_places() {
        let mut s = Slab::default();
        let ids: Vec<u32> = (0..3 * CHUNK + 5).map(|n| s.insert(n)).collect();
        assert!(ids.iter().enumerate().all(|(n, &i)| s.get(i) == Some(&n)));
        assert_eq!(s.take(ids[CHUNK + 1]), Some(CHUNK + 1));
        assert_eq!(s.take(ids[CHUNK + 1]), None, "taken once");
        assert_eq!(s.get(ids[CHUNK + 1]), None);
        let again = s.insert(7);
        assert_eq!(again, ids[CHUNK + 1]);
        if let Some(v) = s.get_mut(again) {
            *v += 1;
        }
        assert_eq!(s.get(again), Some(&8));
        assert_eq!(s.get(10 * CHUNK as u32), None);
    }

    #[test]
    fn the_map_finds_every_key_in_its_shard() {
        let mut m = Map::default();
        let key = |n: u32| {
            let a = std::net::SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 40_000));
            ConnKey::new(a, "10.1.0.1:80".parse().unwrap())
        };
        for n in 0..1000 {
            m.insert(key(n), n);
        }
        assert_eq!(m.len(), 1000);
        assert!((0..1000).all(|n| m.get(&key(n)) == Some(&n)));
        assert_eq!(m.remove(&key(5)), Some(5));
        assert_eq!(m.get(&key(5)), None);
        assert_eq!(m.iter().count(), 999);
        let mut all: Vec<u32> = m.drain_all().map(|(_, v)| v).collect();
        all.sort_unstable();
        assert_eq!(all.len(), 999);
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn the_queue_keeps_order_across_chunks() {
        let mut q = Queue::default();
        for n in 0..2 * CHUNK + 3 {
            q.push_back(n);
        }
        for n in 0..CHUNK + 1 {
            assert_eq!(q.pop_front(), Some(n));
        }
        q.push_back(99_999);
        assert_eq!(q.front(), Some(&(CHUNK + 1)));
        let rest: Vec<usize> = std::iter::from_fn(|| q.pop_front()).collect();
        assert_eq!(rest.len(), CHUNK + 3);
        assert_eq!(rest.last(), Some(&99_999));
        assert_eq!(q.pop_front(), None);
        q.push_back(1);
        assert_eq!(q.pop_front(), Some(1));
    }
}
