#!/usr/bin/env bash
# bench/abuse.sh — abuse at the door (issue 19), one node at its defaults (token buckets on,
# embedded queue, SQLite, demo data), with wrk as the attacker:
#   1. an anonymous flood: wrk, 64 connections, FLOOD_SECS, `GET /check` without a cookie, while a
#      logged-in shopper on another address solves a captcha every 3.5 s and buys each product
#      on sale once. The shopper must never be told `rate_limited` (no purchase or captcha
#      request is answered 429 at all); the flood must get 401s only.
#   2. a flood of page loads from one address (wrk from 127.0.0.1, 64 connections) while another
#      address (127.0.0.3) loads a page every 100 ms: the other address must get 200s only.
# Writes OUT_DIR/abuse.json and exits non-zero when a check fails.
# Knobs: PROFILE=release|debug BUILD=0 FLOOD_SECS=10 OUT_DIR=… BENCH_PORT=3960
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh
profile=${PROFILE:-release}
case "$profile" in
  release) build=(cargo build --release --workspace --bins) ;;
  debug) build=(cargo build --workspace --bins) ;;
  *) echo "PROFILE must be release or debug, not $profile" >&2; exit 2 ;;
esac
bin="target/$profile"
if [ "${BUILD:-1}" != 0 ]; then "${build[@]}"; fi
command -v wrk >/dev/null 2>&1 || flash_apt_install wrk
out=$(flash_bench_out "$profile")
port=${BENCH_PORT:-3960}
secs=${FLOOD_SECS:-10}
base="http://127.0.0.1:$port"
flash_bench_port_free "$port" || exit 1
work="target/bench/abuse"
rm -rf "$work" && mkdir -p "$work"
FLASH_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# Three seconds between a shopper's purchases (not ten): the shopper buys both demo products
# within one flood.
env LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=flash-sale \
  DATABASE_URL="sqlite://$work/abuse.db?mode=rwc" FLASH_SECRET="$FLASH_SECRET" \
  FLASH_TEST_MODE=1 FLASH_CAPTCHA_TEST_ANSWER=bench FLASH_DEMO_DATA=1 FLASH_USER_INTERVAL_MS=3000 \
  RUST_LOG=warn "$bin/server" serve >"$out/abuse.server.log" 2>&1 &
server_pid=$!
trap 'kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; true' EXIT
flash_wait_port 127.0.0.1 "$port" 60 || { cat "$out/abuse.server.log" >&2; exit 1; }

# `flash_http_requests_total{class,status}` of one class, as "status count" lines.
requests() {
  flash_metrics "$base" | awk -F'"' -v c="$1" '/^flash_http_requests_total\{/ && $2 == c { split($5, v, " "); print $4, v[2] }' | sort
}
# How many answers of STATUS a class got between two `requests` files.
added() { join -a 2 -e 0 -o 0,1.2,2.2 "$1" "$2" | awk -v s="$3" '$1 == s { n = $3 - $2 } END { print n + 0 }'; }
total_of() { awk '/requests in/ { print $1 }' "$1"; }

echo "abuse: ${secs} s of anonymous GET /check (wrk -c64) while a shopper buys"
requests purchase >"$work/purchase.before"
requests captcha >"$work/captcha.before"
wrk -t2 -c64 -d"${secs}s" "$base/check?productID=1" >"$work/flood-check.txt" &
wrk_pid=$!
"$bin/abuse" --base "$base" --from 127.0.0.2 --secs "$secs" --every-ms 3500 shopper --answer bench >"$work/shopper.json"
wait "$wrk_pid"
requests purchase >"$work/purchase.after"
requests captcha >"$work/captcha.after"

echo "abuse: ${secs} s of page loads from 127.0.0.1 (wrk -c64) while 127.0.0.3 loads pages"
requests page >"$work/page.before"
wrk -t2 -c64 -d"${secs}s" "$base/" >"$work/flood-pages.txt" &
wrk_pid=$!
"$bin/abuse" --base "$base" --from 127.0.0.3 --secs "$secs" --every-ms 100 pages --path / >"$work/pages.json"
wait "$wrk_pid"
requests page >"$work/page.after"

check_sent=$(total_of "$work/flood-check.txt")
check_401=$(added "$work/purchase.before" "$work/purchase.after" 401)
check_429=$(( $(added "$work/purchase.before" "$work/purchase.after" 429) + \
  $(added "$work/captcha.before" "$work/captcha.after" 429) ))
page_sent=$(total_of "$work/flood-pages.txt")
page_429=$(added "$work/page.before" "$work/page.after" 429)
python3 - "$work" "$out/abuse.json" "$check_sent" "${check_401:-0}" "${check_429:-0}" "$page_sent" "${page_429:-0}" <<'PY'
import json, sys
work, out, check_sent, check_401, check_429, page_sent, page_429 = sys.argv[1:]
shopper = json.load(open(f"{work}/shopper.json"))
pages = json.load(open(f"{work}/pages.json"))
report = {
    "scenario": "abuse",
    "anonymous_flood": {"requests": int(check_sent), "answered_401": int(check_401)},
    "purchase_class_429": int(check_429),
    "shopper": shopper,
    "page_flood": {"requests": int(page_sent), "answered_429": int(page_429)},
    "other_address_pages": pages,
}
report["checks"] = {
    "shopper_never_rate_limited": shopper["rate_limited"] == 0 and int(check_429) == 0,
    "shopper_bought": shopper["bought"] >= 1,
    # The shopper's own requests are purchase-class too: every one the flood sent was a 401.
    "flood_only_401": int(check_401) >= int(check_sent) > 0,
    "flood_of_pages_refused": int(page_429) > 0,
    "other_address_only_200": pages["refused"] == 0 and pages["statuses"].get("200", 0) > 0,
}
report["passed"] = all(report["checks"].values())
json.dump(report, open(out, "w"), indent=2)
print(json.dumps(report, indent=2))
sys.exit(0 if report["passed"] else 1)
PY
