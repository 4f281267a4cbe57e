//! The HTTP side: the accept loop (a cap on open connections, a deadline
//! for request headers), the WebSocket upgrade at `/ws`, warp's routes for
//! everything else (`/health`, `/metrics`, the demo's static files), and
//! the shutdown sequence.
//!
//! The upgrade is done here rather than by `warp::ws()` for one setting:
//! warp gives every socket tungstenite's default 128 KiB read buffer, which
//! tungstenite zero-fills before each read; at 1,000 connections that was
//! 176 MiB and a tenth of the relay's CPU (`docs/relay.md`).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use warp::Filter;
use warp::http::{HeaderValue, Method, Request, StatusCode, header};
use warp::reply::{Reply, Response};

use crate::auth::{self, Signer, Verifier};
use crate::commit::CommitQueue;
use crate::config::Config;
use crate::connection::{self, Phase, Shared};
use crate::member::Budget;
use crate::metrics::Metrics;
use crate::room::Context;
use crate::rooms::Rooms;
use crate::store::Store;

/// A running relay.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop_accepting: oneshot::Sender<()>,
    phase: watch::Sender<Phase>,
    server: JoinHandle<()>,
    reaper: JoinHandle<()>,
    /// Follows other relays' commits, on a shared store.
    follower: Option<JoinHandle<()>>,
}

impl Relay {
    /// Binds `config.addr` and starts serving.
    pub async fn start(config: Config, store: Arc<dyn Store>) -> io::Result<Relay> {
        let invalid =
            |e: crate::auth::KeyError| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
        let mut verifier = Verifier::from_config(&config).map_err(invalid)?;
        let demo = if config.demo {
            tracing::warn!("demo mode: /demo/token mints a token for anyone who asks");
            Some(Arc::new(
                Signer::for_demo(&config, &mut verifier).map_err(invalid)?,
            ))
        } else {
            None
        };
        if verifier.is_open() {
            tracing::warn!(
                "no --auth-secret-file or --auth-public-key-file: the relay runs OPEN, anyone who reaches it may read and write every document"
            );
        } else {
            tracing::info!(keys = verifier.keys(), "tokens required");
        }
        let listener = listen(config.addr)?;
        let addr = listener.local_addr()?;
        let config = Arc::new(config);
        let metrics = Arc::new(Metrics::new());
        let budget = Budget::new(config.max_queued_bytes);
        let reaper = tokio::spawn(budget.clone().reap());
        let commit = store
            .durable()
            .then(|| CommitQueue::start(store.clone(), config.commit_threads, metrics.clone()));
        let notices = store.notices();
        let rooms = Arc::new(Rooms::new(Context {
            store,
            commit,
            config,
            budget,
            metrics,
            lagging: Arc::new(tokio::sync::Notify::new()),
        }));
        // On a shared store, rooms follow the log that other relays write.
        let follower = notices.map(|notices| tokio::spawn(rooms.clone().follow(notices)));
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let shared = Arc::new(Shared::new(rooms, Arc::new(verifier), phase_rx));
        let (stop_accepting, stop_rx) = oneshot::channel::<()>();
        let http = TowerToHyperService::new(warp::service(routes(shared.clone(), demo)));
        let server = tokio::spawn(accept_loop(listener, http, shared.clone(), stop_rx));
        tracing::info!(%addr, "relay listening");
        Ok(Relay {
            addr,
            shared,
            stop_accepting,
            phase,
            server,
            reaper,
            follower,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn rooms(&self) -> &Arc<Rooms> {
        &self.shared.rooms
    }

    /// Serves until `signal` completes, then shuts down.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        self.shutdown().await;
    }

    /// Bytes held in queued messages now (the relay-wide budget's use).
    pub fn queued_bytes(&self) -> usize {
        self.shared.budget.used()
    }

    /// Returns once the open (WebSockets, TCP connections) satisfy `until`.
    pub async fn wait_open(&self, until: impl FnMut(&(usize, usize)) -> bool) {
        self.shared.wait_open(until).await;
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// Stops accepting connections and operations, waits until every
    /// accepted operation is stored and queued, closes every client with
    /// 1001 after all of it reached it, writes a final snapshot of every
    /// room.
    pub async fn shutdown(self) {
        let Relay {
            shared,
            stop_accepting,
            phase,
            server,
            reaper,
            follower,
            ..
        } = self;
        tracing::info!(connections = shared.connections(), "shutting down");
        let _ = stop_accepting.send(());
        let _ = phase.send(Phase::Draining);
        // A frame read just before the stop may still be being handled:
        // its operations must be queued before the flush below looks.
        let handled = shared.clone();
        let _ = tokio::task::spawn_blocking(move || handled.wait_handled()).await;
        let grace = shared.config.shutdown_grace();
        let rooms = shared.rooms.clone();
        if tokio::time::timeout(grace, rooms.flush()).await.is_err() {
            tracing::warn!("commits still pending after the shutdown grace period");
        }
        let _ = phase.send(Phase::Closing);
        if tokio::time::timeout(grace, shared.all_closed())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period");
        }
        rooms.close_all().await;
        reaper.abort();
        if let Some(follower) = follower {
            follower.abort();
        }
        if tokio::time::timeout(grace, server).await.is_err() {
            tracing::warn!("HTTP server still busy after the shutdown grace period");
        }
        tracing::info!("shut down");
    }
}

/// A listening socket whose accepted connections have Nagle's algorithm
/// off (Linux hands `TCP_NODELAY` down from the listener): an echo is one
/// small frame, and waiting to coalesce it with the next costs up to 40 ms.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts connections until `stop`, serving each with HTTP/1 and upgrades.
async fn accept_loop<H>(
    listener: TcpListener,
    http: H,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) where
    H: Clone + Send + Sync + 'static,
    H: hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible>,
    H::Future: Send + 'static,
{
    let open = Arc::new(tokio::sync::Semaphore::new(shared.config.max_connections));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // hyper's header deadline runs once a request's first byte arrived;
    // the wait for that byte is bounded below, and no connection is kept
    // alive after its response (see `Http::call`).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_timeout());
    let builder = builder.http1_only();
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, usually: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            // Full: answer and close at once rather than leave the client
            // waiting in the backlog.
            tokio::spawn(refuse_full(stream));
            continue;
        };
        let header_timeout = shared.config.header_timeout();
        // Held until the connection ends, upgraded WebSockets included.
        let permit = Arc::new(OpenConnection::new(permit, &shared));
        let service = Http {
            warp: http.clone(),
            shared: shared.clone(),
            permit,
            peer: peer.ip(),
        };
        let builder = builder.clone();
        tokio::spawn(async move {
            // A client that connects and sends nothing is closed when its
            // request would be late.
            let mut first = [0u8; 1];
            match tokio::time::timeout(header_timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
            if let Err(e) = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "http connection ended with an error");
            }
        });
    }
}

const FULL_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 21\r\n\r\ntoo many connections\n";

/// Answers 503 to a connection over the cap, then reads what the client
/// sent until it closes (briefly), so that closing does not reset the
/// connection before the client read the answer.
async fn refuse_full(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let timeout = std::time::Duration::from_secs(1);
    let _ = tokio::time::timeout(timeout, async {
        stream.write_all(FULL_RESPONSE).await?;
        stream.shutdown().await?;
        let mut scratch = [0u8; 1024];
        while stream.read(&mut scratch).await? > 0 {}
        Ok::<(), std::io::Error>(())
    })
    .await;
}

/// One open TCP connection, counted against `--max-connections` until the
/// last of its HTTP handler and its upgraded WebSocket ends.
struct OpenConnection {
    _permit: tokio::sync::OwnedSemaphorePermit,
    shared: Arc<Shared>,
}

impl OpenConnection {
    fn new(permit: tokio::sync::OwnedSemaphorePermit, shared: &Arc<Shared>) -> OpenConnection {
        shared.tcp(true);
        OpenConnection {
            _permit: permit,
            shared: shared.clone(),
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.shared.tcp(false);
    }
}

/// Routes `/ws` to the upgrade and everything else to warp.
#[derive(Clone)]
struct Http<H> {
    warp: H,
    shared: Arc<Shared>,
    permit: Arc<OpenConnection>,
    /// The client's address, for the per-address limits.
    peer: std::net::IpAddr,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<H> hyper::service::Service<Request<Incoming>> for Http<H>
where
    H: hyper::service::Service<Request<Incoming>, Response = Response, Error = Infallible>,
    H::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture;

    fn call(&self, req: Request<Incoming>) -> BoxFuture {
        if req.uri().path() == "/ws" {
            let response = upgrade(req, &self.shared, self.permit.clone(), self.peer);
            return Box::pin(async move { Ok(response) });
        }
        // Every plain HTTP response closes its connection: an idle
        // kept-alive connection would hold a place under the cap with no
        // deadline, and the relay's HTTP routes are few and small.
        let response = self.warp.call(req);
        Box::pin(async move {
            let mut response = response.await?;
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Ok(response)
        })
    }
}

fn has_token(req: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    req.headers().get_all(name).iter().any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

fn status(code: StatusCode, body: &'static str) -> Response {
    warp::reply::with_status(body, code).into_response()
}

/// Answers a WebSocket handshake (RFC 6455 §4.2) and hands the upgraded
/// connection to `connection::handle`.
fn upgrade(
    mut req: Request<Incoming>,
    shared: &Arc<Shared>,
    permit: Arc<OpenConnection>,
    peer: std::net::IpAddr,
) -> Response {
    let handshake = req.method() == Method::GET
        && has_token(&req, header::CONNECTION, "upgrade")
        && has_token(&req, header::UPGRADE, "websocket")
        && req
            .headers()
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == "13");
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let (true, Some(key)) = (handshake, key) else {
        return status(StatusCode::BAD_REQUEST, "expected a WebSocket upgrade");
    };
    if !crate::origin::allowed(req.headers(), &shared.config.allowed_origins) {
        shared.metrics.upgrade_refused("origin");
        return status(StatusCode::FORBIDDEN, "origin not allowed");
    }
    // Refused here, before an upgrade or a task is spent on it: a flood
    // from one address costs the relay one small answer per attempt.
    let address = match shared.addresses.admit(peer) {
        Ok(address) => address,
        Err(refusal) => {
            shared.metrics.upgrade_refused(refusal.reason);
            let secs = refusal.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = status(StatusCode::TOO_MANY_REQUESTS, refusal.reason);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            return response;
        }
    };
    let Some(guard) = shared.admit() else {
        return status(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let limit = shared.config.max_message_bytes;
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit));
    let on_upgrade = hyper::upgrade::on(&mut req);
    let shared = shared.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let socket = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                connection::handle(socket, shared, guard).await;
                drop(address);
                drop(permit);
            }
            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
        }
    });
    let mut response = status(StatusCode::SWITCHING_PROTOCOLS, "");
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Bytes read from a socket at a time. tungstenite grows a message's
/// buffer past it as needed; a small one keeps idle connections cheap.
const READ_BUFFER: usize = 4096;

/// How long the demo's tokens last: short, so that the demo shows a
/// refresh through `getToken` now and then.
const DEMO_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(600);

fn routes(
    shared: Arc<Shared>,
    demo: Option<Arc<Signer>>,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    let config = shared.config.clone();
    let with_shared = warp::any().map(move || shared.clone());
    let health = warp::path("health")
        .and(warp::path::end())
        .and(warp::get())
        .and(with_shared.clone())
        .map(|shared: Arc<Shared>| {
            // A node that cannot reach its shared store takes no edits: a
            // load balancer reading 503 sends clients to one that can.
            let reachable = shared.rooms.store().reachable();
            let body = warp::reply::json(&serde_json::json!({
                "status": if reachable { "ok" } else { "store_unreachable" },
                "version": env!("CARGO_PKG_VERSION"),
                "rooms": shared.rooms.loaded(),
                "connections": shared.connections(),
                "auth": if shared.verifier.is_open() { "open" } else { "token" },
            }));
            let code = if reachable {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            warp::reply::with_status(body, code).into_response()
        });
    let metrics = warp::path("metrics")
        .and(warp::path::end())
        .and(warp::get())
        .and(with_shared.clone())
        .and(warp::header::optional::<String>("authorization"))
        .map(|shared: Arc<Shared>, authorization: Option<String>| {
            if !may_read_metrics(&shared.verifier, authorization.as_deref()) {
                return status(
                    StatusCode::UNAUTHORIZED,
                    "a token for doc \"*\" is required",
                );
            }
            shared.metrics.queued_bytes.set(shared.budget.used() as i64);
            warp::reply::with_header(
                shared.metrics.render(),
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
            .into_response()
        });
    let pkg = warp::path("pkg")
        .and(warp::fs::dir(config.pkg_dir.clone()))
        .map(Reply::into_response);
    let www = warp::fs::dir(config.www_dir.clone()).map(Reply::into_response);
    // A path that decodes to a NUL byte (`/%00`) cannot name a file; warp's
    // file service would answer it with a 500.
    let nul = warp::path::full().and_then(|path: warp::path::FullPath| async move {
        if path.as_str().to_ascii_lowercase().contains("%00") {
            Ok(status(StatusCode::NOT_FOUND, "not found"))
        } else {
            Err(warp::reject::not_found())
        }
    });
    // Only in demo mode: anyone may have a token for any document.
    let demo_token = warp::path!("demo" / "token")
        .and(warp::get())
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and_then(move |query: std::collections::HashMap<String, String>| {
            let demo = demo.clone();
            async move {
                match demo {
                    Some(signer) => Ok(demo_token(&signer, &query)),
                    None => Err(warp::reject::not_found()),
                }
            }
        });
    nul.or(health)
        .unify()
        .or(demo_token)
        .unify()
        .or(metrics)
        .unify()
        .or(pkg)
        .unify()
        .or(www)
        .unify()
        .with(warp::trace::request())
}

/// `/metrics` is open on an open relay; with keys, it needs
/// `Authorization: Bearer` and a token whose `doc` is `*`.
fn may_read_metrics(verifier: &Verifier, authorization: Option<&str>) -> bool {
    if verifier.is_open() {
        return true;
    }
    authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .and_then(|token| verifier.claims(token.trim()).ok())
        .is_some_and(|claims| claims.doc == "*")
}

/// `GET /demo/token?doc=ID&role=read|write`: `{"token": ..., "expires_in": seconds}`.
fn demo_token(signer: &Signer, query: &std::collections::HashMap<String, String>) -> Response {
    let Some(doc) = query.get("doc").filter(|d| connection::valid_doc_id(d)) else {
        return status(
            StatusCode::BAD_REQUEST,
            "doc: a valid document id is required",
        );
    };
    let role = match query.get("role").map(String::as_str) {
        None | Some("write") => auth::Role::Write,
        Some("read") => auth::Role::Read,
        Some(_) => return status(StatusCode::BAD_REQUEST, "role: read or write"),
    };
    match signer.mint("demo", doc, role, DEMO_TOKEN_TTL) {
        Ok(token) => warp::reply::json(&serde_json::json!({
            "token": token,
            "expires_in": DEMO_TOKEN_TTL.as_secs(),
        }))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "demo token");
            status(StatusCode::INTERNAL_SERVER_ERROR, "cannot sign")
        }
    }
}
