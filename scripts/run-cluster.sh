#!/usr/bin/env bash
# Two relay nodes over one PostgreSQL, with the demo (docs/scale-out.md):
# builds the browser package, the CodeMirror page's bundle and the relay, starts PostgreSQL in a
# temporary directory (Debian's, installed when missing) unless
# DATABASE_URL names one, then relay A on http://localhost:8000 and relay B
# on http://localhost:8001 (COLLAB_PORT_A / COLLAB_PORT_B), both in demo
# mode. The demo's editors talk to the node that served the page, so to
# put the two editors on different nodes open one editor per window
# (?editors=1) on each node, with the same ?doc=NAME:
#   http://localhost:8000/?doc=shared&editors=1
#   http://localhost:8001/?doc=shared&editors=1&window=1
# and the edits of each reach the other through the database. Extra
# arguments go to both relays.
# Ctrl-C stops both (and the temporary PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
    echo "cargo is missing: install Rust from https://rustup.rs first" >&2
    exit 1
fi
bash crdt/wasm/scripts/build-pkg.sh
bash crdt/wasm/scripts/build-demo.sh ||
    echo "warning: the CodeMirror page (/codemirror.html) was not built; the textarea page works" >&2
cargo build --release -p collab-relay --bin collab-relay

# shellcheck source=postgres.sh
source scripts/postgres.sh
if [ -z "${DATABASE_URL:-}" ]; then
    start_postgres
    DATABASE_URL="$PG_URL"
    echo "PostgreSQL (temporary, removed on exit) at $DATABASE_URL"
fi
export DATABASE_URL

port_a="${COLLAB_PORT_A:-8000}"
port_b="${COLLAB_PORT_B:-8001}"
pids=()
keys=""
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    [ -n "$keys" ] && rm -rf "$keys"
    stop_postgres
}
trap cleanup EXIT INT TERM
# One token key for both nodes, as in production: a token minted by one
# node's /demo/token is valid on the other (a client moved between nodes).
keys="$(mktemp -d /tmp/collab-cluster-keys.XXXXXX)"
head -c 48 /dev/urandom | base64 >"$keys/secret"
for port in "$port_a" "$port_b"; do
    target/release/collab-relay --demo --store postgres --addr "0.0.0.0:$port" \
        --auth-secret-file "$keys/secret" "$@" &
    pids+=("$!")
done
printf '\nTwo relays on one database; one editor on each node:\n  node A: http://localhost:%s/?doc=shared&editors=1\n  node B: http://localhost:%s/?doc=shared&editors=1&window=1\nOpen one in each window and type in both.\n\n' "$port_a" "$port_b"
wait -n "${pids[@]}"
