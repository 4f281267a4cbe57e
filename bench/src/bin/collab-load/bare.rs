//! The bare broadcast server: the floor of what any relay can do, to hold
//! the relay's numbers against. Straight on tokio-tungstenite, it parses
//! only each connection's `hello`, numbers every `op` message per document
//! and forwards its op by string splicing, never parsing or integrating it.
//!
//! That only works for the shape the load clients send: exactly one op per
//! message, serialized by serde as `{"type":"op","ops":[<op>]}`. It answers
//! every `hello` with `server_seq` 0, so clients must all join before the
//! first edit, as the load generator's do.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Frames queued for one connection before it counts as too slow; the
/// relay's default, so both servers drop a slow reader at the same point.
const SEND_QUEUE: usize = 4096;

/// Frames written before a flush, as the relay's writer does.
const MAX_BATCH: usize = 256;

const OP_PREFIX: &str = r#"{"type":"op","ops":["#;
const OP_SUFFIX: &str = "]}";

/// The fields of `hello` the server needs; the rest is ignored.
#[derive(Deserialize)]
struct Hello {
    doc_id: String,
    replica_id: u64,
}

/// Every document with a connection, by id.
#[derive(Default)]
struct Docs {
    docs: Mutex<HashMap<String, Arc<Doc>>>,
    next_conn: AtomicU64,
}

#[derive(Default)]
struct Doc {
    /// One lock orders numbering and queueing, so every connection receives
    /// the echoes in `server_seq` order.
    state: Mutex<DocState>,
}

#[derive(Default)]
struct DocState {
    /// The last `server_seq` given out.
    seq: u64,
    members: Vec<(u64, mpsc::Sender<Message>)>,
}

impl Doc {
    fn lock(&self) -> MutexGuard<'_, DocState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Numbers `op` and queues its echo for every member, sender included.
    /// A member whose queue is full is dropped: its writer then ends.
    fn broadcast(&self, replica_id: u64, op: &str) {
        let mut state = self.lock();
        state.seq += 1;
        let echo = format!(
            r#"{{"type":"op_echo","server_seq":{},"replica_id":{replica_id},"op":{op}}}"#,
            state.seq
        );
        // Text messages are backed by `Bytes`: every clone shares one buffer.
        let frame = Message::text(echo);
        state
            .members
            .retain(|(_, queue)| match queue.try_send(frame.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    eprintln!("bare: a connection's send queue is full; dropping it");
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }
}

/// Serves until the process is killed. Prints `... listening on http://ADDR`
/// once bound, for the load generator to read.
/// `read_buffer` is tungstenite's per-connection read buffer size.
pub async fn serve(addr: SocketAddr, read_buffer: usize) -> std::process::ExitCode {
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("bare: cannot listen on {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    println!("bare broadcast {}{bound}", collab_bench::process::LISTENING);
    let _ = std::io::stdout().flush();
    let docs = Arc::new(Docs::default());
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                tokio::spawn(connection(tcp, docs.clone(), read_buffer));
            }
            Err(e) => eprintln!("bare: accept failed: {e}"),
        }
    }
}

async fn connection(tcp: TcpStream, docs: Arc<Docs>, read_buffer: usize) {
    // Small frames must leave at once, not wait for Nagle's algorithm.
    let _ = tcp.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(read_buffer);
    let Ok(socket) = tokio_tungstenite::accept_async_with_config(tcp, Some(config)).await else {
        return;
    };
    let (sink, mut stream) = socket.split();
    let hello = loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<Hello>(&text) {
                Ok(hello) => break hello,
                Err(_) => return,
            },
            Some(Ok(_)) => continue,
            _ => return,
        }
    };
    let conn = docs.next_conn.fetch_add(1, Ordering::Relaxed);
    let (queue, queue_rx) = mpsc::channel(SEND_QUEUE);
    let doc_id_json = serde_json::to_string(&hello.doc_id).unwrap_or_default();
    let ack = format!(
        r#"{{"type":"hello_ack","doc_id":{doc_id_json},"replica_id":{},"server_seq":0,"epoch":"bare","resync":"replay"}}"#,
        hello.replica_id
    );
    let doc = {
        let mut map = docs.docs.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(hello.doc_id.clone()).or_default().clone()
    };
    {
        // Queued under the document's lock, so the ack precedes every echo.
        let mut state = doc.lock();
        let _ = queue.try_send(Message::text(ack));
        state.members.push((conn, queue));
    }
    let writer = tokio::spawn(write_loop(sink, queue_rx));
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            if msg.is_close() {
                break;
            }
            continue;
        };
        let Some(op) = text
            .strip_prefix(OP_PREFIX)
            .and_then(|rest| rest.strip_suffix(OP_SUFFIX))
        else {
            eprintln!("bare: not a one-op message; closing the connection");
            break;
        };
        doc.broadcast(hello.replica_id, op);
    }
    doc.lock().members.retain(|(id, _)| *id != conn);
    let _ = writer.await;
}

/// Feeds everything queued, then flushes once, like the relay's writer.
async fn write_loop(
    mut sink: SplitSink<WebSocketStream<TcpStream>, Message>,
    mut queue: mpsc::Receiver<Message>,
) {
    let result = async {
        while let Some(msg) = queue.recv().await {
            sink.feed(msg).await?;
            for _ in 0..MAX_BATCH {
                match queue.try_recv() {
                    Ok(msg) => sink.feed(msg).await?,
                    Err(_) => break,
                }
            }
            sink.flush().await?;
        }
        Ok::<(), tokio_tungstenite::tungstenite::Error>(())
    }
    .await;
    if result.is_ok() {
        let _ = sink.close().await;
    }
}
