//! End-to-end: every kind of bad input gets its defined error or close
//! code, and leaves other clients, other documents and everything accepted
//! before untouched.

use std::time::Duration;

use collab_crdt::sync::close;
use collab_relay::Relay;
use collab_tests::*;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

/// A relay with one document that already holds accepted text, and a
/// bystander client connected to it.
struct Scene {
    relay: Relay,
    bystander: collab_relay::client::Client,
}

async fn scene(tweak: impl FnOnce(&mut collab_relay::Config)) -> Scene {
    let relay = relay_with(tweak).await;
    let mut bystander = client(&relay, "doc", 1).await;
    bystander.insert(0, "accepted").await.unwrap();
    bystander.wait_acked().await.unwrap();
    Scene { relay, bystander }
}

impl Scene {
    /// A raw socket that completed the handshake on `doc_id`.
    async fn joined(&self, doc_id: &str, replica_id: u64) -> collab_relay::client::Socket {
        let mut socket = raw(&self.relay).await;
        send(&mut socket, hello(doc_id, replica_id)).await;
        match next(&mut socket).await {
            Received::Msg(collab_crdt::sync::ServerMessage::HelloAck(_)) => {}
            other => panic!("expected hello_ack, got {other:?}"),
        }
        // Drain the replay of what the document holds.
        while !silent_for(&mut socket, Duration::from_millis(100)).await {}
        socket
    }

    /// The bad input hurt nothing: the document still holds what was
    /// accepted, the bystander still edits, and another document works.
    async fn assert_unharmed(mut self) {
        let room = self.relay.rooms().loaded_room("doc").unwrap();
        assert!(room.text().contains("accepted"), "accepted text kept");
        let head = room.durable_head();
        self.bystander.insert(0, "+").await.unwrap();
        self.bystander.wait_acked().await.unwrap();
        assert_eq!(room.durable_head(), head.next(), "bystander still edits");
        assert_eq!(self.bystander.text(), room.text());
        let mut other = client(&self.relay, "other-doc", 99).await;
        other.insert(0, "fine").await.unwrap();
        other.wait_acked().await.unwrap();
        self.relay.shutdown().await;
    }
}

async fn fatal_on_fresh_socket(text: &str, code: &str, close_code: u16) {
    let scene = scene(|_| {}).await;
    let mut socket = raw(&scene.relay).await;
    send(&mut socket, text).await;
    expect_error(&mut socket, code, Some(close_code)).await;
    scene.assert_unharmed().await;
}

async fn fatal_after_hello(text: &str, code: &str, close_code: u16) {
    let scene = scene(|_| {}).await;
    let mut socket = scene.joined("doc", 2).await;
    send(&mut socket, text).await;
    expect_error(&mut socket, code, Some(close_code)).await;
    scene.assert_unharmed().await;
}

/// Sends `ops` after hello and expects a non-fatal error with `code`; the
/// connection then still accepts a valid op.
async fn refused_op(ops: &str, code: &str) {
    let scene = scene(|_| {}).await;
    let mut socket = scene.joined("doc", 2).await;
    let head = scene
        .relay
        .rooms()
        .loaded_room("doc")
        .unwrap()
        .durable_head();
    send(&mut socket, format!(r#"{{"type":"op","ops":[{ops}]}}"#)).await;
    expect_error(&mut socket, code, None).await;
    assert_eq!(
        scene
            .relay
            .rooms()
            .loaded_room("doc")
            .unwrap()
            .durable_head(),
        head
    );
    send(
        &mut socket,
        r#"{"type":"op","ops":[{"kind":"insert","replica_id":2,"seq":0,"lamport":100,"parent_id":null,"text":"ok"}]}"#,
    )
    .await;
    match next(&mut socket).await {
        Received::Msg(collab_crdt::sync::ServerMessage::OpEcho(e)) => {
            assert_eq!(e.server_seq, head.next())
        }
        other => panic!("connection survives a refused op; got {other:?}"),
    }
    scene.assert_unharmed().await;
}

#[tokio::test]
async fn malformed_json() {
    fatal_on_fresh_socket("{not json", "malformed_json", close::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn truncated_json() {
    fatal_after_hello(
        r#"{"type":"op","ops":[{"kind":"insert","replica_id":2,"#,
        "malformed_json",
        close::PROTOCOL_ERROR,
    )
    .await;
}

#[tokio::test]
async fn deep_nesting() {
    let deep = format!(
        r#"{{"type":"hello","doc_id":"doc","replica_id":5,"extra":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    fatal_on_fresh_socket(&deep, "malformed_json", close::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn not_an_object() {
    fatal_on_fresh_socket("[1,2,3]", "missing_type", close::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn unknown_type() {
    fatal_after_hello(
        r#"{"type":"subscribe"}"#,
        "unknown_type",
        close::PROTOCOL_ERROR,
    )
    .await;
}

#[tokio::test]
async fn missing_type() {
    fatal_on_fresh_socket(r#"{"doc_id":"doc"}"#, "missing_type", close::PROTOCOL_ERROR).await;
}

#[tokio::test]
async fn missing_field() {
    fatal_on_fresh_socket(
        r#"{"type":"hello","replica_id":5}"#,
        "invalid_message",
        close::PROTOCOL_ERROR,
    )
    .await;
}

#[tokio::test]
async fn mistyped_field() {
    fatal_on_fresh_socket(
        r#"{"type":"hello","doc_id":"doc","replica_id":"five"}"#,
        "invalid_message",
        close::PROTOCOL_ERROR,
    )
    .await;
}

#[tokio::test]
async fn mistyped_op_field() {
    fatal_after_hello(
        r#"{"type":"op","ops":[{"kind":"insert","replica_id":2,"seq":0,"lamport":-1,"parent_id":null,"text":"x"}]}"#,
        "invalid_message",
        close::PROTOCOL_ERROR,
    )
    .await;
}

#[tokio::test]
async fn binary_frame() {
    let scene = scene(|_| {}).await;
    let mut socket = scene.joined("doc", 2).await;
    socket.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    expect_error(&mut socket, "binary_frame", Some(close::UNSUPPORTED_DATA)).await;
    scene.assert_unharmed().await;
}

#[tokio::test]
async fn oversized_frame() {
    let scene = scene(|c| c.max_message_bytes = 64 * 1024).await;
    let mut socket = scene.joined("doc", 2).await;
    let big = format!(
        r#"{{"type":"op","ops":[{{"kind":"insert","replica_id":2,"seq":0,"lamport":9,"parent_id":null,"text":"{}"}}]}}"#,
        "a".repeat(100 * 1024)
    );
    send(&mut socket, big).await;
    expect_error(
        &mut socket,
        "message_too_large",
        Some(close::MESSAGE_TOO_BIG),
    )
    .await;
    scene.assert_unharmed().await;
}

#[tokio::test]
async fn op_before_hello() {
    fatal_on_fresh_socket(
        r#"{"type":"op","ops":[]}"#,
        "hello_required",
        close::HANDSHAKE,
    )
    .await;
}

#[tokio::test]
async fn hello_twice() {
    fatal_after_hello(&hello("doc", 2), "duplicate_hello", close::HANDSHAKE).await;
}

#[tokio::test]
async fn no_hello_in_time() {
    let scene = scene(|c| c.hello_timeout_ms = 100).await;
    let mut socket = raw(&scene.relay).await;
    expect_error(&mut socket, "hello_timeout", Some(close::HELLO_TIMEOUT)).await;
    scene.assert_unharmed().await;
}

#[tokio::test]
async fn silent_client_hits_the_idle_timeout() {
    let scene = scene(|c| {
        c.idle_timeout_ms = 200;
        c.ping_interval_ms = 60_000;
    })
    .await;
    let mut socket = raw(&scene.relay).await;
    send(&mut socket, hello("doc", 2)).await;
    // Read nothing back on purpose except what arrives; send nothing.
    let mut saw_idle = false;
    loop {
        match next(&mut socket).await {
            Received::Msg(collab_crdt::sync::ServerMessage::Error(e)) => {
                assert_eq!(e.code, "idle_timeout");
                saw_idle = true;
            }
            Received::Msg(_) => {}
            Received::Closed(code) => {
                assert_eq!(code, Some(close::IDLE_TIMEOUT));
                break;
            }
        }
    }
    assert!(saw_idle);
    // The bystander answered the server's pings meanwhile? Its pings come
    // every 60 s here, so it is idle too; reconnect it before checking.
    let Scene {
        relay,
        mut bystander,
    } = scene;
    bystander.disconnect();
    bystander.connect().await.unwrap();
    Scene { relay, bystander }.assert_unharmed().await;
}

#[tokio::test]
async fn invalid_doc_id() {
    fatal_on_fresh_socket(
        r#"{"type":"hello","doc_id":"bad id\n","replica_id":5}"#,
        "invalid_doc_id",
        close::PROTOCOL_ERROR,
    )
    .await;
}

#[tokio::test]
async fn replica_id_beyond_2_pow_53() {
    fatal_on_fresh_socket(
        r#"{"type":"hello","doc_id":"doc","replica_id":9007199254740992}"#,
        "invalid_replica_id",
        close::PROTOCOL_ERROR,
    )
    .await;
}

#[tokio::test]
async fn reserved_replica_id() {
    fatal_on_fresh_socket(
        &hello("doc", 0),
        "invalid_replica_id",
        close::PROTOCOL_ERROR,
    )
    .await;
}

#[tokio::test]
async fn lamport_beyond_2_pow_53() {
    refused_op(
        r#"{"kind":"insert","replica_id":2,"seq":0,"lamport":9007199254740992,"parent_id":null,"text":"x"}"#,
        "id_too_large",
    )
    .await;
}

/// Makes replica 1 (the bystander) skip lamports 9 to 100: it sees an op
/// of replica 3 at lamport 100 and types after it at 101. Ids (50, 1) then
/// can never exist.
async fn scene_with_a_lamport_gap() -> (Scene, collab_relay::client::Socket) {
    let mut scene = scene(|_| {}).await;
    let mut socket = scene.joined("doc", 3).await;
    send(
        &mut socket,
        r#"{"type":"op","ops":[{"kind":"insert","replica_id":3,"seq":0,"lamport":100,"parent_id":null,"text":"x"}]}"#,
    )
    .await;
    let head = match next(&mut socket).await {
        Received::Msg(collab_crdt::sync::ServerMessage::OpEcho(e)) => e.server_seq,
        other => panic!("{other:?}"),
    };
    scene.bystander.sync_to(head).await.unwrap();
    scene.bystander.insert(0, "y").await.unwrap();
    scene.bystander.wait_acked().await.unwrap();
    while !silent_for(&mut socket, Duration::from_millis(100)).await {}
    (scene, socket)
}

async fn refused_after_gap(op: &str, code: &str) {
    let (scene, mut socket) = scene_with_a_lamport_gap().await;
    send(&mut socket, format!(r#"{{"type":"op","ops":[{op}]}}"#)).await;
    expect_error(&mut socket, code, None).await;
    scene.assert_unharmed().await;
}

#[tokio::test]
async fn op_with_an_unknown_parent() {
    refused_after_gap(
        r#"{"kind":"insert","replica_id":3,"seq":1,"lamport":200,"parent_id":{"lamport":50,"replica_id":1},"text":"x"}"#,
        "unknown_id",
    )
    .await;
}

#[tokio::test]
async fn op_whose_parent_has_not_arrived() {
    refused_op(
        r#"{"kind":"insert","replica_id":2,"seq":0,"lamport":60,"parent_id":{"lamport":5,"replica_id":77},"text":"x"}"#,
        "missing_dependency",
    )
    .await;
}

#[tokio::test]
async fn delete_of_an_unknown_target() {
    refused_after_gap(
        r#"{"kind":"delete","replica_id":3,"seq":1,"lamport":200,"target":{"lamport":50,"replica_id":1},"len":1}"#,
        "unknown_id",
    )
    .await;
}

#[tokio::test]
async fn delete_past_the_end_of_a_run() {
    // Targets (1..=20, 1): replica 1 made only lamports 1 to 8 and 101.
    refused_after_gap(
        r#"{"kind":"delete","replica_id":3,"seq":1,"lamport":200,"target":{"lamport":1,"replica_id":1},"len":20}"#,
        "unknown_id",
    )
    .await;
}

#[tokio::test]
async fn op_out_of_sequence() {
    refused_op(
        r#"{"kind":"insert","replica_id":2,"seq":5,"lamport":60,"parent_id":null,"text":"x"}"#,
        "missing_dependency",
    )
    .await;
}

#[tokio::test]
async fn op_of_another_replica() {
    refused_op(
        r#"{"kind":"insert","replica_id":1,"seq":8,"lamport":60,"parent_id":null,"text":"x"}"#,
        "wrong_replica",
    )
    .await;
}

#[tokio::test]
async fn empty_op() {
    refused_op(
        r#"{"kind":"insert","replica_id":2,"seq":0,"lamport":60,"parent_id":null,"text":""}"#,
        "empty_op",
    )
    .await;
}

#[tokio::test]
async fn duplicate_op_id_with_different_content() {
    let scene = scene(|_| {}).await;
    let mut socket = scene.joined("doc", 2).await;
    send(
        &mut socket,
        r#"{"type":"op","ops":[{"kind":"insert","replica_id":2,"seq":0,"lamport":100,"parent_id":null,"text":"one"}]}"#,
    )
    .await;
    let _ = next(&mut socket).await;
    send(
        &mut socket,
        r#"{"type":"op","ops":[{"kind":"insert","replica_id":2,"seq":0,"lamport":100,"parent_id":null,"text":"two"}]}"#,
    )
    .await;
    expect_error(&mut socket, "conflicting_op", None).await;
    let room = scene.relay.rooms().loaded_room("doc").unwrap();
    assert!(
        room.text().starts_with("one"),
        "first version kept: {}",
        room.text()
    );
    scene.assert_unharmed().await;
}

#[tokio::test]
async fn document_size_limit() {
    let scene = scene(|c| c.max_doc_chars = 20).await;
    let mut socket = scene.joined("doc", 2).await;
    send(
        &mut socket,
        format!(
            r#"{{"type":"op","ops":[{{"kind":"insert","replica_id":2,"seq":0,"lamport":100,"parent_id":null,"text":"{}"}}]}}"#,
            "y".repeat(20)
        ),
    )
    .await;
    expect_error(&mut socket, "document_too_large", None).await;
    scene.assert_unharmed().await;
}

#[tokio::test]
async fn batch_keeps_the_ops_before_a_refused_one() {
    let scene = scene(|_| {}).await;
    let mut socket = scene.joined("doc", 2).await;
    let head = scene
        .relay
        .rooms()
        .loaded_room("doc")
        .unwrap()
        .durable_head();
    send(
        &mut socket,
        r#"{"type":"op","ops":[
            {"kind":"insert","replica_id":2,"seq":0,"lamport":100,"parent_id":null,"text":"kept"},
            {"kind":"insert","replica_id":2,"seq":9,"lamport":200,"parent_id":null,"text":"gap"},
            {"kind":"insert","replica_id":2,"seq":4,"lamport":300,"parent_id":null,"text":"never"}]}"#,
    )
    .await;
    match next(&mut socket).await {
        Received::Msg(collab_crdt::sync::ServerMessage::OpEcho(e)) => {
            assert_eq!(e.server_seq, head.next())
        }
        other => panic!("{other:?}"),
    }
    match next(&mut socket).await {
        Received::Msg(collab_crdt::sync::ServerMessage::Error(e)) => {
            assert_eq!(e.code, "missing_dependency");
            assert_eq!(e.index, Some(1), "the refused op's place in the batch");
            assert!(!e.fatal);
        }
        other => panic!("{other:?}"),
    }
    let room = scene.relay.rooms().loaded_room("doc").unwrap();
    assert_eq!(room.durable_head(), head.next());
    assert!(room.text().starts_with("kept") && !room.text().contains("never"));
    scene.assert_unharmed().await;
}

#[tokio::test]
async fn flood_of_connections_beyond_the_limit_gets_503() {
    let scene = scene(|c| c.max_connections = 6).await;
    let url = ws_url(&scene.relay);
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..20 {
        match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((socket, _)) => open.push(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503);
                refused += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    // The bystander holds one of the six.
    assert_eq!(open.len(), 5);
    assert_eq!(refused, 15);
    drop(open);
    // Slots free up once those sockets are gone.
    let freed = tokio::time::timeout(
        Duration::from_secs(10),
        scene.relay.wait_open(|(_, tcp)| *tcp <= 1),
    );
    assert!(freed.await.is_ok(), "the closed sockets' places are freed");
    assert!(tokio_tungstenite::connect_async(url.as_str()).await.is_ok());
    scene.assert_unharmed().await;
}

#[tokio::test]
async fn too_many_connections_on_one_document() {
    let scene = scene(|c| c.max_connections_per_doc = 2).await;
    let _second = scene.joined("doc", 2).await;
    let mut third = raw(&scene.relay).await;
    send(&mut third, hello("doc", 3)).await;
    expect_error(
        &mut third,
        "too_many_connections",
        Some(close::TRY_AGAIN_LATER),
    )
    .await;
    drop(_second);
    scene.assert_unharmed().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_comes_back_by_replay() {
    let relay = relay_with(|c| {
        c.send_queue_bytes = 4 << 20;
        c.max_doc_chars = u32::MAX as u64;
    })
    .await;
    // Joins, then never reads: its TCP buffers fill, then its queue.
    let mut stalled = client(&relay, "slow", 5).await;
    let mut writer = client(&relay, "slow", 6).await;
    let chunk = "w".repeat(60 * 1024);
    let room = relay.rooms().loaded_room("slow").unwrap();
    let mut evicted = false;
    for _ in 0..200 {
        for _ in 0..10 {
            writer.insert(0, &chunk).await.unwrap();
        }
        writer.wait_acked().await.unwrap();
        if room.members() == 1 {
            evicted = true;
            break;
        }
    }
    assert!(evicted, "the stalled client was dropped from the room");
    // It reads what it can, then finds the connection closed...
    while stalled.recv().await.is_ok() {}
    assert!(!stalled.is_connected());
    // ...and comes back by reconnecting, while the writer goes on.
    stalled.connect().await.unwrap();
    writer.insert(0, "after").await.unwrap();
    writer.wait_acked().await.unwrap();
    let head = room.durable_head();
    stalled.sync_to(head).await.unwrap();
    assert_eq!(stalled.text(), room.text());
    assert_eq!(writer.text(), room.text());
    relay.shutdown().await;
}
