#!/usr/bin/env bash
# Runs every test exactly as CI does: the cargo workspace, then the suites that need more than
# cargo (each installs what it needs and starts its own processes on free loopback ports).
# Starts a MongoDB-protocol server unless MONGODB_URI is set; set KONG_ADMIN_URL to run the Kong
# client contract tests against a real Kong as well.
#
#   scripts/test.sh                everything (what CI runs)
#   scripts/test.sh --cargo-only   only `cargo test --workspace`, for a quick local loop
#   scripts/test.sh --help         this text
#
# Time and disk: see the README ("Prerequisites"); a cold run on a 2-core machine takes about
# 25 minutes, a warm one about 12. What each suite installs, and where, is listed there too.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

cargo_only=""
for arg in "$@"; do
  case "$arg" in
    --cargo-only) cargo_only=1 ;;
    -h | --help) script_help; exit 0 ;;
    *) unknown_arg "$arg" ;;
  esac
done

started_mongo="" early_installs=""
cleanup() {
  if [ -n "$started_mongo" ]; then kill "$MONGO_PID" 2>/dev/null || true; wait "$MONGO_PID" 2>/dev/null || true; fi
  # The installs run as a process group of their own: stopping it stops npm and apt-get too.
  if [ -n "$early_installs" ]; then kill -- "-$early_installs" 2>/dev/null || true; fi
}
trap cleanup EXIT

mkdir -p target/test-logs
# Also with a MongoDB of your own: the bench's unit tests start SecantusDB through its launcher.
ensure_secantus
if [ -z "${MONGODB_URI:-}" ]; then
  start_mongo ":memory:" target/test-logs/secantusd.log
  started_mongo=1
  log "MongoDB-protocol server at ${MONGODB_URI}"
fi

# Installs that need no Rust (downloads, mostly) run beside the cargo build and tests: Debian's
# Chromium and the Backstage test backend's node_modules. The suites find them in place; if these
# failed, each suite installs again and reports its own error.
if [ -z "$cargo_only" ]; then
  set -m # a background job of its own process group, whose id is its pid
  (ensure_chromium && scripts/backstage-e2e.sh --install-only) </dev/null >target/test-logs/early-installs.log 2>&1 &
  early_installs=$!
  set +m
  log "installing Chromium and the Backstage test backend in the background (target/test-logs/early-installs.log)"
fi

# The binaries the end-to-end tests start, built here once with this shell's environment (the
# test rig's own build is then a no-op).
log "cargo build (the binaries the tests start)"
cargo build --locked -p gatekey -p gatekey-kong-sim -p gatekey-dev-idp --bins

log "cargo test (workspace)"
cargo test --workspace --no-fail-fast --locked 2>&1 | tee target/test-logs/cargo-test.log

[ -n "$cargo_only" ] && exit 0

if ! wait "$early_installs"; then
  log "the background installs failed (target/test-logs/early-installs.log); the suites install again"
fi
early_installs=""

suites=(
  "scripts/dev.sh --check"
  "scripts/clients.sh --no-cargo-tests"
  scripts/backstage-e2e.sh
  scripts/plugin.sh
  scripts/validate-deploy.sh
  "scripts/bench.sh --short"
  "scripts/bench.sh --short --scenarios apis,mint --count-instructions"
  scripts/fuzz.sh
)
for suite in "${suites[@]}"; do
  log "suite: $suite"
  $suite
done
log "all tests passed"
