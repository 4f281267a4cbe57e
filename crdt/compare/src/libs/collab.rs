//! collab-crdt, this project's own RGA, driven through its public `Doc` contract.

use collab_crdt::{Doc, Op, VersionVector};

use super::Subject;
use crate::trace::{History, Patch, Trace};

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
        if let Some(history) = &trace.history {
            return replay_history(history);
        }
        let mut doc = Doc::new(1).map_err(|e| format!("new: {e:?}"))?;
        let mut sent = 0usize;
        for p in &trace.patches {
            sent += apply(&mut doc, p, &mut |_| ())?;
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

/// One patch as a local edit, the narrowest call; each op goes to `sink`
/// (no vector in between: a sequential replay drops them). Returns how many
/// ops it made.
fn apply(doc: &mut Doc, p: &Patch, sink: &mut impl FnMut(Op)) -> Result<usize, String> {
    let mut n = 0;
    let mut each = |op| {
        n += 1;
        sink(op);
    };
    match (p.del > 0, !p.ins.is_empty()) {
        (true, true) => doc
            .replace(p.pos, p.del, &p.ins)
            .map_err(|e| format!("replace: {e:?}"))?
            .into_iter()
            .for_each(&mut each),
        (false, true) => doc
            .insert(p.pos, &p.ins)
            .map_err(|e| format!("insert: {e:?}"))?
            .into_iter()
            .for_each(&mut each),
        (true, false) => doc
            .delete(p.pos, p.del)
            .map_err(|e| format!("delete: {e:?}"))?
            .into_iter()
            .for_each(&mut each),
        (false, false) => {}
    }
    Ok(n)
}

/// A concurrent trace with the data set's recipe: one replica per agent;
/// before each transaction the agent's replica is brought to exactly the
/// merge of the transaction's parents (`ops_between` from a replica that
/// has everything); its patches are local edits, whose ops that replica
/// then integrates.
fn replay_history(history: &History) -> Result<Doc, String> {
    let mut agents: Vec<Doc> = (0..history.agents)
        .map(|a| Doc::new(a as u64 + 1).map_err(|e| format!("new: {e:?}")))
        .collect::<Result<_, _>>()?;
    let mut all = Doc::new(u32::MAX as u64).map_err(|e| format!("new: {e:?}"))?;
    // Each transaction's version, agent by agent (agent `a` is replica
    // `a + 1`), flat and in 32 bits (a trace's seqs fit): a `VersionVector`
    // per transaction is a map each, and held more of the peak than the
    // replicas did.
    let width = history.agents;
    let mut versions: Vec<u32> = Vec::with_capacity(history.txns.len() * width);
    let mut ops = Vec::new();
    for (i, txn) in history.txns.iter().enumerate() {
        let mut at = VersionVector::new();
        for a in 0..width {
            let seen = txn.parents.iter().map(|&p| versions[p * width + a]).max();
            at.set(a as u64 + 1, seen.map_or(0, u64::from));
        }
        let doc = &mut agents[txn.agent];
        if !at.includes(&doc.version()) {
            return Err(format!(
                "txn {i}: agent {} is ahead of its parents",
                txn.agent
            ));
        }
        doc.apply_all(&all.ops_between(&doc.version(), &at))
            .map_err(|e| format!("txn {i}: {e}"))?;
        ops.clear();
        for p in &txn.patches {
            apply(doc, p, &mut |op| ops.push(op))?;
        }
        all.apply_all(&ops).map_err(|e| format!("txn {i}: {e}"))?;
        let version = doc.version();
        for a in 0..width {
            let seen = version.get(a as u64 + 1);
            versions.push(u32::try_from(seen).map_err(|_| format!("txn {i}: seq {seen}"))?);
        }
    }
    Ok(all)
}
