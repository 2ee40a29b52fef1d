#!/usr/bin/env bash
# scripts/fuzz.sh [TEST FILTER...] — runs the property-based fuzz tests (server/tests/fuzz/) long:
# FUZZ_CASES cases per property (default 100,000; the properties that talk HTTP run a tenth of
# that). Debug build by default (overflow checks on, and it reuses the `cargo test` build);
# PROFILE=release runs about ten times more cases per second.
#   scripts/fuzz.sh                          # everything, 100,000 cases (~10-15 min on 2 cores)
#   FUZZ_CASES=1000000 scripts/fuzz.sh pass_ # only the purchase-pass properties, a million cases
# A failure is shrunk to a minimal input and saved in server/tests/fuzz/*.proptest-regressions.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$FLASH_ROOT"
export FUZZ_CASES=${FUZZ_CASES:-100000}
profile=()
[ "${PROFILE:-debug}" = release ] && profile=(--release)
start=$SECONDS
cargo test -p server "${profile[@]}" --test fuzz -- "$@"
flash_log "fuzz: $FUZZ_CASES cases per property ($((FUZZ_CASES / 10)) over HTTP), no failure, $((SECONDS - start)) s"
