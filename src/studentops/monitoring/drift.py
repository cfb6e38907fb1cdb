"""Compare a window of rows with a reference profile: per feature, the prediction, the dataset.

Pure functions over arrays and a :class:`~studentops.monitoring.reference.ReferenceProfile`;
no I/O. Each feature gets three checks, reported in one :class:`FeatureDrift`:

- the distribution: the chosen statistic (``monitor_numeric_statistic``, PSI on the
  reference's decile bins by default; ``monitor_categorical_statistic``, Jensen-Shannon by
  default) against its threshold and its noise floor (see :mod:`studentops.monitoring.stats`);
- the missing share: drifted when it moved by at least ``monitor_missing_threshold`` (5
  percentage points by default) and by more than sampling noise (a two-proportion z bound at
  ``monitor_noise_quantile``);
- unseen categories: the share of values the reference never had, beyond the reference's own
  long tail (``other_share``), at least ``monitor_unseen_threshold`` (2%) and beyond noise.

Below ``monitor_min_rows`` rows the figures are still computed and shown but nothing is
called drifted: the verdict is ``too_few_rows``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.monitoring import stats
from studentops.monitoring.reference import (
    CategoricalReference,
    NumericReference,
    ReferenceProfile,
)
from studentops.monitoring.results import (
    DRIFT,
    OK,
    TOO_FEW_ROWS,
    DatasetVerdict,
    FeatureDrift,
    FeatureKind,
)

if TYPE_CHECKING:
    import pandas as pd

    from studentops.config import Settings
    from studentops.datasets.profile import Profile

# A category key -> its display name (the profile's label), None when the key speaks for itself.
Labeller = Callable[[str], str | None]


def shown(key: str, label: Labeller | None = None) -> str:
    """A category for people: ``'Yes' (1)`` when the profile labels it, else ``'1'``."""
    name = label(key) if label is not None else None
    return f"{name!r} ({key})" if name and name != key else repr(key)


@dataclass(frozen=True)
class DriftOptions:
    """Thresholds and choices of a check (from settings; see docs/monitoring.md)."""

    numeric_statistic: str = "psi"
    categorical_statistic: str = "jensen_shannon"
    thresholds: dict[str, float] = field(default_factory=dict)
    min_rows: int = 200
    drift_share: float = 0.25
    missing_threshold: float = 0.05
    unseen_threshold: float = 0.02
    noise_quantile: float = 0.99

    @classmethod
    def from_settings(cls, settings: Settings) -> DriftOptions:
        """The options from ``monitor_*`` settings (see docs/monitoring.md)."""
        return cls(
            numeric_statistic=settings.monitor_numeric_statistic,
            categorical_statistic=settings.monitor_categorical_statistic,
            thresholds=dict(settings.monitor_thresholds),
            min_rows=settings.monitor_min_rows,
            drift_share=settings.monitor_drift_share,
            missing_threshold=settings.monitor_missing_threshold,
            unseen_threshold=settings.monitor_unseen_threshold,
            noise_quantile=settings.monitor_noise_quantile,
        )

    def threshold(self, statistic: str) -> float:
        """The threshold of ``statistic``: from settings, else the statistic's default
        (``DEFAULT_THRESHOLD`` beside its source in :mod:`studentops.monitoring.stats`).

        Raises:
            ValueError: an unknown statistic.
        """
        if statistic in self.thresholds:
            return float(self.thresholds[statistic])
        return float(stats.module(statistic).DEFAULT_THRESHOLD)


def _z(q: float) -> float:
    from scipy.special import ndtri  # norm.ppf without importing scipy.stats

    return float(ndtri(q))


def _missing(
    share: float, ref_share: float, n: int, n_ref: int, opts: DriftOptions
) -> tuple[bool, str]:
    diff = share - ref_share
    pooled = (share * n + ref_share * n_ref) / max(n + n_ref, 1)
    noise = _z(opts.noise_quantile) * math.sqrt(
        max(pooled * (1 - pooled), 1e-12) * (1 / max(n, 1) + 1 / max(n_ref, 1))
    )
    drifted = abs(diff) >= opts.missing_threshold and abs(diff) > noise
    text = f"missing values {ref_share:.0%} -> {share:.0%} ({diff * 100:+.1f} pp)"
    return drifted, text


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:,.0f}"


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin ``(edge_i-1, edge_i]``, shape ``(len(edges) + 1,)``; no NaN in values.

    One vectorised comparison per edge (a handful) instead of a binary search per value:
    measured 10x faster than ``np.searchsorted`` + ``np.bincount`` on 200,000 rows x 10 bins.
    """
    at_or_below = np.array([np.count_nonzero(values <= e) for e in edges], dtype=np.int64)
    return np.diff(np.concatenate([[0], at_or_below, [values.size]]))


def compare_numeric(
    name: str,
    ref: NumericReference,
    values: np.ndarray,
    opts: DriftOptions,
    kind: FeatureKind = "numeric",
) -> FeatureDrift:
    """One number column, ``values`` shape ``(n,)`` with NaN for missing, vs its reference."""
    x = np.asarray(values, dtype=float)
    n_all = int(x.size)
    present = x[~np.isnan(x)]
    n = int(present.size)
    missing_share = 1 - n / n_all if n_all else 0.0
    edges = np.asarray(ref.edges, dtype=float)
    counts = bin_counts(present, edges)
    name_stat = opts.numeric_statistic
    module = stats.module(name_stat)
    n_ref_present = max(round(ref.n * (1 - ref.missing_share)), 1)
    k = len(ref.shares)
    if n == 0 or not ref.quantiles:
        value = float("nan")
    elif name_stat == "psi":
        value = module.statistic_from_counts(np.asarray(ref.shares), counts)
    elif name_stat == "jensen_shannon":
        value = module.statistic(np.asarray(ref.shares), counts)
    elif name_stat == "wasserstein":
        grid = np.linspace(0, 1, len(ref.quantiles))
        value = module.statistic(np.asarray(ref.quantiles), np.quantile(present, grid), ref.sd)
    else:  # ks
        value = module.statistic(np.asarray(ref.quantiles), present)
    judged = stats.judge(
        value,
        opts.threshold(name_stat),
        module.noise_floor(k, n, n_ref_present, opts.noise_quantile),
    )
    missing_drifted, missing_text = _missing(missing_share, ref.missing_share, n_all, ref.n, opts)
    mean = float(present.mean()) if n else float("nan")
    # The median costs a partial sort: only for the sentence of a drifted feature.
    median = float(np.median(present)) if n and judged.drifted else float("nan")
    ref_median = ref.quantiles[len(ref.quantiles) // 2] if ref.quantiles else float("nan")
    parts = []
    if judged.drifted:
        parts.append(
            f"distribution shifted ({name_stat} {judged.value:.3f} >= {judged.threshold:.3g}): "
            f"median {_fmt(ref_median)} -> {_fmt(median)}, mean {_fmt(ref.mean)} -> {_fmt(mean)}"
        )
    if missing_drifted:
        parts.append(missing_text)
    message = f"{name}: " + ("; ".join(parts) if parts else "no drift")
    shares = counts / n if n else np.zeros_like(counts, dtype=float)
    return FeatureDrift(
        feature=name,
        kind=kind,
        statistic=name_stat,
        value=judged.value,
        threshold=judged.threshold,
        drifted=judged.drifted,
        n=n,
        missing_share=float(missing_share),
        reference_missing_share=float(ref.missing_share),
        missing_drifted=missing_drifted,
        message=message,
        details={
            "edges": [float(e) for e in edges],
            "reference": [float(s) for s in ref.shares],
            "current": [float(s) for s in shares],
            "noise_floor": judged.noise,
            "mean": mean,
            "reference_mean": ref.mean,
            "median": median,
            "reference_median": ref_median,
        },
    )


def compare_categorical(
    name: str,
    ref: CategoricalReference,
    keys: pd.Series,
    opts: DriftOptions,
    kind: FeatureKind = "categorical",
    label: Labeller | None = None,
) -> FeatureDrift:
    """One category column, ``keys`` (category keys as text, NA for missing), vs its reference.

    ``label`` names a category in the message and the report (the profile's labels)."""
    n_all = len(keys)
    counts = keys.dropna().value_counts()
    n = int(counts.sum())
    missing_share = 1 - n / n_all if n_all else 0.0
    known = set(ref.categories)
    current = np.array([float(counts.get(c, 0)) for c in ref.categories])
    unseen = counts[[c not in known for c in counts.index]] if n else counts.iloc[:0]
    unseen_count = int(unseen.sum())
    unseen_share = unseen_count / n if n else 0.0
    # The reference's long tail ("other") and unseen values form one extra category.
    ref_shares = np.append(np.asarray(ref.shares, dtype=float), ref.other_share)
    cur_counts = np.append(current, unseen_count)
    name_stat = opts.categorical_statistic
    module = stats.module(name_stat)
    n_ref_present = max(round(ref.n * (1 - ref.missing_share)), 1)
    k = int(np.count_nonzero((ref_shares > 0) | (cur_counts > 0)))
    value = module.statistic(ref_shares, cur_counts) if n else float("nan")
    judged = stats.judge(
        value,
        opts.threshold(name_stat),
        module.noise_floor(max(k, 2), n, n_ref_present, opts.noise_quantile),
    )
    missing_drifted, missing_text = _missing(missing_share, ref.missing_share, n_all, ref.n, opts)
    excess = unseen_share - ref.other_share
    base = max(ref.other_share, 1 / n_ref_present)
    unseen_noise = _z(opts.noise_quantile) * math.sqrt(base * (1 - base) / max(n, 1))
    unseen_drifted = bool(n and excess >= opts.unseen_threshold and excess > unseen_noise)
    parts = []
    cur_shares = cur_counts / n if n else np.zeros_like(cur_counts)
    if judged.drifted:
        moved = np.abs(cur_shares - ref_shares)
        i = int(np.argmax(moved))
        moved_most = (
            shown(ref.categories[i], label) if i < len(ref.categories) else "'other/unseen'"
        )
        parts.append(
            f"mix changed ({name_stat} {judged.value:.3f} >= {judged.threshold:.3g}): "
            f"largest change {moved_most} {ref_shares[i]:.0%} -> {cur_shares[i]:.0%}"
        )
    if missing_drifted:
        parts.append(missing_text)
    if unseen_drifted:
        examples = ", ".join(shown(str(c), label) for c in unseen.index[:3])
        parts.append(
            f"{unseen_share:.1%} of values are categories never seen in training ({examples})"
        )
    message = f"{name}: " + ("; ".join(parts) if parts else "no drift")
    return FeatureDrift(
        feature=name,
        kind=kind,
        statistic=name_stat,
        value=judged.value,
        threshold=judged.threshold,
        drifted=judged.drifted,
        n=n,
        missing_share=float(missing_share),
        reference_missing_share=float(ref.missing_share),
        missing_drifted=missing_drifted,
        unseen_share=float(unseen_share),
        unseen_drifted=unseen_drifted,
        message=message,
        details={
            "categories": [*ref.categories[:30], "other/unseen"],
            "labels": [
                *((label(c) if label is not None else None) or c for c in ref.categories[:30]),
                "other/unseen",
            ],
            "reference": [float(s) for s in [*ref_shares[:30], ref_shares[-1]]],
            "current": [float(s) for s in [*cur_shares[:30], cur_shares[-1]]],
            "noise_floor": judged.noise,
            "unseen_examples": [str(c) for c in unseen.index[:10]],
        },
    )


def _quiet(entry: FeatureDrift) -> FeatureDrift:
    """A window too small to judge: keep the figures, drop the verdicts."""
    entry.drifted = entry.missing_drifted = entry.unseen_drifted = False
    entry.message = f"{entry.feature}: not judged (too few rows)"
    return entry


def compare_features(
    reference: ReferenceProfile,
    columns: dict[str, Any],
    n_rows: int,
    opts: DriftOptions,
    profile: Profile | None = None,
) -> list[FeatureDrift]:
    """Every feature of the reference found in ``columns`` (name -> values), in profile order.

    Numbers are float arrays with NaN for missing; categories are pandas Series of keys,
    named by ``profile``'s labels in the messages when it is given.
    """
    out = []
    for name, ref in reference.features.items():
        if name not in columns:
            continue
        if isinstance(ref, CategoricalReference):
            label = _value_labeller(profile, name)
            entry = compare_categorical(name, ref, columns[name], opts, label=label)
        else:
            entry = compare_numeric(name, ref, columns[name], opts)
        out.append(entry if n_rows >= opts.min_rows else _quiet(entry))
    return out


def _value_labeller(profile: Profile | None, column: str) -> Labeller | None:
    if profile is None:
        return None
    return lambda key: profile.value_label(column, key)


def class_labeller(profile: Profile | None) -> Labeller | None:
    """The target's classes by their labels (predictions and outcomes)."""
    if profile is None:
        return None
    return profile.class_label


def compare_predictions(
    reference: ReferenceProfile,
    predictions: pd.Series | None,
    risk: np.ndarray | None,
    opts: DriftOptions,
    profile: Profile | None = None,
    values: np.ndarray | None = None,
) -> list[FeatureDrift]:
    """Prediction drift of the model's outputs in a window against its reference.

    Args:
        reference: the model's reference profile.
        predictions: ``(n,)`` predicted classes as category keys (classification); compared
            with the class mix by Jensen-Shannon, named by ``profile``'s class labels.
        risk: ``(n,)`` risk scores in [0, 1] (NaN for none); compared by PSI on the
            reference's deciles.
        opts: thresholds; below ``opts.min_rows`` the figures are kept, the verdicts dropped.
        values: ``(n,)`` predicted values (regression, in the target's unit, e.g. marks);
            compared as ``predicted_value`` by the configured numeric statistic (PSI).

    Returns:
        Up to three :class:`FeatureDrift` entries: ``prediction``, ``predicted_value``,
        ``risk_score`` (those the reference and the window both have).
    """
    out = []
    n = 0
    if reference.prediction is not None and predictions is not None and len(predictions):
        n = len(predictions)
        js = DriftOptions(**{**opts.__dict__, "categorical_statistic": "jensen_shannon"})
        out.append(
            compare_categorical(
                "prediction",
                reference.prediction,
                predictions,
                js,
                "prediction",
                label=class_labeller(profile),
            )
        )
    if reference.predicted_value is not None and values is not None and len(values):
        n = max(n, len(values))
        out.append(
            compare_numeric(
                "predicted_value", reference.predicted_value, values, opts, "prediction"
            )
        )
    if reference.risk_score is not None and risk is not None and len(risk):
        n = max(n, len(risk))
        psi = DriftOptions(**{**opts.__dict__, "numeric_statistic": "psi"})
        out.append(compare_numeric("risk_score", reference.risk_score, risk, psi, "risk_score"))
    return out if n >= opts.min_rows else [_quiet(e) for e in out]


def verdict(
    features: list[FeatureDrift],
    prediction: list[FeatureDrift],
    n_rows: int,
    opts: DriftOptions,
) -> DatasetVerdict:
    """The dataset-level verdict and its message in words."""
    if n_rows < opts.min_rows:
        return DatasetVerdict(
            status=TOO_FEW_ROWS,
            n_rows=n_rows,
            min_rows=opts.min_rows,
            n_features=len(features),
            share_threshold=opts.drift_share,
            message=(
                f"too few rows: {n_rows} in the window, at least {opts.min_rows} are needed "
                "before drift can be told from chance"
            ),
        )
    from studentops.monitoring.results import _severity

    drifted = sorted((f for f in features if f.any_drift), key=_severity, reverse=True)
    share = len(drifted) / len(features) if features else 0.0
    pred_drift = any(p.drifted for p in prediction)
    status = DRIFT if (features and share >= opts.drift_share) or pred_drift else OK
    lines = [
        f"{len(drifted)} of {len(features)} features drifted ({share:.0%}; the window counts as "
        f"drifted from {opts.drift_share:.0%})."
    ]
    lines += [f.message for f in drifted]
    lines += [p.message for p in prediction if p.any_drift]
    return DatasetVerdict(
        status=status,
        n_rows=n_rows,
        min_rows=opts.min_rows,
        n_features=len(features),
        drifted_features=[f.feature for f in drifted],
        drifted_share=share,
        share_threshold=opts.drift_share,
        prediction_drifted=pred_drift,
        message="\n".join(lines),
    )
