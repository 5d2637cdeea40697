#!/usr/bin/env bash
# The Backstage end-to-end test: installs the test backend's node_modules (tests/backstage/, a real
# Backstage backend with the guest auth provider, proxy and catalog), reusing them while the
# lockfile and the Node version are unchanged, then runs tests/tests/backstage.rs, which starts
# three backends, MongoDB (SecantusDB), the Kong simulator and Gatekey itself.
#
#   scripts/backstage-e2e.sh                 run it
#   scripts/backstage-e2e.sh --install-only  only the backend's node_modules (test.sh runs this
#                                            beside the cargo build)
#   scripts/backstage-e2e.sh --help          this text
#
# Takes about 1.5 minutes warm; the first `npm ci` adds about two (some 600 MB in
# tests/backstage/node_modules, npm cache in .cache/npm). Installs SecantusDB (python3 -m pip)
# if missing. Needs Node 20 or 22.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_only=""
for arg in "$@"; do
  case "$arg" in
    --install-only) install_only=1 ;;
    -h | --help) script_help; exit 0 ;;
    *) unknown_arg "$arg" ;;
  esac
done
start=$(date +%s)
backend=tests/backstage

command -v node >/dev/null 2>&1 || { log "node is required (Node 20 or 22)"; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then log "Node $(node --version) is too old; use 20 or 22"; exit 1; fi

# node_modules are reused while this stamp matches: lockfile + Node version.
stamp="$(sha256sum "$backend/package-lock.json" | cut -d' ' -f1)-node$(node --version)"
stamp_file="$backend/node_modules/.gatekey-install-stamp"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  log "Backstage backend: node_modules up to date"
else
  log "Backstage backend: npm ci (first run takes about two minutes)"
  # better-sqlite3 compiles from source against the system's Node headers when no prebuilt
  # binary fits; Debian's nodejs-dev puts them under /usr/include/node.
  if [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi
  (cd "$backend" && npm ci --no-audit --no-fund --loglevel=error --cache "$PWD/../../.cache/npm")
  echo "$stamp" > "$stamp_file"
fi
log "Backstage backend installed in $(( $(date +%s) - start )) s"
[ -n "$install_only" ] && exit 0

ensure_secantus
mkdir -p target/test-logs
log "cargo test: Backstage end to end"
cargo test -p gatekey-e2e --test backstage --locked -- --ignored --nocapture 2>&1 \
  | tee target/test-logs/backstage-e2e.log
log "Backstage end-to-end test finished in $(( $(date +%s) - start )) s"
