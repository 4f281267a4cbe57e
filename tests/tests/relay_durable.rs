//! End-to-end on the SQLite store: documents survive restarts, `server_seq`
//! continues without gap or reuse, and clients replay or resync as the
//! protocol says; a full disk never costs an acknowledged edit.

use collab_crdt::sync::{Resync, ServerSeq, close};
use collab_relay::SqliteStore;
use collab_relay::client::ClientError;
use collab_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_relay_continues_every_document() {
    let dir = TempDir::new("restart");
    let relay = durable_relay(&dir.0, |_| {}).await;
    let mut a = client(&relay, "doc", 1).await;
    let mut b = client(&relay, "doc", 2).await;
    a.insert(0, "héllo 🙂").await.unwrap();
    b.insert(0, ">> ").await.unwrap();
    a.wait_acked().await.unwrap();
    b.wait_acked().await.unwrap();
    let head = relay.rooms().loaded_room("doc").unwrap().durable_head();
    a.sync_to(head).await.unwrap();
    b.sync_to(head).await.unwrap();
    let epoch = a.session().epoch().unwrap().to_owned();
    let addr = relay.addr();
    relay.shutdown().await;
    a.disconnect();
    b.disconnect();
    // Both edit while the relay is down.
    a.insert(0, "[a]").await.unwrap();
    b.insert(b.text().chars().count(), "[b]").await.unwrap();

    let relay = durable_relay(&dir.0, |c| c.addr = addr).await;
    a.connect().await.unwrap();
    b.connect().await.unwrap();
    assert_eq!(
        a.resyncs.last(),
        Some(&Resync::Replay),
        "same epoch: replay"
    );
    assert_eq!(a.session().epoch(), Some(epoch.as_str()));
    a.wait_acked().await.unwrap();
    b.wait_acked().await.unwrap();
    let room = relay.rooms().loaded_room("doc").unwrap();
    let head = room.durable_head();
    assert_eq!(head, ServerSeq(4), "numbering continued after the restart");
    a.sync_to(head).await.unwrap();
    b.sync_to(head).await.unwrap();
    assert_eq!(a.text(), room.text());
    assert_eq!(b.text(), room.text());
    assert!(room.text().contains("héllo 🙂") && room.text().contains("[a]"));

    // A fresh client replays the whole log from 1: no gap, no reuse.
    let mut c = client(&relay, "doc", 3).await;
    c.sync_to(head).await.unwrap();
    assert_eq!(c.text(), room.text());
    relay.shutdown().await;
    // A clean stop folds the write-ahead log into the database file.
    let wal = dir.0.join("collab.sqlite3-wal");
    assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_older_than_the_retained_log_gets_a_snapshot_after_restart() {
    let dir = TempDir::new("retention");
    let tweak = |c: &mut collab_relay::Config| {
        c.retain_ops = 5;
        c.snapshot_every_ops = 10;
    };
    let relay = durable_relay(&dir.0, tweak).await;
    let addr = relay.addr();
    let mut a = client(&relay, "doc", 1).await;
    let mut b = client(&relay, "doc", 2).await;
    a.insert(0, "ab").await.unwrap();
    a.wait_acked().await.unwrap();
    b.sync_to(ServerSeq(1)).await.unwrap();
    b.disconnect();
    b.insert(2, "B").await.unwrap(); // offline edit
    for i in 0..30 {
        a.insert(i, "x").await.unwrap();
        a.wait_acked().await.unwrap();
    }
    relay.shutdown().await;
    a.disconnect();

    let relay = durable_relay(&dir.0, |c| {
        tweak(c);
        c.addr = addr;
    })
    .await;
    b.connect().await.unwrap();
    assert_eq!(b.resyncs, [Resync::Replay, Resync::Snapshot]);
    b.wait_acked().await.unwrap();
    a.connect().await.unwrap();
    let room = relay.rooms().loaded_room("doc").unwrap();
    let head = room.durable_head();
    assert_eq!(head, ServerSeq(32));
    a.sync_to(head).await.unwrap();
    b.sync_to(head).await.unwrap();
    assert_eq!(b.text(), room.text());
    assert_eq!(a.text(), room.text());
    assert!(room.text().ends_with("abB"), "{}", room.text());
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_closes_with_1011_and_loses_nothing_acknowledged() {
    let dir = TempDir::new("full");
    let relay = durable_relay(&dir.0, |_| {}).await;
    let mut a = client(&relay, "doc", 1).await;
    a.insert(0, "kept").await.unwrap();
    a.wait_acked().await.unwrap();
    let addr = relay.addr();
    relay.shutdown().await;

    // The same database, capped a few pages above its current size.
    let store = SqliteStore::open(&dir.0, 10_000).unwrap();
    store.set_max_pages(12).unwrap();
    let mut config = collab_relay::Config::for_tests();
    config.addr = addr;
    let relay = collab_relay::Relay::start(config, std::sync::Arc::new(store))
        .await
        .unwrap();
    a.disconnect();
    a.connect().await.unwrap();
    let mut acked = a.session().last_seen_server_seq();
    let chunk = "z".repeat(2000);
    let error = loop {
        a.insert(0, &chunk).await.unwrap();
        match a.wait_acked().await {
            Ok(()) => acked = a.session().last_seen_server_seq(),
            Err(ClientError::Server(e)) => break e,
            Err(e) => panic!("{e}"),
        }
        assert!(acked < ServerSeq(1000), "the cap never filled the disk");
    };
    assert_eq!(error.code, "internal_error");
    assert_eq!(error.close_code, Some(close::INTERNAL_ERROR));
    assert!(
        a.session().unacked() >= 1,
        "the refused edit stays with the client"
    );
    relay.shutdown().await;

    // Without the cap, everything acknowledged is there, and the client's
    // pending edit goes through.
    let relay = durable_relay(&dir.0, |c| c.addr = addr).await;
    let mut reader = client(&relay, "doc", 2).await;
    assert_eq!(reader.session().last_seen_server_seq(), acked);
    a.connect().await.unwrap();
    a.wait_acked().await.unwrap();
    let head = relay.rooms().loaded_room("doc").unwrap().durable_head();
    reader.sync_to(head).await.unwrap();
    assert_eq!(reader.text(), a.text());
    assert!(reader.text().ends_with("kept"));
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_durable_rooms_unload_and_reload() {
    let dir = TempDir::new("unload");
    let relay = durable_relay(&dir.0, |c| c.room_idle_ms = 50).await;
    let mut a = client(&relay, "kept", 1).await;
    for i in 0..20 {
        a.insert(i, "k").await.unwrap();
    }
    a.wait_acked().await.unwrap();
    a.close().await;
    let unloaded = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        relay.rooms().wait_loaded(|n| *n == 0),
    );
    assert!(unloaded.await.is_ok(), "room unloaded after its idle time");
    let b = client(&relay, "kept", 2).await;
    assert_eq!(b.text(), "k".repeat(20));
    assert_eq!(b.session().last_seen_server_seq(), ServerSeq(20));
    relay.shutdown().await;
}

/// Shutdown during a burst on the SQLite store: every operation the log
/// holds reached every client before its close 1001 (the relay stops
/// reading, waits for its commits, then drains every queue).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_burst_delivers_everything_the_log_holds() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let dir = TempDir::new("burst");
    let relay = durable_relay(&dir.0, |_| {}).await;
    let mut writers = Vec::new();
    for replica in 1..=3u64 {
        let mut socket = raw(&relay).await;
        send(&mut socket, hello("doc", replica)).await;
        assert!(matches!(
            next(&mut socket).await,
            Received::Msg(collab_crdt::sync::ServerMessage::HelloAck(_))
        ));
        writers.push((replica, socket));
    }
    // Each writer sends 300 one-character inserts, one per message, as
    // fast as it can, and counts the echoes it receives until the close.
    let (started, mut burst_started) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut tasks = Vec::new();
    for (replica, socket) in writers {
        let started = started.clone();
        tasks.push(tokio::spawn(async move {
            let (mut sink, mut stream) = socket.split();
            let sender = tokio::spawn(async move {
                for seq in 0..300u64 {
                    let op = format!(
                        r#"{{"type":"op","ops":[{{"kind":"insert","replica_id":{replica},"seq":{seq},"lamport":{},"parent_id":null,"text":"x"}}]}}"#,
                        seq * 8 + replica + 1_000
                    );
                    if sink.send(Message::text(op)).await.is_err() {
                        break;
                    }
                }
            });
            let mut last = 0u64;
            let mut close = None;
            while let Some(Ok(frame)) = stream.next().await {
                match frame {
                    Message::Text(text) => {
                        if let Ok(collab_crdt::sync::ServerMessage::OpEcho(e)) =
                            collab_crdt::sync::ServerMessage::from_json(&text)
                        {
                            assert_eq!(e.server_seq.0, last + 1, "echoes in order, no gap");
                            last = e.server_seq.0;
                            let _ = started.send(());
                        }
                    }
                    Message::Close(frame) => {
                        close = collab_relay::client::close_code(&frame);
                        break;
                    }
                    _ => {}
                }
            }
            sender.abort();
            (last, close)
        }));
    }
    // Once the burst is under way, stop the relay in the middle of it.
    burst_started.recv().await;
    relay.shutdown().await;
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap());
    }
    let store = SqliteStore::open(&dir.0, 10_000).unwrap();
    let head = match collab_relay::Store::read_since(&store, "doc", ServerSeq::ZERO, usize::MAX)
        .unwrap()
    {
        collab_relay::store::Since::Ops(ops) => ops.len() as u64,
        collab_relay::store::Since::Truncated => panic!("log kept"),
    };
    assert!(head > 0, "some of the burst was accepted");
    for (last, close) in seen {
        assert_eq!(close, Some(close::GOING_AWAY));
        assert_eq!(
            last, head,
            "every logged operation was delivered before 1001"
        );
    }
}
