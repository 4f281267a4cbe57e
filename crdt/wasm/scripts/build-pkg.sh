#!/usr/bin/env bash
# build-pkg.sh: builds the npm package `collab-crdt` into pkg/ at the
# repository root (or the folder given): wasm-pack compiles crdt/wasm with
# its size-tuned release profile, Binaryen's wasm-opt (from npm) shrinks it,
# custom sections are stripped, and the JS client, textarea binding, types,
# README and licence are added.
# Installs the tools it needs when they are missing (see tools.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools.sh
source "$here/tools.sh"
root="$(cd "$wasm_crate_dir/../.." && pwd)"
out="$(realpath -m "${1:-$root/pkg}")"

ensure_wasm_tools
ensure_node

cargo_version="$(awk -F'"' '/^version = / { print $2; exit }' "$wasm_crate_dir/Cargo.toml")"
npm_version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$wasm_crate_dir/js/package.json")"
if [ "$cargo_version" != "$npm_version" ]; then
    echo "error: crdt/wasm/Cargo.toml says $cargo_version, js/package.json says $npm_version" >&2
    exit 1
fi

# --mode no-install: use the tools above, never download any.
# Panic locations carry source paths into the module: shortened, so that a
# build is the same bytes whatever folder the repository is checked out in
# (and a few hundred bytes smaller).
rustc_hash="$(rustc -vV | sed -n 's/^commit-hash: //p')"
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$root=collab \
--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src=crates \
--remap-path-prefix=/rustc/$rustc_hash=rust"
wasm-pack --quiet build "$wasm_crate_dir" --release --target web --mode no-install --no-pack \
    --out-dir "$out" --out-name collab_crdt

# Shrink the module with Binaryen's wasm-opt, from npm (pinned in
# scripts/wasm-opt/package-lock.json, run by Node.js): Debian's binaryen 108
# breaks the externref table current wasm-bindgen emits. `-Os` without
# inlining (-aimfs 0 -ocimfs 0): LLVM already inlined, and binaryen's
# inlining grows the gzipped file. --low-memory-unused: Rust puts the stack
# first, so the low 1 KiB is never data. The features are those the
# wasm-bindgen output uses. Same input, same output (no randomness).
wasm="$out/collab_crdt_bg.wasm"
ensure_npm_deps "$here/wasm-opt"
node "$here/wasm-opt/node_modules/binaryen/bin/wasm-opt" "$wasm" -o "$wasm" \
    -Os -aimfs 0 -ocimfs 0 --low-memory-unused --ignore-implicit-traps --converge \
    --enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-multivalue --enable-mutable-globals

# Drop the custom sections (function names, producers): a third of the file.
if command -v wasm-strip >/dev/null; then
    wasm-strip "$wasm"
else
    echo "warning: wasm-strip (Debian package wabt) missing: the .wasm keeps its names" >&2
fi

cp "$wasm_crate_dir"/js/*.js "$wasm_crate_dir"/js/*.d.ts "$wasm_crate_dir/js/package.json" "$out/"
cp "$wasm_crate_dir/README.md" "$out/README.md"
cp "$root/LICENSE" "$out/LICENSE"
rm -f "$out/.gitignore"
printf 'built %s: %s bytes of wasm, %s gzipped\n' "$out" "$(wc -c <"$wasm")" "$(gzip -9c "$wasm" | wc -c)"
