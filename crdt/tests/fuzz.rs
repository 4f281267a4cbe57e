//! Seeded fuzzing in every test run, a long `#[ignore]` variant, and the
//! replay of every crash input saved under `crdt/fuzz/fixtures/`.

use std::path::Path;

use collab_crdt::fuzzing::{fuzz_once, run_decode, run_ops};

#[test]
fn fuzz_once_seeded() {
    for seed in 0..300 {
        fuzz_once(seed, 600);
    }
}

#[test]
#[ignore = "runs until stopped; use for long fuzzing sessions"]
fn fuzz_forever() {
    let start: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    for seed in start.. {
        if seed % 1_000 == 0 {
            eprintln!("fuzz_forever: seed {seed}");
        }
        fuzz_once(seed, 4_000);
    }
}

#[test]
fn fixtures_do_not_crash() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fixtures");
    let mut replayed = 0;
    for (target, run) in [("ops", run_ops as fn(&[u8])), ("decode", run_decode)] {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable fixture dir").path();
            run(&std::fs::read(&path).expect("readable fixture"));
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no fixtures found under {}", dir.display());
}

#[test]
fn decode_survives_corruption_of_a_real_snapshot() {
    let mut doc = collab_crdt::Doc::new(1).unwrap();
    doc.insert(0, "hello wörld 😀").unwrap();
    doc.delete(2, 3).unwrap();
    let bytes = doc.encode();
    for i in 0..bytes.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] ^= flip;
            run_decode(&bad);
        }
        run_decode(&bytes[..i]);
    }
}
