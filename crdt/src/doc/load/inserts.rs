//! Each replica's inserts in lamport order, and the lookup of the insert
//! that holds a character: the parent of every insert and the target of
//! every delete of a loaded history is looked up here.

use alloc::vec::Vec;

use super::Deleted;

/// Inserts per block of the lookup: the block is scanned, not searched.
const BLOCK: usize = 16;

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
    /// The start of every [`BLOCK`]-th insert. A binary search over all
    /// of `list` is a chain of dependent loads that misses the cache; this
    /// is a sixteenth of its size, and the block it picks is a few
    /// adjacent cache lines, compared all at once.
    firsts: Vec<u64>,
}

/// Where the last lookup of a kind landed: `(replica, index)`.
pub(super) type Hint = (u32, usize);

impl Inserts {
    pub(super) fn push(&mut self, start: u64, len: u32, chain: u32) {
        if self.list.len().is_multiple_of(BLOCK) {
            self.firsts.push(start);
        }
        self.list.push(Insert { start, len, chain });
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
                let block = self
                    .firsts
                    .partition_point(|&s| s <= lamport)
                    .checked_sub(1)?;
                let from = block * BLOCK;
                let to = list.len().min(from + BLOCK);
                // Counted rather than searched: no branch to mispredict and
                // no load waiting for the one before.
                let below = list[from..to]
                    .iter()
                    .map(|i| usize::from(i.start <= lamport))
                    .sum::<usize>();
                from + below - 1
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

    #[test]
    fn locate_matches_a_binary_search_whatever_the_hint() {
        for n in (0..40u64).chain([255, 256, 257, 300]) {
            let mut inserts = Inserts::default();
            let starts: alloc::vec::Vec<u64> = (0..n).map(|i| 3 * i + 1).collect();
            for (i, &s) in starts.iter().enumerate() {
                inserts.push(s, 2, i as u32);
            }
            for lamport in 0..3 * n + 3 {
                let expected = starts.partition_point(|&s| s <= lamport).checked_sub(1);
                for replica in [0, 1] {
                    let n = n as usize;
                    let hints: alloc::vec::Vec<usize> = if n < 40 {
                        (0..n + 2).collect()
                    } else {
                        alloc::vec![0, 1, n / 2, n - 1, n, n + 1]
                    };
                    for h in hints {
                        let mut hint: Hint = (replica, h);
                        assert_eq!(inserts.locate(lamport, &mut hint, 0), expected);
                        if let Some(i) = expected {
                            assert_eq!(hint, (0, i));
                            let inside = lamport - starts[i] < 2;
                            let found = inserts.find(i, lamport);
                            assert_eq!(
                                found,
                                inside.then_some((i as u32, (lamport - starts[i]) as u32))
                            );
                        }
                    }
                }
            }
        }
    }
}
