//! Real editing traces: every sequential trace replays to exactly its
//! `endContent`, locally, merged into a fresh replica and through a snapshot;
//! the concurrent trace converges through the data set's fork-and-merge recipe.

use std::path::PathBuf;

use collab_crdt::{Doc, VersionVector};
use collab_testkit::trace;

/// The trace files, or `None` (with a message) when they are absent outside CI.
fn traces() -> Option<Vec<PathBuf>> {
    let dir = trace::traces_dir();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.expect("readable trace dir").path())
            .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
            .collect(),
        Err(e) => {
            let msg = format!(
                "editing traces not found in {} ({e}); set COLLAB_TRACES to their folder",
                dir.display()
            );
            assert!(std::env::var_os("CI").is_none(), "{msg}");
            eprintln!("skipping: {msg}");
            return None;
        }
    };
    files.sort();
    assert!(!files.is_empty(), "no .json.gz traces in {}", dir.display());
    Some(files)
}

#[test]
fn sequential_traces_replay_to_their_end_content() {
    let Some(files) = traces() else { return };
    let mut replayed = 0;
    for path in files {
        let t = trace::load(&path).unwrap();
        if t.concurrent {
            continue;
        }
        assert!(t.patches() > 0, "{}: no patches", path.display());
        let mut ops = Vec::new();
        let doc = trace::replay_sequential(&t, |op| ops.push(op));
        let name = path.display();
        assert_eq!(doc.text(), t.end, "{name}: local replay");
        doc.check().unwrap();

        let mut merged = Doc::new(2).unwrap();
        for op in &ops {
            merged.apply(op).unwrap();
        }
        assert_eq!(merged.text(), t.end, "{name}: the ops as sent, one by one");

        let mut joined = Doc::new(3).unwrap();
        joined
            .apply_all(&doc.ops_since(&VersionVector::new()))
            .unwrap();
        assert_eq!(joined.text(), t.end, "{name}: the joined op log");
        assert_eq!(
            joined.layout(),
            merged.layout(),
            "{name}: one step, op by op"
        );

        let bytes = doc.encode();
        assert_eq!(merged.encode(), bytes, "{name}: snapshots agree");
        let loaded = Doc::decode(4, &bytes).unwrap();
        assert_eq!(loaded.text(), t.end, "{name}: snapshot load");
        replayed += 1;
    }
    assert!(replayed >= 3, "expected the three sequential traces");
}

#[test]
fn concurrent_trace_converges_to_its_end_content() {
    let Some(files) = traces() else { return };
    let path = files
        .iter()
        .find(|p| p.ends_with("friendsforever.json.gz"))
        .expect("friendsforever.json.gz is among the traces");
    let t = trace::load(path).unwrap();
    assert!(t.concurrent);
    let doc = trace::replay_concurrent(&t).unwrap();
    assert_eq!(doc.text(), t.end);
    doc.check().unwrap();
    assert_eq!(doc.pending_len(), 0);
    // Every agent's history arrives in a different order at a fresh replica
    // (reversed by replica) and still gives identical bytes.
    let mut ops = doc.ops_since(&VersionVector::new());
    ops.sort_by_key(|op| std::cmp::Reverse(op.replica_id()));
    let mut other = Doc::new(9).unwrap();
    other.apply_all(&ops).unwrap();
    assert_eq!(other.pending_len(), 0);
    assert_eq!(other.text(), t.end);
    assert_eq!(other.encode(), doc.encode());
}
