"""The search: Optuna over algorithm and hyperparameters together, under a wall-clock budget.

Each trial cross-validates one candidate on the training part (stratified K-fold), reports the
running mean of its fold scores after every fold so a median pruner can stop hopeless ones, and
keeps its out-of-fold predictions and fold models. When the budget ends, a greedy ensemble
(Caruana et al. 2004, as in AutoGluon) of the best candidates is formed on the out-of-fold
predictions and kept only if it scores better there than the best single candidate.

Time: trials are refused or stopped (pruned as ``timeout``) when the deadline is near, using the
time of the folds already fitted to project the rest.

Determinism: the TPE sampler and every model are seeded and single-threaded, so a trial budget
(``n_trials`` with ``deadline=math.inf`` and ``n_jobs=1``) repeats exactly on any machine; under
a time budget the number of trials depends on the machine's speed. The budget policy (reserve,
deadline, fold projection, chunked fits) is :mod:`studentops.training.budget`.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from studentops.training.budget import OutOfTime, fit_before_deadline, fold_would_overrun
from studentops.training.evaluate import LABEL_METRICS, Metric, fold_score, get_metric, mean_defined
from studentops.training.model import DerivedBins, Member, MemberKind, class_codes
from studentops.training.result import TrialRecord
from studentops.training.spaces import (
    Context,
    base_algorithm,
    build_pipeline,
    candidate_names,
    fit_params,
    is_derived,
    warm_starts,
)

if TYPE_CHECKING:
    import pandas as pd

    from studentops.datasets.profile import Profile
    from studentops.features.encode import ProfileEncoder

log = logging.getLogger(__name__)
DEBUG_LOGGER = "studentops.debug"


def debug_log_path() -> str:
    """Where tracebacks of failed trials go: ``<home>/logs/debug.log``."""
    from studentops.config import load_settings

    return str(load_settings().home / "logs" / "debug.log")


def debug_log() -> logging.Logger:
    """A logger that writes only to the debug log file (never to the console)."""
    logger = logging.getLogger(DEBUG_LOGGER)
    path = Path(debug_log_path())
    for old in list(logger.handlers):  # settings moved home (tests, a long-lived process)
        if getattr(old, "baseFilename", None) != str(path.resolve()):
            logger.removeHandler(old)
            old.close()
    if not logger.handlers:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    return logger


OnTrial = Callable[[TrialRecord], None]


@dataclass
class SearchData:
    """The training part as the search sees it."""

    X: np.ndarray
    y: np.ndarray  # class indices (classification) or values (regression)
    folds: list[tuple[np.ndarray, np.ndarray]]
    task: str
    metric: Metric
    n_classes: int
    ctx: Context
    source: np.ndarray | None = None  # numeric source of a derived target (e.g. GPA)
    bins: DerivedBins | None = None


@dataclass
class Candidate:
    """A completed trial with what the ensemble and the final model need."""

    number: int
    algorithm: str
    params: dict[str, Any]
    score: float
    oof: np.ndarray
    member: Member
    duration_s: float


@dataclass
class SearchOutcome:
    """What a search hands back: the study, every trial in the order it ended, the kept
    candidates (best first) and the deadline it ran under (``perf_counter`` seconds)."""

    study: Any
    trials: list[TrialRecord]
    candidates: list[Candidate]  # best first
    deadline: float


# -- data ------------------------------------------------------------------------------------


def prepare_search_data(
    train: pd.DataFrame,
    profile: Profile,
    *,
    metric: str | None = None,
    seed: int = 42,
    smote: bool = False,
    class_weight: str | None = "auto",
    groups: np.ndarray | None = None,
    n_splits: int = 5,
) -> tuple[ProfileEncoder, SearchData]:
    """Encode the training part and fix the folds every candidate is judged on.

    Args:
        class_weight: ``auto`` balances classes when the metric judges hard decisions
            (macro-F1, accuracy ...) and not when it judges probabilities (ROC-AUC, log loss),
            which class weights would only distort; ``balanced`` or None force it.
        groups: group labels for group-aware folds (group and time splits).
    """
    from studentops.features.encode import ProfileEncoder
    from studentops.training.split import cv_folds

    task = profile.task
    m = get_metric(metric, task)
    encoder = ProfileEncoder(profile).fit(train)
    X = encoder.transform(train)
    if task == "regression":
        y = profile.target_values(train).to_numpy(dtype=float)
        n_classes = 0
    else:
        classes = profile.class_order()
        y = class_codes(profile.target_values(train), classes)
        n_classes = len(classes)
    folds = cv_folds(y, task, n_splits=n_splits, seed=seed, groups=groups)
    balanced = (
        task != "regression"
        and not smote
        and (class_weight == "balanced" or (class_weight == "auto" and m.name in LABEL_METRICS))
    )
    k = len(folds)
    ctx = Context(
        task=task,
        n_rows=int(len(y) * (k - 1) / k),
        n_features=X.shape[1],
        n_classes=n_classes,
        categorical_indices=tuple(encoder.categorical_indices_),
        n_categories=tuple(encoder.n_categories_),
        seed=seed,
        balanced=balanced,
        smote=smote and task != "regression",
    )
    source, bins = None, None
    d = profile.target.derive
    if task != "regression" and d is not None and d.source in train.columns:
        values = train[d.source].to_numpy(dtype=float)
        if np.mean(~np.isnan(values)) >= 0.5:  # enough known sources to learn from
            bins = DerivedBins.from_profile(profile, profile.class_order()).with_noise(values, y)
            source = values
    data = SearchData(X, y, folds, task, m, n_classes, ctx, source, bins)
    return encoder, data


# -- one candidate ---------------------------------------------------------------------------


def _predict_classes(est: Any, X: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(X), k))
    out[:, np.asarray(est.classes_, dtype=int)] = est.predict_proba(X)
    return out


def cross_validate(
    data: SearchData,
    name: str,
    params: dict[str, Any],
    *,
    deadline: float = math.inf,
    report: Callable[[float, int], None] | None = None,
    number: int = -1,
    fold_estimate: float = 0.0,
    on_fold: Callable[[float], None] | None = None,
) -> Candidate:
    """Fit ``name`` with ``params`` on every fold; score the out-of-fold predictions.

    Args:
        fold_estimate: expected seconds of one fold (from earlier trials of the algorithm), so
            a trial that could not finish its first fold in time does not start.
        on_fold: called with the seconds each fold took (the search learns costs from it).

    Returns:
        The :class:`Candidate`: its (n_rows, n_classes) out-of-fold output ((n_rows,) for a
        regression) and the fitted fold models as one :class:`Member`.

    Raises:
        OutOfTime: the deadline passed or the folds left would not finish before it.
    """
    start = time.perf_counter()
    derived = is_derived(name)
    if derived and (data.source is None or data.bins is None):
        raise ValueError(f"{name}: the profile has no derived target source")
    ctx = replace(data.ctx, task="regression", balanced=False, smote=False) if derived else data.ctx
    target = data.source if derived else data.y
    assert target is not None
    n = len(data.y)
    values = np.full(n, np.nan)
    oof = np.full((n, data.n_classes), np.nan) if data.task != "regression" else values
    estimators: list[Any] = []
    scores: list[float] = []
    n_folds = len(data.folds)
    algorithm = base_algorithm(name).name
    for i, (tr, va) in enumerate(data.folds):
        if fold_would_overrun(start, i, n_folds, fold_estimate, deadline):
            raise OutOfTime
        if derived:
            tr = tr[~np.isnan(target[tr])]
        y_fit = target[tr]
        est = build_pipeline(name, params, ctx, y_fit=y_fit)
        fold_start = time.perf_counter()
        fit_before_deadline(
            est,
            algorithm,
            data.X[tr],
            y_fit,
            functools.partial(fit_params, name, params, ctx, y_fit),
            deadline,
        )
        if on_fold is not None:
            on_fold(time.perf_counter() - fold_start)
        estimators.append(est)
        if derived:
            assert data.bins is not None
            values[va] = est.predict(data.X[va])
            oof[va] = data.bins.proba(values[va], _residual_sd(target, values))
        elif data.task == "regression":
            oof[va] = est.predict(data.X[va])
        else:
            oof[va] = _predict_classes(est, data.X[va], data.n_classes)
        scores.append(data.metric.fn(data.y[va], oof[va]))
        if report is not None:
            report(mean_defined(scores), i)
    sigma = 0.0
    if derived:
        assert data.bins is not None
        sigma = _residual_sd(target, values)
        oof = data.bins.proba(values, sigma)
    kind: MemberKind = (
        "derived" if derived else ("regressor" if data.task == "regression" else "classifier")
    )
    member = Member(
        algorithm=name,
        params=dict(params),
        estimators=estimators,
        kind=kind,
        n_classes=data.n_classes,
        bins=data.bins if derived else None,
        sigma=sigma,
    )
    score = fold_score(data.metric, data.y, oof, data.folds)
    member.cv_score = score
    return Candidate(number, name, dict(params), score, oof, member, time.perf_counter() - start)


def _residual_sd(target: np.ndarray, values: np.ndarray) -> float:
    known = ~np.isnan(values) & ~np.isnan(target)
    return float(np.std(target[known] - values[known])) if known.sum() > 1 else 1.0


# -- the study -------------------------------------------------------------------------------


class _Pool:
    """Candidates worth keeping: the best ``keep`` overall and the best of each algorithm."""

    def __init__(self, metric: Metric, keep: int) -> None:
        self.metric, self.keep = metric, keep
        self.items: dict[int, Candidate] = {}
        self.lock = threading.Lock()

    def add(self, cand: Candidate) -> None:
        with self.lock:
            self.items[cand.number] = cand
            ranked = self.ranked()
            best_of: dict[str, int] = {}
            for c in ranked:
                best_of.setdefault(c.algorithm, c.number)
            kept = {c.number for c in ranked[: self.keep]} | set(best_of.values())
            self.items = {k: v for k, v in self.items.items() if k in kept}

    def ranked(self) -> list[Candidate]:
        return sorted(self.items.values(), key=lambda c: -self.metric.oriented(c.score))


def _unprefix(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = str(params.get("algorithm", "?"))
    prefix = name + "."
    return name, {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}


def _record(trial: Any, deadline: float, best: float | None) -> TrialRecord:
    import optuna

    name, params = _unprefix(trial.params)
    state = {
        optuna.trial.TrialState.COMPLETE: "complete",
        optuna.trial.TrialState.PRUNED: "pruned",
    }.get(trial.state, "failed")
    if state == "pruned" and trial.user_attrs.get("timeout"):
        state = "timeout"
    duration = trial.duration.total_seconds() if trial.duration is not None else 0.0
    return TrialRecord(
        number=trial.number,
        algorithm=name,
        params=params,
        cv_score=float(trial.value) if state == "complete" else None,
        duration_s=round(duration, 3),
        state=state,
        best_so_far=best,
        time_left_s=(
            round(max(0.0, deadline - time.perf_counter()), 2) if math.isfinite(deadline) else None
        ),
    )


def create_study(
    metric: Metric,
    *,
    seed: int = 42,
    storage: str | None = None,
    study_name: str | None = None,
    n_startup_trials: int = 10,
) -> Any:
    """A study (shared through ``storage`` when given; ``load_if_exists`` joins it)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # group=True: each algorithm's parameters form their own space for multivariate TPE.
        sampler = optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, n_startup_trials=n_startup_trials
        )
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    return optuna.create_study(
        storage=storage,
        study_name=study_name,
        load_if_exists=study_name is not None,
        direction="maximize" if metric.greater_is_better else "minimize",
        sampler=sampler,
        pruner=pruner,
    )


def run_search(
    data: SearchData,
    *,
    deadline: float,
    seed: int = 42,
    n_trials: int | None = None,
    storage: Any = None,
    study_name: str | None = None,
    on_trial: OnTrial | None = None,
    n_jobs: int | None = None,
    algorithms: Sequence[str] | None = None,
    keep: int = 10,
) -> SearchOutcome:
    """Run trials until ``deadline`` (a ``time.perf_counter()`` value) or ``n_trials``.

    Args:
        data: from :func:`prepare_search_data`.
        deadline: when the search must be over (the last trial is stopped at a fold boundary);
            ``math.inf`` for a trial budget (no clock: the same trials on any machine).
        seed: seed of the TPE sampler (models use ``data.ctx.seed``).
        n_trials: cap on trials (``None``: until the deadline).
        storage, study_name: an Optuna storage (URL or object) and study name to share one
            study between processes (``load_if_exists``); the warm-start configurations are
            queued only in a new study.
        on_trial: called with a :class:`TrialRecord` after every trial (progress bars); it runs
            in the search's worker threads, so keep it short.
        n_jobs: trials run in parallel threads (default: up to 2 cores); 1 is deterministic.
        algorithms: restrict the candidate names (default: all that apply).
        keep: how many top candidates keep their fold models for the ensemble.

    Returns:
        A :class:`SearchOutcome`.

    Raises:
        ValueError: neither a finite deadline nor ``n_trials`` (the search would not end).
    """
    import optuna
    from threadpoolctl import threadpool_limits

    if not math.isfinite(deadline) and n_trials is None:
        raise ValueError("a search needs a finite deadline or n_trials")
    names = _search_names(data, algorithms)
    _import_libraries(names, data)
    starts = warm_starts(names)
    study = create_study(
        data.metric,
        seed=seed,
        storage=storage,
        study_name=study_name,
        n_startup_trials=max(5, len(starts)),
    )
    _queue_warm_starts(study, starts)
    state = _SearchState(data, names, deadline, _Pool(data.metric, keep), on_trial)
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        # One thread per trial and single-threaded libraries (see spaces.py).
        with threadpool_limits(limits=1):
            # The first trial runs alone and the budget never stops it: in a new study it is
            # the cheap warm start a model falls back on (fitted after the search anyway), in
            # a shared study it lets every worker contribute a trial.
            state.unlimited = True
            study.optimize(
                state.objective, n_trials=1, callbacks=[state.after_trial], catch=(Exception,)
            )
            state.unlimited = False
            remaining = deadline - time.perf_counter()
            more = None if n_trials is None else n_trials - 1
            if remaining > 0 and (more is None or more > 0):
                study.optimize(
                    state.objective,
                    n_trials=more,
                    timeout=remaining if math.isfinite(remaining) else None,
                    n_jobs=n_jobs or max(1, min(2, os.cpu_count() or 1)),
                    callbacks=[state.after_trial],
                    catch=(Exception,),
                )
    finally:
        optuna.logging.set_verbosity(previous)
    return SearchOutcome(study, state.records, state.pool.ranked(), deadline)


def _search_names(data: SearchData, algorithms: Sequence[str] | None) -> list[str]:
    """Candidate names of the search (derived ones only with a derived target's source)."""
    names = list(algorithms) if algorithms else candidate_names(data.task, data.source is not None)
    return names if data.source is not None else [n for n in names if not is_derived(n)]


def _queue_warm_starts(study: Any, starts: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Queue the warm-start configurations, only in a study that has no trial yet."""
    if study.trials:
        return
    for name, params in starts:
        study.enqueue_trial({"algorithm": name, **{f"{name}.{k}": v for k, v in params.items()}})


class _FoldCosts:
    """Seconds per fold learnt during the search, to refuse a candidate that cannot finish."""

    def __init__(self) -> None:
        self.per_unit: dict[str, list[float]] = {}  # seconds per unit of Algorithm.cost
        self.folds: list[float] = []  # seconds of every fold fitted
        self.lock = threading.Lock()

    def estimate(self, name: str, cost: float) -> float:
        """Expected seconds of one fold of ``name`` at relative ``cost``. An algorithm never
        run yet gets a typical fold of what has run (so it does not start seconds before the
        deadline)."""
        with self.lock:
            seen = self.per_unit.get(name)
            return float(np.median(seen)) * cost if seen else _median(self.folds)

    def add(self, name: str, cost: float, seconds: float) -> None:
        """Learn from one fitted fold."""
        with self.lock:
            self.per_unit.setdefault(name, []).append(seconds / cost)
            self.folds.append(seconds)


class _SearchState:
    """What the trials of one search share: the candidate pool, fold costs, the records, the
    best value so far and how many trials in a row the budget refused. Every mutable field is
    changed under :attr:`lock` (trials run in threads)."""

    def __init__(
        self,
        data: SearchData,
        names: list[str],
        deadline: float,
        pool: _Pool,
        on_trial: OnTrial | None,
    ) -> None:
        self.data, self.names, self.deadline = data, names, deadline
        self.pool, self.on_trial = pool, on_trial
        self.costs = _FoldCosts()
        self.records: list[TrialRecord] = []
        self.best: float | None = None
        self.refused = 0  # trials in a row stopped by the budget
        self.unlimited = False  # the budget does not stop the trials now running
        self.lock = threading.Lock()

    def objective(self, trial: Any) -> float:
        """Optuna objective: cross-validate the trial's candidate, return its score.

        Raises:
            optuna.TrialPruned: pruned, out of time (``timeout`` attribute) or failed
                (``error`` attribute, one log line, the traceback in the debug log).
        """
        import optuna
        from threadpoolctl import threadpool_limits

        data = self.data
        name = trial.suggest_categorical("algorithm", self.names)
        params = base_algorithm(name).suggest(trial, name + ".", data.ctx)
        ctx = replace(data.ctx, task="regression") if is_derived(name) else data.ctx
        cost = base_algorithm(name).cost(params, ctx)
        try:
            # OpenMP's thread count is per thread: the limit set around the study does not
            # reach Optuna's worker threads, where histogram boosting would use every core.
            with threadpool_limits(limits=1):
                cand = cross_validate(
                    data,
                    name,
                    params,
                    deadline=math.inf if self.unlimited else self.deadline,
                    report=_pruning_reporter(trial),
                    number=trial.number,
                    fold_estimate=self.costs.estimate(name, cost),
                    on_fold=lambda seconds: self.costs.add(name, cost, seconds),
                )
        except OutOfTime:
            self._refuse(trial)
            raise optuna.TrialPruned("budget") from None
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            _report_failure(trial, name, exc)
            raise optuna.TrialPruned("failed") from None
        self.pool.add(cand)
        with self.lock:
            self.refused = 0
        return cand.score

    def _refuse(self, trial: Any) -> None:
        trial.set_user_attr("timeout", True)
        with self.lock:
            self.refused += 1
            if self.refused >= 5:  # the budget fits no more trials: stop asking for them
                trial.study.stop()

    def after_trial(self, study: Any, trial: Any) -> None:
        """Optuna callback: record the trial, tell ``on_trial``, stop at the deadline."""
        import optuna

        with self.lock:
            if trial.state == optuna.trial.TrialState.COMPLETE and trial.value is not None:
                v = float(trial.value)
                m = self.data.metric
                if self.best is None or m.oriented(v) > m.oriented(self.best):
                    self.best = v
            rec = _record(trial, self.deadline, self.best)
            self.records.append(rec)
        if self.on_trial is not None:
            self.on_trial(rec)
        if time.perf_counter() >= self.deadline:
            study.stop()


def _pruning_reporter(trial: Any) -> Callable[[float, int], None]:
    """Report a running fold score to Optuna; raise ``TrialPruned`` when the pruner says so."""
    import optuna

    def report(value: float, step: int) -> None:
        trial.report(value, step)
        if trial.should_prune():
            raise optuna.TrialPruned()

    return report


def _report_failure(trial: Any, name: str, exc: Exception) -> None:
    """One line for the person watching; the traceback goes to the debug log only."""
    debug_log().debug("trial %d (%s) failed", trial.number, name, exc_info=exc)
    log.warning(
        "trial %d (%s) failed: %s: %s (traceback in %s)",
        trial.number,
        name,
        type(exc).__name__,
        str(exc).splitlines()[0] if str(exc) else "",
        debug_log_path(),
    )
    trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else 0.0


def _import_libraries(names: Sequence[str], data: SearchData) -> None:
    """Import every library the trials use before the trial threads start: two threads
    importing one module at once can see it half-initialised (scikit-learn probes polars)."""
    import importlib
    import importlib.util

    for module in ("polars", "pyarrow", "scipy.special"):
        if importlib.util.find_spec(module.split(".")[0]) is not None:
            importlib.import_module(module)
    for name in names:
        ctx = replace(data.ctx, task="regression") if is_derived(name) else data.ctx
        build_pipeline(name, base_algorithm(name).default, ctx)


# -- ensemble --------------------------------------------------------------------------------


def select_ensemble(
    candidates: Sequence[Candidate],
    data: SearchData,
    *,
    max_members: int = 4,
    rounds: int = 25,
) -> tuple[list[Candidate], list[float], float]:
    """Greedy forward selection with replacement on out-of-fold predictions.

    Returns the chosen candidates, their weights (summing to 1) and the out-of-fold score; a
    single candidate when no blend scores better than the best one alone.
    """
    metric = data.metric
    if not candidates:
        raise ValueError("no candidate to build a model from")
    preds = [c.oof for c in candidates]

    def score(p: np.ndarray) -> float:
        return metric.oriented(fold_score(metric, data.y, p, data.folds))

    counts = np.zeros(len(preds), dtype=int)
    total = np.zeros_like(preds[0], dtype=float)
    best_score, best_counts = -math.inf, counts.copy()
    for r in range(rounds):
        pick, pick_score = -1, -math.inf
        for j, p in enumerate(preds):
            if counts[j] == 0 and np.count_nonzero(counts) >= max_members:
                continue
            s = score((total + p) / (r + 1))
            if s > pick_score:
                pick, pick_score = j, s
        counts[pick] += 1
        total += preds[pick]
        if pick_score > best_score + 1e-9:
            best_score, best_counts = pick_score, counts.copy()
    single = score(preds[0])
    if best_score <= single + 1e-9 or np.count_nonzero(best_counts) < 2:
        return [candidates[0]], [1.0], metric.oriented(single)
    chosen = [j for j in np.argsort(-best_counts, kind="stable") if best_counts[j] > 0]
    weights = [float(best_counts[j] / best_counts.sum()) for j in chosen]
    return [candidates[j] for j in chosen], weights, metric.oriented(best_score)


def blend(candidates: Sequence[Candidate], weights: Sequence[float]) -> np.ndarray:
    """Weighted out-of-fold predictions of an ensemble."""
    return np.sum([w * c.oof for c, w in zip(candidates, weights, strict=True)], axis=0)


def recover_best(outcome: SearchOutcome, data: SearchData) -> list[Candidate]:
    """Candidates for the final model, adding the study's best trial when another process ran
    it (its fold models are not here, so it is cross-validated again)."""
    import optuna

    cands = list(outcome.candidates)
    try:
        best = outcome.study.best_trial
    except ValueError:
        return cands
    if best.state != optuna.trial.TrialState.COMPLETE:
        return cands
    if any(c.number == best.number for c in cands):
        return cands
    if cands and data.metric.oriented(cands[0].score) >= data.metric.oriented(float(best.value)):
        return cands
    name, params = _unprefix(best.params)
    try:
        cand = cross_validate(data, name, params, number=best.number)
    except Exception as exc:  # a trial from another process may name an unknown algorithm
        log.warning("could not refit the study's best trial %d: %s", best.number, exc)
        return cands
    return sorted([cand, *cands], key=lambda c: -data.metric.oriented(c.score))
