"""A compiled scorer for a few students at a time: the same numbers as the model, ~50x faster.

A trained StudentModel is an ensemble of cross-validation fold pipelines (often 15: three
algorithms x five folds). Through scikit-learn, scoring one student costs about 1 ms per
pipeline in input validation, parameter and tag lookups, so ~20 ms a student, however small the
models. For the API's single-student path we compile each pipeline into plain numpy steps and
the boosters' own predictors:

- ``CodesOneHot``, ``SimpleImputer``, ``StandardScaler``: the same arithmetic in numpy;
- ``LogisticRegression``: ``expit``/``softmax`` of ``X @ coef.T + intercept``, as sklearn does;
- LightGBM: the C API's single-row fast predictor (``LGBM_BoosterPredictForMatSingleRowFast``)
  for one row, ``Booster.predict`` for more;
- XGBoost: ``Booster.inplace_predict``, as ``XGBClassifier.predict_proba`` does internally;
- anything else: the step's own ``transform`` / ``predict_proba`` (correct, just not faster).

Compilation ends with a proof: the compiled scorer and the model must agree to 1e-9 on sample
rows (one at a time and together) or the compiled scorer is not used. Only classifier members
are compiled; regressions and derived members keep the model's own path.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

Step = Callable[[np.ndarray], np.ndarray]
TOLERANCE = 1e-7  # XGBoost's float32 exp may differ from numpy's by an ulp


class NotCompilable(Exception):
    """The model has a part the compiler does not know; serve it through the model itself."""


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


class _XGBoostTrees:
    """A binary:logistic XGBoost forest evaluated with numpy, in XGBoost's float32 arithmetic.

    ``inplace_predict`` costs ~150 us of fixed overhead per call; walking all trees at once,
    level by level, costs ~30 us for a few rows. Thresholds, leaves and the running sum are
    float32 and summed tree by tree as XGBoost does; ``compile_scorer`` still checks the result.
    """

    def __init__(self, booster: Any, rounds: int) -> None:
        import json

        learner = json.loads(booster.save_raw("json"))["learner"]
        if learner["objective"]["name"] != "binary:logistic":
            raise NotCompilable("only binary:logistic forests are walked in numpy")
        model = learner["gradient_booster"]
        if model.get("name") != "gbtree":
            raise NotCompilable(f"xgboost booster {model.get('name')}")
        trees = model["model"]["trees"]
        if rounds > 0:
            trees = trees[:rounds]
        left, right, feat, thr, dleft = [], [], [], [], []
        roots = []
        offset = 0
        for tree in trees:
            if any(tree["split_type"]):
                raise NotCompilable("categorical splits")
            n = len(tree["left_children"])
            roots.append(offset)
            lc = np.asarray(tree["left_children"], dtype=np.intp)
            rc = np.asarray(tree["right_children"], dtype=np.intp)
            leaf = lc < 0
            left.append(np.where(leaf, np.arange(n), lc) + offset)
            right.append(np.where(leaf, np.arange(n), rc) + offset)
            feat.append(np.where(leaf, 0, np.asarray(tree["split_indices"], dtype=np.intp)))
            thr.append(np.asarray(tree["split_conditions"], dtype=np.float32))
            dleft.append(np.asarray(tree["default_left"], dtype=bool))
            offset += n
        self.left = np.concatenate(left)
        self.right = np.concatenate(right)
        self.feat = np.concatenate(feat)
        self.value = np.concatenate(thr)  # a leaf's "split condition" is its value
        self.dleft = np.concatenate(dleft)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.depth = self._max_depth()
        base = np.float32(str(learner["learner_model_param"]["base_score"]).strip("[]"))
        one = np.float32(1.0)
        self.base_margin = np.float32(-np.log(one / base - one))

    @classmethod
    def fuse(cls, forests: list[_XGBoostTrees]) -> _FusedForests:
        return _FusedForests(forests)

    def _max_depth(self) -> int:
        nodes = self.roots.copy()
        depth = 0
        while True:
            moved = (self.left[nodes] != nodes).any()
            if not moved:
                return depth
            nodes = np.concatenate([self.left[nodes], self.right[nodes]])
            depth += 1

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X32 = np.asarray(X, dtype=np.float32)
        rows = np.arange(len(X32))[:, None]
        node = np.broadcast_to(self.roots, (len(X32), len(self.roots)))
        for _ in range(self.depth):
            x = X32[rows, self.feat[node]]
            go_left = np.where(np.isnan(x), self.dleft[node], x < self.value[node])
            node = np.where(go_left, self.left[node], self.right[node])
        leaves = self.value[node]
        start = np.full((len(X32), 1), self.base_margin, dtype=np.float32)
        margin = np.cumsum(np.hstack([start, leaves]), axis=1, dtype=np.float32)[:, -1]
        one = np.float32(1.0)
        return one / (one + np.exp(-margin))


class _FusedForests:
    """Several forests walked together; each keeps its own float32 running sum and base."""

    def __init__(self, forests: list[_XGBoostTrees]) -> None:
        offsets = np.cumsum([0] + [len(f.left) for f in forests])[:-1]
        self.left = np.concatenate([f.left + o for f, o in zip(forests, offsets, strict=True)])
        self.right = np.concatenate([f.right + o for f, o in zip(forests, offsets, strict=True)])
        self.feat = np.concatenate([f.feat for f in forests])
        self.value = np.concatenate([f.value for f in forests])
        self.dleft = np.concatenate([f.dleft for f in forests])
        self.roots = np.concatenate([f.roots + o for f, o in zip(forests, offsets, strict=True)])
        self.depth = max(f.depth for f in forests)
        # Trees of forest f sit at columns [start_f, start_f + n_f); shorter forests are padded
        # with a zero leaf (adding 0.0f leaves a float32 sum unchanged).
        sizes = [len(f.roots) for f in forests]
        longest = max(sizes)
        pad = sum(sizes)
        starts = np.cumsum([0, *sizes])[:-1]
        self.layout = np.array(
            [
                [s + t if t < n else pad for t in range(longest)]
                for s, n in zip(starts, sizes, strict=True)
            ]
        )
        self.base = np.array([f.base_margin for f in forests], dtype=np.float32)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """P(positive) per row and forest: (n, forests), float32."""
        X32 = np.asarray(X, dtype=np.float32)
        rows = np.arange(len(X32))[:, None]
        node = np.broadcast_to(self.roots, (len(X32), len(self.roots)))
        for _ in range(self.depth):
            x = X32[rows, self.feat[node]]
            go_left = np.where(np.isnan(x), self.dleft[node], x < self.value[node])
            node = np.where(go_left, self.left[node], self.right[node])
        leaves = np.hstack([self.value[node], np.zeros((len(X32), 1), dtype=np.float32)])
        stacked = leaves[:, self.layout]  # (n, forests, trees)
        start = np.broadcast_to(self.base[None, :, None], (len(X32), len(self.base), 1))
        margin = np.cumsum(np.concatenate([start, stacked], axis=2), axis=2, dtype=np.float32)
        one = np.float32(1.0)
        return one / (one + np.exp(-margin[..., -1]))


def _compile_xgboost(est: Any) -> Step:
    booster = est.get_booster()
    iteration_range = est._get_iteration_range(None)
    missing = est.missing
    objective = str(est.get_params().get("objective") or "")
    if not objective.startswith(("binary:logistic", "multi:softprob", "multi:softmax")):
        raise NotCompilable(f"xgboost objective {objective!r}")
    binary = objective.startswith("binary:")
    forest: _XGBoostTrees | None = None
    if binary and (missing is None or np.isnan(missing)):
        try:
            forest = _XGBoostTrees(booster, int(iteration_range[1]))
        except NotCompilable:
            forest = None

    def proba(X: np.ndarray) -> np.ndarray:
        if forest is not None:
            result = forest(X)
            return np.vstack((1.0 - result, result)).transpose()
        result = booster.inplace_predict(
            X,
            iteration_range=iteration_range,
            predict_type="value",
            missing=missing,
            validate_features=False,
        )
        if binary:
            result = result.reshape(-1)
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
    if kind == "LGBMClassifier":
        return _compile_lightgbm(est, n_features)
    if kind == "XGBClassifier":
        return _compile_xgboost(est)
    if kind == "LogisticRegression":
        return _compile_logistic(est)
    return est.predict_proba


def _compile_pipeline(pipeline: Any, n_features: int) -> tuple[Step, np.ndarray]:
    """(scorer of the encoded matrix, class positions) for one fitted fold pipeline."""
    steps = list(getattr(pipeline, "steps", [("model", pipeline)]))
    *pre, (_, final) = steps
    transforms = [t for _, step in pre if (t := _compile_transform(step)) is not None]
    width = n_features
    for _, step in pre:
        if type(step).__name__ == "CodesOneHot" and list(step.categorical_indices):
            width = len(step.source_index_)
    predict = _compile_estimator(final, width)
    classes = np.asarray(pipeline.classes_, dtype=int)

    def run(X: np.ndarray) -> np.ndarray:
        for transform in transforms:
            X = transform(X)
        return predict(X)

    return run, classes


MemberRun = Callable[[np.ndarray], list[np.ndarray]]


def _fold_runs(runs: list[Step]) -> MemberRun:
    return lambda X: [run(X) for run in runs]


def _fuse_xgboost(estimators: list[Any]) -> MemberRun:
    """All folds' binary forests walked in one pass (one set of numpy calls, not five)."""
    forests = []
    for pipeline in estimators:
        steps = list(getattr(pipeline, "steps", [("model", pipeline)]))
        if len(steps) != 1 or type(steps[0][1]).__name__ != "XGBClassifier":
            raise NotCompilable("not a bare XGBoost pipeline")
        est = steps[0][1]
        objective = str(est.get_params().get("objective") or "")
        if objective != "binary:logistic" or not (est.missing is None or np.isnan(est.missing)):
            raise NotCompilable("fused walk: binary:logistic with NaN as missing only")
        forests.append(_XGBoostTrees(est.get_booster(), int(est._get_iteration_range(None)[1])))
    fused = _XGBoostTrees.fuse(forests)
    return lambda X: [np.vstack((1.0 - p, p)).transpose() for p in fused(X).T]


def _fuse_logistic(estimators: list[Any]) -> MemberRun:
    """All folds' one-hot -> impute -> scale -> logistic regression as stacked arrays."""
    from scipy.special import expit
    from sklearn.utils.extmath import softmax

    names = [tuple(name for name, _ in getattr(p, "steps", [])) for p in estimators]
    if any(n != ("onehot", "impute", "scale", "model") for n in names):
        raise NotCompilable("not a one-hot/impute/scale/logistic pipeline")
    first = estimators[0].steps[0][1]
    for p in estimators:
        onehot, impute, scale, model = (step for _, step in p.steps)
        same = list(onehot.categorical_indices) == list(first.categorical_indices) and list(
            onehot.n_categories
        ) == list(first.n_categories)
        if not same or type(model).__name__ != "LogisticRegression":
            raise NotCompilable("folds differ in layout")
        plain = type(impute).__name__ == "SimpleImputer" and _plain_imputer(impute)
        scaler = type(scale).__name__ == "StandardScaler" and scale.with_mean and scale.with_std
        if not (plain and scaler):
            raise NotCompilable("imputer or scaler options")
    onehot_step = _compile_onehot(first)
    stats = np.stack([p.steps[1][1].statistics_ for p in estimators]).astype(float)
    mean = np.stack([p.steps[2][1].mean_ for p in estimators])
    scale = np.stack([p.steps[2][1].scale_ for p in estimators])
    coef = np.stack([p.steps[3][1].coef_ for p in estimators])
    intercept = np.stack([p.steps[3][1].intercept_ for p in estimators])
    binary = coef.shape[1] == 1

    def run(X: np.ndarray) -> list[np.ndarray]:
        Z = onehot_step(X) if onehot_step is not None else X
        Z = np.where(np.isnan(Z)[:, None, :], stats, Z[:, None, :])
        Z = (Z - mean) / scale
        decision = np.einsum("nfw,fkw->fnk", Z, coef) + intercept[:, None, :]
        if binary:
            return [np.vstack([1 - p, p]).T for p in expit(decision[..., 0])]
        return [softmax(d, copy=False) for d in decision]

    return run


def _compile_member(member: Any, n_features: int) -> tuple[MemberRun, list[np.ndarray]]:
    """(scorer returning one probability matrix per fold, class positions per fold)."""
    classes = [np.asarray(est.classes_, dtype=int) for est in member.estimators]
    for fuse in (_fuse_xgboost, _fuse_logistic):
        try:
            return fuse(member.estimators), classes
        except NotCompilable:
            continue
    runs = [_compile_pipeline(est, n_features)[0] for est in member.estimators]
    return _fold_runs(runs), classes


class FastScorer:
    """Class probabilities of an encoded matrix, computed as ``StudentModel`` computes them."""

    def __init__(self, model: Any) -> None:
        if model.task == "regression":
            raise NotCompilable("regression models keep their own path")
        n_features = len(model.encoder.feature_names_out)
        self.n_classes = len(model.classes_)
        self.members: list[tuple[float, MemberRun, list[np.ndarray]]] = []
        for member, weight in zip(model.members, model.weights, strict=True):
            if member.kind != "classifier":
                raise NotCompilable(f"{member.kind} member {member.algorithm}")
            run, classes = _compile_member(member, n_features)
            self.members.append((weight, run, classes))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        # The same operations in the same order as Member.proba and predict_proba_matrix, so
        # the floating-point results are the model's.
        out = np.zeros((len(X), self.n_classes))
        for weight, run, classes in self.members:
            member = np.zeros((len(X), self.n_classes))
            for proba, cls in zip(run(X), classes, strict=True):
                member[:, cls] += proba
            out += weight * (member / len(classes))
        return out


def compile_scorer(model: Any, sample: np.ndarray) -> FastScorer | None:
    """A FastScorer proven equal to ``model.predict_proba_matrix`` on ``sample``, or None."""
    try:
        scorer = FastScorer(model)
    except NotCompilable as exc:
        log.info("fast path off: %s", exc)
        return None
    except (AttributeError, TypeError, ValueError) as exc:
        log.warning("fast path off: cannot compile the model (%s)", exc)
        return None
    try:
        expected = model.predict_proba_matrix(sample)
        together = scorer(sample)
        one_by_one = np.vstack([scorer(sample[i : i + 1]) for i in range(len(sample))])
    except Exception as exc:  # a compiled step that fails is a compiled step we do not use
        log.warning("fast path off: compiled scorer failed on sample rows (%s)", exc)
        return None
    worst = max(np.abs(together - expected).max(), np.abs(one_by_one - expected).max())
    if not worst <= TOLERANCE:
        log.warning("fast path off: compiled scorer differs from the model by %.3g", worst)
        return None
    return scorer
