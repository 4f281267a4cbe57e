//! Crash tests: the real `collab-relay` binary on the SQLite store is
//! killed with SIGKILL while clients stream edits, and restarted, again and
//! again. After every round: every operation any client saw echoed is in
//! the log under the same `server_seq`, the log is gapless, and all clients
//! converge to the server's text.
//!
//! `COLLAB_CRASH_ROUNDS=100 cargo test -p collab-relay --test crash --
//! --ignored` runs the long loop.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use collab_crdt::Op;
use collab_crdt::sync::ServerSeq;
use collab_relay::client::Client;

mod support;
use support::{RelayProcess, free_addr};

/// The relay on the SQLite store in `data_dir`.
fn start_relay(addr: SocketAddr, data_dir: &Path) -> RelayProcess {
    let data_dir = data_dir.as_os_str();
    // Snapshots often, so restarts load snapshot plus tail; the whole log
    // kept, so the test can read every entry back.
    let flags = ["--snapshot-every-ops", "200", "--retain-ops", "1000000"];
    let args = [
        "--log".as_ref(),
        "warn".as_ref(),
        "--data-dir".as_ref(),
        data_dir,
    ]
    .into_iter()
    .chain(flags.iter().map(OsStr::new));
    RelayProcess::start(addr, args)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("collab-crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

type Seen = Arc<Mutex<BTreeMap<(String, u64), Op>>>;

/// Edits, reads and reconnects until `stop`; records every echo seen.
async fn editor(
    mut client: Client,
    doc: String,
    seed: u64,
    stop: Arc<AtomicBool>,
    seen: Seen,
) -> Client {
    let mut rng = collab_testkit::Rng::new(seed, 0);
    let mut rand = move |n: usize| rng.below(n);
    client.record_echoes = true;
    while !stop.load(Ordering::Relaxed) {
        if !client.is_connected() && client.connect().await.is_err() {
            client.disconnect();
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let len = client.session().doc().len();
        let result = if len > 3 && rand(4) == 0 {
            client.delete(rand(len - 1), 1).await
        } else {
            client
                .insert(rand(len + 1), ["a", "é", "🙂", "xy"][rand(4)])
                .await
        };
        let result = match result {
            Ok(()) => client.drain(Duration::from_millis(2)).await.map(drop),
            Err(e) => Err(e),
        };
        if result.is_err() {
            client.disconnect();
        }
        let mut seen = seen.lock().unwrap();
        for (seq, op) in client.echoes.drain(..) {
            let previous = seen.insert((doc.clone(), seq.0), op.clone());
            if let Some(previous) = previous {
                assert_eq!(previous, op, "server_seq {seq} of {doc} was reused");
            }
        }
    }
    client
}

/// The whole log of `doc` as a fresh client replays it.
async fn full_log(url: &str, doc: &str) -> (Vec<(ServerSeq, Op)>, String) {
    let mut reader = Client::new(url, doc, 999);
    reader.record_echoes = true;
    reader.connect().await.unwrap();
    let text = reader.text();
    (std::mem::take(&mut reader.echoes), text)
}

async fn crash_rounds(rounds: usize) {
    let dir = temp_dir(&rounds.to_string());
    let addr = free_addr();
    let url = format!("ws://{addr}/ws");
    let docs = ["left", "right"];
    let mut relay = start_relay(addr, &dir);
    let seen: Seen = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..4u64 {
        let doc = docs[i as usize % 2].to_owned();
        let client = Client::new(url.clone(), &doc, i + 1);
        tasks.push(tokio::spawn(editor(
            client,
            doc,
            i + 7,
            stop.clone(),
            seen.clone(),
        )));
    }
    for round in 0..rounds {
        tokio::time::sleep(Duration::from_millis(150 + 37 * (round as u64 % 5))).await;
        drop(relay); // SIGKILL: no shutdown, no flush, no final snapshot.
        tokio::time::sleep(Duration::from_millis(20)).await;
        relay = start_relay(addr, &dir);
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    stop.store(true, Ordering::Relaxed);
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.unwrap());
    }
    // Every client delivers what it still holds, one at a time.
    for client in clients.iter_mut() {
        client.disconnect();
    }
    for client in clients.iter_mut() {
        client.connect().await.unwrap();
        client.wait_acked().await.unwrap();
        client.disconnect();
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.len() > 50,
        "the clients made progress: {} echoes",
        seen.len()
    );
    for doc in docs {
        let (log, text) = full_log(&url, doc).await;
        for (i, (seq, _)) in log.iter().enumerate() {
            assert_eq!(seq.0, i as u64 + 1, "{doc}: the log is gapless from 1");
        }
        let by_seq: BTreeMap<u64, &Op> = log.iter().map(|(s, op)| (s.0, op)).collect();
        for ((d, seq), op) in seen.iter().filter(|((d, _), _)| d == doc) {
            assert_eq!(
                by_seq.get(seq),
                Some(&op),
                "{d}: the op echoed as server_seq {seq} is stored under it"
            );
        }
        for client in clients.iter_mut().filter(|c| c.session().doc_id() == doc) {
            client.connect().await.unwrap();
            assert_eq!(client.text(), text, "{doc}: client converged");
            assert_eq!(client.session().unacked(), 0);
            client.disconnect();
        }
    }
    drop(relay);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_clients_stream_edits_loses_nothing_echoed() {
    crash_rounds(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn sigkill_soak() {
    let rounds = std::env::var("COLLAB_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    crash_rounds(rounds).await;
}
