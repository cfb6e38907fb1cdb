"""Metrics equal scikit-learn's; decision rules; the test evaluation and its artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from studentops.errors import ConfigError
from studentops.training import evaluate as ev

from .synthetic import make_frame, make_profile, quick_model


def _probs(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y]
    p = np.exp(logits)
    return y, p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("k", [2, 4])
def test_classification_metrics_match_sklearn(k: int) -> None:
    y, p = _probs(300, k)
    pred = p.argmax(axis=1)
    assert ev.f1_macro(y, p) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert ev.accuracy(y, p) == pytest.approx(skm.accuracy_score(y, pred))
    assert ev.balanced_accuracy(y, p) == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert ev.log_loss(y, p) == pytest.approx(skm.log_loss(y, p))
    if k == 2:
        assert ev.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p[:, 1]))
        assert ev.average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p[:, 1]))
        assert ev.f1_positive(y, p) == pytest.approx(skm.f1_score(y, pred))
        assert ev.brier(y, p) == pytest.approx(skm.brier_score_loss(y, p[:, 1]))
    else:
        assert ev.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr"))
        macro_ap = np.mean([skm.average_precision_score(y == c, p[:, c]) for c in range(k)])
        assert ev.average_precision(y, p) == pytest.approx(macro_ap)


def test_ties_in_scores_match_sklearn() -> None:
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    s = np.array([0.2, 0.8, 0.5, 0.5, 0.5, 0.1, 0.9, 0.2])
    p = np.c_[1 - s, s]
    assert ev.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, s))
    assert ev.average_precision(y, p) == pytest.approx(skm.average_precision_score(y, s))


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(50, 10, 200)
    v = y + rng.normal(0, 4, 200)
    assert ev.r2(y, v) == pytest.approx(skm.r2_score(y, v))
    assert ev.rmse(y, v) == pytest.approx(np.sqrt(skm.mean_squared_error(y, v)))
    assert ev.mae(y, v) == pytest.approx(skm.mean_absolute_error(y, v))


def test_get_metric_defaults_and_errors() -> None:
    assert ev.get_metric(None, "multiclass").name == "f1_macro"
    assert ev.get_metric(None, "binary").name == "roc_auc"
    assert ev.get_metric(None, "regression").name == "r2"
    assert ev.get_metric("log_loss", "binary").oriented(0.3) == -0.3
    with pytest.raises(ConfigError, match="does not apply"):
        ev.get_metric("r2", "binary")


def test_threshold_maximises_f1() -> None:
    y, p = _probs(400, 2, seed=3)
    t = ev.choose_threshold(y, p[:, 1])
    best = max(skm.f1_score(y, p[:, 1] >= c) for c in np.unique(p[:, 1]))
    assert skm.f1_score(y, p[:, 1] >= t) == pytest.approx(best)


def test_threshold_for_target_recall() -> None:
    y, p = _probs(400, 2, seed=4)
    t = ev.choose_threshold(y, p[:, 1], target_recall=0.9)
    assert skm.recall_score(y, p[:, 1] >= t) >= 0.9
    # the highest such threshold: a little higher loses the target
    assert skm.recall_score(y, p[:, 1] >= t + 1e-9) < 0.9
    assert ev.choose_threshold(np.ones(5), np.linspace(0, 1, 5)) == 0.5


def test_class_weights_only_when_they_help() -> None:
    rng = np.random.default_rng(5)
    y = rng.choice(3, 600, p=[0.7, 0.2, 0.1])
    p = np.tile([0.6, 0.25, 0.15], (600, 1)) + 0.3 * np.eye(3)[y] * rng.random((600, 1))
    p /= p.sum(axis=1, keepdims=True)
    folds = [
        (np.arange(600)[np.arange(600) % 3 != i], np.arange(600)[np.arange(600) % 3 == i])
        for i in range(3)
    ]
    metric = ev.METRICS["f1_macro"]
    w = ev.choose_class_weights(y, p, folds, metric)
    assert w is not None
    assert ev.fold_score(metric, y, p * w, folds) > ev.fold_score(metric, y, p, folds)
    # perfectly separated: nothing to gain
    perfect = np.eye(3)[y] * 0.9 + 0.05
    assert ev.choose_class_weights(y, perfect, folds, metric) is None


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
def test_evaluate_model_writes_artifacts(task: str, tmp_path) -> None:
    profile = make_profile(task)
    train, test = make_frame(profile, n=400, seed=1), make_frame(profile, n=150, seed=2)
    algos = ("ridge",) if task == "regression" else ("logistic_regression",)
    model = quick_model(profile, train, algos)
    out = ev.evaluate_model(model, test, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == pytest.approx(out)
    if task == "regression":
        assert {"r2", "rmse", "mae"} <= out.keys() and out["r2"] > 0.5
        assert (tmp_path / "residuals.png").stat().st_size > 0
        return
    assert {
        "f1_macro",
        "accuracy",
        "roc_auc",
        "log_loss",
        "brier",
        "average_precision",
    } <= out.keys()
    for name in ("confusion_matrix", "roc_curve", "pr_curve", "calibration"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0
        assert json.loads((tmp_path / f"{name}.json").read_text())
    report = json.loads((tmp_path / "classification_report.json").read_text())
    assert "macro avg" in report
    if task == "binary":
        assert out["threshold"] == pytest.approx(model.threshold)
        assert {"f1", "precision", "recall"} <= out.keys()


@pytest.mark.parametrize("task", ["multiclass", "binary"])
def test_no_heldout_metric_is_claimed_without_the_at_risk_class(task: str, tmp_path) -> None:
    """Case 08: six held-out rows without an F: no accuracy 1.0 or macro-F1 0.6 is claimed."""
    profile = make_profile(task)
    train, test = make_frame(profile, n=400, seed=1), make_frame(profile, n=150, seed=2)
    model = quick_model(profile, train, ("logistic_regression",))
    y = model.class_index(profile.target_values(test))
    no_f = test[~np.isin(y, model.risk_indices())].head(6)
    assert len(no_f) == 6
    out = ev.evaluate_model(model, no_f, tmp_path)
    measured = {k: v for k, v in out.items() if k not in ev.DECISION_RULES}
    assert measured and all(np.isnan(v) for v in measured.values())
    if task == "binary":
        assert out["threshold"] == pytest.approx(model.threshold)  # a rule, not a measurement
    reason = ev.heldout_undefined_reason(model, no_f)
    assert reason == "at-risk class F absent from the 6 held-out rows"
    # With the at-risk class present the numbers are claimed as before.
    assert ev.heldout_undefined_reason(model, test) is None
    assert not np.isnan(ev.evaluate_model(model, test)["accuracy"])
