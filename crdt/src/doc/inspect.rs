//! Looking inside a document: its invariants, the placement of every
//! character (tombstones included), the sizes of its structures.

#[cfg(feature = "std")]
use alloc::string::String;
use alloc::vec::Vec;

use super::{Doc, Stats};
use crate::id::Id;

impl Doc {
    /// Checks every internal invariant; for tests and fuzzing.
    #[cfg(feature = "std")]
    pub fn check(&self) -> Result<(), String> {
        self.tree.check()?;
        let text_len = self.text().chars().count();
        if text_len != self.len() {
            return Err(alloc::format!(
                "text has {text_len} chars, tree counts {}",
                self.len()
            ));
        }
        Ok(())
    }

    /// Every character ever integrated, in document order, with whether it
    /// is deleted: the whole state, tombstones included. Tests compare two
    /// ways of building a document with it; the client session rebuilds
    /// its edits with it after one was refused for good.
    pub fn layout(&self) -> Vec<(Id, bool)> {
        self.tree
            .spans()
            .flat_map(|s| {
                let replica_id = self.replica_ids[s.replica as usize];
                (0..u64::from(s.len()))
                    .map(move |i| (Id::new(s.lamport + i, replica_id), s.deleted))
            })
            .collect()
    }

    /// Sizes of the internal structures, for benchmarks and diagnostics.
    pub fn stats(&self) -> Stats {
        Stats {
            spans: self.tree.spans().count(),
            index_entries: self.tree.index_entries(),
            log_runs: self.log.run_count(),
            chars_stored: self.tree.total(),
        }
    }
}
