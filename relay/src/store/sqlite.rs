//! The embedded durable store: SQLite (bundled) in WAL mode with full
//! syncs, one file in the data directory. Schema, durability and retention
//! are described in `docs/persistence.md`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use collab_crdt::Op;
use collab_crdt::sync::ServerSeq;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::{LoggedOp, Since, Store, StoreError, StoredDoc, StoredSnapshot, new_epoch};

/// The file inside the data directory.
pub const DB_FILE: &str = "collab.sqlite3";

/// Bumped whenever the schema changes; a relay refuses a newer database
/// and migrates an older one at start-up (`docs/persistence.md`).
const SCHEMA_VERSION: i64 = 2;

/// The schema. `ops` and `snapshots` are rowid tables on purpose: their
/// payloads (up to a message's size, a whole document) live in the table's
/// own b-tree, and the `(doc_id, server_seq)` index that every append and
/// read walks holds only keys, so one document's large rows never slow the
/// key lookups of its neighbours (in schema 1, `WITHOUT ROWID` tables kept
/// each payload inside the key b-tree).
const SCHEMA: &str = "
CREATE TABLE documents (
    doc_id     TEXT PRIMARY KEY,
    epoch      TEXT NOT NULL,
    head       INTEGER NOT NULL,  -- server_seq of the last logged op
    log_start  INTEGER NOT NULL,  -- first server_seq still in ops
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE ops (
    id         INTEGER PRIMARY KEY,
    doc_id     TEXT NOT NULL,
    server_seq INTEGER NOT NULL,
    origin     INTEGER NOT NULL,  -- replica whose connection sent it
    op         TEXT NOT NULL      -- the operation as JSON, as on the wire
);
CREATE UNIQUE INDEX ops_by_doc ON ops (doc_id, server_seq);
CREATE TABLE snapshots (
    doc_id     TEXT PRIMARY KEY,
    server_seq INTEGER NOT NULL,
    data       BLOB NOT NULL,     -- Doc::encode() at server_seq
    written_ms INTEGER NOT NULL
);
";

/// From schema 1 to 2: the same rows, moved out of the key b-trees. One
/// transaction: a crash part-way leaves schema 1 untouched.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE ops RENAME TO ops_v1;
ALTER TABLE snapshots RENAME TO snapshots_v1;
CREATE TABLE ops (
    id         INTEGER PRIMARY KEY,
    doc_id     TEXT NOT NULL,
    server_seq INTEGER NOT NULL,
    origin     INTEGER NOT NULL,
    op         TEXT NOT NULL
);
CREATE UNIQUE INDEX ops_by_doc ON ops (doc_id, server_seq);
CREATE TABLE snapshots (
    doc_id     TEXT PRIMARY KEY,
    server_seq INTEGER NOT NULL,
    data       BLOB NOT NULL,
    written_ms INTEGER NOT NULL
);
INSERT INTO ops (doc_id, server_seq, origin, op)
    SELECT doc_id, server_seq, origin, op FROM ops_v1 ORDER BY doc_id, server_seq;
INSERT INTO snapshots SELECT doc_id, server_seq, data, written_ms FROM snapshots_v1;
DROP TABLE ops_v1;
DROP TABLE snapshots_v1;
";

/// Read connections kept open between uses.
const IDLE_READERS: usize = 8;

pub struct SqliteStore {
    path: PathBuf,
    /// Idle read connections for loads and replay reads: each read takes
    /// one of its own (or opens one), so that no load waits behind a sync
    /// (WAL lets a reader see the last commit while a write is in
    /// progress) nor behind another document's long read. Declared before
    /// `writer` so that they close first: the last connection to close
    /// checkpoints the WAL into the database file, and a read-only one
    /// cannot.
    readers: Mutex<Vec<Connection>>,
    /// The one connection that writes. Appends from the group-commit
    /// thread and snapshot writes take turns on it.
    writer: Mutex<Connection>,
    /// Log entries kept behind the latest snapshot, for replay.
    retain_ops: u64,
    /// Documents created but not yet written, with their epochs: the row
    /// is written with their first append, so that creating a document
    /// never waits for the writer (which a slow commit may hold).
    unwritten: Mutex<HashMap<String, String>>,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves at worst an open transaction,
    // which SQLite rolls back when the next one begins.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_reader(path: &Path) -> Result<Connection, rusqlite::Error> {
    let reader = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    reader.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(reader)
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir`, checks its
    /// integrity and schema. Every failure is reported here, at start-up,
    /// with the path and what is wrong.
    pub fn open(data_dir: &Path, retain_ops: u64) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE);
        let at =
            |e: rusqlite::Error| StoreError::Backend(format!("database {}: {e}", path.display()));
        let writer = Connection::open(&path).map_err(at)?;
        writer
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(at)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(at)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "database {}: cannot switch to WAL mode (got {mode}); is the directory writable?",
                path.display()
            )));
        }
        // FULL: in WAL mode every commit syncs the log, so a committed
        // append survives power loss, not only a crash of the process.
        writer
            .pragma_update(None, "synchronous", "FULL")
            .map_err(at)?;
        let check: String = writer
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(at)?;
        if check != "ok" {
            return Err(StoreError::Corrupt(format!(
                "database {} failed its integrity check: {check}",
                path.display()
            )));
        }
        let version: i64 = writer
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(at)?;
        match version {
            0 => {
                writer
                    .execute_batch(&format!(
                        "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                    ))
                    .map_err(at)?;
            }
            1 => {
                tracing::info!(path = %path.display(), "migrating the database from schema 1 to 2");
                writer
                    .execute_batch(&format!(
                        "BEGIN IMMEDIATE; {MIGRATE_1_TO_2} PRAGMA user_version = 2; COMMIT;"
                    ))
                    .map_err(|e| {
                        StoreError::Backend(format!(
                            "database {}: migration from schema 1 to 2 failed (nothing was changed): {e}",
                            path.display()
                        ))
                    })?;
            }
            SCHEMA_VERSION => {}
            other => {
                return Err(StoreError::Corrupt(format!(
                    "database {} has schema version {other}; this relay knows {SCHEMA_VERSION}",
                    path.display()
                )));
            }
        }
        // A failed write test now beats a failed append later: a read-only
        // file or directory is reported at start-up.
        writer
            .execute_batch("BEGIN IMMEDIATE; COMMIT;")
            .map_err(|e| {
                StoreError::Backend(format!("database {} is not writable: {e}", path.display()))
            })?;
        let reader = open_reader(&path).map_err(at)?;
        Ok(SqliteStore {
            path,
            readers: Mutex::new(vec![reader]),
            writer: Mutex::new(writer),
            retain_ops,
            unwritten: Mutex::new(HashMap::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a read connection of its own.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path).map_err(backend)?,
        };
        let result = f(&conn);
        let mut idle = lock(&self.readers);
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    /// Caps the database at `pages` pages, so that tests can make the
    /// "disk" fill up.
    pub fn set_max_pages(&self, pages: u64) -> Result<(), StoreError> {
        lock(&self.writer)
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(backend)
    }
}

fn append_in(
    tx: &rusqlite::Transaction<'_>,
    doc_id: &str,
    ops: &[LoggedOp],
    unwritten: Option<&str>,
) -> Result<(), StoreError> {
    let Some(first) = ops.first() else {
        return Ok(());
    };
    if let Some(epoch) = unwritten {
        tx.execute(
            "INSERT OR IGNORE INTO documents (doc_id, epoch, head, log_start, created_ms) VALUES (?1, ?2, 0, 1, ?3)",
            params![doc_id, epoch, now_ms()],
        )
        .map_err(backend)?;
    }
    let head: Option<u64> = tx
        .query_row(
            "SELECT head FROM documents WHERE doc_id = ?1",
            [doc_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(backend)?;
    let head = head.ok_or_else(|| StoreError::UnknownDocument(doc_id.to_owned()))?;
    let mut expected = ServerSeq(head).next();
    if first.server_seq != expected {
        return Err(StoreError::OutOfOrder {
            doc_id: doc_id.to_owned(),
            expected,
            got: first.server_seq,
        });
    }
    let mut insert = tx
        .prepare_cached("INSERT INTO ops (doc_id, server_seq, origin, op) VALUES (?1, ?2, ?3, ?4)")
        .map_err(backend)?;
    for logged in ops {
        if logged.server_seq != expected {
            return Err(StoreError::OutOfOrder {
                doc_id: doc_id.to_owned(),
                expected,
                got: logged.server_seq,
            });
        }
        let json =
            serde_json::to_string(&logged.op).map_err(|e| StoreError::Backend(e.to_string()))?;
        insert
            .execute(params![doc_id, logged.server_seq.0, logged.origin, json])
            .map_err(backend)?;
        expected = expected.next();
    }
    let last = ops[ops.len() - 1].server_seq.0;
    tx.execute(
        "UPDATE documents SET head = ?2 WHERE doc_id = ?1",
        params![doc_id, last],
    )
    .map_err(backend)?;
    Ok(())
}

/// The first `server_seq` the log of `doc_id` holds; `None` for a document
/// never written.
fn log_start_in(conn: &Connection, doc_id: &str) -> Result<Option<u64>, StoreError> {
    conn.query_row(
        "SELECT log_start FROM documents WHERE doc_id = ?1",
        [doc_id],
        |r| r.get(0),
    )
    .optional()
    .map_err(backend)
}

fn read_ops(
    conn: &Connection,
    doc_id: &str,
    after: ServerSeq,
    max: usize,
) -> Result<Vec<LoggedOp>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT server_seq, origin, op FROM ops WHERE doc_id = ?1 AND server_seq > ?2 ORDER BY server_seq LIMIT ?3",
        )
        .map_err(backend)?;
    let max = i64::try_from(max).unwrap_or(i64::MAX);
    let rows = stmt
        .query_map(params![doc_id, after.0, max], |r| {
            Ok((
                r.get::<_, u64>(0)?,
                r.get::<_, u64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(backend)?;
    let mut out = Vec::new();
    let mut expected = after.next();
    for row in rows {
        let (seq, origin, json) = row.map_err(backend)?;
        if seq != expected.0 {
            return Err(StoreError::Corrupt(format!(
                "log of {doc_id:?} jumps from server_seq {} to {seq}",
                expected.0 - 1
            )));
        }
        let op: Op = serde_json::from_str(&json).map_err(|e| {
            StoreError::Corrupt(format!("op {seq} of {doc_id:?} is not an operation: {e}"))
        })?;
        out.push(LoggedOp {
            server_seq: ServerSeq(seq),
            origin,
            op,
        });
        expected = expected.next();
    }
    Ok(out)
}

impl SqliteStore {
    fn load_in(&self, conn: &Connection, doc_id: &str) -> Result<Option<StoredDoc>, StoreError> {
        let row: Option<(String, u64)> = conn
            .query_row(
                "SELECT epoch, head FROM documents WHERE doc_id = ?1",
                [doc_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(backend)?;
        let Some((epoch, head)) = row else {
            return Ok(None);
        };
        let snapshot = conn
            .query_row(
                "SELECT server_seq, data FROM snapshots WHERE doc_id = ?1",
                [doc_id],
                |r| {
                    Ok(StoredSnapshot {
                        server_seq: ServerSeq(r.get(0)?),
                        data: r.get::<_, Vec<u8>>(1)?.into(),
                    })
                },
            )
            .optional()
            .map_err(backend)?;
        let from = snapshot.as_ref().map_or(ServerSeq::ZERO, |s| s.server_seq);
        let tail = read_ops(conn, doc_id, from, usize::MAX)?;
        let end = tail.last().map_or(from, |op| op.server_seq);
        if end.0 != head {
            return Err(StoreError::Corrupt(format!(
                "{doc_id:?} should end at server_seq {head} but its snapshot and log end at {end}"
            )));
        }
        Ok(Some(StoredDoc {
            epoch,
            snapshot,
            tail,
        }))
    }
}

impl Store for SqliteStore {
    fn load(&self, doc_id: &str) -> Result<Option<StoredDoc>, StoreError> {
        let found = self.read(|conn| self.load_in(conn, doc_id))?;
        Ok(found.or_else(|| {
            lock(&self.unwritten).get(doc_id).map(|epoch| StoredDoc {
                epoch: epoch.clone(),
                snapshot: None,
                tail: Vec::new(),
            })
        }))
    }

    fn create(&self, doc_id: &str) -> Result<StoredDoc, StoreError> {
        if let Some(doc) = self.load(doc_id)? {
            return Ok(doc);
        }
        let epoch = lock(&self.unwritten)
            .entry(doc_id.to_owned())
            .or_insert_with(new_epoch)
            .clone();
        Ok(StoredDoc {
            epoch,
            snapshot: None,
            tail: Vec::new(),
        })
    }

    fn append(&self, doc_id: &str, ops: &[LoggedOp]) -> Result<(), StoreError> {
        self.append_many(&[(doc_id, ops)])
    }

    fn append_many(&self, batches: &[(&str, &[LoggedOp])]) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let unwritten: Vec<Option<String>> = {
            let pending = lock(&self.unwritten);
            batches
                .iter()
                .map(|(doc_id, _)| pending.get(*doc_id).cloned())
                .collect()
        };
        for ((doc_id, ops), epoch) in batches.iter().zip(&unwritten) {
            append_in(&tx, doc_id, ops, epoch.as_deref())?;
        }
        // Dropping `tx` on an error above rolls the whole group back.
        tx.commit().map_err(backend)?;
        let mut pending = lock(&self.unwritten);
        for ((doc_id, _), epoch) in batches.iter().zip(&unwritten) {
            if epoch.is_some() {
                pending.remove(*doc_id);
            }
        }
        Ok(())
    }

    fn durable(&self) -> bool {
        true
    }

    fn close(&self) -> Result<(), StoreError> {
        // After a clean stop the database file alone holds everything.
        lock(&self.writer)
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(backend)
    }

    fn log_start(&self, doc_id: &str) -> Result<ServerSeq, StoreError> {
        self.read(|conn| Ok(ServerSeq(log_start_in(conn, doc_id)?.unwrap_or(1))))
    }

    fn read_since(&self, doc_id: &str, after: ServerSeq, max: usize) -> Result<Since, StoreError> {
        self.read(|conn| {
            let log_start = match log_start_in(conn, doc_id)? {
                Some(start) => start,
                None if lock(&self.unwritten).contains_key(doc_id) => {
                    return Ok(Since::Ops(Vec::new()));
                }
                None => return Err(StoreError::UnknownDocument(doc_id.to_owned())),
            };
            if after.0 + 1 < log_start {
                return Ok(Since::Truncated);
            }
            read_ops(conn, doc_id, after, max).map(Since::Ops)
        })
    }

    fn write_snapshot(&self, doc_id: &str, snapshot: StoredSnapshot) -> Result<(), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let at = snapshot.server_seq.0;
        tx.execute(
            "INSERT INTO snapshots (doc_id, server_seq, data, written_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (doc_id) DO UPDATE SET server_seq = excluded.server_seq,
                 data = excluded.data, written_ms = excluded.written_ms
             WHERE excluded.server_seq >= snapshots.server_seq",
            params![doc_id, at, &snapshot.data[..], now_ms()],
        )
        .map_err(backend)?;
        // Retention: keep `retain_ops` entries behind the snapshot for
        // replay; older ones are covered by the snapshot.
        let cutoff = at.saturating_sub(self.retain_ops);
        if cutoff > 0 {
            tx.execute(
                "DELETE FROM ops WHERE doc_id = ?1 AND server_seq <= ?2",
                params![doc_id, cutoff],
            )
            .map_err(backend)?;
            tx.execute(
                "UPDATE documents SET log_start = MAX(log_start, ?2) WHERE doc_id = ?1",
                params![doc_id, cutoff + 1],
            )
            .map_err(backend)?;
        }
        tx.commit().map_err(backend)
    }
}
