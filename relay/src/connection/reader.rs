//! The reading side of a joined connection: parses each text frame, hands
//! operations to the room, and decides when the client must be closed.

use std::sync::Arc;
use std::time::Instant;

use collab_crdt::sync::{ClientMessage, ErrorCode, ServerMessage};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::{Phase, Shared, Stream, binary_frame, closing_phase, frame_error, killed, stopping};
use crate::limits::ConnLimiter;
use crate::member::{Closing, Kill, Outgoing, Queue};
use crate::room::{Refused, Room, SubmitError};

pub(super) struct Reader<'a> {
    pub shared: &'a Arc<Shared>,
    pub room: &'a Arc<Room>,
    pub replica_id: u64,
    /// The token grants reading only: every `op` is refused.
    pub read_only: bool,
    /// The connection's operation and byte rates. A mutex only because
    /// the reader is shared by reference; nothing else ever locks it.
    pub limiter: std::sync::Mutex<ConnLimiter>,
    pub queue: &'a Queue,
    pub kill: &'a Kill,
}

impl Reader<'_> {
    /// Reads until the client leaves or something kills the connection;
    /// gives the stream back for the close handshake.
    pub async fn run(
        &self,
        mut stream: Stream,
        mut kill_rx: watch::Receiver<Option<Closing>>,
        mut phase: watch::Receiver<Phase>,
    ) -> Stream {
        let idle = self.shared.config.idle_timeout();
        // One timer for the whole connection, pushed back lazily: resetting
        // a timer on every frame costs more than the frame's handling.
        let mut last_frame = tokio::time::Instant::now();
        let deadline = tokio::time::sleep_until(last_frame + idle);
        tokio::pin!(deadline);
        loop {
            let frame = tokio::select! {
                biased;
                _ = killed(&mut kill_rx) => return stream,
                _ = stopping(&mut phase) => {
                    // Read nothing more; once every accepted operation is
                    // stored and queued, the writer sends it all and closes.
                    tokio::select! {
                        _ = killed(&mut kill_rx) => {}
                        _ = closing_phase(&mut phase) => {}
                    }
                    self.kill.fire(ErrorCode::ServerShutdown, "server shutting down");
                    return stream;
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
                Err(()) => Some(Closing::new(
                    ErrorCode::IdleTimeout,
                    "nothing received within the idle timeout",
                )),
                Ok(None) => return stream,
                Ok(Some(Err(e))) => match frame_error(&e) {
                    Some(c) => Some(c),
                    None => return stream,
                },
                Ok(Some(Ok(Message::Text(text)))) => self.handle_text(text.as_str()),
                Ok(Some(Ok(Message::Binary(_)))) => Some(binary_frame()),
                Ok(Some(Ok(Message::Close(_)))) => return stream,
                // Pings and pongs only keep the idle timer alive.
                Ok(Some(Ok(_))) => None,
            };
            if let Some(c) = closing {
                self.kill.fire(c.code, c.message);
                return stream;
            }
        }
    }

    /// Tells the client an operation was refused; the connection stays
    /// unless its queue is full.
    fn refuse(&self, refused: &Refused, retry_after_ms: Option<u64>) -> Option<Closing> {
        tracing::debug!(code = %refused.code, message = %refused.message, "operation refused");
        let mut message = refused.to_message();
        if let ServerMessage::Error(e) = &mut message {
            e.retry_after_ms = retry_after_ms;
        }
        if matches!(refused.code, ErrorCode::ReadOnly | ErrorCode::RateLimited) {
            // The room counts its own refusals; these never reach it.
            self.shared.metrics.refused(refused.code.as_str());
        }
        let frame = crate::member::Frame::new(message.to_json());
        let out = Outgoing::new(vec![frame], &self.shared.budget);
        self.queue
            .push(out)
            .err()
            .map(|_| Closing::new(ErrorCode::TooSlow, "send queue full"))
    }

    /// Handles one text frame; returns why to close, if it must.
    fn handle_text(&self, text: &str) -> Option<Closing> {
        let received = Instant::now();
        let batch = match ClientMessage::from_json(text) {
            Ok(ClientMessage::Op(batch)) => batch,
            Ok(ClientMessage::Hello(_)) => {
                return Some(Closing::new(
                    ErrorCode::DuplicateHello,
                    "hello was already sent on this connection",
                ));
            }
            Err(e) => return Some(Closing::new(e.code, e.detail)),
        };
        if let Some(first) = batch.ops.first() {
            let refusal = |code, message: String| Refused {
                index: 0,
                seq: first.seq(),
                code,
                message,
            };
            let admitted = match self.limiter.lock() {
                Ok(mut limiter) => limiter.admit(batch.ops.len(), text.len()),
                Err(_) => Ok(()),
            };
            if let Err(wait) = admitted {
                let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                let message = format!("over the connection's rate limit; send again in {ms} ms");
                return self.refuse(&refusal(ErrorCode::RateLimited, message), Some(ms));
            }
            if self.read_only {
                let message = "the token grants reading only".into();
                return self.refuse(&refusal(ErrorCode::ReadOnly, message), None);
            }
        }
        match self.room.submit(self.replica_id, batch.ops, received) {
            Ok(None) => None,
            Ok(Some(refused)) => self.refuse(&refused, None),
            Err(SubmitError::Closed) => Some(Closing::new(
                ErrorCode::Internal,
                "document closed; reconnect",
            )),
            Err(SubmitError::Overloaded) => Some(Closing::new(
                ErrorCode::Overloaded,
                "the store is not keeping up; reconnect later",
            )),
            Err(SubmitError::Store(e)) => {
                tracing::error!(error = %e, "append failed; document unloaded");
                self.shared.rooms.forget(self.room);
                Some(Closing::new(
                    ErrorCode::Internal,
                    "storage failed; reconnect to resync",
                ))
            }
        }
    }
}
