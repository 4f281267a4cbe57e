//! The buffer of remote operations that wait for a dependency to arrive.
//!
//! An operation waits either for an earlier unit of its own replica (units of
//! one replica are integrated in sequence order) or for a character it names
//! as parent or target. Each waiting operation is filed under the one thing it
//! waits for, so an arrival wakes exactly the operations it may unblock
//! instead of rescanning the whole buffer.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::error::Error;
use crate::op::Op;

/// The default bound on buffered operations.
pub const DEFAULT_PENDING_LIMIT: usize = 100_000;

/// What a buffered operation is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// The replica's units up to this sequence number.
    Seq { replica_id: u64, seq: u64 },
    /// The replica's history up to this lamport (the character with that id).
    Lamport { replica_id: u64, lamport: u64 },
}

#[derive(Clone, Debug)]
pub(crate) struct Pending {
    by_seq: BTreeMap<(u64, u64), Vec<Op>>,
    by_lamport: BTreeMap<(u64, u64), Vec<Op>>,
    len: usize,
    pub(crate) limit: usize,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            by_seq: BTreeMap::new(),
            by_lamport: BTreeMap::new(),
            len: 0,
            limit: DEFAULT_PENDING_LIMIT,
        }
    }
}

impl Pending {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Files `op` under what it waits for. A redelivered copy of an operation
    /// already waiting is not stored twice.
    /// Files a new operation, refused past the limit.
    pub(crate) fn park(&mut self, wait: Wait, op: &Op) -> Result<(), Error> {
        self.file(wait, op, true)
    }

    /// Files again an operation that was released and waits for something
    /// else now. It was accepted once, so the limit (which may have been
    /// lowered since) does not apply: it must never be lost.
    pub(crate) fn repark(&mut self, wait: Wait, op: &Op) {
        // Unbounded filing cannot fail.
        let _ = self.file(wait, op, false);
    }

    fn file(&mut self, wait: Wait, op: &Op, bounded: bool) -> Result<(), Error> {
        let (map, key) = match wait {
            Wait::Seq { replica_id, seq } => (&mut self.by_seq, (replica_id, seq)),
            Wait::Lamport {
                replica_id,
                lamport,
            } => (&mut self.by_lamport, (replica_id, lamport)),
        };
        let slot = map.entry(key).or_default();
        if slot.contains(op) {
            return Ok(());
        }
        if bounded && self.len >= self.limit {
            if slot.is_empty() {
                map.remove(&key);
            }
            return Err(Error::BufferFull { limit: self.limit });
        }
        slot.push(op.clone());
        self.len += 1;
        Ok(())
    }

    /// Takes out every operation that may have been unblocked now that
    /// `replica_id` has integrated `seen` units, the last at `last_lamport`.
    pub(crate) fn wake(
        &mut self,
        replica_id: u64,
        seen: u64,
        last_lamport: u64,
        out: &mut Vec<Op>,
    ) {
        if self.len == 0 {
            return;
        }
        for (map, upto) in [
            (&mut self.by_seq, seen),
            (&mut self.by_lamport, last_lamport),
        ] {
            let keys: Vec<(u64, u64)> = map
                .range((replica_id, 0)..=(replica_id, upto))
                .map(|(k, _)| *k)
                .collect();
            for key in keys {
                if let Some(ops) = map.remove(&key) {
                    self.len -= ops.len();
                    out.extend(ops);
                }
            }
        }
    }
}
