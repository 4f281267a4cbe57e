//! What crosses the boundary: UTF-16 ranges into character ranges (by the
//! core's own conversion), and serde values to and from JavaScript.

use collab_crdt::{Doc, VersionVector};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};

use crate::error;

/// A value out to JavaScript through serde_json and `JSON.parse`: the module
/// has serde_json's writer anyway for the protocol, and serde-wasm-bindgen's
/// would cost more. `None` goes out as `null` (as in the protocol's JSON,
/// `parent_id: null`), integers as numbers (every id is at most 2^53 - 1).
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value).map_err(error::output)?;
    js_sys::JSON::parse(&json)
}

/// A version vector as the `Map<number, number>` JavaScript sees.
pub(crate) fn version_to_js(version: &VersionVector) -> JsValue {
    let map = js_sys::Map::new();
    for (replica, seen) in version.iter() {
        map.set(&(replica as f64).into(), &(seen as f64).into());
    }
    map.into()
}

/// A value from JavaScript through `JSON.stringify` and serde_json, which
/// the module has anyway for the protocol. (serde-wasm-bindgen's reader
/// formats floats in its errors, and core's float formatting costs 5 KiB of
/// the gzipped module.) A `Map` is read as the object of its entries:
/// version vectors come as `Map<number, number>`, and serde_json reads
/// integer keys from the object's string keys.
pub(crate) fn from_js<T: DeserializeOwned>(what: &str, value: JsValue) -> Result<T, JsValue> {
    let value = match value.dyn_ref::<js_sys::Map>() {
        Some(map) => js_sys::Object::from_entries(map)
            .map_err(|_| error::argument(what, "a Map with keys that are not numbers"))?
            .into(),
        None => value,
    };
    let json = js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|json| JsValue::from(json).as_string())
        .ok_or_else(|| error::argument(what, "not a JSON value"))?;
    serde_json::from_str(&json).map_err(|e| error::argument(what, e))
}

/// The character range of the UTF-16 range `index .. index + length`;
/// errors when either end is past the text or inside a surrogate pair.
pub(crate) fn char_range(
    doc: &Doc,
    index: usize,
    length: usize,
) -> Result<(usize, usize), JsValue> {
    let end = index.checked_add(length).ok_or_else(|| {
        error::crdt(collab_crdt::Error::PositionOutOfRange {
            pos: usize::MAX,
            len: doc.len_utf16(),
        })
    })?;
    let start = doc.utf16_to_pos(index).map_err(error::crdt)?;
    let end = if length == 0 {
        start
    } else {
        doc.utf16_to_pos(end).map_err(error::crdt)?
    };
    Ok((start, end - start))
}

/// A replica id from a JavaScript number: an integer from 1 to 2^53 - 1.
/// The core checks the range; this only refuses what is not an integer.
pub(crate) fn replica_id(value: f64) -> Result<u64, JsValue> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value < 2f64.powi(64) {
        Ok(value as u64)
    } else {
        // Not formatted: printing an f64 would pull float formatting into
        // the module.
        Err(error::argument(
            "replicaId",
            "not an integer from 1 to 2^53 - 1",
        ))
    }
}

/// The shapes of the values `to_js` and `from_js` carry, for the generated
/// `.d.ts`.
#[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** An operation, exactly as in the protocol's JSON (docs/protocol.md §2). */
export type Op =
  | { kind: "insert"; replica_id: number; seq: number; lamport: number;
      parent_id: { lamport: number; replica_id: number } | null; text: string }
  | { kind: "delete"; replica_id: number; seq: number; lamport: number;
      target: { lamport: number; replica_id: number }; len: number; reversed?: boolean };

/** For each replica id, the number of its units (characters inserted or deleted) integrated. */
export type VersionVector = Map<number, number>;

/** A change in UTF-16 units: at `index`, remove `deleteCount` units, then insert `insert`. */
export interface Splice { index: number; deleteCount: number; insert: string }

/** What `ClientSession.undo` or `redo` did: the caret to restore and the change, in UTF-16 units. */
export interface Undone { caret: number; splices: Splice[] }

/** What `ClientSession.receive` did with a frame. */
export type SessionEvent =
  | { type: "connected"; serverSeq: number; resync: "replay" | "snapshot" }
  | { type: "snapshot"; serverSeq: number; splices: Splice[] }
  | { type: "remote"; serverSeq: number; splices: Splice[] }
  | { type: "acknowledged"; serverSeq: number }
  | { type: "error"; code: string; message: string; fatal: boolean;
      closeCode: number | null; index: number | null;
      /** With `rate_limited`: wait this long, then `resume()`. */
      retryAfterMs: number | null };
"#;
