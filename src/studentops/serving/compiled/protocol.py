"""What a servable model exposes to the compiled scorer, and the error when a part is unknown.

The compiled scorer reads a trained ensemble through these protocols only, so it imports no
studentops type: ``training.model.StudentModel`` (with its ``Member`` and ``DerivedBins``) is one
model that fits them, checked by ``tests/unit/serving/compiled/test_protocol.py``. A model that
does not fit (no ``members``) is served through its own ``predict_proba_matrix``.

Shapes: ``X`` is the encoded matrix the members read, ``(n_rows, n_features)`` float64 (NaN for
a missing value, category codes as numbers); probabilities are ``(n_rows, n_classes)`` with
columns in the model's class order; values are ``(n_rows,)`` in the target's unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np


class NotCompilable(Exception):
    """The model has a part the compiler does not know; serve it through the model itself."""


class ValueBins(Protocol):
    """How a derived member turns a predicted number into class probabilities
    (``training.model.DerivedBins``)."""

    def proba(self, values: np.ndarray, sigma: float) -> np.ndarray:
        """Class probabilities ``(n_rows, n_classes)`` of predicted values ``(n_rows,)`` with a
        normal residual of standard deviation ``sigma`` (in the values' unit)."""
        ...


class EnsembleMember(Protocol):
    """One member of the ensemble: one candidate of the search as its per-fold fitted models.

    ``estimators`` are the folds' fitted scikit-learn pipelines (or bare estimators), each
    reading the encoded matrix: the compiler reads their steps (``CodesOneHot``,
    ``SimpleImputer``, ``StandardScaler``) and final estimators (XGBoost, LightGBM, CatBoost,
    scikit-learn forests, HistGradientBoosting, linear models); any other kind is called as
    it is. ``kind`` is ``"classifier"`` (``predict_proba`` per fold, columns ``classes_``),
    ``"regressor"`` (``predict``) or ``"derived"`` (a regression whose value ``bins`` turn into
    classes with residual ``sigma``).
    """

    @property
    def algorithm(self) -> str:
        """The member's algorithm name (for log lines)."""
        ...

    @property
    def kind(self) -> str:
        """``"classifier"``, ``"regressor"`` or ``"derived"``."""
        ...

    @property
    def estimators(self) -> Sequence[Any]:
        """The folds' fitted pipelines or estimators."""
        ...

    @property
    def bins(self) -> ValueBins | None:
        """A derived member's bins; None otherwise."""
        ...

    @property
    def sigma(self) -> float:
        """A derived member's out-of-fold residual standard deviation (the target's unit)."""
        ...

    def proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n_rows, n_classes)`` in the model's class order, the mean
        over folds."""
        ...

    def output(self, X: np.ndarray) -> np.ndarray:
        """What the member adds to the ensemble: values ``(n_rows,)`` for a regressor, class
        probabilities ``(n_rows, n_classes)`` otherwise."""
        ...


@runtime_checkable
class CompilableEnsemble(Protocol):
    """A model the compiled scorer can compile: a weighted ensemble of fold members.

    The ensemble's output is ``sum_m weights[m] * members[m].output(X)``; for classification
    that is ``predict_proba_matrix(X)``, for regression ``predict_value_matrix(X)``. The
    scorer proves its compiled form against these two methods before it is used.
    """

    @property
    def task(self) -> str:
        """``"binary"``, ``"multiclass"`` or ``"regression"``."""
        ...

    @property
    def classes_(self) -> Sequence[Any]:
        """The class values, in the order of the probability columns."""
        ...

    @property
    def members(self) -> Sequence[EnsembleMember]:
        """The ensemble's members, in the order of ``weights``."""
        ...

    @property
    def weights(self) -> Sequence[float]:
        """One weight per member (they sum to 1)."""
        ...

    def predict_proba_matrix(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n_rows, n_classes)`` of an encoded matrix.

        Raises:
            TypeError: for a regression model.
        """
        ...

    def predict_value_matrix(self, X: np.ndarray) -> np.ndarray:
        """Predicted values ``(n_rows,)`` of an encoded matrix (regression)."""
        ...
