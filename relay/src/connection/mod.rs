//! One WebSocket connection: the handshake, then a [`reader`] that feeds
//! the room and a [`writer`] that sends the catch-up and drains the
//! connection's queue.
//!
//! Every way a connection ends goes through its [`Kill`]: whoever decides
//! (the room on a full queue or a superseding client, the budget's reaper,
//! the reader on bad input, shutdown) fires it once with an [`ErrorCode`];
//! the writer then sends the `error` message and the close frame, and the
//! connection reads what the client still sends until it closes too, so
//! that the close frame is not lost to a TCP reset.

mod reader;
mod writer;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use collab_crdt::sync::{ClientMessage, ErrorCode, Hello, ServerMessage};
use futures_util::StreamExt;
use futures_util::stream::{SplitSink, SplitStream};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::Instrument;

use crate::auth::{Access, Refusal, Verifier};
use crate::config::Config;
use crate::limits::{AddressLimits, ConnLimiter};
use crate::member::{Budget, Closing, Inbox, Kill, Member, Queue};
use crate::metrics::Metrics;
use crate::room::{ConnId, JoinError};
use crate::rooms::Rooms;

/// An upgraded connection (see `server::upgrade`).
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

type WsError = tungstenite::Error;
type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// How long a closing connection may take to send its last frames, and
/// then to read what the client still sends before it closes too.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest document id accepted, in bytes.
pub const MAX_DOC_ID_BYTES: usize = 128;

/// Where the relay is in its life; connections follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Shutting down: read nothing more, so that no operation is accepted
    /// after the relay started waiting for its commits.
    Draining,
    /// Every accepted operation is stored and queued: send what is queued,
    /// then close with 1001.
    Closing,
}

/// What every connection shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub rooms: Arc<Rooms>,
    pub budget: Arc<Budget>,
    pub metrics: Arc<Metrics>,
    /// Checks every `hello`'s token; empty when the relay runs open.
    pub verifier: Arc<Verifier>,
    /// Open WebSockets and upgrades per client address.
    pub addresses: Arc<AddressLimits>,
    next_conn: AtomicU64,
    connections: AtomicUsize,
    /// Open WebSockets and open TCP connections, for whoever waits for a
    /// change (tests) instead of polling.
    open: watch::Sender<(usize, usize)>,
    phase: watch::Receiver<Phase>,
    /// Held shared while a reader handles a frame, taken exclusively by
    /// shutdown once it stops reading: no frame read before the stop can be
    /// accepted after shutdown starts waiting for the commits.
    handling: RwLock<()>,
    /// Woken when the last connection ends, for shutdown.
    all_closed: Notify,
}

/// Counts a WebSocket connection from admission to its end.
pub struct ConnGuard {
    shared: Arc<Shared>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared.metrics.websockets.dec();
        self.shared.open.send_modify(|(ws, _)| *ws -= 1);
        if self.shared.connections.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.all_closed.notify_waiters();
        }
    }
}

impl Shared {
    pub fn new(
        rooms: Arc<Rooms>,
        verifier: Arc<Verifier>,
        phase: watch::Receiver<Phase>,
    ) -> Shared {
        let cx = rooms.context().clone();
        let addresses = AddressLimits::new(&cx.config);
        Shared {
            config: cx.config,
            budget: cx.budget,
            metrics: cx.metrics,
            verifier,
            addresses,
            rooms,
            next_conn: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            open: watch::Sender::new((0, 0)),
            phase,
            handling: RwLock::new(()),
            all_closed: Notify::new(),
        }
    }

    /// Leave to handle a frame while the relay runs; `None` once it is
    /// shutting down (the frame is not accepted: its sender resends it
    /// after reconnecting, as it does whatever was not acknowledged).
    pub fn handling(&self) -> Option<RwLockReadGuard<'_, ()>> {
        let guard = self.handling.read().unwrap_or_else(PoisonError::into_inner);
        (*self.phase.borrow() == Phase::Running).then_some(guard)
    }

    /// Blocks until no reader handles a frame; called after the phase left
    /// `Running`, so none starts again.
    pub fn wait_handled(&self) {
        drop(
            self.handling
                .write()
                .unwrap_or_else(PoisonError::into_inner),
        );
    }

    /// Admits a new WebSocket unless the relay is shutting down.
    pub fn admit(self: &Arc<Self>) -> Option<ConnGuard> {
        if *self.phase.borrow() != Phase::Running {
            return None;
        }
        self.connections.fetch_add(1, Ordering::AcqRel);
        self.metrics.websockets.inc();
        self.open.send_modify(|(ws, _)| *ws += 1);
        Some(ConnGuard {
            shared: self.clone(),
        })
    }

    /// Counts a TCP connection opening (`true`) or closing.
    pub fn tcp(&self, opened: bool) {
        if opened {
            self.metrics.http_connections.inc();
            self.open.send_modify(|(_, tcp)| *tcp += 1);
        } else {
            self.metrics.http_connections.dec();
            self.open.send_modify(|(_, tcp)| *tcp -= 1);
        }
    }

    /// Returns once the open (WebSockets, TCP connections) satisfy `until`.
    pub async fn wait_open(&self, until: impl FnMut(&(usize, usize)) -> bool) {
        let _ = self.open.subscribe().wait_for(until).await.map(drop);
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
    let (sink, mut stream) = socket.split();
    let mut phase = shared.phase.clone();
    match read_hello(&mut stream, &shared.config, &mut phase).await {
        Ok(Some(hello)) => match authorize(&shared.verifier, &hello) {
            Ok(access) => {
                let span = tracing::info_span!("conn", conn, doc_id = %hello.doc_id, replica_id = hello.replica_id, sub = access.sub.as_deref().unwrap_or("-"));
                session(conn, sink, stream, hello, access, &shared, phase)
                    .instrument(span)
                    .await;
            }
            Err(closing) => refuse(&shared, sink, stream, closing).await,
        },
        Ok(None) => {}
        Err(closing) => refuse(&shared, sink, stream, closing).await,
    }
    drop(guard);
}

/// Checks `hello`'s token before anything is loaded for its document.
fn authorize(verifier: &Verifier, hello: &Hello) -> Result<Access, Closing> {
    verifier
        .verify(hello.token.as_deref(), &hello.doc_id)
        .map_err(|refusal| {
            tracing::info!(doc_id = %hello.doc_id, replica_id = hello.replica_id, %refusal, "hello refused");
            let code = match refusal {
                Refusal::Expired => ErrorCode::TokenExpired,
                _ => ErrorCode::Unauthorized,
            };
            Closing::new(code, refusal.to_string())
        })
}

/// The connection after `hello`: join, catch up, then read until the end.
async fn session(
    conn: ConnId,
    sink: Sink,
    stream: Stream,
    hello: Hello,
    access: Access,
    shared: &Arc<Shared>,
    phase: watch::Receiver<Phase>,
) {
    let config = &shared.config;
    let (kill, kill_rx) = Kill::new();
    let (queue, queue_rx) = Queue::new(config.send_queue_bytes, kill.clone(), &shared.budget);
    let inbox = Arc::new(Inbox::default());
    let (room, joined) = loop {
        let room = match shared.rooms.get(&hello.doc_id).await {
            Ok(room) => room,
            Err(e) => return refuse(shared, sink, stream, unavailable(&e)).await,
        };
        // On a shared store the client may have seen, through another
        // relay, more of the log than this room holds: the room reads it
        // first, so that the client is neither sent back nor given less.
        if shared.rooms.store().shared()
            && hello
                .last_seen_server_seq
                .is_some_and(|seen| seen > room.durable_head())
            && let Err(e) = shared.rooms.catch_up(&room).await
        {
            return refuse(shared, sink, stream, unavailable(&e)).await;
        }
        let log_start = match shared.rooms.log_start(&hello.doc_id).await {
            Ok(start) => start,
            Err(e) => return refuse(shared, sink, stream, unavailable(&e)).await,
        };
        let member = Member {
            replica_id: hello.replica_id,
            queue: queue.clone(),
            kill: kill.clone(),
            caught_up: Default::default(),
            wants_presence: hello.presence == Some(true),
            sub: access.sub.clone(),
            inbox: inbox.clone(),
            presence: Default::default(),
        };
        match room.join(conn, &hello, member, log_start) {
            Ok(joined) => break (room, joined),
            Err(JoinError::Closed) => continue,
            Err(e) => {
                let code = match e {
                    JoinError::Full { .. } => ErrorCode::TooManyConnections,
                    _ => ErrorCode::Internal,
                };
                return refuse(shared, sink, stream, Closing::new(code, e.to_string())).await;
            }
        }
    };
    tracing::debug!(head = %joined.ack.server_seq, resync = ?joined.ack.resync, "joined");
    let mut ack = joined.ack;
    ack.read_only = access.read_only();
    let ack = ServerMessage::HelloAck(ack).to_json();
    // At `exp` the connection ends; what it sent before stays accepted.
    let expiry = access.expires_in().map(|left| {
        let kill = kill.clone();
        tokio::spawn(async move {
            tokio::time::sleep(left).await;
            kill.fire(ErrorCode::TokenExpired, "the token expired");
        })
    });
    let writer = tokio::spawn(writer::run(writer::Writer {
        sink,
        queue: queue_rx,
        inbox,
        kill: kill_rx.clone(),
        ack,
        catch_up: joined.catch_up,
        rooms: shared.rooms.clone(),
        doc_id: room.doc_id.clone(),
        ping_every: config.ping_interval(),
        metrics: shared.metrics.clone(),
    }));
    let reader = reader::Reader {
        shared,
        room: &room,
        conn,
        replica_id: hello.replica_id,
        read_only: access.read_only(),
        limiter: std::sync::Mutex::new(ConnLimiter::new(config)),
        queue: &queue,
        kill: &kill,
    };
    let stream = reader.run(stream, kill_rx, phase).await;
    if let Some(expiry) = expiry {
        expiry.abort();
    }
    if room.leave(conn) {
        shared.rooms.schedule_unload(room);
    }
    drop(queue);
    if let Ok(sink) = writer.await {
        linger(sink, stream).await;
    }
}

/// How a connection ends when its document cannot be had: `overloaded`
/// (come back after a backoff) when the store cannot be reached,
/// `internal_error` otherwise.
fn unavailable(e: &crate::store::StoreError) -> Closing {
    let code = match e {
        crate::store::StoreError::Unavailable(_) => ErrorCode::Overloaded,
        _ => ErrorCode::Internal,
    };
    Closing::new(code, format!("document unavailable: {e}"))
}

/// Waits for `hello`. `Ok(None)` when the client left first.
async fn read_hello(
    stream: &mut Stream,
    config: &Config,
    phase: &mut watch::Receiver<Phase>,
) -> Result<Option<Hello>, Closing> {
    let deadline = tokio::time::sleep(config.hello_timeout());
    tokio::pin!(deadline);
    loop {
        let frame = tokio::select! {
            _ = &mut deadline => {
                return Err(Closing::new(ErrorCode::HelloTimeout, "no hello within the hello timeout"));
            }
            _ = stopping(phase) => {
                return Err(Closing::new(ErrorCode::ServerShutdown, "server shutting down"));
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
        return match ClientMessage::from_json_first(text) {
            Ok(hello) => {
                check_doc_id(&hello.doc_id)?;
                collab_crdt::Id::new(1, hello.replica_id)
                    .validate()
                    .map_err(|e| Closing::new(ErrorCode::InvalidReplicaId, e.to_string()))?;
                Ok(Some(hello))
            }
            Err(e) => Err(Closing::new(e.code, e.detail)),
        };
    }
}

/// Whether `doc_id` follows `docs/protocol.md` §2.
pub fn valid_doc_id(doc_id: &str) -> bool {
    !doc_id.is_empty()
        && doc_id.len() <= MAX_DOC_ID_BYTES
        && doc_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:~/".contains(&b))
}

fn check_doc_id(doc_id: &str) -> Result<(), Closing> {
    if valid_doc_id(doc_id) {
        Ok(())
    } else {
        Err(Closing::new(
            ErrorCode::InvalidDocId,
            format!(
                "doc_id must be 1 to {MAX_DOC_ID_BYTES} bytes of ASCII letters, digits and -_.:~/"
            ),
        ))
    }
}

fn binary_frame() -> Closing {
    Closing::new(
        ErrorCode::BinaryFrame,
        "binary frames are not part of the protocol",
    )
}

/// The closing a read error calls for, if any (a vanished peer needs none).
fn frame_error(e: &WsError) -> Option<Closing> {
    match e {
        tungstenite::Error::Capacity(cap) => {
            Some(Closing::new(ErrorCode::MessageTooLarge, cap.to_string()))
        }
        tungstenite::Error::Protocol(p) => {
            Some(Closing::new(ErrorCode::InvalidMessage, p.to_string()))
        }
        tungstenite::Error::Utf8(_) => Some(Closing::new(
            ErrorCode::MalformedJson,
            "text frame is not valid UTF-8",
        )),
        _ => None,
    }
}

/// Ends a connection that never joined a room: the `error`, the close
/// frame, then [`linger`].
async fn refuse(shared: &Shared, mut sink: Sink, stream: Stream, closing: Closing) {
    shared.metrics.closed(closing.code.as_str());
    writer::close(&mut sink, closing).await;
    linger(sink, stream).await;
}

/// After the close frame went out: reads and drops whatever the client
/// still sends (the rest of an oversized message, say) until it closes or
/// [`CLOSE_TIMEOUT`] passes. Closing a socket with unread input makes the
/// kernel send a reset, which can destroy the close frame before the
/// client reads it; this way the client sees the code it was sent.
async fn linger(sink: Sink, stream: Stream) {
    let Ok(mut socket) = stream.reunite(sink) else {
        return;
    };
    let io = socket.get_mut();
    let mut scratch = [0u8; 4096];
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        while let Ok(n) = io.read(&mut scratch).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Returns once the relay starts shutting down.
async fn stopping(phase: &mut watch::Receiver<Phase>) {
    let _ = phase.wait_for(|p| *p != Phase::Running).await.map(drop);
}

/// Returns once every accepted operation is stored and queued.
async fn closing_phase(phase: &mut watch::Receiver<Phase>) {
    let _ = phase.wait_for(|p| *p == Phase::Closing).await.map(drop);
}

/// Returns once the connection is killed.
async fn killed(kill: &mut watch::Receiver<Option<Closing>>) {
    // The guard `wait_for` returns must not live across an await.
    let _ = kill.wait_for(Option::is_some).await.map(drop);
}
