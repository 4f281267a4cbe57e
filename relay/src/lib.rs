//! `collab-relay`: the server that sequences, stores and fans out
//! collab-crdt edits over WebSocket, speaking the protocol of
//! `collab_crdt::sync` (specified in `docs/protocol.md`).
//!
//! # Layout
//! - [`config`]: every setting, as flags and `COLLAB_` environment variables.
//! - [`server`]: routes, the accept loop and shutdown.
//! - [`connection`]: one WebSocket: handshake, reader loop, writer task.
//! - [`rooms`]: loads documents on demand and unloads idle ones.
//! - [`room`]: one loaded document: integration, `server_seq`, fan-out,
//!   replay or snapshot for a joining client.
//! - [`store`]: the storage trait, the SQLite store and the memory store.
//! - [`commit`]: group commit of appends for durable stores.
//! - [`client`]: a WebSocket client over the sans-IO session, for tests and
//!   the load generator.

pub mod client;
pub mod commit;
pub mod config;
pub mod connection;
pub mod room;
pub mod rooms;
pub mod server;
pub mod store;

pub use config::Config;
pub use server::Relay;
pub use store::{MemoryStore, SqliteStore, Store};
