"""A compiled scorer for a trained ensemble: the model's own numbers, far faster.

A trained StudentModel is an ensemble of cross-validation fold pipelines (often 15-20: three or
four algorithms x five folds). Through scikit-learn, scoring one student costs about 1 ms per
pipeline in input validation, parameter and tag lookups; even the boosters' own predictors cost
20-150 us a call. For the API's single-student path each member is compiled once, at load:

- tree members (XGBoost, LightGBM, CatBoost, random forests, HistGradientBoosting): all
  folds' trees become one flat forest walked by one compiled loop (:mod:`.trees`), then the
  library's own link (sigmoid, softmax, averaging) in its own precision;
- linear members (one-hot -> impute -> scale -> logistic, ridge or lasso regression): all
  folds in one compiled pass (the scaler and intercept folded into the coefficients, the
  one-hot product done as row lookups);
- anything else (k-NN, native categorical splits of XGBoost or HistGradientBoosting): per
  fold, ``CodesOneHot`` / ``SimpleImputer`` / ``StandardScaler`` in numpy
  and the estimator's own ``predict_proba`` (correct, just not faster).

Every compiled member is proven on sample rows against the member itself (to 5e-7, one row at a
time and together) and replaced by the member's own ``proba`` if it disagrees; the whole scorer
is proven against ``predict_proba_matrix`` once more. Regression members (and members derived
from a regression, GPA -> grade class) compile the same way to their predicted values.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from studentops.serving import trees
from studentops.serving.kernels import kernels
from studentops.serving.trees import NotCompilable

log = logging.getLogger(__name__)

Step = Callable[[np.ndarray], np.ndarray]
# XGBoost computes its sigmoid in float32 and its expf may differ from numpy's by one float32
# ulp (1.2e-7 near 1); the API promises equality with the logged model to 1e-6.
TOLERANCE = 5e-7


# -- preprocessing steps -----------------------------------------------------------------------


def _compile_transform(step: Any) -> Step | None:
    """A numpy function doing what ``step.transform`` does; None for steps skipped at predict."""
    if step is None or step == "passthrough" or hasattr(step, "fit_resample"):
        return None  # samplers (SMOTE) only act during fit
    kind = type(step).__name__
    if kind == "CodesOneHot":
        return _compile_onehot(step)
    if kind == "SimpleImputer" and _plain_imputer(step):
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


def _plain_imputer(step: Any) -> bool:
    """An imputer that only fills NaN with its statistics, keeping every column."""
    stats = np.asarray(step.statistics_, dtype=float)
    missing = step.missing_values
    return (
        not step.add_indicator
        and isinstance(missing, float)
        and bool(np.isnan(missing))
        and (step.keep_empty_features or not np.isnan(stats).any())
    )


def _compile_onehot(step: Any) -> Step | None:
    """``CodesOneHot.transform`` with precomputed positions: one fancy-index for all blocks."""
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


def _compile_estimator(est: Any, n_features: int) -> Step:
    kind = type(est).__name__
    try:
        tree = _tree_kind([est])
    except NotCompilable:
        pass
    else:
        return lambda X: tree.probas(X)[:, 0]
    if kind == "LGBMClassifier":
        return _compile_lightgbm(est, n_features)
    if kind == "LogisticRegression":
        return _compile_logistic(est)
    return est.predict_proba


def _compile_pipeline(pipeline: Any, n_features: int) -> Step:
    """The probability function of one fitted fold pipeline, step by step."""
    steps = list(getattr(pipeline, "steps", [("model", pipeline)]))
    *pre, (_, final) = steps
    transforms = [t for _, step in pre if (t := _compile_transform(step)) is not None]
    width = n_features
    for _, step in pre:
        if type(step).__name__ == "CodesOneHot" and list(step.categorical_indices):
            width = len(step.source_index_)
    predict = _compile_estimator(final, width)

    def run(X: np.ndarray) -> np.ndarray:
        for transform in transforms:
            X = transform(X)
        return predict(X)

    return run


# -- whole members: all folds at once -------------------------------------------------------


def _final_estimators(pipelines: list[Any]) -> list[Any]:
    """The folds' final estimators when nothing runs before them at predict time."""
    out = []
    for pipeline in pipelines:
        steps = list(getattr(pipeline, "steps", [("model", pipeline)]))
        *pre, (_, final) = steps
        if any(_compile_transform(step) is not None for _, step in pre):
            raise NotCompilable("preprocessing before the trees")
        out.append(final)
    return out


def _softmax(raw: np.ndarray) -> np.ndarray:
    """Softmax over the last axis in the input's precision (as XGBoost and LightGBM do)."""
    e = np.exp(raw - raw.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class _TreeKind:
    """All folds' trees as one forest, and the link that turns its sums into probabilities."""

    forest: trees.Forest
    link: str  # "logistic", "softmax", "average", "sklearn_loss", "identity" (regression)
    folds: int
    width: int  # output columns per fold (1 for a binary booster)
    divisors: np.ndarray | None = None  # average: trees per fold
    losses: tuple[Any, ...] = ()

    def values(self, X: np.ndarray) -> np.ndarray:
        """Regression: the predicted value per fold, (rows, folds), in the library's dtype."""
        raw = self.forest.raw(X)
        if self.link == "average":
            assert self.divisors is not None
            return raw / self.divisors[None, :]
        return raw

    def probas(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities per fold: (rows, folds, classes)."""
        raw = self.forest.raw(X).reshape(len(X), self.folds, self.width)
        if self.link == "logistic":
            one = raw.dtype.type(1.0)
            p = one / (one + np.exp(-raw))
            return np.concatenate([one - p, p], axis=2).astype(np.float64)
        if self.link == "softmax":
            return _softmax(raw).astype(np.float64)
        if self.link == "average":
            assert self.divisors is not None
            return raw / self.divisors[None, :, None]
        out = [
            loss.predict_proba(raw[:, f, 0] if self.width == 1 else raw[:, f])
            for f, loss in enumerate(self.losses)
        ]
        return np.stack(out, axis=1)


def _link(objective: str, identity: tuple[str, ...], binary: str) -> str:
    """A booster objective's link: its raw score as it is, a sigmoid, or a softmax."""
    if objective in identity:
        return "identity"
    return "logistic" if objective == binary else "softmax"


def _tree_kind(estimators: list[Any]) -> _TreeKind:
    """Compile the folds' tree estimators (all of one kind) into one forest walk."""
    kinds = {type(est).__name__ for est in estimators}
    if len(kinds) != 1:
        raise NotCompilable("folds of different kinds")
    kind = kinds.pop()
    folds = len(estimators)
    if kind in ("XGBClassifier", "XGBRegressor"):
        compiled = [trees.xgboost_forest(est) for est in estimators]
        objectives = {objective for _, objective in compiled}
        if len(objectives) != 1:
            raise NotCompilable("folds with different objectives")
        forests = [forest for forest, _ in compiled]
        link = _link(objectives.pop(), trees.IDENTITY_XGB, "binary:logistic")
        return _TreeKind(trees.Forest.concat(forests), link, folds, forests[0].n_outputs)
    if kind in ("LGBMClassifier", "LGBMRegressor"):
        compiled_lgb = [trees.lightgbm_forest(est) for est in estimators]
        forests = [forest for forest, _ in compiled_lgb]
        link = _link(compiled_lgb[0][1], trees.IDENTITY_LGB, "binary")
        return _TreeKind(trees.Forest.concat(forests), link, folds, forests[0].n_outputs)
    if kind in ("CatBoostClassifier", "CatBoostRegressor"):
        compiled_cb = [trees.catboost_forest(est) for est in estimators]
        forests = [forest for forest, _ in compiled_cb]
        link = compiled_cb[0][1]
        return _TreeKind(trees.Forest.concat(forests), link, folds, forests[0].n_outputs)
    if kind in ("RandomForestRegressor", "ExtraTreesRegressor"):
        forests = [trees.sklearn_forest(est) for est in estimators]
        divisors = np.array([len(est.estimators_) for est in estimators], dtype=np.float64)
        return _TreeKind(trees.Forest.concat(forests), "average", folds, 1, divisors=divisors)
    if kind == "HistGradientBoostingRegressor":
        if type(estimators[0]._loss.link).__name__ != "IdentityLink":
            raise NotCompilable("hist gradient boosting loss with a link")
        forests = [trees.hist_gb_forest(est) for est in estimators]
        return _TreeKind(trees.Forest.concat(forests), "identity", folds, 1)
    if kind in ("RandomForestClassifier", "ExtraTreesClassifier"):
        forests = [trees.sklearn_forest(est) for est in estimators]
        widths = {f.n_outputs for f in forests}
        if len(widths) != 1:
            raise NotCompilable("folds with different classes")
        divisors = np.array([len(est.estimators_) for est in estimators], dtype=np.float64)
        return _TreeKind(
            trees.Forest.concat(forests), "average", folds, widths.pop(), divisors=divisors
        )
    if kind == "HistGradientBoostingClassifier":
        forests = [trees.hist_gb_forest(est) for est in estimators]
        return _TreeKind(
            trees.Forest.concat(forests),
            "sklearn_loss",
            folds,
            forests[0].n_outputs,
            losses=tuple(est._loss for est in estimators),
        )
    raise NotCompilable(f"no compiled forest for {kind}")


def _fuse_trees(estimators: list[Any]) -> Callable[[np.ndarray], np.ndarray]:
    tree = _tree_kind(_final_estimators(estimators))
    return tree.probas


def _edge_rows(sample: np.ndarray, forests: list[trees.Forest], rows: int = 48) -> np.ndarray:
    """Sample rows with features set exactly at (or one step beside) the trees' split values.

    Where a student's value equals a threshold is where a compiled tree and its library can
    part ways (a threshold read at another precision, ``<`` for ``<=``); random rows almost
    never land there, real ones often do (XGBoost splits at data values: grades, ages).
    """
    if not forests or not len(sample):
        return sample[:0]
    rng = np.random.default_rng(0)
    cuts: dict[int, list[float]] = {}
    for forest in forests:
        for feature, threshold in zip(*forest.splits(), strict=True):
            cuts.setdefault(int(feature), []).append(float(threshold))
    out = []
    for r in range(rows):
        row = sample[r % len(sample)].copy()
        for feature, values in cuts.items():
            if feature < len(row) and rng.random() < 0.5:
                value = values[int(rng.integers(len(values)))]
                step = (r % 3) - 1  # at the threshold, one float below, one float above
                if step:
                    value = float(np.nextafter(np.float32(value), np.float32(step * np.inf)))
                row[feature] = value
        out.append(row)
    return np.vstack(out)


@dataclass(frozen=True)
class _LinearFolds:
    """Folds of one-hot -> impute -> scale -> logistic regression as one compiled pass.

    For fold f: ``((z - mean) / scale) @ coef.T + b`` with NaN cells of z set to the imputer's
    statistics equals ``z0 @ A_f + nan @ S_f + c_f`` where z0 is z with NaN as 0,
    ``A_f = (coef / scale).T``, ``S_f = stats[:, None] * A_f`` and
    ``c_f = b - (mean / scale) @ coef.T``. One-hot columns are never NaN and a one-hot row has
    a single 1 per category block, so their product is a row lookup (the ``linear`` kernel).
    The folds' columns sit side by side, and members with the same one-hot layout stack the
    same way (:meth:`stack`).
    """

    layout: tuple[Any, ...]
    numeric: np.ndarray  # input columns read as numbers, in the one-hot output's order
    cat: np.ndarray  # input columns holding category codes
    sizes: np.ndarray
    starts: np.ndarray  # first row of each category block in A_cat
    A_num: np.ndarray
    S_num: np.ndarray
    A_cat: np.ndarray
    c: np.ndarray
    folds: int
    width: int  # decision columns per fold: 1 (binary) or the number of classes

    def decision(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)
        out = np.empty((len(X), len(self.c)))
        kernels()["linear"](
            X,
            self.numeric,
            self.A_num,
            self.S_num,
            self.cat,
            self.sizes,
            self.starts,
            self.A_cat,
            self.c,
            out,
        )
        return out

    def probas(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities per fold: (rows, folds, classes)."""
        from scipy.special import expit

        decision = self.decision(X).reshape(len(X), self.folds, self.width)
        if self.width == 1:
            p = expit(decision)
            return np.concatenate([1 - p, p], axis=2)
        return _softmax(decision)

    @staticmethod
    def stack(parts: list[_LinearFolds]) -> _LinearFolds:
        first = parts[0]
        if any((p.layout, p.width) != (first.layout, first.width) for p in parts):
            raise NotCompilable("linear members differ in layout")
        return replace(
            first,
            A_num=np.hstack([p.A_num for p in parts]),
            S_num=np.hstack([p.S_num for p in parts]),
            A_cat=np.hstack([p.A_cat for p in parts]),
            c=np.concatenate([p.c for p in parts]),
            folds=sum(p.folds for p in parts),
        )


LINEAR_MODELS = ("LogisticRegression", "Ridge", "Lasso", "LinearRegression")


def _linear_folds(estimators: list[Any]) -> _LinearFolds:
    names = [tuple(name for name, _ in getattr(p, "steps", [])) for p in estimators]
    if any(n != ("onehot", "impute", "scale", "model") for n in names):
        raise NotCompilable("not a one-hot/impute/scale/logistic pipeline")
    first = estimators[0].steps[0][1]
    layout = (tuple(first.categorical_indices), tuple(first.n_categories))
    blocks_a, blocks_s, blocks_c = [], [], []
    for p in estimators:
        onehot, impute, scale, model = (step for _, step in p.steps)
        same = (tuple(onehot.categorical_indices), tuple(onehot.n_categories)) == layout
        if not same or type(model).__name__ not in LINEAR_MODELS:
            raise NotCompilable("folds differ in layout")
        plain = type(impute).__name__ == "SimpleImputer" and _plain_imputer(impute)
        scaler = type(scale).__name__ == "StandardScaler" and scale.with_mean and scale.with_std
        if not (plain and scaler):
            raise NotCompilable("imputer or scaler options")
        coef = np.atleast_2d(np.asarray(model.coef_, dtype=float))  # Ridge/Lasso: 1-D
        A = (coef / scale.scale_).T
        blocks_a.append(A)
        blocks_s.append(np.asarray(impute.statistics_, dtype=float)[:, None] * A)
        intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=float))
        blocks_c.append(intercept - (scale.mean_ / scale.scale_) @ coef.T)
    A_all, S_all = np.hstack(blocks_a), np.hstack(blocks_s)
    cat = np.asarray(list(first.categorical_indices), dtype=np.intp)
    sizes = np.asarray(list(first.n_categories), dtype=np.intp)
    if len(cat):
        numeric = np.asarray(first.numeric_indices_, dtype=np.intp)
    else:  # no categories: the one-hot step passes every column through
        numeric = np.arange(A_all.shape[0], dtype=np.intp)
    n_num = len(numeric)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    if n_num + int(sizes.sum()) != A_all.shape[0]:
        raise NotCompilable("one-hot width does not match the coefficients")
    return _LinearFolds(
        layout=layout,
        numeric=numeric,
        cat=cat,
        sizes=sizes,
        starts=starts,
        A_num=np.ascontiguousarray(A_all[:n_num]),
        S_num=np.ascontiguousarray(S_all[:n_num]),
        A_cat=np.ascontiguousarray(A_all[n_num:]),
        c=np.concatenate(blocks_c),
        folds=len(estimators),
        width=blocks_a[0].shape[1],
    )


def _fuse_logistic(estimators: list[Any]) -> Callable[[np.ndarray], np.ndarray]:
    if any(type(p.steps[-1][1]).__name__ != "LogisticRegression" for p in estimators):
        raise NotCompilable("not a logistic regression")
    return _linear_folds(estimators).probas


class _LinearGroup:
    """Several aligned linear members in one pass: their weighted probabilities, summed."""

    def __init__(self, members: list[Any], weights: list[float], n_classes: int) -> None:
        parts = [_linear_folds(m.estimators) for m in members]
        self.linear = _LinearFolds.stack(parts)
        self.n_classes = n_classes
        # weight of each fold's probabilities in the model: the member's weight over its folds
        self.fold_weights = np.concatenate(
            [np.full(p.folds, w / p.folds) for p, w in zip(parts, weights, strict=True)]
        )
        self.total = float(self.fold_weights.sum())

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.linear.width == 1:  # binary: P(positive) per fold, weighted
            from scipy.special import expit

            positive = expit(self.linear.decision(X)) @ self.fold_weights
            return np.column_stack([self.total - positive, positive])
        probas = self.linear.probas(X)  # (rows, folds, classes)
        return np.tensordot(probas, self.fold_weights, axes=([1], [0]))


class _CompiledMember:
    """One member's class probabilities (rows x model classes), as ``Member.proba``."""

    def __init__(self, member: Any, n_features: int, n_classes: int) -> None:
        self.n_classes = n_classes
        self.classes = [np.asarray(est.classes_, dtype=int) for est in member.estimators]
        self.folds = len(self.classes)
        self.aligned = all(
            len(c) == n_classes and (c == np.arange(n_classes)).all() for c in self.classes
        )
        self.path = "per fold"
        self._fused: Callable[[np.ndarray], np.ndarray] | None = None
        self._runs: list[Step] = []
        self.forests: list[trees.Forest] = []
        for name, fuse in (("compiled forest", _fuse_trees), ("folded linear", _fuse_logistic)):
            try:
                self._fused = fuse(member.estimators)
                self.path = name
                break
            except NotCompilable:
                continue
        owner = getattr(self._fused, "__self__", None)
        if isinstance(owner, _TreeKind):
            self.forests.append(owner.forest)
        if self._fused is None:
            self._runs = [_compile_pipeline(est, n_features) for est in member.estimators]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self._fused is not None:
            probas = self._fused(X)
            if self.aligned:
                return probas.sum(axis=1) / self.folds
            folds = [probas[:, f] for f in range(self.folds)]
        else:
            folds = [run(X) for run in self._runs]
        out = np.zeros((len(X), self.n_classes))
        for proba, cls in zip(folds, self.classes, strict=True):
            out[:, cls] += proba
        return out / self.folds


class _ValueMember:
    """A regression member's value (rows,) as ``Member.value``; for a derived member (a
    regression whose value is binned into classes), its class probabilities as ``Member.proba``.
    """

    def __init__(self, member: Any) -> None:
        self.kind = member.kind
        self.bins = member.bins
        self.sigma = member.sigma
        self.estimators = member.estimators
        self.path = "per fold"
        self.forests: list[trees.Forest] = []
        self._fused: Callable[[np.ndarray], np.ndarray] | None = None
        try:
            tree = _tree_kind(_final_estimators(member.estimators))
            self._fused, self.path, self.forests = tree.values, "compiled forest", [tree.forest]
        except NotCompilable:
            with contextlib.suppress(NotCompilable):
                self._fused, self.path = _linear_folds(member.estimators).decision, "folded linear"

    def value(self, X: np.ndarray) -> np.ndarray:
        if self._fused is None:
            return np.mean([est.predict(X) for est in self.estimators], axis=0)
        values = self._fused(X)  # (rows, folds), each fold in its library's dtype
        return np.mean([values[:, f] for f in range(values.shape[1])], axis=0)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        value = self.value(X)
        if self.kind == "regressor":
            return value
        assert self.bins is not None
        return self.bins.proba(value, self.sigma)


def _agrees(run: Callable[[np.ndarray], np.ndarray], expected: np.ndarray, X: np.ndarray) -> float:
    """The largest difference from ``expected`` on ``X``, scored together and row by row,
    relative to the value where it exceeds 1 (a predicted exam score of 87.5 computed in
    XGBoost's float32 is only good to ~4e-6)."""
    together = run(X)
    one_by_one = np.concatenate([run(X[i : i + 1]) for i in range(len(X))])
    scale = np.maximum(1.0, np.abs(expected))
    return float(
        max(
            (np.abs(together - expected) / scale).max(),
            (np.abs(one_by_one - expected) / scale).max(),
        )
    )


class FastScorer:
    """Class probabilities (or, for regression, values) of an encoded matrix, computed as
    ``StudentModel`` computes them.

    ``paths`` says how each member is scored ("compiled forest", "folded linear", "per fold",
    or "model" when its compiled form disagreed with the member on the sample rows).
    """

    def __init__(self, model: Any, sample: np.ndarray) -> None:
        n_features = len(model.encoder.feature_names_out)
        self.regression = model.task == "regression"
        self.n_classes = 0 if self.regression else len(model.classes_)
        self.members: list[tuple[float, Callable[[np.ndarray], np.ndarray]]] = []
        #: per member: the function for batches over SMALL_ROWS (compiled, or the member
        #: itself where the library measured faster on a batch)
        self.batch_runs: list[Callable[[np.ndarray], np.ndarray]] = []
        self.paths: list[str] = []
        compiled_members: list[_CompiledMember | _ValueMember] = []
        for member in model.members:
            if member.kind == "classifier":
                compiled_members.append(_CompiledMember(member, n_features, self.n_classes))
            else:
                compiled_members.append(_ValueMember(member))
        forests = [f for c in compiled_members for f in c.forests]
        #: the rows every compiled part is proven on: the caller's sample and edge cases
        self.probe = np.vstack([sample, _edge_rows(sample, forests)])
        sample = self.probe
        for member, weight, compiled in zip(
            model.members, model.weights, compiled_members, strict=True
        ):
            run: Callable[[np.ndarray], np.ndarray] = compiled
            path = compiled.path
            try:
                worst = _agrees(compiled, member.output(sample), sample)
            except Exception as exc:  # a compiled step that fails is one we do not use
                log.warning("member %s: compiled form failed (%s)", member.algorithm, exc)
                worst = float("inf")
            if not worst <= TOLERANCE:
                log.warning(
                    "member %s: compiled form differs by %.3g; using the member itself",
                    member.algorithm,
                    worst,
                )
                run, path = member.output, "model"
            self.members.append((weight, run))
            self.batch_runs.append(_faster_on_batches(run, member.output, sample))
            self.paths.append(path)
        self._group_linear(model, sample)

    def _group_linear(self, model: Any, sample: np.ndarray) -> None:
        """Score all aligned linear members in one pass, if that agrees with them."""
        chosen = [
            i
            for i, (_, run) in enumerate(self.members)
            if isinstance(run, _CompiledMember) and run.path == "folded linear" and run.aligned
        ]
        if len(chosen) < 2:
            return
        members = [model.members[i] for i in chosen]
        weights = [self.members[i][0] for i in chosen]
        try:
            group = _LinearGroup(members, weights, self.n_classes)
            expected = sum(w * m.proba(sample) for m, w in zip(members, weights, strict=True))
            worst = _agrees(group, expected, sample)
        except NotCompilable:
            return
        if not worst <= TOLERANCE:
            return
        keep = [i for i in range(len(self.members)) if i not in chosen]
        self.members = [*(self.members[i] for i in keep), (1.0, group)]
        self.batch_runs = [*(self.batch_runs[i] for i in keep), group]
        for i in chosen:
            self.paths[i] = "folded linear, grouped"

    def __call__(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros(len(X)) if self.regression else np.zeros((len(X), self.n_classes))
        if len(X) <= SMALL_ROWS:
            for weight, run in self.members:
                out += weight * run(X)
        else:
            for (weight, _), run in zip(self.members, self.batch_runs, strict=True):
                out += weight * run(X)
        return out


SMALL_ROWS = 64
BATCH_PROBE_ROWS = 512


def _faster_on_batches(
    compiled: Callable[[np.ndarray], np.ndarray],
    library: Callable[[np.ndarray], np.ndarray],
    sample: np.ndarray,
) -> Callable[[np.ndarray], np.ndarray]:
    """Whichever of the two scores a 512-row batch faster (both are proven equal).

    One student: the compiled walk wins by 20-100x (no per-call overhead). A batch: it depends
    on the library; measured on 1,000 rows, LightGBM and random forests are slower than the
    compiled walk, XGBoost's blocked predictor 2.5x faster. So it is measured, per member,
    when the model loads.
    """
    if compiled is library:
        return library
    batch = np.resize(sample, (BATCH_PROBE_ROWS, sample.shape[1]))
    timings = {}
    for name, run in (("compiled", compiled), ("library", library)):
        run(batch[: SMALL_ROWS * 2])  # warm
        started = time.perf_counter()
        run(batch)
        timings[name] = time.perf_counter() - started
    return compiled if timings["compiled"] <= timings["library"] else library


def compile_scorer(model: Any, sample: np.ndarray) -> FastScorer | None:
    """A FastScorer proven equal to the model (``predict_proba_matrix``, or
    ``predict_value_matrix`` for regression) on ``sample`` and edge rows, or None."""
    try:
        scorer = FastScorer(model, sample)
    except NotCompilable as exc:
        log.info("fast path off: %s", exc)
        return None
    except Exception as exc:  # the fast path is an optimisation: never a reason not to serve
        log.warning("fast path off: cannot compile the model (%s)", exc)
        return None
    expected = model.predict_value_matrix if scorer.regression else model.predict_proba_matrix
    try:
        worst = _agrees(scorer, expected(scorer.probe), scorer.probe)
    except Exception as exc:  # a compiled step that fails is a compiled step we do not use
        log.warning("fast path off: compiled scorer failed on sample rows (%s)", exc)
        return None
    if not worst <= TOLERANCE:
        log.warning("fast path off: compiled scorer differs from the model by %.3g", worst)
        return None
    log.info("fast path on: %s", ", ".join(scorer.paths))
    return scorer
