# The local stack's walkthrough: scripts/dev.sh prints these commands, and `scripts/dev.sh --check`
# runs them (every one must succeed) against the same stack. Each step is one copy-pasteable command.

# 1. a token for jane, member of payments-team (dev OpenID provider)
TOKEN=$(curl -fsS -X POST http://127.0.0.1:8090/token -H 'content-type: application/json' \
  -d '{"sub":"jane","groups":["payments-team"],"aud":"gatekey"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# 2. the APIs jane may try
curl -fsS -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/apis; echo

# 3. mint a 5-minute read key; the answer holds the key (shown once) and the credential id
MINTED=$(curl -fsS -X POST http://127.0.0.1:8080/v1/apis/orders/credentials \
  -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"scopes":["read"],"ttl_seconds":300,"purpose":"trying the orders API"}')
KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["key"])' "$MINTED")
CREDENTIAL=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["credential"]["id"])' "$MINTED")

# 4. call the API through the gateway (200), then a write route the key has no scope for (403)
curl -fsS -H "apikey: $KEY" http://127.0.0.1:8000/orders; echo
curl -s -o /dev/null -w 'POST /orders with a read key: %{http_code}\n' -X POST -H "apikey: $KEY" http://127.0.0.1:8000/orders

# 5. jane's credentials, then revoke this one; the gateway refuses the key from then on (401)
curl -fsS -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1/credentials; echo
curl -fsS -X DELETE -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:8080/v1/credentials/$CREDENTIAL"; echo
curl -s -o /dev/null -w 'GET /orders with the revoked key: %{http_code}\n' -H "apikey: $KEY" http://127.0.0.1:8000/orders

# 6. the audit trail, as an admin (member of platform-admins): who did what with jane's credential
ADMIN_TOKEN=$(curl -fsS -X POST http://127.0.0.1:8090/token -H 'content-type: application/json' \
  -d '{"sub":"ada","groups":["platform-admins"],"aud":"gatekey"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:8080/v1/audit?subject=jane"; echo
