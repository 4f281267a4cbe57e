//! Balance: splitting full leaves and nodes, and carrying count changes up
//! to the root.

use alloc::boxed::Box;

use super::{LEAF_CAP, Leaf, NODE_CAP, NONE, Node, Span, Tree};

/// A leaf that deletes leave under this many spans is joined with a
/// neighbour...
const JOIN_BELOW: usize = LEAF_CAP / 2;
/// ...when the two fit in this many, leaving room for the spans an edit's
/// split pieces add before the leaf splits again.
const JOIN_UPTO: usize = LEAF_CAP - 8;

impl Tree {
    /// Moves the spans from `half` on into a new leaf placed after this one.
    pub(super) fn split_leaf(&mut self, leaf: u32, half: usize) -> u32 {
        let new_id = self.free.pop().unwrap_or(self.leaves.len() as u32);
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
        for s in &new.spans[..new.len as usize] {
            let (c, u) = s.visible();
            mc += c;
            mu += u;
        }
        self.point_index(&new.spans[..new.len as usize], new_id);
        new.chars = mc;
        self.leaves[leaf as usize].chars -= mc;
        match self.leaves.get_mut(new_id as usize) {
            Some(free) => *free = new,
            None => self.leaves.push(new),
        }
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

    /// Points the index at `leaf` for every character of `spans`, sorted
    /// and joined into as few ranges as they make ([`Index::set_ranges`]).
    fn point_index(&mut self, spans: &[Span], leaf: u32) {
        let mut ranges = [(0u32, 0u64, 0u64); LEAF_CAP];
        for (r, s) in ranges.iter_mut().zip(spans) {
            *r = (s.replica, s.lamport, s.lamport + u64::from(s.len()));
        }
        self.index.set_ranges(&mut ranges[..spans.len()], leaf);
    }

    /// Joins `leaf` with a neighbour under the same parent when deletes have
    /// left it under-full and the two fit in one leaf with room to spare.
    /// Deletes join spans and nothing splits them again, so without this the
    /// leaves of a long-edited document stay about half empty. Cursors into
    /// either leaf are stale afterwards.
    pub(super) fn join_leaf(&mut self, leaf: u32) {
        let l = &self.leaves[leaf as usize];
        let len = l.len as usize;
        if len >= JOIN_BELOW {
            return;
        }
        let node = &self.nodes[l.parent as usize];
        let slot = l.slot as usize;
        let fits = |other: u32| len + self.leaves[other as usize].len as usize <= JOIN_UPTO;
        if slot + 1 < node.len as usize && fits(node.children[slot + 1]) {
            self.absorb_next(leaf);
        } else if slot > 0 && fits(node.children[slot - 1]) {
            self.absorb_next(node.children[slot - 1]);
        }
    }

    /// Moves the spans of the leaf after `leaf` under the same parent into
    /// `leaf` and frees it. The left one stays, so leaf 0 stays first.
    fn absorb_next(&mut self, leaf: u32) {
        let l = &self.leaves[leaf as usize];
        let (parent, slot) = (l.parent, l.slot as usize);
        let next = self.nodes[parent as usize].children[slot + 1];
        let n = &self.leaves[next as usize];
        let (spans, len, chars, after) = (n.spans, n.len as usize, n.chars, n.next);
        let l = &mut self.leaves[leaf as usize];
        let at = l.len as usize;
        // The spans at the seam may continue each other: a delete that ran
        // across it joins them here.
        let skip = usize::from(at > 0 && l.spans[at - 1].joins(&spans[0]));
        if skip == 1 {
            l.spans[at - 1].absorb(&spans[0]);
        }
        l.spans[at..at + len - skip].copy_from_slice(&spans[skip..len]);
        l.len += (len - skip) as u8;
        l.chars += chars;
        l.next = after;
        self.point_index(&spans[..len], leaf);
        let node = &mut self.nodes[parent as usize];
        let count = node.len as usize;
        node.chars[slot] += node.chars[slot + 1];
        node.utf16[slot] += node.utf16[slot + 1];
        node.children.copy_within(slot + 2..count, slot + 1);
        node.chars.copy_within(slot + 2..count, slot + 1);
        node.utf16.copy_within(slot + 2..count, slot + 1);
        node.len -= 1;
        let moved = node.children;
        for (i, &child) in moved.iter().enumerate().take(count - 1).skip(slot + 1) {
            self.set_parent(child, parent, i, true);
        }
        self.free_leaf(next);
        self.cache.set((NONE, 0));
    }

    /// Keeps leaf `gone`, no longer in the tree, for the next split. Empty,
    /// it holds no character the index might still send a lookup to.
    fn free_leaf(&mut self, gone: u32) {
        let l = &mut self.leaves[gone as usize];
        (l.len, l.chars, l.next) = (0, 0, NONE);
        self.free.push(gone);
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

#[cfg(test)]
mod tests {
    use alloc::string::String;

    use super::super::{MAX_SPAN, Span, Tree};

    /// Deletes the character at visible position `pos`, checking the tree.
    fn delete(tree: &mut Tree, pos: usize, content: &str) {
        let c = tree.find_char(pos);
        assert_eq!(tree.delete_at(c, 1, content), 1);
        tree.check().unwrap();
    }

    #[test]
    fn leaves_emptied_by_deletes_are_joined_and_freed() {
        let n = MAX_SPAN as usize;
        let content: String = (0..n).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let mut tree = Tree::default();
        let span = Span::new(0, 0, 0, (n as u32, n as u32, n as u32), false);
        tree.integrate(None, span, (0, 1), &[1], &content);
        // Every other character deleted: a span per character, many leaves.
        for pos in 0..n / 2 {
            delete(&mut tree, pos + 1, &content);
        }
        let fragmented = tree.leaves.len();
        assert!(fragmented > n / 32, "{fragmented} leaves");
        // The rest deleted from the end: spans join, leaves empty and merge.
        for pos in (0..n / 2).rev() {
            delete(&mut tree, pos, &content);
        }
        assert_eq!(tree.len_chars(), 0);
        // Leaves join only under one parent: one span is left per leaf.
        let leaves = tree.leaves.len() - tree.free.len();
        assert!(leaves < fragmented / 4, "{leaves} of {fragmented} leaves");
        assert_eq!(tree.spans().count(), leaves);
    }
}
