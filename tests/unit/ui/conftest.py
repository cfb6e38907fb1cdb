"""A small trained and promoted model of the demo profile, once per session, and its lists.

Training runs for a few seconds on 600 generated students; each test that changes the
registry gets its own copy of the state folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from studentops.config import Settings, load_settings

PROFILE = "student-performance"


def _use_home(monkeypatch: pytest.MonkeyPatch, home: Path, **env: str) -> Settings:
    monkeypatch.setenv("STUDENTOPS_HOME", str(home))
    monkeypatch.setenv("STUDENTOPS_CONFIG", str(home / "none.yaml"))
    for name, value in env.items():
        monkeypatch.setenv(f"STUDENTOPS_{name.upper()}", value)
    return load_settings()


@pytest.fixture(scope="session")
def trained_home(
    tmp_path_factory: pytest.TempPathFactory, mlflow_ready: Callable[[Path], Path]
) -> Path:
    """A state folder with a champion of ``student-performance`` (tiny training budget)."""
    from studentops import tracking
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort, write_cohort
    from studentops.registry import models
    from studentops.training.pipeline import train_and_register

    home = mlflow_ready(tmp_path_factory.mktemp("ui-home") / "state")
    settings = load_settings(home=home, config_file=home / "none.yaml")
    profile = load_profile(PROFILE)
    cohort = write_cohort(generate_cohort(profile, rows=600, seed=3), home / "cohort.csv")
    train_and_register(profile, cohort, settings=settings, time_budget_s=4, seed=3)
    models.promote(tracking.client_for(settings), PROFILE, margin=0.0, max_gap=1.0)
    return home


@pytest.fixture(scope="session")
def new_term() -> pd.DataFrame:
    """300 students of next term, without outcomes."""
    from studentops.datasets.profile import load_profile
    from studentops.datasets.synthetic import generate_cohort

    frame = generate_cohort(load_profile(PROFILE), rows=300, seed=11)
    return frame.drop(columns=["GradeClass", "GPA"])


@pytest.fixture(scope="session")
def predictor(trained_home: Path) -> Any:
    from studentops.serving.batch import load_predictor

    settings = load_settings(home=trained_home, config_file=trained_home / "none.yaml")
    return load_predictor(PROFILE, settings)


@pytest.fixture(scope="session")
def scored(predictor: Any, new_term: pd.DataFrame) -> Any:
    from studentops.ui.risklist import score_table

    return score_table(predictor, new_term, reasons_rows=50, source="new-term.csv")


@pytest.fixture
def home_copy(trained_home: Path, tmp_path: Path) -> Path:
    """A private copy of the trained state (the registry may be changed)."""
    copy = tmp_path / "state"
    shutil.copytree(trained_home, copy, ignore=shutil.ignore_patterns("dashboard"))
    return copy


@pytest.fixture
def use_home(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the dashboard (which reads settings from the environment) at a state folder."""

    def use(home: Path, **env: str) -> Settings:
        return _use_home(monkeypatch, home, **env)

    return use
