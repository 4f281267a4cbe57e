//! The sync protocol between clients and the relay: its messages, their
//! JSON codec and the client session, shared by the relay, the browser
//! package and every test so that all speak exactly one protocol.
//!
//! `docs/protocol.md` is the specification; this module is its code.
//!
//! - [`message`]: every message, the `server_seq` newtype, error codes and
//!   WebSocket close codes.
//! - [`session`]: the sans-IO client session.

pub mod message;
pub mod session;

pub use message::{
    ClientMessage, ErrorCode, ErrorMessage, Hello, HelloAck, JsonObject, OpBatch, OpEcho,
    ParseError, Presence, PresenceRemoved, PresenceUpdate, Resync, ServerMessage, ServerSeq,
    SnapshotFormat, SnapshotMessage, close,
};
pub use session::{
    ClientSession, Event, MAX_OP_TEXT_BYTES, RemotePresence, SessionError, Splice, Status,
};
