"""Jensen-Shannon distance between category (or bin) shares, base 2, in [0, 1].

JS(P, Q) = sqrt(0.5 * KL(P || M) + 0.5 * KL(Q || M)), M = (P + Q) / 2 (Lin, "Divergence
measures based on the Shannon entropy", IEEE Trans. Inf. Theory 37(1), 1991; the distance
is the square root, Endres & Schindelin 2003). Bounded and defined with empty categories,
which suits categories that appear or vanish. Same as ``scipy.spatial.distance.jensenshannon``
with ``base=2``.

Threshold 0.1: Evidently's default for its ``jensenshannon`` test (evidently 0.7,
``calculations/stattests/jensenshannon.py``).

Noise floor: for P close to Q, JS divergence (nats) ~ (1/8) * sum (p - q)^2 / m, so
``8 * JSD * n*N/(n+N)`` is asymptotically the two-sample chi-square statistic with k-1 degrees
of freedom; the distance's q-quantile by chance is
``sqrt(chi2.ppf(q, k-1) * (1/n + 1/N) / (8 ln 2))``.
"""

from __future__ import annotations

import math

import numpy as np

NAME = "jensen_shannon"
DEFAULT_THRESHOLD = 0.1
SOURCE = "Lin (1991) IEEE Trans. Inf. Theory 37(1); threshold: Evidently 0.7 jensenshannon"


def statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """JS distance (base 2) of two share (or count) vectors over the same categories, [0, 1]."""
    p = np.asarray(reference, dtype=float)
    q = np.asarray(current, dtype=float)
    p = p / p.sum() if p.sum() > 0 else p
    q = q / q.sum() if q.sum() > 0 else q
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(math.sqrt(max(0.5 * (kl_p + kl_q), 0.0)))


def noise_floor(k: int, n: int, n_reference: int, q: float = 0.99) -> float:
    """The JS distance ``k`` categories reach by chance with probability ``1 - q``."""
    from scipy.special import chdtri  # chi2.ppf(q, df) == chdtri(df, 1 - q)

    if n <= 0 or k < 2:
        return float("inf")
    chance = chdtri(k - 1, 1 - q) * (1.0 / n + 1.0 / max(n_reference, 1))
    return float(math.sqrt(chance / (8.0 * math.log(2.0))))
