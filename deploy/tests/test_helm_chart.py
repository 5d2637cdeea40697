"""Structure of the manifests `helm template` renders (schemas are checked by
kubernetes-validate in validate-deploy.sh): probes, hardening, scaling, secrets, monitoring."""

import subprocess
import tomllib

import pytest

from conftest import DEPLOY, one, required_env_path

CHART = DEPLOY / "helm" / "gatekey"


def container(docs):
    deployment = one(docs, "Deployment")
    (gatekey,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, gatekey


@pytest.fixture(params=["default", "production"])
def docs(request):
    return request.getfixturevalue(f"helm_{request.param}")


def services(docs):
    """The user-facing Service and the operators' one (admin port)."""
    found = {doc["metadata"]["labels"].get("app.kubernetes.io/component", "api"): doc
             for doc in docs if doc["kind"] == "Service"}
    assert set(found) == {"api", "admin"}, found
    return found["api"], found["admin"]


def test_probes_use_healthz_and_readyz(docs):
    _, gatekey = container(docs)
    for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
        assert gatekey[probe]["httpGet"]["port"] == "admin"
    assert gatekey["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gatekey["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert gatekey["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # /readyz waits up to 3 s per dependency.
    assert gatekey["readinessProbe"]["timeoutSeconds"] > 3


def test_pods_are_hardened(docs):
    deployment, gatekey = container(docs)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    security = gatekey["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert gatekey["resources"]["requests"]["cpu"]
    assert gatekey["resources"]["limits"]["memory"]


def config_maps(docs):
    """The ConfigMaps by the file each holds: `gatekey.toml` and `policy.yaml`."""
    found = {key: doc for doc in docs if doc["kind"] == "ConfigMap" for key in doc["data"]}
    assert set(found) == {"gatekey.toml", "policy.yaml"}, found
    return found["gatekey.toml"], found["policy.yaml"]


def test_config_and_policy_come_from_their_configmaps_and_only_the_config_rolls_pods(docs):
    deployment, gatekey = container(docs)
    config_map, policy_map = config_maps(docs)
    assert config_map["metadata"]["name"] != policy_map["metadata"]["name"]
    mounts = {m["name"]: m for m in gatekey["volumeMounts"]}
    assert mounts["config"]["mountPath"] == "/etc/gatekey"
    # Directory mounts: a subPath mount would never see a new policy version.
    assert mounts["policy"]["mountPath"] == "/etc/gatekey-policy"
    assert all("subPath" not in mount for mount in mounts.values())
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert volumes["policy"]["configMap"]["name"] == policy_map["metadata"]["name"]
    env = {e["name"]: e for e in gatekey["env"]}
    assert env["GATEKEY_CONFIG"]["value"] == "/etc/gatekey/gatekey.toml"
    settings = tomllib.loads(config_map["data"]["gatekey.toml"])
    assert settings["policy_file"] == "/etc/gatekey-policy/policy.yaml"
    assert "uri" not in settings["mongodb"], "the MongoDB URI belongs in a Secret"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations["checksum/config"]) == 64
    # Gatekey reloads the policy: no annotation may roll the pods when only the policy changes.
    assert not any("policy" in key for key in annotations), annotations


def test_mongodb_uri_comes_from_a_secret(docs):
    _, gatekey = container(docs)
    env = {e["name"]: e for e in gatekey["env"]}
    ref = env["GATEKEY_MONGODB__URI"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "gatekey-mongodb", "key": "uri"}
    ports = {p["name"]: p["containerPort"] for p in gatekey["ports"]}
    assert env["GATEKEY_LISTEN"]["value"] == f"0.0.0.0:{ports['http']}"
    assert env["GATEKEY_ADMIN_LISTEN"]["value"] == f"0.0.0.0:{ports['admin']}"


def test_service_pdb_and_spread_select_the_pods(docs):
    deployment, _ = container(docs)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    api, admin = services(docs)
    for service in (api, admin):
        assert service["spec"]["selector"] == selector
    # What reaches the API (the Backstage proxy, users) is never given /metrics with it.
    assert [p["targetPort"] for p in api["spec"]["ports"]] == ["http"]
    assert [p["targetPort"] for p in admin["spec"]["ports"]] == ["admin"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == selector
    assert pdb["spec"]["maxUnavailable"] == 1
    (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"] == selector


def test_default_values_autoscale_without_a_fixed_replica_count(helm_default):
    deployment, gatekey = container(helm_default)
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    hpa = one(helm_default, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    assert hpa["spec"]["minReplicas"] >= 2
    assert not [d for d in helm_default if d["kind"] == "ServiceMonitor"]
    assert "kong-admin-token" not in {m["name"] for m in gatekey["volumeMounts"]}


def test_production_values_mount_the_kong_token_and_scrape_metrics(helm_production):
    deployment, gatekey = container(helm_production)
    assert deployment["spec"]["replicas"] == 3
    assert not [d for d in helm_production if d["kind"] == "HorizontalPodAutoscaler"]
    settings = tomllib.loads(config_maps(helm_production)[0]["data"]["gatekey.toml"])
    assert settings["kong"]["admin_token_header"] == "Kong-Admin-Token"
    mount = next(m for m in gatekey["volumeMounts"] if m["name"] == "kong-admin-token")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "kong-admin-token")
    (item,) = volume["secret"]["items"]
    assert settings["kong"]["admin_token_file"] == f"{mount['mountPath']}/{item['path']}"
    assert volume["secret"]["secretName"] == "gatekey-kong-admin"
    assert mount["readOnly"] is True
    monitor = one(helm_production, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {"port": "admin", "path": "/metrics", "interval": "30s",
                        "scrapeTimeout": "10s"}
    api, admin = services(helm_production)
    selects = monitor["spec"]["selector"]["matchLabels"].items()
    assert selects <= admin["metadata"]["labels"].items()
    assert not selects <= api["metadata"]["labels"].items()
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_production_values_bind_backstage_tokens_to_the_mounted_proxy_secrets(helm_production):
    deployment, gatekey = container(helm_production)
    settings = tomllib.loads(config_maps(helm_production)[0]["data"]["gatekey.toml"])
    assert settings["allow_insecure_http"] is False
    backstage = next(i for i in settings["auth"]["issuers"] if i["name"] == "backstage")
    assert backstage["requires_proxy_secret"] is True
    mount = next(m for m in gatekey["volumeMounts"] if m["name"] == "proxy-secret")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "proxy-secret")
    assert volume["secret"]["secretName"] == "gatekey-proxy-secret"
    paths = {item["path"] for item in volume["secret"]["items"]}
    proxy = settings["auth"]["proxy_secret"]
    assert {proxy["current_file"], proxy["previous_file"]} == \
        {f"{mount['mountPath']}/{path}" for path in paths}
    assert "current" not in proxy and "previous" not in proxy, "secrets never in the ConfigMap"


def test_an_issuer_requiring_the_proxy_secret_needs_the_secret():
    helm = required_env_path("HELM")
    result = subprocess.run(
        [str(helm), "template", "gatekey", str(CHART),
         "--set", "config.auth.issuers[0].requiresProxySecret=true",
         "--set", "config.auth.issuers[0].name=backstage",
         "--set", "config.auth.issuers[0].issuer=https://backstage.example.com/api/auth",
         "--set", "config.auth.issuers[0].audiences[0]=backstage",
         "--set", "config.auth.issuers[0].algorithms[0]=ES256"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "needs secrets.proxySecret.name" in result.stderr


@pytest.mark.parametrize("override,problem", [
    ("replicaCont=3", "Additional property replicaCont is not allowed"),
    ("config.kong.adminUrl=kong:8001", "config.kong.adminUrl"),
    ("config.log.format=text", "config.log.format"),
])
def test_the_values_schema_refuses_mistakes(override, problem):
    helm = required_env_path("HELM")
    result = subprocess.run(
        [str(helm), "template", "gatekey", str(CHART), "--set", override],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert problem in result.stderr, result.stderr


def test_a_kong_token_without_its_header_is_refused():
    helm = required_env_path("HELM")
    result = subprocess.run(
        [str(helm), "template", "gatekey", str(CHART), "--set", "secrets.kongAdminToken.name=kong"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode != 0
    assert "config.kong.adminTokenHeader is required" in result.stderr
