//! Fuzz drivers: byte strings turned into edits, deliveries and hostile
//! operations, with the invariants checked after each step.
//!
//! They are ordinary functions so that the cargo-fuzz targets in `crdt/fuzz`,
//! the seeded `fuzz_once` test and the crash fixtures all run the same code.
//! A violated invariant panics: that is what a fuzzer reports.

use alloc::string::String;
use alloc::vec::Vec;

use crate::doc::Doc;
use crate::id::{Id, MAX_SAFE};
use crate::op::{DeleteOp, InsertOp, Op};
use crate::snapshot::Snapshot;

const REPLICAS: usize = 3;
/// Characters the driver types: ASCII, accents, a combining mark, CJK and
/// characters outside the Basic Multilingual Plane (two UTF-16 units each).
const ALPHABET: [char; 12] = [
    'a', 'b', ' ', '\n', 'é', '\u{301}', '中', '文', '😀', '👍', '🏽', 'z',
];

struct Bytes<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn u64(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..8 {
            v = v << 8 | u64::from(self.byte()?);
        }
        Some(v)
    }

    /// A number below `n`, from one byte (0 when `n` is 0).
    fn below(&mut self, n: usize) -> Option<usize> {
        let b = self.byte()? as usize;
        Some(if n == 0 { 0 } else { b % n })
    }

    fn text(&mut self) -> Option<String> {
        let len = self.below(6)? + 1;
        (0..len)
            .map(|_| self.below(ALPHABET.len()).map(|i| ALPHABET[i]))
            .collect()
    }

    /// An id-sized number: usually small, sometimes at or past the limits.
    fn number(&mut self) -> Option<u64> {
        Some(match self.byte()? % 8 {
            0 => 0,
            1 => MAX_SAFE,
            2 => MAX_SAFE + 1,
            3 => u64::MAX,
            4 => self.u64()?,
            _ => u64::from(self.byte()?),
        })
    }
}

/// Runs three replicas through the actions `data` encodes: local edits,
/// deliveries in any order with duplicates, hostile operations and snapshot
/// round trips. At the end everything is delivered everywhere and the
/// replicas must agree byte for byte.
pub fn run_ops(data: &[u8]) {
    let mut docs: Vec<Doc> = (1..=REPLICAS as u64)
        .map(|r| Doc::new(r).expect("valid replica"))
        .collect();
    let mut sent: Vec<Op> = Vec::new();
    let mut b = Bytes { data, at: 0 };
    while let Some(action) = b.byte() {
        let Some(k) = b.below(REPLICAS) else { break };
        let step = match action % 6 {
            0 => insert(&mut docs[k], &mut b, &mut sent),
            1 => delete(&mut docs[k], &mut b, &mut sent),
            2 | 3 => deliver(&mut docs[k], &mut b, &sent),
            4 => hostile(&docs[k], &mut b, &sent),
            _ => round_trip(&docs[k]),
        };
        if step.is_none() {
            break;
        }
        docs[k].check().expect("invariants hold");
    }
    for doc in &mut docs {
        doc.apply_all(&sent).expect("honest operations apply");
        doc.check().expect("invariants hold");
        assert_eq!(doc.pending_len(), 0, "every dependency was delivered");
    }
    let bytes = docs[0].encode();
    for doc in &docs[1..] {
        assert_eq!(doc.text(), docs[0].text(), "replicas converge");
        assert_eq!(doc.encode(), bytes, "snapshots are byte-identical");
    }
}

fn insert(doc: &mut Doc, b: &mut Bytes<'_>, sent: &mut Vec<Op>) -> Option<()> {
    let pos = b.below(doc.len() + 1)?;
    let text = b.text()?;
    let before = doc.len();
    let op = doc.insert(pos, &text).expect("in-range insert");
    assert_eq!(doc.len(), before + text.chars().count());
    sent.extend(op);
    Some(())
}

fn delete(doc: &mut Doc, b: &mut Bytes<'_>, sent: &mut Vec<Op>) -> Option<()> {
    let pos = b.below(doc.len() + 1)?;
    let len = b.below(doc.len() - pos + 1)?;
    let before = doc.len();
    sent.extend(doc.delete(pos, len).expect("in-range delete"));
    assert_eq!(doc.len(), before - len);
    Some(())
}

fn deliver(doc: &mut Doc, b: &mut Bytes<'_>, sent: &[Op]) -> Option<()> {
    if sent.is_empty() {
        return Some(());
    }
    let i = (b.byte()? as usize * 256 + b.byte()? as usize) % sent.len();
    doc.apply(&sent[i]).expect("honest operations never fail");
    Some(())
}

/// Applies an operation with arbitrary fields to a copy of `doc`: it may be
/// refused, but must not panic, and when refused must change nothing.
fn hostile(doc: &Doc, b: &mut Bytes<'_>, sent: &[Op]) -> Option<()> {
    let op = if !sent.is_empty() && b.byte()? % 2 == 0 {
        mutate(&sent[b.below(sent.len())?], b)?
    } else {
        arbitrary_op(b)?
    };
    let mut copy = doc.clone();
    let (text, bytes, pending) = (copy.text(), copy.encode(), copy.pending_len());
    if copy.apply(&op).is_err() {
        assert_eq!(copy.text(), text, "a refused op leaves the text");
        assert_eq!(copy.encode(), bytes, "a refused op leaves the history");
        assert_eq!(copy.pending_len(), pending, "a refused op is not buffered");
    }
    copy.check().expect("invariants hold after hostile input");
    Some(())
}

fn arbitrary_op(b: &mut Bytes<'_>) -> Option<Op> {
    let (replica_id, seq, lamport) = (b.number()?, b.number()?, b.number()?);
    Some(if b.byte()? % 2 == 0 {
        let parent_id = if b.byte()? % 4 == 0 {
            None
        } else {
            Some(Id::new(b.number()?, b.number()?))
        };
        let text = if b.byte()? % 8 == 0 {
            String::new()
        } else {
            b.text()?
        };
        Op::Insert(InsertOp {
            replica_id,
            seq,
            lamport,
            parent_id,
            text: text.into(),
        })
    } else {
        Op::Delete(DeleteOp {
            replica_id,
            seq,
            lamport,
            target: Id::new(b.number()?, b.number()?),
            len: b.number()?,
            reversed: b.byte()? % 2 == 0,
        })
    })
}

/// An honest operation with one field changed: the same id with other
/// content, a shifted sequence number, a different parent or target.
fn mutate(op: &Op, b: &mut Bytes<'_>) -> Option<Op> {
    let mut op = op.clone();
    let delta = u64::from(b.byte()?);
    match (&mut op, b.byte()? % 4) {
        (Op::Insert(i), 0) => i.text = b.text()?.into(),
        (Op::Insert(i), 1) => i.parent_id = Some(Id::new(delta, 1 + delta % 3)),
        (Op::Delete(d), 0) => d.len = delta,
        (Op::Delete(d), 1) => d.target.lamport = delta,
        (Op::Insert(i), 2) => i.seq = i.seq.wrapping_add(delta),
        (Op::Delete(d), 2) => d.seq = d.seq.wrapping_add(delta),
        (Op::Insert(i), _) => i.lamport = i.lamport.wrapping_add(delta),
        (Op::Delete(d), _) => d.reversed = !d.reversed,
    }
    Some(op)
}

fn round_trip(doc: &Doc) -> Option<()> {
    let bytes = doc.encode();
    let loaded = Doc::decode(99, &bytes).expect("own snapshot decodes");
    loaded
        .check()
        .expect("invariants hold for a loaded snapshot");
    assert_eq!(
        loaded.layout(),
        doc.layout(),
        "a loaded snapshot places every character, deleted ones too, where the replica has it"
    );
    assert_eq!(loaded.text(), doc.text(), "a loaded snapshot has the text");
    assert_eq!(
        loaded.encode(),
        bytes,
        "a loaded snapshot re-encodes identically"
    );
    Some(())
}

/// Decodes arbitrary bytes as a snapshot and loads it: errors are fine,
/// panics are not, and whatever loads must re-encode to a stable form.
pub fn run_decode(data: &[u8]) {
    let Ok(snapshot) = Snapshot::decode(data) else {
        return;
    };
    let Ok(doc) = Doc::from_snapshot(1, &snapshot) else {
        return;
    };
    doc.check().expect("invariants hold for a decoded snapshot");
    let again = Doc::decode(1, &doc.encode()).expect("a re-encoded snapshot decodes");
    assert_eq!(again.text(), doc.text());
}

/// Runs [`run_ops`] on `len` bytes drawn from `seed` with splitmix64, so a
/// failing seed can be replayed exactly.
pub fn fuzz_once(seed: u64, len: usize) {
    let mut state = seed;
    let data: Vec<u8> = (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u8
        })
        .collect();
    run_ops(&data);
}
