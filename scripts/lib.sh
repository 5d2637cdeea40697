# Shared helpers for Gatekey's scripts (sourced, not run).
# shellcheck shell=bash

SECANTUS_VERSION="0.7.0b3"

# Each line carries the wall-clock time, so a CI log shows where its minutes went.
log() { printf '\033[1m==> %s %s\033[0m\n' "$(date +%T)" "$*" >&2; }

# Prints the calling script's help: the comment block below its shebang, without the `# `.
script_help() {
  awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
}

# Refuses an argument the calling script does not know, pointing at its --help.
unknown_arg() {
  printf '%s: unknown argument %q (see %s --help)\n' "$0" "$1" "$0" >&2
  exit 2
}

# Installs the MongoDB-protocol server used for tests and the local stack (SecantusDB, from PyPI).
ensure_secantus() {
  # `pip show` is read whole first: `grep -q` quitting early would fail the pipe under pipefail.
  local installed
  installed=$(python3 -m pip show SecantusDB 2>/dev/null || true)
  if ! command -v secantusd-py >/dev/null 2>&1 \
     || ! grep -q "^Version: ${SECANTUS_VERSION}$" <<<"$installed"; then
    log "installing SecantusDB ${SECANTUS_VERSION} (MongoDB-protocol server)"
    python3 -m pip install --quiet --disable-pip-version-check "SecantusDB==${SECANTUS_VERSION}"
    hash -r
    command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
  fi
}

# Prints a free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until host:port accepts connections (default 30 s).
wait_for_port() {
  local port=$1 what=$2 tries=${3:-300}
  for _ in $(seq "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "${what} did not start listening on port ${port}"
  return 1
}

# Starts SecantusDB on a free port in the background; sets MONGO_PID and MONGODB_URI.
start_mongo() {
  local storage=${1:-:memory:} logfile=${2:-/dev/null}
  local port
  port=$(free_port)
  secantusd-py --port "$port" --storage-path "$storage" >"$logfile" 2>&1 &
  MONGO_PID=$!
  wait_for_port "$port" "SecantusDB"
  MONGODB_URI="mongodb://127.0.0.1:${port}/?directConnection=true"
  export MONGODB_URI
}

# A scratch directory in WORK and a `pids` array whose processes are killed, and the directory
# removed, when the script exits.
# Installs Debian's Chromium (apt-get, as root) when /usr/bin/chromium is missing: the browser
# of the real-browser checks in plugin.sh and clients.sh.
ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  if [ "$(id -u)" -ne 0 ]; then log "/usr/bin/chromium is missing: apt-get install chromium (as root)"; return 1; fi
  log "installing Debian's Chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

# valgrind (with callgrind_control) for `gatekey-bench --count-instructions`, from Debian.
ensure_valgrind() {
  command -v valgrind >/dev/null && command -v callgrind_control >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ]; then log "valgrind is missing: apt-get install valgrind (as root)"; return 1; fi
  log "installing Debian's valgrind"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
}

scratch_dir() {
  work=$(mktemp -d)
  pids=()
  trap 'for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
}

# Starts the Kong simulator (configured by deploy/local/kong.yaml, with an echo upstream) on free
# loopback ports, logs in WORK, from the binaries in BIN. Appends its process id to `pids`; sets
# KONG_SIM_ADMIN_URL and KONG_PROXY_URL. Does not wait for it: callers wait on its admin port
# (KONG_SIM_ADMIN_PORT) once their other processes are started too.
start_kong_sim() {
  local work=$1 bin=$2
  local proxy_port upstream_port
  KONG_SIM_ADMIN_PORT=$(free_port) proxy_port=$(free_port) upstream_port=$(free_port)
  sed "s|http://127.0.0.1:9000|http://127.0.0.1:${upstream_port}|" deploy/local/kong.yaml >"$work/kong.yaml"
  "$bin/gatekey-kong-sim" --admin-listen "127.0.0.1:${KONG_SIM_ADMIN_PORT}" --proxy-listen "127.0.0.1:${proxy_port}" \
    --config "$work/kong.yaml" --echo-upstream "127.0.0.1:${upstream_port}" >"$work/kong-sim.log" 2>&1 &
  pids+=($!)
  KONG_SIM_ADMIN_URL="http://127.0.0.1:${KONG_SIM_ADMIN_PORT}"
  KONG_PROXY_URL="http://127.0.0.1:${proxy_port}"
}

# Starts the Kong simulator (with an echo upstream), the dev OpenID provider and Gatekey with the
# demo policy on free loopback ports, logs in WORK. Needs MONGODB_URI and the debug binaries in
# BIN. Appends the process ids to the caller's `pids` array; sets GATEKEY_URL, DEV_IDP_URL and
# KONG_PROXY_URL.
start_stack() {
  local work=$1 bin=$2
  local idp_port gatekey_port
  idp_port=$(free_port) gatekey_port=$(free_port)
  start_kong_sim "$work" "$bin"
  "$bin/gatekey-dev-idp" --listen "127.0.0.1:${idp_port}" >"$work/dev-idp.log" 2>&1 &
  pids+=($!)
  wait_for_port "$KONG_SIM_ADMIN_PORT" "Kong simulator"
  wait_for_port "$idp_port" "dev OpenID provider"
  cat >"$work/gatekey.toml" <<TOML
listen = "127.0.0.1:${gatekey_port}"
policy_file = "$PWD/deploy/local/policy.yaml"
allow_insecure_http = true

[mongodb]
uri = "${MONGODB_URI}"
database = "stack_$$_${RANDOM}"

[kong]
admin_url = "${KONG_SIM_ADMIN_URL}"

[gateway]
allowed_urls = ["http://127.0.0.1:8000"]

[[auth.issuers]]
name = "dev"
issuer = "http://127.0.0.1:${idp_port}"
audiences = ["gatekey"]
algorithms = ["RS256", "ES256"]
groups_claims = [{ path = "groups" }]
TOML
  "$bin/gatekey" serve --config "$work/gatekey.toml" >"$work/gatekey.log" 2>&1 &
  pids+=($!)
  wait_for_port "$gatekey_port" "gatekey" || { cat "$work/gatekey.log" >&2; return 1; }
  GATEKEY_URL="http://127.0.0.1:${gatekey_port}"
  DEV_IDP_URL="http://127.0.0.1:${idp_port}"
}

# Prints an access token of the dev OpenID provider at DEV_IDP_URL for SUBJECT in GROUPS (a JSON
# array), audience gatekey, valid for an hour.
dev_token() {
  local subject=$1 groups=$2
  curl -fsS -X POST "${DEV_IDP_URL}/token" -H 'content-type: application/json' \
    -d "{\"sub\":\"${subject}\",\"groups\":${groups},\"aud\":\"gatekey\",\"ttl_seconds\":3600}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
