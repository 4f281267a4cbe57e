//! Every store backend passes the same conformance suite.

use collab_relay::store::conformance;
use collab_relay::{MemoryStore, PostgresStore, SqliteStore};

#[test]
fn memory_store_conforms() {
    conformance::run_all(MemoryStore::new);
}

#[test]
fn sqlite_store_conforms() {
    let root = std::env::temp_dir().join(format!("collab-conformance-{}", std::process::id()));
    let mut n = 0;
    conformance::run_all(|| {
        n += 1;
        SqliteStore::open(&root.join(n.to_string()), 10_000).expect("store opens")
    });
    std::fs::remove_dir_all(root).unwrap();
}

/// On the database `COLLAB_TEST_POSTGRES` names: each check gets a
/// database of its own, created beside it.
#[test]
fn postgres_store_conforms() {
    let Some(base) = collab_testkit::postgres::url("postgres_store_conforms") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = |sql: String| {
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
                .await
                .expect("the test database is reachable");
            let driver = tokio::spawn(connection);
            client.batch_execute(&sql).await.expect(&sql);
            drop(client);
            let _ = driver.await;
        })
    };
    let prefix = format!("collab_conf_{}", std::process::id());
    let mut n = 0;
    conformance::run_all(|| {
        n += 1;
        let name = format!("{prefix}_{n}");
        admin(format!("DROP DATABASE IF EXISTS {name}"));
        admin(format!("CREATE DATABASE {name}"));
        let url = collab_testkit::postgres::database_url(&base, &name);
        PostgresStore::open(&url, 10_000).expect("store opens")
    });
    for i in 1..=n {
        admin(format!("DROP DATABASE IF EXISTS {prefix}_{i} WITH (FORCE)"));
    }
}
