//! Invariant checks of the tree, which tests run after every step.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{FIRST_LEAF, MAX_SPAN, NONE, Tree};

impl Tree {
    /// Checks every structural invariant; tests call it after each step.
    pub(crate) fn check(&self) -> Result<(), String> {
        let mut in_order = Vec::new();
        self.check_node(self.root, NONE, &mut in_order)?;
        let mut leaf = FIRST_LEAF;
        let mut chained = Vec::new();
        while leaf != NONE {
            chained.push(leaf);
            leaf = self.leaves[leaf as usize].next;
        }
        if chained != in_order {
            return Err(format!("leaf chain {chained:?} != tree order {in_order:?}"));
        }
        if in_order.len() + self.free.len() != self.leaves.len() {
            return Err(format!(
                "{} leaves, {} in the tree, {} free",
                self.leaves.len(),
                in_order.len(),
                self.free.len()
            ));
        }
        let mut total = 0u64;
        for &leaf in &in_order {
            let l = &self.leaves[leaf as usize];
            for (i, s) in l.spans[..l.len as usize].iter().enumerate() {
                total += u64::from(s.len());
                if s.len() == 0 || s.len() > MAX_SPAN {
                    return Err(format!("span of bad length {s:?}"));
                }
                for probe in [s.lamport, s.lamport + u64::from(s.len()) - 1] {
                    let found = self.locate(s.replica, probe);
                    if found.map(|c| (c.leaf, c.idx)) != Some((leaf, i)) {
                        return Err(format!("index sends {}@{probe} to {found:?}", s.replica));
                    }
                }
            }
        }
        if total != self.total {
            return Err(format!("total {total} != stored {}", self.total));
        }
        Ok(())
    }

    fn check_node(
        &self,
        node: u32,
        parent: u32,
        leaves: &mut Vec<u32>,
    ) -> Result<(u32, u32), String> {
        let n = &self.nodes[node as usize];
        if n.parent != parent {
            return Err(format!("node {node} has parent {} not {parent}", n.parent));
        }
        let (mut chars, mut utf16) = (0, 0);
        for i in 0..n.len as usize {
            let child = n.children[i];
            let (c, u) = if n.leaf_children {
                let l = &self.leaves[child as usize];
                if l.slot as usize != i {
                    return Err(format!("leaf {child} thinks it is slot {} not {i}", l.slot));
                }
                if l.parent != node {
                    return Err(format!("leaf {child} has parent {} not {node}", l.parent));
                }
                leaves.push(child);
                let sums = l.spans[..l.len as usize]
                    .iter()
                    .fold((0, 0), |(c, u), s| (c + s.visible().0, u + s.visible().1));
                if sums.0 != l.chars {
                    return Err(format!(
                        "leaf {child} counts {} chars, holds {}",
                        l.chars, sums.0
                    ));
                }
                sums
            } else {
                if self.nodes[child as usize].slot as usize != i {
                    return Err(format!("node {child} is not in slot {i}"));
                }
                self.check_node(child, node, leaves)?
            };
            if (c, u) != (n.chars[i], n.utf16[i]) {
                return Err(format!(
                    "node {node} slot {i} counts {:?} but holds {:?}",
                    (n.chars[i], n.utf16[i]),
                    (c, u)
                ));
            }
            chars += c;
            utf16 += u;
        }
        Ok((chars, utf16))
    }
}
