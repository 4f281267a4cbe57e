//! Group commit for durable stores: a few background threads take the
//! appends waiting from every room, write those of many documents in one
//! transaction with one sync, and only then tell each room, through the
//! narrow [`CommitSink`] interface, that its echoes may go out.
//!
//! Each document has at most one group in flight, and its jobs are taken in
//! the order they were queued, so its log is written, and its echoes are
//! released, in `server_seq` order. Several workers mean that one document
//! whose write stalls (a huge row, a slow disk region, a stuck backend)
//! holds up only itself: the other workers go on committing the others.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use collab_crdt::sync::ServerSeq;
use collab_crdt::{Doc, Op};

use crate::metrics::Metrics;
use crate::store::{LoggedOp, NewOps, Store, StoreError, StoredSnapshot};

/// The most jobs one transaction takes; more wait for the next.
const MAX_GROUP: usize = 4096;

/// How a room hears what became of the batches it queued.
pub trait CommitSink: Send + Sync {
    /// Everything up to `upto` is stored.
    fn committed(&self, upto: ServerSeq);
    /// A batch could not be stored (`unavailable`: the store could not
    /// be reached); nothing after it will be.
    fn failed(&self, why: &'static str, unavailable: bool);
    /// A shared store numbered and stored a batch: its operations as
    /// logged (some may have had their number already).
    fn sequenced(self: Arc<Self>, logged: Vec<LoggedOp>);
    /// After a failure: later batches of this document are not written.
    fn is_broken(&self) -> bool;
}

pub enum Job {
    /// A room's accepted batch: stored, then `CommitSink::committed`.
    Append {
        doc_id: Arc<str>,
        ops: Vec<LoggedOp>,
        sink: Arc<dyn CommitSink>,
    },
    /// A batch for a shared store, which numbers it: stored, then
    /// `CommitSink::sequenced`.
    Sequence {
        doc_id: Arc<str>,
        origin: u64,
        ops: Vec<Op>,
        sink: Arc<dyn CommitSink>,
    },
    /// A snapshot at a `server_seq` whose appends were queued before it.
    Snapshot {
        doc_id: Arc<str>,
        snapshot: PendingSnapshot,
        sink: Arc<dyn CommitSink>,
    },
}

/// A snapshot to write: already encoded, or a copy of the document to
/// encode here, off the room's lock and off the runtime (encoding and
/// compressing a large document takes far longer than copying it).
pub enum PendingSnapshot {
    Encoded(StoredSnapshot),
    Doc { at: ServerSeq, doc: Box<Doc> },
}

impl PendingSnapshot {
    pub fn encode(self) -> StoredSnapshot {
        match self {
            PendingSnapshot::Encoded(s) => s,
            PendingSnapshot::Doc { at, doc } => StoredSnapshot {
                server_seq: at,
                data: doc.encode().into(),
            },
        }
    }
}

impl Job {
    fn doc_id(&self) -> &Arc<str> {
        match self {
            Job::Append { doc_id, .. }
            | Job::Sequence { doc_id, .. }
            | Job::Snapshot { doc_id, .. } => doc_id,
        }
    }
}

struct State {
    jobs: VecDeque<Job>,
    /// Documents whose jobs a worker is writing now.
    busy: HashSet<Arc<str>>,
    stopping: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when jobs arrive and when a group is done.
    changed: Condvar,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

/// The queue into the commit workers; cheap to clone.
#[derive(Clone)]
pub struct CommitQueue(Arc<Shared>);

impl CommitQueue {
    /// Starts `workers` commit threads over `store`. They end when
    /// [`CommitQueue::stop`] is called and the queue is empty.
    pub fn start(store: Arc<dyn Store>, workers: usize, metrics: Arc<Metrics>) -> CommitQueue {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                busy: HashSet::new(),
                stopping: false,
            }),
            changed: Condvar::new(),
            store,
            metrics,
        });
        for n in 0..workers.max(1) {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("collab-commit-{n}"))
                .spawn(move || run(&shared))
                .expect("spawning a commit thread");
        }
        CommitQueue(shared)
    }

    /// Queues a job; false when the workers are stopping.
    pub fn send(&self, job: Job) -> bool {
        let mut state = self.0.lock();
        if state.stopping {
            return false;
        }
        state.jobs.push_back(job);
        drop(state);
        self.0.changed.notify_one();
        true
    }

    /// Waits (on a blocking thread) until every job queued so far is done.
    pub async fn flush(&self) {
        let shared = self.0.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut state = shared.lock();
            while !state.jobs.is_empty() || !state.busy.is_empty() {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
            }
        })
        .await;
    }

    /// Lets the workers end once the queue is empty; later jobs are refused.
    pub fn stop(&self) {
        self.0.lock().stopping = true;
        self.0.changed.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned state is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the next group: in queue order, every job whose document no
    /// other worker is writing and whose earlier jobs are all taken too.
    /// `None` once stopping with nothing left.
    fn take(&self) -> Option<Vec<Job>> {
        let mut state = self.lock();
        loop {
            let mut skipped: HashSet<Arc<str>> = HashSet::new();
            let mut group = Vec::new();
            let mut rest = VecDeque::with_capacity(state.jobs.len());
            while let Some(job) = state.jobs.pop_front() {
                let doc = job.doc_id();
                if group.len() < MAX_GROUP && !state.busy.contains(doc) && !skipped.contains(doc) {
                    group.push(job);
                } else {
                    skipped.insert(doc.clone());
                    rest.push_back(job);
                }
            }
            state.jobs = rest;
            if !group.is_empty() {
                for job in &group {
                    state.busy.insert(job.doc_id().clone());
                }
                return Some(group);
            }
            if state.stopping && state.jobs.is_empty() && state.busy.is_empty() {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn done(&self, docs: &[Arc<str>]) {
        let mut state = self.lock();
        for doc in docs {
            state.busy.remove(doc);
        }
        drop(state);
        self.changed.notify_all();
    }
}

fn run(shared: &Shared) {
    while let Some(group) = shared.take() {
        let docs: Vec<Arc<str>> = group.iter().map(|job| job.doc_id().clone()).collect();
        write_group(shared, group);
        shared.done(&docs);
    }
    // Wake the other workers so that they see the end too.
    shared.changed.notify_all();
}

/// Writes one group's appends in one transaction (falling back to one
/// transaction per document if the group fails, so that one document's
/// failure does not fail the others), then its snapshots.
fn write_group(shared: &Shared, group: Vec<Job>) {
    let store = &*shared.store;
    let mut sequenced = sequence_group(shared, &group);
    let failed_docs: HashSet<String> = {
        let appends: Vec<(&str, &[LoggedOp])> = group
            .iter()
            .filter_map(|job| match job {
                // A broken room's later batches follow a failed one: they
                // cannot be stored and must not be.
                Job::Append { doc_id, ops, sink } if !sink.is_broken() => {
                    Some((&**doc_id, ops.as_slice()))
                }
                _ => None,
            })
            .collect();
        let started = Instant::now();
        let result = if appends.is_empty() {
            Ok(())
        } else {
            store.append_many(&appends)
        };
        shared
            .metrics
            .commit(started.elapsed(), appends.len(), result.is_ok());
        match &result {
            Ok(()) => HashSet::new(),
            Err(e) => {
                tracing::error!(error = %e, batches = appends.len(), "group commit failed; retrying each document alone");
                retry_alone(store, &appends)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            }
        }
    };
    for job in group {
        match job {
            Job::Append { doc_id, ops, sink } => {
                if sink.is_broken() {
                    continue;
                }
                if failed_docs.contains(&*doc_id) {
                    sink.failed("the document's store failed", false);
                } else if let Some(last) = ops.last() {
                    sink.committed(last.server_seq);
                }
            }
            Job::Sequence { sink, .. } => match sequenced.pop_front() {
                Some(Ok(logged)) => sink.sequenced(logged),
                Some(Err(unavailable)) => sink.failed(
                    if unavailable {
                        "the database cannot be reached; reconnect later"
                    } else {
                        "the document's store failed"
                    },
                    unavailable,
                ),
                None => {}
            },
            Job::Snapshot {
                doc_id,
                snapshot,
                sink,
            } => {
                if sink.is_broken() {
                    continue;
                }
                let started = Instant::now();
                let snapshot = snapshot.encode();
                let bytes = snapshot.data.len();
                match store.write_snapshot(&doc_id, snapshot) {
                    Ok(()) => shared.metrics.snapshot(started.elapsed(), bytes),
                    // The log still holds everything: a lost snapshot only
                    // makes the next load slower.
                    Err(e) => {
                        tracing::warn!(doc_id = &*doc_id, error = %e, "snapshot not written")
                    }
                }
            }
        }
    }
}

/// What became of each `Sequence` job of a group, in order: its operations
/// as logged, or whether the failure was the store being unreachable.
type Sequenced = VecDeque<Result<Vec<LoggedOp>, bool>>;

/// Numbers and stores a group's batches for a shared store in one
/// transaction, falling back to one transaction per document if it fails
/// (numbering is idempotent: a batch that did commit before a failure is
/// recognised, not numbered again).
fn sequence_group(shared: &Shared, group: &[Job]) -> Sequenced {
    let store = &*shared.store;
    let mut results: Sequenced = VecDeque::new();
    let batches: Vec<Option<NewOps<'_>>> = group
        .iter()
        .filter_map(|job| match job {
            Job::Sequence {
                doc_id,
                origin,
                ops,
                sink,
            } => Some((!sink.is_broken()).then_some(NewOps {
                doc_id,
                origin: *origin,
                ops,
            })),
            _ => None,
        })
        .collect();
    let live: Vec<NewOps<'_>> = batches.iter().flatten().copied().collect();
    if live.is_empty() {
        return batches.iter().map(|_| Err(false)).collect();
    }
    let started = Instant::now();
    let result = store.sequence(&live);
    shared
        .metrics
        .commit(started.elapsed(), live.len(), result.is_ok());
    let mut logged: VecDeque<Result<Vec<LoggedOp>, bool>> = match result {
        Ok(all) => all.into_iter().map(Ok).collect(),
        // Unreachable: each document alone would wait out the same
        // deadline again. Every batch fails; clients come back later.
        Err(StoreError::Unavailable(e)) => {
            tracing::error!(error = %e, batches = live.len(), "database unreachable; batches refused");
            live.iter().map(|_| Err(true)).collect()
        }
        Err(e) => {
            tracing::error!(error = %e, batches = live.len(), "group numbering failed; retrying each document alone");
            let mut alone = HashMap::new();
            for batch in &live {
                if alone.contains_key(batch.doc_id) {
                    continue;
                }
                let same: Vec<NewOps<'_>> = live
                    .iter()
                    .filter(|b| b.doc_id == batch.doc_id)
                    .copied()
                    .collect();
                let outcome = store.sequence(&same).map_err(|e| {
                    tracing::error!(doc_id = batch.doc_id, error = %e, "numbering failed");
                    matches!(e, StoreError::Unavailable(_))
                });
                alone.insert(batch.doc_id, outcome.map(VecDeque::from));
            }
            live.iter()
                .map(|b| match alone.get_mut(b.doc_id) {
                    Some(Ok(batches)) => batches.pop_front().ok_or(false),
                    Some(Err(unavailable)) => Err(*unavailable),
                    None => Err(false),
                })
                .collect()
        }
    };
    for batch in &batches {
        // A broken room's batch is reported as failed; the room ignores it.
        results.push_back(match batch {
            Some(_) => logged.pop_front().unwrap_or(Err(false)),
            None => Err(false),
        });
    }
    results
}

/// After a failed group: each document's batches in a transaction of their
/// own. Returns the documents that still failed.
fn retry_alone<'a>(store: &dyn Store, appends: &[(&'a str, &[LoggedOp])]) -> HashSet<&'a str> {
    let mut failed = HashSet::new();
    let mut tried = HashSet::new();
    for &(doc, _) in appends {
        if !tried.insert(doc) {
            continue;
        }
        let batches: Vec<(&str, &[LoggedOp])> =
            appends.iter().filter(|(d, _)| *d == doc).copied().collect();
        if let Err(e) = store.append_many(&batches) {
            tracing::error!(doc_id = doc, error = %e, "append failed");
            failed.insert(doc);
        }
    }
    failed
}

/// Why a store call made off the runtime failed.
pub fn blocking_error(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!("store call did not complete: {e}"))
}
