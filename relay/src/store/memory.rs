//! The in-memory store: for tests and throwaway runs.

use std::collections::HashMap;
use std::sync::Mutex;

use collab_crdt::sync::ServerSeq;

use super::{LoggedOp, Since, Store, StoreError, StoredDoc, StoredSnapshot, new_epoch};

/// Keeps everything in process memory: for tests and throwaway runs. A
/// restart forgets every document, and a new epoch tells clients so.
#[derive(Default)]
pub struct MemoryStore {
    docs: Mutex<HashMap<String, MemoryDoc>>,
}

struct MemoryDoc {
    epoch: String,
    snapshot: Option<StoredSnapshot>,
    /// The whole log: memory is the only copy, so nothing is dropped.
    log: Vec<LoggedOp>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn with_doc<T>(
        &self,
        doc_id: &str,
        f: impl FnOnce(&mut MemoryDoc) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // A poisoned lock means a panic mid-call elsewhere; the map itself
        // is still consistent because every call checks before it mutates.
        let mut docs = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        let doc = docs
            .get_mut(doc_id)
            .ok_or_else(|| StoreError::UnknownDocument(doc_id.to_owned()))?;
        f(doc)
    }
}

impl Store for MemoryStore {
    fn load(&self, doc_id: &str) -> Result<Option<StoredDoc>, StoreError> {
        let docs = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        Ok(docs.get(doc_id).map(|doc| {
            let after = doc.snapshot.as_ref().map_or(0, |s| s.server_seq.0) as usize;
            StoredDoc {
                epoch: doc.epoch.clone(),
                snapshot: doc.snapshot.clone(),
                tail: doc.log[after.min(doc.log.len())..].to_vec(),
            }
        }))
    }

    fn create(&self, doc_id: &str) -> Result<StoredDoc, StoreError> {
        self.docs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(doc_id.to_owned())
            .or_insert_with(|| MemoryDoc {
                epoch: new_epoch(),
                snapshot: None,
                log: Vec::new(),
            });
        // `load` splits the log at the snapshot; an existing document must
        // come back exactly as `load` gives it.
        self.load(doc_id)?
            .ok_or_else(|| StoreError::UnknownDocument(doc_id.to_owned()))
    }

    fn append(&self, doc_id: &str, ops: &[LoggedOp]) -> Result<(), StoreError> {
        self.with_doc(doc_id, |doc| {
            let mut expected = ServerSeq(doc.log.len() as u64).next();
            for op in ops {
                if op.server_seq != expected {
                    return Err(StoreError::OutOfOrder {
                        doc_id: doc_id.to_owned(),
                        expected,
                        got: op.server_seq,
                    });
                }
                expected = expected.next();
            }
            doc.log.extend_from_slice(ops);
            Ok(())
        })
    }

    fn read_since(&self, doc_id: &str, after: ServerSeq, max: usize) -> Result<Since, StoreError> {
        self.with_doc(doc_id, |doc| {
            let start = (after.0 as usize).min(doc.log.len());
            let end = start.saturating_add(max).min(doc.log.len());
            Ok(Since::Ops(doc.log[start..end].to_vec()))
        })
    }

    fn write_snapshot(&self, doc_id: &str, snapshot: StoredSnapshot) -> Result<(), StoreError> {
        self.with_doc(doc_id, |doc| {
            if doc
                .snapshot
                .as_ref()
                .is_none_or(|s| s.server_seq <= snapshot.server_seq)
            {
                doc.snapshot = Some(snapshot);
            }
            Ok(())
        })
    }
}
