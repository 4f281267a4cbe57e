//! The sequence tree: every character ever inserted, in document order, as
//! run-length spans in a B-tree counted by visible characters and UTF-16 units.
//!
//! Leaves hold up to [`LEAF_CAP`] spans; internal nodes hold up to
//! [`NODE_CAP`] children and, per child, the visible characters and UTF-16
//! units below it. Finding a position descends from the root; finding an id
//! asks the [`Index`] for the leaf and scans it. Both are O(log n). Nodes live
//! in arenas and point at their parents, so a change in a leaf walks up to
//! fix the counts without a search.
//!
//! - `span`: the run-length unit stored in the leaves.
//! - `build`: a whole tree built bottom-up from spans in document order.
//! - `position`: from a position to a character and back.
//! - `edit`: inserting and deleting characters.
//! - `balance`: splitting full leaves and nodes, keeping the counts.
//! - `check`: the invariants, for tests.

mod balance;
mod build;
#[cfg(any(test, feature = "std"))]
mod check;
mod edit;
mod position;
mod span;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::Cell;

use crate::index::Index;
pub(crate) use edit::Pieces;
pub(crate) use span::{MAX_SPAN, Span};

const LEAF_CAP: usize = 32;
const NODE_CAP: usize = 16;
const NONE: u32 = u32::MAX;
/// Leaf 0 is always the leftmost leaf: splits move the upper half away.
const FIRST_LEAF: u32 = 0;

#[derive(Clone, Debug)]
struct Leaf {
    spans: [Span; LEAF_CAP],
    len: u8,
    /// Index of this leaf in its parent's children, kept so walking up to
    /// fix counts needs no search.
    slot: u8,
    parent: u32,
    next: u32,
    /// Visible characters in the leaf, kept so the position cache can test
    /// whether a position falls in this leaf without summing its spans.
    chars: u32,
}

#[derive(Clone, Debug)]
struct Node {
    children: [u32; NODE_CAP],
    chars: [u32; NODE_CAP],
    utf16: [u32; NODE_CAP],
    len: u8,
    /// Index of this node in its parent's children.
    slot: u8,
    parent: u32,
    leaf_children: bool,
}

/// A character in the tree: span `idx` of `leaf`, `offset` characters in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub leaf: u32,
    pub idx: usize,
    pub offset: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct Tree {
    /// Boxed so that growing the arena moves pointers, not kilobytes of
    /// spans, and never holds two copies of every leaf at once.
    #[allow(
        clippy::vec_box,
        reason = "a leaf is a kilobyte; boxing keeps arena growth cheap and peak memory low"
    )]
    leaves: Vec<Box<Leaf>>,
    nodes: Vec<Node>,
    /// Leaves joined into a neighbour, emptied, for the next split to reuse:
    /// dropping one from the arena would move another and re-point its
    /// index entries.
    free: Vec<u32>,
    root: u32,
    index: Index,
    /// Characters in the tree, deleted ones included; bounds the u32 counters.
    total: u64,
    /// The last leaf a position was found in and the visible characters
    /// before it. Edits cluster, so most lookups start here instead of at the
    /// root; any count change outside this leaf clears it.
    cache: Cell<(u32, u32)>,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            leaves: alloc::vec![Box::new(Leaf {
                spans: [Span::default(); LEAF_CAP],
                len: 0,
                slot: 0,
                parent: 0,
                next: NONE,
                chars: 0,
            })],
            nodes: alloc::vec![Node {
                children: [0; NODE_CAP],
                chars: [0; NODE_CAP],
                utf16: [0; NODE_CAP],
                len: 1,
                slot: 0,
                parent: NONE,
                leaf_children: true,
            }],
            free: Vec::new(),
            root: 0,
            index: Index::default(),
            total: 0,
            cache: Cell::new((NONE, 0)),
        }
    }
}

impl Tree {
    pub(crate) fn len_chars(&self) -> usize {
        self.root_sum(|n| &n.chars)
    }

    pub(crate) fn len_utf16(&self) -> usize {
        self.root_sum(|n| &n.utf16)
    }

    fn root_sum(&self, counts: impl Fn(&Node) -> &[u32; NODE_CAP]) -> usize {
        let root = &self.nodes[self.root as usize];
        counts(root)[..root.len as usize]
            .iter()
            .map(|&c| c as usize)
            .sum()
    }

    /// Characters stored, deleted ones included.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn span(&self, c: Cursor) -> Span {
        self.leaves[c.leaf as usize].spans[c.idx]
    }

    /// Every span in document order.
    pub(crate) fn spans(&self) -> impl Iterator<Item = &Span> + '_ {
        let mut leaf = FIRST_LEAF;
        core::iter::from_fn(move || {
            if leaf == NONE {
                return None;
            }
            let l = &self.leaves[leaf as usize];
            leaf = l.next;
            Some(&l.spans[..l.len as usize])
        })
        .flatten()
    }

    /// Finds the character `(replica, lamport)`.
    pub(crate) fn locate(&self, replica: u32, lamport: u64) -> Option<Cursor> {
        let leaf = self.index.leaf_of(replica, lamport)?;
        let l = &self.leaves[leaf as usize];
        l.spans[..l.len as usize]
            .iter()
            .position(|s| {
                s.replica == replica
                    && s.lamport <= lamport
                    && lamport < s.lamport + u64::from(s.len())
            })
            .map(|idx| Cursor {
                leaf,
                idx,
                offset: (lamport - l.spans[idx].lamport) as u32,
            })
    }

    pub(crate) fn index_entries(&self) -> usize {
        self.index.entries()
    }
}

fn remove_at(l: &mut Leaf, idx: usize) {
    let len = l.len as usize;
    l.spans.copy_within(idx + 1..len, idx);
    l.len -= 1;
}
