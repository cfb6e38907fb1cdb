"""Fairness audit on held-out rows: per-group rates with intervals, gaps, and the gate's figure.

Sensitive columns (gender, ethnicity, nationality, disability ...) are usually not features,
but they stay in the data so this audit can run: dropping a column does not remove the bias
other columns carry. For every sensitive attribute of the profile, and for every pair of them
(intersections), each group gets its size and, on the at-risk decision (flagged or not):

- ``selection_rate`` (share flagged), ``recall`` (true-positive rate: at-risk students found),
  ``fnr`` (false-negative rate: at-risk students missed, ``1 - recall``), ``fpr`` (students not
  at risk who were flagged), ``precision`` (flagged students truly at risk), each with a Wilson
  95% interval; ``auc`` of the risk score with a bootstrap interval;
- the task's headline metrics (accuracy and F1, or MAE) as point values.

Definitions follow fairlearn (``selection_rate``, ``true_positive_rate``,
``false_negative_rate``, ``false_positive_rate``); the tests hold the values equal to
fairlearn's ``MetricFrame``. Groups are never hidden: a group with fewer than
``min_group_size`` rows is listed and marked ``small``; a rate whose denominator (at-risk
students for recall/FNR, others for FPR, flagged for precision) is below ``min_denominator`` is
marked ``judged: false`` and left out of the gaps. The gap of a measure is the largest
difference between judged groups, with Newcombe's interval for two proportions (bootstrap for
AUC): see :mod:`studentops.training.uncertainty`.

**The gate measure** is the false-negative-rate gap (equal opportunity, Hardt et al. 2016:
an at-risk student should be as likely to be found whatever their group; a model that misses
one group's struggling students more often denies them help). The selection-rate gap
(demographic parity) is reported but not gated on: base rates differ between groups, so a
perfect model would fail it. The gate (:func:`studentops.registry.models.fairness_gate`)
reads the interval, not only the point: it fails only when the lower bound exceeds the allowed
gap (a small group's noise cannot block), says "inconclusive" when the interval straddles it,
and names the groups too small to judge (they are not silently waved through).

**Numeric attributes** (``age``, a number or integer column, or a category of numbers without
labels) with more than :data:`MAX_NUMERIC_GROUPS` distinct values are grouped into at most
:data:`NUMERIC_BANDS` quantile bands of the audited rows, named by the values they hold
(``17–19``, ``20–24``), before any per-group figure: one group per distinct age would leave
every group too small to judge.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.datasets.profile import category_key
from studentops.training.uncertainty import (
    LEVEL,
    auc,
    bootstrap_auc,
    newcombe,
    percentile_interval,
    wilson,
)

if TYPE_CHECKING:
    import pandas as pd

    from studentops.training.model import StudentModel

GATE_METRIC = "fnr"
RATES = ("selection_rate", "recall", "fnr", "fpr", "precision")
MEASURES = (*RATES, "auc")
MIN_GROUP_SIZE = 20
MIN_DENOMINATOR = 10
INTERSECTION = " × "
MAX_NUMERIC_GROUPS = 8  # a numeric attribute with more distinct values is banded
NUMERIC_BANDS = 4


def _is_numeric_attribute(model: StudentModel, column: str) -> bool:
    spec = model.profile.columns.get(column)
    if spec is None:
        return False
    if spec.type in ("number", "integer"):
        return True
    cats = spec.categories or []
    return (
        spec.type == "category"
        and not spec.labels
        and bool(cats)
        and all(isinstance(c, int | float) and not isinstance(c, bool) for c in cats)
    )


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def group_order(name: str) -> tuple[int, float, str]:
    """Sort key of a group name: numbers and numeric bands (``9–16``, ``17–19``, ``21``) by
    their first value, then names as text, ``missing`` last (not ``17–19`` before ``9–16``)."""
    import re

    if name == "missing":
        return (2, 0.0, name)
    number = re.match(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", name)
    return (0, float(number.group()), name) if number else (1, 0.0, name)


def numeric_bands(values: pd.Series | np.ndarray, bands: int = NUMERIC_BANDS) -> np.ndarray | None:
    """Group names of a numeric attribute in at most ``bands`` quantile bands, or None when it
    has at most :data:`MAX_NUMERIC_GROUPS` distinct values (each value is then its own group).

    Cut points are the inner quantiles of the known values (ties merge bands); a band holds
    the values above one cut point up to the next, and is named by the smallest and largest
    value it holds (``17–19``; ``21`` when it holds one value). Missing values are ``missing``.
    """
    import pandas as pd

    x = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
    x = x.to_numpy(dtype=float)
    known = ~np.isnan(x)
    if len(np.unique(x[known])) <= MAX_NUMERIC_GROUPS:
        return None
    edges = np.unique(np.quantile(x[known], np.linspace(0, 1, bands + 1)[1:-1]))
    band = np.searchsorted(edges, x, side="left")  # (edge[i-1], edge[i]]
    names = np.full(len(x), "missing", dtype=object)
    for b in np.unique(band[known]):
        inside = known & (band == b)
        lo, hi = float(x[inside].min()), float(x[inside].max())
        label = _number_text(lo) if lo == hi else f"{_number_text(lo)}–{_number_text(hi)}"
        names[inside] = label
    return names


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


# -- per-group figures -----------------------------------------------------------------------


def _counts(y_flag: np.ndarray, p_flag: np.ndarray) -> dict[str, int]:
    return {
        "n": len(y_flag),
        "tp": int(np.sum(y_flag & p_flag)),
        "fn": int(np.sum(y_flag & ~p_flag)),
        "fp": int(np.sum(~y_flag & p_flag)),
        "tn": int(np.sum(~y_flag & ~p_flag)),
    }


def _fraction(c: dict[str, int], measure: str) -> tuple[int, int]:
    """(numerator, denominator) of a rate from confusion counts."""
    tp, fn, fp, tn = c["tp"], c["fn"], c["fp"], c["tn"]
    return {
        "selection_rate": (tp + fp, c["n"]),
        "recall": (tp, tp + fn),
        "fnr": (fn, tp + fn),
        "fpr": (fp, fp + tn),
        "precision": (tp, tp + fp),
    }[measure]


def group_figures(
    y_flag: np.ndarray,
    p_flag: np.ndarray,
    risk: np.ndarray | None,
    *,
    min_group_size: int = MIN_GROUP_SIZE,
    min_denominator: int = MIN_DENOMINATOR,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, Any]:
    """Size, confusion counts and each measure with its interval for one group.

    Args:
        y_flag, p_flag: boolean arrays ``(n,)``: truly at risk, flagged at risk.
        risk: risk scores ``(n,)`` in [0, 1], or None (no AUC).

    Returns:
        ``{"count", "positives", "small", "counts": {tp, fn, fp, tn}, <measure>: {"value",
        "low", "high", "numerator", "denominator", "judged"}}``.
    """
    y_flag = np.asarray(y_flag, dtype=bool)
    p_flag = np.asarray(p_flag, dtype=bool)
    c = _counts(y_flag, p_flag)
    small = c["n"] < min_group_size
    out: dict[str, Any] = {
        "count": c["n"],
        "positives": c["tp"] + c["fn"],
        "small": small,
        "counts": {k: c[k] for k in ("tp", "fn", "fp", "tn")},
    }
    for measure in RATES:
        num, den = _fraction(c, measure)
        low, high = wilson(num, den, level)
        out[measure] = {
            "value": num / den if den else float("nan"),
            "low": low,
            "high": high,
            "numerator": num,
            "denominator": den,
            "judged": not small and den >= min_denominator,
        }
    if risk is not None:
        r = np.asarray(risk, dtype=float)
        value = auc(y_flag, r)
        pos, neg = int(y_flag.sum()), int((~y_flag).sum())
        judged = not small and min(pos, neg) >= min_denominator
        low, high = (
            percentile_interval(bootstrap_auc(y_flag, r, seed=seed), level)
            if judged
            else (float("nan"), float("nan"))
        )
        out["auc"] = {"value": value, "low": low, "high": high, "judged": judged}
    return out


def measure_gap(
    groups: dict[str, dict[str, Any]],
    measure: str,
    *,
    risk_by_group: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Largest difference of ``measure`` between judged groups, with its interval.

    Returns:
        ``{"gap", "low", "high", "high_group", "low_group"}`` (gap >= 0, from the group with
        the higher value minus the one with the lower), or None with fewer than two judged
        groups.
    """
    judged = {
        g: fig[measure]
        for g, fig in groups.items()
        if measure in fig and fig[measure]["judged"] and not math.isnan(fig[measure]["value"])
    }
    if len(judged) < 2:
        return None
    top = max(judged, key=lambda g: judged[g]["value"])
    bottom = min(judged, key=lambda g: judged[g]["value"])
    if measure in RATES:
        a, b = judged[top], judged[bottom]
        gap, low, high = newcombe(
            a["numerator"], a["denominator"], b["numerator"], b["denominator"], level
        )
    else:
        gap = judged[top]["value"] - judged[bottom]["value"]
        low, high = float("nan"), float("nan")
        if risk_by_group is not None:
            low, high = _auc_gap_interval(risk_by_group[top], risk_by_group[bottom], level, seed)
    return {"gap": gap, "low": low, "high": high, "high_group": top, "low_group": bottom}


def _auc_gap_interval(
    first: tuple[np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray],
    level: float,
    seed: int,
) -> tuple[float, float]:
    """Bootstrap interval of AUC(first) - AUC(second), each group resampled on its own."""
    diffs = bootstrap_auc(*first, seed=seed) - bootstrap_auc(*second, seed=seed + 1)
    return percentile_interval(diffs, level)


# -- the report ------------------------------------------------------------------------------


def _headline_metrics(task: str) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

    if task == "regression":
        return {"mae": mean_absolute_error}
    if task == "binary":
        return {"accuracy": accuracy_score, "f1": lambda a, b: f1_score(a, b, zero_division=0)}
    return {
        "accuracy": accuracy_score,
        "f1_macro": lambda a, b: f1_score(a, b, average="macro", zero_division=0),
    }


def audit_groups(
    groups: np.ndarray,
    y: np.ndarray,
    pred: np.ndarray,
    y_flag: np.ndarray,
    p_flag: np.ndarray,
    risk: np.ndarray | None,
    *,
    task: str,
    min_group_size: int = MIN_GROUP_SIZE,
    min_denominator: int = MIN_DENOMINATOR,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, Any]:
    """The table of one attribute (or intersection): every group, and the gap per measure.

    Args:
        groups: group name of each row ``(n,)``.
        y, pred: true and predicted classes (indices) or values ``(n,)``.
        y_flag, p_flag: truly at risk / flagged at risk ``(n,)``.
        risk: risk scores ``(n,)`` or None.
        task: binary, multiclass or regression (chooses the headline metrics).

    Returns:
        ``{"groups": {group: figures}, "gaps": {measure: gap or None}, "small_groups": [...]}``.
    """
    from fairlearn.metrics import MetricFrame

    headline = MetricFrame(
        metrics=_headline_metrics(task), y_true=y, y_pred=pred, sensitive_features=groups
    ).by_group
    table: dict[str, dict[str, Any]] = {}
    by_risk: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in sorted({str(g) for g in groups}, key=group_order):
        mask = groups == name
        r = None if risk is None else risk[mask]
        figures = group_figures(
            y_flag[mask],
            p_flag[mask],
            r,
            min_group_size=min_group_size,
            min_denominator=min_denominator,
            level=level,
            seed=seed,
        )
        figures.update({k: float(v) for k, v in headline.loc[name].items()})
        table[name] = figures
        if r is not None:
            by_risk[name] = (np.asarray(y_flag[mask], dtype=bool), r)
    gaps = {
        m: measure_gap(table, m, risk_by_group=by_risk, level=level, seed=seed)
        for m in MEASURES
        if m != "auc" or risk is not None
    }
    return {
        "groups": table,
        "gaps": gaps,
        "small_groups": sorted((g for g, f in table.items() if f["small"]), key=group_order),
    }


def fairness_report(
    model: StudentModel,
    frame: pd.DataFrame,
    *,
    min_group_size: int = MIN_GROUP_SIZE,
    min_denominator: int = MIN_DENOMINATOR,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, Any]:
    """Per-group figures, gaps and the gate's measure for each sensitive attribute and pair.

    Args:
        model: the trained model.
        frame: validated held-out rows with the target and the sensitive columns.
        min_group_size: groups smaller than this are listed, marked ``small`` and not judged.
        min_denominator: a rate needs at least this many students in its denominator to be
            judged (e.g. at-risk students of the group, for the FNR).
        level: coverage of every interval.

    Returns:
        ``{"gate_metric": "fnr", "max_gap": float, "gate": {...}, "level", "min_group_size",
        "min_denominator", "rows", "attributes": {attr: table}, "intersections":
        {"A × B": table}}``; a table is :func:`audit_groups`' result. ``gate`` holds the FNR
        gap with the highest lower bound (``gap``, ``low``, ``high``, ``attribute``, the two
        groups) and ``not_judged`` (attribute -> groups too small for the FNR).
    """
    y, pred, y_flag, p_flag = flags(model, frame)
    risk = model.risk_score(frame) if _has_flags(model) else None
    options: dict[str, Any] = {
        "task": model.task,
        "min_group_size": min_group_size,
        "min_denominator": min_denominator,
        "level": level,
        "seed": seed,
    }
    report: dict[str, Any] = {
        "gate_metric": GATE_METRIC,
        "max_gap": 0.0,
        "gate": None,
        "level": level,
        "min_group_size": min_group_size,
        "min_denominator": min_denominator,
        "rows": len(frame),
        "attributes": {},
        "intersections": {},
    }
    present = []
    names: dict[str, np.ndarray] = {}
    for column in model.profile.sensitive:
        if column not in frame.columns:
            report["attributes"][column] = {"error": "column not in the data"}
            continue
        present.append(column)
        banded = numeric_bands(frame[column]) if _is_numeric_attribute(model, column) else None
        names[column] = banded if banded is not None else _group_names(model, column, frame[column])
        report["attributes"][column] = audit_groups(
            names[column], y, pred, y_flag, p_flag, risk, **options
        )
    for first, second in itertools.combinations(present, 2):
        combined = np.array(
            [f"{a} & {b}" for a, b in zip(names[first], names[second], strict=True)], dtype=object
        )
        table = audit_groups(combined, y, pred, y_flag, p_flag, risk, **options)
        # Intersections are many and mostly small: keep the judged groups' figures and only
        # the sizes of the others (still listed, never hidden).
        table["groups"] = {
            g: f if not f["small"] else {"count": f["count"], "small": True}
            for g, f in table["groups"].items()
        }
        report["intersections"][f"{first}{INTERSECTION}{second}"] = table
    report["gate"] = gate_figure(report)
    report["max_gap"] = float(max(_gate_gaps(report), default=0.0))
    return report


def _has_flags(model: StudentModel) -> bool:
    return model.task != "regression" or model.profile.target.at_risk_below is not None


def _gate_gaps(report: dict[str, Any]) -> list[float]:
    out = []
    for table in report["attributes"].values():
        gap = (table.get("gaps") or {}).get(GATE_METRIC)
        if gap is not None and not math.isnan(gap["gap"]):
            out.append(float(gap["gap"]))
    return out


def gate_figure(report: dict[str, Any]) -> dict[str, Any] | None:
    """The FNR gap the promotion gate judges: of the attributes, the one whose gap has the
    highest lower bound (the strongest evidence of a real gap); None when no attribute has two
    groups large enough to judge. ``not_judged`` lists, per attribute, groups left out."""
    best: dict[str, Any] | None = None
    not_judged: dict[str, list[str]] = {}
    for attribute, table in report["attributes"].items():
        if "groups" not in table:
            continue
        left_out = [g for g, f in table["groups"].items() if not f[GATE_METRIC]["judged"]]
        if left_out:
            not_judged[attribute] = left_out
        gap = table["gaps"].get(GATE_METRIC)
        if gap is None:
            continue
        candidate = {"attribute": attribute, **gap}
        if best is None or _key(candidate) > _key(best):
            best = candidate
    if best is None and not not_judged:
        return None
    return {"measure": GATE_METRIC, **(best or {}), "not_judged": not_judged}


def _key(gap: dict[str, Any]) -> float:
    low = gap.get("low")
    return float(low) if low is not None and not math.isnan(low) else float(gap["gap"])
