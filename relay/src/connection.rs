//! One WebSocket connection: the handshake, the reader loop that feeds the
//! room, and the writer task that drains the connection's bounded queue.
//!
//! Every way a connection ends goes through [`Kill`]: whoever decides (the
//! room on a full queue or a superseding client, the reader on bad input,
//! shutdown) fires it once with an [`ErrorCode`]; the writer then sends the
//! `error` message and the close frame, and the reader leaves the room.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use collab_crdt::sync::{
    ClientMessage, ErrorCode, ErrorMessage, Hello, OpEcho, ServerMessage, ServerSeq,
    SnapshotMessage,
};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::Instrument;

/// An upgraded connection (see `server::upgrade`).
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

type WsError = tungstenite::Error;

use crate::config::Config;
use crate::room::{CatchUp, ConnId, JoinError, Member, Room, SubmitError, snapshot_data};
use crate::rooms::Rooms;

/// What the room queues for a connection: finished frames, serialized once
/// and shared by every receiver. A client's whole batch is one entry, so a
/// client resending many edits cannot overflow its own queue.
#[derive(Clone)]
pub enum Outgoing {
    One(Message),
    Batch(Arc<[Message]>),
}

impl Outgoing {
    async fn feed(self, sink: &mut SplitSink<WebSocket, Message>) -> Result<(), WsError> {
        match self {
            Outgoing::One(msg) => sink.feed(msg).await,
            Outgoing::Batch(msgs) => {
                for msg in msgs.iter() {
                    sink.feed(msg.clone()).await?;
                }
                Ok(())
            }
        }
    }
}

/// How long a closing connection may take to send its last frames.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest document id accepted, in bytes.
pub const MAX_DOC_ID_BYTES: usize = 128;

/// Why and how a connection is ending.
#[derive(Clone, Debug)]
pub struct Closing {
    pub code: ErrorCode,
    pub message: String,
}

/// The one-shot switch that ends a connection.
pub struct Kill {
    tx: watch::Sender<Option<Closing>>,
}

impl Kill {
    pub fn new() -> (Arc<Kill>, watch::Receiver<Option<Closing>>) {
        let (tx, rx) = watch::channel(None);
        (Arc::new(Kill { tx }), rx)
    }

    /// Ends the connection with `code`; only the first call counts.
    pub fn fire(&self, code: ErrorCode, message: impl Into<String>) {
        let message = message.into();
        self.tx.send_if_modified(|closing| {
            if closing.is_some() {
                return false;
            }
            *closing = Some(Closing { code, message });
            true
        });
    }
}

/// What every connection shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub rooms: Arc<Rooms>,
    next_conn: AtomicU64,
    connections: AtomicUsize,
    shutdown: watch::Receiver<bool>,
    /// Woken when the last connection ends, for shutdown.
    all_closed: Notify,
}

/// Counts a connection from admission to its end.
pub struct ConnGuard {
    shared: Arc<Shared>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.shared.connections.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.all_closed.notify_waiters();
        }
    }
}

impl Shared {
    pub fn new(config: Arc<Config>, rooms: Arc<Rooms>, shutdown: watch::Receiver<bool>) -> Shared {
        Shared {
            config,
            rooms,
            next_conn: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            shutdown,
            all_closed: Notify::new(),
        }
    }

    /// Admits a new connection unless the relay is full or shutting down.
    pub fn admit(self: &Arc<Self>) -> Option<ConnGuard> {
        if *self.shutdown.borrow() {
            return None;
        }
        let count = self.connections.fetch_add(1, Ordering::AcqRel);
        let guard = ConnGuard {
            shared: self.clone(),
        };
        (count < self.config.max_connections).then_some(guard)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Returns once no connection is left.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.connections() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Runs one connection to its end.
pub async fn handle(socket: WebSocket, shared: Arc<Shared>, guard: ConnGuard) {
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = shared.shutdown.clone();
    let hello = match read_hello(&mut stream, &shared.config, &mut shutdown).await {
        Ok(Some(hello)) => hello,
        Ok(None) => return,
        Err(closing) => {
            close(&mut sink, closing).await;
            return;
        }
    };
    let span =
        tracing::info_span!("conn", conn, doc_id = %hello.doc_id, replica_id = hello.replica_id);
    session(conn, sink, stream, hello, &shared, shutdown)
        .instrument(span)
        .await;
    drop(guard);
}

/// The connection after `hello`: join, catch up, then read until the end.
async fn session(
    conn: ConnId,
    mut sink: SplitSink<WebSocket, Message>,
    mut stream: SplitStream<WebSocket>,
    hello: Hello,
    shared: &Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) {
    let config = &shared.config;
    let (queue, queue_rx) = mpsc::channel(config.send_queue);
    let (kill, kill_rx) = Kill::new();
    let (room, joined) = loop {
        let room = match shared.rooms.get(&hello.doc_id) {
            Ok(room) => room,
            Err(e) => {
                tracing::error!(error = %e, "document could not be loaded");
                let closing = closing(ErrorCode::Internal, format!("document unavailable: {e}"));
                close(&mut sink, closing).await;
                return;
            }
        };
        let member = Member {
            replica_id: hello.replica_id,
            queue: queue.clone(),
            kill: kill.clone(),
            caught_up: ServerSeq::ZERO,
        };
        match room.join(conn, &hello, member) {
            Ok(joined) => break (room, joined),
            Err(JoinError::Closed) => continue,
            Err(JoinError::Full { doc_id, limit }) => {
                let message = format!("document {doc_id:?} already has {limit} connections");
                close(&mut sink, closing(ErrorCode::TooManyConnections, message)).await;
                return;
            }
            Err(JoinError::Store(e)) => {
                tracing::error!(error = %e, "catch-up could not be read");
                let closing = closing(ErrorCode::Internal, format!("document unavailable: {e}"));
                close(&mut sink, closing).await;
                return;
            }
        }
    };
    tracing::debug!(head = %joined.ack.server_seq, resync = ?joined.ack.resync, "joined");
    let mut first = vec![Message::text(ServerMessage::HelloAck(joined.ack).to_json())];
    match joined.catch_up {
        CatchUp::Replay(ops) => first.extend(ops.into_iter().map(|logged| {
            Message::text(
                ServerMessage::OpEcho(OpEcho {
                    server_seq: logged.server_seq,
                    replica_id: logged.origin,
                    op: logged.op,
                })
                .to_json(),
            )
        })),
        CatchUp::Snapshot(snapshot) => first.push(Message::text(
            ServerMessage::Snapshot(SnapshotMessage {
                doc_id: hello.doc_id.clone(),
                server_seq: snapshot.server_seq,
                data: Some(snapshot_data(&snapshot)),
                ops: None,
            })
            .to_json(),
        )),
        CatchUp::SnapshotOps(server_seq, ops) => first.push(Message::text(
            ServerMessage::Snapshot(SnapshotMessage {
                doc_id: hello.doc_id.clone(),
                server_seq,
                data: None,
                ops: Some(ops),
            })
            .to_json(),
        )),
    }
    let writer = tokio::spawn(write_loop(
        sink,
        queue_rx,
        kill_rx.clone(),
        first,
        config.ping_interval(),
    ));
    let reader = Reader {
        shared,
        room: &room,
        replica_id: hello.replica_id,
        queue: &queue,
        kill: &kill,
    };
    reader.run(&mut stream, kill_rx, shutdown).await;
    if room.leave(conn) {
        shared.rooms.schedule_unload(room);
    }
    drop(queue);
    let _ = writer.await;
}

fn closing(code: ErrorCode, message: impl Into<String>) -> Closing {
    Closing {
        code,
        message: message.into(),
    }
}

/// Waits for `hello`. `Ok(None)` when the client left first.
async fn read_hello(
    stream: &mut SplitStream<WebSocket>,
    config: &Config,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<Hello>, Closing> {
    let deadline = tokio::time::sleep(config.hello_timeout());
    tokio::pin!(deadline);
    loop {
        let frame = tokio::select! {
            _ = &mut deadline => {
                return Err(closing(ErrorCode::HelloTimeout, "no hello within the hello timeout"));
            }
            _ = stopping(shutdown) => {
                return Err(closing(ErrorCode::ServerShutdown, "server shutting down"));
            }
            frame = stream.next() => frame,
        };
        let msg = match frame {
            None => return Ok(None),
            Some(Err(e)) => return frame_error(&e).map_or(Ok(None), Err),
            Some(Ok(msg)) => msg,
        };
        let text = match &msg {
            Message::Text(text) => text.as_str(),
            Message::Binary(_) => return Err(binary_frame()),
            Message::Close(_) => return Ok(None),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        return match ClientMessage::from_json(text) {
            Ok(ClientMessage::Hello(hello)) => {
                check_doc_id(&hello.doc_id)?;
                collab_crdt::Id::new(1, hello.replica_id)
                    .validate()
                    .map_err(|e| closing(ErrorCode::InvalidReplicaId, e.to_string()))?;
                Ok(Some(hello))
            }
            Ok(ClientMessage::Op(_)) => Err(closing(
                ErrorCode::HelloRequired,
                "the first message must be hello",
            )),
            Err(e) => Err(closing(e.code, e.detail)),
        };
    }
}

fn check_doc_id(doc_id: &str) -> Result<(), Closing> {
    let ok = !doc_id.is_empty()
        && doc_id.len() <= MAX_DOC_ID_BYTES
        && doc_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:~/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(closing(
            ErrorCode::InvalidDocId,
            format!(
                "doc_id must be 1 to {MAX_DOC_ID_BYTES} bytes of ASCII letters, digits and -_.:~/"
            ),
        ))
    }
}

fn binary_frame() -> Closing {
    closing(
        ErrorCode::BinaryFrame,
        "binary frames are not part of the protocol",
    )
}

/// The closing a read error calls for, if any (a vanished peer needs none).
fn frame_error(e: &WsError) -> Option<Closing> {
    match e {
        tungstenite::Error::Capacity(cap) => {
            Some(closing(ErrorCode::MessageTooLarge, cap.to_string()))
        }
        tungstenite::Error::Protocol(p) => Some(closing(ErrorCode::InvalidMessage, p.to_string())),
        tungstenite::Error::Utf8(_) => Some(closing(
            ErrorCode::MalformedJson,
            "text frame is not valid UTF-8",
        )),
        _ => None,
    }
}

/// The reading side of a joined connection.
struct Reader<'a> {
    shared: &'a Shared,
    room: &'a Arc<Room>,
    replica_id: u64,
    queue: &'a mpsc::Sender<Outgoing>,
    kill: &'a Kill,
}

impl Reader<'_> {
    /// Reads until the client leaves or something kills the connection.
    async fn run(
        &self,
        stream: &mut SplitStream<WebSocket>,
        mut kill_rx: watch::Receiver<Option<Closing>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let idle = self.shared.config.idle_timeout();
        // One timer for the whole connection, pushed back lazily: resetting
        // a timer on every frame costs more than the frame's handling.
        let mut last_frame = tokio::time::Instant::now();
        let deadline = tokio::time::sleep_until(last_frame + idle);
        tokio::pin!(deadline);
        let killed = killed(&mut kill_rx);
        tokio::pin!(killed);
        let stopping = stopping(&mut shutdown);
        tokio::pin!(stopping);
        loop {
            let frame = tokio::select! {
                biased;
                _ = &mut killed => return,
                _ = &mut stopping => {
                    self.kill.fire(ErrorCode::ServerShutdown, "server shutting down");
                    return;
                }
                () = &mut deadline => {
                    if last_frame.elapsed() < idle {
                        deadline.as_mut().reset(last_frame + idle);
                        continue;
                    }
                    Err(())
                }
                frame = stream.next() => {
                    last_frame = tokio::time::Instant::now();
                    Ok(frame)
                }
            };
            let closing = match frame {
                Err(_) => Some(closing(
                    ErrorCode::IdleTimeout,
                    "nothing received within the idle timeout",
                )),
                Ok(None) => return,
                Ok(Some(Err(e))) => match frame_error(&e) {
                    Some(c) => Some(c),
                    None => return,
                },
                Ok(Some(Ok(Message::Text(text)))) => self.handle_text(text.as_str()),
                Ok(Some(Ok(Message::Binary(_)))) => Some(binary_frame()),
                Ok(Some(Ok(Message::Close(_)))) => return,
                // Pings and pongs only keep the idle timer alive.
                Ok(Some(Ok(_))) => None,
            };
            if let Some(c) = closing {
                self.kill.fire(c.code, c.message);
                return;
            }
        }
    }

    /// Handles one text frame; returns why to close, if it must.
    fn handle_text(&self, text: &str) -> Option<Closing> {
        let batch = match ClientMessage::from_json(text) {
            Ok(ClientMessage::Op(batch)) => batch,
            Ok(ClientMessage::Hello(_)) => {
                return Some(closing(
                    ErrorCode::DuplicateHello,
                    "hello was already sent on this connection",
                ));
            }
            Err(e) => return Some(closing(e.code, e.detail)),
        };
        match self.room.submit(self.replica_id, batch.ops) {
            Ok(None) => None,
            Ok(Some(refused)) => {
                tracing::debug!(code = refused.code, message = %refused.message, "operation refused");
                let error = ServerMessage::Error(ErrorMessage {
                    code: refused.code.to_owned(),
                    message: format!(
                        "operation {} of the batch was refused ({}); the operations before it were accepted",
                        refused.index, refused.message
                    ),
                    fatal: false,
                    close_code: None,
                    index: Some(refused.index),
                });
                let out = Outgoing::One(Message::text(error.to_json()));
                self.queue
                    .try_send(out)
                    .err()
                    .map(|_| closing(ErrorCode::TooSlow, "send queue full"))
            }
            Err(SubmitError::Closed) => {
                Some(closing(ErrorCode::Internal, "document closed; reconnect"))
            }
            Err(SubmitError::Overloaded) => Some(closing(
                ErrorCode::Overloaded,
                "the store is not keeping up; reconnect later",
            )),
            Err(SubmitError::Store(e)) => {
                tracing::error!(error = %e, "append failed; document unloaded");
                self.shared.rooms.forget(self.room);
                Some(closing(
                    ErrorCode::Internal,
                    "storage failed; reconnect to resync",
                ))
            }
        }
    }
}

/// Sends what the room queues, in order, batching writes; then, once the
/// connection is killed, the `error` message and the close frame.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Outgoing>,
    mut kill: watch::Receiver<Option<Closing>>,
    first: Vec<Message>,
    ping_every: Duration,
) {
    tokio::select! {
        biased;
        _ = killed(&mut kill) => {}
        _ = pump(&mut sink, &mut queue, first, ping_every) => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.close()).await;
            return;
        }
    }
    let Some(closing) = kill.borrow().clone() else {
        return;
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if closing.code == ErrorCode::ServerShutdown {
            // Everything accepted before shutdown reaches the client first.
            while let Ok(out) = queue.try_recv() {
                out.feed(&mut sink).await?;
            }
        }
        close(&mut sink, closing).await;
        Ok::<(), WsError>(())
    })
    .await;
}

async fn pump(
    sink: &mut SplitSink<WebSocket, Message>,
    queue: &mut mpsc::Receiver<Outgoing>,
    first: Vec<Message>,
    ping_every: Duration,
) -> Result<(), WsError> {
    for msg in first {
        sink.feed(msg).await?;
    }
    sink.flush().await?;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    loop {
        tokio::select! {
            msg = queue.recv() => {
                let Some(out) = msg else { return Ok(()) };
                out.feed(sink).await?;
                // Whatever queued up meanwhile goes out in the same flush.
                for _ in 0..256 {
                    match queue.try_recv() {
                        Ok(out) => out.feed(sink).await?,
                        Err(_) => break,
                    }
                }
                sink.flush().await?;
            }
            _ = ping.tick() => sink.send(Message::Ping(Default::default())).await?,
        }
    }
}

/// Sends the `error` message and the close frame for `closing`.
async fn close(sink: &mut SplitSink<WebSocket, Message>, closing: Closing) {
    let code = closing.code;
    let close_code = code.close_code().unwrap_or(1000);
    tracing::debug!(code = %code, close_code, message = %closing.message, "closing connection");
    let error = code.message(closing.message);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        sink.feed(Message::text(error.to_json())).await?;
        sink.send(Message::Close(Some(CloseFrame {
            code: CloseCode::from(close_code),
            reason: code.as_str().into(),
        })))
        .await?;
        sink.close().await
    })
    .await;
}

/// Returns once the connection is killed.
async fn killed(kill: &mut watch::Receiver<Option<Closing>>) {
    // The guard `wait_for` returns must not live across an await.
    let _ = kill.wait_for(Option::is_some).await.map(drop);
}

/// Returns once the relay is shutting down.
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await.map(drop);
}
