//! Every store backend passes the same conformance suite.

use collab_relay::store::conformance;
use collab_relay::{MemoryStore, SqliteStore};

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
