//! A loaded document and its connected clients: where operations are
//! integrated, numbered, logged and fanned out, and where a joining client
//! learns how to catch up.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use collab_crdt::sync::{
    ErrorCode, Hello, HelloAck, OpEcho, Resync, ServerMessage, ServerSeq, SnapshotFormat,
};
use collab_crdt::{Applied, Doc, MAX_SAFE, Op, Snapshot, VersionVector};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::commit::{CommitQueue, Job};
use crate::config::Config;
use crate::connection::{Kill, Outgoing};
use crate::store::{LoggedOp, Since, Store, StoreError, StoredDoc, StoredSnapshot};

/// The server's own replica id. The relay never edits, so its replica
/// makes no operations and cannot collide with a client's.
const SERVER_REPLICA: u64 = MAX_SAFE;

/// Batches a room may have waiting for their commit; past it the store is
/// not keeping up and the sender is asked to come back later.
const MAX_UNSENT: usize = 1024;

/// A connection, as numbered by the relay (never sent on the wire).
pub type ConnId = u64;

/// A connected client as the room sees it.
pub struct Member {
    pub replica_id: u64,
    /// Bounded: a full queue means the client reads too slowly.
    pub queue: mpsc::Sender<Outgoing>,
    pub kill: Arc<Kill>,
    /// Where the client's catch-up ended: echoes up to here it already has.
    pub caught_up: ServerSeq,
}

pub struct Room {
    pub doc_id: Arc<str>,
    store: Arc<dyn Store>,
    /// The group-commit thread, for a durable store; `None` appends inline
    /// (the memory store, where an append is a `Vec::extend`).
    commit: Option<CommitQueue>,
    config: Arc<Config>,
    state: Mutex<RoomState>,
}

struct RoomState {
    /// Set once the room is unloaded or broken: a client that finds its room
    /// closed looks it up again, so a document never has two live rooms.
    closed: bool,
    /// Set when the store failed: the document holds operations the store
    /// may not have, so nothing more is stored or sent from this room.
    broken: bool,
    doc: Doc,
    epoch: String,
    /// The `server_seq` of the last accepted operation.
    head: ServerSeq,
    /// The last `server_seq` known stored; echoes never pass it.
    durable: ServerSeq,
    /// Accepted batches waiting for their commit, oldest first (group
    /// commit only).
    unsent: VecDeque<Unsent>,
    /// Where the latest snapshot handed to the store stands, and the log
    /// written since: the snapshot policy's inputs.
    snapshot_at: ServerSeq,
    log_bytes: u64,
    /// The encoded document at `head`, kept until the next change: every
    /// client that joins between two edits shares one encoding.
    cached_snapshot: Option<StoredSnapshot>,
    members: HashMap<ConnId, Member>,
    /// When the last member left, for unloading idle rooms.
    empty_since: Option<Instant>,
}

/// A batch accepted and numbered, not yet known stored.
struct Unsent {
    last: ServerSeq,
    out: Outgoing,
    /// Its operations' `(replica_id, seq)`, to compute the durable version.
    ids: Vec<(u64, u64)>,
}

/// What [`Room::unload_if_idle`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unload {
    /// Closed: take it out of the registry.
    Done,
    /// Clients are back; the next one to leave starts a new timer.
    InUse,
    /// Empty, but not for long enough, or batches still wait for their
    /// commit: look again later.
    NotYet,
}

/// How a joining client catches up.
pub enum CatchUp {
    Replay(Vec<LoggedOp>),
    Snapshot(StoredSnapshot),
    /// A snapshot as the canonical history, for `snapshot_format: "ops"`.
    SnapshotOps(ServerSeq, Vec<Op>),
}

pub struct Joined {
    pub ack: HelloAck,
    pub catch_up: CatchUp,
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The room was unloaded meanwhile; look the document up again.
    #[error("room closed")]
    Closed,
    #[error("document {doc_id:?} already has {limit} connections")]
    Full { doc_id: String, limit: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An operation the room refused; those before it in the batch were
/// accepted.
#[derive(Debug)]
pub struct Refused {
    pub index: usize,
    pub code: &'static str,
    pub message: String,
}

/// Why a batch could not be handled at all.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("room closed")]
    Closed,
    #[error("the store is not keeping up")]
    Overloaded,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Room {
    /// Rebuilds a document from what the store holds.
    pub fn load(
        doc_id: &str,
        stored: StoredDoc,
        store: Arc<dyn Store>,
        commit: Option<CommitQueue>,
        config: Arc<Config>,
    ) -> Result<Room, StoreError> {
        let corrupt = |why: String| StoreError::Corrupt(format!("document {doc_id:?}: {why}"));
        let (mut doc, mut head) = match &stored.snapshot {
            Some(s) => (
                Doc::decode(SERVER_REPLICA, &s.data).map_err(|e| corrupt(e.to_string()))?,
                s.server_seq,
            ),
            None => (
                Doc::new(SERVER_REPLICA).map_err(|e| corrupt(e.to_string()))?,
                ServerSeq::ZERO,
            ),
        };
        let snapshot_at = head;
        doc.set_pending_limit(0);
        for logged in &stored.tail {
            if logged.server_seq != head.next() {
                return Err(corrupt(format!(
                    "log jumps from server_seq {head} to {}",
                    logged.server_seq
                )));
            }
            doc.apply_ready(&logged.op)
                .map_err(|e| corrupt(e.to_string()))?;
            head = logged.server_seq;
        }
        Ok(Room {
            doc_id: doc_id.into(),
            store,
            commit,
            config,
            state: Mutex::new(RoomState {
                closed: false,
                broken: false,
                doc,
                epoch: stored.epoch,
                head,
                durable: head,
                unsent: VecDeque::new(),
                snapshot_at,
                log_bytes: 0,
                cached_snapshot: None,
                members: HashMap::new(),
                empty_since: Some(Instant::now()),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, RoomState> {
        // No code panics while holding this lock, except through a bug; the
        // state is then still the last consistent one, as every mutation
        // below is ordered check-then-commit.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a client and decides between replay and snapshot, under the
    /// same lock that orders operations: the catch-up ends exactly where
    /// the client's echoes begin.
    pub fn join(
        &self,
        conn: ConnId,
        hello: &Hello,
        mut member: Member,
    ) -> Result<Joined, JoinError> {
        let mut state = self.lock();
        if state.closed {
            return Err(JoinError::Closed);
        }
        let stale: Vec<ConnId> = state
            .members
            .iter()
            .filter(|(_, m)| m.replica_id == hello.replica_id)
            .map(|(&id, _)| id)
            .collect();
        for id in stale {
            if let Some(old) = state.members.remove(&id) {
                old.kill
                    .fire(ErrorCode::Superseded, "replica connected again");
            }
        }
        let limit = self.config.max_connections_per_doc;
        if state.members.len() >= limit {
            return Err(JoinError::Full {
                doc_id: self.doc_id.to_string(),
                limit,
            });
        }
        let (catch_up, at) = self.catch_up(&mut state, hello)?;
        member.caught_up = at;
        state.members.insert(conn, member);
        state.empty_since = None;
        let ack = HelloAck {
            doc_id: self.doc_id.to_string(),
            replica_id: hello.replica_id,
            server_seq: at,
            epoch: state.epoch.clone(),
            resync: match catch_up {
                CatchUp::Replay(_) => Resync::Replay,
                CatchUp::Snapshot(_) | CatchUp::SnapshotOps(..) => Resync::Snapshot,
            },
        };
        Ok(Joined { ack, catch_up })
    }

    /// The replay-or-snapshot rule of `docs/protocol.md`, and where the
    /// catch-up ends. Only stored operations are replayed.
    fn catch_up(
        &self,
        state: &mut RoomState,
        hello: &Hello,
    ) -> Result<(CatchUp, ServerSeq), StoreError> {
        let from = hello.last_seen_server_seq.unwrap_or(ServerSeq::ZERO);
        let same_history = match &hello.epoch {
            Some(epoch) => *epoch == state.epoch,
            None => from == ServerSeq::ZERO,
        };
        let durable = state.durable;
        if same_history && from <= durable && durable.0 - from.0 <= self.config.max_replay_ops {
            if from == durable {
                return Ok((CatchUp::Replay(Vec::new()), durable));
            }
            if let Since::Ops(mut ops) = self.store.read_since(&self.doc_id, from)? {
                // The store may already hold a batch whose commit the room
                // has not heard of yet: its echo is still to come.
                ops.retain(|op| op.server_seq <= durable);
                return Ok((CatchUp::Replay(ops), durable));
            }
        }
        let at = state.durable;
        Ok(match hello.snapshot_format.unwrap_or_default() {
            SnapshotFormat::Bytes => (CatchUp::Snapshot(Self::durable_snapshot(state)?), at),
            SnapshotFormat::Ops => (CatchUp::SnapshotOps(at, Self::durable_ops(state)), at),
        })
    }

    /// The version the store holds: the document's, less the batches still
    /// waiting for their commit; `None` when none wait.
    fn durable_version(state: &RoomState) -> Option<VersionVector> {
        if state.unsent.is_empty() {
            return None;
        }
        let mut version = state.doc.version();
        for batch in &state.unsent {
            for &(replica, seq) in &batch.ids {
                version.set(replica, version.get(replica).min(seq));
            }
        }
        Some(version)
    }

    /// The stored history in canonical form.
    fn durable_ops(state: &RoomState) -> Vec<Op> {
        match Self::durable_version(state) {
            None => state.doc.snapshot().ops,
            Some(version) => state.doc.ops_between(&VersionVector::new(), &version),
        }
    }

    /// The document as stored, encoded: at `durable`, without batches still
    /// waiting for their commit.
    fn durable_snapshot(state: &mut RoomState) -> Result<StoredSnapshot, StoreError> {
        if state.unsent.is_empty() {
            return Ok(Self::snapshot_of(state));
        }
        let doc = Doc::from_snapshot(
            SERVER_REPLICA,
            &Snapshot {
                ops: Self::durable_ops(state),
            },
        )
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(StoredSnapshot {
            server_seq: state.durable,
            data: doc.encode().into(),
        })
    }

    fn snapshot_of(state: &mut RoomState) -> StoredSnapshot {
        if let Some(s) = &state.cached_snapshot
            && s.server_seq == state.head
        {
            return s.clone();
        }
        let snapshot = StoredSnapshot {
            server_seq: state.head,
            data: state.doc.encode().into(),
        };
        state.cached_snapshot = Some(snapshot.clone());
        snapshot
    }

    /// Removes a client; returns true when the room is left empty.
    pub fn leave(&self, conn: ConnId) -> bool {
        let mut state = self.lock();
        state.members.remove(&conn);
        if state.members.is_empty() && state.empty_since.is_none() {
            state.empty_since = Some(Instant::now());
        }
        state.members.is_empty()
    }

    /// Integrates a client's batch: each new operation gets the next
    /// `server_seq`; the batch is stored (inline, or by the group-commit
    /// thread), and only once it is stored are its echoes, serialized once,
    /// queued for every member. Duplicates (resent operations) are skipped
    /// silently: their echo went out when they were first accepted. Stops
    /// at the first refused operation.
    pub fn submit(
        self: &Arc<Self>,
        origin: u64,
        ops: Vec<Op>,
    ) -> Result<Option<Refused>, SubmitError> {
        let mut state = self.lock();
        if state.closed {
            return Err(SubmitError::Closed);
        }
        if state.unsent.len() >= MAX_UNSENT {
            return Err(SubmitError::Overloaded);
        }
        let mut accepted = Vec::new();
        let mut refused = None;
        let mut head = state.head;
        for (index, op) in ops.into_iter().enumerate() {
            if let Err(r) = Self::check(&state.doc, origin, &op, &self.config) {
                refused = Some(Refused { index, ..r });
                break;
            }
            match state.doc.apply_ready(&op) {
                Ok(Applied::Duplicate) => {}
                Ok(_) => {
                    head = head.next();
                    accepted.push(LoggedOp {
                        server_seq: head,
                        origin,
                        op,
                    });
                }
                Err(e) => {
                    refused = Some(Refused {
                        index,
                        code: e.code(),
                        message: e.to_string(),
                    });
                    break;
                }
            }
        }
        if accepted.is_empty() {
            return Ok(refused);
        }
        let frames: Vec<Message> = accepted
            .iter()
            .map(|logged| {
                let echo = ServerMessage::OpEcho(OpEcho {
                    server_seq: logged.server_seq,
                    replica_id: origin,
                    op: logged.op.clone(),
                });
                Message::text(echo.to_json())
            })
            .collect();
        state.log_bytes += frames.iter().map(|f| f.len() as u64).sum::<u64>();
        let out = match <[Message; 1]>::try_from(frames) {
            Ok([frame]) => Outgoing::One(frame),
            Err(frames) => Outgoing::Batch(frames.into()),
        };
        state.head = head;
        state.cached_snapshot = None;
        match &self.commit {
            None => {
                if let Err(e) = self.store.append(&self.doc_id, &accepted) {
                    // The document now holds operations the store does not:
                    // it can no longer be trusted. Nothing was echoed, so
                    // sending everyone back through a reload loses nothing
                    // anyone was told is stored; senders still hold their
                    // edits.
                    Self::break_room(&mut state, "the document's store failed");
                    return Err(e.into());
                }
                state.durable = head;
                Self::fan_out(&mut state, &out, head);
            }
            Some(commit) => {
                let ids = accepted
                    .iter()
                    .map(|l| (l.op.replica_id(), l.op.seq()))
                    .collect();
                state.unsent.push_back(Unsent {
                    last: head,
                    out,
                    ids,
                });
                let job = Job::Append {
                    room: self.clone(),
                    ops: accepted,
                };
                if !commit.send(job) {
                    Self::break_room(&mut state, "the relay is stopping");
                    return Err(SubmitError::Closed);
                }
            }
        }
        self.maybe_snapshot(&mut state);
        Ok(refused)
    }

    /// The group-commit thread stored everything up to `upto`: release
    /// those echoes, in order.
    pub fn committed(&self, upto: ServerSeq) {
        let mut state = self.lock();
        if state.broken {
            return;
        }
        state.durable = state.durable.max(upto);
        while state
            .unsent
            .front()
            .is_some_and(|b| b.last <= state.durable)
        {
            if let Some(batch) = state.unsent.pop_front() {
                Self::fan_out(&mut state, &batch.out, batch.last);
            }
        }
    }

    /// The group-commit thread could not store a batch of this room.
    pub fn fail(&self, why: &'static str) {
        let mut state = self.lock();
        Self::break_room(&mut state, why);
    }

    /// Queues a batch's echoes for every member that has not seen them,
    /// closing members whose queue is full.
    fn fan_out(state: &mut RoomState, out: &Outgoing, last: ServerSeq) {
        let mut slow = Vec::new();
        for (&id, member) in &state.members {
            if member.caught_up < last && member.queue.try_send(out.clone()).is_err() {
                slow.push(id);
            }
        }
        for id in slow {
            if let Some(member) = state.members.remove(&id) {
                member.kill.fire(ErrorCode::TooSlow, "send queue full");
            }
        }
    }

    /// What the room checks beyond the CRDT's own validation.
    fn check(doc: &Doc, origin: u64, op: &Op, config: &Config) -> Result<(), Refused> {
        if op.replica_id() != origin {
            return Err(Refused {
                index: 0,
                code: ErrorCode::WrongReplica.as_str(),
                message: format!(
                    "operation of replica {} sent by replica {origin}",
                    op.replica_id()
                ),
            });
        }
        if let Op::Insert(ins) = op {
            let chars = ins.text.chars().count() as u64;
            if doc.chars_stored() + chars > config.max_doc_chars {
                return Err(Refused {
                    index: 0,
                    code: "document_too_large",
                    message: format!(
                        "the document would exceed {} characters, deleted ones included",
                        config.max_doc_chars
                    ),
                });
            }
        }
        Ok(())
    }

    /// The snapshot policy: a snapshot every `snapshot_every_ops`
    /// operations or `snapshot_every_bytes` of log.
    fn maybe_snapshot(self: &Arc<Self>, state: &mut RoomState) {
        let ops = state.head.0 - state.snapshot_at.0;
        if ops > 0
            && (ops >= self.config.snapshot_every_ops
                || state.log_bytes >= self.config.snapshot_every_bytes)
        {
            self.persist(state);
        }
    }

    /// Hands a snapshot at the head to the store, if the head moved. With
    /// group commit it is queued behind the batches it contains, and is
    /// dropped if any of them fails.
    fn persist(self: &Arc<Self>, state: &mut RoomState) {
        if state.head == state.snapshot_at || state.broken {
            return;
        }
        let snapshot = Self::snapshot_of(state);
        let at = snapshot.server_seq;
        match &self.commit {
            None => match self.store.write_snapshot(&self.doc_id, snapshot) {
                Ok(()) => {}
                // The log still holds everything: a failed snapshot only
                // makes the next load slower.
                Err(e) => {
                    tracing::warn!(doc_id = &*self.doc_id, error = %e, "snapshot not written")
                }
            },
            Some(commit) => {
                commit.send(Job::Snapshot {
                    room: self.clone(),
                    snapshot,
                });
            }
        }
        state.snapshot_at = at;
        state.log_bytes = 0;
    }

    fn break_room(state: &mut RoomState, why: &'static str) {
        state.closed = true;
        state.broken = true;
        state.unsent.clear();
        for (_, member) in state.members.drain() {
            member.kill.fire(ErrorCode::Internal, why);
        }
    }

    /// Unloads the room if it has been empty for `idle` and everything it
    /// accepted is stored: hands over a final snapshot and closes it.
    pub fn unload_if_idle(self: &Arc<Self>, idle: std::time::Duration) -> Unload {
        let mut state = self.lock();
        if state.closed {
            return Unload::Done;
        }
        match state.empty_since {
            _ if !state.members.is_empty() => Unload::InUse,
            Some(since) if state.unsent.is_empty() && since.elapsed() >= idle => {
                self.persist(&mut state);
                state.closed = true;
                Unload::Done
            }
            _ => Unload::NotYet,
        }
    }

    /// Hands over a final snapshot and closes the room (shutdown).
    pub fn close(self: &Arc<Self>) {
        let mut state = self.lock();
        if !state.closed {
            self.persist(&mut state);
            state.closed = true;
        }
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn is_broken(&self) -> bool {
        self.lock().broken
    }

    /// The last stored `server_seq`: what clients can have seen.
    pub fn durable_head(&self) -> ServerSeq {
        self.lock().durable
    }

    pub fn text(&self) -> String {
        self.lock().doc.text()
    }

    pub fn members(&self) -> usize {
        self.lock().members.len()
    }
}

/// A snapshot's bytes as the `data` field of a `snapshot` message.
pub fn snapshot_data(snapshot: &StoredSnapshot) -> String {
    BASE64.encode(&snapshot.data)
}
