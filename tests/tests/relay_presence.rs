//! End-to-end: presence (`docs/protocol.md` §5a) through the real relay. A
//! joining client sees everyone's presence after its catch-up; updates
//! reach the other members that asked for them and nobody else; a
//! presence goes when its connection ends or its TTL passes; a flood is
//! coalesced to the latest; oversized presence is refused; and nothing
//! of it is numbered or stored.

use std::time::{Duration, Instant};

use collab_crdt::sync::{JsonObject, ServerMessage, ServerSeq};
use collab_relay::client::Socket;
use collab_tests::*;

/// A raw socket joined to `doc_id` as `replica_id`, asking for presence
/// when `presence` is set; its `hello_ack` read.
async fn joined(
    relay: &collab_relay::Relay,
    doc_id: &str,
    replica_id: u64,
    presence: bool,
) -> (Socket, ServerSeq) {
    let mut socket = raw(relay).await;
    let hello = format!(
        r#"{{"type":"hello","doc_id":"{doc_id}","replica_id":{replica_id},"presence":{presence}}}"#
    );
    send(&mut socket, hello).await;
    match next(&mut socket).await {
        Received::Msg(ServerMessage::HelloAck(ack)) => (socket, ack.server_seq),
        other => panic!("expected hello_ack, got {other:?}"),
    }
}

/// A presence message with a caret at `anchor` and `data`.
fn presence(anchor: &str, data: &str) -> String {
    format!(
        r#"{{"type":"presence","selections":[{{"anchor":{anchor},"head":{anchor}}}],"data":{data}}}"#
    )
}

fn insert(replica: u64, seq: u64, lamport: u64, text: &str) -> String {
    format!(
        r#"{{"type":"op","ops":[{{"kind":"insert","replica_id":{replica},"seq":{seq},"lamport":{lamport},"parent_id":null,"text":"{text}"}}]}}"#
    )
}

/// The next message, which must be a presence update; returns it.
async fn expect_presence(socket: &mut Socket) -> collab_crdt::sync::PresenceUpdate {
    match next(socket).await {
        Received::Msg(ServerMessage::Presence(p)) => p,
        other => panic!("expected presence, got {other:?}"),
    }
}

async fn expect_removed(socket: &mut Socket, replica_id: u64) {
    match next(socket).await {
        Received::Msg(ServerMessage::PresenceRemoved(r)) => assert_eq!(r.replica_id, replica_id),
        other => panic!("expected presence_removed for {replica_id}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_joining_client_gets_the_others_presence_right_after_its_catch_up() {
    let relay = relay().await;
    let (mut a, _) = joined(&relay, "doc", 1, true).await;
    send(&mut a, insert(1, 0, 1, "hi")).await;
    assert!(matches!(
        next(&mut a).await,
        Received::Msg(ServerMessage::OpEcho(_))
    ));
    let caret = r#"{"lamport":2,"replica_id":1,"side":"after"}"#;
    send(
        &mut a,
        presence(caret, r##"{"name":"Ann","color":"#d33"}"##),
    )
    .await;
    // A's presence is not sent back to A.
    assert!(silent_for(&mut a, Duration::from_millis(100)).await);

    let (mut b, head) = joined(&relay, "doc", 2, true).await;
    assert_eq!(head, ServerSeq(1));
    match next(&mut b).await {
        Received::Msg(ServerMessage::OpEcho(e)) => assert_eq!(e.server_seq, ServerSeq(1)),
        other => panic!("expected the replay first, got {other:?}"),
    }
    let p = expect_presence(&mut b).await;
    assert_eq!(p.replica_id, 1);
    assert_eq!(p.sub, None, "no access control yet");
    assert_eq!(
        p.data.as_ref().map(JsonObject::get),
        Some(r##"{"name":"Ann","color":"#d33"}"##)
    );
    assert_eq!(serde_json::to_string(&p.selections[0].head).unwrap(), caret);
    relay.shutdown().await;
}

#[tokio::test]
async fn updates_reach_the_members_that_asked_and_a_closed_connection_is_removed() {
    let relay = relay().await;
    let (mut a, _) = joined(&relay, "doc", 1, true).await;
    let (mut b, _) = joined(&relay, "doc", 2, true).await;
    let (mut old_client, _) = joined(&relay, "doc", 3, false).await;
    send(&mut a, presence(r#""start""#, r#"{"name":"Ann"}"#)).await;
    assert_eq!(expect_presence(&mut b).await.replica_id, 1);
    send(&mut b, presence(r#""end""#, r#"{"name":"Bob"}"#)).await;
    assert_eq!(expect_presence(&mut a).await.replica_id, 2);
    // A client that did not ask hears nothing of it, and edits go on.
    assert!(silent_for(&mut old_client, Duration::from_millis(150)).await);
    send(&mut old_client, insert(3, 0, 1, "x")).await;
    for socket in [&mut a, &mut b, &mut old_client] {
        assert!(matches!(
            next(socket).await,
            Received::Msg(ServerMessage::OpEcho(_))
        ));
    }
    drop(a);
    expect_removed(&mut b, 1).await;
    assert!(silent_for(&mut old_client, Duration::from_millis(100)).await);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_presence_not_refreshed_within_the_ttl_is_removed() {
    const TTL: Duration = Duration::from_millis(300);
    let relay = relay_with(|c| c.presence_ttl_ms = TTL.as_millis() as u64).await;
    let (mut a, _) = joined(&relay, "doc", 1, true).await;
    let (mut b, _) = joined(&relay, "doc", 2, true).await;
    let sent = Instant::now();
    send(&mut a, presence(r#""start""#, "{}")).await;
    expect_presence(&mut b).await;
    // A refresh pushes the TTL back.
    tokio::time::sleep(TTL / 2).await;
    let refreshed = Instant::now();
    send(&mut a, presence(r#""start""#, "{}")).await;
    expect_presence(&mut b).await;
    expect_removed(&mut b, 1).await;
    assert!(
        refreshed.elapsed() >= TTL,
        "removed only a TTL after the refresh"
    );
    assert!(sent.elapsed() >= TTL + TTL / 2);
    // A's connection is still there: it appears again when it sends.
    send(&mut a, presence(r#""end""#, "{}")).await;
    assert_eq!(expect_presence(&mut b).await.replica_id, 1);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_presence_is_coalesced_to_the_latest_and_echoes_still_flow() {
    const INTERVAL: Duration = Duration::from_millis(100);
    let relay = relay_with(|c| c.presence_interval_ms = INTERVAL.as_millis() as u64).await;
    let (mut a, _) = joined(&relay, "doc", 1, true).await;
    let (mut b, _) = joined(&relay, "doc", 2, true).await;
    const UPDATES: usize = 2_000;
    let started = Instant::now();
    for i in 0..UPDATES {
        send(&mut a, presence(r#""start""#, &format!(r#"{{"n":{i}}}"#))).await;
    }
    // An edit right behind the flood.
    send(&mut a, insert(1, 0, 1, "x")).await;
    let mut received = Vec::new();
    let mut echoed = false;
    while !(echoed && received.last() == Some(&(UPDATES - 1))) {
        match next(&mut b).await {
            Received::Msg(ServerMessage::Presence(p)) => {
                let data: serde_json::Value = serde_json::from_str(p.data.unwrap().get()).unwrap();
                received.push(data["n"].as_u64().unwrap() as usize);
            }
            Received::Msg(ServerMessage::OpEcho(e)) => {
                assert_eq!(e.server_seq, ServerSeq(1));
                echoed = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    // One fan-out per interval, plus the first one at once.
    let bound = (elapsed.as_millis() / INTERVAL.as_millis()) as usize + 2;
    assert!(
        received.len() <= bound,
        "{} updates fanned out in {elapsed:?}, at most {bound} expected",
        received.len()
    );
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "in order: {received:?}"
    );
    assert_eq!(
        relay.metrics().presence_received.get(),
        UPDATES as u64,
        "every update was read"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn an_oversized_presence_is_refused_and_the_previous_one_stays() {
    let relay = relay().await;
    let (mut a, _) = joined(&relay, "doc", 1, true).await;
    let (mut b, _) = joined(&relay, "doc", 2, true).await;
    send(&mut a, presence(r#""start""#, r#"{"name":"Ann"}"#)).await;
    expect_presence(&mut b).await;
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(5_000));
    send(&mut a, presence(r#""start""#, &big)).await;
    expect_error(&mut a, "presence_too_large", None).await;
    assert!(silent_for(&mut b, Duration::from_millis(150)).await);
    // The connection goes on, and a newcomer sees the previous presence.
    let (mut c, _) = joined(&relay, "doc", 3, true).await;
    let p = expect_presence(&mut c).await;
    assert_eq!(p.data.unwrap().get(), r#"{"name":"Ann"}"#);
    send(&mut a, insert(1, 0, 1, "x")).await;
    assert!(matches!(
        next(&mut a).await,
        Received::Msg(ServerMessage::OpEcho(_))
    ));
    relay.shutdown().await;
}

#[tokio::test]
async fn bad_presence_is_refused_like_any_bad_message() {
    let relay = relay().await;
    // Before hello: the handshake comes first.
    let mut socket = raw(&relay).await;
    send(&mut socket, presence(r#""start""#, "{}")).await;
    expect_error(&mut socket, "hello_required", Some(4001)).await;
    // An anchor naming replica 0.
    let (mut a, _) = joined(&relay, "doc", 1, true).await;
    send(
        &mut a,
        presence(r#"{"lamport":1,"replica_id":0,"side":"after"}"#, "{}"),
    )
    .await;
    expect_error(&mut a, "invalid_message", Some(4000)).await;
    // Data that is not an object.
    let (mut a, _) = joined(&relay, "doc", 1, true).await;
    send(&mut a, presence(r#""start""#, "[1]")).await;
    expect_error(&mut a, "invalid_message", Some(4000)).await;
    relay.shutdown().await;
}

#[tokio::test]
async fn presence_is_never_numbered_nor_stored() {
    let relay = relay().await;
    let (mut a, _) = joined(&relay, "doc", 1, true).await;
    for i in 0..20 {
        send(&mut a, presence(r#""start""#, &format!(r#"{{"n":{i}}}"#))).await;
    }
    send(&mut a, insert(1, 0, 1, "x")).await;
    match next(&mut a).await {
        Received::Msg(ServerMessage::OpEcho(e)) => assert_eq!(e.server_seq, ServerSeq(1)),
        other => panic!("expected the echo, got {other:?}"),
    }
    let store = relay.rooms().context().store.clone();
    let stored = store.load("doc").unwrap().expect("the document is stored");
    assert_eq!(stored.tail.len(), 1, "the log holds the one operation only");
    drop(a);
    // A later client with no presence of its own sees no stale one.
    let (mut b, head) = joined(&relay, "doc", 2, true).await;
    assert_eq!(head, ServerSeq(1));
    assert!(matches!(
        next(&mut b).await,
        Received::Msg(ServerMessage::OpEcho(_))
    ));
    assert!(silent_for(&mut b, Duration::from_millis(150)).await);
    relay.shutdown().await;
}

#[tokio::test]
async fn sessions_resolve_each_others_carets_through_edits() {
    let relay = relay().await;
    let mut ann = client(&relay, "doc", 1).await;
    let mut bob = client(&relay, "doc", 2).await;
    ann.insert(0, "hello world").await.unwrap();
    ann.wait_acked().await.unwrap();
    bob.sync_to(ServerSeq(1)).await.unwrap();
    // Ann selects "world".
    let data = JsonObject::parse(r#"{"name":"Ann"}"#).unwrap();
    ann.set_presence(&[(6, 11)], Some(data)).await.unwrap();
    while bob.session().presence_of(1).is_none() {
        bob.recv().await.unwrap();
    }
    let resolve = |c: &collab_relay::client::Client| {
        let p = &c.session().presence_of(1).unwrap();
        c.session().resolve(&p.selections[0])
    };
    assert_eq!(resolve(&bob), Some((6, 11)));
    // Bob types before it, unacknowledged yet: the selection moves along.
    bob.session_mut().insert(0, ">> ").unwrap();
    assert_eq!(resolve(&bob), Some((9, 14)));
    bob.flush().await.unwrap();
    bob.wait_acked().await.unwrap();
    assert_eq!(resolve(&bob), Some((9, 14)));
    assert_eq!(
        bob.session()
            .presence_of(1)
            .unwrap()
            .data
            .as_ref()
            .unwrap()
            .get(),
        r#"{"name":"Ann"}"#
    );
    // Ann leaves: Bob forgets her.
    ann.close().await;
    while bob.session().presence_of(1).is_some() {
        bob.recv().await.unwrap();
    }
    relay.shutdown().await;
}

/// With access control on, a presence update names its sender's user: the
/// `sub` of the token the sender showed.
#[tokio::test]
async fn presence_carries_the_senders_token_sub() {
    let relay = auth_relay(|_| {}).await;
    let hello = |replica: u64| {
        format!(
            r#"{{"type":"hello","doc_id":"notes","replica_id":{replica},"presence":true,"token":"{}"}}"#,
            token("notes", collab_relay::auth::Role::Write)
        )
    };
    let mut a = raw(&relay).await;
    send(&mut a, hello(1)).await;
    assert!(matches!(
        next(&mut a).await,
        Received::Msg(ServerMessage::HelloAck(_))
    ));
    let mut b = raw(&relay).await;
    send(&mut b, hello(2)).await;
    assert!(matches!(
        next(&mut b).await,
        Received::Msg(ServerMessage::HelloAck(_))
    ));
    send(&mut a, presence(r#""start""#, r#"{"name":"Ann"}"#)).await;
    let update = expect_presence(&mut b).await;
    assert_eq!(update.replica_id, 1);
    assert_eq!(update.sub.as_deref(), Some("tester"), "the token's sub");
    relay.shutdown().await;
}
