"""The events CLI and the early-warning loop, on small synthetic and made-up data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from studentops.cli import _register_parts, app
from studentops.datasets.profile import Profile, load_profile
from studentops.datasets.validation import validate
from studentops.events.early_warning import (
    PROFILE,
    evaluate_by_week,
    oulad_weekly_features,
    plot_by_week,
    recall_at_precision,
    search_fit_predict,
    split_rows,
    to_profile_frame,
    weekly_training_frame,
)
from studentops.events.synthetic import generate_oulad, write_oulad

runner = CliRunner()


def _cli(*args: str) -> str:
    _register_parts()
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic OULAD folder of 300 enrolments with a small click log."""
    folder = tmp_path_factory.mktemp("syn")
    write_oulad(generate_oulad(300, seed=4, clicks_per_student=5), folder)
    return folder


def test_features_command_on_oulad(tiny_oulad: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.parquet"
    report = tmp_path / "report.json"
    text = _cli(
        "events",
        "features",
        "--oulad",
        str(tiny_oulad),
        "--weeks",
        "1-3",
        "--out",
        str(out),
        "--report",
        str(report),
    )
    assert "missing_key" in text
    frame = pl.read_parquet(out)
    assert frame.height == 9 and frame["week"].unique().sort().to_list() == [1, 2, 3]
    assert json.loads(report.read_text())["rules"]["missing_key"] == 1


def test_generate_writes_a_folder_the_adapter_reads(tmp_path: Path) -> None:
    _cli("events", "generate", "--students", "50", "--out", str(tmp_path / "syn"), "--seed", "3")
    out = tmp_path / "f.csv"
    _cli("events", "features", "--oulad", str(tmp_path / "syn"), "--weeks", "4", "--out", str(out))
    frame = pl.read_csv(out)
    assert frame.height == 50 and "clicks" in frame.columns


def test_synthetic_is_reproducible_and_outcome_shaped() -> None:
    a, b = generate_oulad(300, seed=1), generate_oulad(300, seed=1)
    assert all(a[name].equals(b[name]) for name in a)
    results = set(a["studentInfo"]["final_result"].unique())
    assert results == {"Pass", "Distinction", "Fail", "Withdrawn"}


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


def test_weekly_frames_fit_the_profile_at_every_week(synthetic: Path) -> None:
    profile = load_profile(PROFILE)
    features = oulad_weekly_features(synthetic, [0, 1, 6, 20, 40])
    for week in (0, 1, 6, 20, 40):
        frame = to_profile_frame(features.filter(pl.col("week") == week), profile)
        checked = validate(frame, profile)
        assert checked.rejected == 0, (week, checked.summary())


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
