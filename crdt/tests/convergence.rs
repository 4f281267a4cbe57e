//! Property tests: replicas that receive the same operations, in any order
//! and with duplicates, converge to the same text and the same snapshot
//! bytes; a single replica behaves like a plain string.

use proptest::prelude::*;

use collab_crdt::{Doc, Op, VersionVector};

/// Text fragments mixing ASCII, accents, combining marks, CJK and characters
/// outside the Basic Multilingual Plane.
fn fragment() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "a", "b", "xyz", " ", "\n", "é", "e\u{301}", "中文", "😀", "👍🏽", "🇫🇷", "ß",
        ]),
        1..4,
    )
    .prop_map(|parts| parts.concat())
}

#[derive(Clone, Debug)]
enum Action {
    Insert {
        replica: usize,
        at: u16,
        text: String,
    },
    Delete {
        replica: usize,
        at: u16,
        len: u8,
    },
    /// Hands one already-sent operation (chosen by `which`) to a replica,
    /// whatever it has seen: out of order, duplicated or late.
    Deliver {
        replica: usize,
        which: u16,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..5usize, any::<u16>(), fragment())
            .prop_map(|(replica, at, text)| Action::Insert { replica, at, text }),
        2 => (0..5usize, any::<u16>(), 1..6u8)
            .prop_map(|(replica, at, len)| Action::Delete { replica, at, len }),
        3 => (0..5usize, any::<u16>()).prop_map(|(replica, which)| Action::Deliver { replica, which }),
    ]
}

/// A seeded Fisher-Yates shuffle, with some operations repeated, so the final
/// delivery order differs per replica and per case.
fn shuffled_with_duplicates(ops: &[Op], seed: u64) -> Vec<Op> {
    let mut out: Vec<Op> = ops.to_vec();
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..ops.len() / 3 {
        out.push(ops[(next() as usize + i) % ops.len()].clone());
    }
    for i in (1..out.len()).rev() {
        out.swap(i, next() as usize % (i + 1));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn replicas_converge(
        n in 2..=5usize,
        actions in prop::collection::vec(action(), 0..40),
        seed in any::<u64>(),
    ) {
        let mut docs: Vec<Doc> = (1..=n as u64).map(|r| Doc::new(r).unwrap()).collect();
        let mut sent: Vec<Op> = Vec::new();
        for a in &actions {
            match a {
                Action::Insert { replica, at, text } => {
                    let d = &mut docs[replica % n];
                    let pos = *at as usize % (d.len() + 1);
                    sent.extend(d.insert(pos, text).unwrap());
                }
                Action::Delete { replica, at, len } => {
                    let d = &mut docs[replica % n];
                    if d.is_empty() { continue; }
                    let pos = *at as usize % d.len();
                    let len = (*len as usize).min(d.len() - pos);
                    sent.extend(d.delete(pos, len).unwrap());
                }
                Action::Deliver { replica, which } => {
                    if sent.is_empty() { continue; }
                    let op = &sent[*which as usize % sent.len()];
                    docs[replica % n].apply(op).unwrap();
                }
            }
        }
        for (i, d) in docs.iter_mut().enumerate() {
            let order = shuffled_with_duplicates(&sent, seed.wrapping_add(i as u64));
            d.apply_all(&order).unwrap();
            d.check().unwrap();
            prop_assert_eq!(d.pending_len(), 0);
        }
        let text = docs[0].text();
        let bytes = docs[0].encode();
        for d in &docs[1..] {
            prop_assert_eq!(d.text(), text.clone());
            prop_assert_eq!(d.encode(), bytes.clone());
            prop_assert_eq!(d.version(), docs[0].version());
        }
        // A snapshot loaded back equals a replay of the op log, and both
        // equal the live replicas.
        let loaded = Doc::decode(77, &bytes).unwrap();
        let mut replayed = Doc::new(78).unwrap();
        for op in &docs[1].ops_since(&VersionVector::new()) {
            replayed.apply(op).unwrap();
        }
        // A fresh replica takes the same history in one step.
        let mut bulk = Doc::new(79).unwrap();
        bulk.apply_all(&docs[1].ops_since(&VersionVector::new())).unwrap();
        bulk.check().unwrap();
        prop_assert_eq!(bulk.encode(), bytes.clone());
        prop_assert_eq!(bulk.layout(), replayed.layout());
        prop_assert_eq!(loaded.text(), text.clone());
        prop_assert_eq!(replayed.text(), text);
        prop_assert_eq!(loaded.encode(), bytes.clone());
        prop_assert_eq!(replayed.encode(), bytes);
        // Loading lays the history out in one pass; the tombstones must land
        // where integrating op by op puts them, or later edits would diverge.
        loaded.check().unwrap();
        prop_assert_eq!(loaded.layout(), replayed.layout());
        prop_assert_eq!(loaded.layout(), docs[0].layout());
    }

    #[test]
    fn one_replica_matches_a_string(
        edits in prop::collection::vec((any::<u16>(), 0..8u8, prop::option::of(fragment())), 0..80),
    ) {
        let mut doc = Doc::new(1).unwrap();
        let mut model: Vec<char> = Vec::new();
        for (at, del, ins) in &edits {
            let pos = *at as usize % (model.len() + 1);
            let del = (*del as usize).min(model.len() - pos);
            let ins = ins.clone().unwrap_or_default();
            doc.replace(pos, del, &ins).unwrap();
            model.splice(pos..pos + del, ins.chars());
            let expected: String = model.iter().collect();
            prop_assert_eq!(doc.len(), model.len());
            prop_assert_eq!(doc.len_utf16(), expected.encode_utf16().count());
            prop_assert_eq!(doc.text(), expected);
        }
        doc.check().unwrap();
    }
}
