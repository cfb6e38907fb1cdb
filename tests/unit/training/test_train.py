"""train_model end to end on synthetic data: budget, result contract, artifacts, fingerprint."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from studentops.errors import ConfigError
from studentops.training.request import TrainRequest
from studentops.training.result import TrainResult
from studentops.training.train import data_fingerprint, train_model

from .synthetic import make_frame, make_profile


def test_five_second_budget_gives_a_full_result(
    multiclass_profile, multiclass_frame, tmp_path
) -> None:
    from studentops.training import search, train

    # Library imports cost seconds on a busy machine; a real run pays them once per process.
    _, data = search.prepare_search_data(multiclass_frame, multiclass_profile)
    search._import_libraries(search.candidate_names("multiclass", True), data)
    train._import_reporting()

    seen = []
    start = time.perf_counter()
    result = train_model(
        TrainRequest(
            frame=multiclass_frame,
            profile=multiclass_profile,
            time_budget_s=5,
            artifacts_dir=tmp_path,
            on_trial=seen.append,
        )
    )
    wall = time.perf_counter() - start
    assert isinstance(result, TrainResult)
    assert wall <= 5 * 1.1 + 1.0
    assert result.metric == "f1_macro" and result.split == "stratified"
    assert result.train_rows + result.test_rows == len(multiclass_frame) and result.test_rows == 120
    assert 0.3 < result.test_metrics["f1_macro"] <= 1 and 0.3 < result.cv_score <= 1
    assert result.trials == seen and result.trials
    assert result.algorithm == result.model.algorithm
    assert result.best_params == result.model.estimator_summary()["params"]
    assert (
        0 <= result.fairness["max_gap"] <= 1
        and result.fairness_max_gap == result.fairness["max_gap"]
    )
    assert result.importance["importance"]
    assert result.fit_duration_s <= result.duration_s
    for name in (
        "metrics.json",
        "trials.json",
        "importance.json",
        "fairness.json",
        "model.json",
        "confusion_matrix.png",
        "roc_curve.png",
        "pr_curve.png",
        "calibration.png",
    ):
        assert (tmp_path / name).is_file(), name
    trials = json.loads((tmp_path / "trials.json").read_text())
    assert len(trials) == len(result.trials)
    assert result.summary()["data_fingerprint"] == result.data_fingerprint


def test_group_split_and_binary_threshold(binary_profile, binary_frame, tmp_path) -> None:
    result = train_model(
        TrainRequest(
            frame=binary_frame,
            profile=binary_profile,
            time_budget_s=60,
            artifacts_dir=tmp_path,
            split="group",
            n_trials=2,
            n_jobs=1,
            algorithms=["logistic_regression", "lightgbm"],
        )
    )
    assert result.metric == "roc_auc" and result.split == "group"
    assert 0 < result.model.threshold < 1
    assert result.test_metrics["threshold"] == pytest.approx(result.model.threshold)
    assert len(result.trials) == 2


def test_regression_with_time_split(regression_profile, regression_frame, tmp_path) -> None:
    result = train_model(
        TrainRequest(
            frame=regression_frame,
            profile=regression_profile,
            time_budget_s=60,
            artifacts_dir=tmp_path,
            split="time",
            n_trials=2,
            n_jobs=1,
            algorithms=["ridge", "lasso"],
        )
    )
    assert result.metric == "r2" and result.test_metrics["r2"] > 0.5
    assert result.model.sigma and result.model.sigma > 0
    assert (tmp_path / "residuals.png").is_file()


def test_wrong_metric_is_a_clear_error(binary_profile, binary_frame, tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not apply"):
        train_model(
            TrainRequest(
                frame=binary_frame,
                profile=binary_profile,
                time_budget_s=5,
                metric="r2",
                artifacts_dir=tmp_path,
            )
        )


def test_fingerprint_is_about_rows_not_order() -> None:
    profile = make_profile("multiclass")
    frame = make_frame(profile, n=100)
    fp = data_fingerprint(frame, profile)
    assert fp == data_fingerprint(frame.sample(frac=1.0, random_state=1), profile)
    assert fp == data_fingerprint(frame.reset_index(drop=True).assign(extra=1), profile)
    changed = frame.copy()
    changed.loc[changed.index[5], "study"] += 0.1
    assert fp != data_fingerprint(changed, profile)
    assert fp != data_fingerprint(frame.iloc[1:], profile)
    assert len(fp) == 32 and int(fp, 16) >= 0
    assert np.all(frame.columns == make_frame(profile, n=100).columns)
