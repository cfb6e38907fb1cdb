"""The budget policy of a training or tuning run, in one place.

A run has either a *time* budget (wall-clock seconds from the moment the user started it, so
validation, the search, the held-out evaluation, the final fit, importance, MLflow logging and
registration all count) or a *trial* budget (a number of search trials and no clock at all, so
the same data, seed and library versions give the same model on any machine).

Under a time budget the search ends early enough for what follows it: :func:`post_search_reserve`
gives those seconds from the number of rows, using costs measured on this project's datasets
(see the constants below). Inside the search a candidate is refused or stopped at a fold boundary
when the folds left would not finish in time (:func:`fold_would_overrun`), boosting libraries are
stopped between iterations (:class:`Deadline`), and scikit-learn forests and histogram boosting
are grown in chunks with ``warm_start`` so they can stop between chunks
(:func:`fit_before_deadline`). Every one of these signals raises the one exception
:class:`OutOfTime`.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

BudgetMode = Literal["time", "trials"]

# What the stages after the search cost, measured with the CLI on ../shared/data (1,000 to
# 4,424 rows, B = 20 s) on the shared 2-core machine of this project at load average 7-9
# (docs/training.md, "Where the time goes"):
#   stage                                         student-performance  exams-math
#   process start + imports (to the pipeline)            15.8 s           18.6 s
#   validation                                            0.2 s            0.2 s
#   MLflow set-up (client, experiment, run)               5.1 s            5.6 s
#   reporting imports (matplotlib, fairlearn)             3.4 s            4.0 s
#   ensemble + decision rules                             1.4 s            0.1 s
#   evaluation, fairness, held-out facts                  1.9 s            0.8 s
#   final fit + importance                                0.1 s            0.2 s
#   MLflow logging + registration                         2.0 s            2.1 s
#   process exit (library teardown)                       3.1 s            4.3 s
# Every stage slows down with the machine's load, so the reserve after the search is taken in
# proportion to the seconds the run spent before it (process start, validation, MLflow
# set-up): 8.5 s after / 21.1 s before and 7.4 s / 24.4 s above, at most 0.40. The per-row
# figures below are a floor for a quiet machine, where start-up is short.
POST_PER_SETUP = 0.40
EVALUATE_BASE_S = 0.8
EVALUATE_PER_ROW_S = 0.0004
LOG_BASE_S = 1.5
LOG_PER_ROW_S = 0.0002
# The CLI ends without the interpreter's teardown (studentops.cli.end_process): 0.1-0.2 s from
# the last line to the process's end, measured at load 3.9 (2.2 s with the teardown).
EXIT_S = 0.3
# A fold in flight is stopped at the next boosting iteration or forest chunk: the overrun of the
# search deadline is at most about one chunk, a fraction of a second on school-sized data.
OVERRUN_S = 0.5
# The global importance (SHAP or permutation on up to 300 held-out rows) stops at its time limit
# after at least one chunk; it gets at least this long.
IMPORTANCE_MIN_S = 1.0
# Share of the search part kept for the final fit on all rows (one fit per ensemble member on
# 5/4 of a fold's rows; a trial fits 5 folds, so this covers members of the slower trials).
FINAL_FIT_SHARE = 0.15


def process_age() -> float:
    """Seconds since this process started, from ``/proc/self/stat`` (field 22, start time in
    clock ticks after boot) and ``/proc/uptime`` (proc(5)); 0 where they do not exist."""
    import os

    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def process_started(max_age_s: float = 120.0) -> float:
    """``time.perf_counter()`` value of this process's start, so a command's time budget counts
    the interpreter start and imports a user waits for too.

    A process older than ``max_age_s`` seconds is a long-lived one running the command (a
    notebook, a test runner): its commands start now.
    """
    age = process_age()
    return time.perf_counter() - (age if age <= max_age_s else 0.0)


class OutOfTime(Exception):
    """The budget ends before this work could finish (a trial's folds, a fit, a refit)."""


def logging_reserve(n_rows: int, *, log: bool = True) -> float:
    """Seconds kept for MLflow logging, registration and the process exit (measured costs)."""
    return EXIT_S + (LOG_BASE_S + LOG_PER_ROW_S * n_rows if log else 0.0)


def post_search_reserve(
    n_rows: int,
    budget_s: float,
    *,
    evaluate: bool = True,
    log: bool = True,
    setup_s: float = 0.0,
) -> float:
    """Seconds a time budget keeps after the search for the stages that follow it.

    Args:
        n_rows: validated rows of the run.
        budget_s: the whole budget in seconds.
        evaluate: the held-out evaluation, fairness audit and importance follow (``train``).
        log: MLflow logging and registration follow (``train`` through the pipeline).
        setup_s: seconds the run spent before the search (start-up, validation, set-up); the
            stages after the search take about ``POST_PER_SETUP`` times as long on the same
            machine at the same load.

    Returns:
        Seconds, the larger of the per-row floor and the share of ``setup_s``, at most half
        the budget (a tiny budget still searches). The constants are measured costs (see the
        table above them).
    """
    need = OVERRUN_S + logging_reserve(n_rows, log=log)
    if evaluate:
        need += EVALUATE_BASE_S + EVALUATE_PER_ROW_S * n_rows
    if log:  # set-up and the stages after the search both include MLflow and exit
        need = max(need, POST_PER_SETUP * setup_s)
    return min(need, 0.5 * budget_s)


@dataclass(frozen=True)
class Budget:
    """When each stage of one run must be over.

    Attributes:
        mode: ``time`` (wall clock) or ``trials`` (a trial count, no clock).
        start: ``time.perf_counter()`` when the user started the run (seconds).
        time_s: the time budget in seconds (``inf`` under a trial budget).
        trials: the trial budget, or a cap on trials under a time budget (None: no cap).
        reserve_s: seconds kept after the search (:func:`post_search_reserve`).
        final_fit_s: seconds of the search part kept for the final fit on all rows.
        logging_s: the part of ``reserve_s`` kept for logging, registration and exit
            (:func:`logging_reserve`).
    """

    mode: BudgetMode
    start: float
    time_s: float
    trials: int | None
    reserve_s: float = 0.0
    final_fit_s: float = 0.0
    logging_s: float = 0.0

    @classmethod
    def create(
        cls,
        *,
        time_s: float | None,
        trials: int | None,
        n_rows: int,
        start: float | None = None,
        evaluate: bool = True,
        log: bool = True,
        final_fit: bool = False,
    ) -> Budget:
        """The budget of a run of ``n_rows`` validated rows.

        A trial budget is chosen when ``trials`` is given and ``time_s`` is None; with both,
        ``trials`` caps a time budget.

        Raises:
            ConfigError: neither budget given, or a budget that is not positive.
        """
        from studentops.errors import ConfigError

        start = time.perf_counter() if start is None else start
        if trials is not None and trials < 1:
            raise ConfigError(f"trial budget must be at least 1, got {trials}")
        if time_s is None:
            if trials is None:
                raise ConfigError("give a time budget (--time-budget) or a trial budget (--trials)")
            return cls("trials", start, math.inf, trials)
        if time_s <= 0:
            raise ConfigError(f"time budget must be positive, got {time_s}")
        used = time.perf_counter() - start  # start-up, validation and set-up already spent
        reserve = post_search_reserve(n_rows, time_s, evaluate=evaluate, log=log, setup_s=used)
        final = FINAL_FIT_SHARE * max(0.0, time_s - reserve - used) if final_fit else 0.0
        # The logging part of the reserve grows with the reserve (the same slowdown).
        floor = post_search_reserve(n_rows, time_s, evaluate=evaluate, log=log)
        logging = min(reserve, logging_reserve(n_rows, log=log) * reserve / max(floor, 1e-9))
        return cls("time", start, float(time_s), trials, reserve, final, logging)

    @property
    def end(self) -> float:
        """``perf_counter`` value when the whole run must be over (``inf``: trial budget)."""
        return self.start + self.time_s

    @property
    def search_deadline(self) -> float:
        """``perf_counter`` value when the search must be over (``inf``: trial budget)."""
        return self.end - self.reserve_s - self.final_fit_s

    @property
    def final_fit_deadline(self) -> float:
        """``perf_counter`` value when the final fit on all rows must be over: before the
        logging reserve and a second for the importance (``inf`` under a trial budget)."""
        return self.end - self.logging_s - IMPORTANCE_MIN_S

    def seconds_before_logging(self) -> float | None:
        """Seconds left for work before the logging reserve (None: no clock, trial budget)."""
        if self.mode == "trials":
            return None
        return self.end - time.perf_counter() - self.logging_s

    def left(self) -> float:
        """Seconds left of the whole budget (``inf`` under a trial budget)."""
        return self.end - time.perf_counter()


def fold_would_overrun(
    started: float, folds_done: int, n_folds: int, fold_estimate: float, deadline: float
) -> bool:
    """Whether the next fold of a candidate (and the ones after it) would end past ``deadline``.

    Before the first fold only that fold is projected, with ``fold_estimate`` (seconds, from
    earlier trials of the algorithm); later the mean of the folds already fitted projects every
    fold left.
    """
    now = time.perf_counter()
    per_fold = (now - started) / folds_done if folds_done else fold_estimate
    return now + per_fold * (n_folds - folds_done if folds_done else 1) > deadline


class Deadline:
    """Stops a boosting library between iterations once ``time.perf_counter()`` passes ``at``.

    One object serves the callback protocols of LightGBM (called with an env; raising stops
    it), CatBoost (``after_iteration`` returning False stops it) and XGBoost (see
    :func:`xgboost_deadline`). The caller checks :attr:`hit` after ``fit``.
    """

    def __init__(self, at: float) -> None:
        self.at = at
        self.hit = False

    def expired(self) -> bool:
        """True (and :attr:`hit` set) once the deadline has passed."""
        if time.perf_counter() > self.at:
            self.hit = True
        return self.hit

    def __call__(self, env: Any) -> None:  # LightGBM
        """LightGBM callback.

        Raises:
            OutOfTime: the deadline passed.
        """
        if self.expired():
            raise OutOfTime

    def after_iteration(self, info: Any) -> bool:  # CatBoost: False stops training
        """CatBoost callback: False stops training."""
        return not self.expired()


def xgboost_deadline(deadline: Deadline) -> Any:
    """An XGBoost ``TrainingCallback`` that stops training when ``deadline`` expires."""
    import xgboost as xgb

    class _Stop(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            return deadline.expired()

    return _Stop()


@contextmanager
def known_fit_warnings() -> Iterator[None]:
    """Silence the warnings the search's fits are known to raise, and only those.

    - scikit-learn, forests grown with ``warm_start`` and ``class_weight="balanced"``:
      "class_weight presets ... are not recommended for warm_start" (a UserWarning about the
      weights being computed on the bootstrap of the first chunk; our chunks see the same rows).
    - scikit-learn and LightGBM, a matrix without column names: "X does not have valid feature
      names" (the encoder hands NumPy arrays to every member).
    - scikit-learn's solvers on small folds: ``ConvergenceWarning`` (a trial that did not
      converge is judged by its fold scores like any other).
    Anything else (a library's deprecation, a numeric problem) is shown.
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="class_weight presets", category=UserWarning)
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        yield


# Libraries without an iteration callback: grown with warm_start, checking the deadline between
# chunks (the result equals one fit of the full size).
GROWN_IN_CHUNKS = {
    "hist_gradient_boosting": "max_iter",
    "random_forest": "n_estimators",
    "extra_trees": "n_estimators",
}


def fit_before_deadline(
    est: Any,
    algorithm: str,
    X: np.ndarray,
    y: np.ndarray,
    fit_kwargs: Callable[[Deadline | None], dict[str, Any]],
    deadline: float,
) -> None:
    """Fit the pipeline ``est``, stopping between iterations or chunks once ``deadline`` passes.

    Args:
        est: a scikit-learn pipeline whose last step is the model.
        algorithm: base algorithm name (``lightgbm``, ``random_forest`` ...).
        X: (n_rows, n_features) matrix; y: (n_rows,) target.
        fit_kwargs: extra ``fit`` arguments given the deadline callback (or None without one).
        deadline: ``perf_counter`` value; ``inf`` fits without any clock.

    Raises:
        OutOfTime: the deadline passed before the fit ended.
    """
    stop = Deadline(deadline) if math.isfinite(deadline) else None
    model = est.steps[-1][1]
    xgb_hook = stop is not None and algorithm == "xgboost"
    if stop is not None and xgb_hook:
        model.set_params(callbacks=[xgboost_deadline(stop)])
    kwargs = fit_kwargs(stop)
    try:
        with known_fit_warnings():
            growing = GROWN_IN_CHUNKS.get(algorithm)
            if stop is not None and growing is not None:
                fit_in_chunks(est, model, growing, X, y, kwargs, stop)
            else:
                est.fit(X, y, **kwargs)
    finally:
        if xgb_hook:
            model.set_params(callbacks=None)  # served models carry no callback
    if stop is not None and stop.hit:
        raise OutOfTime


def fit_in_chunks(
    est: Any,
    model: Any,
    size_param: str,
    X: np.ndarray,
    y: np.ndarray,
    kwargs: dict[str, Any],
    stop: Deadline,
    chunk: int = 10,
) -> None:
    """Grow ``model`` (the last step of ``est``) ``chunk`` trees or iterations at a time.

    The result equals one fit of the full size (``warm_start`` adds to what is there).

    Raises:
        OutOfTime: ``stop`` expired between two chunks.
    """
    full = int(model.get_params()[size_param])
    size = min(chunk, full)
    model.set_params(warm_start=True, **{size_param: size})
    try:
        est.fit(X, y, **kwargs)
        while size < full:
            if stop.expired():
                raise OutOfTime
            size = min(size + chunk, full)
            model.set_params(**{size_param: size})
            est.fit(X, y, **kwargs)
    finally:
        model.set_params(warm_start=False, **{size_param: full})
