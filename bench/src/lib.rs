//! `collab-bench`: the relay's benchmark binaries, and what they share.
//!
//! - `collab-load`: throughput and op-to-echo latency, the relay against a
//!   bare broadcast server (`docs/relay.md`).
//! - `collab-reconnect`: how long every client waits for `hello_ack` when
//!   a thousand reconnect to a restarted relay at once.
//! - `collab-store`: SQLite appends beside documents with 1 MB rows.
//! - `collab-flood`: the relay's memory under clients that send large
//!   messages and never read.
//! - `collab-open`: how long opening a large document from SQLite takes.
//!
//! [`process`]: a server binary run as a child process, `/proc` readings.

pub mod process;
