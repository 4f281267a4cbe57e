#!/usr/bin/env bash
# bench.sh: the browser package's benchmark against Yjs. Builds pkg/,
# installs the benchmark's npm packages (`npm ci`) and Chromium if missing,
# and prints the table of bench/bench.mjs (arguments are passed on:
# a trace name or path, --iters N, --json FILE). A benchmark, not a test.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools.sh
source "$here/tools.sh"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
ensure_chromium
ensure_node
bash "$here/build-pkg.sh" >&2
ensure_npm_deps "$wasm_crate_dir/bench"
exec node --expose-gc "$wasm_crate_dir/bench/bench.mjs" "$@"
