# shellcheck shell=bash
# Sourced by scripts/*.sh: the project's tool PATH and a few shared helpers. No side effects.
#
#   .tools/node_modules/.bin   wasm-opt from npm `binaryen@132` (Debian's binaryen 108 breaks hydration)
#   ~/.cargo/bin               cargo, cargo-leptos, wasm-bindgen
#
# To use the same tools in your own shell:  source scripts/env.sh

FLASH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export FLASH_ROOT

if [ -f "$HOME/.cargo/env" ] && ! command -v cargo >/dev/null 2>&1; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
case ":$PATH:" in
  *":$HOME/.cargo/bin:"*) ;;
  *) PATH="$HOME/.cargo/bin:$PATH" ;;
esac
case ":$PATH:" in
  *":$FLASH_ROOT/.tools/node_modules/.bin:"*) ;;
  *) PATH="$FLASH_ROOT/.tools/node_modules/.bin:$PATH" ;;
esac
export PATH

# Never let a package manager or Playwright try to download a browser build.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export DEBIAN_FRONTEND=noninteractive

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  _flash_c() { printf '\033[%sm' "$1"; }
else
  _flash_c() { :; }
fi
flash_log() { printf '%s[flash]%s %s\n' "$(_flash_c '1;34')" "$(_flash_c 0)" "$*"; }
flash_warn() { printf '%s[flash] warning:%s %s\n' "$(_flash_c '1;33')" "$(_flash_c 0)" "$*" >&2; }
flash_die() { printf '%s[flash] error:%s %s\n' "$(_flash_c '1;31')" "$(_flash_c 0)" "$*" >&2; exit 1; }

# Runs a command as root: directly when root, else through sudo when it exists.
flash_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    flash_die "need root (or sudo) to run: $*"
  fi
}

# apt-get install, with one `apt-get update` per script run.
FLASH_APT_UPDATED="${FLASH_APT_UPDATED:-}"
flash_apt_install() {
  command -v apt-get >/dev/null 2>&1 || flash_die "apt-get not found: install these by hand: $*"
  if [ -z "$FLASH_APT_UPDATED" ]; then
    flash_log "apt-get update"
    flash_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    FLASH_APT_UPDATED=1
  fi
  flash_log "apt-get install -y $*"
  flash_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# True when something accepts TCP connections on host:port (bash /dev/tcp, 2 s timeout).
flash_port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" >/dev/null 2>&1
}

# Waits up to $3 seconds for host:port to accept connections.
flash_wait_port() {
  local host=$1 port=$2 secs=${3:-30} i
  for ((i = 0; i < secs * 2; i++)); do
    flash_port_open "$host" "$port" && return 0
    sleep 0.5
  done
  return 1
}

# The benchmarks' output folder for a build PROFILE (created): debug runs are correctness checks,
# never figures, and stay out of the committed results. OUT_DIR overrides it.
flash_bench_out() {
  local out=${OUT_DIR:-$([ "$1" = debug ] && echo target/bench || echo bench/results)}
  mkdir -p "$out"
  echo "$out"
}

# A server's /metrics (URL = its base), with the bearer token when FLASH_METRICS_TOKEN is set:
# a server that is not on this machine answers only with it.
flash_metrics() {
  if [ -n "${FLASH_METRICS_TOKEN:-}" ]; then
    curl -fs -H "Authorization: Bearer $FLASH_METRICS_TOKEN" "$1/metrics"
  else
    curl -fs "$1/metrics"
  fi
}

# Fails, saying so, when a server already answers on 127.0.0.1:PORT (another benchmark?).
flash_bench_port_free() {
  if curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; then
    echo "127.0.0.1:$1 is already serving (another benchmark?): stop it or set BENCH_PORT" >&2
    return 1
  fi
}
