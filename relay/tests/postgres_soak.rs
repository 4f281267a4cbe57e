//! The multi-relay soak (`docs/scale-out.md`): three `collab-relay`
//! processes on one PostgreSQL database, 20 clients on 5 documents that
//! edit at random and move between relays, every few seconds one relay
//! killed with SIGKILL and started again, and, once, the database cut off
//! from every relay for a while (as when it restarts). At the end every client's text
//! equals a fresh client's, the database's `server_seq`s have no gap and
//! no operation twice, and every operation any client saw echoed is in the
//! log under the number it was echoed with.
//!
//! Needs `COLLAB_TEST_POSTGRES` (see `collab_testkit::postgres`); skips
//! without it, except in CI. `COLLAB_SOAK_SECONDS` sets the editing time.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use collab_crdt::Op;
use collab_relay::PostgresStore;
use collab_relay::client::Client;
use collab_testkit::Rng;
use collab_testkit::postgres::Partition;

mod support;
use support::{RelayProcess, free_addr};

const RELAYS: usize = 3;
const CLIENTS: u64 = 20;
const DOCS: usize = 5;

/// A relay process on the shared database, `retain` entries of log kept
/// behind the latest snapshot.
fn start_node(addr: SocketAddr, url: &str, retain: u64) -> RelayProcess {
    let retain = retain.to_string();
    RelayProcess::start(
        addr,
        [
            "--log",
            "error",
            "--store",
            url,
            // Snapshots often, so that loads and retention with several
            // writers are exercised.
            "--snapshot-every-ops",
            "100",
            "--retain-ops",
            &retain,
            "--op-rate",
            "0",
            "--room-idle-ms",
            "500",
            // Twenty clients on one address reconnect far more often than
            // the per-address limit on hellos allows a real one.
            "--hellos-per-ip-per-minute",
            "0",
        ],
    )
}

/// Every echo any client saw: (document, server_seq) → operation.
type Seen = Arc<Mutex<BTreeMap<(String, u64), Op>>>;

/// Edits, reads, and moves to another relay at random until `stop`;
/// records every echo seen.
async fn editor(
    mut client: Client,
    urls: Arc<Vec<String>>,
    seed: u64,
    stop: Arc<AtomicBool>,
    seen: Seen,
) -> Client {
    let mut rng = Rng::new(seed, 0);
    let doc = client.session().doc_id().to_owned();
    client.record_echoes = true;
    while !stop.load(Ordering::Relaxed) {
        if !client.is_connected() {
            client.set_url(urls[rng.below(urls.len())].clone());
            if client.connect().await.is_err() {
                client.disconnect();
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        }
        let len = client.session().doc().len();
        let result = if len > 3 && rng.below(4) == 0 {
            client.delete(rng.below(len - 1), 1).await
        } else {
            client
                .insert(rng.below(len + 1), ["a", "é", "🙂", "xy"][rng.below(4)])
                .await
        };
        let result = match result {
            Ok(()) => client.drain(Duration::from_millis(3)).await.map(drop),
            Err(e) => Err(e),
        };
        // Now and then the client moves to another relay of its own will.
        if result.is_err() || rng.below(30) == 0 {
            client.disconnect();
        }
        let mut seen = seen.lock().unwrap();
        for (seq, op) in client.echoes.drain(..) {
            if let Some(previous) = seen.insert((doc.clone(), seq.0), op.clone()) {
                assert_eq!(previous, op, "server_seq {seq} of {doc} was given twice");
            }
        }
    }
    client
}

/// Connects, coming back as the protocol says when sent away: a replay
/// that another relay's snapshot cut short ends with `too_slow`, and the
/// next `hello` gets a snapshot (`docs/protocol.md` §4).
async fn connect(client: &mut Client) {
    for _ in 0..10 {
        match client.connect().await {
            Ok(()) => return,
            Err(collab_relay::client::ClientError::Server(e)) if e.code == "too_slow" => {
                client.disconnect();
            }
            Err(e) => panic!("connect: {e}"),
        }
    }
    panic!("connect: sent away ten times");
}

/// The whole log kept, so that every echo is checked against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_relays_killed_at_random_lose_and_duplicate_nothing() {
    soak("soak", 30, 1_000_000).await;
}

/// A short log: the relays cut it behind each other's snapshots while
/// clients that fell behind are sent snapshots; the retained log is
/// checked, and everyone still converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_relays_sharing_snapshots_and_a_short_log_converge() {
    soak("short_log", 15, 50).await;
}

/// `COLLAB_SOAK_SECONDS` replaces `default_seconds` of editing.
async fn soak(name: &str, default_seconds: u64, retain: u64) {
    let Some(db) = collab_testkit::postgres::fresh_database(name, name) else {
        return;
    };
    let seconds: u64 = std::env::var("COLLAB_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_seconds);
    // The relays reach the database through a proxy the test can cut.
    let (outage, proxied) = match Partition::start(&db).await {
        Some((partition, proxied)) => (Some(partition), proxied),
        None => (None, db.clone()),
    };
    let addrs: Vec<SocketAddr> = (0..RELAYS).map(|_| free_addr()).collect();
    let urls: Arc<Vec<String>> = Arc::new(addrs.iter().map(|a| format!("ws://{a}/ws")).collect());
    let mut nodes: Vec<Option<RelayProcess>> = addrs
        .iter()
        .map(|&a| Some(start_node(a, &proxied, retain)))
        .collect();
    let docs: Vec<String> = (0..DOCS).map(|i| format!("soak-{i}")).collect();
    let seen: Seen = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let doc = &docs[i as usize % DOCS];
        let client = Client::new(urls[i as usize % RELAYS].clone(), doc, i + 1);
        tasks.push(tokio::spawn(editor(
            client,
            urls.clone(),
            1000 + i,
            stop.clone(),
            seen.clone(),
        )));
    }
    let mut rng = Rng::new(7, 1);
    let started = Instant::now();
    let mut kills = 0;
    let mut outages = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        if let Some(partition) = &outage
            && outages == 0
            && started.elapsed() > Duration::from_secs(seconds / 2)
        {
            // The database goes away for every relay, then comes back.
            partition.cut();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            partition.heal();
            outages += 1;
        }
        tokio::time::sleep(Duration::from_millis(1500 + rng.below(2000) as u64)).await;
        let victim = rng.below(RELAYS);
        nodes[victim] = None;
        kills += 1;
        tokio::time::sleep(Duration::from_millis(200 + rng.below(500) as u64)).await;
        nodes[victim] = Some(start_node(addrs[victim], &proxied, retain));
    }
    stop.store(true, Ordering::Relaxed);
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.unwrap());
    }
    // Every client delivers what it still holds, each through some relay.
    for (i, client) in clients.iter_mut().enumerate() {
        client.disconnect();
        client.set_url(urls[i % RELAYS].clone());
        connect(client).await;
        client.wait_acked().await.unwrap();
        client.disconnect();
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.len() > 200,
        "the clients made progress: {} echoes",
        seen.len()
    );
    let logs = {
        let (db, docs) = (db.clone(), docs.clone());
        tokio::task::spawn_blocking(move || {
            let store = PostgresStore::open(&db, 1_000_000).expect("store opens");
            docs.iter()
                .map(|d| store.log_keys(d).expect("log reads"))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap()
    };
    if retain < 1_000 {
        assert!(
            logs.iter().any(|log| log.first().is_some_and(|k| k.0 > 1)),
            "the relays cut the log behind their snapshots"
        );
    }
    for (doc, log) in docs.iter().zip(&logs) {
        // The log holds `first..=head`; what lies before is in snapshots.
        let first = log.first().map_or(1, |k| k.0);
        let head = collab_crdt::sync::ServerSeq(log.last().map_or(0, |k| k.0));
        if retain >= 1_000_000 {
            assert_eq!(first, 1, "{doc}: the whole log is kept");
        }
        for (i, (server_seq, _, _)) in log.iter().enumerate() {
            assert_eq!(*server_seq, first + i as u64, "{doc}: server_seq gap-free");
        }
        let ids: HashSet<(u64, u64)> = log.iter().map(|&(_, r, s)| (r, s)).collect();
        assert_eq!(ids.len(), log.len(), "{doc}: no operation logged twice");
        for ((_, seq), op) in seen
            .iter()
            .filter(|((d, seq), _)| d == doc && *seq >= first)
        {
            let logged = log.get((seq - first) as usize).map(|&(_, r, s)| (r, s));
            assert_eq!(
                logged,
                Some((op.replica_id(), op.seq())),
                "{doc}: the op echoed as server_seq {seq} is logged under it"
            );
        }
        // A fresh client on each relay, and every editor, see one text.
        let mut texts = Vec::new();
        for (n, url) in urls.iter().enumerate() {
            let mut fresh = Client::new(url.clone(), doc, 900 + n as u64);
            connect(&mut fresh).await;
            fresh.sync_to(head).await.unwrap();
            texts.push(fresh.text());
            fresh.disconnect();
        }
        assert!(
            texts.windows(2).all(|w| w[0] == w[1]),
            "{doc}: relays agree"
        );
        for client in clients.iter_mut().filter(|c| c.session().doc_id() == doc) {
            connect(client).await;
            client.sync_to(head).await.unwrap();
            assert_eq!(client.text(), texts[0], "{doc}: client converged");
            assert_eq!(client.session().unacked(), 0);
            client.disconnect();
        }
    }
    eprintln!(
        "soak: {kills} relays killed, {outages} database outage, {} echoes checked",
        seen.len()
    );
    drop(nodes);
}
