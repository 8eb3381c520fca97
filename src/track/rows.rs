//! A connection's list of rows (its segments, their headers): a `Vec` up
//! to one chunk, whole chunks after that, so the list of a connection of
//! two million segments never doubles into a copy of itself. Indexed and
//! iterated like a slice.

use std::ops::{Index, IndexMut};

/// Rows per chunk after the first (a power of two).
const CHUNK: usize = 4096;

/// Gives back a list's spare room when that is worth a copy: a quarter or
/// more of it spare, and small (shrinking copies it, and a copy of a
/// huge list briefly needs both).
pub fn shrink<T>(v: &mut Vec<T>) {
    let spare = v.capacity() - v.len();
    if spare > v.len() / 4 && v.capacity() <= 1 << 16 {
        v.shrink_to_fit();
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rows<T> {
    /// The first `CHUNK` rows: grown as a `Vec` grows, so a connection of
    /// ten segments holds room for about ten.
    first: Vec<T>,
    /// Full chunks and the last one filling, each `CHUNK` long when full.
    rest: Vec<Vec<T>>,
}

impl<T> Default for Rows<T> {
    fn default() -> Self {
        Rows {
            first: Vec::new(),
            rest: Vec::new(),
        }
    }
}

impl<T> Rows<T> {
    pub fn len(&self) -> usize {
        match self.rest.last() {
            None => self.first.len(),
            Some(last) => CHUNK * self.rest.len() + last.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    pub fn push(&mut self, row: T) {
        if self.first.len() < CHUNK {
            self.first.push(row);
            return;
        }
        match self.rest.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(row),
            _ => {
                let mut c = Vec::with_capacity(CHUNK);
                c.push(row);
                self.rest.push(c);
            }
        }
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        if i < CHUNK {
            return self.first.get(i);
        }
        let i = i - CHUNK;
        self.rest.get(i / CHUNK)?.get(i % CHUNK)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i < CHUNK {
            return self.first.get_mut(i);
        }
        let i = i - CHUNK;
        self.rest.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    pub fn last(&self) -> Option<&T> {
        self.rest.last().map_or(self.first.last(), |c| c.last())
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + Clone {
        self.span(0, self.len())
    }

    /// The rows from `start` on.
    pub fn from(
        &self,
        start: usize,
    ) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + Clone {
        self.span(start, self.len())
    }

    /// The first `n` rows (all of them when there are fewer).
    pub fn upto(
        &self,
        n: usize,
    ) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + Clone {
        self.span(0, n)
    }

    /// Rows `front..back`, cut to those there are.
    fn span(&self, front: usize, back: usize) -> Iter<'_, T> {
        let back = back.min(self.len());
        Iter {
            rows: self,
            front: front.min(back),
            back,
        }
    }

    /// The number of leading rows for which `pred` holds, when it holds for
    /// a prefix (as `slice::partition_point`).
    pub fn partition_point(&self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid) {
                Some(x) if pred(x) => lo = mid + 1,
                _ => hi = mid,
            }
        }
        lo
    }

    /// Gives back spare room as [`shrink`] does: whole chunks have none
    /// but the last.
    pub fn shrink(&mut self) {
        shrink(&mut self.first);
        if let Some(last) = self.rest.last_mut() {
            shrink(last);
        }
    }
}

/// Iterates the rows in order, from both ends (exact-size, which
/// `Flatten` is not).
struct Iter<'a, T> {
    rows: &'a Rows<T>,
    front: usize,
    back: usize,
}

impl<T> Clone for Iter<'_, T> {
    fn clone(&self) -> Self {
        Iter { ..*self }
    }
}

impl<'a, T> Iter<'a, T> {
    fn at(&self, i: usize) -> Option<&'a T> {
        self.rows.get(i)
    }
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        if self.front >= self.back {
            return None;
        }
        let x = self.at(self.front);
        self.front += 1;
        x
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl<T> DoubleEndedIterator for Iter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        self.back -= 1;
        self.at(self.back)
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}

/// Out of range panics, as a slice's index does: callers index rows they
/// counted (`get` is there for the rest).
impl<T> Index<usize> for Rows<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        match self.get(i) {
            Some(x) => x,
            None => panic!("row {i} of {}", self.len()),
        }
    }
}

impl<T> IndexMut<usize> for Rows<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        let n = self.len();
        match self.get_mut(i) {
            Some(x) => x,
            None => panic!("row {i} of {n}"),
        }
    }
}

impl<T> FromIterator<T> for Rows<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut r = Rows::default();
        for x in items {
            r.push(x);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_index_iterate_and_search_across_chunks_like_a_vec() {
        let n = 3 * CHUNK + 17;
        let rows: Rows<usize> = (0..n).collect();
        let v: Vec<usize> = (0..n).collect();
        assert_eq!(rows.len(), n);
        assert!(rows.iter().copied().eq(v.iter().copied()));
        assert!(rows.iter().rev().copied().eq(v.iter().rev().copied()));
        assert_eq!(rows.iter().len(), n);
        for i in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, n - 1] {
            assert_eq!(rows[i], i);
            assert_eq!(rows.partition_point(|&x| x < i), i);
        }
        assert_eq!(rows.get(n), None);
        assert_eq!(rows.last(), Some(&(n - 1)));
        assert_eq!(rows.upto(CHUNK + 2).count(), CHUNK + 2);
        assert!(rows.from(2 * CHUNK + 1).copied().eq(2 * CHUNK + 1..n));
        assert_eq!(rows.from(n + 5).count(), 0);
        assert_eq!(rows.iter().rposition(|&x| x == CHUNK), Some(CHUNK));
        let mut rows = rows;
        rows[2 * CHUNK + 3] = 7;
        assert_eq!(rows.get(2 * CHUNK + 3), Some(&7));
        rows.shrink();
        assert_eq!(rows.len(), n);
    }

    #[test]
    fn a_short_list_is_one_vec() {
        let mut rows = Rows::default();
        assert!(rows.is_empty());
        for i in 0..10u8 {
            rows.push(i);
        }
        rows.shrink();
        assert_eq!(rows.len(), 10);
        assert!(rows.rest.is_empty());
        assert!(rows.first.capacity() < 16);
    }
}
