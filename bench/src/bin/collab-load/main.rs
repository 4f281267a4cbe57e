//! `collab-load`, the relay's load generator: starts the real relay and a
//! bare tokio-tungstenite broadcast server (the floor any relay can reach)
//! as child processes, drives each in turn with the same editors, and
//! prints throughput, op-to-echo latency and server cost side by side.
//!
//! ```text
//! cargo run --release -p collab-bench --bin collab-load -- \
//!     --clients 1000 --docs 100 --rate 10000 --duration 10
//! ```
//!
//! # Layout

//! - `bare`: the bare broadcast server (this binary run with `--serve-bare`).
//! - `load`: one run: connect, start together, count, sum up.
//! - `editor`: one simulated editor on a real `ClientSession`.
//! - `stats`: latency quantiles and per-second counts.
//! - `report`: the printed table.

mod bare;
mod editor;
mod load;

mod report;
mod stats;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::editor::Arrival;
use crate::load::Settings;
use crate::report::Row;
use collab_bench::process::{ServerCpu, ServerProcess};

const RELAY: &str = "collab-relay";
const BARE: &str = "bare broadcast";

/// Load generator for collab-relay: the relay against a bare broadcast server.
#[derive(Parser, Debug)]
#[command(name = "collab-load", version)]
struct Args {
    /// Connected clients, spread evenly over the documents.
    #[arg(long, default_value_t = 1000)]
    clients: usize,

    /// Documents; client i edits document i % docs.
    #[arg(long, default_value_t = 100)]
    docs: usize,

    /// Ops per second, all clients together (one op per message).
    #[arg(long, default_value_t = 10_000.0)]
    rate: f64,

    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,

    /// Seconds of editing before the measurement starts.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,

    /// Seconds clients wait for their last echoes after the measurement.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,

    /// Which servers to measure.
    #[arg(long, value_enum, default_value_t = Which::Both)]
    server: Which,

    /// The relay's stores to measure, each in its own run (`sqlite` keeps
    /// its database in a temporary directory, removed afterwards).
    #[arg(long, value_delimiter = ',', default_value = "memory,sqlite")]
    relay_stores: Vec<String>,

    /// Relay processes to start on each shared store (a `postgres://`
    /// URL), the clients spread over them; the server's CPU then counts
    /// every relay and every `postgres` process of the machine.
    #[arg(long, default_value_t = 1)]
    relay_nodes: usize,

    /// The relay binary to start; default: `collab-relay` beside this one.
    #[arg(long)]
    relay_bin: Option<PathBuf>,

    /// Use the relay already listening here (host:port) instead of
    /// starting one; its memory and CPU are then not reported.
    #[arg(long)]
    relay_addr: Option<String>,

    /// Clients connecting at the same time.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,

    /// How the gaps between one client's edits are drawn.
    #[arg(long, value_enum, default_value_t = Arrival::Poisson)]
    arrival: Arrival,

    /// Diagnostic, not the benchmark: clients find their own echoes by
    /// searching each frame for their `replica_id` and skip parsing and
    /// integrating every echo, so their replicas hold only their own text.
    /// What remains is the generator's WebSocket and timing cost: the floor
    /// under the real clients' cost.
    #[arg(long)]
    echo_only: bool,

    /// Presence traffic: after every edit, the editor sends its caret as
    /// presence (`docs/protocol.md` §5a), as a textarea binding does. Only
    /// the relay speaks presence: the bare server is not measured.
    #[arg(long)]
    presence_per_edit: bool,
    /// Start the relay with a fresh HS256 key (`--auth-secret-file`): every
    /// client then shows a token in `hello`, which the relay verifies.
    #[arg(long)]
    auth: bool,

    /// Seed of the edits and their timing.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// The bare server's per-connection read buffer, in bytes. tungstenite
    /// zero-fills the whole free buffer before every read, so its 128 KiB
    /// default (which warp, hence the relay, uses) costs a large memset per
    /// incoming op and 128 KiB of memory per connection; pass 131072 to give
    /// the bare server the relay's setting.
    #[arg(long, default_value_t = 4096)]
    bare_read_buffer: usize,

    /// Run as the bare broadcast server (the load generator starts itself so).
    #[arg(long, hide = true)]
    serve_bare: bool,

    /// Where the bare server listens.
    #[arg(long, hide = true, default_value = "127.0.0.1:0")]
    bare_addr: SocketAddr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Which {
    Relay,
    Bare,
    Both,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.serve_bare {
        return bare::serve(args.bare_addr, args.bare_read_buffer).await;
    }
    if args.clients == 0 || args.docs == 0 || args.rate <= 0.0 || args.duration < 1.0 {
        eprintln!("collab-load: need clients > 0, docs > 0, rate > 0 and duration >= 1 s");
        return ExitCode::FAILURE;
    }
    let settings = Settings {
        clients: args.clients,
        docs: args.docs,
        rate: args.rate,
        warmup: Duration::from_secs_f64(args.warmup.max(0.0)),
        duration: Duration::from_secs_f64(args.duration),
        drain: Duration::from_secs_f64(args.drain.max(0.0)),
        connect_concurrency: args.connect_concurrency,
        arrival: args.arrival,
        seed: args.seed,
        echo_only: args.echo_only,
        presence: args.presence_per_edit,
        auth_secret: args
            .auth
            .then(|| format!("collab-load-secret-{}-{:032}", std::process::id(), 0).into_bytes()),
    };
    let mut rows = Vec::new();
    let mut failed = false;
    if args.server != Which::Bare {
        let stores = if args.relay_addr.is_some() {
            vec![String::new()]
        } else {
            args.relay_stores.clone()
        };
        for store in &stores {
            match measure_relay(&args, &settings, store).await {
                Ok(row) => rows.push(row),
                Err(e) => {
                    eprintln!("collab-load: {RELAY} ({store}): {e}");
                    failed = true;
                }
            }
        }
    }
    if args.server != Which::Relay && !args.presence_per_edit {
        match measure_bare(&settings, args.bare_read_buffer).await {
            Ok(row) => rows.push(row),
            Err(e) => {
                eprintln!("collab-load: {BARE}: {e}");
                failed = true;
            }
        }
    }
    report::print(&settings, &mut rows);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn measure_relay(args: &Args, settings: &Settings, store: &str) -> Result<Row, String> {
    if let Some(addr) = &args.relay_addr {
        eprintln!("collab-load: measuring the relay at {addr}");
        let outcome = load::run(
            settings,
            &[format!("ws://{addr}/ws")],
            &ServerCpu::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
        return Ok(Row {
            server: RELAY.to_owned(),
            outcome,
            peak_rss: None,
            server_cpu_total: None,
        });
    }
    let relay_bin = args.relay_bin.clone();
    let bin = tokio::task::spawn_blocking(move || collab_bench::process::relay_binary(relay_bin))
        .await
        .map_err(|e| e.to_string())??;
    let data_dir = std::env::temp_dir().join(format!("collab-load-{}", std::process::id()));
    let mut flags: Vec<String> = [
        "--addr",
        "127.0.0.1:0",
        "--log",
        "warn",
        "--max-connections",
        "1000000",
        "--max-connections-per-doc",
        "1000000",
        "--store",
        store,
    ]
    .map(str::to_owned)
    .to_vec();
    flags.extend(["--data-dir".to_owned(), data_dir.display().to_string()]);
    if let Some(secret) = &settings.auth_secret {
        std::fs::create_dir_all(&data_dir).map_err(|e| e.to_string())?;
        let path = data_dir.join("auth-secret");
        std::fs::write(&path, secret).map_err(|e| e.to_string())?;
        flags.extend(["--auth-secret-file".to_owned(), path.display().to_string()]);
    }
    let shared = store.starts_with("postgres://") || store.starts_with("postgresql://");
    let nodes = if shared { args.relay_nodes.max(1) } else { 1 };
    let mut servers = Vec::new();
    for _ in 0..nodes {
        servers.push(start(bin.clone(), flags.clone()).await?);
    }
    let name = if shared {
        format!(
            "{RELAY} (postgres, {nodes} node{})",
            if nodes > 1 { "s" } else { "" }
        )
    } else {
        format!("{RELAY} ({store})")
    };
    for server in &servers {
        eprintln!(
            "collab-load: measuring {name} ({}) at {}",
            server.pid(),
            server.addr()
        );
    }
    let cpu = ServerCpu {
        pids: servers.iter().map(ServerProcess::pid).collect(),
        named: shared.then(|| "postgres".to_owned()),
    };
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("ws://{}/ws", s.addr()))
        .collect();
    let row = measure(name, servers, &urls, cpu, settings).await;
    let _ = std::fs::remove_dir_all(&data_dir);
    row
}

async fn measure_bare(settings: &Settings, read_buffer: usize) -> Result<Row, String> {
    let bin = std::env::current_exe().map_err(|e| format!("cannot locate this executable: {e}"))?;
    let flags = vec![
        "--serve-bare".to_owned(),
        "--bare-read-buffer".to_owned(),
        read_buffer.to_string(),
    ];
    let server = start(bin, flags).await?;
    eprintln!(
        "collab-load: measuring {BARE} ({}) at {}",
        server.pid(),
        server.addr()
    );
    let url = format!("ws://{}/", server.addr());
    let cpu = ServerCpu {
        pids: vec![server.pid()],
        named: None,
    };
    measure(BARE.to_owned(), vec![server], &[url], cpu, settings).await
}

async fn start(bin: PathBuf, flags: Vec<String>) -> Result<ServerProcess, String> {
    tokio::task::spawn_blocking(move || {
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        ServerProcess::spawn(&bin, &flags)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

/// Runs the load, reads the servers' memory and CPU while they are still
/// alive (summed over the nodes), then stops them.
async fn measure(
    name: String,
    servers: Vec<ServerProcess>,
    urls: &[String],
    cpu: ServerCpu,
    settings: &Settings,
) -> Result<Row, String> {
    let outcome = load::run(settings, urls, &cpu).await;
    let peak_rss = servers
        .iter()
        .map(|s| collab_bench::process::peak_rss(s.pid()))
        .sum::<Option<u64>>();
    let server_cpu_total = cpu.cpu_time();
    tokio::task::spawn_blocking(move || servers.into_iter().for_each(ServerProcess::stop))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Row {
        server: name,
        outcome: outcome.map_err(|e| e.to_string())?,
        peak_rss,
        server_cpu_total,
    })
}
