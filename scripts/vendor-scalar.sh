#!/usr/bin/env bash
# Vendors the API reference UI that /docs serves from the binary: the standalone browser bundle of
# the npm package @scalar/api-reference (MIT) at the version pinned below, checked against the
# registry's published sha512 integrity, copied to crates/gatekey-server/assets/scalar/. Gatekey
# embeds it at compile time, so /docs needs no network and loads no script from a CDN.
#
#   scripts/vendor-scalar.sh          fetch the pinned version and check the committed copy matches
#   scripts/vendor-scalar.sh --write  fetch the pinned version and overwrite the committed copy
#
# Takes a few seconds; needs npm and access to the npm registry; installs nothing. To upgrade, change
# VERSION and INTEGRITY (`npm view @scalar/api-reference@<version> dist.integrity`) and run --write,
# then `cargo test -p gatekey-e2e --test http_surface` and `scripts/clients.sh` (browser check).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

VERSION="1.76.0"
INTEGRITY="sha512-pjqwnzmA9YK3ZX+IZSICMsywm4qI6HLSngR2py9H6TvFApHHuJjkTAd+gFJfnqJDzJuro8k7ji6JCtJ2U+Byng=="
target=crates/gatekey-server/assets/scalar/api-reference.js

write=""
for arg in "$@"; do
  case "$arg" in
    --write) write=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: scripts/vendor-scalar.sh [--write]" >&2; exit 2 ;;
  esac
done

scratch_dir
log "fetching @scalar/api-reference@${VERSION}"
(cd "$work" && npm pack --silent "@scalar/api-reference@${VERSION}" >/dev/null)
tarball="$work/scalar-api-reference-${VERSION}.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  log "integrity mismatch: expected ${INTEGRITY}, got ${actual}"
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/dist/browser/standalone.js
if [ -n "$write" ]; then
  cp "$work/package/dist/browser/standalone.js" "$target"
  log "wrote ${target}"
elif ! cmp -s "$work/package/dist/browser/standalone.js" "$target"; then
  log "${target} differs from @scalar/api-reference@${VERSION}; run scripts/vendor-scalar.sh --write"
  exit 1
else
  log "${target} is @scalar/api-reference@${VERSION}"
fi
