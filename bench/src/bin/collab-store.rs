//! `collab-store`: SQLite appends of small operations beside a document
//! whose rows are 1 MB, against a clean database, for the relay's schema
//! (2, rowid tables) and for schema 1 (`WITHOUT ROWID`, payloads inside the
//! key b-tree), side by side in one run.
//!
//! ```text
//! cargo run --release -p collab-bench --bin collab-store -- --rounds 3
//! ```
//!
//! Schema 1 is driven through its own SQL (the statements the relay used
//! before schema 2); schema 2 through `SqliteStore`, the real code.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use collab_crdt::Doc;
use collab_crdt::sync::ServerSeq;
use collab_relay::store::LoggedOp;
use collab_relay::{SqliteStore, Store};
use rusqlite::{Connection, params};

/// Appends beside large rows, schema 1 against schema 2.
#[derive(Parser)]
struct Args {
    /// Small operations appended to the measured document.
    #[arg(long, default_value_t = 30_000)]
    ops: u64,
    /// Operations per transaction (the commit threads group appends).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// 1 MB rows written first to the neighbouring document.
    #[arg(long, default_value_t = 20)]
    large_rows: u64,
    /// Rounds, each measuring all four cases in turn.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where the databases go (removed afterwards).
    #[arg(long, default_value = "target/collab-store-bench")]
    dir: PathBuf,
}

const SCHEMA_1: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE documents (doc_id TEXT PRIMARY KEY, epoch TEXT NOT NULL, head INTEGER NOT NULL,
    log_start INTEGER NOT NULL, created_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE ops (doc_id TEXT NOT NULL, server_seq INTEGER NOT NULL, origin INTEGER NOT NULL,
    op TEXT NOT NULL, PRIMARY KEY (doc_id, server_seq)) WITHOUT ROWID;
";

/// One database under test.
enum Db {
    V1(Connection),
    V2(SqliteStore),
}

impl Db {
    fn open(dir: &Path, schema: u8) -> Db {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("bench directory");
        if schema == 1 {
            let conn = Connection::open(dir.join("v1.sqlite3")).expect("open");
            conn.execute_batch(SCHEMA_1).expect("schema 1");
            Db::V1(conn)
        } else {
            Db::V2(SqliteStore::open(dir, 10_000).expect("open"))
        }
    }

    fn append(&mut self, doc_id: &str, ops: &[LoggedOp]) {
        match self {
            Db::V2(store) => store.append(doc_id, ops).expect("append"),
            Db::V1(conn) => {
                let tx = conn.transaction().expect("begin");
                tx.execute(
                    "INSERT OR IGNORE INTO documents VALUES (?1, 'e', 0, 1, 0)",
                    [doc_id],
                )
                .expect("document");
                let head: u64 = tx
                    .query_row(
                        "SELECT head FROM documents WHERE doc_id = ?1",
                        [doc_id],
                        |r| r.get(0),
                    )
                    .expect("head");
                assert_eq!(ops[0].server_seq.0, head + 1, "appends continue the log");
                {
                    let mut insert = tx
                        .prepare_cached("INSERT INTO ops (doc_id, server_seq, origin, op) VALUES (?1, ?2, ?3, ?4)")
                        .expect("prepare");
                    for logged in ops {
                        let json = serde_json::to_string(&logged.op).expect("json");
                        insert
                            .execute(params![doc_id, logged.server_seq.0, logged.origin, json])
                            .expect("insert");
                    }
                }
                let last = ops[ops.len() - 1].server_seq.0;
                tx.execute(
                    "UPDATE documents SET head = ?2 WHERE doc_id = ?1",
                    params![doc_id, last],
                )
                .expect("head");
                tx.commit().expect("commit");
            }
        }
    }
}

/// `n` logged operations of one replica: one-character inserts, or
/// `chars`-character ones.
fn history(n: u64, chars: usize) -> Vec<LoggedOp> {
    let mut doc = Doc::new(7).expect("replica");
    let text = "x".repeat(chars);
    (1..=n)
        .map(|i| LoggedOp {
            server_seq: ServerSeq(i),
            origin: 7,
            op: doc
                .insert(doc.len(), &text)
                .expect("insert")
                .expect("an op"),
        })
        .collect()
}

/// Appends `small` to document `a`, after `large` went to document `b`
/// (whose id sorts right after it) and a first batch of `small` to `a`;
/// returns the time of the rest of the small ones.
fn measure(
    dir: &Path,
    schema: u8,
    large: &[LoggedOp],
    small: &[LoggedOp],
    batch: usize,
) -> Duration {
    let mut db = Db::open(dir, schema);
    if let Db::V2(store) = &db {
        store.create("a").expect("create");
        store.create("b").expect("create");
    }
    let (first, rest) = small.split_at(batch.min(small.len()));
    db.append("a", first);
    for op in large {
        db.append("b", std::slice::from_ref(op));
    }
    let started = Instant::now();
    for chunk in rest.chunks(batch) {
        db.append("a", chunk);
    }
    let took = started.elapsed();
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args = Args::parse();
    let small = history(args.ops, 1);
    let large = history(args.large_rows, 1 << 20);
    let mut times: [Vec<Duration>; 4] = Default::default();
    for round in 0..args.rounds {
        for (i, (schema, beside)) in [(1, false), (1, true), (2, false), (2, true)]
            .into_iter()
            .enumerate()
        {
            let rows: &[LoggedOp] = if beside { &large } else { &[] };
            let took = measure(
                &args.dir.join(format!("{i}")),
                schema,
                rows,
                &small,
                args.batch,
            );
            eprintln!("round {round}: schema {schema}, beside 1 MB rows: {beside}: {took:?}");
            times[i].push(took);
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{} appends of one character in transactions of {}, beside {} rows of 1 MB; median of {} rounds (min-max):",
        args.ops, args.batch, args.large_rows, args.rounds
    );
    println!("| schema | clean database | beside 1 MB rows | ratio |");
    println!("|---|---|---|---|");
    for schema in [1usize, 2] {
        let clean = &times[(schema - 1) * 2];
        let beside = &times[(schema - 1) * 2 + 1];
        let (c, b) = (median(clean.clone()), median(beside.clone()));
        let range = |v: &Vec<Duration>| {
            let min = v.iter().min().copied().unwrap_or_default();
            let max = v.iter().max().copied().unwrap_or_default();
            format!("{:.0}-{:.0}", ms(min), ms(max))
        };
        println!(
            "| {schema} | {:.0} ms ({}) | {:.0} ms ({}) | {:.2}x |",
            ms(c),
            range(clean),
            ms(b),
            range(beside),
            b.as_secs_f64() / c.as_secs_f64()
        );
    }
}
