#!/usr/bin/env bash
# Runs every test exactly as CI does: the cargo workspace, then the suites that need more than
# cargo (each installs what it needs into local caches and starts its own processes).
# Starts a MongoDB-protocol server unless MONGODB_URI is set; set KONG_ADMIN_URL to run the Kong
# client contract tests against a real Kong as well. `scripts/test.sh --cargo-only` skips the
# other suites for a quick local loop.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

started_mongo=""
cleanup() {
  if [ -n "$started_mongo" ]; then kill "$MONGO_PID" 2>/dev/null || true; wait "$MONGO_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

mkdir -p target/test-logs
if [ -z "${MONGODB_URI:-}" ]; then
  ensure_secantus
  start_mongo ":memory:" target/test-logs/secantusd.log
  started_mongo=1
  log "MongoDB-protocol server at ${MONGODB_URI}"
fi

log "cargo test (workspace)"
cargo test --workspace --no-fail-fast --locked 2>&1 | tee target/test-logs/cargo-test.log

[ "${1:-}" = "--cargo-only" ] && exit 0

suites=(
  "scripts/clients.sh --no-cargo-tests"
  scripts/backstage-e2e.sh
  scripts/plugin.sh
  scripts/validate-deploy.sh
  "scripts/bench.sh --short"
  scripts/fuzz.sh
)
for suite in "${suites[@]}"; do
  log "suite: $suite"
  $suite
done
log "all tests passed"
