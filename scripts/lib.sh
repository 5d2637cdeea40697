# Shared helpers for Gatekey's scripts (sourced, not run).
# shellcheck shell=bash

SECANTUS_VERSION="0.7.0b3"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs the MongoDB-protocol server used for tests and the local stack (SecantusDB, from PyPI).
ensure_secantus() {
  if ! command -v secantusd-py >/dev/null 2>&1 \
     || ! python3 -m pip show SecantusDB 2>/dev/null | grep -q "^Version: ${SECANTUS_VERSION}$"; then
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
