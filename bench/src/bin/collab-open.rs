//! How long the relay takes to open a large document from the SQLite
//! store: the automerge-paper trace (260,000 operations) is stored as the
//! relay would have left it, then opened the way a room opens it.
//!
//! `cargo run --release -p collab-bench --bin collab-open -- [TRACE] [--iters N]`
//!
//! A bare trace name (default `automerge-paper`) is looked up in
//! `COLLAB_TRACES`, or `../shared/traces` beside the repository.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use collab_crdt::Op;
use collab_crdt::sync::ServerSeq;
use collab_relay::room::Room;
use collab_relay::store::{DB_FILE, LoggedOp, StoredSnapshot};
use collab_relay::{Config, SqliteStore, Store};
use collab_testkit::trace;

fn main() -> ExitCode {
    let mut name = "automerge-paper".to_owned();
    let mut iters = 11usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--iters" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => iters = n,
                _ => return usage("--iters needs a positive number"),
            },
            _ => name = arg,
        }
    }
    let path = if name.ends_with(".json.gz") {
        PathBuf::from(&name)
    } else {
        trace::traces_dir().join(format!("{name}.json.gz"))
    };
    let trace = match trace::load(&path) {
        Ok(trace) => trace,
        Err(e) => {
            eprintln!("collab-open: cannot read the trace: {e}");
            eprintln!("(set COLLAB_TRACES to the editing-traces folder, or pass a path)");
            return ExitCode::FAILURE;
        }
    };
    if trace.concurrent {
        return usage("needs a sequential trace");
    }
    let mut ops: Vec<Op> = Vec::new();
    let doc = trace::replay_sequential(&trace, |op| ops.push(op));
    if doc.text() != trace.end {
        eprintln!("collab-open: the replay does not give the trace's endContent");
        return ExitCode::FAILURE;
    }
    let config = Config::for_tests();
    println!(
        "trace {name}: {} operations, {} characters at the end",
        ops.len(),
        doc.len()
    );
    println!(
        "policy: a snapshot every {} operations, {} retained behind it\n",
        config.snapshot_every_ops, config.retain_ops
    );
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>12}",
        "stored as", "median ms", "min ms", "max ms", "database"
    );
    for (label, snapshots) in [
        ("snapshot + tail (the relay's policy)", true),
        ("log only (no snapshot)", false),
    ] {
        match measure(&ops, snapshots, iters, &config) {
            Ok((times, bytes, text)) => {
                if text != doc.text() {
                    eprintln!("collab-open: the opened document differs from the trace's");
                    return ExitCode::FAILURE;
                }
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                println!(
                    "{label:<34} {:>10.1} {:>10.1} {:>10.1} {:>10} KiB",
                    ms(times[times.len() / 2]),
                    ms(times[0]),
                    ms(times[times.len() - 1]),
                    bytes / 1024
                );
            }
            Err(e) => {
                eprintln!("collab-open: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("\n(open = SqliteStore::open + Store::load + Room::load, median of {iters})");
    ExitCode::SUCCESS
}

fn usage(why: &str) -> ExitCode {
    eprintln!("collab-open: {why}\nusage: collab-open [TRACE] [--iters N]");
    ExitCode::FAILURE
}

/// Stores `ops` as one document, then opens it `iters` times; returns the
/// sorted times, the database size and the opened text.
fn measure(
    ops: &[Op],
    snapshots: bool,
    iters: usize,
    config: &Config,
) -> Result<(Vec<Duration>, u64, String), String> {
    let dir = std::env::temp_dir().join(format!("collab-open-{}-{snapshots}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqliteStore::open(&dir, config.retain_ops).map_err(|e| e.to_string())?;
    store.create("doc").map_err(|e| e.to_string())?;
    let mut replica = collab_crdt::Doc::new(collab_crdt::MAX_SAFE).map_err(|e| e.to_string())?;
    for (chunk_index, chunk) in ops.chunks(1000).enumerate() {
        let logged: Vec<LoggedOp> = chunk
            .iter()
            .enumerate()
            .map(|(i, op)| LoggedOp {
                server_seq: ServerSeq((chunk_index * 1000 + i) as u64 + 1),
                origin: 1,
                op: op.clone(),
            })
            .collect();
        store.append("doc", &logged).map_err(|e| e.to_string())?;
        for op in chunk {
            replica.apply(op).map_err(|e| e.to_string())?;
        }
        let at = (chunk_index * 1000 + chunk.len()) as u64;
        if snapshots && at.is_multiple_of(config.snapshot_every_ops) {
            let snapshot = StoredSnapshot {
                server_seq: ServerSeq(at),
                data: Arc::from(replica.encode()),
            };
            store
                .write_snapshot("doc", snapshot)
                .map_err(|e| e.to_string())?;
        }
    }
    drop(store);
    let bytes = std::fs::metadata(dir.join(DB_FILE)).map_or(0, |m| m.len());
    let config = Arc::new(config.clone());
    let mut times = Vec::with_capacity(iters);
    let mut text = String::new();
    for _ in 0..iters {
        let start = Instant::now();
        let store =
            Arc::new(SqliteStore::open(&dir, config.retain_ops).map_err(|e| e.to_string())?);
        let stored = store
            .load("doc")
            .map_err(|e| e.to_string())?
            .ok_or("the document vanished")?;
        let cx = collab_relay::room::Context {
            store: store.clone(),
            commit: None,
            config: config.clone(),
            budget: collab_relay::member::Budget::new(config.max_queued_bytes),
            metrics: Arc::new(collab_relay::metrics::Metrics::new()),
            lagging: Default::default(),
        };
        let room = Room::load("doc", stored, cx).map_err(|e| e.to_string())?;
        times.push(start.elapsed());
        text = room.text();
    }
    times.sort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((times, bytes, text))
}
