"""The embedded default: one local Prefect server (SQLite, WAL) under home for every process.

Several `studentops flows run` processes at once all go through that one server, the only
writer of its SQLite file, so none of them meets "database is locked"; a run whose task fails
is reported on the alert channels, here to a real SMTP server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

CONCURRENT_RUNS = 3


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory, kit: Any) -> Iterator[tuple[Any, Path]]:
    """The home's Prefect server, started the way `studentops flows` starts it."""
    from studentops.config import load_settings
    from studentops.flows.server import start_server

    folder = tmp_path_factory.mktemp("home")
    config = kit.write_config(folder)
    server = start_server(load_settings(config), timeout_s=kit.SERVER_START_TIMEOUT_S, ui=False)
    try:
        yield server, config
    finally:
        server.stop()


def test_concurrent_runs_share_one_server_and_never_lock_sqlite(
    local_server: tuple[Any, Path], oulad_folder: Path, tmp_path: Path, kit: Any
) -> None:
    server, config = local_server
    env = kit.cli_env(config)
    procs = [
        kit.studentops(
            "flows", "run", "events-features",
            "-P", f"oulad={oulad_folder}", "-P", f"week={i + 1}",
            "-P", f"out={tmp_path / f'week-{i + 1}.parquet'}",
            env=env,
        )
        for i in range(CONCURRENT_RUNS)
    ]  # fmt: skip
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        assert '"rows": 40' in out
    runs = kit.flow_runs(server.api_url)
    assert sum(r.state.is_completed() for r in runs) >= CONCURRENT_RUNS
    assert all((tmp_path / f"week-{i + 1}.parquet").is_file() for i in range(CONCURRENT_RUNS))
    assert server.log_path is not None
    assert "database is locked" not in server.log_path.read_text(errors="replace")
    # The database really is SQLite in WAL mode under home.
    assert list((config.parent / "state" / "prefect").glob("prefect.db-wal"))


def test_a_failing_task_is_reported_by_email(
    local_server: tuple[Any, Path], smtp_server: Any, tmp_path: Path, kit: Any
) -> None:
    _, base = local_server
    import yaml

    values = yaml.safe_load(base.read_text())
    values["alert_channels"] = [
        {
            "name": "ops",
            "type": "smtp",
            "host": "127.0.0.1",
            "port": smtp_server.port,
            "sender": "studentops@school.test",
            "to": ["data-team@school.test"],
        }
    ]
    config = tmp_path / "studentops.yaml"
    config.write_text(yaml.safe_dump(values))
    missing = tmp_path / "tonight.csv"
    proc = kit.studentops(
        "flows", "run", "score", "-p", "student-performance", "-d", str(missing),
        env=kit.cli_env(config),
    )  # fmt: skip
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 2
    assert err.strip().splitlines()[-1] == f"error: file not found: {missing}"
    deadline = time.monotonic() + 30
    while not smtp_server.messages and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert "flow 'score' failed" in message["Subject"]
    assert message["To"] == "data-team@school.test"
    body = message.get_body(("plain",)).get_content()
    assert "file not found" in body and "state: Failed" in body
