#!/usr/bin/env bash
# Starts the whole local stack in the foreground: a MongoDB-protocol server, the Kong simulator
# (Admin API :8001, proxy :8000) with a demo upstream (:9000), a development OpenID provider
# (:8090) and Gatekey (:8080) with the demo policy. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_secantus
log "building gatekey, the Kong simulator and the dev OpenID provider"
cargo build --locked -p gatekey-server -p gatekey-kong-sim -p gatekey-dev-idp --bins
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

start_mongo .cache/dev/mongo-data .cache/dev/secantusd.log
pids+=("$MONGO_PID")
log "MongoDB-protocol server: ${MONGODB_URI} (data in .cache/dev/mongo-data)"

"$bin/gatekey-kong-sim" --admin-listen 127.0.0.1:8001 --proxy-listen 127.0.0.1:8000 \
  --config deploy/local/kong.yaml --echo-upstream 127.0.0.1:9000 >.cache/dev/kong-sim.log 2>&1 &
pids+=($!)
"$bin/gatekey-dev-idp" --listen 127.0.0.1:8090 >.cache/dev/dev-idp.log 2>&1 &
pids+=($!)
wait_for_port 8001 "Kong simulator"
wait_for_port 8090 "dev OpenID provider"

GATEKEY_MONGODB__URI="$MONGODB_URI" "$bin/gatekey" serve --config deploy/local/gatekey.toml &
pids+=($!)
wait_for_port 8080 "gatekey"

cat <<'HELP'

Gatekey is running on http://127.0.0.1:8080 (API reference: http://127.0.0.1:8080/docs)
Logs of the other processes are in .cache/dev/. Try it:

  # 1. a token for jane, member of payments-team (dev OpenID provider)
  TOKEN=$(curl -s -X POST http://127.0.0.1:8090/token -H 'content-type: application/json' \
    -d '{"sub":"jane","groups":["payments-team"],"aud":"gatekey"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

  # 2. the APIs jane may try
  curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/apis

  # 3. mint a 5-minute read key
  KEY=$(curl -s -X POST http://127.0.0.1:8080/v1/apis/orders/credentials \
    -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"scopes":["read"],"ttl_seconds":300,"purpose":"trying the orders API"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')

  # 4. call the API through the gateway (200), and a write route the key has no scope for (403)
  curl -s -H "apikey: $KEY" http://127.0.0.1:8000/orders
  curl -s -X POST -H "apikey: $KEY" http://127.0.0.1:8000/orders

  # 5. list and revoke
  curl -s -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/credentials

Press Ctrl-C to stop everything.
HELP
wait -n
