//! `collab-crdt-wasm`: collab-crdt for JavaScript, through wasm-bindgen.
//!
//! A thin layer: every method converts its arguments, calls the core crate
//! and converts the result. Positions are UTF-16 offsets, as JavaScript
//! strings and `textarea.selectionStart` count them; the core converts them
//! to characters (`Doc::utf16_to_pos`), so a surrogate pair is never split.
//! Errors are thrown as JS `Error`s carrying the core's message and a stable
//! `code`. The JS client, the textarea binding and the package's entry point
//! are plain JavaScript in `js/`, packaged beside this by `build.sh`.
//!
//! # Layout
//! - `doc`: `Doc`, one replica of a text document.
//! - `session`: `ClientSession`, the sans-IO client side of the sync protocol.
//! - `convert`: UTF-16 ranges and values crossing to and from JavaScript.
//! - `error`: every error thrown to JavaScript.

#![forbid(unsafe_code)]

mod convert;
mod doc;
mod error;
mod session;

pub use doc::WasmDoc;
pub use session::WasmSession;
