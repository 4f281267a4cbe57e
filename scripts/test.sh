#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with warnings denied, all
# tests, the no_std build for a target without std, and the trace replays.
# Installs what it needs and is missing (rust components and targets).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup target list --installed | grep -q '^thumbv7em-none-eabihf$' || rustup target add thumbv7em-none-eabihf

traces="${COLLAB_TRACES:-$PWD/../shared/traces}"
if [ ! -d "$traces" ]; then
    if [ -n "${CI:-}" ]; then
        echo "error: editing traces not found in $traces (set COLLAB_TRACES)" >&2
        exit 1
    fi
    echo "warning: editing traces not found in $traces; trace tests will be skipped" >&2
fi
export COLLAB_TRACES="$traces"

step "cargo fmt"
cargo fmt --all --check
for manifest in crdt/fuzz/Cargo.toml crdt/compare/Cargo.toml; do
    cargo fmt --manifest-path "$manifest" --check
done

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test"
cargo test --workspace --all-features

step "no_std build (thumbv7em-none-eabihf)"
cargo build -p collab-crdt --no-default-features --target thumbv7em-none-eabihf
cargo build -p collab-crdt --no-default-features --features serde --target thumbv7em-none-eabihf

step "trace replays (release)"
if [ -d "$traces" ]; then
    for trace in "$traces"/*.json.gz; do
        cargo run --quiet --release -p collab-crdt --features serde --example replay -- "$trace" --iters 1
    done
fi

step "all checks passed"
