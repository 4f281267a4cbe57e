//! Spans: runs of characters of one replica with consecutive lamports,
//! the unit the tree stores.

use alloc::vec::Vec;

/// The longest span kept. Work inside one span (splitting it, converting a
/// UTF-16 offset in it) is linear in its length, so capping it keeps every
/// operation O(log n) even after a megabyte paste.
pub(crate) const MAX_SPAN: u32 = 4096;

/// A run of characters from one replica with consecutive lamports, adjacent in
/// the document, all deleted or all visible.
///
/// 24 bytes: a span holds at most [`MAX_SPAN`] characters, so its length,
/// bytes (4 per character at most) and UTF-16 units (2) fit 16 bits, and
/// the leaves, most of a document's memory, are a quarter smaller than
/// with 32-bit counts. Read them through [`Span::len`], [`Span::bytes`] and
/// [`Span::utf16`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub lamport: u64,
    /// Index into the document's replica table, not the replica id itself.
    pub replica: u32,
    /// Byte offset of the first character in the document's UTF-8 content arena.
    pub content: u32,
    pub(super) len: u16,
    pub(super) bytes: u16,
    pub(super) utf16: u16,
    pub deleted: bool,
}

// The size the leaves were laid out for.
const _: () = assert!(core::mem::size_of::<Span>() == 24);

impl Span {
    /// A span of `len` characters (at most [`MAX_SPAN`]) taking `bytes` of
    /// UTF-8 and `utf16` UTF-16 units.
    pub(crate) fn new(
        lamport: u64,
        replica: u32,
        content: u32,
        (len, bytes, utf16): (u32, u32, u32),
        deleted: bool,
    ) -> Span {
        debug_assert!(len <= MAX_SPAN);
        Span {
            lamport,
            replica,
            content,
            len: len as u16,
            bytes: bytes as u16,
            utf16: utf16 as u16,
            deleted,
        }
    }

    pub(crate) fn len(&self) -> u32 {
        u32::from(self.len)
    }

    pub(crate) fn bytes(&self) -> u32 {
        u32::from(self.bytes)
    }

    pub(crate) fn utf16(&self) -> u32 {
        u32::from(self.utf16)
    }

    /// The span's visible characters and UTF-16 units: none when deleted.
    /// Masked rather than branched on: scans of a leaf meet deleted and
    /// visible spans in no predictable order.
    pub(super) fn visible(&self) -> (u32, u32) {
        let keep = u32::from(self.deleted).wrapping_sub(1);
        (self.len() & keep, self.utf16() & keep)
    }

    pub(super) fn text<'a>(&self, content: &'a str) -> &'a str {
        &content[self.content as usize..(self.content + self.bytes()) as usize]
    }

    /// Bytes and UTF-16 units of the span's first `k` characters.
    pub(super) fn prefix(&self, k: u32, content: &str) -> (u32, u32) {
        if self.bytes == self.len {
            return (k, k);
        }
        self.text(content)
            .chars()
            .take(k as usize)
            .fold((0, 0), |(b, u), c| {
                (b + c.len_utf8() as u32, u + c.len_utf16() as u32)
            })
    }

    /// The span's first `k` characters and the rest.
    pub(super) fn split(&self, k: u32, content: &str) -> (Span, Span) {
        let (bytes, utf16) = self.prefix(k, content);
        let left = Span::new(
            self.lamport,
            self.replica,
            self.content,
            (k, bytes, utf16),
            self.deleted,
        );
        let right = Span::new(
            self.lamport + u64::from(k),
            self.replica,
            self.content + bytes,
            (self.len() - k, self.bytes() - bytes, self.utf16() - utf16),
            self.deleted,
        );
        (left, right)
    }

    /// Appends `next`, which [`Span::joins`] this span (so the sums stay
    /// within [`MAX_SPAN`]).
    pub(super) fn absorb(&mut self, next: &Span) {
        self.len += next.len;
        self.bytes += next.bytes;
        self.utf16 += next.utf16;
    }

    /// Adds this span at the end of `spans`, joined to the last one when it
    /// continues it.
    pub(crate) fn push_onto(self, spans: &mut Vec<Span>) {
        match spans.last_mut() {
            Some(last) if last.joins(&self) => last.absorb(&self),
            _ => spans.push(self),
        }
    }

    /// Whether `next`, placed right after this span, can join it.
    pub(super) fn joins(&self, next: &Span) -> bool {
        self.replica == next.replica
            && self.deleted == next.deleted
            && self.lamport + u64::from(self.len) == next.lamport
            && self.content + self.bytes() == next.content
            && self.len() + next.len() <= MAX_SPAN
    }
}
