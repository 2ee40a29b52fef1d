#!/usr/bin/env bash
# bench/run.sh SCENARIO — runs one benchmark end to end: builds (release), starts what the
# scenario needs, runs the load generator, stops everything, and writes bench/results/SCENARIO.json
# (+ .svg plot). Scenarios:
#   sale   100,000 units, 200,000 distinct shoppers, RabbitMQ + MariaDB, token buckets off
#   seed   the seed's settings (token buckets 1/ms, burst 1,000) selling 10,000 units to 12,000 shoppers
#   ratio  wrk, in one run, against an axum hello-world and against the purchase path (all checks,
#          token buckets open): the winning path (units left) and the losing one (sold out), at
#          64 and 256 connections; each purchase request is a distinct shopper with a fresh pass
# Override sizes with UNITS=… USERS=… CONCURRENCY=… (e.g. for a quick try).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh
scenario=${1:?usage: bench/run.sh sale|seed|ratio}
case "$scenario" in
  sale) units=${UNITS:-100000}; users=${USERS:-200000}; limits=off ;;
  seed) units=${UNITS:-10000}; users=${USERS:-12000}; limits=on ;;
  ratio) users=${USERS:-60000}; limits=off; duration=${DURATION:-5s} ;;
  *) echo "unknown scenario: $scenario (sale|seed|ratio)" >&2; exit 2 ;;
esac
concurrency=${CONCURRENCY:-256}
"$FLASH_ROOT/scripts/services.sh" >/dev/null
cargo build --release -p server -p bench

out=bench/results
mkdir -p "$out"
port=${BENCH_PORT:-3900}
db="flash_bench_${scenario}"
mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
export DATABASE_URL="mysql://root@127.0.0.1:3306/$db"
export FLASH_SECRET
FLASH_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export FLASH_CAPTCHA_TEST_ANSWER=bench
queue="flash.bench.$scenario.$$"

env LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" \
  FLASH_QUEUE="$queue" FLASH_TEST_MODE=1 FLASH_RATE_LIMITS="$limits" FLASH_DEMO_DATA=0 \
  FLASH_PASS_TTL_MS=3600000 FLASH_CAPTCHA_TTL_MS=3600000 RUST_LOG=warn \
  target/release/server serve >"$out/$scenario.server.log" 2>&1 &
server_pid=$!
stop() { kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true; }
trap stop EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

if [ "$scenario" != ratio ]; then
  target/release/loadgen --base-url "http://127.0.0.1:$port" --units "$units" --users "$users" \
    --concurrency "$concurrency" --scenario "$scenario" --out "$out/$scenario.json"
  echo "wrote $out/$scenario.json and $out/$scenario.svg"
  exit 0
fi

HELLO_ADDR="127.0.0.1:$((port + 1))" target/release/hello >"$out/ratio.hello.log" 2>&1 &
hello_pid=$!
trap 'kill -TERM $hello_pid 2>/dev/null; stop' EXIT
sleep 0.5
# wrk's "99%  1.23ms" → 1.23 (in ms), and its requests per second.
p99_ms() { awk '$1=="99%" { v=$2; if (v ~ /us$/) { sub(/us/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms/,"",v) } else { sub(/s/,"",v); v*=1000 } print v }' "$1"; }
rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
non2xx() { awk '/Non-2xx or 3xx responses:/ { print $5 }' "$1"; }
json="{"
for c in 64 256; do
  for path in win lose; do
    [ "$path" = win ] && u=10000000 || u=0
    target/release/loadgen --base-url "http://127.0.0.1:$port" --units "$u" --users "$users" \
      --concurrency 256 --scenario "ratio-$path-$c" --prepare-wrk --out "$out/ratio-$path-$c.lua"
  done
  wrk -t2 -c"$c" -d"$duration" --latency "http://127.0.0.1:$((port + 1))/" >"$out/ratio-hello-$c.txt"
  wrk -t2 -c"$c" -d"$duration" --latency -s "$out/ratio-win-$c.lua" "http://127.0.0.1:$port" -- 2 >"$out/ratio-win-$c.txt"
  wrk -t2 -c"$c" -d"$duration" --latency -s "$out/ratio-lose-$c.lua" "http://127.0.0.1:$port" -- 2 >"$out/ratio-lose-$c.txt"
  h=$(rps "$out/ratio-hello-$c.txt"); w=$(rps "$out/ratio-win-$c.txt"); l=$(rps "$out/ratio-lose-$c.txt")
  n=$(non2xx "$out/ratio-win-$c.txt"); n=${n:-0}
  json+="\"c$c\": {\"hello_rps\": $h, \"purchase_rps\": $w, \"soldout_rps\": $l,"
  json+=" \"ratio_purchase\": $(awk -v a="$w" -v b="$h" 'BEGIN{printf "%.4f", a/b}'),"
  json+=" \"ratio_soldout\": $(awk -v a="$l" -v b="$h" 'BEGIN{printf "%.4f", a/b}'),"
  json+=" \"hello_p99_ms\": $(p99_ms "$out/ratio-hello-$c.txt"), \"purchase_p99_ms\": $(p99_ms "$out/ratio-win-$c.txt"),"
  json+=" \"soldout_p99_ms\": $(p99_ms "$out/ratio-lose-$c.txt"),"
  json+=" \"purchase_non_2xx\": $n},"
done
# The top-level keys are the 256-connection figures; both levels are kept under c64 / c256.
json+="\"connections\": [64, 256]}"
python3 - "$json" "$out/ratio.json" <<'PYJ'
import json, sys
d = json.loads(sys.argv[1])
d.update({k: v for k, v in d["c256"].items()})
open(sys.argv[2], "w").write(json.dumps(d, indent=2) + "\n")
print(json.dumps(d, indent=2))
PYJ
echo "wrote $out/ratio.json"
