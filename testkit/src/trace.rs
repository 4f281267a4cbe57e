//! Loading and replaying Joseph Gentle's editing traces; shared by the trace
//! tests, the `replay` example and the benchmarks.

use std::io::Read;
use std::path::{Path, PathBuf};

use collab_crdt::{Doc, Op, VersionVector};
use serde_json::Value;

/// One `[pos, del, ins]` patch; positions count Unicode scalar values.
pub struct Patch {
    pub pos: usize,
    pub del: usize,
    pub ins: String,
}

pub struct Txn {
    /// Indexes of earlier transactions this one was made on top of.
    pub parents: Vec<usize>,
    pub agent: usize,
    pub patches: Vec<Patch>,
}

pub struct Trace {
    pub concurrent: bool,
    pub start: String,
    pub end: String,
    pub agents: usize,
    pub txns: Vec<Txn>,
}

impl Trace {
    pub fn patches(&self) -> usize {
        self.txns.iter().map(|t| t.patches.len()).sum()
    }
}

/// The folder of traces: `COLLAB_TRACES`, or `../shared/traces` beside the repository.
pub fn traces_dir() -> PathBuf {
    match std::env::var_os("COLLAB_TRACES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/traces"),
    }
}

pub fn load(path: &Path) -> Result<Trace, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .map_err(|e| format!("{}: not a gzip file of text: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&json).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&v).map_err(|e| format!("{}: {e}", path.display()))
}

fn parse(v: &Value) -> Result<Trace, String> {
    let concurrent = v.get("kind").and_then(Value::as_str) == Some("concurrent");
    let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let end = text("endContent").ok_or("missing endContent")?;
    let start = text("startContent").unwrap_or_default();
    let agents = v.get("numAgents").and_then(Value::as_u64).unwrap_or(1) as usize;
    let raw = v
        .get("txns")
        .and_then(Value::as_array)
        .ok_or("missing txns")?;
    let mut txns = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let parents = match t.get("parents").and_then(Value::as_array) {
            Some(ps) => ps
                .iter()
                .map(|p| p.as_u64().map(|p| p as usize).ok_or("bad parent"))
                .collect::<Result<_, _>>()?,
            None if i == 0 => vec![],
            None => vec![i - 1],
        };
        let agent = t.get("agent").and_then(Value::as_u64).unwrap_or(0) as usize;
        let patches = t
            .get("patches")
            .and_then(Value::as_array)
            .ok_or("missing patches")?
            .iter()
            .map(|p| {
                let pos = p.get(0).and_then(Value::as_u64).ok_or("bad patch")? as usize;
                let del = p.get(1).and_then(Value::as_u64).ok_or("bad patch")? as usize;
                let ins = p
                    .get(2)
                    .and_then(Value::as_str)
                    .ok_or("bad patch")?
                    .to_owned();
                Ok::<_, &str>(Patch { pos, del, ins })
            })
            .collect::<Result<_, _>>()?;
        txns.push(Txn {
            parents,
            agent,
            patches,
        });
    }
    Ok(Trace {
        concurrent,
        start,
        end,
        agents,
        txns,
    })
}

/// Applies one patch as a local edit, the way an editor would: a pure insert,
/// a pure delete or a replace. The ops to send go to `sink`.
pub fn apply_patch(doc: &mut Doc, p: &Patch, sink: &mut impl FnMut(Op)) {
    if p.del == 0 {
        doc.insert(p.pos, &p.ins)
            .expect("insert in range")
            .map(sink);
    } else if p.ins.is_empty() {
        doc.delete(p.pos, p.del)
            .expect("delete in range")
            .into_iter()
            .for_each(sink);
    } else {
        doc.replace(p.pos, p.del, &p.ins)
            .expect("replace in range")
            .into_iter()
            .for_each(sink);
    }
}

/// Replays a sequential trace as local edits of one replica, handing every
/// op to send to `sink` (an editor would put it on the wire).
pub fn replay_sequential(trace: &Trace, mut sink: impl FnMut(Op)) -> Doc {
    let mut doc = Doc::new(1).expect("valid replica");
    if !trace.start.is_empty() {
        doc.insert(0, &trace.start)
            .expect("insert at 0")
            .map(&mut sink);
    }
    for txn in &trace.txns {
        for p in &txn.patches {
            apply_patch(&mut doc, p, &mut sink);
        }
    }
    doc
}

/// Replays a concurrent trace with the data set's recipe: one replica per
/// agent; before each transaction the agent's replica is brought to exactly
/// the merge of the transaction's parents; its patches are local edits; the
/// resulting operations are merged into a document holding everything.
pub fn replay_concurrent(trace: &Trace) -> Result<Doc, String> {
    let mut agents: Vec<Doc> = (0..trace.agents)
        .map(|a| Doc::new(a as u64 + 1).expect("valid replica"))
        .collect();
    let mut all = Doc::new(u32::MAX as u64).expect("valid replica");
    let mut versions: Vec<VersionVector> = Vec::with_capacity(trace.txns.len());
    let mut ops = Vec::new();
    for (i, txn) in trace.txns.iter().enumerate() {
        let mut at = VersionVector::new();
        for &p in &txn.parents {
            at.merge(
                versions
                    .get(p)
                    .ok_or(format!("txn {i}: parent {p} not seen"))?,
            );
        }
        let doc = agents
            .get_mut(txn.agent)
            .ok_or(format!("txn {i}: agent {} out of range", txn.agent))?;
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
            apply_patch(doc, p, &mut |op| ops.push(op));
        }
        all.apply_all(&ops).map_err(|e| format!("txn {i}: {e}"))?;
        versions.push(doc.version());
    }
    Ok(all)
}
