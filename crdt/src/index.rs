//! The id index: which leaf of the sequence tree holds a given character id.
//!
//! It maps ranges of lamports of one replica to a leaf, run-length encoded:
//! a key `(replica, lamport)` covers every lamport from itself up to the next
//! key. Only leaf splits move characters between leaves, so a run of typing
//! that stays in one leaf costs one entry, not one per character.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    map: BTreeMap<(u32, u64), u32>,
}

impl Index {
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
        if self.leaf_of(replica, start) != Some(leaf) {
            self.map.insert((replica, start), leaf);
        }
    }

    /// Points lamports `start..end` of `replica` at `leaf`, leaving every other
    /// lamport where it was.
    pub(crate) fn set(&mut self, replica: u32, start: u64, end: u64, leaf: u32) {
        let after = self.leaf_of(replica, end);
        let stale: Vec<(u32, u64)> = self
            .map
            .range((replica, start)..=(replica, end))
            .map(|(k, _)| *k)
            .collect();
        for key in stale {
            self.map.remove(&key);
        }
        if self.leaf_of(replica, start) != Some(leaf) {
            self.map.insert((replica, start), leaf);
        }
        if let Some(after) = after {
            if after != leaf {
                self.map.insert((replica, end), after);
            }
        }
    }

    pub(crate) fn entries(&self) -> usize {
        self.map.len()
    }
}
