"""Trained models of the seed datasets, once per session (the warm-start trials only, so the
models are deterministic and quick to train)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from studentops.datasets.loading import read_table
from studentops.datasets.profile import load_profile
from studentops.datasets.validation import validate
from studentops.training.request import TrainRequest
from studentops.training.result import TrainResult
from studentops.training.train import train_model

SEEDS = {
    "student-performance": (
        "student_performance.csv",
        None,
        ["derived:ridge", "lightgbm", "logistic_regression"],
    ),
    "uci-dropout-binary": (
        "students_dropout.csv",
        ";",
        ["logistic_regression", "lightgbm", "xgboost"],
    ),
    "exams-math": ("exams.csv", None, ["ridge", "lightgbm", "lasso"]),
}


def _train(name: str, data_dir: Path, out: Path) -> tuple[TrainResult, pd.DataFrame]:
    file, sep, algorithms = SEEDS[name]
    profile = load_profile(name)
    frame = validate(read_table(data_dir / file, sep), profile).valid
    result = train_model(
        TrainRequest(
            frame=frame,
            profile=profile,
            time_budget_s=300,
            artifacts_dir=out / name,
            n_trials=len(algorithms),
            n_jobs=1,
            algorithms=algorithms,
        )
    )
    return result, frame


@pytest.fixture(scope="session")
def grades(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainResult, pd.DataFrame]:
    return _train("student-performance", shared_data, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def dropout(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainResult, pd.DataFrame]:
    return _train("uci-dropout-binary", shared_data, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def exams(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainResult, pd.DataFrame]:
    return _train("exams-math", shared_data, tmp_path_factory.mktemp("models"))
