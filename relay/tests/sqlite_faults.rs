//! The SQLite store refuses damaged or unusable storage at start-up with a
//! clear error, and the relay binary exits instead of serving from it.

use std::path::PathBuf;
use std::process::Command;

use collab_crdt::Doc;
use collab_crdt::sync::ServerSeq;
use collab_relay::store::{LoggedOp, StoreError};
use collab_relay::{SqliteStore, Store};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("collab-fault-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A database holding one document of `n` operations.
fn filled(dir: &std::path::Path, n: u64) {
    let store = SqliteStore::open(dir, 10_000).unwrap();
    store.create("doc").unwrap();
    let mut doc = Doc::new(1).unwrap();
    let ops: Vec<LoggedOp> = (1..=n)
        .map(|i| LoggedOp {
            server_seq: ServerSeq(i),
            origin: 1,
            op: doc.insert(0, "some text to take up room").unwrap().unwrap(),
        })
        .collect();
    store.append("doc", &ops).unwrap();
}

fn db(dir: &std::path::Path) -> PathBuf {
    dir.join(collab_relay::store::DB_FILE)
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = temp_dir("garbage");
    std::fs::write(db(&dir), vec![0x5a; 64 * 1024]).unwrap();
    let err = SqliteStore::open(&dir, 10_000).err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("collab.sqlite3"), "names the file: {text}");
    assert!(
        text.contains("not a database"),
        "says what is wrong: {text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_truncated_database_is_refused() {
    let dir = temp_dir("truncated");
    filled(&dir, 2_000);
    let path = db(&dir);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(
        len > 64 * 1024,
        "the database has pages to lose ({len} bytes)"
    );
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    match SqliteStore::open(&dir, 10_000) {
        Err(e) => assert!(
            matches!(e, StoreError::Corrupt(_) | StoreError::Backend(_)),
            "{e}"
        ),
        // If the damage escaped the quick check, reading must still fail
        // loudly rather than return a shortened document.
        Ok(store) => {
            let err = store
                .load("doc")
                .expect_err("a damaged document fails to load");
            assert!(!err.to_string().is_empty());
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = temp_dir("schema");
    filled(&dir, 1);
    bump_schema_version(&dir);
    let err = SqliteStore::open(&dir, 10_000).err().expect("refused");
    assert!(err.to_string().contains("schema version 99"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Sets `user_version` to 99 by writing the database header field
/// directly (offset 60, big-endian), as a newer relay would have.
fn bump_schema_version(dir: &std::path::Path) {
    use std::io::{Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(db(dir))
        .unwrap();
    file.seek(SeekFrom::Start(60)).unwrap();
    file.write_all(&99u32.to_be_bytes()).unwrap();
}

#[test]
fn a_data_dir_that_cannot_be_created_is_refused() {
    let dir = temp_dir("notadir");
    let file = dir.join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let err = SqliteStore::open(&file, 10_000).err().expect("refused");
    assert!(
        err.to_string().contains("cannot create data directory"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_relay_binary_exits_with_a_clear_message_on_a_bad_store() {
    let dir = temp_dir("binary");
    std::fs::write(db(&dir), b"definitely not sqlite, but long enough to be read as a header......................................................").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_collab-relay"))
        .args(["--addr", "127.0.0.1:0", "--log", "off"])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the relay must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open the store"), "{stderr}");
    assert!(stderr.contains("collab.sqlite3"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_collab-relay"))
        .args(["--addr", "127.0.0.1:0", "--store", "mysql://nowhere"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown store \"mysql\""));
    // A PostgreSQL that cannot be reached: a clear refusal at start-up.
    let out = Command::new(env!("CARGO_BIN_EXE_collab-relay"))
        .args(["--addr", "127.0.0.1:0", "--log", "off"])
        .args(["--store", "postgres://collab@127.0.0.1:1/collab"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the relay must not start");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open the store"), "{stderr}");
    assert!(stderr.contains("storage unavailable"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}
