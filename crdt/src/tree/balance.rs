//! Balance: splitting full leaves and nodes, and carrying count changes up
//! to the root.

use alloc::boxed::Box;

use super::{LEAF_CAP, Leaf, NODE_CAP, NONE, Node, Span, Tree};

impl Tree {
    /// Moves the spans from `half` on into a new leaf placed after this one.
    pub(super) fn split_leaf(&mut self, leaf: u32, half: usize) -> u32 {
        let new_id = self.leaves.len() as u32;
        let old = &mut self.leaves[leaf as usize];
        let mut new = Box::new(Leaf {
            spans: [Span::default(); LEAF_CAP],
            len: (old.len as usize - half) as u8,
            slot: 0,
            parent: old.parent,
            next: old.next,
            chars: 0,
        });
        new.spans[..new.len as usize].copy_from_slice(&old.spans[half..old.len as usize]);
        old.len = half as u8;
        old.next = new_id;
        let (mut mc, mut mu) = (0u32, 0u32);
        let mut ranges = [(0u32, 0u64, 0u64); LEAF_CAP];
        for (r, s) in ranges.iter_mut().zip(&new.spans[..new.len as usize]) {
            let (c, u) = s.visible();
            mc += c;
            mu += u;
            *r = (s.replica, s.lamport, s.lamport + u64::from(s.len()));
        }
        self.index
            .set_ranges(&mut ranges[..new.len as usize], new_id);
        new.chars = mc;
        self.leaves[leaf as usize].chars -= mc;
        self.leaves.push(new);
        self.add_sibling(leaf, new_id, mc, mu, true);
        new_id
    }

    /// Inserts `new` after `existing` in their parent, moving `(chars, utf16)`
    /// of counts from `existing`'s slot to the new one. Splits full parents.
    pub(super) fn add_sibling(
        &mut self,
        existing: u32,
        new: u32,
        chars: u32,
        utf16: u32,
        leaf: bool,
    ) {
        let mut parent = self.parent_of(existing, leaf);
        if self.nodes[parent as usize].len as usize == NODE_CAP {
            self.split_node(parent);
            parent = self.parent_of(existing, leaf);
        }
        let slot = self.slot_of(existing, leaf);
        let node = &mut self.nodes[parent as usize];
        let len = node.len as usize;
        node.children.copy_within(slot + 1..len, slot + 2);
        node.chars.copy_within(slot + 1..len, slot + 2);
        node.utf16.copy_within(slot + 1..len, slot + 2);
        node.children[slot + 1] = new;
        node.chars[slot] -= chars;
        node.utf16[slot] -= utf16;
        node.chars[slot + 1] = chars;
        node.utf16[slot + 1] = utf16;
        node.len += 1;
        let moved = node.children;
        for (i, &child) in moved.iter().enumerate().take(len + 1).skip(slot + 1) {
            self.set_parent(child, parent, i, leaf);
        }
    }

    pub(super) fn split_node(&mut self, node: u32) {
        if node == self.root {
            let old = &self.nodes[node as usize];
            let (chars, utf16) = (
                old.chars[..old.len as usize].iter().sum(),
                old.utf16[..old.len as usize].iter().sum(),
            );
            let root = self.nodes.len() as u32;
            let mut children = [0; NODE_CAP];
            children[0] = node;
            let mut c = [0; NODE_CAP];
            c[0] = chars;
            let mut u = [0; NODE_CAP];
            u[0] = utf16;
            self.nodes.push(Node {
                children,
                chars: c,
                utf16: u,
                len: 1,
                slot: 0,
                parent: NONE,
                leaf_children: false,
            });
            self.set_parent(node, root, 0, false);
            self.root = root;
        }
        let new_id = self.nodes.len() as u32;
        let old = &mut self.nodes[node as usize];
        let half = old.len as usize / 2;
        let len = old.len as usize;
        let mut new = Node {
            children: [0; NODE_CAP],
            chars: [0; NODE_CAP],
            utf16: [0; NODE_CAP],
            len: (len - half) as u8,
            slot: 0,
            parent: old.parent,
            leaf_children: old.leaf_children,
        };
        new.children[..len - half].copy_from_slice(&old.children[half..len]);
        new.chars[..len - half].copy_from_slice(&old.chars[half..len]);
        new.utf16[..len - half].copy_from_slice(&old.utf16[half..len]);
        old.len = half as u8;
        let moved_chars = new.chars[..len - half].iter().sum();
        let moved_utf16 = new.utf16[..len - half].iter().sum();
        let leaf_children = new.leaf_children;
        let children = new.children;
        self.nodes.push(new);
        for (i, &child) in children[..len - half].iter().enumerate() {
            self.set_parent(child, new_id, i, leaf_children);
        }
        self.add_sibling(node, new_id, moved_chars, moved_utf16, false);
    }

    pub(super) fn parent_of(&self, child: u32, leaf: bool) -> u32 {
        if leaf {
            self.leaves[child as usize].parent
        } else {
            self.nodes[child as usize].parent
        }
    }

    pub(super) fn slot_of(&self, child: u32, leaf: bool) -> usize {
        if leaf {
            self.leaves[child as usize].slot as usize
        } else {
            self.nodes[child as usize].slot as usize
        }
    }

    pub(super) fn set_parent(&mut self, child: u32, parent: u32, slot: usize, leaf: bool) {
        if leaf {
            let l = &mut self.leaves[child as usize];
            (l.parent, l.slot) = (parent, slot as u8);
        } else {
            let n = &mut self.nodes[child as usize];
            (n.parent, n.slot) = (parent, slot as u8);
        }
    }

    /// Adds signed deltas to the counts on the path from `leaf` to the root.
    pub(super) fn add_counts(&mut self, leaf: u32, chars: i64, utf16: i64) {
        if chars == 0 && utf16 == 0 {
            return;
        }
        let l = &mut self.leaves[leaf as usize];
        l.chars = (i64::from(l.chars) + chars) as u32;
        if self.cache.get().0 != leaf {
            self.cache.set((NONE, 0));
        }
        let (mut parent, mut slot) = (l.parent, l.slot as usize);
        while parent != NONE {
            let node = &mut self.nodes[parent as usize];
            node.chars[slot] = (i64::from(node.chars[slot]) + chars) as u32;
            node.utf16[slot] = (i64::from(node.utf16[slot]) + utf16) as u32;
            (parent, slot) = (node.parent, node.slot as usize);
        }
    }
}
