//! The rebuild after the server refused one of this replica's edits for
//! good (`docs/protocol.md` §5, step 7): the edit is dropped and the later
//! ones are typed again on top of what the server has.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use super::{ClientSession, Event, MAX_OP_TEXT_BYTES, Splice, Status, diff};
use crate::doc::Doc;
use crate::error::Error;
use crate::op::Op;
use crate::snapshot::Snapshot;
use crate::sync::message::ErrorMessage;

impl ClientSession {
    pub(super) fn on_refusal(&mut self, error: ErrorMessage) -> Event {
        let refused = match (error.error_code(), error.seq, error.fatal) {
            (Some(code), Some(seq), false) if code.refused_for_good() => (code, seq),
            _ => return Event::Error(error),
        };
        let (code, seq) = refused;
        if !self.unacked.iter().any(|op| op.seq() == seq) {
            return Event::Error(error);
        }
        match self.drop_from(seq) {
            Ok(splices) => Event::Dropped { code, seq, splices },
            // Rebuilding failed (it cannot for a replica this session
            // built): report the refusal as it came.
            Err(_) => Event::Error(error),
        }
    }

    /// Drops this replica's operation `seq` and rebuilds the edits after
    /// it on top of everything else (`docs/protocol.md` §5.7).
    fn drop_from(&mut self, seq: u64) -> Result<Vec<Splice>, Error> {
        let me = self.doc.replica_id();
        let Some(refused) = self.unacked.iter().find(|op| op.seq() == seq).cloned() else {
            return Ok(Vec::new());
        };
        let mut upto = self.doc.version();
        upto.set(me, seq);
        let mut base = Doc::from_snapshot(
            me,
            &Snapshot {
                ops: self.doc.ops_between(&crate::VersionVector::new(), &upto),
            },
        )?;
        let before = self.doc.text();
        let refused_ids = |id: crate::Id| {
            id.replica_id == me
                && id.lamport >= refused.lamport()
                && id.lamport < refused.lamport() + refused.len()
        };
        let deleted_by_refused = |id: crate::Id| match &refused {
            Op::Delete(del) => {
                id.replica_id == del.target.replica_id
                    && id.lamport >= del.target.lamport
                    && id.lamport < del.target.lamport + del.len
            }
            Op::Insert(_) => false,
        };
        // Walk the old replica's sequence: characters the base has keep or
        // lose their place as the old replica says; characters of this
        // replica's later inserts are typed again at their place.
        let mut chars = before.chars();
        let mut pos = 0usize;
        let mut pending_insert = String::new();
        let mut pending_delete = 0usize;
        let mut edits: Vec<(usize, usize, String)> = Vec::new();
        let mut flush = |pos: &mut usize, del: &mut usize, ins: &mut String| {
            if *del > 0 || !ins.is_empty() {
                edits.push((*pos, *del, core::mem::take(ins)));
                *pos += edits.last().map_or(0, |e| e.2.chars().count());
                *del = 0;
            }
        };
        for (id, deleted) in self.doc.layout() {
            let visible_char = if deleted { None } else { chars.next() };
            if refused_ids(id) {
                continue;
            }
            match base.pos_of(id) {
                Ok((_, in_base_deleted)) => {
                    if in_base_deleted {
                        continue;
                    }
                    if deleted && !deleted_by_refused(id) {
                        if !pending_insert.is_empty() {
                            flush(&mut pos, &mut pending_delete, &mut pending_insert);
                        }
                        pending_delete += 1;
                    } else {
                        flush(&mut pos, &mut pending_delete, &mut pending_insert);
                        pos += 1;
                    }
                }
                Err(_) => {
                    if let Some(ch) = visible_char {
                        if pending_delete > 0 && pending_insert.is_empty() {
                            flush(&mut pos, &mut pending_delete, &mut pending_insert);
                        }
                        pending_insert.push(ch);
                    }
                }
            }
        }
        flush(&mut pos, &mut pending_delete, &mut pending_insert);
        let mut rebuilt: VecDeque<Op> = self
            .unacked
            .iter()
            .filter(|op| op.seq() < seq)
            .cloned()
            .collect();
        for (at, del, ins) in edits {
            if del > 0 {
                rebuilt.extend(base.delete(at, del)?.into_vec());
            }
            let mut p = at;
            for piece in crate::undo::pieces(&ins, MAX_OP_TEXT_BYTES) {
                rebuilt.extend(base.insert(p, piece)?);
                p += piece.chars().count();
            }
        }
        let splices = diff(&before, &base.text());
        // The later edits were typed again as new characters: the undo
        // history names the old ones, so it goes.
        #[cfg(feature = "undo")]
        self.history.manager.clear();
        self.doc = base;
        self.unacked = rebuilt;
        self.sent = 0;
        self.status = Status::Offline;
        Ok(splices)
    }
}
