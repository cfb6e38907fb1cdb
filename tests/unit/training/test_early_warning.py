"""The early-warning study: frames by week, the model seam, splits and its CLI command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from studentops.cli import _register_parts, app
from studentops.datasets.profile import Profile, load_profile
from studentops.datasets.validation import validate
from studentops.events.frames import PROFILE, weekly_training_frame
from studentops.events.synthetic import generate_oulad, write_oulad
from studentops.training.early_warning.study import (
    evaluate_by_week,
    plot_by_week,
    recall_at_precision,
    search_fit_predict,
    split_rows,
)

runner = CliRunner()


def _cli(*args: str) -> str:
    _register_parts()
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _constant_risk(
    train: pd.DataFrame, test: pd.DataFrame, p: Profile, budget: float
) -> np.ndarray:
    return test["n_missed"].to_numpy(dtype=float) - test["n_submitted"].to_numpy(dtype=float)


def test_training_frame_and_evaluation_by_week(tmp_path: Path) -> None:
    folder = tmp_path / "syn"
    write_oulad(generate_oulad(400, seed=2, clicks_per_student=5), folder)
    frame = weekly_training_frame(6, folder)
    assert frame["enrolment_id"].is_unique and len(frame) == 400
    result = evaluate_by_week([2, 6], 1.0, oulad_dir=folder, fit_predict=_constant_risk)
    table = result.table
    assert table["week"].tolist() == [2, 6]
    assert {"roc_auc", "recall_at_p80", "f1", "roc_auc_active"} <= set(table.columns)
    assert table["roc_auc"].between(0, 1).all()
    png = plot_by_week(result, tmp_path / "plot.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_recall_at_precision() -> None:
    y = np.array([1, 1, 0, 1, 0])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    assert recall_at_precision(y, score, 0.75) == 1.0  # threshold 0.6: 3 of 4 flagged are right
    assert recall_at_precision(y, score, 0.8) == 2 / 3  # threshold 0.8: 2 of 2
    assert recall_at_precision(np.array([0, 1]), np.array([0.9, 0.1]), 0.8) == 0.0


def test_group_split_keeps_each_student_on_one_side(synthetic: Path) -> None:
    profile = load_profile(PROFILE)
    frame = weekly_training_frame(4, synthetic)
    train, test = split_rows(frame, profile, "group")
    ids = frame["student_id"].to_numpy()
    assert len(test) > 0 and not set(ids[train]) & set(ids[test])


@pytest.mark.slow
def test_weekly_frame_trains_with_train_model(synthetic: Path, tmp_path: Path) -> None:
    """What ``studentops train --profile oulad-pass --as-of-week W`` does, on a tiny budget."""
    from studentops.training.request import TrainRequest
    from studentops.training.train import train_model

    profile = load_profile(PROFILE)
    checked = validate(weekly_training_frame(6, synthetic), profile)
    assert checked.rejected == 0
    result = train_model(
        TrainRequest(
            frame=checked.valid,
            profile=profile,
            time_budget_s=1.0,
            split="group",
            artifacts_dir=tmp_path,
        )
    )
    assert result.split == "group" and result.train_rows + result.test_rows == 300
    risk = result.model.risk_score(checked.valid)
    assert risk is not None and risk.shape == (300,)
    assert ((risk >= 0) & (risk <= 1)).all()


@pytest.mark.slow
def test_evaluation_trains_with_the_platform_by_default(synthetic: Path) -> None:
    result = evaluate_by_week([6], 1.0, oulad_dir=synthetic)
    assert result.model == "search"
    assert result.table["roc_auc"].between(0, 1).all()


def test_search_is_the_default_model_and_baseline_selectable(
    synthetic: Path, tmp_path: Path
) -> None:
    import inspect

    default = inspect.signature(evaluate_by_week).parameters["fit_predict"].default
    assert default is search_fit_predict
    text = _cli(
        "events",
        "evaluate",
        "--weeks",
        "4",
        "--time-budget",
        "1",
        "--model",
        "baseline",
        "--oulad",
        str(synthetic),
        "--out",
        str(tmp_path),
    )
    assert "model: baseline" in text and (tmp_path / "by-week-group-baseline.csv").is_file()
    _register_parts()
    wrong = runner.invoke(app, ["events", "evaluate", "--model", "nope", "--oulad", "x"])
    assert wrong.exit_code != 0 and "unknown model" in str(wrong.exception)


def test_evaluate_writes_reports_under_the_state_folder_and_quiets_optuna(
    synthetic: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    monkeypatch.chdir(tmp_path)  # nothing may land in the current folder
    logging.getLogger("optuna").setLevel(logging.INFO)
    text = _cli(
        "events", "evaluate", "--weeks", "4", "--time-budget", "1", "--model", "baseline",
        "--oulad", str(synthetic),
    )  # fmt: skip
    assert (home / "reports" / "early-warning" / "by-week-group-baseline.csv").is_file()
    assert not (tmp_path / "reports").exists()
    assert str(home / "reports" / "early-warning") in text.replace("\n", "")
    assert logging.getLogger("optuna").getEffectiveLevel() >= logging.WARNING


def test_time_forward_split_tests_the_latest_presentation_only() -> None:
    from studentops.errors import DataError
    from studentops.training.early_warning.study import (
        roc_auc_all_and_active,
        time_forward_rows,
    )

    codes = np.array(["2014B", "2013J", "2013B", "2014B", "2013J"])
    train, test = time_forward_rows(codes)
    assert test.tolist() == [0, 3] and train.tolist() == [1, 2, 4]
    with pytest.raises(DataError, match="two presentations"):
        time_forward_rows(np.array(["2013B", "2013B"]))
    y = np.array([1, 0, 1, 0])
    every, enrolled = roc_auc_all_and_active(
        y, np.array([0.9, 0.1, 0.2, 0.8]), np.array([True, False, False, False])
    )
    assert every == 0.75 and enrolled == 0.5  # the withdrawn student's sure hit is left out
