"""`studentops flows serve` on a PostgreSQL-backed Prefect server: a schedule fires twice.

The server is started by `flows serve` itself from settings (``prefect_database_url``), as in
a deployment; the scheduler and the runner poll every second here (Prefect's own settings,
passed through the environment) so two runs 5 s apart complete in well under a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

INTERVAL_S = 5


def test_a_schedule_fires_twice_on_postgres(
    postgres_url: str, oulad_folder: Path, tmp_path: Path, kit: Any
) -> None:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    out = tmp_path / "weekly.parquet"
    config = kit.write_config(
        tmp_path,
        prefect_database_url=postgres_url,
        flow_schedules=[
            {
                "name": "every-few-seconds",
                "flow": "events-features",
                "interval_s": INTERVAL_S,
                "parameters": {"oulad": str(oulad_folder), "week": 3, "out": str(out)},
            }
        ],
    )
    env = kit.cli_env(
        config,
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="1",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
    )
    serve = kit.studentops("flows", "serve", "--limit", "1", env=env)
    state_file = tmp_path / "state" / "prefect" / "server.json"
    try:
        deadline = time.monotonic() + kit.SERVER_START_TIMEOUT_S + 240
        done: list[Any] = []
        while time.monotonic() < deadline and serve.poll() is None:
            time.sleep(2)
            if not state_file.is_file():
                continue
            recorded = json.loads(state_file.read_text())
            assert recorded["database"].startswith("postgresql+asyncpg://")
            runs = kit.flow_runs(
                recorded["api_url"],
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=["every-few-seconds"])
                ),
            )
            done = [r for r in runs if r.state is not None and r.state.is_completed()]
            if len(done) >= 2:
                break
        assert serve.poll() is None, serve.stderr.read() if serve.stderr else ""
        assert len(done) >= 2, f"completed runs: {len(done)}"
        assert out.is_file()
        starts = sorted(r.expected_start_time for r in done[:2])
        assert (starts[1] - starts[0]).total_seconds() >= INTERVAL_S - 0.5
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(60)
        except Exception:
            serve.kill()
        if state_file.is_file():  # never leave a server behind, even if serve was killed
            pid = json.loads(state_file.read_text()).get("pid")
            with contextlib.suppress(ProcessLookupError, TypeError, ValueError):
                os.killpg(int(pid), signal.SIGTERM)
