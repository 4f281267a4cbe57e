//! Collaborative undo in the client session: the user's own local edits are
//! recorded in an [`UndoManager`] as they are made, and undoing or redoing
//! one makes new local operations that go out like any edit (outbox,
//! resends, snapshot resyncs). The manager names characters by id, so
//! remote edits, reconnects and snapshot reloads leave its history valid;
//! see `docs/crdt.md` section 14.

use alloc::vec::Vec;

use super::{ClientSession, Splice};
use crate::error::Error;
use crate::id::Id;
use crate::op::Op;
use crate::undo::UndoManager;

/// What [`ClientSession::undo`] or [`ClientSession::redo`] did to the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undone {
    /// Applied in order, they make the same change to an editor's text (as
    /// [`super::Event::Remote`]'s do): only the undone characters, so that
    /// others' text and carets in between are left alone.
    pub splices: Vec<Splice>,
    /// Where the caret goes, in characters and in UTF-16 units.
    pub caret: usize,
    pub caret_utf16: usize,
}

/// The session's undo state.
#[derive(Clone, Debug, Default)]
pub(super) struct History {
    pub(super) manager: UndoManager,
    /// The time the next local edits are recorded at, as the caller last
    /// set it; `None` while it never did, and then every edit call is a
    /// step of its own.
    pub(super) now_ms: Option<u64>,
}

impl History {
    /// Called once before each edit call: without a clock, the call opens
    /// a new step (the pieces of one split paste still share it).
    pub(super) fn begin(&mut self) -> u64 {
        match self.now_ms {
            Some(now) => now,
            None => {
                self.manager.stop_capturing();
                0
            }
        }
    }
}

impl ClientSession {
    /// Sets the time, in milliseconds on any monotonic clock, that the next
    /// local edits are recorded at for undo: edits closer together than the
    /// capture timeout form one step. A caller that never sets it gets one
    /// step per edit call.
    pub fn set_clock(&mut self, now_ms: u64) {
        self.history.now_ms = Some(now_ms);
    }

    /// Edits less than `ms` apart join one undo step (500 by default); 0
    /// makes every edit a step.
    pub fn set_capture_timeout(&mut self, ms: u64) {
        self.history.manager.set_capture_timeout(ms);
    }

    /// Keeps at most `n` undo steps, and as many redo steps (100 by default).
    pub fn set_max_undo_steps(&mut self, n: usize) {
        self.history.manager.set_max_steps(n);
    }

    /// Ends the current undo step: the next edit starts a new one, however
    /// soon (call it when the caret moves away, for example).
    pub fn stop_capturing(&mut self) {
        self.history.manager.stop_capturing();
    }

    /// Whether a step waits to be undone. It may turn out to have no effect
    /// left (others deleted the text), and then `undo` skips it.
    pub fn can_undo(&self) -> bool {
        self.history.manager.can_undo()
    }

    /// Whether an undone step waits to be redone.
    pub fn can_redo(&self) -> bool {
        self.history.manager.can_redo()
    }

    /// Forgets every undo and redo step.
    pub fn clear_history(&mut self) {
        self.history.manager.clear();
    }

    /// Undoes this replica's latest step that still has an effect: its
    /// inserted characters still visible are deleted, the text it deleted
    /// comes back where it was, nobody else's characters are touched. The
    /// new operations are in the outbox. `Ok(None)`: nothing to undo. An
    /// error means the text did not change.
    pub fn undo(&mut self) -> Result<Option<Undone>, Error> {
        self.revert(false)
    }

    /// Redoes the latest undone step, as [`ClientSession::undo`] does. Any
    /// new local edit empties the redo stack.
    pub fn redo(&mut self) -> Result<Option<Undone>, Error> {
        self.revert(true)
    }

    fn revert(&mut self, redo: bool) -> Result<Option<Undone>, Error> {
        let before = self.doc.text();
        let step = if redo {
            self.history.manager.redo(&mut self.doc)?
        } else {
            self.history.manager.undo(&mut self.doc)?
        };
        let Some(step) = step else {
            return Ok(None);
        };
        let splices = splices_of(&self.doc, &before, &step.ops);
        let caret = step.caret.min(self.doc.len());
        self.unacked.extend(step.ops);
        Ok(Some(Undone {
            splices,
            caret,
            caret_utf16: self.doc.pos_to_utf16(caret)?,
        }))
    }
}

/// The splices that turn `before` into the current text, given that `ops`
/// (local operations, already applied) are the whole difference: walking
/// the sequence once, every character inserted by `ops` is an insert and
/// every character they deleted a delete, everything else is kept. Runs
/// next to each other become one splice.
fn splices_of(doc: &crate::doc::Doc, before: &str, ops: &[Op]) -> Vec<Splice> {
    let inserted = IdRanges::new(ops.iter().filter_map(|op| match op {
        Op::Insert(_) => Some((op.replica_id(), op.lamport(), op.len())),
        Op::Delete(_) => None,
    }));
    let deleted = IdRanges::new(ops.iter().filter_map(|op| match op {
        Op::Delete(d) => Some((d.target.replica_id, d.target.lamport, d.len)),
        Op::Insert(_) => None,
    }));
    let text = doc.text();
    let (mut old, mut new) = (before.chars(), text.chars());
    let mut out: Vec<Splice> = Vec::new();
    let (mut pos, mut pos_utf16) = (0, 0);
    for (id, tombstone) in doc.layout() {
        // Visible before: kept, or deleted now by `ops`. Visible now: kept,
        // or inserted by `ops`.
        let (was, is) = if inserted.contains(id) {
            (false, !tombstone)
        } else if deleted.contains(id) {
            (true, false)
        } else {
            (!tombstone, !tombstone)
        };
        match (was, is) {
            (true, true) => {
                let c = new.next().unwrap_or_default();
                old.next();
                pos += 1;
                pos_utf16 += c.len_utf16();
            }
            (false, false) => {}
            (was, _) => {
                let last = match out.last_mut() {
                    Some(s) if s.pos + s.insert.chars().count() == pos => s,
                    _ => {
                        out.push(Splice {
                            pos,
                            delete: 0,
                            insert: alloc::string::String::new(),
                            pos_utf16,
                            delete_utf16: 0,
                        });
                        let n = out.len() - 1;
                        &mut out[n]
                    }
                };
                if was {
                    let c = old.next().unwrap_or_default();
                    last.delete += 1;
                    last.delete_utf16 += c.len_utf16();
                } else {
                    let c = new.next().unwrap_or_default();
                    last.insert.push(c);
                    pos += 1;
                    pos_utf16 += c.len_utf16();
                }
            }
        }
    }
    out
}

/// Id ranges `(replica, first lamport, end lamport)`, sorted and joined
/// where they overlap, so that each character of the walk is looked up in
/// O(log k) instead of against every one of the step's k operations.
struct IdRanges(Vec<(u64, u64, u64)>);

impl IdRanges {
    fn new(ranges: impl Iterator<Item = (u64, u64, u64)>) -> Self {
        // Sorted by insertion: `sort_unstable` on triples would be one more
        // sort in the `.wasm` (1.1 KB gzipped). Each insertion moves the
        // entries after it, O(k^2) moves at worst: a few milliseconds of
        // copying for a 5,000-edit step.
        let mut sorted: Vec<(u64, u64, u64)> = Vec::new();
        for (replica, lamport, len) in ranges {
            let range = (replica, lamport, lamport + len);
            sorted.insert(sorted.partition_point(|r| *r < range), range);
        }
        let mut joined: Vec<(u64, u64, u64)> = Vec::with_capacity(sorted.len());
        for (replica, start, end) in sorted {
            match joined.last_mut() {
                Some(last) if last.0 == replica && start <= last.2 => last.2 = last.2.max(end),
                _ => joined.push((replica, start, end)),
            }
        }
        Self(joined)
    }

    fn contains(&self, id: Id) -> bool {
        let key = (id.replica_id, id.lamport);
        let after = self.0.partition_point(|&(r, start, _)| (r, start) <= key);
        after > 0 && {
            let (r, _, end) = self.0[after - 1];
            r == id.replica_id && id.lamport < end
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_ranges_hold_exactly_the_ids_of_overlapping_and_separate_ranges() {
        // Replica 1: 0..10 with 2..3 inside it, then 12..15; replica 2: 5..6.
        let ranges = IdRanges::new([(1, 12, 3), (1, 2, 1), (2, 5, 1), (1, 0, 10)].into_iter());
        let held: Vec<(u64, u64)> = (1..=3)
            .flat_map(|r| (0..20).map(move |l| (r, l)))
            .filter(|&(r, l)| ranges.contains(Id::new(l, r)))
            .collect();
        let expected: Vec<(u64, u64)> = (0..10)
            .chain(12..15)
            .map(|l| (1, l))
            .chain([(2, 5)])
            .collect();
        assert_eq!(held, expected);
    }
}
