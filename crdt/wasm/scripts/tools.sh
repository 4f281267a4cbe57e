# tools.sh: sourced by the build, test and run scripts. Each function
# installs one tool the browser package needs when it is missing, from the
# ordinary registries only (rustup, crates.io, Debian, npm): no tool is
# allowed to download its own browser or binaries.

wasm_crate_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# apt-get install, as root or through sudo; fails saying so when neither works.
apt_install() {
    local sudo=()
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo=(sudo)
    fi
    if [ "$(id -u)" = 0 ] || [ ${#sudo[@]} -gt 0 ]; then
        echo "installing $* (apt-get)" >&2
        local log
        log="$(mktemp)"
        if ! { "${sudo[@]}" apt-get update -qq &&
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            return 1
        fi
        rm -f "$log"
    else
        echo "error: $* missing and cannot be installed (not root, no sudo): apt-get install $*" >&2
        return 1
    fi
}

# The wasm32 target, wasm-bindgen-cli at exactly the version Cargo.lock
# pins (wasm-pack then uses it instead of fetching one), and wasm-pack.
ensure_wasm_tools() {
    rustup target list --installed | grep -q '^wasm32-unknown-unknown$' ||
        rustup target add wasm32-unknown-unknown
    local want
    want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' \
        "$wasm_crate_dir/Cargo.lock")"
    if [ "$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')" != "$want" ]; then
        echo "installing wasm-bindgen-cli $want (a few minutes)" >&2
        cargo install --quiet wasm-bindgen-cli --version "=$want"
    fi
    if ! command -v wasm-pack >/dev/null; then
        echo "installing wasm-pack (a few minutes)" >&2
        cargo install --quiet wasm-pack --version "=0.15.1"
    fi
    command -v wasm-strip >/dev/null || apt_install wabt || true
}

# Debian's Chromium and its ChromeDriver.
ensure_chromium() {
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        apt_install chromium chromium-driver
    fi
    # Colour emoji in the screenshots; the tests pass without it.
    [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || apt_install fonts-noto-color-emoji || true
}

# Node.js with npm.
ensure_node() {
    command -v node >/dev/null && command -v npm >/dev/null && return 0
    apt_install nodejs npm
}

# The npm dependencies of one folder, exactly as its package-lock.json
# says (`npm ci`), again only when the lock changed since the last install.
# PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core must not fetch a browser.
ensure_npm_deps() {
    local dir="$1" want
    want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    if [ "$(cat "$dir/node_modules/.collab-lock-sha256" 2>/dev/null)" != "$want" ]; then
        (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" >"$dir/node_modules/.collab-lock-sha256"
    fi
}
