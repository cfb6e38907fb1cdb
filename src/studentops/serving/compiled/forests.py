"""A member's folds of one tree library as one compiled forest, with the library's link.

:mod:`.trees` turns each library's trees into flat arrays; here all folds of a
member are concatenated into one walk and the sums turned into what the library predicts
(sigmoid or softmax in its precision, a forest's average, scikit-learn's loss link, or the raw
value of a regression). :func:`edge_rows` builds the rows that prove a compiled forest: students
sitting exactly on its split values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from studentops.serving.compiled import tree_readers, trees
from studentops.serving.compiled.protocol import NotCompilable
from studentops.serving.compiled.transforms import final_estimators, softmax


@dataclass(frozen=True)
class TreeKind:
    """All folds' trees as one forest, and the link that turns its sums into probabilities."""

    forest: trees.Forest
    link: str  # "logistic", "softmax", "average", "sklearn_loss", "identity" (regression)
    folds: int
    width: int  # output columns per fold (1 for a binary booster)
    divisors: np.ndarray | None = None  # average: trees per fold
    losses: tuple[Any, ...] = ()

    @property
    def forests(self) -> tuple[trees.Forest, ...]:
        """The compiled forest, for the edge rows that prove it (:func:`edge_rows`)."""
        return (self.forest,)

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
            return softmax(raw).astype(np.float64)
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


def tree_kind(estimators: Sequence[Any]) -> TreeKind:
    """Compile the folds' tree estimators (all of one kind) into one forest walk.

    Raises:
        NotCompilable: the folds differ in kind, objective or classes; the library, its
            objective or a split kind (native categorical splits of XGBoost and
            HistGradientBoosting) has no compiled form.
    """
    kinds = {type(est).__name__ for est in estimators}
    if len(kinds) != 1:
        raise NotCompilable("folds of different kinds")
    kind = kinds.pop()
    folds = len(estimators)
    if kind in ("XGBClassifier", "XGBRegressor"):
        compiled = [tree_readers.xgboost_forest(est) for est in estimators]
        objectives = {objective for _, objective in compiled}
        if len(objectives) != 1:
            raise NotCompilable("folds with different objectives")
        forests = [forest for forest, _ in compiled]
        link = _link(objectives.pop(), tree_readers.IDENTITY_XGB, "binary:logistic")
        return TreeKind(trees.Forest.concat(forests), link, folds, forests[0].n_outputs)
    if kind in ("LGBMClassifier", "LGBMRegressor"):
        compiled_lgb = [tree_readers.lightgbm_forest(est) for est in estimators]
        forests = [forest for forest, _ in compiled_lgb]
        link = _link(compiled_lgb[0][1], tree_readers.IDENTITY_LGB, "binary")
        return TreeKind(trees.Forest.concat(forests), link, folds, forests[0].n_outputs)
    if kind in ("CatBoostClassifier", "CatBoostRegressor"):
        compiled_cb = [tree_readers.catboost_forest(est) for est in estimators]
        forests = [forest for forest, _ in compiled_cb]
        link = compiled_cb[0][1]
        return TreeKind(trees.Forest.concat(forests), link, folds, forests[0].n_outputs)
    if kind in ("RandomForestRegressor", "ExtraTreesRegressor"):
        forests = [tree_readers.sklearn_forest(est) for est in estimators]
        divisors = np.array([len(est.estimators_) for est in estimators], dtype=np.float64)
        return TreeKind(trees.Forest.concat(forests), "average", folds, 1, divisors=divisors)
    if kind == "HistGradientBoostingRegressor":
        if type(estimators[0]._loss.link).__name__ != "IdentityLink":
            raise NotCompilable("hist gradient boosting loss with a link")
        forests = [tree_readers.hist_gb_forest(est) for est in estimators]
        return TreeKind(trees.Forest.concat(forests), "identity", folds, 1)
    if kind in ("RandomForestClassifier", "ExtraTreesClassifier"):
        forests = [tree_readers.sklearn_forest(est) for est in estimators]
        widths = {f.n_outputs for f in forests}
        if len(widths) != 1:
            raise NotCompilable("folds with different classes")
        divisors = np.array([len(est.estimators_) for est in estimators], dtype=np.float64)
        return TreeKind(
            trees.Forest.concat(forests), "average", folds, widths.pop(), divisors=divisors
        )
    if kind == "HistGradientBoostingClassifier":
        forests = [tree_readers.hist_gb_forest(est) for est in estimators]
        return TreeKind(
            trees.Forest.concat(forests),
            "sklearn_loss",
            folds,
            forests[0].n_outputs,
            losses=tuple(est._loss for est in estimators),
        )
    raise NotCompilable(f"no compiled forest for {kind}")


def fuse_trees(estimators: Sequence[Any]) -> TreeKind:
    """A classifier member's folds (pipelines with nothing before the trees) as one forest.

    Raises:
        NotCompilable: a step runs before the trees, the folds differ in kind or objective,
            or the library or a split kind has no compiled form.
    """
    return tree_kind(final_estimators(estimators))


MAX_EDGE_VALUE = 1e15  # far beyond any student's value, far below float32's 3.4e38


def edge_rows(sample: np.ndarray, forests: list[trees.Forest], rows: int = 48) -> np.ndarray:
    """Sample rows with features set exactly at (or one step beside) the trees' split values.

    Where a student's value equals a threshold is where a compiled tree and its library can
    part ways (a threshold read at another precision, ``<`` for ``<=``); random rows almost
    never land there, real ones often do (XGBoost splits at data values: grades, ages).

    ``sample`` is ``(n_sample, n_features)``; the result ``(rows, n_features)``, or no rows when
    there is no forest or no sample. Thresholds beyond ``MAX_EDGE_VALUE`` (1e15, the libraries'
    "all rows one way" sentinels) are skipped.
    """
    if not forests or not len(sample):
        return sample[:0]
    rng = np.random.default_rng(0)
    cuts: dict[int, list[float]] = {}
    for forest in forests:
        for feature, threshold in zip(*forest.splits(), strict=True):
            # Libraries mark "everything goes one way" with sentinel thresholds (1e300, inf);
            # a row set there is no student, and in float32 it becomes inf, which sends the
            # linear members of an ensemble to inf and the whole fast path off.
            if abs(float(threshold)) <= MAX_EDGE_VALUE:
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
