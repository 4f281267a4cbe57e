//! Operations: the unit replicas exchange, each a run of consecutive ids from one replica.

use alloc::vec::Vec;
use core::ops::Deref;

use smallvec::SmallVec;
use smol_str::SmolStr;

use crate::error::Error;
use crate::id::{Id, check_replica, check_run, check_safe};

/// An operation to send to, or received from, another replica.
///
/// Every operation covers `len()` consecutive *units* of its replica: unit `i`
/// has sequence number `seq + i` and lamport `lamport + i`. An insert has one
/// unit per character; a delete has one unit per character it removes.
/// `seq` counts a replica's units without gaps, which is what makes version
/// vectors exact; `lamport` orders concurrent inserts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
pub enum Op {
    Insert(InsertOp),
    Delete(DeleteOp),
}

/// Inserts `text` after `parent_id` (the document start when `None`).
/// Character `i` of the text gets id `(lamport + i, replica_id)` and its parent
/// is the character before it in the run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InsertOp {
    pub replica_id: u64,
    pub seq: u64,
    pub lamport: u64,
    pub parent_id: Option<Id>,
    /// Stored inline up to 23 bytes, so a keystroke's op does not allocate.
    pub text: SmolStr,
}

/// Deletes the `len` characters `(target.lamport .. target.lamport + len, target.replica_id)`.
///
/// When `reversed` is set, unit `i` of the operation deletes the character
/// `target.lamport + len - 1 - i`: that is how a run of backspaces is kept as
/// one operation. It changes no visible result, only which unit names which
/// character, and replicas keep it so that their histories stay identical.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DeleteOp {
    pub replica_id: u64,
    pub seq: u64,
    pub lamport: u64,
    pub target: Id,
    pub len: u64,
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_false"))]
    pub reversed: bool,
}

#[cfg(feature = "serde")]
fn is_false(b: &bool) -> bool {
    !*b
}

/// Reading an operation through one flat struct instead of serde's
/// internally tagged enums, which buffer every field before choosing the
/// variant: operations are most of what a relay and its clients parse.
#[cfg(feature = "serde")]
mod wire {
    use serde::de::{Deserialize, Deserializer, Error as _};

    use super::{DeleteOp, InsertOp, Op};
    use crate::id::Id;

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Insert,
        Delete,
    }

    #[derive(serde::Deserialize)]
    struct Flat {
        kind: Kind,
        replica_id: u64,
        seq: u64,
        lamport: u64,
        #[serde(default)]
        parent_id: Option<Id>,
        #[serde(default)]
        text: Option<smol_str::SmolStr>,
        #[serde(default)]
        target: Option<Id>,
        #[serde(default)]
        len: Option<u64>,
        #[serde(default)]
        reversed: bool,
    }

    impl<'de> Deserialize<'de> for Op {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Op, D::Error> {
            let f = Flat::deserialize(deserializer)?;
            Ok(match f.kind {
                Kind::Insert => Op::Insert(InsertOp {
                    replica_id: f.replica_id,
                    seq: f.seq,
                    lamport: f.lamport,
                    parent_id: f.parent_id,
                    text: f.text.ok_or_else(|| D::Error::missing_field("text"))?,
                }),
                Kind::Delete => Op::Delete(DeleteOp {
                    replica_id: f.replica_id,
                    seq: f.seq,
                    lamport: f.lamport,
                    target: f.target.ok_or_else(|| D::Error::missing_field("target"))?,
                    len: f.len.ok_or_else(|| D::Error::missing_field("len"))?,
                    reversed: f.reversed,
                }),
            })
        }
    }
}

impl Op {
    pub fn replica_id(&self) -> u64 {
        match self {
            Op::Insert(op) => op.replica_id,
            Op::Delete(op) => op.replica_id,
        }
    }

    pub fn seq(&self) -> u64 {
        match self {
            Op::Insert(op) => op.seq,
            Op::Delete(op) => op.seq,
        }
    }

    pub fn lamport(&self) -> u64 {
        match self {
            Op::Insert(op) => op.lamport,
            Op::Delete(op) => op.lamport,
        }
    }

    /// The id of the operation's first unit.
    pub fn id(&self) -> Id {
        Id::new(self.lamport(), self.replica_id())
    }

    /// The number of units (characters inserted or deleted) the operation covers.
    pub fn len(&self) -> u64 {
        match self {
            Op::Insert(op) => op.text.chars().count() as u64,
            Op::Delete(op) => op.len,
        }
    }

    /// Operations are never empty once validated; this exists for clippy's `len` convention.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks everything that can be checked without the document: id ranges,
    /// the reserved replica, emptiness and causal order of the dependencies.
    pub(crate) fn validate(&self) -> Result<u64, Error> {
        let raw = Raw::of(self);
        raw.validate()?;
        Ok(raw.len)
    }

    /// The same operation without its first `k` units (`0 < k < len`): the
    /// part of a resent operation that a replica or a log lacks when it
    /// holds the first `k` already.
    pub fn skip_units(&self, k: u64) -> Op {
        match self {
            Op::Insert(op) => {
                let byte = op
                    .text
                    .char_indices()
                    .nth(k as usize)
                    .map_or(op.text.len(), |(b, _)| b);
                Op::Insert(InsertOp {
                    replica_id: op.replica_id,
                    seq: op.seq + k,
                    lamport: op.lamport + k,
                    parent_id: Some(Id::new(op.lamport + k - 1, op.replica_id)),
                    text: SmolStr::from(&op.text[byte..]),
                })
            }
            Op::Delete(op) => Op::Delete(DeleteOp {
                replica_id: op.replica_id,
                seq: op.seq + k,
                lamport: op.lamport + k,
                target: if op.reversed {
                    op.target
                } else {
                    Id::new(op.target.lamport + k, op.target.replica_id)
                },
                len: op.len - k,
                reversed: op.reversed,
            }),
        }
    }
}

impl DeleteOp {
    /// The lamport of the character unit `i` deletes.
    pub(crate) fn target_of(&self, i: u64) -> u64 {
        if self.reversed {
            self.target.lamport + self.len - 1 - i
        } else {
            self.target.lamport + i
        }
    }
}

/// The operations a local edit produced, in the order to send them. Almost
/// always one, so it is held inline without allocating.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ops(SmallVec<[Op; 1]>);

impl Ops {
    pub(crate) fn push(&mut self, op: Op) {
        self.0.push(op);
    }

    pub(crate) fn extend(&mut self, ops: impl IntoIterator<Item = Op>) {
        self.0.extend(ops);
    }

    pub fn into_vec(self) -> Vec<Op> {
        self.0.into_vec()
    }
}

impl Deref for Ops {
    type Target = [Op];

    fn deref(&self) -> &[Op] {
        &self.0
    }
}

impl IntoIterator for Ops {
    type Item = Op;
    type IntoIter = smallvec::IntoIter<[Op; 1]>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Ops {
    type Item = &'a Op;
    type IntoIter = core::slice::Iter<'a, Op>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Ops> for Vec<Op> {
    fn from(ops: Ops) -> Vec<Op> {
        ops.into_vec()
    }
}

/// An operation as the one-pass layout reads it: its text borrowed and its
/// length in units known, so that a snapshot's operations are read straight
/// from its columns without an [`Op`] (and its text's copy) for each.
pub(crate) struct Raw<'a> {
    pub replica_id: u64,
    pub seq: u64,
    pub lamport: u64,
    /// Units: characters of an insert's text, or a delete's `len`.
    pub len: u64,
    pub body: Body<'a>,
}

pub(crate) enum Body<'a> {
    Insert { parent: Option<Id>, text: &'a str },
    Delete { target: Id, reversed: bool },
}

impl<'a> Raw<'a> {
    pub(crate) fn of(op: &'a Op) -> Raw<'a> {
        match op {
            Op::Insert(i) => Raw {
                replica_id: i.replica_id,
                seq: i.seq,
                lamport: i.lamport,
                len: if i.text.len() == 1 {
                    1
                } else {
                    i.text.chars().count() as u64
                },
                body: Body::Insert {
                    parent: i.parent_id,
                    text: &i.text,
                },
            },
            Op::Delete(d) => Raw {
                replica_id: d.replica_id,
                seq: d.seq,
                lamport: d.lamport,
                len: d.len,
                body: Body::Delete {
                    target: d.target,
                    reversed: d.reversed,
                },
            },
        }
    }

    pub(crate) fn to_op(&self) -> Op {
        match self.body {
            Body::Insert { parent, text } => Op::Insert(InsertOp {
                replica_id: self.replica_id,
                seq: self.seq,
                lamport: self.lamport,
                parent_id: parent,
                text: text.into(),
            }),
            Body::Delete { target, reversed } => Op::Delete(DeleteOp {
                replica_id: self.replica_id,
                seq: self.seq,
                lamport: self.lamport,
                target,
                len: self.len,
                reversed,
            }),
        }
    }

    /// [`Op::validate`], for an operation whose length is known.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        check_replica(self.replica_id)?;
        let len = self.len;
        if len == 0 {
            return Err(Error::EmptyOp);
        }
        check_run("seq", self.seq, len)?;
        check_run("lamport", self.lamport, len)?;
        match self.body {
            Body::Insert { parent, .. } => {
                if let Some(parent) = parent {
                    parent.validate()?;
                    if parent.lamport >= self.lamport {
                        return Err(Error::CausalityViolation {
                            lamport: self.lamport,
                            dependency: parent,
                        });
                    }
                }
            }
            Body::Delete { target, reversed } => {
                check_replica(target.replica_id)?;
                check_safe("lamport", target.lamport)?;
                check_run("lamport", target.lamport, len)?;
                // Unit `i` (lamport `lamport + i`) must come after the
                // character it deletes. Forwards that holds for every unit
                // when it holds for the first; reversed, the first unit
                // deletes the last target.
                let first = if reversed {
                    target.lamport + len - 1
                } else {
                    target.lamport
                };
                if first >= self.lamport {
                    return Err(Error::CausalityViolation {
                        lamport: self.lamport,
                        dependency: Id::new(first, target.replica_id),
                    });
                }
            }
        }
        Ok(())
    }
}
