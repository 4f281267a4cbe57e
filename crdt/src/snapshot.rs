//! Snapshots: a document's whole history in canonical form, as a serde value
//! and as compact bytes.
//!
//! A snapshot is the list of operations `ops_since` returns for an empty
//! version: maximally joined and sorted by `(lamport, replica_id)`. Replicas
//! that integrated the same operations, in whatever order and grouping, hold
//! the same units, so their snapshots are equal and encode to the same bytes.
//!
//! # Byte format (version 1)
//!
//! `"CLB" 1`, then a varint count and the sorted replica ids (delta-coded),
//! then the op count, then six columns, each a varint of its raw length, a
//! varint of its deflated length and the deflated bytes: `tags` (one byte per
//! op: bit 0 delete, bit 1 reversed, bit 2 no parent, bit 3 the parent or
//! target is another replica's), `replicas` (replica table index per op),
//! `seqs` (distance from the replica's next expected sequence number, zero in
//! a complete history), `lamports` (distance from the previous op's lamport),
//! `lens`, `refs` (for an insert `lamport - parent.lamport`, for a delete
//! `lamport - target.lamport`, followed by the table index of the other
//! replica when bit 3 is set) and `text` (the UTF-8 of every insert in op
//! order). Integers are LEB128 varints.

use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use crate::doc::Doc;
use crate::doc::load::{Each, Source};
use crate::error::{DecodeError, Error};
use crate::id::{Id, MAX_SAFE};
use crate::op::{Body, InsertOp, Op, Raw};
use crate::version::VersionVector;

const MAGIC: &[u8; 3] = b"CLB";
const FORMAT: u8 = 1;
/// Largest decompressed column accepted, so a few bytes of input cannot make
/// the decoder allocate without bound.
pub const MAX_SECTION_BYTES: usize = 256 << 20;
const DEFLATE_LEVEL: u8 = 9;

const TAG_DELETE: u8 = 1;
const TAG_REVERSED: u8 = 2;
const TAG_ROOT: u8 = 4;
const TAG_OTHER_REPLICA: u8 = 8;

/// A document's complete history in canonical form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    pub ops: Vec<Op>,
}

impl Snapshot {
    /// The compact byte form.
    pub fn encode(&self) -> Vec<u8> {
        let mut ids: Vec<u64> = self.ops.iter().map(Op::replica_id).collect();
        for op in &self.ops {
            match op {
                Op::Insert(InsertOp {
                    parent_id: Some(p), ..
                }) => ids.push(p.replica_id),
                Op::Delete(d) => ids.push(d.target.replica_id),
                Op::Insert(_) => {}
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let index_of = |id: u64| ids.binary_search(&id).expect("every id was collected") as u64;

        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        put(&mut out, ids.len() as u64);
        let mut prev = 0;
        for &id in &ids {
            put(&mut out, id - prev);
            prev = id;
        }
        put(&mut out, self.ops.len() as u64);

        let mut cols: [Vec<u8>; 7] = Default::default();
        let [tags, replicas, seqs, lamports, lens, refs, text] = &mut cols;
        let mut next_seq = alloc::vec![0u64; ids.len()];
        let mut prev_lamport = 0;
        for op in &self.ops {
            let r = index_of(op.replica_id());
            let seq = op.seq();
            let expected = next_seq[r as usize];
            // Zig-zag keeps any history encodable (a seq below or above the
            // expected one) while a complete one costs zero bytes; wrapping
            // arithmetic because a hand-built snapshot may hold any value.
            put(seqs, zigzag((seq as i64).wrapping_sub(expected as i64)));
            next_seq[r as usize] = seq.wrapping_add(op.len());
            put(replicas, r);
            put(
                lamports,
                zigzag((op.lamport() as i64).wrapping_sub(prev_lamport as i64)),
            );
            prev_lamport = op.lamport();
            put(lens, op.len());
            let (mut tag, reference) = match op {
                Op::Insert(ins) => {
                    text.extend_from_slice(ins.text.as_bytes());
                    match ins.parent_id {
                        None => (TAG_ROOT, None),
                        Some(p) => (0, Some(p)),
                    }
                }
                Op::Delete(del) => (
                    TAG_DELETE | if del.reversed { TAG_REVERSED } else { 0 },
                    Some(del.target),
                ),
            };
            if let Some(target) = reference {
                if target.replica_id != op.replica_id() {
                    tag |= TAG_OTHER_REPLICA;
                }
                put(
                    refs,
                    zigzag((op.lamport() as i64).wrapping_sub(target.lamport as i64)),
                );
                if tag & TAG_OTHER_REPLICA != 0 {
                    put(refs, index_of(target.replica_id));
                }
            }
            tags.push(tag);
        }
        for col in &cols {
            let packed = miniz_oxide::deflate::compress_to_vec(col, DEFLATE_LEVEL);
            put(&mut out, col.len() as u64);
            put(&mut out, packed.len() as u64);
            out.extend_from_slice(&packed);
        }
        out
    }

    /// Parses the byte form. Checks the format, not the history: a snapshot
    /// whose operations contradict each other fails in [`Doc::from_snapshot`].
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
        let mut cols = Columns::open(bytes)?;
        // The count is only a claim until the ops are read: reserve no more
        // than the input could describe.
        let mut ops = Vec::with_capacity(cols.left.min(bytes.len()));
        while cols.left > 0 {
            ops.push(cols.next_op()?);
        }
        cols.finish()?;
        Ok(Snapshot { ops })
    }

    /// The version this snapshot brings an empty replica to.
    pub fn version(&self) -> VersionVector {
        let mut v = VersionVector::new();
        for op in &self.ops {
            let end = op.seq().saturating_add(op.len());
            if v.get(op.replica_id()) < end {
                v.set(op.replica_id(), end);
            }
        }
        v
    }
}

impl Doc {
    /// The canonical snapshot of everything integrated (not the buffer).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            ops: self.ops_since(&VersionVector::new()),
        }
    }

    /// A replica `replica_id` holding exactly the history in `snapshot`.
    /// Errors if an operation is invalid or a dependency is missing.
    pub fn from_snapshot(replica_id: u64, snapshot: &Snapshot) -> Result<Doc, Error> {
        let text: usize = snapshot
            .ops
            .iter()
            .map(|op| match op {
                Op::Insert(ins) => ins.text.len(),
                Op::Delete(_) => 0,
            })
            .sum();
        let sizes = (snapshot.ops.len(), text);
        // The rare way in: one copy of the loop for it, through `dyn`.
        let each: &mut dyn Source = &mut Each(snapshot.ops.iter());
        if let Some(doc) = Doc::load_sorted(replica_id, each, sizes) {
            return Ok(doc);
        }
        Doc::integrate_all(replica_id, &snapshot.ops)
    }

    /// The careful way in: `ops` integrated one by one, in any causal
    /// order, with the exact error for anything wrong.
    fn integrate_all(replica_id: u64, ops: &[Op]) -> Result<Doc, Error> {
        let mut doc = Doc::new(replica_id)?;
        doc.apply_all(ops)?;
        if doc.pending_len() > 0 {
            return Err(DecodeError::Inconsistent("an operation's dependency is missing").into());
        }
        Ok(doc)
    }

    /// The snapshot as compact bytes.
    pub fn encode(&self) -> Vec<u8> {
        self.snapshot().encode()
    }

    /// A replica `replica_id` loaded from [`Doc::encode`]'s bytes.
    pub fn decode(replica_id: u64, bytes: &[u8]) -> Result<Doc, Error> {
        // Straight from the columns into the document, without the list of
        // operations in between; anything unexpected takes the long way,
        // which reports it precisely.
        let mut cols = Columns::open(bytes)?;
        let sizes = (cols.left.min(bytes.len()), cols.text.len());
        let loaded = Doc::load_sorted(replica_id, &mut cols, sizes);
        if let Some(doc) = loaded
            && !cols.failed
            && cols.finish().is_ok()
        {
            return Ok(doc);
        }
        // The one-pass path already gave up on these operations.
        Doc::integrate_all(replica_id, &Snapshot::decode(bytes)?.ops)
    }
}

/// The byte form opened: the replica table and the inflated columns, read
/// one operation at a time.
struct Columns {
    ids: Vec<u64>,
    /// Operations not read yet.
    left: usize,
    /// The integer columns, then the text.
    cols: [Vec<u8>; 6],
    text: String,
    /// Whether `text` is all ASCII, so that characters are bytes.
    ascii: bool,
    /// Read positions in `cols`, then the byte offset in `text`.
    at: [usize; 7],
    next_seq: Vec<u64>,
    prev_lamport: u64,
    /// Set when reading an operation failed, which ends the one-pass read.
    failed: bool,
}

impl Source for Columns {
    #[inline(always)]
    fn next_raw(&mut self) -> Option<Raw<'_>> {
        if self.left == 0 || self.failed {
            return None;
        }
        match self.read_op() {
            Ok((raw, text)) => {
                let mut raw: Raw<'_> = raw;
                if let Body::Insert { text: t, .. } = &mut raw.body {
                    *t = &self.text[text];
                }
                Some(raw)
            }
            Err(_) => {
                self.failed = true;
                None
            }
        }
    }

    fn holds_text(&self) -> bool {
        true
    }

    fn take_text(&mut self) -> Option<String> {
        const TEXT: usize = 6;
        (self.left == 0 && !self.failed && self.at[TEXT] == self.text.len())
            .then(|| core::mem::take(&mut self.text))
            .inspect(|_| self.at[TEXT] = 0)
    }
}

impl Columns {
    fn open(bytes: &[u8]) -> Result<Columns, DecodeError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(3, "magic")? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let format = r.take(1, "version")?[0];
        if format != FORMAT {
            return Err(DecodeError::UnsupportedVersion(format));
        }
        let n_ids = r.count("replica count")?;
        // Every id takes at least one byte, so the input bounds the count.
        let mut ids = Vec::with_capacity(n_ids.min(r.rest()));
        let mut prev: u64 = 0;
        for i in 0..n_ids {
            let delta = r.varint("replica id")?;
            if i > 0 && delta == 0 {
                return Err(DecodeError::OutOfRange("replica id order"));
            }
            prev = prev
                .checked_add(delta)
                .filter(|&id| id <= MAX_SAFE)
                .ok_or(DecodeError::OutOfRange("replica id"))?;
            ids.push(prev);
        }
        let n_ops = r.count("op count")?;
        let mut cols: [Vec<u8>; 7] = Default::default();
        for col in &mut cols {
            let raw = r.count("column length")?;
            let packed = r.count("column length")?;
            if raw > MAX_SECTION_BYTES {
                return Err(DecodeError::TooLarge(MAX_SECTION_BYTES));
            }
            let data = r.take(packed, "column")?;
            // The length is known: inflating into a buffer of exactly that
            // size saves the regrowing and copying of an open-ended inflate.
            *col = alloc::vec![0; raw];
            if inflate(data, col) != Some(raw) {
                return Err(DecodeError::Compression);
            }
        }
        if r.at != bytes.len() {
            return Err(DecodeError::TrailingBytes(bytes.len() - r.at));
        }
        let [tags, replicas, seqs, lamports, lens, refs, text] = cols;
        let text = String::from_utf8(text).map_err(|_| DecodeError::Utf8)?;
        Ok(Columns {
            ascii: text.is_ascii(),
            text,
            next_seq: alloc::vec![0; ids.len()],
            ids,
            left: n_ops,
            cols: [tags, replicas, seqs, lamports, lens, refs],
            at: [0; 7],
            prev_lamport: 0,
            failed: false,
        })
    }

    /// The next byte of column `col`.
    #[inline]
    fn byte(&mut self, col: usize, what: &'static str) -> Result<u8, DecodeError> {
        let at = self.at[col];
        let b = *self.cols[col].get(at).ok_or(DecodeError::Truncated(what))?;
        self.at[col] = at + 1;
        Ok(b)
    }

    /// The next varint of column `col` (as [`Reader::varint`], without
    /// building a reader per value: this is the load's innermost loop).
    #[inline(always)]
    fn varint(&mut self, col: usize, what: &'static str) -> Result<u64, DecodeError> {
        let bytes = &self.cols[col];
        let mut at = self.at[col];
        // Most values fit one byte.
        if let Some(&b) = bytes.get(at)
            && b < 0x80
        {
            self.at[col] = at + 1;
            return Ok(u64::from(b));
        }
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *bytes.get(at).ok_or(DecodeError::Truncated(what))?;
            at += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                self.at[col] = at;
                return Ok(v);
            }
        }
        Err(DecodeError::OutOfRange(what))
    }

    fn replica_at(&self, i: u64) -> Result<u64, DecodeError> {
        self.ids
            .get(i as usize)
            .copied()
            .ok_or(DecodeError::OutOfRange("replica index"))
    }

    /// The next operation; call only while `left > 0`.
    fn next_op(&mut self) -> Result<Op, DecodeError> {
        let (mut raw, text) = self.read_op()?;
        if let Body::Insert { text: t, .. } = &mut raw.body {
            *t = &self.text[text];
        }
        Ok(raw.to_op())
    }

    /// An op's parent or target: `lamport` minus the next distance in the
    /// references column, of replica `replica_id` (index `r`) unless the tag
    /// names another replica, whose index follows.
    #[inline(always)]
    fn reference(
        &mut self,
        tag: u8,
        lamport: u64,
        r: u64,
        replica_id: u64,
    ) -> Result<Id, DecodeError> {
        const REFS: usize = 5;
        let back = unzigzag(self.varint(REFS, "reference")?);
        let target = (lamport as i64)
            .checked_sub(back)
            .filter(|&l| l >= 0)
            .ok_or(DecodeError::OutOfRange("reference"))?;
        let other = if tag & TAG_OTHER_REPLICA != 0 {
            let other = self.varint(REFS, "reference replica")?;
            if other == r {
                return Err(DecodeError::OutOfRange("reference replica"));
            }
            self.replica_at(other)?
        } else {
            replica_id
        };
        Ok(Id::new(target as u64, other))
    }

    /// The next operation with an insert's text as its byte range in the
    /// text column (and an empty `text`); call only while `left > 0`.
    #[inline]
    fn read_op(&mut self) -> Result<(Raw<'static>, Range<usize>), DecodeError> {
        let [tags, replicas, seqs, lamports, lens, text] = [0, 1, 2, 3, 4, 6];
        self.left -= 1;
        let tag = self.byte(tags, "tag")?;
        // One byte string per snapshot: undefined bits, and flags that
        // mean nothing for the kind of op, are refused.
        let delete = tag & TAG_DELETE != 0;
        let meaningless = if delete { TAG_ROOT } else { TAG_REVERSED };
        if tag & !(TAG_DELETE | TAG_REVERSED | TAG_ROOT | TAG_OTHER_REPLICA) != 0
            || tag & meaningless != 0
        {
            return Err(DecodeError::OutOfRange("tag"));
        }
        let r = self.varint(replicas, "replica")?;
        let replica_id = self.replica_at(r)?;
        let seq = offset(self.next_seq[r as usize], self.varint(seqs, "seq")?, "seq")?;
        let lamport = offset(
            self.prev_lamport,
            self.varint(lamports, "lamport")?,
            "lamport",
        )?;
        self.prev_lamport = lamport;
        let len = self.varint(lens, "len")?;
        self.next_seq[r as usize] = seq.checked_add(len).ok_or(DecodeError::OutOfRange("seq"))?;
        if delete {
            let body = Body::Delete {
                target: self.reference(tag, lamport, r, replica_id)?,
                reversed: tag & TAG_REVERSED != 0,
            };
            let raw = Raw {
                replica_id,
                seq,
                lamport,
                len,
                body,
            };
            return Ok((raw, 0..0));
        }
        let parent_id = if tag & TAG_ROOT != 0 {
            None
        } else {
            Some(self.reference(tag, lamport, r, replica_id)?)
        };
        let start = self.at[text];
        // `len` bytes that are all ASCII are `len` characters: most texts
        // are, even in a column that is not all ASCII.
        let ascii_end = usize::try_from(len)
            .ok()
            .and_then(|n| start.checked_add(n))
            .filter(|&end| end <= self.text.len());
        let end = if self.ascii {
            ascii_end.ok_or(DecodeError::Truncated("text"))?
        } else if let Some(end) =
            ascii_end.filter(|&end| self.text.as_bytes()[start..end].is_ascii())
        {
            end
        } else {
            let mut chars = self.text[start..].char_indices();
            for _ in 0..len {
                chars.next().ok_or(DecodeError::Truncated("text"))?;
            }
            start + chars.offset()
        };
        self.at[text] = end;
        let body = Body::Insert {
            parent: parent_id,
            text: "",
        };
        let raw = Raw {
            replica_id,
            seq,
            lamport,
            len,
            body,
        };
        Ok((raw, start..end))
    }

    /// Errors unless every operation and every byte of every column was read.
    fn finish(&self) -> Result<(), DecodeError> {
        if self.left > 0 {
            return Err(DecodeError::Truncated("op"));
        }
        let unread: usize = self
            .cols
            .iter()
            .zip(self.at)
            .map(|(c, at)| c.len() - at)
            .sum();
        if unread != 0 {
            return Err(DecodeError::TrailingBytes(unread));
        }
        Ok(())
    }
}

/// Inflates the raw deflate stream `data` into `out`; the bytes written,
/// or `None` if the stream is broken or does not fit.
#[cfg(all(feature = "std", not(target_arch = "wasm32")))]
fn inflate(data: &[u8], out: &mut [u8]) -> Option<usize> {
    // zlib-rs returns at once into an empty buffer, stream unread, where
    // miniz_oxide (the `.wasm`'s) refuses a stream that has output: an
    // empty column goes through miniz_oxide, so that both builds accept
    // exactly the same snapshots.
    if out.is_empty() {
        return inflate_miniz(data, out);
    }
    // Negative window bits: a raw stream, no zlib header or checksum.
    let raw = zlib_rs::InflateConfig { window_bits: -15 };
    match zlib_rs::decompress_slice(out, data, raw) {
        (written, zlib_rs::ReturnCode::Ok) => Some(written.len()),
        _ => None,
    }
}

#[cfg(not(all(feature = "std", not(target_arch = "wasm32"))))]
fn inflate(data: &[u8], out: &mut [u8]) -> Option<usize> {
    inflate_miniz(data, out)
}

fn inflate_miniz(data: &[u8], out: &mut [u8]) -> Option<usize> {
    miniz_oxide::inflate::decompress_slice_iter_to_slice(out, core::iter::once(data), false, false)
        .ok()
}

fn offset(base: u64, zz: u64, what: &'static str) -> Result<u64, DecodeError> {
    let v = (base as i64)
        .checked_add(unzigzag(zz))
        .filter(|&v| v >= 0 && v as u64 <= MAX_SAFE)
        .ok_or(DecodeError::OutOfRange(what))?;
    Ok(v as u64)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.rest() < n {
            return Err(DecodeError::Truncated(what));
        }
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.take(1, what)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::OutOfRange(what))
    }

    /// A length or count, which can never exceed the input that follows it
    /// by more than the decompression limit.
    fn count(&mut self, what: &'static str) -> Result<usize, DecodeError> {
        let v = self.varint(what)?;
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= MAX_SECTION_BYTES)
            .ok_or(DecodeError::OutOfRange(what))
    }
}
