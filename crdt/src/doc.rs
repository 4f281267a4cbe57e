//! The document: one replica's state, its local edits and the integration of
//! remote operations.

mod inspect;
pub(crate) mod load;
mod local;
mod position;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::Error;
use crate::id::{Id, MAX_SAFE, check_replica};
use crate::op::{DeleteOp, InsertOp, Op};
use crate::oplog::{OpLog, Run, op_unit};
use crate::pending::{Pending, Wait};
use crate::tree::{Cursor, MAX_SPAN, Span, Tree};
use crate::version::VersionVector;

/// The most characters, deleted ones included, one document holds. Counts in
/// the tree are 32-bit and a character may take two UTF-16 units.
pub const MAX_DOC_CHARS: u64 = (u32::MAX / 2) as u64;

/// What [`Doc::apply`] did with an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Integrated, together with `released` buffered operations it unblocked
    /// (and `rejected` buffered ones that turned out to be invalid).
    Integrated { released: usize, rejected: usize },
    /// Already integrated, identical: nothing changed.
    Duplicate,
    /// Waiting in the buffer for a dependency.
    Buffered,
}

/// One replica of a text document.
#[derive(Clone, Debug)]
pub struct Doc {
    replica_id: u64,
    /// This replica's index in the replica table.
    me: u32,
    /// The largest lamport seen; local edits take the next one.
    clock: u64,
    /// Replica ids by table index; the table order is arrival order and never
    /// leaves this struct.
    replica_ids: Vec<u64>,
    replica_index: BTreeMap<u64, u32>,
    /// Per replica: units integrated (its next expected sequence number).
    seen: Vec<u64>,
    /// Per replica: lamport of its last integrated unit.
    last_lamport: Vec<u64>,
    /// The UTF-8 of every character ever integrated, in arrival order; spans
    /// and log runs point into it.
    content: String,
    tree: Tree,
    log: OpLog,
    pending: Pending,
    /// After a local insert: the position right after it and the cursor at
    /// its last character, so typing on skips the position lookup. Any other
    /// change to the tree clears it.
    typing: Option<(usize, Cursor)>,
}

enum Step {
    Done(u32),
    Duplicate,
    Wait(Wait),
}

impl Doc {
    /// An empty document edited by `replica_id` (1 to 2^53 - 1). Two replicas
    /// editing concurrently must never share an id.
    pub fn new(replica_id: u64) -> Result<Doc, Error> {
        check_replica(replica_id)?;
        let mut doc = Doc {
            replica_id,
            me: 0,
            clock: 0,
            replica_ids: Vec::new(),
            replica_index: BTreeMap::new(),
            seen: Vec::new(),
            last_lamport: Vec::new(),
            content: String::new(),
            tree: Tree::default(),
            log: OpLog::default(),
            pending: Pending::default(),
            typing: None,
        };
        doc.me = doc.replica(replica_id);
        Ok(doc)
    }

    /// A copy of this document that edits as `replica_id`.
    pub fn fork(&self, replica_id: u64) -> Result<Doc, Error> {
        check_replica(replica_id)?;
        let mut doc = self.clone();
        doc.replica_id = replica_id;
        doc.me = doc.replica(replica_id);
        Ok(doc)
    }

    pub fn replica_id(&self) -> u64 {
        self.replica_id
    }

    /// The largest lamport this replica has seen or made.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// The text, without deleted characters.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.tree.len_chars());
        for span in self.tree.spans().filter(|s| !s.deleted) {
            out.push_str(
                &self.content[span.content as usize..(span.content + span.bytes()) as usize],
            );
        }
        out
    }

    /// Length in Unicode scalar values.
    pub fn len(&self) -> usize {
        self.tree.len_chars()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Characters stored, deleted ones included: what a size limit on a
    /// document that keeps tombstones has to count.
    pub fn chars_stored(&self) -> u64 {
        self.tree.total()
    }

    /// Length in UTF-16 code units, as JavaScript counts.
    pub fn len_utf16(&self) -> usize {
        self.tree.len_utf16()
    }

    /// Integrates an operation from another replica (or redelivered from
    /// this one). Idempotent; an operation whose dependencies have not arrived
    /// is buffered and integrated when they do.
    pub fn apply(&mut self, op: &Op) -> Result<Applied, Error> {
        self.typing = None;
        match self.step(op)? {
            Step::Duplicate => Ok(Applied::Duplicate),
            Step::Wait(wait) => {
                self.pending.park(wait, op)?;
                Ok(Applied::Buffered)
            }
            Step::Done(replica) => {
                let (released, rejected) = self.release(replica);
                Ok(Applied::Integrated { released, rejected })
            }
        }
    }

    /// Integrates an operation only if everything it depends on is already
    /// here; otherwise refuses it with [`Error::MissingDependency`] and
    /// changes nothing. For a server, which must give every operation it
    /// accepts a place in its log at once, never "later".
    pub fn apply_ready(&mut self, op: &Op) -> Result<Applied, Error> {
        self.typing = None;
        match self.step(op)? {
            Step::Duplicate => Ok(Applied::Duplicate),
            Step::Wait(wait) => Err(Error::MissingDependency {
                replica_id: op.replica_id(),
                seq: op.seq(),
                waits_for: match wait {
                    Wait::Seq { replica_id, .. } | Wait::Lamport { replica_id, .. } => replica_id,
                },
            }),
            Step::Done(replica) => {
                let (released, rejected) = self.release(replica);
                Ok(Applied::Integrated { released, rejected })
            }
        }
    }

    /// Applies operations in order, stopping at the first error. Unlike every
    /// other method, an error here keeps what the operations before it did:
    /// each of those was accepted on its own and is not lost.
    ///
    /// A replica that has integrated nothing yet takes a whole history in
    /// one step when it comes in canonical order (ascending `(lamport,
    /// replica_id)`, each replica's units without gaps, every dependency
    /// before its use, as [`Doc::ops_since`] returns it): laid out as a
    /// snapshot is loaded, not searched for op by op. Anything else is
    /// integrated op by op, with the same result.
    pub fn apply_all<'a>(&mut self, ops: impl IntoIterator<Item = &'a Op>) -> Result<(), Error> {
        let mut ops = ops.into_iter();
        if self.is_fresh() {
            let batch: Vec<&Op> = ops.by_ref().collect();
            if batch.len() > 1 && self.load_batch(&batch) {
                return Ok(());
            }
            for op in batch {
                self.apply(op)?;
            }
        }
        for op in ops {
            self.apply(op)?;
        }
        Ok(())
    }

    /// Whether nothing was integrated or buffered yet.
    fn is_fresh(&self) -> bool {
        self.seen.iter().all(|&n| n == 0) && self.pending_len() == 0
    }

    /// Replaces this fresh replica with `ops` laid out in one pass, when
    /// they are a complete history in canonical order; false otherwise,
    /// changing nothing.
    fn load_batch(&mut self, ops: &[&Op]) -> bool {
        let text = ops
            .iter()
            .map(|op| match op {
                Op::Insert(ins) => ins.text.len(),
                Op::Delete(_) => 0,
            })
            .sum();
        let mut each = load::Each(ops.iter());
        match Doc::load_sorted(self.replica_id, &mut each, (ops.len(), text)) {
            Some(mut doc) => {
                doc.pending.limit = self.pending.limit;
                *self = doc;
                true
            }
            None => false,
        }
    }

    /// Brings this replica up to date with `other` (with
    /// [`Doc::apply_all`]'s rule on errors).
    pub fn merge_from(&mut self, other: &Doc) -> Result<(), Error> {
        let ops = other.ops_since(&self.version());
        self.apply_all(&ops)
    }

    /// Operations waiting in the buffer.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Sets the bound on buffered operations (default
    /// [`crate::DEFAULT_PENDING_LIMIT`]); past it [`Doc::apply`] refuses with
    /// [`Error::BufferFull`].
    pub fn set_pending_limit(&mut self, limit: usize) {
        self.pending.limit = limit;
    }

    /// How many units of `replica_id`'s history are integrated: its next
    /// expected `seq`, one entry of [`Doc::version`] without building it.
    pub fn seen(&self, replica_id: u64) -> u64 {
        self.replica_index
            .get(&replica_id)
            .map_or(0, |&r| self.seen[r as usize])
    }

    /// What this replica has integrated.
    pub fn version(&self) -> VersionVector {
        let mut v = VersionVector::new();
        for (i, &id) in self.replica_ids.iter().enumerate() {
            v.set(id, self.seen[i]);
        }
        v
    }

    /// Every integrated operation that `version` has not seen, as few
    /// operations as possible, in an order any replica can apply without
    /// buffering (ascending lamport).
    pub fn ops_since(&self, version: &VersionVector) -> Vec<Op> {
        self.collect_ops(version, None)
    }

    /// The integrated operations that `from` has not seen and `to` has, in
    /// the order of [`Doc::ops_since`]: what brings a replica at `from` to
    /// `to`, when `to` is a version this replica passed through.
    pub fn ops_between(&self, from: &VersionVector, to: &VersionVector) -> Vec<Op> {
        self.collect_ops(from, Some(to))
    }

    fn collect_ops(&self, from: &VersionVector, to: Option<&VersionVector>) -> Vec<Op> {
        let mut ops = Vec::new();
        for (i, &id) in self.replica_ids.iter().enumerate() {
            let start = from.get(id);
            let end = to.map_or(self.seen[i], |to| to.get(id).min(self.seen[i]));
            if start < end {
                self.log.ops_between(
                    i as u32,
                    (start, end),
                    &self.replica_ids,
                    &self.content,
                    &mut ops,
                );
            }
        }
        ops.sort_unstable_by_key(|op| (op.lamport(), op.replica_id()));
        ops
    }

    fn check_range(&self, pos: usize, len: usize) -> Result<(), Error> {
        let doc_len = self.len();
        match pos.checked_add(len) {
            Some(end) if end <= doc_len => Ok(()),
            _ => Err(Error::PositionOutOfRange {
                pos: pos.saturating_add(len),
                len: doc_len,
            }),
        }
    }

    /// The sequence number and lamport for `n` new local units, checked.
    fn next_ids(&self, n: u64) -> Result<(u64, u64), Error> {
        let seq = self.seen[self.me as usize];
        let lamport = self.clock + 1;
        if seq.saturating_add(n) > MAX_SAFE
            || lamport.saturating_add(n.saturating_sub(1)) > MAX_SAFE
        {
            return Err(Error::ClockExhausted);
        }
        Ok((seq, lamport))
    }

    /// Refuses `n` more characters (`bytes` of UTF-8) past the document's
    /// limits: spans count characters and address the content in 32 bits.
    fn check_size(&self, n: u64, bytes: usize) -> Result<(), Error> {
        let content = self.content.len().saturating_add(bytes);
        if self.tree.total() + n > MAX_DOC_CHARS || content > u32::MAX as usize {
            return Err(Error::DocumentTooLarge {
                limit: MAX_DOC_CHARS,
            });
        }
        Ok(())
    }

    fn id_at_cursor(&self, c: Cursor) -> Id {
        let span = self.tree.span(c);
        Id::new(
            span.lamport + u64::from(c.offset),
            self.replica_ids[span.replica as usize],
        )
    }

    /// The table index of `replica_id`, registering it on first sight.
    fn replica(&mut self, replica_id: u64) -> u32 {
        if let Some(&r) = self.replica_index.get(&replica_id) {
            return r;
        }
        let r = self.replica_ids.len() as u32;
        self.replica_ids.push(replica_id);
        self.replica_index.insert(replica_id, r);
        self.seen.push(0);
        self.last_lamport.push(0);
        self.log.add_replica();
        r
    }

    /// Whether `replica_id`'s history has reached `lamport`.
    fn passed(&self, replica_id: u64, lamport: u64) -> bool {
        self.replica_index
            .get(&replica_id)
            .is_some_and(|&r| self.seen[r as usize] > 0 && self.last_lamport[r as usize] >= lamport)
    }

    fn locate(&self, id: Id) -> Option<Cursor> {
        let r = *self.replica_index.get(&id.replica_id)?;
        self.tree.locate(r, id.lamport)
    }

    /// Decides what to do with a remote operation and, when it is ready,
    /// integrates it. Changes nothing when it returns an error.
    fn step(&mut self, op: &Op) -> Result<Step, Error> {
        let len = op.validate()?;
        let replica_id = op.replica_id();
        let seen = self.seen(replica_id);
        let seq = op.seq();
        if seq > seen {
            return Ok(Step::Wait(Wait::Seq { replica_id, seq }));
        }
        let trimmed;
        let mut op = op;
        if seq < seen {
            let known = len.min(seen - seq);
            let r = self.replica_index[&replica_id];
            self.check_same(r, op, known)?;
            if known == len {
                return Ok(Step::Duplicate);
            }
            trimmed = op.skip_units(known);
            op = &trimmed;
        }
        if let Some(&r) = self.replica_index.get(&replica_id) {
            let last = self.last_lamport[r as usize];
            // Ids must stay unique: a replica's lamports rise with its seqs.
            if self.seen[r as usize] > 0 && op.lamport() <= last {
                return Err(Error::LamportRegressed {
                    replica_id,
                    seq: op.seq(),
                    lamport: op.lamport(),
                    last,
                });
            }
        }
        let len = op.len();
        match op {
            Op::Insert(ins) => {
                let after = match ins.parent_id {
                    None => None,
                    Some(parent) => match self.locate(parent) {
                        Some(c) => Some(c),
                        None if self.passed(parent.replica_id, parent.lamport) => {
                            return Err(Error::UnknownId { id: parent });
                        }
                        None => {
                            return Ok(Step::Wait(Wait::Lamport {
                                replica_id: parent.replica_id,
                                lamport: parent.lamport,
                            }));
                        }
                    },
                };
                self.check_size(len, ins.text.len())?;
                let r = self.replica(replica_id);
                self.integrate_insert(r, ins, len, after);
                Ok(Step::Done(r))
            }
            Op::Delete(del) => {
                let last = del.target.lamport + del.len - 1;
                if !self.passed(del.target.replica_id, last) {
                    return Ok(Step::Wait(Wait::Lamport {
                        replica_id: del.target.replica_id,
                        lamport: last,
                    }));
                }
                self.check_targets(del)?;
                let r = self.replica(replica_id);
                let target = self.replica_index[&del.target.replica_id];
                let mut lamport = del.target.lamport;
                let end = lamport + del.len;
                while lamport < end {
                    let c = self
                        .tree
                        .locate(target, lamport)
                        .expect("targets were checked");
                    let took = self.tree.delete_at(c, end - lamport, &self.content);
                    lamport += u64::from(took);
                }
                let run = Run::delete(
                    del.seq,
                    del.lamport,
                    del.len,
                    (target, del.target.lamport),
                    del.reversed,
                );
                self.record(r, run);
                Ok(Step::Done(r))
            }
        }
    }

    /// Errors unless every character a delete names exists.
    fn check_targets(&self, del: &DeleteOp) -> Result<(), Error> {
        let mut lamport = del.target.lamport;
        let end = lamport + del.len;
        while lamport < end {
            let id = Id::new(lamport, del.target.replica_id);
            let c = self.locate(id).ok_or(Error::UnknownId { id })?;
            let span = self.tree.span(c);
            lamport = span.lamport + u64::from(span.len());
        }
        Ok(())
    }

    /// Errors unless the first `k` units of `op` equal the units already in
    /// the log under the same sequence numbers.
    fn check_same(&self, r: u32, op: &Op, k: u64) -> Result<(), Error> {
        let mut chars = match op {
            Op::Insert(ins) => Some(ins.text.chars()),
            Op::Delete(_) => None,
        };
        let ours = self
            .log
            .units(r, op.seq(), &self.replica_ids, &self.content);
        for (i, unit) in (0..k).zip(ours) {
            let ch = chars.as_mut().and_then(Iterator::next);
            if unit != op_unit(op, i, ch) {
                return Err(Error::ConflictingOp {
                    replica_id: op.replica_id(),
                    seq: op.seq() + i,
                });
            }
        }
        Ok(())
    }

    /// Places an insert (already validated, its parent at `after`) in the
    /// tree and records it.
    /// Typing on where the last local insert ended: when the new characters
    /// continue the span the cursor ends (this replica's, next lamport, next
    /// bytes of content) they extend it in place. Nothing can sit between a
    /// character and a new local child, whose id is the largest there is.
    fn extend_typing(&mut self, c: Cursor, op: &InsertOp, n: u64) -> Option<Cursor> {
        // A span holds at most MAX_SPAN characters: a longer paste is cut
        // into spans by `integrate_insert`.
        if n > u64::from(MAX_SPAN) {
            return None;
        }
        let start = self.content.len() as u32;
        let bytes = op.text.len() as u32;
        let utf16 = if u64::from(bytes) == n {
            bytes
        } else {
            op.text.encode_utf16().count() as u32
        };
        let new = Span::new(op.lamport, self.me, start, (n as u32, bytes, utf16), false);
        let last = self.tree.extend_at(c, &new)?;
        self.push_content(&op.text);
        // The parent is the character before, this replica's own.
        let run = Run::insert(
            op.seq,
            op.lamport,
            n,
            Some((self.me, op.lamport - 1)),
            start,
            bytes,
        );
        self.record(self.me, run);
        Some(last)
    }

    fn push_content(&mut self, text: &str) {
        // The arena grows by an eighth, not by doubling: it is a long
        // document's largest block, and doubling leaves up to half of it
        // spare for good.
        let spare = self.content.capacity() - self.content.len();
        if spare < text.len() {
            let more = text.len().max(self.content.len() / 8).max(64);
            self.content.reserve_exact(more);
        }
        match text.as_bytes() {
            // One ASCII character, the common keystroke: skip the copy call.
            &[b] => self.content.push(char::from(b)),
            _ => self.content.push_str(text),
        }
    }

    /// Returns the cursor at the run's last character.
    fn integrate_insert(
        &mut self,
        r: u32,
        op: &InsertOp,
        n: u64,
        mut after: Option<Cursor>,
    ) -> Cursor {
        let parent = after.map(|c| {
            let span = self.tree.span(c);
            (span.replica, span.lamport + u64::from(c.offset))
        });
        let start = self.content.len() as u32;
        self.push_content(&op.text);
        let ascii = op.text.len() as u64 == n;
        let mut chars = op.text.chars();
        let (mut done, mut at) = (0u32, start);
        while u64::from(done) < n {
            let len = (n as u32 - done).min(MAX_SPAN);
            let (bytes, utf16) = if ascii {
                (len, len)
            } else {
                chars.by_ref().take(len as usize).fold((0, 0), |(b, u), c| {
                    (b + c.len_utf8() as u32, u + c.len_utf16() as u32)
                })
            };
            let span = Span::new(
                op.lamport + u64::from(done),
                r,
                at,
                (len, bytes, utf16),
                false,
            );
            let id = (span.lamport, op.replica_id);
            after = Some(
                self.tree
                    .integrate(after, span, id, &self.replica_ids, &self.content),
            );
            done += len;
            at += bytes;
        }
        let run = Run::insert(op.seq, op.lamport, n, parent, start, op.text.len() as u32);
        self.record(r, run);
        after.expect("a run has at least one character")
    }

    fn record(&mut self, r: u32, run: Run) {
        let last = run.lamport + run.len - 1;
        self.seen[r as usize] = run.seq + run.len;
        self.last_lamport[r as usize] = last;
        self.clock = self.clock.max(last);
        self.log.push(r, run);
    }

    /// Integrates every buffered operation that `replica`'s progress unblocks,
    /// and whatever those unblock in turn.
    fn release(&mut self, replica: u32) -> (usize, usize) {
        let mut queue = Vec::new();
        let (mut released, mut rejected) = (0, 0);
        self.wake(replica, &mut queue);
        while let Some(op) = queue.pop() {
            match self.step(&op) {
                Ok(Step::Done(r)) => {
                    released += 1;
                    self.wake(r, &mut queue);
                }
                Ok(Step::Duplicate) => {}
                Ok(Step::Wait(wait)) => self.pending.repark(wait, &op),
                Err(_) => rejected += 1,
            }
        }
        (released, rejected)
    }

    fn wake(&mut self, replica: u32, queue: &mut Vec<Op>) {
        let r = replica as usize;
        self.pending.wake(
            self.replica_ids[r],
            self.seen[r],
            self.last_lamport[r],
            queue,
        );
    }
}

/// Sizes of a document's internal structures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Spans in the sequence tree.
    pub spans: usize,
    /// Entries in the id index.
    pub index_entries: usize,
    /// Runs in the operation log.
    pub log_runs: usize,
    /// Characters stored, deleted ones included.
    pub chars_stored: u64,
}
