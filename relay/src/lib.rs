//! `collab-relay`: the server that sequences, stores and fans out
//! collab-crdt edits over WebSocket, speaking the protocol of
//! `collab_crdt::sync` (specified in `docs/protocol.md`).
//!
//! # Layout
//! - [`config`]: every setting, as flags and `COLLAB_` environment variables.
//! - [`auth`]: the tokens `hello` carries: verification, minting.
//! - [`origin`]: which web pages may open a WebSocket.
//! - [`limits`]: rates per connection, connections and upgrades per address.
//! - [`server`]: routes, the accept loop and shutdown.
//! - [`connection`]: one WebSocket: handshake, reader, writer.
//! - [`rooms`]: loads documents on demand (off the runtime) and unloads
//!   idle ones.
//! - [`room`]: one loaded document: checks, integration, `server_seq`,
//!   fan-out, the replay-or-snapshot decision for a joining client, and
//!   its members' presence (never logged or stored).
//! - [`commit`]: group commit of appends for durable stores, on a few
//!   threads of its own.
//! - [`store`]: the storage trait, the SQLite store, the memory store and
//!   the PostgreSQL store that several relays share (`docs/scale-out.md`).
//! - [`member`], [`metrics`], [`config`]: below all of them: what a room
//!   keeps per client (serialized messages, byte-bounded queues, the kill
//!   switch, the relay-wide budget), the Prometheus metrics, the settings.
//! - [`client`]: a WebSocket client over the sans-IO session, for tests and
//!   the load generator; no part of the server uses it.
//!
//! Each layer uses only those below it: `server` → `connection` → `rooms`
//! → `room` → `commit` → `store`.

#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod commit;
pub mod config;
pub mod connection;
pub mod limits;
pub mod member;
pub mod metrics;
pub mod origin;
pub mod room;
pub mod rooms;
pub mod server;
pub mod store;

pub use config::Config;
pub use server::Relay;
pub use store::{MemoryStore, PostgresStore, SqliteStore, Store};
