//! The id index: which leaf of the sequence tree holds a given character id.
//!
//! It maps ranges of lamports of one replica to a leaf, run-length encoded:
//! a key covers every lamport of its replica from itself up to the next
//! key. Only leaf splits move characters between leaves, so a run of typing
//! that stays in one leaf costs one entry, not one per character.
//!
//! Each replica's keys are a sorted list cut into chunks of at most
//! [`CHUNK`] entries, with the first key of every chunk beside them: a
//! lookup is two binary searches over contiguous memory, a leaf split's
//! update of a run of lamports is a splice inside one chunk, and a loaded
//! document's index is its sorted keys cut into chunks, with no search at
//! all. (A `BTreeMap` did the same with a search per key and per removal;
//! it was a tenth of a local replay and of a load.)

use alloc::vec::Vec;

/// Most keys in one chunk: a splice moves at most this many 16-byte entries.
const CHUNK: usize = 64;
/// Keys per chunk of an index built in one piece, leaving room to grow.
const CHUNK_FILL: usize = CHUNK * 3 / 4;

/// One replica's keys: `(lamport, leaf)`, ascending by lamport.
#[derive(Clone, Debug, Default)]
struct Keys {
    chunks: Vec<Vec<(u64, u32)>>,
    /// The first key of each chunk; no chunk is empty.
    firsts: Vec<u64>,
    /// Where the last range set ended: its chunk and the position after
    /// its keys. A leaf split sets its moved ranges in ascending order, so
    /// the next one usually starts a few keys on: checked, then scanned
    /// forwards from, instead of two binary searches whose every step
    /// waits on a load. Only a hint: any value is safe.
    hint: (usize, usize),
}

/// Keys scanned one by one from the hint before falling back to a search.
const HINT_SCAN: usize = 8;

/// The position in `keys` of the first key `pred` is false for (`pred`
/// true on a prefix), looked for from `from`, which the caller knows to
/// lie at or before it: a short forward scan, then a binary search.
fn scan_from(keys: &[(u64, u32)], from: usize, pred: impl Fn(u64) -> bool) -> usize {
    let mut i = from;
    while i < keys.len() && i < from + HINT_SCAN {
        if !pred(keys[i].0) {
            return i;
        }
        i += 1;
    }
    i + keys[i..].partition_point(|&(k, _)| pred(k))
}

impl Keys {
    /// The chunk that holds `lamport` or would: the last one starting at or
    /// below it, or the first.
    fn chunk_of(&self, lamport: u64) -> usize {
        self.firsts
            .partition_point(|&f| f <= lamport)
            .saturating_sub(1)
    }

    /// The entry governing `lamport`: the largest key at or below it.
    fn get(&self, lamport: u64) -> Option<u32> {
        let c = self
            .firsts
            .partition_point(|&f| f <= lamport)
            .checked_sub(1)?;
        let chunk = &self.chunks[c];
        let i = chunk.partition_point(|&(k, _)| k <= lamport);
        Some(chunk[i - 1].1)
    }

    fn insert(&mut self, lamport: u64, leaf: u32) {
        if self.chunks.is_empty() {
            self.chunks.push(alloc::vec![(lamport, leaf)]);
            self.firsts.push(lamport);
            return;
        }
        let c = self.chunk_of(lamport);
        let chunk = &mut self.chunks[c];
        let i = chunk.partition_point(|&(k, _)| k < lamport);
        if chunk.get(i).is_some_and(|&(k, _)| k == lamport) {
            chunk[i].1 = leaf;
            return;
        }
        chunk.insert(i, (lamport, leaf));
        self.firsts[c] = chunk[0].0;
        if chunk.len() > CHUNK {
            let upper = chunk.split_off(CHUNK / 2);
            self.firsts.insert(c + 1, upper[0].0);
            self.chunks.insert(c + 1, upper);
        }
    }

    /// Inserts a key at or above every other: onto the last chunk
    /// without the two searches.
    fn insert_last(&mut self, lamport: u64, leaf: u32) {
        let Some(chunk) = self.chunks.last_mut() else {
            return self.insert(lamport, leaf);
        };
        debug_assert!(chunk.last().is_none_or(|&(k, _)| k <= lamport));
        match chunk.last_mut() {
            Some(last) if last.0 == lamport => last.1 = leaf,
            _ => chunk.push((lamport, leaf)),
        }
        if chunk.len() > CHUNK {
            let upper = chunk.split_off(CHUNK / 2);
            self.firsts.push(upper[0].0);
            self.chunks.push(upper);
        }
    }

    /// Removes every key in `start..=end`.
    fn remove(&mut self, start: u64, end: u64) {
        let mut c = self.chunk_of(start);
        while c < self.chunks.len() && self.firsts[c] <= end {
            let chunk = &mut self.chunks[c];
            let from = chunk.partition_point(|&(k, _)| k < start);
            let to = chunk.partition_point(|&(k, _)| k <= end);
            chunk.drain(from..to);
            if chunk.is_empty() {
                self.chunks.remove(c);
                self.firsts.remove(c);
            } else {
                self.firsts[c] = chunk[0].0;
                c += 1;
            }
        }
    }

    /// Points `start..end` at `leaf` in one splice when the keys involved
    /// (the one governing `start`, those inside, the one governing `end`)
    /// all lie in one chunk, as they do for most leaf splits; false, having
    /// changed nothing, otherwise.
    fn set_in_chunk(&mut self, start: u64, end: u64, leaf: u32) -> bool {
        let (hc, hi) = self.hint;
        let hinted = hc < self.firsts.len()
            && self.firsts[hc] <= start
            && self.firsts.get(hc + 1).is_none_or(|&f| f > start);
        let c = if hinted {
            hc
        } else {
            let Some(c) = self.firsts.partition_point(|&f| f <= start).checked_sub(1) else {
                return false;
            };
            c
        };
        if self.firsts.get(c + 1).is_some_and(|&f| f <= end) {
            return false;
        }
        let chunk = &mut self.chunks[c];
        // Every key before the hinted position is below `start` when the
        // one just before it is.
        let (i, j) = if hinted && hi <= chunk.len() && (hi == 0 || chunk[hi - 1].0 < start) {
            let i = scan_from(chunk, hi, |k| k < start);
            (i, scan_from(chunk, i, |k| k <= end))
        } else {
            (
                chunk.partition_point(|&(k, _)| k < start),
                chunk.partition_point(|&(k, _)| k <= end),
            )
        };
        if i == 0 && c > 0 {
            // What governs `start` then is the previous chunk's last key.
            return false;
        }
        // `c` starts at or below `start`, so `end` is governed from here.
        let before = chunk[..i].last().map(|&(_, l)| l);
        let after = chunk[j - 1].1;
        let mut new = [(0, 0); 2];
        let mut n = 0;
        if before != Some(leaf) {
            new[n] = (start, leaf);
            n += 1;
        }
        if after != leaf {
            new[n] = (end, after);
            n += 1;
        }
        // By hand rather than `Vec::splice`, whose general iterator
        // plumbing was most of the cost of a splice this small.
        let len = chunk.len();
        if n <= j - i {
            chunk[i..i + n].copy_from_slice(&new[..n]);
            chunk.copy_within(j..len, i + n);
            chunk.truncate(len - (j - i) + n);
        } else {
            let extra = n - (j - i);
            chunk.extend_from_slice(&new[..extra]);
            chunk.copy_within(j..len, j + extra);
            chunk[i..i + n].copy_from_slice(&new[..n]);
        }
        self.hint = (c, i + n);
        if chunk.is_empty() {
            self.chunks.remove(c);
            self.firsts.remove(c);
            return true;
        }
        self.firsts[c] = chunk[0].0;
        if chunk.len() > CHUNK {
            let upper = chunk.split_off(CHUNK / 2);
            self.firsts.insert(c + 1, upper[0].0);
            self.chunks.insert(c + 1, upper);
        }
        true
    }

    fn last(&self) -> Option<(u64, u32)> {
        self.chunks.last().and_then(|c| c.last()).copied()
    }

    fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    /// Per replica (by its index in the document's replica table), its
    /// lamport keys: one list per replica keeps each search within that
    /// replica's keys, 8 bytes each instead of a 16-byte tuple. An echo on
    /// a busy relay touches a cold document, and cache lines are the cost.
    maps: Vec<Keys>,
    /// Per replica, its largest key and the leaf that key points at. New
    /// characters come after all others of their replica, so when they land
    /// in this leaf (typing goes on where it was) no search is needed.
    tail: Vec<(u64, u32)>,
}

impl Index {
    /// The index of a tree built in one piece, from `(replica, lamport,
    /// leaf)` of every piece of every span in `(replica, lamport)` order.
    pub(crate) fn from_sorted(entries: impl Iterator<Item = (u32, u64, u32)>) -> Index {
        let mut index = Index::default();
        let mut current = u32::MAX;
        let mut last_leaf = u32::MAX;
        for (replica, lamport, leaf) in entries {
            if current != replica {
                current = replica;
                last_leaf = u32::MAX;
                index.grow(replica);
            }
            // A key covers everything up to the next one: a span in the same
            // leaf as the key before it needs none.
            if last_leaf == leaf {
                continue;
            }
            last_leaf = leaf;
            let keys = &mut index.maps[replica as usize];
            match keys.chunks.last_mut() {
                Some(chunk) if chunk.len() < CHUNK_FILL => chunk.push((lamport, leaf)),
                _ => {
                    let mut chunk = Vec::with_capacity(CHUNK + 1);
                    chunk.push((lamport, leaf));
                    keys.chunks.push(chunk);
                    keys.firsts.push(lamport);
                }
            }
        }
        for r in 0..index.maps.len() {
            index.tail[r] = index.maps[r].last().unwrap_or((0, u32::MAX));
        }
        index
    }

    fn grow(&mut self, replica: u32) {
        let r = replica as usize;
        if self.maps.len() <= r {
            self.maps.resize_with(r + 1, Keys::default);
            self.tail.resize(r + 1, (0, u32::MAX));
        }
    }

    /// The leaf that holds `(replica, lamport)` if that character exists. For
    /// an id that does not exist it may name any leaf; callers confirm by
    /// scanning the leaf.
    pub(crate) fn leaf_of(&self, replica: u32, lamport: u64) -> Option<u32> {
        let &(key, leaf) = self.tail.get(replica as usize)?;
        // Most lookups are of recent characters, governed by the largest key.
        if leaf != u32::MAX && key <= lamport {
            return Some(leaf);
        }
        self.maps[replica as usize].get(lamport)
    }

    /// Records characters with lamports above every existing one of `replica`.
    pub(crate) fn note_new(&mut self, replica: u32, start: u64, leaf: u32) {
        self.grow(replica);
        let r = replica as usize;
        match self.tail[r] {
            (_, l) if l == leaf => return,
            // No key lies above `start`: the largest key is the one that
            // governs it, and `start` becomes the largest. (A split that
            // moved the new characters leaves an end marker above them.)
            (key, l) if l != u32::MAX && key <= start => {
                self.maps[r].insert_last(start, leaf);
                self.tail[r] = (start, leaf);
                return;
            }
            _ => {}
        }
        if self.leaf_of(replica, start) != Some(leaf) {
            self.maps[r].insert(start, leaf);
        }
        self.refresh_tail(replica);
    }

    /// Re-reads which leaf `replica`'s largest key points at. That key may
    /// lie above `start` (the end marker [`Index::set`] leaves), so the leaf
    /// just noted is not necessarily it.
    fn refresh_tail(&mut self, replica: u32) {
        let r = replica as usize;
        self.tail[r] = self.maps[r].last().unwrap_or((0, u32::MAX));
    }

    /// Points lamports `start..end` of `replica` at `leaf`, leaving every other
    /// lamport where it was.
    pub(crate) fn set(&mut self, replica: u32, start: u64, end: u64, leaf: u32) {
        self.grow(replica);
        let r = replica as usize;
        let keys = &mut self.maps[r];
        if keys.set_in_chunk(start, end, leaf) {
            if end >= self.tail[r].0 || self.tail[r].1 == u32::MAX {
                self.refresh_tail(replica);
            }
            return;
        }
        let after = keys.get(end);
        keys.remove(start, end);
        if keys.get(start) != Some(leaf) {
            keys.insert(start, leaf);
        }
        if let Some(after) = after
            && after != leaf
        {
            keys.insert(end, after);
        }
        // Only a change at or above the largest key can move it.
        if end >= self.tail[r].0 || self.tail[r].1 == u32::MAX {
            self.refresh_tail(replica);
        }
    }

    /// Points every range `(replica, start, end)` at `leaf`. Spans cut
    /// apart by deletes have adjacent lamports: sorted, neighbours join and
    /// most of a leaf's ranges become one update.
    pub(crate) fn set_ranges(&mut self, ranges: &mut [(u32, u64, u64)], leaf: u32) {
        let n = ranges.len();
        if n <= 32 && ranges.iter().all(|r| r.0 == ranges[0].0) {
            // One replica, as is usual: its ranges are sorted as
            // `u64`s (start and position), cheaper than the triples. The
            // order only decides which ranges join (a lamport too large
            // for the shift just joins less), never where one points.
            let mut keys = [0u64; 32];
            for (i, (k, r)) in keys.iter_mut().zip(ranges.iter()).enumerate() {
                *k = r.1 << 5 | i as u64;
            }
            keys[..n].sort_unstable();
            let replica = ranges[0].0;
            let (_, mut start, mut end) = ranges[(keys[0] & 31) as usize];
            for &k in &keys[1..n] {
                let (_, s, e) = ranges[(k & 31) as usize];
                if s == end {
                    end = e;
                } else {
                    self.set(replica, start, end, leaf);
                    (start, end) = (s, e);
                }
            }
            self.set(replica, start, end, leaf);
            return;
        }
        ranges.sort_unstable();
        let mut current = ranges[0];
        for &(replica, start, end) in &ranges[1..] {
            if replica == current.0 && start == current.2 {
                current.2 = end;
            } else {
                self.set(current.0, current.1, current.2, leaf);
                current = (replica, start, end);
            }
        }
        self.set(current.0, current.1, current.2, leaf);
    }

    pub(crate) fn entries(&self) -> usize {
        self.maps.iter().map(Keys::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;

    use super::{Index, Keys};

    /// The chunked keys answer like an ordered map through inserts, range
    /// removals and chunk splits and merges.
    #[test]
    fn keys_behave_like_an_ordered_map() {
        let mut keys = Keys::default();
        let mut model = BTreeMap::new();
        let mut next = numbers(7u64);
        for step in 0..20_000 {
            let a = next(5_000);
            if next(4) == 0 {
                let b = a + next(200);
                keys.remove(a, b);
                let stale: Vec<u64> = model.range(a..=b).map(|(&k, _)| k).collect();
                for k in stale {
                    model.remove(&k);
                }
            } else {
                keys.insert(a, step);
                model.insert(a, step);
            }
            let probe = next(5_100);
            let want = model.range(..=probe).next_back().map(|(_, &l)| l);
            assert_eq!(keys.get(probe), want, "step {step}, probe {probe}");
            assert_eq!(keys.last(), model.last_key_value().map(|(&k, &l)| (k, l)));
        }
        assert_eq!(keys.len(), model.len());
        for (c, chunk) in keys.chunks.iter().enumerate() {
            assert!(!chunk.is_empty() && chunk.len() <= super::CHUNK);
            assert_eq!(keys.firsts[c], chunk[0].0);
        }
    }

    /// Numbers below `m` from a seeded linear congruential generator.
    fn numbers(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |m| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        }
    }

    /// An index of 3,000 keys four apart, spread over `replicas`, five to a
    /// leaf.
    fn twin(replicas: u64) -> Index {
        let mut index = Index::default();
        for i in 0..3_000u64 {
            index.note_new((i % replicas) as u32, i * 4, (i / 5) as u32);
        }
        index
    }

    /// Points `start..end` of replica 0 at `leaf` the general way, as
    /// `set` does it when the splice cannot.
    fn set_the_general_way(index: &mut Index, start: u64, end: u64, leaf: u32) {
        let keys = &mut index.maps[0];
        let after = keys.get(end);
        keys.remove(start, end);
        if keys.get(start) != Some(leaf) {
            keys.insert(start, leaf);
        }
        if let Some(after) = after
            && after != leaf
        {
            keys.insert(end, after);
        }
        index.refresh_tail(0);
    }

    /// A range set in one splice answers like the generic removal and
    /// inserts it stands in for.
    #[test]
    fn setting_a_range_in_one_chunk_matches_the_general_way() {
        let (mut fast, mut slow) = (twin(1), twin(1));
        let mut next = numbers(11u64);
        for step in 0..5_000 {
            let start = next(12_500);
            let end = start + 1 + next(40);
            let leaf = next(700) as u32;
            fast.set(0, start, end, leaf);
            set_the_general_way(&mut slow, start, end, leaf);
            for probe in [
                start.saturating_sub(1),
                start,
                end - 1,
                end,
                end + 1,
                next(12_600),
            ] {
                assert_eq!(
                    fast.leaf_of(0, probe),
                    slow.leaf_of(0, probe),
                    "step {step}"
                );
            }
        }
        assert_eq!(fast.entries(), slow.entries());
    }

    /// Ranges set in ascending order, as a leaf split sets them (where
    /// the hint of the last one is taken), answer like the general way.
    #[test]
    fn ascending_ranges_match_the_general_way() {
        let (mut fast, mut slow) = (twin(1), twin(1));
        let mut next = numbers(5u64);
        for split in 0..400 {
            let leaf = 1_000 + split;
            let mut start = next(12_000);
            for _ in 0..next(16) {
                let end = start + 1 + next(6);
                fast.set(0, start, end, leaf);
                set_the_general_way(&mut slow, start, end, leaf);
                start = end + next(30);
            }
            for _ in 0..20 {
                let probe = next(12_600);
                assert_eq!(
                    fast.leaf_of(0, probe),
                    slow.leaf_of(0, probe),
                    "split {split}"
                );
            }
        }
        assert_eq!(fast.entries(), slow.entries());
    }

    /// A leaf's ranges, of one replica (sorted natively as `u64` keys) or
    /// of several, set at once (sorted, touching ones joined), answer like
    /// the same ranges set one by one.
    #[test]
    fn a_leafs_ranges_set_at_once_match_the_general_way() {
        for replicas in [1, 3] {
            ranges_set_at_once_match_the_general_way(replicas);
        }
    }

    fn ranges_set_at_once_match_the_general_way(replicas: u64) {
        let (mut fast, mut slow) = (twin(replicas), twin(replicas));
        let mut next = numbers(3 + replicas);
        for split in 0..600 {
            let leaf = 1_000 + split % 50;
            let mut ranges = Vec::new();
            let mut start = next(12_000);
            // Disjoint, as a leaf's spans are; touching ones sometimes,
            // which are joined when of one replica.
            for _ in 0..1 + next(32) {
                let end = start + 1 + next(6);
                ranges.push((next(replicas) as u32, start, end));
                start = end + next(3) * next(40);
            }
            let mut shuffled = ranges.clone();
            shuffled.reverse();
            fast.set_ranges(&mut shuffled, leaf);
            for &(r, s, e) in &ranges {
                slow.set(r, s, e, leaf);
            }
            for _ in 0..30 {
                let (r, probe) = (next(replicas) as u32, next(12_600));
                assert_eq!(
                    fast.leaf_of(r, probe),
                    slow.leaf_of(r, probe),
                    "split {split}"
                );
            }
            for &(r, s, e) in &ranges {
                for probe in [s.saturating_sub(1), s, e - 1, e] {
                    assert_eq!(fast.leaf_of(r, probe), slow.leaf_of(r, probe));
                }
            }
        }
        for keys in &fast.maps {
            for (c, chunk) in keys.chunks.iter().enumerate() {
                assert!(!chunk.is_empty() && chunk.len() <= super::CHUNK);
                assert_eq!(keys.firsts[c], chunk[0].0);
            }
        }
    }

    #[test]
    fn a_built_index_answers_like_one_grown_key_by_key() {
        let entries: Vec<(u32, u64, u32)> = (0..1_000u64)
            .map(|i| ((i / 400) as u32, i * 3, (i / 7) as u32))
            .collect();
        let built = Index::from_sorted(entries.iter().copied());
        let mut grown = Index::default();
        for &(r, lamport, leaf) in &entries {
            grown.note_new(r, lamport, leaf);
        }
        for r in 0..3 {
            for lamport in 0..3_000 {
                assert_eq!(built.leaf_of(r, lamport), grown.leaf_of(r, lamport));
            }
        }
        assert_eq!(built.entries(), grown.entries());
    }
}
