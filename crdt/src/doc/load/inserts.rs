//! Each replica's inserts in lamport order, and the lookup of the insert
//! that holds a character: the parent of every insert and the target of
//! every delete of a loaded history is looked up here.

use alloc::vec::Vec;

use super::Deleted;

/// One insert operation of a replica.
#[derive(Clone, Copy)]
struct Insert {
    /// Its first character's lamport.
    start: u64,
    /// Its length, kept here so that a lookup reads nothing else.
    len: u32,
    /// Its chain in the layout.
    chain: u32,
}

/// A replica's inserts, appended in lamport order.
#[derive(Default)]
pub(super) struct Inserts {
    list: Vec<Insert>,
    /// Per bucket of `1 << shift` lamports, how many inserts start before
    /// it. A binary search over `list` is a chain of dependent loads, many
    /// of them cache misses; this table names the one or two inserts to
    /// look at. It holds at most two entries per insert (plus a few): the
    /// buckets widen as the lamports spread.
    buckets: Vec<u32>,
    shift: u32,
}

/// Where the last lookup of a kind landed: `(replica, index)`.
pub(super) type Hint = (u32, usize);

impl Inserts {
    pub(super) fn push(&mut self, start: u64, len: u32, chain: u32) {
        self.open_buckets(start);
        self.list.push(Insert { start, len, chain });
    }

    /// Fills the table up to the bucket of `start`, the next insert's.
    fn open_buckets(&mut self, start: u64) {
        // Inserts come in lamport order: every bucket up to this start's
        // begins after all the inserts before it.
        let n = self.list.len() as u32;
        // Compared as `u64`: a lamport need not fit a 32-bit `usize`.
        while start >> self.shift >= 2 * self.list.len() as u64 + 64 {
            // Twice as wide: bucket `b` now begins where `2b` did.
            self.shift += 1;
            let half = self.buckets.len().div_ceil(2);
            for b in 0..half {
                self.buckets[b] = self.buckets[2 * b];
            }
            self.buckets.truncate(half);
        }
        while self.buckets.len() <= (start >> self.shift) as usize {
            self.buckets.push(n);
        }
    }

    /// The inserts among which the last to start at or before `lamport`
    /// is, or the one before them; `lamport` is below the newest start.
    fn candidates(&self, lamport: u64) -> Option<(usize, usize)> {
        let bucket = usize::try_from(lamport >> self.shift).ok()?;
        let from = *self.buckets.get(bucket)? as usize;
        let to = self
            .buckets
            .get(bucket + 1)
            .map_or(self.list.len(), |&to| to as usize);
        Some((from, to))
    }

    /// `(lamport, chain)` of each insert, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.list.iter().map(|i| (i.start, i.chain))
    }

    /// The index of the last insert that starts at or before `lamport`.
    /// Successive parents, and successive delete targets, are often the
    /// same insert or its neighbour, or the newest: those are tried before
    /// the search.
    pub(super) fn locate(&self, lamport: u64, hint: &mut Hint, replica: u32) -> Option<usize> {
        let list = &self.list;
        let holds = |i: usize| {
            list[i].start <= lamport && list.get(i + 1).is_none_or(|next| next.start > lamport)
        };
        let i = match *hint {
            (r, h) if r == replica && h < list.len() && holds(h) => h,
            (r, h) if r == replica && h + 1 < list.len() && holds(h + 1) => h + 1,
            (r, h) if r == replica && h > 0 && h <= list.len() && holds(h - 1) => h - 1,
            // The newest insert: what was just typed, and what a backspace takes.
            _ if list.last().is_some_and(|last| last.start <= lamport) => list.len() - 1,
            _ => {
                let (from, to) = self.candidates(lamport)?;
                let starting = list[from..to].partition_point(|i| i.start <= lamport);
                (from + starting).checked_sub(1)?
            }
        };
        *hint = (replica, i);
        Some(i)
    }

    /// The chain holding character `lamport`, given the insert `i` that
    /// [`Inserts::locate`] found for it, and its offset there.
    pub(super) fn find(&self, i: usize, lamport: u64) -> Option<(u32, u32)> {
        let insert = self.list[i];
        let offset = lamport - insert.start;
        (offset < u64::from(insert.len)).then_some((insert.chain, offset as u32))
    }

    /// Records characters `start..start + len` as deleted, chain by chain,
    /// from insert `first` (the one [`Inserts::locate`] found for `start`)
    /// on; `None` unless every one of them exists.
    pub(super) fn mark_deleted(
        &self,
        first: usize,
        start: u64,
        len: u64,
        out: &mut Vec<Deleted>,
    ) -> Option<()> {
        let end = start + len;
        let mut reached = start;
        for &Insert {
            start: s,
            len,
            chain,
        } in &self.list[first..]
        {
            let chain_end = s + u64::from(len);
            if s > reached || chain_end <= reached {
                return None;
            }
            let stop = chain_end.min(end);
            // Offsets in a chain fit its 32-bit length.
            out.push((chain, (reached - s) as u32, (stop - s) as u32));
            reached = stop;
            if reached == end {
                return Some(());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{Hint, Inserts};
    use alloc::vec::Vec;

    /// Inserts starting at `starts` (of two characters each) answer every
    /// lookup as a binary search over all of them would.
    fn check(starts: &[u64]) {
        let mut inserts = Inserts::default();
        for (i, &s) in starts.iter().enumerate() {
            inserts.push(s, 2, i as u32);
        }
        let n = starts.len();
        let mut probes: Vec<u64> = starts
            .iter()
            .flat_map(|&s| [s - 1, s, s + 1, s + 2])
            .collect();
        probes.extend([0, u64::MAX >> 8, u64::MAX]);
        let hints: Vec<usize> = if n < 40 {
            (0..n + 2).collect()
        } else {
            alloc::vec![0, 1, n / 2, n - 1, n, n + 1]
        };
        for lamport in probes {
            let expected = starts.partition_point(|&s| s <= lamport).checked_sub(1);
            for replica in [0, 1] {
                for &h in &hints {
                    let mut hint: Hint = (replica, h);
                    assert_eq!(inserts.locate(lamport, &mut hint, 0), expected, "{lamport}");
                    if let Some(i) = expected {
                        assert_eq!(hint, (0, i));
                        let inside = lamport - starts[i] < 2;
                        let found = inserts.find(i, lamport);
                        let offset = (lamport - starts[i]) as u32;
                        assert_eq!(found, inside.then_some((i as u32, offset)));
                    }
                }
            }
        }
    }

    #[test]
    fn locate_matches_a_binary_search_whatever_the_hint() {
        for n in (0..40u64).chain([255, 256, 257, 300]) {
            // Evenly spread, as typing is.
            check(&(0..n).map(|i| 3 * i + 1).collect::<Vec<_>>());
            // Ever wider gaps, up to the largest lamport, which widen the
            // buckets again and again.
            let spread: Vec<u64> = (0..n).map(|i| 1 + i * i * i * 7 + i % 3).collect();
            check(&spread);
        }
        check(&[1, 5, 1 << 20, (1 << 20) + 3, crate::id::MAX_SAFE - 4]);
    }
}
