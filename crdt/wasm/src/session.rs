//! `ClientSession`: the client side of the sync protocol, without I/O,
//! wrapping `collab_crdt::sync::ClientSession`.
//!
//! Messages cross as the JSON text of WebSocket frames: `connect()` and
//! `pollSend()` return frames to send, `receive(frame)` takes a frame and
//! returns what it did as an event object whose splices count UTF-16 units.
//!
//! Presence is spoken by the JS client (`js/client.js`), not here: decoding
//! its messages in Rust would cost the module kilobytes. The session only
//! turns positions into anchors and back (`anchorAt`, `resolveAnchor`).

use collab_crdt::sync::{ClientSession, Event, Resync, ServerSeq, Splice, Status, Undone};
use collab_crdt::{Anchor, Id, Op, Side, VersionVector};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::convert::{char_range, from_js, replica_id, to_js, version_to_js};
use crate::error;

#[wasm_bindgen(js_name = ClientSession)]
pub struct WasmSession {
    session: ClientSession,
}

/// `receive()`'s result, as JavaScript sees it.
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
enum EventView<'a> {
    Connected {
        server_seq: u64,
        resync: Resync,
    },
    Snapshot {
        server_seq: u64,
        splices: Vec<SpliceView<'a>>,
    },
    Remote {
        server_seq: u64,
        splices: Vec<SpliceView<'a>>,
    },
    Acknowledged {
        server_seq: u64,
    },
    Error {
        code: &'a str,
        message: &'a str,
        fatal: bool,
        close_code: Option<u16>,
        index: Option<usize>,
        retry_after_ms: Option<u64>,
    },
}

/// A splice in UTF-16 units: `text.slice(0, index) + insert +
/// text.slice(index + deleteCount)`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SpliceView<'a> {
    index: usize,
    delete_count: usize,
    insert: &'a str,
}

fn splices(splices: &[Splice]) -> Vec<SpliceView<'_>> {
    splices
        .iter()
        .map(|s| SpliceView {
            index: s.pos_utf16,
            delete_count: s.delete_utf16,
            insert: &s.insert,
        })
        .collect()
}

/// `undo()`'s and `redo()`'s result, as JavaScript sees it.
#[derive(Serialize)]
struct UndoneView<'a> {
    caret: usize,
    splices: Vec<SpliceView<'a>>,
}

fn undone(done: Option<Undone>) -> Result<JsValue, JsValue> {
    match done {
        None => Ok(JsValue::NULL),
        Some(done) => to_js(&UndoneView {
            caret: done.caret_utf16,
            splices: splices(&done.splices),
        }),
    }
}

#[wasm_bindgen(js_class = ClientSession)]
impl WasmSession {
    /// A session for `docId`, editing as `replicaId` (1 to 2^53 - 1, unique
    /// among the document's editors: pick it at random).
    #[wasm_bindgen(constructor)]
    pub fn new(doc_id: String, replica: f64) -> Result<WasmSession, JsValue> {
        let mut session = ClientSession::new(doc_id, replica_id(replica)?).map_err(error::crdt)?;
        // The JS client handles the others' presence.
        session.want_presence(true);
        Ok(WasmSession { session })
    }

    /// The session a store kept (`persist.js`): `snapshot` (the bytes of
    /// `encode()`), `later` (the JSON text of the operations integrated
    /// after it, as `opsSince` gave them, in one array), and
    /// `lastSeenServerSeq`, `epoch` and `ackedSeq` as they were once those
    /// were integrated. The same replica, with its unsent edits in the
    /// outbox; the undo history starts empty.
    pub fn restore(
        doc_id: String,
        replica: f64,
        snapshot: &[u8],
        later: &str,
        last_seen: f64,
        epoch: Option<String>,
        acked_seq: f64,
    ) -> Result<WasmSession, JsValue> {
        let later: Vec<Op> =
            serde_json::from_str(later).map_err(|e| error::argument("later", e))?;
        let mut session = ClientSession::restore(
            doc_id,
            replica_id(replica)?,
            snapshot,
            ServerSeq(last_seen as u64),
            epoch,
            acked_seq as u64,
            &later,
        )
        .map_err(error::crdt)?;
        session.want_presence(true);
        Ok(WasmSession { session })
    }

    /// This replica's operations below this `seq` are echoed by the relay;
    /// the rest are in the outbox.
    #[wasm_bindgen(getter, js_name = ackedSeq)]
    pub fn acked_seq(&self) -> f64 {
        self.session.acked_seq() as f64
    }

    /// The operations the replica integrated that `version` does not
    /// include, its own and others', in an order that `restore` can
    /// integrate.
    #[wasm_bindgen(js_name = opsSince, unchecked_return_type = "Op[]")]
    pub fn ops_since(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VersionVector")] version: JsValue,
    ) -> Result<JsValue, JsValue> {
        let version: VersionVector = from_js("version", version)?;
        to_js(&self.session.doc().ops_since(&version))
    }

    #[wasm_bindgen(getter, js_name = docId)]
    pub fn doc_id(&self) -> String {
        self.session.doc_id().into()
    }

    #[wasm_bindgen(getter, js_name = replicaId)]
    pub fn replica_id(&self) -> f64 {
        self.session.doc().replica_id() as f64
    }

    /// `"offline"`, `"connecting"`, `"syncing"` or `"live"`.
    #[wasm_bindgen(
        getter,
        unchecked_return_type = "\"offline\" | \"connecting\" | \"syncing\" | \"live\""
    )]
    pub fn status(&self) -> String {
        match self.session.status() {
            Status::Offline => "offline",
            Status::Connecting => "connecting",
            Status::Syncing => "syncing",
            Status::Live => "live",
        }
        .into()
    }

    /// The last `server_seq` integrated (0: none).
    #[wasm_bindgen(getter, js_name = lastSeenServerSeq)]
    pub fn last_seen_server_seq(&self) -> f64 {
        self.session.last_seen_server_seq().0 as f64
    }

    /// The history `lastSeenServerSeq` counts in, once a server said.
    #[wasm_bindgen(getter)]
    pub fn epoch(&self) -> Option<String> {
        self.session.epoch().map(Into::into)
    }

    /// Local operations the server has not acknowledged yet.
    #[wasm_bindgen(getter)]
    pub fn unacked(&self) -> usize {
        self.session.unacked()
    }

    /// The text, with every local edit and every integrated remote one.
    pub fn text(&self) -> String {
        self.session.doc().text()
    }

    /// Length in UTF-16 code units.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> usize {
        self.session.doc().len_utf16()
    }

    /// The replica's snapshot bytes (see `Doc.encode`).
    pub fn encode(&self) -> Vec<u8> {
        self.session.doc().encode()
    }

    /// What the replica has integrated: `Map<replicaId, units>`.
    #[wasm_bindgen(unchecked_return_type = "VersionVector")]
    pub fn version(&self) -> Result<JsValue, JsValue> {
        Ok(version_to_js(&self.session.doc().version()))
    }

    /// Starts a connection: the `hello` frame to send first.
    pub fn connect(&mut self) -> String {
        self.session.connect().to_json()
    }

    /// The connection is gone; edits go on and are sent after `connect()`.
    pub fn disconnected(&mut self) {
        self.session.disconnected();
    }

    /// Inserts `text` at UTF-16 offset `index`.
    pub fn insert(&mut self, index: usize, text: &str) -> Result<(), JsValue> {
        let pos = self
            .session
            .doc()
            .utf16_to_pos(index)
            .map_err(error::crdt)?;
        self.session.insert(pos, text).map_err(error::crdt)
    }

    /// Deletes `length` UTF-16 code units from `index`.
    pub fn delete(&mut self, index: usize, length: usize) -> Result<(), JsValue> {
        let (pos, len) = char_range(self.session.doc(), index, length)?;
        self.session.delete(pos, len).map_err(error::crdt)
    }

    /// Replaces `length` UTF-16 code units at `index` with `text`.
    pub fn replace(&mut self, index: usize, length: usize, text: &str) -> Result<(), JsValue> {
        let (pos, len) = char_range(self.session.doc(), index, length)?;
        self.session.replace(pos, len, text).map_err(error::crdt)
    }

    /// The time (milliseconds on a monotonic clock, `performance.now()`)
    /// the next local edits are recorded at: edits closer together than the
    /// capture timeout form one undo step.
    #[wasm_bindgen(js_name = setClock)]
    pub fn set_clock(&mut self, now_ms: f64) {
        // `as` saturates: a negative or NaN time is 0.
        self.session.set_clock(now_ms as u64);
    }

    /// Edits less than `ms` apart join one undo step (default 500).
    #[wasm_bindgen(js_name = setCaptureTimeout)]
    pub fn set_capture_timeout(&mut self, ms: f64) {
        self.session.set_capture_timeout(ms as u64);
    }

    /// Ends the current undo step: the next edit starts a new one.
    #[wasm_bindgen(js_name = stopCapturing)]
    pub fn stop_capturing(&mut self) {
        self.session.stop_capturing();
    }

    #[wasm_bindgen(getter, js_name = canUndo)]
    pub fn can_undo(&self) -> bool {
        self.session.can_undo()
    }

    #[wasm_bindgen(getter, js_name = canRedo)]
    pub fn can_redo(&self) -> bool {
        self.session.can_redo()
    }

    /// Undoes this replica's latest step (its new operations wait in the
    /// outbox, like any edit): `{caret, splices}` in UTF-16 units, or
    /// `null` when there is nothing to undo.
    #[wasm_bindgen(unchecked_return_type = "Undone | null")]
    pub fn undo(&mut self) -> Result<JsValue, JsValue> {
        let done = self.session.undo().map_err(error::crdt)?;
        undone(done)
    }

    /// Redoes the latest undone step, as `undo` does.
    #[wasm_bindgen(unchecked_return_type = "Undone | null")]
    pub fn redo(&mut self) -> Result<JsValue, JsValue> {
        let done = self.session.redo().map_err(error::crdt)?;
        undone(done)
    }

    /// Sets the token (a JWT) that every later `hello` carries;
    /// `undefined` for a relay that runs open.
    #[wasm_bindgen(js_name = setToken)]
    pub fn set_token(&mut self, token: Option<String>) {
        self.session.set_token(token);
    }

    /// Whether the relay said this client may only read: edits are kept
    /// but not sent.
    #[wasm_bindgen(getter, js_name = readOnly)]
    pub fn read_only(&self) -> bool {
        self.session.is_read_only()
    }

    /// Ends the wait a `rate_limited` error started (call it after its
    /// `retryAfterMs`), then send what `pollSend` returns.
    pub fn resume(&mut self) {
        self.session.resume();
    }

    /// The next frame to send (unsent local edits, once live), or
    /// `undefined`.
    #[wasm_bindgen(js_name = pollSend)]
    pub fn poll_send(&mut self) -> Option<String> {
        self.session.poll_send().map(|msg| msg.to_json())
    }

    /// The anchor for UTF-16 offset `index` on the given side of its
    /// character (`docs/crdt.md` §13): `[0]` for the start, `[1]` for the
    /// end, `[2, lamport, replicaId]` for a character.
    #[wasm_bindgen(js_name = anchorAt)]
    pub fn anchor_at(&self, index: usize, before: bool) -> Result<Vec<f64>, JsValue> {
        let doc = self.session.doc();
        let pos = doc.utf16_to_pos(index).map_err(error::crdt)?;
        let side = if before { Side::Before } else { Side::After };
        Ok(match Anchor::at(doc, pos, side).map_err(error::crdt)? {
            Anchor::Start => vec![0.0],
            Anchor::End => vec![1.0],
            Anchor::Char { id, .. } => vec![2.0, id.lamport as f64, id.replica_id as f64],
        })
    }

    /// Where the anchor on character `(lamport, replicaId)` is now, as a
    /// UTF-16 offset of the current text, local edits included; -1 while
    /// this replica has not integrated the character (or the id is invalid).
    #[wasm_bindgen(js_name = resolveAnchor)]
    pub fn resolve_anchor(&self, lamport: f64, replica: f64, before: bool) -> f64 {
        let doc = self.session.doc();
        let (Ok(lamport), Ok(replica)) = (replica_id(lamport), replica_id(replica)) else {
            return -1.0;
        };
        let side = if before { Side::Before } else { Side::After };
        let anchor = Anchor::Char {
            id: Id::new(lamport, replica),
            side,
        };
        match anchor.resolve(doc).map(|pos| doc.pos_to_utf16(pos)) {
            Ok(Ok(offset)) => offset as f64,
            _ => -1.0,
        }
    }

    /// Handles one text frame from the server and says what it did. Throws
    /// when the server broke the protocol (`code` says how, for example
    /// `server_seq_gap`): drop the connection and reconnect.
    #[wasm_bindgen(unchecked_return_type = "SessionEvent")]
    pub fn receive(&mut self, frame: &str) -> Result<JsValue, JsValue> {
        let event = self.session.receive_text(frame).map_err(error::session)?;
        let view = match &event {
            Event::Connected { server_seq, resync } => EventView::Connected {
                server_seq: server_seq.0,
                resync: *resync,
            },
            Event::Snapshot {
                server_seq,
                splices: s,
            } => EventView::Snapshot {
                server_seq: server_seq.0,
                splices: splices(s),
            },
            Event::Remote {
                server_seq,
                splices: s,
            } => EventView::Remote {
                server_seq: server_seq.0,
                splices: splices(s),
            },
            Event::Acknowledged { server_seq } => EventView::Acknowledged {
                server_seq: server_seq.0,
            },
            Event::Error(e) => EventView::Error {
                code: &e.code,
                message: &e.message,
                fatal: e.fatal,
                close_code: e.close_code,
                index: e.index,
                retry_after_ms: e.retry_after_ms,
            },
            // The browser package is built without the core's `recover`
            // (its size budget), so the session never drops an edit here.
            Event::Dropped { .. } => return Ok(JsValue::NULL),
        };
        to_js(&view)
    }
}
