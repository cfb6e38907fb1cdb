"""Drift statistics, one per module, each with its source and default threshold beside it.

Every statistic compares a current window with a *reference profile*, never with raw
reference rows: shares per bin or category (PSI, Jensen-Shannon) or a quantile sketch
(Wasserstein, Kolmogorov-Smirnov). Each module exposes:

- ``NAME``, ``DEFAULT_THRESHOLD``, ``SOURCE``;
- ``statistic(...) -> float``: the effect size (the thing the threshold is about);
- ``noise_floor(k_or_none, n, n_reference, q) -> float``: the value the statistic reaches by
  sampling noise alone with probability ``1 - q`` when nothing changed.

A column is drifted when its statistic is at or above the threshold **and** above the noise
floor (:func:`judge`). The threshold keeps a negligible shift in a million rows quiet (an
effect-size floor); the noise floor keeps identical distributions in a small window quiet.
Neither depends on a p-value growing with the sample size.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

NUMERIC = ("psi", "wasserstein", "ks", "jensen_shannon")
CATEGORICAL = ("jensen_shannon", "psi")


@dataclass(frozen=True)
class Judgement:
    """One statistic's verdict: ``drifted`` iff ``value >= max(threshold, noise)``."""

    value: float
    threshold: float
    noise: float
    drifted: bool


def module(name: str) -> ModuleType:
    """The module of a statistic by ``NAME``; raises ValueError for an unknown name."""
    from studentops.monitoring.stats import jensen_shannon, ks, psi, wasserstein

    found = {m.NAME: m for m in (psi, jensen_shannon, wasserstein, ks)}
    if name not in found:
        raise ValueError(f"unknown drift statistic {name!r} (one of {', '.join(sorted(found))})")
    return found[name]


def judge(value: float, threshold: float, noise: float) -> Judgement:
    """Drifted when the effect reaches the threshold and could not be sampling noise."""
    drifted = bool(value == value and value >= threshold and value > noise)
    return Judgement(float(value), float(threshold), float(noise), drifted)
