//! `collab-reconnect`: a relay on SQLite holds many documents; it restarts,
//! and every client reconnects at once. How long until each has its
//! `hello_ack`, and until all have? Several relay binaries (say, two
//! versions) are measured in turn, round after round, in one run.
//!
//! ```text
//! cargo run --release -p collab-bench --bin collab-reconnect -- \
//!     --relay-bin target/release/collab-relay --relay-bin /path/to/older/collab-relay
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use collab_bench::process::ServerProcess;
use collab_relay::client::Client;
use futures_util::{SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Args {
    /// A relay binary to measure; give it more than once to compare.
    #[arg(long = "relay-bin", required = true)]
    relays: Vec<PathBuf>,
    #[arg(long, default_value_t = 500)]
    docs: usize,
    /// Clients reconnecting at once, spread over the documents.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Characters typed into each document before the restart, one
    /// operation each, so that loading a document has a log to read.
    #[arg(long, default_value_t = 200)]
    ops_per_doc: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Of the clients, how many say hello to documents that do not exist
    /// yet (a first `hello` creates the document in the store).
    #[arg(long, default_value_t = 100)]
    new_docs: usize,
    /// Writers that keep the store busy during the storm, each sending
    /// inserts of `--writer-kib` to a document of its own without waiting.
    #[arg(long, default_value_t = 0)]
    writers: usize,
    #[arg(long, default_value_t = 256)]
    writer_kib: usize,
    #[arg(long, default_value = "target/collab-reconnect-bench")]
    dir: PathBuf,
}

fn start(relay: &std::path::Path, dir: &std::path::Path) -> ServerProcess {
    let data = dir.display().to_string();
    ServerProcess::spawn(
        relay,
        &[
            "--addr",
            "127.0.0.1:0",
            "--store",
            "sqlite",
            "--data-dir",
            &data,
            "--log",
            "warn",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Fills every document through the relay itself (so that each binary
/// writes the schema it reads).
async fn fill(addr: std::net::SocketAddr, docs: usize, ops: usize) {
    let url = format!("ws://{addr}/ws");
    let mut set = JoinSet::new();
    for d in 0..docs {
        let url = url.clone();
        set.spawn(async move {
            let mut c = Client::new(url, &format!("doc-{d}"), 1 + d as u64);
            c.connect().await.expect("connects");
            for i in 0..ops {
                c.insert(i, "x").await.expect("insert");
            }
            c.wait_acked().await.expect("acked");
            c.close().await;
        });
        while set.len() >= 50 {
            set.join_next().await;
        }
    }
    while set.join_next().await.is_some() {}
}

/// Writers that keep the commit threads busy until `stop`.
fn busy_writers(
    addr: std::net::SocketAddr,
    writers: usize,
    kib: usize,
    round: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for w in 0..writers {
        let mut stop = stop.clone();
        set.spawn(async move {
            let url = format!("ws://{addr}/ws");
            let doc = format!("heavy-{round}-{w}");
            let mut c = Client::new(url, &doc, 900_000 + w as u64);
            if c.connect().await.is_err() {
                return;
            }
            let text = "h".repeat(kib * 1024);
            while !*stop.borrow() {
                if c.insert(0, &text).await.is_err() {
                    return;
                }
                // Read what came back, briefly, so that the writer is not
                // evicted as a slow reader.
                tokio::select! {
                    _ = c.drain(Duration::from_millis(5)) => {}
                    _ = stop.changed() => {}
                }
            }
        });
    }
    set
}

/// The slowest answer to `GET /health` while `stop` is not set.
async fn probe_health(
    addr: std::net::SocketAddr,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut worst = Duration::ZERO;
    while !*stop.borrow() {
        let started = Instant::now();
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            let request = b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
            let _ = s.write_all(request).await;
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf).await;
        }
        worst = worst.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worst
}

/// Every client connects and says hello at once (the first `new_docs` of
/// them to documents that do not exist yet); the time from the start until
/// each `hello_ack`.
async fn storm(
    addr: std::net::SocketAddr,
    docs: usize,
    clients: usize,
    new_docs: usize,
    round: usize,
) -> Vec<Duration> {
    let url = format!("ws://{addr}/ws");
    let started = Instant::now();
    let mut set = JoinSet::new();
    for c in 0..clients {
        let url = url.clone();
        set.spawn(async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connects");
            let doc = if c < new_docs {
                format!("new-{round}-{c}")
            } else {
                format!("doc-{}", c % docs)
            };
            let hello = format!(
                r#"{{"type":"hello","doc_id":"{doc}","replica_id":{}}}"#,
                10_000 + c
            );
            socket.send(Message::text(hello)).await.expect("hello");
            while let Some(Ok(frame)) = socket.next().await {
                if let Message::Text(text) = frame
                    && text.starts_with(r#"{"type":"hello_ack""#)
                {
                    return Some((started.elapsed(), socket));
                }
            }
            None
        });
    }
    let mut times = Vec::new();
    let mut sockets = Vec::new();
    while let Some(done) = set.join_next().await {
        if let Ok(Some((t, socket))) = done {
            times.push(t);
            sockets.push(socket);
        }
    }
    drop(sockets);
    times.sort();
    times
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    println!(
        "{} clients reconnect to {} documents ({} operations each) after a restart, SQLite store:",
        args.clients, args.docs, args.ops_per_doc
    );
    println!(
        "{} of them to new documents; {} writers sending {} KiB inserts meanwhile",
        args.new_docs, args.writers, args.writer_kib
    );
    println!("| round | relay | all hello_ack | p50 | p99 | answered | slowest /health |");
    println!("|---|---|---|---|---|---|---|");
    let mut dirs = Vec::new();
    for (i, relay) in args.relays.iter().enumerate() {
        let dir = args.dir.join(format!("relay-{i}"));
        let _ = std::fs::remove_dir_all(&dir);
        let server = start(relay, &dir);
        fill(server.addr(), args.docs, args.ops_per_doc).await;
        server.stop();
        dirs.push(dir);
    }
    for round in 0..args.rounds {
        for (relay, dir) in args.relays.iter().zip(&dirs) {
            let server = start(relay, dir);
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let mut writers = busy_writers(
                server.addr(),
                args.writers,
                args.writer_kib,
                round,
                stopped.clone(),
            );
            if args.writers > 0 {
                // Let the writers fill the commit threads first.
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let health = tokio::spawn(probe_health(server.addr(), stopped));
            let times = storm(server.addr(), args.docs, args.clients, args.new_docs, round).await;
            let _ = stop.send(true);
            let worst_health = health.await.unwrap_or_default();
            while writers.join_next().await.is_some() {}
            server.stop();
            let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
            println!(
                "| {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {}/{} | {:.0} ms |",
                round + 1,
                relay.display(),
                ms(*times.last().unwrap_or(&Duration::ZERO)),
                ms(at(0.5)),
                ms(at(0.99)),
                times.len(),
                args.clients,
                ms(worst_health)
            );
        }
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}
