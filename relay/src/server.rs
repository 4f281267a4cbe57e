//! The HTTP side: routes (`/health`, `/ws`, the demo's static files), the
//! accept loop, and the shutdown sequence.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Reply;

use crate::config::Config;
use crate::connection::{self, Shared};
use crate::rooms::Rooms;
use crate::store::Store;

/// A running relay.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop_accepting: oneshot::Sender<()>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Relay {
    /// Binds `config.addr` and starts serving.
    pub async fn start(config: Config, store: Arc<dyn Store>) -> io::Result<Relay> {
        let listener = listen(config.addr)?;
        let addr = listener.local_addr()?;
        let config = Arc::new(config);
        let rooms = Arc::new(Rooms::new(store, config.clone()));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared::new(config, rooms, shutdown_rx));
        let (stop_accepting, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(
            warp::serve(routes(shared.clone()))
                .incoming(listener)
                .graceful(async {
                    let _ = stop_rx.await;
                })
                .run(),
        );
        tracing::info!(%addr, "relay listening");
        Ok(Relay {
            addr,
            shared,
            stop_accepting,
            shutdown,
            server,
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

    /// Stops accepting, closes every client with 1001 after what was
    /// already accepted reached it, writes a final snapshot of every room.
    pub async fn shutdown(self) {
        let Relay {
            shared,
            stop_accepting,
            shutdown,
            server,
            ..
        } = self;
        tracing::info!(connections = shared.connections(), "shutting down");
        let _ = stop_accepting.send(());
        let _ = shutdown.send(true);
        let grace = shared.config.shutdown_grace();
        let rooms = shared.rooms.clone();
        if tokio::time::timeout(grace, shared.all_closed())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after the shutdown grace period");
        }
        rooms.close_all().await;
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

fn routes(
    shared: Arc<Shared>,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    let config = shared.config.clone();
    let with_shared = warp::any().map(move || shared.clone());
    let health = warp::path("health")
        .and(warp::path::end())
        .and(warp::get())
        .and(with_shared.clone())
        .map(|shared: Arc<Shared>| {
            warp::reply::json(&serde_json::json!({
                "status": "ok",
                "version": env!("CARGO_PKG_VERSION"),
                "rooms": shared.rooms.loaded(),
                "connections": shared.connections(),
            }))
            .into_response()
        });
    let ws = warp::path("ws")
        .and(warp::path::end())
        .and(warp::ws())
        .and(with_shared)
        .map(
            |ws: warp::ws::Ws, shared: Arc<Shared>| match shared.admit() {
                Some(guard) => {
                    let limit = shared.config.max_message_bytes;
                    ws.max_message_size(limit)
                        .max_frame_size(limit)
                        .on_upgrade(move |socket| connection::handle(socket, shared, guard))
                        .into_response()
                }
                None => warp::reply::with_status(
                    "too many connections, or shutting down",
                    StatusCode::SERVICE_UNAVAILABLE,
                )
                .into_response(),
            },
        );
    let pkg = warp::path("pkg")
        .and(warp::fs::dir(config.pkg_dir.clone()))
        .map(Reply::into_response);
    let www = warp::fs::dir(config.www_dir.clone()).map(Reply::into_response);
    health
        .or(ws)
        .unify()
        .or(pkg)
        .unify()
        .or(www)
        .unify()
        .with(warp::trace::request())
}
