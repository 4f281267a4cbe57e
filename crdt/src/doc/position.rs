//! Where characters are: from a position to an id and back, the UTF-16
//! offsets JavaScript counts, and a range of the visible text.

use alloc::string::String;

use super::Doc;
use crate::error::Error;
use crate::id::Id;

impl Doc {
    /// The visible text of the `len` characters from `pos`, in O(log n) plus
    /// the length: what undo must keep of a range before deleting it.
    pub fn slice(&self, pos: usize, len: usize) -> Result<String, Error> {
        self.check_range(pos, len)?;
        let mut out = String::new();
        let (mut at, end) = (pos, pos + len);
        while at < end {
            let c = self.tree.find_char(at);
            let span = self.tree.span(c);
            let text = &self.content[span.content as usize..(span.content + span.bytes()) as usize];
            let take = ((span.len() - c.offset) as usize).min(end - at);
            let byte = |n: usize| text.char_indices().nth(n).map_or(text.len(), |(b, _)| b);
            let from = byte(c.offset as usize);
            out.push_str(&text[from..byte(c.offset as usize + take)]);
            at += take;
        }
        Ok(out)
    }

    /// The id of the visible character at `pos`.
    pub fn id_at(&self, pos: usize) -> Result<Id, Error> {
        if pos >= self.len() {
            return Err(Error::PositionOutOfRange {
                pos,
                len: self.len(),
            });
        }
        Ok(self.id_at_cursor(self.tree.find_char(pos)))
    }

    /// Where the character `id` is: its position when visible, or the
    /// position it would have (the number of visible characters before it)
    /// when deleted. The second value says whether it is deleted.
    pub fn pos_of(&self, id: Id) -> Result<(usize, bool), Error> {
        let c = self
            .replica_index
            .get(&id.replica_id)
            .and_then(|&r| self.tree.locate(r, id.lamport))
            .ok_or(Error::UnknownId { id })?;
        Ok((self.tree.position_of(c), self.tree.span(c).deleted))
    }

    /// [`Doc::pos_of`] with the position in UTF-16 units too, found in one
    /// walk: `(pos, pos_utf16, deleted)`.
    #[cfg(feature = "serde")]
    pub(crate) fn offsets_of(&self, id: Id) -> Option<(usize, usize, bool)> {
        let c = self
            .replica_index
            .get(&id.replica_id)
            .and_then(|&r| self.tree.locate(r, id.lamport))?;
        let (pos, pos_utf16) = self.tree.offsets_of(c, &self.content);
        Some((pos, pos_utf16, self.tree.span(c).deleted))
    }

    /// Converts a UTF-16 offset (as JavaScript counts) to a character position.
    pub fn utf16_to_pos(&self, offset: usize) -> Result<usize, Error> {
        if offset > self.len_utf16() {
            return Err(Error::PositionOutOfRange {
                pos: offset,
                len: self.len_utf16(),
            });
        }
        self.tree
            .utf16_to_char(offset, &self.content)
            .map_err(|()| Error::SplitSurrogate { offset })
    }

    /// Converts a character position to a UTF-16 offset.
    pub fn pos_to_utf16(&self, pos: usize) -> Result<usize, Error> {
        self.check_range(pos, 0)?;
        Ok(self.tree.char_to_utf16(pos, &self.content))
    }
}
