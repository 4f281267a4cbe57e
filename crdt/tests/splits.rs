//! Leaf splits wherever an edit falls: random edits all over a document
//! big enough for a deep tree keep its text equal to a plain string edited
//! the same way, its invariants (index, leaf chain, counts) intact, and a
//! merged replica equal.

use collab_crdt::Doc;

/// A deterministic generator, so that a failure replays.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// Removes `len` characters from `pos` of a string indexed by characters.
fn model_delete(model: &mut Vec<char>, pos: usize, len: usize) {
    model.drain(pos..pos + len);
}

#[test]
fn random_edits_split_leaves_and_keep_the_text() {
    for seed in 1..=4u64 {
        let mut rng = Lcg(seed);
        let mut doc = Doc::new(seed).unwrap();
        let mut model: Vec<char> = Vec::new();
        for step in 0..6_000 {
            let len = model.len();
            let roll = rng.below(10);
            if roll < 6 || len < 10 {
                // Short inserts at random points: every one in the middle
                // of a span cuts it, so leaves fill with small spans.
                let pos = rng.below(len + 1);
                let text: String = (0..1 + rng.below(3))
                    .map(|i| char::from(b'a' + ((step + i) % 26) as u8))
                    .collect();
                doc.insert(pos, &text).unwrap();
                for (i, ch) in text.chars().enumerate() {
                    model.insert(pos + i, ch);
                }
            } else if roll < 9 {
                let pos = rng.below(len);
                let n = 1 + rng.below((len - pos).min(4));
                doc.delete(pos, n).unwrap();
                model_delete(&mut model, pos, n);
            } else {
                let pos = rng.below(len);
                let n = 1 + rng.below((len - pos).min(3));
                doc.replace(pos, n, "é").unwrap();
                model_delete(&mut model, pos, n);
                model.insert(pos, 'é');
            }
            if step % 500 == 0 {
                doc.check().unwrap();
            }
        }
        doc.check().unwrap();
        assert_eq!(doc.text(), model.iter().collect::<String>());
        let mut replica = Doc::new(seed + 100).unwrap();
        replica.merge_from(&doc).unwrap();
        replica.check().unwrap();
        assert_eq!(replica.text(), doc.text());
    }
}
