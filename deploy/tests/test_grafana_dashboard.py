"""The Grafana dashboard queries only metrics and labels that docs/operations.md documents."""

import json
import re

import pytest

from conftest import DEPLOY, ROOT

DASHBOARD = DEPLOY / "grafana" / "gatekey-dashboard.json"


def documented_metrics() -> dict[str, set[str]]:
    """Metric name -> labels, from the table in docs/operations.md#metrics."""
    text = (ROOT / "docs" / "operations.md").read_text("utf-8")
    metrics = {}
    for name, labels in re.findall(r"^\| `(gatekey_[a-z_]+)` \| [a-z]+ \| ([^|]*) \|", text,
                                   re.MULTILINE):
        metrics[name] = set(re.findall(r"`([a-z_]+)`", labels))
    return metrics


@pytest.fixture(scope="module")
def dashboard():
    with DASHBOARD.open(encoding="utf-8") as handle:
        return json.load(handle)


def expressions(dashboard):
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def test_the_docs_list_the_metrics():
    metrics = documented_metrics()
    assert len(metrics) == 19
    assert metrics["gatekey_mints_total"] == {"api", "outcome"}


def test_panels_are_complete_and_laid_out(dashboard):
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    assert dashboard["uid"] == "gatekey-overview"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "job"}


def test_every_query_uses_documented_metrics_and_labels(dashboard):
    metrics = documented_metrics()
    used = set()
    for expr in expressions(dashboard):
        assert 'job=~"$job"' in expr, expr
        names = {re.sub(r"_(bucket|sum|count)$", "", name)
                 for name in re.findall(r"gatekey_[a-z_]+", expr)}
        for name in names:
            assert name in metrics, f"{name} is not documented"
        used |= names
        labels = set().union(*(metrics[n] for n in names)) | {"le", "job"}
        for group in re.findall(r"by \(([^)]*)\)", expr):
            for label in (part.strip() for part in group.split(",")):
                assert label in labels, f"label {label} in {expr}"
        for label in re.findall(r"[{,]([a-z_]+)=~?\"", expr):
            assert label in labels, f"label {label} in {expr}"
    # The dashboard shows every documented metric.
    assert used == set(metrics)
