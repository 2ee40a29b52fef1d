#!/usr/bin/env bash
# bench/run.sh scale: does a node add throughput? The same sale on 1, 2 and 4 validation nodes,
# each of our processes a "machine" of its own: a cgroup (v1 cpu controller) with the same CPU
# quota, 0.2 of a core by default; one stock owner and one consumer per two nodes (at least one
# of each). The load generator, nginx (in front of 2 and more nodes, by the routing cookie),
# RabbitMQ and MariaDB run outside the quotas. Reports, per run, orders/s, the efficiency
# (orders/s ÷ nodes ÷ the 1-node figure), our processes' CPU per sold unit (cpuacct), and the
# host's idle CPU during the sale (if it is near 0 the host saturated before the quotas did).
# Writes scale.json and scale.svg. Needs root (cgroups).
#   UNITS=20000 USERS=40000 QUOTA=0.2 PERIOD_US=10000 CONCURRENCY=1024 RUNS="1 2 4" PROFILE=release
#   BUILD=0 OUT_DIR=…
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh
units=${UNITS:-20000} users=${USERS:-40000} quota=${QUOTA:-0.2} runs=${RUNS:-1 2 4}
# Enough shoppers in flight that the quotas, not each request's wait, bound the rate.
concurrency=${CONCURRENCY:-1024}
profile=${PROFILE:-release}
bin="target/$profile"
port=${BENCH_PORT:-3900}
lb_port=$((port + 50))
[ -d /sys/fs/cgroup/cpu ] && [ -d /sys/fs/cgroup/cpuacct ] ||
  flash_die "needs the cgroup v1 cpu and cpuacct controllers under /sys/fs/cgroup"
if [ "${BUILD:-1}" != 0 ]; then
  if [ "$profile" = release ]; then cargo build --release --workspace --bins; else cargo build --workspace --bins; fi
fi
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || flash_apt_install nginx-light
"$FLASH_ROOT/scripts/services.sh" >/dev/null
out=$(flash_bench_out "$profile")
# A 10 ms period: at 100 ms a process over its quota stalled for up to 90 ms at a time, and the
# crowd's latency, not the quotas, set the pace.
period=${PERIOD_US:-10000}
quota_us=$(python3 -c "print(int($quota * $period))")
group=flash-scale

# shellcheck source=bench/nginx.sh
. bench/nginx.sh
cluster_env flash_bench_scale
lb_dir=$(mktemp -d)
stop() {
  nginx_stop "$lb_dir"
  bench/cluster.sh stop >/dev/null 2>&1 || true
  rm -rf "$lb_dir"
}
trap stop EXIT

# Each process (and its threads) into a cgroup of its own, with the quota.
confine() {
  local name=$1 pid=$2
  mkdir -p "/sys/fs/cgroup/cpu/$group/$name" "/sys/fs/cgroup/cpuacct/$group/$name"
  echo "$period" >"/sys/fs/cgroup/cpu/$group/$name/cpu.cfs_period_us"
  echo "$quota_us" >"/sys/fs/cgroup/cpu/$group/$name/cpu.cfs_quota_us"
  echo "$pid" >"/sys/fs/cgroup/cpu/$group/$name/cgroup.procs"
  echo "$pid" >"/sys/fs/cgroup/cpuacct/$group/$name/cgroup.procs"
}
# CPU nanoseconds used so far by the confined processes.
used_ns() {
  local total=0 f
  for f in /sys/fs/cgroup/cpuacct/$group/*/cpuacct.usage; do total=$((total + $(cat "$f"))); done
  echo "$total"
}
# Idle and total jiffies of the host.
host_cpu() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print $5 + $6, t }' /proc/stat; }

results=()
for n in $runs; do
  half=$(((n + 1) / 2))
  export NODES=$n STOCKS=$half CONSUMERS=$half
  bench/cluster.sh start >/dev/null
  rmdir /sys/fs/cgroup/cpu/$group/* /sys/fs/cgroup/cpuacct/$group/* 2>/dev/null || true
  for f in bench/.cluster/*.pid; do
    name=$(basename "$f" .pid)
    confine "$name" "$(cat "$f")"
  done
  set -a
  # shellcheck disable=SC1091
  . bench/.cluster/env
  set +a
  ring="" urls="" ids=""
  for k in $(seq 1 "$n"); do
    ring+="${ring:+,}node-$k=http://127.0.0.1:$((port + k))"
    urls+="${urls:+,}http://127.0.0.1:$((port + k))"
    ids+="${ids:+,}node-$k"
  done
  target=$urls extra=()
  if [ "$n" -gt 1 ]; then
    nginx_start "$lb_dir" "$ring" "$lb_port"
    target="http://127.0.0.1:$lb_port" extra=(--route-cookie-ring "$ids")
  fi
  read -r idle0 total0 < <(host_cpu)
  cpu0=$(used_ns)
  "$bin/loadgen" --base-url "$target" --units "$units" --users "$users" --concurrency "$concurrency" \
    --timeout-secs 10 --scenario "scale-$n" --out "$out/scale-$n.json" --strict --require-sold-out \
    "${extra[@]}"
  cpu1=$(used_ns)
  read -r idle1 total1 < <(host_cpu)
  results+=("$n $(( (cpu1 - cpu0) / 1000 )) $((idle1 - idle0)) $((total1 - total0))")
  nginx_stop "$lb_dir"
  bench/cluster.sh stop >/dev/null
done
rmdir /sys/fs/cgroup/cpu/$group/* /sys/fs/cgroup/cpuacct/$group/* 2>/dev/null || true

python3 - "$out" "$units" "$users" "$quota" "${results[@]}" <<'PY'
import json, sys
out, units, users, quota = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
runs = []
for line in sys.argv[5:]:
    n, cpu_us, idle, total = (int(x) for x in line.split())
    sale = json.load(open(f"{out}/scale-{n}.json"))
    runs.append({
        "nodes": n,
        "stock_owners": (n + 1) // 2,
        "consumers": (n + 1) // 2,
        "orders_per_second": round(sale["orders_per_second"], 1),
        "seconds_to_last_commit": sale["seconds_to_last_commit"],
        "cpu_per_unit_us": round(cpu_us / units, 1),
        "host_idle_percent": round(100 * idle / total, 1) if total else None,
        "lost": sale["lost"], "duplicates": sale["duplicates"], "oversold": sale["oversold"],
    })
one = next((r["orders_per_second"] for r in runs if r["nodes"] == 1), None)
for r in runs:
    r["efficiency"] = round(r["orders_per_second"] / r["nodes"] / one, 3) if one else None
report = {"scenario": "scale", "units": units, "users": users, "quota_cores_per_process": quota,
          "runs": runs}
json.dump(report, open(f"{out}/scale.json", "w"), indent=2)
# Throughput against nodes, beside the line of perfect scaling.
w, h, pad = 480, 300, 50
top = max([r["orders_per_second"] for r in runs] + [one * max(r["nodes"] for r in runs) if one else 0]) * 1.1
nmax = max(r["nodes"] for r in runs)
x = lambda n: pad + (w - 2 * pad) * n / nmax
y = lambda v: h - pad - (h - 2 * pad) * v / top
pts = " ".join(f"{x(r['nodes']):.1f},{y(r['orders_per_second']):.1f}" for r in runs)
ideal = f"{x(0):.1f},{y(0):.1f} {x(nmax):.1f},{y(one * nmax):.1f}" if one else ""
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
       f'<rect width="{w}" height="{h}" fill="white"/>',
       f'<text x="{w/2}" y="20" text-anchor="middle">orders/s against nodes ({quota} core each)</text>',
       f'<line x1="{pad}" y1="{h-pad}" x2="{w-pad}" y2="{h-pad}" stroke="black"/>',
       f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h-pad}" stroke="black"/>',
       f'<polyline points="{ideal}" fill="none" stroke="#bbb" stroke-dasharray="4"/>',
       f'<polyline points="{pts}" fill="none" stroke="#c33" stroke-width="2"/>']
for r in runs:
    svg.append(f'<circle cx="{x(r["nodes"]):.1f}" cy="{y(r["orders_per_second"]):.1f}" r="4" fill="#c33"/>')
    svg.append(f'<text x="{x(r["nodes"]):.1f}" y="{h-pad+16}" text-anchor="middle">{r["nodes"]}</text>')
    svg.append(f'<text x="{x(r["nodes"])+6:.1f}" y="{y(r["orders_per_second"])-6:.1f}">{r["orders_per_second"]:.0f}</text>')
svg.append(f'<text x="{w/2}" y="{h-10}" text-anchor="middle">nodes (dashed: the 1-node figure times the nodes)</text></svg>')
open(f"{out}/scale.svg", "w").write("\n".join(svg))
print(json.dumps(report, indent=2))
PY
echo "wrote $out/scale.json and $out/scale.svg"
