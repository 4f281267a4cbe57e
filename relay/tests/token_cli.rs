//! `collab-relay token`: the real binary prints one token, signed with the
//! key its settings name, that the relay's verifier accepts for exactly
//! what was asked.

use std::process::Command;

use collab_relay::Config;
use collab_relay::auth::{Role, Verifier, now_secs};

fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("collab-token-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).expect("written");
    path
}

#[test]
fn the_token_subcommand_prints_a_token_the_relay_accepts() {
    let secret = temp_file("secret", b"a-secret-for-the-token-subcommand-test\n");
    let output = Command::new(env!("CARGO_BIN_EXE_collab-relay"))
        .args([
            "token", "--doc", "notes", "--role", "read", "--sub", "alice", "--ttl", "1h",
        ])
        .env("COLLAB_AUTH_SECRET_FILE", &secret)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let token = token.trim_end();
    assert_eq!(token.split('.').count(), 3, "one JWT on stdout: {token:?}");

    let mut config = Config::for_tests();
    config.auth_secret_file = vec![secret.clone()];
    let verifier = Verifier::from_config(&config).unwrap();
    let claims = verifier.claims(token).expect("verifies");
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.doc, "notes");
    assert_eq!(claims.role, Role::Read);
    let ttl = claims.exp - now_secs();
    assert!((3590..=3600).contains(&ttl), "expires in an hour: {ttl}");
    assert!(verifier.verify(Some(token), "other").is_err());
    let _ = std::fs::remove_file(secret);
}

#[test]
fn without_a_signing_key_the_token_subcommand_fails_and_says_why() {
    let output = Command::new(env!("CARGO_BIN_EXE_collab-relay"))
        .args(["token", "--doc", "notes", "--sub", "alice"])
        .env_remove("COLLAB_AUTH_SECRET_FILE")
        .env_remove("COLLAB_AUTH_PRIVATE_KEY_FILE")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no signing key"));
}
