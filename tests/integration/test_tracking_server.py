"""The same training, registry and loading code against a real `mlflow server` on loopback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loopback import free_port, running_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def mlflow_server(tmp_path: Path, mlflow_ready: Callable[[Path], Path]) -> Iterator[str]:
    """``mlflow server`` on a temp SQLite store with proxied artifacts; yields its URL.

    The store starts as a copy of the session's empty, migrated database (tests/conftest.py).
    """
    port = free_port()
    folder = mlflow_ready(tmp_path / "server")
    argv = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        *("--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"),
        *("--artifacts-destination", (folder / "artifacts").as_uri()),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    url = f"http://127.0.0.1:{port}"
    with running_server(argv, folder=folder, ready=f"{url}/health", timeout_s=180):
        yield url


def test_train_promote_and_load_through_a_server(
    mlflow_server: str, toy_files: tuple[Path, Path], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from studentops.config import load_settings
    from studentops.registry import models, store
    from studentops.tracking import client_for
    from studentops.training.pipeline import train_and_register

    monkeypatch.setenv("STUDENTOPS_TRACKING_URI", mlflow_server)
    settings = load_settings()
    profile, data = toy_files
    outcome = train_and_register(str(profile), data, settings=settings, time_budget_s=3)
    assert outcome.version is not None and outcome.version.aliases == ["challenger"]
    assert not (home / "mlflow.db").exists()  # nothing went to the embedded store

    client = client_for(settings)
    assert models.promote(client, "toy-dropout", margin=0.0, max_gap=1.0).promoted
    assert store.champion_version("toy-dropout", settings) == outcome.version.version
    model, info = store.load_champion("toy-dropout", settings)
    assert info.run_id == outcome.run_id and model.profile.name == "toy-dropout"
    names = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {"profile.yaml", "fairness.json", "reports"} <= names
    assert os.environ["STUDENTOPS_TRACKING_URI"] == mlflow_server
