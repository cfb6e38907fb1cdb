"""The final fit: the chosen members refitted on every validated row, for registration.

The search judges candidates on folds of the training part and the held-out test part judges the
model once; the model that is then served need not have missed those rows. As AutoGluon's
``refit_full`` does (Erickson et al. 2020, "AutoGluon-Tabular", section 3.3), each chosen member
is refitted once on all rows with the hyperparameters the search chose; everything else the
search and the out-of-fold predictions decided is kept: which members, the ensemble weights,
the binary threshold, the multiclass class weights, the regression residual sd and a derived
member's residual sd. The encoder stays the one fitted on the training part, so category codes
and the members' input columns are unchanged (a category seen only in the test part is read as
unknown, as before).

The held-out metrics remain those of the evaluated model (fold models of the training part);
:class:`FinalFit` says which model was registered, for the model card, MLflow and ``models``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.training.budget import OutOfTime, fit_before_deadline
from studentops.training.model import Member, StudentModel, class_codes, typical_values
from studentops.training.spaces import base_algorithm, build_pipeline, fit_params, is_derived

if TYPE_CHECKING:
    import pandas as pd

    from studentops.training.spaces import Context

log = logging.getLogger(__name__)

SKIPPED_NOTE = "final fit on all rows skipped: no time left in the time budget"


@dataclass(frozen=True)
class FinalFit:
    """Which model a run registered and which one it evaluated.

    Attributes:
        mode: ``all`` (refitted on every validated row) or ``holdout`` (the evaluated model).
        registered_rows: rows the registered model was fitted on.
        evaluated_rows: rows the evaluated model was fitted on (the training part).
        test_rows: rows the held-out metrics come from.
        seconds: wall-clock seconds of the refit (0 without one).
        note: why a requested refit did not happen (None when it did, or was not asked for).
    """

    mode: str
    registered_rows: int
    evaluated_rows: int
    test_rows: int
    seconds: float = 0.0
    note: str | None = None

    @property
    def refitted(self) -> bool:
        """True when the registered model is not the evaluated one."""
        return self.mode == "all" and self.note is None

    def describe(self) -> str:
        """One sentence for people: which model was registered and what the metrics judge."""
        if self.refitted:
            return (
                f"registered: the chosen members refitted on all {self.registered_rows:,} "
                f"validated rows (same members, weights and decision rule); the held-out "
                f"metrics judge the evaluated model (fold models of {self.evaluated_rows:,} "
                f"training rows) on {self.test_rows:,} held-out rows"
            )
        why = f" ({self.note})" if self.note else ""
        return (
            f"registered: the evaluated model itself, fold models of {self.evaluated_rows:,} "
            f"training rows{why}; the held-out metrics on {self.test_rows:,} held-out rows "
            "judge this model"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON, MLflow and the model card."""
        return {
            "mode": self.mode,
            "refitted": self.refitted,
            "registered_rows": self.registered_rows,
            "evaluated_rows": self.evaluated_rows,
            "test_rows": self.test_rows,
            "seconds": round(self.seconds, 3),
            "note": self.note,
            "description": self.describe(),
        }


def refit_on_all(
    model: StudentModel, frame: pd.DataFrame, ctx: Context, *, deadline: float
) -> StudentModel:
    """The model with every member refitted once on all rows of ``frame``.

    Args:
        model: the evaluated model (fold models of the training part).
        frame: every validated row, (n_rows, n_columns), with the target.
        ctx: the search's context (its ``n_rows`` becomes ``len(frame)``).
        deadline: ``time.perf_counter()`` value the refit must end by (``inf``: no clock).

    Returns:
        A new :class:`StudentModel` with one estimator per member; the threshold, class
        weights, sigma, weights, metric and CV score are those of ``model``.

    Raises:
        OutOfTime: the deadline passed before every member was refitted.
    """
    from threadpoolctl import threadpool_limits

    profile = model.profile
    X = model.encoder.transform(frame)
    if profile.task == "regression":
        y = profile.target_values(frame).to_numpy(dtype=float)
    else:
        y = class_codes(profile.target_values(frame), profile.class_order())
    ctx = replace(ctx, n_rows=len(y))
    members = []
    with threadpool_limits(limits=1):  # the same single-threaded libraries as the search
        for member in model.members:
            members.append(_refit_member(member, X, y, frame, model, ctx, deadline))
    return replace(model, members=members, reference=_reference(X, model), _cache={})


def _refit_member(
    member: Member,
    X: np.ndarray,
    y: np.ndarray,
    frame: pd.DataFrame,
    model: StudentModel,
    ctx: Context,
    deadline: float,
) -> Member:
    name = member.algorithm
    target = y
    rows = np.arange(len(y))
    if is_derived(name):
        d = model.profile.target.derive
        assert d is not None
        source = frame[d.source].to_numpy(dtype=float)
        rows = rows[~np.isnan(source)]
        target = source
        ctx = replace(ctx, task="regression", balanced=False, smote=False)
    y_fit = target[rows]
    est = build_pipeline(name, member.params, ctx, y_fit=y_fit)
    fit_before_deadline(
        est,
        base_algorithm(name).name,
        X[rows],
        y_fit,
        lambda stop: fit_params(name, member.params, ctx, y_fit, stop),
        deadline,
    )
    return replace(member, estimators=[est])


def _reference(X: np.ndarray, model: StudentModel) -> np.ndarray:
    return typical_values(X, list(model.encoder.categorical_indices_))


def final_fit(
    model: StudentModel,
    frame: pd.DataFrame,
    ctx: Context,
    *,
    mode: str,
    evaluated_rows: int,
    test_rows: int,
    deadline: float,
) -> tuple[StudentModel, FinalFit]:
    """The model to register and what it is.

    ``mode="holdout"`` returns ``model``; ``mode="all"`` refits it on ``frame``. A refit the
    budget cannot fit (:class:`OutOfTime`) keeps ``model`` and says why.

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in ("all", "holdout"):
        raise ValueError(f"unknown final fit '{mode}' (all or holdout)")
    if mode == "holdout":
        return model, FinalFit(mode, evaluated_rows, evaluated_rows, test_rows)
    start = time.perf_counter()
    try:
        refitted = refit_on_all(model, frame, ctx, deadline=deadline)
    except OutOfTime:
        seconds = time.perf_counter() - start
        note = SKIPPED_NOTE if seconds < 0.05 else f"{SKIPPED_NOTE}, stopped after {seconds:.1f}s"
        log.warning("%s; the evaluated model is registered", note)
        return model, FinalFit(mode, evaluated_rows, evaluated_rows, test_rows, seconds, note)
    seconds = time.perf_counter() - start
    return refitted, FinalFit(mode, len(frame), evaluated_rows, test_rows, seconds)
