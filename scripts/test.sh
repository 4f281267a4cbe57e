#!/usr/bin/env bash
# Runs every check CI runs: formatting, clippy with warnings denied, all
# tests, the no_std build for a target without std, the trace replays, a
# smoke run of the comparison benchmark, and the browser package: its wasm
# tests in headless Chromium, the npm package installed in a fresh project
# (and its size budget), the CodeMirror page's bundle, the JS client's
# tests (undo and offline persistence among them), the demo's end-to-end
# tests against the real relay (the textarea and CodeMirror pages,
# collaborative undo and IndexedDB persistence included) and a smoke run
# of its benchmark. Installs what it needs and is
# missing (rust components and targets, wasm-pack and wasm-bindgen-cli from
# crates.io, Debian's chromium, chromium-driver and postgresql, npm packages
# by `npm ci`, Binaryen's wasm-opt among them), and starts a throw-away
# PostgreSQL cluster for the scale-out tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../crdt/wasm/scripts/tools.sh
source crdt/wasm/scripts/tools.sh
# No tool may download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup target list --installed | grep -q '^thumbv7em-none-eabihf$' || rustup target add thumbv7em-none-eabihf
ensure_wasm_tools
ensure_chromium
ensure_node

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
for manifest in crdt/fuzz/Cargo.toml crdt/compare/Cargo.toml crdt/wasm/Cargo.toml; do
    cargo fmt --manifest-path "$manifest" --check
done

step "cargo clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy --manifest-path crdt/wasm/Cargo.toml --target wasm32-unknown-unknown \
    --all-targets --all-features -- -D warnings
CARGO_TARGET_DIR=target/compare cargo clippy --release --manifest-path crdt/compare/Cargo.toml \
    --all-targets -- -D warnings

step "PostgreSQL for the scale-out tests (a throw-away cluster)"
# The PostgreSQL tests (store conformance, several relays in one process,
# the multi-relay soak) find the database through COLLAB_TEST_POSTGRES.
# One given from outside is used as it is; otherwise a cluster is started
# in a temporary directory (Debian's PostgreSQL installed when missing).
# Under CI the tests fail rather than skip when there is none.
# shellcheck source=postgres.sh
source scripts/postgres.sh
if [ -z "${COLLAB_TEST_POSTGRES:-}" ]; then
    if start_postgres; then
        export COLLAB_TEST_POSTGRES="$PG_URL"
        echo "PostgreSQL for the tests at $PG_URL"
    elif [ -n "${CI:-}" ]; then
        echo "error: no PostgreSQL for the scale-out tests" >&2
        exit 1
    else
        echo "warning: no PostgreSQL: the scale-out tests will skip (set COLLAB_TEST_POSTGRES)" >&2
    fi
fi

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
# The fanout example checks that every session of a document converged.
cargo run --quiet --release -p collab-crdt --features serde --example fanout -- --docs 10 --ops 200 --iters 1

step "comparison benchmark (crdt/compare), a smoke run"
# Its own workspace and target directory: diamond-types, yrs and automerge
# compile only here. One round of a sequential, a concurrent and a small
# synthetic trace; it fails when any library's text differs from the trace's.
CARGO_TARGET_DIR=target/compare cargo test --quiet --release --manifest-path crdt/compare/Cargo.toml
if [ -d "$traces" ]; then
    CARGO_TARGET_DIR=target/compare cargo run --quiet --release --manifest-path crdt/compare/Cargo.toml -- \
        --iters 1 --lib dt,collab "$traces/sveltecomponent.json.gz" "$traces/friendsforever.json.gz" synthetic:4:2000
fi

step "wasm tests in headless Chromium (wasm-pack test)"
(cd crdt/wasm && wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver --mode no-install .)

step "npm package (pkg/), installed in a fresh project"
bash crdt/wasm/scripts/build-pkg.sh
# A size budget, not a timing: the .wasm must stay under 150 KiB gzipped.
gz="$(gzip -9c pkg/collab_crdt_bg.wasm | wc -c)"
if [ "$gz" -ge $((150 * 1024)) ]; then
    echo "error: pkg/collab_crdt_bg.wasm is $gz bytes gzipped, over the 150 KiB budget" >&2
    exit 1
fi
ensure_npm_deps crdt/wasm/e2e
bash crdt/wasm/scripts/check-pkg.sh

step "the CodeMirror page's bundle (esbuild) and the binding's size"
bash crdt/wasm/scripts/build-demo.sh --size

step "JS client and textarea helpers (node --test)"
node --test --test-reporter=spec crdt/wasm/js/test/

step "browser end-to-end tests (both demo pages, the real relay, Chromium; the CodeMirror binding in Node.js)"
(cd crdt/wasm/e2e && node --test --test-concurrency=1 --test-reporter=spec)
echo "screenshots: target/browser-artifacts/"

step "browser benchmark (Node.js and Chromium, against Yjs and Loro), a smoke run"
if [ -d "$traces" ]; then
    bash crdt/wasm/scripts/bench.sh sveltecomponent --iters 1
fi

step "all checks passed"
