#!/usr/bin/env bash
# bench/crowd.sh — the `crowd` scenario of bench/run.sh: browsers, not a load tool. One node in its
# default mode (embedded queue, SQLite), token buckets at their defaults, real captcha drawings
# (the test answer still passes). PAGES pages open over OPEN_SECS before the start, wait IDLE_SECS
# (what idle pages cost is measured then), click within CLICK_SECS after it; 2 % hang up
# mid-purchase. Each page loads the page and its files, holds the live stream, and waits for its
# order or "sold out" on it. Exits non-zero when the books are wrong, a page load or stream open
# was answered 429, or an open page never heard "sold out".
# Knobs: PAGES=18000 UNITS=2000 OPEN_SECS=30 IDLE_SECS=30 CLICK_SECS=2 LINGER_SECS=120
#        ASSETS_EVERY=1 (one page in N loads the Wasm, JS and CSS; 1 = every page)
#        PAGES_PER_PROCESS=4000 (pages per load process, one thread each)
#        PROFILE=release|debug BUILD=0 OUT_DIR=… BENCH_PORT=3900
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh
pages=${PAGES:-18000}
units=${UNITS:-2000}
profile=${PROFILE:-release}
case "$profile" in
  release) build=(cargo build --release --workspace --bins); site=(cargo leptos build --release --split --frontend-only) ;;
  debug) build=(cargo build --workspace --bins); site=(cargo leptos build --split --frontend-only) ;;
  *) echo "PROFILE must be release or debug, not $profile" >&2; exit 2 ;;
esac
bin="target/$profile"
if [ "${BUILD:-1}" != 0 ]; then "${site[@]}"; "${build[@]}"; fi
[ -f target/site/pkg/flash-sale.wasm ] || { echo "no site in target/site: run ${site[*]}" >&2; exit 1; }

out=$(flash_bench_out "$profile")
port=${BENCH_PORT:-3900}
flash_bench_port_free "$port" || exit 1
# Every open page is an open file of the server's: all of this machine's limit.
ulimit -n "$(ulimit -Hn)"
# News for every open page goes out at once, and on loopback each write is a packet in the
# kernel's per-CPU backlog: at its default of 1,000 a burst to 18,000 pages was mostly dropped
# (/proc/net/softnet_stat) and each dropped packet resent 200 ms or more later. A server for a
# crowd has it raised, as this run does (as root; put back when it ends).
backlog_was=$(sysctl -n net.core.netdev_max_backlog 2>/dev/null || echo "")
want_backlog=$((pages * 2))
if [ -n "$backlog_was" ] && [ "$backlog_was" -lt "$want_backlog" ] && [ "$(id -u)" = 0 ]; then
  sysctl -qw net.core.netdev_max_backlog="$want_backlog"
  trap 'sysctl -qw net.core.netdev_max_backlog="$backlog_was"' EXIT
else
  backlog_was=""
fi
work="target/bench/crowd"
rm -rf "$work" && mkdir -p "$work"
export DATABASE_URL="sqlite://$work/crowd.db?mode=rwc"
export FLASH_SECRET
FLASH_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export FLASH_CAPTCHA_TEST_ANSWER=bench
env LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=flash-sale \
  FLASH_TEST_MODE=1 FLASH_CAPTCHA_REAL_DRAWINGS=1 FLASH_CAPTCHA_POOL=$((pages + pages / 10)) \
  FLASH_CAPTCHA_DRAWERS="$(nproc)" FLASH_DEMO_DATA=0 RUST_LOG=warn \
  "$bin/server" serve >"$out/crowd.server.log" 2>&1 &
server_pid=$!
trap 'kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; [ -z "$backlog_was" ] || sysctl -qw net.core.netdev_max_backlog="$backlog_was"; true' EXIT
flash_wait_port 127.0.0.1 "$port" 60 || { cat "$out/crowd.server.log" >&2; exit 1; }

"$bin/browsers" lead --base-url "http://127.0.0.1:$port" --pages "$pages" --units "$units" \
  --open-secs "${OPEN_SECS:-30}" --idle-secs "${IDLE_SECS:-30}" --click-secs "${CLICK_SECS:-2}" \
  --linger-secs "${LINGER_SECS:-120}" --assets-every "${ASSETS_EVERY:-1}" \
  --pages-per-process "${PAGES_PER_PROCESS:-4000}" --server-pid "$server_pid" --out "$out/crowd.json" --strict
echo "wrote $out/crowd.json and $out/crowd.svg"
