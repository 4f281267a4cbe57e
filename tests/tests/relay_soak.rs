//! End-to-end soak: many clients on a few documents make random edits and
//! drop and resume their connections at random; at the end every client
//! holds exactly the server's text. Seeded, so a failure replays.

use std::time::Duration;

use collab_crdt::sync::Resync;
use collab_relay::client::Client;
use collab_testkit::Rng;
use collab_tests::*;

const WORDS: &[&str] = &["a", "bc", "déf", "🙂", "e\u{301}", "漢字", "\n", "xyz "];

async fn soak(seed: u64, clients: usize, docs: usize, steps: usize, durable: bool) {
    // Small limits so that evictions of slow readers and snapshot resyncs
    // happen too, not only replays.
    let tweak = |c: &mut collab_relay::Config| {
        c.send_queue_bytes = 32 << 10;
        c.max_replay_ops = 40;
        c.snapshot_every_ops = 50;
        c.retain_ops = 20;
    };
    let dir = TempDir::new("soak");
    let relay = if durable {
        durable_relay(&dir.0, tweak).await
    } else {
        relay_with(tweak).await
    };
    let mut rng = Rng::new(seed, 0);
    let doc_ids: Vec<String> = (0..docs).map(|d| format!("soak-{d}")).collect();
    let mut all: Vec<Client> = Vec::new();
    for i in 0..clients {
        all.push(client(&relay, &doc_ids[i % docs], i as u64 + 1).await);
    }
    for step in 0..steps {
        let c = &mut all[rng.below(clients)];
        let action = rng.below(100);
        let len = c.session().doc().len();
        let result = match action {
            0..=44 => {
                let word = WORDS[rng.below(WORDS.len())];
                c.insert(rng.below(len + 1), word).await
            }
            45..=64 if len > 0 => {
                let pos = rng.below(len);
                let n = 1 + rng.below((len - pos).min(5));
                c.delete(pos, n).await
            }
            65..=74 => {
                if c.is_connected() {
                    c.disconnect();
                }
                Ok(())
            }
            75..=84 if !c.is_connected() => c.connect().await,
            _ if c.is_connected() => c.drain(Duration::from_millis(1)).await.map(drop),
            _ => Ok(()),
        };
        // A connection the server closed (too slow, superseded) is normal
        // here: the client comes back later.
        if let Err(e) = result {
            assert!(!c.is_connected(), "step {step}: error {e} on a live client");
        }
    }
    // One client at a time, so that nobody idles connected (and gets
    // evicted as too slow) while another flushes: first every client
    // delivers its unacknowledged edits, then each catches up and compares.
    for c in all.iter_mut() {
        c.disconnect();
    }
    for c in all.iter_mut() {
        c.connect().await.unwrap();
        c.wait_acked().await.unwrap();
        c.disconnect();
    }
    for doc_id in &doc_ids {
        let room = relay.rooms().loaded_room(doc_id).unwrap();
        let expected = room.text();
        for c in all.iter_mut().filter(|c| c.session().doc_id() == doc_id) {
            c.connect().await.unwrap();
            assert_eq!(c.session().last_seen_server_seq(), room.durable_head());
            assert_eq!(c.text(), expected, "seed {seed}: client of {doc_id}");
            assert_eq!(c.session().unacked(), 0);
            c.disconnect();
        }
    }
    let snapshots: usize = all
        .iter()
        .map(|c| c.resyncs.iter().filter(|r| **r == Resync::Snapshot).count())
        .sum();
    assert!(
        snapshots > 0,
        "seed {seed}: the schedule exercised snapshot resyncs"
    );
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_clients_three_documents_random_disconnects() {
    for seed in [1, 2, 3] {
        soak(seed, 20, 3, 1500, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_soak_on_the_sqlite_store() {
    soak(4, 20, 3, 1500, true).await;
}

/// For long runs: `COLLAB_SOAK_SEEDS=200 cargo test -p collab-tests --test
/// relay_soak -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn soak_forever() {
    let seeds: u64 = std::env::var("COLLAB_SOAK_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    for seed in 0..seeds {
        soak(1000 + seed, 20, 3, 3000, seed % 2 == 0).await;
    }
}
