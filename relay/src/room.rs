//! A loaded document and its connected clients: where operations are
//! checked, integrated, numbered and fanned out, and where a joining client
//! learns how to catch up. Nothing here touches a socket or waits on a
//! disk: the room queues serialized messages ([`crate::member`]) and hands
//! durable writes to the commit workers ([`crate::commit`]), which report
//! back through [`CommitSink`]. Presence, which is none of that, is in
//! [`presence`]. On a store several relays share, the database numbers
//! operations and the room follows its log instead: see [`follow`].

mod follow;
mod presence;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use collab_crdt::sync::{
    ErrorCode, ErrorMessage, Hello, HelloAck, OpEcho, Resync, ServerMessage, ServerSeq,
    SnapshotFormat, SnapshotMessage,
};
use collab_crdt::{Applied, Doc, MAX_SAFE, Op, Snapshot, VersionVector};

use crate::commit::{CommitQueue, CommitSink, Job, PendingSnapshot};
use crate::config::Config;
use crate::member::{Budget, Frame, Member, Outgoing};
use crate::metrics::Metrics;
use crate::store::{LoggedOp, Store, StoreError, StoredDoc, StoredSnapshot};

/// The server's own replica id. The relay never edits, so its replica
/// makes no operations and cannot collide with a client's.
const SERVER_REPLICA: u64 = MAX_SAFE;

/// How far ahead of a document's clock an operation's lamport may start
/// (`docs/crdt.md` §3, "The clock rule"): far more than any honest client
/// gets ahead, far too little for a client to exhaust the 2^53 - 1 ids of
/// a document within its size and history limits.
pub const MAX_CLOCK_JUMP: u64 = 1 << 20;

/// Batches a room may have waiting for their commit; past it the store is
/// not keeping up and the sender is asked to come back later.
const MAX_UNSENT: usize = 1024;

/// A connection, as numbered by the relay (never sent on the wire).
pub type ConnId = u64;

/// What a room needs from the relay around it.
#[derive(Clone)]
pub struct Context {
    pub store: Arc<dyn Store>,
    /// The commit workers, for a durable store; `None` appends inline (the
    /// memory store, where an append is a `Vec::extend`).
    pub commit: Option<CommitQueue>,
    pub config: Arc<Config>,
    pub budget: Arc<Budget>,
    pub metrics: Arc<Metrics>,
    /// Woken when a room on a shared store learns that the log is ahead
    /// of it: whoever follows the store ([`crate::rooms`]) reads the rest.
    pub lagging: Arc<tokio::sync::Notify>,
}

pub struct Room {
    pub doc_id: Arc<str>,
    cx: Context,
    /// Set once the room is unloaded or broken, readable without the lock:
    /// a client that finds its room closed looks it up again, so a
    /// document never has two live rooms.
    closed: AtomicBool,
    state: Mutex<RoomState>,
}

struct RoomState {
    /// Set when the store failed: the document holds operations the store
    /// may not have, so nothing more is stored or sent from this room.
    broken: bool,
    doc: Doc,
    epoch: String,
    /// The `server_seq` of the last accepted operation.
    head: ServerSeq,
    /// The last `server_seq` known stored; echoes never pass it.
    durable: ServerSeq,
    /// Accepted batches waiting for their commit, oldest first.
    unsent: VecDeque<Unsent>,
    /// On a shared store: the batches integrated here and sent to be
    /// numbered, until the room meets them in the log.
    pending: VecDeque<follow::Pending>,
    /// On a shared store: the furthest head the log is known to have.
    known_head: ServerSeq,
    /// Entries in the document's history: the log runs it was loaded with
    /// plus every operation accepted since (an upper bound, as consecutive
    /// operations may share a run). Bounded by `--max-doc-history`.
    history: u64,
    /// Where the latest snapshot handed to the store stands, and the log
    /// written since: the snapshot policy's inputs.
    snapshot_at: ServerSeq,
    log_bytes: u64,
    /// The `snapshot` message at `head`, kept until the next change: every
    /// client that joins between two edits shares one encoding and one
    /// serialized message.
    cached_snapshot: Option<(StoredSnapshot, Frame)>,
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
    received: Instant,
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
    /// The stored operations `after + 1 ..= upto`, to be read from the
    /// store by the connection, off the room's lock.
    Replay { after: ServerSeq, upto: ServerSeq },
    /// One `snapshot` message, serialized.
    Snapshot(Frame),
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
    pub seq: u64,
    pub code: ErrorCode,
    pub message: String,
}

impl Refused {
    /// The non-fatal `error` message that tells the client.
    pub fn to_message(&self) -> ServerMessage {
        ServerMessage::Error(ErrorMessage {
            code: self.code.as_str().to_owned(),
            message: format!(
                "operation {} of the batch was refused ({}); the operations before it were accepted",
                self.index, self.message
            ),
            fatal: false,
            close_code: None,
            index: Some(self.index),
            seq: Some(self.seq),
            retry_after_ms: None,
        })
    }
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
    /// Rebuilds a document from what the store holds (CPU work: called on
    /// a blocking thread).
    pub fn load(doc_id: &str, stored: StoredDoc, cx: Context) -> Result<Room, StoreError> {
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
        let history = doc.stats().log_runs as u64;
        Ok(Room {
            doc_id: doc_id.into(),
            cx,
            closed: AtomicBool::new(false),
            state: Mutex::new(RoomState {
                broken: false,
                doc,
                epoch: stored.epoch,
                head,
                durable: head,
                unsent: VecDeque::new(),
                pending: VecDeque::new(),
                known_head: head,
                history,
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
    /// the client's echoes begin. Reads nothing from the store.
    /// `log_start` is the first `server_seq` the store's log held when the
    /// client arrived.
    pub fn join(
        &self,
        conn: ConnId,
        hello: &Hello,
        mut member: Member,
        log_start: ServerSeq,
    ) -> Result<Joined, JoinError> {
        let mut state = self.lock();
        if self.is_closed() {
            return Err(JoinError::Closed);
        }
        let stale: Vec<ConnId> = state
            .members
            .iter()
            .filter(|(_, m)| m.replica_id == hello.replica_id)
            .map(|(&id, _)| id)
            .collect();
        for id in stale {
            if let Some(old) = self.remove_member(&mut state, id) {
                old.kill
                    .fire(ErrorCode::Superseded, "replica connected again");
            }
        }
        let limit = self.cx.config.max_connections_per_doc;
        if state.members.len() >= limit {
            return Err(JoinError::Full {
                doc_id: self.doc_id.to_string(),
                limit,
            });
        }
        let catch_up = self.catch_up(&mut state, hello, log_start)?;
        let at = state.durable;
        member.caught_up = at;
        Self::greet(&state, &member);
        state.members.insert(conn, member);
        state.empty_since = None;
        let ack = HelloAck {
            doc_id: self.doc_id.to_string(),
            replica_id: hello.replica_id,
            server_seq: at,
            epoch: state.epoch.clone(),
            resync: match catch_up {
                CatchUp::Replay { .. } => Resync::Replay,
                CatchUp::Snapshot(_) => Resync::Snapshot,
            },
            read_only: false,
        };
        Ok(Joined { ack, catch_up })
    }

    /// The replay-or-snapshot rule of `docs/protocol.md` §4. Should the
    /// log be cut further between this decision and the replay's read, the
    /// connection sends the client back with `too_slow`, and its next
    /// `hello` gets a snapshot.
    fn catch_up(
        &self,
        state: &mut RoomState,
        hello: &Hello,
        log_start: ServerSeq,
    ) -> Result<CatchUp, StoreError> {
        let from = hello.last_seen_server_seq.unwrap_or(ServerSeq::ZERO);
        let same_history = match &hello.epoch {
            Some(epoch) => *epoch == state.epoch,
            None => from == ServerSeq::ZERO,
        };
        let durable = state.durable;
        let within = durable.0.checked_sub(from.0);
        let in_log = from == durable || from.next() >= log_start;
        if same_history && in_log && within.is_some_and(|n| n <= self.cx.config.max_replay_ops) {
            return Ok(CatchUp::Replay {
                after: from,
                upto: durable,
            });
        }
        let frame = match hello.snapshot_format.unwrap_or_default() {
            SnapshotFormat::Bytes => self.durable_snapshot(state)?,
            SnapshotFormat::Ops => Frame::new(
                ServerMessage::Snapshot(SnapshotMessage {
                    doc_id: self.doc_id.to_string(),
                    server_seq: durable,
                    data: None,
                    ops: Some(Self::durable_ops(state)),
                })
                .to_json(),
            ),
        };
        Ok(CatchUp::Snapshot(frame))
    }

    /// The version the store holds: the document's, less the batches still
    /// waiting for their commit; `None` when none wait.
    fn durable_version(state: &RoomState) -> Option<VersionVector> {
        if Self::settled(state) {
            return None;
        }
        let mut version = state.doc.version();
        let ids = state.unsent.iter().flat_map(|b| &b.ids);
        let pending = state.pending.iter().flat_map(|p| &p.ids);
        for (replica, seq) in ids.copied().chain(pending.map(|&(r, seq, _)| (r, seq))) {
            version.set(replica, version.get(replica).min(seq));
        }
        Some(version)
    }

    /// Whether the document holds exactly what the store holds: no batch
    /// waits for its commit (nor, on a shared store, to be met in the log).
    fn settled(state: &RoomState) -> bool {
        state.unsent.is_empty() && state.pending.is_empty()
    }

    /// The stored history in canonical form.
    fn durable_ops(state: &RoomState) -> Vec<Op> {
        match Self::durable_version(state) {
            None => state.doc.snapshot().ops,
            Some(version) => state.doc.ops_between(&VersionVector::new(), &version),
        }
    }

    /// The `snapshot` message of the document as stored: at `durable`,
    /// without batches still waiting for their commit.
    fn durable_snapshot(&self, state: &mut RoomState) -> Result<Frame, StoreError> {
        let snapshot = if Self::settled(state) {
            if let Some((s, frame)) = &state.cached_snapshot
                && s.server_seq == state.head
            {
                return Ok(frame.clone());
            }
            Self::snapshot_of(state)
        } else {
            let doc = Doc::from_snapshot(
                SERVER_REPLICA,
                &Snapshot {
                    ops: Self::durable_ops(state),
                },
            )
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            StoredSnapshot {
                server_seq: state.durable,
                data: doc.encode().into(),
            }
        };
        let frame = Frame::new(
            ServerMessage::Snapshot(SnapshotMessage {
                doc_id: self.doc_id.to_string(),
                server_seq: snapshot.server_seq,
                data: Some(BASE64.encode(&snapshot.data)),
                ops: None,
            })
            .to_json(),
        );
        if snapshot.server_seq == state.head {
            state.cached_snapshot = Some((snapshot, frame.clone()));
        }
        Ok(frame)
    }

    fn snapshot_of(state: &RoomState) -> StoredSnapshot {
        match &state.cached_snapshot {
            Some((s, _)) if s.server_seq == state.head => s.clone(),
            _ => StoredSnapshot {
                server_seq: state.head,
                data: state.doc.encode().into(),
            },
        }
    }

    /// Removes a client; returns true when the room is left empty.
    pub fn leave(&self, conn: ConnId) -> bool {
        let mut state = self.lock();
        self.remove_member(&mut state, conn);
        if state.members.is_empty() && state.empty_since.is_none() {
            state.empty_since = Some(Instant::now());
        }
        state.members.is_empty()
    }

    /// Integrates a client's batch: each new operation gets the next
    /// `server_seq`; the batch is stored (inline, or by the commit
    /// workers), and only once it is stored are its echoes, serialized
    /// once, queued for every member. Duplicates (resent operations) are
    /// skipped silently: their echo went out when they were first
    /// accepted. Stops at the first refused operation.
    pub fn submit(
        self: &Arc<Self>,
        origin: u64,
        ops: Vec<Op>,
        received: Instant,
    ) -> Result<Option<Refused>, SubmitError> {
        let mut state = self.lock();
        if self.is_closed() {
            return Err(SubmitError::Closed);
        }
        if state.unsent.len() + state.pending.len() >= MAX_UNSENT {
            return Err(SubmitError::Overloaded);
        }
        let mut accepted = Vec::new();
        let mut refused = None;
        let mut head = state.head;
        for (index, op) in ops.into_iter().enumerate() {
            if let Err((code, message)) = self.check(&state, origin, &op) {
                refused = Some(Refused {
                    index,
                    seq: op.seq(),
                    code,
                    message,
                });
                break;
            }
            let seen = state.doc.seen(op.replica_id());
            match state.doc.apply_ready(&op) {
                Ok(Applied::Duplicate) => {}
                Ok(_) => {
                    head = head.next();
                    state.history += 1;
                    // A resend cut differently from the first sending (a
                    // client rebuilds its outbox from its document) may
                    // begin with units the document holds: only the rest
                    // is new, and only the rest is logged.
                    let op = match seen.checked_sub(op.seq()) {
                        Some(known) if known > 0 => op.skip_units(known),
                        _ => op,
                    };
                    accepted.push(LoggedOp {
                        server_seq: head,
                        origin,
                        op,
                    });
                }
                Err(e) => {
                    refused = Some(Refused {
                        index,
                        seq: op.seq(),
                        code: ErrorCode::of(&e),
                        message: e.to_string(),
                    });
                    break;
                }
            }
        }
        if let Some(r) = &refused {
            self.cx.metrics.refused(r.code.as_str());
        }
        if accepted.is_empty() {
            return Ok(refused);
        }
        self.cx.metrics.ops_accepted.inc_by(accepted.len() as u64);
        if self.cx.store.shared() {
            // The numbers above were only a count: the database numbers.
            let ops = accepted.into_iter().map(|l| l.op).collect();
            self.submit_shared(&mut state, origin, ops, received)?;
            return Ok(refused);
        }
        let frames: Vec<Frame> = accepted
            .iter()
            .map(|logged| {
                Frame::new(
                    ServerMessage::OpEcho(OpEcho {
                        server_seq: logged.server_seq,
                        replica_id: origin,
                        op: logged.op.clone(),
                    })
                    .to_json(),
                )
            })
            .collect();
        state.log_bytes += frames.iter().map(|f| f.len() as u64).sum::<u64>();
        let out = Outgoing::new(frames, &self.cx.budget);
        state.head = head;
        state.cached_snapshot = None;
        match &self.cx.commit {
            None => {
                if let Err(e) = self.cx.store.append(&self.doc_id, &accepted) {
                    // The document now holds operations the store does not:
                    // it can no longer be trusted. Nothing was echoed, so
                    // sending everyone back through a reload loses nothing
                    // anyone was told is stored; senders still hold their
                    // edits.
                    self.break_room(&mut state, "the document's store failed");
                    return Err(e.into());
                }
                state.durable = head;
                self.fan_out(&mut state, &out, head);
                self.cx.metrics.op_echo(received.elapsed());
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
                    received,
                });
                let job = Job::Append {
                    doc_id: self.doc_id.clone(),
                    ops: accepted,
                    sink: self.clone(),
                };
                if !commit.send(job) {
                    self.break_room(&mut state, "the relay is stopping");
                    return Err(SubmitError::Closed);
                }
            }
        }
        self.maybe_snapshot(&mut state);
        Ok(refused)
    }

    /// Queues a batch's echoes for every member that has not seen them,
    /// evicting members whose queue is full.
    fn fan_out(&self, state: &mut RoomState, out: &Outgoing, last: ServerSeq) {
        let mut slow = Vec::new();
        let mut queued = 0;
        for (&id, member) in &state.members {
            if member.caught_up >= last {
                continue;
            }
            if member.queue.push(out.clone()).is_err() {
                slow.push(id);
            } else {
                queued += out.frames().len() as u64;
            }
        }
        self.cx.metrics.echoes.inc_by(queued);
        for id in slow {
            if let Some(member) = self.remove_member(state, id) {
                member.kill.fire(ErrorCode::TooSlow, "send queue full");
            }
        }
    }

    /// What the room checks beyond the CRDT's own validation.
    fn check(&self, state: &RoomState, origin: u64, op: &Op) -> Result<(), (ErrorCode, String)> {
        let config = &self.cx.config;
        if op.replica_id() != origin {
            return Err((
                ErrorCode::WrongReplica,
                format!(
                    "operation of replica {} sent by replica {origin}",
                    op.replica_id()
                ),
            ));
        }
        let clock = state.doc.clock();
        // Past 2^53 - 1 the CRDT's own check answers `id_too_large`.
        if op.lamport() <= MAX_SAFE && op.lamport() > clock.saturating_add(1 + MAX_CLOCK_JUMP) {
            return Err((
                ErrorCode::LamportTooFarAhead,
                format!(
                    "lamport {} is more than {MAX_CLOCK_JUMP} ahead of the document's clock {clock}",
                    op.lamport()
                ),
            ));
        }
        if let Op::Insert(ins) = op {
            let chars = ins.text.chars().count() as u64;
            if state.doc.chars_stored() + chars > config.max_doc_chars {
                return Err((
                    ErrorCode::DocumentTooLarge,
                    format!(
                        "the document would exceed {} characters, deleted ones included",
                        config.max_doc_chars
                    ),
                ));
            }
        }
        // Already-known operations are skipped, not logged: only new ones
        // count against the history.
        if state.history >= config.max_doc_history && state.doc.seen(origin) <= op.seq() {
            return Err((
                ErrorCode::DocumentTooLarge,
                format!(
                    "the document's history would exceed {} entries",
                    config.max_doc_history
                ),
            ));
        }
        Ok(())
    }

    /// The snapshot policy: a snapshot every `snapshot_every_ops`
    /// operations or `snapshot_every_bytes` of log.
    fn maybe_snapshot(self: &Arc<Self>, state: &mut RoomState) {
        let ops = state.head.0 - state.snapshot_at.0;
        let config = &self.cx.config;
        if ops > 0
            && (ops >= config.snapshot_every_ops || state.log_bytes >= config.snapshot_every_bytes)
        {
            self.persist(state);
        }
    }

    /// Hands a snapshot at the head to the store, if the head moved. The
    /// document is encoded off the room's lock and off the runtime (by the
    /// commit threads, or on the blocking pool for the memory store), from
    /// a copy taken here, unless the encoding is already cached. With
    /// group commit it is queued behind the batches it contains, and is
    /// dropped if any of them fails.
    fn persist(self: &Arc<Self>, state: &mut RoomState) {
        if state.head == state.snapshot_at || state.broken {
            return;
        }
        if !state.pending.is_empty() {
            // On a shared store the document holds batches not yet in the
            // log; the snapshot waits until it holds exactly the log.
            return;
        }
        let at = state.head;
        let snapshot = match &state.cached_snapshot {
            Some((s, _)) if s.server_seq == at => PendingSnapshot::Encoded(s.clone()),
            _ => PendingSnapshot::Doc {
                at,
                doc: Box::new(state.doc.clone()),
            },
        };
        match &self.cx.commit {
            None => {
                let store = self.cx.store.clone();
                let metrics = self.cx.metrics.clone();
                let doc_id = self.doc_id.clone();
                // The log still holds everything: a failed snapshot only
                // makes the next load slower.
                let write = move || {
                    let started = Instant::now();
                    let snapshot = snapshot.encode();
                    let bytes = snapshot.data.len();
                    match store.write_snapshot(&doc_id, snapshot) {
                        Ok(()) => metrics.snapshot(started.elapsed(), bytes),
                        Err(e) => {
                            tracing::warn!(doc_id = &*doc_id, error = %e, "snapshot not written")
                        }
                    }
                };
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => drop(runtime.spawn_blocking(write)),
                    Err(_) => write(),
                }
            }
            Some(commit) => {
                commit.send(Job::Snapshot {
                    doc_id: self.doc_id.clone(),
                    snapshot,
                    sink: self.clone(),
                });
            }
        }
        state.snapshot_at = at;
        state.log_bytes = 0;
    }

    fn break_room(&self, state: &mut RoomState, why: &'static str) {
        self.break_with(state, ErrorCode::Internal, why);
    }

    /// Closes the room for good, sending every member away with `code`:
    /// they reconnect, and the document is loaded afresh from the store.
    fn break_with(&self, state: &mut RoomState, code: ErrorCode, why: &'static str) {
        self.closed.store(true, Ordering::Release);
        state.broken = true;
        state.unsent.clear();
        state.pending.clear();
        for (_, member) in state.members.drain() {
            member.kill.fire(code, why);
        }
    }

    /// Unloads the room if it has been empty for `idle` and everything it
    /// accepted is stored: hands over a final snapshot and closes it.
    pub fn unload_if_idle(self: &Arc<Self>, idle: std::time::Duration) -> Unload {
        let mut state = self.lock();
        if self.is_closed() {
            return Unload::Done;
        }
        match state.empty_since {
            _ if !state.members.is_empty() => Unload::InUse,
            Some(since) if Self::settled(&state) && since.elapsed() >= idle => {
                self.persist(&mut state);
                self.closed.store(true, Ordering::Release);
                Unload::Done
            }
            _ => Unload::NotYet,
        }
    }

    /// Hands over a final snapshot and closes the room (shutdown).
    pub fn close(self: &Arc<Self>) {
        let mut state = self.lock();
        if !self.is_closed() {
            self.persist(&mut state);
            self.closed.store(true, Ordering::Release);
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
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

impl CommitSink for Room {
    /// The commit workers stored everything up to `upto`: release those
    /// echoes, in order.
    fn committed(&self, upto: ServerSeq) {
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
                self.fan_out(&mut state, &batch.out, batch.last);
                self.cx.metrics.op_echo(batch.received.elapsed());
            }
        }
    }

    fn failed(&self, why: &'static str, unavailable: bool) {
        let mut state = self.lock();
        // An unreachable store is not the relay's fault: the client backs
        // off and comes back, resending what it holds.
        let code = if unavailable {
            ErrorCode::Overloaded
        } else {
            ErrorCode::Internal
        };
        self.break_with(&mut state, code, why);
    }

    fn sequenced(self: Arc<Self>, logged: Vec<LoggedOp>) {
        self.follow(logged);
    }

    fn is_broken(&self) -> bool {
        self.lock().broken
    }
}
