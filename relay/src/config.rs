//! The relay's settings: every one a command-line flag and a `COLLAB_`
//! environment variable, with the defaults documented in `docs/relay.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// collab-relay: sequences, stores and fans out collaborative text edits.
#[derive(Clone, Debug, Parser)]
#[command(name = "collab-relay", version, about)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Files holding an HS256 secret (at least 32 bytes) that tokens may be
    /// signed with; several (comma-separated in the variable) while
    /// rotating. With no key at all the relay runs open.
    #[arg(
        long,
        global = true,
        env = "COLLAB_AUTH_SECRET_FILE",
        value_delimiter = ','
    )]
    pub auth_secret_file: Vec<PathBuf>,

    /// Files holding an Ed25519 public key (PEM) that tokens may be signed
    /// with (EdDSA); several while rotating.
    #[arg(
        long,
        global = true,
        env = "COLLAB_AUTH_PUBLIC_KEY_FILE",
        value_delimiter = ','
    )]
    pub auth_public_key_file: Vec<PathBuf>,

    /// File holding an Ed25519 private key (PKCS#8 PEM) that the `token`
    /// subcommand and the demo's endpoint sign with; only they read it.
    /// Without it they sign with the first `--auth-secret-file`.
    #[arg(long, global = true, env = "COLLAB_AUTH_PRIVATE_KEY_FILE")]
    pub auth_private_key_file: Option<PathBuf>,

    /// Origins (`scheme://host[:port]`) whose pages may open WebSockets,
    /// comma-separated; `*` allows any. Empty: only pages the relay itself
    /// serves (the `Origin`'s host equals the request's `Host`). Upgrades
    /// without an `Origin` (not from a browser) are not checked.
    #[arg(long, env = "COLLAB_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Demo mode: serves `/demo/token`, which mints a token for anyone who
    /// asks. Never in production.
    #[arg(long, env = "COLLAB_DEMO")]
    pub demo: bool,
    /// Where documents are stored: `sqlite` (in `--data-dir`, durable),
    /// `memory` (lost on restart; for tests and throwaway runs), or a
    /// PostgreSQL URL `postgres://user:password@host:port/db` (durable,
    /// shared by several relays: `docs/scale-out.md`); `postgres` takes
    /// the URL from `--database-url`.
    #[arg(long, env = "COLLAB_STORE", default_value = "sqlite")]
    pub store: String,

    /// The PostgreSQL database of `--store postgres`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory of the SQLite database.
    #[arg(long, env = "COLLAB_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Log entries kept behind the latest snapshot so that clients that
    /// far behind can still replay; older clients get a snapshot.
    #[arg(long, env = "COLLAB_RETAIN_OPS", default_value_t = 10_000)]
    pub retain_ops: u64,

    /// Address to listen on.
    #[arg(long, env = "COLLAB_ADDR", default_value = "0.0.0.0:8000")]
    pub addr: SocketAddr,

    /// Directory of the demo page, served at `/`.
    #[arg(long, env = "COLLAB_WWW_DIR", default_value = "www")]
    pub www_dir: PathBuf,

    /// Directory of the built npm package (wasm-pack output), served at `/pkg/`.
    #[arg(long, env = "COLLAB_PKG_DIR", default_value = "pkg")]
    pub pkg_dir: PathBuf,

    /// Largest WebSocket message (and frame) accepted, in bytes; larger
    /// ones close the connection with 1009.
    #[arg(long, env = "COLLAB_MAX_MESSAGE_BYTES", default_value_t = 1 << 20)]
    pub max_message_bytes: usize,

    /// Most characters one document may hold, deleted ones included;
    /// inserts past it are refused with `document_too_large`.
    #[arg(long, env = "COLLAB_MAX_DOC_CHARS", default_value_t = 16_000_000)]
    pub max_doc_chars: u64,

    /// Most entries one document's history may hold (runs of operations;
    /// a delete that deletes nothing new still takes one); operations past
    /// it are refused with `document_too_large`.
    #[arg(long, env = "COLLAB_MAX_DOC_HISTORY", default_value_t = 16_000_000)]
    pub max_doc_history: u64,

    /// Most connections one document may have; more are refused with 1013.
    #[arg(long, env = "COLLAB_MAX_CONNECTIONS_PER_DOC", default_value_t = 512)]
    pub max_connections_per_doc: usize,

    /// Most open TCP connections in all, HTTP and WebSocket alike; more are
    /// answered HTTP 503 and closed at once.
    #[arg(long, env = "COLLAB_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Milliseconds a client has to send a request's headers (and, on a
    /// kept-alive connection, the next request) before it is closed.
    #[arg(long, env = "COLLAB_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,

    /// Bytes of messages queued for one connection before it counts as too
    /// slow and is closed with 4008 (it comes back and replays).
    #[arg(long, env = "COLLAB_SEND_QUEUE_BYTES", default_value_t = 16 << 20)]
    pub send_queue_bytes: usize,

    /// Bytes of queued messages the whole relay may hold; past it the
    /// connections holding the most are closed with 4008.
    #[arg(long, env = "COLLAB_MAX_QUEUED_BYTES", default_value_t = 1 << 30)]
    pub max_queued_bytes: usize,

    /// Threads writing group commits to a durable store; with more than
    /// one, a document whose write stalls does not hold up the others.
    #[arg(long, env = "COLLAB_COMMIT_THREADS", default_value_t = 2)]
    pub commit_threads: usize,

    /// Operations a connection may send per second on average (0: no
    /// limit); beyond it an `op` message is refused with `rate_limited`
    /// and a retry-after, and the connection stays.
    #[arg(long, env = "COLLAB_OP_RATE", default_value_t = 500)]
    pub op_rate: u64,

    /// Operations a connection may send at once above `--op-rate` (a
    /// reconnect resending an offline session's edits, a paste).
    #[arg(long, env = "COLLAB_OP_BURST", default_value_t = 5_000)]
    pub op_burst: u64,

    /// Bytes of `op` messages a connection may send per second on average
    /// (0: no limit); beyond it: `rate_limited`.
    #[arg(long, env = "COLLAB_BYTE_RATE", default_value_t = 1 << 20)]
    pub byte_rate: u64,

    /// Bytes a connection may send at once above `--byte-rate`.
    #[arg(long, env = "COLLAB_BYTE_BURST", default_value_t = 16 << 20)]
    pub byte_burst: u64,

    /// Open WebSockets one client address may hold (an IPv6 address counts
    /// by its /64; 0: no limit); more get HTTP 429.
    #[arg(long, env = "COLLAB_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// WebSocket upgrades (each one `hello` attempt) one client address may
    /// make per minute, in bursts of as many (0: no limit); more get HTTP
    /// 429 with a `Retry-After`.
    #[arg(long, env = "COLLAB_HELLOS_PER_IP_PER_MINUTE", default_value_t = 600)]
    pub hellos_per_ip_per_minute: u64,

    /// Milliseconds a new connection has to send `hello`.
    #[arg(long, env = "COLLAB_HELLO_TIMEOUT_MS", default_value_t = 10_000)]
    pub hello_timeout_ms: u64,

    /// Milliseconds between the server's WebSocket pings.
    #[arg(long, env = "COLLAB_PING_INTERVAL_MS", default_value_t = 20_000)]
    pub ping_interval_ms: u64,

    /// Milliseconds without any frame from a client (pongs included) before
    /// it is closed with 4003.
    #[arg(long, env = "COLLAB_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,

    /// Milliseconds a document stays loaded after its last client left.
    #[arg(long, env = "COLLAB_ROOM_IDLE_MS", default_value_t = 30_000)]
    pub room_idle_ms: u64,

    /// Most operations sent as replay; a client further behind gets a snapshot.
    #[arg(long, env = "COLLAB_MAX_REPLAY_OPS", default_value_t = 10_000)]
    pub max_replay_ops: u64,

    /// A room writes a snapshot to the store after this many operations.
    #[arg(long, env = "COLLAB_SNAPSHOT_EVERY_OPS", default_value_t = 10_000)]
    pub snapshot_every_ops: u64,

    /// A room writes a snapshot once this many bytes of log (as echoed)
    /// accumulated since the last one, whichever comes first.
    #[arg(long, env = "COLLAB_SNAPSHOT_EVERY_BYTES", default_value_t = 4 << 20)]
    pub snapshot_every_bytes: u64,

    /// Largest `presence` message accepted, in bytes; larger ones are
    /// refused with `presence_too_large`.
    #[arg(long, env = "COLLAB_MAX_PRESENCE_BYTES", default_value_t = 4096)]
    pub max_presence_bytes: usize,

    /// Milliseconds a presence lasts without a refresh before it is
    /// removed for everyone.
    #[arg(long, env = "COLLAB_PRESENCE_TTL_MS", default_value_t = 30_000)]
    pub presence_ttl_ms: u64,

    /// Least milliseconds between two fan-outs of one member's presence;
    /// updates in between are coalesced (the latest wins).
    #[arg(long, env = "COLLAB_PRESENCE_INTERVAL_MS", default_value_t = 50)]
    pub presence_interval_ms: u64,

    /// Milliseconds shutdown waits for connections to flush and close.
    #[arg(long, env = "COLLAB_SHUTDOWN_GRACE_MS", default_value_t = 5_000)]
    pub shutdown_grace_ms: u64,

    /// Log filter, in `tracing_subscriber::EnvFilter` syntax.
    #[arg(long, env = "COLLAB_LOG", default_value = "info,warp=warn")]
    pub log: String,
}

/// What the binary does instead of serving.
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Prints a token signed with the configured key
    /// (`--auth-private-key-file` or the first `--auth-secret-file`).
    Token(TokenArgs),
}

#[derive(Clone, Debug, clap::Args)]
pub struct TokenArgs {
    /// The document id, or a prefix ending in `*`.
    #[arg(long)]
    pub doc: String,
    /// `read` or `write`.
    #[arg(long, default_value = "write")]
    pub role: crate::auth::Role,
    /// The user the token names.
    #[arg(long)]
    pub sub: String,
    /// How long the token is valid: 90s, 15m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = crate::auth::parse_ttl)]
    pub ttl: Duration,
}

impl Config {
    /// The defaults, as if no flag and no variable were given; the bind
    /// address is for tests (an ephemeral port on loopback).
    pub fn for_tests() -> Config {
        let mut config = Config::parse_from(["collab-relay"]);
        config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.store = "memory".into();
        config
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    pub fn hello_timeout(&self) -> Duration {
        Duration::from_millis(self.hello_timeout_ms)
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    pub fn room_idle(&self) -> Duration {
        Duration::from_millis(self.room_idle_ms)
    }

    /// Opens the store `--store` names.
    pub fn open_store(&self) -> Result<std::sync::Arc<dyn crate::Store>, String> {
        use std::sync::Arc;
        let postgres = |url: &str| {
            crate::PostgresStore::open(url, self.retain_ops)
                .map(|s| Arc::new(s) as Arc<dyn crate::Store>)
                .map_err(|e| e.to_string())
        };
        match self.store.as_str() {
            "memory" => Ok(Arc::new(crate::MemoryStore::new())),
            "sqlite" => crate::SqliteStore::open(&self.data_dir, self.retain_ops)
                .map(|s| Arc::new(s) as Arc<dyn crate::Store>)
                .map_err(|e| e.to_string()),
            "postgres" => match &self.database_url {
                Some(url) => postgres(url),
                None => Err("--store postgres needs --database-url (or DATABASE_URL)".into()),
            },
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                postgres(url)
            }
            _ => Err(format!(
                "unknown store {:?}: use \"sqlite\", \"memory\", \"postgres\" or a postgres:// URL",
                self.store_kind()
            )),
        }
    }

    /// `--store` fit for a log line: a URL's password is not printed.
    pub fn store_kind(&self) -> &str {
        match self.store.split_once("://") {
            Some(("postgres" | "postgresql", _)) => "postgres",
            Some((scheme, _)) => scheme,
            None => &self.store,
        }
    }

    pub fn presence_ttl(&self) -> Duration {
        Duration::from_millis(self.presence_ttl_ms)
    }

    pub fn presence_interval(&self) -> Duration {
        Duration::from_millis(self.presence_interval_ms)
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}
