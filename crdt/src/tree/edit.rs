//! Edits: placing inserted runs by the RGA rule, typing on, and marking
//! characters deleted, with the span bookkeeping each needs.

use smallvec::SmallVec;

use super::{Cursor, FIRST_LEAF, LEAF_CAP, Leaf, NONE, Span, Tree, remove_at};
use crate::id::sibling_cmp;

/// The pieces `(replica, lamport, len)` a delete marked in one leaf. A
/// concrete vector pushed one by one: a generic `Extend` of one-element
/// arrays cost a reservation check per piece.
pub(crate) type Pieces = SmallVec<[(u32, u64, u32); 8]>;

impl Tree {
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
                if c.offset + 1 < s.len() {
                    let next = (
                        s.lamport + u64::from(c.offset) + 1,
                        replicas[s.replica as usize],
                    );
                    if sibling_cmp(next, new_id).is_lt() {
                        let (left, right) = s.split(c.offset + 1, content);
                        let at = self.replace_span(c.leaf, c.idx, &[left, new, right]);
                        self.total += u64::from(new.len());
                        self.index.note_new(new.replica, new.lamport, at.leaf);
                        return Cursor {
                            leaf: at.leaf,
                            idx: at.idx + 1,
                            offset: new.len() - 1,
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
                offset: self.leaves[leaf as usize].spans[idx - 1].len() - 1,
            };
            if let Some(last) = self.extend_at(end, &new) {
                return last;
            }
        }
        self.total += u64::from(new.len());
        let at = self.insert_spans(leaf, idx, &[new]);
        self.index.note_new(new.replica, new.lamport, at.leaf);
        Cursor {
            leaf: at.leaf,
            idx: at.idx,
            offset: new.len() - 1,
        }
    }

    /// Appends `new` to the span whose last character is at `c` when it
    /// continues that span; returns the cursor at its last character.
    /// Inlined: returned through memory, the cursor's fields were written
    /// one by one and read back as one wide load, which stalls on every
    /// keystroke. (Not in the `.wasm`, which is sized for space.)
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    pub(crate) fn extend_at(&mut self, c: Cursor, new: &Span) -> Option<Cursor> {
        let span = &mut self.leaves[c.leaf as usize].spans[c.idx];
        if c.offset + 1 != span.len() || !span.joins(new) {
            return None;
        }
        span.absorb(new);
        let offset = span.len() - 1;
        self.total += u64::from(new.len());
        self.add_counts(c.leaf, i64::from(new.len()), i64::from(new.utf16()));
        self.index.note_new(new.replica, new.lamport, c.leaf);
        Some(Cursor { offset, ..c })
    }

    /// Marks up to `n` characters deleted, starting at `c` and staying inside
    /// its span. Returns how many characters the step covered.
    pub(crate) fn delete_at(&mut self, c: Cursor, n: u64, content: &str) -> u32 {
        let span = self.span(c);
        let take = (u64::from(span.len() - c.offset)).min(n) as u32;
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
        if take < rest.len() {
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
        self.join_leaf(at.leaf);
        take
    }

    /// Marks up to `n` visible characters deleted from `c` on, as far as its
    /// leaf goes, in one pass: spans wholly inside are marked in place, the
    /// first and the last are split, neighbours that continue each other are
    /// joined, and the counts up the tree change once. Pushes each deleted
    /// piece `(replica, lamport, len)` onto `pieces` in document order and
    /// returns the characters deleted; `None` when the leaf has no room for
    /// the two spans the splits add (the caller then goes span by span).
    pub(crate) fn delete_in_leaf(
        &mut self,
        c: Cursor,
        n: u64,
        content: &str,
        pieces: &mut Pieces,
    ) -> Option<u64> {
        let l = &mut self.leaves[c.leaf as usize];
        if l.len as usize + 2 > LEAF_CAP {
            return None;
        }
        let (mut idx, mut offset, mut left) = (c.idx, c.offset, n);
        let (mut chars, mut utf16) = (0u32, 0u32);
        while left > 0 && idx < l.len as usize {
            let span = l.spans[idx];
            if span.deleted {
                idx += 1;
                offset = 0;
                continue;
            }
            if offset > 0 {
                let (keep, rest) = span.split(offset, content);
                l.spans[idx] = keep;
                insert_at(l, idx + 1, rest);
                idx += 1;
                offset = 0;
                continue;
            }
            let take = u64::from(span.len()).min(left) as u32;
            let mut gone = span;
            if take < span.len() {
                let rest;
                (gone, rest) = span.split(take, content);
                insert_at(l, idx + 1, rest);
            }
            gone.deleted = true;
            l.spans[idx] = gone;
            pieces.push((span.replica, span.lamport, take));
            chars += take;
            utf16 += gone.utf16();
            left -= u64::from(take);
            idx += 1;
        }
        // Join what the deletion made continuous, from the span before the
        // first one touched to the one after the last.
        let mut at = c.idx.saturating_sub(1);
        let mut end = (idx + 1).min(l.len as usize);
        while at + 1 < end {
            if l.spans[at].joins(&l.spans[at + 1]) {
                let next = l.spans[at + 1];
                l.spans[at].absorb(&next);
                remove_at(l, at + 1);
                end -= 1;
            } else {
                at += 1;
            }
        }
        self.add_counts(c.leaf, -i64::from(chars), -i64::from(utf16));
        self.join_leaf(c.leaf);
        Some(n - left)
    }

    /// Deletes `take` characters at the start or end of a span by moving them
    /// into the deleted neighbour they continue: a backspace at the end of a
    /// run typed forwards. Changes nothing and returns false otherwise.
    pub(super) fn delete_into_neighbour(&mut self, c: Cursor, take: u32, content: &str) -> bool {
        let l = &mut self.leaves[c.leaf as usize];
        let span = l.spans[c.idx];
        let suffix = c.offset + take == span.len();
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
            (mid.len(), mid.utf16())
        } else if c.offset == 0 && !suffix && c.idx > 0 {
            let (mut mid, right) = span.split(take, content);
            mid.deleted = true;
            let prev = &mut l.spans[c.idx - 1];
            if !prev.joins(&mid) {
                return false;
            }
            prev.absorb(&mid);
            l.spans[c.idx] = right;
            (mid.len(), mid.utf16())
        } else {
            return false;
        };
        self.add_counts(c.leaf, -i64::from(moved), -i64::from(utf16));
        true
    }

    /// Joins the span at `idx` with its neighbours in the same leaf when they
    /// continue each other, so repeated deletes do not fragment the tree.
    pub(super) fn merge_around(&mut self, leaf: u32, mut idx: usize) {
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
    pub(super) fn replace_span(&mut self, leaf: u32, idx: usize, pieces: &[Span]) -> Cursor {
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
    pub(super) fn insert_spans(&mut self, mut leaf: u32, mut idx: usize, spans: &[Span]) -> Cursor {
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
                    .set(s.replica, s.lamport, s.lamport + u64::from(s.len()), leaf);
            }
        }
        self.add_counts(leaf, dc, du);
        Cursor {
            leaf,
            idx,
            offset: 0,
        }
    }
}

/// Inserts `span` at `idx` of a leaf that has room for it.
fn insert_at(l: &mut Leaf, idx: usize, span: Span) {
    let len = l.len as usize;
    l.spans.copy_within(idx..len, idx + 1);
    l.spans[idx] = span;
    l.len += 1;
}
