//! `collab-flood`: one client sends 1 MiB messages of small deletes and
//! never reads; how much memory does the relay hold? Several relay
//! binaries are measured in turn in one run: the relay's peak resident
//! memory, how many messages it took, and how the client was stopped.
//!
//! ```text
//! cargo run --release -p collab-bench --bin collab-flood -- \
//!     --relay-bin target/release/collab-relay --relay-bin /path/to/older/collab-relay
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use collab_bench::process::{ServerProcess, peak_rss};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser)]
struct Args {
    #[arg(long = "relay-bin", required = true)]
    relays: Vec<PathBuf>,
    /// Messages the client sends at most.
    #[arg(long, default_value_t = 212)]
    messages: usize,
}

/// Current resident memory of a process, in bytes.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// One message of just under 1 MiB: deletes of one character, each
/// already deleted by the one before (after the first).
fn deletes(first_seq: u64, count: u64) -> String {
    let ops: Vec<String> = (0..count)
        .map(|i| {
            let seq = first_seq + i;
            format!(
                r#"{{"kind":"delete","replica_id":7,"seq":{seq},"lamport":{},"target":{{"lamport":1,"replica_id":7}},"len":1}}"#,
                seq + 1
            )
        })
        .collect();
    format!(r#"{{"type":"op","ops":[{}]}}"#, ops.join(","))
}

async fn flood(relay: &std::path::Path, messages: usize) -> (u64, usize, String) {
    let server = ServerProcess::spawn(
        relay,
        &[
            "--addr",
            "127.0.0.1:0",
            "--store",
            "memory",
            "--log",
            "warn",
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let pid = server.pid();
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", server.addr()))
        .await
        .expect("connects");
    socket
        .send(Message::text(
            r#"{"type":"hello","doc_id":"flood","replica_id":7}"#,
        ))
        .await
        .expect("hello");
    let insert = r#"{"type":"op","ops":[{"kind":"insert","replica_id":7,"seq":0,"lamport":1,"parent_id":null,"text":"x"}]}"#;
    socket.send(Message::text(insert)).await.expect("insert");
    // From here on the client reads nothing: its socket buffers fill, then
    // whatever the relay queues for it.
    let per_message = 8_000u64;
    let mut seq = 1;
    let mut peak = 0;
    let mut sent = 0;
    let mut ended = "every message accepted".to_owned();
    for _ in 0..messages {
        let message = deletes(seq, per_message);
        let send =
            tokio::time::timeout(Duration::from_secs(10), socket.send(Message::text(message)));
        match send.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                ended = format!("connection closed ({e})");
                break;
            }
            Err(_) => {
                ended = "the relay stopped reading (send blocked 10 s)".to_owned();
                break;
            }
        }
        sent += 1;
        seq += per_message;
        tokio::time::sleep(Duration::from_millis(20)).await;
        peak = peak.max(rss(pid).unwrap_or(0));
    }
    // What the relay said, if anything, once the client looks.
    if let Ok(Some(Ok(Message::Close(Some(frame))))) =
        tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Close(f))) => return Some(Ok(Message::Close(f))),
                    Some(Ok(_)) => continue,
                    other => return other,
                }
            }
        })
        .await
    {
        ended = format!(
            "{ended}; closed with {} {}",
            u16::from(frame.code),
            frame.reason
        );
    }
    peak = peak.max(peak_rss(pid).unwrap_or(0));
    server.stop();
    (peak, sent, ended)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    println!("| relay | messages sent | relay peak RSS | how it ended |");
    println!("|---|---|---|---|");
    for relay in &args.relays {
        let (peak, sent, ended) = flood(relay, args.messages).await;
        println!(
            "| {} | {sent} | {:.0} MiB | {ended} |",
            relay.display(),
            peak as f64 / (1 << 20) as f64
        );
    }
}
