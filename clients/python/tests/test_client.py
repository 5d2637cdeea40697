"""The generated Python client against a running Gatekey (started by scripts/clients.sh):
mint, list and revoke, a typed problem on a denial, and the key checked at the gateway."""

import json
import os
import urllib.request
import uuid

import httpx
import pytest

from gatekey_client import AuthenticatedClient
from gatekey_client.api.apis import list_apis
from gatekey_client.api.credentials import list_credentials, mint_credential, revoke_credential
from gatekey_client.models import (
    EffectiveState,
    MintCredentialRequest,
    MintedCredential,
    Problem,
)

GATEKEY_URL = os.environ["GATEKEY_URL"]
DEV_IDP_URL = os.environ["GATEKEY_DEV_IDP_URL"]
KONG_PROXY_URL = os.environ["KONG_PROXY_URL"]


def token(subject: str, groups: list[str]) -> str:
    """A token from the development OpenID provider's token endpoint."""
    request = urllib.request.Request(
        f"{DEV_IDP_URL}/token",
        data=json.dumps({"sub": subject, "groups": groups, "aud": "gatekey"}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


@pytest.fixture
def client() -> AuthenticatedClient:
    subject = f"user:default/python-{uuid.uuid4().hex[:8]}"
    return AuthenticatedClient(
        base_url=GATEKEY_URL,
        token=token(subject, ["payments-team"]),
        raise_on_unexpected_status=True,
    )


def gateway_status(key: str) -> int:
    return httpx.get(f"{KONG_PROXY_URL}/orders", headers={"apikey": key}).status_code


def test_mint_list_revoke(client: AuthenticatedClient) -> None:
    apis = list_apis.sync(client=client)
    assert [api.id for api in apis.items] == ["orders"]

    minted = mint_credential.sync(
        "orders",
        client=client,
        body=MintCredentialRequest(scopes=["read"], ttl_seconds=300, purpose="python client"),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(minted, MintedCredential), minted
    assert minted.key.startswith("gk_")
    assert minted.credential.state == EffectiveState.ACTIVE
    assert gateway_status(minted.key) == 200

    page = list_credentials.sync(client=client, api_id="orders")
    assert [c.id for c in page.items] == [minted.credential.id]
    assert page.items[0].purpose == "python client"

    revoked = revoke_credential.sync(minted.credential.id, client=client)
    assert revoked.state == EffectiveState.REVOKED
    assert gateway_status(minted.key) == 401


def test_a_denial_is_a_typed_problem(client: AuthenticatedClient) -> None:
    response = mint_credential.sync_detailed(
        "orders", client=client, body=MintCredentialRequest(scopes=["write"])
    )
    assert response.status_code == 403
    assert isinstance(response.parsed, Problem)
    assert response.parsed.code == "scope_not_allowed"
