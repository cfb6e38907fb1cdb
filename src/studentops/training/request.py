"""One search set-up for ``train`` and ``tune``: a request object and the function that runs it.

:func:`run_request_search` holds out the test part (or takes the user's test file), groups the
folds, prepares the search data and runs the search under the request's budget. ``train``
(:func:`studentops.training.train.train_model`) continues from its result to the final model;
``tune`` (:func:`studentops.training.pipeline.tune_shared`) stops there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from studentops.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from studentops.datasets.profile import Profile
    from studentops.features.encode import ProfileEncoder
    from studentops.training.budget import Budget
    from studentops.training.search import OnTrial, SearchData, SearchOutcome

log = logging.getLogger(__name__)

FinalFit = Literal["all", "holdout"]
SPLITS = ("stratified", "random", "group", "time")


@dataclass(kw_only=True)
class SearchRequest:
    """What a search needs: the rows, the profile, the budget and the options.

    Attributes:
        frame: validated rows (``ValidationResult.valid``), (n_rows, n_columns), with the target.
        profile: the dataset profile.
        time_budget_s: wall-clock seconds for the whole run, counted from ``started``; None with
            ``n_trials`` gives a trial budget (reproducible on any machine).
        n_trials: the trial budget, or a cap on trials under a time budget.
        metric: metric to optimise; default f1_macro (multiclass), roc_auc (binary), r2.
        seed: seed of the split, the folds and the models (and of the sampler unless
            ``sampler_seed`` is given).
        sampler_seed: seed of the TPE sampler (``tune`` workers offset it so they differ).
        split: held-out split: stratified, random, group or time.
        test_frame: validated rows the user kept apart; when given, nothing is carved out of
            ``frame`` and the held-out evaluation uses these rows.
        smote: oversample minority classes with SMOTE inside each training fold.
        class_weight: ``auto`` (balanced for label metrics such as macro-F1), ``balanced``, None.
        algorithms: restrict the search to these candidate names.
        n_jobs: parallel trials (default up to 2; always 1 under a trial budget).
        storage, study_name: share an Optuna study between processes (URL or storage object).
        on_trial: progress callback, called with each TrialRecord (from a worker thread).
        started: ``time.perf_counter()`` when the user started the run (default: now), so
            validation before the request counts against the time budget.
        evaluate_after, log_after: stages that follow the search and get a reserve of the time
            budget (:func:`studentops.training.budget.post_search_reserve`).
    """

    frame: pd.DataFrame
    profile: Profile
    time_budget_s: float | None = 60.0
    n_trials: int | None = None
    metric: str | None = None
    seed: int = 42
    sampler_seed: int | None = None
    split: str = "stratified"
    test_frame: pd.DataFrame | None = None
    smote: bool = False
    class_weight: str | None = "auto"
    algorithms: Sequence[str] | None = None
    n_jobs: int | None = None
    storage: Any = None
    study_name: str | None = None
    on_trial: OnTrial | None = None
    started: float | None = None
    evaluate_after: bool = False
    log_after: bool = False


@dataclass(kw_only=True)
class TrainRequest(SearchRequest):
    """A :class:`SearchRequest` that goes on to a registered-quality model.

    Attributes:
        artifacts_dir: folder for metrics, plots, trials, importance and fairness files.
        target_recall: binary: choose the threshold that finds this share of positives
            (default: the threshold of best F1).
        final_fit: ``all`` refits the chosen members on every validated row after the
            held-out evaluation; ``holdout`` keeps the evaluated model (fold models of the
            training part).
    """

    artifacts_dir: str | Path
    target_recall: float | None = None
    final_fit: FinalFit = "all"
    evaluate_after: bool = True


@dataclass
class PreparedSearch:
    """A finished search with everything the final model needs.

    Attributes:
        budget: the run's :class:`~studentops.training.budget.Budget`.
        train, test: the training part and the test part (the user's test file, if given).
        encoder: the ordinal encoder fitted on ``train``.
        data: the search data ((n_train, n_features) matrix, target, folds).
        outcome: the search's trials and kept candidates.
        phases: seconds of ``prepare`` and ``search``.
    """

    budget: Budget
    train: pd.DataFrame
    test: pd.DataFrame
    encoder: ProfileEncoder
    data: SearchData
    outcome: SearchOutcome
    phases: dict[str, float] = field(default_factory=dict)


def budget_for(request: SearchRequest, *, final_fit: bool = False) -> Budget:
    """The request's budget policy (:meth:`studentops.training.budget.Budget.create`).

    Raises:
        ConfigError: no budget, or a budget that is not positive.
    """
    from studentops.training.budget import Budget

    return Budget.create(
        time_s=request.time_budget_s,
        trials=request.n_trials,
        n_rows=len(request.frame) + (0 if request.test_frame is None else len(request.test_frame)),
        start=request.started,
        evaluate=request.evaluate_after,
        log=request.log_after,
        final_fit=final_fit,
    )


def run_request_search(request: SearchRequest, budget: Budget | None = None) -> PreparedSearch:
    """Hold out, group the folds, prepare the search data and run the search.

    Args:
        request: what to search and under which budget.
        budget: the budget (default :func:`budget_for` the request).

    Returns:
        A :class:`PreparedSearch`.

    Raises:
        ConfigError: an unknown split, a metric that does not apply to the task, or a bad
            budget.
        DataError: the held-out split cannot be made (too few rows or groups).
    """
    from studentops.training.evaluate import get_metric
    from studentops.training.search import prepare_search_data, run_search
    from studentops.training.split import holdout_split

    if request.split not in SPLITS:
        raise ConfigError(f"unknown split '{request.split}' (choose from {', '.join(SPLITS)})")
    budget = budget or budget_for(request)
    m = get_metric(request.metric, request.profile.task)
    mark = time.perf_counter()
    if request.test_frame is None:
        holdout = holdout_split(
            request.frame, request.profile, kind=request.split, seed=request.seed
        )
        train, test = request.frame.iloc[holdout.train], request.frame.iloc[holdout.test]
    else:
        train, test = request.frame, request.test_frame
    encoder, data = prepare_search_data(
        train,
        request.profile,
        metric=m.name,
        seed=request.seed,
        smote=request.smote,
        class_weight=request.class_weight,
        groups=split_groups(train, request.profile, request.split),
    )
    phases = {"prepare": time.perf_counter() - mark}
    mark = time.perf_counter()
    deterministic = budget.mode == "trials"
    outcome = run_search(
        data,
        deadline=budget.search_deadline,
        seed=request.seed if request.sampler_seed is None else request.sampler_seed,
        n_trials=budget.trials,
        storage=request.storage,
        study_name=request.study_name,
        on_trial=request.on_trial,
        n_jobs=1 if deterministic else request.n_jobs,
        algorithms=request.algorithms,
    )
    phases["search"] = time.perf_counter() - mark
    return PreparedSearch(budget, train, test, encoder, data, outcome, phases)


def split_groups(train: pd.DataFrame, profile: Profile, split: str) -> np.ndarray | None:
    """Group labels for the folds, (n_rows,) strings: the group (group split) or the period
    (time split); None for the other splits."""
    column = {"group": profile.group, "time": profile.period}.get(split)
    if column is None:
        return None
    return train[column].astype(str).to_numpy()
