#!/usr/bin/env bash
# bench/run.sh balancer: the share of shoppers' steps forwarded between nodes, without and with a
# load balancer in front. The loopback cluster of bench/cluster.sh (3 nodes, 2 stock owners, 2
# consumers) sells two sales in a row: first the load tool spreads the shoppers over the nodes
# round-robin (as a balancer that knows nothing of the ring would), then it sends everything to
# nginx, configured by `server balancer nginx` from the ring, with each shopper's routing cookie
# (the one their login sets). The nodes' /metrics count each step as handled by its owner, by a
# stand-in, or forwarded. Writes balancer.json.
#   UNITS=20000 USERS=40000 CONCURRENCY=256 PROFILE=release|debug BUILD=0 OUT_DIR=…
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh
units=${UNITS:-20000} users=${USERS:-40000} concurrency=${CONCURRENCY:-256}
profile=${PROFILE:-release}
bin="target/$profile"
port=${BENCH_PORT:-3900}
lb_port=$((port + 50))
if [ "${BUILD:-1}" != 0 ]; then
  if [ "$profile" = release ]; then cargo build --release --workspace --bins; else cargo build --workspace --bins; fi
fi
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || flash_apt_install nginx-light
"$FLASH_ROOT/scripts/services.sh" >/dev/null
out=$(flash_bench_out "$profile")
flash_bench_port_free "$lb_port" || exit 1

# shellcheck source=bench/nginx.sh
. bench/nginx.sh
cluster_env flash_bench_balancer
lb_dir=$(mktemp -d)
stop() {
  nginx_stop "$lb_dir"
  bench/cluster.sh stop >/dev/null
  rm -rf "$lb_dir"
}
trap stop EXIT
bench/cluster.sh start
set -a
# shellcheck disable=SC1091
. bench/.cluster/env
set +a
nodes=${NODES:-3}
ring="" urls="" ids=""
for k in $(seq 1 "$nodes"); do
  ring+="${ring:+,}node-$k=http://127.0.0.1:$((port + k))"
  urls+="${urls:+,}http://127.0.0.1:$((port + k))"
  ids+="${ids:+,}node-$k"
done

# The steps each node handled so far, by where they went: owner, stand_in, forwarded.
routed() {
  local k
  for k in $(seq 1 "$nodes"); do curl -s "http://127.0.0.1:$((port + k))/metrics"; done |
    awk '/^flash_routed_total/ { split($1, a, "\""); n[a[2]] += $2 }
         END { printf "{\"owner\": %d, \"stand_in\": %d, \"forwarded\": %d}\n", n["owner"], n["stand_in"], n["forwarded"] }'
}

sale() {
  local name=$1 base=$2
  shift 2
  "$bin/loadgen" --base-url "$base" --units "$units" --users "$users" \
    --concurrency "$concurrency" --timeout-secs 10 --scenario "$name" \
    --out "$out/$name.json" --strict --require-sold-out "$@"
}

before=$(routed)
sale balancer-none "$urls"
spread=$(routed)

nginx_start "$lb_dir" "$ring" "$lb_port"
sale balancer-nginx "http://127.0.0.1:$lb_port" --route-cookie-ring "$ids"
balanced=$(routed)

python3 - "$before" "$spread" "$balanced" "$out/balancer.json" "$units" "$users" <<'PY'
import json, sys
before, spread, balanced = (json.loads(x) for x in sys.argv[1:4])
def share(a, b):
    d = {k: b[k] - a[k] for k in b}
    total = sum(d.values())
    return d, (d["forwarded"] / total if total else 0.0)
(none_counts, none_share), (lb_counts, lb_share) = share(before, spread), share(spread, balanced)
report = {
    "scenario": "balancer",
    "units": int(sys.argv[5]),
    "users": int(sys.argv[6]),
    "without_balancer": {"steps": none_counts, "forwarded_share": round(none_share, 4)},
    "with_nginx": {"steps": lb_counts, "forwarded_share": round(lb_share, 4)},
}
json.dump(report, open(sys.argv[4], "w"), indent=2)
print(json.dumps(report, indent=2))
PY
echo "wrote $out/balancer.json"
