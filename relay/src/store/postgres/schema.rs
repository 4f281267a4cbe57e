//! The PostgreSQL schema and its versioned migrations, applied at start-up
//! by whichever relay gets there first (an advisory lock makes the others
//! wait, then find nothing left to do).

use tokio_postgres::Client;

use super::pg;
use crate::store::StoreError;

/// Each migration, in order; migration `i` takes the schema from version
/// `i` to `i + 1`. Never edit one that shipped: add the next.
const MIGRATIONS: &[&str] = &[
    // 1: documents with their head (the last `server_seq` given out) and
    // the first `server_seq` the log still holds; the log with the unique
    // key that recognises a resent operation; one snapshot per document.
    "
    CREATE TABLE documents (
        doc_id     TEXT PRIMARY KEY,
        epoch      TEXT NOT NULL,
        head       BIGINT NOT NULL,
        log_start  BIGINT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE ops (
        doc_id     TEXT NOT NULL,
        server_seq BIGINT NOT NULL,
        replica_id BIGINT NOT NULL,
        seq        BIGINT NOT NULL,
        origin     BIGINT NOT NULL,
        op         TEXT NOT NULL,
        PRIMARY KEY (doc_id, server_seq),
        UNIQUE (doc_id, replica_id, seq)
    );
    CREATE TABLE snapshots (
        doc_id     TEXT PRIMARY KEY,
        server_seq BIGINT NOT NULL,
        data       BYTEA NOT NULL,
        written_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    ",
];

/// The version this relay writes.
const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Any constant both relays agree on: the key of the migration lock.
const MIGRATION_LOCK: i64 = 0x636f_6c6c_6162;

/// Brings the database to [`SCHEMA_VERSION`], each migration in the same
/// transaction as its version row, so a crash part-way changes nothing.
/// Refuses a database newer than this relay.
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version    INTEGER PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await
    .map_err(pg)?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_version",
            &[],
        )
        .await
        .map_err(pg)?
        .get(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {current}; this relay knows {SCHEMA_VERSION}"
        )));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let to = from as i32 + 1;
        tracing::info!(from, to, "migrating the PostgreSQL schema");
        tx.batch_execute(sql).await.map_err(pg)?;
        tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&to])
            .await
            .map_err(pg)?;
    }
    tx.commit().await.map_err(pg)
}
