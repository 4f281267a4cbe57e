//! Building a whole tree in one piece, bottom-up, from spans in document
//! order: how a loaded snapshot becomes a sequence.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::Cell;

use super::{LEAF_CAP, Leaf, NODE_CAP, NONE, Node, Span, Tree};
use crate::index::Index;

/// Spans per leaf and children per node in a tree built in one piece.
const LEAF_FILL: usize = LEAF_CAP * 3 / 4;
const NODE_FILL: usize = NODE_CAP * 3 / 4;

impl Tree {
    /// A tree holding `spans` in this order, built bottom-up. Leaves and
    /// nodes are filled to three quarters, so the first edits after a load
    /// do not split them all. `index` lists, in `(replica, lamport)` order,
    /// the first lamport of every piece of every span and the span it is in.
    pub(crate) fn from_spans(
        spans: &[Span],
        index: impl Iterator<Item = (u32, u64, usize)>,
    ) -> Tree {
        if spans.is_empty() {
            return Tree::default();
        }
        let n_leaves = spans.len().div_ceil(LEAF_FILL);
        let mut tree = Tree {
            leaves: Vec::with_capacity(n_leaves),
            nodes: Vec::with_capacity(n_leaves / NODE_FILL + 2),
            free: Vec::new(),
            root: NONE,
            index: Index::default(),
            total: 0,
            cache: Cell::new((NONE, 0)),
        };
        // (id, visible chars, UTF-16 units) of each member of the level being built.
        let mut level = Vec::with_capacity(n_leaves);
        for (i, chunk) in spans.chunks(LEAF_FILL).enumerate() {
            let id = i as u32;
            let mut leaf = Box::new(Leaf {
                spans: [Span::default(); LEAF_CAP],
                len: chunk.len() as u8,
                slot: 0,
                parent: NONE,
                next: if i + 1 < n_leaves { id + 1 } else { NONE },
                chars: 0,
            });
            leaf.spans[..chunk.len()].copy_from_slice(chunk);
            let (mut chars, mut utf16) = (0, 0);
            for s in chunk {
                let (c, u) = s.visible();
                chars += c;
                utf16 += u;
                tree.total += u64::from(s.len());
            }
            leaf.chars = chars;
            tree.leaves.push(leaf);
            level.push((id, chars, utf16));
        }
        let mut leaf_children = true;
        tree.root = loop {
            let mut above = Vec::with_capacity(level.len() / NODE_FILL + 1);
            for group in level.chunks(NODE_FILL) {
                let id = tree.nodes.len() as u32;
                let mut node = Node {
                    children: [0; NODE_CAP],
                    chars: [0; NODE_CAP],
                    utf16: [0; NODE_CAP],
                    len: group.len() as u8,
                    slot: 0,
                    parent: NONE,
                    leaf_children,
                };
                let (mut chars, mut utf16) = (0, 0);
                for (slot, &(child, c, u)) in group.iter().enumerate() {
                    node.children[slot] = child;
                    node.chars[slot] = c;
                    node.utf16[slot] = u;
                    chars += c;
                    utf16 += u;
                }
                tree.nodes.push(node);
                for (slot, &(child, _, _)) in group.iter().enumerate() {
                    tree.set_parent(child, id, slot, leaf_children);
                }
                above.push((id, chars, utf16));
            }
            if above.len() == 1 {
                break above[0].0;
            }
            level = above;
            leaf_children = false;
        };
        tree.index = Index::from_sorted(
            index.map(|(replica, lamport, span)| (replica, lamport, (span / LEAF_FILL) as u32)),
        );
        tree
    }
}
