//! collab-crdt, this project's own RGA, driven through its public `Doc` contract.

use collab_crdt::{Doc, Op, VersionVector};

use super::Subject;
use crate::trace::Trace;

pub struct Collab;

impl Subject for Collab {
    const NAME: &'static str = "collab-crdt";
    type Doc = Doc;
    type Remote = Vec<Op>;
    type Replica = Doc;

    /// Picks the narrowest call per patch so a pure insert or delete does
    /// not pay for `replace`'s generality; the ops to send are dropped, as a
    /// sender would after handing them to the network.
    fn replay(trace: &Trace) -> Result<Doc, String> {
        let mut doc = Doc::new(1).map_err(|e| format!("new: {e:?}"))?;
        let mut sent = 0usize;
        for p in &trace.patches {
            sent += match (p.del > 0, !p.ins.is_empty()) {
                (true, true) => doc
                    .replace(p.pos, p.del, &p.ins)
                    .map_err(|e| format!("replace: {e:?}"))?
                    .len(),
                (false, true) => doc
                    .insert(p.pos, &p.ins)
                    .map_err(|e| format!("insert: {e:?}"))?
                    .map_or(0, |_| 1),
                (true, false) => doc
                    .delete(p.pos, p.del)
                    .map_err(|e| format!("delete: {e:?}"))?
                    .len(),
                (false, false) => 0,
            };
        }
        std::hint::black_box(sent);
        Ok(doc)
    }

    fn text(doc: &mut Doc) -> Result<String, String> {
        Ok(doc.text())
    }

    fn remote(doc: &mut Doc) -> Result<Option<Vec<Op>>, String> {
        Ok(Some(doc.ops_since(&VersionVector::default())))
    }

    /// The whole history at once, as diamond-types gets its whole encoded
    /// oplog: a fresh replica lays a canonical history out in one step.
    fn merge(remote: Vec<Op>) -> Result<(Doc, String), String> {
        let mut fresh = Doc::new(2).map_err(|e| format!("new: {e:?}"))?;
        fresh
            .apply_all(&remote)
            .map_err(|e| format!("apply_all: {e:?}"))?;
        let text = fresh.text();
        Ok((fresh, text))
    }

    fn save(doc: &mut Doc) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(doc.encode()))
    }

    fn load(bytes: &[u8]) -> Result<(Doc, String), String> {
        let doc = Doc::decode(3, bytes).map_err(|e| format!("decode: {e:?}"))?;
        let text = doc.text();
        Ok((doc, text))
    }
}
