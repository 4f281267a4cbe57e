//! What token verification costs per `hello`: times `Verifier::verify` for
//! an HS256 token and an EdDSA one (the key pair in `tests/fixtures/`), one
//! key configured and, while rotating, the token's key second of two.
//!
//! `cargo run --release -p collab-bench --bin collab-verify`

use std::time::{Duration, Instant};

use collab_relay::Config;
use collab_relay::auth::{Role, Signer, Verifier};

const ROUNDS: u32 = 20_000;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

fn per_verify(verifier: &Verifier, token: &str) -> Duration {
    // Warm up, then take the best of five runs: the figure is the cost,
    // not the machine's noise.
    for _ in 0..1_000 {
        verifier.verify(Some(token), "notes").expect("verifies");
    }
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ROUNDS {
                std::hint::black_box(verifier.verify(Some(token), "notes").expect("verifies"));
            }
            start.elapsed() / ROUNDS
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let dir = std::env::temp_dir().join(format!("collab-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (old, new) = (dir.join("old"), dir.join("new"));
    std::fs::write(&old, b"an-old-secret-kept-while-rotating-keys").expect("written");
    std::fs::write(&new, b"the-current-secret-for-hs256-tokens!!!").expect("written");
    let ttl = Duration::from_secs(3600);
    let hs = Signer::hs256(b"the-current-secret-for-hs256-tokens!!!")
        .mint("bench", "notes", Role::Write, ttl)
        .expect("signed");
    let pem = std::fs::read(fixture("ed25519-a.pem")).expect("fixture key");
    let ed = Signer::eddsa_pem(&pem)
        .expect("key")
        .mint("bench", "notes", Role::Write, ttl)
        .expect("signed");

    let mut config = Config::for_tests();
    config.auth_secret_file = vec![new.clone()];
    let one_hs = Verifier::from_config(&config).expect("keys");
    config.auth_secret_file = vec![old.clone(), new.clone()];
    let two_hs = Verifier::from_config(&config).expect("keys");
    let mut config = Config::for_tests();
    config.auth_public_key_file = vec![fixture("ed25519-a.pub.pem")];
    let one_ed = Verifier::from_config(&config).expect("keys");
    config.auth_public_key_file = vec![fixture("ed25519-b.pub.pem"), fixture("ed25519-a.pub.pem")];
    let two_ed = Verifier::from_config(&config).expect("keys");
    for (name, verifier, token) in [
        ("HS256, one key", &one_hs, &hs),
        ("HS256, second of two keys", &two_hs, &hs),
        ("EdDSA, one key", &one_ed, &ed),
        ("EdDSA, second of two keys", &two_ed, &ed),
    ] {
        let took = per_verify(verifier, token);
        println!("{name}: {:.1} µs per hello", took.as_secs_f64() * 1e6);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
