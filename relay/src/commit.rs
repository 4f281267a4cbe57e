//! Group commit for durable stores: one background thread takes every
//! append waiting, from every room, writes them in one transaction with one
//! sync, and only then lets each room send its echoes.
//!
//! Rooms hand over their batches in `server_seq` order under their own
//! lock, and the thread handles jobs in arrival order, so each document's
//! log is written, and its echoes are released, in order.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::room::Room;
use crate::store::{LoggedOp, Store, StoredSnapshot};

/// The most jobs one transaction takes; more wait for the next.
const MAX_GROUP: usize = 4096;

pub enum Job {
    /// A room's accepted batch: stored, then `Room::committed`.
    Append { room: Arc<Room>, ops: Vec<LoggedOp> },
    /// A snapshot at a `server_seq` whose appends were queued before it.
    Snapshot {
        room: Arc<Room>,
        snapshot: StoredSnapshot,
    },
    /// Answered once everything queued before it is handled.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The queue into the commit thread; cheap to clone.
#[derive(Clone)]
pub struct CommitQueue(mpsc::Sender<Job>);

impl CommitQueue {
    /// Queues a job; false when the thread is gone (the relay is stopping).
    pub fn send(&self, job: Job) -> bool {
        self.0.send(job).is_ok()
    }
}

/// Starts the commit thread over `store`.
pub fn start(store: Arc<dyn Store>) -> (CommitQueue, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("collab-commit".into())
        .spawn(move || run(&*store, rx))
        .expect("spawning the commit thread");
    (CommitQueue(tx), thread)
}

fn run(store: &dyn Store, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let appends: Vec<(&str, &[LoggedOp])> = jobs
            .iter()
            .filter_map(|job| match job {
                // A broken room's later batches follow a failed one: they
                // cannot be stored and must not be.
                Job::Append { room, ops } if !room.is_broken() => {
                    Some((&*room.doc_id, ops.as_slice()))
                }
                _ => None,
            })
            .collect();
        let result = if appends.is_empty() {
            Ok(())
        } else {
            store.append_many(&appends)
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, batches = appends.len(), "group commit failed");
        }
        for job in jobs {
            match job {
                Job::Append { room, ops } => match &result {
                    Ok(()) => {
                        if let Some(last) = ops.last() {
                            room.committed(last.server_seq);
                        }
                    }
                    Err(_) => room.fail("the document's store failed"),
                },
                Job::Snapshot { room, snapshot } => {
                    if room.is_broken() {
                        continue;
                    }
                    if let Err(e) = store.write_snapshot(&room.doc_id, snapshot) {
                        // The log still holds everything: a lost snapshot
                        // only makes the next load slower.
                        tracing::warn!(doc_id = &*room.doc_id, error = %e, "snapshot not written");
                    }
                }
                Job::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }
}
