"""Performance once outcomes arrive, per model version and sensitive group, and target drift.

Predictions are joined to outcomes on the pseudonymised student key. For each student and model
version the latest prediction made before the outcome was known counts. Figures per version:

- the profile's selection metric (the one the version was chosen on, e.g. ``f1_macro``,
  ``roc_auc``, ``r2``), computed by training's own metric functions on the logged
  probabilities, so it is comparable with the test score in the registry;
- ``recall`` and ``precision`` of "at risk" at the operating threshold (the model's own
  decisions, as logged), ``positive_rate`` (flagged share) and ``outcome_rate`` (at-risk share);
- calibration: ``ece`` (expected calibration error of the risk score over 10 equal-width bins;
  Naeini, Cooper & Hauskrecht, AAAI 2015) and ``brier`` (mean squared error of the risk score);
- regression: ``rmse``, ``mae`` (in the target's unit) and ``r2`` (coefficient of
  determination, ``1 - SSE/SST``) always, whatever the selection metric; recall and the rest
  on "at risk" = predicted/true value below the profile's ``at_risk_below``.

The same figures per value of each sensitive column (groups of at least ``MIN_GROUP`` students).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.monitoring.results import MetricValue

if TYPE_CHECKING:
    import pandas as pd

    from studentops.datasets.profile import Profile

MIN_GROUP = 20
ECE_BINS = 10


def expected_calibration_error(
    risk: np.ndarray, outcome: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE: sum over equal-width risk bins of (bin share) * |mean risk - at-risk rate|, 0..1.

    ``risk`` in [0, 1] and ``outcome`` in {0, 1}, both ``(n,)``. Naeini et al., AAAI 2015.
    """
    risk = np.asarray(risk, dtype=float)
    outcome = np.asarray(outcome, dtype=float)
    keep = ~np.isnan(risk)
    risk, outcome = risk[keep], outcome[keep]
    if risk.size == 0:
        return float("nan")
    idx = np.minimum((risk * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = idx == b
        if inside.any():
            total += inside.mean() * abs(risk[inside].mean() - outcome[inside].mean())
    return float(total)


def joined(predictions: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Predictions with their outcome: the latest prediction per student and version made
    before the outcome was observed.

    Args:
        predictions: ``(n_predictions, k)`` with ``student_key``, ``ts``, ``model_version``.
        outcomes: :meth:`MonitorStore.read_outcomes` output.

    Returns:
        ``(n_joined, k + 3)``: the prediction columns plus ``outcome``, ``observed_at``,
        ``groups``; at most one row per student and model version.
    """
    if predictions.empty or outcomes.empty:
        return predictions.iloc[:0].assign(outcome=[], observed_at=[], groups=[])
    merged = predictions.merge(outcomes, on="student_key", how="inner")
    merged = merged[merged["ts"] <= merged["observed_at"]]
    merged = merged.sort_values("ts", kind="stable")
    return merged.drop_duplicates(["student_key", "model_version"], keep="last")


def _figures(
    profile: Profile, rows: pd.DataFrame, metric: str | None
) -> dict[str, tuple[float, int]]:
    from studentops.datasets.profile import category_key

    out: dict[str, tuple[float, int]] = {}
    n = len(rows)
    if n == 0:
        return out
    risk = rows["risk_score"].to_numpy(dtype=float)
    if profile.task == "regression":
        import pandas as pd

        y = pd.to_numeric(rows["outcome"], errors="coerce").to_numpy(float)
        v = pd.to_numeric(rows["prediction"], errors="coerce").to_numpy(float)
        ok = ~(np.isnan(y) | np.isnan(v))
        y, v = y[ok], v[ok]
        if y.size:
            out["rmse"] = (float(np.sqrt(np.mean((y - v) ** 2))), int(y.size))
            out["mae"] = (float(np.mean(np.abs(y - v))), int(y.size))
            if y.size > 1 and np.var(y) > 0:  # undefined for a constant outcome
                out["r2"] = (float(1 - np.mean((y - v) ** 2) / np.var(y)), int(y.size))
        below = profile.target.at_risk_below
        if below is None:
            return out
        true_risk = y < below
        pred_risk = v < below
        risk = risk[ok]
    else:
        keys = [category_key(c) for c in profile.risk_classes()]
        if not keys:
            return out | _label_metric(rows, metric)
        true_risk = rows["outcome"].map(category_key).isin(keys).to_numpy()
        pred_risk = rows["prediction"].map(category_key).isin(keys).to_numpy()
        out |= _label_metric(rows, metric)
    tp = int(np.sum(true_risk & pred_risk))
    if true_risk.any():
        out["recall"] = (tp / int(true_risk.sum()), int(true_risk.sum()))
    if pred_risk.any():
        out["precision"] = (tp / int(pred_risk.sum()), int(pred_risk.sum()))
    out["positive_rate"] = (float(pred_risk.mean()), len(pred_risk))
    out["outcome_rate"] = (float(true_risk.mean()), len(true_risk))
    if not np.isnan(risk).all():
        keep = ~np.isnan(risk)
        out["ece"] = (expected_calibration_error(risk, true_risk), int(keep.sum()))
        out["brier"] = (float(np.mean((risk[keep] - true_risk[keep]) ** 2)), int(keep.sum()))
    return out


def _label_metric(rows: pd.DataFrame, metric: str | None) -> dict[str, tuple[float, int]]:
    """The selection metric on the logged probabilities, by training's own function."""
    import orjson

    from studentops.datasets.profile import category_key
    from studentops.training.evaluate import METRICS

    found = METRICS.get(metric or "")
    if found is None or "output" not in rows.columns:
        return {}
    probs = []
    classes: list[str] | None = None
    for text in rows["output"]:
        data = orjson.loads(text) if isinstance(text, str | bytes) else (text or {})
        p = data.get("probabilities") or {}
        if classes is None:
            classes = [category_key(k) for k in p]
        probs.append(list(p.values()))
    if not classes or any(len(p) != len(classes) for p in probs):
        return {}
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index.get(category_key(o), -1) for o in rows["outcome"]])
    keep = y >= 0
    if keep.sum() < 2 or len(set(y[keep])) < 2:
        return {}
    value = found.fn(y[keep], np.asarray(probs, dtype=float)[keep])
    return {str(metric): (float(value), int(keep.sum()))}


def performance(
    profile: Profile,
    joined_rows: pd.DataFrame,
    metric_by_version: dict[str, str | None],
) -> list[MetricValue]:
    """Figures per model version, overall and per sensitive group (see the module docstring).

    Args:
        profile: the dataset profile (task, at-risk classes, sensitive columns).
        joined_rows: :func:`joined` output.
        metric_by_version: each version's selection metric (from the registry's tags).

    Returns:
        One :class:`MetricValue` per figure, version and group (groups of at least
        ``MIN_GROUP`` students); empty when nothing joined.
    """
    out: list[MetricValue] = []
    if joined_rows.empty:
        return out
    for version, rows in joined_rows.groupby("model_version", sort=True):
        version = str(version)
        span = (rows["ts"].min().to_pydatetime(), rows["ts"].max().to_pydatetime())
        metric = metric_by_version.get(version)
        out += _values(_figures(profile, rows, metric), version, span)
        groups = rows["groups"] if "groups" in rows.columns else None
        if groups is None:
            continue
        for column in profile.sensitive:
            values = groups.map(lambda g, c=column: (g or {}).get(c))
            for value, members in rows.groupby(values.to_numpy(), sort=True):
                if len(members) >= MIN_GROUP:
                    figures = _figures(profile, members, metric)
                    out += _values(figures, version, span, column, value)
    return out


def _values(
    figures: dict[str, tuple[float, int]],
    version: str,
    span: tuple[Any, Any],
    column: str | None = None,
    value: Any = None,
) -> list[MetricValue]:
    return [
        MetricValue(
            metric=name,
            value=figure,
            n=n,
            model_version=version,
            group_column=column,
            group_value=None if value is None else str(value),
            window_start=span[0],
            window_end=span[1],
        )
        for name, (figure, n) in figures.items()
    ]
