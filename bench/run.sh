#!/usr/bin/env bash
# bench/run.sh SCENARIO — runs one benchmark end to end: builds, starts what the scenario needs
# (a server on 127.0.0.1:$BENCH_PORT in RabbitMQ + MariaDB mode, a fresh database), runs the load,
# stops everything, and writes bench/results/SCENARIO.json (+ SCENARIO.svg for sale and seed).
# Scenarios:
#   sale     100,000 units, 200,000 distinct shoppers, RabbitMQ + MariaDB, token buckets off.
#            Exits non-zero when the books are wrong: oversold or duplicates ≠ 0, orders ≠ units.
#   seed     the seed's settings (token buckets 1/ms, burst 1,000) selling 10,000 units to 12,000
#            shoppers. Exits non-zero on oversold or duplicates.
#   ratio    wrk, in one run, against an axum hello-world (before and after the purchase runs:
#            hello_rps and hello_p99_ms are the means of the two) and against the purchase path
#            (all checks, token buckets open): the winning path (units left) and the losing one
#            (sold out), at 64 and 256 connections; each purchase request is a distinct shopper
#            with a fresh pass. The top-level keys are the 256-connection figures. The
#            hello-world is also sent the sold-out run's own requests (*_same_requests keys), so
#            that wrk's cost per request is alike on both sides of that ratio.
#   captcha  the cost of one captcha drawn while the shopper waits, against one from the pool.
#   crowd    browsers, not a load tool: pages that load, hold the live stream and click
#            (bench/crowd.sh, which has its own knobs).
#   abuse    wrk floods the door (anonymous GET /check, one address's page loads) while a
#            shopper buys and another address loads pages (bench/abuse.sh).
#   balancer the share of steps forwarded between the loopback cluster's nodes, without and with
#            nginx in front (configured by `server balancer nginx`; bench/balancer.sh).
#   scale    the same sale on 1, 2 and 4 nodes, each process in a cgroup with the same CPU quota
#            (bench/scale.sh; root, cgroup v1).
#   cluster  CPU per sold unit: the sale on one process, then on the loopback cluster of
#            bench/cluster.sh (3 nodes, 2 stock owners, 2 consumers) round-robin and behind
#            nginx (bench/cluster-sale.sh). Same sizes and verdict as sale.
# Knobs (environment):
#   UNITS=… USERS=… CONCURRENCY=…   sizes (e.g. UNITS=2000 USERS=4000 for a quick try)
#   DURATION=4s                      length of each wrk run (ratio); USERS (500,000) must cover
#                                    the requests of one run: a shopper is never sent twice
#   PROFILE=release|debug            which build to run; debug is for CI correctness runs, and
#                                    writes to target/bench/ instead of bench/results/
#   OUT_DIR=…                        where the JSON, plot, logs and wrk outputs go
#   BUILD=0                          use the binaries already built (no cargo build)
#   TIMEOUT_SECS=2                   client timeout of one request (10 with PROFILE=debug)
#   PERF=1                           ratio: record a system-wide CPU profile (perf, cpu-clock)
#                                    during the 256-connection purchase runs → ratio-*.perf.txt
#   CPU_OF=server,beam.smp,mariadbd  sale: also report these processes' CPU per sold unit
#   BENCH_PORT=3900                  the server's port (the hello-world baseline takes the next)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh
scenario=${1:?usage: bench/run.sh sale|seed|ratio|cluster|crowd|captcha|abuse|balancer|scale}
if [ "$scenario" = crowd ]; then exec bench/crowd.sh; fi
if [ "$scenario" = abuse ]; then exec bench/abuse.sh; fi
if [ "$scenario" = balancer ]; then exec bench/balancer.sh; fi
if [ "$scenario" = scale ]; then exec bench/scale.sh; fi
if [ "$scenario" = cluster ]; then exec bench/cluster-sale.sh; fi
if [ "$scenario" = captcha ]; then
  [ "${BUILD:-1}" = 0 ] || cargo build --release --workspace --bins
  mkdir -p "${OUT_DIR:-bench/results}"
  target/release/captcha-cost | tee "${OUT_DIR:-bench/results}/captcha.json"
  exit 0
fi
case "$scenario" in
  sale) units=${UNITS:-100000}; users=${USERS:-200000}; limits=off ;;
  seed) units=${UNITS:-10000}; users=${USERS:-12000}; limits=on ;;
  ratio) users=${USERS:-500000}; limits=off; duration=${DURATION:-4s} ;;
  *) echo "unknown scenario: $scenario (sale|seed|ratio|cluster|crowd|captcha|abuse)" >&2; exit 2 ;;
esac
concurrency=${CONCURRENCY:-256}
profile=${PROFILE:-release}
# A client gives up on an answer after this long (wrk's default); unoptimised builds get longer.
timeout_secs=${TIMEOUT_SECS:-$([ "$profile" = debug ] && echo 10 || echo 2)}
case "$profile" in
  # The workspace's features, as `cargo test --workspace` resolves them: its binaries are reused.
  release) build=(cargo build --release --workspace --bins) ;;
  debug) build=(cargo build --workspace --bins) ;;
  *) echo "PROFILE must be release or debug, not $profile" >&2; exit 2 ;;
esac
bin="target/$profile"

"$FLASH_ROOT/scripts/services.sh" >/dev/null
if [ "$scenario" = ratio ] && ! command -v wrk >/dev/null 2>&1; then flash_apt_install wrk; fi
if [ "$scenario" = ratio ] && [ "${PERF:-0}" = 1 ] && ! command -v perf >/dev/null 2>&1; then
  flash_apt_install linux-perf
fi
if [ "${BUILD:-1}" != 0 ]; then "${build[@]}"; fi

out=$(flash_bench_out "$profile")
port=${BENCH_PORT:-3900}
flash_bench_port_free "$port" || exit 1
db="flash_bench_${scenario}"
mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
export DATABASE_URL="mysql://root@127.0.0.1:3306/$db"
export FLASH_SECRET
FLASH_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export FLASH_CAPTCHA_TEST_ANSWER=bench
queue="flash.bench.$scenario.$$"

env LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site LEPTOS_OUTPUT_NAME=flash-sale \
  AMQP_URL="amqp://guest:guest@127.0.0.1:5672/%2f" \
  FLASH_QUEUE="$queue" FLASH_TEST_MODE=1 FLASH_RATE_LIMITS="$limits" FLASH_DEMO_DATA=0 \
  FLASH_PASS_TTL_MS=3600000 FLASH_CAPTCHA_TTL_MS=3600000 RUST_LOG=warn \
  "$bin/server" serve >"$out/$scenario.server.log" 2>&1 &
server_pid=$!
hello_pid=""
stop() {
  [ -n "$hello_pid" ] && kill -TERM "$hello_pid" 2>/dev/null
  kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  return 0
}
trap stop EXIT
up=0
for _ in $(seq 1 300); do
  if curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then up=1; break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$up" != 1 ]; then
  echo "the server did not come up on 127.0.0.1:$port; its log:" >&2
  cat "$out/$scenario.server.log" >&2
  exit 1
fi

if [ "$scenario" != ratio ]; then
  strict=(--strict)
  [ "$scenario" = sale ] && strict+=(--require-sold-out)
  # Its exit status is the verdict on the books (set -e stops here when they are wrong).
  "$bin/loadgen" --base-url "http://127.0.0.1:$port" --units "$units" --users "$users" \
    --concurrency "$concurrency" --timeout-secs "$timeout_secs" --scenario "$scenario" \
    --out "$out/$scenario.json" "${strict[@]}" ${CPU_OF:+--cpu-of "$CPU_OF"}
  echo "wrote $out/$scenario.json and $out/$scenario.svg"
  exit 0
fi

HELLO_ADDR="127.0.0.1:$((port + 1))" "$bin/hello" >"$out/ratio.hello.log" 2>&1 &
hello_pid=$!
sleep 0.5
# wrk's "99%  1.23ms" → 1.23 (in ms) and its requests per second.
p99_ms() { awk '$1=="99%" { v=$2; if (v ~ /us$/) { sub(/us/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms/,"",v) } else { sub(/s/,"",v); v*=1000 } print v }' "$1"; }
rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
# The server's purchase answers by outcome ("accepted 123", "sold_out 45"), from /metrics: wrk
# does not count them (a Lua `response` callback would cost wrk more CPU than the server uses).
outcomes() {
  flash_metrics "http://127.0.0.1:$port" \
    | awk -F'"' '/^flash_purchases_total\{outcome="/ { split($3, v, " "); print $2, v[2] }' | sort
}
# What a run added: BEFORE AFTER (files of `outcomes`) → "accepted 123" lines.
outcomes_added() { join -a 2 -e 0 -o 0,1.2,2.2 "$1" "$2" | awk '$3 > $2 { print $1, $3 - $2 }'; }
as_json() { awk '{ printf "%s\"%s\": %s", sep, $1, $2; sep=", " }' "$1"; }
errors() { awk '/Socket errors:/ { gsub(/,/,""); n += $4+$6+$8+$10 } END { print n+0 }' "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a/b }'; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (a + b) / 2 }'; }
# The outcome of most answers of a run, for the sanity check below.
main_outcome() { awk '$2>m { m=$2; s=$1 } END { print s }' "$1"; }
perf_during() { # NAME: a system-wide profile of the next wrk run, by process and by symbol
  [ "${PERF:-0}" = 1 ] || return 0
  perf record -a -g -e cpu-clock -F 499 -o "$out/$1.perf.data" -- sleep "${duration%s}" >/dev/null 2>&1 &
  perf_pid=$!
  # The server alone, with DWARF call graphs: inclusive time per function.
  perf record -p "$server_pid" --call-graph dwarf,16384 -e cpu-clock -F 299 -o "$out/$1.server.perf.data" \
    -- sleep "${duration%s}" >/dev/null 2>&1 &
  perf_server_pid=$!
}
perf_report() {
  [ "${PERF:-0}" = 1 ] || return 0
  wait "$perf_pid" || true
  local data="$out/$1.perf.data"
  {
    echo "== CPU of the whole machine during the run, by process (the server is pid $server_pid)"
    perf report -i "$data" --no-children --sort pid --stdio -g none 2>/dev/null | grep '%' | head -25 || true
    echo "== by process and binary"
    perf report -i "$data" --no-children --sort comm,dso --stdio -g none 2>/dev/null | grep '%' | head -25 || true
    echo "== server: hottest symbols (self time, share of all samples)"
    perf report -i "$data" --no-children --pid "$server_pid" --sort dso,sym --stdio -g none 2>/dev/null | grep '%' | head -70 || true
    wait "$perf_server_pid" || true
    echo "== server alone: inclusive time by function (children), share of the server's samples"
    perf report -i "$out/$1.server.perf.data" --children --sort sym --stdio -g none 2>/dev/null \
      | grep '%' | grep -vE '\[k\]|std::rt::|std::sys::|core::ops::function|start_thread|clone3|__clone' | head -90 || true
  } >"$out/$1.perf.txt"
  rm -f "$data" "$out/$1.server.perf.data"
  echo "profile: $out/$1.perf.txt"
}

# The hello-world twice: a plain GET (wrk's own fast path: the baseline of the targets), and the
# sold-out run's script, the very requests of the purchase runs (one shopper each, cookie, body),
# which puts wrk's cost per request on both sides of the ratio alike.
hello_runs() { # CONNECTIONS SUFFIX ("" before the purchase runs, 2 after)
  wrk -t2 -c"$1" -d"$duration" --latency "http://127.0.0.1:$((port + 1))/" >"$out/ratio-hello$2-$1.txt"
  wrk -t2 -c"$1" -d"$duration" --latency -s "$out/ratio-lose-$1.lua" "http://127.0.0.1:$((port + 1))" -- 2 \
    >"$out/ratio-hello-same$2-$1.txt"
}
declare -A level
for c in 64 256; do
  for path in win lose; do
    [ "$path" = win ] && u=10000000 || u=0
    "$bin/loadgen" --base-url "http://127.0.0.1:$port" --units "$u" --users "$users" \
      --concurrency 256 --scenario "ratio-$path-$c" --prepare-wrk --out "$out/ratio-$path-$c.lua"
  done
  hello_runs "$c" ""
  for f in win lose; do
    outcomes >"$out/ratio-$f-$c.before"
    [ "$c" = 256 ] && perf_during "ratio-$f"
    wrk -t2 -c"$c" -d"$duration" --latency -s "$out/ratio-$f-$c.lua" "http://127.0.0.1:$port" -- 2 >"$out/ratio-$f-$c.txt"
    [ "$c" = 256 ] && perf_report "ratio-$f"
    outcomes >"$out/ratio-$f-$c.after"
    outcomes_added "$out/ratio-$f-$c.before" "$out/ratio-$f-$c.after" >"$out/ratio-$f-$c.outcomes"
  done
  # The baseline again after the purchase runs: this box's speed drifts by 20 % or more within
  # minutes, and the mean of a run before and one after is what the purchase runs are held to.
  hello_runs "$c" 2
  for f in win lose; do
    sent=$(awk '/ requests in / { print $1 }' "$out/ratio-$f-$c.txt")
    if [ "$sent" -gt "$users" ]; then
      echo "ratio-$f-$c: $sent requests for $users shoppers: some were sent twice; raise USERS" >&2
      exit 1
    fi
    s=$(main_outcome "$out/ratio-$f-$c.outcomes")
    want=accepted; [ "$f" = lose ] && want=sold_out
    if [ "$s" != "$want" ]; then
      echo "ratio-$f-$c: most answers were $s, not $want: the run measured the wrong path" >&2
      cat "$out/ratio-$f-$c.txt" >&2
      exit 1
    fi
  done
  h1=$(rps "$out/ratio-hello-$c.txt"); h2=$(rps "$out/ratio-hello2-$c.txt")
  h=$(mean "$h1" "$h2"); w=$(rps "$out/ratio-win-$c.txt"); l=$(rps "$out/ratio-lose-$c.txt")
  s1=$(rps "$out/ratio-hello-same-$c.txt"); s2=$(rps "$out/ratio-hello-same2-$c.txt"); hs=$(mean "$s1" "$s2")
  level[$c]="\"hello_rps\": $h, \"purchase_rps\": $w, \"soldout_rps\": $l,
    \"ratio_purchase\": $(ratio "$w" "$h"), \"ratio_soldout\": $(ratio "$l" "$h"),
    \"hello_rps_before_after\": [$h1, $h2],
    \"hello_same_requests_rps\": $hs, \"hello_same_requests_rps_before_after\": [$s1, $s2],
    \"ratio_purchase_same_requests\": $(ratio "$w" "$hs"), \"ratio_soldout_same_requests\": $(ratio "$l" "$hs"),
    \"hello_p99_ms\": $(mean "$(p99_ms "$out/ratio-hello-$c.txt")" "$(p99_ms "$out/ratio-hello2-$c.txt")"),
    \"purchase_p99_ms\": $(p99_ms "$out/ratio-win-$c.txt"),
    \"soldout_p99_ms\": $(p99_ms "$out/ratio-lose-$c.txt"),
    \"purchase_outcomes\": {$(as_json "$out/ratio-win-$c.outcomes")},
    \"soldout_outcomes\": {$(as_json "$out/ratio-lose-$c.outcomes")},
    \"socket_errors\": $(errors "$out"/ratio-{hello,hello2,hello-same,hello-same2,win,lose}-"$c".txt)"
done
cat >"$out/ratio.json" <<JSON
{
  "scenario": "ratio",
  "duration": "$duration",
  "connections": 256,
  ${level[256]},
  "c64": {
    ${level[64]}
  },
  "c256": {
    ${level[256]}
  }
}
JSON
# The prepared requests are hundreds of megabytes and good for one run only (their passes are spent).
rm -f "$out"/ratio-*.requests
cat "$out/ratio.json"
echo "wrote $out/ratio.json"
