#!/usr/bin/env bash
# bench/soak.sh — a soak: SOAK_SECS (60) of the heaviest mixed load the box takes against one server
# while its memory is watched. Shoppers from a pool larger than the 10 s window (captcha → verify →
# purchase, abandoned captchas, bad passes) and logins under new names from new client addresses
# (127.0.0.0/8) keep adding keys to every in-memory map: the per-user limit, captchas, spent passes,
# pending orders, the per-name and per-address login buckets. Every second: the server's VmRSS and
# the map sizes (/metrics `flash_memory_entries`). After the load the sweeps must empty the maps
# again, and RSS at the end of the load must stay within SOAK_MAX_GROWTH (1.5) × RSS at its middle.
# Writes bench/results/soak.json (bench/results/soak-ci.json when SOAK_SECS < 60); exits non-zero
# when a check fails.
#   bench/soak.sh                               # release, embedded queue + SQLite, 60 s
#   SOAK_MODE=rabbit bench/soak.sh              # RabbitMQ + MariaDB, like bench/run.sh
#   SOAK_SECS=15 PROFILE=debug bench/soak.sh    # CI-sized (uses the debug build of cargo test)
# Other knobs: SOAK_CONCURRENCY (128), SOAK_USERS (100000; 20000 in debug), SOAK_ADDRESSES (new
# addresses per second, 20), SOAK_PORT (3950), SOAK_OUT.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh

secs=${SOAK_SECS:-60}
profile=${PROFILE:-release}
mode=${SOAK_MODE:-embedded}
port=${SOAK_PORT:-3950}
concurrency=${SOAK_CONCURRENCY:-128}
if [ "$profile" = release ]; then
  users=${SOAK_USERS:-100000}
  cargo build --release --workspace --bins
  bin=target/release
else
  users=${SOAK_USERS:-20000}
  cargo build --workspace --bins
  bin=target/debug
fi
out=bench/results
mkdir -p "$out"
if [ "$secs" -ge 60 ]; then report=${SOAK_OUT:-$out/soak.json}; else report=${SOAK_OUT:-$out/soak-ci.json}; fi
work=$(mktemp -d "${TMPDIR:-/tmp}/flash-soak.XXXXXX")

export FLASH_SECRET FLASH_CAPTCHA_TEST_ANSWER=soak
FLASH_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
server_env=(LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site FLASH_TEST_MODE=1
  FLASH_DEMO_DATA=0 RUST_LOG=warn
  # Token buckets on but wide open: the keyed login buckets matter here, not the global rate.
  FLASH_RATE_LIMITS=on FLASH_PURCHASE_PERIOD_US=1 FLASH_READ_PERIOD_US=1
  FLASH_SHOPPER_PURCHASE_PERIOD_US=1 FLASH_SHOPPER_READ_PERIOD_US=1 FLASH_CAPTCHA_PERIOD_MS=1
  FLASH_CAPTCHA_ROUTES_PERIOD_US=1 FLASH_SHOPPER_CAPTCHA_PERIOD_US=1
  # Short lives, so that many generations of captchas and passes come and go within the run.
  FLASH_CAPTCHA_TTL_MS=5000 FLASH_PASS_TTL_MS=5000)
case "$mode" in
  embedded)
    export DATABASE_URL="sqlite://$work/soak.db?mode=rwc"
    ;;
  rabbit)
    "$FLASH_ROOT/scripts/services.sh" >/dev/null
    db="flash_soak"
    mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
    export DATABASE_URL="mysql://root@127.0.0.1:3306/$db"
    server_env+=(AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" FLASH_QUEUE="flash.soak.$$")
    ;;
  *) echo "unknown SOAK_MODE: $mode (embedded|rabbit)" >&2; exit 2 ;;
esac

env "${server_env[@]}" "$bin/server" serve >"$work/server.log" 2>&1 &
server_pid=$!
stop() {
  kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT
for _ in $(seq 1 150); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done

status=0
"$bin/soak" --base-url "http://127.0.0.1:$port" --server-pid "$server_pid" --secs "$secs" \
  --concurrency "$concurrency" --users "$users" --addresses-per-sec "${SOAK_ADDRESSES:-20}" \
  --max-growth "${SOAK_MAX_GROWTH:-1.5}" --label "$mode, $profile build" --out "$report" || status=$?
if grep -qiE 'panicked|error' "$work/server.log"; then
  echo "server log (errors):" >&2
  grep -iE 'panicked|error' "$work/server.log" | head -20 >&2
fi
echo "wrote $report"
exit "$status"
