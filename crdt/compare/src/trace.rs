//! Loading of the gzipped JSON editing traces into plain patch lists.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;
use serde_json::Value;

/// One edit at a char position: delete `del` chars, then insert `ins` there.
#[derive(Debug, Clone)]
pub struct Patch {
    pub pos: usize,
    pub del: usize,
    pub ins: String,
}

/// A trace. Sequential ones are flattened: the transaction grouping does
/// not matter to any library replay here, so only the patch order is kept.
#[derive(Debug)]
pub struct Trace {
    pub patches: Vec<Patch>,
    pub txns: usize,
    pub end: String,
    /// Same patches in UTF-16 code units, for libraries (yrs) that cannot
    /// count Unicode scalar values.
    pub utf16: Vec<(u32, u32)>,
    /// A concurrent trace's transactions (then `patches` is empty): only
    /// the libraries that can edit at a past version replay these.
    pub history: Option<History>,
}

/// The editing-traces concurrent format: who edited, at which version.
#[derive(Debug)]
pub struct History {
    pub agents: usize,
    pub txns: Vec<Txn>,
}

/// One transaction: `agent` made `patches` on the document as it was
/// after the transactions `parents` (none: the empty document), merged.
/// Positions are relative to that document, patch by patch.
#[derive(Debug)]
pub struct Txn {
    pub parents: Vec<usize>,
    pub agent: usize,
    pub patches: Vec<Patch>,
}

impl Trace {
    /// A concurrent trace from its transactions and final text.
    pub fn concurrent(history: History, end: String) -> Trace {
        Trace {
            patches: Vec::new(),
            txns: history.txns.len(),
            end,
            utf16: Vec::new(),
            history: Some(history),
        }
    }

    /// Patches in all, whichever kind of trace.
    pub fn edits(&self) -> usize {
        match &self.history {
            Some(h) => h.txns.iter().map(|t| t.patches.len()).sum(),
            None => self.patches.len(),
        }
    }
}

/// What a trace file turned out to hold.
pub enum Loaded {
    Sequential(Trace),
    Concurrent(Trace),
}

pub fn load(path: &Path) -> Result<Loaded, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut json = String::new();
    GzDecoder::new(BufReader::new(file))
        .read_to_string(&mut json)
        .map_err(|e| format!("{}: gunzip: {e}", path.display()))?;
    let value: Value =
        serde_json::from_str(&json).map_err(|e| format!("{}: json: {e}", path.display()))?;
    parse(&value).map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn parse(value: &Value) -> Result<Loaded, String> {
    if value.get("kind").and_then(Value::as_str) == Some("concurrent") {
        return parse_concurrent(value).map(Loaded::Concurrent);
    }
    let start = value
        .get("startContent")
        .and_then(Value::as_str)
        .ok_or("missing startContent")?;
    let end = value
        .get("endContent")
        .and_then(Value::as_str)
        .ok_or("missing endContent")?
        .to_owned();
    let txns = value
        .get("txns")
        .and_then(Value::as_array)
        .ok_or("missing txns")?;

    let mut patches = Vec::new();
    // A non-empty start state is replayed as a first insert so every library
    // starts from an empty document, which is the only start they all share.
    if !start.is_empty() {
        patches.push(Patch {
            pos: 0,
            del: 0,
            ins: start.to_owned(),
        });
    }
    for txn in txns {
        let list = txn
            .get("patches")
            .and_then(Value::as_array)
            .ok_or("txn without patches")?;
        for patch in list {
            patches.push(parse_patch(patch)?);
        }
    }
    let utf16 = to_utf16(&patches);
    Ok(Loaded::Sequential(Trace {
        patches,
        txns: txns.len(),
        end,
        utf16,
        history: None,
    }))
}

fn parse_concurrent(value: &Value) -> Result<Trace, String> {
    let end = value
        .get("endContent")
        .and_then(Value::as_str)
        .ok_or("missing endContent")?
        .to_owned();
    let agents = value
        .get("numAgents")
        .and_then(Value::as_u64)
        .ok_or("missing numAgents")? as usize;
    let raw = value
        .get("txns")
        .and_then(Value::as_array)
        .ok_or("missing txns")?;
    let mut txns = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let parents = t
            .get("parents")
            .and_then(Value::as_array)
            .ok_or("txn without parents")?
            .iter()
            .map(|p| {
                p.as_u64()
                    .map(|p| p as usize)
                    .filter(|&p| p < i)
                    .ok_or_else(|| format!("txn {i}: bad parent {p}"))
            })
            .collect::<Result<_, _>>()?;
        let agent = t
            .get("agent")
            .and_then(Value::as_u64)
            .map(|a| a as usize)
            .filter(|&a| a < agents)
            .ok_or_else(|| format!("txn {i}: bad agent"))?;
        let patches = t
            .get("patches")
            .and_then(Value::as_array)
            .ok_or("txn without patches")?
            .iter()
            .map(parse_patch)
            .collect::<Result<_, _>>()?;
        txns.push(Txn {
            parents,
            agent,
            patches,
        });
    }
    Ok(Trace::concurrent(History { agents, txns }, end))
}

fn parse_patch(patch: &Value) -> Result<Patch, String> {
    let bad = || format!("malformed patch {patch}");
    let items = patch.as_array().filter(|a| a.len() == 3).ok_or_else(bad)?;
    let num = |v: &Value| v.as_u64().and_then(|n| usize::try_from(n).ok());
    Ok(Patch {
        pos: num(&items[0]).ok_or_else(bad)?,
        del: num(&items[1]).ok_or_else(bad)?,
        ins: items[2].as_str().ok_or_else(bad)?.to_owned(),
    })
}

/// Converts char positions to UTF-16 positions by tracking where the
/// astral (surrogate-pair) chars currently sit; real traces hold few or none,
/// so this stays linear in practice without needing a second rope.
fn to_utf16(patches: &[Patch]) -> Vec<(u32, u32)> {
    let mut astral: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(patches.len());
    for p in patches {
        let before = astral.partition_point(|&a| a < p.pos);
        let within = astral[before..].partition_point(|&a| a < p.pos + p.del);
        let wide = |n: usize| u32::try_from(n).expect("trace position exceeds u32");
        out.push((wide(p.pos + before), wide(p.del + within)));

        astral.drain(before..before + within);
        let inserted = p.ins.chars().count();
        for a in &mut astral[before..] {
            *a = *a - p.del + inserted;
        }
        let new: Vec<usize> = p
            .ins
            .chars()
            .enumerate()
            .filter(|(_, c)| c.len_utf16() == 2)
            .map(|(i, _)| p.pos + i)
            .collect();
        astral.splice(before..before, new);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(pos: usize, del: usize, ins: &str) -> Patch {
        Patch {
            pos,
            del,
            ins: ins.to_owned(),
        }
    }

    #[test]
    fn utf16_positions_skip_surrogate_pairs() {
        let patches = [
            patch(0, 0, "a😀b😀c"),
            patch(4, 0, "x"),
            patch(1, 2, ""),
            patch(2, 1, "é"),
        ];
        assert_eq!(to_utf16(&patches), vec![(0, 0), (6, 0), (1, 3), (3, 1)]);
    }
}
