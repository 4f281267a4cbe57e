//! End-to-end: the relay keeps its clients converged through concurrent
//! edits, reconnects, snapshot resyncs and shutdown.

use std::time::Duration;

use collab_crdt::sync::{Resync, ServerMessage, ServerSeq, close};
use collab_relay::client::{Client, ClientError};
use collab_tests::*;

fn expect_ack(received: Received) -> collab_crdt::sync::HelloAck {
    match received {
        Received::Msg(ServerMessage::HelloAck(ack)) => ack,
        other => panic!("expected hello_ack, got {other:?}"),
    }
}

fn expect_echo(received: Received) -> collab_crdt::sync::OpEcho {
    match received {
        Received::Msg(ServerMessage::OpEcho(echo)) => echo,
        other => panic!("expected op_echo, got {other:?}"),
    }
}

#[tokio::test]
async fn handshake_acknowledges_with_the_head() {
    let relay = relay().await;
    let mut socket = raw(&relay).await;
    send(&mut socket, hello("notes", 7)).await;
    let ack = expect_ack(next(&mut socket).await);
    assert_eq!(ack.doc_id, "notes");
    assert_eq!(ack.replica_id, 7);
    assert_eq!(ack.server_seq, ServerSeq(0));
    assert_eq!(ack.resync, Resync::Replay);
    assert!(!ack.epoch.is_empty());
    assert!(silent_for(&mut socket, Duration::from_millis(200)).await);

    let mut writer = client(&relay, "notes", 8).await;
    writer.insert(0, "hi").await.unwrap();
    writer.wait_acked().await.unwrap();
    let mut again = raw(&relay).await;
    send(&mut again, hello("notes", 9)).await;
    let ack = expect_ack(next(&mut again).await);
    assert_eq!(ack.server_seq, ServerSeq(1), "head after one accepted op");
    relay.shutdown().await;
}

#[tokio::test]
async fn every_client_sees_the_same_echo_stream_including_its_own() {
    let relay = relay().await;
    let mut a = raw(&relay).await;
    let mut b = raw(&relay).await;
    send(&mut a, hello("d", 1)).await;
    send(&mut b, hello("d", 2)).await;
    expect_ack(next(&mut a).await);
    expect_ack(next(&mut b).await);
    // Each sends ops of its own; neither waits for the other.
    send(
        &mut a,
        r#"{"type":"op","ops":[{"kind":"insert","replica_id":1,"seq":0,"lamport":1,"parent_id":null,"text":"ab"}]}"#,
    )
    .await;
    send(
        &mut b,
        r#"{"type":"op","ops":[{"kind":"insert","replica_id":2,"seq":0,"lamport":1,"parent_id":null,"text":"xy"},{"kind":"delete","replica_id":2,"seq":2,"lamport":3,"target":{"lamport":1,"replica_id":2},"len":1}]}"#,
    )
    .await;
    let seen_a: Vec<_> = futures(&mut a, 3).await;
    let seen_b: Vec<_> = futures(&mut b, 3).await;
    assert_eq!(seen_a, seen_b);
    let seqs: Vec<u64> = seen_a.iter().map(|e| e.server_seq.0).collect();
    assert_eq!(seqs, [1, 2, 3], "gapless server_seq from 1");
    let origins: Vec<u64> = seen_a.iter().map(|e| e.replica_id).collect();
    assert!(origins.contains(&1) && origins.contains(&2));
    relay.shutdown().await;

    async fn futures(
        socket: &mut collab_relay::client::Socket,
        n: usize,
    ) -> Vec<collab_crdt::sync::OpEcho> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(expect_echo(next(socket).await));
        }
        out
    }
}

#[tokio::test]
async fn concurrent_inserts_at_one_position_converge_everywhere() {
    let relay = relay().await;
    let mut clients = Vec::new();
    for replica in 1..=4u64 {
        clients.push(client(&relay, "race", replica).await);
    }
    // All insert at position 0 of an empty document before any echo.
    for (i, c) in clients.iter_mut().enumerate() {
        c.insert(0, &format!("<{i}>")).await.unwrap();
    }
    for c in clients.iter_mut() {
        c.wait_acked().await.unwrap();
    }
    let room = relay.rooms().loaded_room("race").unwrap();
    let head = room.durable_head();
    assert_eq!(head, ServerSeq(4));
    for c in clients.iter_mut() {
        c.sync_to(head).await.unwrap();
    }
    let expected = room.text();
    assert_eq!(expected.len(), 12);
    for c in &clients {
        assert_eq!(c.text(), expected);
        assert_eq!(
            c.session().doc().encode(),
            clients[0].session().doc().encode()
        );
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn reconnect_replays_exactly_the_missed_ops() {
    let relay = relay().await;
    let mut a = client(&relay, "doc", 1).await;
    let mut b = client(&relay, "doc", 2).await;
    a.insert(0, "base").await.unwrap();
    a.wait_acked().await.unwrap();
    b.sync_to(ServerSeq(1)).await.unwrap();
    let epoch = b.session().epoch().unwrap().to_owned();
    b.disconnect();
    for i in 0..5 {
        a.insert(i, "x").await.unwrap();
    }
    a.wait_acked().await.unwrap();

    // Reconnect by hand to see exactly what comes back.
    let mut socket = raw(&relay).await;
    send(
        &mut socket,
        format!(
            r#"{{"type":"hello","doc_id":"doc","replica_id":2,"last_seen_server_seq":1,"epoch":"{epoch}"}}"#
        ),
    )
    .await;
    let ack = expect_ack(next(&mut socket).await);
    assert_eq!(ack.resync, Resync::Replay);
    assert_eq!(ack.server_seq, ServerSeq(6));
    let seqs: Vec<u64> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(expect_echo(next(&mut socket).await).server_seq.0);
        }
        v
    };
    assert_eq!(seqs, [2, 3, 4, 5, 6]);
    assert!(
        silent_for(&mut socket, Duration::from_millis(200)).await,
        "nothing beyond the missed ops"
    );

    // And the session-driven client converges the same way.
    drop(socket);
    b.connect().await.unwrap();
    assert_eq!(b.text(), a.text());
    relay.shutdown().await;
}

#[tokio::test]
async fn offline_edits_survive_a_snapshot_resync() {
    // A replay limit of 3 makes a client 10 ops behind resync by snapshot.
    let relay = relay_with(|c| c.max_replay_ops = 3).await;
    let mut a = client(&relay, "doc", 1).await;
    let mut b = client(&relay, "doc", 2).await;
    a.insert(0, "0123456789").await.unwrap();
    a.wait_acked().await.unwrap();
    b.sync_to(ServerSeq(1)).await.unwrap();
    b.disconnect();
    for i in 0..10 {
        a.insert(0, &i.to_string()).await.unwrap();
    }
    a.wait_acked().await.unwrap();
    // B edits while offline: these must survive the snapshot.
    b.insert(10, "B!").await.unwrap();
    b.delete(0, 1).await.unwrap();
    assert_eq!(b.session().unacked(), 2);

    b.connect().await.unwrap();
    assert_eq!(b.resyncs, [Resync::Replay, Resync::Snapshot]);
    b.wait_acked().await.unwrap();
    let head = relay.rooms().loaded_room("doc").unwrap().durable_head();
    a.sync_to(head).await.unwrap();
    b.sync_to(head).await.unwrap();
    let text = relay.rooms().loaded_room("doc").unwrap().text();
    assert_eq!(a.text(), text);
    assert_eq!(b.text(), text);
    assert!(text.contains("B!"), "offline insert kept: {text}");
    assert_eq!(text.chars().count(), 10 + 10 + 2 - 1);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_resent_op_gets_no_second_server_seq() {
    let relay = relay().await;
    let mut a = client(&relay, "doc", 1).await;
    a.insert(0, "once").await.unwrap();
    a.wait_acked().await.unwrap();
    // Send the same op again by hand, as a client that missed the echo would.
    let op = a.session().doc().ops_since(&Default::default());
    let text =
        collab_crdt::sync::ClientMessage::Op(collab_crdt::sync::OpBatch { ops: op }).to_json();
    let mut socket = raw(&relay).await;
    send(&mut socket, hello("doc", 1)).await;
    let ack = expect_ack(next(&mut socket).await);
    let _ = expect_echo(next(&mut socket).await); // replay of seq 1
    send(&mut socket, text).await;
    assert!(silent_for(&mut socket, Duration::from_millis(300)).await);
    assert_eq!(ack.server_seq, ServerSeq(1));
    let room = relay.rooms().loaded_room("doc").unwrap();
    assert_eq!(room.durable_head(), ServerSeq(1));
    assert_eq!(room.text(), "once");
    relay.shutdown().await;
}

#[tokio::test]
async fn unacknowledged_edits_are_resent_after_a_dropped_connection() {
    let relay = relay().await;
    let mut a = client(&relay, "doc", 1).await;
    a.insert(0, "saved").await.unwrap();
    a.wait_acked().await.unwrap();
    // Sent, then the connection drops before the echo is read.
    a.insert(5, " maybe").await.unwrap();
    a.disconnect();
    a.insert(0, ">").await.unwrap();
    a.connect().await.unwrap();
    a.wait_acked().await.unwrap();
    let room = relay.rooms().loaded_room("doc").unwrap();
    assert_eq!(room.text(), ">saved maybe");
    assert_eq!(a.text(), room.text());
    assert_eq!(room.durable_head(), ServerSeq(3), "each op numbered once");
    relay.shutdown().await;
}

#[tokio::test]
async fn a_head_the_server_never_reached_gets_a_snapshot() {
    let relay = relay().await;
    let mut a = client(&relay, "doc", 1).await;
    a.insert(0, "abc").await.unwrap();
    a.wait_acked().await.unwrap();
    let mut socket = raw(&relay).await;
    let epoch = {
        send(&mut socket, hello("doc", 5)).await;
        expect_ack(next(&mut socket).await).epoch
    };
    for (seen, epoch) in [(99, epoch.as_str()), (1, "another-history")] {
        let mut socket = raw(&relay).await;
        send(
            &mut socket,
            format!(
                r#"{{"type":"hello","doc_id":"doc","replica_id":3,"last_seen_server_seq":{seen},"epoch":"{epoch}"}}"#
            ),
        )
        .await;
        let ack = expect_ack(next(&mut socket).await);
        assert_eq!(
            ack.resync,
            Resync::Snapshot,
            "last_seen {seen}, epoch {epoch}"
        );
        match next(&mut socket).await {
            Received::Msg(ServerMessage::Snapshot(s)) => assert_eq!(s.server_seq, ServerSeq(1)),
            other => panic!("expected snapshot, got {other:?}"),
        }
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn a_snapshot_as_operations_loads_into_any_replica() {
    let relay = relay().await;
    let mut a = client(&relay, "doc", 1).await;
    a.insert(0, "héllo 🙂 wörld").await.unwrap();
    a.delete(0, 2).await.unwrap();
    a.wait_acked().await.unwrap();
    let mut socket = raw(&relay).await;
    send(
        &mut socket,
        r#"{"type":"hello","doc_id":"doc","replica_id":3,"last_seen_server_seq":50,"epoch":"x","snapshot_format":"ops"}"#,
    )
    .await;
    assert_eq!(expect_ack(next(&mut socket).await).resync, Resync::Snapshot);
    let snapshot = match next(&mut socket).await {
        Received::Msg(ServerMessage::Snapshot(s)) => s,
        other => panic!("expected snapshot, got {other:?}"),
    };
    assert_eq!(snapshot.server_seq, ServerSeq(2));
    assert!(snapshot.data.is_none());
    let mut doc = collab_crdt::Doc::new(3).unwrap();
    for op in snapshot.ops.unwrap() {
        doc.apply(&op).unwrap();
    }
    assert_eq!(doc.text(), "llo 🙂 wörld");
    assert_eq!(doc.text(), a.text());
    relay.shutdown().await;
}

#[tokio::test]
async fn a_second_connection_of_a_replica_supersedes_the_first() {
    let relay = relay().await;
    let mut first = raw(&relay).await;
    send(&mut first, hello("doc", 4)).await;
    expect_ack(next(&mut first).await);
    let _second = client(&relay, "doc", 4).await;
    expect_error(&mut first, "superseded", Some(close::SUPERSEDED)).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn idle_rooms_are_unloaded_and_reload_from_the_store() {
    let relay = relay_with(|c| c.room_idle_ms = 50).await;
    let mut a = client(&relay, "kept", 1).await;
    a.insert(0, "remember me").await.unwrap();
    a.wait_acked().await.unwrap();
    a.close().await;
    let unloaded = tokio::time::timeout(
        Duration::from_secs(10),
        relay.rooms().wait_loaded(|n| *n == 0),
    );
    assert!(unloaded.await.is_ok(), "room unloaded after its idle time");
    let b = client(&relay, "kept", 2).await;
    assert_eq!(b.text(), "remember me");
    assert_eq!(b.session().last_seen_server_seq(), ServerSeq(1));
    relay.shutdown().await;
}

#[tokio::test]
async fn shutdown_delivers_accepted_ops_then_closes_with_1001() {
    let relay = relay().await;
    let mut a = client(&relay, "doc", 1).await;
    let mut watcher = raw(&relay).await;
    send(&mut watcher, hello("doc", 2)).await;
    expect_ack(next(&mut watcher).await);
    for i in 0..20 {
        a.insert(i, "z").await.unwrap();
    }
    a.wait_acked().await.unwrap();
    let stopping = tokio::spawn(relay.shutdown());
    let mut echoes = 0;
    loop {
        match next(&mut watcher).await {
            Received::Msg(ServerMessage::OpEcho(_)) => echoes += 1,
            Received::Msg(ServerMessage::Error(e)) => assert_eq!(e.code, "server_shutdown"),
            Received::Closed(code) => {
                assert_eq!(code, Some(close::GOING_AWAY));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        echoes, 20,
        "every accepted op reached the watcher before the close"
    );
    stopping.await.unwrap();
    let err = Client::new(format!("ws://{}/ws", "127.0.0.1:1"), "doc", 3)
        .connect()
        .await;
    assert!(matches!(err, Err(ClientError::Ws(_))));
}

#[tokio::test]
async fn health_reports_rooms_and_connections() {
    let relay = relay().await;
    let _a = client(&relay, "doc", 1).await;
    let body = http_get(relay.addr(), "/health").await;
    let json: serde_json::Value =
        serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["rooms"], 1);
    assert_eq!(json["connections"], 1);
    let plain = http_get(relay.addr(), "/ws").await;
    assert!(
        plain.starts_with("HTTP/1.1 400"),
        "a plain GET of /ws: {plain}"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn serves_the_demo_and_the_package_as_static_files() {
    let dir = std::env::temp_dir().join(format!("collab-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("www/index.html"), "<title>demo</title>").unwrap();
    std::fs::write(dir.join("pkg/collab.js"), "export const x = 1;").unwrap();
    let relay = relay_with(|c| {
        c.www_dir = dir.join("www");
        c.pkg_dir = dir.join("pkg");
    })
    .await;
    let page = http_get(relay.addr(), "/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<title>demo</title>"));
    let js = http_get(relay.addr(), "/pkg/collab.js").await;
    assert!(js.contains("export const x = 1;"));
    assert!(
        http_get(relay.addr(), "/missing.html")
            .await
            .starts_with("HTTP/1.1 404")
    );
    relay.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}
