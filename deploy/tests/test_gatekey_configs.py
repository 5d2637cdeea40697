"""Every Gatekey configuration the deploy material ships is accepted by `gatekey check-config`,
and the compose policy fits the Kong configuration it runs against."""

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

from conftest import DEPLOY


def check_config(
    gatekey_bin: Path, config: Path, policy: Path, environment: dict | None = None
) -> subprocess.CompletedProcess:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("GATEKEY_")
    }
    # Secrets come from the environment in every deployment; check-config needs them too.
    env["GATEKEY_MONGODB__URI"] = "mongodb://mongo1:27017,mongo2:27017/?replicaSet=rs0"
    env["GATEKEY_POLICY_FILE"] = str(policy)
    env.update(environment or {})
    return subprocess.run(
        [str(gatekey_bin), "check-config", "--config", str(config)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_compose_config_is_valid(gatekey_bin, compose):
    directory = DEPLOY / "compose" / "gatekey"
    # The compose file hands Gatekey its secrets through the environment; pass the same ones.
    service_env = compose["services"]["gatekey"]["environment"]
    secrets = {key: str(value) for key, value in service_env.items() if "PROXY_SECRET" in key}
    assert secrets, "the compose file gives Gatekey the Backstage proxy secret"
    # The [ingest] section needs the operators' listener, which the environment sets.
    listener = {"GATEKEY_ADMIN_LISTEN": service_env["GATEKEY_ADMIN_LISTEN"]}
    result = check_config(
        gatekey_bin, directory / "gatekey.toml", directory / "policy.yaml", secrets | listener
    )
    assert result.returncode == 0, result.stderr
    assert "configuration OK; the policy file defines 1 API (orders)" in result.stdout


@pytest.mark.parametrize("values", ["default", "production"])
def test_rendered_helm_config_is_valid(values, gatekey_bin, tmp_path, request):
    data = {key: text for doc in request.getfixturevalue(f"helm_{values}")
            if doc["kind"] == "ConfigMap" for key, text in doc["data"].items()}
    config = tmp_path / "gatekey.toml"
    policy = tmp_path / "policy.yaml"
    config.write_text(data["gatekey.toml"], encoding="utf-8")
    policy.write_text(data["policy.yaml"], encoding="utf-8")
    result = check_config(gatekey_bin, config, policy)
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout


def test_check_config_refuses_a_broken_config(gatekey_bin, tmp_path):
    """The check above would be worthless if check-config accepted anything."""
    source = (DEPLOY / "compose" / "gatekey" / "gatekey.toml").read_text(encoding="utf-8")
    broken = tmp_path / "gatekey.toml"
    broken.write_text(source.replace('admin_url = "http://kong:8001"', 'admin_url = "kong"'),
                      encoding="utf-8")
    result = check_config(gatekey_bin, broken, DEPLOY / "compose" / "gatekey" / "policy.yaml")
    assert result.returncode != 0
    assert "kong.admin_url" in result.stderr


def test_compose_policy_matches_the_kong_routes(compose_policy, kong_config):
    services = {service["name"]: service for service in kong_config["services"]}
    for api in compose_policy["apis"]:
        service = services[api["kong_service"]]
        key_auth = [p for p in service["plugins"] if p["name"] == "key-auth"]
        assert key_auth, f"service {service['name']} has no key-auth plugin"
        assert api["key_header"] in key_auth[0]["config"]["key_names"]
        route_groups = {
            group
            for route in service["routes"]
            for plugin in route["plugins"] if plugin["name"] == "acl"
            for group in plugin["config"]["allow"]
        }
        policy_groups = {scope["acl_group"] for scope in api["scopes"]}
        assert policy_groups == route_groups
        gateway_path = "/" + api["gateway_url"].split("://", 1)[1].split("/", 1)[1]
        assert any(gateway_path in route["paths"] for route in service["routes"])


def test_compose_config_trusts_the_compose_issuers(compose):
    settings = tomllib.loads((DEPLOY / "compose" / "gatekey" / "gatekey.toml").read_text("utf-8"))
    issuers = {issuer["name"]: issuer for issuer in settings["auth"]["issuers"]}
    hostname = compose["services"]["keycloak"]["environment"]["KC_HOSTNAME"]
    assert issuers["keycloak"]["issuer"] == f"{hostname}/realms/gatekey"
    assert "policy_file" in settings and settings["policy_file"].startswith("/etc/gatekey/")
    app_config = (DEPLOY / "compose" / "backstage" / "app-config.yaml").read_text("utf-8")
    assert "baseUrl: http://backstage:7007" in app_config
    assert issuers["backstage"]["issuer"] == "http://backstage:7007/api/auth"
    assert issuers["backstage"]["allowed_jose_types"] == ["vnd.backstage.user"]
