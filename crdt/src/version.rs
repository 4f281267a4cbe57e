//! Version vectors: how many units of each replica a document has integrated.

use alloc::collections::BTreeMap;

/// For each replica, the number of its units (characters inserted or
/// deleted) integrated so far. Units of one replica are integrated in
/// sequence order, so this count names exactly the set of operations seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct VersionVector(BTreeMap<u64, u64>);

impl VersionVector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Units of `replica_id` seen (its next expected sequence number).
    pub fn get(&self, replica_id: u64) -> u64 {
        self.0.get(&replica_id).copied().unwrap_or(0)
    }

    pub fn set(&mut self, replica_id: u64, seen: u64) {
        if seen == 0 {
            self.0.remove(&replica_id);
        } else {
            self.0.insert(replica_id, seen);
        }
    }

    /// Whether everything `other` has seen, this has seen too.
    pub fn includes(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(r, &n)| self.get(*r) >= n)
    }

    /// Raises every entry to at least `other`'s.
    pub fn merge(&mut self, other: &VersionVector) {
        for (&r, &n) in &other.0 {
            if self.get(r) < n {
                self.0.insert(r, n);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|(&r, &n)| (r, n))
    }
}
