//! End-to-end: a failing store never costs an acknowledged edit, and the
//! relay recovers once the store works again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use collab_crdt::sync::{ServerSeq, close};
use collab_relay::client::{Client, ClientError};
use collab_relay::store::{LoggedOp, Since, StoreError, StoredDoc, StoredSnapshot};
use collab_relay::{Config, MemoryStore, Relay, Store};

/// The memory store, with appends that fail while `broken` is set.
#[derive(Default)]
struct Flaky {
    inner: MemoryStore,
    broken: AtomicBool,
}

impl Store for Flaky {
    fn load(&self, doc_id: &str) -> Result<Option<StoredDoc>, StoreError> {
        self.inner.load(doc_id)
    }
    fn create(&self, doc_id: &str) -> Result<StoredDoc, StoreError> {
        self.inner.create(doc_id)
    }
    fn append(&self, doc_id: &str, ops: &[LoggedOp]) -> Result<(), StoreError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("disk full".into()));
        }
        self.inner.append(doc_id, ops)
    }
    fn read_since(&self, doc_id: &str, after: ServerSeq, max: usize) -> Result<Since, StoreError> {
        self.inner.read_since(doc_id, after, max)
    }
    fn write_snapshot(&self, doc_id: &str, snapshot: StoredSnapshot) -> Result<(), StoreError> {
        self.inner.write_snapshot(doc_id, snapshot)
    }
}

#[tokio::test]
async fn a_failed_append_closes_with_1011_and_nothing_acknowledged_is_lost() {
    let store = Arc::new(Flaky::default());
    let relay = Relay::start(Config::for_tests(), store.clone())
        .await
        .unwrap();
    let url = format!("ws://{}/ws", relay.addr());
    let mut a = Client::new(url.clone(), "doc", 1);
    let mut b = Client::new(url.clone(), "doc", 2);
    a.connect().await.unwrap();
    b.connect().await.unwrap();
    a.insert(0, "stored").await.unwrap();
    a.wait_acked().await.unwrap();

    store.broken.store(true, Ordering::SeqCst);
    a.insert(6, " lost?").await.unwrap();
    match a.wait_acked().await {
        Err(ClientError::Server(e)) => {
            assert_eq!(e.code, "internal_error");
            assert_eq!(e.close_code, Some(close::INTERNAL_ERROR));
        }
        other => panic!("expected internal_error, got {other:?}"),
    }
    assert_eq!(a.session().unacked(), 1, "the edit is still the client's");
    // The bystander was closed too and never saw the unstored op.
    loop {
        match b.recv().await {
            Ok(_) => continue,
            Err(ClientError::Server(e)) => {
                assert_eq!(e.code, "internal_error");
                break;
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(b.text(), "stored");
    match store
        .read_since("doc", ServerSeq::ZERO, usize::MAX)
        .unwrap()
    {
        Since::Ops(ops) => assert_eq!(ops.len(), 1),
        Since::Truncated => unreachable!(),
    }

    store.broken.store(false, Ordering::SeqCst);
    a.connect().await.unwrap();
    a.wait_acked().await.unwrap();
    b.connect().await.unwrap();
    b.sync_to(ServerSeq(2)).await.unwrap();
    assert_eq!(a.text(), "stored lost?");
    assert_eq!(b.text(), a.text());
    relay.shutdown().await;
}
