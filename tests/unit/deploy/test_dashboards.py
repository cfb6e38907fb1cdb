"""The provisioned Grafana dashboards are what build_dashboards.py (grafana-foundation-sdk) makes.

Their queries are executed in tests/integration/deploy/test_metrics_and_dashboards.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from .conftest import DEPLOY

GRAFANA = DEPLOY / "grafana"


def test_committed_dashboards_are_fresh() -> None:
    pytest.importorskip("grafana_foundation_sdk", reason="pip install grafana-foundation-sdk (dev)")
    done = subprocess.run(
        [sys.executable, str(GRAFANA / "build_dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_panel_queries_a_provisioned_data_source() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/studentops.yaml").read_text())
    sources = {(d["type"], d["uid"]) for d in provisioned["datasources"]}
    boards = [json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))]
    assert {b["uid"] for b in boards} == {
        "studentops-api",
        "studentops-predictions",
        "studentops-monitoring",
    }
    for board in boards:
        assert board["panels"]
        for panel in board["panels"]:
            assert (panel["datasource"]["type"], panel["datasource"]["uid"]) in sources
            assert panel["targets"], panel["title"]
            assert all(t.get("expr") or t.get("rawSql") for t in panel["targets"]), panel["title"]
