//! `collab-crdt`: a deterministic RGA sequence CRDT for collaborative text.
//!
//! Every character has an id `(lamport, replica_id)`. An insert names the
//! character it goes after (its parent); siblings are ordered by id, larger
//! first; deletes leave tombstones. Replicas that integrated the same
//! operations hold the same text and produce byte-identical snapshots,
//! whatever the order and duplication of delivery. See `docs/crdt.md`.
//!
//! ```
//! use collab_crdt::Doc;
//!
//! let mut alice = Doc::new(1).unwrap();
//! let mut bob = Doc::new(2).unwrap();
//! let op = alice.insert(0, "hello").unwrap().unwrap();
//! bob.apply(&op).unwrap();
//! let ops = bob.replace(0, 1, "J").unwrap();
//! alice.apply_all(&ops).unwrap();
//! assert_eq!(alice.text(), "Jello");
//! assert_eq!(alice.encode(), bob.encode());
//! ```
//!
//! # Layout
//! - [`id`]: character ids and the JavaScript-safe bound on them.
//! - [`anchor`]: places in the text that follow edits (carets, selections).
//! - [`op`]: the operations replicas exchange.
//! - `doc`: the document, local edits and integration of remote operations.
//! - `tree`: the sequence of characters as run-length spans in a counted
//!   B-tree (`span`, `build`, `position`, `edit`, `balance`, `check`).
//! - `index`: from a character id to the leaf holding it.
//! - `oplog`: the history, run-length encoded, for version vectors and dedup.
//! - `pending`: remote operations waiting for their dependencies.
//! - [`version`]: version vectors.
//! - `snapshot`: canonical snapshots and their byte encoding.
//! - [`undo`]: collaborative undo and redo of one replica's own edits.
//! - [`error`]: why anything is refused.
//! - [`fuzzing`]: fuzz drivers shared by the fuzz targets and the tests.
//! - [`sync`] (feature `serde`): the client-relay protocol and the client
//!   session.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod anchor;
mod doc;
pub mod error;
#[cfg(feature = "std")]
pub mod fuzzing;
pub mod id;
mod index;
pub mod op;
mod oplog;
mod pending;
mod snapshot;
#[cfg(feature = "serde")]
pub mod sync;
mod tree;
pub mod undo;
pub mod version;

pub use anchor::{Anchor, Selection, Side};
pub use doc::{Applied, Doc, MAX_DOC_CHARS, Stats};
pub use error::{DecodeError, Error};
pub use id::{Id, MAX_SAFE};
pub use op::{DeleteOp, InsertOp, Op, Ops};
pub use pending::DEFAULT_PENDING_LIMIT;
pub use snapshot::{MAX_SECTION_BYTES, Snapshot};
pub use undo::{UndoManager, UndoStep};
pub use version::VersionVector;
