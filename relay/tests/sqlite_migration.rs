//! A database written by the relay before schema version 2 (`user_version`
//! 1, whose `ops` rows sat inside the key b-tree) opens, is migrated in
//! place, and still holds every document exactly.

use std::path::{Path, PathBuf};

use collab_crdt::Doc;
use collab_crdt::sync::ServerSeq;
use collab_relay::store::{LoggedOp, Since};
use collab_relay::{SqliteStore, Store};

/// The histories the fixture holds, rebuilt here from the same script that
/// wrote it: document id, its operations in `server_seq` order, and where
/// a snapshot was written (with `retain_ops` 5, so the log before it is
/// partly dropped).
fn histories() -> Vec<(&'static str, Vec<LoggedOp>, Option<u64>)> {
    let mut out = Vec::new();
    for (doc_id, n, snapshot_at) in [
        ("plain", 40u64, None),
        ("snapshotted", 60, Some(50)),
        ("emoji/ü", 12, None),
    ] {
        let mut alice = Doc::new(11).unwrap();
        let mut bob = Doc::new(22).unwrap();
        let mut ops = Vec::new();
        for i in 0..n {
            let (who, origin) = if i % 3 == 0 {
                (&mut bob, 22)
            } else {
                (&mut alice, 11)
            };
            let len = who.len();
            let op = if i % 7 == 6 && len > 2 {
                who.delete((i as usize * 5) % (len - 1), 2)
                    .unwrap()
                    .into_vec()
            } else {
                let text = ["a", "ü", "😀 ", "text", "\n"][i as usize % 5];
                vec![
                    who.insert((i as usize * 3) % (len + 1), text)
                        .unwrap()
                        .unwrap(),
                ]
            };
            for op in op {
                let other = if origin == 11 { &mut bob } else { &mut alice };
                other.apply(&op).unwrap();
                ops.push(LoggedOp {
                    server_seq: ServerSeq(ops.len() as u64 + 1),
                    origin,
                    op,
                });
            }
        }
        out.push((doc_id, ops, snapshot_at));
    }
    out
}

fn text_of(ops: &[LoggedOp]) -> String {
    let mut doc = Doc::new(99).unwrap();
    for op in ops {
        doc.apply(&op.op).unwrap();
    }
    doc.text()
}

/// Written by the relay of schema version 1 (commit f3cf650) from
/// `histories()`: each document created, its log appended 7 operations at
/// a time, and `snapshotted`'s snapshot written with `retain_ops` 5.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v1.sqlite3")
}

/// The fixture as a fresh database in a directory of its own.
fn copy_of_fixture(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("collab-migrate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture(), dir.join(collab_relay::store::DB_FILE)).unwrap();
    dir
}

fn user_version(dir: &Path) -> i64 {
    let conn = rusqlite::Connection::open(dir.join(collab_relay::store::DB_FILE)).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_schema_1_database_is_migrated_without_losing_anything() {
    let dir = copy_of_fixture("all");
    assert_eq!(user_version(&dir), 1, "the fixture is a schema 1 database");
    let store = SqliteStore::open(&dir, 5).expect("a schema 1 database opens");
    assert_eq!(user_version(&dir), 2, "migrated in place");
    for (doc_id, ops, snapshot_at) in histories() {
        let stored = store.load(doc_id).unwrap().expect("document kept");
        let mut tail_start = 0;
        if let Some(at) = snapshot_at {
            let snapshot = stored.snapshot.as_ref().expect("snapshot kept");
            assert_eq!(snapshot.server_seq, ServerSeq(at));
            let doc = Doc::decode(1, &snapshot.data).unwrap();
            assert_eq!(
                doc.text(),
                text_of(&ops[..at as usize]),
                "{doc_id}: snapshot"
            );
            tail_start = at as usize;
            // Retention had dropped the log behind the snapshot but 5.
            assert_eq!(
                store.read_since(doc_id, ServerSeq(0), usize::MAX).unwrap(),
                Since::Truncated
            );
        }
        assert_eq!(
            stored.tail,
            ops[tail_start..],
            "{doc_id}: log after the snapshot"
        );
        let kept = ServerSeq((tail_start as u64).saturating_sub(5));
        match store.read_since(doc_id, kept, usize::MAX).unwrap() {
            Since::Ops(read) => assert_eq!(read, ops[kept.0 as usize..], "{doc_id}: replay"),
            Since::Truncated => panic!("{doc_id}: retained log lost"),
        }
    }
    // The migrated store goes on: appends continue each log.
    let (doc_id, ops, _) = &histories()[0];
    let mut doc = Doc::new(33).unwrap();
    for op in ops {
        doc.apply(&op.op).unwrap();
    }
    let next = LoggedOp {
        server_seq: ServerSeq(ops.len() as u64 + 1),
        origin: 33,
        op: doc.insert(0, "after").unwrap().unwrap(),
    };
    store.append(doc_id, &[next]).unwrap();
    drop(store);
    let reopened = SqliteStore::open(&dir, 5).unwrap();
    let stored = reopened.load(doc_id).unwrap().unwrap();
    assert_eq!(stored.tail.len(), ops.len() + 1);
    assert_eq!(text_of(&stored.tail), doc.text());
    drop(reopened);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_failed_migration_leaves_schema_1_untouched() {
    let dir = copy_of_fixture("fail");
    // A table in the way of the migration's renames makes it fail part-way.
    {
        let conn = rusqlite::Connection::open(dir.join(collab_relay::store::DB_FILE)).unwrap();
        conn.execute_batch("CREATE TABLE ops_v1 (x INTEGER);")
            .unwrap();
    }
    let err = SqliteStore::open(&dir, 5)
        .err()
        .expect("the migration fails");
    assert!(err.to_string().contains("migration"), "says so: {err}");
    assert_eq!(user_version(&dir), 1, "still schema 1");
    let conn = rusqlite::Connection::open(dir.join(collab_relay::store::DB_FILE)).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM ops", [], |r| r.get(0))
        .unwrap();
    let expected: usize = histories()
        .iter()
        .map(|(_, ops, at)| ops.len() - at.map_or(0, |at| at as usize - 5))
        .sum();
    assert_eq!(rows as usize, expected, "every row still there");
    drop(conn);
    std::fs::remove_dir_all(dir).unwrap();
}
