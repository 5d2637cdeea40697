"""Shared fixtures of the deploy tests: repository paths, the parsed artifacts, and the Helm
manifests that scripts/validate-deploy.sh rendered (RENDERED_DIR) with the `gatekey` binary
(GATEKEY_BIN) used to check the configurations."""

import json
import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def required_env_path(name: str) -> Path:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests through scripts/validate-deploy.sh")
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


@pytest.fixture(scope="session")
def gatekey_bin() -> Path:
    path = required_env_path("GATEKEY_BIN")
    assert path.is_file(), f"{path} is missing: cargo build -p gatekey"
    return path


def rendered(name: str) -> list[dict]:
    path = required_env_path("RENDERED_DIR") / f"helm-{name}.yaml"
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


@pytest.fixture(scope="session")
def helm_default() -> list[dict]:
    return rendered("default")


@pytest.fixture(scope="session")
def helm_production() -> list[dict]:
    return rendered("production")


@pytest.fixture(scope="session")
def compose() -> dict:
    return load_yaml(DEPLOY / "compose" / "compose.yaml")


@pytest.fixture(scope="session")
def kong_config() -> dict:
    return load_yaml(DEPLOY / "kong" / "kong.yaml")


@pytest.fixture(scope="session")
def compose_policy() -> dict:
    return load_yaml(DEPLOY / "compose" / "gatekey" / "policy.yaml")


@pytest.fixture(scope="session")
def realm() -> dict:
    with (DEPLOY / "compose" / "keycloak" / "gatekey-realm.json").open(encoding="utf-8") as handle:
        return json.load(handle)


def one(docs: list[dict], kind: str) -> dict:
    matches = [doc for doc in docs if doc["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]
