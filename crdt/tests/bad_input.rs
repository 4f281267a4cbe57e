//! Every kind of bad input gets a typed error with a readable message, and
//! the document is left exactly as it was.

use collab_crdt::{DeleteOp, Doc, Error, Id, InsertOp, MAX_SAFE, Op};

/// A document with some history: text, a tombstone, two replicas.
fn seeded() -> Doc {
    let mut a = Doc::new(1).unwrap();
    a.insert(0, "hello wörld").unwrap();
    let mut b = a.fork(2).unwrap();
    b.delete(0, 1).unwrap();
    a.merge_from(&b).unwrap();
    a
}

fn insert(replica_id: u64, seq: u64, lamport: u64, parent_id: Option<Id>, text: &str) -> Op {
    Op::Insert(InsertOp {
        replica_id,
        seq,
        lamport,
        parent_id,
        text: text.into(),
    })
}

fn delete(replica_id: u64, seq: u64, lamport: u64, target: Id, len: u64) -> Op {
    Op::Delete(DeleteOp {
        replica_id,
        seq,
        lamport,
        target,
        len,
        reversed: false,
    })
}

/// Applies `op` to a seeded document and checks the error and that nothing changed.
fn refused(op: Op, expected: Error) {
    let mut doc = seeded();
    let (text, bytes, version) = (doc.text(), doc.encode(), doc.version());
    let err = doc.apply(&op).unwrap_err();
    assert_eq!(err, expected, "for {op:?}");
    assert!(!err.to_string().is_empty() && !err.to_string().contains("{"));
    assert_eq!(doc.text(), text);
    assert_eq!(doc.encode(), bytes);
    assert_eq!(doc.version(), version);
    assert_eq!(doc.pending_len(), 0);
    doc.check().unwrap();
}

#[test]
fn lamport_above_the_javascript_limit() {
    let too_big = MAX_SAFE + 1;
    refused(
        insert(5, 0, too_big, None, "x"),
        Error::IdTooLarge {
            field: "lamport",
            value: too_big,
        },
    );
    // A run whose last character would pass the limit.
    refused(
        insert(5, 0, MAX_SAFE, None, "xy"),
        Error::IdTooLarge {
            field: "lamport",
            value: too_big,
        },
    );
    refused(
        insert(5, 0, 20, Some(Id::new(u64::MAX, 1)), "x"),
        Error::IdTooLarge {
            field: "lamport",
            value: u64::MAX,
        },
    );
    let err = Error::IdTooLarge {
        field: "lamport",
        value: too_big,
    };
    assert_eq!(
        err.to_string(),
        "lamport 9007199254740992 is above 2^53 - 1, the largest integer JavaScript holds exactly"
    );
}

#[test]
fn replica_above_the_javascript_limit() {
    refused(
        insert(MAX_SAFE + 1, 0, 20, None, "x"),
        Error::IdTooLarge {
            field: "replica_id",
            value: MAX_SAFE + 1,
        },
    );
    refused(
        delete(5, 0, 20, Id::new(1, u64::MAX), 1),
        Error::IdTooLarge {
            field: "replica_id",
            value: u64::MAX,
        },
    );
    assert_eq!(Doc::new(MAX_SAFE + 1).unwrap_err().code(), "id_too_large");
    assert!(Doc::new(MAX_SAFE).is_ok());
}

#[test]
fn replica_zero_is_reserved() {
    refused(insert(0, 0, 20, None, "x"), Error::ReservedReplica);
    refused(
        insert(5, 0, 20, Some(Id::new(1, 0)), "x"),
        Error::ReservedReplica,
    );
    assert_eq!(Doc::new(0).unwrap_err(), Error::ReservedReplica);
    assert_eq!(seeded().fork(0).unwrap_err(), Error::ReservedReplica);
}

#[test]
fn empty_runs() {
    refused(insert(5, 0, 20, None, ""), Error::EmptyOp);
    refused(delete(5, 0, 20, Id::new(1, 1), 0), Error::EmptyOp);
    // Locally an empty edit is no edit at all rather than an error.
    let mut doc = seeded();
    assert_eq!(doc.insert(3, "").unwrap(), None);
    assert!(doc.delete(3, 0).unwrap().is_empty());
}

#[test]
fn unknown_targets() {
    // Replica 1 has sent lamports 1..=11 (all characters) and replica 2
    // lamport 12, a delete, not a character: naming it is an error.
    refused(
        delete(5, 0, 30, Id::new(12, 2), 1),
        Error::UnknownId { id: Id::new(12, 2) },
    );
    refused(
        insert(5, 0, 30, Some(Id::new(12, 2)), "x"),
        Error::UnknownId { id: Id::new(12, 2) },
    );
    // A delete running past the end of a run, into lamports its replica
    // used for something else (here a delete), once that replica passed them.
    let mut doc = seeded();
    doc.delete(0, 1).unwrap(); // replica 1's lamport 13 is this delete
    let (text, bytes) = (doc.text(), doc.encode());
    assert_eq!(
        doc.apply(&delete(5, 0, 30, Id::new(10, 1), 4)).unwrap_err(),
        Error::UnknownId { id: Id::new(12, 1) }
    );
    assert_eq!((doc.text(), doc.encode()), (text, bytes));
    // Not passed yet: the op waits for replica 1 instead.
    assert_eq!(
        doc.apply(&delete(5, 0, 30, Id::new(10, 1), 10)).unwrap(),
        collab_crdt::Applied::Buffered
    );
}

#[test]
fn causality_violations() {
    refused(
        insert(5, 0, 3, Some(Id::new(3, 1)), "x"),
        Error::CausalityViolation {
            lamport: 3,
            dependency: Id::new(3, 1),
        },
    );
    refused(
        delete(5, 0, 4, Id::new(4, 1), 1),
        Error::CausalityViolation {
            lamport: 4,
            dependency: Id::new(4, 1),
        },
    );
    // Lamports of one replica must rise with its sequence numbers.
    refused(
        insert(1, 11, 5, None, "x"),
        Error::LamportRegressed {
            replica_id: 1,
            seq: 11,
            lamport: 5,
            last: 11,
        },
    );
}

#[test]
fn conflicting_duplicate_ids() {
    // Replica 1's first op was "hello wörld" at seq 0, lamport 1.
    refused(
        insert(1, 0, 1, None, "jello"),
        Error::ConflictingOp {
            replica_id: 1,
            seq: 0,
        },
    );
    refused(
        insert(1, 3, 4, Some(Id::new(3, 1)), "L"),
        Error::ConflictingOp {
            replica_id: 1,
            seq: 3,
        },
    );
    // Replica 2's delete at seq 0 removed lamport 1 of replica 1, not 2.
    refused(
        delete(2, 0, 12, Id::new(2, 1), 1),
        Error::ConflictingOp {
            replica_id: 2,
            seq: 0,
        },
    );
}

#[test]
fn positions_past_the_end() {
    let mut doc = seeded();
    let (text, bytes) = (doc.text(), doc.encode());
    let len = doc.len();
    let past = Error::PositionOutOfRange { pos: len + 1, len };
    assert_eq!(doc.insert(len + 1, "x").unwrap_err(), past);
    assert_eq!(doc.delete(len, 1).unwrap_err(), past);
    assert_eq!(
        doc.delete(2, len).unwrap_err().code(),
        "position_out_of_range"
    );
    assert_eq!(doc.replace(len - 1, 2, "x").unwrap_err(), past);
    assert_eq!(
        doc.delete(usize::MAX, 2).unwrap_err().code(),
        "position_out_of_range"
    );
    assert_eq!(doc.pos_to_utf16(len + 1).unwrap_err(), past);
    assert_eq!(
        doc.utf16_to_pos(doc.len_utf16() + 1).unwrap_err().code(),
        "position_out_of_range"
    );
    assert_eq!(
        past.to_string(),
        format!(
            "position {} is past the end of the document (length {len})",
            len + 1
        )
    );
    assert_eq!(doc.text(), text);
    assert_eq!(doc.encode(), bytes);
}

#[test]
fn corrupt_snapshots() {
    let bytes = seeded().encode();
    assert_eq!(
        Doc::decode(1, b"nope").unwrap_err().code(),
        "invalid_snapshot"
    );
    let mut wrong_version = bytes.clone();
    wrong_version[3] = 9;
    assert_eq!(
        Doc::decode(1, &wrong_version).unwrap_err().to_string(),
        "invalid snapshot: unsupported snapshot format version 9"
    );
    for cut in 0..bytes.len() {
        assert!(Doc::decode(1, &bytes[..cut]).is_err(), "cut at {cut}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Doc::decode(1, &trailing).is_err());
}

#[test]
fn hostile_snapshots_are_refused_without_panicking_or_huge_allocations() {
    // A replica count of 2^28 in nine bytes: refused, not reserved.
    assert!(collab_crdt::Snapshot::decode(b"CLB\x01\x80\x80\x80\x80\x01").is_err());
    // Sequence numbers at the top of u64 in a hand-built snapshot.
    let snap = collab_crdt::Snapshot {
        ops: vec![delete(5, u64::MAX, 9, Id::new(1, 1), 1)],
    };
    assert_eq!(snap.version().get(5), u64::MAX);
    assert!(Doc::from_snapshot(1, &snap).is_err());
    let _ = snap.encode();
}

#[test]
fn an_empty_column_whose_stream_has_output_is_refused_by_every_build() {
    // The empty document's snapshot: a header, then seven columns, each
    // its raw length 0, its compressed length, and an empty raw deflate
    // stream. Native builds inflate with zlib-rs, the `.wasm` with
    // miniz_oxide: both must refuse a stream that has output for a column
    // declared empty.
    let good = Doc::new(1).unwrap().encode();
    let empty_column = [0u8, 2, 3, 0];
    let header = good.len() - 7 * empty_column.len();
    assert_eq!(
        &good[header..header + 4],
        &empty_column,
        "the layout this test builds on"
    );
    assert!(Doc::decode(1, &good).is_ok());
    let mut bad = good[..header].to_vec();
    // Raw length 0, compressed length 3: a stream that inflates to "a".
    bad.extend([0, 3, 75, 2, 0]);
    for _ in 1..7 {
        bad.extend(empty_column);
    }
    assert!(collab_crdt::Snapshot::decode(&bad).is_err());
    assert!(Doc::decode(1, &bad).is_err());
}
