//! End-to-end: the relay against pages it did not serve. The `Origin` of
//! WebSocket upgrades (cross-site WebSocket hijacking), `/metrics` behind a
//! token, and the demo's token endpoint, which exists in demo mode only.

use collab_crdt::sync::ServerMessage;
use collab_relay::auth::Role;
use collab_tests::*;

#[tokio::test]
async fn by_default_only_pages_of_the_relay_itself_may_open_a_websocket() {
    let relay = relay().await;
    let own = format!("http://{}", relay.addr());
    assert_eq!(
        raw_from_origin(&relay, "http://evil.example").await.err(),
        Some(403)
    );
    let mut socket = raw_from_origin(&relay, &own).await.expect("same origin");
    send(&mut socket, hello("doc", 1)).await;
    assert!(matches!(
        next(&mut socket).await,
        Received::Msg(ServerMessage::HelloAck(_))
    ));
    let (_, metrics) = http_get(relay.addr(), "/metrics").await;
    assert!(
        metrics.contains(r#"collab_upgrades_refused_total{reason="origin"} 1"#),
        "{metrics}"
    );
    relay.shutdown().await;
}

#[tokio::test]
async fn allowed_origins_lists_exactly_the_pages_that_may_connect() {
    let relay = relay_with(|c| c.allowed_origins = vec!["https://app.example".into()]).await;
    assert!(raw_from_origin(&relay, "https://app.example").await.is_ok());
    let own = format!("http://{}", relay.addr());
    assert_eq!(raw_from_origin(&relay, &own).await.err(), Some(403));
    assert_eq!(
        raw_from_origin(&relay, "https://app.example.evil")
            .await
            .err(),
        Some(403)
    );
    // A client that is not a browser sends no Origin: only tokens keep it out.
    let mut native = raw(&relay).await;
    send(&mut native, hello("doc", 1)).await;
    assert!(matches!(
        next(&mut native).await,
        Received::Msg(ServerMessage::HelloAck(_))
    ));
    relay.shutdown().await;
}

#[tokio::test]
async fn metrics_need_a_token_for_every_document_when_the_relay_has_keys() {
    let relay = auth_relay(|_| {}).await;
    let (status, _) = http_get(relay.addr(), "/metrics").await;
    assert_eq!(status, 401);
    let narrow = format!("Bearer {}", token("notes", Role::Read));
    let (status, _) = http_get_with(relay.addr(), "/metrics", &[("authorization", &narrow)]).await;
    assert_eq!(status, 401, "a token for one document is not enough");
    let all = format!("Bearer {}", token("*", Role::Read));
    let (status, body) = http_get_with(relay.addr(), "/metrics", &[("authorization", &all)]).await;
    assert_eq!(status, 200);
    assert!(body.contains("collab_websocket_connections"));
    let (status, _) = http_get(relay.addr(), "/health").await;
    assert_eq!(status, 200, "health stays open");
    relay.shutdown().await;
}

#[tokio::test]
async fn the_demo_token_endpoint_exists_only_in_demo_mode() {
    let production = auth_relay(|_| {}).await;
    let (status, _) = http_get(production.addr(), "/demo/token?doc=notes").await;
    assert_eq!(status, 404);
    production.shutdown().await;

    // Demo mode without a key of its own makes one up for its lifetime.
    let demo = relay_with(|c| c.demo = true).await;
    let (_, health) = http_get(demo.addr(), "/health").await;
    assert!(health.contains(r#""auth":"token""#), "{health}");
    let mint = |role: &'static str| {
        let addr = demo.addr();
        async move {
            let (status, body) =
                http_get(addr, &format!("/demo/token?doc=notes&role={role}")).await;
            assert_eq!(status, 200, "{body}");
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let writer = mint("write").await;
    let reader = mint("read").await;
    let mut w = client_with(&demo, "notes", 1, &writer).await;
    w.insert(0, "demo").await.unwrap();
    w.wait_acked().await.unwrap();
    let r = client_with(&demo, "notes", 2, &reader).await;
    assert!(r.session().is_read_only());
    assert_eq!(r.text(), "demo");
    let (status, _) = http_get(demo.addr(), "/demo/token?doc=bad%20id").await;
    assert_eq!(status, 400);
    let (status, _) = http_get(demo.addr(), "/demo/token?doc=notes&role=admin").await;
    assert_eq!(status, 400);
    let mut no_token = raw(&demo).await;
    send(&mut no_token, hello("notes", 3)).await;
    expect_error(&mut no_token, "unauthorized", Some(4010)).await;
    demo.shutdown().await;
}
