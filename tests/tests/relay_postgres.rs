//! Several relays in one process over one PostgreSQL database
//! (`docs/scale-out.md`): clients on different relays see each other's
//! edits, echoed in one `server_seq` order, and an operation sent through
//! two relays is numbered once; a relay cut off from the database refuses
//! edits with `overloaded` and takes them once it is back. Needs `COLLAB_TEST_POSTGRES` (see
//! `collab_testkit::postgres`); skips without it, except in CI.

use std::time::Duration;

use collab_crdt::sync::{Resync, ServerSeq, close};
use collab_relay::client::ClientError;
use collab_relay::store::StoreError;
use collab_relay::store::{LoggedOp, NewOps, Notice, Since, StoredDoc, StoredSnapshot};
use collab_relay::{Config, PostgresStore, Relay, Store};
use collab_testkit::postgres::Partition;
use collab_tests::*;

/// A relay on the PostgreSQL database `url`.
async fn pg_relay(url: &str) -> Relay {
    let mut config = Config::for_tests();
    config.store = url.to_owned();
    let store = config.open_store().expect("store opens");
    Relay::start(config, store).await.expect("relay starts")
}

/// The database's own view of a document's log, read through a store of
/// the test's own (on a blocking thread: the store blocks).
async fn log_keys(url: &str, doc: &str) -> Vec<(u64, u64, u64)> {
    let (url, doc) = (url.to_owned(), doc.to_owned());
    tokio::task::spawn_blocking(move || {
        let store = PostgresStore::open(&url, 10_000).expect("store opens");
        store.log_keys(&doc).expect("log reads")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_two_relays_see_each_others_edits_in_one_order() {
    let Some(url) = collab_testkit::postgres::fresh_database("two_relays", "two_relays") else {
        return;
    };
    let one = pg_relay(&url).await;
    let two = pg_relay(&url).await;
    let mut a = client(&one, "doc", 1).await;
    let mut b = client(&two, "doc", 2).await;
    for i in 0..20 {
        a.insert(0, &format!("a{i} ")).await.unwrap();
        b.insert(0, &format!("b{i} ")).await.unwrap();
    }
    a.wait_acked().await.unwrap();
    b.wait_acked().await.unwrap();
    // Each session refuses an echo that does not follow the last one, so
    // reaching the head means every echo came in order, without a gap.
    let head = ServerSeq(40);
    a.sync_to(head).await.unwrap();
    b.sync_to(head).await.unwrap();
    assert_eq!(a.text(), b.text(), "both relays' clients converged");
    for i in 0..20 {
        assert!(a.text().contains(&format!("a{i} ")) && a.text().contains(&format!("b{i} ")));
    }
    let keys = log_keys(&url, "doc").await;
    let seqs: Vec<u64> = keys.iter().map(|k| k.0).collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>(), "one gap-free numbering");
    // A newcomer on either relay gets the same document.
    let mut c = client(&two, "doc", 3).await;
    c.sync_to(head).await.unwrap();
    assert_eq!(c.text(), a.text());
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_sent_through_two_relays_is_numbered_once() {
    let Some(url) = collab_testkit::postgres::fresh_database("resend", "resend") else {
        return;
    };
    let one = pg_relay(&url).await;
    let two = pg_relay(&url).await;
    // A watcher on the second relay keeps its room loaded throughout.
    let mut watcher = client(&two, "doc", 9).await;
    let mut a = client(&one, "doc", 1).await;
    a.insert(0, "first").await.unwrap();
    a.insert(5, " second").await.unwrap();
    // The connection drops before any echo can be read; the client comes
    // back through the other relay and resends what it holds.
    a.flush().await.unwrap();
    a.disconnect();
    let mut again = a;
    again.set_url(ws_url(&two));
    again.connect().await.unwrap();
    again.wait_acked().await.unwrap();
    let head = ServerSeq(2);
    again.sync_to(head).await.unwrap();
    watcher.sync_to(head).await.unwrap();
    assert_eq!(again.text(), "first second");
    assert_eq!(watcher.text(), "first second");
    // Let the first relay's commit land too, whenever it does.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = log_keys(&url, "doc").await;
    assert_eq!(keys.len(), 2, "each operation logged once: {keys:?}");
    assert_eq!(keys[0].0, 1);
    assert_eq!(keys[1].0, 2);
    let mut ids: Vec<(u64, u64)> = keys.iter().map(|k| (k.1, k.2)).collect();
    ids.dedup();
    assert_eq!(ids.len(), 2);
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_cut_off_from_the_database_refuses_edits_until_it_is_back() {
    let Some(url) = collab_testkit::postgres::fresh_database("partition", "partition") else {
        return;
    };
    let Some((partition, proxied)) = Partition::start(&url).await else {
        eprintln!("partition: skipped: COLLAB_TEST_POSTGRES is not a postgres:// URL");
        return;
    };
    let relay = pg_relay(&proxied).await;
    let mut a = client(&relay, "doc", 1).await;
    a.insert(0, "before").await.unwrap();
    a.wait_acked().await.unwrap();

    partition.cut();
    a.insert(0, "during ").await.unwrap();
    let overloaded = |r: Result<(), ClientError>| match r {
        Err(ClientError::Server(e)) => e.code == "overloaded",
        Err(ClientError::Closed(code)) => code == Some(close::TRY_AGAIN_LATER),
        _ => false,
    };
    let refused = a.wait_acked().await;
    assert!(
        refused.is_err(),
        "nothing is acknowledged without the database"
    );
    assert!(overloaded(refused), "the edit is refused with overloaded");
    let (status, body) = http_get(relay.addr(), "/health").await;
    assert_eq!(status, 503, "a load balancer takes the node out: {body}");
    assert!(body.contains(r#""status":"store_unreachable""#), "{body}");
    a.disconnect();
    assert!(
        overloaded(a.connect().await),
        "a hello is refused with overloaded while the database is unreachable"
    );
    a.disconnect();

    partition.heal();
    a.connect().await.unwrap();
    a.wait_acked().await.unwrap();
    a.sync_to(ServerSeq(2)).await.unwrap();
    assert_eq!(
        a.text(),
        "during before",
        "the client kept its edit and delivered it"
    );
    let keys = log_keys(&url, "doc").await;
    assert_eq!(keys.iter().map(|k| k.0).collect::<Vec<_>>(), [1, 2]);
    // Back in the balancer once its listener is up again too.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http_get(relay.addr(), "/health").await;
        if status == 200 {
            assert!(body.contains(r#""status":"ok""#), "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/health still {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.shutdown().await;
}

/// A client that moves to another relay right after its edits were
/// echoed replays there, never gets a snapshot: the other relay has either
/// heard of the edits already or reads the log before taking the client
/// (this test does not force which).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_moving_between_relays_replays_on_each() {
    let Some(url) = collab_testkit::postgres::fresh_database("move", "move") else {
        return;
    };
    let one = pg_relay(&url).await;
    let two = pg_relay(&url).await;
    // The second relay has the document loaded throughout.
    let mut watcher = client(&two, "doc", 9).await;
    let mut a = client(&one, "doc", 1).await;
    for round in 0..5 {
        for i in 0..10 {
            a.insert(0, &format!("{round}.{i} ")).await.unwrap();
        }
        a.wait_acked().await.unwrap();
        let head = a.session().last_seen_server_seq();
        // Straight over to the other relay, which may not have heard of
        // these edits yet: it reads the log before taking the client.
        a.disconnect();
        a.set_url(ws_url(&two));
        a.connect().await.unwrap();
        assert_eq!(
            a.resyncs.last(),
            Some(&Resync::Replay),
            "round {round}: replayed, not sent a snapshot"
        );
        assert!(a.session().last_seen_server_seq() >= head);
        a.disconnect();
        a.set_url(ws_url(&one));
        a.connect().await.unwrap();
    }
    let head = ServerSeq(50);
    a.sync_to(head).await.unwrap();
    watcher.sync_to(head).await.unwrap();
    assert_eq!(a.text(), watcher.text());
    one.shutdown().await;
    two.shutdown().await;
}

/// A PostgreSQL store that never tells its relay of other relays' commits:
/// no notices, and the heads poll finds nothing new. A relay on it learns
/// of them only when a room loads, finds a gap, or a `hello` says the
/// client has seen more than the room.
struct Deaf {
    inner: PostgresStore,
    /// Kept so the receivers it hands out stay open and silent.
    silence: tokio::sync::broadcast::Sender<Notice>,
}

impl Store for Deaf {
    fn load(&self, doc_id: &str) -> Result<Option<StoredDoc>, StoreError> {
        self.inner.load(doc_id)
    }
    fn create(&self, doc_id: &str) -> Result<StoredDoc, StoreError> {
        self.inner.create(doc_id)
    }
    fn append(&self, doc_id: &str, ops: &[LoggedOp]) -> Result<(), StoreError> {
        self.inner.append(doc_id, ops)
    }
    fn durable(&self) -> bool {
        self.inner.durable()
    }
    fn shared(&self) -> bool {
        true
    }
    fn sequence(&self, batches: &[NewOps<'_>]) -> Result<Vec<Vec<LoggedOp>>, StoreError> {
        self.inner.sequence(batches)
    }
    fn heads(&self, _doc_ids: &[&str]) -> Result<Vec<(String, ServerSeq)>, StoreError> {
        Ok(Vec::new())
    }
    fn notices(&self) -> Option<tokio::sync::broadcast::Receiver<Notice>> {
        Some(self.silence.subscribe())
    }
    fn read_since(&self, doc_id: &str, after: ServerSeq, max: usize) -> Result<Since, StoreError> {
        self.inner.read_since(doc_id, after, max)
    }
    fn log_start(&self, doc_id: &str) -> Result<ServerSeq, StoreError> {
        self.inner.log_start(doc_id)
    }
    fn close(&self) -> Result<(), StoreError> {
        self.inner.close()
    }
    fn write_snapshot(&self, doc_id: &str, snapshot: StoredSnapshot) -> Result<(), StoreError> {
        self.inner.write_snapshot(doc_id, snapshot)
    }
}

/// A relay on the PostgreSQL database `url` through a [`Deaf`] store.
async fn deaf_relay(url: &str) -> Relay {
    let store_url = url.to_owned();
    let inner = tokio::task::spawn_blocking(move || PostgresStore::open(&store_url, 10_000))
        .await
        .unwrap()
        .expect("store opens");
    let store = Deaf {
        inner,
        silence: tokio::sync::broadcast::channel(1).0,
    };
    let mut config = Config::for_tests();
    config.store = url.to_owned();
    Relay::start(config, std::sync::Arc::new(store))
        .await
        .expect("relay starts")
}

/// The relay a client moves to has its room loaded but has heard nothing
/// of the edits the client saw on the first relay: it reads the log before
/// its `hello_ack`, so the client replays from where it was, and the
/// relay's other clients get those edits too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_ahead_of_a_deaf_relays_room_makes_it_read_the_log_first() {
    let Some(url) = collab_testkit::postgres::fresh_database("deaf", "deaf") else {
        return;
    };
    let one = pg_relay(&url).await;
    let deaf = deaf_relay(&url).await;
    let mut watcher = client(&deaf, "doc", 9).await;
    let mut a = client(&one, "doc", 1).await;
    for i in 0..10 {
        a.insert(0, &format!("{i} ")).await.unwrap();
    }
    a.wait_acked().await.unwrap();
    let head = a.session().last_seen_server_seq();
    assert_eq!(head, ServerSeq(10));
    // Nothing reaches the deaf relay's room on its own.
    assert_eq!(
        deaf.rooms().loaded_room("doc").unwrap().durable_head(),
        ServerSeq(0)
    );
    a.disconnect();
    a.set_url(ws_url(&deaf));
    a.connect().await.unwrap();
    assert_eq!(a.resyncs.last(), Some(&Resync::Replay));
    assert_eq!(a.session().last_seen_server_seq(), head);
    watcher.sync_to(head).await.unwrap();
    assert_eq!(watcher.text(), a.text());
    // And the client goes on editing on the deaf relay.
    a.insert(0, "!").await.unwrap();
    a.wait_acked().await.unwrap();
    watcher.sync_to(ServerSeq(11)).await.unwrap();
    assert_eq!(watcher.text(), a.text());
    one.shutdown().await;
    deaf.shutdown().await;
}

/// The first `server_seq` echoed on `socket` at or past `at`, and its op.
async fn echo_at(socket: &mut collab_relay::client::Socket, at: u64) -> collab_crdt::sync::OpEcho {
    loop {
        match next(socket).await {
            Received::Msg(collab_crdt::sync::ServerMessage::OpEcho(e)) if e.server_seq.0 >= at => {
                return e;
            }
            Received::Msg(_) => {}
            other => panic!("expected an echo at {at}, got {other:?}"),
        }
    }
}

/// A client whose edits were logged through one relay resends them to
/// another joined into one operation with what followed them (a client
/// rebuilds its outbox from its document): the other relay logs only the
/// new units, echoes them, and every replica ends with all of the text,
/// whether that relay had already met the first edit (`deaf` false) or
/// not (it then learns of it from the database's numbering).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_joined_with_later_edits_is_logged_in_part_not_lost() {
    let Some(url) = collab_testkit::postgres::fresh_database("joined", "joined") else {
        return;
    };
    let insert = |text: &str| {
        format!(
            r#"{{"type":"op","ops":[{{"kind":"insert","replica_id":7,"seq":0,"lamport":1,"parent_id":null,"text":"{text}"}}]}}"#
        )
    };
    for deaf in [false, true] {
        let doc = format!("doc-{deaf}");
        let one = pg_relay(&url).await;
        let two = if deaf {
            deaf_relay(&url).await
        } else {
            pg_relay(&url).await
        };
        // The second relay has the document loaded throughout.
        let mut watcher = client(&two, &doc, 9).await;
        let mut first = raw(&one).await;
        send(&mut first, hello(&doc, 7)).await;
        send(&mut first, insert("abc")).await;
        assert_eq!(echo_at(&mut first, 1).await.server_seq, ServerSeq(1));
        drop(first);
        let mut again = raw(&two).await;
        send(&mut again, hello(&doc, 7)).await;
        send(&mut again, insert("abcdef")).await;
        let echo = echo_at(&mut again, 2).await;
        assert_eq!(echo.server_seq, ServerSeq(2), "deaf {deaf}");
        assert_eq!(
            (echo.op.seq(), echo.op.len()),
            (3, 3),
            "deaf {deaf}: only the new units"
        );
        watcher.sync_to(ServerSeq(2)).await.unwrap();
        assert_eq!(watcher.text(), "abcdef", "deaf {deaf}");
        let keys = log_keys(&url, &doc).await;
        assert_eq!(keys.len(), 2, "deaf {deaf}: {keys:?}");
        let mut fresh = client(&one, &doc, 11).await;
        fresh.sync_to(ServerSeq(2)).await.unwrap();
        assert_eq!(fresh.text(), "abcdef", "deaf {deaf}");
        one.shutdown().await;
        two.shutdown().await;
    }
}
