//! The sequence tree: every character ever inserted, in document order, as
//! run-length spans in a B-tree counted by visible characters and UTF-16 units.
//!
//! Leaves hold up to [`LEAF_CAP`] spans; internal nodes hold up to
//! [`NODE_CAP`] children and, per child, the visible characters and UTF-16
//! units below it. Finding a position descends from the root; finding an id
//! asks the [`Index`] for the leaf and scans it. Both are O(log n). Nodes live
//! in arenas and point at their parents, so a change in a leaf walks up to
//! fix the counts without a search.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::Cell;

use crate::id::sibling_cmp;
use crate::index::Index;

const LEAF_CAP: usize = 32;
const NODE_CAP: usize = 16;
const NONE: u32 = u32::MAX;
/// Leaf 0 is always the leftmost leaf: splits move the upper half away.
const FIRST_LEAF: u32 = 0;

/// The longest span kept. Work inside one span (splitting it, converting a
/// UTF-16 offset in it) is linear in its length, so capping it keeps every
/// operation O(log n) even after a megabyte paste.
pub(crate) const MAX_SPAN: u32 = 4096;

/// A run of characters from one replica with consecutive lamports, adjacent in
/// the document, all deleted or all visible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub lamport: u64,
    /// Index into the document's replica table, not the replica id itself.
    pub replica: u32,
    pub len: u32,
    /// Byte offset of the first character in the document's UTF-8 content arena.
    pub content: u32,
    pub bytes: u32,
    pub utf16: u32,
    pub deleted: bool,
}

impl Span {
    fn visible(&self) -> (u32, u32) {
        if self.deleted {
            (0, 0)
        } else {
            (self.len, self.utf16)
        }
    }

    fn text<'a>(&self, content: &'a str) -> &'a str {
        &content[self.content as usize..(self.content + self.bytes) as usize]
    }

    /// Bytes and UTF-16 units of the span's first `k` characters.
    fn prefix(&self, k: u32, content: &str) -> (u32, u32) {
        if self.bytes == self.len {
            return (k, k);
        }
        self.text(content)
            .chars()
            .take(k as usize)
            .fold((0, 0), |(b, u), c| {
                (b + c.len_utf8() as u32, u + c.len_utf16() as u32)
            })
    }

    /// The span's first `k` characters and the rest.
    fn split(&self, k: u32, content: &str) -> (Span, Span) {
        let (bytes, utf16) = self.prefix(k, content);
        let left = Span {
            len: k,
            bytes,
            utf16,
            ..*self
        };
        let right = Span {
            lamport: self.lamport + u64::from(k),
            len: self.len - k,
            content: self.content + bytes,
            bytes: self.bytes - bytes,
            utf16: self.utf16 - utf16,
            ..*self
        };
        (left, right)
    }

    /// Appends `next`, which [`Span::joins`] this span.
    fn absorb(&mut self, next: &Span) {
        self.len += next.len;
        self.bytes += next.bytes;
        self.utf16 += next.utf16;
    }

    /// Adds this span at the end of `spans`, joined to the last one when it
    /// continues it.
    pub(crate) fn push_onto(self, spans: &mut Vec<Span>) {
        match spans.last_mut() {
            Some(last) if last.joins(&self) => last.absorb(&self),
            _ => spans.push(self),
        }
    }

    /// Whether `next`, placed right after this span, can join it.
    fn joins(&self, next: &Span) -> bool {
        self.replica == next.replica
            && self.deleted == next.deleted
            && self.lamport + u64::from(self.len) == next.lamport
            && self.content + self.bytes == next.content
            && self.len + next.len <= MAX_SPAN
    }
}

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
            root: 0,
            index: Index::default(),
            total: 0,
            cache: Cell::new((NONE, 0)),
        }
    }
}

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
                tree.total += u64::from(s.len);
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

    /// The visible character at `pos` (which must be below `len_chars`).
    pub(crate) fn find_char(&self, pos: usize) -> Cursor {
        let pos = pos as u32;
        let (cached, start) = self.cache.get();
        let (leaf, mut rest) =
            if cached != NONE && start <= pos && pos - start < self.leaves[cached as usize].chars {
                (cached, pos - start)
            } else {
                let (leaf, rest) = self.descend(pos, |n, i| n.chars[i]);
                self.cache.set((leaf, pos - rest));
                (leaf, rest)
            };
        let l = &self.leaves[leaf as usize];
        for (idx, span) in l.spans[..l.len as usize].iter().enumerate() {
            let (visible, _) = span.visible();
            if rest < visible {
                return Cursor {
                    leaf,
                    idx,
                    offset: rest,
                };
            }
            rest -= visible;
        }
        unreachable!("counts in the tree agree with the leaves")
    }

    /// Walks down from the root to the leaf holding unit `pos` of the measure
    /// `count` and returns it with the units left to skip inside the leaf.
    fn descend(&self, mut pos: u32, count: impl Fn(&Node, usize) -> u32) -> (u32, u32) {
        let mut node = &self.nodes[self.root as usize];
        loop {
            let last = node.len as usize - 1;
            let mut slot = last;
            for i in 0..last {
                let c = count(node, i);
                if pos < c {
                    slot = i;
                    break;
                }
                pos -= c;
            }
            let child = node.children[slot];
            if node.leaf_children {
                return (child, pos);
            }
            node = &self.nodes[child as usize];
        }
    }

    /// Converts a UTF-16 offset to a character position.
    pub(crate) fn utf16_to_char(&self, offset: usize, content: &str) -> Result<usize, ()> {
        if offset == self.len_utf16() {
            return Ok(self.len_chars());
        }
        let (leaf, mut rest) = self.descend(offset as u32, |n, i| n.utf16[i]);
        let mut chars = self.chars_before_leaf(leaf);
        let l = &self.leaves[leaf as usize];
        for span in &l.spans[..l.len as usize] {
            let (visible, units) = span.visible();
            if rest >= units {
                rest -= units;
                chars += visible as usize;
                continue;
            }
            for c in span.text(content).chars() {
                if rest == 0 {
                    return Ok(chars);
                }
                let w = c.len_utf16() as u32;
                if rest < w {
                    return Err(());
                }
                rest -= w;
                chars += 1;
            }
        }
        unreachable!("counts in the tree agree with the leaves")
    }

    /// Converts a character position (at most `len_chars`) to a UTF-16 offset.
    pub(crate) fn char_to_utf16(&self, pos: usize, content: &str) -> usize {
        if pos == self.len_chars() {
            return self.len_utf16();
        }
        let c = self.find_char(pos);
        let before = self.measure_before(c, |s| s.visible().1, |n, i| n.utf16[i]);
        before + self.span(c).prefix(c.offset, content).1 as usize
    }

    /// Visible characters before the character at `c` (its position when it
    /// is visible, the position it would have when it is deleted).
    pub(crate) fn position_of(&self, c: Cursor) -> usize {
        let span = self.span(c);
        let inside = if span.deleted { 0 } else { c.offset };
        self.measure_before(c, |s| s.visible().0, |n, i| n.chars[i]) + inside as usize
    }

    /// [`Tree::position_of`] and the same position in UTF-16 units, without
    /// the descent from the root that [`Tree::char_to_utf16`] makes.
    pub(crate) fn offsets_of(&self, c: Cursor, content: &str) -> (usize, usize) {
        let span = self.span(c);
        let inside = if span.deleted {
            0
        } else {
            span.prefix(c.offset, content).1
        };
        let utf16 = self.measure_before(c, |s| s.visible().1, |n, i| n.utf16[i]);
        (self.position_of(c), utf16 + inside as usize)
    }

    fn chars_before_leaf(&self, leaf: u32) -> usize {
        self.measure_before(
            Cursor {
                leaf,
                idx: 0,
                offset: 0,
            },
            |s| s.visible().0,
            |n, i| n.chars[i],
        )
    }

    /// Sums a measure over every span before span `c.idx` of `c.leaf`.
    fn measure_before(
        &self,
        c: Cursor,
        span_count: impl Fn(&Span) -> u32,
        node_count: impl Fn(&Node, usize) -> u32,
    ) -> usize {
        let leaf = &self.leaves[c.leaf as usize];
        let mut sum: usize = leaf.spans[..c.idx]
            .iter()
            .map(|s| span_count(s) as usize)
            .sum();
        let (mut parent, mut slot) = (leaf.parent, leaf.slot as usize);
        while parent != NONE {
            let node = &self.nodes[parent as usize];
            sum += (0..slot)
                .map(|i| node_count(node, i) as usize)
                .sum::<usize>();
            (parent, slot) = (node.parent, node.slot as usize);
        }
        sum
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
                    && lamport < s.lamport + u64::from(s.len)
            })
            .map(|idx| Cursor {
                leaf,
                idx,
                offset: (lamport - l.spans[idx].lamport) as u32,
            })
    }

    /// Places the run `new` (at most [`MAX_SPAN`] characters, with id
    /// `new_id`) after the character at `after`, or at the document start when
    /// `after` is `None`, following the RGA rule: skip every item with a larger
    /// id, stop at the first smaller one. Returns the run's last character.
    pub(crate) fn integrate(
        &mut self,
        after: Option<Cursor>,
        new: Span,
        new_id: (u64, u64),
        replicas: &[u64],
        content: &str,
    ) -> Cursor {
        let id_of = |s: &Span| (s.lamport, replicas[s.replica as usize]);
        let (mut leaf, mut idx) = match after {
            None => (FIRST_LEAF, 0),
            Some(c) => {
                let s = self.span(c);
                if c.offset + 1 < s.len {
                    let next = (
                        s.lamport + u64::from(c.offset) + 1,
                        replicas[s.replica as usize],
                    );
                    if sibling_cmp(next, new_id).is_lt() {
                        let (left, right) = s.split(c.offset + 1, content);
                        let at = self.replace_span(c.leaf, c.idx, &[left, new, right]);
                        self.total += u64::from(new.len);
                        self.index.note_new(new.replica, new.lamport, at.leaf);
                        return Cursor {
                            leaf: at.leaf,
                            idx: at.idx + 1,
                            offset: new.len - 1,
                        };
                    }
                }
                (c.leaf, c.idx + 1)
            }
        };
        loop {
            let l = &self.leaves[leaf as usize];
            while idx < l.len as usize && sibling_cmp(id_of(&l.spans[idx]), new_id).is_gt() {
                idx += 1;
            }
            if idx < l.len as usize || l.next == NONE {
                break;
            }
            let next = &self.leaves[l.next as usize];
            if next.len > 0 && sibling_cmp(id_of(&next.spans[0]), new_id).is_lt() {
                break;
            }
            leaf = l.next;
            idx = 0;
        }
        if idx > 0 {
            let end = Cursor {
                leaf,
                idx: idx - 1,
                offset: self.leaves[leaf as usize].spans[idx - 1].len - 1,
            };
            if let Some(last) = self.extend_at(end, &new) {
                return last;
            }
        }
        self.total += u64::from(new.len);
        let at = self.insert_spans(leaf, idx, &[new]);
        self.index.note_new(new.replica, new.lamport, at.leaf);
        Cursor {
            leaf: at.leaf,
            idx: at.idx,
            offset: new.len - 1,
        }
    }

    /// Appends `new` to the span whose last character is at `c` when it
    /// continues that span; returns the cursor at its last character.
    pub(crate) fn extend_at(&mut self, c: Cursor, new: &Span) -> Option<Cursor> {
        let span = &mut self.leaves[c.leaf as usize].spans[c.idx];
        if c.offset + 1 != span.len || !span.joins(new) {
            return None;
        }
        span.absorb(new);
        let offset = span.len - 1;
        self.total += u64::from(new.len);
        self.add_counts(c.leaf, i64::from(new.len), i64::from(new.utf16));
        self.index.note_new(new.replica, new.lamport, c.leaf);
        Some(Cursor { offset, ..c })
    }

    /// Marks up to `n` characters deleted, starting at `c` and staying inside
    /// its span. Returns how many characters the step covered.
    pub(crate) fn delete_at(&mut self, c: Cursor, n: u64, content: &str) -> u32 {
        let span = self.span(c);
        let take = (u64::from(span.len - c.offset)).min(n) as u32;
        if span.deleted {
            return take;
        }
        if self.delete_into_neighbour(c, take, content) {
            return take;
        }
        let mut pieces = [Span::default(); 3];
        let mut count = 0;
        let mut rest = span;
        if c.offset > 0 {
            let (left, right) = rest.split(c.offset, content);
            pieces[count] = left;
            count += 1;
            rest = right;
        }
        let mid_at = count;
        if take < rest.len {
            let (mid, right) = rest.split(take, content);
            pieces[count] = mid;
            pieces[count + 1] = right;
            count += 2;
        } else {
            pieces[count] = rest;
            count += 1;
        }
        pieces[mid_at].deleted = true;
        let at = self.replace_span(c.leaf, c.idx, &pieces[..count]);
        self.merge_around(at.leaf, at.idx + mid_at);
        take
    }

    /// Deletes `take` characters at the start or end of a span by moving them
    /// into the deleted neighbour they continue: a backspace at the end of a
    /// run typed forwards. Changes nothing and returns false otherwise.
    fn delete_into_neighbour(&mut self, c: Cursor, take: u32, content: &str) -> bool {
        let l = &mut self.leaves[c.leaf as usize];
        let span = l.spans[c.idx];
        let suffix = c.offset + take == span.len;
        let (moved, utf16) = if suffix && c.offset > 0 && c.idx + 1 < l.len as usize {
            let (left, mut mid) = span.split(c.offset, content);
            mid.deleted = true;
            let next = &mut l.spans[c.idx + 1];
            if !mid.joins(next) {
                return false;
            }
            next.lamport = mid.lamport;
            next.content = mid.content;
            next.len += mid.len;
            next.bytes += mid.bytes;
            next.utf16 += mid.utf16;
            l.spans[c.idx] = left;
            (mid.len, mid.utf16)
        } else if c.offset == 0 && !suffix && c.idx > 0 {
            let (mut mid, right) = span.split(take, content);
            mid.deleted = true;
            let prev = &mut l.spans[c.idx - 1];
            if !prev.joins(&mid) {
                return false;
            }
            prev.absorb(&mid);
            l.spans[c.idx] = right;
            (mid.len, mid.utf16)
        } else {
            return false;
        };
        self.add_counts(c.leaf, -i64::from(moved), -i64::from(utf16));
        true
    }

    /// Joins the span at `idx` with its neighbours in the same leaf when they
    /// continue each other, so repeated deletes do not fragment the tree.
    fn merge_around(&mut self, leaf: u32, mut idx: usize) {
        let l = &mut self.leaves[leaf as usize];
        if idx > 0 && l.spans[idx - 1].joins(&l.spans[idx]) {
            let s = l.spans[idx];
            l.spans[idx - 1].absorb(&s);
            remove_at(l, idx);
            idx -= 1;
        }
        if idx + 1 < l.len as usize && l.spans[idx].joins(&l.spans[idx + 1]) {
            let s = l.spans[idx + 1];
            l.spans[idx].absorb(&s);
            remove_at(l, idx + 1);
        }
    }

    /// Replaces span `idx` of `leaf` with `pieces`, fixing the counts for any
    /// change of visibility, and returns where `pieces[0]` ended up. All
    /// pieces stay in one leaf: a split puts `idx` and `idx + 1` on one side.
    fn replace_span(&mut self, leaf: u32, idx: usize, pieces: &[Span]) -> Cursor {
        let old = self.leaves[leaf as usize].spans[idx];
        self.leaves[leaf as usize].spans[idx] = pieces[0];
        let (oc, ou) = old.visible();
        let (nc, nu) = pieces[0].visible();
        self.add_counts(
            leaf,
            i64::from(nc) - i64::from(oc),
            i64::from(nu) - i64::from(ou),
        );
        if pieces.len() == 1 {
            return Cursor {
                leaf,
                idx,
                offset: 0,
            };
        }
        let at = self.insert_spans(leaf, idx + 1, &pieces[1..]);
        Cursor {
            leaf: at.leaf,
            idx: at.idx - 1,
            offset: 0,
        }
    }

    /// Inserts spans at `idx` of `leaf`, splitting the leaf when full, and
    /// returns where `spans[0]` ended up; all of `spans` stay contiguous.
    fn insert_spans(&mut self, mut leaf: u32, mut idx: usize, spans: &[Span]) -> Cursor {
        let mut moved = false;
        let len = self.leaves[leaf as usize].len as usize;
        if len + spans.len() > LEAF_CAP {
            // Split at the insertion point when it lies in the upper half:
            // every span moved costs an index update, and the spans before
            // the point stay put. The old leaf keeps room for the up to three
            // spans a split piece adds.
            let at = if idx > len / 2 {
                idx.min(LEAF_CAP - 4)
            } else {
                len / 2
            };
            let new_leaf = self.split_leaf(leaf, at);
            if idx > at {
                leaf = new_leaf;
                idx -= at;
                moved = true;
            }
        }
        let l = &mut self.leaves[leaf as usize];
        let len = l.len as usize;
        l.spans.copy_within(idx..len, idx + spans.len());
        l.spans[idx..idx + spans.len()].copy_from_slice(spans);
        l.len += spans.len() as u8;
        let (mut dc, mut du) = (0i64, 0i64);
        for s in spans {
            let (c, u) = s.visible();
            dc += i64::from(c);
            du += i64::from(u);
            if moved {
                // The index still sends these characters to the leaf they
                // were in before the split (new ones are noted by the caller).
                self.index
                    .set(s.replica, s.lamport, s.lamport + u64::from(s.len), leaf);
            }
        }
        self.add_counts(leaf, dc, du);
        Cursor {
            leaf,
            idx,
            offset: 0,
        }
    }

    /// Moves the spans from `half` on into a new leaf placed after this one.
    fn split_leaf(&mut self, leaf: u32, half: usize) -> u32 {
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
        // Spans cut apart by deletes have adjacent lamports: sorting the
        // moved ranges and joining neighbours turns most of a split's index
        // updates into one.
        let mut ranges = [(0u32, 0u64, 0u64); LEAF_CAP];
        for (r, s) in ranges.iter_mut().zip(&new.spans[..new.len as usize]) {
            let (c, u) = s.visible();
            mc += c;
            mu += u;
            *r = (s.replica, s.lamport, s.lamport + u64::from(s.len));
        }
        let ranges = &mut ranges[..new.len as usize];
        ranges.sort_unstable();
        let mut current = ranges[0];
        for &(replica, start, end) in &ranges[1..] {
            if replica == current.0 && start == current.2 {
                current.2 = end;
            } else {
                self.index.set(current.0, current.1, current.2, new_id);
                current = (replica, start, end);
            }
        }
        self.index.set(current.0, current.1, current.2, new_id);
        new.chars = mc;
        self.leaves[leaf as usize].chars -= mc;
        self.leaves.push(new);
        self.add_sibling(leaf, new_id, mc, mu, true);
        new_id
    }

    /// Inserts `new` after `existing` in their parent, moving `(chars, utf16)`
    /// of counts from `existing`'s slot to the new one. Splits full parents.
    fn add_sibling(&mut self, existing: u32, new: u32, chars: u32, utf16: u32, leaf: bool) {
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

    fn split_node(&mut self, node: u32) {
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

    fn parent_of(&self, child: u32, leaf: bool) -> u32 {
        if leaf {
            self.leaves[child as usize].parent
        } else {
            self.nodes[child as usize].parent
        }
    }

    fn slot_of(&self, child: u32, leaf: bool) -> usize {
        if leaf {
            self.leaves[child as usize].slot as usize
        } else {
            self.nodes[child as usize].slot as usize
        }
    }

    fn set_parent(&mut self, child: u32, parent: u32, slot: usize, leaf: bool) {
        if leaf {
            let l = &mut self.leaves[child as usize];
            (l.parent, l.slot) = (parent, slot as u8);
        } else {
            let n = &mut self.nodes[child as usize];
            (n.parent, n.slot) = (parent, slot as u8);
        }
    }

    /// Adds signed deltas to the counts on the path from `leaf` to the root.
    fn add_counts(&mut self, leaf: u32, chars: i64, utf16: i64) {
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

    /// Checks every structural invariant; tests call it after each step.
    #[cfg(any(test, feature = "std"))]
    pub(crate) fn check(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let mut in_order = Vec::new();
        self.check_node(self.root, NONE, &mut in_order)?;
        let mut leaf = FIRST_LEAF;
        let mut chained = Vec::new();
        while leaf != NONE {
            chained.push(leaf);
            leaf = self.leaves[leaf as usize].next;
        }
        if chained != in_order {
            return Err(format!("leaf chain {chained:?} != tree order {in_order:?}"));
        }
        let mut total = 0u64;
        for &leaf in &in_order {
            let l = &self.leaves[leaf as usize];
            for (i, s) in l.spans[..l.len as usize].iter().enumerate() {
                total += u64::from(s.len);
                if s.len == 0 || s.len > MAX_SPAN {
                    return Err(format!("span of bad length {s:?}"));
                }
                for probe in [s.lamport, s.lamport + u64::from(s.len) - 1] {
                    let found = self.locate(s.replica, probe);
                    if found.map(|c| (c.leaf, c.idx)) != Some((leaf, i)) {
                        return Err(format!("index sends {}@{probe} to {found:?}", s.replica));
                    }
                }
            }
        }
        if total != self.total {
            return Err(format!("total {total} != stored {}", self.total));
        }
        Ok(())
    }

    #[cfg(any(test, feature = "std"))]
    fn check_node(
        &self,
        node: u32,
        parent: u32,
        leaves: &mut Vec<u32>,
    ) -> Result<(u32, u32), alloc::string::String> {
        use alloc::format;
        let n = &self.nodes[node as usize];
        if n.parent != parent {
            return Err(format!("node {node} has parent {} not {parent}", n.parent));
        }
        let (mut chars, mut utf16) = (0, 0);
        for i in 0..n.len as usize {
            let child = n.children[i];
            let (c, u) = if n.leaf_children {
                let l = &self.leaves[child as usize];
                if l.slot as usize != i {
                    return Err(format!("leaf {child} thinks it is slot {} not {i}", l.slot));
                }
                if l.parent != node {
                    return Err(format!("leaf {child} has parent {} not {node}", l.parent));
                }
                leaves.push(child);
                let sums = l.spans[..l.len as usize]
                    .iter()
                    .fold((0, 0), |(c, u), s| (c + s.visible().0, u + s.visible().1));
                if sums.0 != l.chars {
                    return Err(format!(
                        "leaf {child} counts {} chars, holds {}",
                        l.chars, sums.0
                    ));
                }
                sums
            } else {
                if self.nodes[child as usize].slot as usize != i {
                    return Err(format!("node {child} is not in slot {i}"));
                }
                self.check_node(child, node, leaves)?
            };
            if (c, u) != (n.chars[i], n.utf16[i]) {
                return Err(format!(
                    "node {node} slot {i} counts {:?} but holds {:?}",
                    (n.chars[i], n.utf16[i]),
                    (c, u)
                ));
            }
            chars += c;
            utf16 += u;
        }
        Ok((chars, utf16))
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
