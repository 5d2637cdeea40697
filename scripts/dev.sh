#!/usr/bin/env bash
# Starts the whole local stack in the foreground: a MongoDB-protocol server, the Kong simulator
# (Admin API :8001, proxy :8000) with a demo upstream (:9000), a development OpenID provider
# (:8090) and Gatekey (:8080) with the demo policy, then prints a walkthrough of curl commands
# (deploy/local/walkthrough.sh). Ctrl-C stops everything.
#
#   scripts/dev.sh           start the stack and keep it running
#   scripts/dev.sh --check   start it, run every walkthrough command (each must succeed), stop
#   scripts/dev.sh --help    this text
#
# Needs the ports above free. Installs SecantusDB (python3 -m pip, the user's or system's
# site-packages) if missing and builds three debug binaries: about 8 minutes on a cold 2-core
# machine, seconds when built. Data: .cache/dev/mongo-data (kept between runs; --check keeps
# nothing). Logs: .cache/dev/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

check=""
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    -h | --help) script_help; exit 0 ;;
    *) unknown_arg "$arg" ;;
  esac
done

ensure_secantus
log "building gatekey, the Kong simulator and the dev OpenID provider"
cargo build --locked -p gatekey -p gatekey-kong-sim -p gatekey-dev-idp --bins
bin="${CARGO_TARGET_DIR:-target}/debug"
mkdir -p .cache/dev

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for port in 8000 8001 8080 8090 9000; do
  if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
    log "port ${port} is already in use; stop whatever listens there first"
    exit 1
  fi
done

if [ -n "$check" ]; then
  start_mongo ":memory:" .cache/dev/secantusd.log
  log "MongoDB-protocol server: ${MONGODB_URI} (in memory)"
else
  start_mongo .cache/dev/mongo-data .cache/dev/secantusd.log
  log "MongoDB-protocol server: ${MONGODB_URI} (data in .cache/dev/mongo-data)"
fi
pids+=("$MONGO_PID")

"$bin/gatekey-kong-sim" --admin-listen 127.0.0.1:8001 --proxy-listen 127.0.0.1:8000 \
  --config deploy/local/kong.yaml --echo-upstream 127.0.0.1:9000 >.cache/dev/kong-sim.log 2>&1 &
pids+=($!)
"$bin/gatekey-dev-idp" --listen 127.0.0.1:8090 >.cache/dev/dev-idp.log 2>&1 &
pids+=($!)
wait_for_port 8001 "Kong simulator"
wait_for_port 8090 "dev OpenID provider"

if [ -n "$check" ]; then
  GATEKEY_MONGODB__URI="$MONGODB_URI" "$bin/gatekey" serve --config deploy/local/gatekey.toml >.cache/dev/gatekey.log 2>&1 &
else
  GATEKEY_MONGODB__URI="$MONGODB_URI" "$bin/gatekey" serve --config deploy/local/gatekey.toml &
fi
pids+=($!)
wait_for_port 8080 "gatekey"

if [ -n "$check" ]; then
  log "running every command of deploy/local/walkthrough.sh"
  output=$(bash -euo pipefail deploy/local/walkthrough.sh 2>&1) || { printf '%s\n' "$output" >&2; exit 1; }
  printf '%s\n' "$output"
  for expected in "POST /orders with a read key: 403" "GET /orders with the revoked key: 401" '"action":"revoke"'; do
    grep -qF -- "$expected" <<<"$output" || { log "walkthrough output lacks: $expected"; exit 1; }
  done
  log "walkthrough: every command succeeded"
  exit 0
fi

cat <<'HELP'

Gatekey is running on http://127.0.0.1:8080 (API reference: http://127.0.0.1:8080/docs)
Logs of the other processes are in .cache/dev/. Try it (deploy/local/walkthrough.sh):

HELP
sed -e '1,/^$/d' -e 's/^/  /' deploy/local/walkthrough.sh
printf '\nPress Ctrl-C to stop everything.\n'
wait -n
