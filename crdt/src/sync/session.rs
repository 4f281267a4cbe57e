//! The sans-IO client session: one replica's side of the sync protocol,
//! independent of any socket, runtime or clock.
//!
//! The caller owns the transport. On every new connection it sends
//! [`ClientSession::connect`]'s `hello`; it feeds every text frame received
//! to [`ClientSession::receive_text`]; after either, and after local edits,
//! it sends what [`ClientSession::poll_send`] returns until `None`; when the
//! connection drops it calls [`ClientSession::disconnected`]. The session
//! keeps the user's edits across all of that: an edit stays in the outbox
//! until the server echoes it, is resent on every new connection until then,
//! and survives a snapshot resync.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::doc::Doc;
use crate::error::Error;
use crate::op::Op;
use crate::snapshot::Snapshot;
use crate::sync::message::{
    ClientMessage, ErrorCode, ErrorMessage, Hello, HelloAck, OpBatch, OpEcho, ParseError, Resync,
    ServerMessage, ServerSeq, SnapshotMessage,
};

mod persist;
#[cfg(feature = "presence")]
mod presence;
#[cfg(feature = "recover")]
mod recover;
#[cfg(feature = "undo")]
mod undo;
#[cfg(feature = "presence")]
pub use presence::RemotePresence;
#[cfg(feature = "undo")]
pub use undo::Undone;

/// Largest text one local insert operation carries; longer pastes are split
/// so that every message stays well under the relay's size limit.
pub const MAX_OP_TEXT_BYTES: usize = 64 * 1024;

/// Largest payload (roughly, in bytes of text) of one `op` message.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Where the session stands with the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// No connection.
    Offline,
    /// `hello` sent, waiting for `hello_ack`.
    Connecting,
    /// Acknowledged; catching up to the head `hello_ack` announced, by the
    /// snapshot it announced or by the replay. During a replay local edits
    /// are already sent.
    Syncing,
    /// Caught up: receiving live `op_echo` messages; local edits are sent
    /// as made.
    Live,
}

/// What a server message did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The server answered `hello`; `server_seq` is its head.
    Connected {
        server_seq: ServerSeq,
        resync: Resync,
    },
    /// The document was replaced by the server's snapshot (unacknowledged
    /// local edits re-applied on top); `splices` turn the old text into the
    /// new one.
    Snapshot {
        server_seq: ServerSeq,
        splices: Vec<Splice>,
    },
    /// Another replica's operation was integrated; `splices`, applied in
    /// order, make the same change to an editor's text.
    Remote {
        server_seq: ServerSeq,
        splices: Vec<Splice>,
    },
    /// One of this replica's operations was accepted by the server: every
    /// local edit up to it is stored there.
    Acknowledged { server_seq: ServerSeq },
    /// The server refused one of this replica's operations for good
    /// (`code`, for example `document_too_large`): the session dropped it,
    /// rebuilt its later edits on top of what the server has, and put them
    /// in the outbox; `splices` turn the old text into the new one. The
    /// caller must close the connection and connect again, so that no
    /// answer to what the old connection carried is taken for the new
    /// edits.
    Dropped {
        code: ErrorCode,
        seq: u64,
        splices: Vec<Splice>,
    },
    /// The server reported an error. When `fatal`, it is closing the
    /// connection; reconnecting is the caller's decision.
    Error(ErrorMessage),
    /// Another member's presence changed (`removed`: it is gone); see
    /// [`ClientSession::others`].
    #[cfg(feature = "presence")]
    Presence { replica_id: u64, removed: bool },
}

/// A change to the visible text as an editor applies it: at `pos`, remove
/// `delete` characters, then insert `insert`. Positions and lengths are in
/// characters (Unicode scalar values) and, for JavaScript, in UTF-16 code
/// units; each splice's positions assume the splices before it were applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splice {
    pub pos: usize,
    pub delete: usize,
    pub insert: String,
    pub pos_utf16: usize,
    pub delete_utf16: usize,
}

/// The server broke the protocol. The connection should be dropped (call
/// [`ClientSession::disconnected`]) and reopened: the new `hello` repairs
/// whatever went wrong by replay or snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    Parse(ParseError),
    /// A message that has no place in the current [`Status`].
    Unexpected {
        message: &'static str,
        status: Status,
    },
    /// A message for another document.
    WrongDocument {
        doc_id: String,
    },
    /// `server_seq` did not follow the last one seen.
    Gap {
        expected: ServerSeq,
        got: ServerSeq,
    },
    /// The snapshot's data is not a valid document.
    BadSnapshot(String),
    /// An operation from the server could not be integrated.
    Rejected(Error),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Parse(e) => write!(f, "unreadable server message ({}): {e}", e.code),
            SessionError::Unexpected { message, status } => {
                write!(f, "unexpected {message} while {status:?}")
            }
            SessionError::WrongDocument { doc_id } => {
                write!(f, "message for document {doc_id:?}, not this one")
            }
            SessionError::Gap { expected, got } => {
                write!(f, "server_seq {got} received where {expected} was due")
            }
            SessionError::BadSnapshot(why) => write!(f, "invalid snapshot: {why}"),
            SessionError::Rejected(e) => write!(f, "server operation refused: {e}"),
        }
    }
}

impl core::error::Error for SessionError {}

impl SessionError {
    /// A stable, machine-readable name for the error, like the protocol's
    /// error codes: what a binding hands to code that must tell them apart.
    pub fn code(&self) -> &'static str {
        match self {
            SessionError::Parse(e) => e.code.as_str(),
            SessionError::Unexpected { .. } => "unexpected_message",
            SessionError::WrongDocument { .. } => "wrong_document",
            SessionError::Gap { .. } => "server_seq_gap",
            SessionError::BadSnapshot(_) => "invalid_snapshot",
            SessionError::Rejected(e) => e.code(),
        }
    }
}

/// One replica of one document, synchronised through a relay.
#[derive(Clone, Debug)]
pub struct ClientSession {
    doc_id: String,
    doc: Doc,
    status: Status,
    /// The last `server_seq` integrated: what `hello` asks replay after.
    last_seen: ServerSeq,
    /// The history `last_seen` counts in, from the last `hello_ack`.
    epoch: Option<String>,
    /// This replica's operations the server has not echoed yet, oldest
    /// first. They are the user's unsaved work: never dropped until echoed.
    unacked: VecDeque<Op>,
    /// How many of `unacked` went out on the current connection; the rest
    /// wait for `poll_send`.
    sent: usize,
    /// The head `hello_ack` announced: the session is live once it has
    /// integrated up to it.
    join_head: ServerSeq,
    /// Set between `hello_ack` with `resync: "snapshot"` and the snapshot.
    awaiting_snapshot: bool,
    /// Whether `hello` asks for the others' presence.
    wants_presence: bool,
    #[cfg(feature = "presence")]
    presence: presence::State,
    /// The token the next `hello` carries; the caller refreshes it before
    /// a connection when it may have expired.
    token: Option<String>,
    /// The last `hello_ack` said this connection may only read: edits stay
    /// in the outbox, unsent, for a connection that may write.
    read_only: bool,
    /// Set by a `rate_limited` refusal: nothing is sent until
    /// [`ClientSession::resume`], which the caller calls after the
    /// refusal's `retry_after_ms`.
    held: bool,
    /// The user's own edits, for undo and redo.
    #[cfg(feature = "undo")]
    history: undo::History,
}

impl ClientSession {
    /// A session for `doc_id`, editing as `replica_id` (1 to 2^53 - 1, and
    /// unique among the document's editors: pick it at random).
    pub fn new(doc_id: impl Into<String>, replica_id: u64) -> Result<ClientSession, Error> {
        Ok(ClientSession {
            doc_id: doc_id.into(),
            doc: Doc::new(replica_id)?,
            status: Status::Offline,
            last_seen: ServerSeq::ZERO,
            epoch: None,
            unacked: VecDeque::new(),
            sent: 0,
            join_head: ServerSeq::ZERO,
            awaiting_snapshot: false,
            wants_presence: cfg!(feature = "presence"),
            #[cfg(feature = "presence")]
            presence: presence::State::default(),
            token: None,
            read_only: false,
            held: false,
            #[cfg(feature = "undo")]
            history: undo::History::default(),
        })
    }

    pub fn doc_id(&self) -> &str {
        &self.doc_id
    }

    /// The local replica, with every local edit and every integrated remote one.
    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn last_seen_server_seq(&self) -> ServerSeq {
        self.last_seen
    }

    /// The history `last_seen_server_seq` counts in, once a server said.
    pub fn epoch(&self) -> Option<&str> {
        self.epoch.as_deref()
    }

    /// Local operations not yet acknowledged by the server.
    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// Sets the token (a JWT, `docs/security.md`) that every later `hello`
    /// carries; `None` for a relay that runs open.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// Whether the last `hello_ack` (or a `read_only` refusal) said this
    /// client may only read: local edits are kept but not sent.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether sending waits for [`ClientSession::resume`] after a
    /// `rate_limited` refusal.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Ends the wait a `rate_limited` refusal started: call it once the
    /// refusal's `retry_after_ms` passed, then send what
    /// [`ClientSession::poll_send`] returns.
    pub fn resume(&mut self) {
        self.held = false;
    }

    /// Starts a connection: returns the `hello` to send first. Everything
    /// unacknowledged will be sent again once the server answers.
    pub fn connect(&mut self) -> ClientMessage {
        self.status = Status::Connecting;
        self.sent = 0;
        #[cfg(feature = "presence")]
        self.presence.connected();
        // `read_only` stays as the last `hello_ack` said until the next
        // one, so that an editor does not flip to writable while offline.
        self.held = false;
        let resumable = self.epoch.is_some() && self.last_seen > ServerSeq::ZERO;
        ClientMessage::Hello(Hello {
            doc_id: self.doc_id.clone(),
            replica_id: self.doc.replica_id(),
            last_seen_server_seq: resumable.then_some(self.last_seen),
            epoch: if resumable { self.epoch.clone() } else { None },
            snapshot_format: None,
            token: self.token.clone(),
            presence: self.wants_presence.then_some(true),
        })
    }

    /// The connection is gone. Local edits go on; they are sent after the
    /// next [`ClientSession::connect`]. The others' presence is forgotten:
    /// who is still there is known again after the next catch-up.
    pub fn disconnected(&mut self) {
        self.status = Status::Offline;
        self.sent = 0;
        #[cfg(feature = "presence")]
        self.presence.others.clear();
    }

    /// Whether `hello` asks the relay for the others' presence: by default
    /// exactly when the `presence` feature is on. A caller that handles the
    /// presence messages itself turns it on without the feature (the
    /// browser package does, to keep its module small).
    pub fn want_presence(&mut self, yes: bool) {
        self.wants_presence = yes;
    }

    /// Inserts `text` at character position `pos`.
    pub fn insert(&mut self, pos: usize, text: &str) -> Result<(), Error> {
        #[cfg(feature = "undo")]
        self.history.begin();
        self.insert_pieces(pos, text)
    }

    fn insert_pieces(&mut self, pos: usize, text: &str) -> Result<(), Error> {
        let mut pos = pos;
        for piece in crate::undo::pieces(text, MAX_OP_TEXT_BYTES) {
            #[cfg(feature = "undo")]
            let op = {
                let now = self.history.now_ms.unwrap_or(0);
                self.history
                    .manager
                    .insert(&mut self.doc, pos, piece, now)?
            };
            #[cfg(not(feature = "undo"))]
            let op = self.doc.insert(pos, piece)?;
            if let Some(op) = op {
                self.unacked.push_back(op);
            }
            pos += piece.chars().count();
        }
        Ok(())
    }

    /// Deletes `len` characters from `pos`.
    pub fn delete(&mut self, pos: usize, len: usize) -> Result<(), Error> {
        #[cfg(feature = "undo")]
        let ops = {
            let now = self.history.begin();
            self.history.manager.delete(&mut self.doc, pos, len, now)?
        };
        #[cfg(not(feature = "undo"))]
        let ops = self.doc.delete(pos, len)?;
        self.unacked.extend(ops.into_vec());
        Ok(())
    }

    /// Replaces `del` characters at `pos` with `text`.
    pub fn replace(&mut self, pos: usize, del: usize, text: &str) -> Result<(), Error> {
        if pos.checked_add(del).is_none_or(|end| end > self.doc.len()) {
            return Err(Error::PositionOutOfRange {
                pos: pos.saturating_add(del),
                len: self.doc.len(),
            });
        }
        // One undo step: the insert joins the delete's.
        self.delete(pos, del)?;
        self.insert_pieces(pos, text)
    }

    /// The next message to send, if any: unsent local operations, batched,
    /// once the connection is live.
    pub fn poll_send(&mut self) -> Option<ClientMessage> {
        if !self.may_send() || self.sent >= self.unacked.len() {
            #[cfg(feature = "presence")]
            return self.poll_presence();
            #[cfg(not(feature = "presence"))]
            return None;
        }
        let mut ops = Vec::new();
        let mut bytes = 0;
        for op in self.unacked.iter().skip(self.sent) {
            let size = match op {
                Op::Insert(ins) => ins.text.len() + 96,
                Op::Delete(_) => 96,
            };
            if !ops.is_empty() && bytes + size > MAX_BATCH_BYTES {
                break;
            }
            bytes += size;
            ops.push(op.clone());
        }
        self.sent += ops.len();
        Some(ClientMessage::Op(OpBatch { ops }))
    }

    /// Parses and handles one text frame from the server.
    pub fn receive_text(&mut self, text: &str) -> Result<Event, SessionError> {
        let msg = ServerMessage::from_json(text).map_err(SessionError::Parse)?;
        self.receive(msg)
    }

    /// Handles one message from the server.
    pub fn receive(&mut self, msg: ServerMessage) -> Result<Event, SessionError> {
        match msg {
            ServerMessage::HelloAck(ack) => self.on_hello_ack(ack),
            ServerMessage::Snapshot(snapshot) => self.on_snapshot(snapshot),
            ServerMessage::OpEcho(echo) => self.on_echo(echo),
            ServerMessage::Error(error) => Ok(self.on_error(error)),
            #[cfg(feature = "presence")]
            ServerMessage::Presence(update) => Ok(self.on_presence(update)),
            #[cfg(feature = "presence")]
            ServerMessage::PresenceRemoved(gone) => Ok(self.on_presence_removed(gone.replica_id)),
        }
    }

    /// Whether edits go out now: live, or catching up by replay (resent
    /// edits are safe: the server skips duplicates).
    fn may_send(&self) -> bool {
        if self.read_only || self.held {
            return false;
        }
        self.status == Status::Live || (self.status == Status::Syncing && !self.awaiting_snapshot)
    }

    /// An `error`: a refusal for good of one of this replica's operations
    /// still in the outbox drops it (see [`Event::Dropped`]).
    fn on_error(&mut self, error: ErrorMessage) -> Event {
        // Compared as text rather than through `ErrorCode::parse`: the
        // browser package, which has no other use for the parse, is kept
        // within its size budget.
        let held = [ErrorCode::RateLimited, ErrorCode::ReadOnly]
            .into_iter()
            .find(|code| error.code == code.as_str());
        if let (Some(code), Some(seq), false) = (held, error.seq, error.fatal) {
            // Nothing from `seq` on was accepted: send it again once
            // allowed (after `resume`, or on a connection that may write).
            if let Some(at) = self.unacked.iter().position(|op| op.seq() == seq) {
                self.sent = self.sent.min(at);
            }
            match code {
                ErrorCode::RateLimited => self.held = true,
                _ => self.read_only = true,
            }
            return Event::Error(error);
        }
        self.on_refusal(error)
    }

    /// Without the `recover` feature a refusal for good is only reported:
    /// the edit stays in the outbox (the browser package leaves the
    /// rebuild out to stay within its size budget).
    #[cfg(not(feature = "recover"))]
    fn on_refusal(&mut self, error: ErrorMessage) -> Event {
        Event::Error(error)
    }

    fn on_hello_ack(&mut self, ack: HelloAck) -> Result<Event, SessionError> {
        self.expect("hello_ack", Status::Connecting)?;
        if ack.doc_id != self.doc_id {
            return Err(SessionError::WrongDocument { doc_id: ack.doc_id });
        }
        self.epoch = Some(ack.epoch);
        self.join_head = ack.server_seq;
        self.read_only = ack.read_only;
        self.awaiting_snapshot = ack.resync == Resync::Snapshot;
        self.status = if self.awaiting_snapshot || self.last_seen < ack.server_seq {
            Status::Syncing
        } else {
            Status::Live
        };
        Ok(Event::Connected {
            server_seq: ack.server_seq,
            resync: ack.resync,
        })
    }

    fn on_snapshot(&mut self, msg: SnapshotMessage) -> Result<Event, SessionError> {
        self.expect("snapshot", Status::Syncing)?;
        if !self.awaiting_snapshot {
            return Err(SessionError::Unexpected {
                message: "snapshot",
                status: self.status,
            });
        }
        if msg.doc_id != self.doc_id {
            return Err(SessionError::WrongDocument { doc_id: msg.doc_id });
        }
        let bad = |e: &dyn fmt::Display| SessionError::BadSnapshot(e.to_string());
        let replica_id = self.doc.replica_id();
        let mut doc = match (&msg.data, msg.ops) {
            (Some(data), None) => {
                let bytes = BASE64.decode(data.as_bytes()).map_err(|e| bad(&e))?;
                Doc::decode(replica_id, &bytes).map_err(|e| bad(&e))?
            }
            (None, Some(ops)) => {
                Doc::from_snapshot(replica_id, &Snapshot { ops }).map_err(|e| bad(&e))?
            }
            _ => return Err(bad(&"exactly one of data and ops must be present")),
        };
        // What this replica made that the server does not have: exactly the
        // edits to keep and send again. Operations of other replicas that
        // the server no longer has are gone with it.
        let me = self.doc.replica_id();
        let mine: VecDeque<Op> = self
            .doc
            .ops_since(&doc.version())
            .into_iter()
            .filter(|op| op.replica_id() == me)
            .collect();
        for op in &mine {
            doc.apply(op).map_err(SessionError::Rejected)?;
        }
        let splices = diff(&self.doc.text(), &doc.text());
        self.doc = doc;
        self.unacked = mine;
        self.sent = 0;
        self.last_seen = msg.server_seq;
        self.awaiting_snapshot = false;
        self.status = Status::Live;
        Ok(Event::Snapshot {
            server_seq: msg.server_seq,
            splices,
        })
    }

    fn on_echo(&mut self, echo: OpEcho) -> Result<Event, SessionError> {
        if !(self.status == Status::Live
            || (self.status == Status::Syncing && !self.awaiting_snapshot))
        {
            return Err(SessionError::Unexpected {
                message: "op_echo",
                status: self.status,
            });
        }
        let event = self.integrate_echo(echo)?;
        if self.status == Status::Syncing && self.last_seen >= self.join_head {
            self.status = Status::Live;
        }
        Ok(event)
    }

    fn integrate_echo(&mut self, echo: OpEcho) -> Result<Event, SessionError> {
        let expected = self.last_seen.next();
        if echo.server_seq != expected {
            return Err(SessionError::Gap {
                expected,
                got: echo.server_seq,
            });
        }
        if echo.op.replica_id() != self.doc.replica_id() {
            let splices = self
                .apply_remote(&echo.op)
                .map_err(SessionError::Rejected)?;
            self.last_seen = echo.server_seq;
            return Ok(Event::Remote {
                server_seq: echo.server_seq,
                splices,
            });
        }
        self.doc.apply(&echo.op).map_err(SessionError::Rejected)?;
        self.last_seen = echo.server_seq;
        // A replica's operations reach the log in `seq` order, so the echo
        // acknowledges every unacknowledged operation that ends by its end.
        let end = echo.op.seq() + echo.op.len();
        while let Some(front) = self.unacked.front() {
            if front.seq() + front.len() > end {
                break;
            }
            self.unacked.pop_front();
            self.sent = self.sent.saturating_sub(1);
        }
        Ok(Event::Acknowledged {
            server_seq: echo.server_seq,
        })
    }

    /// Applies another replica's operation and says what it did to the text.
    fn apply_remote(&mut self, op: &Op) -> Result<Vec<Splice>, Error> {
        if self.doc.pending_len() > 0 {
            // The operation may release buffered ones: compare whole texts.
            let before = self.doc.text();
            self.doc.apply(op)?;
            return Ok(diff(&before, &self.doc.text()));
        }
        match op {
            Op::Insert(ins) => {
                let seen = self.doc.seen(ins.replica_id);
                let known = seen.saturating_sub(ins.seq);
                self.doc.apply(op)?;
                let Some(first) = known.checked_add(ins.lamport) else {
                    return Ok(Vec::new());
                };
                let text: String = ins.text.chars().skip(known as usize).collect();
                match self
                    .doc
                    .offsets_of(crate::id::Id::new(first, ins.replica_id))
                {
                    Some((pos, pos_utf16, false)) if !text.is_empty() => Ok(alloc::vec![Splice {
                        pos,
                        delete: 0,
                        pos_utf16,
                        delete_utf16: 0,
                        insert: text,
                    }]),
                    // Buffered, or nothing new.
                    _ => Ok(Vec::new()),
                }
            }
            Op::Delete(del) => {
                // Where the characters are before they go, as runs of
                // consecutive positions, removed from the last one back so
                // each splice's position holds when the previous is applied.
                let mut visible: Vec<usize> = (0..del.len)
                    .filter_map(|i| {
                        let id = crate::id::Id::new(
                            del.target.lamport.checked_add(i)?,
                            del.target.replica_id,
                        );
                        match self.doc.pos_of(id) {
                            Ok((pos, false)) => Some(pos),
                            _ => None,
                        }
                    })
                    .collect();
                visible.sort_unstable();
                let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
                let mut i = 0;
                while i < visible.len() {
                    let start = visible[i];
                    let mut end = start + 1;
                    while i + 1 < visible.len() && visible[i + 1] == end {
                        i += 1;
                        end += 1;
                    }
                    i += 1;
                    let u16_start = self.doc.pos_to_utf16(start)?;
                    let u16_end = self.doc.pos_to_utf16(end)?;
                    runs.push((start, end - start, u16_start, u16_end - u16_start));
                }
                self.doc.apply(op)?;
                Ok(runs
                    .into_iter()
                    .rev()
                    .map(|(pos, delete, pos_utf16, delete_utf16)| Splice {
                        pos,
                        delete,
                        insert: String::new(),
                        pos_utf16,
                        delete_utf16,
                    })
                    .collect())
            }
        }
    }

    fn expect(&self, message: &'static str, status: Status) -> Result<(), SessionError> {
        if self.status == status {
            Ok(())
        } else {
            Err(SessionError::Unexpected {
                message,
                status: self.status,
            })
        }
    }
}

/// The one splice that turns `old` into `new`: everything between their
/// common prefix and common suffix.
fn diff(old: &str, new: &str) -> Vec<Splice> {
    let prefix: usize = old
        .chars()
        .zip(new.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let (old_rest, new_rest) = (&old[prefix..], &new[prefix..]);
    let suffix: usize = old_rest
        .chars()
        .rev()
        .zip(new_rest.chars().rev())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a.len_utf8())
        .sum();
    let removed = &old_rest[..old_rest.len() - suffix];
    let inserted = &new_rest[..new_rest.len() - suffix];
    if removed.is_empty() && inserted.is_empty() {
        return Vec::new();
    }
    alloc::vec![Splice {
        pos: old[..prefix].chars().count(),
        delete: removed.chars().count(),
        insert: inserted.into(),
        pos_utf16: old[..prefix].encode_utf16().count(),
        delete_utf16: removed.encode_utf16().count(),
    }]
}
