//! The writing side of a connection: `hello_ack`, the catch-up (a replay
//! read from the store page by page, or one snapshot), then everything the
//! room queues, in order, batching writes; and once the connection is
//! killed, the `error` message and the close frame.

use std::sync::Arc;
use std::time::Duration;

use collab_crdt::sync::{ErrorCode, OpEcho, ServerMessage, ServerSeq};
use futures_util::SinkExt;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::{CLOSE_TIMEOUT, Sink, WsError, killed};
use crate::member::{Closing, Frame, Outgoing, QueueRx};
use crate::metrics::Metrics;
use crate::room::CatchUp;
use crate::rooms::Rooms;
use crate::store::Since;

/// Operations read from the store per page of a replay: the replay's
/// memory is one page, however long the replay.
const REPLAY_PAGE: usize = 256;

pub(super) struct Writer {
    pub sink: Sink,
    pub queue: QueueRx,
    pub kill: watch::Receiver<Option<Closing>>,
    pub ack: String,
    pub catch_up: CatchUp,
    pub rooms: Arc<Rooms>,
    pub doc_id: Arc<str>,
    pub ping_every: Duration,
    pub metrics: Arc<Metrics>,
}

/// Why the catch-up or the pump stopped.
enum Stop {
    Socket(WsError),
    /// The queue's sender is gone: the reader ended the connection.
    Done,
    Close(Closing),
}

impl From<WsError> for Stop {
    fn from(e: WsError) -> Stop {
        Stop::Socket(e)
    }
}

/// Runs the writer to the end; gives the sink back for the close handshake.
pub(super) async fn run(mut w: Writer) -> Sink {
    let mut kill = w.kill.clone();
    let stop = tokio::select! {
        biased;
        _ = killed(&mut kill) => None,
        stop = pump(&mut w) => Some(stop),
    };
    let closing = match stop {
        Some(Stop::Close(closing)) => Some(closing),
        Some(Stop::Socket(e)) => {
            tracing::debug!(error = %e, "connection lost while writing");
            None
        }
        Some(Stop::Done) | None => w.kill.borrow().clone(),
    };
    match closing {
        None => {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, w.sink.close()).await;
        }
        Some(closing) => {
            w.metrics.closed(closing.code.as_str());
            if closing.code == ErrorCode::ServerShutdown {
                // Everything accepted before shutdown reaches the client first.
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                    while let Some(out) = w.queue.try_recv() {
                        feed(&mut w.sink, &out).await?;
                        w.queue.sent(&out);
                    }
                    Ok::<(), WsError>(())
                })
                .await;
            }
            close(&mut w.sink, closing).await;
        }
    }
    w.sink
}

async fn pump(w: &mut Writer) -> Stop {
    let ack = Message::text(std::mem::take(&mut w.ack));
    if let Err(e) = w.sink.feed(ack).await {
        return e.into();
    }
    if let Err(stop) = catch_up(w).await {
        return stop;
    }
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + w.ping_every, w.ping_every);
    loop {
        let step: Result<(), Stop> = async {
            tokio::select! {
                out = w.queue.recv() => {
                    let Some(out) = out else { return Err(Stop::Done) };
                    feed(&mut w.sink, &out).await?;
                    w.queue.sent(&out);
                    // Whatever queued up meanwhile goes out in the same flush.
                    for _ in 0..256 {
                        match w.queue.try_recv() {
                            Some(out) => {
                                feed(&mut w.sink, &out).await?;
                                w.queue.sent(&out);
                            }
                            None => break,
                        }
                    }
                    w.sink.flush().await?;
                }
                _ = ping.tick() => w.sink.send(Message::Ping(Default::default())).await?,
            }
            Ok(())
        }
        .await;
        if let Err(stop) = step {
            return stop;
        }
    }
}

/// Sends the catch-up `hello_ack` announced.
async fn catch_up(w: &mut Writer) -> Result<(), Stop> {
    let (mut after, upto) = match std::mem::replace(
        &mut w.catch_up,
        CatchUp::Replay {
            after: ServerSeq::ZERO,
            upto: ServerSeq::ZERO,
        },
    ) {
        CatchUp::Snapshot(frame) => {
            w.sink.feed(text(&frame)).await?;
            return Ok(w.sink.flush().await?);
        }
        CatchUp::Replay { after, upto } => (after, upto),
    };
    while after < upto {
        let page = w
            .rooms
            .read_log(w.doc_id.clone(), after, upto, REPLAY_PAGE)
            .await;
        let ops = match page {
            Ok(Since::Ops(ops)) if !ops.is_empty() => ops,
            // The log was cut behind a snapshot since the client joined:
            // it comes back and gets the snapshot.
            Ok(_) => {
                return Err(Stop::Close(Closing::new(
                    ErrorCode::TooSlow,
                    "the log moved on during the replay; reconnect",
                )));
            }
            Err(e) => {
                tracing::error!(error = %e, "replay could not be read");
                return Err(Stop::Close(Closing::new(
                    ErrorCode::Internal,
                    format!("document unavailable: {e}"),
                )));
            }
        };
        for logged in ops {
            after = logged.server_seq;
            let echo = ServerMessage::OpEcho(OpEcho {
                server_seq: logged.server_seq,
                replica_id: logged.origin,
                op: logged.op,
            });
            w.sink.feed(Message::text(echo.to_json())).await?;
        }
        w.sink.flush().await?;
    }
    Ok(w.sink.flush().await?)
}

fn text(frame: &Frame) -> Message {
    // A frame is built from a `String`, so it is always valid UTF-8.
    Utf8Bytes::try_from(frame.bytes().clone())
        .map(Message::Text)
        .unwrap_or_else(|_| Message::text(String::from_utf8_lossy(frame.bytes()).into_owned()))
}

async fn feed(sink: &mut Sink, out: &Outgoing) -> Result<(), WsError> {
    for frame in out.frames() {
        sink.feed(text(frame)).await?;
    }
    Ok(())
}

/// Sends the `error` message and the close frame for `closing`.
pub(super) async fn close(sink: &mut Sink, closing: Closing) {
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
        sink.flush().await
    })
    .await;
}
