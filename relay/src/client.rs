//! A native WebSocket client that drives a [`ClientSession`]: the relay's
//! end-to-end tests and the load generator use it, so they exercise the
//! same session the browser package wraps.

use std::time::Duration;

use collab_crdt::Op;
use collab_crdt::sync::{
    ClientSession, ErrorCode, ErrorMessage, Event, JsonObject, Resync, ServerMessage, ServerSeq,
    SessionError, Status, close,
};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a client waits for the server before giving up on a step.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("websocket: {0}")]
    Ws(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("protocol: {0}")]
    Session(#[from] SessionError),
    #[error("server error {}: {}", .0.code, .0.message)]
    Server(ErrorMessage),
    #[error("connection closed (code {0:?})")]
    Closed(Option<u16>),
    #[error("not connected")]
    NotConnected,
    #[error("timed out waiting for the server")]
    Timeout,
}

/// One client of one document.
pub struct Client {
    url: String,
    session: ClientSession,
    socket: Option<Socket>,
    /// Non-fatal `error` messages received, oldest first.
    pub errors: Vec<ErrorMessage>,
    /// How each connection caught up, oldest first.
    pub resyncs: Vec<Resync>,
    /// When set, every `op_echo` integrated is kept in `echoes`.
    pub record_echoes: bool,
    pub echoes: Vec<(ServerSeq, Op)>,
}

impl Client {
    /// `url` is the relay's WebSocket endpoint, e.g. `ws://127.0.0.1:8000/ws`.
    pub fn new(url: impl Into<String>, doc_id: &str, replica_id: u64) -> Client {
        Client {
            url: url.into(),
            session: ClientSession::new(doc_id, replica_id).expect("valid replica id"),
            socket: None,
            errors: Vec::new(),
            resyncs: Vec::new(),
            record_echoes: false,
            echoes: Vec::new(),
        }
    }

    pub fn session(&self) -> &ClientSession {
        &self.session
    }

    /// Points the next connections at another relay (`ws://…/ws`): a
    /// client moving between the relays of a cluster keeps its session.
    pub fn set_url(&mut self, url: impl Into<String>) {
        self.url = url.into();
    }

    pub fn session_mut(&mut self) -> &mut ClientSession {
        &mut self.session
    }

    pub fn text(&self) -> String {
        self.session.doc().text()
    }

    pub fn is_connected(&self) -> bool {
        self.socket.is_some()
    }

    /// Connects, says hello and waits until caught up to the head the
    /// server announced (by replay or snapshot); resends unacknowledged edits.
    pub async fn connect(&mut self) -> Result<(), ClientError> {
        let (socket, _) = connect_async(self.url.as_str()).await?;
        self.socket = Some(socket);
        let hello = self.session.connect();
        self.send_text(hello.to_json()).await?;
        let head = loop {
            if let Event::Connected { server_seq, .. } = self.recv().await? {
                break server_seq;
            }
        };
        self.sync_to(head).await?;
        self.flush().await
    }

    /// Drops the connection (as a network failure would).
    pub fn disconnect(&mut self) {
        self.socket = None;
        self.session.disconnected();
    }

    /// Closes the connection cleanly.
    pub async fn close(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            let _ = socket.close(None).await;
        }
        self.session.disconnected();
    }

    /// Sends every message the session has ready.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        while let Some(msg) = self.session.poll_send() {
            self.send_text(msg.to_json()).await?;
        }
        Ok(())
    }

    pub async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
        let socket = self.socket.as_mut().ok_or(ClientError::NotConnected)?;
        if let Err(e) = socket.send(Message::text(text)).await {
            self.disconnect();
            return Err(e.into());
        }
        Ok(())
    }

    /// Inserts locally and sends when connected.
    pub async fn insert(&mut self, pos: usize, text: &str) -> Result<(), ClientError> {
        self.session
            .insert(pos, text)
            .map_err(SessionError::Rejected)?;
        self.flush_if_connected().await
    }

    pub async fn delete(&mut self, pos: usize, len: usize) -> Result<(), ClientError> {
        self.session
            .delete(pos, len)
            .map_err(SessionError::Rejected)?;
        self.flush_if_connected().await
    }

    /// Sets this client's presence (selections as `(anchor, head)`
    /// character positions, and the application's data) and sends it when
    /// connected.
    pub async fn set_presence(
        &mut self,
        selections: &[(usize, usize)],
        data: Option<JsonObject>,
    ) -> Result<(), ClientError> {
        self.session
            .set_presence(selections, data)
            .map_err(SessionError::Rejected)?;
        self.flush_if_connected().await
    }

    async fn flush_if_connected(&mut self) -> Result<(), ClientError> {
        if self.socket.is_some() {
            self.flush().await
        } else {
            Ok(())
        }
    }

    /// Receives and handles one message. Non-fatal server errors are kept
    /// in `errors`; fatal ones end the connection and are returned.
    pub async fn recv(&mut self) -> Result<Event, ClientError> {
        loop {
            let socket = self.socket.as_mut().ok_or(ClientError::NotConnected)?;
            let frame = match tokio::time::timeout(STEP_TIMEOUT, socket.next()).await {
                Err(_) => return Err(ClientError::Timeout),
                Ok(frame) => frame,
            };
            if let Some(event) = self.handle_frame(frame).await? {
                return Ok(event);
            }
        }
    }

    /// Handles one frame; `None` for frames that carry no message (pings).
    async fn handle_frame(
        &mut self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<Option<Event>, ClientError> {
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                self.disconnect();
                return Err(ClientError::Closed(frame.map(|f| u16::from(f.code))));
            }
            Some(Ok(_)) => return Ok(None),
            Some(Err(e)) => {
                self.disconnect();
                return Err(e.into());
            }
            None => {
                self.disconnect();
                return Err(ClientError::Closed(None));
            }
        };
        let msg = match ServerMessage::from_json(&text) {
            Ok(msg) => msg,
            Err(e) => {
                self.disconnect();
                return Err(SessionError::Parse(e).into());
            }
        };
        let echo = match (&msg, self.record_echoes) {
            (ServerMessage::OpEcho(echo), true) => Some((echo.server_seq, echo.op.clone())),
            _ => None,
        };
        let event = match self.session.receive(msg) {
            Ok(event) => event,
            Err(e) => {
                self.disconnect();
                return Err(e.into());
            }
        };
        self.echoes.extend(echo);
        if let Event::Error(error) = &event {
            if error.fatal {
                let error = error.clone();
                self.disconnect();
                return Err(ClientError::Server(error));
            }
            self.errors.push(error.clone());
            if let (Some(ErrorCode::RateLimited), Some(ms)) =
                (error.error_code(), error.retry_after_ms)
            {
                // The session holds the refused edits: send them again
                // once the relay said it would take them.
                tokio::time::sleep(Duration::from_millis(ms)).await;
                self.session.resume();
                self.flush().await?;
            }
        }
        if let Event::Connected { resync, .. } = event {
            self.resyncs.push(resync);
        }
        if let Event::Dropped { .. } = &event {
            // The session rebuilt its outbox: answers on this connection
            // no longer apply to it (`docs/protocol.md` §5).
            self.socket = None;
            return Ok(Some(event));
        }
        if matches!(event, Event::Connected { .. } | Event::Snapshot { .. }) {
            // Catch-up may have acknowledged or rebased local edits.
            self.flush().await?;
        }
        Ok(Some(event))
    }

    /// Handles whatever arrives until the server has been silent for `quiet`;
    /// returns how many messages were handled.
    pub async fn drain(&mut self, quiet: Duration) -> Result<usize, ClientError> {
        let mut handled = 0;
        loop {
            let socket = self.socket.as_mut().ok_or(ClientError::NotConnected)?;
            match tokio::time::timeout(quiet, socket.next()).await {
                Err(_) => return Ok(handled),
                Ok(frame) => {
                    self.handle_frame(frame).await?;
                    handled += 1;
                }
            }
        }
    }

    /// Receives until the session has integrated `server_seq`.
    pub async fn sync_to(&mut self, server_seq: ServerSeq) -> Result<(), ClientError> {
        while self.session.status() != Status::Live
            || self.session.last_seen_server_seq() < server_seq
        {
            self.recv().await?;
        }
        Ok(())
    }

    /// Receives until every local edit is acknowledged.
    pub async fn wait_acked(&mut self) -> Result<(), ClientError> {
        self.flush().await?;
        while self.session.unacked() > 0 {
            self.recv().await?;
        }
        Ok(())
    }
}

/// The close code of a close frame, for tests reading raw sockets.
pub fn close_code(frame: &Option<CloseFrame>) -> Option<u16> {
    frame.as_ref().map(|f| u16::from(f.code))
}

/// Close codes a client should answer by reconnecting at once.
pub fn should_reconnect(code: u16) -> bool {
    matches!(
        code,
        close::GOING_AWAY | close::INTERNAL_ERROR | close::TOO_SLOW | close::TRY_AGAIN_LATER
    )
}
