//! Anchors: a place between two characters named by a character id, not a
//! number, so that it follows every edit made anywhere, concurrent ones too.
//!
//! A caret or a selection kept as a number is wrong as soon as someone else
//! types before it. An [`Anchor`] names the character it sticks to and the
//! side of it; [`Anchor::resolve`] turns it back into a position with one id
//! lookup (O(log n)). Every replica that integrated the same operations
//! resolves an anchor to the same position, in whatever order they arrived,
//! because it depends only on the order of characters and on which are
//! deleted. See `docs/crdt.md`, section 13.

use crate::doc::Doc;
use crate::error::Error;
use crate::id::Id;

/// Which side of its character an anchor sits on, and so which way it goes
/// when someone inserts text exactly at it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Side {
    /// Right before the character: the anchor sticks to the character after
    /// it, so text inserted at the anchor lands before it (the anchor moves
    /// on past it, like Yjs' default `assoc` and CodeMirror's `assoc = 1`).
    Before,
    /// Right after the character: the anchor sticks to the character before
    /// it, so text inserted at the anchor lands after it (the anchor stays,
    /// like CodeMirror's default `assoc = -1`). The side for a caret: a local
    /// insert at the caret names that same character as its parent, so the
    /// caret and the user's next keystroke always agree.
    #[default]
    After,
}

/// A place in the text that follows edits: the document start or end, or one
/// side of a character. A deleted character keeps its place in the sequence,
/// so an anchor on it resolves to where the character was.
///
/// ```
/// use collab_crdt::{Anchor, Doc, Side};
///
/// let mut alice = Doc::new(1).unwrap();
/// alice.insert(0, "hello").unwrap();
/// let mut bob = alice.fork(2).unwrap();
/// let caret = Anchor::at(&bob, 5, Side::After).unwrap(); // bob's caret after "hello"
/// let op = alice.insert(0, ">> ").unwrap().unwrap();
/// bob.apply(&op).unwrap();
/// assert_eq!(caret.resolve(&bob), Ok(8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Anchor {
    /// Always position 0: text inserted at the start lands after it.
    Start,
    /// Always the end of the text: text appended lands before it.
    End,
    /// Beside the character `id`.
    Char { id: Id, side: Side },
}

impl Anchor {
    /// The anchor for position `pos` (0 ..= `doc.len()`, the gap before the
    /// character at `pos`) that sits on `side` of its character: after the
    /// character before `pos` ([`Anchor::Start`] at 0), or before the
    /// character at `pos` ([`Anchor::End`] at the end).
    pub fn at(doc: &Doc, pos: usize, side: Side) -> Result<Anchor, Error> {
        if pos > doc.len() {
            return Err(Error::PositionOutOfRange {
                pos,
                len: doc.len(),
            });
        }
        Ok(match side {
            Side::After if pos == 0 => Anchor::Start,
            Side::After => Anchor::Char {
                id: doc.id_at(pos - 1)?,
                side,
            },
            Side::Before if pos == doc.len() => Anchor::End,
            Side::Before => Anchor::Char {
                id: doc.id_at(pos)?,
                side,
            },
        })
    }

    /// The position the anchor stands for now: for a visible character, just
    /// before or after it; for a deleted one, where it was (the number of
    /// visible characters before it) on either side. Refuses an anchor with
    /// an invalid id (`id_too_large`, `reserved_replica`) and one whose
    /// character this replica has not integrated (`unknown_id`): it may come
    /// from a replica whose insert has not arrived yet, so the caller keeps
    /// the last position it resolved (or none) and tries again after the
    /// next remote operation. Nothing changes either way.
    pub fn resolve(&self, doc: &Doc) -> Result<usize, Error> {
        match *self {
            Anchor::Start => Ok(0),
            Anchor::End => Ok(doc.len()),
            Anchor::Char { id, side } => {
                id.validate()?;
                let (pos, deleted) = doc.pos_of(id)?;
                Ok(if side == Side::After && !deleted {
                    pos + 1
                } else {
                    pos
                })
            }
        }
    }

    /// Checks the id of a [`Anchor::Char`] anchor the way operations are
    /// checked: what a relay can do with an anchor it only forwards.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Anchor::Char { id, .. } => id.validate(),
            Anchor::Start | Anchor::End => Ok(()),
        }
    }
}

/// A selection as an editor holds it: `anchor` is where it started, `head`
/// where the caret is (before `anchor` when selecting backwards). A caret is
/// a selection whose ends are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Selection {
    pub anchor: Anchor,
    pub head: Anchor,
}

impl Selection {
    /// The selection from `anchor` to `head` (positions, either order). An
    /// empty one is a caret on [`Side::After`]. A range does not grow when
    /// text is inserted at its edges, as in CodeMirror: its start sits before
    /// its first character and its end after its last, so a range whose
    /// characters are all deleted collapses to where they were.
    pub fn new(doc: &Doc, anchor: usize, head: usize) -> Result<Selection, Error> {
        if anchor == head {
            let caret = Anchor::at(doc, head, Side::After)?;
            return Ok(Selection {
                anchor: caret,
                head: caret,
            });
        }
        let start = Anchor::at(doc, anchor.min(head), Side::Before)?;
        let end = Anchor::at(doc, anchor.max(head), Side::After)?;
        Ok(if anchor < head {
            Selection {
                anchor: start,
                head: end,
            }
        } else {
            Selection {
                anchor: end,
                head: start,
            }
        })
    }

    /// `(anchor, head)` as positions, with [`Anchor::resolve`]'s errors. The
    /// characters of a document never change order, so a forward selection
    /// stays forward (or collapses) on every replica.
    pub fn resolve(&self, doc: &Doc) -> Result<(usize, usize), Error> {
        Ok((self.anchor.resolve(doc)?, self.head.resolve(doc)?))
    }
}

/// The wire form: `"start"`, `"end"`, or
/// `{"lamport": 5, "replica_id": 7, "side": "after"}`. Reading checks only
/// the shape; [`Anchor::validate`] and [`Anchor::resolve`] check the id, as
/// applying an operation does.
#[cfg(feature = "serde")]
mod wire {
    use core::fmt;

    use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};
    use serde::ser::SerializeStruct;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Anchor, Side};
    use crate::id::Id;

    #[derive(Deserialize)]
    struct Char {
        lamport: u64,
        replica_id: u64,
        side: Side,
    }

    impl Serialize for Anchor {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Anchor::Start => s.serialize_str("start"),
                Anchor::End => s.serialize_str("end"),
                Anchor::Char { id, side } => {
                    let mut m = s.serialize_struct("Anchor", 3)?;
                    m.serialize_field("lamport", &id.lamport)?;
                    m.serialize_field("replica_id", &id.replica_id)?;
                    m.serialize_field("side", side)?;
                    m.end()
                }
            }
        }
    }

    struct AnchorVisitor;

    impl<'de> Visitor<'de> for AnchorVisitor {
        type Value = Anchor;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("\"start\", \"end\" or {lamport, replica_id, side}")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Anchor, E> {
            match v {
                "start" => Ok(Anchor::Start),
                "end" => Ok(Anchor::End),
                _ => Err(E::unknown_variant(v, &["start", "end"])),
            }
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Anchor, A::Error> {
            let c = Char::deserialize(MapAccessDeserializer::new(map))?;
            Ok(Anchor::Char {
                id: Id::new(c.lamport, c.replica_id),
                side: c.side,
            })
        }
    }

    impl<'de> Deserialize<'de> for Anchor {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Anchor, D::Error> {
            d.deserialize_any(AnchorVisitor)
        }
    }
}
