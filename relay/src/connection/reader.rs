//! The reading side of a joined connection: parses each text frame, hands
//! operations and presence to the room, keeps the connection's presence
//! timers (a coalesced update due, the TTL), and decides when the client
//! must be closed.

use std::sync::Arc;
use std::time::Instant;

use collab_crdt::sync::{ClientMessage, ErrorCode, Presence, ServerMessage};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::{Phase, Shared, Stream, binary_frame, closing_phase, frame_error, killed, stopping};
use crate::limits::ConnLimiter;
use crate::member::{Closing, Kill, Outgoing, Queue};
use crate::room::{ConnId, Refused, Room, SubmitError};

pub(super) struct Reader<'a> {
    pub shared: &'a Arc<Shared>,
    pub room: &'a Arc<Room>,
    pub conn: ConnId,
    pub replica_id: u64,
    /// The token grants reading only: every `op` is refused.
    pub read_only: bool,
    /// The connection's operation and byte rates. A mutex only because
    /// the reader is shared by reference; nothing else ever locks it.
    pub limiter: std::sync::Mutex<ConnLimiter>,
    pub queue: &'a Queue,
    pub kill: &'a Kill,
}

/// When this connection must next act on its own presence.
#[derive(Default)]
struct PresenceTimers {
    /// A coalesced update waits for the rate limit.
    flush_at: Option<tokio::time::Instant>,
    /// No refresh by then: the presence is removed.
    expires_at: Option<tokio::time::Instant>,
}

impl PresenceTimers {
    fn next(&self) -> Option<tokio::time::Instant> {
        match (self.flush_at, self.expires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
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
        let mut timers = PresenceTimers::default();
        let presence_timer = tokio::time::sleep_until(last_frame);
        tokio::pin!(presence_timer);
        loop {
            let presence_due = timers.next();
            if let Some(at) = presence_due
                && presence_timer.deadline() != at
            {
                presence_timer.as_mut().reset(at);
            }
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
                () = &mut presence_timer, if presence_due.is_some() => {
                    self.presence_timers_fired(&mut timers);
                    continue;
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
                Ok(Some(Ok(Message::Text(text)))) => match self.shared.handling() {
                    Some(_handling) => self.handle_text(text.as_str(), &mut timers),
                    // Shutting down: the next turn stops reading.
                    None => continue,
                },
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

    /// A presence timer is due: sends the coalesced update, or removes the
    /// presence whose TTL ended.
    fn presence_timers_fired(&self, timers: &mut PresenceTimers) {
        let now = tokio::time::Instant::now();
        if timers.flush_at.is_some_and(|at| at <= now) {
            timers.flush_at = None;
            self.room.flush_presence(self.conn, now);
        }
        if timers.expires_at.is_some_and(|at| at <= now) {
            timers.expires_at = None;
            timers.flush_at = None;
            self.room.expire_presence(self.conn);
        }
    }

    /// Handles a `presence` message of `bytes` bytes.
    fn handle_presence(
        &self,
        presence: Presence,
        bytes: usize,
        timers: &mut PresenceTimers,
    ) -> Option<Closing> {
        let config = &self.shared.config;
        if bytes > config.max_presence_bytes {
            let error = ErrorCode::PresenceTooLarge.message(format!(
                "a presence message may hold {} bytes, this one holds {bytes}; the previous presence stays",
                config.max_presence_bytes
            ));
            return self.reply(error);
        }
        for selection in &presence.selections {
            for anchor in [selection.anchor, selection.head] {
                if let Err(e) = anchor.validate() {
                    return Some(Closing::new(
                        ErrorCode::InvalidMessage,
                        format!("presence anchor: {e}"),
                    ));
                }
            }
        }
        let now = tokio::time::Instant::now();
        timers.expires_at = Some(now + config.presence_ttl());
        if let Some(at) = self.room.set_presence(self.conn, presence, now) {
            timers.flush_at = Some(at);
        }
        None
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
        self.reply(message)
    }

    /// Queues a non-fatal `error` for this client.
    fn reply(&self, error: collab_crdt::sync::ServerMessage) -> Option<Closing> {
        let frame = crate::member::Frame::new(error.to_json());
        let out = Outgoing::new(vec![frame], &self.shared.budget);
        self.queue
            .push(out)
            .err()
            .map(|_| Closing::new(ErrorCode::TooSlow, "send queue full"))
    }

    /// Handles one text frame; returns why to close, if it must.
    fn handle_text(&self, text: &str, timers: &mut PresenceTimers) -> Option<Closing> {
        let received = Instant::now();
        let batch = match ClientMessage::from_json(text) {
            Ok(ClientMessage::Op(batch)) => batch,
            Ok(ClientMessage::Presence(presence)) => {
                return self.handle_presence(presence, text.len(), timers);
            }
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
