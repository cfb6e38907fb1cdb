"""The reference profile: a compact summary of a model's training data, stored with the model.

Built once when a model is registered and logged to its MLflow run as
``monitoring/reference.json`` (a few kilobytes), so a drift check never needs the training file
again and no student row leaves the training step. Per feature it holds:

- numbers: the inner edges of ``bins`` equal-frequency bins (deciles by default) and the
  training shares per bin, a 101-point quantile sketch, mean, standard deviation, missing share;
- categories: each category's share (the ``max_categories`` most frequent; the rest as
  ``other_share``), missing share;

and for the model: the class mix of its predictions (classification) or the distribution of
its predicted values (regression, bins and sketch like a number), the risk-score distribution
and the class balance of the target (the regression target as a number).
Predictions are the registered model's own, on its training rows (in-sample, so slightly more
confident than on new students; the check's thresholds leave room for that).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from studentops.datasets.profile import Profile

ARTIFACT = "monitoring/reference.json"
SKETCH_POINTS = 101
FORMAT = 1


@dataclass
class NumericReference:
    """A number's reference: ``edges`` (k-1 inner edges), ``shares`` (k), quantile sketch."""

    edges: list[float]
    shares: list[float]
    quantiles: list[float]
    mean: float
    sd: float
    missing_share: float
    n: int
    kind: str = "numeric"


@dataclass
class CategoricalReference:
    """A category's reference: shares by category key (``category_key``), the rest as other."""

    categories: list[str]
    shares: list[float]
    other_share: float
    missing_share: float
    n: int
    kind: str = "categorical"


Reference = NumericReference | CategoricalReference


@dataclass
class ReferenceProfile:
    """The whole reference of one model (see the module docstring)."""

    profile: str
    n_rows: int
    features: dict[str, Reference]
    prediction: CategoricalReference | None = None
    risk_score: NumericReference | None = None
    predicted_value: NumericReference | None = None
    target: Reference | None = None
    target_name: str | None = None
    source: str | None = None  # the training file's name when backfilled later
    created_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite numbers as None), as logged with the model."""
        return _finite(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceProfile:
        """A profile from :meth:`to_dict` output (``monitoring/reference.json``).

        Raises:
            KeyError: ``profile``, ``n_rows`` or ``features`` missing.
        """
        return cls(
            profile=data["profile"],
            n_rows=int(data["n_rows"]),
            features={k: _ref(v) for k, v in data["features"].items()},
            prediction=_ref(data["prediction"]) if data.get("prediction") else None,  # type: ignore[arg-type]
            risk_score=_ref(data["risk_score"]) if data.get("risk_score") else None,  # type: ignore[arg-type]
            predicted_value=(
                _ref(data["predicted_value"])  # type: ignore[arg-type]
                if data.get("predicted_value")
                else None
            ),
            target=_ref(data["target"]) if data.get("target") else None,
            target_name=data.get("target_name"),
            source=data.get("source"),
            created_at=data.get("created_at", ""),
            format=int(data.get("format", FORMAT)),
        )


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _ref(data: dict[str, Any]) -> Reference:
    values = {k: v for k, v in data.items()}
    if values.get("kind") == "categorical":
        return CategoricalReference(**values)
    for name in ("mean", "sd"):
        values[name] = float("nan") if values.get(name) is None else values[name]
    return NumericReference(**values)


# -- building ------------------------------------------------------------------------------


def numeric_reference(values: np.ndarray, bins: int = 10) -> NumericReference:
    """Summarise numbers (NaN = missing), shape ``(n,)``: equal-frequency bins and a sketch.

    Ties (a count such as absences, many zeros) merge bins: edges are the distinct quantiles.
    A bin holds values in ``(edge_i-1, edge_i]``, as ``np.searchsorted(edges, x, "left")``.
    """
    x = np.asarray(values, dtype=float)
    present = x[~np.isnan(x)]
    n = int(x.size)
    missing = float(1 - present.size / n) if n else 0.0
    if present.size == 0:
        return NumericReference([], [1.0], [], float("nan"), float("nan"), missing, n)
    inner = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    # At least one edge, so a constant training column still has a bin above it.
    edges = np.unique(inner) if inner.size else np.array([present.min()])
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    return NumericReference(
        edges=[float(e) for e in edges],
        shares=[float(c) for c in counts / present.size],
        quantiles=[float(q) for q in np.quantile(present, np.linspace(0, 1, SKETCH_POINTS))],
        mean=float(present.mean()),
        sd=float(present.std(ddof=1)) if present.size > 1 else 0.0,
        missing_share=missing,
        n=n,
    )


def categorical_reference(keys: pd.Series, max_categories: int = 200) -> CategoricalReference:
    """Summarise category keys (strings; None/NaN = missing) as shares, most frequent first."""
    n = len(keys)
    counts = keys.dropna().value_counts()
    present = int(counts.sum())
    kept = counts.iloc[:max_categories]
    return CategoricalReference(
        categories=[str(c) for c in kept.index],
        shares=[float(c) / present for c in kept.to_numpy()] if present else [],
        other_share=float(1 - kept.sum() / present) if present else 0.0,
        missing_share=float(1 - present / n) if n else 0.0,
        n=n,
    )


def category_keys(values: pd.Series) -> pd.Series:
    """Values as category keys (1, 1.0 and "1" alike); missing stays missing. Vectorised."""
    import pandas as pd

    from studentops.datasets.profile import category_key

    uniques = values.dropna().unique()
    mapping = {u: category_key(u) for u in uniques}
    out = values.map(mapping)
    return out.astype(pd.StringDtype()) if len(out) else out.astype(object)


def build_reference(
    profile: Profile,
    frame: pd.DataFrame,
    model: Any | None = None,
    bins: int = 10,
) -> ReferenceProfile:
    """The reference of a model trained on ``frame`` (validated training rows).

    Args:
        profile: the dataset profile (which columns are numbers, categories, the target).
        frame: training rows, ``(n_rows, columns)``, holding the profile's features (and the
            target, for the class balance).
        model: the trained ``StudentModel``; when given, its predictions and risk scores on
            ``frame`` become the prediction reference.
        bins: equal-frequency bins per number (10: deciles).
    """
    import pandas as pd

    features: dict[str, Reference] = {}
    categorical = set(profile.categorical_features)
    for name in profile.feature_columns:
        if name not in frame.columns:
            continue
        if name in categorical:
            features[name] = categorical_reference(category_keys(frame[name]))
        else:
            features[name] = numeric_reference(
                pd.to_numeric(frame[name], errors="coerce").to_numpy(float), bins
            )
    ref = ReferenceProfile(profile=profile.name, n_rows=len(frame), features=features)
    target_col = profile.target.column
    if target_col in frame.columns or profile.target_source in frame.columns:
        try:
            target = profile.target_values(frame)
        except Exception:  # a target that cannot be derived: no target reference
            target = None
        if target is not None:
            ref.target_name = target_col
            if profile.task == "regression":
                ref.target = numeric_reference(
                    pd.to_numeric(target, errors="coerce").to_numpy(float), bins
                )
            else:
                ref.target = categorical_reference(category_keys(pd.Series(target)))
    if model is not None:
        X = model.encode(frame)
        if profile.task != "regression":
            # Raw classes as keys, as the prediction log stores them (not display labels).
            predicted = pd.Series(np.asarray(model.predict_matrix(X), dtype=object))
            ref.prediction = categorical_reference(category_keys(predicted))
        else:  # the predicted score itself (e.g. a mark out of 100)
            values = np.asarray(model.predict_matrix(X), dtype=float)
            ref.predicted_value = numeric_reference(values, bins)
        risk = model.risk_score_matrix(X)
        if risk is not None:
            ref.risk_score = numeric_reference(np.asarray(risk, dtype=float), bins)
    return ref


# -- storing with the model ----------------------------------------------------------------


def log_reference(client: MlflowClient, run_id: str, reference: ReferenceProfile) -> str:
    """Log the reference to the model's run as ``monitoring/reference.json``; returns the path."""
    client.log_dict(run_id, reference.to_dict(), ARTIFACT)
    return ARTIFACT


def load_reference(client: MlflowClient, run_id: str) -> ReferenceProfile | None:
    """The reference logged with a run, or None when the run has none (an older model)."""
    import tempfile

    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(run_id, ARTIFACT, folder)
        except (MlflowException, OSError):
            return None
        with open(path, encoding="utf-8") as handle:
            return ReferenceProfile.from_dict(json.load(handle))
