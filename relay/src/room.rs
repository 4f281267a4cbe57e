//! A loaded document and its connected clients: where operations are
//! integrated, numbered, logged and fanned out, and where a joining client
//! learns how to catch up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use collab_crdt::sync::{
    ErrorCode, Hello, HelloAck, OpEcho, Resync, ServerMessage, ServerSeq, SnapshotFormat,
};
use collab_crdt::{Applied, Doc, MAX_SAFE, Op};
use tokio::sync::mpsc;
use warp::ws::Message;

use crate::config::Config;
use crate::connection::{Kill, Outgoing};
use crate::store::{LoggedOp, Since, Store, StoreError, StoredDoc, StoredSnapshot};

/// The server's own replica id. The relay never edits, so its replica
/// makes no operations and cannot collide with a client's.
const SERVER_REPLICA: u64 = MAX_SAFE;

/// A connection, as numbered by the relay (never sent on the wire).
pub type ConnId = u64;

/// A connected client as the room sees it.
pub struct Member {
    pub replica_id: u64,
    /// Bounded: a full queue means the client reads too slowly.
    pub queue: mpsc::Sender<Outgoing>,
    pub kill: Arc<Kill>,
}

pub struct Room {
    pub doc_id: Arc<str>,
    state: Mutex<RoomState>,
}

struct RoomState {
    /// Set once the room is unloaded or broken: a client that finds its room
    /// closed looks it up again, so a document never has two live rooms.
    closed: bool,
    doc: Doc,
    epoch: String,
    /// The `server_seq` of the last accepted operation.
    head: ServerSeq,
    /// Where the store's latest snapshot stands, to know when to write one.
    snapshot_at: ServerSeq,
    /// The encoded document at `head`, kept until the next change: every
    /// client that joins between two edits shares one encoding.
    cached_snapshot: Option<StoredSnapshot>,
    members: HashMap<ConnId, Member>,
    /// When the last member left, for unloading idle rooms.
    empty_since: Option<Instant>,
}

/// How a joining client catches up to the head.
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Room {
    /// Rebuilds a document from what the store holds.
    pub fn load(doc_id: &str, stored: StoredDoc) -> Result<Room, StoreError> {
        let corrupt = |why: String| StoreError::Backend(format!("document {doc_id:?}: {why}"));
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
            state: Mutex::new(RoomState {
                closed: false,
                doc,
                epoch: stored.epoch,
                head,
                snapshot_at,
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
    /// same lock that orders operations: the catch-up ends exactly at the
    /// head, and every later operation reaches the client's queue.
    pub fn join(
        &self,
        conn: ConnId,
        hello: &Hello,
        member: Member,
        config: &Config,
        store: &dyn Store,
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
        if state.members.len() >= config.max_connections_per_doc {
            return Err(JoinError::Full {
                doc_id: self.doc_id.to_string(),
                limit: config.max_connections_per_doc,
            });
        }
        let catch_up = self.catch_up(&mut state, hello, config, store)?;
        state.members.insert(conn, member);
        state.empty_since = None;
        let ack = HelloAck {
            doc_id: self.doc_id.to_string(),
            replica_id: hello.replica_id,
            server_seq: state.head,
            epoch: state.epoch.clone(),
            resync: match catch_up {
                CatchUp::Replay(_) => Resync::Replay,
                CatchUp::Snapshot(_) | CatchUp::SnapshotOps(..) => Resync::Snapshot,
            },
        };
        Ok(Joined { ack, catch_up })
    }

    /// The replay-or-snapshot rule of `docs/protocol.md`.
    fn catch_up(
        &self,
        state: &mut RoomState,
        hello: &Hello,
        config: &Config,
        store: &dyn Store,
    ) -> Result<CatchUp, StoreError> {
        let from = hello.last_seen_server_seq.unwrap_or(ServerSeq::ZERO);
        let same_history = match &hello.epoch {
            Some(epoch) => *epoch == state.epoch,
            None => from == ServerSeq::ZERO,
        };
        if same_history && from <= state.head && state.head.0 - from.0 <= config.max_replay_ops {
            if from == state.head {
                return Ok(CatchUp::Replay(Vec::new()));
            }
            if let Since::Ops(ops) = store.read_since(&self.doc_id, from)? {
                return Ok(CatchUp::Replay(ops));
            }
        }
        Ok(match hello.snapshot_format.unwrap_or_default() {
            SnapshotFormat::Bytes => CatchUp::Snapshot(Self::snapshot_of(state)),
            SnapshotFormat::Ops => CatchUp::SnapshotOps(state.head, state.doc.snapshot().ops),
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
    /// `server_seq`, the batch is appended to the store in one call, and
    /// only then is each echo serialized once and queued for every member.
    /// Duplicates (resent operations) are skipped silently: their echo went
    /// out when they were first accepted. Stops at the first refused
    /// operation.
    pub fn submit(
        &self,
        origin: u64,
        ops: Vec<Op>,
        config: &Config,
        store: &dyn Store,
    ) -> Result<Option<Refused>, SubmitError> {
        let mut state = self.lock();
        if state.closed {
            return Err(SubmitError::Closed);
        }
        let mut accepted = Vec::new();
        let mut refused = None;
        let mut head = state.head;
        for (index, op) in ops.into_iter().enumerate() {
            if let Err(r) = Self::check(&state.doc, origin, &op, config) {
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
        if let Err(e) = store.append(&self.doc_id, &accepted) {
            // The document now holds operations the store does not: it can
            // no longer be trusted. Nothing was echoed, so unloading it and
            // sending everyone back through a reload loses nothing anyone
            // was told is stored; senders still hold their edits.
            Self::break_room(&mut state, "the document's store failed");
            return Err(e.into());
        }
        state.head = head;
        state.cached_snapshot = None;
        let frames: Vec<Message> = accepted
            .into_iter()
            .map(|logged| {
                let echo = ServerMessage::OpEcho(OpEcho {
                    server_seq: logged.server_seq,
                    replica_id: origin,
                    op: logged.op,
                });
                Message::text(echo.to_json())
            })
            .collect();
        let out = match <[Message; 1]>::try_from(frames) {
            Ok([frame]) => Outgoing::One(frame),
            Err(frames) => Outgoing::Batch(frames.into()),
        };
        let mut slow = Vec::new();
        for (&id, member) in &state.members {
            if member.queue.try_send(out.clone()).is_err() {
                slow.push(id);
            }
        }
        for id in slow {
            if let Some(member) = state.members.remove(&id) {
                member.kill.fire(ErrorCode::TooSlow, "send queue full");
            }
        }
        if state.head.0 - state.snapshot_at.0 >= config.snapshot_every_ops {
            Self::persist(&self.doc_id, &mut state, store);
        }
        Ok(refused)
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

    /// Writes a snapshot at the head to the store, if it moved since the last.
    fn persist(doc_id: &str, state: &mut RoomState, store: &dyn Store) {
        if state.head == state.snapshot_at {
            return;
        }
        let snapshot = Self::snapshot_of(state);
        let at = snapshot.server_seq;
        match store.write_snapshot(doc_id, snapshot) {
            Ok(()) => state.snapshot_at = at,
            // The log still holds everything: a failed snapshot only makes
            // the next load slower.
            Err(e) => tracing::warn!(doc_id, error = %e, "snapshot not written"),
        }
    }

    fn break_room(state: &mut RoomState, why: &'static str) {
        state.closed = true;
        for (_, member) in state.members.drain() {
            member.kill.fire(ErrorCode::Internal, why);
        }
    }

    /// Unloads the room if it has been empty for `idle`: writes a snapshot
    /// and closes it. Returns whether it did.
    pub fn unload_if_idle(&self, idle: std::time::Duration, store: &dyn Store) -> bool {
        let mut state = self.lock();
        if state.closed {
            return true;
        }
        match state.empty_since {
            Some(since) if state.members.is_empty() && since.elapsed() >= idle => {
                Self::persist(&self.doc_id, &mut state, store);
                state.closed = true;
                true
            }
            _ => false,
        }
    }

    /// Writes a final snapshot and closes the room (shutdown).
    pub fn close(&self, store: &dyn Store) {
        let mut state = self.lock();
        if !state.closed {
            Self::persist(&self.doc_id, &mut state, store);
            state.closed = true;
        }
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn head(&self) -> ServerSeq {
        self.lock().head
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
