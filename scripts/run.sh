#!/usr/bin/env bash
# The main job: builds and starts the relay on http://localhost:8000 (or
# COLLAB_ADDR / --addr), keeping documents in SQLite under ./data, serving
# the demo from www/ and the browser package from pkg/. Extra arguments go
# to collab-relay (see --help). Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
    echo "cargo is missing: install Rust from https://rustup.rs first" >&2
    exit 1
fi
cargo build --release -p collab-relay --bin collab-relay
exec target/release/collab-relay "$@"
