//! The id index: which leaf of the sequence tree holds a given character id.
//!
//! It maps ranges of lamports of one replica to a leaf, run-length encoded:
//! a key `(replica, lamport)` covers every lamport from itself up to the next
//! key. Only leaf splits move characters between leaves, so a run of typing
//! that stays in one leaf costs one entry, not one per character.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use smallvec::SmallVec;

#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    map: BTreeMap<(u32, u64), u32>,
    /// Per replica, its largest key and the leaf that key points at. New
    /// characters come after all others of their replica, so when they land
    /// in this leaf (typing goes on where it was) no search is needed.
    tail: Vec<(u64, u32)>,
}

impl Index {
    /// The index of a tree built in one piece, from `(replica, lamport,
    /// leaf)` of every piece of every span in `(replica, lamport)` order.
    pub(crate) fn from_sorted(entries: impl Iterator<Item = (u32, u64, u32)>) -> Index {
        let mut map = BTreeMap::new();
        let mut tail: Vec<(u64, u32)> = Vec::new();
        for (replica, lamport, leaf) in entries {
            let r = replica as usize;
            if tail.len() <= r {
                tail.resize(r + 1, (0, u32::MAX));
            }
            // A key covers everything up to the next one: a span in the same
            // leaf as the key before it needs none.
            if tail[r].1 != leaf {
                map.insert((replica, lamport), leaf);
                tail[r] = (lamport, leaf);
            }
        }
        Index { map, tail }
    }

    /// The leaf that holds `(replica, lamport)` if that character exists. For
    /// an id that does not exist it may name any leaf; callers confirm by
    /// scanning the leaf.
    pub(crate) fn leaf_of(&self, replica: u32, lamport: u64) -> Option<u32> {
        self.map
            .range(..=(replica, lamport))
            .next_back()
            .filter(|((r, _), _)| *r == replica)
            .map(|(_, leaf)| *leaf)
    }

    /// Records characters with lamports above every existing one of `replica`.
    pub(crate) fn note_new(&mut self, replica: u32, start: u64, leaf: u32) {
        let r = replica as usize;
        match self.tail.get(r) {
            Some(&(_, l)) if l == leaf => return,
            // No key lies above `start`: the largest key is the one that
            // governs it, and `start` becomes the largest. (A split that
            // moved the new characters leaves an end marker above them.)
            Some(&(key, l)) if l != u32::MAX && key <= start => {
                self.map.insert((replica, start), leaf);
                self.tail[r] = (start, leaf);
                return;
            }
            _ => {}
        }
        if self.leaf_of(replica, start) != Some(leaf) {
            self.map.insert((replica, start), leaf);
        }
        self.refresh_tail(replica);
    }

    /// Re-reads which leaf `replica`'s largest key points at. That key may
    /// lie above `start` (the end marker [`Index::set`] leaves), so the leaf
    /// just noted is not necessarily it.
    fn refresh_tail(&mut self, replica: u32) {
        let r = replica as usize;
        if self.tail.len() <= r {
            self.tail.resize(r + 1, (0, u32::MAX));
        }
        self.tail[r] = self
            .map
            .range(..=(replica, u64::MAX))
            .next_back()
            .filter(|((owner, _), _)| *owner == replica)
            .map_or((0, u32::MAX), |(&(_, key), &leaf)| (key, leaf));
    }

    /// Points lamports `start..end` of `replica` at `leaf`, leaving every other
    /// lamport where it was.
    pub(crate) fn set(&mut self, replica: u32, start: u64, end: u64, leaf: u32) {
        let after = self.leaf_of(replica, end);
        let stale: SmallVec<[(u32, u64); 4]> = self
            .map
            .range((replica, start)..=(replica, end))
            .map(|(&key, _)| key)
            .collect();
        // With no key inside the range, what governs `start` is what
        // governed `end`: no need to search again.
        let before = if stale.is_empty() {
            after
        } else {
            for key in &stale {
                self.map.remove(key);
            }
            self.leaf_of(replica, start)
        };
        if before != Some(leaf) {
            self.map.insert((replica, start), leaf);
        }
        if let Some(after) = after
            && after != leaf
        {
            self.map.insert((replica, end), after);
        }
        // Only a change at or above the largest key can move it.
        if self
            .tail
            .get(replica as usize)
            .is_none_or(|&(key, _)| end >= key)
        {
            self.refresh_tail(replica);
        }
    }

    pub(crate) fn entries(&self) -> usize {
        self.map.len()
    }
}
