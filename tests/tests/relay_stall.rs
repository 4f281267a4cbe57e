//! End-to-end: a store that stalls on one document (a load that never
//! returns, an append stuck on a slow disk) holds up that document only:
//! other documents' `hello`, their echoes and `/health` go on answering.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use collab_crdt::sync::{ServerMessage, ServerSeq};
use collab_relay::store::{LoggedOp, Since, StoreError, StoredDoc, StoredSnapshot};
use collab_relay::{Config, MemoryStore, Relay, Store};
use collab_tests::*;
use tokio::sync::Notify;

/// What "keeps answering" means here. A frozen relay does not answer for
/// as long as the stall lasts (the test holds it for the whole test); the
/// bound leaves room for a loaded CI machine.
const ANSWERS_WITHIN: Duration = Duration::from_millis(500);

/// A gate a store call waits at until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    changed: Condvar,
    /// Woken when a call starts waiting at the gate.
    reached: Notify,
}

impl Gate {
    fn pass(&self) {
        let mut open = self.open.lock().unwrap();
        if !*open {
            self.reached.notify_one();
        }
        while !*open {
            open = self.changed.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.changed.notify_all();
    }
}

/// The memory store, claiming to be durable (so appends go through the
/// commit threads), whose calls for the document `stuck` wait at gates.
#[derive(Default)]
struct Stalling {
    inner: MemoryStore,
    load_gate: Gate,
    append_gate: Gate,
    loads_of_stuck: AtomicUsize,
}

impl Store for Stalling {
    fn load(&self, doc_id: &str) -> Result<Option<StoredDoc>, StoreError> {
        if doc_id == "stuck" {
            self.loads_of_stuck.fetch_add(1, Ordering::SeqCst);
            self.load_gate.pass();
        }
        self.inner.load(doc_id)
    }
    fn create(&self, doc_id: &str) -> Result<StoredDoc, StoreError> {
        self.inner.create(doc_id)
    }
    fn append(&self, doc_id: &str, ops: &[LoggedOp]) -> Result<(), StoreError> {
        self.append_many(&[(doc_id, ops)])
    }
    fn append_many(&self, batches: &[(&str, &[LoggedOp])]) -> Result<(), StoreError> {
        if batches.iter().any(|(doc, _)| *doc == "stuck") {
            self.append_gate.pass();
        }
        for (doc, ops) in batches {
            self.inner.append(doc, ops)?;
        }
        Ok(())
    }
    fn durable(&self) -> bool {
        true
    }
    fn read_since(&self, doc_id: &str, after: ServerSeq, max: usize) -> Result<Since, StoreError> {
        self.inner.read_since(doc_id, after, max)
    }
    fn write_snapshot(&self, doc_id: &str, snapshot: StoredSnapshot) -> Result<(), StoreError> {
        self.inner.write_snapshot(doc_id, snapshot)
    }
}

async fn start(store: Arc<Stalling>) -> Relay {
    Relay::start(Config::for_tests(), store)
        .await
        .expect("relay starts")
}

/// Runs `f` and asserts it finished within [`ANSWERS_WITHIN`].
async fn answers<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = tokio::time::timeout(ANSWERS_WITHIN * 20, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer at all"));
    let took = started.elapsed();
    assert!(took < ANSWERS_WITHIN, "{what} took {took:?}");
    out
}

/// Everything another document and the HTTP side need keeps working.
async fn others_keep_answering(relay: &Relay, b: &mut collab_relay::client::Client, round: u64) {
    answers("an edit's echo on another document", async {
        b.insert(0, "b").await.unwrap();
        b.wait_acked().await.unwrap();
    })
    .await;
    let doc = format!("fresh-{round}");
    answers(
        "hello_ack on a new document",
        client(relay, &doc, 50 + round),
    )
    .await;
    let (status, body) = answers("/health", http_get(relay.addr(), "/health")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_load_holds_up_only_its_own_document() {
    let store = Arc::new(Stalling::default());
    store.append_gate.open();
    let relay = start(store.clone()).await;
    let mut b = client(&relay, "b", 2).await;

    // Two first clients of `stuck`: the load stalls.
    let url = ws_url(&relay);
    let reached = store.load_gate.reached.notified();
    let first = tokio::spawn({
        let url = url.clone();
        async move {
            let mut c = collab_relay::client::Client::new(url, "stuck", 10);
            c.connect().await.map(|_| c)
        }
    });
    reached.await;
    let second = tokio::spawn(async move {
        let mut c = collab_relay::client::Client::new(url, "stuck", 11);
        c.connect().await.map(|_| c)
    });
    for round in 0..3 {
        others_keep_answering(&relay, &mut b, round).await;
    }
    assert!(!first.is_finished() && !second.is_finished(), "stuck waits");

    store.load_gate.open();
    let mut first = first.await.unwrap().expect("first client joins");
    let mut second = second.await.unwrap().expect("second client joins");
    assert_eq!(
        store.loads_of_stuck.load(Ordering::SeqCst),
        1,
        "two first clients share one load"
    );
    first.insert(0, "one room").await.unwrap();
    first.wait_acked().await.unwrap();
    second.sync_to(ServerSeq(1)).await.unwrap();
    assert_eq!(second.text(), "one room");
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_commit_holds_up_only_its_own_document() {
    let store = Arc::new(Stalling::default());
    store.load_gate.open();
    let relay = start(store.clone()).await;
    let mut b = client(&relay, "b", 2).await;
    let mut stuck = client(&relay, "stuck", 3).await;
    let mut watcher = raw(&relay).await;
    send(&mut watcher, hello("stuck", 4)).await;
    assert!(matches!(
        next(&mut watcher).await,
        Received::Msg(ServerMessage::HelloAck(_))
    ));

    let reached = store.append_gate.reached.notified();
    stuck.insert(0, "slow disk").await.unwrap();
    reached.await;
    for round in 0..3 {
        others_keep_answering(&relay, &mut b, round).await;
    }
    // Nothing of `stuck` was echoed while its commit was stuck.
    assert!(silent_for(&mut watcher, Duration::from_millis(50)).await);

    store.append_gate.open();
    stuck.wait_acked().await.unwrap();
    match next(&mut watcher).await {
        Received::Msg(ServerMessage::OpEcho(echo)) => assert_eq!(echo.server_seq, ServerSeq(1)),
        other => panic!("expected the echo once stored, got {other:?}"),
    }
    relay.shutdown().await;
}
