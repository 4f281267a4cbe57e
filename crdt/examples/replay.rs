//! Replays an editing trace and prints one JSON line of timings and sizes.
//!
//! `cargo run --release -p collab-crdt --example replay -- TRACE.json.gz [--out FILE] [--iters N]`
//!
//! A bare trace name (`automerge-paper`) is looked up in `COLLAB_TRACES`, or
//! `../shared/traces` beside the repository.
//!
//! `local_ms` applies every patch as local edits (for a concurrent trace: the
//! whole fork-edit-merge replay), `merge_ms` applies every resulting
//! operation to a fresh replica as remote operations, `load_ms` decodes the
//! snapshot into a fresh replica. Times are medians over `--iters` runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use collab_crdt::{Doc, VersionVector};
use collab_testkit::trace;

fn main() -> ExitCode {
    let mut path = None;
    let mut out = None;
    let mut iters = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = args.next().map(PathBuf::from),
            "--iters" => iters = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            _ if path.is_none() => path = Some(PathBuf::from(arg)),
            _ => return usage(&format!("unexpected argument {arg}")),
        }
    }
    let Some(mut path) = path else {
        return usage("no trace given");
    };
    if !path.exists() && path.components().count() == 1 {
        // A bare name such as `automerge-paper` means that trace in the shared folder.
        path = trace::traces_dir().join(format!("{}.json.gz", path.display()));
    }
    if iters == 0 {
        return usage("--iters takes a number above 0");
    }
    let trace = match trace::load(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("replay: {e}");
            return ExitCode::from(2);
        }
    };

    let mut local = Vec::new();
    let mut doc = None;
    for _ in 0..iters {
        let t = Instant::now();
        let d = if trace.concurrent {
            match trace::replay_concurrent(&trace) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("replay: {e}");
                    return ExitCode::FAILURE;
                }
            }
        } else {
            trace::replay_sequential(&trace, drop)
        };
        local.push(t.elapsed().as_secs_f64() * 1e3);
        doc = Some(d);
    }
    let doc = doc.expect("at least one iteration");
    let ops = doc.ops_since(&VersionVector::new());

    let mut merge = Vec::new();
    let mut merged_text = String::new();
    for _ in 0..iters {
        let t = Instant::now();
        let mut fresh = Doc::new(2).expect("valid replica");
        fresh.apply_all(&ops).expect("own ops apply");
        merge.push(t.elapsed().as_secs_f64() * 1e3);
        merged_text = fresh.text();
    }

    let bytes = doc.encode();
    let mut load = Vec::new();
    let mut loaded_text = String::new();
    for _ in 0..iters {
        let t = Instant::now();
        let loaded = Doc::decode(3, &bytes).expect("own snapshot decodes");
        load.push(t.elapsed().as_secs_f64() * 1e3);
        loaded_text = loaded.text();
    }

    let text = doc.text();
    let ok = text == trace.end && merged_text == trace.end && loaded_text == trace.end;
    if let Some(out) = out
        && let Err(e) = std::fs::write(&out, &text)
    {
        eprintln!("replay: {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let stats = doc.stats();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".json.gz").to_owned())
        .unwrap_or_default();
    println!(
        "{}",
        serde_json::json!({
            "trace": name,
            "kind": if trace.concurrent { "concurrent" } else { "sequential" },
            "ops": trace.patches(),
            "crdt_ops": ops.len(),
            "local_ms": round(median(&mut local)),
            "merge_ms": round(median(&mut merge)),
            "load_ms": round(median(&mut load)),
            "snapshot_bytes": bytes.len(),
            "final_chars": text.chars().count(),
            "spans": stats.spans,
            "log_runs": stats.log_runs,
            "iters": iters,
            "ok": ok,
        })
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("replay: the result differs from endContent");
        ExitCode::FAILURE
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("replay: {msg}\nusage: replay TRACE.json.gz [--out FILE] [--iters N]");
    ExitCode::from(2)
}
