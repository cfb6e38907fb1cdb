"""Held-out facts a model card states: metric intervals, calibration, the operating point, data.

Computed once at the end of training, on the same held-out rows as the test metrics, and kept
in :attr:`TrainResult.card_facts` so the card written at registration never needs the data
again (and holds no student rows: counts, rates and bins only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.training.uncertainty import LEVEL, metric_intervals

if TYPE_CHECKING:
    import pandas as pd

    from studentops.training.model import StudentModel

CALIBRATION_BINS = 10
# Enough for stable 95% bounds (Efron and Tibshirani 1993, ch. 13: 200 and up) and cheap
# inside the training reserve: about 0.3 s for six metrics on 300 rows.
HELDOUT_RESAMPLES = 200


def class_balance(model: StudentModel, frame: pd.DataFrame) -> dict[str, int]:
    """Rows per class (display labels), or per at-risk flag for regression."""
    y = model.profile.target_values(frame)
    if model.task == "regression":
        bar = model.profile.target.at_risk_below
        if bar is None:
            return {}
        values = y.to_numpy(dtype=float)
        return {
            f"below {bar:g} (at risk)": int(np.sum(values < bar)),
            "others": int(np.sum(values >= bar)),
        }
    idx = model.class_index(y)
    counts = np.bincount(idx, minlength=len(model.classes_))
    return {model.class_label(c): int(n) for c, n in zip(model.classes_, counts, strict=True)}


def period(model: StudentModel, frame: pd.DataFrame) -> dict[str, Any] | None:
    """First and last value of the profile's period column (term, year), if it has one."""
    column = model.profile.period
    if not column or column not in frame.columns:
        return None
    values = frame[column].dropna()
    if values.empty:
        return None
    ordered = sorted(values.unique().tolist(), key=str)
    return {"column": column, "first": str(ordered[0]), "last": str(ordered[-1])}


def calibration(y01: np.ndarray, risk: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Reliability of the risk score: quantile bins, expected calibration error, Brier.

    ECE is the row-weighted mean of ``|observed rate - mean risk|`` over equal-count bins
    (Naeini et al. 2015; Guo et al. 2017); Brier is the mean squared error of the risk.

    Returns:
        ``{"bins": [{"mean_risk", "observed", "rows"}], "ece", "brier"}``.
    """
    y01 = np.asarray(y01, dtype=float)
    risk = np.asarray(risk, dtype=float)
    order = np.argsort(risk, kind="stable")
    out = []
    ece = 0.0
    for part in np.array_split(order, min(bins, max(len(order), 1))):
        if not len(part):
            continue
        mean_risk, observed = float(risk[part].mean()), float(y01[part].mean())
        ece += len(part) * abs(observed - mean_risk)
        out.append({"mean_risk": mean_risk, "observed": observed, "rows": len(part)})
    n = max(len(risk), 1)
    return {
        "bins": out,
        "ece": ece / n,
        "brier": float(np.mean((risk - y01) ** 2)) if len(risk) else float("nan"),
    }


def _metric_fns(model: StudentModel) -> dict[str, Any]:
    """Metrics on probabilities (AUC, Brier) and on the model's decisions (the stored threshold
    or class weights applied before the label metrics)."""
    from studentops.training import evaluate as ev

    if model.task == "regression":
        return {"r2": ev.r2, "rmse": ev.rmse, "mae": ev.mae}
    k = len(model.classes_)

    def on_decision(fn: Any) -> Any:
        return lambda y, p: fn(y, np.eye(k)[model.decide(p)])

    fns = {
        "roc_auc": ev.roc_auc,
        "brier": ev.brier,
        "accuracy": on_decision(ev.accuracy),
        "balanced_accuracy": on_decision(ev.balanced_accuracy),
        "f1_macro": on_decision(ev.f1_macro),
    }
    if k == 2:
        fns["f1"] = on_decision(ev.f1_positive)
    return fns


def heldout_facts(
    model: StudentModel,
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything the card says about data and held-out behaviour, as plain numbers.

    Args:
        model: the trained model.
        train, test: validated training and held-out rows (with the target).

    Returns:
        ``{"data": {"train_rows", "test_rows", "class_balance": {"train", "test"}, "period"},
        "intervals": {metric: {"value", "low", "high"}}, "level", "calibration": {...} | None,
        "operating": {"threshold", "flagged_per_100", "at_risk_per_100", "recall",
        "precision"} | None}``. Classification intervals are on the model's decision rule
        (labels use the stored threshold or class weights).
    """
    from studentops.training.fairness import flags

    facts: dict[str, Any] = {
        "data": {
            "train_rows": len(train),
            "test_rows": len(test),
            "class_balance": {
                "train": class_balance(model, train),
                "test": class_balance(model, test),
            },
            "period": period(model, train),
        },
        "level": level,
    }
    y_raw = model.profile.target_values(test)
    if model.task == "regression":
        y = y_raw.to_numpy(dtype=float)
        output = model.predict_value(test)
    else:
        y = model.class_index(y_raw)
        output = model.predict_proba(test)
    facts["intervals"] = metric_intervals(
        _metric_fns(model), y, output, resamples=HELDOUT_RESAMPLES, level=level, seed=seed
    )
    _, _, y_flag, p_flag = flags(model, test)
    risk = model.risk_score(test)
    if risk is None or not len(test):
        facts["calibration"] = None
        facts["operating"] = None
        return facts
    facts["calibration"] = calibration(y_flag, risk)
    found = int(np.sum(y_flag & p_flag))
    facts["operating"] = {
        "threshold": None if model.threshold is None else float(model.threshold),
        "flagged_per_100": 100 * float(np.mean(p_flag)),
        "at_risk_per_100": 100 * float(np.mean(y_flag)),
        "recall": found / int(y_flag.sum()) if y_flag.any() else float("nan"),
        "precision": found / int(p_flag.sum()) if p_flag.any() else float("nan"),
    }
    return facts
