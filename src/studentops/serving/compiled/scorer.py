"""A compiled scorer for a trained ensemble: the model's own numbers, far faster.

A trained StudentModel is an ensemble of cross-validation fold pipelines (often 15-20: three or
four algorithms x five folds). Through scikit-learn, scoring one student costs about 1 ms per
pipeline in input validation, parameter and tag lookups; even the boosters' own predictors cost
20-150 us a call. For the API's single-student path each member is compiled once, at load:

- tree members (XGBoost, LightGBM, CatBoost, random forests, HistGradientBoosting): all
  folds' trees become one flat forest walked by one compiled loop, then the library's own
  link (sigmoid, softmax, averaging) in its own precision (:mod:`.forests`, :mod:`.trees`,
  :mod:`.tree_readers`);
- linear members (one-hot -> impute -> scale -> logistic, ridge or lasso regression): all
  folds in one compiled pass (the scaler and intercept folded into the coefficients, the
  one-hot product done as row lookups; :mod:`.linear`);
- anything else (k-NN, native categorical splits of XGBoost or HistGradientBoosting): per
  fold, ``CodesOneHot`` / ``SimpleImputer`` / ``StandardScaler`` in numpy
  and the estimator's own ``predict_proba`` (correct, just not faster; :mod:`.pipelines`).

Every compiled member is proven on sample rows against the member itself (to 5e-7, one row at a
time and together) and replaced by the member's own ``proba`` if it disagrees; the whole scorer
is proven against ``predict_proba_matrix`` once more. Regression members (and members derived
from a regression, GPA -> grade class) compile the same way to their predicted values.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from studentops.serving.compiled import trees
from studentops.serving.compiled.forests import edge_rows, fuse_trees, tree_kind
from studentops.serving.compiled.linear import LinearGroup, fuse_logistic, linear_folds
from studentops.serving.compiled.pipelines import compile_pipeline
from studentops.serving.compiled.protocol import CompilableEnsemble, EnsembleMember, NotCompilable
from studentops.serving.compiled.transforms import Step, final_estimators

log = logging.getLogger(__name__)

# XGBoost computes its sigmoid in float32 and its expf may differ from numpy's by one float32
# ulp (1.2e-7 near 1); the API promises equality with the logged model to 1e-6.
TOLERANCE = 5e-7


class FusedFolds(Protocol):
    """All folds of one member in one compiled pass (``forests.TreeKind``,
    ``linear.LinearFolds``)."""

    @property
    def forests(self) -> tuple[trees.Forest, ...]:
        """The compiled forests whose split values the edge rows probe (none for linear)."""
        ...

    def probas(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities per fold, ``(n_rows, folds, classes)``."""
        ...

    def values(self, X: np.ndarray) -> np.ndarray:
        """Regression: the predicted value per fold, ``(n_rows, folds)``."""
        ...


Fuse = Callable[[Sequence[object]], FusedFolds]


class _CompiledMember:
    """One member's class probabilities (rows x model classes), as ``Member.proba``."""

    def __init__(self, member: EnsembleMember, n_features: int, n_classes: int) -> None:
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
        fusers: tuple[tuple[str, Fuse], ...] = (
            ("compiled forest", fuse_trees),
            ("folded linear", fuse_logistic),
        )
        for name, fuse in fusers:
            try:
                fused = fuse(member.estimators)
            except NotCompilable:
                continue
            self._fused, self.path, self.forests = fused.probas, name, list(fused.forests)
            break
        if self._fused is None:
            self._runs = [compile_pipeline(est, n_features) for est in member.estimators]

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

    def __init__(self, member: EnsembleMember) -> None:
        self.kind = member.kind
        self.bins = member.bins
        self.sigma = member.sigma
        self.estimators = member.estimators
        self.path = "per fold"
        self.forests: list[trees.Forest] = []
        self._fused: Callable[[np.ndarray], np.ndarray] | None = None
        try:
            tree = tree_kind(final_estimators(member.estimators))
            self._fused, self.path, self.forests = tree.values, "compiled forest", [tree.forest]
        except NotCompilable:
            with contextlib.suppress(NotCompilable):
                self._fused, self.path = linear_folds(member.estimators).values, "folded linear"

    def value(self, X: np.ndarray) -> np.ndarray:
        """The mean over folds of the predicted value, ``(n_rows,)``."""
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

    def __init__(self, model: CompilableEnsemble, sample: np.ndarray) -> None:
        n_features = sample.shape[1]  # the encoded matrix every member reads
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
        self.probe = np.vstack([sample, edge_rows(sample, forests)])
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

    def _group_linear(self, model: CompilableEnsemble, sample: np.ndarray) -> None:
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
            group = LinearGroup(members, weights, self.n_classes)
            start = np.zeros((len(sample), self.n_classes))
            expected = sum(
                (w * m.proba(sample) for m, w in zip(members, weights, strict=True)), start
            )
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
        """The ensemble's output for an encoded matrix ``(n_rows, n_features)``: class
        probabilities ``(n_rows, n_classes)``, or values ``(n_rows,)`` for regression."""
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


def compile_scorer(model: CompilableEnsemble, sample: np.ndarray) -> FastScorer | None:
    """A FastScorer proven equal to the model (``predict_proba_matrix``, or
    ``predict_value_matrix`` for regression) on ``sample`` and edge rows, or None.

    ``sample`` is an encoded matrix ``(n_rows, n_features)`` of typical students (the
    Predictor uses 24). Equal means within ``TOLERANCE`` (5e-7, relative above 1), scored
    together and row by row. Never raises: a model that cannot be compiled or proven is
    logged and served through its own methods (None).
    """
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
