//! `Doc`: one replica of a text document, wrapping `collab_crdt::Doc`.
//!
//! Local edits take UTF-16 offsets and lengths. Operations cross as plain
//! objects in the protocol's JSON shape (`{kind: "insert", replica_id, seq,
//! lamport, parent_id, text}`), version vectors as `Map<replicaId, count>`.

use collab_crdt::{Applied, Doc, Op, VersionVector};
use wasm_bindgen::prelude::*;

use crate::convert::{char_range, from_js, replica_id, to_js, version_to_js};
use crate::error;

#[wasm_bindgen(js_name = Doc)]
pub struct WasmDoc {
    doc: Doc,
}

#[wasm_bindgen(js_class = Doc)]
impl WasmDoc {
    /// An empty document edited by `replicaId` (1 to 2^53 - 1, unique per
    /// editor: pick it at random).
    #[wasm_bindgen(constructor)]
    pub fn new(replica: f64) -> Result<WasmDoc, JsValue> {
        let doc = Doc::new(replica_id(replica)?).map_err(error::crdt)?;
        Ok(WasmDoc { doc })
    }

    /// A replica `replicaId` loaded from `encode()`'s bytes.
    pub fn decode(replica: f64, bytes: &[u8]) -> Result<WasmDoc, JsValue> {
        let doc = Doc::decode(replica_id(replica)?, bytes).map_err(error::crdt)?;
        Ok(WasmDoc { doc })
    }

    /// The snapshot's compact bytes: identical on every replica that
    /// integrated the same operations.
    pub fn encode(&self) -> Vec<u8> {
        self.doc.encode()
    }

    /// A copy of this document that edits as `replicaId`.
    pub fn fork(&self, replica: f64) -> Result<WasmDoc, JsValue> {
        let doc = self.doc.fork(replica_id(replica)?).map_err(error::crdt)?;
        Ok(WasmDoc { doc })
    }

    #[wasm_bindgen(getter, js_name = replicaId)]
    pub fn replica_id(&self) -> f64 {
        self.doc.replica_id() as f64
    }

    /// The text, without deleted characters.
    pub fn text(&self) -> String {
        self.doc.text()
    }

    #[wasm_bindgen(js_name = toString)]
    pub fn to_string_js(&self) -> String {
        self.doc.text()
    }

    /// Length in UTF-16 code units, like `text().length`.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.doc.len_utf16()
    }

    /// Length in Unicode code points.
    #[wasm_bindgen(getter, js_name = charLength)]
    pub fn char_length(&self) -> usize {
        self.doc.len()
    }

    /// Inserts `text` at UTF-16 offset `index`.
    pub fn insert(&mut self, index: usize, text: &str) -> Result<(), JsValue> {
        let pos = self.doc.utf16_to_pos(index).map_err(error::crdt)?;
        self.doc.insert(pos, text).map_err(error::crdt)?;
        Ok(())
    }

    /// Deletes `length` UTF-16 code units from `index`.
    pub fn delete(&mut self, index: usize, length: usize) -> Result<(), JsValue> {
        let (pos, len) = char_range(&self.doc, index, length)?;
        self.doc.delete(pos, len).map_err(error::crdt)?;
        Ok(())
    }

    /// Replaces `length` UTF-16 code units at `index` with `text`.
    pub fn replace(&mut self, index: usize, length: usize, text: &str) -> Result<(), JsValue> {
        let (pos, len) = char_range(&self.doc, index, length)?;
        self.doc.replace(pos, len, text).map_err(error::crdt)?;
        Ok(())
    }

    /// Integrates one operation from any replica; idempotent. Returns
    /// `"integrated"`, `"duplicate"`, or `"buffered"` (waiting for a
    /// dependency).
    #[wasm_bindgen(unchecked_return_type = "\"integrated\" | \"duplicate\" | \"buffered\"")]
    pub fn apply(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Op")] op: JsValue,
    ) -> Result<String, JsValue> {
        let op: Op = from_js("op", op)?;
        let applied = self.doc.apply(&op).map_err(error::crdt)?;
        Ok(match applied {
            Applied::Integrated { .. } => "integrated",
            Applied::Duplicate => "duplicate",
            Applied::Buffered => "buffered",
        }
        .into())
    }

    /// Integrates operations in order; on an error, those before it stay.
    #[wasm_bindgen(js_name = applyAll)]
    pub fn apply_all(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Op[]")] ops: JsValue,
    ) -> Result<(), JsValue> {
        let ops: Vec<Op> = from_js("ops", ops)?;
        self.doc.apply_all(&ops).map_err(error::crdt)
    }

    /// What this replica has integrated: `Map<replicaId, units>`.
    #[wasm_bindgen(unchecked_return_type = "VersionVector")]
    pub fn version(&self) -> Result<JsValue, JsValue> {
        Ok(version_to_js(&self.doc.version()))
    }

    /// Every integrated operation that `version` (a `version()` result;
    /// everything when absent) has not seen, in an order any replica can
    /// apply.
    #[wasm_bindgen(js_name = opsSince, unchecked_return_type = "Op[]")]
    pub fn ops_since(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VersionVector | undefined")] version: JsValue,
    ) -> Result<JsValue, JsValue> {
        let version: VersionVector = if version.is_undefined() || version.is_null() {
            VersionVector::new()
        } else {
            from_js("version", version)?
        };
        to_js(&self.doc.ops_since(&version))
    }

    /// Operations waiting for their dependencies.
    #[wasm_bindgen(getter, js_name = pendingLength)]
    pub fn pending_length(&self) -> usize {
        self.doc.pending_len()
    }
}
