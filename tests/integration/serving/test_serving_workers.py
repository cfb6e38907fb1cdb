"""`studentops serve --workers 2` as a process: merged metrics, all workers follow a reload."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from loopback import free_port, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROFILE = "uci-dropout-binary"


@pytest.fixture
def served(registry: Any, tmp_path: Path) -> Iterator[str]:
    """`studentops serve --workers 2` on the session's registry; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "STUDENTOPS_HOME": str(registry.settings.home),
        "STUDENTOPS_CONFIG": str(tmp_path / "none.yaml"),
        "STUDENTOPS_ADMIN_KEYS": '["adm"]',
        "STUDENTOPS_RELOAD_INTERVAL_S": "3600",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    exe = Path(sys.executable).parent / "studentops"
    argv = [str(exe), "serve", "--profile", PROFILE, "--port", str(port), "--workers", "2"]
    url = f"http://127.0.0.1:{port}"
    with running_server(argv, folder=tmp_path, ready=f"{url}/ready", name="serve", env=env):
        yield url


def test_two_workers_merge_metrics_and_follow_a_reload(
    served: str, registry: Any, as_records: Any
) -> None:
    first, second = registry.versions
    record = as_records(registry.cohort.head(1))[0]
    with httpx.Client(base_url=served, timeout=10) as client:
        for _ in range(40):  # new connections spread over both workers
            with httpx.Client(base_url=served, timeout=10) as c:
                assert c.post("/v1/predict", json=record).json()["model_version"] == first
        text = client.get("/metrics").text
        total = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("studentops_predictions_total{")
        )
        assert total == 40  # counted across both worker processes
        try:
            registry.promote(second)
            r = client.post("/v1/admin/reload", headers={"X-API-Key": "adm"})
            assert r.status_code == 200 and r.json()["current"] == second
            time.sleep(3)  # the other worker notices the signal file within a second
            versions = set()
            for _ in range(30):
                with httpx.Client(base_url=served, timeout=10) as c:
                    versions.add(c.post("/v1/predict", json=record).json()["model_version"])
            assert versions == {second}
        finally:
            registry.promote(first)
