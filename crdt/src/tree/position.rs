//! Positions: from a visible position (in characters or UTF-16 units) to a
//! character of the tree, and from a character back to its position.

use super::{Cursor, NONE, Node, Span, Tree};

impl Tree {
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
        let spans = &l.spans[..l.len as usize];
        if rest >= l.chars / 2 {
            // Nearer the leaf's end: count back from it, half the spans
            // on average.
            // `after` counts the visible characters from the one looked
            // for to the end.
            let mut after = l.chars - rest;
            for (idx, span) in spans.iter().enumerate().rev() {
                let (visible, _) = span.visible();
                if after <= visible {
                    return Cursor {
                        leaf,
                        idx,
                        offset: visible - after,
                    };
                }
                after -= visible;
            }
        } else {
            for (idx, span) in spans.iter().enumerate() {
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
        }
        unreachable!("counts in the tree agree with the leaves")
    }

    /// Walks down from the root to the leaf holding unit `pos` of the measure
    /// `count` and returns it with the units left to skip inside the leaf.
    pub(super) fn descend(&self, mut pos: u32, count: impl Fn(&Node, usize) -> u32) -> (u32, u32) {
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
    #[cfg(feature = "serde")]
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

    pub(super) fn chars_before_leaf(&self, leaf: u32) -> usize {
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
    pub(super) fn measure_before(
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
}
