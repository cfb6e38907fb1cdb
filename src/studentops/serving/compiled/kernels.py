"""The compiled (numba) loops of the fast scorer: tree walks and linear decision values.

Compiled on first use (about two seconds, once per process; numba caches the machine code
beside this module, so later processes load it in milliseconds) and never at import.
"""

from __future__ import annotations

from typing import Any

LGB_ZERO = 1e-35  # LightGBM's kZeroThreshold

_KERNELS: dict[str, Any] = {}


def kernels() -> dict[str, Any]:
    """The compiled loops, built on first use (never at import: numba is slow to load)."""
    if _KERNELS:
        return _KERNELS
    from numba import njit as _njit

    def njit(**options: Any) -> Any:
        """numba.njit, caching machine code where it can (a read-only install cannot)."""

        def wrap(function: Any) -> Any:
            try:
                return _njit(**options)(function)
            except RuntimeError:  # "cannot cache function ...: no locator available"
                return _njit(**{**options, "cache": False})(function)

        return wrap

    # One loop per comparison rule: a rule chosen by a flag inside the loop cost 40% more.
    # Tree by tree, then row by row: a batch reuses each tree while it is in cache (2.5x
    # faster on 1,000 rows than all trees per row); each output still sums its trees in order.

    @njit(cache=True, nogil=True)
    def leaf_lt(x, node, nodes):
        """XGBoost: x < t goes left; NaN takes the default side."""
        while True:
            split = nodes[node]
            if split.left < 0:
                return node
            v = x[split.feature]
            go_left = split.missing_left != 0 if v != v else v < split.threshold
            node = split.left if go_left else split.right

    @njit(cache=True, nogil=True)
    def leaf_le(x, node, nodes):
        """scikit-learn trees: x <= t goes left; NaN takes missing_go_to_left."""
        while True:
            split = nodes[node]
            if split.left < 0:
                return node
            v = x[split.feature]
            go_left = split.missing_left != 0 if v != v else v <= split.threshold
            node = split.left if go_left else split.right

    @njit(cache=True, nogil=True)
    def leaf_lightgbm(x, node, nodes, cat_bounds, cat_bits):
        """LightGBM's NumericalDecision (missing types None (1), Zero (2), NaN (0)) and
        CategoricalDecision (3: the listed categories go left; NaN and negatives go right)."""
        while True:
            split = nodes[node]
            if split.left < 0:
                return node
            v = x[split.feature]
            kind = split.missing_kind
            if kind == 3:
                if v != v:
                    node = split.right
                    continue
                code = int(v)  # C's truncating cast, as LightGBM's static_cast<int>
                go_left = False
                if code >= 0:
                    k = int(split.threshold)
                    start = cat_bounds[k]
                    word = code // 32
                    if word < cat_bounds[k + 1] - start:
                        go_left = ((cat_bits[start + word] >> (code % 32)) & 1) == 1
                node = split.left if go_left else split.right
                continue
            if kind != 0 and v != v:
                v = 0.0
            if v != v or (kind == 2 and abs(v) <= LGB_ZERO):
                go_left = split.missing_left != 0
            else:
                go_left = v <= split.threshold
            node = split.left if go_left else split.right

    @njit(cache=True, nogil=True)
    def sum_lt(X, nodes, value, roots, column, out):
        """Add each tree's leaf (XGBoost rule) to ``out[row, column[tree]]``; X is
        ``(n_rows, n_features)``, out ``(n_rows, n_outputs)`` holding the base on entry."""
        for t in range(roots.shape[0]):
            for i in range(X.shape[0]):
                out[i, column[t]] += value[leaf_lt(X[i], roots[t], nodes)]

    @njit(cache=True, nogil=True)
    def sum_le(X, nodes, value, roots, column, out):
        """As ``sum_lt`` with scikit-learn's and CatBoost's rule (``x <= t``)."""
        for t in range(roots.shape[0]):
            for i in range(X.shape[0]):
                out[i, column[t]] += value[leaf_le(X[i], roots[t], nodes)]

    @njit(cache=True, nogil=True)
    def sum_lightgbm(X, nodes, cat_bounds, cat_bits, value, roots, column, out):
        """As ``sum_lt`` with LightGBM's numerical and categorical decisions."""
        for t in range(roots.shape[0]):
            for i in range(X.shape[0]):
                leaf = leaf_lightgbm(X[i], roots[t], nodes, cat_bounds, cat_bits)
                out[i, column[t]] += value[leaf]

    @njit(cache=True, nogil=True)
    def sum_le_vector(X, nodes, value, roots, column, out):
        """As ``sum_le`` for leaves holding a row (a random forest's class fractions, value
        ``(n_nodes, width)``), added to columns ``column[tree] .. column[tree] + width - 1``."""
        width = value.shape[1]
        for t in range(roots.shape[0]):
            for i in range(X.shape[0]):
                node = leaf_le(X[i], roots[t], nodes)
                start = column[t]
                for c in range(width):
                    out[i, start + c] += value[node, c]

    @njit(cache=True, nogil=True)
    def linear(X, numeric, A_num, S_num, cat, sizes, starts, A_cat, c, out):
        """Decision values of one-hot -> impute -> linear model, without building the one-hot
        matrix: a numeric cell adds ``x * A`` (``S``, the imputed value's share, when NaN); a
        category code adds the row of its one-hot column (nothing when missing or unknown)."""
        width = c.shape[0]
        for i in range(X.shape[0]):
            for j in range(width):
                out[i, j] = c[j]
            for k in range(numeric.shape[0]):
                v = X[i, numeric[k]]
                if v != v:
                    for j in range(width):
                        out[i, j] += S_num[k, j]
                else:
                    for j in range(width):
                        out[i, j] += v * A_num[k, j]
            for k in range(cat.shape[0]):
                v = X[i, cat[k]]
                if v != v:
                    continue
                code = int(v)  # truncation, as the one-hot encoder's astype(int)
                if code < 0 or code >= sizes[k]:
                    continue
                row = starts[k] + code
                for j in range(width):
                    out[i, j] += A_cat[row, j]

    _KERNELS.update(
        lt=sum_lt, le=sum_le, lightgbm=sum_lightgbm, le_vector=sum_le_vector, linear=linear
    )
    return _KERNELS
