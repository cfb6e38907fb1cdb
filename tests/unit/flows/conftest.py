"""Flow tests run against ``prefect_test_harness`` (a real Prefect server in a subprocess).

Prefect reads its settings when first imported, so ``PREFECT_HOME`` points at a temporary folder
here, before any test imports Prefect: nothing touches ``~/.prefect`` or another user's server.
One harness serves the whole module set (its start-up is the slow part: a long timeout, since
the machine may be busy); each test gets its own studentops home.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="studentops-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.pop("PREFECT_API_URL", None)

HARNESS_START_TIMEOUT_S = 300
PROFILE = "student-performance"


@pytest.fixture(scope="session")
def harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=HARNESS_START_TIMEOUT_S):
        yield


@pytest.fixture(scope="module")
def flow_home(
    tmp_path_factory: pytest.TempPathFactory, mlflow_ready: Callable[[Path], Path]
) -> Iterator[Path]:
    """A studentops home shared by a module's flows (train once, then score with it), its
    MLflow database a copy of the session's empty one (tests/conftest.py)."""
    root = tmp_path_factory.mktemp("flows")
    mlflow_ready(root / "state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDENTOPS_HOME", str(root / "state"))
        mp.setenv("STUDENTOPS_CONFIG", str(root / "none.yaml"))
        yield root / "state"
