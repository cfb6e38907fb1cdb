"""Confidence intervals for held-out metrics and per-group rates.

A test set of a few hundred students gives metrics that move by several points from one sample
to the next, and a fairness group of thirty students far more; a figure without its interval
invites decisions on noise. Three standard tools, chosen for their coverage at small sizes:

- **Wilson score interval** for a proportion (selection rate, recall, FNR, FPR, precision).
  Wilson (1927), JASA 22:209; recommended over the normal ("Wald") interval by Brown, Cai and
  DasGupta (2001), Statistical Science 16:101, because it keeps close to nominal coverage for
  small n and rates near 0 or 1, where Wald collapses to zero width.
- **Newcombe's hybrid score interval** for the difference of two independent proportions
  (the gap between two groups' rates), method 10 of Newcombe (1998), Statistics in Medicine
  17:873, built from the two Wilson intervals.
- **Percentile bootstrap** (Efron and Tibshirani 1993, ch. 13) for everything without a closed
  form (AUC, F1, Brier, the gap of two AUCs): resample rows with replacement, recompute, take
  the 2.5 and 97.5 percentiles. Seeded, so a report is reproducible.

All intervals are two-sided at ``level`` (default 95%). ``tests/unit/training/test_uncertainty``
checks their coverage by simulation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 300


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def wilson(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n``.

    Args:
        successes: count of events, ``0 <= successes <= n``.
        n: trials; 0 gives ``(nan, nan)``.
        level: coverage, e.g. 0.95.

    Returns:
        ``(low, high)`` within [0, 1].
    """
    if n <= 0:
        return float("nan"), float("nan")
    z = _z(level)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(
    x1: int, n1: int, x2: int, n2: int, level: float = LEVEL
) -> tuple[float, float, float]:
    """Difference ``x1/n1 - x2/n2`` of two independent proportions with Newcombe's interval.

    Returns:
        ``(difference, low, high)``; all nan when either group is empty.
    """
    if n1 <= 0 or n2 <= 0:
        return float("nan"), float("nan"), float("nan")
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, level)
    l2, u2 = wilson(x2, n2, level)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, max(-1.0, low), min(1.0, high)


def auc(y01: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney statistic with mid-ranks for ties); nan with one class only."""
    from scipy.stats import rankdata

    y01 = np.asarray(y01, dtype=bool)
    n_pos = int(y01.sum())
    n_neg = len(y01) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[y01].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_auc(
    y01: np.ndarray,
    score: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> np.ndarray:
    """AUC of ``resamples`` bootstrap resamples at once, shape ``(resamples,)``.

    Each resample is a multinomial count per row; the AUC of a weighted sample is computed from
    the rows sorted once by score (ties grouped): for every tie group, positives' weight times
    the negatives' weight below it, plus half the negatives' weight tied with it. Equal to
    :func:`auc` on the resampled rows (tested), in one vectorised pass instead of a sort per
    resample. A resample with one class only gives nan.
    """
    y01 = np.asarray(y01, dtype=bool)
    score = np.asarray(score, dtype=float)
    n = len(score)
    if n == 0:
        return np.full(resamples, np.nan)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)
    order = np.argsort(score, kind="stable")
    sorted_scores = score[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    w = weights[:, order]
    pos = np.add.reduceat(w * y01[order], starts, axis=1)
    neg = np.add.reduceat(w * ~y01[order], starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (pos * (below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg)
    out[(total_pos == 0) | (total_neg == 0)] = np.nan
    return out


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap values (nan ignored; nan with fewer than 20)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 20:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def metric_intervals(
    metrics: Mapping[str, Callable[[np.ndarray, np.ndarray], float]],
    y: np.ndarray,
    output: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Point value and bootstrap interval of each metric on the same resamples.

    Args:
        metrics: name -> ``fn(y, output)`` (the plain metrics of :mod:`.evaluate`).
        y: true labels or values, shape ``(n,)``.
        output: probabilities ``(n, k)`` or values ``(n,)``.

    Returns:
        ``{name: {"value", "low", "high"}}``.
    """
    n = len(y)
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, n, n) for _ in range(resamples)] if n > 1 else []
    out: dict[str, dict[str, float]] = {}
    tail = (1 - level) / 2 * 100
    for name, fn in metrics.items():
        value = float(fn(y, output))
        samples = np.array([_safe(fn, y[i], output[i]) for i in draws], dtype=float)
        samples = samples[np.isfinite(samples)]
        low, high = (
            (float(np.percentile(samples, tail)), float(np.percentile(samples, 100 - tail)))
            if len(samples) >= 20
            else (float("nan"), float("nan"))
        )
        out[name] = {"value": value, "low": low, "high": high}
    return out


def _safe(fn: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray, out: np.ndarray) -> Any:
    try:
        return fn(y, out)
    except (ValueError, ZeroDivisionError, IndexError):
        return float("nan")
