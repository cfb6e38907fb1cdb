"""A real registry for serving tests: two short training runs on synthetic UCI-like students.

Trained once per session (about 20 s): version 1 is promoted champion, version 2 stays
challenger so tests can move the alias.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from studentops.config import Settings, load_settings

PROFILE = "uci-dropout-binary"


@dataclass
class Registry:
    """Settings pointing at the trained registry, a scoring cohort and the versions."""

    settings: Settings
    cohort: pd.DataFrame
    versions: list[str]
    profile: str = PROFILE

    def promote(self, version: str) -> None:
        from studentops.registry import models
        from studentops.tracking import client_for

        models.promote(
            client_for(self.settings),
            PROFILE,
            margin=0.0,
            max_gap=1.0,
            force=True,
            version=version,
        )


@pytest.fixture(scope="session")
def registry(
    tmp_path_factory: pytest.TempPathFactory, mlflow_ready: Callable[[Path], Path]
) -> Registry:
    """Two versions trained on generated students; version 1 champion."""
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort
    from studentops.training.pipeline import train_and_register

    home = mlflow_ready(tmp_path_factory.mktemp("serving-home"))
    settings = load_settings(
        config_file=home / "none.yaml", home=home, serve_profile=PROFILE, reload_interval_s=3600
    )
    profile = load_profile(PROFILE)
    versions = []
    for seed in (1, 2):
        data = home / f"train-{seed}.csv"
        generate_cohort(profile, 1200, seed=seed).to_csv(data, index=False)
        outcome = train_and_register(PROFILE, data, settings=settings, time_budget_s=4, seed=seed)
        assert outcome.version is not None
        versions.append(outcome.version.version)
    reg = Registry(settings, generate_cohort(profile, 300, seed=7), versions)
    reg.promote(versions[0])
    return reg


@pytest.fixture(scope="session")
def as_records() -> Any:
    """Turns a frame into records as a JSON client sends them."""
    return client_records


def client_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as a JSON client sends them (plain Python scalars, ids added)."""
    rows = frame.drop(columns=["Target"], errors="ignore").to_dict("records")
    out = []
    for i, row in enumerate(rows):
        rec = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        rec["student_id"] = f"stu-{i}"
        out.append(rec)
    return out


@pytest.fixture(scope="session")
def live_api(registry: Registry) -> Iterator[str]:
    """The API on a real uvicorn server on loopback (a thread), serving the champion."""
    import threading

    import uvicorn
    from loopback import free_port, http_ok, wait_until_ready

    from studentops.serving.app import create_app

    port = free_port()
    settings = registry.settings.model_copy(update={"max_batch_rows": 50})
    config = uvicorn.Config(
        create_app(settings, poll=False), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(http_ok(f"{url}/ready"), what="the API (uvicorn thread)", timeout_s=60)
    yield url
    server.should_exit = True
    thread.join(10)
