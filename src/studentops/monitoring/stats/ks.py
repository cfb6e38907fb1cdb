"""Two-sample Kolmogorov-Smirnov statistic D, judged by its size, not only its p-value.

D = sup_x |F(x) - G(x)| (Kolmogorov 1933, Smirnov 1948). A p-value test alone flags any
shift in a large sample (a 0.01-sd shift in a million rows) and Evidently's issues #50, #509
and #1526 report exactly that; here D itself is the effect size with a floor of 0.1 (ten
percentage points of the distribution moved across some value), and the p-value at ``1 - q``
only guards small windows (the noise floor). The reference side is a quantile sketch, so D
is exact up to the sketch's resolution (1/(m-1)). Matches ``scipy.stats.ks_2samp``'s D on
the same samples to that resolution (tested).
"""

from __future__ import annotations

import math

import numpy as np

NAME = "ks"
DEFAULT_THRESHOLD = 0.1
SOURCE = "Kolmogorov (1933), Smirnov (1948); effect-size floor 0.1 (this project)"


def statistic(reference_quantiles: np.ndarray, current: np.ndarray) -> float:
    """D between the reference (quantile sketch, ``(m,)``) and current values ``(n,)``, [0, 1]."""
    ref = np.asarray(reference_quantiles, dtype=float)
    cur = np.sort(np.asarray(current, dtype=float))
    cur = cur[~np.isnan(cur)]
    if cur.size == 0:
        return float("nan")
    points = np.unique(np.concatenate([ref, cur]))
    u = np.linspace(0.0, 1.0, len(ref))
    # Reference CDF at each point: the largest u whose quantile is <= the point.
    idx = np.searchsorted(ref, points, side="right")
    f_ref = np.where(idx > 0, u[np.maximum(idx - 1, 0)], 0.0)
    f_ref = np.where(points >= ref[-1], 1.0, f_ref)
    f_cur = np.searchsorted(cur, points, side="right") / cur.size
    return float(np.max(np.abs(f_cur - f_ref)))


def noise_floor(k: int | None, n: int, n_reference: int, q: float = 0.99) -> float:
    """D reached by chance with probability ``1 - q`` (Kolmogorov's limit distribution)."""
    from scipy.special import kolmogi  # kstwobign.ppf(q) == kolmogi(1 - q)

    if n <= 0:
        return float("inf")
    effective = n * n_reference / (n + n_reference) if n_reference else n
    return float(kolmogi(1 - q) / math.sqrt(effective))
