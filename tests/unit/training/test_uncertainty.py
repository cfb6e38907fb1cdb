"""Confidence intervals: known values, and coverage checked by simulation.

Each simulation draws samples from a known truth, builds the 95% interval and counts how often
it holds the truth. The bounds allow for the simulation's own noise (2,000 draws: standard
error about 0.5 point; 300 bootstrap draws: about 1.3 points).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from studentops.training.evaluate import roc_auc
from studentops.training.uncertainty import (
    auc,
    bootstrap_auc,
    metric_intervals,
    newcombe,
    percentile_interval,
    wilson,
)


def test_wilson_known_values() -> None:
    # Newcombe (1998), table I: 81/263 -> 0.2553 to 0.3662; 0/10 -> 0 to 0.2775
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert all(np.isnan(wilson(0, 0)))


def test_newcombe_known_values() -> None:
    # Newcombe (1998), table II, example (a): 56/70 vs 48/80 -> 0.0524 to 0.3339 (method 10)
    d, low, high = newcombe(56, 70, 48, 80)
    assert d == pytest.approx(0.2)
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=1e-4)


@pytest.mark.parametrize(("n", "p"), [(15, 0.1), (30, 0.3), (60, 0.5), (200, 0.05)])
def test_wilson_coverage(n: int, p: float) -> None:
    rng = np.random.default_rng(n)
    draws = rng.binomial(n, p, 2000)
    held = [lo <= p <= hi for lo, hi in (wilson(int(x), n) for x in draws)]
    assert 0.92 <= np.mean(held) <= 0.99


@pytest.mark.parametrize(("n1", "p1", "n2", "p2"), [(40, 0.3, 25, 0.5), (200, 0.2, 12, 0.2)])
def test_newcombe_coverage(n1: int, p1: float, n2: int, p2: float) -> None:
    rng = np.random.default_rng(n1 + n2)
    x1, x2 = rng.binomial(n1, p1, 2000), rng.binomial(n2, p2, 2000)
    truth = p1 - p2
    held = []
    for a, b in zip(x1, x2, strict=True):
        _, lo, hi = newcombe(int(a), n1, int(b), n2)
        held.append(lo <= truth <= hi)
    assert 0.92 <= np.mean(held) <= 0.99


def test_bootstrap_auc_coverage() -> None:
    """Binormal scores (positives N(1,1), negatives N(0,1)): true AUC = Phi(1/sqrt 2)."""
    truth = float(norm.cdf(1 / np.sqrt(2)))
    rng = np.random.default_rng(7)
    held = []
    for _ in range(300):
        y = rng.uniform(size=150) < 0.35
        score = rng.normal(0, 1, 150) + y
        lo, hi = percentile_interval(bootstrap_auc(y, score, resamples=300, seed=1))
        held.append(lo <= truth <= hi)
    assert 0.90 <= np.mean(held) <= 0.99


def test_auc_equals_scikit_learn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.uniform(size=300) < 0.4
    s = np.round(rng.normal(size=300) + y, 1)  # ties
    assert auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert np.isnan(auc(np.zeros(5, bool), s[:5]))


def test_metric_intervals_bracket_the_value() -> None:
    rng = np.random.default_rng(2)
    y = (rng.uniform(size=400) < 0.3).astype(int)
    p1 = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.2, 400), 0.01, 0.99)
    proba = np.column_stack([1 - p1, p1])
    out = metric_intervals({"roc_auc": roc_auc}, y, proba, resamples=200)
    fig = out["roc_auc"]
    assert fig["low"] < fig["value"] < fig["high"]
    assert fig["high"] - fig["low"] < 0.2


def test_vectorised_bootstrap_auc_equals_resampling() -> None:
    """Each multinomial resample's AUC equals the AUC of the rows it draws."""
    from studentops.training.uncertainty import bootstrap_auc

    rng = np.random.default_rng(5)
    y = rng.uniform(size=60) < 0.4
    s = np.round(rng.normal(size=60) + y, 1)  # ties
    values = bootstrap_auc(y, s, resamples=30, seed=3)
    weights = np.random.default_rng(3).multinomial(60, np.full(60, 1 / 60), size=30)
    for value, count in zip(values, weights, strict=True):
        rows = np.repeat(np.arange(60), count)
        assert value == pytest.approx(auc(y[rows], s[rows]))
