"""Why a student is at risk: per-row contributions of raw features, and global importance.

Each ensemble member is explained on the ordinal matrix (one column per raw profile feature):
tree models with SHAP's TreeExplainer, linear models exactly by coefficient x standardised
value (mapped back from one-hot columns to their raw column), anything else (k-NN) by
occlusion: the change in risk when the feature is set to its typical training value.

Contributions are put in one unit so members can be blended with the ensemble weights:
classification in *risk probability*, regression in *target units* with the sign flipped (a
feature that lowers the predicted score raises the risk). Positive always means "pushes the
risk up". Log-odds (or a derived GPA regressor's) contributions are additive in their own space,
which fixes a base point (output minus their sum); they are scaled by the secant slope of the
risk between that base and the row (for softmax: the risk gradient averaged along the path), so
they add up to the change of risk from the base, even where the risk is saturated (a student
certain to fail still gets reasons, which a tangent at the row would flatten to zero).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.datasets.profile import category_key

if TYPE_CHECKING:
    import pandas as pd

    from studentops.training.model import Member, StudentModel

_PROBABILITY_TREES = ("random_forest", "extra_trees")


# -- one member ------------------------------------------------------------------------------


def _pre_model(est: Any, X: np.ndarray) -> np.ndarray:
    """What the final step of a pipeline sees (samplers only act when fitting)."""
    Z = X
    for _, step in est.steps[:-1]:
        if hasattr(step, "fit_resample"):
            continue
        Z = step.transform(Z)
    return Z


def _source_index(est: Any, n_columns: int) -> np.ndarray:
    for _, step in est.steps[:-1]:
        if hasattr(step, "source_index_"):
            return np.asarray(step.source_index_)
    return np.arange(n_columns)


def _to_raw(phi: np.ndarray, source: np.ndarray, n_raw: int) -> np.ndarray:
    """Sum contributions of encoded columns into their raw feature (last axis: columns)."""
    if phi.shape[1] == n_raw and np.array_equal(source, np.arange(n_raw)):
        return phi
    out = np.zeros((phi.shape[0], n_raw, *phi.shape[2:]))
    np.add.at(out, (slice(None), source.astype(np.intp)), phi)  # type: ignore[arg-type]
    return out


def _estimator_phi(
    model: StudentModel, key: tuple[int, int], est: Any, X: np.ndarray
) -> np.ndarray:
    """Raw-feature contributions of one fitted pipeline in its own output space:
    (n, F) for one output, (n, F, K) per class of its ``classes_``."""
    final = est.steps[-1][1]
    Z = _pre_model(est, X)
    n_raw = X.shape[1]
    if hasattr(final, "coef_"):
        coef = np.atleast_2d(final.coef_)  # (outputs, columns)
        phi = Z[:, :, None] * coef.T[None, :, :]
        phi = phi[:, :, 0] if coef.shape[0] == 1 else phi
        return _to_raw(phi, _source_index(est, Z.shape[1]), n_raw)
    phi = _native_shap(final, Z)
    if phi is None:
        import shap

        cache = model._cache.setdefault("tree_explainers", {})
        explainer = cache.get(key)
        if explainer is None:
            explainer = cache[key] = shap.TreeExplainer(final)
        # Forests grow deep trees where exact TreeSHAP costs seconds per row; the path-based
        # (Saabas) approximation is milliseconds and ranks features much the same.
        approximate = type(final).__name__.startswith(("RandomForest", "ExtraTrees"))
        phi = np.asarray(explainer.shap_values(Z, check_additivity=False, approximate=approximate))
        if phi.ndim == 3 and phi.shape[0] != Z.shape[0]:  # older layout: (K, n, F)
            phi = np.transpose(phi, (1, 2, 0))
    return _to_raw(phi, _source_index(est, Z.shape[1]), n_raw)


def _native_shap(final: Any, Z: np.ndarray) -> np.ndarray | None:
    """Exact tree SHAP computed by the boosting library itself (it knows its own categorical
    splits); (n, F) or (n, F, K). None for other models."""
    module = type(final).__module__.split(".")[0]
    n, F = Z.shape
    if module == "lightgbm":
        raw = np.asarray(final.predict(Z, pred_contrib=True))
    elif module == "xgboost":
        import xgboost as xgb

        raw = np.asarray(final.get_booster().predict(xgb.DMatrix(Z), pred_contribs=True))
        if raw.ndim == 3:  # (n, K, F+1)
            return np.transpose(raw[:, :, :F], (0, 2, 1))
    elif module == "catboost":
        from catboost import Pool

        raw = np.asarray(final.get_feature_importance(Pool(Z), type="ShapValues"))
        if raw.ndim == 3:  # (n, K, F+1)
            return np.transpose(raw[:, :, :F], (0, 2, 1))
    else:
        return None
    if raw.shape[1] == F + 1:
        return raw[:, :F]
    k = raw.shape[1] // (F + 1)  # LightGBM multiclass: (n, K*(F+1))
    return np.transpose(raw.reshape(n, k, F + 1)[:, :, :F], (0, 2, 1))


def _has_fast_path(member: Member) -> bool:
    final = member.estimators[0].steps[-1][1]
    return hasattr(final, "coef_") or member.algorithm.split(":")[-1] not in ("knn",)


def _member_risk(model: StudentModel, member: Member, X: np.ndarray) -> np.ndarray:
    out = member.output(X)
    risk = model.risk_from_output(out) if model.task != "regression" else out
    return np.asarray(risk)


def member_contributions(model: StudentModel, index: int, X: np.ndarray) -> np.ndarray:
    """Risk-aligned contributions (n, F) of member ``index`` of ``model``."""
    member = model.members[index]
    if not _has_fast_path(member):
        return _occlusion(model, member, X)
    risky = model.risk_indices() if model.task != "regression" else []
    total = np.zeros(X.shape)
    for f, est in enumerate(member.estimators):
        try:
            phi = _estimator_phi(model, (index, f), est, X)
        except Exception:  # a tree layout SHAP cannot read (e.g. categorical bitsets)
            return _occlusion(model, member, X)
        if member.kind == "regressor":
            total -= phi
        elif member.kind == "derived":
            values = est.predict(X)
            slope = _derived_slope(model, member, values, values - phi.sum(axis=1), risky)
            total += phi * slope[:, None]
        else:
            total += _class_phi_to_risk(member, est, X, phi, risky)
    return total / len(member.estimators)


def _class_phi_to_risk(
    member: Member, est: Any, X: np.ndarray, phi: np.ndarray, risky: list[int]
) -> np.ndarray:
    classes = np.asarray(est.classes_, dtype=int)
    in_risk = np.isin(classes, risky).astype(float)  # per output column of this estimator
    if member.algorithm in _PROBABILITY_TREES:  # SHAP already in probability
        phi3 = phi if phi.ndim == 3 else np.stack([-phi, phi], axis=2)
        return np.tensordot(phi3, in_risk, axes=([2], [0]))
    p = np.clip(est.predict_proba(X), 1e-12, 1.0)
    if phi.ndim == 2:  # binary margin: log-odds of classes[1]
        z = np.log(p[:, 1]) - np.log(p[:, 0])
        slope = _secant(_sigmoid, z, z - phi.sum(axis=1))
        return (1.0 if in_risk[-1] else -1.0) * phi * slope[:, None]
    # softmax margins: average gradient of the risk along the path base -> row
    z = np.log(p)
    zb = z - phi.sum(axis=1)
    grad = np.zeros_like(z)
    steps = 8
    for t in (np.arange(steps) + 0.5) / steps:
        q = _softmax(zb + t * (z - zb))
        grad += q * in_risk - (q * in_risk).sum(axis=1, keepdims=True) * q
    return np.einsum("nfk,nk->nf", phi, grad / steps)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _secant(f: Any, x: np.ndarray, base: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """(f(x) - f(base)) / (x - base): the contributions then add up to the change of risk from
    the base to the row, even where the risk is saturated and its tangent is flat."""
    dx = x - base
    near = np.abs(dx) < h
    safe = np.where(near, 1.0, dx)
    tangent = (f(x + h) - f(x - h)) / (2 * h)
    return np.where(near, tangent, (f(x) - f(base)) / safe)


def _derived_slope(
    model: StudentModel, member: Member, values: np.ndarray, base: np.ndarray, risky: list[int]
) -> np.ndarray:
    """Change of risk per unit of the predicted source between the base and the row."""
    assert member.bins is not None
    bins, sigma = member.bins, member.sigma

    def risk(v: np.ndarray) -> np.ndarray:
        return bins.proba(v, sigma)[:, risky].sum(axis=1)

    return _secant(risk, values, base, h=max(sigma, 1e-6) / 100)


def _occlusion(model: StudentModel, member: Member, X: np.ndarray) -> np.ndarray:
    """Risk minus risk with each feature set to its typical training value."""
    ref = model.reference if model.reference is not None else np.nanmedian(X, axis=0)
    base = _member_risk(model, member, X)
    n, F = X.shape
    stacked = np.repeat(X[None, :, :], F, axis=0)  # (F, n, F)
    for f in range(F):
        stacked[f, :, f] = ref[f]
    risk = _member_risk(model, member, stacked.reshape(F * n, F)).reshape(F, n).T
    out = base[:, None] - risk
    return -out if model.task == "regression" else out


def contributions(model: StudentModel, X: np.ndarray) -> np.ndarray:
    """Risk-aligned contributions (n, F) of the whole ensemble (weights of the members)."""
    total = np.zeros(X.shape)
    for i, w in enumerate(model.weights):
        total += w * member_contributions(model, i, X)
    return total


# -- public ----------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        v = float(value)
        return None if math.isnan(v) else (int(v) if v.is_integer() else v)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


RISK_UNITS = "percentage points of risk"


def contribution_units(model: StudentModel) -> str:
    """The unit of every contribution: percentage points of risk, or, for a regression model
    without an at-risk bar (no risk defined), points of the target with the sign flipped."""
    if model.task == "regression" and model.profile.target.at_risk_below is None:
        return f"points of {model.profile.target.column} (positive: lowers the prediction)"
    return RISK_UNITS


def contributions_in_units(model: StudentModel, X: np.ndarray) -> np.ndarray:
    """Contributions (n, F) in :func:`contribution_units`: risk probability x 100, and for a
    regression with an at-risk bar, target units scaled by the secant slope of the risk
    ``Phi((bar - prediction) / sigma)`` between the base and the row (as for log-odds), so they
    add up to the change of risk in percentage points."""
    phi = contributions(model, X)
    if model.task != "regression":
        return 100.0 * phi
    below = model.profile.target.at_risk_below
    if below is None:
        return phi
    from scipy.special import ndtr

    sigma = max(model.sigma or 0.0, 1e-9)
    pred = model.predict_value_matrix(X)
    # phi is sign-flipped: the prediction is base - sum(phi); in u = -prediction, risk rises.
    u = -pred
    base = u - phi.sum(axis=1)

    def risk(v: np.ndarray) -> np.ndarray:
        return np.asarray(ndtr((below + v) / sigma))

    slope = _secant(risk, u, base, h=sigma / 100)
    return 100.0 * phi * slope[:, None]


def _short_names(members: list[str]) -> list[str]:
    """Member names without the prefix they share: 'Curricular units 2nd sem (enrolled)' and
    '... (approved)' become 'enrolled' and 'approved'."""
    if len(members) < 2:
        return list(members)
    first, last = min(members), max(members)
    differ = (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b)
    prefix = first[: next(differ, min(len(first), len(last)))]
    prefix = prefix[: prefix.rfind(" ") + 1] if " " in prefix else ""
    prefix = prefix if "(" not in prefix else prefix[: prefix.rfind("(")]
    out = [m[len(prefix) :].strip(" ()") or m for m in members]
    return out if len(set(out)) == len(out) else list(members)


def _shown(value: Any, label: str | None) -> str:
    if label is not None:
        return label
    if value is None:
        return "missing"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def explain_rows(model: StudentModel, frame: pd.DataFrame, top_k: int = 5) -> list[dict[str, Any]]:
    """For each row: the features (or declared feature groups) that pushed its risk up or down
    most.

    Returns one dict per row: ``risk`` (or ``prediction`` for regression), ``units`` (see
    :func:`contribution_units`: "percentage points of risk" unless the model has no risk), and
    ``up`` / ``down``: up to ``top_k`` of ``{"feature", "value", "label", "contribution"}``
    sorted by size. ``value`` is the raw value and ``label`` its display name from the
    profile (a coded category's label, yes/no for a flag), or None. A group declared in the
    profile's ``feature_groups`` is one item: ``feature`` is the group's name, ``value`` a
    mapping of its members' values, ``label`` them in short ("enrolled 0, approved 0"), and
    ``contribution`` the sum of its members' contributions, so neighbours never contradict.
    """
    X = model.encode(frame)
    phi = contributions_in_units(model, X)
    features = list(model.encoder.feature_names_out)  # ordinal: one column per raw feature
    risk = model.risk_score_matrix(X)
    pred = model.predict_value_matrix(X) if model.task == "regression" else None
    profile = model.profile
    units = contribution_units(model)
    position = {name: j for j, name in enumerate(features)}
    grouped = {c for members in profile.feature_groups.values() for c in members}
    groups = [
        (name, [c for c in members if c in position])
        for name, members in profile.feature_groups.items()
    ]
    groups = [(name, members) for name, members in groups if members]
    singles = [name for name in features if name not in grouped]
    # Whole columns as lists and one label per distinct value: pandas' per-row access and the
    # label lookups were half the time of explaining a linear ensemble (measured, 2,500 rows).
    shown_columns = {*singles, *(m for _, members in groups for m in members)}
    values_of = {
        name: [_json_value(v) for v in frame[name].tolist()]
        if name in frame.columns
        else [None] * len(frame)
        for name in shown_columns
    }
    labels: dict[tuple[str, Any], str | None] = {}

    def label(name: str, raw: Any) -> str | None:
        key = (name, category_key(raw) if raw is not None else None)
        if key not in labels:
            labels[key] = profile.value_label(name, raw)
        return labels[key]

    rows = []
    for i in range(len(X)):
        items: list[dict[str, Any]] = []
        for name in singles:
            raw = values_of[name][i]
            items.append(
                {
                    "feature": name,
                    "value": raw,
                    "label": label(name, raw),
                    "contribution": float(phi[i, position[name]]),
                }
            )
        for name, members in groups:
            values = {m: values_of[m][i] for m in members}
            shown = ", ".join(
                f"{short} {_shown(values[m], label(m, values[m]))}"
                for short, m in zip(_short_names(members), members, strict=True)
            )
            items.append(
                {
                    "feature": name,
                    "value": values,
                    "label": shown,
                    "contribution": float(sum(phi[i, position[m]] for m in members)),
                }
            )
        up = sorted(
            (it for it in items if it["contribution"] > 0), key=lambda it: -it["contribution"]
        )
        down = sorted(
            (it for it in items if it["contribution"] < 0), key=lambda it: it["contribution"]
        )
        row: dict[str, Any] = {
            "risk": None if risk is None else float(risk[i]),
            "units": units,
            "up": up[:top_k],
            "down": down[:top_k],
        }
        if pred is not None:
            row["prediction"] = float(pred[i])
        rows.append(row)
    return rows


def global_importance(
    model: StudentModel,
    frame: pd.DataFrame,
    *,
    max_rows: int = 300,
    seed: int = 0,
    time_budget_s: float | None = None,
    chunk: int = 25,
) -> dict[str, Any]:
    """Mean absolute contribution of each raw feature over (a sample of) ``frame``.

    Rows are explained in chunks until ``max_rows`` or ``time_budget_s`` (at least one chunk),
    so a training run stays within its budget whatever the ensemble.

    Returns ``{"method", "units", "rows", "importance": {feature: value}}``, sorted high to
    low, in the units of :func:`explain_rows`.
    """
    import time

    start = time.perf_counter()
    X = model.encode(frame)
    X = X[np.random.default_rng(seed).permutation(len(X))[:max_rows]]
    parts = []
    for lo in range(0, len(X), chunk):
        parts.append(np.abs(contributions(model, X[lo : lo + chunk])))
        if time_budget_s is not None and time.perf_counter() - start > time_budget_s:
            break
    phi = np.vstack(parts)
    values = phi.mean(axis=0) * (100.0 if model.task != "regression" else 1.0)
    features = model.encoder.feature_names_out  # ordinal: one column per raw feature
    methods = sorted(
        {
            "coefficients"
            if hasattr(m.estimators[0].steps[-1][1], "coef_")
            else ("shap" if _has_fast_path(m) else "occlusion")
            for m in model.members
        }
    )
    order = np.argsort(-values, kind="stable")
    return {
        "method": "+".join(methods),
        "units": RISK_UNITS if model.task != "regression" else "target",
        "rows": len(phi),
        "importance": {features[j]: float(values[j]) for j in order},
    }
