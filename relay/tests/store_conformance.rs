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
    if collab_testkit::postgres::url("postgres_store_conforms").is_none() {
        return;
    }
    let mut n = 0;
    conformance::run_all(|| {
        n += 1;
        let url = collab_testkit::postgres::fresh_database(
            "postgres_store_conforms",
            &format!("conformance_{n}"),
        )
        .expect("the test database");
        PostgresStore::open(&url, 10_000).expect("store opens")
    });
}
