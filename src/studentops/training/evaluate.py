"""Metrics, decision rules chosen on validation, and the one evaluation on the test part.

The search scores thousands of fold predictions, so the metrics here are plain NumPy (tests hold
them equal to scikit-learn's). Decision rules (the binary threshold, per-class weights for
macro-F1) are chosen on out-of-fold predictions of the training part, never on the test part,
and stored in the model. :func:`evaluate_model` scores the test part once and writes the plots
and JSON files a reviewer looks at.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from studentops.training.model import StudentModel

_EPS = np.finfo(float).eps


# -- metrics ---------------------------------------------------------------------------------


def _labels(p: np.ndarray) -> np.ndarray:
    return np.asarray(p).argmax(axis=1)


def _confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def f1_macro(y: np.ndarray, p: np.ndarray) -> float:
    """Macro-F1 of the argmax of ``p`` (n_rows, n_classes) against class indices ``y`` (n_rows,);
    labels seen in neither truth nor prediction are left out, as scikit-learn's ``f1_score``.
    """
    k = p.shape[1]
    cm = _confusion(y, _labels(p), k)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    present = (support + predicted) > 0  # as scikit-learn: labels seen in truth or prediction
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return float(f1[present].mean()) if present.any() else 0.0


def f1_positive(y: np.ndarray, p: np.ndarray) -> float:
    """Binary F1 of class 1 at the argmax of ``p`` (n_rows, 2); 0 when nothing is positive."""
    pred = _labels(p)
    tp = float(np.sum((pred == 1) & (y == 1)))
    denom = float(np.sum(pred == 1) + np.sum(y == 1))
    return 2 * tp / denom if denom else 0.0


def accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Share of rows whose argmax of ``p`` (n_rows, n_classes) is the class index in ``y``."""
    return float(np.mean(_labels(p) == y))


def balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    """Mean recall over the classes present in ``y`` (n_rows,), at the argmax of ``p``."""
    k = p.shape[1]
    cm = _confusion(y, _labels(p), k)
    support = cm.sum(axis=1)
    present = support > 0
    return float((np.diag(cm)[present] / support[present]).mean())


def _auc_binary(y01: np.ndarray, s: np.ndarray) -> float:
    from scipy.stats import rankdata

    n_pos = int(y01.sum())
    n_neg = len(y01) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y01 == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Binary AUC of the positive column; multiclass: macro one-vs-rest."""
    if p.shape[1] == 2:
        return _auc_binary((y == 1).astype(int), p[:, 1])
    return mean_defined([_auc_binary((y == c).astype(int), p[:, c]) for c in range(p.shape[1])])


def mean_defined(values: Sequence[float]) -> float:
    """The mean of the values that are not NaN; NaN (undefined) when none is, without numpy's
    "Mean of empty slice" warning reaching the user's terminal."""
    arr = np.asarray(values, dtype=float)
    ok = ~np.isnan(arr)
    return float(arr[ok].mean()) if ok.any() else math.nan


def _ap_binary(y01: np.ndarray, s: np.ndarray) -> float:
    if y01.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y01 = s[order], y01[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y01)[last]
    fps = last + 1 - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision (step-wise area under the precision-recall curve, as scikit-learn's
    ``average_precision_score``) of the positive column; multiclass: macro one-vs-rest.
    """
    if p.shape[1] == 2:
        return _ap_binary((y == 1).astype(int), p[:, 1])
    return mean_defined([_ap_binary((y == c).astype(int), p[:, c]) for c in range(p.shape[1])])


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-probability of the true class; ``p`` (n_rows, n_classes) is
    renormalised and clipped to [eps, 1 - eps] (machine epsilon of float64).
    """
    p = np.clip(p / p.sum(axis=1, keepdims=True), _EPS, 1 - _EPS)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Binary: mean squared error of P(positive); multiclass: mean of the summed squares."""
    if p.shape[1] == 2:
        return float(np.mean((p[:, 1] - (y == 1)) ** 2))
    onehot = np.eye(p.shape[1])[y]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def r2(y: np.ndarray, v: np.ndarray) -> float:
    """Coefficient of determination of values ``v`` against ``y`` (both (n_rows,)); 0 when ``y``
    is constant.
    """
    ss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - v) ** 2)) / ss if ss > 0 else 0.0


def rmse(y: np.ndarray, v: np.ndarray) -> float:
    """Root mean squared error, in the target's units."""
    return float(np.sqrt(np.mean((y - v) ** 2)))


def mae(y: np.ndarray, v: np.ndarray) -> float:
    """Mean absolute error, in the target's units."""
    return float(np.mean(np.abs(y - v)))


@dataclass(frozen=True)
class Metric:
    """A metric on class probabilities (classification) or values (regression)."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    greater_is_better: bool
    tasks: tuple[str, ...]

    def oriented(self, value: float) -> float:
        """Higher is better, whatever the metric."""
        return value if self.greater_is_better else -value


_CLS = ("binary", "multiclass")
METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("f1_macro", f1_macro, True, _CLS),
        Metric("f1", f1_positive, True, ("binary",)),
        Metric("accuracy", accuracy, True, _CLS),
        Metric("balanced_accuracy", balanced_accuracy, True, _CLS),
        Metric("roc_auc", roc_auc, True, _CLS),
        Metric("average_precision", average_precision, True, _CLS),
        Metric("log_loss", log_loss, False, _CLS),
        Metric("brier", brier, False, _CLS),
        Metric("r2", r2, True, ("regression",)),
        Metric("rmse", rmse, False, ("regression",)),
        Metric("mae", mae, False, ("regression",)),
    ]
}
DEFAULT_METRIC = {"multiclass": "f1_macro", "binary": "roc_auc", "regression": "r2"}
# Metrics of hard decisions: class weights in training help them (and only them).
LABEL_METRICS = frozenset({"f1_macro", "f1", "accuracy", "balanced_accuracy"})


def get_metric(name: str | None, task: str) -> Metric:
    """The metric to optimise: ``name`` or the task's default; a wrong name is a clear error."""
    from studentops.errors import ConfigError

    key = name or DEFAULT_METRIC[task]
    metric = METRICS.get(key)
    if metric is None or task not in metric.tasks:
        allowed = ", ".join(n for n, m in METRICS.items() if task in m.tasks)
        raise ConfigError(f"metric '{key}' does not apply to a {task} task (choose: {allowed})")
    return metric


def fold_score(
    metric: Metric, y: np.ndarray, pred: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]]
) -> float:
    """Mean over validation folds of the metric on out-of-fold predictions."""
    return mean_defined([metric.fn(y[va], pred[va]) for _, va in folds])


# -- decision rules chosen on out-of-fold predictions ----------------------------------------


def choose_threshold(
    y01: np.ndarray, p: np.ndarray, *, target_recall: float | None = None
) -> float:
    """Decision threshold on P(positive): best F1, or the highest reaching ``target_recall``.

    Args:
        y01: 1 for the positive class.
        p: out-of-fold P(positive) (never test predictions).
        target_recall: if given, flag enough students to find this share of positives.
    """
    y01 = np.asarray(y01, dtype=int)
    if y01.sum() == 0 or y01.sum() == len(y01):
        return 0.5
    order = np.argsort(-p, kind="mergesort")
    s, t = p[order], y01[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(t)[last]
    flagged = last + 1
    recall = tps / t.sum()
    if target_recall is not None:
        reach = np.flatnonzero(recall >= target_recall)
        return float(s[last[reach[0]]]) if len(reach) else float(s[-1])
    f1 = 2 * tps / (flagged + t.sum())
    best = int(np.argmax(f1))
    # Midway to the next lower score, so rows tied at the chosen score stay flagged.
    lower = s[last[best] + 1] if last[best] + 1 < len(s) else s[last[best]]
    return float((s[last[best]] + lower) / 2)


def choose_class_weights(
    y: np.ndarray,
    p: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    metric: Metric,
    *,
    grid: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.15, 1.3, 1.5, 1.75, 2.0, 2.5, 3.0),
    passes: int = 2,
    min_gain: float = 1e-3,
) -> np.ndarray | None:
    """Per-class multipliers of the probabilities before argmax that raise a label metric.

    Macro-F1 rewards finding the rare classes more than argmax does; a coordinate search on the
    out-of-fold predictions finds how much. Returns None when it gains less than ``min_gain``.
    """
    k = p.shape[1]
    w = np.ones(k)

    def score(weights: np.ndarray) -> float:
        return fold_score(metric, y, p * weights, folds)

    base = best = score(w)
    for _ in range(passes):
        for c in range(k):
            for g in grid:
                trial = w.copy()
                trial[c] = g
                s = score(trial)
                if s > best + 1e-12:
                    best, w = s, trial
    return w if best - base >= min_gain else None


# -- evaluation on the test part -------------------------------------------------------------


# Metrics that compare classes: without every class in the held-out part they say nothing
# (an AUC over the classes that happen to be present reads 1.0 on a test part of six rows).
NEEDS_EVERY_CLASS = ("roc_auc", "average_precision", "balanced_accuracy")
NEEDS_POSITIVES = ("f1", "precision", "recall")


def unsupported_metrics(y: np.ndarray, k: int, names: list[str]) -> dict[str, float]:
    """NaN ("undefined") for the metrics the held-out labels ``y`` (codes 0..k-1) cannot
    support: class-comparing metrics when a class is absent, and binary recall, precision and
    F1 when no positive (at-risk) student is in the held-out part."""
    support = np.bincount(y, minlength=k)
    out: dict[str, float] = {}
    if (support == 0).any():
        out.update({n: float("nan") for n in NEEDS_EVERY_CLASS if n in names})
    if k == 2 and support[1] == 0:
        out.update({n: float("nan") for n in NEEDS_POSITIVES if n in names})
    return out


# Decision rules stored in the model (chosen on out-of-fold predictions): reported beside the
# held-out metrics but never measured on the held-out part, so never "undefined".
DECISION_RULES = ("threshold",)


def absent_risk_classes(model: StudentModel, y: np.ndarray) -> list[str]:
    """Labels of the profile's at-risk classes with no row among the held-out class codes ``y``.

    At-risk: binary, the positive class; multiclass, ``target.at_risk`` (or the lowest bin of a
    derived target). A multiclass profile that names no at-risk class has none to miss.
    """
    target = model.profile.target
    if model.task != "binary" and not model.profile.risk_classes() and target.derive is None:
        return []
    support = np.bincount(np.asarray(y, dtype=int), minlength=len(model.classes_))
    return [model.class_label(model.classes_[c]) for c in model.risk_indices() if support[c] == 0]


def heldout_undefined_reason(model: StudentModel, frame: pd.DataFrame) -> str | None:
    """Why no held-out metric of ``model`` on the test rows ``frame`` is defined, or None.

    The model exists to find at-risk students. When none of an at-risk class is in the test
    part, every held-out number describes only the other students: an accuracy of 1.0 or a
    macro-F1 of 0.6 on six rows without a D or F says nothing about what the model is for, and
    a promotion gate comparing it would reward a lucky split. :func:`evaluate_model` then
    reports every metric as NaN ("undefined") and callers show this reason instead.
    """
    if model.task == "regression":
        return None
    y = model.class_index(model.profile.target_values(frame))
    missing = absent_risk_classes(model, y)
    if not missing:
        return None
    classes = ", ".join(missing)
    plural = "es" if len(missing) > 1 else ""
    return (
        f"at-risk class{plural} {classes} absent from the {len(y)} held-out row"
        f"{'s' if len(y) != 1 else ''}"
    )


def evaluate_model(
    model: StudentModel, frame: pd.DataFrame, artifacts_dir: Path | None = None
) -> dict[str, float]:
    """Score the model once on the test part; write plots and JSON into ``artifacts_dir``.

    Args:
        model: the trained model.
        frame: validated test rows (with the target).
        artifacts_dir: folder for metrics.json and plots (created); None writes nothing.

    Returns:
        Metric name -> value (floats only; NaN is "undefined": skip it when logging, see
        ``tracking.finite``). Every metric is NaN when an at-risk class is absent from
        ``frame`` (see :func:`heldout_undefined_reason`); class-comparing metrics are NaN
        when any class is absent.
    """
    y_raw = model.profile.target_values(frame)
    if model.task == "regression":
        y = y_raw.to_numpy(dtype=float)
        values = model.predict_value(frame)
        metrics = {"r2": r2(y, values), "rmse": rmse(y, values), "mae": mae(y, values)}
        if artifacts_dir is not None:
            _write_regression(Path(artifacts_dir), y, values, metrics)
        return metrics
    from sklearn import metrics as skm

    y = model.class_index(y_raw)
    proba = model.predict_proba(frame)
    pred = model.class_index(model.predict(frame))
    k = len(model.classes_)
    labels = list(range(k))
    out = {
        "f1_macro": float(skm.f1_score(y, pred, average="macro", labels=labels, zero_division=0)),
        "accuracy": float(skm.accuracy_score(y, pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred)),
        "roc_auc": roc_auc(y, proba),
        "average_precision": average_precision(y, proba),
        "log_loss": float(skm.log_loss(y, proba, labels=labels)),
        "brier": brier(y, proba),
    }
    if k == 2:
        out["f1"] = float(skm.f1_score(y, pred, zero_division=0))
        out["precision"] = float(skm.precision_score(y, pred, zero_division=0))
        out["recall"] = float(skm.recall_score(y, pred, zero_division=0))
        out["threshold"] = float(model.threshold if model.threshold is not None else 0.5)
    out.update(unsupported_metrics(y, k, list(out)))
    if absent_risk_classes(model, y):
        out.update({n: float("nan") for n in out if n not in DECISION_RULES})
    if artifacts_dir is not None:
        _write_classification(Path(artifacts_dir), model, y, proba, pred, out)
    return out


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=float), encoding="utf-8")


def _thin(*arrays: np.ndarray, max_points: int = 200) -> list[list[float]]:
    """Keep curves small in JSON: at most ``max_points`` evenly spaced points (ends kept)."""
    n = len(arrays[0])
    spaced = np.linspace(0, n - 1, min(n, max_points)).round().astype(int)
    idx: list[int] = np.unique(spaced).tolist() if n else []
    return [[float(a[i]) for i in idx] for a in arrays]


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _write_classification(
    folder: Path,
    model: StudentModel,
    y: np.ndarray,
    proba: np.ndarray,
    pred: np.ndarray,
    metrics: dict[str, float],
) -> None:
    from sklearn import metrics as skm
    from sklearn.calibration import calibration_curve

    folder.mkdir(parents=True, exist_ok=True)
    names = [model.class_label(c) for c in model.classes_]
    k = len(names)
    _write_json(folder / "metrics.json", metrics)
    cm = skm.confusion_matrix(y, pred, labels=list(range(k)))
    _write_json(folder / "confusion_matrix.json", {"labels": names, "matrix": cm.tolist()})
    report = skm.classification_report(
        y, pred, labels=list(range(k)), target_names=names, output_dict=True, zero_division=0
    )
    _write_json(folder / "classification_report.json", report)
    # Binary: the positive class only; multiclass: one-vs-rest per class.
    shown = [1] if k == 2 else list(range(k))
    roc, pr, cal = {}, {}, {}
    for c in shown:
        yc = (y == c).astype(int)
        if yc.sum() == 0 or yc.sum() == len(yc):
            continue
        fpr, tpr, _ = skm.roc_curve(yc, proba[:, c])
        prec, rec, _ = skm.precision_recall_curve(yc, proba[:, c])
        frac, mean_pred = calibration_curve(yc, proba[:, c], n_bins=10, strategy="quantile")
        roc[names[c]] = dict(zip(("fpr", "tpr"), _thin(fpr, tpr), strict=True))
        pr[names[c]] = dict(zip(("recall", "precision"), _thin(rec, prec), strict=True))
        cal[names[c]] = {"mean_predicted": mean_pred.tolist(), "fraction_positive": frac.tolist()}
    _write_json(folder / "roc_curve.json", roc)
    _write_json(folder / "pr_curve.json", pr)
    _write_json(folder / "calibration.json", cal)

    plt = _figure()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    ax.set(
        xticks=range(k),
        yticks=range(k),
        xticklabels=names,
        yticklabels=names,
        xlabel="predicted",
        ylabel="true",
        title="Confusion matrix (test)",
    )
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "confusion_matrix.png", dpi=100)
    plt.close(fig)
    for fname, data, xy, title, diagonal in (
        ("roc_curve.png", roc, ("fpr", "tpr"), "ROC (test)", True),
        ("pr_curve.png", pr, ("recall", "precision"), "Precision-recall (test)", False),
        ("calibration.png", cal, ("mean_predicted", "fraction_positive"), "Calibration", True),
    ):
        fig, ax = plt.subplots(figsize=(4.5, 4))
        for name, curve in data.items():
            ax.plot(
                curve[xy[0]], curve[xy[1]], label=str(name), marker="." if "cal" in fname else None
            )
        if diagonal:
            ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        ax.set(xlabel=xy[0], ylabel=xy[1], title=title, xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / fname, dpi=100)
        plt.close(fig)


def _write_regression(
    folder: Path, y: np.ndarray, values: np.ndarray, metrics: dict[str, float]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "metrics.json", metrics)
    residuals = y - values
    order = np.argsort(values)
    pts = _thin(values[order], residuals[order], max_points=1000)
    _write_json(folder / "residuals.json", {"predicted": pts[0], "residual": pts[1]})
    plt = _figure()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    axes[0].scatter(values, residuals, s=6, alpha=0.5)
    axes[0].axhline(0, color="grey", linewidth=1)
    axes[0].set(xlabel="predicted", ylabel="true - predicted", title="Residuals (test)")
    axes[1].scatter(y, values, s=6, alpha=0.5)
    lo, hi = float(min(y.min(), values.min())), float(max(y.max(), values.max()))
    axes[1].plot([lo, hi], [lo, hi], color="grey", linestyle=":")
    axes[1].set(xlabel="true", ylabel="predicted", title="Predicted vs true (test)")
    fig.tight_layout()
    fig.savefig(folder / "residuals.png", dpi=100)
    plt.close(fig)
