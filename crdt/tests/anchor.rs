//! Anchors: the documented resolution rules one by one, the JSON form and its
//! refusals, and property tests that an anchor moves exactly as the text
//! around it and resolves alike on every replica with the same operations.

use proptest::prelude::*;

use collab_crdt::{Anchor, Doc, Error, Id, MAX_SAFE, Op, Selection, Side};

fn doc_with(replica: u64, text: &str) -> Doc {
    let mut d = Doc::new(replica).unwrap();
    d.insert(0, text).unwrap();
    d
}

fn at(doc: &Doc, pos: usize, side: Side) -> Anchor {
    Anchor::at(doc, pos, side).unwrap()
}

#[test]
fn a_caret_stays_before_text_inserted_at_it_and_before_follows_it() {
    let mut a = doc_with(1, "hello");
    let mut b = a.fork(2).unwrap();
    let after = at(&a, 2, Side::After);
    let before = at(&a, 2, Side::Before);
    assert_eq!(
        after,
        Anchor::Char {
            id: a.id_at(1).unwrap(),
            side: Side::After
        }
    );
    assert_eq!(
        before,
        Anchor::Char {
            id: a.id_at(2).unwrap(),
            side: Side::Before
        }
    );
    // Another replica types at position 2: "heXYllo".
    let op = b.insert(2, "XY").unwrap().unwrap();
    a.apply(&op).unwrap();
    assert_eq!(after.resolve(&a), Ok(2));
    assert_eq!(before.resolve(&a), Ok(4));
    // Text before both shifts both; text after neither.
    a.insert(0, ">").unwrap();
    a.insert(a.len(), "<").unwrap();
    assert_eq!((after.resolve(&a), before.resolve(&a)), (Ok(3), Ok(5)));
}

#[test]
fn start_and_end_are_the_ends_whatever_is_inserted() {
    let mut a = doc_with(1, "abc");
    assert_eq!(at(&a, 0, Side::After), Anchor::Start);
    assert_eq!(at(&a, 3, Side::Before), Anchor::End);
    assert_eq!(
        at(&a, 0, Side::Before),
        Anchor::Char {
            id: a.id_at(0).unwrap(),
            side: Side::Before
        }
    );
    a.insert(0, "xx").unwrap();
    a.insert(5, "yy").unwrap();
    assert_eq!(Anchor::Start.resolve(&a), Ok(0));
    assert_eq!(Anchor::End.resolve(&a), Ok(7));
    let empty = Doc::new(3).unwrap();
    assert_eq!(at(&empty, 0, Side::After), Anchor::Start);
    assert_eq!(at(&empty, 0, Side::Before), Anchor::End);
}

#[test]
fn an_anchor_on_a_deleted_character_resolves_to_where_it_was() {
    let mut a = doc_with(1, "abcdef");
    let after_c = at(&a, 3, Side::After);
    let before_c = at(&a, 2, Side::Before);
    a.delete(1, 3).unwrap(); // "aef": b, c, d gone
    assert_eq!(after_c.resolve(&a), Ok(1));
    assert_eq!(before_c.resolve(&a), Ok(1));
    // Text typed at that place names the visible `a` as parent, so it goes
    // before the tombstones: a deleted anchor follows it, on either side.
    a.insert(1, "XY").unwrap();
    assert_eq!(after_c.resolve(&a), Ok(3));
    a.delete(0, a.len()).unwrap();
    assert_eq!(after_c.resolve(&a), Ok(0));
}

#[test]
fn positions_past_the_end_are_refused() {
    let a = doc_with(1, "ab");
    for side in [Side::Before, Side::After] {
        assert_eq!(
            Anchor::at(&a, 3, side),
            Err(Error::PositionOutOfRange { pos: 3, len: 2 })
        );
    }
}

#[test]
fn bad_and_unknown_anchors_get_typed_errors() {
    let a = doc_with(1, "abc");
    let char = |lamport, replica_id| Anchor::Char {
        id: Id::new(lamport, replica_id),
        side: Side::After,
    };
    let too_large = char(MAX_SAFE + 1, 1);
    assert_eq!(too_large.resolve(&a).unwrap_err().code(), "id_too_large");
    assert_eq!(too_large.validate().unwrap_err().code(), "id_too_large");
    assert_eq!(
        char(1, MAX_SAFE + 1).resolve(&a).unwrap_err().code(),
        "id_too_large"
    );
    assert_eq!(char(1, 0).resolve(&a), Err(Error::ReservedReplica));
    assert_eq!(char(1, 0).validate(), Err(Error::ReservedReplica));
    // Not integrated yet (another replica's, or this one's past its clock).
    assert_eq!(
        char(1, 9).resolve(&a),
        Err(Error::UnknownId { id: Id::new(1, 9) })
    );
    assert_eq!(
        char(4, 1).resolve(&a),
        Err(Error::UnknownId { id: Id::new(4, 1) })
    );
    assert_eq!(char(1, 1).validate(), Ok(()));
}

#[test]
fn an_anchor_can_arrive_before_its_character() {
    let mut a = doc_with(1, "ab");
    let mut b = a.fork(2).unwrap();
    let op = b.insert(2, "xyz").unwrap().unwrap();
    let caret = at(&b, 5, Side::After); // b's caret, sent in presence
    assert_eq!(caret.resolve(&a).unwrap_err().code(), "unknown_id");
    a.apply(&op).unwrap();
    assert_eq!(caret.resolve(&a), Ok(5));
}

#[test]
fn selections_do_not_grow_at_their_edges_and_collapse_when_emptied() {
    let mut a = doc_with(1, "0123456789");
    let mut b = a.fork(2).unwrap();
    let forward = Selection::new(&a, 3, 6).unwrap();
    let backward = Selection::new(&a, 6, 3).unwrap();
    let caret = Selection::new(&a, 4, 4).unwrap();
    assert_eq!(caret.anchor, caret.head);
    assert_eq!(forward.resolve(&a), Ok((3, 6)));
    assert_eq!(backward.resolve(&a), Ok((6, 3)));
    // Inserts at both edges stay outside; one inside grows the range.
    let mut ops: Vec<Op> = Vec::new();
    ops.extend(b.insert(6, "E").unwrap());
    ops.extend(b.insert(3, "S").unwrap());
    ops.extend(b.insert(5, "in").unwrap());
    a.apply_all(&ops).unwrap();
    assert_eq!(a.text(), "012S3in45E6789");
    assert_eq!(forward.resolve(&a), Ok((4, 9)));
    assert_eq!(backward.resolve(&a), Ok((9, 4)));
    a.delete(3, 7).unwrap();
    assert_eq!(forward.resolve(&a), Ok((3, 3)));
    assert_eq!(caret.resolve(&a), Ok((3, 3)));
    assert_eq!(
        Selection::new(&a, 0, 99),
        Err(Error::PositionOutOfRange { pos: 99, len: 7 })
    );
}

#[cfg(feature = "serde")]
mod json {
    use super::*;

    #[test]
    fn anchors_read_and_write_their_compact_form() {
        let cases = [
            (Anchor::Start, r#""start""#),
            (Anchor::End, r#""end""#),
            (
                Anchor::Char {
                    id: Id::new(5, 7),
                    side: Side::After,
                },
                r#"{"lamport":5,"replica_id":7,"side":"after"}"#,
            ),
            (
                Anchor::Char {
                    id: Id::new(MAX_SAFE, 1),
                    side: Side::Before,
                },
                r#"{"lamport":9007199254740991,"replica_id":1,"side":"before"}"#,
            ),
        ];
        for (anchor, json) in cases {
            assert_eq!(serde_json::to_string(&anchor).unwrap(), json);
            assert_eq!(serde_json::from_str::<Anchor>(json).unwrap(), anchor);
        }
        let sel = Selection {
            anchor: Anchor::Start,
            head: Anchor::Char {
                id: Id::new(2, 3),
                side: Side::Before,
            },
        };
        let json = r#"{"anchor":"start","head":{"lamport":2,"replica_id":3,"side":"before"}}"#;
        assert_eq!(serde_json::to_string(&sel).unwrap(), json);
        assert_eq!(serde_json::from_str::<Selection>(json).unwrap(), sel);
        // Field order and unknown fields do not matter.
        let loose = r#"{"side":"before","extra":1,"replica_id":3,"lamport":2}"#;
        assert_eq!(serde_json::from_str::<Anchor>(loose).unwrap(), sel.head);
    }

    #[test]
    fn malformed_anchors_are_errors_and_bad_ids_fail_validation() {
        for bad in [
            r#""middle""#,
            r#"{"lamport":1,"replica_id":2}"#,
            r#"{"lamport":1,"replica_id":2,"side":"left"}"#,
            r#"{"lamport":-1,"replica_id":2,"side":"after"}"#,
            r#"{"lamport":1.5,"replica_id":2,"side":"after"}"#,
            r#"{"lamport":18446744073709551616,"replica_id":2,"side":"after"}"#,
            r#"{"lamport":"1","replica_id":2,"side":"after"}"#,
            "null",
            "7",
            "[1,2]",
            "{",
        ] {
            assert!(serde_json::from_str::<Anchor>(bad).is_err(), "{bad}");
        }
        // Well formed but invalid: read, then refused with the operations' codes.
        let parse = |s: &str| serde_json::from_str::<Anchor>(s).unwrap();
        let big = parse(r#"{"lamport":9007199254740992,"replica_id":2,"side":"after"}"#);
        assert_eq!(big.validate().unwrap_err().code(), "id_too_large");
        let zero = parse(r#"{"lamport":1,"replica_id":0,"side":"after"}"#);
        assert_eq!(zero.validate().unwrap_err().code(), "reserved_replica");
    }
}

/// Where an anchor must be after a local edit, in the terms editors use
/// (CodeMirror's `mapPos`): text inserted before it shifts it, after it does
/// not, exactly at it only for an anchor that follows (`Before`, `End`, or
/// any anchor whose character is deleted); a deleted range holding it takes
/// it to the range's start.
fn map_pos(pos: usize, follows: bool, edit: (usize, usize, usize)) -> usize {
    let (at, del, ins) = edit;
    let pos = if pos >= at + del {
        pos - del
    } else if pos > at {
        at
    } else {
        pos
    };
    if pos > at || (pos == at && follows) {
        pos + ins
    } else {
        pos
    }
}

/// A small seeded generator, so each case delivers in its own order.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut x = seed | 1;
    for i in (1..items.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        items.swap(i, (x % (i as u64 + 1)) as usize);
    }
}

/// The position an anchor stands for, read off the whole sequence
/// (tombstones included) rather than through the id index.
fn expected(doc: &Doc, anchor: Anchor) -> usize {
    let Anchor::Char { id, side } = anchor else {
        return if anchor == Anchor::Start {
            0
        } else {
            doc.len()
        };
    };
    let layout = doc.layout();
    let i = layout.iter().position(|(c, _)| *c == id).unwrap();
    let before = layout[..i].iter().filter(|(_, deleted)| !deleted).count();
    before + usize::from(side == Side::After && !layout[i].1)
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Before), Just(Side::After)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn anchors_move_exactly_as_the_text_around_them(
        start in "[a-z]{0,12}",
        made in prop::collection::vec((any::<u16>(), side()), 1..6),
        edits in prop::collection::vec((any::<u16>(), 0..5usize, "[A-Z😀]{0,3}"), 1..30),
    ) {
        let mut doc = doc_with(1, "x");
        doc.replace(0, 1, &start).unwrap();
        let mut anchors: Vec<(Anchor, usize, bool)> = made
            .iter()
            .map(|&(p, side)| {
                let pos = p as usize % (doc.len() + 1);
                let anchor = at(&doc, pos, side);
                (anchor, pos, matches!(anchor, Anchor::End | Anchor::Char { side: Side::Before, .. }))
            })
            .collect();
        for (p, del, text) in &edits {
            let at = *p as usize % (doc.len() + 1);
            let del = (*del).min(doc.len() - at);
            // The delete first, then the insert, each checked: a replace
            // that deletes an anchor's character makes it follow the insert.
            for edit in [(at, del, 0), (at, 0, text.chars().count())] {
                doc.delete(edit.0, edit.1).unwrap();
                doc.insert(edit.0, &text[..if edit.2 > 0 { text.len() } else { 0 }]).unwrap();
                for (anchor, pos, follows) in anchors.iter_mut() {
                    *pos = map_pos(*pos, *follows, edit);
                    if let Anchor::Char { id, .. } = anchor {
                        *follows |= doc.pos_of(*id).unwrap().1;
                    }
                    prop_assert_eq!(anchor.resolve(&doc), Ok(*pos));
                }
            }
        }
    }

    #[test]
    fn anchors_resolve_alike_on_every_replica_with_the_same_ops(
        n in 2..=4usize,
        actions in prop::collection::vec(
            (0..4usize, 0..4u8, any::<u16>(), 0..4usize, side()), 1..50),
        seed in any::<u64>(),
    ) {
        let mut docs: Vec<Doc> = (1..=n as u64).map(|r| Doc::new(r).unwrap()).collect();
        let mut sent: Vec<Op> = Vec::new();
        let mut anchors: Vec<Anchor> = vec![Anchor::Start, Anchor::End];
        for &(r, kind, p, len, side) in &actions {
            let d = &mut docs[r % n];
            let pos = p as usize % (d.len() + 1);
            match kind {
                0 => sent.extend(d.insert(pos, &"ab😀".repeat(len + 1)).unwrap()),
                1 => {
                    let len = len.min(d.len() - pos);
                    sent.extend(d.delete(pos, len).unwrap());
                }
                2 => anchors.push(at(d, pos, side)),
                _ => {
                    // Deliver an already-sent op: replicas drift apart.
                    if let Some(op) = sent.get(p as usize % sent.len().max(1)) {
                        d.apply(op).unwrap();
                    }
                }
            }
            // Every anchor, on every replica, mid-history: its position, or
            // `unknown_id` exactly when that replica lacks the character.
            for d in &docs {
                for a in &anchors {
                    match a.resolve(d) {
                        Ok(pos) => prop_assert_eq!(pos, expected(d, *a)),
                        Err(Error::UnknownId { id }) => prop_assert!(d.pos_of(id).is_err()),
                        Err(e) => prop_assert!(false, "{e}"),
                    }
                }
            }
        }
        for (i, d) in docs.iter_mut().enumerate() {
            let mut order = sent.clone();
            shuffle(&mut order, seed.wrapping_add(i as u64));
            d.apply_all(&order).unwrap();
        }
        for a in &anchors {
            let pos = a.resolve(&docs[0]).unwrap();
            prop_assert_eq!(pos, expected(&docs[0], *a));
            for d in &docs[1..] {
                prop_assert_eq!(a.resolve(d), Ok(pos));
            }
        }
    }
}
