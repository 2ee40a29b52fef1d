#!/usr/bin/env bash
# Runs every check and test of the project; exits non-zero on the first failure.
#   bootstrap + services → rustfmt → clippy (server + Wasm) → Wasm purity → cargo test → small sale, faults, soak → Playwright
# Prints the time of each step and the total. Non-interactive (the same under CI=true).
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$FLASH_ROOT"

# A fresh CI checkout never reuses incremental state: skip writing it (gigabytes, and time).
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

TOTAL_START=$SECONDS
# The whole run's budget on this machine kind once bootstrap has nothing to install.
GOAL_SECS=$((20 * 60))
CURRENT_STEP=""
STEP_START=$SECONDS
TIMINGS=()

fmt_secs() { printf '%dm %02ds' $(($1 / 60)) $(($1 % 60)); }

summary() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] && [ -n "$CURRENT_STEP" ]; then
    TIMINGS+=("$(printf '  %-34s %9s  FAILED (exit %d)' "$CURRENT_STEP" "$(fmt_secs $((SECONDS - STEP_START)))" "$rc")")
  fi
  echo
  echo "==================== test.sh summary ===================="
  local line
  for line in "${TIMINGS[@]}"; do echo "$line"; done
  local total=$((SECONDS - TOTAL_START))
  printf '  %-34s %9s  (goal: %s with the tools installed; %s)\n' "total" "$(fmt_secs "$total")" \
    "$(fmt_secs "$GOAL_SECS")" "$([ "$total" -le "$GOAL_SECS" ] && echo "met" || echo "over by $(fmt_secs $((total - GOAL_SECS)))")"
  if [ "$rc" -eq 0 ]; then
    echo "ALL CHECKS PASSED"
  else
    echo "FAILED in step: ${CURRENT_STEP:-?} (exit $rc)"
  fi
  return "$rc"
}
trap summary EXIT

# step NAME COMMAND...: runs one step, timed. A failure stops the script (set -e) and the EXIT
# trap reports which step failed.
step() {
  CURRENT_STEP=$1
  shift
  STEP_START=$SECONDS
  echo
  echo "==> [$CURRENT_STEP] $*"
  "$@"
  local took=$((SECONDS - STEP_START))
  TIMINGS+=("$(printf '  %-34s %9s  ok' "$CURRENT_STEP" "$(fmt_secs "$took")")")
  echo "<== [$CURRENT_STEP] ok in $(fmt_secs "$took")"
  CURRENT_STEP=""
}

# The browser bundle must not pull in server-only crates (they do not build for, or bloat, Wasm).
wasm_purity() {
  local tree offenders
  tree="$(cargo tree -p app --features hydrate --no-default-features \
    --target wasm32-unknown-unknown -e normal --prefix none)"
  offenders="$(awk '{print $1}' <<<"$tree" | grep -xE 'tokio|sqlx(-[a-z0-9-]+)?|lapin|mio' | sort -u || true)"
  if [ -n "$offenders" ]; then
    echo "Wasm purity check FAILED: the hydrate (browser) build of app depends on server-only crates:" >&2
    sed 's/^/    /' <<<"$offenders" >&2
    echo "Gate them behind the app's \"ssr\" feature (optional = true + \"dep:...\")." >&2
    echo "Inspect with: cargo tree -p app --features hydrate --no-default-features --target wasm32-unknown-unknown -e normal -i <crate>" >&2
    return 1
  fi
  echo "Wasm purity check passed: no tokio, sqlx, lapin or mio in the hydrate build ($(awk '{print $1}' <<<"$tree" | sort -u | wc -l) crates checked)."
}

# Playwright against a real server: a fresh SQLite database, RabbitMQ (so that a purchase is
# queued, then confirmed on the live stream), test mode (a fixed captcha answer), and a random
# secret for this run. cargo-leptos builds the Wasm and the site only; the server is
# the binary `cargo test --workspace` built (cargo-leptos would build it again with other
# features: minutes of compiling on a fresh checkout).
end_to_end() {
  if flash_port_open 127.0.0.1 3000; then
    echo "127.0.0.1:3000 is in use (a running dev server?): stop it first, the end-to-end tests need that port." >&2
    return 1
  fi
  mkdir -p data
  rm -f data/e2e.db data/e2e.db-*
  rm -rf end2end/test-results
  cargo leptos build --split --frontend-only
  cargo build --workspace --bins
  local secret pid rc=0
  secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  env \
    LEPTOS_SITE_ADDR=127.0.0.1:3000 \
    LEPTOS_SITE_ROOT=target/site \
    LEPTOS_SITE_PKG_DIR=pkg \
    LEPTOS_OUTPUT_NAME=flash-sale \
    DATABASE_URL='sqlite://data/e2e.db?mode=rwc' \
    AMQP_URL='amqp://guest:guest@127.0.0.1:5672/%2f' \
    FLASH_QUEUE="flash.e2e.$$" \
    FLASH_TEST_MODE=1 \
    FLASH_CAPTCHA_TEST_ANSWER=e2e-pass \
    FLASH_SECRET="$secret" \
    target/debug/server serve >target/e2e-server.log 2>&1 &
  pid=$!
  if ! flash_wait_port 127.0.0.1 3000 60; then
    echo "the server did not come up on 127.0.0.1:3000; its log:" >&2
    cat target/e2e-server.log >&2
    kill "$pid" 2>/dev/null
    return 1
  fi
  (cd end2end && npx playwright test) || rc=$?
  kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  [ "$rc" -eq 0 ] || { echo "end-to-end failed; the server's log: target/e2e-server.log" >&2; }
  return "$rc"
}

step "bootstrap" "$FLASH_ROOT/scripts/bootstrap.sh"
step "services" "$FLASH_ROOT/scripts/services.sh"
step "cargo fmt --check" cargo fmt --all -- --check
step "clippy (workspace, all targets)" cargo clippy --workspace --all-targets -- -D warnings
step "clippy (app, wasm32 hydrate)" cargo clippy -p app --lib --target wasm32-unknown-unknown \
  --no-default-features --features hydrate -- -D warnings
step "wasm purity" wasm_purity
step "cargo test" cargo test --workspace
# Correctness runs of the bench tools on the debug build (books checked; speed not judged).
step "sale (CI-sized)" env PROFILE=debug UNITS=2000 USERS=3000 "$FLASH_ROOT/bench/run.sh" sale
step "faults (cluster, kill -9, broker restart)" "$FLASH_ROOT/bench/faults.sh"
step "soak (CI-sized)" env SOAK_SECS=15 PROFILE=debug "$FLASH_ROOT/bench/soak.sh"
step "end-to-end (Playwright)" end_to_end
# Browsers at a small sale: pages held open on the live stream, real captcha drawings, buckets on.
# Debug builds: the Wasm is 12 MB (one page in 50 loads the files), and the load processes are
# slow (250 pages each, and time to hear the end).
step "abuse (wrk floods the door)" env PROFILE=debug BUILD=0 FLOOD_SECS=5 "$FLASH_ROOT/bench/abuse.sh"
step "crowd (CI-sized)" env PROFILE=debug BUILD=0 PAGES=500 UNITS=50 OPEN_SECS=5 IDLE_SECS=3 \
  LINGER_SECS=60 ASSETS_EVERY=50 PAGES_PER_PROCESS=250 "$FLASH_ROOT/bench/crowd.sh"
