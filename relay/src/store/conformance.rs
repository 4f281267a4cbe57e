//! The conformance suite every `Store` passes: the same checks run against
//! each backend (see `relay/tests/store_conformance.rs`), so a new backend
//! plugs into them instead of bringing its own.
//!
//! Each check takes a fresh, empty store and panics with a message naming
//! the broken promise.

use std::sync::Arc;

use collab_crdt::sync::ServerSeq;
use collab_crdt::{Doc, Op, VersionVector};

use super::{LoggedOp, NewOps, Since, Store, StoreError, StoredSnapshot};

/// Runs every check, each on a store from `fresh`.
pub fn run_all<S: Store>(mut fresh: impl FnMut() -> S) {
    unknown_document_loads_as_none(&fresh());
    create_is_idempotent_and_keeps_the_epoch(&fresh());
    appends_read_back_in_order(&fresh());
    appends_must_continue_the_log(&fresh());
    append_many_is_all_or_nothing(&fresh());
    documents_are_independent(&fresh());
    snapshot_and_tail_rebuild_the_document(&fresh());
    replay_after_a_snapshot_is_exact_or_truncated(&fresh());
    text_survives_any_content(&fresh());
    if fresh().shared() {
        sequence_numbers_each_operation_once(&fresh());
        sequence_is_all_or_nothing(&fresh());
        sequence_logs_what_a_resend_cut_differently_adds(&fresh());
    }
}

/// `n` insert operations of replica 1, one character each, numbered from
/// `from`, and the document they make.
fn ops(doc: &mut Doc, from: u64, n: u64) -> Vec<LoggedOp> {
    (0..n)
        .map(|i| {
            let pos = doc.len();
            let op = doc.insert(pos, "x").unwrap().unwrap();
            LoggedOp {
                server_seq: ServerSeq(from + i),
                origin: 1,
                op,
            }
        })
        .collect()
}

pub fn unknown_document_loads_as_none(store: &impl Store) {
    assert!(
        store.load("nope").unwrap().is_none(),
        "load of an unknown document"
    );
}

pub fn create_is_idempotent_and_keeps_the_epoch(store: &impl Store) {
    let a = store.create("d").unwrap();
    assert!(!a.epoch.is_empty(), "a created document has an epoch");
    assert!(a.snapshot.is_none() && a.tail.is_empty(), "created empty");
    let b = store.create("d").unwrap();
    assert_eq!(a.epoch, b.epoch, "create of an existing document keeps it");
    assert_eq!(store.load("d").unwrap().unwrap().epoch, a.epoch);
    let other = store.create("e").unwrap();
    assert_ne!(other.epoch, a.epoch, "epochs differ between documents");
}

pub fn appends_read_back_in_order(store: &impl Store) {
    store.create("d").unwrap();
    let mut doc = Doc::new(1).unwrap();
    let first = ops(&mut doc, 1, 3);
    let second = ops(&mut doc, 4, 2);
    store.append("d", &first).unwrap();
    store.append("d", &second).unwrap();
    let all: Vec<LoggedOp> = first.iter().chain(&second).cloned().collect();
    assert_eq!(
        store.read_since("d", ServerSeq(0), usize::MAX).unwrap(),
        Since::Ops(all.clone())
    );
    assert_eq!(
        store.read_since("d", ServerSeq(3), usize::MAX).unwrap(),
        Since::Ops(second.clone())
    );
    assert_eq!(
        store.read_since("d", ServerSeq(5), usize::MAX).unwrap(),
        Since::Ops(vec![])
    );
    assert_eq!(
        store.read_since("d", ServerSeq(1), 2).unwrap(),
        Since::Ops(all[1..3].to_vec()),
        "read_since pages: at most `max` operations"
    );
    let loaded = store.load("d").unwrap().unwrap();
    assert_eq!(
        loaded.tail, all,
        "load returns the whole log without a snapshot"
    );
}

pub fn appends_must_continue_the_log(store: &impl Store) {
    store.create("d").unwrap();
    let mut doc = Doc::new(1).unwrap();
    let batch = ops(&mut doc, 1, 2);
    store.append("d", &batch).unwrap();
    let gap = ops(&mut doc, 4, 1);
    assert!(
        matches!(store.append("d", &gap), Err(StoreError::OutOfOrder { .. })),
        "an append that skips a server_seq is refused"
    );
    let again = ops(&mut Doc::new(1).unwrap(), 2, 1);
    assert!(
        matches!(
            store.append("d", &again),
            Err(StoreError::OutOfOrder { .. })
        ),
        "an append that reuses a server_seq is refused"
    );
    assert!(
        store.append("missing", &batch).is_err(),
        "append to an unknown document"
    );
    assert_eq!(
        store.read_since("d", ServerSeq(0), usize::MAX).unwrap(),
        Since::Ops(batch),
        "refused appends change nothing"
    );
}

pub fn append_many_is_all_or_nothing(store: &impl Store) {
    store.create("a").unwrap();
    store.create("b").unwrap();
    let mut doc = Doc::new(1).unwrap();
    let good = ops(&mut doc, 1, 2);
    let bad = ops(&mut doc, 7, 1);
    let result = store.append_many(&[("a", &good), ("b", &bad)]);
    assert!(result.is_err(), "a group with a bad batch fails");
    if store.durable() {
        // A durable store commits a group as one transaction.
        assert_eq!(
            store.read_since("a", ServerSeq(0), usize::MAX).unwrap(),
            Since::Ops(vec![]),
            "no part of a failed group is stored"
        );
    }
    store.create("c").unwrap();
    let c = ops(&mut Doc::new(2).unwrap(), 1, 1);
    store.append_many(&[("c", &c)]).unwrap();
    assert_eq!(
        store.read_since("c", ServerSeq(0), usize::MAX).unwrap(),
        Since::Ops(c)
    );
}

pub fn documents_are_independent(store: &impl Store) {
    store.create("a").unwrap();
    store.create("b").unwrap();
    let a = ops(&mut Doc::new(1).unwrap(), 1, 3);
    let b = ops(&mut Doc::new(2).unwrap(), 1, 1);
    store.append_many(&[("a", &a), ("b", &b)]).unwrap();
    assert_eq!(
        store.read_since("a", ServerSeq(0), usize::MAX).unwrap(),
        Since::Ops(a)
    );
    assert_eq!(
        store.read_since("b", ServerSeq(0), usize::MAX).unwrap(),
        Since::Ops(b)
    );
}

pub fn snapshot_and_tail_rebuild_the_document(store: &impl Store) {
    store.create("d").unwrap();
    let mut doc = Doc::new(1).unwrap();
    let before = ops(&mut doc, 1, 5);
    store.append("d", &before).unwrap();
    let snapshot = StoredSnapshot {
        server_seq: ServerSeq(5),
        data: Arc::from(doc.encode()),
    };
    store.write_snapshot("d", snapshot.clone()).unwrap();
    let after = ops(&mut doc, 6, 3);
    store.append("d", &after).unwrap();
    let loaded = store.load("d").unwrap().unwrap();
    assert_eq!(loaded.snapshot, Some(snapshot), "the latest snapshot");
    assert_eq!(loaded.tail, after, "the log after the snapshot");
    assert_eq!(
        store.create("d").unwrap(),
        loaded,
        "create of an existing document returns it as load does"
    );
    let mut rebuilt = Doc::decode(9, &loaded.snapshot.unwrap().data).unwrap();
    for logged in &loaded.tail {
        rebuilt.apply(&logged.op).unwrap();
    }
    assert_eq!(rebuilt.text(), doc.text());
    // An older snapshot never replaces a newer one.
    let old = StoredSnapshot {
        server_seq: ServerSeq(2),
        data: Arc::from(Doc::new(1).unwrap().encode()),
    };
    store.write_snapshot("d", old).unwrap();
    assert_eq!(
        store
            .load("d")
            .unwrap()
            .unwrap()
            .snapshot
            .unwrap()
            .server_seq,
        ServerSeq(5)
    );
}

pub fn replay_after_a_snapshot_is_exact_or_truncated(store: &impl Store) {
    store.create("d").unwrap();
    let mut doc = Doc::new(1).unwrap();
    let log = ops(&mut doc, 1, 50_030);
    for chunk in log.chunks(5_000) {
        store.append("d", chunk).unwrap();
    }
    store
        .write_snapshot(
            "d",
            StoredSnapshot {
                server_seq: ServerSeq(50_000),
                data: Arc::from(doc.encode()),
            },
        )
        .unwrap();
    // Whatever a store keeps, what it returns is exactly the log after the
    // point asked for, or nothing but "truncated".
    for after in [0, 1, 10_000, 39_999, 40_000, 45_000, 50_000, 50_029, 50_030] {
        match store.read_since("d", ServerSeq(after), usize::MAX).unwrap() {
            Since::Ops(got) => assert_eq!(got, log[after as usize..], "replay after {after}"),
            Since::Truncated => assert!(after < 40_000, "the retained log is replayable"),
        }
    }
}

pub fn text_survives_any_content(store: &impl Store) {
    store.create("d").unwrap();
    let mut doc = Doc::new(3).unwrap();
    let texts = ["\"quoted\" \\ \u{0}", "🙂👍🏽", "e\u{301}", "\n\t", "漢字"];
    let mut logged: Vec<LoggedOp> = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let op: Op = doc.insert(0, text).unwrap().unwrap();
        logged.push(LoggedOp {
            server_seq: ServerSeq(i as u64 + 1),
            origin: u64::MAX >> 11,
            op,
        });
    }
    store.append("d", &logged).unwrap();
    assert_eq!(
        store.read_since("d", ServerSeq(0), usize::MAX).unwrap(),
        Since::Ops(logged)
    );
}

/// A shared store numbers operations itself: consecutively per document,
/// and an operation it already holds keeps its first number.
pub fn sequence_numbers_each_operation_once(store: &impl Store) {
    store.create("d").unwrap();
    store.create("e").unwrap();
    let mut doc = Doc::new(5).unwrap();
    let first: Vec<Op> = ops(&mut doc, 1, 3).into_iter().map(|l| l.op).collect();
    let more: Vec<Op> = ops(&mut doc, 4, 2).into_iter().map(|l| l.op).collect();
    let other: Vec<Op> = ops(&mut Doc::new(6).unwrap(), 1, 1)
        .into_iter()
        .map(|l| l.op)
        .collect();
    let got = store
        .sequence(&[
            NewOps {
                doc_id: "d",
                origin: 5,
                ops: &first,
            },
            NewOps {
                doc_id: "e",
                origin: 6,
                ops: &other,
            },
        ])
        .unwrap();
    let seqs = |batch: &[LoggedOp]| batch.iter().map(|l| l.server_seq.0).collect::<Vec<_>>();
    assert_eq!(
        seqs(&got[0]),
        [1, 2, 3],
        "numbered from the document's head"
    );
    assert_eq!(seqs(&got[1]), [1], "each document has its own numbers");
    // Resent (part of it twice) after a reconnect, with new operations.
    let resent: Vec<Op> = first[1..]
        .iter()
        .chain(&more)
        .chain(&first[2..])
        .cloned()
        .collect();
    let again = store
        .sequence(&[NewOps {
            doc_id: "d",
            origin: 5,
            ops: &resent,
        }])
        .unwrap();
    assert_eq!(
        seqs(&again[0]),
        [2, 3, 4, 5, 3],
        "operations already logged keep their number; new ones continue"
    );
    let Since::Ops(log) = store.read_since("d", ServerSeq(0), usize::MAX).unwrap() else {
        panic!("the log is whole");
    };
    let logged: Vec<Op> = log.iter().map(|l| l.op.clone()).collect();
    let all: Vec<Op> = first.iter().chain(&more).cloned().collect();
    assert_eq!(logged, all, "each operation logged once, in order");
    assert_eq!(seqs(&log), [1, 2, 3, 4, 5]);
    let mut heads = store.heads(&["d", "e", "missing"]).unwrap();
    heads.sort();
    assert_eq!(
        heads,
        [
            ("d".to_owned(), ServerSeq(5)),
            ("e".to_owned(), ServerSeq(1))
        ],
        "the heads of the documents that exist"
    );
}

/// A group that fails numbers nothing.
pub fn sequence_is_all_or_nothing(store: &impl Store) {
    store.create("a").unwrap();
    let batch: Vec<Op> = ops(&mut Doc::new(1).unwrap(), 1, 2)
        .into_iter()
        .map(|l| l.op)
        .collect();
    let result = store.sequence(&[
        NewOps {
            doc_id: "a",
            origin: 1,
            ops: &batch,
        },
        NewOps {
            doc_id: "missing",
            origin: 1,
            ops: &batch,
        },
    ]);
    assert!(result.is_err(), "a group with an unknown document fails");
    assert_eq!(
        store.read_since("a", ServerSeq(0), usize::MAX).unwrap(),
        Since::Ops(vec![]),
        "no part of a failed group is stored"
    );
}

/// A resend cut differently from what was logged (a client rebuilds its
/// outbox from its document, which joins adjacent edits into one
/// operation): the units the log holds keep their entry, the rest is
/// logged under new numbers, nothing is lost and nothing is logged twice.
pub fn sequence_logs_what_a_resend_cut_differently_adds(store: &impl Store) {
    store.create("d").unwrap();
    let mut doc = Doc::new(5).unwrap();
    let first = doc.insert(0, "abc").unwrap().unwrap();
    doc.insert(3, "def").unwrap();
    let joined = doc.ops_since(&VersionVector::new());
    assert_eq!(joined.len(), 1, "the document joins the two edits");
    let got = store
        .sequence(&[NewOps {
            doc_id: "d",
            origin: 5,
            ops: std::slice::from_ref(&first),
        }])
        .unwrap();
    assert_eq!(got[0][0].server_seq, ServerSeq(1));
    for round in 0..2 {
        let again = store
            .sequence(&[NewOps {
                doc_id: "d",
                origin: 5,
                ops: &joined,
            }])
            .unwrap();
        let pieces: Vec<(u64, u64, u64)> = again[0]
            .iter()
            .map(|l| (l.server_seq.0, l.op.seq(), l.op.len()))
            .collect();
        assert_eq!(
            pieces,
            [(1, 0, 3), (2, 3, 3)],
            "round {round}: the logged part keeps its entry, the rest follows it"
        );
    }
    let Since::Ops(log) = store.read_since("d", ServerSeq(0), usize::MAX).unwrap() else {
        panic!("the log is whole");
    };
    assert_eq!(log.len(), 2, "nothing logged twice");
    let mut reader = Doc::new(9).unwrap();
    for entry in &log {
        reader.apply(&entry.op).unwrap();
    }
    assert_eq!(reader.text(), "abcdef", "no unit lost");
}
