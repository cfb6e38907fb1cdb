"""The fairness gate reads the FNR gap's interval: noise in a small group neither blocks a
model nor waves one through; a real gap in groups large enough to show it blocks."""

from __future__ import annotations

import numpy as np
import pytest

from studentops.registry.models import fairness_gate
from studentops.training.fairness import group_figures, measure_gap


def _gap(rng: np.random.Generator, sizes: dict[str, tuple[int, float]]) -> dict[str, float]:
    """FNR gap of groups with ``(at-risk students, true FNR)``, plus as many not at risk."""
    groups = {}
    for name, (positives, fnr) in sizes.items():
        y = np.r_[np.ones(positives, bool), np.zeros(positives, bool)]
        flagged = np.r_[rng.uniform(size=positives) >= fnr, rng.uniform(size=positives) < 0.1]
        groups[name] = group_figures(y, flagged, None)
    gap = measure_gap(groups, "fnr")
    assert gap is not None
    return gap


def test_small_group_noise_rarely_blocks() -> None:
    """Same true FNR (0.3) everywhere; one group has 12 at-risk students. The point gap often
    exceeds 0.2 by chance; the gate must almost never fail."""
    rng = np.random.default_rng(0)
    point_over, failed = 0, 0
    for _ in range(400):
        gap = _gap(rng, {"large": (300, 0.3), "small": (12, 0.3)})
        point_over += gap["gap"] > 0.2
        failed += not fairness_gate(gap["gap"], gap["low"], gap["high"], 0.2).passed
    assert point_over / 400 > 0.1  # a point-only gate would block one fair model in ten
    assert failed / 400 <= 0.05


def test_real_gap_in_large_groups_blocks() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        gap = _gap(rng, {"a": (250, 0.15), "b": (250, 0.6)})
        gate = fairness_gate(gap["gap"], gap["low"], gap["high"], 0.2)
        assert not gate.passed and "lower bound" in gate.detail


def test_small_gap_in_large_groups_passes_outright() -> None:
    gap = _gap(np.random.default_rng(2), {"a": (3000, 0.3), "b": (3000, 0.32)})
    gate = fairness_gate(gap["gap"], gap["low"], gap["high"], 0.2)
    assert gate.passed and "upper bound" in gate.detail


def test_straddling_interval_is_inconclusive_and_says_so() -> None:
    gate = fairness_gate(0.25, 0.05, 0.45, 0.2, detail="fnr gap by gender: m vs f")
    assert gate.passed and "inconclusive" in gate.detail and "gender" in gate.detail


@pytest.mark.parametrize(("gap", "ok"), [(0.1, True), (0.3, False)])
def test_versions_without_interval_use_the_point(gap: float, ok: bool) -> None:
    assert fairness_gate(gap, None, None, 0.2).passed is ok


def test_unmeasured_passes_and_names_small_groups() -> None:
    gate = fairness_gate(None, None, None, 0.2, detail="too small to judge: gender: x")
    assert gate.passed and "too small" in gate.detail
