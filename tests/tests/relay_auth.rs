//! End-to-end: access control with tokens (`docs/security.md`). Every way
//! a `hello` can be refused, what a read-only client may do, a token that
//! expires while connected, key rotation and EdDSA keys, and that nothing
//! a refused client sent is stored or echoed.

use std::time::Duration;

use collab_crdt::sync::{ServerMessage, close};
use collab_relay::auth::{Claims, Role, Signer, now_secs};
use collab_tests::*;

/// Says hello with `token` and expects the fatal `code` and its close.
async fn refused(relay: &collab_relay::Relay, doc: &str, token: Option<&str>, code: &str) {
    let mut socket = raw(relay).await;
    let hello = match token {
        Some(token) => hello_with(doc, 5, token),
        None => hello(doc, 5),
    };
    send(&mut socket, hello).await;
    let close = match code {
        "token_expired" => close::TOKEN_EXPIRED,
        _ => close::UNAUTHORIZED,
    };
    expect_error(&mut socket, code, Some(close)).await;
}

fn claims(doc: &str, role: Role, exp: u64, nbf: Option<u64>) -> Claims {
    Claims {
        sub: "tester".into(),
        doc: doc.into(),
        role,
        exp,
        nbf,
    }
}

#[tokio::test]
async fn hello_without_a_valid_token_is_refused_and_loads_nothing() {
    let relay = auth_relay(|_| {}).await;
    let good = token("notes", Role::Write);
    let later = now_secs() + 3600;

    refused(&relay, "notes", None, "unauthorized").await;
    refused(&relay, "notes", Some("not.a.jwt"), "unauthorized").await;
    // Bad signature: the payload changed after signing (role read → write).
    let reader = token("notes", Role::Read);
    let mut parts: Vec<&str> = reader.split('.').collect();
    let writer_payload = good.split('.').nth(1).unwrap().to_owned();
    parts[1] = &writer_payload;
    refused(&relay, "notes", Some(&parts.join(".")), "unauthorized").await;
    // Signed with a key the relay does not have.
    let other = Signer::hs256(b"another-secret-that-is-long-enough!!")
        .mint("mallory", "notes", Role::Write, Duration::from_secs(60))
        .unwrap();
    refused(&relay, "notes", Some(&other), "unauthorized").await;
    // Expired, and not yet valid.
    let signer = Signer::hs256(SECRET);
    let expired = signer
        .sign(&claims("notes", Role::Write, now_secs() - 1, None))
        .unwrap();
    refused(&relay, "notes", Some(&expired), "token_expired").await;
    let early = signer
        .sign(&claims("notes", Role::Write, later, Some(now_secs() + 600)))
        .unwrap();
    refused(&relay, "notes", Some(&early), "unauthorized").await;
    // A token for another document, and one without exp.
    refused(&relay, "other", Some(&good), "unauthorized").await;
    refused(&relay, "notes2", Some(&good), "unauthorized").await;
    #[derive(serde::Serialize)]
    struct NoExp {
        sub: &'static str,
        doc: &'static str,
        role: &'static str,
    }
    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &NoExp {
            sub: "a",
            doc: "notes",
            role: "write",
        },
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    refused(&relay, "notes", Some(&no_exp), "unauthorized").await;

    assert_eq!(
        relay.rooms().loaded(),
        0,
        "no room was loaded for a refusal"
    );
    // The valid token works.
    let mut a = client_with(&relay, "notes", 1, &good).await;
    a.insert(0, "hi").await.unwrap();
    a.wait_acked().await.unwrap();
    relay.shutdown().await;
}

#[tokio::test]
async fn a_prefix_claim_grants_every_document_under_it() {
    let relay = auth_relay(|_| {}).await;
    let team = token("team/*", Role::Write);
    let mut a = client_with(&relay, "team/plans", 1, &team).await;
    a.insert(0, "x").await.unwrap();
    a.wait_acked().await.unwrap();
    client_with(&relay, "team/", 2, &team).await;
    refused(&relay, "teamwork", Some(&team), "unauthorized").await;
    refused(&relay, "other/plans", Some(&team), "unauthorized").await;
    relay.shutdown().await;
}

/// A reader gets the catch-up and every echo; each op it sends is refused
/// with `read_only`, the connection survives, and nothing it sent is
/// stored or echoed to anyone.
#[tokio::test]
async fn a_read_only_client_is_refused_per_op_while_echoes_keep_arriving() {
    let relay = auth_relay(|_| {}).await;
    let mut writer = client_with(&relay, "notes", 1, &token("notes", Role::Write)).await;
    writer.insert(0, "hello").await.unwrap();
    writer.wait_acked().await.unwrap();

    let mut reader = raw(&relay).await;
    send(
        &mut reader,
        hello_with("notes", 2, &token("notes", Role::Read)),
    )
    .await;
    match next(&mut reader).await {
        Received::Msg(ServerMessage::HelloAck(ack)) => assert!(ack.read_only),
        other => panic!("expected hello_ack, got {other:?}"),
    }
    match next(&mut reader).await {
        Received::Msg(ServerMessage::OpEcho(e)) => assert_eq!(e.server_seq.0, 1),
        other => panic!("expected the catch-up, got {other:?}"),
    }
    for round in 0..3u64 {
        let op = format!(
            r#"{{"type":"op","ops":[{{"kind":"insert","replica_id":2,"seq":{round},"lamport":{},"parent_id":null,"text":"evil"}}]}}"#,
            10 + round
        );
        send(&mut reader, op).await;
        match next(&mut reader).await {
            Received::Msg(ServerMessage::Error(e)) => {
                assert_eq!(e.code, "read_only");
                assert!(!e.fatal);
                assert_eq!((e.index, e.seq), (Some(0), Some(round)));
            }
            other => panic!("expected read_only, got {other:?}"),
        }
        writer.insert(0, "w").await.unwrap();
        writer.wait_acked().await.unwrap();
        match next(&mut reader).await {
            Received::Msg(ServerMessage::OpEcho(e)) => {
                assert_eq!(e.replica_id, 1, "the writer's edit reaches the reader")
            }
            other => panic!("expected the writer's echo, got {other:?}"),
        }
    }
    // Nothing of the reader's reached the log: a newcomer replays only
    // the writer's four operations.
    let newcomer = client_with(&relay, "notes", 3, &token("notes", Role::Read)).await;
    assert_eq!(newcomer.text(), "wwwhello");
    assert_eq!(newcomer.session().last_seen_server_seq().0, 4);
    assert!(newcomer.session().is_read_only());
    writer.drain(Duration::from_millis(100)).await.unwrap();
    assert_eq!(writer.text(), "wwwhello", "the writer never saw it either");
    relay.shutdown().await;
}

/// A read-only session keeps what its user typed; a write token later
/// sends it.
#[tokio::test]
async fn edits_made_while_read_only_are_kept_for_a_write_token() {
    let relay = auth_relay(|_| {}).await;
    let mut c = client_with(&relay, "notes", 1, &token("notes", Role::Read)).await;
    c.insert(0, "draft").await.unwrap();
    assert_eq!(c.session().unacked(), 1);
    c.close().await;
    c.session_mut().set_token(Some(token("notes", Role::Write)));
    c.connect().await.unwrap();
    c.wait_acked().await.unwrap();
    let other = client_with(&relay, "notes", 2, &token("notes", Role::Read)).await;
    assert_eq!(other.text(), "draft");
    relay.shutdown().await;
}

/// At `exp` the connection closes with `token_expired`; what was accepted
/// before stays, and a new token picks up where it left.
#[tokio::test]
async fn a_token_that_expires_while_connected_closes_the_connection_at_exp() {
    let relay = auth_relay(|_| {}).await;
    let exp = now_secs() + 2;
    let short = Signer::hs256(SECRET)
        .sign(&claims("notes", Role::Write, exp, None))
        .unwrap();
    let mut socket = raw(&relay).await;
    send(&mut socket, hello_with("notes", 1, &short)).await;
    assert!(matches!(
        next(&mut socket).await,
        Received::Msg(ServerMessage::HelloAck(_))
    ));
    send(
        &mut socket,
        r#"{"type":"op","ops":[{"kind":"insert","replica_id":1,"seq":0,"lamport":1,"parent_id":null,"text":"kept"}]}"#,
    )
    .await;
    assert!(matches!(
        next(&mut socket).await,
        Received::Msg(ServerMessage::OpEcho(_))
    ));
    // The next thing the client hears is the expiry, not before `exp`.
    expect_error(&mut socket, "token_expired", Some(close::TOKEN_EXPIRED)).await;
    assert!(now_secs() >= exp, "closed at exp, not before");
    let c = client_with(&relay, "notes", 2, &token("notes", Role::Read)).await;
    assert_eq!(c.text(), "kept", "edits accepted before expiry stay");
    relay.shutdown().await;
}

/// Several keys at once: two HS256 secrets (rotation) and an Ed25519
/// public key; a token signed by any of them is accepted, one signed by a
/// key pair the relay does not hold is not, and an HS256 token made with
/// the public key as its secret (algorithm confusion) is refused.
#[tokio::test]
async fn keys_rotate_and_eddsa_tokens_verify_with_the_public_key_alone() {
    let dir = TempDir::new("rotation");
    let old = dir.0.join("old");
    std::fs::write(&old, b"the-old-secret-still-accepted-during-rotation\n").unwrap();
    let relay = auth_relay(|c| {
        c.auth_secret_file.push(old.clone());
        c.auth_public_key_file = vec![fixture("ed25519-a.pub.pem")];
    })
    .await;
    let ttl = Duration::from_secs(60);
    let by_old = Signer::hs256(b"the-old-secret-still-accepted-during-rotation")
        .mint("a", "notes", Role::Write, ttl)
        .unwrap();
    client_with(&relay, "notes", 1, &by_old).await;
    client_with(&relay, "notes", 2, &token("notes", Role::Write)).await;
    let pem_a = std::fs::read(fixture("ed25519-a.pem")).unwrap();
    let by_a = Signer::eddsa_pem(&pem_a)
        .unwrap()
        .mint("a", "notes", Role::Write, ttl)
        .unwrap();
    let mut c = client_with(&relay, "notes", 3, &by_a).await;
    c.insert(0, "signed by a").await.unwrap();
    c.wait_acked().await.unwrap();
    let pem_b = std::fs::read(fixture("ed25519-b.pem")).unwrap();
    let by_b = Signer::eddsa_pem(&pem_b)
        .unwrap()
        .mint("b", "notes", Role::Write, ttl)
        .unwrap();
    refused(&relay, "notes", Some(&by_b), "unauthorized").await;
    let public = std::fs::read(fixture("ed25519-a.pub.pem")).unwrap();
    let confused = Signer::hs256(&public)
        .mint("m", "notes", Role::Write, ttl)
        .unwrap();
    refused(&relay, "notes", Some(&confused), "unauthorized").await;
    relay.shutdown().await;
}

#[tokio::test]
async fn health_says_whether_the_relay_runs_open() {
    let open = relay().await;
    let (status, body) = http_get(open.addr(), "/health").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""auth":"open""#), "{body}");
    open.shutdown().await;
    let closed = auth_relay(|_| {}).await;
    let (_, body) = http_get(closed.addr(), "/health").await;
    assert!(body.contains(r#""auth":"token""#), "{body}");
    closed.shutdown().await;
}

#[tokio::test]
async fn a_key_that_cannot_be_used_stops_the_relay_from_starting() {
    let dir = TempDir::new("badkey");
    let short = dir.0.join("short");
    std::fs::write(&short, b"too short").unwrap();
    let mut config = collab_relay::Config::for_tests();
    config.auth_secret_file = vec![short];
    let store = std::sync::Arc::new(collab_relay::MemoryStore::new());
    let err = collab_relay::Relay::start(config, store.clone())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    let mut config = collab_relay::Config::for_tests();
    config.auth_public_key_file = vec![fixture("ed25519-a.pem")];
    assert!(
        collab_relay::Relay::start(config, store).await.is_err(),
        "a private key is no public key"
    );
}

/// What a refused client sends right behind its `hello` is never read:
/// nothing is stored or echoed, and its `hello` cannot supersede the
/// connected writer whose replica id it names.
#[tokio::test]
async fn a_refused_client_changes_nothing_and_supersedes_no_one() {
    let relay = auth_relay(|_| {}).await;
    let mut writer = client_with(&relay, "notes", 1, &token("notes", Role::Write)).await;
    writer.insert(0, "mine").await.unwrap();
    writer.wait_acked().await.unwrap();

    let mut intruder = raw(&relay).await;
    send(&mut intruder, hello("notes", 1)).await;
    send(
        &mut intruder,
        r#"{"type":"op","ops":[{"kind":"insert","replica_id":1,"seq":4,"lamport":9,"parent_id":null,"text":"evil"}]}"#,
    )
    .await;
    expect_error(&mut intruder, "unauthorized", Some(close::UNAUTHORIZED)).await;

    // The writer was not superseded, saw nothing, and goes on editing.
    assert_eq!(writer.drain(Duration::from_millis(100)).await.unwrap(), 0);
    writer.insert(4, "!").await.unwrap();
    writer.wait_acked().await.unwrap();
    let reader = client_with(&relay, "notes", 2, &token("notes", Role::Read)).await;
    assert_eq!(reader.text(), "mine!");
    assert_eq!(reader.session().last_seen_server_seq().0, 2);
    relay.shutdown().await;
}

/// An `exp` centuries away is a token that outlives the relay, not a
/// timer that overflows.
#[tokio::test]
async fn a_token_that_expires_in_the_far_future_works() {
    let relay = auth_relay(|_| {}).await;
    let forever = Signer::hs256(SECRET)
        .sign(&claims("notes", Role::Write, 1 << 62, None))
        .unwrap();
    let mut c = client_with(&relay, "notes", 1, &forever).await;
    c.insert(0, "still here").await.unwrap();
    c.wait_acked().await.unwrap();
    relay.shutdown().await;
}
