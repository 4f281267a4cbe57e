//! Shared harness for the end-to-end tests: a relay on an ephemeral port and
//! raw WebSocket helpers for speaking (and breaking) the protocol by hand.

use std::sync::Arc;
use std::time::Duration;

use collab_crdt::sync::ServerMessage;
use collab_relay::auth::{Role, Signer};
use collab_relay::client::{Client, Socket};
use collab_relay::{Config, MemoryStore, Relay};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// A relay with `tweak` applied to the test defaults.
pub async fn relay_with(tweak: impl FnOnce(&mut Config)) -> Relay {
    let mut config = Config::for_tests();
    tweak(&mut config);
    Relay::start(config, Arc::new(MemoryStore::new()))
        .await
        .expect("relay starts")
}

/// A relay on the SQLite store in `data_dir`, with `tweak` applied.
pub async fn durable_relay(data_dir: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> Relay {
    let mut config = Config::for_tests();
    config.store = "sqlite".into();
    config.data_dir = data_dir.to_owned();
    tweak(&mut config);
    let store = config.open_store().expect("store opens");
    Relay::start(config, store).await.expect("relay starts")
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("collab-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The HS256 secret of [`auth_relay`]; public, for tests only.
pub const SECRET: &[u8] = b"collab-tests-secret-0123456789abcdef";

/// A relay that requires tokens signed with [`SECRET`], with `tweak`
/// applied (which may add more keys).
pub async fn auth_relay(tweak: impl FnOnce(&mut Config)) -> Relay {
    let dir = TempDir::new("auth");
    let path = dir.0.join("secret");
    std::fs::write(&path, SECRET).expect("secret written");
    // The relay reads its keys at start: the directory may go after it.
    relay_with(|c| {
        c.auth_secret_file = vec![path];
        tweak(c);
    })
    .await
}

/// A test key file: `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// A token signed with [`SECRET`] for `doc` with `role`, valid for an hour.
pub fn token(doc: &str, role: Role) -> String {
    Signer::hs256(SECRET)
        .mint("tester", doc, role, Duration::from_secs(3600))
        .expect("token signed")
}

/// A hello carrying `token`, for a raw socket.
pub fn hello_with(doc_id: &str, replica_id: u64, token: &str) -> String {
    format!(r#"{{"type":"hello","doc_id":"{doc_id}","replica_id":{replica_id},"token":"{token}"}}"#)
}

/// A connected session client that shows `token`.
pub async fn client_with(relay: &Relay, doc_id: &str, replica_id: u64, token: &str) -> Client {
    let mut client = Client::new(ws_url(relay), doc_id, replica_id);
    client.session_mut().set_token(Some(token.to_owned()));
    client.connect().await.expect("client connects");
    client
}

pub async fn relay() -> Relay {
    relay_with(|_| {}).await
}

pub fn ws_url(relay: &Relay) -> String {
    format!("ws://{}/ws", relay.addr())
}

/// A connected session client.
pub async fn client(relay: &Relay, doc_id: &str, replica_id: u64) -> Client {
    let mut client = Client::new(ws_url(relay), doc_id, replica_id);
    client.connect().await.expect("client connects");
    client
}

/// Opens a WebSocket whose upgrade carries `Origin: origin`; the HTTP
/// status of a refused upgrade.
pub async fn raw_from_origin(relay: &Relay, origin: &str) -> Result<Socket, u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = ws_url(relay).into_client_request().expect("request");
    request
        .headers_mut()
        .insert("origin", origin.parse().expect("header value"));
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("upgrade failed otherwise: {e}"),
    }
}

/// A raw WebSocket to the relay, for sending arbitrary frames.
pub async fn raw(relay: &Relay) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(ws_url(relay))
        .await
        .expect("websocket connects");
    socket
}

pub async fn send(socket: &mut Socket, text: impl Into<String>) {
    socket
        .send(Message::text(text.into()))
        .await
        .expect("frame sent");
}

/// What a raw socket received next: a server message, or the close code.
#[derive(Debug)]
pub enum Received {
    Msg(ServerMessage),
    Closed(Option<u16>),
}

pub async fn next(socket: &mut Socket) -> Received {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("server answers within 10 s");
        match frame {
            Some(Ok(Message::Text(text))) => {
                return Received::Msg(
                    ServerMessage::from_json(&text).expect("valid server message"),
                );
            }
            Some(Ok(Message::Close(frame))) => {
                return Received::Closed(collab_relay::client::close_code(&frame));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Received::Closed(None),
        }
    }
}

/// Whether the socket stays silent for `wait`.
pub async fn silent_for(socket: &mut Socket, wait: Duration) -> bool {
    loop {
        match tokio::time::timeout(wait, socket.next()).await {
            Err(_) => return true,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(_) => return false,
        }
    }
}

/// Expects an `error` message with `code` and then, when `close` is set,
/// the close frame with that code.
pub async fn expect_error(socket: &mut Socket, code: &str, close: Option<u16>) {
    match next(socket).await {
        Received::Msg(ServerMessage::Error(e)) => {
            assert_eq!(e.code, code, "error code (message: {})", e.message);
            assert_eq!(e.fatal, close.is_some(), "fatal flag of {code}");
            assert_eq!(e.close_code, close, "announced close code of {code}");
        }
        other => panic!("expected error {code}, got {other:?}"),
    }
    if let Some(close) = close {
        match next(socket).await {
            Received::Closed(got) => assert_eq!(got, Some(close), "close code after {code}"),
            other => panic!("expected close {close} after {code}, got {other:?}"),
        }
    }
}

/// A hello message for a raw socket.
pub fn hello(doc_id: &str, replica_id: u64) -> String {
    format!(r#"{{"type":"hello","doc_id":"{doc_id}","replica_id":{replica_id}}}"#)
}

/// A plain HTTP/1.1 GET on a connection of its own: the status code and
/// the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http_get_with(addr, path, &[]).await
}

/// [`http_get`] with extra request headers.
pub async fn http_get_with(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let request = format!("GET {path} HTTP/1.1\r\nhost: relay\r\nconnection: close\r\n{extra}\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("response read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_owned());
    (status, body)
}
