//! yrs (Yjs in Rust): one transaction per patch on a `TextRef`, updates for replication.

use yrs::updates::decoder::Decode;
use yrs::{
    ClientID, Doc, GetString, OffsetKind, Options, ReadTxn, StateVector, Text, TextRef, Transact,
    Update,
};

use super::Subject;
use crate::trace::Trace;

pub struct Yrs;

/// A document and the text it edits, created together.
pub struct YDoc {
    doc: Doc,
    text: TextRef,
}

/// yrs counts bytes or UTF-16 units but never chars, so the doc counts
/// UTF-16 units and the trace supplies pre-converted positions.
fn new_doc(client: u64) -> YDoc {
    let mut options = Options::with_client_id(ClientID::new(client));
    options.offset_kind = OffsetKind::Utf16;
    let doc = Doc::with_options(options);
    let text = doc.get_or_insert_text("text");
    YDoc { doc, text }
}

fn apply(update: Result<Update, yrs::encoding::read::Error>) -> Result<(YDoc, String), String> {
    let update = update.map_err(|e| format!("decode update: {e}"))?;
    let y = new_doc(2);
    let text = {
        let mut txn = y.doc.transact_mut();
        txn.apply_update(update)
            .map_err(|e| format!("apply_update: {e}"))?;
        y.text.get_string(&txn)
    };
    Ok((y, text))
}

impl Subject for Yrs {
    const NAME: &'static str = "yrs";
    type Doc = YDoc;
    type Remote = Vec<u8>;
    type Replica = YDoc;

    fn replay(trace: &Trace) -> Result<YDoc, String> {
        let y = new_doc(1);
        for (p, &(pos, del)) in trace.patches.iter().zip(&trace.utf16) {
            let mut txn = y.doc.transact_mut();
            if del > 0 {
                y.text.remove_range(&mut txn, pos, del);
            }
            if !p.ins.is_empty() {
                y.text.insert(&mut txn, pos, &p.ins);
            }
        }
        Ok(y)
    }

    fn text(y: &mut YDoc) -> Result<String, String> {
        Ok(y.text.get_string(&y.doc.transact()))
    }

    fn remote(y: &mut YDoc) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(
            y.doc
                .transact()
                .encode_state_as_update_v1(&StateVector::default()),
        ))
    }

    fn merge(remote: Vec<u8>) -> Result<(YDoc, String), String> {
        apply(Update::decode_v1(&remote))
    }

    /// v2 is yrs's compact encoding, the closest match to a saved snapshot.
    fn save(y: &mut YDoc) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(
            y.doc
                .transact()
                .encode_state_as_update_v2(&StateVector::default()),
        ))
    }

    fn load(bytes: &[u8]) -> Result<(YDoc, String), String> {
        apply(Update::decode_v2(bytes))
    }

    fn note(y: &mut YDoc) -> Option<String> {
        let v1 = y
            .doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        Some(format!(
            "merge_ms applies the v1 update ({} bytes); load_ms and encoded_bytes use v2",
            v1.len()
        ))
    }
}
