#!/usr/bin/env bash
# Runs the benchmark described in docs/performance.md: starts SecantusDB, the Kong simulator, the
# dev OpenID provider and gatekey on loopback, drives load at them and prints one table, with
# gatekey's CPU time and wake-ups per request of each scenario (from /proc/<pid>, Linux only),
# and what one wake-up costs on this host (GET /v1/apis paced against busy). With two
# CPUs or more, gatekey runs alone on the first and everything else on the rest
# (--gatekey-cpu shared: every process on every CPU).
#
#   scripts/bench.sh                 # the full run: release build, 10 s per scenario
#   scripts/bench.sh --json          # the same as JSON
#   scripts/bench.sh --scenarios apis,mint --count-instructions
#                                    # gatekey under valgrind's callgrind: instructions per
#                                    # request, the same run after run (other figures: valgrind's)
#   scripts/bench.sh --short         # CI smoke run: debug build, 1 s per scenario; its figures
#                                    # are NOT meaningful, it only proves the bench works
#
# Every other flag goes to gatekey-bench (see `--help`). BENCH_PROFILE=release|debug overrides
# the build profile chosen above. Unknown flags are refused by gatekey-bench. A full run takes
# about 8 minutes after a release build (the bulk revocation of 2,000 credentials on SecantusDB
# about 5 of them; about 15 minutes cold); --short about 45 s.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

profile=release
for arg in "$@"; do
  case "$arg" in
    --short) profile=debug ;;
    --count-instructions) ensure_valgrind ;;
    -h | --help)
      script_help
      bench_bin="${CARGO_TARGET_DIR:-target}/release/gatekey-bench"
      if [ -x "$bench_bin" ]; then
        printf '\n'; "$bench_bin" --help
      else
        printf '\n(gatekey-bench lists its flags with --help once built: cargo build --release -p gatekey-bench)\n'
      fi
      exit 0 ;;
  esac
done
profile=${BENCH_PROFILE:-$profile}
case "$profile" in
  release) build_flags=(--release) ;;
  debug) build_flags=() ;;
  *) log "BENCH_PROFILE must be release or debug, not ${profile}"; exit 2 ;;
esac

ensure_secantus
log "building gatekey, the Kong simulator, the dev OpenID provider and the bench (${profile})"
cargo build --locked "${build_flags[@]}" \
  -p gatekey -p gatekey-kong-sim -p gatekey-dev-idp -p gatekey-bench --bins

exec "${CARGO_TARGET_DIR:-target}/${profile}/gatekey-bench" "$@"
