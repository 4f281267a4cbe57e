#!/usr/bin/env bash
# check-pkg.sh: proves pkg/ is a working npm package: `npm pack`s it,
# installs the tarball into a fresh empty project with CodeMirror (the
# versions crdt/wasm/e2e pins, for the `collab-crdt/codemirror` subpath and
# its peer dependencies), runs a Node.js smoke test there and type-checks
# TypeScript files that use the whole API against the installed package
# with `tsc --strict`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools.sh
source "$here/tools.sh"
root="$(cd "$wasm_crate_dir/../.." && pwd)"
pkg="$root/pkg"
fresh="$wasm_crate_dir/e2e/fresh"
tsc="$wasm_crate_dir/e2e/node_modules/.bin/tsc"

project="$(mktemp -d)"
trap 'rm -rf "$project"' EXIT
tarball="$(cd "$project" && npm pack --silent "$pkg")"
cd "$project"
npm init -y >/dev/null
pinned() { node -p "require('$wasm_crate_dir/e2e/package.json').devDependencies['$1']"; }
npm install --no-audit --no-fund --loglevel=error "./$tarball" \
    "@codemirror/state@$(pinned @codemirror/state)" "@codemirror/view@$(pinned @codemirror/view)"
cp "$fresh/smoke.mjs" "$fresh/usage.ts" "$fresh/codemirror.mts" "$fresh/tsconfig.json" .
node smoke.mjs
"$tsc" -p tsconfig.json
echo "npm pack + install in a fresh project: ok ($(tar -tzf "$tarball" | wc -l) files, tsc --strict clean)"
