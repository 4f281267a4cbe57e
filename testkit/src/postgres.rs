//! Where tests find a PostgreSQL: `COLLAB_TEST_POSTGRES` names a database
//! that `scripts/test.sh` starts (a throw-away cluster). Without it the
//! PostgreSQL tests skip with a message, except in CI, where they fail:
//! CI must never pass by skipping them.

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
