//! Writes the browser tests' vectors to `$OUT_DIR/vectors.json`, computed
//! by the native crate on the build machine: seeded edits on three replicas
//! (non-ASCII text, surrogate pairs, combining marks), the operations each
//! edit made, merges between replicas, every replica's snapshot bytes, and
//! the converged document's operations in a shuffled delivery order. The
//! browser test repeats all of it through the wasm API and must produce the
//! same operations and byte-identical snapshots.

use std::fmt::Write as _;

use collab_crdt::{Doc, Op};
use serde_json::{Value, json};

const REPLICAS: [u64; 3] = [11, 22, (1 << 53) - 1];
const STEPS: usize = 600;
const SEED: u64 = 0x5eed_c011_ab00_0004;

/// Pieces of text edits are made of: ASCII, a precomposed and a combining
/// accent, astral characters (two UTF-16 units each), an emoji with a skin
/// tone modifier, a ZWJ family, CJK and a newline.
const PIECES: [&str; 10] = [
    "a",
    "hello ",
    "é",
    "e\u{301}",
    "𝕏",
    "👋🏽",
    "👨\u{200d}👩\u{200d}👧",
    "中文",
    "\n",
    "xyz",
];

/// xorshift64*: the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn ops_json(ops: &[Op]) -> Value {
    serde_json::to_value(ops).expect("ops serialize")
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let mut rng = Rng(SEED);
    let mut docs: Vec<Doc> = REPLICAS
        .iter()
        .map(|&r| Doc::new(r).expect("valid replica"))
        .collect();
    let mut steps = Vec::new();
    for _ in 0..STEPS {
        let r = rng.below(docs.len());
        if rng.below(5) == 0 {
            let from = (r + 1 + rng.below(docs.len() - 1)) % docs.len();
            let ops = docs[from].ops_since(&docs[r].version());
            docs[r].apply_all(&ops).expect("merge");
            steps.push(json!({"replica": r, "merge_from": from, "text_after": docs[r].text()}));
            continue;
        }
        let doc = &mut docs[r];
        let before = doc.version();
        let len = doc.len();
        let pos = rng.below(len + 1);
        let del = if len > pos && rng.below(3) > 0 {
            1 + rng.below((len - pos).min(6))
        } else {
            0
        };
        let text: String = (0..rng.below(3))
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect();
        let (kind, del, text) = match (del, text.is_empty()) {
            (0, true) => ("insert", 0, PIECES[rng.below(PIECES.len())].to_string()),
            (0, false) => ("insert", 0, text),
            (d, true) => ("delete", d, text),
            (d, false) => ("replace", d, text),
        };
        let index = doc.pos_to_utf16(pos).expect("in range");
        let length = doc.pos_to_utf16(pos + del).expect("in range") - index;
        match kind {
            "insert" => {
                doc.insert(pos, &text).expect("insert");
            }
            "delete" => {
                doc.delete(pos, del).expect("delete");
            }
            _ => {
                doc.replace(pos, del, &text).expect("replace");
            }
        }
        let ops = doc.ops_since(&before);
        steps.push(json!({
            "replica": r,
            "edit": kind,
            "index": index,
            "length": length,
            "text": text,
            "ops": ops_json(&ops),
            "text_after": doc.text(),
        }));
    }
    let diverged: Vec<Value> = docs
        .iter()
        .map(|d| json!({"text": d.text(), "bytes": hex(&d.encode())}))
        .collect();
    // Everyone merges everything: one document, byte for byte.
    for i in 0..docs.len() {
        for j in 0..docs.len() {
            if i != j {
                let ops = docs[j].ops_since(&docs[i].version());
                docs[i].apply_all(&ops).expect("merge");
            }
        }
    }
    let converged = docs[0].encode();
    for d in &docs {
        assert_eq!(d.encode(), converged, "native replicas converge");
    }
    // The converged history delivered in a scrambled order, to a replica
    // that has to buffer operations until their dependencies arrive.
    let mut shuffled = docs[0].ops_since(&collab_crdt::VersionVector::new());
    for i in (1..shuffled.len()).rev() {
        shuffled.swap(i, rng.below(i + 1));
    }
    let vectors = json!({
        "replicas": REPLICAS,
        "steps": steps,
        "diverged": diverged,
        "converged": {"text": docs[0].text(), "bytes": hex(&converged)},
        "shuffled_ops": ops_json(&shuffled),
    });
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("vectors.json");
    std::fs::write(&out, vectors.to_string()).expect("write vectors");
}
