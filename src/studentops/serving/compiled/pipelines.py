"""Fold pipelines compiled step by step: preprocessing in numpy, estimators as fast as known.

The fallback of :mod:`.scorer` for a member whose folds cannot be fused (a
preprocessing step before the trees, an estimator without a compiled form): each fold's
``CodesOneHot`` / ``SimpleImputer`` / ``StandardScaler`` in numpy, then its tree walk, LightGBM's
single-row C predictor, a logistic regression in numpy, or the estimator's own
``predict_proba``.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

from studentops.serving.compiled.forests import tree_kind
from studentops.serving.compiled.protocol import NotCompilable
from studentops.serving.compiled.transforms import Step, compile_transform

# -- final estimators ---------------------------------------------------------------------------


class _LightGBMSingleRow:
    """LightGBM's C single-row fast predictor (one FastConfig; a lock makes it thread-safe)."""

    def __init__(self, booster: Any, n_features: int, num_iteration: int) -> None:
        from lightgbm.basic import (
            _C_API_DTYPE_FLOAT64,
            _C_API_PREDICT_NORMAL,
            _LIB,
            _c_str,
            _safe_call,
        )

        self._lib = _LIB
        self._safe_call = _safe_call
        self._booster = booster  # keeps the handle alive
        self._handle = ctypes.c_void_p()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_C_API_PREDICT_NORMAL),
                ctypes.c_int(0),
                ctypes.c_int(num_iteration),
                ctypes.c_int(_C_API_DTYPE_FLOAT64),
                ctypes.c_int32(n_features),
                _c_str("num_threads=1"),
                ctypes.byref(self._handle),
            )
        )
        self._n_out = booster.num_model_per_iteration()
        self._out = np.empty(self._n_out, dtype=np.float64)
        self._out_len = ctypes.c_int64(0)
        self._out_ptr = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._lock = threading.Lock()

    def __call__(self, row: np.ndarray) -> np.ndarray:
        row = np.ascontiguousarray(row, dtype=np.float64)
        with self._lock:
            self._safe_call(
                self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                    self._handle,
                    row.ctypes.data_as(ctypes.c_void_p),
                    ctypes.byref(self._out_len),
                    self._out_ptr,
                )
            )
            return self._out.copy()

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.value:
            self._lib.LGBM_FastConfigFree(handle)


def _compile_lightgbm(est: Any, n_features: int) -> Step:
    booster = est.booster_
    num_iteration = int(getattr(est, "best_iteration_", 0) or 0) or -1
    binary = booster.num_model_per_iteration() == 1
    single = _LightGBMSingleRow(booster, n_features, num_iteration)
    iterations = None if num_iteration <= 0 else num_iteration

    def proba(X: np.ndarray) -> np.ndarray:
        if len(X) == 1:
            result = single(X[0]).reshape(1, -1)
            result = result[:, 0] if binary else result
        else:
            result = booster.predict(X, num_iteration=iterations, num_threads=1)
        if binary:
            return np.vstack((1.0 - result, result)).transpose()
        return result

    return proba


def _compile_logistic(est: Any) -> Step:
    from scipy.special import expit
    from sklearn.utils.extmath import softmax

    coef = np.asarray(est.coef_, dtype=float)
    intercept = np.asarray(est.intercept_, dtype=float)
    binary = coef.shape[0] == 1

    def proba(X: np.ndarray) -> np.ndarray:
        decision = X @ coef.T + intercept
        if binary:
            p = expit(decision.ravel())
            return np.vstack([1 - p, p]).T
        return softmax(decision, copy=False)

    return proba


def compile_estimator(est: Any, n_features: int) -> Step:
    """One fold's final estimator as ``X (n_rows, n_features) -> (n_rows, n_classes)``.

    A tree model becomes a compiled forest, LightGBM (with a preprocessing step before it) its
    single-row C predictor, a logistic regression numpy; anything else its own
    ``predict_proba``. ``n_features`` is the width of the matrix the estimator reads.
    """
    kind = type(est).__name__
    try:
        tree = tree_kind([est])
    except NotCompilable:
        pass
    else:
        return lambda X: tree.probas(X)[:, 0]
    if kind == "LGBMClassifier":
        return _compile_lightgbm(est, n_features)
    if kind == "LogisticRegression":
        return _compile_logistic(est)
    return est.predict_proba


def compile_pipeline(pipeline: Any, n_features: int) -> Step:
    """The probability function of one fitted fold pipeline, step by step.

    Returns ``X (n_rows, n_features) -> (n_rows, n_classes)`` with the fold's own classes as
    columns; ``n_features`` is the encoded matrix's width.
    """
    steps = list(getattr(pipeline, "steps", [("model", pipeline)]))
    *pre, (_, final) = steps
    transforms = [t for _, step in pre if (t := compile_transform(step)) is not None]
    width = n_features
    for _, step in pre:
        if type(step).__name__ == "CodesOneHot" and list(step.categorical_indices):
            width = len(step.source_index_)
    predict = compile_estimator(final, width)

    def run(X: np.ndarray) -> np.ndarray:
        for transform in transforms:
            X = transform(X)
        return predict(X)

    return run
