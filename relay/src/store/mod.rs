//! Where documents live between rooms: the `Store` trait the relay writes
//! its op log and snapshots through, and its backends: memory, SQLite, and
//! PostgreSQL, which several relays share and which numbers operations
//! itself (`docs/scale-out.md`).
//!
//! The trait is shaped for durable backends: a room appends each accepted
//! batch in one call (one transaction, one sync), reads back only what a
//! reconnecting client misses, and writes snapshots so a reload does not
//! replay the whole log. A backend may drop log entries covered by a
//! snapshot; [`Store::read_since`] then reports the log truncated and the
//! client gets a snapshot instead of a replay.

use std::sync::Arc;

use collab_crdt::Op;
use collab_crdt::sync::ServerSeq;

pub mod conformance;
mod memory;
mod postgres;
mod sqlite;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::{DB_FILE, SqliteStore};

/// One accepted operation as logged: its place, who sent it, what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedOp {
    pub server_seq: ServerSeq,
    /// The replica whose connection sent it.
    pub origin: u64,
    pub op: Op,
}

/// A document's latest snapshot: `Doc::encode` bytes holding every
/// operation up to `server_seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSnapshot {
    pub server_seq: ServerSeq,
    pub data: Arc<[u8]>,
}

/// What a store holds for one document: enough to rebuild it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDoc {
    /// Names this history of the document; see `hello.epoch` in
    /// `docs/protocol.md`.
    pub epoch: String,
    pub snapshot: Option<StoredSnapshot>,
    /// The log after the snapshot (or from the start), in order.
    pub tail: Vec<LoggedOp>,
}

/// Why a store call failed. The relay never acknowledges what a failed
/// call should have stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("append at server_seq {got} but the log of {doc_id:?} continues at {expected}")]
    OutOfOrder {
        doc_id: String,
        expected: ServerSeq,
        got: ServerSeq,
    },
    #[error("document {0:?} does not exist in the store")]
    UnknownDocument(String),
    #[error("storage failed: {0}")]
    Backend(String),
    /// The storage cannot be reached (a shared database down or cut off):
    /// nothing is accepted until it is back.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("this store does not number operations itself")]
    Unsupported,
    #[error("the stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A client's batch for a store that numbers operations itself
/// ([`Store::sequence`]).
#[derive(Clone, Copy, Debug)]
pub struct NewOps<'a> {
    pub doc_id: &'a str,
    /// The replica whose connection sent it.
    pub origin: u64,
    pub ops: &'a [Op],
}

/// What a shared store tells a relay of the other relays' commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The document's log now reaches `head`.
    Head { doc_id: Arc<str>, head: ServerSeq },
    /// Notices may have been missed (the store's connection was lost, or
    /// the relay fell behind reading them): every open document must catch
    /// up from the log.
    Resync,
}

/// What [`Store::read_since`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Since {
    /// Every logged operation after the requested `server_seq`, in order.
    Ops(Vec<LoggedOp>),
    /// Some of the requested operations are no longer in the log.
    Truncated,
}

/// Storage for documents' op logs and snapshots.
///
/// Calls are synchronous and may block: the relay makes them on tokio's
/// blocking pool or on its commit threads, never on a runtime worker nor
/// under a lock that another document needs (the memory store, which never
/// blocks, is the exception: rooms append to it inline). Appends for a
/// document come in `server_seq` order without gaps, and each append call is
/// atomic: all of the batch is stored or none of it.
pub trait Store: Send + Sync + 'static {
    /// The document, or `None` when it was never written.
    fn load(&self, doc_id: &str) -> Result<Option<StoredDoc>, StoreError>;

    /// Creates an empty document with a fresh epoch, returning it.
    fn create(&self, doc_id: &str) -> Result<StoredDoc, StoreError>;

    /// Appends a batch of accepted operations, in order, atomically.
    fn append(&self, doc_id: &str, ops: &[LoggedOp]) -> Result<(), StoreError>;

    /// Appends the batches of several documents. A durable backend does it
    /// in one transaction and one sync (group commit); all or nothing.
    fn append_many(&self, batches: &[(&str, &[LoggedOp])]) -> Result<(), StoreError> {
        for (doc_id, ops) in batches {
            self.append(doc_id, ops)?;
        }
        Ok(())
    }

    /// Whether an append waits for a disk. The relay then takes appends off
    /// the rooms' hot path and groups those arriving together on one
    /// background thread; echoes go out once their batch is committed.
    fn durable(&self) -> bool {
        false
    }

    /// Whether several relays may write this store at once. It then
    /// numbers operations itself ([`Store::sequence`]) and reports other
    /// relays' commits ([`Store::notices`]); rooms follow its log instead
    /// of numbering.
    fn shared(&self) -> bool {
        false
    }

    /// Numbers and appends the batches of several documents in one
    /// transaction, all or nothing: each new operation gets the next
    /// `server_seq` of its document; one the log already holds (the same
    /// `(replica_id, seq)`, resent after a reconnect) keeps the number it
    /// has. Returns each batch's operations as logged, in input order.
    fn sequence(&self, batches: &[NewOps<'_>]) -> Result<Vec<Vec<LoggedOp>>, StoreError> {
        let _ = batches;
        Err(StoreError::Unsupported)
    }

    /// The heads of those of `doc_ids` that exist, for a shared store: one
    /// cheap look at many documents (the follower's periodic check).
    fn heads(&self, doc_ids: &[&str]) -> Result<Vec<(String, ServerSeq)>, StoreError> {
        let _ = doc_ids;
        Err(StoreError::Unsupported)
    }

    /// Whether the store can be reached, as far as it knows without asking
    /// (a shared database: its listening connection is up and no call has
    /// failed to reach it since). `/health` answers 503 while it is not, so
    /// a load balancer sends clients to a node that can take edits.
    fn reachable(&self) -> bool {
        true
    }

    /// Other relays' commits, for a shared store.
    fn notices(&self) -> Option<tokio::sync::broadcast::Receiver<Notice>> {
        None
    }

    /// The logged operations after `after`, up to the log's end or `max`
    /// of them, whichever comes first (a reader pages through a long log).
    fn read_since(&self, doc_id: &str, after: ServerSeq, max: usize) -> Result<Since, StoreError>;

    /// The first `server_seq` the log still holds (1 while nothing was
    /// dropped): a client that last saw an earlier one cannot be replayed.
    fn log_start(&self, doc_id: &str) -> Result<ServerSeq, StoreError> {
        let _ = doc_id;
        Ok(ServerSeq(1))
    }

    /// Called once at shutdown, after everything is written: a chance to
    /// leave the storage tidy (the SQLite store folds its write-ahead log
    /// into the database file).
    fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Replaces the document's snapshot. The backend may then drop the log
    /// up to `snapshot.server_seq` (see the type's docs).
    fn write_snapshot(&self, doc_id: &str, snapshot: StoredSnapshot) -> Result<(), StoreError>;
}

/// A fresh epoch: 64 random bits in hex. Only uniqueness matters, so the
/// standard library's randomly keyed hasher over the clock is enough.
pub fn new_epoch() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", hasher.finish())
}
