//! The `collab-relay` binary: parses settings, sets up logging, serves until
//! SIGINT or SIGTERM.

use clap::Parser;
use collab_relay::auth::Signer;
use collab_relay::config::Command;
use collab_relay::{Config, Relay};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config = Config::parse();
    if let Some(Command::Token(args)) = &config.command {
        // Only the token goes to stdout, so that scripts can capture it.
        let token = Signer::from_config(&config)
            .and_then(|signer| signer.mint(&args.sub, &args.doc, args.role, args.ttl));
        return match token {
            Ok(token) => {
                println!("{token}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("collab-relay token: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let addr = config.addr;
    let store = match config.open_store() {
        Ok(store) => store,
        Err(e) => {
            tracing::error!(store = config.store_kind(), data_dir = %config.data_dir.display(), error = %e, "cannot open the store");
            eprintln!("collab-relay: cannot open the store: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    tracing::info!(store = config.store_kind(), data_dir = %config.data_dir.display(), "store open");
    let relay = match Relay::start(config, store).await {
        Ok(relay) => relay,
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot start");
            eprintln!("collab-relay: cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Scripts and the load generator read the bound port from this line.
    println!("collab-relay listening on http://{}", relay.addr());
    relay.run_until(shutdown_signal()).await;
    std::process::ExitCode::SUCCESS
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
