#!/usr/bin/env bash
# bench/run.sh cluster: what scaling out costs per sold unit. Three sales of the same size, one
# after the other in one run: one `server serve` process (the `sale` scenario), then the loopback
# cluster of bench/cluster.sh (3 nodes, 2 stock owners, 2 consumers) with the shoppers spread over
# the nodes round-robin, then the same cluster behind nginx (configured by `server balancer
# nginx` from the ring, each shopper with the routing cookie their login sets). Each sale's CPU is
# that of our processes, RabbitMQ (beam.smp) and MariaDB (and nginx, when in front) from the first
# purchase to the last commit, read from /proc by the load generator, whose own CPU is apart;
# nginx's is reported beside the sum, not in it (the one process has no balancer).
# Writes cluster.json (the sale behind nginx, with cpu_per_unit_us, single_cpu_per_unit_us and
# their quotient cpu_per_unit_ratio, and the round-robin figures beside) and cluster.svg.
#   UNITS=100000 USERS=200000 CONCURRENCY=256 PROFILE=release|debug BUILD=0 OUT_DIR=…
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh
units=${UNITS:-100000} users=${USERS:-200000} concurrency=${CONCURRENCY:-256}
profile=${PROFILE:-release}
bin="target/$profile"
port=${BENCH_PORT:-3900}
lb_port=$((port + 50))
timeout_secs=${TIMEOUT_SECS:-$([ "$profile" = debug ] && echo 10 || echo 2)}
if [ "${BUILD:-1}" != 0 ]; then
  if [ "$profile" = release ]; then cargo build --release --workspace --bins; else cargo build --workspace --bins; fi
fi
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || flash_apt_install nginx-light
"$FLASH_ROOT/scripts/services.sh" >/dev/null
out=$(flash_bench_out "$profile")
flash_bench_port_free "$lb_port" || exit 1
work=$(mktemp -d)

# 1. One process, in this run: the baseline.
OUT_DIR=$work BUILD=0 UNITS=$units USERS=$users CONCURRENCY=$concurrency \
  CPU_OF=server,beam.smp,mariadbd bench/run.sh sale
cp "$work/sale.json" "$out/cluster-single.json"

# shellcheck source=bench/nginx.sh
. bench/nginx.sh
cluster_env flash_bench_cluster
keep_logs() { for f in bench/.cluster/*.log; do cp "$f" "$out/cluster.${f##*/}"; done; }
stop() {
  nginx_stop "$work"
  bench/cluster.sh stop >/dev/null 2>&1 || true
  keep_logs
  rm -rf "$work"
}
trap stop EXIT
nodes=${NODES:-3}
ring="" urls="" ids=""
for k in $(seq 1 "$nodes"); do
  ring+="${ring:+,}node-$k=http://127.0.0.1:$((port + k))"
  urls+="${urls:+,}http://127.0.0.1:$((port + k))"
  ids+="${ids:+,}node-$k"
done

# SCENARIO BASE CPU_OF [loadgen options]: one sale on a fresh cluster.
cluster_sale() {
  local name=$1 base=$2 cpu_of=$3
  shift 3
  bench/cluster.sh start >/dev/null
  set -a
  # shellcheck disable=SC1091
  . bench/.cluster/env
  set +a
  "$bin/loadgen" --base-url "$base" --units "$units" --users "$users" \
    --concurrency "$concurrency" --timeout-secs "$timeout_secs" --scenario "$name" \
    --out "$out/$name.json" --strict --require-sold-out --cpu-of "$cpu_of" "$@"
}

# 2. Round-robin over the nodes, as a balancer that knows nothing of the ring would.
cluster_sale cluster-round-robin "$urls" server,beam.smp,mariadbd
bench/cluster.sh stop >/dev/null

# 3. nginx in front, by the routing cookie.
nginx_start "$work" "$ring" "$lb_port"
cluster_sale cluster "http://127.0.0.1:$lb_port" server,beam.smp,mariadbd,nginx \
  --route-cookie-ring "$ids"

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
load = lambda name: json.load(open(f"{out}/{name}.json"))
single, spread, lb = load("cluster-single"), load("cluster-round-robin"), load("cluster")
base = single["cpu_per_unit_us"]
# The sum the issue asks for (our processes, RabbitMQ, MariaDB); the balancer's own beside it.
by = lb["cpu_us_by_process"]
lb["cpu_per_unit_us"] = round((by["server"] + by["beam.smp"] + by["mariadbd"]) / lb["orders_in_db"], 1)
lb["balancer_cpu_per_unit_us"] = round(by.get("nginx", 0) / lb["orders_in_db"], 1)
lb["cpu_per_unit_with_balancer_us"] = round(lb["cpu_per_unit_us"] + lb["balancer_cpu_per_unit_us"], 1)
lb["single_cpu_per_unit_us"] = base
lb["cpu_per_unit_ratio"] = round(lb["cpu_per_unit_us"] / base, 3)
lb["single_orders_per_second"] = single["orders_per_second"]
lb["single_cpu_us_by_process"] = single["cpu_us_by_process"]
lb["without_balancer"] = {
    "cpu_per_unit_us": spread["cpu_per_unit_us"],
    "cpu_per_unit_ratio": round(spread["cpu_per_unit_us"] / base, 3),
    "cpu_us_by_process": spread["cpu_us_by_process"],
    "orders_per_second": spread["orders_per_second"],
    "lost": spread["lost"], "duplicates": spread["duplicates"], "oversold": spread["oversold"],
}
json.dump(lb, open(f"{out}/cluster.json", "w"), indent=2)
keys = ["orders_per_second", "cpu_per_unit_us", "balancer_cpu_per_unit_us",
        "cpu_per_unit_with_balancer_us", "single_cpu_per_unit_us", "cpu_per_unit_ratio",
        "single_orders_per_second", "lost", "duplicates", "oversold"]
print(json.dumps({k: lb[k] for k in keys} | {"without_balancer": lb["without_balancer"]}, indent=2))
PY
echo "wrote $out/cluster.json and $out/cluster.svg"
