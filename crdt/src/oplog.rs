//! The operation log: every unit each replica has contributed, run-length
//! encoded, in sequence order. It answers "what has this replica not seen"
//! and "is this redelivered operation really the same one".

use alloc::string::String;
use alloc::vec::Vec;

use crate::id::Id;
use crate::op::{DeleteOp, InsertOp, Op};

const NO_PARENT: u32 = u32::MAX;

/// A run of consecutive units of one replica. Kept flat (48 bytes) because a
/// long document holds tens of thousands of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub seq: u64,
    pub lamport: u64,
    pub len: u64,
    /// Insert: the parent's lamport. Delete: the lamport of the first target
    /// (the lowest one, also when reversed).
    pub ref_lamport: u64,
    /// Replica table index of the parent or target; [`NO_PARENT`] for an
    /// insert at the document start.
    pub ref_replica: u32,
    /// Insert: where its UTF-8 text sits in the content arena.
    pub content: u32,
    pub bytes: u32,
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Insert,
    Delete,
    /// Unit `i` deletes the `len - 1 - i`th target: a run of backspaces.
    DeleteReversed,
}

impl Run {
    pub(crate) fn insert(
        seq: u64,
        lamport: u64,
        len: u64,
        parent: Option<(u32, u64)>,
        content: u32,
        bytes: u32,
    ) -> Run {
        let (ref_replica, ref_lamport) = parent.unwrap_or((NO_PARENT, 0));
        Run {
            seq,
            lamport,
            len,
            ref_lamport,
            ref_replica,
            content,
            bytes,
            kind: Kind::Insert,
        }
    }

    pub(crate) fn delete(
        seq: u64,
        lamport: u64,
        len: u64,
        target: (u32, u64),
        reversed: bool,
    ) -> Run {
        Run {
            seq,
            lamport,
            len,
            ref_lamport: target.1,
            ref_replica: target.0,
            content: 0,
            bytes: 0,
            kind: if reversed && len > 1 {
                Kind::DeleteReversed
            } else {
                Kind::Delete
            },
        }
    }

    fn end(&self) -> u64 {
        self.seq + self.len
    }

    /// The lamport of the character delete unit `i` targets.
    fn target_of(&self, i: u64) -> u64 {
        match self.kind {
            Kind::DeleteReversed => self.ref_lamport + self.len - 1 - i,
            Kind::Delete | Kind::Insert => self.ref_lamport + i,
        }
    }
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

/// Runs kept in chunks of [`CHUNK`]: a log that grows by doubling holds up
/// to twice the memory its runs need (a third of a long document's heap),
/// one that grows a chunk at a time at most one chunk more.
const CHUNK: usize = 256;

/// One replica's runs in sequence order, chunked; every chunk but the last
/// is full, so run `i` is at `chunks[i / CHUNK][i % CHUNK]`.
#[derive(Clone, Debug, Default)]
struct Runs {
    chunks: Vec<Vec<Run>>,
}

impl Runs {
    fn len(&self) -> usize {
        self.chunks
            .last()
            .map_or(0, |c| (self.chunks.len() - 1) * CHUNK + c.len())
    }

    fn last_mut(&mut self) -> Option<&mut Run> {
        self.chunks.last_mut().and_then(|c| c.last_mut())
    }

    fn push(&mut self, run: Run) {
        match self.chunks.last_mut() {
            Some(c) if c.len() < CHUNK => c.push(run),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(run);
                self.chunks.push(chunk);
            }
        }
    }

    /// The index of the first run for which `pred` is false (`pred` is true
    /// for a prefix), as [`slice::partition_point`].
    fn partition_point(&self, pred: impl Fn(&Run) -> bool) -> usize {
        let c = self
            .chunks
            .partition_point(|chunk| chunk.last().is_some_and(&pred));
        match self.chunks.get(c) {
            Some(chunk) => c * CHUNK + chunk.partition_point(pred),
            None => self.len(),
        }
    }

    /// Runs `start..end` in order.
    fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &Run> + '_ {
        let first = start / CHUNK;
        self.chunks
            .get(first..)
            .unwrap_or_default()
            .iter()
            .flatten()
            .skip(start % CHUNK)
            .take(end.saturating_sub(start))
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct OpLog {
    /// Runs per replica (by replica table index), in sequence order.
    runs: Vec<Runs>,
}

impl OpLog {
    pub(crate) fn add_replica(&mut self) {
        self.runs.push(Runs::default());
    }

    pub(crate) fn run_count(&self) -> usize {
        self.runs.iter().map(Runs::len).sum()
    }

    /// Appends the next run of `replica`, joining it to the previous run when
    /// it continues it.
    pub(crate) fn push(&mut self, replica: u32, run: Run) {
        let runs = &mut self.runs[replica as usize];
        if let Some(last) = runs.last_mut()
            && join(last, &run, replica, true)
        {
            return;
        }
        runs.push(run);
    }

    /// The units of `replica` from `seq` on, as far as the log goes.
    pub(crate) fn units<'a>(
        &'a self,
        replica: u32,
        seq: u64,
        ids: &'a [u64],
        content: &'a str,
    ) -> impl Iterator<Item = Unit> + 'a {
        let runs = &self.runs[replica as usize];
        let start = runs.partition_point(|r| r.end() <= seq);
        runs.range(start, runs.len()).flat_map(move |run| {
            let skip = seq.saturating_sub(run.seq);
            let mut chars = text_of(run, content).chars().skip(skip as usize);
            (skip..run.len).map(move |i| unit_of(run, i, chars.next(), ids, replica))
        })
    }

    /// The operations of `replica` covering units `from..to`, as few as possible.
    pub(crate) fn ops_between(
        &self,
        replica: u32,
        (from, to): (u64, u64),
        ids: &[u64],
        content: &str,
        out: &mut Vec<Op>,
    ) {
        let runs = &self.runs[replica as usize];
        let start = runs.partition_point(|r| r.end() <= from);
        let end = runs.partition_point(|r| r.seq < to);
        let mut current: Option<Run> = None;
        let mut text = String::new();
        for run in runs.range(start, end) {
            // Cut the run to `from..to`, then join it to the previous one
            // when the arena kept them apart but the units continue.
            let mut run = *run;
            let mut piece = text_of(&run, content);
            if run.end() > to {
                let keep = to - run.seq;
                piece = prefix(piece, keep);
                if run.kind == Kind::DeleteReversed {
                    run.ref_lamport += run.len - keep;
                }
                run.len = keep;
            }
            if run.seq < from {
                let skip = from - run.seq;
                let cut = prefix(piece, skip).len();
                piece = &piece[cut..];
                run = skip_units(&run, skip, replica);
            }
            // Inserts join per run: inside a run every unit continues the
            // last, so joining whole runs is joining units. A delete run has
            // a direction that joining whole runs would weigh against the
            // next run's; unit by unit the result depends only on the units,
            // which is what makes the history canonical.
            let units = match run.kind {
                Kind::Insert => 1,
                Kind::Delete | Kind::DeleteReversed => run.len,
            };
            for i in 0..units {
                let unit = if run.kind == Kind::Insert {
                    run
                } else {
                    let target = run.target_of(i);
                    Run::delete(
                        run.seq + i,
                        run.lamport + i,
                        1,
                        (run.ref_replica, target),
                        false,
                    )
                };
                if let Some(cur) = current.as_mut() {
                    if join(cur, &unit, replica, false) {
                        text.push_str(piece);
                        continue;
                    }
                    out.push(op_of(cur, ids, replica, &text));
                }
                text.clear();
                text.push_str(piece);
                current = Some(unit);
            }
        }
        if let Some(cur) = current {
            out.push(op_of(&cur, ids, replica, &text));
        }
    }
}

fn text_of<'a>(run: &Run, content: &'a str) -> &'a str {
    match run.kind {
        Kind::Insert => &content[run.content as usize..(run.content + run.bytes) as usize],
        Kind::Delete | Kind::DeleteReversed => "",
    }
}

/// The first `n` characters of `s`.
fn prefix(s: &str, n: u64) -> &str {
    match s.char_indices().nth(n as usize) {
        Some((b, _)) => &s[..b],
        None => s,
    }
}

/// `run` without its first `k` units (the text is cut by the caller).
fn skip_units(run: &Run, k: u64, replica: u32) -> Run {
    let mut out = Run {
        seq: run.seq + k,
        lamport: run.lamport + k,
        len: run.len - k,
        ..*run
    };
    match run.kind {
        Kind::Insert => {
            out.ref_replica = replica;
            out.ref_lamport = run.lamport + k - 1;
        }
        Kind::Delete => out.ref_lamport = run.ref_lamport + k,
        Kind::DeleteReversed => {}
    }
    out
}

fn unit_of(run: &Run, i: u64, ch: Option<char>, ids: &[u64], replica: u32) -> Unit {
    let lamport = run.lamport + i;
    let reference = |lamport| Id::new(lamport, ids[run.ref_replica as usize]);
    match run.kind {
        Kind::Insert => Unit::Insert {
            lamport,
            parent: if i > 0 {
                Some(Id::new(lamport - 1, ids[replica as usize]))
            } else if run.ref_replica == NO_PARENT {
                None
            } else {
                Some(reference(run.ref_lamport))
            },
            ch: ch.unwrap_or('\0'),
        },
        Kind::Delete | Kind::DeleteReversed => Unit::Delete {
            lamport,
            target: reference(run.target_of(i)),
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

fn op_of(run: &Run, ids: &[u64], replica: u32, text: &str) -> Op {
    let replica_id = ids[replica as usize];
    match run.kind {
        Kind::Insert => Op::Insert(InsertOp {
            replica_id,
            seq: run.seq,
            lamport: run.lamport,
            parent_id: (run.ref_replica != NO_PARENT)
                .then(|| Id::new(run.ref_lamport, ids[run.ref_replica as usize])),
            text: text.into(),
        }),
        Kind::Delete | Kind::DeleteReversed => Op::Delete(DeleteOp {
            replica_id,
            seq: run.seq,
            lamport: run.lamport,
            target: Id::new(run.ref_lamport, ids[run.ref_replica as usize]),
            len: run.len,
            reversed: run.kind == Kind::DeleteReversed,
        }),
    }
}

/// Joins `next` onto `prev` (both of `replica`) when its units continue
/// `prev`'s, so the joined run describes exactly the same units. With
/// `in_arena`, insert text must also continue in the content arena (the log
/// stores one slice per run); without, the caller carries the text.
fn join(prev: &mut Run, next: &Run, replica: u32, in_arena: bool) -> bool {
    if prev.end() != next.seq || prev.lamport + prev.len != next.lamport {
        return false;
    }
    match (prev.kind, next.kind) {
        (Kind::Insert, Kind::Insert) => {
            let continues = next.ref_replica == replica
                && next.ref_lamport == prev.lamport + prev.len - 1
                && (!in_arena || prev.content + prev.bytes == next.content);
            if continues {
                prev.len += next.len;
                prev.bytes += next.bytes;
            }
            continues
        }
        (Kind::Insert, _) | (_, Kind::Insert) => false,
        (k1, k2) => {
            if prev.ref_replica != next.ref_replica {
                return false;
            }
            // A run of one unit reads the same forwards and backwards.
            let forward = |k, len| k == Kind::Delete || len == 1;
            let backward = |k, len| k == Kind::DeleteReversed || len == 1;
            if forward(k1, prev.len)
                && forward(k2, next.len)
                && prev.ref_lamport + prev.len == next.ref_lamport
            {
                prev.kind = Kind::Delete;
            } else if backward(k1, prev.len)
                && backward(k2, next.len)
                && next.ref_lamport + next.len == prev.ref_lamport
            {
                prev.kind = Kind::DeleteReversed;
                prev.ref_lamport = next.ref_lamport;
            } else {
                return false;
            }
            prev.len += next.len;
            true
        }
    }
}
