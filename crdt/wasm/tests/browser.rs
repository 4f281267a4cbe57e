//! The wasm build in a real browser (`wasm-pack test --headless --chrome`):
//! the native crate's test vectors give the same operations and
//! byte-identical snapshots, replicas converge, UTF-16 positions are right
//! around surrogate pairs and combining marks, errors reach JavaScript with
//! their codes, the session's splices keep a JS string in step, undo and
//! redo give splices and the caret in UTF-16 units, and a session restored
//! from what a store keeps is the same replica with its outbox.

use collab_crdt_wasm::{WasmDoc, WasmSession};
use js_sys::{JSON, JsString, Reflect};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const VECTORS: &str = include_str!(concat!(env!("OUT_DIR"), "/vectors.json"));

fn js(value: &Value) -> JsValue {
    JSON::parse(&value.to_string()).expect("valid JSON")
}

fn ops(value: JsValue) -> Vec<collab_crdt::Op> {
    serde_wasm_bindgen::from_value(value).expect("ops in the protocol's shape")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn code(err: &JsValue) -> String {
    Reflect::get(err, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_default()
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

#[wasm_bindgen_test]
fn native_vectors_give_the_same_ops_and_byte_identical_snapshots() {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let mut docs: Vec<WasmDoc> = v["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| WasmDoc::new(r.as_f64().unwrap()).unwrap())
        .collect();
    let steps = v["steps"].as_array().unwrap();
    assert!(steps.len() >= 500);
    for (i, step) in steps.iter().enumerate() {
        let r = step["replica"].as_u64().unwrap() as usize;
        if let Some(from) = step["merge_from"].as_u64() {
            let missing = docs[from as usize].ops_since(docs[r].version().unwrap());
            docs[r].apply_all(missing.unwrap()).unwrap();
        } else {
            let doc = &mut docs[r];
            let before = doc.version().unwrap();
            let index = step["index"].as_u64().unwrap() as usize;
            let length = step["length"].as_u64().unwrap() as usize;
            let text = step["text"].as_str().unwrap();
            match step["edit"].as_str().unwrap() {
                "insert" => doc.insert(index, text),
                "delete" => doc.delete(index, length),
                _ => doc.replace(index, length, text),
            }
            .unwrap_or_else(|e| panic!("step {i}: {e:?}"));
            let made = ops(doc.ops_since(before).unwrap());
            let expected: Vec<collab_crdt::Op> =
                serde_json::from_value(step["ops"].clone()).unwrap();
            assert_eq!(made, expected, "step {i}: the same operations as native");
        }
        assert_eq!(
            docs[r].text(),
            step["text_after"].as_str().unwrap(),
            "step {i}"
        );
    }
    for (doc, expected) in docs.iter().zip(v["diverged"].as_array().unwrap()) {
        assert_eq!(hex(&doc.encode()), expected["bytes"].as_str().unwrap());
    }
    for i in 0..docs.len() {
        for j in 0..docs.len() {
            if i != j {
                let missing = docs[j].ops_since(docs[i].version().unwrap()).unwrap();
                docs[i].apply_all(missing).unwrap();
            }
        }
    }
    let converged = v["converged"]["bytes"].as_str().unwrap();
    for doc in &docs {
        assert_eq!(hex(&doc.encode()), converged, "byte-identical with native");
        assert_eq!(doc.text(), v["converged"]["text"].as_str().unwrap());
    }

    // The same history in a scrambled order: buffered, then identical.
    let mut fresh = WasmDoc::new(99.0).unwrap();
    let mut buffered = 0;
    for op in v["shuffled_ops"].as_array().unwrap() {
        if fresh.apply(js(op)).unwrap() == "buffered" {
            buffered += 1;
        }
    }
    assert!(buffered > 0, "the order really was scrambled");
    assert_eq!(fresh.pending_length(), 0);
    assert_eq!(hex(&fresh.encode()), converged);

    // And decoding the native bytes gives the same document again.
    let bytes: Vec<u8> = (0..converged.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&converged[i..i + 2], 16).unwrap())
        .collect();
    let loaded = WasmDoc::decode(7.0, &bytes).unwrap();
    assert_eq!(loaded.text(), v["converged"]["text"].as_str().unwrap());
    assert_eq!(loaded.encode(), bytes);
}

#[wasm_bindgen_test]
fn concurrent_edits_converge_in_any_delivery_order() {
    let mut seed = 0x2545_f491_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let words = ["a", "bc", "é", "👍", "e\u{301}", " ", "ß"];
    let mut docs: Vec<WasmDoc> = (1..=4).map(|r| WasmDoc::new(r as f64).unwrap()).collect();
    for round in 0..40 {
        for doc in docs.iter_mut() {
            let text = doc.text();
            // A UTF-16 index on a character boundary.
            let bounds: Vec<usize> = (0..=text.chars().count())
                .map(|c| utf16_len(&text.chars().take(c).collect::<String>()))
                .collect();
            let at = bounds[next(bounds.len())];
            if next(3) == 0 && at < doc.length() {
                let end = bounds.iter().copied().find(|&b| b > at).unwrap();
                doc.delete(at, end - at).unwrap();
            } else {
                doc.insert(at, words[next(words.len())]).unwrap();
            }
        }
        // Exchange with one random peer each round, and everything at the end.
        let (a, b) = (next(4), next(4));
        if a != b || round == 39 {
            for i in 0..4 {
                for j in 0..4 {
                    if i != j && (round == 39 || (i, j) == (a, b)) {
                        let missing = docs[j].ops_since(docs[i].version().unwrap()).unwrap();
                        docs[i].apply_all(missing).unwrap();
                    }
                }
            }
        }
    }
    let text = docs[0].text();
    let bytes = docs[0].encode();
    assert!(text.chars().count() > 30, "{text:?}");
    for doc in &docs[1..] {
        assert_eq!(doc.text(), text);
        assert_eq!(doc.encode(), bytes);
    }
}

#[wasm_bindgen_test]
fn positions_are_utf16_offsets_and_never_split_a_surrogate_pair() {
    let mut doc = WasmDoc::new(1.0).unwrap();
    doc.insert(0, "a👋b").unwrap();
    assert_eq!(doc.length(), 4, "the emoji is two UTF-16 units");
    assert_eq!(doc.char_length(), 3);
    // Index 3 is after the emoji, as JavaScript counts.
    doc.insert(3, "e\u{301}").unwrap();
    assert_eq!(doc.text(), "a👋e\u{301}b");
    // Inside the pair: refused, document unchanged.
    let err = doc.insert(2, "x").unwrap_err();
    assert_eq!(code(&err), "split_surrogate");
    let err = doc.delete(1, 1).unwrap_err();
    assert_eq!(code(&err), "split_surrogate");
    assert_eq!(doc.text(), "a👋e\u{301}b");
    // Deleting the whole pair, and a combining mark on its own.
    doc.delete(1, 2).unwrap();
    assert_eq!(doc.text(), "ae\u{301}b");
    doc.delete(2, 1).unwrap();
    assert_eq!(doc.text(), "aeb");
    doc.replace(0, 1, "𝕏").unwrap();
    assert_eq!(doc.text(), "𝕏eb");
    assert_eq!(doc.length(), 4);
    // JavaScript sees the same string, unit for unit.
    let s = JsString::from(doc.text());
    assert_eq!(s.length(), 4);
    assert_eq!(s.char_code_at(0), f64::from(0xd835));
}

#[wasm_bindgen_test]
fn errors_are_js_errors_with_the_cores_code_and_message() {
    let mut doc = WasmDoc::new(1.0).unwrap();
    let err = doc.delete(0, 1).unwrap_err();
    let e: &js_sys::Error = err.dyn_ref().expect("a JS Error");
    assert_eq!(e.name(), "CollabError");
    assert_eq!(code(&err), "position_out_of_range");
    assert!(String::from(e.message()).contains("past the end"));
    assert_eq!(code(&WasmDoc::new(0.0).err().unwrap()), "reserved_replica");
    assert_eq!(
        code(&WasmDoc::new(9_007_199_254_740_992.0).err().unwrap()),
        "id_too_large"
    );
    assert_eq!(code(&WasmDoc::new(1.5).err().unwrap()), "invalid_argument");
    let not_an_op = JSON::parse(r#"{"kind":"move"}"#).unwrap();
    assert_eq!(code(&doc.apply(not_an_op).unwrap_err()), "invalid_argument");
    assert_eq!(
        code(&WasmDoc::decode(1.0, b"nope").err().unwrap()),
        "invalid_snapshot"
    );
}

/// Applies a `receive()` event's splices to a JS string, as an editor would.
fn apply_splices(text: &JsString, event: &JsValue) -> JsString {
    let splices: js_sys::Array = Reflect::get(event, &"splices".into()).unwrap().into();
    let mut text = text.clone();
    for s in splices.iter() {
        let index = Reflect::get(&s, &"index".into()).unwrap().as_f64().unwrap() as u32;
        let delete = Reflect::get(&s, &"deleteCount".into())
            .unwrap()
            .as_f64()
            .unwrap() as u32;
        let insert: JsString = Reflect::get(&s, &"insert".into()).unwrap().into();
        text = text
            .slice(0, index)
            .concat(&insert)
            .concat(&text.slice(index + delete, text.length()));
    }
    text
}

fn field(event: &JsValue, name: &str) -> JsValue {
    Reflect::get(event, &name.into()).unwrap()
}

#[wasm_bindgen_test]
fn session_splices_in_utf16_keep_a_js_string_in_step() {
    let mut session = WasmSession::new("notes".into(), 5.0).unwrap();
    let hello: Value = serde_json::from_str(&session.connect()).unwrap();
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["replica_id"], 5);
    assert_eq!(session.status(), "connecting");
    let ack = r#"{"type":"hello_ack","doc_id":"notes","replica_id":5,"server_seq":0,"epoch":"e1","resync":"replay"}"#;
    let event = session.receive(ack).unwrap();
    assert_eq!(field(&event, "type").as_string().unwrap(), "connected");
    assert_eq!(field(&event, "resync").as_string().unwrap(), "replay");
    assert_eq!(session.status(), "live");

    // Local edits at UTF-16 offsets, sent once live.
    session.insert(0, "👋 hi").unwrap();
    session.insert(3, "e\u{301}").unwrap();
    let sent: Value = serde_json::from_str(&session.poll_send().unwrap()).unwrap();
    assert_eq!(sent["type"], "op");
    assert_eq!(sent["ops"].as_array().unwrap().len(), 2);
    assert!(session.poll_send().is_none());

    // The server echoes them, then another replica's edits arrive.
    let mut seq = 0;
    let mut echo = |op: &Value| {
        seq += 1;
        format!(
            r#"{{"type":"op_echo","server_seq":{seq},"replica_id":{},"op":{op}}}"#,
            op["replica_id"]
        )
    };
    for op in sent["ops"].as_array().unwrap() {
        let event = session.receive(&echo(op)).unwrap();
        assert_eq!(field(&event, "type").as_string().unwrap(), "acknowledged");
    }
    assert_eq!(session.unacked(), 0);
    let mut editor = JsString::from(session.text());
    let mut other = WasmDoc::new(6.0).unwrap();
    other
        .apply_all(JSON::parse(&sent["ops"].to_string()).unwrap())
        .unwrap();
    let edits: [(&str, usize, usize, &str); 5] = [
        ("insert", 2, 0, "𝕏"),   // right after the emoji
        ("insert", 0, 0, "中"),  // before everything
        ("delete", 1, 2, ""),    // the emoji
        ("replace", 1, 3, "é!"), // the 𝕏 and the space
        ("insert", 6, 0, "🎉"),
    ];
    for (kind, index, length, text) in edits {
        let before = other.version().unwrap();
        match kind {
            "insert" => other.insert(index, text),
            "delete" => other.delete(index, length),
            _ => other.replace(index, length, text),
        }
        .unwrap();
        let new_ops: Value =
            serde_wasm_bindgen::from_value(other.ops_since(before).unwrap()).unwrap();
        for op in new_ops.as_array().unwrap() {
            let event = session.receive(&echo(op)).unwrap();
            assert_eq!(field(&event, "type").as_string().unwrap(), "remote");
            editor = apply_splices(&editor, &event);
            assert_eq!(String::from(editor.clone()), session.text());
        }
    }
    assert_eq!(session.text(), other.text());
    assert_eq!(session.last_seen_server_seq(), seq as f64);

    // A gap in server_seq is the server's fault: thrown with its code.
    let op =
        r#"{"kind":"insert","replica_id":6,"seq":99,"lamport":999,"parent_id":null,"text":"z"}"#;
    let gap = format!(
        r#"{{"type":"op_echo","server_seq":{},"replica_id":6,"op":{op}}}"#,
        seq + 5
    );
    assert_eq!(code(&session.receive(&gap).unwrap_err()), "server_seq_gap");

    // Reconnecting with a lost epoch: the snapshot keeps local unsent edits.
    session.disconnected();
    session.insert(0, "mine ").unwrap();
    let before = JsString::from(session.text());
    let hello: Value = serde_json::from_str(&session.connect()).unwrap();
    assert_eq!(hello["last_seen_server_seq"], seq);
    assert_eq!(hello["epoch"], "e1");
    let ack = r#"{"type":"hello_ack","doc_id":"notes","replica_id":5,"server_seq":0,"epoch":"e2","resync":"snapshot"}"#;
    session.receive(ack).unwrap();
    assert_eq!(session.status(), "syncing");
    let empty = WasmDoc::new(1.0).unwrap().encode();
    let data = base64(&empty);
    let snapshot =
        format!(r#"{{"type":"snapshot","doc_id":"notes","server_seq":0,"data":"{data}"}}"#);
    let event = session.receive(&snapshot).unwrap();
    assert_eq!(field(&event, "type").as_string().unwrap(), "snapshot");
    let after = apply_splices(&before, &event);
    assert_eq!(String::from(after), session.text());
    assert!(session.text().contains("mine "));
    assert!(session.unacked() > 0, "kept to be sent again");
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[wasm_bindgen_test]
fn session_undo_and_redo_give_splices_and_the_caret_in_utf16() {
    let mut session = WasmSession::new("notes".into(), 5.0).unwrap();
    session.set_clock(0.0);
    session.insert(0, "👋 hi").unwrap();
    session.set_clock(10_000.0);
    session.insert(5, " 🎉").unwrap();
    session.stop_capturing();
    session.delete(0, 2).unwrap(); // the 👋
    assert!(session.can_undo());
    let mut editor = JsString::from(session.text());
    let mut expect = |session: &mut WasmSession, redo: bool, caret: f64, text: &str| {
        let done = if redo { session.redo() } else { session.undo() }.unwrap();
        editor = apply_splices(&editor, &done);
        assert_eq!(field(&done, "caret").as_f64().unwrap(), caret);
        assert_eq!(String::from(editor.clone()), text);
        assert_eq!(session.text(), text);
    };
    expect(&mut session, false, 2.0, "👋 hi 🎉");
    expect(&mut session, false, 5.0, "👋 hi");
    expect(&mut session, true, 8.0, "👋 hi 🎉");
    assert!(session.can_undo() && session.can_redo());
    assert_eq!(session.unacked(), 6, "three edits, two undos and a redo");
}

#[wasm_bindgen_test]
fn a_session_restored_from_its_store_is_the_same_replica_with_its_outbox() {
    let mut session = WasmSession::new("notes".into(), 5.0).unwrap();
    session.insert(0, "stored").unwrap();
    let snapshot = session.encode();
    let version = session.version().unwrap();
    session.insert(6, " later 😀").unwrap();
    let later = JSON::stringify(&session.ops_since(version).unwrap()).unwrap();
    let restored = WasmSession::restore(
        "notes".into(),
        5.0,
        &snapshot,
        &String::from(later),
        0.0,
        None,
        session.acked_seq(),
    )
    .unwrap();
    assert_eq!(restored.text(), "stored later 😀");
    assert_eq!(restored.replica_id(), 5.0);
    assert_eq!(
        restored.acked_seq(),
        0.0,
        "nothing echoed: all of it is unsent"
    );
    // The outbox holds all of it (typing on may come back as one operation).
    let mut restored = restored;
    restored.connect();
    let ack = r#"{"type":"hello_ack","doc_id":"notes","replica_id":5,"server_seq":0,"epoch":"e1","resync":"replay"}"#;
    restored.receive(ack).unwrap();
    let sent: Value = serde_json::from_str(&restored.poll_send().unwrap()).unwrap();
    let text: String = sent["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, "stored later 😀");
    assert!(WasmSession::restore("notes".into(), 5.0, b"junk", "[]", 0.0, None, 0.0).is_err());
}
