//! What a client keeps on disk to come back after a reload with its
//! unsent edits (the browser package's IndexedDB store, `docs/browser.md`):
//! the replica's snapshot, and the operations it integrated after it (its
//! own and others', which its own may name), appended as they come, each
//! time with the session's place in the relay's log. A session restored
//! from them is the same replica (same id, same next `seq`), so the relay
//! takes its resent edits as the ones it may already have, never as new
//! ones under ids already used.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use super::{ClientSession, ServerSeq};
use crate::doc::Doc;
use crate::error::Error;
use crate::op::Op;

impl ClientSession {
    /// The `seq` this replica's next operation gets: every own operation
    /// below it exists.
    pub fn local_seq(&self) -> u64 {
        self.doc.seen(self.doc.replica_id())
    }

    /// This replica's operations below this `seq` are in the relay's log
    /// (echoed); the ones from it on are in the outbox.
    pub fn acked_seq(&self) -> u64 {
        self.unacked
            .front()
            .map_or_else(|| self.local_seq(), |op| op.seq())
    }

    /// This replica's operations from `seq` on.
    fn own_ops_from(&self, seq: u64) -> Vec<Op> {
        let me = self.doc.replica_id();
        let mut known = self.doc.version();
        known.set(me, seq.min(self.local_seq()));
        self.doc
            .ops_since(&known)
            .into_iter()
            .filter(|op| op.replica_id() == me)
            .collect()
    }

    /// The session a store kept: `snapshot` (the replica's `Doc::encode`
    /// bytes), `later` (operations it integrated after the snapshot, in
    /// the order it did; ones the snapshot has change nothing), and the
    /// `last_seen`, `epoch` and [`ClientSession::acked_seq`] it had once it
    /// had integrated them. Every own operation from `acked_seq` on goes in
    /// the outbox, to be sent on the next connection; the replay from
    /// `last_seen` echoes those the relay already had. Refused with an
    /// error when one of this replica's operations cannot be integrated
    /// (a piece of the store is missing): continuing would reuse its ids.
    /// The undo history is not kept: it starts empty.
    pub fn restore(
        doc_id: impl Into<String>,
        replica_id: u64,
        snapshot: &[u8],
        last_seen: ServerSeq,
        epoch: Option<String>,
        acked_seq: u64,
        later: &[Op],
    ) -> Result<ClientSession, Error> {
        let mut session = ClientSession::new(doc_id, replica_id)?;
        let mut doc = Doc::decode(replica_id, snapshot)?;
        for op in later {
            if op.replica_id() == replica_id {
                doc.apply_ready(op)?;
            } else {
                doc.apply(op)?;
            }
        }
        session.doc = doc;
        session.unacked = VecDeque::from(session.own_ops_from(acked_seq));
        session.last_seen = last_seen;
        session.epoch = epoch;
        Ok(session)
    }
}
