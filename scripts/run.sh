#!/usr/bin/env bash
# The main job: builds the browser package into pkg/ (wasm-pack; installs
# the wasm tools on first use) and the CodeMirror page's bundle (esbuild
# from npm, build-demo.sh), builds and starts the relay on
# http://localhost:8000 (or COLLAB_ADDR / --addr), keeping documents in
# SQLite under ./data, serving the demo from www/ and the browser package
# from pkg/, in demo mode (--demo: the page mints its tokens at
# /demo/token; never use it in production, see docs/security.md). Extra
# arguments go to collab-relay (see --help). Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
    echo "cargo is missing: install Rust from https://rustup.rs first" >&2
    exit 1
fi
bash crdt/wasm/scripts/build-pkg.sh
# The CodeMirror page needs Node.js and npm; the textarea page does not.
bash crdt/wasm/scripts/build-demo.sh ||
    echo "warning: the CodeMirror page (/codemirror.html) was not built; the textarea page works" >&2
cargo build --release -p collab-relay --bin collab-relay

# The address to open: --addr or COLLAB_ADDR, 0.0.0.0 meaning this machine.
addr="${COLLAB_ADDR:-0.0.0.0:8000}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --addr) addr="${args[i + 1]:-$addr}" ;;
        --addr=*) addr="${args[i]#--addr=}" ;;
    esac
done
host="${addr%:*}"
port="${addr##*:}"
case "$host" in 0.0.0.0 | "[::]" | "") host=localhost ;; esac
if [ "$port" != 0 ]; then
    printf '\nOpen http://%s:%s/ in two browser windows and type in both (?doc=NAME picks a document);\n' "$host" "$port"
    printf 'http://%s:%s/codemirror.html is the same with CodeMirror.\n\n' "$host" "$port"
fi
exec target/release/collab-relay --demo "$@"
