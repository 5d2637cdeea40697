#!/usr/bin/env bash
# Fuzzing (issue 5, guarantee 8), exiting non-zero on any finding:
#   1. schemathesis (pinned in fuzz/requirements.txt, installed into .cache/fuzz-venv) against
#      openapi/gatekey.json and a running stack (Kong simulator, dev OpenID provider, Gatekey on
#      free ports) with a valid bearer token: no 5xx, responses match the documented status codes,
#      content types and schemas;
#   2. the cargo-fuzz targets in fuzz/ (policy file parser, bearer token header parser), each for
#      FUZZ_SECONDS from the committed seed corpus (cargo-fuzz is installed if missing).
#
#   scripts/fuzz.sh                  both
#   scripts/fuzz.sh --api-only       schemathesis only
#   scripts/fuzz.sh --targets-only   the cargo-fuzz targets only
#
# Knobs: FUZZ_EXAMPLES (schemathesis examples per operation, default 200), FUZZ_SEED (default
# random; printed for replay), FUZZ_SECONDS (per cargo-fuzz target, default 30).
# cargo-fuzz needs nightly-only -Z flags; on a stable toolchain RUSTC_BOOTSTRAP=1 allows them.
#
# Takes about 5 minutes (the fuzz build included); installs schemathesis into .cache/fuzz-venv
# and cargo-fuzz with `cargo install` (into ~/.cargo/bin) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

CARGO_FUZZ_VERSION="0.13.2"
api=1 targets=1
for arg in "$@"; do
  case "$arg" in
    --api-only) targets="" ;;
    --targets-only) api="" ;;
    -h | --help) script_help; exit 0 ;;
    *) unknown_arg "$arg" ;;
  esac
done
examples=${FUZZ_EXAMPLES:-200}
seconds=${FUZZ_SECONDS:-30}
seed=${FUZZ_SEED:-$RANDOM$RANDOM}

scratch_dir

fuzz_api() {
  local venv=.cache/fuzz-venv
  local stamp="$venv/.requirements.sha256" wanted
  wanted=$(sha256sum fuzz/requirements.txt | cut -d' ' -f1)
  if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    log "installing schemathesis into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r fuzz/requirements.txt
    echo "$wanted" >"$stamp"
  fi

  log "building gatekey, the Kong simulator and the dev OpenID provider"
  cargo build --locked -q -p gatekey-server -p gatekey-kong-sim -p gatekey-dev-idp --bins
  if [ -z "${MONGODB_URI:-}" ]; then
    ensure_secantus
    start_mongo ":memory:" "$work/secantusd.log"
    pids+=("$MONGO_PID")
  fi
  start_stack "$work" "${CARGO_TARGET_DIR:-target}/debug"
  # An admin in every group of the demo policy, so every operation can answer 2xx.
  local token
  token=$(dev_token "user:default/fuzzer" '["payments-team","orders-team","platform-admins"]')

  log "schemathesis: ${examples} examples per operation, seed ${seed}"
  local status=0 schema="$PWD/openapi/gatekey.json" config="$PWD/fuzz/schemathesis.toml" schemathesis="$PWD/$venv/bin/schemathesis"
  # Run from the scratch directory: schemathesis keeps state in ./.schemathesis.
  (cd "$work" && "$schemathesis" --config-file "$config" run "$schema" \
    --url "$GATEKEY_URL" \
    --header "Authorization: Bearer ${token}" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$examples" \
    --seed "$seed" \
    --workers 1 \
    --request-timeout 10 \
    --generation-database none \
    --suppress-health-check all \
    --report junit --report-dir "$work/report" \
    --no-color) || status=$?
  if [ "$status" -ne 0 ]; then
    log "schemathesis found problems (replay with FUZZ_SEED=${seed}); gatekey's log:"
    grep -E '"level":"(ERROR|WARN)"|ERROR|WARN' "$work/gatekey.log" | tail -n 40 >&2 || true
    return "$status"
  fi
}

fuzz_targets() {
  if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    log "installing cargo-fuzz ${CARGO_FUZZ_VERSION}"
    cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION"
  fi
  local target
  for target in $(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz list); do
    log "cargo fuzz: ${target} for ${seconds} s"
    # The committed seeds stay read-only: new inputs go to a scratch corpus, listed first.
    mkdir -p "$work/corpus/$target"
    (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" \
      "$work/corpus/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -max_len=4096 -print_final_stats=1)
  done
}

[ -n "$api" ] && fuzz_api
[ -n "$targets" ] && fuzz_targets
log "fuzzing found nothing"
