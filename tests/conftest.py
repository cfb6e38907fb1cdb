"""Shared fixtures: the seed data folder (skip when absent), an isolated state folder, and
state folders whose MLflow database is already made.

Creating an MLflow SQLite database runs every one of MLflow's schema migrations (about 5 s on
a loaded 2-core machine), so one empty database is made per session and copied into each state
folder that trains a model. The copy is the same file MLflow would have written.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real seed datasets; tests that need them skip when ../shared is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"seed data not found at {SHARED_DATA} (../shared is absent)")
    return SHARED_DATA


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point all studentops state at a fresh folder for one test."""
    state = tmp_path / "state"
    monkeypatch.setenv("STUDENTOPS_HOME", str(state))
    monkeypatch.setenv("STUDENTOPS_DATA_DIR", str(SHARED_DATA))
    monkeypatch.setenv("STUDENTOPS_CONFIG", str(tmp_path / "none.yaml"))
    return state


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic OULAD folder of 300 enrolments with a small click log (events tests and
    the early-warning study's tests share it)."""
    from studentops.events.synthetic import generate_oulad, write_oulad

    folder = tmp_path_factory.mktemp("syn")
    write_oulad(generate_oulad(300, seed=4, clicks_per_student=5), folder)
    return folder


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite database with every migration applied and nothing in it: the product's
    own template (``tracking.seed_sqlite_store``, built once per machine in the user cache)."""
    from studentops.config import Settings
    from studentops.tracking import seed_sqlite_store

    folder = tmp_path_factory.mktemp("mlflow-template")
    path = folder / "mlflow.db"
    if not seed_sqlite_store(path, Settings(home=folder)):  # an unusable cache: build it here
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(scope="session")
def mlflow_ready(empty_mlflow_db: Path) -> Callable[[Path], Path]:
    """``mlflow_ready(home)`` creates ``home`` with a copy of the empty MLflow database as its
    tracking store (studentops' default ``<home>/mlflow.db``) and returns ``home``."""

    def prepare(home: Path) -> Path:
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(empty_mlflow_db, home / "mlflow.db")
        return home

    return prepare
