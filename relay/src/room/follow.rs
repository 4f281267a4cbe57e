//! A room on a store several relays share (`docs/scale-out.md`): the
//! database, not the room, numbers operations, so a room integrates a
//! client's batch at once (to check it) but echoes nothing until it meets
//! the batch in the log. Every operation is echoed the same way, whichever
//! relay it came through: when the room reads the log's next entries, in
//! `server_seq` order, without gaps. The log reaches the room three ways:
//! the numbering of its own batches (the commit workers'
//! `CommitSink::sequenced`), other relays' commits announced by the store,
//! and a periodic poll; the reads are made by [`crate::rooms`], off the
//! room's lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use collab_crdt::Op;
use collab_crdt::sync::{ErrorCode, OpEcho, ServerMessage, ServerSeq};

use super::{Room, RoomState, SubmitError};
use crate::commit::Job;
use crate::member::{Frame, Outgoing};
use crate::store::LoggedOp;

/// A batch integrated here and sent to be numbered, not yet met in the log.
pub(super) struct Pending {
    /// Its operations not yet met in the log, as `(replica_id, seq, end)`,
    /// `end` the `seq` after an operation's last unit. The store may log a
    /// resend in pieces (the units it held already keep their entry), and
    /// a replica's units reach the log in `seq` order, so an operation is
    /// in the log once an entry of its replica reaching its end is.
    pub ids: Vec<(u64, u64, u64)>,
    received: Instant,
}

impl Room {
    /// The shared-store half of [`Room::submit`]: `ops` are integrated;
    /// they are queued to be numbered, and echoed once met in the log.
    pub(super) fn submit_shared(
        self: &Arc<Self>,
        state: &mut RoomState,
        origin: u64,
        ops: Vec<Op>,
        received: Instant,
    ) -> Result<(), SubmitError> {
        let Some(commit) = &self.cx.commit else {
            // A shared store is durable: the relay always starts commit
            // workers for it.
            self.break_room(state, "no commit workers for a shared store");
            return Err(SubmitError::Closed);
        };
        state.cached_snapshot = None;
        state.pending.push_back(Pending {
            ids: ops
                .iter()
                .map(|op| (op.replica_id(), op.seq(), op.seq() + op.len()))
                .collect(),
            received,
        });
        let job = Job::Sequence {
            doc_id: self.doc_id.clone(),
            origin,
            ops,
            sink: self.clone(),
        };
        if !commit.send(job) {
            self.break_room(state, "the relay is stopping");
            return Err(SubmitError::Closed);
        }
        Ok(())
    }

    /// Integrates and echoes the log entries that continue the room's
    /// `durable` (a read from the store, or a batch just numbered); those
    /// already integrated are skipped, and those past a gap are left for
    /// the read that the gap calls for.
    pub fn follow(self: &Arc<Self>, logged: Vec<LoggedOp>) {
        let mut state = self.lock();
        self.follow_locked(&mut state, logged);
        self.maybe_snapshot(&mut state);
    }

    pub(super) fn follow_locked(&self, state: &mut RoomState, mut logged: Vec<LoggedOp>) {
        if state.broken {
            return;
        }
        logged.sort_by_key(|l| l.server_seq);
        if let Some(last) = logged.last() {
            state.known_head = state.known_head.max(last.server_seq);
        }
        let mut frames = Vec::new();
        // The furthest end met per replica.
        let mut met: HashMap<u64, u64> = HashMap::new();
        for entry in logged {
            if entry.server_seq <= state.durable {
                continue;
            }
            if entry.server_seq != state.durable.next() {
                break;
            }
            match state.doc.apply_ready(&entry.op) {
                Ok(collab_crdt::Applied::Duplicate) => {}
                Ok(_) => state.history += 1,
                Err(e) => {
                    // The log holds what this document cannot take: the
                    // room can no longer follow it. Its clients reconnect
                    // and the document is loaded afresh.
                    tracing::error!(doc_id = &*self.doc_id, server_seq = %entry.server_seq, error = %e, "logged operation does not apply; reloading the document");
                    self.break_room(state, "the document must be reloaded");
                    return;
                }
            }
            let end = entry.op.seq() + entry.op.len();
            let reached = met.entry(entry.op.replica_id()).or_default();
            *reached = (*reached).max(end);
            state.durable = entry.server_seq;
            state.head = entry.server_seq;
            frames.push(Frame::new(
                ServerMessage::OpEcho(OpEcho {
                    server_seq: entry.server_seq,
                    replica_id: entry.origin,
                    op: entry.op,
                })
                .to_json(),
            ));
        }
        if frames.is_empty() {
            self.signal_lag(state);
            return;
        }
        state.cached_snapshot = None;
        state.log_bytes += frames.iter().map(|f| f.len() as u64).sum::<u64>();
        let last = state.durable;
        let out = Outgoing::new(frames, &self.cx.budget);
        self.fan_out(state, &out, last);
        for batch in &mut state.pending {
            batch
                .ids
                .retain(|(replica, _, end)| met.get(replica).is_none_or(|reached| reached < end));
        }
        while state.pending.front().is_some_and(|p| p.ids.is_empty()) {
            if let Some(batch) = state.pending.pop_front() {
                self.cx.metrics.op_echo(batch.received.elapsed());
            }
        }
        self.signal_lag(state);
    }

    /// Wakes the follower if the log is known to be ahead of the room.
    fn signal_lag(&self, state: &RoomState) {
        if state.known_head > state.durable {
            self.cx.lagging.notify_one();
        }
    }

    /// Another relay committed up to `head`: true when the room lacks
    /// some of it (the follower then reads it).
    pub fn note_head(&self, head: ServerSeq) -> bool {
        let mut state = self.lock();
        state.known_head = state.known_head.max(head);
        !state.broken && state.known_head > state.durable
    }

    /// Whether the log is known to hold entries the room has not met.
    pub fn lagging(&self) -> bool {
        let state = self.lock();
        !state.broken && state.known_head > state.durable
    }

    /// The log no longer holds what the room lacks (another relay's
    /// snapshot let it be cut): send every client back to reload it.
    pub fn cannot_follow(&self) {
        let mut state = self.lock();
        self.break_with(
            &mut state,
            ErrorCode::TooSlow,
            "the document fell behind its log; reconnect",
        );
    }
}
