//! The shared durable store: PostgreSQL, which several relays write at once
//! (`docs/scale-out.md`). The database numbers operations: each document
//! has a head row, locked and advanced in the transaction that inserts the
//! operations, and a unique key on `(doc_id, replica_id, seq)` recognises
//! an operation resent to another relay, which keeps its first number.
//! Every commit notifies the other relays (see [`listen`]).
//!
//! The [`Store`] trait is synchronous and called from blocking threads, so
//! this store owns a small tokio runtime of its own for the async driver
//! and pool, and each call blocks on it: the relay's runtime never waits
//! on the database, and the driver's tasks never wait on the relay.

mod listen;
mod schema;
mod sequence;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use collab_crdt::Op;
use collab_crdt::sync::ServerSeq;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use tokio::sync::broadcast;
use tokio_postgres::{IsolationLevel, NoTls};

use super::{LoggedOp, NewOps, Notice, Since, Store, StoreError, StoredDoc, StoredSnapshot};

/// Connections in the pool: the commit threads, loads and replay reads.
const POOL_SIZE: usize = 16;

/// The longest any store call may take, connecting included; past it the
/// database counts as unreachable and the call fails (`Unavailable`), so
/// that a partition never leaves a room waiting for ever.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How many notices may wait for the relay; a relay that falls further
/// behind gets a [`Notice::Resync`] (broadcast's lag) and reads the log.
const NOTICE_BUFFER: usize = 4096;

pub struct PostgresStore {
    /// The runtime the driver, the pool and the listener run on; shut down
    /// in the background on drop (a runtime may not be dropped in place on
    /// an async thread, which is where the relay drops its store).
    _runtime: OwnedRuntime,
    handle: tokio::runtime::Handle,
    pool: Pool,
    /// Log entries kept behind the latest snapshot, for replay.
    retain_ops: u64,
    notices: broadcast::Sender<Notice>,
    reach: Arc<Reach>,
}

/// What the store last learnt of whether PostgreSQL can be reached.
#[derive(Debug, Default)]
pub(crate) struct Reach {
    /// The `LISTEN` connection is up and answers its heartbeat.
    pub listening: AtomicBool,
    /// A call failed to reach the database, and nothing has reached it
    /// since (a later call, the listener's heartbeat).
    pub failing: AtomicBool,
}

impl Reach {
    /// Something just reached the database.
    pub fn reached(&self) {
        self.failing.store(false, Ordering::Relaxed);
    }
}

/// A driver error: a database answer (with an SQLSTATE) is a backend
/// failure; anything else (a closed or broken connection) means the
/// database cannot be reached.
fn pg(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        // Connection exceptions (08), the server shutting down or starting
        // (57P01-57P03), out of resources (53): the database, not the
        // request, is the problem.
        Some(db) => {
            let code = db.code().code();
            let message = format!("{code}: {}", db.message());
            if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") {
                StoreError::Unavailable(message)
            } else {
                StoreError::Backend(message)
            }
        }
        None => StoreError::Unavailable(e.to_string()),
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg(e),
        e => StoreError::Unavailable(e.to_string()),
    }
}

/// A number as PostgreSQL's BIGINT; every number the relay stores is at
/// most 2^53 - 1, so only corrupt input fails here.
fn int(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Backend(format!("{n} does not fit a BIGINT")))
}

fn uint(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("negative number {n} stored")))
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/db` or the
    /// key-value form), applies the migrations this database lacks and
    /// starts listening for other relays' commits. Every session runs
    /// with `synchronous_commit = on`: a commit, hence an echo, means the
    /// operation is on the database's disk.
    pub fn open(url: &str, retain_ops: u64) -> Result<PostgresStore, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("bad PostgreSQL URL: {e}")))?;
        let options = match config.get_options() {
            Some(o) => format!("{o} -c synchronous_commit=on"),
            None => "-c synchronous_commit=on".to_owned(),
        };
        config
            .options(&options)
            .connect_timeout(CALL_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("collab-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot start the driver's runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let runtime = OwnedRuntime(Some(runtime));
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CALL_TIMEOUT))
            .create_timeout(Some(CALL_TIMEOUT))
            .recycle_timeout(Some(CALL_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the pool: {e}")))?;
        // On a thread of its own: `open` may be called on an async thread
        // (the relay's `main`), where blocking on a runtime is refused.
        let migrate = async {
            let (mut client, connection) =
                tokio::time::timeout(CALL_TIMEOUT, config.connect(NoTls))
                    .await
                    .map_err(|_| StoreError::Unavailable("connecting timed out".into()))?
                    .map_err(pg)?;
            let driver = tokio::spawn(connection);
            let result = schema::migrate(&mut client).await;
            drop(client);
            let _ = driver.await;
            result
        };
        std::thread::scope(|scope| {
            scope
                .spawn(|| handle.block_on(migrate))
                .join()
                .unwrap_or_else(|_| Err(StoreError::Backend("the migration panicked".into())))
        })?;
        let (notices, _) = broadcast::channel(NOTICE_BUFFER);
        let reach = Arc::new(Reach::default());
        handle.spawn(listen::run(config, notices.clone(), reach.clone()));
        Ok(PostgresStore {
            _runtime: runtime,
            handle,
            pool,
            retain_ops,
            notices,
            reach,
        })
    }

    /// Runs `f` with a pooled connection on the store's runtime, blocking
    /// the calling (never an async) thread, within [`CALL_TIMEOUT`].
    fn call<T, F>(&self, f: impl FnOnce(deadpool_postgres::Object) -> F) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let pool = self.pool.clone();
        let result = self.handle.block_on(async move {
            let work = async move {
                let client = pool.get().await.map_err(pool_error)?;
                f(client).await
            };
            tokio::time::timeout(CALL_TIMEOUT, work)
                .await
                .unwrap_or_else(|_| {
                    Err(StoreError::Unavailable(format!(
                        "no answer from PostgreSQL within {CALL_TIMEOUT:?}"
                    )))
                })
        });
        match &result {
            Err(StoreError::Unavailable(_)) => self.reach.failing.store(true, Ordering::Relaxed),
            _ => self.reach.reached(),
        }
        result
    }
}

/// A runtime shut down in the background when dropped, wherever that is
/// (also when `open` fails part-way).
struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The indices of `batches` in lock order: by document, stable. Every
/// relay locks head rows in this order, so two group commits touching the
/// same documents never deadlock.
fn lock_order<T>(batches: &[T], doc: impl Fn(&T) -> &str) -> Vec<usize> {
    let mut order: Vec<usize> = (0..batches.len()).collect();
    order.sort_by(|&a, &b| doc(&batches[a]).cmp(doc(&batches[b])));
    order
}

/// Locks the document's head row for the rest of the transaction.
async fn lock_head(tx: &Transaction<'_>, doc_id: &str) -> Result<ServerSeq, StoreError> {
    let stmt = tx
        .prepare_cached("SELECT head FROM documents WHERE doc_id = $1 FOR UPDATE")
        .await
        .map_err(pg)?;
    let row = tx.query_opt(&stmt, &[&doc_id]).await.map_err(pg)?;
    let row = row.ok_or_else(|| StoreError::UnknownDocument(doc_id.to_owned()))?;
    Ok(ServerSeq(uint(row.get(0))?))
}

/// Inserts numbered operations, moves the head to the last one and tells
/// the other relays, all inside the caller's transaction.
async fn insert(tx: &Transaction<'_>, doc_id: &str, ops: &[LoggedOp]) -> Result<(), StoreError> {
    let Some(last) = ops.last() else {
        return Ok(());
    };
    let mut server_seqs = Vec::with_capacity(ops.len());
    let mut replicas = Vec::with_capacity(ops.len());
    let mut seqs = Vec::with_capacity(ops.len());
    let mut origins = Vec::with_capacity(ops.len());
    let mut json = Vec::with_capacity(ops.len());
    for logged in ops {
        server_seqs.push(int(logged.server_seq.0)?);
        replicas.push(int(logged.op.replica_id())?);
        seqs.push(int(logged.op.seq())?);
        origins.push(int(logged.origin)?);
        json.push(
            serde_json::to_string(&logged.op).map_err(|e| StoreError::Backend(e.to_string()))?,
        );
    }
    let insert = tx
        .prepare_cached(
            "INSERT INTO ops (doc_id, server_seq, replica_id, seq, origin, op)
             SELECT $1, * FROM unnest($2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[], $6::TEXT[])",
        )
        .await
        .map_err(pg)?;
    let update = tx
        .prepare_cached("UPDATE documents SET head = $2 WHERE doc_id = $1")
        .await
        .map_err(pg)?;
    let notify = tx
        .prepare_cached("SELECT pg_notify($1, $2)")
        .await
        .map_err(pg)?;
    let head = last.server_seq;
    let (head_param, payload) = (int(head.0)?, listen::payload(doc_id, head));
    let insert_params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
        [&doc_id, &server_seqs, &replicas, &seqs, &origins, &json];
    let update_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&doc_id, &head_param];
    let notify_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
        [&listen::CHANNEL, &payload];
    // Sent back to back (pipelined), run in this order.
    tokio::try_join!(
        tx.execute(&insert, &insert_params),
        tx.execute(&update, &update_params),
        tx.execute(&notify, &notify_params),
    )
    .map_err(pg)?;
    Ok(())
}

/// Appends operations numbered by the caller, checking that they continue
/// the log.
async fn append_in(tx: &Transaction<'_>, doc_id: &str, ops: &[LoggedOp]) -> Result<(), StoreError> {
    let head = lock_head(tx, doc_id).await?;
    let mut expected = head.next();
    for logged in ops {
        if logged.server_seq != expected {
            return Err(StoreError::OutOfOrder {
                doc_id: doc_id.to_owned(),
                expected,
                got: logged.server_seq,
            });
        }
        expected = expected.next();
    }
    insert(tx, doc_id, ops).await
}

/// Reads the log after `after`, at most `max` entries, checking that it
/// has no gap.
async fn read_ops(
    tx: &Transaction<'_>,
    doc_id: &str,
    after: ServerSeq,
    max: usize,
) -> Result<Vec<LoggedOp>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT server_seq, origin, op FROM ops WHERE doc_id = $1 AND server_seq > $2
             ORDER BY server_seq LIMIT $3",
        )
        .await
        .map_err(pg)?;
    let limit = i64::try_from(max).unwrap_or(i64::MAX);
    let rows = tx
        .query(&stmt, &[&doc_id, &int(after.0)?, &limit])
        .await
        .map_err(pg)?;
    let mut out = Vec::with_capacity(rows.len());
    let mut expected = after.next();
    for row in rows {
        let seq = uint(row.get(0))?;
        if seq != expected.0 {
            return Err(StoreError::Corrupt(format!(
                "log of {doc_id:?} jumps from server_seq {} to {seq}",
                expected.0 - 1
            )));
        }
        let json: &str = row.get(2);
        let op: Op = serde_json::from_str(json).map_err(|e| {
            StoreError::Corrupt(format!("op {seq} of {doc_id:?} is not an operation: {e}"))
        })?;
        out.push(LoggedOp {
            server_seq: ServerSeq(seq),
            origin: uint(row.get(1))?,
            op,
        });
        expected = expected.next();
    }
    Ok(out)
}

/// A read-only transaction that sees one committed state throughout: a
/// snapshot and the log after it, or the log start and the log, never
/// straddle another relay's commit or truncation.
async fn reading(client: &mut deadpool_postgres::Object) -> Result<Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg)
}

async fn load_in(tx: &Transaction<'_>, doc_id: &str) -> Result<Option<StoredDoc>, StoreError> {
    let stmt = tx
        .prepare_cached("SELECT epoch, head FROM documents WHERE doc_id = $1")
        .await
        .map_err(pg)?;
    let Some(row) = tx.query_opt(&stmt, &[&doc_id]).await.map_err(pg)? else {
        return Ok(None);
    };
    let epoch: String = row.get(0);
    let head = uint(row.get(1))?;
    let stmt = tx
        .prepare_cached("SELECT server_seq, data FROM snapshots WHERE doc_id = $1")
        .await
        .map_err(pg)?;
    let snapshot = match tx.query_opt(&stmt, &[&doc_id]).await.map_err(pg)? {
        Some(row) => Some(StoredSnapshot {
            server_seq: ServerSeq(uint(row.get(0))?),
            data: row.get::<_, Vec<u8>>(1).into(),
        }),
        None => None,
    };
    let from = snapshot.as_ref().map_or(ServerSeq::ZERO, |s| s.server_seq);
    let tail = read_ops(tx, doc_id, from, usize::MAX).await?;
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

impl Store for PostgresStore {
    fn load(&self, doc_id: &str) -> Result<Option<StoredDoc>, StoreError> {
        self.call(|mut client| async move {
            let tx = reading(&mut client).await?;
            let doc = load_in(&tx, doc_id).await?;
            tx.commit().await.map_err(pg)?;
            Ok(doc)
        })
    }

    fn create(&self, doc_id: &str) -> Result<StoredDoc, StoreError> {
        // Written at once, not with the first append as SQLite does: every
        // relay must give the document the same epoch.
        let epoch = super::new_epoch();
        self.call(|client| async move {
            client
                .execute(
                    "INSERT INTO documents (doc_id, epoch, head, log_start) VALUES ($1, $2, 0, 1)
                     ON CONFLICT (doc_id) DO NOTHING",
                    &[&doc_id, &epoch],
                )
                .await
                .map_err(pg)?;
            Ok(())
        })?;
        self.load(doc_id)?
            .ok_or_else(|| StoreError::UnknownDocument(doc_id.to_owned()))
    }

    fn append(&self, doc_id: &str, ops: &[LoggedOp]) -> Result<(), StoreError> {
        self.append_many(&[(doc_id, ops)])
    }

    fn append_many(&self, batches: &[(&str, &[LoggedOp])]) -> Result<(), StoreError> {
        self.call(|mut client| async move {
            let tx = client.transaction().await.map_err(pg)?;
            for i in lock_order(batches, |b| b.0) {
                let (doc_id, ops) = batches[i];
                append_in(&tx, doc_id, ops).await?;
            }
            tx.commit().await.map_err(pg)
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn sequence(&self, batches: &[NewOps<'_>]) -> Result<Vec<Vec<LoggedOp>>, StoreError> {
        self.call(|mut client| async move {
            let tx = client.transaction().await.map_err(pg)?;
            let out = sequence::sequence(&tx, batches).await?;
            tx.commit().await.map_err(pg)?;
            Ok(out)
        })
    }

    fn heads(&self, doc_ids: &[&str]) -> Result<Vec<(String, ServerSeq)>, StoreError> {
        self.call(|client| async move {
            let stmt = client
                .prepare_cached("SELECT doc_id, head FROM documents WHERE doc_id = ANY($1)")
                .await
                .map_err(pg)?;
            let rows = client.query(&stmt, &[&doc_ids]).await.map_err(pg)?;
            rows.iter()
                .map(|r| Ok((r.get(0), ServerSeq(uint(r.get(1))?))))
                .collect()
        })
    }

    fn reachable(&self) -> bool {
        self.reach.listening.load(Ordering::Relaxed) && !self.reach.failing.load(Ordering::Relaxed)
    }

    fn notices(&self) -> Option<broadcast::Receiver<Notice>> {
        Some(self.notices.subscribe())
    }

    fn durable(&self) -> bool {
        true
    }

    fn log_start(&self, doc_id: &str) -> Result<ServerSeq, StoreError> {
        self.call(|client| async move {
            let row = client
                .query_opt(
                    "SELECT log_start FROM documents WHERE doc_id = $1",
                    &[&doc_id],
                )
                .await
                .map_err(pg)?;
            match row {
                Some(row) => Ok(ServerSeq(uint(row.get(0))?)),
                None => Ok(ServerSeq(1)),
            }
        })
    }

    fn read_since(&self, doc_id: &str, after: ServerSeq, max: usize) -> Result<Since, StoreError> {
        self.call(|client| async move {
            // One statement, one snapshot: the log start and the entries
            // after `after` as of the same commit (a round trip, not four).
            let stmt = client
                .prepare_cached(
                    "SELECT d.log_start, o.server_seq, o.origin, o.op FROM documents d
                     LEFT JOIN LATERAL (
                         SELECT server_seq, origin, op FROM ops
                         WHERE ops.doc_id = d.doc_id AND ops.server_seq > $2
                         ORDER BY server_seq LIMIT $3
                     ) o ON true
                     WHERE d.doc_id = $1
                     ORDER BY o.server_seq",
                )
                .await
                .map_err(pg)?;
            let limit = i64::try_from(max).unwrap_or(i64::MAX);
            let rows = client
                .query(&stmt, &[&doc_id, &int(after.0)?, &limit])
                .await
                .map_err(pg)?;
            let first = rows
                .first()
                .ok_or_else(|| StoreError::UnknownDocument(doc_id.to_owned()))?;
            if after.0 + 1 < uint(first.get(0))? {
                return Ok(Since::Truncated);
            }
            let mut out = Vec::with_capacity(rows.len());
            let mut expected = after.next();
            for row in &rows {
                let Some(seq) = row.get::<_, Option<i64>>(1) else {
                    continue;
                };
                let seq = uint(seq)?;
                if seq != expected.0 {
                    return Err(StoreError::Corrupt(format!(
                        "log of {doc_id:?} jumps from server_seq {} to {seq}",
                        expected.0 - 1
                    )));
                }
                let json: &str = row.get(3);
                let op: Op = serde_json::from_str(json).map_err(|e| {
                    StoreError::Corrupt(format!("op {seq} of {doc_id:?} is not an operation: {e}"))
                })?;
                out.push(LoggedOp {
                    server_seq: ServerSeq(seq),
                    origin: uint(row.get(2))?,
                    op,
                });
                expected = expected.next();
            }
            Ok(Since::Ops(out))
        })
    }

    fn write_snapshot(&self, doc_id: &str, snapshot: StoredSnapshot) -> Result<(), StoreError> {
        let retain = self.retain_ops;
        self.call(|mut client| async move {
            let tx = client.transaction().await.map_err(pg)?;
            // The head row's lock orders this against every append and
            // every other relay's snapshot of the document.
            let head = lock_head(&tx, doc_id).await?;
            let at = snapshot.server_seq;
            if at > head {
                return Err(StoreError::Backend(format!(
                    "snapshot of {doc_id:?} at server_seq {at} is past the log's head {head}"
                )));
            }
            tx.execute(
                "INSERT INTO snapshots (doc_id, server_seq, data) VALUES ($1, $2, $3)
                 ON CONFLICT (doc_id) DO UPDATE SET server_seq = excluded.server_seq,
                     data = excluded.data, written_at = now()
                 WHERE excluded.server_seq >= snapshots.server_seq",
                &[&doc_id, &int(at.0)?, &&snapshot.data[..]],
            )
            .await
            .map_err(pg)?;
            // Retention: the log is cut only behind the snapshot that is
            // kept (which may be another relay's newer one), leaving
            // `retain` entries before it for replay.
            let kept: i64 = tx
                .query_one(
                    "SELECT server_seq FROM snapshots WHERE doc_id = $1",
                    &[&doc_id],
                )
                .await
                .map_err(pg)?
                .get(0);
            let cutoff = uint(kept)?.saturating_sub(retain);
            if cutoff > 0 {
                tx.execute(
                    "DELETE FROM ops WHERE doc_id = $1 AND server_seq <= $2",
                    &[&doc_id, &int(cutoff)?],
                )
                .await
                .map_err(pg)?;
                tx.execute(
                    "UPDATE documents SET log_start = GREATEST(log_start, $2) WHERE doc_id = $1",
                    &[&doc_id, &int(cutoff + 1)?],
                )
                .await
                .map_err(pg)?;
            }
            tx.commit().await.map_err(pg)
        })
    }
}

/// For tests of several relays: the database's view of a document's log,
/// every `(server_seq, replica_id, seq)` in order.
impl PostgresStore {
    pub fn log_keys(&self, doc_id: &str) -> Result<Vec<(u64, u64, u64)>, StoreError> {
        self.call(|client| async move {
            let rows = client
                .query(
                    "SELECT server_seq, replica_id, seq FROM ops WHERE doc_id = $1 ORDER BY server_seq",
                    &[&doc_id],
                )
                .await
                .map_err(pg)?;
            rows.iter()
                .map(|r| Ok((uint(r.get(0))?, uint(r.get(1))?, uint(r.get(2))?)))
                .collect()
        })
    }
}
