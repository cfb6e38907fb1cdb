"""Population Stability Index over fixed reference bins.

PSI = sum_i (c_i - r_i) * ln(c_i / r_i), over the reference's bins (deciles of the training
data for numbers, categories for categories), with shares floored at ``EPS`` so an empty bin
does not give infinity (the same floor as Evidently's ``psi`` test). PSI is the symmetric
Kullback-Leibler (Jeffreys) divergence of the two binned distributions.

Threshold 0.2: the credit-scoring rule of thumb (< 0.1 no change, 0.1-0.25 some change,
> 0.25 major shift; Siddiqi, *Credit Risk Scorecards*, Wiley 2006, ch. 8), placed inside the
"some change" band, where a data team should look.

Noise floor: with no change, ``PSI * n*N/(n+N)`` is asymptotically chi-square with k-1
degrees of freedom (Yurdakul, *Statistical Properties of the Population Stability Index*,
Western Michigan University, 2018), so the q-quantile of PSI by chance alone is
``chi2.ppf(q, k-1) * (1/n + 1/N)``.
"""

from __future__ import annotations

import numpy as np

NAME = "psi"
DEFAULT_THRESHOLD = 0.2
EPS = 1e-4
SOURCE = "Siddiqi (2006) Credit Risk Scorecards ch. 8; Yurdakul (2018) PSI ~ chi2(k-1)(1/n+1/N)"


def statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two share (or count) vectors over the same bins, shape ``(k,)``; >= 0."""
    r = _shares(reference)
    c = _shares(current)
    return float(np.sum((c - r) * np.log(c / r)))


def statistic_from_counts(reference: np.ndarray, counts: np.ndarray) -> float:
    """PSI of reference shares ``(k,)`` and the window's counts ``(k,)``, with the window's
    shares estimated as ``(count + 0.5) / (n + 0.5 k)`` (the Jeffreys prior): an empty bin in
    a small window is not read as a vanished population (with the bare ``EPS`` floor, one
    empty decile adds 0.69 to PSI). Converges to :func:`statistic` as n grows.
    """
    counts = np.asarray(counts, dtype=float)
    return statistic(reference, (counts + 0.5) / (counts.sum() + 0.5 * counts.size))


def noise_floor(k: int, n: int, n_reference: int, q: float = 0.99) -> float:
    """The PSI that ``k`` bins reach by chance with probability ``1 - q`` (no change)."""
    from scipy.special import chdtri  # chi2.ppf(q, df) == chdtri(df, 1 - q); a light import

    if n <= 0 or k < 2:
        return float("inf")
    return float(chdtri(k - 1, 1 - q) * (1.0 / n + 1.0 / max(n_reference, 1)))


def _shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    shares = counts / total if total > 0 else np.full(counts.shape, 1.0 / max(len(counts), 1))
    return np.maximum(shares, EPS)
