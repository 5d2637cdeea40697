"""The decK file protects every route with key-auth and one ACL group, and never touches the
consumers Gatekey creates. (Its schema is checked by `deck validate` in validate-deploy.sh.)"""

from conftest import DEPLOY, load_yaml


def test_format_and_select_tags(kong_config):
    assert kong_config["_format_version"] == "3.0"
    # Without select_tags a `deck sync` would delete Gatekey's runtime consumers.
    assert kong_config["_info"]["select_tags"] == ["gatekey-example"]
    assert "consumers" not in kong_config


def test_every_route_needs_a_key_and_allows_exactly_one_acl_group(kong_config):
    for service in kong_config["services"]:
        plugin_names = [p["name"] for p in service["plugins"]]
        assert "key-auth" in plugin_names, service["name"]
        assert service["routes"], service["name"]
        for route in service["routes"]:
            acls = [p for p in route["plugins"] if p["name"] == "acl"]
            assert len(acls) == 1, route["name"]
            assert len(acls[0]["config"]["allow"]) == 1, route["name"]
            assert "deny" not in acls[0]["config"]


def test_routes_of_one_path_split_the_methods(kong_config):
    for service in kong_config["services"]:
        seen: dict[tuple, str] = {}
        for route in service["routes"]:
            for path in route["paths"]:
                for method in route["methods"]:
                    key = (path, method)
                    assert key not in seen, f"{key} in {route['name']} and {seen.get(key)}"
                    seen[key] = route["name"]


def test_the_upstream_is_the_compose_example_api(kong_config, compose):
    (service,) = kong_config["services"]
    assert service["url"] == "http://orders-api:8080"
    assert "orders-api" in compose["services"]
    local = load_yaml(DEPLOY / "local" / "kong.yaml")
    # Same routes and ACL groups as the local stack's simulator config.
    assert [r["name"] for r in local["services"][0]["routes"]] == \
        [r["name"] for r in service["routes"]]


def test_the_service_binds_its_catalog_entity_by_tag(kong_config):
    # Gatekey serves a catalog entity's scopes only for a Kong service tagged
    # gatekey-entity:<kind>:<namespace>:<name> (docs/configuration.md#catalog-source); Kong
    # refuses tags holding `/` or `,`.
    (service,) = kong_config["services"]
    assert "gatekey-entity:api:default:orders" in service["tags"]
    assert not any("/" in tag or "," in tag for tag in service["tags"])


def test_http_log_posts_to_gatekeys_ingest_on_the_operators_listener(kong_config, compose):
    http_log = load_yaml(DEPLOY / "kong" / "http-log.yaml")
    # Synced together with kong.yaml: the same select_tags, or decK refuses the pair.
    assert http_log["_info"] == kong_config["_info"]
    (plugin,) = http_log["plugins"]
    assert plugin["name"] == "http-log"
    config = plugin["config"]
    # The operators' listener (GATEKEY_ADMIN_LISTEN of the compose stack), the ingest path.
    admin_port = compose["services"]["gatekey"]["environment"]["GATEKEY_ADMIN_LISTEN"]
    assert config["http_endpoint"] == \
        f"http://gatekey:{admin_port.rsplit(':', 1)[1]}/v1/ingest/kong-http-log"
    # The secret is a vault reference, never a literal in the file or in Kong's database...
    (name, value) = next(iter(config["headers"].items()))
    assert name == "X-Gatekey-Ingest-Secret"
    assert value == "{vault://env/gatekey-ingest-secret}"
    # ...which Kong's env vault reads from GATEKEY_INGEST_SECRET, the value Gatekey accepts.
    kong_env = compose["services"]["kong"]["environment"]
    gatekey_env = compose["services"]["gatekey"]["environment"]
    assert kong_env["GATEKEY_INGEST_SECRET"] == gatekey_env["GATEKEY_INGEST__SECRET__CURRENT"]
    queue = config["queue"]
    assert 1 < queue["max_batch_size"] <= 1000
    assert queue["max_retry_time"] > 0


def test_keys_stay_out_of_the_upstream_urls_and_logs(kong_config):
    # Kong's log entries carry the request headers and URI (docs/operations.md, http-log).
    for service in kong_config["services"]:
        (key_auth,) = [p for p in service["plugins"] if p["name"] == "key-auth"]
        assert key_auth["config"]["hide_credentials"] is True
        assert key_auth["config"]["key_in_query"] is False
