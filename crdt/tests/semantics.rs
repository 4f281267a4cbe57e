//! The documented semantics, one behaviour per test: ordering of concurrent
//! inserts, interleaving, idempotence, buffering, positions and Unicode.

use collab_crdt::{Applied, Doc, Error, Id, Op, VersionVector};

fn doc(replica: u64) -> Doc {
    Doc::new(replica).unwrap()
}

/// Delivers every operation of each document to every other one.
fn sync(docs: &mut [&mut Doc]) {
    let all: Vec<Op> = docs
        .iter()
        .flat_map(|d| d.ops_since(&VersionVector::new()))
        .collect();
    for d in docs.iter_mut() {
        d.apply_all(&all).unwrap();
    }
}

#[test]
fn local_edits_read_back() {
    let mut a = doc(1);
    a.insert(0, "hello").unwrap();
    a.insert(5, " world").unwrap();
    a.insert(0, ">> ").unwrap();
    assert_eq!(a.text(), ">> hello world");
    a.delete(3, 6).unwrap();
    assert_eq!(a.text(), ">> world");
    a.replace(3, 5, "there").unwrap();
    assert_eq!(a.text(), ">> there");
    assert_eq!(a.len(), 8);
}

#[test]
fn concurrent_inserts_at_one_position_put_the_larger_id_first() {
    let mut a = doc(1);
    let mut b = doc(2);
    let x = a.insert(0, "A").unwrap().unwrap();
    let y = b.insert(0, "B").unwrap().unwrap();
    // Same lamport (1), so the replica id decides: 2 > 1, B first.
    assert_eq!((x.lamport(), y.lamport()), (1, 1));
    a.apply(&y).unwrap();
    b.apply(&x).unwrap();
    assert_eq!(a.text(), "BA");
    assert_eq!(b.text(), "BA");

    // A later lamport beats a larger replica id: C (2@1) > D (1@9) > x (1@1).
    let mut c = doc(1);
    let mut d = doc(9);
    c.insert(0, "x").unwrap();
    c.insert(0, "C").unwrap();
    let d_op = d.insert(0, "D").unwrap().unwrap();
    d.merge_from(&c).unwrap();
    c.apply(&d_op).unwrap();
    assert_eq!(c.text(), "CDx");
    assert_eq!(d.text(), "CDx");
}

#[test]
fn runs_typed_forwards_do_not_interleave() {
    let mut base = doc(1);
    base.insert(0, "[]").unwrap();
    let mut a = base.fork(2).unwrap();
    let mut b = base.fork(3).unwrap();
    for (i, ch) in "alice".chars().enumerate() {
        a.insert(1 + i, &ch.to_string()).unwrap();
    }
    for (i, ch) in "bob".chars().enumerate() {
        b.insert(1 + i, &ch.to_string()).unwrap();
    }
    sync(&mut [&mut a, &mut b]);
    assert_eq!(a.text(), b.text());
    let t = a.text();
    assert!(
        t == "[alicebob]" || t == "[bobalice]",
        "each run stays whole, got {t}"
    );
}

#[test]
fn runs_typed_backwards_interleave_as_documented() {
    // Each character is typed at the same position, so each one's parent is
    // '[' and they are all siblings ordered by lamport: RGA's known anomaly.
    let mut base = doc(1);
    base.insert(0, "[]").unwrap();
    let mut a = base.fork(2).unwrap();
    let mut b = base.fork(3).unwrap();
    for ch in "cba".chars() {
        a.insert(1, &ch.to_string()).unwrap();
    }
    for ch in "zyx".chars() {
        b.insert(1, &ch.to_string()).unwrap();
    }
    assert_eq!(a.text(), "[abc]");
    assert_eq!(b.text(), "[xyz]");
    sync(&mut [&mut a, &mut b]);
    assert_eq!(a.text(), b.text());
    // Lamports 3,4,5 on both sides; at equal lamport replica 3 wins.
    assert_eq!(a.text(), "[xaybzc]");
}

#[test]
fn deletes_leave_tombstones_that_still_anchor_inserts() {
    let mut a = doc(1);
    a.insert(0, "abc").unwrap();
    let mut b = a.fork(2).unwrap();
    let del = a.delete(1, 1).unwrap();
    let ins = b.insert(2, "X").unwrap().unwrap();
    a.apply(&ins).unwrap();
    b.apply_all(&del).unwrap();
    assert_eq!(a.text(), "aXc");
    assert_eq!(b.text(), "aXc");
    let b_id = Id::new(2, 1);
    assert_eq!(a.pos_of(b_id).unwrap(), (1, true));
}

#[test]
fn applying_twice_changes_nothing() {
    let mut a = doc(1);
    let ops = a.replace(0, 0, "hello").unwrap();
    let mut b = doc(2);
    b.apply_all(&ops).unwrap();
    let snapshot = b.encode();
    for op in &ops {
        assert_eq!(b.apply(op).unwrap(), Applied::Duplicate);
    }
    assert_eq!(b.encode(), snapshot);
    let dels = a.delete(0, 2).unwrap();
    b.apply_all(&dels).unwrap();
    b.apply_all(&dels).unwrap();
    assert_eq!(b.text(), "llo");
}

#[test]
fn an_op_overlapping_what_was_seen_applies_only_the_rest() {
    let mut a = doc(1);
    let first = a.insert(0, "ab").unwrap().unwrap();
    a.insert(2, "cd").unwrap();
    let joined = a.ops_since(&VersionVector::new());
    assert_eq!(joined.len(), 1, "a run typed forwards is one op");
    let mut b = doc(2);
    b.apply(&first).unwrap();
    assert!(matches!(
        b.apply(&joined[0]).unwrap(),
        Applied::Integrated { .. }
    ));
    assert_eq!(b.text(), "abcd");
    assert_eq!(b.encode(), a.encode());
}

#[test]
fn the_same_id_with_other_content_is_refused() {
    let mut a = doc(1);
    let op = a.insert(0, "hi").unwrap().unwrap();
    let mut b = doc(2);
    b.apply(&op).unwrap();
    let before = b.encode();
    let Op::Insert(mut forged) = op.clone() else {
        unreachable!()
    };
    forged.text = "ho".into();
    let err = b.apply(&Op::Insert(forged)).unwrap_err();
    assert_eq!(
        err,
        Error::ConflictingOp {
            replica_id: 1,
            seq: 1
        }
    );
    assert_eq!(err.code(), "conflicting_op");
    assert_eq!(b.encode(), before);
    assert_eq!(b.text(), "hi");
}

#[test]
fn ops_with_missing_dependencies_wait_then_resolve() {
    let mut a = doc(1);
    let o1 = a.insert(0, "ab").unwrap().unwrap();
    let o2 = a.insert(2, "cd").unwrap().unwrap();
    let o3 = a.delete(0, 1).unwrap();
    let mut b = doc(2);
    b.insert(0, "Z").unwrap();
    assert_eq!(b.apply(&o3[0]).unwrap(), Applied::Buffered);
    assert_eq!(b.apply(&o2).unwrap(), Applied::Buffered);
    assert_eq!(b.apply(&o2).unwrap(), Applied::Buffered);
    assert_eq!(b.pending_len(), 2, "a redelivered op is buffered once");
    assert_eq!(b.text(), "Z");
    assert_eq!(
        b.apply(&o1).unwrap(),
        Applied::Integrated {
            released: 2,
            rejected: 0
        }
    );
    assert_eq!(b.pending_len(), 0);
    let mut c = doc(3);
    c.apply_all(&b.ops_since(&VersionVector::new())).unwrap();
    a.apply_all(&b.ops_since(&a.version())).unwrap();
    assert_eq!(a.text(), b.text());
    assert_eq!(c.encode(), a.encode());
}

#[test]
fn a_dependency_from_another_replica_is_waited_for() {
    let mut a = doc(1);
    let o1 = a.insert(0, "x").unwrap().unwrap();
    let mut b = doc(2);
    b.apply(&o1).unwrap();
    let o2 = b.insert(1, "y").unwrap().unwrap();
    let mut c = doc(3);
    assert_eq!(c.apply(&o2).unwrap(), Applied::Buffered);
    c.apply(&o1).unwrap();
    assert_eq!(c.text(), "xy");
}

#[test]
fn the_buffer_is_bounded() {
    let mut a = doc(1);
    let ops: Vec<Op> = (0..5).map(|i| a.insert(i, "x").unwrap().unwrap()).collect();
    let mut b = doc(2);
    b.set_pending_limit(3);
    for op in &ops[1..4] {
        assert_eq!(b.apply(op).unwrap(), Applied::Buffered);
    }
    assert_eq!(
        b.apply(&ops[4]).unwrap_err(),
        Error::BufferFull { limit: 3 }
    );
    assert_eq!(b.pending_len(), 3);
    b.apply(&ops[0]).unwrap();
    assert_eq!(b.text(), "xxxx");
    b.apply(&ops[4]).unwrap();
    assert_eq!(b.text(), a.text());
}

#[test]
fn a_dependency_that_never_existed_is_an_error_once_its_replica_passed_it() {
    let mut a = doc(1);
    a.insert(0, "ab").unwrap();
    a.delete(0, 1).unwrap(); // lamport 3 is a delete, not a character
    let mut b = doc(2);
    b.apply_all(&a.ops_since(&VersionVector::new())).unwrap();
    let bogus = Op::Insert(collab_crdt::InsertOp {
        replica_id: 5,
        seq: 0,
        lamport: 10,
        parent_id: Some(Id::new(3, 1)),
        text: "x".into(),
    });
    let before = b.encode();
    assert_eq!(
        b.apply(&bogus).unwrap_err(),
        Error::UnknownId { id: Id::new(3, 1) }
    );
    assert_eq!(b.encode(), before);
    // Ahead of what replica 1 has sent: it waits instead.
    let ahead = Op::Insert(collab_crdt::InsertOp {
        parent_id: Some(Id::new(7, 1)),
        ..match bogus {
            Op::Insert(i) => i,
            Op::Delete(_) => unreachable!(),
        }
    });
    assert_eq!(b.apply(&ahead).unwrap(), Applied::Buffered);
}

#[test]
fn lamport_clock_takes_max_seen_plus_one() {
    let mut a = doc(1);
    let mut b = doc(2);
    for i in 0..10 {
        b.insert(i, "b").unwrap();
    }
    a.merge_from(&b).unwrap();
    assert_eq!(a.clock(), 10);
    let op = a.insert(0, "a").unwrap().unwrap();
    assert_eq!(op.lamport(), 11);
    let dels = a.delete(0, 3).unwrap();
    assert_eq!(dels[0].lamport(), 12);
    assert_eq!(a.clock(), 14);
}

#[test]
fn fork_and_merge_bring_replicas_up_to_date() {
    let mut a = doc(1);
    a.insert(0, "shared ").unwrap();
    let mut b = a.fork(2).unwrap();
    a.insert(7, "alpha").unwrap();
    b.insert(7, "beta").unwrap();
    let mut c = b.fork(3).unwrap();
    c.delete(0, 7).unwrap();
    a.merge_from(&b).unwrap();
    a.merge_from(&c).unwrap();
    b.merge_from(&a).unwrap();
    c.merge_from(&a).unwrap();
    assert_eq!(a.text(), b.text());
    assert_eq!(b.text(), c.text());
    assert!(a.text() == "alphabeta" || a.text() == "betaalpha");
    assert_eq!(a.encode(), c.encode());
    assert_eq!(a.version(), c.version());
    assert!(a.ops_since(&c.version()).is_empty());
}

#[test]
fn positions_and_ids_convert_both_ways() {
    let mut a = doc(1);
    a.insert(0, "abcdef").unwrap();
    a.delete(2, 2).unwrap();
    assert_eq!(a.text(), "abef");
    for pos in 0..a.len() {
        let id = a.id_at(pos).unwrap();
        assert_eq!(a.pos_of(id).unwrap(), (pos, false));
    }
    // 'c' (lamport 3) and 'd' (4) are deleted: they sit where 'e' now is.
    assert_eq!(a.pos_of(Id::new(3, 1)).unwrap(), (2, true));
    assert_eq!(
        a.id_at(4).unwrap_err(),
        Error::PositionOutOfRange { pos: 4, len: 4 }
    );
    assert_eq!(a.pos_of(Id::new(99, 1)).unwrap_err().code(), "unknown_id");
}

#[test]
fn utf16_offsets_count_surrogate_pairs() {
    let mut a = doc(1);
    // e + combining acute (2 chars, 2 units), a flag emoji (2 chars, 4 units),
    // a thumbs-up with a skin tone (2 chars, 4 units), CJK (1 char, 1 unit).
    let text = "e\u{301}🇫🇷👍🏽中";
    a.insert(0, text).unwrap();
    assert_eq!(a.len(), 7);
    assert_eq!(a.len_utf16(), text.encode_utf16().count());
    let mut units = 0;
    for (pos, ch) in text.chars().enumerate() {
        assert_eq!(a.pos_to_utf16(pos).unwrap(), units);
        assert_eq!(a.utf16_to_pos(units).unwrap(), pos);
        if ch.len_utf16() == 2 {
            assert_eq!(
                a.utf16_to_pos(units + 1).unwrap_err(),
                Error::SplitSurrogate { offset: units + 1 }
            );
        }
        units += ch.len_utf16();
    }
    assert_eq!(a.utf16_to_pos(units).unwrap(), 7);
    assert!(a.utf16_to_pos(units + 1).is_err());
    // An emoji is one character: deleting it removes two UTF-16 units.
    a.delete(2, 1).unwrap();
    assert_eq!(a.len_utf16(), text.encode_utf16().count() - 2);
}

#[test]
fn long_texts_and_many_edits_keep_the_tree_consistent() {
    let mut a = doc(1);
    let big: String = (0..20_000).map(|i| ['a', 'é', '😀'][i % 3]).collect();
    a.insert(0, &big).unwrap();
    a.check().unwrap();
    let mut model: Vec<char> = big.chars().collect();
    let mut x: u64 = 7;
    for _ in 0..3_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pos = (x >> 33) as usize % (model.len() + 1);
        if x.is_multiple_of(3) && pos < model.len() {
            let len = ((x >> 20) as usize % 5).min(model.len() - pos);
            a.delete(pos, len).unwrap();
            model.drain(pos..pos + len);
        } else {
            a.insert(pos, "xy").unwrap();
            model.splice(pos..pos, ['x', 'y']);
        }
    }
    a.check().unwrap();
    assert_eq!(a.text(), model.iter().collect::<String>());
    let mut b = doc(2);
    b.apply_all(&a.ops_since(&VersionVector::new())).unwrap();
    b.check().unwrap();
    assert_eq!(b.text(), a.text());
    let mid = a.len() / 2;
    assert_eq!(a.pos_to_utf16(mid).unwrap(), {
        let s: String = model[..mid].iter().collect();
        s.encode_utf16().count()
    });
}

#[cfg(feature = "serde")]
#[test]
fn ops_and_snapshots_round_trip_through_json() {
    let mut a = doc(1);
    let mut ops = a.replace(0, 0, "héllo 😀").unwrap().into_vec();
    ops.extend(a.delete(1, 2).unwrap());
    let json = serde_json::to_string(&ops).unwrap();
    assert!(json.contains(r#""kind":"insert""#), "{json}");
    assert!(json.contains(r#""parent_id":null"#), "{json}");
    let back: Vec<Op> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ops);
    let snap = a.snapshot();
    let json = serde_json::to_string(&snap).unwrap();
    let snap2: collab_crdt::Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(Doc::from_snapshot(2, &snap2).unwrap().text(), a.text());
}

#[test]
fn the_worked_example_in_docs_crdt_md() {
    let mut r1 = doc(1);
    let mut r2 = doc(2);
    let hi = r1.insert(0, "hi").unwrap().unwrap();
    assert_eq!((hi.seq(), hi.lamport()), (0, 1));
    r2.apply(&hi).unwrap();
    let bang = r2.insert(2, "!").unwrap().unwrap();
    let q = r1.insert(2, "?").unwrap().unwrap();
    assert_eq!((bang.lamport(), bang.replica_id()), (3, 2));
    assert_eq!((q.seq(), q.lamport()), (2, 3));
    let Op::Insert(bang_ins) = &bang else {
        unreachable!()
    };
    assert_eq!(bang_ins.parent_id, Some(Id::new(2, 1)));
    r1.apply(&bang).unwrap();
    r2.apply(&q).unwrap();
    assert_eq!(r1.text(), "hi!?");
    assert_eq!(r2.text(), "hi!?");
    let del = r2.delete(0, 1).unwrap();
    assert_eq!(
        del.into_vec(),
        vec![Op::Delete(collab_crdt::DeleteOp {
            replica_id: 2,
            seq: 1,
            lamport: 4,
            target: Id::new(1, 1),
            len: 1,
            reversed: false,
        })]
    );
    assert_eq!(r1.text(), "hi!?");
    r1.apply_all(&r2.ops_since(&r1.version())).unwrap();
    assert_eq!(r1.text(), "i!?");
    assert_eq!(r1.pos_of(Id::new(1, 1)).unwrap(), (0, true));
    let mut v = VersionVector::new();
    v.set(1, 3);
    v.set(2, 2);
    assert_eq!(r1.version(), v);
}

#[test]
fn a_run_of_backspaces_is_one_reversed_op() {
    let mut a = doc(1);
    a.insert(0, "hello").unwrap();
    let mut sent = Vec::new();
    for pos in (2..5).rev() {
        sent.extend(a.delete(pos, 1).unwrap());
    }
    assert_eq!(a.text(), "he");
    assert_eq!(sent.len(), 3, "each backspace is sent as it happens");
    let history = a.ops_since(&VersionVector::new());
    assert_eq!(history.len(), 2, "one insert and one delete run");
    let Op::Delete(del) = &history[1] else {
        panic!("expected a delete, got {:?}", history[1])
    };
    assert!(del.reversed);
    assert_eq!((del.target, del.len, del.seq), (Id::new(3, 1), 3, 5));
    // A replica that got the three backspaces one by one has the same history.
    let mut b = doc(2);
    b.apply_all(&a.ops_since(&VersionVector::new())[..1])
        .unwrap();
    b.apply_all(&sent).unwrap();
    assert_eq!(b.encode(), a.encode());
    // And one that got the joined run agrees with both.
    let mut c = doc(3);
    c.apply_all(&history).unwrap();
    assert_eq!(c.encode(), a.encode());
    assert_eq!(c.text(), "he");
}

/// Replica 9 deletes the same characters twice (allowed); two replicas get
/// its ops grouped differently and in different orders, and must still
/// agree byte for byte.
#[test]
fn history_is_canonical_whatever_the_grouping_of_repeated_deletes() {
    let del = |seq, lamport, len, reversed| {
        Op::Delete(collab_crdt::DeleteOp {
            replica_id: 9,
            seq,
            lamport,
            target: Id::new(1, 2),
            len,
            reversed,
        })
    };
    let mut base = doc(2);
    base.insert(0, "ab").unwrap();
    let a = del(0, 3, 1, false);
    let b = del(1, 4, 2, true);
    let c = del(0, 3, 2, false);
    let d = del(2, 5, 1, false);
    let mut x = base.fork(3).unwrap();
    let mut y = base.fork(4).unwrap();
    x.apply_all([&a, &b, &c, &d]).unwrap();
    y.apply_all([&c, &d, &a, &b]).unwrap();
    assert_eq!(x.version(), y.version());
    assert_eq!(x.text(), "");
    assert_eq!(x.encode(), y.encode());
    assert_eq!(
        x.ops_since(&VersionVector::new()),
        y.ops_since(&VersionVector::new())
    );
}

#[test]
fn lowering_the_buffer_limit_never_drops_an_accepted_op() {
    let mut r2 = doc(2);
    let mut r3 = doc(3);
    let first = r2.insert(0, "p").unwrap().unwrap();
    r3.apply(&first).unwrap();
    let own = r3.insert(1, "q").unwrap().unwrap(); // replica 3, seq 0
    let second = r2.insert(1, "w").unwrap().unwrap(); // (2, 2)
    r3.apply(&second).unwrap();
    assert_eq!(r3.text(), "pqw");
    let waits = r3.insert(3, "x").unwrap().unwrap(); // replica 3 seq 1, parent w = (2,2)
    let mut late = doc(5);
    late.apply(&first).unwrap();
    // Waits for replica 3's seq 0; once released it waits for (2, 2).
    assert_eq!(late.apply(&waits).unwrap(), Applied::Buffered);
    late.set_pending_limit(0);
    assert_eq!(
        late.apply(&own).unwrap(),
        Applied::Integrated {
            released: 0,
            rejected: 0
        }
    );
    assert_eq!(late.pending_len(), 1, "re-buffered, not dropped");
    late.apply(&second).unwrap();
    assert_eq!(late.pending_len(), 0);
    assert_eq!(late.text(), r3.text());
}

#[test]
fn a_delete_across_many_spans_and_leaves_matches_its_ops() {
    // Every other character from another replica, some already deleted:
    // a long delete crosses hundreds of spans, split at both ends, in
    // several leaves, some full.
    let mut a = Doc::new(1).unwrap();
    let mut b = Doc::new(2).unwrap();
    a.insert(0, &"a".repeat(400)).unwrap();
    b.merge_from(&a).unwrap();
    for i in (0..400).rev().step_by(3) {
        b.insert(i, "\u{e9}\u{1f600}").unwrap();
    }
    for i in (0..300).step_by(7) {
        b.delete(i, 2).unwrap();
    }
    a.merge_from(&b).unwrap();
    for (pos, len) in [(5, 300), (0, 1), (17, 2), (3, 150)] {
        let ops = a.delete(pos, len).unwrap();
        a.check().unwrap();
        let mut c = b.fork(3).unwrap();
        c.apply_all(&a.ops_since(&c.version())).unwrap();
        b.apply_all(&ops).unwrap();
        assert_eq!(b.layout(), a.layout());
        assert_eq!(c.layout(), a.layout());
        assert_eq!(b.text(), a.text());
    }
}

#[test]
fn a_paste_longer_than_a_span_where_typing_left_off_is_cut_into_spans() {
    // Typing on extends the last span in place; a paste of more than a
    // span's 4,096 characters (here more than 16 bits' worth) must not.
    let mut a = Doc::new(1).unwrap();
    a.insert(0, "ab").unwrap();
    let paste: String = (0..70_000).map(|i| ['x', 'é', '😀'][i % 3]).collect();
    a.insert(2, &paste).unwrap();
    a.insert(70_002, "cd").unwrap();
    a.check().unwrap();
    assert_eq!(a.len(), 70_004);
    let mut b = Doc::new(2).unwrap();
    for op in &a.ops_since(&VersionVector::new()) {
        b.apply(op).unwrap();
    }
    assert_eq!(b.text(), a.text());
    assert_eq!(b.layout(), a.layout());
    assert_eq!(Doc::decode(3, &a.encode()).unwrap().layout(), a.layout());
}
