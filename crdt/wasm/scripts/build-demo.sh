#!/usr/bin/env bash
# build-demo.sh: bundles the CodeMirror demo page's script with esbuild, from
# npm packages pinned in crdt/wasm/e2e/package-lock.json (`npm ci`; esbuild's
# platform binary is one of those packages): www/codemirror-demo.js and what
# it imports (CodeMirror, the built package in pkg/) become
# www/build/codemirror-demo.js, which the relay serves; www/build/ is not in
# git. The package is copied into crdt/wasm/e2e/node_modules/collab-crdt
# first, as `npm install` would put it, so that the bundle, the Node.js tests
# of the binding and its peer dependencies all resolve from one folder.
# With --size it also prints the binding's own size (CodeMirror and the rest
# of the package left out), minified and gzipped, as docs/browser.md reports it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools.sh
source "$here/tools.sh"
root="$(cd "$wasm_crate_dir/../.." && pwd)"
e2e="$wasm_crate_dir/e2e"
esbuild="$e2e/node_modules/.bin/esbuild"

if [ ! -f "$root/pkg/collab_crdt_bg.wasm" ]; then
    echo "error: pkg/ is not built: run bash crdt/wasm/scripts/build-pkg.sh" >&2
    exit 1
fi
ensure_node
ensure_npm_deps "$e2e"

installed="$e2e/node_modules/collab-crdt"
rm -rf "$installed"
mkdir -p "$installed"
cp -r "$root/pkg/." "$installed/"

# NODE_PATH: the entry sits in www/, its packages in the e2e folder.
NODE_PATH="$e2e/node_modules" "$esbuild" "$root/www/codemirror-demo.js" \
    --bundle --format=esm --minify --sourcemap --target=es2022 \
    --outfile="$root/www/build/codemirror-demo.js" --log-level=warning
bundle="$root/www/build/codemirror-demo.js"
printf 'built %s: %s bytes, %s gzipped (CodeMirror, the client, the binding; the .wasm loads from /pkg/)\n' \
    "$bundle" "$(wc -c <"$bundle")" "$(gzip -9c "$bundle" | wc -c)"

if [ "${1:-}" = "--size" ]; then
    # What the binding adds to an application that already has CodeMirror
    # and the client: codemirror.js with text.js and the two helpers of
    # carets.js it uses.
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
    "$esbuild" "$installed/codemirror.js" --bundle --format=esm --minify --target=es2022 \
        --external:@codemirror/state --external:@codemirror/view \
        --outfile="$out/binding.js" --log-level=warning
    printf 'collab-crdt/codemirror alone: %s bytes minified, %s gzipped\n' \
        "$(wc -c <"$out/binding.js")" "$(gzip -9c "$out/binding.js" | wc -c)"
fi
