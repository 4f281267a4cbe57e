//! End-to-end: the abuse limits (`docs/security.md`). A connection over
//! its rate is answered `rate_limited` with a retry-after, keeps its
//! connection and loses nothing; one address is capped in open
//! WebSockets and in upgrades per minute, and its flood leaves clients at
//! other addresses alone.

use std::net::SocketAddr;
use std::time::Duration;

use collab_crdt::sync::ServerMessage;
use collab_relay::client::{Client, Socket};
use collab_tests::*;

/// A WebSocket to the relay from the local address `from` (any of
/// 127.0.0.0/8 on Linux), or the HTTP status that refused it.
async fn ws_from(relay: &collab_relay::Relay, from: [u8; 4]) -> Result<Socket, u16> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let stream = socket.connect(relay.addr()).await.expect("tcp connects");
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    match tokio_tungstenite::client_async(ws_url(relay), stream).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("upgrade: {e}"),
    }
}

/// A client sending faster than its op rate: some messages are refused
/// with `rate_limited`, the session holds them and sends them again after
/// the retry-after, and every edit arrives once, in order, on one
/// connection.
#[tokio::test]
async fn a_rate_limited_client_backs_off_resends_and_loses_nothing() {
    let relay = relay_with(|c| {
        c.op_rate = 20;
        c.op_burst = 5;
    })
    .await;
    let mut fast = client(&relay, "doc", 1).await;
    let mut expected = String::new();
    for i in 0..40 {
        let ch = char::from(b'a' + (i % 26) as u8);
        fast.insert(i, &ch.to_string()).await.unwrap();
        expected.push(ch);
    }
    fast.wait_acked().await.unwrap();
    let limited: Vec<_> = fast
        .errors
        .iter()
        .filter(|e| e.code == "rate_limited")
        .collect();
    assert!(!limited.is_empty(), "the limit was hit");
    for e in &limited {
        assert!(!e.fatal);
        assert!(
            e.retry_after_ms.is_some_and(|ms| ms > 0 && ms <= 1000),
            "{e:?}"
        );
    }
    assert_eq!(fast.resyncs.len(), 1, "one connection throughout");
    assert_eq!(fast.text(), expected);
    let reader = client(&relay, "doc", 2).await;
    assert_eq!(reader.text(), expected, "stored once each, in order");
    assert_eq!(reader.session().last_seen_server_seq().0, 40);
    relay.shutdown().await;
}

/// The byte rate refuses too, naming the first operation of the message,
/// and nothing of the refused message is accepted.
#[tokio::test]
async fn the_byte_rate_refuses_whole_messages() {
    let relay = relay_with(|c| {
        c.byte_rate = 1_000;
        c.byte_burst = 1_000;
    })
    .await;
    let mut socket = raw(&relay).await;
    send(&mut socket, hello("doc", 7)).await;
    assert!(matches!(
        next(&mut socket).await,
        Received::Msg(ServerMessage::HelloAck(_))
    ));
    let big = "x".repeat(3_000);
    let op = |seq: u64, text: &str| {
        format!(
            r#"{{"type":"op","ops":[{{"kind":"insert","replica_id":7,"seq":{seq},"lamport":{},"parent_id":null,"text":"{text}"}}]}}"#,
            seq + 1
        )
    };
    // Passes on what the bucket holds, and leaves it 2,000 bytes in debt.
    send(&mut socket, op(0, &big)).await;
    assert!(matches!(
        next(&mut socket).await,
        Received::Msg(ServerMessage::OpEcho(_))
    ));
    send(&mut socket, op(3_000, "y")).await;
    match next(&mut socket).await {
        Received::Msg(ServerMessage::Error(e)) => {
            assert_eq!(e.code, "rate_limited");
            assert_eq!((e.index, e.seq), (Some(0), Some(3_000)));
            let ms = e.retry_after_ms.expect("retry_after_ms");
            // 2,000 bytes of text and the message's JSON around it.
            assert!((2_000..=2_300).contains(&ms), "about 2 s of debt: {ms}");
        }
        other => panic!("expected rate_limited, got {other:?}"),
    }
    let reader = client(&relay, "doc", 8).await;
    assert_eq!(reader.text(), big, "the refused message was not accepted");
    relay.shutdown().await;
}

#[tokio::test]
async fn an_address_is_capped_in_open_websockets() {
    let relay = relay_with(|c| c.max_connections_per_ip = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(
            ws_from(&relay, [127, 0, 0, 2])
                .await
                .expect("under the cap"),
        );
    }
    assert_eq!(ws_from(&relay, [127, 0, 0, 2]).await.err(), Some(429));
    let mut other = ws_from(&relay, [127, 0, 0, 3])
        .await
        .expect("another address");
    send(&mut other, hello("doc", 1)).await;
    assert!(matches!(
        next(&mut other).await,
        Received::Msg(ServerMessage::HelloAck(_))
    ));
    // A closed connection frees its place.
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    while !matches!(next(&mut first).await, Received::Closed(_)) {}
    let mut again = None;
    for _ in 0..100 {
        match ws_from(&relay, [127, 0, 0, 2]).await {
            Ok(socket) => {
                again = Some(socket);
                break;
            }
            Err(429) => tokio::task::yield_now().await,
            Err(status) => panic!("status {status}"),
        }
    }
    assert!(
        again.is_some(),
        "the place came back once the server saw the close"
    );
    let (_, metrics) = http_get(relay.addr(), "/metrics").await;
    assert!(metrics.contains(r#"collab_upgrades_refused_total{reason="connections_per_ip"}"#));
    relay.shutdown().await;
}

/// A flood of connection attempts from one address is refused with 429
/// and a Retry-After once past the per-minute allowance, while a client at
/// another address connects and edits as usual throughout.
#[tokio::test]
async fn a_flood_of_hellos_from_one_address_leaves_other_clients_alone() {
    let relay = relay_with(|c| c.hellos_per_ip_per_minute = 10).await;
    let (status, _) = http_get(relay.addr(), "/health").await;
    assert_eq!(status, 200);
    let mut writer = Client::new(ws_url(&relay), "doc", 1);
    writer.connect().await.unwrap();
    let mut refused = 0;
    for i in 0..50u64 {
        match ws_from(&relay, [127, 0, 0, 4]).await {
            Ok(mut s) => {
                send(&mut s, hello("doc", 100 + i)).await;
                let _ = next(&mut s).await;
            }
            Err(status) => {
                assert_eq!(status, 429);
                refused += 1;
            }
        }
        if i % 10 == 0 {
            writer.insert(0, "x").await.unwrap();
            writer.wait_acked().await.unwrap();
        }
    }
    assert_eq!(refused, 40, "ten a minute, all at once");
    let addr = relay.addr();
    let retry_after = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from(([127, 0, 0, 4], 0))).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        stream
            .write_all(b"GET /ws HTTP/1.1\r\nhost: relay\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
        String::from_utf8_lossy(&response).to_lowercase()
    };
    assert!(retry_after.starts_with("http/1.1 429"), "{retry_after}");
    assert!(
        retry_after.contains("retry-after: 6"),
        "one upgrade every 6 s: {retry_after}"
    );
    let other = client(&relay, "doc", 2).await;
    assert_eq!(
        other.text(),
        "xxxxx",
        "the other address was served throughout"
    );
    relay.shutdown().await;
}
