"""The compose stack wires real components together as deploy/compose/README.md describes.
(The schema check is check-jsonschema's, run by scripts/validate-deploy.sh.)"""

import re

import yaml

from conftest import DEPLOY, load_yaml

COMPOSE_DIR = DEPLOY / "compose"


def test_all_components_are_present(compose):
    expected = {
        "kong-db", "kong-migrations", "kong", "kong-config", "orders-api",
        "mongo1", "mongo2", "mongo3", "mongo-init", "keycloak", "backstage", "gatekey",
    }
    assert set(compose["services"]) == expected


def test_kong_runs_3x_in_db_mode_after_its_migrations(compose):
    services = compose["services"]
    for name in ("kong", "kong-migrations"):
        assert re.fullmatch(r"kong:3\.\d+", services[name]["image"]), services[name]["image"]
        assert services[name]["environment"]["KONG_DATABASE"] == "postgres"
    assert "migrations bootstrap" in " ".join(services["kong-migrations"]["command"])
    assert services["kong"]["depends_on"]["kong-migrations"]["condition"] == \
        "service_completed_successfully"
    # The Admin API is published on the host's loopback only.
    assert "127.0.0.1:8001:8001" in services["kong"]["ports"]
    deck = services["kong-config"]
    assert deck["command"][:2] == ["gateway", "sync"]
    assert "../kong/kong.yaml:/config/kong.yaml:ro" in deck["volumes"]


def test_mongodb_is_a_three_member_replica_set(compose):
    services = compose["services"]
    members = [f"mongo{i}" for i in (1, 2, 3)]
    for member in members:
        assert services[member]["command"][:3] == ["mongod", "--replSet", "rs0"]
    script = (COMPOSE_DIR / "mongo" / "init-replica-set.js").read_text("utf-8")
    for member in members:
        assert f'host: "{member}:27017"' in script
    uri = services["gatekey"]["environment"]["GATEKEY_MONGODB__URI"]
    assert uri == "mongodb://mongo1:27017,mongo2:27017,mongo3:27017/?replicaSet=rs0"
    assert services["gatekey"]["depends_on"]["mongo-init"]["condition"] == \
        "service_completed_successfully"


def test_gatekey_is_built_from_the_deploy_dockerfile_with_a_read_only_config(compose):
    gatekey = compose["services"]["gatekey"]
    assert gatekey["build"] == {"context": "../..", "dockerfile": "deploy/Dockerfile"}
    assert gatekey["read_only"] is True
    assert "./gatekey:/etc/gatekey:ro" in gatekey["volumes"]
    # The image listens on 8080 (GATEKEY_LISTEN in deploy/Dockerfile).
    dockerfile = (DEPLOY / "Dockerfile").read_text("utf-8")
    assert "GATEKEY_LISTEN=0.0.0.0:8080" in dockerfile
    assert "8080:8080" in gatekey["ports"]
    for dependency in ("kong-config", "keycloak", "backstage"):
        assert dependency in gatekey["depends_on"]


def test_keycloak_imports_the_realm(compose):
    keycloak = compose["services"]["keycloak"]
    assert keycloak["image"].startswith("quay.io/keycloak/keycloak:")
    assert "--import-realm" in keycloak["command"]
    assert any(v.startswith("./keycloak/gatekey-realm.json:/opt/keycloak/data/import/")
               for v in keycloak["volumes"])


def test_every_bind_mount_and_build_context_exists(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source} is missing"
        build = service.get("build")
        if build:
            context = COMPOSE_DIR / build["context"]
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"


def test_backstage_proxy_forwards_the_callers_token_to_gatekey():
    app_config = load_yaml(COMPOSE_DIR / "backstage" / "app-config.yaml")
    endpoint = app_config["proxy"]["endpoints"]["/gatekey"]
    assert endpoint["target"] == "http://gatekey:8080"
    assert endpoint["credentials"] == "forward"
    for header in ("Idempotency-Key", "Retry-After", "X-Request-Id", "Location"):
        assert header in endpoint["allowedHeaders"]
    # The proxy sets the secret itself from the environment; a browser can never supply it.
    assert endpoint["headers"] == {"X-Gatekey-Proxy-Secret": "${GATEKEY_PROXY_SECRET}"}
    assert "X-Gatekey-Proxy-Secret" not in endpoint["allowedHeaders"]
    services = load_yaml(COMPOSE_DIR / "compose.yaml")["services"]
    assert services["backstage"]["environment"]["GATEKEY_PROXY_SECRET"] == \
        services["gatekey"]["environment"]["GATEKEY_AUTH__PROXY_SECRET__CURRENT"]
    assert app_config["auth"]["omitIdentityTokenOwnershipClaim"] is False
    assert app_config["backend"]["baseUrl"] == "http://backstage:7007"
    with (COMPOSE_DIR / "backstage" / "catalog.yaml").open(encoding="utf-8") as handle:
        catalog = [doc for doc in yaml.safe_load_all(handle) if doc]
    api = next(e for e in catalog if e["kind"] == "API")
    assert api["metadata"]["annotations"]["gatekey.dev/api-id"] == "orders"


def test_the_example_upstream_is_reachable_only_by_kong_and_mongodb(compose):
    # It trusts X-Consumer-Custom-ID (docs/provenance.md), so nothing but Kong may call it.
    services = compose["services"]
    orders = services["orders-api"]
    assert orders["build"]["dockerfile"] == "deploy/examples/orders-service/Dockerfile"
    assert orders["networks"] == ["upstream"]
    assert "ports" not in orders
    assert compose["networks"]["upstream"]["internal"] is True
    on_upstream = {name for name, service in services.items()
                   if "upstream" in service.get("networks", [])}
    assert on_upstream == {"orders-api", "kong", "mongo1", "mongo2", "mongo3"}
    # The provenance $lookup joins collections of one database: Gatekey's.
    gatekey_toml = (COMPOSE_DIR / "gatekey" / "gatekey.toml").read_text("utf-8")
    assert f'database = "{orders["environment"]["ORDERS_DATABASE"]}"' in gatekey_toml


def test_kong_config_syncs_the_http_log_snippet(compose):
    deck = compose["services"]["kong-config"]
    assert "/config/http-log.yaml" in deck["command"]
    assert "../kong/http-log.yaml:/config/http-log.yaml:ro" in deck["volumes"]
