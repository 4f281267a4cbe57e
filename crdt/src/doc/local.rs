//! This replica's own edits: insert, delete and replace at a position,
//! each returning the operations to send.

use smol_str::SmolStr;

use super::Doc;
use crate::error::Error;
use crate::id::Id;
use crate::op::{DeleteOp, InsertOp, Op, Ops};
use crate::oplog::Run;
use crate::tree::Pieces;

impl Doc {
    /// Inserts `text` so that its first character lands at `pos` (in
    /// characters). Returns the operation to send, or `None` for empty text.
    pub fn insert(&mut self, pos: usize, text: &str) -> Result<Option<Op>, Error> {
        if text.is_empty() {
            return Ok(None);
        }
        let n = if text.len() == 1 {
            1
        } else {
            text.chars().count() as u64
        };
        let typing = match self.typing {
            Some((at, c)) if at == pos => Some(c),
            _ => None,
        };
        if typing.is_none() {
            self.check_range(pos, 0)?;
        }
        let (seq, lamport) = self.next_ids(n)?;
        self.check_size(n, text.len())?;
        let after = typing.or_else(|| pos.checked_sub(1).map(|p| self.tree.find_char(p)));
        let op = InsertOp {
            replica_id: self.replica_id,
            seq,
            lamport,
            parent_id: after.map(|c| self.id_at_cursor(c)),
            text: op_text(text),
        };
        let last = match typing.and_then(|c| self.extend_typing(c, &op, n)) {
            Some(last) => last,
            None => self.integrate_insert(self.me, &op, n, after),
        };
        self.typing = Some((pos + n as usize, last));
        Ok(Some(Op::Insert(op)))
    }

    /// Deletes `len` characters from `pos`. Returns the operations to send:
    /// one per run of consecutive ids removed.
    pub fn delete(&mut self, pos: usize, len: usize) -> Result<Ops, Error> {
        if len == 0 {
            return Ok(Ops::default());
        }
        self.check_range(pos, len)?;
        let (mut seq, mut lamport) = self.next_ids(len as u64)?;
        self.typing = None;
        let mut ops = Ops::default();
        let c = self.tree.find_char(pos);
        let span = self.tree.span(c);
        if len as u64 <= u64::from(span.len() - c.offset) {
            // One span holds the range, as for a backspace: one op, pushed
            // before the tree work so that returning it reads stores that
            // have landed (see `local_delete`).
            let target = span.lamport + u64::from(c.offset);
            let run = (span.replica, target, len as u64);
            self.local_delete(run, &mut seq, &mut lamport, &mut ops);
            self.tree.delete_at(c, len as u64, &self.content);
            return Ok(ops);
        }
        // The run of consecutive target ids being collected: (replica, first lamport, count).
        let mut run: Option<(u32, u64, u64)> = None;
        let mut left = len as u64;
        let mut pieces = Pieces::new();
        while left > 0 {
            let c = self.tree.find_char(pos);
            let span = self.tree.span(c);
            pieces.clear();
            // A range past this span goes leaf by leaf, not span by span.
            if left > u64::from(span.len() - c.offset)
                && self
                    .tree
                    .delete_in_leaf(c, left, &self.content, &mut pieces)
                    .is_some()
            {
                for &(replica, target, took) in &pieces {
                    left -= u64::from(took);
                    self.extend_delete(
                        &mut run,
                        (replica, target, took),
                        &mut ops,
                        &mut seq,
                        &mut lamport,
                    );
                }
                continue;
            }
            let took = self.tree.delete_at(c, left, &self.content);
            left -= u64::from(took);
            let target = span.lamport + u64::from(c.offset);
            self.extend_delete(
                &mut run,
                (span.replica, target, took),
                &mut ops,
                &mut seq,
                &mut lamport,
            );
        }
        if let Some(done) = run {
            self.local_delete(done, &mut seq, &mut lamport, &mut ops);
        }
        Ok(ops)
    }

    /// Adds `took` characters from `(replica, target)` on to the run of
    /// consecutive targets being collected, first turning the run into an
    /// op when they do not continue it.
    fn extend_delete(
        &mut self,
        run: &mut Option<(u32, u64, u64)>,
        (replica, target, took): (u32, u64, u32),
        ops: &mut Ops,
        seq: &mut u64,
        lamport: &mut u64,
    ) {
        let took = u64::from(took);
        match run.as_mut() {
            Some((r, start, n)) if *r == replica && *start + *n == target => *n += took,
            _ => {
                if let Some(done) = run.replace((replica, target, took)) {
                    self.local_delete(done, seq, lamport, ops);
                }
            }
        }
    }

    /// Records a local delete of `n` characters from `(replica, target)`
    /// and pushes its op, advancing the ids it takes. The op is built
    /// before the log's work and pushed after it: copied right away (into
    /// `ops`, or out as a return value), its fields, stored one by one,
    /// were loaded in wider pieces before the stores had landed, a
    /// store-forwarding stall on every backspace.
    fn local_delete(
        &mut self,
        (replica, target, n): (u32, u64, u64),
        seq: &mut u64,
        lamport: &mut u64,
        ops: &mut Ops,
    ) {
        let (s, l) = (*seq, *lamport);
        let op = Op::Delete(DeleteOp {
            replica_id: self.replica_id,
            seq: s,
            lamport: l,
            target: Id::new(target, self.replica_ids[replica as usize]),
            len: n,
            reversed: false,
        });
        *seq += n;
        *lamport += n;
        self.record(self.me, Run::delete(s, l, n, (replica, target), false));
        ops.push(op);
    }

    /// Deletes `del` characters at `pos`, then inserts `text` there.
    pub fn replace(&mut self, pos: usize, del: usize, text: &str) -> Result<Ops, Error> {
        self.check_range(pos, del)?;
        let n = text.chars().count() as u64;
        self.next_ids(del as u64 + n)?;
        self.check_size(n, text.len())?;
        let mut ops = self.delete(pos, del)?;
        ops.extend(self.insert(pos, text)?);
        Ok(ops)
    }
}

/// The text of a local insert as an op's `SmolStr`. A keystroke's one ASCII
/// character points into [`ASCII`] (no 23-byte inline buffer to zero and
/// fill per keystroke: that was a twentieth of a replay's time); other
/// short texts are copied inline directly: `SmolStr::from` first looks for
/// its special whitespace-only form, which costs more than the copy.
fn op_text(text: &str) -> SmolStr {
    match text.as_bytes() {
        &[b] if b.is_ascii() => SmolStr::new_static(&ASCII[b as usize..b as usize + 1]),
        _ if text.len() <= 23 => SmolStr::new_inline(text),
        _ => SmolStr::new(text),
    }
}

/// Every ASCII character once, in order: character `b` is `ASCII[b..b + 1]`.
const ASCII: &str = {
    const BYTES: [u8; 128] = {
        let mut bytes = [0u8; 128];
        let mut b = 0;
        while b < 128 {
            bytes[b] = b as u8;
            b += 1;
        }
        bytes
    };
    match core::str::from_utf8(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("ASCII is UTF-8"),
    }
};
