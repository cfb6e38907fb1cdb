"""Fixtures for registry tests: settings on a temp home with a ready MLflow database, and
real StudentModels from short training runs on synthetic students.

The MLflow database is a copy of the session's empty one (``mlflow_ready`` in
tests/conftest.py); models are trained once per session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from studentops.config import Settings, load_settings
from studentops.datasets.profile import Profile, load_profile
from studentops.datasets.validation import validate

from .toy import TOY_REGRESSION_PROFILE, make_toy_frame, write_toy_profile


@pytest.fixture
def settings(home: Path, mlflow_ready: Callable[[Path], Path]) -> Settings:
    """Settings on the test's home, its MLflow database ready (tests/conftest.py)."""
    mlflow_ready(home)
    return load_settings()


@pytest.fixture(scope="session")
def toy_profile(tmp_path_factory: pytest.TempPathFactory) -> Profile:
    return load_profile(write_toy_profile(tmp_path_factory.mktemp("profiles")))


@pytest.fixture(scope="session")
def toy_valid(toy_profile: Profile) -> pd.DataFrame:
    frame = make_toy_frame(400).astype(str).replace({"": None})
    return validate(frame, toy_profile).valid


@pytest.fixture(scope="session")
def toy_model(
    toy_profile: Profile, toy_valid: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """A real StudentModel: a short search over two fast algorithms."""
    from studentops.training.request import TrainRequest
    from studentops.training.train import train_model

    result = train_model(
        TrainRequest(
            frame=toy_valid,
            profile=toy_profile,
            time_budget_s=5,
            n_trials=4,
            algorithms=["logistic_regression", "lightgbm"],
            artifacts_dir=tmp_path_factory.mktemp("toy-train"),
        )
    )
    return result.model


@pytest.fixture(scope="session")
def toy_regressor(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A real regression StudentModel (grade, at risk below 8)."""
    from studentops.training.request import TrainRequest
    from studentops.training.train import train_model

    folder = tmp_path_factory.mktemp("toy-grade")
    (folder / "toy-grade.yaml").write_text(TOY_REGRESSION_PROFILE, encoding="utf-8")
    profile = load_profile(folder / "toy-grade.yaml")
    frame = make_toy_frame(300, seed=5).astype(str).replace({"": None})
    result = train_model(
        TrainRequest(
            frame=validate(frame, profile).valid,
            profile=profile,
            time_budget_s=3,
            n_trials=2,
            algorithms=["ridge"],
            artifacts_dir=folder / "artifacts",
        )
    )
    return result.model


@pytest.fixture
def logged_version(
    settings: Settings, toy_profile: Profile, toy_valid: pd.DataFrame, toy_model: Any
) -> Callable[..., str]:
    """Log the toy model in a run and register it as challenger with the figures given."""
    import mlflow

    from studentops import tracking
    from studentops.registry import models
    from studentops.registry.pyfunc import input_example, log_student_model

    def make(score: float = 0.8, gap: float | None = 0.05, metric: str = "roc_auc") -> str:
        client = tracking.client_for(settings)
        experiment = tracking.ensure_experiment(client, toy_profile.name, settings)
        with mlflow.start_run(experiment_id=experiment) as run:
            info = log_student_model(toy_model, input_example(toy_valid, toy_profile))
        version = models.register_challenger(
            client,
            toy_profile.name,
            info.model_uri,
            run_id=run.info.run_id,
            metric=metric,
            test_metrics={metric: score, "accuracy": 0.75},
            fairness_gap=gap,
            algorithm=toy_model.algorithm,
        )
        return version.version

    return make
