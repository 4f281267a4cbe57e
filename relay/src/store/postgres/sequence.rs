//! Numbering a group commit's batches, pipelined: the statements of every
//! document in the group go out back to back on the one connection and
//! PostgreSQL runs them in the order sent, so a group costs a handful of
//! round trips (lock, look up, insert, commit) whatever the number of
//! documents in it, instead of several per document.

use std::collections::HashMap;

use collab_crdt::Op;
use collab_crdt::sync::ServerSeq;
use deadpool_postgres::Transaction;
use futures_util::future::try_join_all;

use super::{insert, int, lock_order, pg, uint};
use crate::store::{LoggedOp, NewOps, StoreError};

/// Numbers and inserts `batches` inside `tx`; see `Store::sequence`.
pub(super) async fn sequence(
    tx: &Transaction<'_>,
    batches: &[NewOps<'_>],
) -> Result<Vec<Vec<LoggedOp>>, StoreError> {
    // Each document's batches, in document order (the lock order every
    // relay follows, so that two group commits never deadlock).
    let order = lock_order(batches, |b| b.doc_id);
    let docs: Vec<&[usize]> = order
        .chunk_by(|&a, &b| batches[a].doc_id == batches[b].doc_id)
        .collect();
    // Prepared first, so that each statement below goes out as soon as
    // it is polled, in the order polled.
    let lock = tx
        .prepare_cached("SELECT head FROM documents WHERE doc_id = $1 FOR UPDATE")
        .await
        .map_err(pg)?;
    let lookup = tx
        .prepare_cached(
            "SELECT o.replica_id, o.seq, o.server_seq, o.origin, o.op FROM ops o
             JOIN unnest($2::BIGINT[], $3::BIGINT[], $4::BIGINT[]) AS k(replica_id, seq, units)
               ON o.replica_id = k.replica_id AND o.seq >= k.seq AND o.seq < k.seq + k.units
             WHERE o.doc_id = $1",
        )
        .await
        .map_err(pg)?;
    // 1. Every head row, locked in document order.
    let heads = try_join_all(docs.iter().map(|indices| {
        let doc_id = batches[indices[0]].doc_id;
        let lock = &lock;
        async move {
            let row = tx.query_opt(lock, &[&doc_id]).await.map_err(pg)?;
            let row = row.ok_or_else(|| StoreError::UnknownDocument(doc_id.to_owned()))?;
            Ok::<_, StoreError>(ServerSeq(uint(row.get(0))?))
        }
    }))
    .await?;
    // 2. Which of their units the log already holds: every logged
    // operation of the same replica that starts within one of theirs. A
    // statement after the lock: it sees whatever the lock's previous
    // holder committed.
    let mut keys = Vec::with_capacity(docs.len());
    for indices in &docs {
        let (mut replicas, mut seqs, mut units) = (Vec::new(), Vec::new(), Vec::new());
        for op in indices.iter().flat_map(|&i| batches[i].ops) {
            replicas.push(int(op.replica_id())?);
            seqs.push(int(op.seq())?);
            units.push(int(op.len())?);
        }
        keys.push((replicas, seqs, units));
    }
    let known = try_join_all(
        docs.iter()
            .zip(&keys)
            .map(|(indices, (replicas, seqs, units))| {
                let doc_id = batches[indices[0]].doc_id;
                let lookup = &lookup;
                async move {
                    let rows = tx
                        .query(lookup, &[&doc_id, replicas, seqs, units])
                        .await
                        .map_err(pg)?;
                    let mut known: HashMap<(i64, i64), (ServerSeq, u64, Op)> = HashMap::new();
                    for row in rows {
                        let server_seq = ServerSeq(uint(row.get(2))?);
                        let op: Op = serde_json::from_str(row.get(4)).map_err(|e| {
                            StoreError::Corrupt(format!(
                                "op {server_seq} of {doc_id:?} is not an operation: {e}"
                            ))
                        })?;
                        known.insert(
                            (row.get(0), row.get(1)),
                            (server_seq, uint(row.get(3))?, op),
                        );
                    }
                    Ok::<_, StoreError>(known)
                }
            }),
    )
    .await?;
    // 3. The numbers: after the head, except for operations already held.
    let mut out = vec![Vec::new(); batches.len()];
    let mut fresh: Vec<(&str, Vec<LoggedOp>)> = Vec::with_capacity(docs.len());
    for ((indices, mut head), mut known) in docs.iter().zip(heads).zip(known) {
        let mut new = Vec::new();
        for &i in indices.iter() {
            let batch = &batches[i];
            let mut logged_batch = Vec::with_capacity(batch.ops.len());
            for op in batch.ops {
                // A resend may be cut differently from what was logged (a
                // client rebuilds its outbox from its document, which joins
                // adjacent edits): the units the log holds from here keep
                // their entry, and only the rest is numbered.
                let mut rest = Some(op.clone());
                while let Some(op) = rest.take() {
                    let key = (int(op.replica_id())?, int(op.seq())?);
                    if let Some((server_seq, origin, logged)) = known.get(&key) {
                        if op.len() > logged.len() {
                            rest = Some(op.skip_units(logged.len()));
                        }
                        logged_batch.push(LoggedOp {
                            server_seq: *server_seq,
                            origin: *origin,
                            op: logged.clone(),
                        });
                        continue;
                    }
                    head = head.next();
                    known.insert(key, (head, batch.origin, op.clone()));
                    let logged = LoggedOp {
                        server_seq: head,
                        origin: batch.origin,
                        op,
                    };
                    new.push(logged.clone());
                    logged_batch.push(logged);
                }
            }
            out[i] = logged_batch;
        }
        fresh.push((batches[indices[0]].doc_id, new));
    }
    // 4. Every document's insert, head and notification.
    try_join_all(fresh.iter().map(|(doc_id, ops)| insert(tx, doc_id, ops))).await?;
    Ok(out)
}
