//! Loading a complete history in one pass instead of integrating its
//! operations one by one.
//!
//! Integrated in causal order, RGA puts every character right after its
//! parent, before the parent's older children. The document is therefore the
//! depth-first walk of the insertion tree with each node's children taken in
//! descending id order: a canonical snapshot (sorted by `(lamport,
//! replica_id)`, so every parent and target comes first) can be laid out
//! without a single search in the sequence tree, and the tree built bottom-up.
//!
//! Anything this path does not expect (an unsorted or incomplete history, an
//! invalid operation) makes it give up; the caller then integrates the
//! operations one by one, which names the exact error.

use alloc::vec::Vec;
use core::borrow::Borrow;

use super::{Doc, MAX_DOC_CHARS};
use crate::op::{Body, Op, Raw};
use crate::oplog::Run;
use crate::tree::{MAX_SPAN, Span, Tree};

mod inserts;
use inserts::{Hint, Inserts};

const ROOT: u32 = u32::MAX;

/// Where the one-pass layout reads operations from: a snapshot's columns,
/// or operations already in memory. Each operation borrows from the source
/// until the next is read, so the columns need not copy any text.
pub(crate) trait Source {
    fn next_raw(&mut self) -> Option<Raw<'_>>;

    /// Whether [`Source::take_text`] will hand over the text of every
    /// insert, concatenated in order: then the layout copies none of it.
    fn holds_text(&self) -> bool {
        false
    }

    /// That text, once every insert has been read; `None` before.
    fn take_text(&mut self) -> Option<alloc::string::String> {
        None
    }
}

/// The source as [`Doc::load_sorted`] takes it: natively the type itself,
/// so that reading an operation is inlined into the loop (through a
/// `dyn Source`, each operation is written to memory and read back); in
/// the `.wasm`, sized for space, one copy of the loop for every source.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn source<S: Source>(source: &mut S) -> &mut S {
    source
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn source<S: Source>(source: &mut S) -> &mut dyn Source {
    source
}

/// Operations in memory (`Op`s, or references to them) as a [`Source`].
pub(crate) struct Each<'a, T>(pub core::slice::Iter<'a, T>);

impl<T: Borrow<Op>> Source for Each<'_, T> {
    #[cfg_attr(not(target_arch = "wasm32"), inline(always))]
    fn next_raw(&mut self) -> Option<Raw<'_>> {
        self.0.next().map(|op| Raw::of(op.borrow()))
    }
}

/// One insert operation: a chain of characters, each the parent of the next.
struct Chain {
    replica: u32,
    lamport: u64,
    len: u32,
    /// Where its text starts in the content arena.
    content: u32,
    ascii: bool,
}

/// An insert whose first character is a child of a character:
/// `(parent chain, offset in it, u32::MAX - chain)`, the parent being
/// [`ROOT`] for the document start. Chains are numbered in snapshot order,
/// which is id order, so the last field puts larger ids first, as RGA does.
/// A plain tuple so that sorting shares the code the tree already has.
type Child = Item;

/// Deleted characters `(chain, first offset, end offset)`.
type Deleted = Item;

/// What [`Groups`] sorts: three 32-bit fields (chains, offsets in a chain
/// and spans all fit, the document being under [`MAX_DOC_CHARS`]), half the
/// bytes to move of 64-bit ones.
type Item = (u32, u32, u32);

fn chain_of(kid: &Child) -> u32 {
    u32::MAX - kid.2
}

enum Frame {
    /// Lay out `chain` from character `from` (at byte `byte` of its text);
    /// `kid` is its first child at or after `from`.
    Chain {
        chain: u32,
        from: u32,
        byte: u32,
        kid: usize,
    },
    /// Lay out the children `next..end`, each with its whole subtree.
    Kids { next: usize, end: usize },
}

/// Items grouped by their first field (a chain, or [`ROOT`] last), with
/// where each group starts.
struct Groups {
    items: Vec<Item>,
    /// 32-bit, as the items are counted in [`Doc::load_sorted`]: half the
    /// bytes of a table read at random.
    first: Vec<u32>,
}

impl Groups {
    /// A counting sort by chain, keeping the order within a group unless
    /// `sort` asks for each group sorted (nearly all hold one item).
    fn new(items: &[Item], chains: usize, sort: bool) -> Groups {
        let group = |item: &Item| item.0.min(chains as u32) as usize;
        // Counted one place further up than the starts, `first[g + 1]`
        // starts as group `g`'s start and serves as its write position,
        // which leaves it at the group's end, the next group's start: the
        // starts without a copy of them to move.
        let mut first = alloc::vec![0u32; chains + 3];
        for item in items {
            first[group(item) + 2] += 1;
        }
        // The running sum in a register: adding each entry to the one
        // just stored would wait on that store, entry after entry.
        let mut sum = 0;
        for count in &mut first[2..] {
            sum += *count;
            *count = sum;
        }
        let mut out = alloc::vec![(0, 0, 0); items.len()];
        for item in items {
            let at = &mut first[group(item) + 1];
            out[*at as usize] = *item;
            *at += 1;
        }
        first.pop();
        if sort {
            // Within a group the first field is the same: the other two,
            // as one `u64`, sort the same way, with the sort of `u64`s the
            // crate already has (a sort of these triples would be another
            // copy of the sorting code in the `.wasm`).
            let mut keys: Vec<u64> = Vec::new();
            for w in first.windows(2) {
                if w[1] - w[0] > 1 {
                    let group = &mut out[w[0] as usize..w[1] as usize];
                    keys.clear();
                    keys.extend(
                        group
                            .iter()
                            .map(|&(_, b, c)| u64::from(b) << 32 | u64::from(c)),
                    );
                    keys.sort_unstable();
                    for (item, key) in group.iter_mut().zip(&keys) {
                        *item = (item.0, (key >> 32) as u32, *key as u32);
                    }
                }
            }
        }
        Groups { items: out, first }
    }

    fn of(&self, group: usize) -> core::ops::Range<usize> {
        self.start(group)..self.start(group + 1)
    }

    fn start(&self, group: usize) -> usize {
        self.first[group] as usize
    }
}

impl Doc {
    /// `ops` as a replica `replica_id`, when they are a complete history
    /// sorted by `(lamport, replica_id)`; `None` for anything else. `(n,
    /// text)` are their number and UTF-8 length, so that the arrays are
    /// allocated once.
    pub(crate) fn load_sorted<S: Source + ?Sized>(
        replica_id: u64,
        ops: &mut S,
        (n, text): (usize, usize),
    ) -> Option<Doc> {
        let mut doc = Doc::new(replica_id).ok()?;
        // Bytes of text so far: `doc.content`'s length, or with a source that
        // hands its text over at the end, what that will be.
        let whole = ops.holds_text();
        let mut content_len = 0usize;
        if !whole {
            doc.content.reserve(text);
        }
        let mut chains: Vec<Chain> = Vec::with_capacity(n);
        let mut inserts: Vec<Inserts> = Vec::new();
        let mut kids: Vec<Child> = Vec::with_capacity(n);
        // Most deletes name characters of one insert: one entry each, and
        // there are at most as many deletes as operations (regrowing this
        // copies it, and most of a churned history is deletes).
        let mut deleted: Vec<Deleted> = Vec::with_capacity(n);
        let mut chars = 0u64;
        let mut prev = None;
        // The replica of the previous operation: histories come in runs of
        // one author, and the table lookup is a map search.
        let mut last = (0, 0);
        let (mut parent_hint, mut delete_hint): (Hint, Hint) = ((u32::MAX, 0), (u32::MAX, 0));
        while let Some(op) = ops.next_raw() {
            op.validate().ok()?;
            let len = op.len;
            let key = (op.lamport, op.replica_id);
            if prev.is_some_and(|p| p >= key) {
                return None;
            }
            prev = Some(key);
            let r = if last.0 == op.replica_id {
                last.1
            } else {
                let r = doc.replica(op.replica_id);
                last = (op.replica_id, r);
                r
            };
            let ru = r as usize;
            if op.seq != doc.seen[ru] || (doc.seen[ru] > 0 && op.lamport <= doc.last_lamport[ru]) {
                return None;
            }
            if inserts.len() <= ru {
                inserts.resize_with(ru + 1, Inserts::default);
            }
            match op.body {
                Body::Insert { parent, text } => {
                    chars += len;
                    if chars > MAX_DOC_CHARS || content_len + text.len() > u32::MAX as usize {
                        return None;
                    }
                    let (parent, offset, reference) = match parent {
                        None => (ROOT, 0, None),
                        Some(p) => {
                            let pr = if p.replica_id == op.replica_id {
                                r
                            } else {
                                *doc.replica_index.get(&p.replica_id)?
                            };
                            let list = &inserts[pr as usize];
                            let i = list.locate(p.lamport, &mut parent_hint, pr)?;
                            let (chain, offset) = list.find(i, p.lamport)?;
                            (chain, offset, Some((pr, p.lamport)))
                        }
                    };
                    let chain = chains.len() as u32;
                    let content = content_len as u32;
                    content_len += text.len();
                    if !whole {
                        doc.content.push_str(text);
                    }
                    chains.push(Chain {
                        replica: r,
                        lamport: op.lamport,
                        len: len as u32,
                        content,
                        ascii: text.len() as u64 == len,
                    });
                    inserts[ru].push(op.lamport, len as u32, chain);
                    kids.push((parent, offset, u32::MAX - chain));
                    let bytes = text.len() as u32;
                    doc.record(
                        r,
                        Run::insert(op.seq, op.lamport, len, reference, content, bytes),
                    );
                }
                Body::Delete { target, reversed } => {
                    let tr = if target.replica_id == op.replica_id {
                        r
                    } else {
                        *doc.replica_index.get(&target.replica_id)?
                    };
                    let start = target.lamport;
                    let targets = &inserts[tr as usize];
                    let first = targets.locate(start, &mut delete_hint, tr)?;
                    targets.mark_deleted(first, start, len, &mut deleted)?;
                    let run = Run::delete(op.seq, op.lamport, len, (tr, start), reversed);
                    doc.record(r, run);
                }
            }
        }
        if whole {
            doc.content = ops.take_text().filter(|t| t.len() == content_len)?;
        }
        // Chains and pieces are fewer than characters, which fit 32 bits;
        // deleted ranges could be more only in a history built to be.
        if deleted.len() > u32::MAX as usize {
            return None;
        }
        let kids = Groups::new(&kids, chains.len(), true);
        let deleted = Groups::new(&deleted, chains.len(), true);
        let (spans, pieces) = layout(&doc, &chains, &kids, &deleted);
        // The index wants each replica's characters in lamport order: its
        // chains in order, each chain's pieces in the order laid out.
        let pieces = Groups::new(&pieces, chains.len(), false);
        // Plain loops into a list: nested `flat_map`s cost more per entry.
        let mut entries = Vec::with_capacity(pieces.items.len());
        for (r, list) in inserts.iter().enumerate() {
            for (lamport, chain) in list.iter() {
                debug_assert_eq!(chains[chain as usize].lamport, lamport);
                for &(_, offset, span) in &pieces.items[pieces.of(chain as usize)] {
                    entries.push((r as u32, lamport + u64::from(offset), span as usize));
                }
            }
        }
        doc.tree = Tree::from_spans(&spans, entries.into_iter());
        Some(doc)
    }
}

/// Every character in document order, as joined spans with deleted ones
/// marked, and where each chain's pieces went: `(chain, offset, span)`.
fn layout(doc: &Doc, chains: &[Chain], kids: &Groups, deleted: &Groups) -> (Vec<Span>, Vec<Item>) {
    let mut out = Layout {
        doc,
        deleted,
        deleted_at: deleted.first.clone(),
        // A piece per chain and per deleted range's two ends, at most.
        spans: Vec::with_capacity(chains.len() + 2 * deleted.items.len()),
        pieces: Vec::with_capacity(chains.len() + 2 * deleted.items.len()),
    };
    let mut stack = alloc::vec![Frame::Kids {
        next: kids.start(chains.len()),
        end: kids.items.len(),
    }];
    while let Some(frame) = stack.pop() {
        match frame {
            Frame::Kids { next, end } => {
                if next < end {
                    stack.push(Frame::Kids {
                        next: next + 1,
                        end,
                    });
                    let chain = chain_of(&kids.items[next]);
                    stack.push(Frame::Chain {
                        chain,
                        from: 0,
                        byte: 0,
                        kid: kids.start(chain as usize),
                    });
                }
            }
            Frame::Chain {
                chain,
                from,
                byte,
                kid,
            } => {
                let c = &chains[chain as usize];
                let last = kids.start(chain as usize + 1);
                if kid == last {
                    out.emit(chain, c, (from, c.len), byte);
                    continue;
                }
                // Character `at` has children: they come right after it,
                // ordered against the character that continues the chain.
                let at = kids.items[kid].1;
                let byte = out.emit(chain, c, (from, at + 1), byte);
                let group = kid + kids.items[kid..last].partition_point(|k| k.1 == at);
                if at + 1 == c.len {
                    stack.push(Frame::Kids {
                        next: kid,
                        end: group,
                    });
                    continue;
                }
                let next_char = (
                    c.lamport + u64::from(at) + 1,
                    doc.replica_ids[c.replica as usize],
                );
                let id_of = |k: &Child| {
                    let k = &chains[chain_of(k) as usize];
                    (k.lamport, doc.replica_ids[k.replica as usize])
                };
                let larger = kid + kids.items[kid..group].partition_point(|k| id_of(k) > next_char);
                stack.push(Frame::Kids {
                    next: larger,
                    end: group,
                });
                stack.push(Frame::Chain {
                    chain,
                    from: at + 1,
                    byte,
                    kid: group,
                });
                stack.push(Frame::Kids {
                    next: kid,
                    end: larger,
                });
            }
        }
    }
    (out.spans, out.pieces)
}

struct Layout<'a> {
    doc: &'a Doc,
    deleted: &'a Groups,
    /// Per chain, its first deleted range that may still matter: a chain
    /// is laid out front to back, so ranges that end before are done.
    deleted_at: Vec<u32>,
    spans: Vec<Span>,
    pieces: Vec<Item>,
}

impl Layout<'_> {
    /// Appends characters `from..to` of `chain` (the first at byte `byte` of
    /// its text), cut where deletion starts or stops and at [`MAX_SPAN`];
    /// returns the byte after them.
    fn emit(&mut self, chain: u32, c: &Chain, (from, to): (u32, u32), mut byte: u32) -> u32 {
        let text = &self.doc.content[c.content as usize..];
        let stop = self.deleted.start(chain as usize + 1);
        let mut at = from;
        while at < to {
            let skip = &mut self.deleted_at[chain as usize];
            while (*skip as usize) < stop && self.deleted.items[*skip as usize].2 <= at {
                *skip += 1;
            }
            // The ranges are sorted by start and rarely overlap: whether
            // `at` is deleted, and until where that stays so, is a short scan.
            let mut deleted_until = None;
            let mut next_start = to;
            for &(_, start, end) in &self.deleted.items[*skip as usize..stop] {
                if start <= at && at < end {
                    deleted_until = Some(deleted_until.map_or(end, |u: u32| u.max(end)));
                } else if start > at {
                    next_start = next_start.min(start);
                    break;
                }
            }
            let until = deleted_until.unwrap_or(next_start).min(to);
            let n = (until - at).min(MAX_SPAN);
            let (bytes, utf16) = if c.ascii {
                (n, n)
            } else {
                text[byte as usize..]
                    .chars()
                    .take(n as usize)
                    .fold((0, 0), |(b, u), ch| {
                        (b + ch.len_utf8() as u32, u + ch.len_utf16() as u32)
                    })
            };
            Span::new(
                c.lamport + u64::from(at),
                c.replica,
                c.content + byte,
                (n, bytes, utf16),
                deleted_until.is_some(),
            )
            .push_onto(&mut self.spans);
            self.pieces.push((chain, at, (self.spans.len() - 1) as u32));
            at += n;
            byte += bytes;
        }
        byte
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    #[test]
    fn groups_sort_each_group_and_keep_order_otherwise() {
        use super::Groups;
        // A small deterministic generator: no dependency for one test.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for n in [0usize, 1, 2, 5, 40, 300] {
            let chains = 1 + next(20) as usize;
            let items: Vec<(u32, u32, u32)> = (0..n)
                .map(|_| {
                    let g = if next(5) == 0 {
                        u32::MAX
                    } else {
                        next(chains as u64) as u32
                    };
                    (g, next(4) as u32 * 0x1000_0001, u32::MAX - next(6) as u32)
                })
                .collect();
            for sort in [false, true] {
                let groups = Groups::new(&items, chains, sort);
                for g in 0..=chains {
                    let mut expected: Vec<_> = items
                        .iter()
                        .filter(|i| (i.0.min(chains as u32) as usize) == g)
                        .copied()
                        .collect();
                    if sort {
                        expected.sort_unstable();
                    }
                    assert_eq!(&groups.items[groups.of(g)], &expected[..], "{n} {sort} {g}");
                }
            }
        }
    }
}
