//! The operation log: every unit each replica has contributed, run-length
//! encoded, in sequence order. It answers "what has this replica not seen"
//! and "is this redelivered operation really the same one".

use alloc::string::String;
use alloc::vec::Vec;

use crate::doc::MAX_DOC_CHARS;
use crate::id::Id;
use crate::op::{DeleteOp, InsertOp, Op};

const NO_PARENT: u32 = u32::MAX;

/// A run of consecutive units of one replica, as the log takes and gives
/// it; it stores each as a [`Packed`] run.
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

/// A run as the log stores it, 24 bytes instead of [`Run`]'s 48: its
/// sequence number is where the previous run ended (a replica's units are
/// logged without gaps from 0), its lamport is an offset from its chunk's
/// first, its reference an offset back from its lamport, its length fits 32
/// bits (a run's units are inserted characters, or deletes of distinct
/// existing ones, and a document holds at most [`MAX_DOC_CHARS`]
/// characters), and a delete, which has no text, keeps its
/// direction where an insert keeps its text's offset, `bytes` being 0 only
/// for deletes (an inserted character takes at least one byte).
#[derive(Clone, Copy, Debug)]
struct Packed {
    /// Above the chunk's [`Chunk::lamport`].
    lamport: u32,
    /// `lamport - ref_lamport`, or [`WIDE`] when that does not fit (the
    /// reference is then in [`Chunk::wide`]). 0 for an insert at the start.
    back: u32,
    len: u32,
    ref_replica: u32,
    /// Insert: the text's offset in the content arena. Delete: 1 when reversed.
    content: u32,
    bytes: u32,
}

const _: () = assert!(core::mem::size_of::<Packed>() == 24);

/// [`Packed::back`] of a reference that is not a little below the run: a
/// peer's clock far ahead, or a malformed history.
const WIDE: u32 = u32::MAX;

/// Runs kept in chunks of at most [`CHUNK`]: a log that grows by doubling
/// holds up to twice the memory its runs need (a third of a long
/// document's heap), one that grows a chunk at a time at most one chunk
/// more. (A chunk also ends early where a lamport jumps past its 32-bit
/// offsets; such a chunk starts small, so that a peer's jumping clocks
/// cost memory in proportion to its runs, not a whole chunk each.)
const CHUNK: usize = 256;

/// Every `MARK`th run of a chunk has its start noted in [`Chunk::marks`].
const MARK: usize = 16;

#[derive(Clone, Debug)]
struct Chunk {
    /// The sequence number of the first run, for finding a run by seq.
    seq: u64,
    /// The first run's lamport; the chunk holds runs up to 2^32 above it.
    lamport: u64,
    runs: Vec<Packed>,
    /// `(run, ref_lamport)` of the runs whose reference is [`WIDE`], in
    /// run order; almost always empty.
    wide: Vec<(u32, u64)>,
    /// Where runs 0, [`MARK`], 2 * [`MARK`]... start, above [`Chunk::seq`]:
    /// runs keep no seq, so without them finding one by seq (every
    /// redelivered op's duplicate check) sums the lengths of up to a whole
    /// chunk's runs.
    marks: [u64; CHUNK / MARK],
}

impl Chunk {
    fn new(run: &Run, capacity: usize) -> Chunk {
        let mut chunk = Chunk {
            seq: run.seq,
            lamport: run.lamport,
            runs: Vec::with_capacity(capacity),
            wide: Vec::new(),
            marks: [0; CHUNK / MARK],
        };
        chunk.push(run);
        chunk
    }

    fn fits(&self, run: &Run) -> bool {
        self.runs.len() < CHUNK && run.lamport - self.lamport <= u64::from(u32::MAX)
    }

    /// Appends `run`.
    #[inline]
    fn push(&mut self, run: &Run) {
        let i = self.runs.len();
        if i.is_multiple_of(MARK) {
            self.marks[i / MARK] = run.seq - self.seq;
        }
        let packed = self.pack(i, run);
        self.runs.push(packed);
    }

    /// Replaces the last run with `run`, which starts where it did.
    fn set_last(&mut self, run: &Run) {
        let i = self.runs.len() - 1;
        if self.wide.last().is_some_and(|w| w.0 as usize == i) {
            self.wide.pop();
        }
        self.runs[i] = self.pack(i, run);
    }

    /// `run` as run `i`, its reference noted in [`Chunk::wide`] when it
    /// does not fit.
    fn pack(&mut self, i: usize, run: &Run) -> Packed {
        debug_assert!(run.kind != Kind::Insert || run.bytes > 0);
        debug_assert!(run.len <= MAX_DOC_CHARS);
        let back = match run.lamport.checked_sub(run.ref_lamport) {
            _ if run.ref_replica == NO_PARENT => 0,
            Some(back) if back < u64::from(WIDE) => back as u32,
            _ => self.widen(i, run.ref_lamport),
        };
        Packed {
            lamport: (run.lamport - self.lamport) as u32,
            back,
            len: run.len as u32,
            ref_replica: run.ref_replica,
            content: match run.kind {
                Kind::Insert => run.content,
                Kind::Delete => 0,
                Kind::DeleteReversed => 1,
            },
            bytes: run.bytes,
        }
    }

    #[cold]
    fn widen(&mut self, i: usize, ref_lamport: u64) -> u32 {
        self.wide.push((i as u32, ref_lamport));
        WIDE
    }

    /// Run `i`, which starts at unit `seq`.
    fn unpack(&self, i: usize, seq: u64) -> Run {
        let p = &self.runs[i];
        let (kind, content) = match (p.bytes, p.content) {
            (0, 0) => (Kind::Delete, 0),
            (0, _) => (Kind::DeleteReversed, 0),
            (_, content) => (Kind::Insert, content),
        };
        let lamport = self.lamport + u64::from(p.lamport);
        let ref_lamport = match p.back {
            _ if p.ref_replica == NO_PARENT => 0,
            WIDE => {
                let w = self.wide.partition_point(|w| (w.0 as usize) < i);
                self.wide[w].1
            }
            back => lamport - u64::from(back),
        };
        Run {
            seq,
            lamport,
            len: u64::from(p.len),
            ref_lamport,
            ref_replica: p.ref_replica,
            content,
            bytes: p.bytes,
            kind,
        }
    }
}

/// One replica's runs in sequence order, chunked.
#[derive(Clone, Debug, Default)]
struct Runs {
    chunks: Vec<Chunk>,
    /// The sequence number after the last run.
    end: u64,
}

impl Runs {
    fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.runs.len()).sum()
    }

    /// Appends `run`, which starts at [`Runs::end`], joining it to the last
    /// run when it continues it.
    fn push(&mut self, replica: u32, run: Run) {
        debug_assert_eq!(run.seq, self.end);
        self.end = run.end();
        if let Some(c) = self.chunks.last_mut()
            && let Some(last) = c.runs.last_mut()
        {
            // An insert joins an insert in place, without unpacking; only
            // deletes, rarer and with directions to weigh, go through `join`.
            // The seqs continue, as every run's do.
            if run.kind == Kind::Insert {
                if last.bytes != 0
                    && c.lamport + u64::from(last.lamport) + u64::from(last.len) == run.lamport
                    && run.ref_replica == replica
                    && run.ref_lamport + 1 == run.lamport
                    && last.content + last.bytes == run.content
                {
                    last.len += run.len as u32;
                    last.bytes += run.bytes;
                    return;
                }
            } else if last.bytes == 0 {
                let len = u64::from(last.len);
                let i = c.runs.len() - 1;
                let mut joined = c.unpack(i, run.seq - len);
                if join(&mut joined, &run, replica, true) {
                    c.set_last(&joined);
                    return;
                }
            }
        }
        self.push_new(&run);
    }

    fn push_new(&mut self, run: &Run) {
        match self.chunks.last_mut() {
            Some(c) if c.fits(run) => c.push(run),
            // A replica's first chunk grows by doubling up to CHUNK: most
            // replicas of a shared document log only a few runs. So does
            // one after a lamport jump: the next run may jump again.
            Some(c) if c.runs.len() == CHUNK => self.chunks.push(Chunk::new(run, CHUNK)),
            _ => self.chunks.push(Chunk::new(run, 0)),
        }
    }

    /// The runs from the one holding unit `seq` on, in order.
    fn from(&self, seq: u64) -> From<'_> {
        let chunk = self
            .chunks
            .partition_point(|c| c.seq <= seq)
            .saturating_sub(1);
        let (run, start) = self.chunks.get(chunk).map_or((0, 0), |c| {
            let marks = &c.marks[..c.runs.len().div_ceil(MARK)];
            let m = marks
                .partition_point(|&m| c.seq + m <= seq)
                .saturating_sub(1);
            (m * MARK, c.seq + marks.get(m).copied().unwrap_or(0))
        });
        let mut from = From {
            chunks: &self.chunks,
            chunk,
            run,
            seq: start,
        };
        while from.peek_end().is_some_and(|end| end <= seq) {
            from.next();
        }
        from
    }
}

/// The iterator of [`Runs::from`]: plain, for the browser module's size.
struct From<'a> {
    chunks: &'a [Chunk],
    chunk: usize,
    run: usize,
    /// Where the next run starts.
    seq: u64,
}

impl From<'_> {
    fn peek_end(&self) -> Option<u64> {
        let c = self.chunks.get(self.chunk)?;
        let run = c.runs.get(self.run)?;
        Some(self.seq + u64::from(run.len))
    }
}

impl Iterator for From<'_> {
    type Item = Run;

    fn next(&mut self) -> Option<Run> {
        let c = self.chunks.get(self.chunk)?;
        let run = c.unpack(self.run, self.seq);
        self.seq = run.end();
        self.run += 1;
        if self.run == c.runs.len() {
            (self.chunk, self.run) = (self.chunk + 1, 0);
        }
        Some(run)
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
        self.runs[replica as usize].push(replica, run);
    }

    /// The units of `replica` from `seq` on, as far as the log goes.
    pub(crate) fn units<'a>(
        &'a self,
        replica: u32,
        seq: u64,
        ids: &'a [u64],
        content: &'a str,
    ) -> impl Iterator<Item = Unit> + 'a {
        self.runs[replica as usize].from(seq).flat_map(move |run| {
            let skip = seq.saturating_sub(run.seq);
            let mut chars = text_of(&run, content).chars().skip(skip as usize);
            (skip..run.len).map(move |i| unit_of(&run, i, chars.next(), ids, replica))
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
        let runs = self.runs[replica as usize].from(from);
        let mut current: Option<Run> = None;
        let mut text = String::new();
        for mut run in runs.take_while(|r| r.seq < to) {
            // Cut the run to `from..to`, then join it to the previous one
            // when the arena kept them apart but the units continue.
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

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: [u64; 2] = [7, 9];

    #[test]
    fn runs_are_found_by_seq_across_chunks() {
        // Deletes of every other character: no two runs join.
        let mut log = OpLog::default();
        log.add_replica();
        let mut seq = 0;
        for i in 0..1000u64 {
            let len = i % 3 + 1;
            log.push(0, Run::delete(seq, 5 + seq, len, (1, 3 * seq), false));
            seq += len;
        }
        assert_eq!(log.run_count(), 1000);
        // Every seq: inside and at the edges of runs, marks and chunks.
        for from in 0..seq {
            let first = log.units(0, from, &IDS, "").next();
            let base = (0..1000u64).map(|i| i % 3 + 1).scan(0, |s, l| {
                let start = *s;
                *s += l;
                Some((start, l))
            });
            let (start, _) = base.into_iter().find(|&(s, l)| s + l > from).unwrap();
            let want = Id::new(3 * start + (from - start), IDS[1]);
            assert_eq!(
                first,
                Some(Unit::Delete {
                    lamport: 5 + from,
                    target: want
                })
            );
        }
        assert_eq!(log.units(0, seq, &IDS, "").next(), None);
    }

    #[test]
    fn lamports_that_jump_past_a_chunk_cost_memory_in_proportion() {
        // Every run's lamport 2^32 + 1 past the last: each starts a chunk.
        let mut log = OpLog::default();
        log.add_replica();
        let step = (1u64 << 32) + 1;
        for i in 0..1000u64 {
            log.push(0, Run::delete(i, 1 + i * step, 1, (1, 1), false));
        }
        let runs = &log.runs[0];
        assert_eq!(runs.chunks.len(), 1000);
        let capacity: usize = runs.chunks.iter().map(|c| c.runs.capacity()).sum();
        assert!(capacity <= 4 * 1000, "{capacity} run slots for 1,000 runs");
    }

    #[test]
    fn lamports_and_references_far_apart_are_kept_exactly() {
        let mut log = OpLog::default();
        log.add_replica();
        let far = 1u64 << 40;
        let id = |lamport, r: usize| Id::new(lamport, IDS[r]);
        log.push(0, Run::insert(0, 5, 2, None, 0, 2));
        // A lamport beyond the chunk's 32 bits, a reference far below it.
        log.push(0, Run::insert(2, far, 1, Some((1, 3)), 2, 1));
        // A reference above the run, which a malformed history may name.
        log.push(0, Run::delete(3, far + 1, 1, (1, far * 2), false));
        log.push(0, Run::insert(4, far + 2, 1, Some((0, 6)), 3, 1));
        // Two backspaces: joined, the reference moves just out of reach.
        let t = far + 3 - u64::from(u32::MAX - 1);
        log.push(0, Run::delete(5, far + 3, 1, (1, t), false));
        log.push(0, Run::delete(6, far + 4, 1, (1, t - 1), false));
        assert_eq!(log.run_count(), 5);
        let ins = |lamport, parent, ch| Unit::Insert {
            lamport,
            parent,
            ch,
        };
        let del = |lamport, target| Unit::Delete { lamport, target };
        let units: Vec<Unit> = log.units(0, 0, &IDS, "abcd").collect();
        assert_eq!(
            units,
            [
                ins(5, None, 'a'),
                ins(6, Some(id(5, 0)), 'b'),
                ins(far, Some(id(3, 1)), 'c'),
                del(far + 1, id(far * 2, 1)),
                ins(far + 2, Some(id(6, 0)), 'd'),
                del(far + 3, id(t, 1)),
                del(far + 4, id(t - 1, 1)),
            ]
        );
    }
}
