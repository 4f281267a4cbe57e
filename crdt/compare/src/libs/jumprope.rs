//! A plain rope with no CRDT metadata: the floor every CRDT's local replay is measured against.

use jumprope::JumpRope;

use super::Subject;
use crate::trace::Trace;

pub struct Rope;

impl Subject for Rope {
    const NAME: &'static str = "jumprope";
    type Doc = JumpRope;
    type Remote = ();
    type Replica = ();

    fn replay(trace: &Trace) -> Result<JumpRope, String> {
        let mut rope = JumpRope::new();
        for p in &trace.patches {
            if p.del > 0 {
                rope.remove(p.pos..p.pos + p.del);
            }
            if !p.ins.is_empty() {
                rope.insert(p.pos, &p.ins);
            }
        }
        Ok(rope)
    }

    fn text(doc: &mut JumpRope) -> Result<String, String> {
        Ok(doc.to_string())
    }

    fn remote(_doc: &mut JumpRope) -> Result<Option<()>, String> {
        Ok(None)
    }

    fn merge(_remote: ()) -> Result<((), String), String> {
        Err("a plain rope cannot merge".into())
    }

    fn save(_doc: &mut JumpRope) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }

    fn load(_bytes: &[u8]) -> Result<((), String), String> {
        Err("a plain rope has no saved form".into())
    }
}
