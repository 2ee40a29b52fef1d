#!/usr/bin/env bash
# A 3-node RabbitMQ cluster on this machine, beside the machine's own broker (5672): nodes
# flash1..3@localhost on 127.0.0.1:5701..5703 (Erlang distribution on 25701..25703), each with
# its own data directory and log under target/rabbit-cluster/, one Erlang cookie of their own,
# no plugins. For quorum queues (FLASH_QUEUE_TYPE=quorum, AMQP_URL listing the nodes):
#   scripts/rabbit-cluster.sh start     # idempotent; prints the AMQP_URL to use
#   scripts/rabbit-cluster.sh kill N    # kill -9 node N (a broker lost mid-sale)
#   scripts/rabbit-cluster.sh restart N # start node N again; it rejoins the cluster
#   scripts/rabbit-cluster.sh status | url | stop
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

DIR=${RABBIT_CLUSTER_DIR:-$FLASH_ROOT/target/rabbit-cluster}
BASE_PORT=${RABBIT_CLUSTER_PORT:-5701}
NODES=3

node_name() { echo "flash$1@localhost"; }
port() { echo $((BASE_PORT + $1 - 1)); }

# Debian's /usr/sbin wrappers switch to the rabbitmq user; the scripts behind them run as the
# caller, with the cluster's own home (its Erlang cookie) and environment, not the machine
# broker's /etc/rabbitmq files.
BIN=${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}
with_env() {
  local n=$1
  shift
  env HOME="$DIR" \
    RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$DIR/node$n.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins" \
    RABBITMQ_NODENAME="$(node_name "$n")" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$(port "$n")" \
    RABBITMQ_DIST_PORT=$((20000 + $(port "$n"))) \
    RABBITMQ_MNESIA_BASE="$DIR/data" \
    RABBITMQ_LOG_BASE="$DIR/log" \
    RABBITMQ_PID_FILE="$DIR/node$n.pid" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    "$@"
}

ctl() {
  local n=$1
  shift
  with_env "$n" "$BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"
}

prepare() {
  mkdir -p "$DIR/data" "$DIR/log"
  if [ ! -f "$DIR/.erlang.cookie" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/.erlang.cookie"
  fi
  chmod 400 "$DIR/.erlang.cookie"
  echo '[].' >"$DIR/enabled_plugins"
  : >"$DIR/rabbitmq-env.conf"
  for n in $(seq 1 $NODES); do
    # Quorum queues on a small machine: no memory alarm before the machine's own broker's.
    printf 'listeners.tcp.default = 127.0.0.1:%s\nvm_memory_high_watermark.relative = 0.2\n' \
      "$(port "$n")" >"$DIR/node$n.conf"
  done
}

up() { flash_port_open 127.0.0.1 "$(port "$1")"; }

start_node() {
  local n=$1
  if up "$n"; then return 0; fi
  flash_log "starting RabbitMQ node $(node_name "$n") on 127.0.0.1:$(port "$n")"
  with_env "$n" "$BIN/rabbitmq-server" -detached
  flash_wait_port 127.0.0.1 "$(port "$n")" 120 ||
    flash_die "node $n did not open 127.0.0.1:$(port "$n"); see $DIR/log"
  ctl "$n" await_startup >/dev/null
}

join() {
  local n=$1
  if [ "$n" = 1 ] || ctl 1 cluster_status --formatter json 2>/dev/null |
    python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if '$(node_name "$n")' in d.get('running_nodes',[]) else 1)"; then
    return 0
  fi
  flash_log "joining $(node_name "$n") to $(node_name 1)"
  ctl "$n" stop_app >/dev/null
  ctl "$n" join_cluster "$(node_name 1)" >/dev/null
  ctl "$n" start_app >/dev/null
}

url() {
  local urls=""
  for n in $(seq 1 $NODES); do urls+="${urls:+,}amqp://guest:guest@127.0.0.1:$(port "$n")/%2f"; done
  echo "$urls"
}

case "${1:-start}" in
  start)
    prepare
    for n in $(seq 1 $NODES); do start_node "$n"; done
    for n in $(seq 2 $NODES); do join "$n"; done
    url
    ;;
  kill)
    n=${2:?which node}
    pid=$(cat "$DIR/node$n.pid")
    flash_log "kill -9 $(node_name "$n") (pid $pid)"
    kill -9 "$pid"
    ;;
  restart)
    n=${2:?which node}
    start_node "$n"
    ;;
  status)
    ctl 1 cluster_status
    ;;
  url)
    url
    ;;
  stop)
    for n in $(seq $NODES -1 1); do
      if up "$n"; then ctl "$n" stop >/dev/null || true; fi
    done
    ;;
  *)
    echo "usage: $0 start|kill N|restart N|status|url|stop" >&2
    exit 2
    ;;
esac
