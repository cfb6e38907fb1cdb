"""`studentops serve --workers 2` as a process: merged metrics, all workers follow a reload."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROFILE = "uci-dropout-binary"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(registry: Any, tmp_path: Path) -> Any:
    port = _free_port()
    env = {
        **os.environ,
        "STUDENTOPS_HOME": str(registry.settings.home),
        "STUDENTOPS_CONFIG": str(tmp_path / "none.yaml"),
        "STUDENTOPS_ADMIN_KEYS": '["adm"]',
        "STUDENTOPS_RELOAD_INTERVAL_S": "3600",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    exe = Path(sys.executable).parent / "studentops"
    proc = subprocess.Popen(
        [str(exe), "serve", "--profile", PROFILE, "--port", str(port), "--workers", "2"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


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
