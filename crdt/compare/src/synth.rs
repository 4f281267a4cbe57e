//! A synthetic concurrent trace: many agents typing at once in the same
//! paragraphs, generated from a seed, in the editing-traces format.
//!
//! Every agent keeps a replica. An agent works in bursts: it first merges
//! the replica of another agent now and then (that transaction's parents
//! are both agents' last transactions), then either types a few words at
//! a cursor of its own or deletes a short range anywhere. Insertion points
//! always follow a character the typing agent wrote itself, so no two
//! concurrent inserts ever share a left neighbour: like the real traces,
//! the result does not depend on how a CRDT orders concurrent siblings,
//! and every correct CRDT reaches the same text.

use collab_crdt::{Doc, VersionVector};

use crate::trace::{History, Patch, Trace, Txn};

/// `xorshift64*`: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

const WORDS: [&str; 12] = [
    "the ",
    "replica ",
    "merges ",
    "text ",
    "while ",
    "others ",
    "type ",
    "in ",
    "this ",
    "paragraph. ",
    "and ",
    "edits\n",
];

/// `agents` agents making `edits` patches in all, from `seed`.
pub fn generate(agents: usize, edits: usize, seed: u64) -> Result<Trace, String> {
    let agents = agents.max(1);
    let mut rng = Rng(seed | 1);
    let mut docs: Vec<Doc> = (0..agents)
        .map(|a| Doc::new(a as u64 + 1).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut last: Vec<Option<usize>> = vec![None; agents];
    let mut txns: Vec<Txn> = Vec::with_capacity(edits + agents);
    let mut versions: Vec<VersionVector> = Vec::with_capacity(edits + agents);
    let mut all = Doc::new(u32::MAX as u64).map_err(|e| e.to_string())?;

    // One transaction of `agent`: merge `with`'s replica first, then the patches.
    let mut commit = |agent: usize,
                      with: &[usize],
                      docs: &mut Vec<Doc>,
                      edit: &mut dyn FnMut(&mut Doc) -> Vec<Patch>|
     -> Result<(), String> {
        let mut parents: Vec<usize> = last[agent].into_iter().collect();
        for &other in with {
            // A parent the agent has seen already would not be a frontier
            // (diamond-types takes parents as one).
            if let Some(t) = last[other].filter(|&t| !docs[agent].version().includes(&versions[t]))
            {
                let ops = all.ops_between(&docs[agent].version(), &versions[t]);
                docs[agent].apply_all(&ops).map_err(|e| e.to_string())?;
                parents.retain(|&p| !versions[t].includes(&versions[p]));
                parents.push(t);
            }
        }
        let before = docs[agent].version();
        let patches = edit(&mut docs[agent]);
        if patches.is_empty() {
            return Err("the document became empty".to_owned());
        }
        let ops = docs[agent].ops_since(&before);
        all.apply_all(&ops).map_err(|e| e.to_string())?;
        last[agent] = Some(txns.len());
        versions.push(docs[agent].version());
        txns.push(Txn {
            parents,
            agent,
            patches,
        });
        Ok(())
    };

    // Each agent in turn, having merged everyone before it, writes its
    // first sentence anywhere; then each, having merged everyone, a second
    // one after its own text. Nothing here is concurrent, and afterwards
    // every agent has seen all of it and has text of its own to type after.
    for round in 0..2 {
        for agent in 0..agents {
            let with: Vec<usize> = (0..agents).filter(|&a| a != agent).collect();
            let picks: Vec<usize> = (0..64).map(|_| rng.below(usize::MAX)).collect();
            let mut edit = |d: &mut Doc| {
                let ins = format!("Agent {agent} writes here. ");
                let at = if round == 0 {
                    picks[0] % (d.len() + 1)
                } else {
                    own_cursor(d, &picks).unwrap_or(0)
                };
                d.insert(at, &ins).expect("in range");
                vec![Patch {
                    pos: at,
                    del: 0,
                    ins,
                }]
            };
            commit(agent, &with, &mut docs, &mut edit)?;
        }
    }

    let mut made = 2 * agents;
    while made < edits {
        let agent = rng.below(agents);
        let with: Vec<usize> = if rng.below(3) == 0 {
            vec![rng.below(agents)]
        } else {
            Vec::new()
        };
        let burst = 1 + rng.below(12);
        let typing = rng.below(5) != 0;
        let picks: Vec<usize> = (0..64).map(|_| rng.below(usize::MAX)).collect();
        // Chosen at the burst's first edit, after its merge.
        let mut cursor: Option<Option<usize>> = None;
        for i in 0..burst.min(edits - made) {
            let with = if i == 0 { with.clone() } else { Vec::new() };
            let word = WORDS[rng.below(WORDS.len())];
            let del_at = rng.below(usize::MAX);
            let del_len = 1 + rng.below(4);
            let mut edit = |d: &mut Doc| {
                let at =
                    cursor.get_or_insert_with(|| if typing { own_cursor(d, &picks) } else { None });
                match at {
                    Some(at) => {
                        d.insert(*at, word).expect("in range");
                        let p = Patch {
                            pos: *at,
                            del: 0,
                            ins: word.to_owned(),
                        };
                        *at += word.chars().count();
                        vec![p]
                    }
                    None if d.is_empty() => Vec::new(),
                    None => {
                        let at = del_at % d.len();
                        let del = del_len.min(d.len() - at);
                        d.delete(at, del).expect("in range");
                        vec![Patch {
                            pos: at,
                            del,
                            ins: String::new(),
                        }]
                    }
                }
            };
            commit(agent, &with, &mut docs, &mut edit)?;
            made += 1;
        }
    }
    let end = all.text();
    Ok(Trace::concurrent(History { agents, txns }, end))
}

/// A position right after a visible character `doc`'s own replica wrote,
/// tried at the places `picks` name.
fn own_cursor(doc: &Doc, picks: &[usize]) -> Option<usize> {
    let me = doc.replica_id();
    picks
        .iter()
        .map(|&p| 1 + p % doc.len().max(1))
        .find(|&pos| pos <= doc.len() && doc.id_at(pos - 1).is_ok_and(|id| id.replica_id == me))
}
