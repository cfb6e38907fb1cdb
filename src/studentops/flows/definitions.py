"""The flows: thin Prefect wrappers over the parts' plain functions, nothing decided here.

Each step a person would want to see (and retry) is a task; a step that may cross the network
(the model registry, a SQL source) retries with backoff, except on a user's error
(:class:`~studentops.errors.StudentOpsError`: a missing file will still be missing in a
minute). Every flow returns a dict saying what it produced (rows, files, model versions) and
reports a failure, crash or cancellation through :mod:`studentops.flows.alerts`.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from studentops.config import Settings, load_settings
from studentops.errors import DataError, StudentOpsError
from studentops.flows.alerts import ALERT_HOOKS
from studentops.flows.artifacts import (
    publish_monitoring,
    publish_retraining,
    publish_risk_list,
    publish_training,
)

NETWORK_RETRIES = 3
NETWORK_RETRY_DELAYS_S: list[float] = [2.0, 10.0, 30.0]


def retry_unless_user_error(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a network step unless it failed on the user's input or configuration."""
    try:
        state.result()
    except StudentOpsError:
        return False
    except Exception:
        return True
    return True


def network_task(fn: Any) -> Any:
    """Make ``fn`` a Prefect task that may cross the network: 3 retries after 2, 10 and 30 s,
    none on a user's error (:func:`retry_unless_user_error`), no result caching.
    """
    return task(
        fn,
        retries=NETWORK_RETRIES,
        retry_delay_seconds=NETWORK_RETRY_DELAYS_S,
        retry_condition_fn=retry_unless_user_error,
        cache_policy=NO_CACHE,
    )


def alerting_flow(name: str) -> Any:
    """A Prefect ``@flow`` decorator named ``name`` whose failure, crash or cancellation is
    reported by :data:`studentops.flows.alerts.ALERT_HOOKS` (the alert channels)."""
    return flow(
        name=name,
        on_failure=ALERT_HOOKS,
        on_crashed=ALERT_HOOKS,
        on_cancellation=ALERT_HOOKS,
    )


def local_task(fn: Any) -> Any:
    """Make ``fn`` a Prefect task that runs locally: no retries, no result caching."""
    return task(fn, cache_policy=NO_CACHE)


def output_dir(settings: Settings) -> Path:
    """Where flows write their files: ``flow_output_dir``, else ``home/flows``."""
    return settings.flow_output_dir or settings.home / "flows"


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime())


# -- train -----------------------------------------------------------------------------------


@local_task
def validate_training_data(profile: str, data: str | None, settings: Settings) -> dict[str, Any]:
    """Validate the training file; returns the validation summary and the rejects file, if any.

    Raises:
        DataError, ProfileError: the file or the profile is unusable (no retry).
    """
    from studentops.training.pipeline import load_training_data

    _, validation, rejects = load_training_data(profile, data, sep=None, settings=settings)
    return validation.summary() | {"rejects_file": str(rejects) if rejects else None}


@local_task
def train_and_register_model(
    profile: str, data: str | None, settings: Settings, time_budget_s: float, seed: int, split: str
) -> Any:
    """Train within ``time_budget_s`` seconds, log to MLflow and register a challenger.

    Returns:
        The :class:`~studentops.training.pipeline.TrainOutcome` of
        :func:`~studentops.training.pipeline.train_and_register`.
    """
    from studentops.tracking import quiet_library_logs
    from studentops.training.pipeline import train_and_register

    quiet_library_logs(optuna=True)
    return train_and_register(
        profile, data, settings=settings, time_budget_s=time_budget_s, seed=seed, split=split
    )


@network_task
def promote_challenger(profile: str, settings: Settings) -> Any:
    """Promote the challenger through the score and fairness gates (never forced).

    Returns:
        The :class:`~studentops.registry.models.PromotionDecision`.

    Raises:
        PromotionRefused: a gate failed (the flow reports it, nothing is moved).
    """
    from studentops.registry.models import promote
    from studentops.tracking import client_for

    return promote(
        client_for(settings),
        profile,
        margin=settings.promote_margin,
        max_gap=settings.fairness_max_gap,
    )


@alerting_flow("train")
def train_flow(
    profile: str,
    data: str | None = None,
    time_budget_s: float = 60.0,
    promote: bool = False,
    seed: int = 42,
    split: str = "stratified",
) -> dict[str, Any]:
    """Validate, train within the budget, register a challenger; promote it through the gates.

    Returns ``{"flow", "profile", "validation", "model", "version", "aliases", "run_id",
    "metric", "cv_score", "test_metrics", "undefined_reason", "promoted", "gates"}``.
    """
    settings = load_settings()
    validation = validate_training_data(profile, data, settings)
    outcome = train_and_register_model(profile, data, settings, time_budget_s, seed, split)
    result = outcome.result
    version = outcome.version
    report: dict[str, Any] = {
        "flow": "train",
        "profile": result.profile.name,
        "validation": validation,
        "model": version.name if version else None,
        "version": version.version if version else None,
        "aliases": list(version.aliases) if version else [],
        "run_id": outcome.run_id,
        "metric": result.metric,
        "cv_score": result.cv_score,
        "test_metrics": dict(result.test_metrics),
        "undefined_reason": result.undefined_reason,
        "promoted": False,
        "gates": [],
    }
    if promote and version is not None:
        decision = promote_challenger(result.profile.name, settings)
        report["promoted"] = decision.promoted
        report["gates"] = [
            {"gate": g.name, "passed": g.passed, "detail": g.detail} for g in decision.gates
        ]
        if decision.promoted:
            report["aliases"] = sorted({*report["aliases"], "champion"} - {"challenger"})
    publish_training(report)
    return report


# -- score -----------------------------------------------------------------------------------


@network_task
def gather_input(
    data: str | None,
    folder: str | None,
    sql: str | None,
    sql_url: str | None,
    work_dir: Path,
) -> Any:
    """Resolve the rows to score (a file, a folder's newest file, or a SQL query) to one file
    under ``work_dir``.

    Raises:
        DataError: none or several sources given, or the source is unreadable.
    """
    from studentops.serving.inputs import resolve_input

    return resolve_input(data=data, folder=folder, sql=sql, sql_url=sql_url, work_dir=work_dir)


@network_task
def load_champion(profile: str, settings: Settings) -> Any:
    """Load the profile's champion as a compiled :class:`~studentops.serving.predictor.Predictor`.

    Raises:
        ModelError: the profile has no champion, or the registry cannot be read.
    """
    from studentops.serving.batch import load_predictor
    from studentops.tracking import quiet_library_logs

    quiet_library_logs()
    return load_predictor(profile, settings)


@local_task
def score_table(
    profile: str, path: Path, out: Path, predictor: Any, settings: Settings, log_predictions: bool
) -> Any:
    """Score the file at ``path`` with ``predictor`` into a ranked risk list at ``out``.

    Returns:
        The scoring report (rows accepted and rejected, output paths, model version).
    """
    from studentops.serving.batch import score_file

    return score_file(
        profile,
        path,
        out,
        settings=settings,
        predictor=predictor,
        log_predictions=log_predictions,
    )


@alerting_flow("score")
def score_flow(
    profile: str,
    data: str | None = None,
    folder: str | None = None,
    sql: str | None = None,
    sql_url: str | None = None,
    out: str | None = None,
    top: int = 20,
    log_predictions: bool = True,
) -> dict[str, Any]:
    """Score a file, a folder of files or a SQL query with the champion into a ranked risk list.

    The list goes to ``out`` or ``<flow_output_dir>/<profile>/risk-<UTC time>.csv``; the
    ``top`` highest-risk students (pseudonymised) become a table artifact.

    Returns ``{"flow", "profile", "source", "rows", "accepted", "rejected", "out_path",
    "rejects_path", "model", "model_version", "logged", "seconds"}``.
    """
    settings = load_settings()
    folder_out = output_dir(settings) / profile
    source = gather_input(data, folder, sql, sql_url, folder_out / f"input-{_stamp()}")
    predictor = load_champion(profile, settings)
    target = Path(out) if out else folder_out / f"risk-{_stamp()}.csv"
    summary = score_table(profile, source.path, target, predictor, settings, log_predictions)
    report = {
        "flow": "score",
        "profile": profile,
        "source": source.source,
        "rows": summary.rows,
        "accepted": summary.accepted,
        "rejected": summary.rejected,
        "out_path": str(summary.out_path),
        "rejects_path": str(summary.rejects_path) if summary.rejects_path else None,
        "model": summary.model_name,
        "model_version": summary.model_version,
        "logged": summary.logged,
        "seconds": round(summary.seconds, 3),
    }
    publish_risk_list(report, predictor, settings, top)
    return report


# -- events-features -------------------------------------------------------------------------


@local_task
def build_features(
    out: Path,
    weeks: list[int],
    oulad: str | None,
    events: str | None,
    mapping: str | None,
) -> Any:
    """Write leak-free weekly event features for the cut-off ``weeks`` to the Parquet ``out``.

    Reads the OULAD folder (``oulad``) or an events file with its column ``mapping``.

    Raises:
        DataError: the events cannot be read or mapped.
    """
    from studentops.events.job import weekly_features_job

    return weekly_features_job(out, weeks=weeks, oulad=oulad, events=events, mapping=mapping)


@alerting_flow("events-features")
def events_features_flow(
    oulad: str | None = None,
    events: str | None = None,
    mapping: str | None = None,
    week: int | None = None,
    term_start: dt.date | None = None,
    out: str | None = None,
) -> dict[str, Any]:
    """An LMS export (or OULAD folder) to weekly features for the current cut-off week.

    The week is ``week``, else the last complete week since ``term_start``. Output: ``out`` or
    ``<flow_output_dir>/events/weekly-week-<w>.parquet``.

    Returns ``{"flow", "week", "out_path", "rows", "columns", "events_in", "events_out",
    "seconds"}``.

    Raises:
        DataError: neither ``week`` nor ``term_start`` is given, or the events cannot be read.
    """
    from studentops.events.job import current_week

    if week is None:
        if term_start is None:
            raise DataError("give week or term_start (the first day of the term)")
        week = current_week(term_start)
    settings = load_settings()
    target = Path(out) if out else output_dir(settings) / "events" / f"weekly-week-{week}.parquet"
    job = build_features(target, [week], oulad, events, mapping)
    return {
        "flow": "events-features",
        "week": week,
        "out_path": str(job.out_path),
        "rows": job.rows,
        "columns": job.columns,
        "events_in": job.report.get("events_in"),
        "events_out": job.report.get("events_out"),
        "seconds": round(job.seconds, 3),
    }


# -- monitor and retrain ---------------------------------------------------------------------


@network_task
def check_window(
    profile: str,
    settings: Settings,
    since: dt.datetime | None,
    until: dt.datetime | None,
    data: str | None,
) -> Any:
    """Run the monitoring check on the predictions logged between ``since`` and ``until`` (UTC),
    or on the file ``data``; returns the :class:`~studentops.monitoring.results.CheckResult`.
    """
    from studentops.monitoring.check import run_check
    from studentops.tracking import quiet_library_logs

    quiet_library_logs()
    return run_check(profile, settings=settings, since=since, until=until, data=data)


@local_task
def raise_alerts(settings: Settings, result: Any) -> Any:
    """Evaluate the alert rules on a check result and deliver what fires (waits up to 60 s)."""
    from studentops.monitoring.alerts.engine import alert_on_check

    run = alert_on_check(settings, result)
    run.wait(60)
    return run


@local_task
def retrain_gated(
    profile: str,
    settings: Settings,
    data: str | None,
    base_data: str | None,
    time_budget_s: float | None,
    trigger: str,
) -> Any:
    """Gated retraining: a challenger on original plus new labelled rows, promoted only through
    the gates; returns the retraining decision.
    """
    from studentops.monitoring.retraining.retrain import retrain
    from studentops.monitoring.retraining.sources import new_labelled_rows
    from studentops.tracking import quiet_library_logs

    quiet_library_logs(optuna=True)
    rows = data if data is not None else new_labelled_rows(settings, profile)
    outcome = retrain(
        settings, profile, rows, trigger=trigger, base_data=base_data, time_budget_s=time_budget_s
    )
    if outcome.delivery is not None:
        outcome.delivery.wait(60)
    return outcome.decision


@alerting_flow("retrain")
def retrain_flow(
    profile: str,
    data: str | None = None,
    base_data: str | None = None,
    time_budget_s: float | None = None,
    trigger: str = "scheduled (studentops flows)",
) -> dict[str, Any]:
    """Gated retraining: train a challenger on original plus new labelled rows, promote if better.

    ``data`` is a file of newly labelled rows; default: the monitoring store's predictions that
    have outcomes. Returns the decision (``outcome`` promoted or kept, both scores, gates).
    """
    settings = load_settings()
    decision = retrain_gated(profile, settings, data, base_data, time_budget_s, trigger)
    report = {"flow": "retrain"} | decision.as_dict()
    publish_retraining(report)
    return report


@alerting_flow("monitor")
def monitor_flow(
    profile: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    data: str | None = None,
    retrain: bool = True,
    retrain_data: str | None = None,
    retrain_budget_s: float | None = None,
) -> dict[str, Any]:
    """Drift and performance check of the champion, alerts by the rules, retraining if one asks.

    The window is the prediction log over ``since``..``until`` (default: the last
    ``monitor_window_days``), or the file ``data``. When a rule marked ``retrain: true`` fires
    and ``retrain`` is on, the ``retrain`` flow runs as a subflow.

    Returns ``{"flow", "profile", "status", "n_rows", "drifted_features", "drifted_share",
    "check_id", "report_html", "alerts", "retrain"}``.
    """
    from studentops.monitoring.retraining.trigger import trigger_text

    settings = load_settings()
    result = check_window(profile, settings, since, until, data)
    run = raise_alerts(settings, result)
    verdict = result.verdict
    report: dict[str, Any] = {
        "flow": "monitor",
        "profile": result.profile,
        "model_version": result.model_version,
        "status": verdict.status,
        "n_rows": result.n_rows,
        "drifted_features": list(verdict.drifted_features),
        "drifted_share": verdict.drifted_share,
        "check_id": result.check_id,
        "report_html": result.report_html,
        "alerts": [
            {"event": t.event, "rule": t.evaluation.rule.name, "subject": t.evaluation.subject}
            for t in run.transitions
        ],
        "retrain": None,
    }
    publish_monitoring(report, verdict.message)
    if retrain and run.retrain_wanted:
        report["retrain"] = retrain_flow(
            profile,
            data=retrain_data,
            time_budget_s=retrain_budget_s,
            trigger=trigger_text(run),
        )
    return report


FLOWS: dict[str, Any] = {
    "train": train_flow,
    "score": score_flow,
    "events-features": events_features_flow,
    "monitor": monitor_flow,
    "retrain": retrain_flow,
}
