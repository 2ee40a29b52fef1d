#!/usr/bin/env bash
# Builds and serves the app (debug build) with the embedded defaults: a SQLite file under data/
# and an in-process queue; the server seeds demo products and accounts into an empty database.
# Extra arguments go to `cargo leptos serve --split`. Set LEPTOS_SITE_ADDR to listen elsewhere.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$FLASH_ROOT"

"$FLASH_ROOT/scripts/bootstrap.sh"

addr="${LEPTOS_SITE_ADDR:-127.0.0.1:3000}"
host="${addr%:*}"
port="${addr##*:}"
if flash_port_open "$host" "$port"; then
  flash_warn "something already listens on $addr; stop it or set LEPTOS_SITE_ADDR=127.0.0.1:<port>"
fi
mkdir -p data

echo
echo "Flash Sale will be at http://$addr (demo shopper: alice / alice-demo-pass, admin: admin / admin-demo-pass)"
echo "(the first build takes a few minutes; stop the server with Ctrl-C)"
echo
# --split: the islands of the pages a shopper never sees load only where they are used.
exec cargo leptos serve --split "$@"
