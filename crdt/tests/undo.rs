//! Collaborative undo: grouping, what undo and redo put back and take away,
//! the caret, how steps survive remote edits and snapshot reloads, and
//! property tests that undo never touches anyone else's characters.

use std::collections::BTreeSet;

use proptest::prelude::*;

use collab_crdt::undo::MAX_RESTORE_BYTES;
use collab_crdt::{Doc, Error, Id, InsertOp, MAX_SAFE, Op, UndoManager, UndoStep};

fn doc(replica: u64) -> Doc {
    Doc::new(replica).unwrap()
}

fn undo(m: &mut UndoManager, d: &mut Doc) -> UndoStep {
    m.undo(d).unwrap().expect("a step to undo")
}

fn redo(m: &mut UndoManager, d: &mut Doc) -> UndoStep {
    m.redo(d).unwrap().expect("a step to redo")
}

/// Brings two replicas up to date with each other.
fn exchange(a: &mut Doc, b: &mut Doc) {
    a.merge_from(b).unwrap();
    b.merge_from(a).unwrap();
}

/// `Doc::slice` reads what undo keeps of a range before deleting it.
#[test]
fn slice_reads_visible_text_across_spans_and_tombstones() {
    let mut a = doc(1);
    a.insert(0, "héllo wörld").unwrap();
    let mut b = a.fork(2).unwrap();
    b.insert(5, ",😀").unwrap();
    a.merge_from(&b).unwrap();
    a.delete(1, 2).unwrap(); // "hlo,😀 wörld"
    let text: Vec<char> = a.text().chars().collect();
    for pos in 0..=text.len() {
        for len in 0..=text.len() - pos {
            let expected: String = text[pos..pos + len].iter().collect();
            assert_eq!(a.slice(pos, len).unwrap(), expected);
        }
    }
    assert_eq!(
        a.slice(3, 99),
        Err(Error::PositionOutOfRange { pos: 102, len: 11 })
    );
}

#[test]
fn edits_within_the_capture_timeout_are_one_step() {
    let mut d = doc(1);
    let mut m = UndoManager::new();
    m.insert(&mut d, 0, "a", 0).unwrap();
    m.insert(&mut d, 1, "b", 499).unwrap();
    m.insert(&mut d, 2, "c", 998).unwrap(); // measured from the last edit
    m.insert(&mut d, 3, "d", 1498).unwrap(); // 500 ms later: a new step
    m.insert(&mut d, 4, "e", 1500).unwrap();
    m.stop_capturing();
    m.insert(&mut d, 5, "f", 1501).unwrap();
    assert_eq!(d.text(), "abcdef");
    undo(&mut m, &mut d);
    assert_eq!(d.text(), "abcde");
    undo(&mut m, &mut d);
    assert_eq!(d.text(), "abc");
    undo(&mut m, &mut d);
    assert_eq!(d.text(), "");
    assert_eq!(m.undo(&mut d), Ok(None));
}

#[test]
fn undo_and_redo_invert_inserts_deletes_and_replaces_with_the_caret() {
    let mut d = doc(1);
    let mut m = UndoManager::new();
    m.set_capture_timeout(0);
    m.insert(&mut d, 0, "hello world", 0).unwrap();
    m.delete(&mut d, 5, 6, 0).unwrap(); // "hello"
    m.replace(&mut d, 0, 1, "J", 0).unwrap(); // "Jello", one step
    let step = undo(&mut m, &mut d);
    assert_eq!((d.text().as_str(), step.caret), ("hello", 1));
    assert_eq!(step.ops.len(), 2, "delete J, insert h");
    let step = undo(&mut m, &mut d);
    assert_eq!((d.text().as_str(), step.caret), ("hello world", 11));
    let step = undo(&mut m, &mut d);
    assert_eq!((d.text().as_str(), step.caret), ("", 0));
    assert!(!m.can_undo());
    assert_eq!(redo(&mut m, &mut d).caret, 11);
    assert_eq!(d.text(), "hello world");
    assert_eq!(redo(&mut m, &mut d).caret, 5);
    assert_eq!(d.text(), "hello");
    assert_eq!(redo(&mut m, &mut d).caret, 1);
    assert_eq!(d.text(), "Jello");
    assert_eq!(m.redo(&mut d), Ok(None));
}

#[test]
fn a_new_edit_empties_the_redo_stack() {
    let mut d = doc(1);
    let mut m = UndoManager::new();
    m.insert(&mut d, 0, "ab", 0).unwrap();
    undo(&mut m, &mut d);
    assert!(m.can_redo());
    m.insert(&mut d, 0, "x", 10).unwrap();
    assert!(!m.can_redo());
    assert_eq!(m.redo(&mut d), Ok(None));
}

#[test]
fn a_typo_fixed_within_a_step_leaves_nothing_to_undo_of_it() {
    let mut d = doc(1);
    let mut m = UndoManager::new();
    m.insert(&mut d, 0, "kept ", 0).unwrap();
    m.stop_capturing();
    for (i, c) in "teh".chars().enumerate() {
        m.insert(&mut d, 5 + i, &c.to_string(), 10).unwrap();
    }
    m.delete(&mut d, 7, 1, 10).unwrap();
    m.delete(&mut d, 6, 1, 10).unwrap();
    m.insert(&mut d, 6, "he", 10).unwrap();
    assert_eq!(d.text(), "kept the");
    let step = undo(&mut m, &mut d);
    assert_eq!(d.text(), "kept ");
    // One delete of the two runs still visible (t and he), nothing put back.
    assert!(step.ops.iter().all(|op| matches!(op, Op::Delete(_))));
    assert_eq!(step.ops.len(), 2);
    // A step whose every effect cancelled is skipped.
    m.insert(&mut d, 5, "x", 5000).unwrap();
    m.delete(&mut d, 5, 1, 5001).unwrap();
    let step = undo(&mut m, &mut d);
    assert_eq!((d.text().as_str(), step.caret), ("", 0));
}

#[test]
fn backspacing_is_put_back_as_one_insert() {
    let mut d = doc(1);
    let mut m = UndoManager::new();
    m.insert(&mut d, 0, "one two", 0).unwrap();
    m.stop_capturing();
    for pos in (3..7).rev() {
        m.delete(&mut d, pos, 1, 10).unwrap();
    }
    assert_eq!(d.text(), "one");
    let step = undo(&mut m, &mut d);
    assert_eq!((d.text().as_str(), step.caret), ("one two", 7));
    assert_eq!(step.ops.len(), 1);
}

#[test]
fn undo_removes_only_this_replicas_characters_and_keeps_others_inside() {
    let mut a = doc(1);
    let mut b = doc(2);
    let mut m = UndoManager::new();
    m.insert(&mut a, 0, "hello", 0).unwrap();
    exchange(&mut a, &mut b);
    b.insert(2, "XY").unwrap(); // inside Alice's word
    b.insert(0, ">").unwrap();
    exchange(&mut a, &mut b);
    assert_eq!(a.text(), ">heXYllo");
    let step = undo(&mut m, &mut a);
    assert_eq!((a.text().as_str(), step.caret), (">XY", 1));
    for op in &step.ops {
        let Op::Delete(del) = op else {
            panic!("only deletes")
        };
        assert_eq!(del.target.replica_id, 1);
    }
    b.apply_all(&step.ops).unwrap();
    assert_eq!(b.text(), ">XY");
    let step = redo(&mut m, &mut a);
    b.apply_all(&step.ops).unwrap();
    assert_eq!((a.text(), b.text()), (">heXYllo".into(), ">heXYllo".into()));
}

#[test]
fn a_step_others_already_reversed_is_skipped() {
    let mut a = doc(1);
    let mut b = doc(2);
    let mut m = UndoManager::new();
    m.insert(&mut a, 0, "first ", 0).unwrap();
    m.insert(&mut a, 6, "second", 1000).unwrap();
    exchange(&mut a, &mut b);
    b.delete(6, 6).unwrap(); // someone else deleted "second"
    exchange(&mut a, &mut b);
    let step = undo(&mut m, &mut a); // skips "second", undoes "first "
    assert_eq!((a.text().as_str(), step.caret), ("", 0));
    assert!(!m.can_undo());
    // Redo gives back only what the undo removed.
    redo(&mut m, &mut a);
    assert_eq!(a.text(), "first ");
    assert_eq!(m.redo(&mut a), Ok(None));
}

#[test]
fn deleted_text_comes_back_where_it_was_after_remote_edits() {
    let mut a = doc(1);
    let mut b = doc(2);
    b.insert(0, "the quick brown fox").unwrap();
    exchange(&mut a, &mut b);
    let mut m = UndoManager::new();
    m.delete(&mut a, 4, 6, 0).unwrap(); // "the brown fox"
    b.insert(0, "See ").unwrap();
    b.insert(b.len(), "!").unwrap();
    b.delete(7, 1).unwrap(); // the space before "quick", its parent: "See thequick"
    exchange(&mut a, &mut b);
    assert_eq!(a.text(), "See thebrown fox!");
    let step = undo(&mut m, &mut a);
    assert_eq!(
        (a.text().as_str(), step.caret),
        ("See thequick brown fox!", 13)
    );
    b.apply_all(&step.ops).unwrap();
    assert_eq!(b.text(), a.text());
}

#[test]
fn redo_and_undo_follow_text_that_came_back() {
    // Typing "abc", deleting "b": undoing both must remove the "b" that
    // undo put back (new ids), and redoing both must delete it again.
    let mut d = doc(1);
    let mut m = UndoManager::new();
    m.set_capture_timeout(0);
    m.insert(&mut d, 0, "abc", 0).unwrap();
    m.delete(&mut d, 1, 1, 0).unwrap();
    undo(&mut m, &mut d);
    assert_eq!(d.text(), "abc");
    undo(&mut m, &mut d);
    assert_eq!(d.text(), "");
    redo(&mut m, &mut d);
    assert_eq!(d.text(), "abc");
    redo(&mut m, &mut d);
    assert_eq!(d.text(), "ac");
    undo(&mut m, &mut d);
    undo(&mut m, &mut d);
    assert_eq!(d.text(), "");
}

#[test]
fn steps_survive_a_snapshot_reload_of_the_same_history() {
    let mut a = doc(1);
    let mut m = UndoManager::new();
    m.set_capture_timeout(0);
    m.insert(&mut a, 0, "hello world", 0).unwrap();
    m.delete(&mut a, 0, 6, 0).unwrap();
    let mut a = Doc::decode(1, &a.encode()).unwrap();
    undo(&mut m, &mut a);
    assert_eq!(a.text(), "hello world");
    let mut a = Doc::decode(1, &a.encode()).unwrap();
    undo(&mut m, &mut a);
    assert_eq!(a.text(), "");
    let mut a = Doc::from_snapshot(1, &a.snapshot()).unwrap();
    redo(&mut m, &mut a);
    redo(&mut m, &mut a);
    assert_eq!(a.text(), "world");
}

#[test]
fn text_whose_place_was_lost_is_not_restored_and_lost_characters_not_deleted() {
    // A snapshot from a server that lost this history: nothing the steps
    // name exists, so undo makes no operation at all.
    let mut a = doc(1);
    let mut m = UndoManager::new();
    m.set_capture_timeout(0);
    m.insert(&mut a, 0, "abc", 0).unwrap();
    m.delete(&mut a, 1, 1, 0).unwrap();
    let mut fresh = doc(1);
    assert_eq!(m.undo(&mut fresh), Ok(None));
    assert_eq!(fresh.text(), "");
}

#[test]
fn history_is_bounded() {
    let mut d = doc(1);
    let mut m = UndoManager::new();
    m.set_capture_timeout(0);
    m.set_max_steps(3);
    for i in 0..5 {
        m.insert(&mut d, i, "x", 0).unwrap();
    }
    for _ in 0..3 {
        undo(&mut m, &mut d);
    }
    assert_eq!(m.undo(&mut d), Ok(None));
    assert_eq!(d.text(), "xx");
    m.set_max_steps(0);
    assert!(!m.can_redo());
    m.insert(&mut d, 0, "y", 0).unwrap();
    assert_eq!(m.undo(&mut d), Ok(None));
    assert_eq!(d.text(), "yxx");
}

#[test]
fn a_long_restore_is_split_like_a_paste() {
    let mut d = doc(1);
    let mut m = UndoManager::new();
    let text = "é".repeat(MAX_RESTORE_BYTES); // twice the limit in bytes
    d.insert(0, &text).unwrap();
    let len = d.len();
    m.delete(&mut d, 0, len, 0).unwrap();
    let step = undo(&mut m, &mut d);
    assert_eq!(step.ops.len(), 2);
    for op in &step.ops {
        let Op::Insert(ins) = op else {
            panic!("inserts")
        };
        assert!(ins.text.len() <= MAX_RESTORE_BYTES);
    }
    assert_eq!(d.text(), text);
    assert_eq!(step.caret, d.len());
}

#[test]
fn an_exhausted_clock_is_an_error_that_changes_nothing() {
    let mut a = doc(1);
    let mut m = UndoManager::new();
    m.insert(&mut a, 0, "ab", 0).unwrap();
    // A remote insert with the largest lamport there is: no unit can follow.
    a.apply(&Op::Insert(InsertOp {
        replica_id: 2,
        seq: 0,
        lamport: MAX_SAFE,
        parent_id: None,
        text: "z".into(),
    }))
    .unwrap();
    let before = a.encode();
    assert_eq!(m.undo(&mut a), Err(Error::ClockExhausted));
    assert_eq!(a.encode(), before);
    assert!(m.can_undo());
}

/// One action of a property test.
#[derive(Clone, Debug)]
enum Action {
    /// An edit by `replica` (0 is the user with the undo manager) at
    /// `at`, deleting up to `del` and inserting `text`, `gap` ms after the last.
    Edit {
        replica: usize,
        at: u16,
        del: u8,
        text: String,
        gap: u16,
    },
    Undo,
    Redo,
    /// Undo then redo at once, before anything else arrives: the identity
    /// on the text, whoever else edited before.
    UndoRedo,
    Stop,
    /// Hands a sent operation to a replica: out of order, late, duplicated.
    Deliver {
        replica: usize,
        which: u16,
    },
    /// The user's replica is replaced by a load of its own snapshot.
    Reload,
}

fn action(replicas: usize, deletes: bool) -> impl Strategy<Value = Action> {
    let del = if deletes { 0..4u8 } else { 0..1u8 };
    prop_oneof![
        6 => (0..replicas, any::<u16>(), del, "[a-c😀]{0,3}", 0..900u16)
            .prop_map(|(replica, at, del, text, gap)| Action::Edit { replica, at, del, text, gap }),
        2 => Just(Action::Undo),
        1 => Just(Action::Redo),
        1 => Just(Action::UndoRedo),
        1 => Just(Action::Stop),
        3 => (0..replicas, any::<u16>()).prop_map(|(replica, which)| Action::Deliver { replica, which }),
        1 => Just(Action::Reload),
    ]
}

/// The visible characters of replicas other than the user's.
fn others_visible(d: &Doc) -> BTreeSet<Id> {
    d.layout()
        .into_iter()
        .filter(|(id, deleted)| id.replica_id != 1 && !deleted)
        .map(|(id, _)| id)
        .collect()
}

/// Runs `actions` with the user as replica 1 and others as 2.. ; checks
/// after every undo and redo that it deleted none of the others' characters
/// and returned every operation it made. Returns the replicas and every
/// operation sent.
fn run(n: usize, actions: &[Action], user_deletes: bool) -> (Vec<Doc>, Vec<Op>) {
    let mut docs: Vec<Doc> = (1..=n as u64).map(doc).collect();
    let mut m = UndoManager::new();
    let mut sent: Vec<Op> = Vec::new();
    let mut now = 0u64;
    for a in actions {
        match a {
            Action::Edit {
                replica,
                at,
                del,
                text,
                gap,
            } => {
                let d = &mut docs[*replica];
                let pos = *at as usize % (d.len() + 1);
                let del = (*del as usize).min(d.len() - pos);
                if *replica == 0 {
                    now += u64::from(*gap);
                    let del = if user_deletes { del } else { 0 };
                    sent.extend(m.replace(d, pos, del, text, now).unwrap());
                } else {
                    sent.extend(d.replace(pos, del, text).unwrap());
                }
            }
            Action::Undo | Action::Redo => {
                let d = &mut docs[0];
                let (others, seen) = (others_visible(d), d.seen(1));
                let step = if matches!(a, Action::Undo) {
                    m.undo(d)
                } else {
                    m.redo(d)
                };
                let Some(step) = step.unwrap() else { continue };
                assert!(!step.ops.is_empty());
                assert!(step.caret <= d.len());
                for op in &step.ops {
                    if let Op::Delete(del) = op {
                        assert_eq!(del.target.replica_id, 1, "deleted another's character");
                    }
                }
                assert_eq!(others_visible(d), others, "changed others' text");
                let units: u64 = step.ops.iter().map(Op::len).sum();
                assert_eq!(
                    seen + units,
                    d.seen(1),
                    "an operation made was not returned"
                );
                sent.extend(step.ops);
            }
            Action::UndoRedo => {
                let d = &mut docs[0];
                let text = d.text();
                if let Some(step) = m.undo(d).unwrap() {
                    sent.extend(step.ops);
                    sent.extend(m.redo(d).unwrap().expect("what was undone").ops);
                }
                assert_eq!(d.text(), text);
            }
            Action::Stop => m.stop_capturing(),
            Action::Deliver { replica, which } => {
                if let Some(op) = sent.get(*which as usize % sent.len().max(1)) {
                    docs[*replica].apply(op).unwrap();
                }
            }
            Action::Reload => docs[0] = Doc::decode(1, &docs[0].encode()).unwrap(),
        }
    }
    (docs, sent)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Alone, undoing every step comes back to the start, text by text,
    /// and redoing them all comes back to the end.
    #[test]
    fn alone_undo_all_then_redo_all_is_the_identity(
        start in "[x-z]{0,6}",
        edits in prop::collection::vec((any::<u16>(), 0..4u8, "[a-c😀]{0,3}", 0..900u16, any::<bool>()), 1..40),
        back in any::<u8>(),
    ) {
        let mut d = doc(1);
        d.insert(0, &start).unwrap();
        let mut m = UndoManager::new();
        let mut now = 0;
        // The text before each step: undo must visit these, in reverse.
        let mut checkpoints = vec![d.text()];
        let mut last: Option<u64> = None;
        for (at, del, text, gap, stop) in &edits {
            now += u64::from(*gap);
            let pos = *at as usize % (d.len() + 1);
            let del = (*del as usize).min(d.len() - pos);
            let before = d.text();
            if del == 0 && text.is_empty() { continue; }
            if last.is_none_or(|t| now - t >= 500) {
                checkpoints.push(before);
            }
            m.replace(&mut d, pos, del, text, now).unwrap();
            last = Some(now);
            if *stop { m.stop_capturing(); last = None; }
        }
        let end = d.text();
        let mut texts = vec![end.clone()];
        let mut current = end.clone();
        while let Some(step) = m.undo(&mut d).unwrap() {
            prop_assert!(step.caret <= d.len());
            // Undo lands exactly on the start of the step it undid; steps it
            // skipped (every effect cancelled) changed nothing, so their
            // start is the text it began from.
            let text = d.text();
            loop {
                let c = checkpoints.pop();
                prop_assert!(c.is_some(), "undo made {:?}, no step's start", text);
                let c = c.unwrap_or_default();
                if c == text { break; }
                prop_assert_eq!(&c, &current, "undo skipped a step that changed the text");
            }
            current = text.clone();
            texts.push(text);
        }
        prop_assert_eq!(&d.text(), &start);
        // Redo part way, undo again, then redo all: texts retraced exactly.
        let k = back as usize % texts.len();
        for t in texts.iter().rev().skip(1).take(k) {
            redo(&mut m, &mut d);
            prop_assert_eq!(&d.text(), t);
        }
        for _ in 0..k { undo(&mut m, &mut d); }
        prop_assert_eq!(d.text(), start);
        while m.redo(&mut d).unwrap().is_some() {}
        prop_assert_eq!(d.text(), end);
    }

    /// With others editing concurrently and ops arriving in any order, undo
    /// and redo never touch their characters (checked in `run`), and every
    /// replica converges once all operations are exchanged.
    #[test]
    fn with_others_undo_keeps_their_text_and_replicas_converge(
        n in 2..=4usize,
        actions in prop::collection::vec(action(4, true), 1..60),
    ) {
        let actions = actions.into_iter().map(|a| match a {
            Action::Edit { replica, at, del, text, gap } => Action::Edit { replica: replica % n, at, del, text, gap },
            Action::Deliver { replica, which } => Action::Deliver { replica: replica % n, which },
            a => a,
        }).collect::<Vec<_>>();
        let (mut docs, sent) = run(n, &actions, true);
        for d in docs.iter_mut() {
            d.apply_all(&sent).unwrap();
            prop_assert_eq!(d.pending_len(), 0);
        }
        for d in &docs[1..] {
            prop_assert_eq!(d.text(), docs[0].text());
            prop_assert_eq!(d.encode(), docs[0].encode());
        }
    }

    /// A user who only inserted, undoing everything: none of their
    /// characters is left, and every other character is visible exactly when
    /// no other replica deleted it.
    #[test]
    fn undoing_every_insert_leaves_exactly_the_others_text(
        n in 2..=4usize,
        actions in prop::collection::vec(action(4, false), 1..60),
    ) {
        let actions = actions.into_iter().filter_map(|a| match a {
            Action::Edit { replica, at, del, text, gap } => Some(Action::Edit { replica: replica % n, at, del, text, gap }),
            Action::Deliver { replica, which } => Some(Action::Deliver { replica: replica % n, which }),
            Action::Redo => None,
            a => Some(a),
        }).chain(std::iter::repeat_n(Action::Undo, 60)).collect::<Vec<_>>();
        let (mut docs, sent) = run(n, &actions, false);
        for d in docs.iter_mut() {
            d.apply_all(&sent).unwrap();
        }
        let deleted_by_others: BTreeSet<Id> = sent.iter().filter_map(|op| match op {
            Op::Delete(del) if del.replica_id != 1 => Some(del),
            _ => None,
        }).flat_map(|del| (0..del.len).map(move |i| Id::new(del.target.lamport + i, del.target.replica_id))).collect();
        for d in &docs {
            for (id, deleted) in d.layout() {
                let expect_deleted = id.replica_id == 1 || deleted_by_others.contains(&id);
                prop_assert_eq!(deleted, expect_deleted, "{:?}", id);
            }
            prop_assert_eq!(d.text(), docs[0].text());
        }
    }
}
