#!/usr/bin/env bash
# Fuzzing (issue 5, guarantee 8), exiting non-zero on any finding:
#   1. schemathesis (pinned in fuzz/requirements.txt, installed into .cache/fuzz-venv) against
#      openapi/gatekey.json and a running stack (Kong simulator, dev OpenID provider, Gatekey on
#      free ports) with a valid bearer token of a user who may mint, every check (`--checks all`
#      but use_after_free, see below: no 5xx; documented statuses, content types, headers and schemas; schema-valid requests
#      accepted and schema-invalid ones refused; authentication not ignored) in every phase,
#      including the stateful one that follows the document's links (mint, then get and revoke
#      the new credential); it fails unless mints answered 201, and prints how many did;
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
  cargo build --locked -q -p gatekey -p gatekey-kong-sim -p gatekey-dev-idp --bins
  if [ -z "${MONGODB_URI:-}" ]; then
    ensure_secantus
    start_mongo ":memory:" "$work/secantusd.log"
    pids+=("$MONGO_PID")
  fi
  # Limits high enough that generated mints keep reaching 201 (the limits have their own tests).
  GATEKEY_LIMITS__MINTS_PER_SUBJECT_PER_MINUTE=10000 \
  GATEKEY_LIMITS__LIVE_CREDENTIALS_PER_SUBJECT_AND_API=10000 \
    start_stack "$work" "${CARGO_TARGET_DIR:-target}/debug"
  # An admin in every group of the demo policy, so every operation can answer 2xx.
  local token
  token=$(dev_token "user:default/fuzzer" '["payments-team","orders-team","platform-admins"]')

  log "schemathesis: ${examples} examples per operation, seed ${seed}"
  local status=0 schema="$PWD/openapi/gatekey.json" config="$PWD/fuzz/schemathesis.toml" schemathesis="$PWD/$venv/bin/schemathesis"
  # Run from the scratch directory: schemathesis keeps state in ./.schemathesis. Every check but
  # use_after_free, which expects 404 after DELETE: revoking keeps the credential's record (state
  # `revoked`) for the audit trail, so reading it afterwards answers 200 by design.
  (cd "$work" && "$schemathesis" --config-file "$config" run "$schema" \
    --url "$GATEKEY_URL" \
    --header "Authorization: Bearer ${token}" \
    --checks all \
    --exclude-checks use_after_free \
    --phases examples,coverage,fuzzing,stateful \
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
  # What the run reached, from Gatekey's own request counter.
  local metrics minted
  metrics=$(curl -fsS "$GATEKEY_URL/metrics")
  minted=$(awk '/^gatekey_http_requests_total\{/ && /route="\/v1\/apis\/\{id\}\/credentials"/ && /status="201"/ {sum += $NF} END {print sum + 0}' <<<"$metrics")
  log "schemathesis: Gatekey answered $(awk '/^gatekey_http_requests_total\{/ {sum += $NF} END {print sum + 0}' <<<"$metrics") requests, ${minted} mints with 201"
  if [ "$minted" -eq 0 ]; then
    log "no generated mint reached 201: the document's examples no longer lead to a credential"
    return 1
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
