"""The deploy docs name only files that exist, and describe the chart's actual defaults."""

import re

import pytest

from conftest import DEPLOY, ROOT, load_yaml


def backticked_paths(text: str) -> set[str]:
    return {p for p in re.findall(r"`([A-Za-z0-9_./-]+)`", text)
            if "/" in p and not p.startswith(("/", "http")) and "." in p.rsplit("/", 1)[-1]
            or p.endswith("/")}


@pytest.mark.parametrize("doc,base", [
    ("deploy/README.md", "deploy"),
    ("deploy/compose/README.md", "deploy/compose"),
    ("docs/operations.md", "."),
])
def test_named_files_exist(doc, base):
    text = (ROOT / doc).read_text("utf-8")
    missing = []
    for path in backticked_paths(text):
        if path.startswith(("/etc/", "/var/")):
            continue
        candidates = [ROOT / base / path, ROOT / path]
        if not any(c.exists() for c in candidates):
            missing.append(path)
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        if not link.startswith("http") and not (ROOT / doc).parent.joinpath(link).exists():
            missing.append(link)
    assert not missing, f"{doc} names missing files: {sorted(missing)}"


def test_operations_doc_matches_chart_defaults():
    values = load_yaml(DEPLOY / "helm" / "gatekey" / "values.yaml")
    text = (ROOT / "docs" / "operations.md").read_text("utf-8")
    autoscaling = values["autoscaling"]
    assert f"{autoscaling['minReplicas']} to {autoscaling['maxReplicas']} replicas" in text
    assert f"chart default {values['terminationGracePeriodSeconds']})" in text
    assert values["podDisruptionBudget"]["maxUnavailable"] == 1
    assert "/var/run/secrets/gatekey/kong/admin-token" in text
    assert values["config"]["log"]["format"] == "json"
