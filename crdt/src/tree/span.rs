//! Spans: runs of characters of one replica with consecutive lamports,
//! the unit the tree stores.

use alloc::vec::Vec;

/// The longest span kept. Work inside one span (splitting it, converting a
/// UTF-16 offset in it) is linear in its length, so capping it keeps every
/// operation O(log n) even after a megabyte paste.
pub(crate) const MAX_SPAN: u32 = 4096;

/// A run of characters from one replica with consecutive lamports, adjacent in
/// the document, all deleted or all visible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub lamport: u64,
    /// Index into the document's replica table, not the replica id itself.
    pub replica: u32,
    pub len: u32,
    /// Byte offset of the first character in the document's UTF-8 content arena.
    pub content: u32,
    pub bytes: u32,
    pub utf16: u32,
    pub deleted: bool,
}

impl Span {
    pub(super) fn visible(&self) -> (u32, u32) {
        if self.deleted {
            (0, 0)
        } else {
            (self.len, self.utf16)
        }
    }

    pub(super) fn text<'a>(&self, content: &'a str) -> &'a str {
        &content[self.content as usize..(self.content + self.bytes) as usize]
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
        let left = Span {
            len: k,
            bytes,
            utf16,
            ..*self
        };
        let right = Span {
            lamport: self.lamport + u64::from(k),
            len: self.len - k,
            content: self.content + bytes,
            bytes: self.bytes - bytes,
            utf16: self.utf16 - utf16,
            ..*self
        };
        (left, right)
    }

    /// Appends `next`, which [`Span::joins`] this span.
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
            && self.content + self.bytes == next.content
            && self.len + next.len <= MAX_SPAN
    }
}
