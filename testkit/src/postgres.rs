//! Where tests find a PostgreSQL: `COLLAB_TEST_POSTGRES` names a database
//! that `scripts/test.sh` starts (a throw-away cluster). Without it the
//! PostgreSQL tests skip with a message, except in CI, where they fail:
//! CI must never pass by skipping them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The variable that names the test database.
pub const VAR: &str = "COLLAB_TEST_POSTGRES";

/// The test database's URL, or `None` (after saying why) when this run has
/// none. Panics in CI (`CI` set), where PostgreSQL must be there.
pub fn url(test: &str) -> Option<String> {
    match std::env::var(VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") => {
            panic!("{test}: {VAR} is not set, and in CI the PostgreSQL tests may not skip")
        }
        _ => {
            eprintln!(
                "{test}: skipped: set {VAR} to a PostgreSQL URL (scripts/test.sh starts a throw-away cluster)"
            );
            None
        }
    }
}

/// A new, empty database for one test, beside the one [`url`] names (an
/// older one of the same name is dropped first): its URL, or `None` when
/// this run has no PostgreSQL (see [`url`]). Callable from async tests:
/// the work runs on a thread of its own.
pub fn fresh_database(test: &str, name: &str) -> Option<String> {
    let base = url(test)?;
    let name = format!("collab_{name}_{}", std::process::id());
    let admin = base.clone();
    let create = name.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the admin connection");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("{VAR} cannot be reached: {e}"));
            let driver = tokio::spawn(connection);
            for sql in [
                format!("DROP DATABASE IF EXISTS {create} WITH (FORCE)"),
                format!("CREATE DATABASE {create}"),
            ] {
                client.batch_execute(&sql).await.expect(&sql);
            }
            drop(client);
            let _ = driver.await;
        })
    })
    .join()
    .expect("creating the test database");
    Some(database_url(&base, &name))
}

/// The URL of database `name` on the same server as `base` (a URL, or
/// the key-value form).
pub fn database_url(base: &str, name: &str) -> String {
    if let Some(rest) = base
        .strip_prefix("postgres://")
        .or_else(|| base.strip_prefix("postgresql://"))
    {
        let scheme = &base[..base.len() - rest.len()];
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, format!("?{q}")),
            None => (rest, String::new()),
        };
        let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
        format!("{scheme}{authority}/{name}{query}")
    } else {
        format!("{base} dbname={name}")
    }
}

/// A TCP proxy between relays and the test database that a test can cut
/// (a network partition, or the database restarting: open connections
/// die, new ones are closed at once) and heal. Runs on the caller's tokio
/// runtime.
pub struct Partition {
    /// Where the proxy listens.
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Partition {
    /// A proxy to the server `url` names, and the URL of the same
    /// database through it; `None` for the key-value form of `url`.
    pub async fn start(url: &str) -> Option<(Partition, String)> {
        let (scheme, rest) = url.split_once("://")?;
        let (user, rest) = rest.rsplit_once('@').map_or(("", rest), |(u, r)| (u, r));
        let (host_port, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host_port = if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        };
        let upstream = tokio::net::lookup_host(host_port).await.ok()?.next()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
        let addr = listener.local_addr().ok()?;
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (flag, tasks) = (cut.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut tasks = tasks.lock().unwrap_or_else(|e| e.into_inner());
                tasks.retain(|t| !t.is_finished());
                tasks.push(link);
            }
        });
        let user = if user.is_empty() {
            String::new()
        } else {
            format!("{user}@")
        };
        let proxied = format!("{scheme}://{user}{addr}/{path}");
        Some((Partition { addr, cut, links }, proxied))
    }

    /// Cuts every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            link.abort();
        }
    }

    /// Lets connections through again.
    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn names_another_database_on_the_same_server() {
        assert_eq!(
            database_url("postgres://u:p@h:5/db?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(database_url("postgresql://h", "x"), "postgresql://h/x");
        assert_eq!(
            database_url("host=/tmp port=5", "x"),
            "host=/tmp port=5 dbname=x"
        );
    }
}
