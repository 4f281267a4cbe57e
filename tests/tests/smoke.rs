use collab_tests::*;

#[tokio::test]
async fn smoke() {
    let relay = relay().await;
    let mut a = client(&relay, "d", 1).await;
    let mut b = client(&relay, "d", 2).await;
    a.insert(0, "hello").await.unwrap();
    a.wait_acked().await.unwrap();
    b.sync_to(a.session().last_seen_server_seq()).await.unwrap();
    assert_eq!(b.text(), "hello");
    relay.shutdown().await;
}
