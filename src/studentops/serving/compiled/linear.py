"""Linear members (one-hot -> impute -> scale -> logistic, ridge or lasso) as one compiled pass.

All folds of a member, and all aligned linear members of an ensemble, become one matrix of
folded coefficients evaluated by the ``linear`` kernel (:mod:`.kernels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from studentops.serving.compiled.kernels import kernels
from studentops.serving.compiled.protocol import EnsembleMember, NotCompilable
from studentops.serving.compiled.transforms import plain_imputer, softmax


@dataclass(frozen=True)
class LinearFolds:
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
        """Decision values (log-odds, or a regression's value) of every fold, side by side:
        ``(n_rows, folds * width)`` from an encoded matrix ``(n_rows, n_features)``."""
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

    @property
    def forests(self) -> tuple[()]:
        """No forest: nothing to build edge rows from (a linear member has no split values)."""
        return ()

    def values(self, X: np.ndarray) -> np.ndarray:
        """Regression (Ridge, Lasso, LinearRegression): the predicted value per fold,
        ``(n_rows, folds)``."""
        return self.decision(X)

    def probas(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities per fold: (rows, folds, classes)."""
        from scipy.special import expit

        decision = self.decision(X).reshape(len(X), self.folds, self.width)
        if self.width == 1:
            p = expit(decision)
            return np.concatenate([1 - p, p], axis=2)
        return softmax(decision)

    @staticmethod
    def stack(parts: list[LinearFolds]) -> LinearFolds:
        """Several members' folds as one pass: their coefficient columns side by side.

        Raises:
            NotCompilable: the members differ in one-hot layout or decision width.
        """
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


def linear_folds(estimators: Sequence[Any]) -> LinearFolds:
    """A linear member's fitted fold pipelines folded into one pass (formula: :class:`LinearFolds`).

    Raises:
        NotCompilable: a fold is not ``onehot -> impute -> scale -> model`` with a
            LogisticRegression, Ridge, Lasso or LinearRegression; the folds differ in one-hot
            layout; the imputer adds indicators or the scaler skips centring or scaling; or the
            one-hot width does not match the coefficients.
    """
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
        plain = type(impute).__name__ == "SimpleImputer" and plain_imputer(impute)
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
    return LinearFolds(
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


def fuse_logistic(estimators: Sequence[Any]) -> LinearFolds:
    """A logistic-regression member's folds as one compiled pass (see :class:`LinearFolds`).

    Raises:
        NotCompilable: a fold is not one-hot -> impute -> scale -> LogisticRegression, or the
            folds differ in layout or in the imputer's and scaler's options.
    """
    if any(type(p.steps[-1][1]).__name__ != "LogisticRegression" for p in estimators):
        raise NotCompilable("not a logistic regression")
    return linear_folds(estimators)


class LinearGroup:
    """Several aligned linear members in one pass: their weighted probabilities, summed.

    Called with an encoded matrix ``(n_rows, n_features)``, returns
    ``sum_m weight_m * proba_m(X)``, ``(n_rows, n_classes)``.

    Raises:
        NotCompilable: (at construction) a member is not a foldable linear pipeline, or the
            members differ in one-hot layout.
    """

    def __init__(
        self, members: Sequence[EnsembleMember], weights: Sequence[float], n_classes: int
    ) -> None:
        parts = [linear_folds(m.estimators) for m in members]
        self.linear = LinearFolds.stack(parts)
        self.n_classes = n_classes
        # weight of each fold's probabilities in the model: the member's weight over its folds
        self.fold_weights = np.concatenate(
            [np.full(p.folds, w / p.folds) for p, w in zip(parts, weights, strict=True)]
        )
        self.total = float(self.fold_weights.sum())

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """The members' weighted probabilities, summed: ``(n_rows, n_classes)``."""
        if self.linear.width == 1:  # binary: P(positive) per fold, weighted
            from scipy.special import expit

            positive = expit(self.linear.decision(X)) @ self.fold_weights
            return np.column_stack([self.total - positive, positive])
        probas = self.linear.probas(X)  # (rows, folds, classes)
        return np.tensordot(probas, self.fold_weights, axes=([1], [0]))
