//! The operation log: every unit each replica has contributed, run-length
//! encoded, in sequence order. It answers "what has this replica not seen"
//! and "is this redelivered operation really the same one".

use alloc::string::String;
use alloc::vec::Vec;

use crate::id::Id;
use crate::op::{DeleteOp, InsertOp, Op};

/// A run of consecutive units of one replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub seq: u64,
    pub lamport: u64,
    pub len: u64,
    pub kind: RunKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// `content` is the offset of the first character in the content arena.
    Insert {
        parent: Option<Id>,
        content: u32,
    },
    Delete {
        target: Id,
        reversed: bool,
    },
}

/// One unit of history, the level at which two histories are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    Insert {
        lamport: u64,
        parent: Option<Id>,
        ch: char,
    },
    Delete {
        lamport: u64,
        target: Id,
    },
}

#[derive(Clone, Debug, Default)]
pub(crate) struct OpLog {
    /// Runs per replica (by replica table index), in sequence order.
    runs: Vec<Vec<Run>>,
}

impl OpLog {
    pub(crate) fn add_replica(&mut self) {
        self.runs.push(Vec::new());
    }

    pub(crate) fn run_count(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    /// Appends the next run of `replica`, joining it to the previous run when
    /// it continues it.
    pub(crate) fn push(&mut self, replica: u32, replica_id: u64, run: Run) {
        let runs = &mut self.runs[replica as usize];
        if let Some(last) = runs.last_mut() {
            if let Some(joined) = join(last, &run, replica_id) {
                *last = joined;
                return;
            }
        }
        runs.push(run);
    }

    /// Unit `seq` of `replica`, which must be in the log.
    pub(crate) fn unit(&self, replica: u32, replica_id: u64, seq: u64, content: &[char]) -> Unit {
        let runs = &self.runs[replica as usize];
        let i = runs.partition_point(|r| r.seq + r.len <= seq);
        unit_of(&runs[i], replica_id, seq - runs[i].seq, content)
    }

    /// The operations of `replica` covering units `from..to`, as few as possible.
    pub(crate) fn ops_between(
        &self,
        replica: u32,
        replica_id: u64,
        (from, to): (u64, u64),
        content: &[char],
        out: &mut Vec<Op>,
    ) {
        let runs = &self.runs[replica as usize];
        let start = runs.partition_point(|r| r.seq + r.len <= from);
        let end = runs.partition_point(|r| r.seq < to);
        let first_new = out.len();
        // Units in the last pushed operation, kept because counting the
        // characters of a growing text again at each join would be quadratic.
        let mut last_len = 0;
        for run in &runs[start..end] {
            let skip = from.saturating_sub(run.seq);
            let keep = (run.seq + run.len).min(to) - run.seq;
            let op = op_of(run, replica_id, keep, content);
            let op = if skip > 0 { op.skip_units(skip) } else { op };
            let len = keep - skip;
            if let Some(last) = out[first_new..].last_mut() {
                if join_ops(last, last_len, &op) {
                    last_len += len;
                    continue;
                }
            }
            out.push(op);
            last_len = len;
        }
    }
}

fn unit_of(run: &Run, replica_id: u64, i: u64, content: &[char]) -> Unit {
    let lamport = run.lamport + i;
    match run.kind {
        RunKind::Insert {
            parent,
            content: at,
        } => Unit::Insert {
            lamport,
            parent: if i == 0 {
                parent
            } else {
                Some(Id::new(lamport - 1, replica_id))
            },
            ch: content[at as usize + i as usize],
        },
        RunKind::Delete { target, reversed } => Unit::Delete {
            lamport,
            target: Id::new(
                if reversed {
                    target.lamport + run.len - 1 - i
                } else {
                    target.lamport + i
                },
                target.replica_id,
            ),
        },
    }
}

/// The units of an operation, for comparison with the log.
pub(crate) fn op_unit(op: &Op, i: u64, ch: Option<char>) -> Unit {
    match op {
        Op::Insert(ins) => Unit::Insert {
            lamport: ins.lamport + i,
            parent: if i == 0 {
                ins.parent_id
            } else {
                Some(Id::new(ins.lamport + i - 1, ins.replica_id))
            },
            ch: ch.unwrap_or('\0'),
        },
        Op::Delete(del) => Unit::Delete {
            lamport: del.lamport + i,
            target: Id::new(del.target_of(i), del.target.replica_id),
        },
    }
}

/// The first `len` units of `run` as an operation.
fn op_of(run: &Run, replica_id: u64, len: u64, content: &[char]) -> Op {
    match run.kind {
        RunKind::Insert {
            parent,
            content: at,
        } => Op::Insert(InsertOp {
            replica_id,
            seq: run.seq,
            lamport: run.lamport,
            parent_id: parent,
            text: content[at as usize..at as usize + len as usize]
                .iter()
                .collect::<String>(),
        }),
        RunKind::Delete { target, reversed } => Op::Delete(DeleteOp {
            replica_id,
            seq: run.seq,
            lamport: run.lamport,
            // A reversed run cut short keeps its last `len` targets.
            target: if reversed {
                Id::new(target.lamport + run.len - len, target.replica_id)
            } else {
                target
            },
            len,
            reversed: reversed && len > 1,
        }),
    }
}

/// Joins `next` onto `prev` when its units continue `prev`'s units, so the
/// joined run describes exactly the same units.
fn join(prev: &Run, next: &Run, replica_id: u64) -> Option<Run> {
    if prev.seq + prev.len != next.seq || prev.lamport + prev.len != next.lamport {
        return None;
    }
    let kind = match (prev.kind, next.kind) {
        (
            RunKind::Insert { parent, content: a },
            RunKind::Insert {
                parent: Some(p),
                content: b,
            },
        ) if p == Id::new(prev.lamport + prev.len - 1, replica_id)
            && u64::from(a) + prev.len == u64::from(b) =>
        {
            RunKind::Insert { parent, content: a }
        }
        (
            RunKind::Delete {
                target: t1,
                reversed: r1,
            },
            RunKind::Delete {
                target: t2,
                reversed: r2,
            },
        ) if t1.replica_id == t2.replica_id => {
            let forward1 = !r1 || prev.len == 1;
            let forward2 = !r2 || next.len == 1;
            let backward1 = r1 || prev.len == 1;
            let backward2 = r2 || next.len == 1;
            if forward1 && forward2 && t1.lamport + prev.len == t2.lamport {
                RunKind::Delete {
                    target: t1,
                    reversed: false,
                }
            } else if backward1 && backward2 && t2.lamport + next.len == t1.lamport {
                RunKind::Delete {
                    target: t2,
                    reversed: true,
                }
            } else {
                return None;
            }
        }
        _ => return None,
    };
    Some(Run {
        seq: prev.seq,
        lamport: prev.lamport,
        len: prev.len + next.len,
        kind,
    })
}

/// [`join`] for whole operations of one replica: extends `prev` in place.
fn join_ops(prev: &mut Op, len: u64, next: &Op) -> bool {
    match (prev, next) {
        (Op::Insert(a), Op::Insert(b)) => {
            let continues = a.seq + len == b.seq
                && a.lamport + len == b.lamport
                && b.parent_id == Some(Id::new(a.lamport + len - 1, a.replica_id));
            if continues {
                a.text.push_str(&b.text);
            }
            continues
        }
        (Op::Delete(a), Op::Delete(b)) => {
            let as_run = |d: &DeleteOp| Run {
                seq: d.seq,
                lamport: d.lamport,
                len: d.len,
                kind: RunKind::Delete {
                    target: d.target,
                    reversed: d.reversed,
                },
            };
            let Some(joined) = join(&as_run(a), &as_run(b), a.replica_id) else {
                return false;
            };
            if let RunKind::Delete { target, reversed } = joined.kind {
                a.target = target;
                a.reversed = reversed;
                a.len = joined.len;
            }
            true
        }
        _ => false,
    }
}
