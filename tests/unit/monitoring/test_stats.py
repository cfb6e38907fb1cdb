"""Each drift statistic against scipy on known distributions, and its noise floor by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr
from scipy.stats import ks_2samp, wasserstein_distance

from studentops.monitoring import stats
from studentops.monitoring.stats import jensen_shannon, ks, psi, wasserstein

RNG = np.random.default_rng(0)


def test_psi_is_the_symmetric_kl_divergence() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.4])
    q = np.array([0.25, 0.25, 0.25, 0.25])
    expected = float(np.sum(rel_entr(p, q) + rel_entr(q, p)))
    assert psi.statistic(p, q) == pytest.approx(expected, rel=1e-12)
    assert psi.statistic(p * 50, q * 8) == pytest.approx(expected, rel=1e-12)  # counts work too
    assert psi.statistic(p, p) == 0.0
    # An empty bin is floored, not infinite.
    assert np.isfinite(psi.statistic(np.array([0.5, 0.5, 0.0]), np.array([0.4, 0.4, 0.2])))


@pytest.mark.parametrize("k", [2, 5, 30])
def test_jensen_shannon_matches_scipy(k: int) -> None:
    p, q = RNG.dirichlet(np.ones(k)), RNG.dirichlet(np.ones(k))
    p[0] = 0.0  # a category one side never had
    assert jensen_shannon.statistic(p, q) == pytest.approx(
        jensenshannon(p / p.sum(), q, base=2), abs=1e-12
    )


@pytest.mark.parametrize(
    "draw",
    [
        lambda n: RNG.normal(0, 1, n),
        lambda n: RNG.exponential(2.0, n),
        lambda n: RNG.integers(0, 5, n).astype(float),
    ],
)
def test_wasserstein_on_sketches_matches_scipy(draw) -> None:
    a, b = draw(20_000), draw(20_000) + 0.3
    grid = np.linspace(0, 1, 1001)
    sd = float(a.std(ddof=1))
    ours = wasserstein.statistic(np.quantile(a, grid), np.quantile(b, grid), sd)
    assert ours == pytest.approx(wasserstein_distance(a, b) / sd, rel=0.03, abs=0.003)


def test_ks_on_a_sketch_matches_scipy() -> None:
    a, b = RNG.normal(0, 1, 50_000), RNG.normal(0.2, 1.3, 3_000)
    sketch = np.quantile(a, np.linspace(0, 1, 1001))
    assert ks.statistic(sketch, b) == pytest.approx(ks_2samp(a, b).statistic, abs=0.003)


@pytest.mark.parametrize("module", [psi, jensen_shannon])
def test_noise_floor_is_the_null_quantile(module) -> None:
    """Simulated: the statistic between samples of one distribution passes its 99% floor ~1%."""
    k, n, n_ref = 10, 300, 5_000
    shares = RNG.dirichlet(np.ones(k) * 3)
    values = []
    for _ in range(2_000):
        ref = RNG.multinomial(n_ref, shares)
        cur = RNG.multinomial(n, shares)
        values.append(module.statistic(ref, cur))
    floor = module.noise_floor(k, n, n_ref, 0.99)
    above = float(np.mean(np.array(values) > floor))
    assert 0.0 <= above <= 0.03
    assert np.quantile(values, 0.99) == pytest.approx(floor, rel=0.3)


def test_wasserstein_and_ks_noise_floors_cover_the_null() -> None:
    grid = np.linspace(0, 1, 101)
    n, n_ref = 400, 20_000
    w_above = ks_above = 0
    for _ in range(300):
        a, b = RNG.normal(0, 1, n_ref), RNG.normal(0, 1, n)
        w = wasserstein.statistic(np.quantile(a, grid), np.quantile(b, grid), 1.0)
        d = ks.statistic(np.quantile(a, np.linspace(0, 1, 1001)), b)
        w_above += w > wasserstein.noise_floor(None, n, n_ref)
        ks_above += d > ks.noise_floor(None, n, n_ref)
    assert w_above / 300 <= 0.05 and ks_above / 300 <= 0.05


def test_judge_needs_both_threshold_and_noise() -> None:
    assert stats.judge(0.3, 0.2, 0.1).drifted
    assert not stats.judge(0.3, 0.2, 0.5).drifted  # could be chance
    assert not stats.judge(0.1, 0.2, 0.01).drifted  # real but negligible
    assert not stats.judge(float("nan"), 0.2, 0.0).drifted
    with pytest.raises(ValueError, match="unknown drift statistic"):
        stats.module("chi2")
