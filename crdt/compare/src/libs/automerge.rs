//! automerge: `splice_text` on one text object in an `AutoCommit`, as its edit-trace benchmark does.

use automerge::transaction::Transactable;
use automerge::{
    ActorId, AutoCommit, Change, LoadOptions, ObjId, ObjType, ROOT, ReadDoc, TextEncoding,
};

use super::Subject;
use crate::trace::Trace;

pub struct Automerge;

/// A document and its text object.
pub struct AmDoc {
    doc: AutoCommit,
    text: ObjId,
}

/// Trace positions count chars, so automerge must too, whatever the
/// crate's compile-time default encoding is.
const ENCODING: TextEncoding = TextEncoding::UnicodeCodePoint;

fn read_text(doc: &AutoCommit) -> Result<String, String> {
    let (_, text) = doc
        .get(ROOT, "text")
        .map_err(|e| format!("get text: {e}"))?
        .ok_or("no text object")?;
    doc.text(&text).map_err(|e| format!("text: {e}"))
}

impl Subject for Automerge {
    const NAME: &'static str = "automerge";
    type Doc = AmDoc;
    type Remote = Vec<Change>;
    type Replica = AutoCommit;

    /// All patches go into one open transaction, committed at the end, which
    /// is how automerge's own trace benchmark replays; the commit is timed.
    fn replay(trace: &Trace) -> Result<AmDoc, String> {
        let mut doc = AutoCommit::new_with_encoding(ENCODING);
        doc.set_actor(ActorId::from(&[1u8][..]));
        let text = doc
            .put_object(ROOT, "text", ObjType::Text)
            .map_err(|e| format!("put_object: {e}"))?;
        for p in &trace.patches {
            let del = isize::try_from(p.del).map_err(|e| e.to_string())?;
            doc.splice_text(&text, p.pos, del, &p.ins)
                .map_err(|e| format!("splice_text: {e}"))?;
        }
        doc.commit();
        Ok(AmDoc { doc, text })
    }

    fn text(am: &mut AmDoc) -> Result<String, String> {
        am.doc.text(&am.text).map_err(|e| format!("text: {e}"))
    }

    fn remote(am: &mut AmDoc) -> Result<Option<Vec<Change>>, String> {
        Ok(Some(am.doc.get_changes(&[])))
    }

    fn merge(remote: Vec<Change>) -> Result<(AutoCommit, String), String> {
        let mut doc = AutoCommit::new_with_encoding(ENCODING);
        doc.apply_changes(remote)
            .map_err(|e| format!("apply_changes: {e}"))?;
        let text = read_text(&doc)?;
        Ok((doc, text))
    }

    fn save(am: &mut AmDoc) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(am.doc.save()))
    }

    fn load(bytes: &[u8]) -> Result<(AutoCommit, String), String> {
        let options = LoadOptions::new().text_encoding(ENCODING);
        let doc =
            AutoCommit::load_with_options(bytes, options).map_err(|e| format!("load: {e}"))?;
        let text = read_text(&doc)?;
        Ok((doc, text))
    }

    fn note(am: &mut AmDoc) -> Option<String> {
        let changes = am.doc.get_changes(&[]).len();
        Some(format!(
            "the whole trace is {changes} change(s): one transaction, as automerge's own benchmark"
        ))
    }
}
