"""Fitted preprocessing steps and output links as plain numpy functions.

What a fold pipeline does before its final estimator (``CodesOneHot``, ``SimpleImputer``,
``StandardScaler``: each applied as the fitted step's ``transform`` would, with its fitted
arrays read once) and the softmax link of the boosters. Shared by the tree compiler
(:mod:`.forests`: are there steps before the trees?), the linear compiler (:mod:`.linear`) and
the per-fold fallback (:mod:`.pipelines`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from studentops.serving.compiled.protocol import NotCompilable

Step = Callable[[np.ndarray], np.ndarray]
"""A compiled step: an encoded matrix ``(n_rows, n_in)`` to ``(n_rows, n_out)``."""


# -- preprocessing steps -----------------------------------------------------------------------


def compile_transform(step: Any) -> Step | None:
    """A numpy function doing what ``step.transform`` does; None for steps skipped at predict.

    ``CodesOneHot``, a NaN-only ``SimpleImputer`` and ``StandardScaler`` are rewritten in numpy
    from their fitted arrays; any other step keeps its own ``transform``. Samplers (SMOTE)
    and ``"passthrough"`` do nothing at predict time: None.
    """
    if step is None or step == "passthrough" or hasattr(step, "fit_resample"):
        return None  # samplers (SMOTE) only act during fit
    kind = type(step).__name__
    if kind == "CodesOneHot":
        return compile_onehot(step)
    if kind == "SimpleImputer" and plain_imputer(step):
        stats = np.asarray(step.statistics_, dtype=float)
        return lambda X: np.where(np.isnan(X), stats, X)
    if kind == "StandardScaler" and not getattr(step, "with_sparse", False):
        mean = step.mean_ if step.with_mean else None
        scale = step.scale_ if step.with_std else None

        def scale_step(X: np.ndarray) -> np.ndarray:
            out = np.array(X, dtype=float, copy=True)
            if mean is not None:
                out -= mean
            if scale is not None:
                out /= scale
            return out

        return scale_step
    return step.transform


def plain_imputer(step: Any) -> bool:
    """An imputer that only fills NaN with its statistics, keeping every column."""
    stats = np.asarray(step.statistics_, dtype=float)
    missing = step.missing_values
    return (
        not step.add_indicator
        and isinstance(missing, float)
        and bool(np.isnan(missing))
        and (step.keep_empty_features or not np.isnan(stats).any())
    )


def compile_onehot(step: Any) -> Step | None:
    """``CodesOneHot.transform`` with precomputed positions: one fancy-index for all blocks.

    ``(n_rows, n_in)`` -> ``(n_rows, n_numeric + sum(n_categories))``: numeric columns first,
    then one block per categorical column (NaN, negative and unseen codes: all zeros). None
    when there is no categorical column (the step passes rows through).
    """
    cat = np.asarray(list(step.categorical_indices), dtype=np.intp)
    if not len(cat):
        return None
    numeric = np.asarray(step.numeric_indices_, dtype=np.intp)
    sizes = np.asarray(list(step.n_categories), dtype=np.intp)
    starts = len(numeric) + np.concatenate([[0], np.cumsum(sizes)[:-1]])
    width = len(numeric) + int(sizes.sum())

    def onehot(X: np.ndarray) -> np.ndarray:
        out = np.zeros((len(X), width))
        out[:, : len(numeric)] = X[:, numeric]
        codes = X[:, cat]
        ok = ~np.isnan(codes)
        idx = np.where(ok, codes, -1).astype(np.intp)
        ok &= (idx >= 0) & (idx < sizes)
        rows, cols = np.nonzero(ok)
        out[rows, starts[cols] + idx[rows, cols]] = 1.0
        return out

    return onehot


def final_estimators(pipelines: Sequence[Any]) -> list[Any]:
    """The folds' final estimators when nothing runs before them at predict time.

    Raises:
        NotCompilable: a fold transforms its input before the estimator.
    """
    out = []
    for pipeline in pipelines:
        steps = list(getattr(pipeline, "steps", [("model", pipeline)]))
        *pre, (_, final) = steps
        if any(compile_transform(step) is not None for _, step in pre):
            raise NotCompilable("preprocessing before the trees")
        out.append(final)
    return out


def softmax(raw: np.ndarray) -> np.ndarray:
    """Softmax over the last axis in the input's precision (as XGBoost and LightGBM do).

    ``exp(z - max z) / sum(exp(z - max z))``; any shape, normalised along the last axis.
    """
    e = np.exp(raw - raw.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
