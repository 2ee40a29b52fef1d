#!/usr/bin/env bash
# bench/cluster.sh start|stop|status|restart ROLE-NAME — a scaled-out sale on loopback: 3
# validation nodes on the hash ring, 2 stock owners and 2 consumers, on the machine's RabbitMQ
# and MariaDB. State (pids, logs, the generated secrets) lives in bench/.cluster/.
#   NODES=3 STOCKS=2 CONSUMERS=2      how many of each
#   BASE_PORT=3100                    nodes on 3101.., stock owners on 3201..
#   PROFILE=release|debug             which build to run (release by default)
#   CLUSTER_DB=flash_cluster          MariaDB database (recreated by start)
#   FRESH=0                           keep the database and queue of an earlier start
#   TOKIO_WORKER_THREADS=1            runtime threads per process
#   FLASH_BATCH_LINGER_US=15000       how long a publish batch gathers orders
#   FLASH_RATE_LIMITS, FLASH_TEST_MODE, FLASH_CAPTCHA_TEST_ANSWER, ...: passed on to every process
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh
dir=bench/.cluster
nodes=${NODES:-3} stocks=${STOCKS:-2} consumers=${CONSUMERS:-2}
base=${BASE_PORT:-3100}
# A restart runs the build the cluster was started with.
profile=${PROFILE:-$(cat "$dir/profile" 2>/dev/null || echo release)}
db=${CLUSTER_DB:-flash_cluster}
bin="target/$profile/server"
# Seven processes share this machine's cores: one runtime thread each, as each would have on a
# machine of one core (two each switched threads for a quarter of the nodes' CPU); and a node,
# which sees a share of the orders one process would, gathers its publish batches for 15 ms
# instead of 2: broker messages and consumer transactions as large as one process's, which
# halved RabbitMQ's and MariaDB's CPU per unit (the purchase p99 stayed near 35 ms).
workers=${TOKIO_WORKER_THREADS:-1}
linger_us=${FLASH_BATCH_LINGER_US:-15000}

node_port() { echo $((base + $1)); }
stock_port() { echo $((base + 100 + $1)); }

# One process: NAME ROLE PORT [VAR=VALUE...]. Its pid goes to $dir/NAME.pid, output to NAME.log.
launch() {
  local name=$1 role=$2 port=$3
  shift 3
  # shellcheck disable=SC1091
  (set -a; . "$dir/env"; set +a; exec env LEPTOS_SITE_ADDR="127.0.0.1:$port" \
    TOKIO_WORKER_THREADS="$workers" FLASH_BATCH_LINGER_US="$linger_us" "$@" "$bin" "$role") \
    >>"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

wait_healthy() {
  local port=$1
  for _ in $(seq 1 150); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "nothing healthy on 127.0.0.1:$port; see $dir/*.log" >&2
  return 1
}

node_env() {
  local i=$1 ring="" stock="" k
  for k in $(seq 1 "$nodes"); do ring+="${ring:+,}node-$k=http://127.0.0.1:$(node_port "$k")"; done
  for k in $(seq 1 "$stocks"); do stock+="${stock:+,}http://127.0.0.1:$(stock_port "$k")"; done
  echo "FLASH_NODES=$ring" "FLASH_NODE_ID=node-$i" "FLASH_STOCK_NODES=$stock"
}

# Starts (or restarts) one process by name: node-N, stock-N or consumer-N.
start_one() {
  local name=$1 i=${1##*-}
  case "$name" in
    node-*)
      # shellcheck disable=SC2046
      launch "$name" node "$(node_port "$i")" $(node_env "$i")
      wait_healthy "$(node_port "$i")" ;;
    stock-*)
      launch "$name" stock "$(stock_port "$i")"
      wait_healthy "$(stock_port "$i")" ;;
    consumer-*) launch "$name" consumer 0 ;;
    *) echo "unknown process $name (node-N, stock-N, consumer-N)" >&2; return 2 ;;
  esac
}

alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

# SIGTERM (graceful: stock owners hand leases back, nodes drain their queue), or SIGKILL with -9.
stop_one() {
  local name=$1 sig=${2:-TERM} pid
  alive "$name" || { rm -f "$dir/$name.pid"; return 0; }
  pid=$(cat "$dir/$name.pid")
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$dir/$name.pid"
}

names() {
  local k
  for k in $(seq 1 "$stocks"); do echo "stock-$k"; done
  for k in $(seq 1 "$consumers"); do echo "consumer-$k"; done
  for k in $(seq 1 "$nodes"); do echo "node-$k"; done
}

start() {
  mkdir -p "$dir"
  if ls "$dir"/*.pid >/dev/null 2>&1; then
    echo "a cluster is already running (bench/cluster.sh stop first)" >&2
    return 1
  fi
  "$FLASH_ROOT/scripts/services.sh" >/dev/null
  if [ "$profile" = release ]; then cargo build --release --workspace --bins; else cargo build --workspace --bins; fi
  if [ "${FRESH:-1}" = 1 ] || [ ! -f "$dir/env" ]; then
    mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
    rm -f "$dir"/*.log
    cat >"$dir/env" <<ENV
DATABASE_URL=mysql://root@127.0.0.1:3306/$db
AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f
FLASH_QUEUE=flash.cluster.$(date +%s)
FLASH_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
FLASH_INTERNAL_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
FLASH_DEMO_DATA=${FLASH_DEMO_DATA:-0}
FLASH_TEST_MODE=${FLASH_TEST_MODE:-0}
FLASH_CAPTCHA_TEST_ANSWER=${FLASH_CAPTCHA_TEST_ANSWER:-}
FLASH_RATE_LIMITS=${FLASH_RATE_LIMITS:-on}
FLASH_PASS_TTL_MS=${FLASH_PASS_TTL_MS:-60000}
FLASH_CAPTCHA_TTL_MS=${FLASH_CAPTCHA_TTL_MS:-120000}
LEPTOS_SITE_ROOT=target/site
LEPTOS_OUTPUT_NAME=flash-sale
RUST_LOG=${RUST_LOG:-warn}
ENV
    chmod 600 "$dir/env"
  fi
  echo "$profile" >"$dir/profile"
  local name
  for name in $(names); do start_one "$name"; done
  status
}

status() {
  local name port
  for name in $(names); do
    case "$name" in
      node-*) port=" http://127.0.0.1:$(node_port "${name##*-}")" ;;
      stock-*) port=" http://127.0.0.1:$(stock_port "${name##*-}")" ;;
      *) port="" ;;
    esac
    if alive "$name"; then echo "$name up (pid $(cat "$dir/$name.pid"))$port"; else echo "$name down$port"; fi
  done
}

stop() {
  local name
  # Nodes first (no new orders), then consumers, then stock owners (which return their leases).
  for name in $(names | tac); do stop_one "$name"; done
  echo "cluster stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  kill) stop_one "${2:?kill NAME}" KILL ;;
  restart) stop_one "${2:?restart NAME}" "${3:-TERM}"; start_one "$2" ;;
  *) echo "usage: bench/cluster.sh start|stop|status|kill NAME|restart NAME [KILL]" >&2; exit 2 ;;
esac
