"""The Keycloak realm export holds the users, groups and clients that deploy/compose/README.md
walks through, and its clients put `groups` and the `gatekey` audience into access tokens."""

import pytest

from conftest import DEPLOY

# user -> groups, as the compose README's table lists them
USERS = {
    "alice": ["/orders-team"],
    "bob": ["/payments-team"],
    "carol": ["/platform-admins"],
    "dave": [],
}


def mappers(client: dict) -> dict:
    return {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}


def test_realm_and_groups(realm):
    assert realm["realm"] == "gatekey"
    assert realm["enabled"] is True
    assert realm["editUsernameAllowed"] is False
    assert {g["name"] for g in realm["groups"]} == {"orders-team", "payments-team",
                                                     "platform-admins"}


@pytest.mark.parametrize("username", sorted(USERS))
def test_demo_user(realm, username):
    user = next(u for u in realm["users"] if u["username"] == username)
    assert user["enabled"] and user["emailVerified"]
    # Keycloak's user profile requires these before a password grant succeeds.
    assert user["firstName"] and user["lastName"] and user["email"]
    assert user["groups"] == USERS[username]
    (credential,) = user["credentials"]
    assert credential == {"type": "password", "value": f"{username}-demo-password",
                          "temporary": False}


@pytest.mark.parametrize("client_id", ["gatekey-demo", "ci-pipeline"])
def test_client_tokens_carry_groups_and_the_gatekey_audience(realm, client_id):
    client = next(c for c in realm["clients"] if c["clientId"] == client_id)
    config = mappers(client)
    groups = config["oidc-group-membership-mapper"]
    assert groups["claim.name"] == "groups"
    assert groups["full.path"] == "false"
    assert groups["access.token.claim"] == "true"
    audience = config["oidc-audience-mapper"]
    assert audience["included.custom.audience"] == "gatekey"
    assert audience["access.token.claim"] == "true"
    assert config["oidc-usermodel-property-mapper"]["claim.name"] == "preferred_username"


def test_people_use_password_grants_and_ci_uses_client_credentials(realm):
    clients = {c["clientId"]: c for c in realm["clients"]}
    demo, ci = clients["gatekey-demo"], clients["ci-pipeline"]
    assert demo["publicClient"] and demo["directAccessGrantsEnabled"]
    assert not demo["serviceAccountsEnabled"]
    assert not ci["publicClient"] and ci["serviceAccountsEnabled"]
    assert not ci["directAccessGrantsEnabled"]
    account = next(u for u in realm["users"] if u.get("serviceAccountClientId") == "ci-pipeline")
    assert account["groups"] == ["/payments-team"]


def test_the_readme_documents_every_user():
    readme = (DEPLOY / "compose" / "README.md").read_text("utf-8")
    for username in USERS:
        assert f"`{username}`" in readme and f"{username}-demo-password" in readme
    assert "ci-pipeline-demo-secret" in readme
