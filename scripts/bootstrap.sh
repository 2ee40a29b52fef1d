#!/usr/bin/env bash
# Installs what building, running and testing the project needs, and only what is missing.
# Idempotent and fast (a few seconds) when everything is present. Works on a fresh Debian machine
# that has rustup, cargo, node and npm; runs as root (or uses sudo).
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$FLASH_ROOT"

CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130   # must equal the `wasm-bindgen = "=…"` pin in Cargo.toml
BINARYEN_VERSION=132

command -v cargo >/dev/null 2>&1 || flash_die "cargo not found: install Rust with rustup first"
command -v rustup >/dev/null 2>&1 || flash_die "rustup not found: install Rust with rustup first"
command -v npm >/dev/null 2>&1 || flash_die "npm not found: install Node.js 20+ and npm first"
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
[ "$node_major" -ge 20 ] || flash_warn "Node.js $(node --version 2>/dev/null || echo '?') found; Playwright needs Node 20 or newer"

# --- C toolchain for crates with build scripts (and for `cargo install`) ----------------------
missing_apt=()
command -v cc >/dev/null 2>&1 || missing_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || missing_apt+=(pkg-config libssl-dev)
[ -x /usr/bin/chromium ] || missing_apt+=(chromium)
command -v wrk >/dev/null 2>&1 || missing_apt+=(wrk)
if [ "${#missing_apt[@]}" -gt 0 ]; then
  flash_apt_install "${missing_apt[@]}"
fi

# --- Rust: Wasm target, cargo-leptos, wasm-bindgen CLI ------------------------------------------
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  flash_log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

have_leptos="$(cargo leptos --version 2>/dev/null | awk '{print $NF}' || true)"
if [ "$have_leptos" != "$CARGO_LEPTOS_VERSION" ]; then
  flash_log "installing cargo-leptos $CARGO_LEPTOS_VERSION (found: ${have_leptos:-none}); this takes ~25 min on 2 cores"
  # A relaxed release profile for the install only: the tool's own lto + one codegen unit make its
  # final link ~10 min single-threaded; without them the install is far shorter and the tool the same.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
fi

have_bindgen="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have_bindgen" != "$WASM_BINDGEN_VERSION" ]; then
  flash_log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (found: ${have_bindgen:-none}); ~4 min"
  # Not --locked: its lock file wants a crate version the registry here does not serve.
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# --- wasm-opt (binaryen from npm, into the git-ignored .tools/) ----------------------------------
have_wasm_opt="$("$FLASH_ROOT/.tools/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -oE 'version [0-9]+' | awk '{print $2}' || true)"
if [ "$have_wasm_opt" != "$BINARYEN_VERSION" ]; then
  flash_log "npm install --prefix .tools binaryen@$BINARYEN_VERSION (found: ${have_wasm_opt:-none})"
  mkdir -p .tools
  npm install --prefix .tools --no-audit --no-fund --save-exact "binaryen@$BINARYEN_VERSION" >/dev/null
fi

# --- Playwright (end2end/node_modules); browsers come from Debian, never `playwright install` --
if [ ! -d end2end/node_modules ] \
  || { [ -f end2end/package-lock.json ] && [ end2end/package-lock.json -nt end2end/node_modules ]; }; then
  flash_log "installing end2end/ npm packages"
  if [ -f end2end/package-lock.json ]; then
    (cd end2end && npm ci --no-audit --no-fund)
  else
    (cd end2end && npm install --no-audit --no-fund)
  fi
  touch end2end/node_modules
fi

flash_log "toolchain ready: $(cargo leptos --version 2>/dev/null || echo 'cargo-leptos ?'), $(wasm-bindgen --version), wasm-opt $(wasm-opt --version | grep -oE 'version [0-9]+'), $(/usr/bin/chromium --version 2>/dev/null | head -1)"
