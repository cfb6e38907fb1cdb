"""Fairness audit on the test part: metrics per value of each sensitive attribute, and gaps.

Sensitive columns (gender, ethnicity ...) are usually not features, but they stay in the data so
this audit can run. For each attribute, fairlearn's MetricFrame gives per-group metrics; the gap
of a metric is the largest difference between groups with at least ``min_group_size`` rows
(a group of three students would make any gap meaningless).

The promotion gate uses ``max_gap``: the largest gap of the *recall of at-risk students*
(equal opportunity: a struggling student is as likely to be flagged whatever the group). The
selection-rate gap (demographic parity) is reported too but not gated on, because at-risk base
rates differ between groups and a perfect model would fail it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.datasets.profile import category_key

if TYPE_CHECKING:
    import pandas as pd

    from studentops.training.model import StudentModel

GATE_METRIC = "recall_at_risk"


def _recall(y_flag: np.ndarray, p_flag: np.ndarray) -> float:
    pos = np.asarray(y_flag, dtype=bool)
    return float(np.asarray(p_flag, dtype=bool)[pos].mean()) if pos.any() else float("nan")


def _selection_rate(y_flag: np.ndarray, p_flag: np.ndarray) -> float:
    return float(np.mean(np.asarray(p_flag, dtype=bool))) if len(p_flag) else float("nan")


def _gap(values: dict[str, float], counts: dict[str, int], min_size: int) -> float | None:
    usable = [v for g, v in values.items() if counts[g] >= min_size and not math.isnan(v)]
    return float(max(usable) - min(usable)) if len(usable) >= 2 else None


def _group_names(model: StudentModel, column: str, values: pd.Series) -> np.ndarray:
    labels = {category_key(k): v for k, v in (model.profile.columns[column].labels or {}).items()}
    return np.array(
        [
            "missing"
            if v is None or (isinstance(v, float) and math.isnan(v))
            else str(labels.get(category_key(v), category_key(v)))
            for v in values
        ],
        dtype=object,
    )


def flags(
    model: StudentModel, frame: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y_true, y_pred, true at-risk flag, predicted at-risk flag) of the rows of ``frame``."""
    y_raw = model.profile.target_values(frame)
    if model.task == "regression":
        y = y_raw.to_numpy(dtype=float)
        pred = model.predict_value(frame)
        bar = model.profile.target.at_risk_below
        if bar is None:
            return y, pred, np.zeros(len(y), bool), np.zeros(len(y), bool)
        return y, pred, y < bar, pred < bar
    y = model.class_index(y_raw)
    pred = model.class_index(model.predict(frame))
    risky = model.risk_indices()
    return y, pred, np.isin(y, risky), np.isin(pred, risky)


def fairness_report(
    model: StudentModel, frame: pd.DataFrame, *, min_group_size: int = 20
) -> dict[str, Any]:
    """Per-group metrics and gaps for each sensitive attribute of the profile.

    Args:
        model: the trained model.
        frame: validated test rows with the target and the sensitive columns.
        min_group_size: groups smaller than this are reported but left out of the gaps.

    Returns:
        ``{"gate_metric", "max_gap", "min_group_size", "attributes": {attr: {"groups":
        {group: {metric: value}}, "gaps": {metric: gap}, "small_groups": [...]}}}``.
    """
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

    y, pred, y_flag, p_flag = flags(model, frame)
    if model.task == "regression":
        main = {"mae": mean_absolute_error}
    elif model.task == "binary":
        main = {"accuracy": accuracy_score, "f1": lambda a, b: f1_score(a, b, zero_division=0)}
    else:
        main = {
            "accuracy": accuracy_score,
            "f1_macro": lambda a, b: f1_score(a, b, average="macro", zero_division=0),
        }
    risk_metrics = {"selection_rate": _selection_rate, GATE_METRIC: _recall}
    report: dict[str, Any] = {
        "gate_metric": GATE_METRIC,
        "max_gap": 0.0,
        "min_group_size": min_group_size,
        "attributes": {},
    }
    gaps_of_gate: list[float] = []
    for column in model.profile.sensitive:
        if column not in frame.columns:
            report["attributes"][column] = {"error": "column not in the data"}
            continue
        groups = _group_names(model, column, frame[column])
        by_main = MetricFrame(
            metrics=main, y_true=y, y_pred=pred, sensitive_features=groups
        ).by_group
        by_risk = MetricFrame(
            metrics=risk_metrics, y_true=y_flag, y_pred=p_flag, sensitive_features=groups
        ).by_group
        names, counts = np.unique(groups, return_counts=True)
        count = {str(g): int(c) for g, c in zip(names, counts, strict=True)}
        table: dict[str, dict[str, float]] = {g: {"count": float(c)} for g, c in count.items()}
        for by in (by_main, by_risk):
            for g, row in by.iterrows():
                table[str(g)].update({k: float(v) for k, v in row.items()})
        metric_names = [*main, *risk_metrics]
        gaps = {
            m: _gap({g: table[g][m] for g in table}, count, min_group_size) for m in metric_names
        }
        gate_gap = gaps[GATE_METRIC]
        if gate_gap is not None:
            gaps_of_gate.append(gate_gap)
        report["attributes"][column] = {
            "groups": table,
            "gaps": gaps,
            "small_groups": sorted(g for g, c in count.items() if c < min_group_size),
        }
    report["max_gap"] = float(max(gaps_of_gate, default=0.0))
    return report
