//! The sync protocol between clients and the relay: its messages, their
//! JSON codec and the client session, shared by the relay, the browser
//! package and every test so that all speak exactly one protocol.
//!
//! `docs/protocol.md` is the specification; this module is its code.
//!
//! - [`message`]: every message, the `server_seq` newtype, error codes and
//!   WebSocket close codes.
//! - [`session`]: the sans-IO client session.
//!
//! Presence (carets, selections, who is there) is behind the `presence`
//! feature: the relay and native clients turn it on; the browser package
//! leaves it out and speaks it in JavaScript, which keeps its module small.

pub mod message;
pub mod session;

pub use message::{
    ClientMessage, ErrorCode, ErrorMessage, Hello, HelloAck, OpBatch, OpEcho, ParseError, Resync,
    ServerMessage, ServerSeq, SnapshotFormat, SnapshotMessage, close,
};
#[cfg(feature = "presence")]
pub use message::{JsonObject, Presence, PresenceRemoved, PresenceUpdate};
#[cfg(feature = "presence")]
pub use session::RemotePresence;
#[cfg(feature = "undo")]
pub use session::Undone;
pub use session::{ClientSession, Event, MAX_OP_TEXT_BYTES, SessionError, Splice, Status};
