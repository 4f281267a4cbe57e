//! Character and operation identifiers, and the bound that keeps them exact in JavaScript.

use core::cmp::Ordering;
use core::fmt;

use crate::error::Error;

/// The largest lamport, replica id or sequence number accepted: 2^53 - 1, the
/// largest integer a JavaScript `number` holds exactly. Ids cross into browsers
/// as plain numbers, so anything larger would silently round there.
pub const MAX_SAFE: u64 = (1 << 53) - 1;

/// Replica id 0 is reserved: it names the document start, the parent of an
/// insert at position 0, so no real replica may use it.
pub const RESERVED_REPLICA: u64 = 0;

/// The identity of one character: the lamport timestamp it was created with
/// and the replica that created it.
///
/// The derived order compares `lamport` first and `replica_id` second, which is
/// exactly the sibling order of the CRDT (larger ids sort first among siblings).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Id {
    pub lamport: u64,
    pub replica_id: u64,
}

impl Id {
    pub const fn new(lamport: u64, replica_id: u64) -> Self {
        Id {
            lamport,
            replica_id,
        }
    }

    /// Checks that both halves fit the JavaScript-safe range and the replica is not reserved.
    pub fn validate(&self) -> Result<(), Error> {
        check_safe("lamport", self.lamport)?;
        check_replica(self.replica_id)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.lamport, self.replica_id)
    }
}

/// Orders two ids as siblings are ordered; kept as a named function so the
/// integration code reads as the rule it implements.
#[inline]
pub(crate) fn sibling_cmp(a: (u64, u64), b: (u64, u64)) -> Ordering {
    a.cmp(&b)
}

pub(crate) fn check_safe(field: &'static str, value: u64) -> Result<(), Error> {
    if value > MAX_SAFE {
        Err(Error::IdTooLarge { field, value })
    } else {
        Ok(())
    }
}

pub(crate) fn check_replica(replica_id: u64) -> Result<(), Error> {
    check_safe("replica_id", replica_id)?;
    if replica_id == RESERVED_REPLICA {
        return Err(Error::ReservedReplica);
    }
    Ok(())
}

/// Checks that a run of `len` consecutive values starting at `start` stays in range.
pub(crate) fn check_run(field: &'static str, start: u64, len: u64) -> Result<(), Error> {
    check_safe(field, start)?;
    let last = start.saturating_add(len.saturating_sub(1));
    check_safe(field, last)
}
