//! Collaborative undo: one replica's own edits undone and redone as new
//! operations, leaving everyone else's edits alone.
//!
//! The [`UndoManager`] makes the user's local edits on a [`Doc`] it is lent
//! ([`UndoManager::insert`], [`UndoManager::delete`],
//! [`UndoManager::replace`]) and remembers their effects by character id,
//! never by position and never by reference into the `Doc`, so it keeps
//! working across remote edits and when its owner swaps the `Doc` for one
//! loaded from a snapshot of the same history. Edits closer together than the
//! capture timeout form one step; [`UndoManager::stop_capturing`] ends a step
//! explicitly. There is no clock in the core: the caller passes `now_ms`.
//!
//! Undoing an insert deletes those of its characters that are still visible;
//! undoing a delete inserts the deleted text again (kept by the manager at
//! delete time, not read back from the `Doc`) as new characters right after
//! the visible character that preceded it then, where RGA puts a new
//! character first. The inverse of each step goes on the other stack, so
//! redo works the same way. A step whose effects others already reversed
//! makes no operation and is skipped. See `docs/crdt.md`, section 14.

use alloc::string::String;
use alloc::vec::Vec;

use crate::doc::Doc;
use crate::error::Error;
use crate::id::{Id, MAX_SAFE};
use crate::op::{InsertOp, Op, Ops};

/// Edits less than this many milliseconds after the previous one join its
/// step (Yjs' default).
pub const DEFAULT_CAPTURE_MS: u64 = 500;

/// Steps kept on each stack by default (CodeMirror's and ProseMirror's
/// depth); the oldest go first.
pub const DEFAULT_MAX_STEPS: usize = 100;

/// The most UTF-8 bytes of restored text one insert operation carries, as
/// the client session splits a paste: a longer restore becomes a chain of
/// operations, so that no message passes the relay's size limit.
pub const MAX_RESTORE_BYTES: usize = 64 * 1024;

/// The characters `first.lamport .. first.lamport + len` of
/// `first.replica_id`: how a run of ids is kept without one entry per
/// character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Chars {
    first: Id,
    len: u64,
}

impl Chars {
    fn id(&self, i: u64) -> Id {
        Id::new(self.first.lamport + i, self.first.replica_id)
    }

    fn last(&self) -> Id {
        self.id(self.len - 1)
    }

    fn end(&self) -> u64 {
        self.first.lamport + self.len
    }

    fn contains(&self, other: Chars) -> bool {
        self.first.replica_id == other.first.replica_id
            && self.first.lamport <= other.first.lamport
            && other.end() <= self.end()
    }
}

/// What one local edit (or one undo of one) did, in terms of ids.
#[derive(Clone, Debug)]
enum Effect {
    /// Characters this replica inserted; undone by deleting those still visible.
    Inserted(Chars),
    /// Text this replica deleted; undone by inserting `text` again after
    /// `parent` (the document start when `None`), the visible character
    /// that preceded it. Always the visible one, never a tombstone in
    /// between: undoing steps last first then rebuilds each earlier text
    /// exactly (`docs/crdt.md` section 14 says why). `ids` are the deleted
    /// characters, in text order: when the text comes back, every step that
    /// names them is pointed at the new characters instead.
    Deleted {
        parent: Option<Id>,
        text: String,
        ids: Vec<Chars>,
    },
}

/// One undo step: effects in the order they were made, undone last first.
type Step = Vec<Effect>;

/// What [`UndoManager::undo`] or [`UndoManager::redo`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UndoStep {
    /// The new operations, already applied to the `Doc`: send them like the
    /// operations of any local edit.
    pub ops: Vec<Op>,
    /// Where the caret goes, in characters: after the text put back last,
    /// or where the text removed last was.
    pub caret: usize,
}

/// Undo and redo stacks of one user's edits on one replica. It does not own
/// the [`Doc`]: every method that edits borrows it. Only edits made through
/// it are recorded; the operations it returns are to be sent like those of
/// [`Doc::insert`] and [`Doc::delete`]. A paste split into several inserts
/// (as the client session splits one) stays one step when every piece is
/// passed the same `now_ms`.
///
/// ```
/// use collab_crdt::{Doc, UndoManager};
///
/// let mut doc = Doc::new(1).unwrap();
/// let mut undo = UndoManager::new();
/// undo.insert(&mut doc, 0, "hello", 0).unwrap();
/// undo.insert(&mut doc, 5, " world", 100).unwrap(); // within 500 ms: same step
/// let step = undo.undo(&mut doc).unwrap().unwrap();  // step.ops: send them
/// assert_eq!((doc.text().as_str(), step.caret), ("", 0));
/// undo.redo(&mut doc).unwrap();
/// assert_eq!(doc.text(), "hello world");
/// ```
#[derive(Clone, Debug)]
pub struct UndoManager {
    /// Oldest first. A `Vec`, not a `VecDeque`: dropping the oldest of at
    /// most `max_steps` moves a hundred pointers once per step, and the
    /// deque's code would cost the wasm build more than that saves.
    undo: Vec<Step>,
    redo: Vec<Step>,
    /// When the last edit was recorded while its step is still open to more
    /// edits; `None` once capturing stopped (explicitly, or by undo/redo).
    last_ms: Option<u64>,
    capture_ms: u64,
    max_steps: usize,
}

impl Default for UndoManager {
    fn default() -> Self {
        UndoManager::new()
    }
}

/// What undoing one step has done so far.
struct Done {
    ops: Vec<Op>,
    inverse: Step,
    caret: Option<usize>,
}

impl UndoManager {
    /// Empty stacks, [`DEFAULT_CAPTURE_MS`] and [`DEFAULT_MAX_STEPS`].
    pub fn new() -> UndoManager {
        UndoManager {
            undo: Vec::new(),
            redo: Vec::new(),
            last_ms: None,
            capture_ms: DEFAULT_CAPTURE_MS,
            max_steps: DEFAULT_MAX_STEPS,
        }
    }

    /// Edits less than `ms` apart join one step; 0 makes every edit a step.
    pub fn set_capture_timeout(&mut self, ms: u64) {
        self.capture_ms = ms;
    }

    /// Keeps at most `n` steps on each stack, dropping the oldest now and
    /// later; 0 keeps no history.
    pub fn set_max_steps(&mut self, n: usize) {
        self.max_steps = n;
        for stack in [&mut self.undo, &mut self.redo] {
            let extra = stack.len().saturating_sub(n);
            stack.drain(..extra);
        }
    }

    /// Ends the current step: the next edit starts a new one, however soon.
    pub fn stop_capturing(&mut self) {
        self.last_ms = None;
    }

    /// Whether a step waits to be undone. It may still turn out to be a
    /// no-op (others reversed it), which [`UndoManager::undo`] skips.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// Whether a step waits to be redone (with [`UndoManager::can_undo`]'s caveat).
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Forgets every step.
    pub fn clear(&mut self) {
        self.undo.clear();
        self.redo.clear();
        self.last_ms = None;
    }

    /// [`Doc::insert`], recorded for undo.
    pub fn insert(
        &mut self,
        doc: &mut Doc,
        pos: usize,
        text: &str,
        now_ms: u64,
    ) -> Result<Option<Op>, Error> {
        let op = doc.insert(pos, text)?;
        if let Some(op) = &op {
            self.record(None, "", core::slice::from_ref(op), now_ms);
        }
        Ok(op)
    }

    /// [`Doc::delete`], recorded for undo with the text it removes.
    pub fn delete(
        &mut self,
        doc: &mut Doc,
        pos: usize,
        len: usize,
        now_ms: u64,
    ) -> Result<Ops, Error> {
        self.replace(doc, pos, len, "", now_ms)
    }

    /// [`Doc::replace`], recorded for undo as one step with the text it removes.
    pub fn replace(
        &mut self,
        doc: &mut Doc,
        pos: usize,
        del: usize,
        text: &str,
        now_ms: u64,
    ) -> Result<Ops, Error> {
        let (parent, deleted) = if del > 0 {
            let deleted = doc.slice(pos, del)?;
            (before(doc, pos)?, deleted)
        } else {
            (None, String::new())
        };
        let ops = doc.replace(pos, del, text)?;
        self.record(parent, &deleted, &ops, now_ms);
        Ok(ops)
    }

    /// Undoes the latest step that still has an effect, skipping (and
    /// dropping) those that have none left. `Ok(None)`: nothing to undo.
    ///
    /// An error means nothing changed and the step is still there. Should an
    /// error come after some of the step's operations were made (the clock
    /// or the document's size limit running out part way), the operations
    /// made are returned, as they are in the `Doc` and must be sent, and the
    /// rest of the step is dropped.
    pub fn undo(&mut self, doc: &mut Doc) -> Result<Option<UndoStep>, Error> {
        self.revert(doc, false)
    }

    /// Redoes the latest undone step, as [`UndoManager::undo`] does. Any new
    /// local edit empties the redo stack.
    pub fn redo(&mut self, doc: &mut Doc) -> Result<Option<UndoStep>, Error> {
        self.revert(doc, true)
    }

    /// Adds the effects of a local edit to the open step, or to a new one.
    /// `parent` is the visible character before the deleted range, `deleted`
    /// its text; `ops` are the edit's, deletes first.
    fn record(&mut self, parent: Option<Id>, deleted: &str, ops: &[Op], now_ms: u64) {
        if ops.is_empty() {
            return;
        }
        self.redo.clear();
        let Some(step) = self.open(now_ms) else {
            return;
        };
        // The range deleted, less what this step inserted itself: one piece
        // of text after `parent`, however many runs of ids it spans.
        let (mut text, mut ids, mut rest) = (String::new(), Vec::new(), deleted);
        for op in ops {
            // A local delete's operations come in document order, one per
            // run of consecutive ids, never reversed.
            if let Op::Delete(del) = op {
                let c = Chars {
                    first: del.target,
                    len: del.len,
                };
                let (piece, tail) = split_chars(rest, del.len);
                rest = tail;
                if !cancel(step, c) {
                    text.push_str(piece);
                    ids.push(c);
                }
            }
        }
        if !ids.is_empty() {
            push_deleted(step, parent, text, ids);
        }
        for op in ops {
            if let Op::Insert(_) = op {
                let c = Chars {
                    first: op.id(),
                    len: op.len(),
                };
                push_inserted(step, c);
            }
        }
    }

    /// The step the next edit joins: the top one while capturing and within
    /// the timeout, else a new one (`None` when no history is kept).
    fn open(&mut self, now_ms: u64) -> Option<&mut Step> {
        let joins = matches!(self.last_ms, Some(t) if now_ms.saturating_sub(t) < self.capture_ms);
        self.last_ms = Some(now_ms);
        if !joins || self.undo.is_empty() {
            push_bounded(&mut self.undo, Vec::new(), self.max_steps);
        }
        self.undo.last_mut()
    }

    fn revert(&mut self, doc: &mut Doc, redo: bool) -> Result<Option<UndoStep>, Error> {
        self.last_ms = None;
        loop {
            let from = if redo { &mut self.redo } else { &mut self.undo };
            let Some(mut effects) = from.pop() else {
                return Ok(None);
            };
            let mut done = Done {
                ops: Vec::new(),
                inverse: Vec::new(),
                caret: None,
            };
            // Restored characters' old ids -> new ids, sorted: each effect
            // is brought up to date as it is reached, the other steps once
            // at the end (rewriting them all after every restore made an
            // undo of a long find-and-replace quadratic).
            let mut moves = Moves::default();
            'effects: while let Some(effect) = effects.pop() {
                let mut now = alloc::vec![effect];
                remap(&mut now, &moves);
                while let Some(effect) = now.pop() {
                    let result = match &effect {
                        Effect::Inserted(c) => remove(doc, *c, &mut done),
                        Effect::Deleted { parent, text, ids } => {
                            self.restore(doc, *parent, text, ids, &mut moves, &mut done)
                        }
                    };
                    if let Err(e) = result {
                        if done.ops.is_empty() {
                            effects.extend(now);
                            effects.push(effect);
                            let from = if redo { &mut self.redo } else { &mut self.undo };
                            from.push(effects);
                            return Err(e);
                        }
                        break 'effects;
                    }
                }
            }
            if !moves.0.is_empty() {
                let steps = self.undo.iter_mut().chain(self.redo.iter_mut());
                for step in steps.chain([&mut done.inverse]) {
                    remap(step, &moves);
                }
            }
            if !done.ops.is_empty() {
                let to = if redo { &mut self.undo } else { &mut self.redo };
                push_bounded(to, done.inverse, self.max_steps);
                return Ok(Some(UndoStep {
                    ops: done.ops,
                    caret: done.caret.unwrap_or(0),
                }));
            }
        }
    }

    /// Inserts `text` again after `parent`, as this replica's new characters,
    /// and notes in `moves` that the deleted characters `ids` are now them.
    /// When `parent` is not in the `Doc` (a snapshot from a server that lost
    /// that history) the text has no place to go back to and is not restored.
    fn restore(
        &mut self,
        doc: &mut Doc,
        mut parent: Option<Id>,
        text: &str,
        ids: &[Chars],
        moves: &mut Moves,
        done: &mut Done,
    ) -> Result<(), Error> {
        if parent.is_some_and(|p| doc.pos_of(p).is_err()) {
            return Ok(());
        }
        let me = doc.replica_id();
        let mut restored = 0;
        for piece in pieces(text, MAX_RESTORE_BYTES) {
            let n = piece.chars().count() as u64;
            let (seq, lamport) = (doc.seen(me), doc.clock() + 1);
            if seq + n > MAX_SAFE || lamport + n - 1 > MAX_SAFE {
                return Err(Error::ClockExhausted);
            }
            // `Doc::insert` takes a position, which can only name a visible
            // parent; the operation is built here to name a deleted one.
            let op = Op::Insert(InsertOp {
                replica_id: me,
                seq,
                lamport,
                parent_id: parent,
                text: piece.into(),
            });
            doc.apply_ready(&op)?;
            done.ops.push(op);
            let new = Chars {
                first: Id::new(lamport, me),
                len: n,
            };
            push_inserted(&mut done.inverse, new);
            moves.add(ids, restored, new);
            restored += n;
            parent = Some(new.last());
            done.caret = Some(doc.pos_of(new.last()).map_or(0, |(p, _)| p + 1));
        }
        Ok(())
    }
}

/// Deletes the characters of `c` that are still visible, one operation per
/// run of them, and leaves the caret where the first of them was. Only this
/// replica's characters: never anyone else's.
fn remove(doc: &mut Doc, c: Chars, done: &mut Done) -> Result<(), Error> {
    if c.first.replica_id != doc.replica_id() {
        return Ok(());
    }
    // Runs consecutive both in lamport and in position, so that one local
    // delete removes each: (position of the first, its id, count).
    let mut runs: Vec<(usize, Id, u64)> = Vec::new();
    for i in 0..c.len {
        let Ok((pos, false)) = doc.pos_of(c.id(i)) else {
            continue;
        };
        match runs.last_mut() {
            Some((p, f, n)) if *p + *n as usize == pos && f.lamport + *n == c.first.lamport + i => {
                *n += 1;
            }
            _ => runs.push((pos, c.id(i), 1)),
        }
    }
    // Last first, each found again: deleting a run moves the ones after
    // it, never the characters inside one.
    for &(_, first, n) in runs.iter().rev() {
        let pos = doc.pos_of(first)?.0;
        let parent = before(doc, pos)?;
        let text = doc.slice(pos, n as usize)?;
        done.ops.extend(doc.delete(pos, n as usize)?);
        let gone = Chars { first, len: n };
        push_deleted(&mut done.inverse, parent, text, alloc::vec![gone]);
        done.caret = Some(pos);
    }
    if let Some(at) = runs
        .iter()
        .filter_map(|r| Some(doc.pos_of(r.1).ok()?.0))
        .min()
    {
        done.caret = Some(at);
    }
    Ok(())
}

/// The visible character before position `pos`, or `None` at the start.
fn before(doc: &Doc, pos: usize) -> Result<Option<Id>, Error> {
    pos.checked_sub(1).map(|p| doc.id_at(p)).transpose()
}

fn push_bounded(stack: &mut Vec<Step>, step: Step, max: usize) {
    stack.push(step);
    if stack.len() > max {
        stack.drain(..stack.len() - max);
    }
}

/// Records inserted characters, extending the last effect when they continue
/// it (typing on), so a typed word is one effect.
fn push_inserted(step: &mut Step, c: Chars) {
    if let Some(Effect::Inserted(last)) = step.last_mut()
        && last.first.replica_id == c.first.replica_id
        && last.end() == c.first.lamport
    {
        last.len += c.len;
        return;
    }
    step.push(Effect::Inserted(c));
}

/// Records the text deleted right after the visible character `parent`,
/// joining it to the last effect when it ends where that effect's text began
/// (backspacing), so that it comes back as one insert.
fn push_deleted(step: &mut Step, parent: Option<Id>, mut text: String, mut ids: Vec<Chars>) {
    if let Some(Effect::Deleted {
        parent: p,
        text: t,
        ids: later,
    }) = step.last_mut()
        && p.is_some()
        && *p == ids.last().map(Chars::last)
    {
        text.push_str(t);
        ids.append(later);
        *p = parent;
        *t = text;
        *later = ids;
        return;
    }
    step.push(Effect::Deleted { parent, text, ids });
}

/// Deleting characters the open step itself inserted takes them out of its
/// effects instead of adding a delete (a typo fixed while typing leaves
/// nothing to undo). Only when one insert effect holds all of `c`, and no
/// deleted text of the step is to come back after one of them: undo puts
/// text back after the visible character that preceded it, and without
/// them that would have been another.
fn cancel(step: &mut Step, c: Chars) -> bool {
    let named = |e: &Effect| matches!(e, Effect::Deleted { parent: Some(p), .. } if c.contains(Chars { first: *p, len: 1 }));
    if step.iter().any(named) {
        return false;
    }
    let Some(i) = step
        .iter()
        .rposition(|e| matches!(e, Effect::Inserted(r) if r.contains(c)))
    else {
        return false;
    };
    let Effect::Inserted(r) = step[i] else {
        return false;
    };
    let head = Chars {
        first: r.first,
        len: c.first.lamport - r.first.lamport,
    };
    let tail = Chars {
        first: Id::new(c.end(), r.first.replica_id),
        len: r.end() - c.end(),
    };
    match (head.len, tail.len) {
        (0, 0) => drop(step.remove(i)),
        (0, _) => step[i] = Effect::Inserted(tail),
        (_, 0) => step[i] = Effect::Inserted(head),
        _ => {
            step[i] = Effect::Inserted(head);
            step.insert(i + 1, Effect::Inserted(tail));
        }
    }
    true
}

/// Deleted characters restored as new ones: `(old ids, first new id)`,
/// sorted by replica and lamport. Old ids never overlap (a character is
/// restored once per undo) and new ids are never old ones.
#[derive(Default)]
struct Moves(Vec<(Chars, Id)>);

impl Moves {
    /// Notes that the characters `skip ..` of `ids` (in text order) came
    /// back as `new`.
    fn add(&mut self, ids: &[Chars], mut skip: u64, new: Chars) {
        let mut at = 0;
        for c in ids {
            if skip >= c.len {
                skip -= c.len;
                continue;
            }
            let len = (c.len - skip).min(new.len - at);
            if len == 0 {
                break;
            }
            let old = Chars {
                first: c.id(skip),
                len,
            };
            let key = (old.first.replica_id, old.first.lamport);
            let i = self
                .0
                .partition_point(|(o, _)| (o.first.replica_id, o.first.lamport) < key);
            self.0.insert(i, (old, new.id(at)));
            at += len;
            skip = 0;
        }
    }
}

/// Rewrites every id in `step` that `map` moved.
fn remap(step: &mut Step, map: &Moves) {
    if map.0.is_empty() {
        return;
    }
    let mut runs = Vec::new();
    for effect in core::mem::take(step) {
        match effect {
            Effect::Inserted(c) => {
                split(c, map, &mut runs);
                step.extend(runs.drain(..).map(Effect::Inserted));
            }
            Effect::Deleted { parent, text, ids } => {
                for c in ids {
                    split(c, map, &mut runs);
                }
                let parent = parent.map(|p| {
                    let mut one = Vec::new();
                    split(Chars { first: p, len: 1 }, map, &mut one);
                    one.first().map_or(p, |c| c.first)
                });
                step.push(Effect::Deleted {
                    parent,
                    text,
                    ids: core::mem::take(&mut runs),
                });
            }
        }
    }
}

/// Pushes `c` onto `out` as pieces, each either untouched by `map` or moved
/// to the new ids `map` gives it.
fn split(c: Chars, map: &Moves, out: &mut Vec<Chars>) {
    let replica = c.first.replica_id;
    let (mut at, end) = (c.first.lamport, c.end());
    while at < end {
        // The first move of this replica that ends after `at`: it holds
        // `at`, or starts after it (then `at` up to it is untouched).
        let i = map
            .0
            .partition_point(|(o, _)| (o.first.replica_id, o.end()) <= (replica, at));
        let (first, stop) = match map.0.get(i) {
            Some((old, new)) if old.first.replica_id == replica && old.first.lamport <= at => (
                Id::new(new.lamport + (at - old.first.lamport), new.replica_id),
                old.end().min(end),
            ),
            Some((old, _)) if old.first.replica_id == replica => {
                (Id::new(at, replica), old.first.lamport.min(end))
            }
            _ => (Id::new(at, replica), end),
        };
        out.push(Chars {
            first,
            len: stop - at,
        });
        at = stop;
    }
}

/// `s` cut after `n` characters.
fn split_chars(s: &str, n: u64) -> (&str, &str) {
    let at = s.char_indices().nth(n as usize).map_or(s.len(), |(b, _)| b);
    s.split_at(at)
}

/// `text` in pieces of at most `max` bytes (4 or more: the longest
/// character), cut between characters.
pub(crate) fn pieces(text: &str, max: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some(piece)
    })
}
