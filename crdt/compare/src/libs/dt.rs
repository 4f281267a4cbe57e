//! diamond-types driven the way its own `apply_edits_local` benchmark replays traces.

use diamond_types::list::encoding::ENCODE_FULL;
use diamond_types::list::operation::Operation;
use diamond_types::list::{ListCRDT, OpLog};

use super::Subject;
use crate::trace::{History, Trace};

pub struct Dt;

impl Subject for Dt {
    const NAME: &'static str = "diamond-types";
    type Doc = ListCRDT;
    type Remote = Vec<u8>;
    type Replica = ListCRDT;

    fn replay(trace: &Trace) -> Result<ListCRDT, String> {
        if let Some(history) = &trace.history {
            return Ok(replay_history(history));
        }
        let mut doc = ListCRDT::new();
        let agent = doc.get_or_create_agent_id("replay");
        let mut ops: Vec<Operation> = Vec::with_capacity(2);
        for p in &trace.patches {
            ops.clear();
            if p.del > 0 {
                ops.push(Operation::new_delete(p.pos..p.pos + p.del));
            }
            if !p.ins.is_empty() {
                ops.push(Operation::new_insert(p.pos, &p.ins));
            }
            doc.apply_local_operations(agent, &ops);
        }
        Ok(doc)
    }

    fn text(doc: &mut ListCRDT) -> Result<String, String> {
        Ok(doc.branch.content().to_string())
    }

    fn remote(doc: &mut ListCRDT) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(doc.oplog.encode(ENCODE_FULL)))
    }

    /// A peer that has nothing yet merges the encoded oplog into its own
    /// (empty) oplog and fast-forwards its branch, the path remote edits take.
    fn merge(remote: Vec<u8>) -> Result<(ListCRDT, String), String> {
        let mut doc = ListCRDT::new();
        doc.merge_data_and_ff(&remote)
            .map_err(|e| format!("decode_and_add: {e:?}"))?;
        let text = doc.branch.content().to_string();
        Ok((doc, text))
    }

    fn save(doc: &mut ListCRDT) -> Result<Option<Vec<u8>>, String> {
        Ok(Some(doc.oplog.encode(ENCODE_FULL)))
    }

    fn load(bytes: &[u8]) -> Result<(ListCRDT, String), String> {
        let oplog = OpLog::load_from(bytes).map_err(|e| format!("load_from: {e:?}"))?;
        let branch = oplog.checkout_tip();
        let text = branch.content().to_string();
        Ok((ListCRDT { branch, oplog }, text))
    }
}

/// A concurrent trace as diamond-types takes one: every transaction's ops
/// added at the version its parents name, then the whole oplog checked out,
/// which is where the concurrent edits are merged.
fn replay_history(history: &History) -> ListCRDT {
    let mut doc = ListCRDT::new();
    let agents: Vec<_> = (0..history.agents)
        .map(|a| doc.get_or_create_agent_id(&format!("agent{a}")))
        .collect();
    let mut ends = Vec::with_capacity(history.txns.len());
    let mut parents = Vec::new();
    let mut ops: Vec<Operation> = Vec::new();
    for txn in &history.txns {
        parents.clear();
        parents.extend(txn.parents.iter().map(|&p| ends[p]));
        // A frontier is sorted; an unsorted one makes diamond-types' merge
        // read out of bounds.
        parents.sort_unstable();
        ops.clear();
        for p in &txn.patches {
            if p.del > 0 {
                ops.push(Operation::new_delete(p.pos..p.pos + p.del));
            }
            if !p.ins.is_empty() {
                ops.push(Operation::new_insert(p.pos, &p.ins));
            }
        }
        ends.push(
            doc.oplog
                .add_operations_at(agents[txn.agent], &parents, &ops),
        );
    }
    doc.branch = doc.oplog.checkout_tip();
    doc
}
