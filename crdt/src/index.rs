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
    /// Per replica (by its index in the document's replica table), its
    /// lamport keys. A map per replica keeps each search within that
    /// replica's keys, 8 bytes each instead of a 16-byte tuple: an echo on a
    /// busy relay touches a cold document, and cache lines are the cost.
    maps: Vec<BTreeMap<u64, u32>>,
    /// Per replica, its largest key and the leaf that key points at. New
    /// characters come after all others of their replica, so when they land
    /// in this leaf (typing goes on where it was) no search is needed.
    tail: Vec<(u64, u32)>,
}

impl Index {
    /// The index of a tree built in one piece, from `(replica, lamport,
    /// leaf)` of every piece of every span in `(replica, lamport)` order.
    pub(crate) fn from_sorted(entries: impl Iterator<Item = (u32, u64, u32)>) -> Index {
        let mut index = Index::default();
        let mut keys: Vec<(u64, u32)> = Vec::new();
        let mut current = None;
        for (replica, lamport, leaf) in entries {
            if current != Some(replica) {
                if let Some(r) = current {
                    index.finish_sorted(r, &mut keys);
                }
                current = Some(replica);
            }
            // A key covers everything up to the next one: a span in the same
            // leaf as the key before it needs none.
            if keys.last().is_none_or(|&(_, l)| l != leaf) {
                keys.push((lamport, leaf));
            }
        }
        if let Some(r) = current {
            index.finish_sorted(r, &mut keys);
        }
        index
    }

    /// Stores the sorted keys of `replica`, leaving `keys` empty.
    fn finish_sorted(&mut self, replica: u32, keys: &mut Vec<(u64, u32)>) {
        self.grow(replica);
        let r = replica as usize;
        self.tail[r] = keys.last().copied().unwrap_or((0, u32::MAX));
        // Keys arrive sorted, so each insert goes down the right edge.
        // (`collect` would bulk-build, but sorts first: in the wasm build
        // that sort's code costs kilobytes for no gain.)
        let map = &mut self.maps[r];
        for (lamport, leaf) in keys.drain(..) {
            map.insert(lamport, leaf);
        }
    }

    fn grow(&mut self, replica: u32) {
        let r = replica as usize;
        if self.maps.len() <= r {
            self.maps.resize_with(r + 1, BTreeMap::new);
            self.tail.resize(r + 1, (0, u32::MAX));
        }
    }

    /// The leaf that holds `(replica, lamport)` if that character exists. For
    /// an id that does not exist it may name any leaf; callers confirm by
    /// scanning the leaf.
    pub(crate) fn leaf_of(&self, replica: u32, lamport: u64) -> Option<u32> {
        let &(key, leaf) = self.tail.get(replica as usize)?;
        // Most lookups are of recent characters, governed by the largest key.
        if leaf != u32::MAX && key <= lamport {
            return Some(leaf);
        }
        self.maps[replica as usize]
            .range(..=lamport)
            .next_back()
            .map(|(_, leaf)| *leaf)
    }

    /// Records characters with lamports above every existing one of `replica`.
    pub(crate) fn note_new(&mut self, replica: u32, start: u64, leaf: u32) {
        self.grow(replica);
        let r = replica as usize;
        match self.tail[r] {
            (_, l) if l == leaf => return,
            // No key lies above `start`: the largest key is the one that
            // governs it, and `start` becomes the largest. (A split that
            // moved the new characters leaves an end marker above them.)
            (key, l) if l != u32::MAX && key <= start => {
                self.maps[r].insert(start, leaf);
                self.tail[r] = (start, leaf);
                return;
            }
            _ => {}
        }
        if self.leaf_of(replica, start) != Some(leaf) {
            self.maps[r].insert(start, leaf);
        }
        self.refresh_tail(replica);
    }

    /// Re-reads which leaf `replica`'s largest key points at. That key may
    /// lie above `start` (the end marker [`Index::set`] leaves), so the leaf
    /// just noted is not necessarily it.
    fn refresh_tail(&mut self, replica: u32) {
        let r = replica as usize;
        self.tail[r] = self.maps[r]
            .last_key_value()
            .map_or((0, u32::MAX), |(&key, &leaf)| (key, leaf));
    }

    /// Points lamports `start..end` of `replica` at `leaf`, leaving every other
    /// lamport where it was.
    pub(crate) fn set(&mut self, replica: u32, start: u64, end: u64, leaf: u32) {
        self.grow(replica);
        let r = replica as usize;
        let after = self.leaf_of(replica, end);
        let map = &mut self.maps[r];
        let stale: SmallVec<[u64; 4]> = map.range(start..=end).map(|(&key, _)| key).collect();
        // With no key inside the range, what governs `start` is what
        // governed `end`: no need to search again.
        let before = if stale.is_empty() {
            after
        } else {
            for key in &stale {
                map.remove(key);
            }
            map.range(..=start).next_back().map(|(_, leaf)| *leaf)
        };
        if before != Some(leaf) {
            map.insert(start, leaf);
        }
        if let Some(after) = after
            && after != leaf
        {
            map.insert(end, after);
        }
        // Only a change at or above the largest key can move it.
        if end >= self.tail[r].0 || self.tail[r].1 == u32::MAX {
            self.refresh_tail(replica);
        }
    }

    pub(crate) fn entries(&self) -> usize {
        self.maps.iter().map(BTreeMap::len).sum()
    }
}
