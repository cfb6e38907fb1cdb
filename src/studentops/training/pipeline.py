"""Training end to end: read, validate, search and fit, log to MLflow, register a challenger.

Plain functions that the CLI, the demo and Prefect flows call; nothing here prints. Heavy
imports (MLflow, the training code) happen inside the functions.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studentops.config import Settings, load_settings
from studentops.datasets.profile import Profile
from studentops.errors import DataError
from studentops.training.request import FinalFit

if TYPE_CHECKING:
    import pandas as pd

    from studentops.datasets.validation import ValidationResult
    from studentops.registry.models import VersionSummary
    from studentops.training.result import TrainResult, TrialRecord

log = logging.getLogger(__name__)

OnTrial = Callable[["TrialRecord"], None]


@dataclass
class TrainingOutcome:
    """Everything a caller may want to show or pass on after one training run."""

    result: TrainResult
    validation: dict[str, Any]
    rejects_path: Path | None
    experiment_id: str
    run_id: str
    model_uri: str
    version: VersionSummary | None
    phases: dict[str, float] = field(default_factory=dict)  # seconds per stage of the call


@dataclass
class TuningOutcome:
    """One worker's share of a shared search, and the study's state when it stopped."""

    study_name: str
    storage: str
    worker: str
    trials_here: int
    trials_total: int  # finished trials of the whole study
    best_value: float | None
    best_params: dict[str, Any] = field(default_factory=dict)
    trial_numbers: list[int] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=dict)
    trials: list[TrialRecord] = field(default_factory=list)  # this worker's, in order


def worker_id() -> str:
    """Which process ran a trial: ``host:pid``, stored on trials of a shared study."""
    return f"{socket.gethostname()}:{os.getpid()}"


def load_training_data(
    profile: str | Profile,
    data: str | Path | None,
    *,
    sep: str | None,
    settings: Settings,
    encoding: str | None = None,
) -> tuple[Profile, ValidationResult, Path | None]:
    """Validate the file against the profile, then check it can be learnt from.

    Rejects go to a CSV under home with reasons. The training guards
    (:func:`studentops.training.guards.check_training_data`) run here, before any split or
    search: their warnings are logged at once and added to the validation summary, and the
    profile returned leaves out empty and constant features.

    Raises:
        DataError: no valid row, one class only, or an at-risk class too small.
    """
    from studentops.datasets.validation import validate_file, write_rejects
    from studentops.training.guards import check_training_data

    prof, validation = validate_file(
        profile, data, sep=sep, require_target=True, settings=settings, encoding=encoding
    )
    rejects_path = write_rejects(validation, prof.name, settings)
    if validation.accepted == 0:
        top = ", ".join(f"{r} ({n})" for r, n in validation.reasons.most_common(3))
        raise DataError(f"no valid rows to train on: all {validation.total} rejected ({top})")
    guarded = check_training_data(validation.valid, prof)
    for warning in guarded.warnings:
        log.warning("%s", warning)
    validation.warnings.extend(guarded.warnings)
    return guarded.profile, validation, rejects_path


@dataclass
class TrainingData:
    """The validated input of one training run, checked before any search or progress display.

    Attributes:
        profile: the profile to train with (the guards' empty and constant features dropped).
        validation: the validation of the training file; ``validation.valid`` is
            ``(n_rows, n_columns)``.
        rejects_path: the rejects CSV of the training file, if any row was rejected.
        test_frame: the valid rows of ``--test-data``, or None.
        source: what was read (the file, or ``profile seed file``); ``test_source`` likewise.
        began, seconds: ``time.perf_counter()`` when the checks began, and their seconds.
    """

    profile: Profile
    validation: ValidationResult
    rejects_path: Path | None
    test_frame: pd.DataFrame | None
    source: str
    test_source: str | None
    began: float
    seconds: float

    def summary(self) -> dict[str, Any]:
        """The validation summary (counts, reasons, warnings) with the files read."""
        out = self.validation.summary() | {"data": self.source}
        if self.test_source is not None:
            out["test_data"] = self.test_source
        return out


def prepare_training(
    profile: str | Profile,
    data: str | Path | None,
    *,
    settings: Settings,
    sep: str | None = None,
    encoding: str | None = None,
    test_data: str | Path | None = None,
    metric: str | None = None,
    split: str = "stratified",
) -> TrainingData:
    """Every check a user's input can fail, before the search: the options, the training file
    (validation and the training guards) and the test file.

    A command calls this before it starts its progress display, so a bad input is one line and
    exit code 2 with nothing drawn before it; :func:`train_and_register` calls it when not given
    the result.

    Raises:
        ConfigError: an unknown split, or a metric that does not apply to the profile's task.
        DataError: no valid row in ``data`` or ``test_data``, one class only, an at-risk class
            too small, or no usable feature.
    """
    from studentops.errors import ConfigError
    from studentops.training.evaluate import get_metric
    from studentops.training.request import SPLITS

    began = time.perf_counter()
    if split not in SPLITS:
        raise ConfigError(f"unknown split '{split}' (choose from {', '.join(SPLITS)})")
    prof, validation, rejects_path = load_training_data(
        profile, data, sep=sep, settings=settings, encoding=encoding
    )
    get_metric(metric, prof.task)
    test_frame = (
        None
        if test_data is None
        else load_test_data(prof, test_data, sep=sep, settings=settings, encoding=encoding)
    )
    return TrainingData(
        profile=prof,
        validation=validation,
        rejects_path=rejects_path,
        test_frame=test_frame,
        source=str(data) if data else "profile seed file",
        test_source=None if test_data is None else str(test_data),
        began=began,
        seconds=time.perf_counter() - began,
    )


def train_and_register(
    profile: str | Profile,
    data: str | Path | None,
    *,
    settings: Settings | None = None,
    time_budget_s: float | None = 60.0,
    n_trials: int | None = None,
    metric: str | None = None,
    seed: int = 42,
    sep: str | None = None,
    encoding: str | None = None,
    smote: bool = False,
    split: str = "stratified",
    on_trial: OnTrial | None = None,
    register: bool = True,
    final_fit: FinalFit = "all",
    test_data: str | Path | None = None,
    started: float | None = None,
    prepared: TrainingData | None = None,
) -> TrainingOutcome:
    """Validate, train within the budget, log everything to MLflow and register a challenger.

    Args:
        profile: profile name, YAML path or Profile.
        data: CSV/Parquet file; None uses the profile's seed file under settings.data_dir.
        time_budget_s: wall-clock seconds for the whole call, from ``started``: validation,
            search, evaluation, final fit, importance, MLflow logging and registration. None
            with ``n_trials``: a trial budget.
        n_trials: trial budget (reproducible on any machine), or a cap under a time budget.
        metric: selection metric; None lets training pick the profile's default.
        on_trial: called after each search trial (progress bars).
        register: register the model as the profile's challenger (off for experiments).
        final_fit: ``all`` registers the chosen members refitted on every validated row;
            ``holdout`` registers the evaluated model (fitted on the training part only).
        test_data: a labelled file the user kept apart, validated with the same profile: the
            held-out evaluation uses it and nothing is carved out of ``data``.
        started: ``time.perf_counter()`` when the user started (default: now).
        prepared: the input already checked by :func:`prepare_training` (a command does it
            before its progress display); ``profile``, ``data``, ``sep``, ``encoding`` and
            ``test_data`` are then not read again.

    Returns:
        A TrainingOutcome with the TrainResult, the MLflow run and the registered version.

    Raises:
        DataError: no valid row in ``data`` or ``test_data``, one class only, too few rows.
        ConfigError: a bad budget, split or metric.
    """
    entered = time.perf_counter()
    started = entered if started is None else started
    settings = settings or load_settings()
    if prepared is None:
        prepared = prepare_training(
            profile,
            data,
            settings=settings,
            sep=sep,
            encoding=encoding,
            test_data=test_data,
            metric=metric,
            split=split,
        )
    validated_at = time.perf_counter()
    import mlflow

    from studentops import tracking
    from studentops.monitoring.reference import build_reference, log_reference
    from studentops.registry import cards, models
    from studentops.registry.pyfunc import input_example, log_student_model
    from studentops.training.evaluate import get_metric
    from studentops.training.request import TrainRequest
    from studentops.training.train import train_model

    prof, validation, rejects_path = prepared.profile, prepared.validation, prepared.rejects_path
    test_frame = prepared.test_frame
    summary = prepared.summary()
    budget_mode = "time" if time_budget_s is not None else "trials"
    client = tracking.client_for(settings)
    experiment_id = tracking.ensure_experiment(client, prof.name, settings)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())

    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"train-{stamp}",
        tags={"studentops.profile": prof.name, "studentops.command": "train"},
        nested=mlflow.active_run() is not None,  # inside a caller's run (a flow, a notebook)
    ) as run:
        run_id = run.info.run_id
        artifacts_dir = settings.ensure_home() / "training" / prof.name / f"{stamp}-{run_id[:8]}"
        trial_logger = tracking.TrialLogger(client, experiment_id, run_id)

        def report(record: TrialRecord) -> None:
            trial_logger.submit(record)
            if on_trial is not None:
                on_trial(record)

        set_up_at = time.perf_counter()
        try:
            result = train_model(
                TrainRequest(
                    frame=validation.valid,
                    profile=prof,
                    time_budget_s=time_budget_s,
                    n_trials=n_trials,
                    metric=metric,
                    seed=seed,
                    artifacts_dir=artifacts_dir,
                    smote=smote,
                    split=split,
                    on_trial=report,
                    test_frame=test_frame,
                    final_fit=final_fit,
                    started=started,
                    log_after=True,
                )
            )
        finally:
            trained_at = time.perf_counter()  # from here on, the time is tracking overhead
            logged = trial_logger.close()
        empty_note = result.empty_features_note()
        if empty_note:  # said once: in the summary the command prints and in MLflow
            log.warning("%s", empty_note)
            summary["warnings"] = [*summary.get("warnings", []), empty_note]
        # Trials the callback did not see (or could not log) are logged now, in order.
        now_ms = int(time.time() * 1000)
        for record in result.trials:
            if record.number not in logged:
                tracking.log_trial(client, experiment_id, run_id, record, now_ms)
        tracking.log_parent_summary(
            client,
            run_id,
            result,
            extra_params={
                "time_budget_s": time_budget_s,
                "budget_mode": budget_mode,
                "trials_budget": n_trials,
                "seed": seed,
                "smote": smote,
                "data": summary["data"],
                "final_fit": final_fit,
                "registered_rows": result.registered_rows,
                "test_data": summary.get("test_data"),
            },
            validation=summary,
        )
        client.set_tag(run_id, "studentops.budget_mode", budget_mode)
        for key, value in models.final_fit_tags(result.final_fit).items():
            client.set_tag(run_id, key, value)
        tracking.log_reports(client, run_id, result, validation=summary, rejects_path=rejects_path)
        log_reference(
            client,
            run_id,
            build_reference(prof, validation.valid, result.model, settings.monitor_bins),
        )
        model_info = log_student_model(result.model, input_example(validation.valid, prof))
        mlflow.log_metrics(
            tracking.finite({f"test_{k}": v for k, v in result.test_metrics.items()}),
            model_id=model_info.model_id,
        )
    logged_at = time.perf_counter()
    log.info("logged run %s to MLflow in %.1fs", run_id, logged_at - trained_at)

    version = None
    if register:
        version = models.register_challenger(
            client,
            prof.name,
            model_info.model_uri,
            run_id=run_id,
            metric=result.metric,
            test_metrics=result.test_metrics,
            fairness_gap=_gate_gap(result.fairness),
            algorithm=result.algorithm,
            data_fingerprint=result.data_fingerprint,
            higher_is_better=get_metric(result.metric, prof.task).greater_is_better,
            fairness_figure=(result.fairness or {}).get("gate"),
            score_undefined=result.undefined_reason,
            final_fit=result.final_fit,
        )
        cards.log_model_card(client, result, version, validation=summary, settings=settings)
    phases = {
        "start": min(entered, prepared.began) - started,
        "validate": prepared.seconds,
        "mlflow_setup": set_up_at - validated_at,  # MLflow's imports included
    }
    phases |= {k: float(v) for k, v in result.phases.items()}
    phases["log"] = logged_at - trained_at
    phases["register"] = time.perf_counter() - logged_at
    phases["total"] = time.perf_counter() - started
    log.info("train_and_register phases (s): %s", {k: round(v, 2) for k, v in phases.items()})
    return TrainingOutcome(
        result=result,
        validation=summary,
        rejects_path=rejects_path,
        experiment_id=experiment_id,
        run_id=run_id,
        model_uri=model_info.model_uri,
        version=version,
        phases=phases,
    )


def load_test_data(
    profile: Profile,
    path: str | Path,
    *,
    sep: str | None,
    settings: Settings,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Validate a test file the user kept apart with the same data contract as the training file.

    Rejected rows go to a rejects CSV under home, as for the training file, with a warning.

    Returns:
        The valid rows, (n_rows, n_columns).

    Raises:
        DataError: the file cannot be read or has no valid row.
    """
    from studentops.datasets.validation import validate_file, write_rejects

    try:
        _, validation = validate_file(
            profile, path, sep=sep, require_target=True, settings=settings, encoding=encoding
        )
    except DataError as exc:
        raise DataError(f"test data {path}: {exc}") from exc
    top = ", ".join(f"{r} ({n})" for r, n in validation.reasons.most_common(3))
    if validation.accepted == 0:
        raise DataError(
            f"no valid rows in the test data {path}: all {validation.total} rejected ({top})"
        )
    if validation.rejected:
        where = write_rejects(validation, f"{profile.name}-test", settings)
        log.warning(
            "test data: %d of %d rows rejected (%s); see %s",
            validation.rejected,
            validation.total,
            top,
            where,
        )
    return validation.valid


def _gate_gap(fairness: dict[str, Any] | None) -> float | None:
    """The FNR gap the fairness gate judges (None: no two groups large enough to judge)."""
    gate = (fairness or {}).get("gate") or {}
    gap = gate.get("gap")
    return None if gap is None else float(gap)


def tune_shared(
    profile: str | Profile,
    data: str | Path | None,
    *,
    settings: Settings | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    time_budget_s: float | None = 60.0,
    n_trials: int | None = None,
    metric: str | None = None,
    seed: int = 42,
    sep: str | None = None,
    encoding: str | None = None,
    smote: bool = False,
    split: str = "stratified",
    on_trial: OnTrial | None = None,
    n_jobs: int | None = None,
    algorithms: list[str] | None = None,
    started: float | None = None,
    prepared: TrainingData | None = None,
) -> TuningOutcome:
    """Run search trials into a shared Optuna study until the budget is spent.

    Start as many workers as there are cores, on any machine that reaches ``storage``; each
    joins the study if it exists. All workers must get the same data, ``seed`` and ``split``:
    the seed fixes the held-out part and the folds, so every trial is scored on the same rows
    and none sees the test part. Only the sampler's seed is offset per worker, or workers with
    one seed would propose the same points. Each trial is stamped with the user attribute
    ``worker`` (``host:pid``) when it starts running.

    The search is set up by the same function as ``train``'s
    (:func:`studentops.training.request.run_request_search`), under the same budget policy:
    a time budget counts from ``started`` and keeps a reserve for the process exit.

    Args:
        storage: Optuna storage URL (``postgresql://...``); default ``settings.optuna_storage``.
        study_name: default ``studentops-<profile>``.
        time_budget_s, n_trials: a time budget, or a trial budget (``time_budget_s=None``).
        n_jobs, algorithms: parallel trials; restrict the candidate names.
        prepared: the input already checked by :func:`prepare_training` (a command does it
            before its progress display); ``profile``, ``data``, ``sep`` and ``encoding`` are
            then not read again.

    Returns:
        This worker's trials and the study's best value so far.

    Raises:
        ConfigError: no storage, or a bad budget, split or metric.
        DataError: the file cannot be learnt from.
    """
    from studentops.databases import with_installed_driver
    from studentops.errors import ConfigError
    from studentops.training.request import SearchRequest, run_request_search

    started = time.perf_counter() if started is None else started
    settings = settings or load_settings()
    url = storage or settings.optuna_storage
    if not url:
        raise ConfigError("no Optuna storage: give --storage URL or set optuna_storage")
    if prepared is None:
        prepared = prepare_training(
            profile, data, settings=settings, sep=sep, encoding=encoding, metric=metric, split=split
        )
    prof, validation = prepared.profile, prepared.validation
    name = study_name or f"studentops-{prof.name}"
    worker = worker_id()
    shared = worker_storage(with_installed_driver(url), worker)
    mine: list[int] = []

    def report(record: TrialRecord) -> None:
        mine.append(record.number)
        if on_trial is not None:
            on_trial(record)

    outcome = run_request_search(
        SearchRequest(
            frame=validation.valid,
            profile=prof,
            time_budget_s=time_budget_s,
            n_trials=n_trials,
            metric=metric,
            seed=seed,
            sampler_seed=(seed * 1_000_003 + os.getpid()) % (2**31),
            split=split,
            smote=smote,
            n_jobs=n_jobs,
            algorithms=algorithms,
            storage=shared,  # Optuna takes a storage object as well as a URL
            study_name=name,
            on_trial=report,
            started=started,
        )
    ).outcome
    best_value, best_params = _best(outcome.study)
    return TuningOutcome(
        study_name=name,
        storage=_hide_password(url),
        worker=worker,
        trials_here=len(mine),
        trials_total=sum(t.state.is_finished() for t in outcome.study.trials),
        best_value=best_value,
        best_params=best_params,
        trial_numbers=sorted(mine),
        validation=validation.summary(),
        trials=outcome.trials,
    )


def worker_storage(url: str, worker: str, attempts: int = 8) -> Any:
    """An Optuna RDB storage that stamps each trial with ``worker`` as it starts running.

    A trial starts running either when created directly or when a worker takes a queued
    (WAITING) trial; finished trials cannot be changed, so the stamp goes on at that moment.
    Heartbeats let a crashed worker's running trials be failed by the others.

    Workers that start together on an empty database race on ``CREATE TABLE``; the loser gets
    an integrity error although the tables now exist, so it tries again.
    """
    import optuna
    from optuna.trial import TrialState
    from sqlalchemy.exc import SQLAlchemyError

    class WorkerStorage(optuna.storages.RDBStorage):
        # Optuna's study wraps this storage in a cache that creates trials through the private
        # _create_new_trial (the public create_new_trial is bypassed), so that is the hook.
        def _create_new_trial(self, study_id: int, template_trial: Any = None) -> Any:
            frozen = super()._create_new_trial(study_id, template_trial)
            if frozen.state == TrialState.RUNNING:
                self.set_trial_user_attr(frozen._trial_id, "worker", worker)
                frozen.user_attrs["worker"] = worker
            return frozen

        def set_trial_state_values(
            self, trial_id: int, state: TrialState, values: Any = None
        ) -> bool:
            changed = super().set_trial_state_values(trial_id, state, values)
            if changed and state == TrialState.RUNNING:  # this worker took a queued trial
                self.set_trial_user_attr(trial_id, "worker", worker)
            return changed

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return WorkerStorage(url, heartbeat_interval=30, grace_period=120)
        except SQLAlchemyError as exc:
            if attempt == attempts - 1:
                from studentops.errors import ConfigError

                where, first = _hide_password(url), str(exc).splitlines()[0]
                raise ConfigError(f"cannot use Optuna storage {where}: {first}") from exc
            time.sleep(0.25 * (attempt + 1))
    raise AssertionError("unreachable")


def _best(study: Any) -> tuple[float | None, dict[str, Any]]:
    try:
        best = study.best_trial
    except ValueError:  # no complete trial yet
        return None, {}
    return float(best.value), dict(best.params)


def _hide_password(url: str) -> str:
    """A storage URL safe to print: ``user:***@host``."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]
