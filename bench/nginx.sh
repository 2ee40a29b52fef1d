# Sourced by bench/balancer.sh and bench/scale.sh: the loopback cluster's shared settings, and
# nginx in front of its nodes, configured by `server balancer nginx` from the ring.

# The cluster every scenario runs: fresh database and queue, test mode, no buckets.
cluster_env() {
  export BASE_PORT=$port CLUSTER_DB=$1 PROFILE=$profile FRESH=1
  export FLASH_TEST_MODE=1 FLASH_CAPTCHA_TEST_ANSWER=bench FLASH_RATE_LIMITS=off FLASH_DEMO_DATA=0
  export FLASH_PASS_TTL_MS=3600000 FLASH_CAPTCHA_TTL_MS=3600000 RUST_LOG=warn
}

# nginx_start DIR RING PORT: nginx on 127.0.0.1:PORT for the nodes of RING (FLASH_NODES form).
nginx_start() {
  local dir=$1 ring=$2 lb=$3
  FLASH_NODES=$ring FLASH_NODE_ID=node-1 "$bin/server" balancer nginx --listen "127.0.0.1:$lb" \
    >"$dir/flash.conf"
  printf 'worker_processes 1;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\nevents { worker_connections 4096; }\nhttp { access_log off; include %s/flash.conf; }\n' \
    "$dir" "$dir" "$dir" >"$dir/nginx.conf"
  nginx -p "$dir" -c "$dir/nginx.conf"
  flash_wait_port 127.0.0.1 "$lb" 20 || flash_die "nginx did not open 127.0.0.1:$lb"
}

# nginx_stop DIR: stops the nginx started in DIR, if any.
nginx_stop() {
  if [ -f "$1/nginx.pid" ]; then
    kill -QUIT "$(cat "$1/nginx.pid")" 2>/dev/null || true
    sleep 1
    rm -f "$1/nginx.pid"
  fi
}
